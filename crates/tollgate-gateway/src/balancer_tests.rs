use super::*;
use crate::health::Report;
use tollgate_config::upstreams::{Balance, HashKey, TargetSpec};

fn spec(weights: &[u32]) -> UpstreamSpec {
    UpstreamSpec {
        name: "u".into(),
        balance: Balance::RoundRobin,
        hash_on: HashKey::None,
        hash_fallback: HashKey::None,
        host_header: None,
        healthchecks: Default::default(),
        targets: weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| TargetSpec {
                target: format!("10.0.0.{i}:80"),
                host: format!("10.0.0.{i}"),
                port: 80,
                weight,
            })
            .collect(),
        tags: vec![],
    }
}

#[test]
fn weights_are_reduced_and_bounded() {
    assert_eq!(
        selector_weights(&spec(&[100, 200, 0, 300])),
        vec![1, 2, 0, 3]
    );
    let big = selector_weights(&spec(&[65535, 65534, 1]));
    assert!(big.iter().map(|w| u64::from(*w)).sum::<u64>() <= MAX_TOTAL_WEIGHT + 3);
    assert_eq!(big[2], 1, "a small weight is never rounded to 0");
    assert!(big[0] >= big[1] && big[1] > 4000, "{big:?}");
}

fn pool(mut s: UpstreamSpec) -> Pool {
    s.healthchecks.passive.unhealthy.tcp_failures = 1;
    let dns = Dns::new(
        Arc::new(crate::dns::system_lookup),
        std::time::Duration::from_secs(30),
        prometheus::IntCounter::new("u", "u").expect("counter"),
        prometheus::IntCounter::new("e", "e").expect("counter"),
    );
    let gauges =
        prometheus::IntGaugeVec::new(prometheus::Opts::new("g", "g"), &["upstream", "target"])
            .expect("gauges");
    Pool::build(&s, None, &dns, &gauges)
}

#[test]
fn hashing_moves_only_the_keys_of_an_unhealthy_target() {
    let mut s = spec(&[100, 100, 100]);
    s.balance = Balance::ConsistentHashing;
    let p = pool(s);
    let keys: Vec<String> = (0..300).map(|i| format!("user-{i}")).collect();
    let before: Vec<usize> = keys
        .iter()
        .map(|k| p.select(Some(k.as_bytes()), 0).expect("pick"))
        .collect();
    assert!((0..3).all(|t| before.contains(&t)), "{before:?}");
    p.report(1, Report::TcpFailure, false);
    for (k, was) in keys.iter().zip(&before) {
        let now = p.select(Some(k.as_bytes()), 0).expect("pick");
        assert_ne!(now, 1);
        if *was != 1 {
            assert_eq!(now, *was, "{k} moved off a healthy target");
        }
    }
    // A retry avoids the target already tried when another is healthy.
    let first = p.select(Some(b"user-0"), 0).expect("pick");
    let retry = p.select(Some(b"user-0"), 1 << first).expect("pick");
    assert!(retry != first && retry != 1);
    p.report(0, Report::TcpFailure, false);
    p.report(2, Report::TcpFailure, false);
    assert_eq!(p.select(Some(b"user-0"), 0), None);
}

#[test]
fn round_robin_skips_weight_zero_and_unhealthy_targets() {
    let p = pool(spec(&[100, 0, 100]));
    let picks: Vec<usize> = (0..10).map(|_| p.select(None, 0).expect("pick")).collect();
    assert!(!picks.contains(&1), "{picks:?}");
    assert_eq!(picks.iter().filter(|&&t| t == 0).count(), 5, "{picks:?}");
    p.report(2, Report::TcpFailure, false);
    assert!((0..10).all(|_| p.select(None, 0) == Some(0)));
}

#[test]
fn under_the_threshold_no_target_is_picked() {
    let mut s = spec(&[100, 100, 200]);
    s.healthchecks.threshold = 60.0;
    let p = pool(s);
    p.report(0, Report::TcpFailure, false);
    // 75% of the weight is healthy: still balancing.
    assert!(p.select(None, 0).is_some());
    p.report(1, Report::TcpFailure, false);
    // 50% < 60%: the whole upstream is unavailable.
    assert_eq!(p.select(None, 0), None);
}

#[test]
fn least_connections_weighs_requests_in_flight_as_kong_does() {
    let mut s = spec(&[1, 3]);
    s.balance = Balance::LeastConnections;
    let p = Arc::new(pool(s));
    assert!(p.counts_in_flight());
    // Idle: (0 + 1) / 3 beats (0 + 1) / 1, the heavier target first.
    let mut held = Vec::new();
    let mut picks = Vec::new();
    for _ in 0..4 {
        let ix = p.select(None, 0).expect("target");
        picks.push(ix);
        held.push(crate::least_conn::InFlight::start(&p, ix).expect("in flight"));
    }
    // Scores 1/3, 2/3, then a tie at 1 whichever way it goes: three of four
    // picks go to the target of weight 3.
    assert_eq!(picks.iter().filter(|&&ix| ix == 1).count(), 3, "{picks:?}");
    assert_eq!(p.targets[1].in_flight.load(Ordering::Relaxed), 3);
    held.clear();
    assert_eq!(p.targets[0].in_flight.load(Ordering::Relaxed), 0);
    assert_eq!(p.targets[1].in_flight.load(Ordering::Relaxed), 0);
    // An unhealthy target is skipped whatever its load.
    p.report(1, Report::TcpFailure, false);
    assert_eq!(p.select(None, 0), Some(0));
}
