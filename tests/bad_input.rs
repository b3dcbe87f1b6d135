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
