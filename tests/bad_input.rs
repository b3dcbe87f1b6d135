//! Hostile or malformed requests get a 4xx, never a 5xx, a panic or a hang.

mod support;

use support::{raw, snapshot, upstream, Gateway};

fn gateway() -> Gateway {
    Gateway::start(&snapshot(
        upstream("billing"),
        upstream("flights"),
        "match_policy: required",
    ))
}

fn status_of(line: &str) -> u16 {
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn malformed_requests_are_client_errors() {
    let gw = gateway();
    let long_key = "k".repeat(4096);
    let cases: Vec<(String, Vec<u8>)> = vec![
        (
            "bad percent".into(),
            b"GET /flights/%zz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "escape root".into(),
            b"GET /../flights HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "non-utf8 path".into(),
            b"GET /flights/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "non-utf8 key".into(),
            b"GET /flights HTTP/1.1\r\nHost: x\r\napikey: \xff\xfe\r\n\r\n".to_vec(),
        ),
        (
            "oversized key".into(),
            format!("GET /flights HTTP/1.1\r\nHost: x\r\napikey: {long_key}\r\n\r\n").into_bytes(),
        ),
        (
            "duplicate keys".into(),
            b"GET /flights HTTP/1.1\r\nHost: x\r\napikey: fb-key\r\napikey: other\r\n\r\n".to_vec(),
        ),
        (
            "oversized headers".into(),
            format!(
                "GET /flights HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n",
                "a".repeat(1 << 20)
            )
            .into_bytes(),
        ),
        ("garbage".into(), b"\x00\x01\x02 nonsense\r\n\r\n".to_vec()),
        (
            "bad method".into(),
            b"G\x01T /flights HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let line = raw(&gw.proxy, &bytes);
        let status = status_of(&line);
        assert!(
            line.is_empty() || (400..500).contains(&status),
            "{name}: got {line:?}"
        );
    }
    // Still serving normally afterwards.
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);
    assert!(!gw.log().contains("panicked"), "{}", gw.log());
}

#[test]
fn key_with_spaces_or_encoding_in_query_is_just_unknown() {
    let gw = gateway();
    for q in [
        "apikey=",
        "apikey=%zz",
        "apikey=a+b",
        "apikey",
        "&&&",
        "apikey=%00",
    ] {
        let r = gw.get(&format!("/flights?{q}"), &[]);
        assert_eq!(r.status, 401, "{q}: {}", r.body);
    }
}

#[test]
fn unreachable_upstream_is_a_gateway_error_not_a_hang() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr");
    drop(dead);
    let gw = Gateway::start(&snapshot(addr, addr, ""));
    let r = gw.get("/flights", &[("apikey", "fb-key")]);
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.json()["message"].is_string());
    assert_eq!(
        r.header("ratelimit-limit"),
        Some("5"),
        "limit headers even on errors"
    );
}

#[test]
fn request_targets_that_are_not_paths_are_refused() {
    let gw = gateway();
    for target in ["x:/flights", "flights", "*"] {
        let line = raw(
            &gw.proxy,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        );
        let status = status_of(&line);
        assert!(
            line.is_empty() || (400..500).contains(&status),
            "{target}: {line:?}"
        );
    }
    // Absolute-form is proxied as its path.
    let line = raw(
        &gw.proxy,
        b"GET http://x/flights HTTP/1.1\r\nHost: x\r\napikey: fb-key\r\n\r\n",
    );
    assert_eq!(status_of(&line), 200, "{line}");
}

#[test]
fn a_stripped_prefix_only_matches_whole_segments() {
    let up = upstream("admin");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - {{ name: s, url: "http://{up}", routes: [{{ name: r, paths: [/billing], strip_path: true }}] }}
plugins: [{{ name: ace }}]
apis:
  - name: billing
    operations: [{{ method: GET, path: /billing/admin, id: admin }}]
"#
    );
    let gw = Gateway::start(&yaml);
    // Kong would route /billingadmin to upstream /admin without ACE ever matching /billing/admin.
    assert_eq!(gw.get("/billingadmin", &[]).status, 404);
    assert_eq!(gw.get("/billing/admin", &[]).status, 401);
    let r = gw.get("/billing/other", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/other");
}
