//! `rate_limiting.strategy: lease` with a real `redis-server` and five real
//! data planes: the cluster never admits more than GCRA allows (burst and
//! paced over-limit load), most requests cost no Redis call, and a dead Redis
//! never fails a request.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::cluster::{items_snapshot, local_redis};
use support::procs::Redis;
use support::{free_port, upstream, Gateway};

fn snapshot(up: SocketAddr, redis_port: u16, limit: &str) -> String {
    items_snapshot(up, "strategy: lease", &local_redis(redis_port, 200), limit)
}

/// Sends `n` requests round-robin over the planes, `gap` apart; returns the
/// number admitted and the wall time from the first send to the last answer.
fn run(planes: &[Gateway], n: usize, gap: Duration) -> (usize, f64) {
    let started = Instant::now();
    let mut admitted = 0;
    for i in 0..n {
        let r = planes[i % planes.len()].get("/items", &[("apikey", "k1")]);
        assert!(
            r.status == 200 || r.status == 429,
            "{} {}",
            r.status,
            r.body
        );
        admitted += usize::from(r.status == 200);
        std::thread::sleep(gap);
    }
    (admitted, started.elapsed().as_secs_f64())
}

fn planes(yaml: &str, n: usize) -> Vec<Gateway> {
    (0..n).map(|_| Gateway::start(yaml)).collect()
}

#[test]
fn burst_across_five_planes_never_exceeds_the_limit() {
    let redis = Redis::start(free_port(), None);
    let yaml = snapshot(
        upstream("items"),
        redis.port,
        "{ limit: 20, duration: minutes }",
    );
    let planes = planes(&yaml, 5);
    let (admitted, secs) = run(&planes, 200, Duration::ZERO);
    // GCRA: the burst of 20 plus one refill every 3 s.
    let exact = 20.0 + secs / 3.0;
    eprintln!("lease burst, 5 planes: admitted {admitted}, exact {exact:.1} ({secs:.2} s)");
    assert!(
        admitted as f64 <= exact,
        "over-admitted: {admitted} > {exact:.1}"
    );
    assert!(admitted >= 18, "under-admitted: {admitted}");
}

#[test]
fn paced_over_limit_load_stays_within_gcra_and_spends_few_redis_calls() {
    let redis = Redis::start(free_port(), None);
    let yaml = snapshot(
        upstream("items"),
        redis.port,
        "{ limit: 10, duration: seconds }",
    );
    let planes = planes(&yaml, 5);
    // Warm every plane's connection so the measured run starts together.
    let _ = run(&planes, 5, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(1500));
    let (admitted, secs) = run(&planes, 400, Duration::from_millis(5));
    // A burst of 10 plus 10 per second of refill.
    let exact = 10.0 + 10.0 * secs;
    eprintln!("lease paced, 5 planes: admitted {admitted}, exact {exact:.1} ({secs:.2} s)");
    assert!(
        admitted as f64 <= exact,
        "over-admitted: {admitted} > {exact:.1}"
    );
    assert!(
        admitted as f64 >= 0.6 * exact,
        "under-admitted: {admitted} of {exact:.1}"
    );

    // Below the limit, a request rarely costs a Redis call.
    let yaml = snapshot(
        upstream("items"),
        redis.port,
        "{ limit: 100000, duration: minutes }",
    );
    for p in &planes {
        p.rewrite_config(&yaml);
    }
    std::thread::sleep(Duration::from_millis(1500));
    let before = redis.script_calls();
    let (admitted, _) = run(&planes, 500, Duration::from_millis(1));
    let calls = redis.script_calls() - before;
    eprintln!("lease below the limit: {calls} script calls for 500 requests");
    assert_eq!(admitted, 500);
    assert!(calls * 4 <= 500, "{calls} Redis calls for 500 requests");
}

#[test]
fn dead_redis_falls_back_to_local_counting_without_failing_requests() {
    let port = free_port();
    let mut redis = Redis::start(port, None);
    let yaml = snapshot(upstream("items"), port, "{ limit: 5, duration: minutes }");
    let a = Gateway::start(&yaml);
    assert_eq!(a.get("/items", &[("apikey", "k1")]).status, 200);
    redis.kill();
    let mut got = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        got.push(a.get("/items", &[("apikey", "k1")]).status);
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "waited {:?}",
            started.elapsed()
        );
    }
    // The local fallback still enforces the limit on this node.
    assert!(got.iter().all(|s| *s == 200 || *s == 429), "{got:?}");
    assert!(got.iter().filter(|s| **s == 200).count() <= 4, "{got:?}");
    assert!(got.contains(&429), "{got:?}");
}
