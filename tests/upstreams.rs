//! Upstreams and targets through the real gateway: weighted round-robin,
//! consistent hashing, retries when a target dies under load, passive and
//! active health checks, and target health in `/status` and `/metrics`.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Gateway;

/// A target that answers its name, counts requests and health probes, and
/// can be stopped (its port then refuses connections) and started again.
struct Target {
    name: String,
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    probes: Arc<AtomicUsize>,
    /// Status `/health` answers.
    health_status: Arc<AtomicU16>,
}

impl Target {
    fn start(name: &str) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let t = Target {
            name: name.to_string(),
            port,
            stop: Arc::new(AtomicBool::new(false)),
            served: Arc::new(AtomicUsize::new(0)),
            probes: Arc::new(AtomicUsize::new(0)),
            health_status: Arc::new(AtomicU16::new(200)),
        };
        t.serve(listener);
        t
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn serve(&self, listener: TcpListener) {
        listener.set_nonblocking(true).expect("nonblocking");
        let (name, stop, served, probes, health) = (
            self.name.clone(),
            self.stop.clone(),
            self.served.clone(),
            self.probes.clone(),
            self.health_status.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (name, stop, served, probes, health) = (
                            name.clone(),
                            stop.clone(),
                            served.clone(),
                            probes.clone(),
                            health.clone(),
                        );
                        std::thread::spawn(move || {
                            connection(conn, &name, &stop, &served, &probes, &health)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
            // The listener drops here: the port refuses connections.
        });
    }

    /// Stops accepting; open connections close after their current answer.
    fn kill(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(self.addr()).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Listens again on the same port.
    fn revive(&self) {
        self.stop.store(false, Ordering::SeqCst);
        let listener = TcpListener::bind(self.addr()).expect("rebind");
        self.serve(listener);
    }
}

fn connection(
    conn: TcpStream,
    name: &str,
    stop: &AtomicBool,
    served: &AtomicUsize,
    probes: &AtomicUsize,
    health: &AtomicU16,
) {
    conn.set_nonblocking(false).ok();
    conn.set_read_timeout(Some(Duration::from_millis(50))).ok();
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut w = conn;
    let mut answered = false;
    loop {
        // Between requests a stopped target closes its idle connections; a
        // connection it accepted gets its first request answered, as a real
        // server shutting down gracefully does.
        let mut line = String::new();
        loop {
            if answered && stop.load(Ordering::SeqCst) {
                return;
            }
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => break,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    continue
                }
                Err(_) => return,
            }
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => continue,
            }
            if h == "\r\n" || h == "\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, text) = if path == "/health" {
            probes.fetch_add(1, Ordering::SeqCst);
            (health.load(Ordering::SeqCst), "probe".to_string())
        } else {
            served.fetch_add(1, Ordering::SeqCst);
            (200, name.to_string())
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{text}",
            text.len()
        );
        if w.write_all(resp.as_bytes()).is_err() {
            return;
        }
        answered = true;
    }
}

fn snapshot(upstream: &str, service_extra: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - name: pool
    url: http://backend.pool:8000
{service_extra}    routes:
      - {{ name: all, paths: ["/"] }}
upstreams:
{upstream}
"#
    )
}

fn targets(ts: &[&Target], weights: &[u32]) -> String {
    ts.iter()
        .zip(weights)
        .map(|(t, w)| format!("      - {{ target: \"{}\", weight: {w} }}\n", t.addr()))
        .collect()
}

fn by_target(gw: &Gateway, n: usize, headers: &[(&str, &str)]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        let r = gw.get("/x", headers);
        assert_eq!(r.status, 200, "{}", r.body);
        *seen.entry(r.body).or_insert(0) += 1;
    }
    seen
}

fn target_health(gw: &Gateway, target: &str) -> String {
    let s = gw.status();
    s["upstreams"][0]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == target)
        .map(|t| t["health"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

fn wait_health(gw: &Gateway, target: &str, want: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let h = target_health(gw, target);
        if h == want {
            return;
        }
        if Instant::now() > deadline {
            panic!("{target} is {h}, not {want}:\n{}", gw.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn weights_are_respected() {
    let (a, b, c) = (Target::start("a"), Target::start("b"), Target::start("c"));
    let up = format!(
        "  - name: backend.pool\n    targets:\n{}",
        targets(&[&a, &b, &c], &[100, 200, 300])
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    let seen = by_target(&gw, 600, &[]);
    for (name, want) in [("a", 100.0), ("b", 200.0), ("c", 300.0)] {
        let got = *seen.get(name).unwrap_or(&0) as f64;
        assert!(
            (got - want).abs() <= want * 0.1,
            "{name}: {got} of 600, want about {want}: {seen:?}"
        );
    }
    // Kong's rule for the Host header: the target's host and port.
    let s = gw.status();
    assert_eq!(s["upstreams"][0]["algorithm"], "round-robin");
    assert_eq!(target_health(&gw, &a.addr()), "HEALTHCHECKS_OFF", "{s}");
}

#[test]
fn consistent_hashing_sticks_per_header_and_falls_back() {
    let ts: Vec<Target> = (0..4).map(|i| Target::start(&format!("t{i}"))).collect();
    let refs: Vec<&Target> = ts.iter().collect();
    let up = format!(
        "  - name: backend.pool\n    algorithm: consistent-hashing\n    hash_on: header\n    hash_on_header: X-User\n    hash_fallback: ip\n    targets:\n{}",
        targets(&refs, &[100, 100, 100, 100])
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    let mut used = std::collections::HashSet::new();
    for user in 0..24 {
        let u = format!("user-{user}");
        let seen = by_target(&gw, 5, &[("x-user", &u)]);
        assert_eq!(seen.len(), 1, "{u} moved between targets: {seen:?}");
        used.extend(seen.into_keys());
    }
    assert!(used.len() >= 2, "every user hashed to one target: {used:?}");
    // No header: hashed on the client address, which is always the same here.
    let seen = by_target(&gw, 10, &[]);
    assert_eq!(seen.len(), 1, "fallback on ip is not sticky: {seen:?}");
}

#[test]
fn consistent_hashing_on_query_arg_then_path() {
    let ts: Vec<Target> = (0..4).map(|i| Target::start(&format!("t{i}"))).collect();
    let refs: Vec<&Target> = ts.iter().collect();
    let up = format!(
        "  - name: backend.pool\n    hash_on: query_arg\n    hash_on_query_arg: session\n    hash_fallback: path\n    targets:\n{}",
        targets(&refs, &[100, 100, 100, 100])
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    let pick = |path: &str| {
        let r = gw.get(path, &[]);
        assert_eq!(r.status, 200, "{}", r.body);
        r.body
    };
    let mut used = std::collections::HashSet::new();
    for s in 0..16 {
        // The same session on any path goes to the same target.
        let first = pick(&format!("/a?x=1&session=s{s}"));
        assert_eq!(pick(&format!("/b/{s}?session=s{s}")), first);
        used.insert(first);
    }
    assert!(used.len() >= 2, "{used:?}");
    let mut used = std::collections::HashSet::new();
    for p in 0..16 {
        // No session: the path decides.
        let first = pick(&format!("/p{p}"));
        assert_eq!(pick(&format!("/p{p}?session=")), first);
        used.insert(first);
    }
    assert!(used.len() >= 2, "{used:?}");
}

/// Kong's cookie stickiness: a client without the cookie gets one made up
/// (and is placed by it); with it, it stays on its target.
#[test]
fn consistent_hashing_on_cookie() {
    let ts: Vec<Target> = (0..4).map(|i| Target::start(&format!("t{i}"))).collect();
    let refs: Vec<&Target> = ts.iter().collect();
    let up = format!(
        "  - name: backend.pool\n    hash_on: cookie\n    hash_on_cookie: lb\n    hash_on_cookie_path: /app\n    targets:\n{}",
        targets(&refs, &[100, 100, 100, 100])
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    let mut used = std::collections::HashSet::new();
    for _ in 0..12 {
        let first = gw.get("/x", &[]);
        assert_eq!(first.status, 200, "{}", first.body);
        let set = first.header("set-cookie").expect("set-cookie").to_string();
        assert!(
            set.starts_with("lb=") && set.ends_with("; Path=/app; HttpOnly"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap_or("").to_string();
        for _ in 0..4 {
            let r = gw.get("/x", &[("cookie", &format!("a=b; {cookie}"))]);
            assert_eq!(r.body, first.body, "{cookie} moved");
            assert_eq!(r.header("set-cookie"), None);
        }
        used.insert(first.body);
    }
    assert!(used.len() >= 2, "{used:?}");
}

#[test]
fn consistent_hashing_on_consumer() {
    let ts: Vec<Target> = (0..3).map(|i| Target::start(&format!("t{i}"))).collect();
    let refs: Vec<&Target> = ts.iter().collect();
    let up = format!(
        "  - name: backend.pool\n    hash_on: consumer\n    targets:\n{}",
        targets(&refs, &[100, 100, 100])
    );
    let consumers: String = (0..12)
        .map(|i| format!("  - {{ username: c{i}, keyauth_credentials: [{{ key: key-{i} }}] }}\n"))
        .collect();
    let yaml = format!(
        "{}consumers:\n{consumers}plugins:\n  - {{ name: key-auth }}\n",
        snapshot(&up, "")
    );
    let gw = Gateway::start(&yaml);
    let s = gw.status();
    assert_eq!(s["upstreams"][0]["algorithm"], "consistent-hashing", "{s}");
    let mut used = std::collections::HashSet::new();
    for i in 0..12 {
        let key = format!("key-{i}");
        let seen = by_target(&gw, 4, &[("apikey", &key)]);
        assert_eq!(seen.len(), 1, "consumer c{i} moved: {seen:?}");
        used.extend(seen.into_keys());
    }
    assert!(
        used.len() >= 2,
        "every consumer hashed to one target: {used:?}"
    );
}

/// A target dies under load: no request is lost (each connect failure is
/// retried on another target), passive checks take it out, and once it is
/// back, active probes bring it back into the rotation.
#[test]
fn killed_target_loses_no_request_and_comes_back() {
    let (a, b, c) = (Target::start("a"), Target::start("b"), Target::start("c"));
    let up = format!(
        r#"  - name: backend.pool
    healthchecks:
      active:
        http_path: /health
        timeout: 1
        healthy: {{ interval: 0, successes: 2 }}
        unhealthy: {{ interval: 0.2, tcp_failures: 1, http_failures: 1 }}
      passive:
        unhealthy: {{ tcp_failures: 3 }}
    targets:
{}"#,
        targets(&[&a, &b, &c], &[100, 100, 100])
    );
    let gw = Gateway::start(&snapshot(&up, "    retries: 5\n"));
    let proxy = gw.url("/x");
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (proxy, stop) = (proxy.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    match support::get(&proxy, &[]) {
                        Ok(r) if r.status == 200 => {}
                        Ok(r) => failures.push(format!("{} {}", r.status, r.body)),
                        Err(e) => failures.push(e),
                    }
                    n += 1;
                }
                (n, failures)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = b.served.load(Ordering::SeqCst);
    assert!(before > 0, "b got no traffic before it died");
    b.kill();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::SeqCst);
    let mut total = 0;
    for w in workers {
        let (n, failures) = w.join().expect("worker");
        total += n;
        assert!(
            failures.is_empty(),
            "lost requests: {failures:?}\n{}",
            gw.log()
        );
    }
    assert!(total > 100, "too little load: {total} requests");
    wait_health(&gw, &b.addr(), "UNHEALTHY", Duration::from_secs(5));
    let m = gw.metrics();
    let line = format!(
        "tollgate_upstream_target_health{{target=\"{}\",upstream=\"backend.pool\"}} 0",
        b.addr()
    );
    assert!(m.contains(&line), "no {line} in:\n{m}");
    let retries: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("tollgate_upstream_retries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(retries > 0, "no retry counted:\n{m}");
    eprintln!("{total} requests, b killed under load, {retries} retried, none lost");
    // Out of the rotation: nothing reaches it (it would be refused anyway).
    let seen = by_target(&gw, 30, &[]);
    assert!(!seen.contains_key("b"), "{seen:?}");

    // Back up, but failing its health probe: it stays out.
    b.health_status.store(500, Ordering::SeqCst);
    b.revive();
    let probes = b.probes.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        b.probes.load(Ordering::SeqCst) > probes,
        "the unhealthy target is not probed"
    );
    assert_eq!(target_health(&gw, &b.addr()), "UNHEALTHY");
    // Healthy probes (two in a row) bring it back.
    b.health_status.store(200, Ordering::SeqCst);
    wait_health(&gw, &b.addr(), "HEALTHY", Duration::from_secs(5));
    let seen = by_target(&gw, 30, &[]);
    assert!(seen.get("b").copied().unwrap_or(0) >= 5, "{seen:?}");
}

#[test]
fn no_healthy_target_is_kongs_503_and_health_survives_reload() {
    let (a, b) = (Target::start("a"), Target::start("b"));
    let up = |extra: &str| {
        format!(
            "  - name: backend.pool\n    healthchecks: {{ passive: {{ unhealthy: {{ tcp_failures: 1 }} }} }}\n{extra}    targets:\n{}",
            targets(&[&a, &b], &[100, 100])
        )
    };
    let gw = Gateway::start(&snapshot(&up(""), "    retries: 0\n"));
    a.kill();
    // With no retries, a request that hits the dead target fails once.
    for _ in 0..6 {
        gw.get("/x", &[]);
    }
    wait_health(&gw, &a.addr(), "UNHEALTHY", Duration::from_secs(5));
    // The same upstream in a changed snapshot keeps its targets' health.
    let hash = gw.status()["config_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    gw.rewrite_config(&snapshot(&up("    tags: [edited]\n"), "    retries: 0\n"));
    gw.wait_hash_change(&hash);
    assert_eq!(target_health(&gw, &a.addr()), "UNHEALTHY");
    b.kill();
    for _ in 0..4 {
        gw.get("/x", &[]);
    }
    wait_health(&gw, &b.addr(), "UNHEALTHY", Duration::from_secs(5));
    let r = gw.get("/x", &[]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.message(), "failure to get a peer from the ring-balancer");
}

#[test]
fn removed_upstream_stops_probing() {
    let a = Target::start("a");
    let up = format!(
        "  - name: backend.pool\n    healthchecks: {{ active: {{ http_path: /health, healthy: {{ interval: 0.1 }} }} }}\n    targets:\n{}",
        targets(&[&a], &[100])
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    let deadline = Instant::now() + Duration::from_secs(3);
    while a.probes.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "no probes:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let hash = gw.status()["config_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let direct = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: pool\n    url: http://{}\n    routes:\n      - {{ name: all, paths: [\"/\"] }}\n",
        a.addr()
    );
    gw.rewrite_config(&direct);
    gw.wait_hash_change(&hash);
    std::thread::sleep(Duration::from_millis(300));
    let after = a.probes.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(a.probes.load(Ordering::SeqCst), after, "still probed");
    assert_eq!(gw.status()["upstreams"], serde_json::json!([]));
    let m = gw.metrics();
    assert!(!m.contains("tollgate_upstream_target_health{"), "{m}");
}

#[test]
fn upstream_errors_are_located() {
    let a = Target::start("a");
    let bad = format!(
        r#"_format_version: "3.0"
services:
  - name: s1
    url: http://empty.pool
    routes: [{{ name: r1, paths: ["/a"] }}]
upstreams:
  - name: empty.pool
  - name: lc.pool
    algorithm: latency
    targets: [{{ target: "{}" }}]
targets:
  - {{ target: "127.0.0.1:9", upstream: missing.pool }}
"#,
        a.addr()
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, bad).expect("write");
    let (code, text) = support::validate_file(&file);
    assert_ne!(code, 0, "{text}");
    for want in [
        "services[0] (s1).host",
        "upstreams[1] (lc.pool).algorithm",
        "latency is not supported",
        "targets[0].upstream",
        "missing.pool",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

/// Kong's `Host` for a balanced request: the target's host (a name is
/// resolved like a service host), or the upstream's `host_header`, with the
/// target's port.
#[test]
fn host_header_and_hostname_targets() {
    let echo = support::upstream("echo");
    let port = echo.port();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: one
    url: http://pool.one
    routes: [{{ name: one, paths: ["/one"] }}]
  - name: two
    url: http://pool.two
    routes: [{{ name: two, paths: ["/two"] }}]
upstreams:
  - name: pool.one
    targets: [{{ target: "localhost:{port}" }}]
  - name: pool.two
    host_header: api.internal
    targets: [{{ target: "127.0.0.1:{port}" }}]
"#
    );
    let gw = Gateway::start(&yaml);
    let r = gw.get("/one", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_headers()["host"], format!("localhost:{port}"));
    let r = gw.get("/two", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_headers()["host"], format!("api.internal:{port}"));
    let s = gw.status();
    let t = &s["upstreams"][0]["targets"][0];
    assert_eq!(t["target"], format!("localhost:{port}"));
    assert_eq!(t["address"], format!("127.0.0.1:{port}"), "{s}");
}

/// Without health checks a dead target stays in the rotation: every try
/// that lands on it is retried on another target, unless `retries` is 0.
#[test]
fn retries_move_a_request_off_a_dead_target() {
    let a = Target::start("a");
    let dead = format!("127.0.0.1:{}", support::free_port());
    let up = |retries: u32| {
        snapshot(
            &format!(
                "  - name: backend.pool\n    targets:\n      - {{ target: \"{}\" }}\n      - {{ target: \"{dead}\" }}\n",
                a.addr()
            ),
            &format!("    retries: {retries}\n"),
        )
    };
    let gw = Gateway::start(&up(5));
    let seen = by_target(&gw, 40, &[]);
    assert_eq!(seen.get("a"), Some(&40), "{seen:?}");
    let m = gw.metrics();
    assert!(m.contains("tollgate_upstream_retries_total 20"), "{m}");
    assert_eq!(target_health(&gw, &dead), "HEALTHCHECKS_OFF");

    let hash = gw.status()["config_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    gw.rewrite_config(&up(0));
    gw.wait_hash_change(&hash);
    let failed = (0..20).filter(|_| gw.get("/x", &[]).status == 502).count();
    assert_eq!(failed, 10, "half the tries land on the dead target");
}

/// A target that answers its name after `delay`, and counts requests.
fn slow_target(name: &'static str, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let mut w = conn;
                loop {
                    let mut line = String::new();
                    // Request line and headers; these requests have no body.
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(delay);
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, served)
}

#[test]
fn least_connections_sends_fewer_requests_to_a_slow_target() {
    let (slow, slow_n) = slow_target("slow", Duration::from_millis(300));
    let (fast, fast_n) = slow_target("fast", Duration::from_millis(5));
    let up = format!(
        "  - name: backend.pool\n    algorithm: least-connections\n    targets:\n      - {{ target: \"{slow}\", weight: 100 }}\n      - {{ target: \"{fast}\", weight: 100 }}\n"
    );
    let gw = Gateway::start(&snapshot(&up, ""));
    assert_eq!(
        gw.status()["upstreams"][0]["algorithm"],
        "least-connections"
    );
    // Four clients, each sending its next request when the last is answered.
    let url = gw.url("/x");
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_millis(1500);
                while Instant::now() < deadline {
                    let r = support::get(&url, &[]).expect("request");
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    let (slow_n, fast_n) = (slow_n.load(Ordering::SeqCst), fast_n.load(Ordering::SeqCst));
    println!("least-connections, equal weights: slow target {slow_n}, fast target {fast_n}");
    // Round-robin would split them evenly. Here the slow target holds at
    // most about one request at a time, five times in 1.5 s.
    assert!(slow_n >= 1, "the slow target is still used");
    assert!(slow_n * 5 < fast_n, "slow {slow_n}, fast {fast_n}");
}
