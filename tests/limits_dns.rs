//! Upstream hostnames resolved off the request path, and the limiter's key
//! cap and keyed client-address subjects, through the real binary.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use support::procs::Redis;
use support::{free_port, upstream, Gateway, BIN};

fn service(name: &str, url: &str, path: &str) -> String {
    format!(
        "  - {{ name: {name}, url: \"{url}\", routes: [{{ name: {name}, paths: [{path}], strip_path: false }}] }}\n"
    )
}

#[test]
fn a_service_named_by_hostname_reaches_its_upstream() {
    let up = upstream("by-name");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n{}",
        service(
            "local",
            &format!("http://localhost:{}", up.port()),
            "/items"
        )
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..3 {
        let r = gw.get("/items", &[]);
        assert_eq!(r.status, 200, "{}\n{}", r.body, gw.log());
        assert_eq!(r.json()["service"], "by-name");
    }
    let m = gw.metrics();
    assert!(m.contains("tollgate_upstream_unresolved_total 0"), "{m}");
}

#[test]
fn a_host_that_never_resolved_fails_fast_with_502_and_is_counted() {
    let up = upstream("ok");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n{}{}",
        service("ghost", "http://no-such-host.invalid:8080", "/ghost"),
        service("fine", &format!("http://{up}"), "/fine")
    );
    let gw = Gateway::start(&yaml);
    for _ in 0..2 {
        let started = Instant::now();
        let r = gw.get("/ghost", &[]);
        assert_eq!(r.status, 502, "{}", r.body);
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    // Other services are not held up.
    assert_eq!(gw.get("/fine", &[]).status, 200);
    gw.wait_metrics(&[
        "tollgate_upstream_unresolved_total 2",
        r#"tollgate_http_requests_total{route="ghost",service="ghost",status="502"} 2"#,
    ]);
    let m = gw.metrics();
    assert!(!m.contains("tollgate_upstream_dns_errors_total 0"), "{m}");
    assert!(gw.log().contains("has not resolved"), "{}", gw.log());
}

fn ip_limited(up: SocketAddr, plugins: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n{}{}plugins:\n{plugins}",
        service("a", &format!("http://{up}"), "/a"),
        service("b", &format!("http://{up}"), "/b"),
    )
}

#[test]
fn rate_limiting_by_ip_limits_end_to_end() {
    let up = upstream("up");
    let gw = Gateway::start(&ip_limited(
        up,
        "  - { name: rate-limiting, config: { minute: 3, limit_by: ip } }\n",
    ));
    let codes: Vec<u16> = (0..5).map(|_| gw.get("/a", &[]).status).collect();
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    let r = gw.get("/b", &[]);
    assert_eq!(
        r.status, 429,
        "one client, one counter for the global plugin"
    );
    assert!(r.header("retry-after").is_some());
    gw.wait_metrics(&["tollgate_limiter_keys 1"]);
}

#[test]
fn past_the_key_cap_keys_are_evicted_and_counted() {
    let up = upstream("up");
    let plugins = "  - { name: rate-limiting, route: a, config: { minute: 2, limit_by: ip } }\n  - { name: rate-limiting, route: b, config: { minute: 2, limit_by: ip } }\n";
    let gw = Gateway::start_with(&ip_limited(up, plugins), &["--limiter-max-keys", "1"]);
    let codes: Vec<u16> = (0..3).map(|_| gw.get("/a", &[]).status).collect();
    assert_eq!(codes, [200, 200, 429]);
    // A second key (route b's limit) pushes the first out ...
    assert_eq!(gw.get("/b", &[]).status, 200);
    // ... so route a starts over: the cap only ever makes limits more permissive.
    let r = gw.get("/a", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("1"));
    gw.wait_metrics(&[
        r#"tollgate_limiter_evictions_total{reason="capacity"} 2"#,
        "tollgate_limiter_keys 1",
    ]);
    assert!(gw.log().contains("key cap"), "{}", gw.log());
}

#[test]
fn a_zero_key_cap_is_refused() {
    let out = Command::new(BIN)
        .args(["run", "--limiter-max-keys", "0"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--limiter-max-keys"), "{err}");
}

#[test]
fn an_ip_limit_in_redis_is_shared_by_nodes_with_different_subject_keys() {
    let port = free_port();
    let _redis = Redis::start(port, None);
    let up = upstream("up");
    let plugin = format!(
        "  - {{ name: rate-limiting, config: {{ minute: 4, limit_by: ip, policy: redis, redis: {{ host: 127.0.0.1, port: {port} }} }} }}\n"
    );
    let yaml = ip_limited(up, &plugin);
    let (n1, n2) = (Gateway::start(&yaml), Gateway::start(&yaml));
    let codes: Vec<u16> = [&n1, &n2, &n1, &n2, &n1, &n2]
        .iter()
        .map(|gw| gw.get("/a", &[]).status)
        .collect();
    assert_eq!(codes, [200, 200, 200, 200, 429, 429]);
    // The counter is named by the address itself, not by either node's hash.
    let keys = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan", "--pattern", "tollgate:*"])
        .output()
        .expect("redis-cli");
    let keys = String::from_utf8_lossy(&keys.stdout);
    assert!(
        keys.lines()
            .any(|k| k.starts_with("tollgate:{ip:00000000000000000000ffff7f000001:")),
        "{keys}"
    );
}

/// The runtime knobs of `run`: per-thread runtimes, a small upstream pool and
/// several accept tasks still serve, and an idle keep-alive connection is
/// closed after `--keepalive-timeout`, not Pingora's default of never.
#[test]
fn runtime_knobs_serve_and_idle_connections_close_on_time() {
    use std::io::{Read, Write};
    let up = upstream("tuned");
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n{}",
        service("tuned", &format!("http://{up}"), "/t")
    );
    let gw = Gateway::start_with(
        &yaml,
        &[
            "--work-stealing",
            "false",
            "--upstream-keepalive-pool",
            "2",
            "--listener-tasks",
            "2",
            "--keepalive-timeout",
            "1",
        ],
    );
    for _ in 0..20 {
        assert_eq!(gw.get("/t", &[]).status, 200, "{}", gw.log());
    }
    let mut s = std::net::TcpStream::connect(&gw.proxy).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).expect("response");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    // Idle now: the gateway closes the connection after about one second.
    let idle = Instant::now();
    let mut closed = false;
    while idle.elapsed() < Duration::from_secs(5) {
        match s.read(&mut buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {} // the rest of the first response
        }
    }
    assert!(closed, "idle connection still open after 5 s");
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
}
