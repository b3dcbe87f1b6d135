//! Test harness: real gateway processes (the built binary), real upstream
//! servers on ephemeral ports, real files, and an HTTP client.

#![allow(dead_code)]

pub mod cluster;
pub mod procs;
pub mod recorder;
pub mod tls;

use std::collections::HashMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// A port that was free a moment ago, and not handed out before in this
/// test binary: its tests run in parallel, and of two processes given the
/// same port one would find it taken after its start-up check.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Starts a demo upstream (echoes what it received as JSON).
pub fn upstream(name: &str) -> SocketAddr {
    tollgate_gateway::demo::spawn("127.0.0.1:0", name).expect("upstream")
}

/// A running `tollgate run`, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub proxy: String,
    pub admin: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    log: PathBuf,
}

impl Gateway {
    /// Writes `yaml` to a temp file and starts the gateway on it.
    pub fn start(yaml: &str) -> Gateway {
        Self::start_with(yaml, &[])
    }

    pub fn start_with(yaml: &str, extra: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("snapshot.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let mut args: Vec<String> = vec!["--config".into(), config.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(dir, config, &args)
    }

    /// Starts the gateway with no snapshot (serves the empty one).
    pub fn start_empty(extra: &[&str]) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("unused.yaml");
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::spawn(dir, config, &args)
    }

    fn spawn(dir: tempfile::TempDir, config: PathBuf, args: &[String]) -> Gateway {
        // A port picked free can be taken before the gateway binds it; retry then.
        let log = dir.path().join("gateway.log");
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let proxy = format!("127.0.0.1:{}", free_port());
            let admin = format!("127.0.0.1:{}", free_port());
            let logf = std::fs::File::create(&log).expect("log file");
            let child = Command::new(BIN)
                .arg("run")
                .args([
                    "--listen",
                    &proxy,
                    "--admin-listen",
                    &admin,
                    "--threads",
                    "2",
                ])
                .args(args)
                .env("TOLLGATE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(logf)
                .spawn()
                .expect("spawn tollgate");
            let mut child = Some(child);
            if wait_healthy(child.as_mut().expect("child"), &admin) && wait_listening(&proxy) {
                return Gateway {
                    child: child.take().expect("child"),
                    proxy,
                    admin,
                    dir,
                    config,
                    log,
                };
            }
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("gateway did not start:\n{last_log}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin, path)
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        get(&self.url(path), headers).expect("request")
    }

    pub fn status(&self) -> serde_json::Value {
        get(&self.admin_url("/status"), &[]).expect("status").json()
    }

    pub fn metrics(&self) -> String {
        get(&self.admin_url("/metrics"), &[]).expect("metrics").body
    }

    /// Polls `/metrics` until every line is present (requests are counted
    /// after their response is sent, so a scrape can briefly lag).
    pub fn wait_metrics(&self, lines: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let m = self.metrics();
            let missing: Vec<&&str> = lines.iter().filter(|l| !m.contains(**l)).collect();
            if missing.is_empty() {
                return m;
            }
            if Instant::now() > deadline {
                panic!("metrics missing {missing:?}:\n{m}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Rewrites the watched snapshot file atomically (write + rename).
    pub fn rewrite_config(&self, yaml: &str) {
        let tmp = self.config.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).expect("tmp");
        f.write_all(yaml.as_bytes()).expect("write");
        f.sync_all().expect("sync");
        std::fs::rename(&tmp, &self.config).expect("rename");
    }

    /// Waits until `/status` reports a hash different from `old`.
    pub fn wait_hash_change(&self, old: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let h = self.status()["config_hash"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if h != old {
                return h;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("config hash did not change:\n{}", self.log());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `/health` until 200, or false when the process exits or 20 s pass.
pub fn wait_healthy(child: &mut Child, admin: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(r) = get(&format!("http://{admin}/health"), &[]) {
            if r.status == 200 {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Waits until `addr` accepts connections (the admin service can be up a
/// moment before the proxy listener).
pub fn wait_listening(addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A response, whatever its status.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The headers the demo upstream says it received.
    pub fn upstream_headers(&self) -> serde_json::Value {
        self.json()["headers"].clone()
    }

    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_string()
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .redirects(0)
        .build()
}

fn convert(r: ureq::Response) -> Resp {
    let status = r.status();
    let mut headers = HashMap::new();
    for name in r.headers_names() {
        if let Some(v) = r.header(&name) {
            headers.insert(name.to_ascii_lowercase(), v.to_string());
        }
    }
    let body = r.into_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Resp, String> {
    let mut req = agent().request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    };
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Ok(convert(r)),
        Err(e) => Err(e.to_string()),
    }
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Result<Resp, String> {
    request("GET", url, headers, None)
}

/// Sends raw bytes on a fresh connection and returns the status line
/// ("" when the server closed without answering).
pub fn raw(addr: &str, bytes: &[u8]) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // The server may answer and close before reading everything: ignore write errors.
    let _ = s.write_all(bytes);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The quickstart-like snapshot used by most tests, pointed at real upstreams.
pub fn snapshot(billing: SocketAddr, flights: SocketAddr, ace_extra: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: billing
    url: http://{billing}
    routes: [{{ name: billing, paths: [/billing], strip_path: false }}]
  - name: flights
    url: http://{flights}
    routes: [{{ name: flights, paths: [/flights], strip_path: false }}]
consumers:
  - username: anonymous
  - username: mapped
plugins:
  - name: ace
    config: {{ {ace_extra} }}
apis:
  - name: billing
    operations:
      - {{ method: GET, path: /billing, id: list-invoices }}
      - {{ method: POST, path: /billing, id: create-invoice }}
  - name: flights
    spec: |
      openapi: 3.0.3
      info: {{ title: Flights, version: "1" }}
      paths:
        /flights:
          get: {{ operationId: list-flights, responses: {{ "200": {{ description: ok }} }} }}
        /flights/{{id}}:
          get: {{ operationId: get-flight, responses: {{ "200": {{ description: ok }} }} }}
        /flights/latest:
          get: {{ operationId: latest-flight, responses: {{ "200": {{ description: ok }} }} }}
auth_strategies:
  - {{ name: keys, type: key_auth, key_names: [apikey, x-api-key] }}
api_packages:
  - name: flight-billing
    rate_limiting_config: {{ limit: 5, duration: seconds }}
    operations:
      - {{ api: billing, method: GET, path: /billing, rate_limiting_config: {{ limit: 3, duration: minutes }} }}
      - {{ api: flights, method: GET, path: /flights }}
      - {{ api: flights, method: GET, path: "/flights/{{id}}" }}
  - name: partners
    operations:
      - {{ api: flights, method: GET, path: /flights }}
  - name: windows
    rate_limiting_config: [{{ limit: 100, duration: hours }}, {{ limit: 4, duration: minutes }}]
    operations:
      - {{ api: billing, method: POST, path: /billing }}
applications:
  - name: fb-app
    auth_strategy: keys
    consumer: mapped
    credentials: [{{ key: fb-key }}]
    registrations: [{{ api_package: flight-billing }}]
  - name: partner-app
    auth_strategy: keys
    credentials: [{{ key: partner-key }}]
    registrations: [{{ api_package: partners }}, {{ api_package: flight-billing }}]
  - name: hashed-app
    auth_strategy: keys
    credentials: [{{ key_sha256: "{hashed}" }}]
    registrations: [{{ api: flights }}]
  - name: pending-app
    auth_strategy: keys
    credentials: [{{ key: pending-key }}]
    registrations: [{{ api_package: partners, status: pending }}]
  - name: windows-app
    auth_strategy: keys
    credentials: [{{ key: windows-key }}]
    registrations: [{{ api_package: windows }}]
"#,
        hashed = sha256_hex("hashed-key"),
    )
}

pub fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Runs `tollgate validate FILE`: the exit code and stdout + stderr together.
pub fn validate_file(file: &std::path::Path) -> (i32, String) {
    let out = std::process::Command::new(BIN)
        .arg("validate")
        .arg(file)
        .output()
        .expect("run validate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}
