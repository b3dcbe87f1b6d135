//! Fills the limiter with distinct keys and reports memory (RSS) and time per
//! operation: the numbers behind `--limiter-max-keys` in docs/performance.md.
//!
//! `cargo run --release -p tollgate-core --example limiter_memory -- [KEYS] [MAX_KEYS]`
//! (defaults: 10,000,000 keys into the default cap). Single-threaded; uses
//! the gateway's allocator (mimalloc).

use std::time::{Duration, Instant};
use tollgate_config::{Limits, Unit, Window};
use tollgate_core::limiter::{CompiledLimit, LimitKey, LimiterStore, SubjectKey, DEFAULT_MAX_KEYS};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NANOS: u64 = 1_000_000_000;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) in KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Distinct, well-spread subjects, as keyed hashes of addresses would be.
fn subject(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn per_op(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n.max(1) as f64
}

fn report(label: &str, s: &LimiterStore, base: u64) {
    let (rss, hwm) = rss_kib();
    let ev = s.evictions();
    println!(
        "{label}: {} keys held, RSS {} MiB (+{} MiB, {:.0} B/key), peak {} MiB, evictions idle {} capacity {}",
        s.len(),
        rss / 1024,
        rss.saturating_sub(base) / 1024,
        rss.saturating_sub(base) as f64 * 1024.0 / s.len().max(1) as f64,
        hwm / 1024,
        ev.idle,
        ev.capacity
    );
}

fn main() {
    let keys = arg(1, 10_000_000);
    let cap = arg(2, DEFAULT_MAX_KEYS);
    // 100/minute: every key holds usage for the whole run (nothing is idle).
    let limit = CompiledLimit::new(&Limits {
        windows: vec![Window {
            limit: 100,
            unit: Unit::Minutes,
        }],
    });
    let key = |i: u64| LimitKey {
        subject: subject(i),
        scope: 7,
    };
    let (base, _) = rss_kib();
    let s = LimiterStore::new(cap, SubjectKey::random());
    println!(
        "{keys} distinct keys into a cap of {cap} ({} shards); baseline RSS {} MiB",
        s.shard_count(),
        base / 1024
    );
    let now = 1_000 * NANOS;

    let t = Instant::now();
    for i in 0..keys as u64 {
        s.charge(key(i), &limit, now);
    }
    println!("insert new key: {:.0} ns/op", per_op(t.elapsed(), keys));
    report("after fill", &s, base);

    let t = Instant::now();
    for i in 0..keys as u64 {
        s.charge(key(i), &limit, now);
    }
    println!(
        "charge existing key: {:.0} ns/op",
        per_op(t.elapsed(), keys)
    );

    let t = Instant::now();
    let removed = s.evict_idle(now);
    let sweep = t.elapsed();
    println!(
        "idle sweep, nothing idle: {sweep:?} for all shards, {:.1} µs per shard lock ({removed} removed)",
        sweep.as_secs_f64() * 1e6 / s.shard_count() as f64
    );

    // Past the cap: every new key evicts (in batches) the entries closest to
    // refilling. Each call is timed too: the slowest ones made room in a shard.
    let t = Instant::now();
    for i in keys as u64..2 * keys as u64 {
        s.charge(key(i), &limit, now);
    }
    println!(
        "insert new key past the cap: {:.0} ns/op",
        per_op(t.elapsed(), keys)
    );
    let rounds = keys.min(2_000_000);
    let mut slow = Vec::new();
    for i in 2 * keys as u64..(2 * keys + rounds) as u64 {
        let t = Instant::now();
        s.charge(key(i), &limit, now);
        let d = t.elapsed();
        if d > Duration::from_micros(10) {
            slow.push(d);
        }
    }
    slow.sort_unstable();
    let at = |q: f64| {
        slow.get(((slow.len() as f64 * q) as usize).min(slow.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "  calls that made room in a shard (> 10 µs): {} of {rounds}; median {:?}, p99 {:?}, max {:?}",
        slow.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
    report("after churn", &s, base);
    assert!(s.len() <= cap, "the cap held");

    let t = Instant::now();
    let removed = s.evict_idle(now + 2 * 60 * NANOS);
    println!(
        "idle sweep, all idle: {:?} ({removed} removed)",
        t.elapsed()
    );
    report("after sweep", &s, base);
}
