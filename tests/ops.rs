//! Operating the gateway: the access log and request ids, `/status`'s
//! last reload, and the control plane's own environment variables, through
//! real processes.

mod support;

use serde_json::Value;
use std::process::Command;
use support::{request, snapshot, upstream, Gateway, BIN};

fn gateway(ace: &str, extra: &[&str]) -> Gateway {
    Gateway::start_with(
        &snapshot(upstream("billing"), upstream("flights"), ace),
        extra,
    )
}

/// Waits until `path` holds at least `n` lines, and returns them parsed.
fn log_lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= n {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} has {} lines, want {n}:\n{text}",
            path.display(),
            lines.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn access_log_has_one_json_line_per_request_and_reopens_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let mut gw = gateway("", &["--access-log", path.to_str().expect("utf-8 path")]);
    let r = gw.get(
        "/billing/./",
        &[("apikey", "partner-key"), ("X-Request-ID", "req-42")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(gw.get("/flights", &[("apikey", "nope")]).status, 401);
    let lines = log_lines(&path, 2);
    // Lines are written after each response, so their order may differ.
    let by_status = |st: u64| {
        lines
            .iter()
            .find(|l| l["status"] == st)
            .unwrap_or_else(|| panic!("no {st} line in {lines:?}"))
    };
    let ok = by_status(200);
    for (k, want) in [
        ("request_id", "req-42"),
        ("client_ip", "127.0.0.1"),
        ("method", "GET"),
        ("path", "/billing/"),
        ("route", "billing"),
        ("service", "billing"),
        ("operation", "list-invoices"),
        ("package", "flight-billing"),
        ("application", "partner-app"),
        ("ace_decision", "allow"),
        ("ace_mode", "enforce"),
    ] {
        assert_eq!(ok[k], want, "{k} in {ok}");
    }
    assert_eq!(ok["status"], 200);
    assert!(ok["bytes"].as_u64().expect("bytes") > 0);
    assert!(ok["total_us"].as_u64().expect("total") >= ok["upstream_us"].as_u64().expect("up"));
    assert!(ok["gateway_us"].is_u64());
    assert!(ok["time"].as_str().expect("time").ends_with('Z'));
    assert_eq!(ok["credential"].as_str().map(str::len), Some(16));
    assert_eq!(ok["limit"]["scope"], "operation");
    assert_eq!(ok["limit"]["limit"], 3);
    assert_eq!(ok["limit"]["per"], "minute");
    assert_eq!(ok["limit"]["remaining"], 2);
    let refused = by_status(401);
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["ace_decision"], "unauthorized");
    assert_eq!(refused["upstream_us"], Value::Null);
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(
        !text.contains("partner-key") && !text.contains("nope"),
        "{text}"
    );
    // logrotate: move the file away, signal, and the next line lands in a new file.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).expect("rotate");
    let hup = Command::new("kill")
        .args(["-HUP", &gw.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "not reopened");
        gw.get("/nowhere", &[]);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    gw.get("/nowhere", &[]);
    let after = log_lines(&path, 1);
    let last = after.last().expect("a line");
    assert_eq!(last["path"], "/nowhere");
    assert_eq!(last["status"], 404);
    assert_eq!(
        log_lines(&rotated, 2).len(),
        2,
        "the old file keeps its lines"
    );
    assert!(
        gw.child.try_wait().expect("wait").is_none(),
        "SIGHUP killed it"
    );
}

/// Sends `id` (when given) and returns the id the client got back, after
/// checking the upstream (when the request reached one) saw the same.
fn id_round_trip(
    gw: &Gateway,
    path: &str,
    key: Option<&str>,
    id: Option<&str>,
    status: u16,
) -> String {
    let mut headers = Vec::new();
    if let Some(k) = key {
        headers.push(("apikey", k));
    }
    if let Some(i) = id {
        headers.push(("X-Request-ID", i));
    }
    let r = gw.get(path, &headers);
    assert_eq!(r.status, status, "{path}: {}", r.body);
    let back = r
        .header("x-request-id")
        .expect("an id on every response")
        .to_string();
    if status == 200 {
        assert_eq!(r.upstream_headers()["x-request-id"], back.as_str());
    }
    back
}

#[test]
fn request_id_is_propagated_or_generated_and_returned_without_the_access_log() {
    let gw = gateway("", &[]);
    assert_eq!(
        id_round_trip(&gw, "/flights", Some("fb-key"), Some("abc-1"), 200),
        "abc-1"
    );
    let id = id_round_trip(&gw, "/flights", Some("fb-key"), None, 200);
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let next = id_round_trip(&gw, "/flights", Some("fb-key"), None, 200);
    assert_ne!(next, id);
    // Not a sane token (a space, too long): replaced, upstream and downstream.
    for bad in ["bad id".to_string(), "x".repeat(201)] {
        let other = id_round_trip(&gw, "/flights", Some("fb-key"), Some(&bad), 200);
        assert_eq!(other.len(), 32);
        assert_ne!(other, bad);
    }
    // Replies from the gateway itself carry it too: 401, 404 and a 5xx.
    assert_eq!(
        id_round_trip(&gw, "/flights", None, Some("abc-401"), 401),
        "abc-401"
    );
    assert_eq!(
        id_round_trip(&gw, "/nowhere", None, Some("abc-404"), 404),
        "abc-404"
    );
    assert_eq!(id_round_trip(&gw, "/nowhere", None, None, 404).len(), 32);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    let down = Gateway::start(&snapshot(addr, addr, ""));
    assert_eq!(
        id_round_trip(&down, "/flights", Some("fb-key"), Some("abc-502"), 502),
        "abc-502"
    );
    assert_eq!(
        id_round_trip(&down, "/flights", Some("fb-key"), None, 502).len(),
        32
    );
}

#[test]
fn access_log_records_the_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("access.log");
    let gw = gateway("", &["--access-log", log.to_str().expect("utf-8 path")]);
    let kept = id_round_trip(&gw, "/flights", Some("fb-key"), Some("abc-1"), 200);
    let made = id_round_trip(&gw, "/flights", Some("fb-key"), None, 200);
    let replaced = id_round_trip(&gw, "/flights", Some("fb-key"), Some("bad id"), 200);
    let refused = id_round_trip(&gw, "/flights", None, Some("abc-2"), 401);
    // Lines are written after each response, so their order may differ.
    let mut ids: Vec<String> = log_lines(&log, 4)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or("").to_string())
        .collect();
    ids.sort();
    let mut want = vec![kept, made, replaced, refused];
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn status_reports_the_last_reload_and_why_it_was_refused() {
    let gw = gateway("", &[]);
    let boot = &gw.status()["last_reload"];
    assert_eq!(boot["result"], "success", "{boot}");
    assert_eq!(boot["source"], "file");
    // An invalid edit is refused: /status says so, with the located errors.
    gw.rewrite_config("_format_version: \"3.0\"\nservices: [{ name: s, url: 'ftp://x' }]\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let refused = loop {
        let r = gw.status()["last_reload"].clone();
        if r["result"] == "failure" {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failed reload: {r}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(refused["source"], "file");
    let errors = refused["errors"].as_array().expect("errors");
    assert!(!errors.is_empty(), "{refused}");
    assert!(errors[0]["path"].as_str().is_some(), "{refused}");
    assert!(refused["at"].as_str().expect("at").ends_with('Z'));
    // A push through the admin API is recorded as such.
    let pushed = request(
        "POST",
        &gw.admin_url("/config"),
        &[],
        Some(b"_format_version: \"3.0\"\n"),
    )
    .expect("push");
    assert_eq!(pushed.status, 200, "{}", pushed.body);
    let last = &gw.status()["last_reload"];
    assert_eq!(last["source"], "admin");
    assert_eq!(last["result"], "success");
    assert_eq!(last["errors"], serde_json::json!([]));
    // The log file is not a terminal: no colour codes in it.
    assert!(!gw.log().contains('\u{1b}'), "{}", gw.log());
}

#[test]
fn control_plane_reads_its_own_environment_variables() {
    let cp_addr = format!("127.0.0.1:{}", support::free_port());
    let dp_addr = format!("127.0.0.1:{}", support::free_port());
    let mut cp = Command::new(BIN)
        .arg("cp")
        .env("TOLLGATE_CP_LISTEN", &cp_addr)
        .env("TOLLGATE_LISTEN", &dp_addr)
        .env("TOLLGATE_CP_TOKEN", "cp-secret")
        .env("TOLLGATE_TOKEN", "not-this-one")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cp");
    let up = support::wait_listening(&cp_addr);
    let dp_taken = std::net::TcpStream::connect(&dp_addr).is_ok();
    let with_cp_token = request(
        "GET",
        &format!("http://{cp_addr}/v1/config"),
        &[("Authorization", "Bearer cp-secret")],
        None,
    );
    let with_other = request(
        "GET",
        &format!("http://{cp_addr}/v1/config"),
        &[("Authorization", "Bearer not-this-one")],
        None,
    );
    let _ = cp.kill();
    let _ = cp.wait();
    assert!(up, "cp did not listen on TOLLGATE_CP_LISTEN");
    assert!(!dp_taken, "cp took the data plane's TOLLGATE_LISTEN");
    assert_ne!(with_cp_token.expect("request").status, 401);
    assert_eq!(with_other.expect("request").status, 401);
    // With only the contract's TOLLGATE_<FLAG> set, cp still reads it.
    let only = format!("127.0.0.1:{}", support::free_port());
    let mut cp = Command::new(BIN)
        .arg("cp")
        .env_remove("TOLLGATE_CP_LISTEN")
        .env("TOLLGATE_LISTEN", &only)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cp");
    let up = support::wait_listening(&only);
    let _ = cp.kill();
    let _ = cp.wait();
    assert!(up, "cp did not fall back to TOLLGATE_LISTEN");
}
