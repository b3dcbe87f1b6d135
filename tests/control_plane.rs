//! Contract §7 with real processes: one `tollgate cp`, several `tollgate run
//! --control-plane` data planes, and `tollgate push`, on ephemeral ports and
//! temp dirs. Covers propagation and its latency, the data-plane list,
//! refusals, `--force`, control-plane death and restart, restart from cache.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::procs::push;
use support::{get, request, snapshot, upstream, Gateway, BIN};

struct ControlPlane {
    child: Child,
    url: String,
}

impl ControlPlane {
    fn start(port: u16, data_dir: &Path, extra: &[&str]) -> ControlPlane {
        let dir = data_dir.display().to_string();
        let mut args = vec!["--data-dir", dir.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(port, &args)
    }

    /// Without `--data-dir`: versions live in memory and restart at 1.
    fn start_in_memory(port: u16) -> ControlPlane {
        Self::start_with(port, &[])
    }

    fn start_with(port: u16, args: &[&str]) -> ControlPlane {
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(BIN)
            .args(["cp", "--listen", &listen])
            .args(args)
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

fn data_plane(cp_url: &str, cache: &Path) -> Gateway {
    let cache = cache.display().to_string();
    Gateway::start_empty(&["--control-plane", cp_url, "--cache-dir", &cache])
}

fn version(gw: &Gateway) -> Option<u64> {
    gw.status()["config_version"].as_u64()
}

/// Waits until every data plane runs `v`; returns how long that took.
fn wait_version(dps: &[&Gateway], v: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if dps.iter().all(|d| version(d) == Some(v)) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "data planes did not reach version {v} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The test snapshot with its mapped consumer renamed: same operations, new hash.
fn variant(yaml: &str, tag: &str) -> String {
    yaml.replace("username: mapped", &format!("username: mapped{tag}"))
        .replace("consumer: mapped", &format!("consumer: mapped{tag}"))
}

/// Pushes the test snapshot and waits until `dps` run it as version 1.
fn push_first(dir: &Path, cp_url: &str, dps: &[&Gateway]) -> String {
    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let out = push(&write(dir, "first.yaml", &yaml), cp_url, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_version(dps, 1, Duration::from_secs(2));
    yaml
}

/// Waits until a data plane's cache holds a snapshot.
fn wait_cache(cache: &Path) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cache.join("snapshot.meta.json").exists() {
        assert!(Instant::now() < deadline, "cache not written");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn write(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

#[test]
fn pushes_reach_every_data_plane_within_a_second_and_are_listed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let dp1 = data_plane(&cp.url, &tmp.path().join("c1"));
    let dp2 = data_plane(&cp.url, &tmp.path().join("c2"));
    assert_eq!(
        dp1.get("/flights", &[]).status,
        404,
        "empty until the first push"
    );

    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let file = write(tmp.path(), "v1.yaml", &yaml);
    let out = push(&file, &cp.url, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 1"));
    let took = wait_version(&[&dp1, &dp2], 1, Duration::from_secs(1));
    eprintln!("propagation to 2 data planes: {took:?}");
    assert_eq!(dp2.get("/flights", &[("apikey", "fb-key")]).status, 200);

    // A second push, timed from the push command's start.
    let file2 = write(tmp.path(), "v2.yaml", &variant(&yaml, "2"));
    let start = Instant::now();
    assert!(push(&file2, &cp.url, &[]).status.success());
    wait_version(&[&dp1, &dp2], 2, Duration::from_secs(1));
    eprintln!("push + propagation of version 2: {:?}", start.elapsed());

    let cfg = get(&format!("{}/v1/config", cp.url), &[])
        .expect("config")
        .json();
    assert_eq!(cfg["version"], 2);
    assert_eq!(cfg["hash"], dp1.status()["config_hash"]);
    // Each data plane reports its new version on its next poll, right after applying.
    let deadline = Instant::now() + Duration::from_secs(5);
    let list = loop {
        let list = get(&format!("{}/v1/data-planes", cp.url), &[])
            .expect("list")
            .json();
        let synced = list
            .as_array()
            .is_some_and(|l| l.len() == 2 && l.iter().all(|d| d["config_version"] == 2));
        if synced || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 2, "{list:?}");
    for dp in list {
        assert_eq!(dp["config_version"], 2, "{dp}");
        assert_eq!(dp["status"], "in_sync", "{dp}");
        for key in ["id", "hostname", "config_hash", "last_seen"] {
            assert!(dp[key].is_string(), "{key} in {dp}");
        }
    }
    let status = dp1.status();
    assert_eq!(status["control_plane"]["url"], cp.url.as_str());
    assert_eq!(status["control_plane"]["connected"], true);
    assert!(status["control_plane"]["last_sync"].is_string());
}

#[test]
fn invalid_and_breaking_pushes_are_refused_unless_forced() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let dp = data_plane(&cp.url, &tmp.path().join("c"));
    let yaml = push_first(tmp.path(), &cp.url, &[&dp]);

    let bad = write(
        tmp.path(),
        "bad.yaml",
        &yaml.replace("api_package: partners }", "api_package: ghost }"),
    );
    let out = push(&bad, &cp.url, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("applications[1].registrations[0].api_package"),
        "{err}"
    );

    let breaking = yaml.replace("      - { method: POST, path: /billing, id: create-invoice }\n", "").replace(
        "    rate_limiting_config: [{ limit: 100, duration: hours }, { limit: 4, duration: minutes }]\n    operations:\n      - { api: billing, method: POST, path: /billing }\n",
        "    operations: []\n",
    );
    let breaking = write(tmp.path(), "breaking.yaml", &breaking);
    let out = push(&breaking, &cp.url, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("billing POST /billing"), "{err}");
    let r = request(
        "POST",
        &format!("{}/v1/config", cp.url),
        &[],
        Some(std::fs::read(&breaking).expect("read").as_slice()),
    )
    .expect("post");
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["removed_operations"][0], "billing POST /billing");
    assert_eq!(
        get(&format!("{}/v1/config", cp.url), &[])
            .expect("get")
            .json()["version"],
        1
    );

    let out = push(&breaking, &cp.url, &["--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_version(&[&dp], 2, Duration::from_secs(2));
}

#[test]
fn data_planes_keep_serving_without_the_control_plane_and_resync_after_restart() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = support::free_port();
    let data = tmp.path().join("cp");
    let mut cp = ControlPlane::start(port, &data, &[]);
    let dp = data_plane(&cp.url, &tmp.path().join("c"));
    let yaml = push_first(tmp.path(), &cp.url, &[&dp]);

    cp.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    while dp.status()["control_plane"]["connected"] != false {
        assert!(
            Instant::now() < deadline,
            "data plane did not notice the control plane going away"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        dp.get("/flights", &[("apikey", "fb-key")]).status,
        200,
        "still serving"
    );
    assert_eq!(version(&dp), Some(1));

    // Restarted with the same data dir: same snapshot and version, then new pushes flow again.
    let cp2 = ControlPlane::start(port, &data, &[]);
    assert_eq!(
        get(&format!("{}/v1/config", cp2.url), &[])
            .expect("get")
            .json()["version"],
        1
    );
    let v2 = variant(&yaml, "2");
    assert!(push(&write(tmp.path(), "b.yaml", &v2), &cp2.url, &[])
        .status
        .success());
    wait_version(&[&dp], 2, Duration::from_secs(15));
}

#[test]
fn data_plane_restarts_from_its_cache_when_the_control_plane_is_down() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = support::free_port();
    let mut cp = ControlPlane::start(port, &tmp.path().join("cp"), &[]);
    let cache = tmp.path().join("cache");
    let dp = data_plane(&cp.url, &cache);
    push_first(tmp.path(), &cp.url, &[&dp]);
    let hash = dp.status()["config_hash"].clone();
    // The cache is written right after the snapshot is applied.
    wait_cache(&cache);
    drop(dp);
    cp.kill();

    let dp = data_plane(&cp.url, &cache);
    assert_eq!(version(&dp), Some(1), "{}", dp.log());
    assert_eq!(dp.status()["config_hash"], hash);
    assert_eq!(dp.get("/flights", &[("apikey", "fb-key")]).status, 200);

    // No cache and no control plane: the empty snapshot, until the control plane is back.
    let fresh = data_plane(&cp.url, &tmp.path().join("empty-cache"));
    assert_eq!(fresh.get("/flights", &[]).status, 404);
    let _cp2 = ControlPlane::start(port, &tmp.path().join("cp"), &[]);
    wait_version(&[&fresh], 1, Duration::from_secs(15));
    assert_eq!(fresh.get("/flights", &[("apikey", "fb-key")]).status, 200);
}

#[test]
fn push_works_against_a_data_plane_admin_api_and_limits_body_size() {
    let tmp = tempfile::tempdir().expect("tmp");
    let gw = Gateway::start_empty(&["--admin-token", "t0ken"]);
    let file = write(
        tmp.path(),
        "a.yaml",
        &snapshot(upstream("billing"), upstream("flights"), ""),
    );
    let admin = format!("http://{}", gw.admin);
    let out = push(&file, &admin, &["--token", "t0ken"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);
    assert_eq!(
        push(&file, &admin, &["--token", "wrong"]).status.code(),
        Some(1)
    );

    let cp = ControlPlane::start(
        support::free_port(),
        &tmp.path().join("cp"),
        &["--max-snapshot-mb", "1"],
    );
    let big = vec![b'#'; 2 * 1024 * 1024];
    let r = request("POST", &format!("{}/v1/config", cp.url), &[], Some(&big));
    match r {
        Ok(r) => assert_eq!(r.status, 413),
        // The server may answer 413 and close before the client finished sending.
        Err(e) => assert!(
            ["connection", "reset", "broken pipe"]
                .iter()
                .any(|w| e.to_lowercase().contains(w)),
            "{e}"
        ),
    }
}

#[test]
fn push_inlines_spec_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(
        tmp.path().join("spec.yaml"),
        "openapi: 3.0.0\ninfo: { title: t, version: '1' }\npaths:\n  /things:\n    get: { operationId: list-things, responses: { '200': { description: ok } } }\n",
    )
    .expect("spec");
    let up = upstream("things");
    let file = write(
        tmp.path(),
        "s.yaml",
        &format!(
            "_format_version: \"3.0\"\nservices: [{{ name: s, url: \"http://{up}\", routes: [{{ name: r, paths: [/things], strip_path: false }}] }}]\nplugins: [{{ name: ace, config: {{ match_policy: required }} }}]\napis: [{{ name: t, spec_file: spec.yaml }}]\n"
        ),
    );
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let out = push(&file, &cp.url, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = get(&format!("{}/v1/config", cp.url), &[])
        .expect("get")
        .json();
    assert!(
        cfg["config"].as_str().unwrap_or("").contains("list-things"),
        "{cfg}"
    );
    // The hash `validate` prints is the one the control plane reports.
    let v = std::process::Command::new(support::BIN)
        .args(["validate", file.to_str().expect("utf8")])
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&v.stdout).to_string();
    let hash = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("config_hash: "))
        .expect("hash line");
    assert_eq!(cfg["hash"].as_str(), Some(hash), "{cfg}\n{text}");
}

/// A fake control plane that answers every request with `response`.
fn fake_control_plane(response: &'static [u8]) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response);
        }
    });
    url
}

#[test]
fn garbage_or_errors_from_the_control_plane_never_drop_the_running_snapshot() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cache = tmp.path().join("cache");
    // Seed the cache through a real control plane.
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let dp = data_plane(&cp.url, &cache);
    push_first(tmp.path(), &cp.url, &[&dp]);
    wait_cache(&cache);
    drop(dp);
    let answers: [&'static [u8]; 3] = [
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nx-tollgate-config-version: 9\r\ncontent-length: 12\r\n\r\nnot a config",
        b"\x00\x01garbage garbage\r\n\r\n",
    ];
    for answer in answers {
        let fake = fake_control_plane(answer);
        let dp = data_plane(&fake, &cache);
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(version(&dp), Some(1), "{}", dp.log());
        assert_eq!(dp.get("/flights", &[("apikey", "fb-key")]).status, 200);
    }
}

#[test]
fn racing_pushes_get_distinct_versions_and_the_last_one_wins() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let dp = data_plane(&cp.url, &tmp.path().join("c"));
    let yaml = snapshot(upstream("billing"), upstream("flights"), "");
    let files: Vec<_> = (0..4)
        .map(|i| {
            write(
                tmp.path(),
                &format!("v{i}.yaml"),
                &variant(&yaml, &i.to_string()),
            )
        })
        .collect();
    let url = cp.url.clone();
    let versions: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| {
                let url = url.clone();
                s.spawn(move || {
                    let body = std::fs::read(f).expect("read");
                    let r = request("POST", &format!("{url}/v1/config"), &[], Some(&body))
                        .expect("push");
                    assert_eq!(r.status, 201, "{}", r.body);
                    r.json()["version"].as_u64().expect("version")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("push thread"))
            .collect()
    });
    let mut sorted = versions.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4], "{versions:?}");
    wait_version(&[&dp], 4, Duration::from_secs(2));
    let cfg = get(&format!("{}/v1/config", cp.url), &[])
        .expect("get")
        .json();
    assert_eq!(cfg["hash"], dp.status()["config_hash"]);
}

#[test]
fn an_unwritable_cache_is_logged_and_serving_continues() {
    let tmp = tempfile::tempdir().expect("tmp");
    // A file where the cache directory should be: every write fails.
    let blocked = write(tmp.path(), "not-a-dir", "x");
    let cp = ControlPlane::start(support::free_port(), &tmp.path().join("cp"), &[]);
    let dp = data_plane(&cp.url, &blocked);
    push_first(tmp.path(), &cp.url, &[&dp]);
    assert_eq!(dp.get("/flights", &[("apikey", "fb-key")]).status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !dp.log().contains("cannot write the snapshot cache") {
        assert!(Instant::now() < deadline, "{}", dp.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn data_planes_follow_a_control_plane_whose_versions_restarted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let port = support::free_port();
    let mut cp = ControlPlane::start_in_memory(port);
    let dp = data_plane(&cp.url, &tmp.path().join("c"));
    let yaml = push_first(tmp.path(), &cp.url, &[&dp]);
    let old_hash = dp.status()["config_hash"].clone();
    cp.kill();
    // A new control plane without the old data: its first version is 1 again,
    // with different content. The data plane must take it.
    let cp2 = ControlPlane::start_in_memory(port);
    let v2 = variant(&yaml, "2");
    assert!(push(&write(tmp.path(), "b.yaml", &v2), &cp2.url, &[])
        .status
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    while dp.status()["config_hash"] == old_hash {
        assert!(
            Instant::now() < deadline,
            "data plane kept the old snapshot:\n{}",
            dp.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        dp.status()["config_hash"],
        get(&format!("{}/v1/config", cp2.url), &[])
            .expect("get")
            .json()["hash"]
    );
}
