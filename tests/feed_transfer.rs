//! A data plane never applies (or caches) a snapshot whose body does not match
//! the hash its control plane announced: a cut or corrupted transfer. A
//! stand-in control plane (a plain socket) answers the first subscription
//! with a body that differs from its hash header, and the next ones with the
//! matching pair.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{snapshot, upstream, Gateway};

/// Serves `GET /v1/subscribe`: the first answer's hash header is wrong.
/// Returns its address and the query of every subscription it received.
fn fake_control_plane(body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let good = tollgate_config::hash_bytes(&[body.as_bytes()]);
        let bad = tollgate_config::hash_bytes(&[b"something else"]);
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            let query = line.split(['?', ' ']).nth(2).unwrap_or("").to_string();
            let first = {
                let mut s = log.lock().expect("lock");
                s.push(query);
                s.len() == 1
            };
            let (status, hash, body) = if query_has_version(&log.lock().expect("lock")) {
                // Applied: nothing new. A real control plane holds this
                // poll open; a short pause keeps the data plane from spinning.
                std::thread::sleep(Duration::from_millis(200));
                ("204 No Content", good.as_str(), "")
            } else if first {
                ("200 OK", bad.as_str(), body.as_str())
            } else {
                ("200 OK", good.as_str(), body.as_str())
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nx-tollgate-config-version: 1\r\nx-tollgate-config-hash: {hash}\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

fn query_has_version(queries: &[String]) -> bool {
    queries
        .last()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("version=")))
}

#[test]
fn a_body_that_does_not_match_its_hash_header_is_neither_applied_nor_cached() {
    let (billing, flights) = (upstream("billing"), upstream("flights"));
    let (url, queries) = fake_control_plane(snapshot(billing, flights, ""));
    let cache = tempfile::tempdir().expect("tempdir");
    let cache_dir = cache.path().join("cache");
    let gw = Gateway::start_empty(&[
        "--control-plane",
        &url,
        "--cache-dir",
        cache_dir.to_str().expect("utf-8"),
    ]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while gw.status()["config_version"].as_u64() != Some(1) {
        assert!(Instant::now() < deadline, "never applied:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let queries: Vec<String> = queries
        .lock()
        .expect("lock")
        .iter()
        .take(3)
        .cloned()
        .collect();
    assert!(queries.len() >= 2, "{queries:?}");
    // The poll after the bad transfer still reports no applied version.
    assert!(
        !queries[1].split('&').any(|kv| kv.starts_with("version=")),
        "the mismatched body was applied: {queries:?}"
    );
    assert!(
        gw.log().contains("does not match its hash header"),
        "{}",
        gw.log()
    );
    // What was cached is the body that matched.
    let cached = std::fs::read(cache_dir.join("snapshot")).expect("cached snapshot");
    assert_eq!(
        tollgate_config::hash_bytes(&[&cached]),
        gw.status()["config_hash"].as_str().expect("hash")
    );
    let r = gw.get("/billing", &[("apikey", "fb-key")]);
    assert_eq!(r.status, 200, "{}", r.body);
}
