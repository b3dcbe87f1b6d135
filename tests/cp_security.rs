//! Who may change or read the configuration, with real processes: `tollgate
//! cp --token` and `--tls-cert/--tls-key`, data planes that authenticate to it
//! and verify its certificate, the 409 on `POST /config` of a data plane that
//! follows a control plane, and the refusal to expose the admin API without a
//! token. Certificates are made per test with the `openssl` command.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::procs::push;
use support::{free_port, get, request, snapshot, upstream, wait_healthy, Gateway, BIN};

const TOKEN: &str = "cp-token-5d1e9a";
const WRONG: &str = "not-the-token-77c1";

/// A running `tollgate cp` with its stderr in a file, killed on drop.
struct Cp {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Cp {
    fn start(dir: &Path, scheme: &str, args: &[&str]) -> Cp {
        let listen = format!("127.0.0.1:{}", free_port());
        let log = dir.join(format!("cp-{}.log", listen.replace(':', "-")));
        let child = Command::new(BIN)
            .args(["cp", "--listen", &listen])
            .args(args)
            .env("TOLLGATE_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn cp");
        assert!(support::wait_listening(&listen), "cp did not listen");
        Cp {
            child,
            url: format!("{scheme}://{listen}"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

fn version(gw: &Gateway) -> Option<u64> {
    gw.status()["config_version"].as_u64()
}

fn wait_version(gw: &Gateway, v: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while version(gw) != Some(v) {
        assert!(
            Instant::now() < deadline,
            "data plane did not reach version {v}:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The test snapshot with a renamed consumer: same operations, new hash.
fn variant(yaml: &str) -> String {
    yaml.replace("username: mapped", "username: mapped2")
        .replace("consumer: mapped", "consumer: mapped2")
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn cp_token_guards_every_v1_request_and_push_sends_it() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = Cp::start(tmp.path(), "http", &["--token", TOKEN]);
    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let right = bearer(TOKEN);
    let wrong = bearer(WRONG);
    let requests: [(&str, &str, Option<&[u8]>); 5] = [
        ("POST", "/v1/config", Some(yaml.as_bytes())),
        ("GET", "/v1/config", None),
        ("GET", "/v1/data-planes", None),
        ("GET", "/v1/subscribe?id=x&wait=0", None),
        ("GET", "/v1/nothing-here", None),
    ];
    for (method, path, body) in requests {
        let url = format!("{}{path}", cp.url);
        for headers in [
            vec![],
            vec![("authorization", wrong.as_str())],
            vec![("authorization", TOKEN)],
            vec![("authorization", "Basic Y3AtdG9rZW4tNWQxZTlh")],
        ] {
            let r = request(method, &url, &headers, body).expect("request");
            assert_eq!(r.status, 401, "{method} {path} with {headers:?}");
            assert_eq!(r.json(), serde_json::json!({"message": "Unauthorized"}));
        }
    }
    assert_eq!(
        get(&format!("{}/health", cp.url), &[])
            .expect("health")
            .status,
        200
    );

    let auth = [("authorization", right.as_str())];
    let r = request(
        "POST",
        &format!("{}/v1/config", cp.url),
        &auth,
        Some(yaml.as_bytes()),
    )
    .expect("push");
    assert_eq!(r.status, 201, "{}", r.body);
    let r = get(&format!("{}/v1/config", cp.url), &auth).expect("get");
    assert_eq!((r.status, r.json()["version"].as_u64()), (200, Some(1)));
    let r = get(&format!("{}/v1/data-planes", cp.url), &auth).expect("list");
    assert_eq!(r.status, 200);
    assert!(r.json().is_array());

    // `tollgate push` carries --token; without it the refusal is reported.
    let file = write(tmp.path(), "v2.yaml", &variant(&yaml));
    let out = push(&file, &cp.url, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("(401): Unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = push(&file, &cp.url, &["--token", TOKEN]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 2"));
    assert!(!cp.log().contains(TOKEN), "the token was logged");
}

#[test]
fn only_a_data_plane_with_the_right_token_receives_snapshots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = Cp::start(tmp.path(), "http", &["--token", TOKEN]);
    let follow = |token: &str, cache: &str| {
        let cache = tmp.path().join(cache).display().to_string();
        Gateway::start_empty(&[
            "--control-plane",
            &cp.url,
            "--control-plane-token",
            token,
            "--cache-dir",
            &cache,
        ])
    };
    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let out = push(
        &write(tmp.path(), "v1.yaml", &yaml),
        &cp.url,
        &["--token", TOKEN],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let good = follow(TOKEN, "good");
    wait_version(&good, 1);
    let v1_hash = good.status()["config_hash"].clone();
    // Restarted with a wrong token, a data plane boots from its cache and
    // keeps serving that, never the control plane's newer snapshot.
    let stale = {
        let first = follow(TOKEN, "stale");
        wait_version(&first, 1);
        // The cache is written just after the snapshot is applied.
        let meta = tmp.path().join("stale").join("snapshot.meta.json");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !meta.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(meta.exists(), "no cache written: {}", first.log());
        drop(first);
        follow(WRONG, "stale")
    };
    let v2 = variant(&yaml);
    let out = push(
        &write(tmp.path(), "v2.yaml", &v2),
        &cp.url,
        &["--token", TOKEN],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_version(&good, 2);
    std::thread::sleep(Duration::from_millis(1500));
    let status = stale.status();
    assert_eq!(status["config_hash"], v1_hash, "{}", stale.log());
    assert_eq!(status["control_plane"]["connected"], false);
    assert_eq!(
        stale.get("/flights", &[("apikey", "partner-key")]).status,
        200
    );
    let log = stale.log();
    assert!(
        log.contains("refused this data plane's token (401)"),
        "{log}"
    );
    for text in [log, good.log(), cp.log()] {
        assert!(
            !text.contains(TOKEN) && !text.contains(WRONG),
            "a token was logged:\n{text}"
        );
    }
}

/// A CA and a certificate for 127.0.0.1 signed by it: (ca.pem, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=tollgate test CA",
    ];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    run(&ca);
    let mut csr = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", "server.key"];
    csr.extend(ec);
    csr.extend(["-out", "server.csr"]);
    run(&csr);
    write(
        dir,
        "server.ext",
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "2",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[test]
fn the_feed_runs_over_verified_tls() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (ca, cert, key) = certificates(tmp.path());
    let (ca, cert, key) = (
        ca.display().to_string(),
        cert.display().to_string(),
        key.display().to_string(),
    );
    let cp = Cp::start(
        tmp.path(),
        "https",
        &["--tls-cert", &cert, "--tls-key", &key, "--token", TOKEN],
    );
    assert!(cp.url.starts_with("https://127.0.0.1:"));
    let follow = |extra: &[&str]| {
        let mut args = vec![
            "--control-plane",
            cp.url.as_str(),
            "--control-plane-token",
            TOKEN,
        ];
        args.extend_from_slice(extra);
        Gateway::start_empty(&args)
    };
    let trusting = follow(&["--control-plane-ca", &ca]);
    let untrusting = follow(&[]);

    let file = write(
        tmp.path(),
        "v1.yaml",
        &snapshot(upstream("billing"), upstream("flights"), ""),
    );
    // `push` verifies the certificate too: refused without the CA.
    let out = push(&file, &cp.url, &["--token", TOKEN]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("certificate verify failed"), "{err}");
    let out = push(&file, &cp.url, &["--token", TOKEN, "--ca", &ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    wait_version(&trusting, 1);
    assert_eq!(trusting.status()["control_plane"]["connected"], true);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(version(&untrusting), None, "{}", untrusting.log());
    assert_eq!(untrusting.status()["control_plane"]["connected"], false);
    let log = untrusting.log();
    assert!(log.contains("certificate verify failed"), "{log}");

    // Without --control-plane-ca the system trust store decides; OpenSSL's
    // SSL_CERT_FILE stands in for it here.
    let log = tmp.path().join("system-roots.log");
    let (mut child, admin) = spawn_run(
        "127.0.0.1",
        &["--control-plane", &cp.url, "--control-plane-token", TOKEN],
        &[("SSL_CERT_FILE", &ca)],
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut version = None;
    while version.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        version = get(&format!("http://{admin}/status"), &[])
            .ok()
            .and_then(|r| r.json()["config_version"].as_u64());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        version,
        Some(1),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn cp_tls_needs_both_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (_, cert, key) = certificates(tmp.path());
    let listen = format!("127.0.0.1:{}", free_port());
    for (flag, file, missing) in [
        ("--tls-cert", &cert, "--tls-key"),
        ("--tls-key", &key, "--tls-cert"),
    ] {
        let out = Command::new(BIN)
            .args(["cp", "--listen", &listen, flag])
            .arg(file)
            .output()
            .expect("cp");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(missing), "{err}");
    }
    // A key that does not exist is a start error, not a server without TLS.
    let out = Command::new(BIN)
        .args(["cp", "--listen", &listen, "--tls-cert"])
        .arg(&cert)
        .args(["--tls-key", "/nonexistent/key.pem"])
        .output()
        .expect("cp");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/key.pem"));
}

#[test]
fn a_data_plane_following_a_control_plane_refuses_admin_pushes_unless_allowed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = Cp::start(tmp.path(), "http", &[]);
    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let follower = Gateway::start_empty(&["--control-plane", &cp.url]);
    let r = request(
        "POST",
        &follower.admin_url("/config"),
        &[],
        Some(yaml.as_bytes()),
    )
    .expect("post");
    assert_eq!(r.status, 409, "{}", r.body);
    assert_eq!(
        r.message(),
        format!(
            "this data plane follows the control plane {}; push there (or start with --allow-admin-config)",
            cp.url
        )
    );
    assert_eq!(follower.status()["config_version"], serde_json::Value::Null);
    assert_eq!(follower.get("/flights", &[]).status, 404, "nothing applied");
    let out = push(
        &write(tmp.path(), "s.yaml", &yaml),
        &follower.admin_url("/config"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(409)"));

    let allowed = Gateway::start_empty(&["--control-plane", &cp.url, "--allow-admin-config"]);
    let r = request(
        "POST",
        &allowed.admin_url("/config"),
        &[],
        Some(yaml.as_bytes()),
    )
    .expect("post");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        allowed.get("/flights", &[("apikey", "partner-key")]).status,
        200
    );
}

/// Starts `run` with its admin API on `admin_host` and extra flags and
/// environment; returns the process and the admin address to reach it at.
fn spawn_run(
    admin_host: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    log: &Path,
) -> (Child, String) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(["run", "--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin-listen", &format!("{admin_host}:{port}")])
        .args(["--threads", "1"])
        .args(extra)
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .env_remove("TOLLGATE_ADMIN_INSECURE")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .expect("spawn");
    (child, format!("127.0.0.1:{port}"))
}

fn run_exposed(extra: &[&str], log: &Path) -> (Child, String) {
    spawn_run("0.0.0.0", extra, &[], log)
}

#[test]
fn an_admin_api_on_a_public_address_needs_a_token_or_an_explicit_opt_out() {
    let tmp = tempfile::tempdir().expect("tmp");
    let log = tmp.path().join("run.log");
    let (mut child, _) = run_exposed(&[], &log);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("run started with an exposed admin API and no token");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
    let err = std::fs::read_to_string(&log).expect("log");
    assert!(
        err.contains("not a loopback address") && err.contains("--admin-token"),
        "{err}"
    );

    for (extra, warning) in [
        (&["--admin-token", "adm1n"][..], None),
        (&["--admin-insecure"][..], Some("--admin-insecure")),
    ] {
        let (mut child, admin) = run_exposed(extra, &log);
        let healthy = wait_healthy(&mut child, &admin);
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).expect("log");
        assert!(healthy, "{extra:?} did not start:\n{text}");
        if let Some(w) = warning {
            assert!(text.contains("WARN") && text.contains(w), "{text}");
        }
    }
}
