//! A data plane never applies (or caches) a snapshot whose body does not match
//! the hash its control plane announced: a cut or corrupted transfer. A
//! stand-in control plane (a plain socket) answers a data plane's first
//! subscription with a different body (another key) under the good body's
//! hash, and the next ones with the good body.

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{snapshot, upstream, Gateway};

/// (data plane id, query) of every subscription received, in order.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Serves `GET /v1/subscribe`. Each data plane (by `id`; a gateway the test
/// support restarts on a port clash gets a new one) first receives `bad`
/// under `good`'s hash, then `good`.
fn fake_control_plane(good: String, bad: String) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let hash = tollgate_config::hash_bytes(&[good.as_bytes()]);
        let mut polls: HashMap<String, usize> = HashMap::new();
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
            let id = param(&query, "id").unwrap_or("").to_string();
            let applied = param(&query, "version").is_some();
            log.lock().expect("lock").push((id.clone(), query));
            let n = polls.entry(id).or_insert(0);
            *n += 1;
            let (status, body) = match (*n, applied) {
                (1, _) => ("200 OK", bad.as_str()),
                (_, false) => ("200 OK", good.as_str()),
                (_, true) => {
                    // Nothing new. A real control plane holds this poll open;
                    // a short pause keeps the data plane from spinning.
                    std::thread::sleep(Duration::from_millis(200));
                    ("204 No Content", "")
                }
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

#[test]
fn a_body_that_does_not_match_its_hash_header_is_neither_applied_nor_cached() {
    let (billing, flights) = (upstream("billing"), upstream("flights"));
    let good = snapshot(billing, flights, "");
    // Same document with another key: what a corrupted transfer could carry.
    let bad = good.replace("key: fb-key", "key: injected-key");
    assert_ne!(good, bad);
    let (url, seen) = fake_control_plane(good.clone(), bad);
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
    // The polls of the data plane that applied (the last id to poll).
    let seen = seen.lock().expect("lock").clone();
    let id = seen.last().map(|(id, _)| id.clone()).expect("a poll");
    let polls: Vec<&String> = seen
        .iter()
        .filter(|(i, _)| *i == id)
        .map(|(_, q)| q)
        .take(3)
        .collect();
    assert!(polls.len() >= 2, "{polls:?}");
    // The poll after the mismatched body still reports no applied version.
    assert!(
        param(polls[1], "version").is_none(),
        "the mismatched body was applied: {polls:?}"
    );
    assert!(
        gw.log().contains("does not match its hash header"),
        "{}",
        gw.log()
    );
    // What was cached and what serves is the body that matched.
    let cached = std::fs::read(cache_dir.join("snapshot")).expect("cached snapshot");
    assert_eq!(cached, good.as_bytes());
    let r = gw.get("/billing", &[("apikey", "fb-key")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = gw.get("/billing", &[("apikey", "injected-key")]);
    assert_eq!(r.status, 401, "{}", r.body);
}
