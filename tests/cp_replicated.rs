//! Replicated control planes with real processes: two `tollgate cp --store`
//! on one real `redis-server`, data planes with `--control-plane A,B`, racing
//! pushes with one replica killed mid-series, failover, and the data-plane
//! status values through their transitions.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::procs::Redis;
use support::{get, request, snapshot, upstream, Gateway, BIN};

struct ControlPlane {
    child: Child,
    url: String,
}

impl ControlPlane {
    fn start(store: &str) -> ControlPlane {
        Self::start_with_env(store, &[])
    }

    fn start_with_env(store: &str, env: &[(&str, &str)]) -> ControlPlane {
        let listen = format!("127.0.0.1:{}", support::free_port());
        let child = Command::new(BIN)
            .args(["cp", "--listen", &listen, "--store", store])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn cp");
        let url = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(&format!("{url}/health"), &[]).map(|r| r.status) != Ok(200) {
            assert!(Instant::now() < deadline, "control plane did not start");
            std::thread::sleep(Duration::from_millis(25));
        }
        ControlPlane { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill();
    }
}

fn store(redis: &Redis) -> String {
    format!("redis://127.0.0.1:{}", redis.port)
}

fn data_plane(cps: &[&str]) -> Gateway {
    Gateway::start_empty(&["--control-plane", &cps.join(",")])
}

/// The test snapshot with its mapped consumer renamed: same operations, new hash.
fn variant(yaml: &str, tag: &str) -> String {
    yaml.replace("username: mapped", &format!("username: mapped{tag}"))
        .replace("consumer: mapped", &format!("consumer: mapped{tag}"))
}

/// POSTs a snapshot; `Ok((version, hash))` on 201, else the status and body.
fn post(cp: &str, yaml: &str) -> Result<(u64, String), String> {
    let r = request(
        "POST",
        &format!("{cp}/v1/config"),
        &[],
        Some(yaml.as_bytes()),
    )?;
    if r.status != 201 {
        return Err(format!("{}: {}", r.status, r.body));
    }
    let j = r.json();
    Ok((
        j["version"].as_u64().expect("version"),
        j["hash"].as_str().expect("hash").to_string(),
    ))
}

fn wait_version(dps: &[&Gateway], v: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if dps
            .iter()
            .all(|d| d.status()["config_version"].as_u64() == Some(v))
        {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "data planes did not reach version {v} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn list(cp: &str) -> Vec<serde_json::Value> {
    get(&format!("{cp}/v1/data-planes"), &[])
        .expect("list")
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `cp` lists exactly one data plane with `status`; returns it and the wait.
fn wait_status(cp: &str, status: &str, limit: Duration) -> (serde_json::Value, Duration) {
    let start = Instant::now();
    loop {
        let l = list(cp);
        if let [dp] = l.as_slice() {
            if dp["status"] == status {
                return (dp.clone(), start.elapsed());
            }
        }
        assert!(
            start.elapsed() < limit,
            "no data plane {status} within {limit:?}: {l:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn racing_pushes_to_two_replicas_get_distinct_versions_and_nothing_is_lost() {
    let redis = Redis::start(support::free_port(), None);
    let mut a = ControlPlane::start(&store(&redis));
    let b = ControlPlane::start(&store(&redis));
    let dp1 = data_plane(&[&a.url, &b.url]);
    let dp2 = data_plane(&[&b.url, &a.url]);

    let base = snapshot(upstream("billing"), upstream("flights"), "");
    let (v1, _) = post(&a.url, &base).expect("first push");
    assert_eq!(v1, 1);
    // Pushed through A, served by B's data plane within a second.
    let took = wait_version(&[&dp1, &dp2], 1, Duration::from_secs(1));
    eprintln!("push on A reached both data planes in {took:?}");
    // The breaking-change check on B is against what A stored.
    let removes = base
        .replace("      - { method: POST, path: /billing, id: create-invoice }\n", "")
        .replace(
            "    rate_limiting_config: [{ limit: 100, duration: hours }, { limit: 4, duration: minutes }]\n    operations:\n      - { api: billing, method: POST, path: /billing }\n",
            "    operations: []\n",
        );
    assert_ne!(removes, base);
    let refused = post(&b.url, &removes).expect_err("breaking push via B");
    assert!(refused.starts_with("409"), "{refused}");

    // Two pushers race, one on each replica; A dies after its 4th push and
    // its pusher carries on against B.
    const EACH: usize = 8;
    let (a_url, b_url) = (a.url.clone(), b.url.clone());
    let yaml = base.clone();
    let (half_tx, half_rx) = std::sync::mpsc::channel::<()>();
    let (killed_tx, killed_rx) = std::sync::mpsc::channel::<()>();
    let first = std::thread::spawn(move || {
        let mut got = Vec::new();
        for i in 0..EACH {
            if i == EACH / 2 {
                half_tx.send(()).expect("half");
                killed_rx.recv().expect("A killed");
            }
            let to = if i < EACH / 2 { &a_url } else { &b_url };
            got.push(post(to, &variant(&yaml, &format!("a{i}"))).expect("push"));
        }
        got
    });
    let (yaml, b_url) = (base.clone(), b.url.clone());
    let second = std::thread::spawn(move || {
        (0..EACH)
            .map(|i| post(&b_url, &variant(&yaml, &format!("b{i}"))).expect("push"))
            .collect::<Vec<_>>()
    });
    // A is killed between two of its pusher's pushes, while B's pusher goes on.
    half_rx.recv().expect("first half pushed");
    let a_url = a.url.clone();
    a.kill();
    assert!(get(&format!("{a_url}/health"), &[]).is_err(), "A is gone");
    killed_tx.send(()).expect("signal");
    let first = first.join().expect("first pusher");
    let second = second.join().expect("second pusher");

    for got in [&first, &second] {
        let vs: Vec<u64> = got.iter().map(|(v, _)| *v).collect();
        eprintln!("versions: {vs:?}");
        assert!(vs.windows(2).all(|w| w[0] < w[1]), "increasing: {vs:?}");
    }
    let mut all: Vec<(u64, String)> = first.iter().chain(&second).cloned().collect();
    all.sort();
    let versions: Vec<u64> = all.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (2..2 + 2 * EACH as u64).collect();
    assert_eq!(versions, expected, "distinct, no gaps, none lost");
    let (last, last_hash) = all.last().cloned().expect("pushes");

    let cfg = get(&format!("{}/v1/config", b.url), &[])
        .expect("config")
        .json();
    assert_eq!(
        (cfg["version"].as_u64(), cfg["hash"].as_str()),
        (Some(last), Some(last_hash.as_str()))
    );
    wait_version(&[&dp1, &dp2], last, Duration::from_secs(5));
    for dp in [&dp1, &dp2] {
        let s = dp.status();
        assert_eq!(s["config_hash"], last_hash.as_str());
        assert_eq!(s["control_plane"]["url"], b.url.as_str(), "{s}");
    }
    assert_eq!(dp1.get("/flights", &[("apikey", "fb-key")]).status, 200);
}

#[test]
fn a_data_plane_follows_the_next_control_plane_when_its_own_dies() {
    let redis = Redis::start(support::free_port(), None);
    let mut a = ControlPlane::start(&store(&redis));
    let b = ControlPlane::start(&store(&redis));
    let dp = data_plane(&[&a.url, &b.url]);
    let base = snapshot(upstream("billing"), upstream("flights"), "");
    post(&a.url, &base).expect("push v1");
    wait_version(&[&dp], 1, Duration::from_secs(2));
    let (listed, _) = wait_status(&b.url, "in_sync", Duration::from_secs(5));
    assert_eq!(listed["control_plane"], a.url.as_str(), "{listed}");

    a.kill();
    let (v2, _) = post(&b.url, &variant(&base, "2")).expect("push v2 via B");
    assert_eq!(v2, 2);
    let took = wait_version(&[&dp], 2, Duration::from_secs(5));
    eprintln!("failover and version 2 applied in {took:?}");
    let s = dp.status()["control_plane"].clone();
    assert_eq!(s["url"], b.url.as_str(), "{s}");
    assert_eq!(s["connected"], true, "{s}");
    assert_eq!(s["urls"], serde_json::json!([a.url, b.url]));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let l = list(&b.url);
        if l.len() == 1 && l[0]["control_plane"] == b.url.as_str() && l[0]["config_version"] == 2 {
            assert_eq!(l[0]["status"], "in_sync", "{l:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "list did not show the failover: {l:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dp.get("/flights", &[("apikey", "fb-key")]).status, 200);
}

fn signal(dp: &Gateway, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &dp.child.id().to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn data_plane_status_goes_connecting_in_sync_behind_lost_and_back() {
    let redis = Redis::start(support::free_port(), None);
    let a = ControlPlane::start(&store(&redis));
    let b = ControlPlane::start(&store(&redis));
    // It polls A; B lists it from the shared store.
    let dp = data_plane(&[&a.url]);
    let (before, _) = wait_status(&b.url, "connecting", Duration::from_secs(5));
    assert!(before["config_version"].is_null(), "{before}");

    let base = snapshot(upstream("billing"), upstream("flights"), "");
    post(&b.url, &base).expect("push v1");
    wait_version(&[&dp], 1, Duration::from_secs(2));
    let (synced, _) = wait_status(&b.url, "in_sync", Duration::from_secs(5));
    assert_eq!(synced["config_version"], 1);

    // A stopped process holds its connection open but applies nothing and
    // polls no more.
    signal(&dp, "-STOP");
    post(&a.url, &variant(&base, "2")).expect("push v2");
    let (behind, _) = wait_status(&b.url, "behind", Duration::from_secs(3));
    assert_eq!(behind["config_version"], 1);
    let (_, took) = wait_status(&b.url, "lost", Duration::from_secs(25));
    eprintln!("lost {took:?} after falling behind");

    signal(&dp, "-CONT");
    wait_version(&[&dp], 2, Duration::from_secs(5));
    let (back, _) = wait_status(&b.url, "in_sync", Duration::from_secs(5));
    assert_eq!(back["config_version"], 2);
}

/// A `redis-server` with an append-only file in `dir`, as the store needs.
fn persistent_redis(port: u16, dir: &std::path::Path) -> Child {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn a_redis_outage_refuses_pushes_only_and_versions_continue_after_its_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = support::free_port();
    let mut redis = persistent_redis(port, tmp.path());
    let cp = ControlPlane::start(&format!("redis://127.0.0.1:{port}"));
    let dp = data_plane(&[&cp.url]);
    let base = snapshot(upstream("billing"), upstream("flights"), "");
    post(&cp.url, &base).expect("v1");
    let (v2, hash2) = post(&cp.url, &variant(&base, "2")).expect("v2");
    wait_version(&[&dp], v2, Duration::from_secs(2));

    let _ = redis.kill();
    let _ = redis.wait();
    let refused = post(&cp.url, &variant(&base, "3")).expect_err("no store");
    assert!(refused.starts_with("503"), "{refused}");
    let cfg = get(&format!("{}/v1/config", cp.url), &[])
        .expect("config")
        .json();
    assert_eq!(cfg["version"], v2, "the replica still serves what it holds");
    assert_eq!(dp.get("/flights", &[("apikey", "fb-key")]).status, 200);
    assert_eq!(dp.status()["config_hash"], hash2.as_str());

    let mut redis = persistent_redis(port, tmp.path());
    let deadline = Instant::now() + Duration::from_secs(15);
    let v3 = loop {
        match post(&cp.url, &variant(&base, "3")) {
            Ok((v, _)) => break v,
            Err(e) => assert!(Instant::now() < deadline, "store did not come back: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(v3, 3, "the sequence continues from the append-only file");
    wait_version(&[&dp], 3, Duration::from_secs(2));
    let _ = redis.kill();
    let _ = redis.wait();
}

#[test]
fn a_rediss_store_is_verified_against_the_trusted_roots() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(tmp.path())
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = support::free_port();
    let cert = tmp.path().join("cert.pem").display().to_string();
    let key = tmp.path().join("key.pem").display().to_string();
    let mut redis = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
        .args(["--tls-ca-cert-file", &cert, "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("rediss://127.0.0.1:{port}");

    // Its certificate is not in the system roots: refused at start.
    let refused = Command::new(BIN)
        .args([
            "cp",
            "--listen",
            &format!("127.0.0.1:{}", support::free_port()),
        ])
        .args(["--store", &url])
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .output()
        .expect("cp");
    let _ = redis.try_wait();
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("certificate verify failed"), "{err}");

    // Trusted through OpenSSL's SSL_CERT_FILE: two replicas share it over TLS.
    let trust = [("SSL_CERT_FILE", cert.as_str())];
    let a = ControlPlane::start_with_env(&url, &trust);
    let b = ControlPlane::start_with_env(&url, &trust);
    let base = snapshot(upstream("billing"), upstream("flights"), "");
    let (v, hash) = post(&a.url, &base).expect("push over TLS");
    let cfg = get(&format!("{}/v1/config", b.url), &[])
        .expect("config")
        .json();
    assert_eq!(
        (cfg["version"].as_u64(), cfg["hash"].as_str()),
        (Some(v), Some(hash.as_str()))
    );
    let _ = redis.kill();
    let _ = redis.wait();
}
