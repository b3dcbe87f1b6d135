//! basic-auth with bcrypt-hashed passwords through a real gateway: a password
//! accepted once is remembered (later requests skip bcrypt), wrong passwords
//! are checked every time, and the checks run beside the proxy worker, a
//! bounded number at once.

mod support;

use base64::Engine;
use std::time::{Duration, Instant};
use support::*;

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `/auth` behind basic-auth (a bcrypt credential), `/free` without plugins.
fn start(extra: &[&str]) -> Gateway {
    let up = upstream("bcrypt");
    // Cost 12: each check takes long enough to stand out from proxying.
    let hash = bcrypt::hash("right-pw", 12).expect("bcrypt");
    let yaml = format!(
        r#"_format_version: "3.0"
_transform: false
services:
  - name: s
    url: http://{up}
    routes:
      - {{ name: auth, paths: [/auth] }}
      - {{ name: free, paths: [/free] }}
consumers:
  - username: ops
    basicauth_credentials: [{{ username: ops, password: "{hash}" }}]
plugins: [{{ name: basic-auth, route: auth }}]
"#
    );
    Gateway::start_with(&yaml, extra)
}

fn timed(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> (u16, Duration) {
    let t = Instant::now();
    let r = gw.get(path, headers);
    (r.status, t.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn a_right_password_is_checked_once_wrong_ones_every_time() {
    let gw = start(&[]);
    let right = basic("ops", "right-pw");
    let wrong = basic("ops", "wrong-pw");
    let (status, first) = timed(&gw, "/auth", &[("authorization", &right)]);
    assert_eq!(status, 200);
    let again: Vec<_> = (0..30)
        .map(|_| {
            let (status, t) = timed(&gw, "/auth", &[("authorization", &right)]);
            assert_eq!(status, 200);
            t
        })
        .collect();
    let wrongs: Vec<_> = (0..3)
        .map(|_| {
            let (status, t) = timed(&gw, "/auth", &[("authorization", &wrong)]);
            assert_eq!(status, 401);
            t
        })
        .collect();
    let (again, wrongs) = (median(again), median(wrongs));
    println!("first right {first:?}, later right (median) {again:?}, wrong (median) {wrongs:?}");
    assert!(again * 5 < first, "remembered: {again:?} vs {first:?}");
    assert!(
        again * 5 < wrongs,
        "a refusal is not remembered: {wrongs:?}"
    );
    // The right password still works after wrong ones.
    assert_eq!(gw.get("/auth", &[("authorization", &right)]).status, 200);
}

#[test]
fn a_flood_of_wrong_passwords_leaves_the_proxy_worker_free() {
    // Two proxy workers (the test default) and six clients: bcrypt runs on
    // the workers would hold up every request.
    let gw = start(&[]);
    let wrong = basic("ops", "wrong-pw");
    let (status, check) = timed(&gw, "/auth", &[("authorization", &wrong)]);
    assert_eq!(status, 401);
    let url = gw.url("/auth");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..6)
        .map(|_| {
            let (url, wrong, stop) = (url.clone(), wrong.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let r = get(&url, &[("authorization", &wrong)]).expect("request");
                    if r.status == 429 {
                        assert_eq!(r.message(), "API rate limit exceeded");
                        assert_eq!(r.header("retry-after"), Some("1"));
                    }
                    seen.push(r.status);
                }
                seen
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let free: Vec<_> = (0..20)
        .map(|_| {
            let (status, t) = timed(&gw, "/free", &[]);
            assert_eq!(status, 200);
            std::thread::sleep(Duration::from_millis(50));
            t
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses: Vec<u16> = flood
        .into_iter()
        .flat_map(|t| t.join().expect("flood thread"))
        .collect();
    let free = median(free);
    let busy = statuses.iter().filter(|s| **s == 429).count();
    println!(
        "one bcrypt check {check:?}; unauthenticated route during the flood (median) {free:?}; flood: {} requests, {busy} answered 429",
        statuses.len()
    );
    assert!(free * 4 < check, "{free:?} vs a check of {check:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&401));
    // Six clients, at most one check per core at once, 100 ms of waiting.
    assert!(busy > 0, "{statuses:?}");
}
