//! The store's cap: bounded size, idle-first then closest-to-refill eviction.

use super::*;
use tollgate_config::{Limits, Unit, Window};

const NANOS: u64 = 1_000_000_000;
const T0: u64 = 1_000 * NANOS;

fn limit(n: u64, unit: Unit) -> CompiledLimit {
    CompiledLimit::new(&Limits {
        windows: vec![Window { limit: n, unit }],
    })
}

fn key(i: u64) -> LimitKey {
    LimitKey {
        subject: i,
        scope: 7,
    }
}

fn store(cap: usize) -> LimiterStore {
    LimiterStore::new(cap, SubjectKey::new(1, 2))
}

/// Whether `key` still holds usage under `l` (an evicted key reads as 0).
fn holds(s: &LimiterStore, k: LimitKey, l: &CompiledLimit, now: u64) -> bool {
    s.debts(k, l, now)[0].unwrap_or(0) > 0
}

#[test]
fn entries_are_compact() {
    assert_eq!(std::mem::size_of::<Entry>(), 64);
    assert_eq!(std::mem::size_of::<(LimitKey, Entry)>(), 80);
}

#[test]
fn shards_split_the_cap_without_exceeding_it() {
    for cap in [
        1, 2, 7, 63, 64, 100, 1000, 7168, 20_000, 114_688, 10_000_000,
    ] {
        let s = store(cap);
        assert!(s.per_shard >= 1, "cap {cap}");
        assert!(s.shards.len() * s.per_shard <= cap, "cap {cap}");
        assert!(s.per_shard <= SHARD_KEYS, "cap {cap}");
    }
    assert_eq!(store(0).max_keys(), 1);
}

#[test]
fn inserting_past_the_cap_keeps_len_under_it_and_counts_evictions() {
    let l = limit(10, Unit::Minutes);
    for cap in [1usize, 50, 1000, 20_000] {
        let s = store(cap);
        let extra = cap as u64 / 2 + 5;
        for i in 0..cap as u64 + extra {
            assert!(s.charge(key(i), &l, T0).allowed);
            assert!(s.len() <= cap, "cap {cap}: {} keys", s.len());
        }
        let ev = s.evictions();
        // Nothing was idle: every removal was forced by the cap.
        assert_eq!(ev.idle, 0);
        assert!(ev.capacity >= extra, "cap {cap}: {ev:?}");
        assert_eq!(s.len() as u64 + ev.capacity, cap as u64 + extra);
        // The counted length is the real one.
        let real: usize = s.shards.iter().map(|sh| sh.0.lock().unwrap().len()).sum();
        assert_eq!(real, s.len());
    }
}

#[test]
fn idle_entries_are_evicted_first() {
    // 64 keys: one shard of 64.
    let s = store(64);
    assert_eq!(s.shards.len(), 1);
    let quick = limit(1, Unit::Seconds);
    let slow = limit(10, Unit::Hours);
    for i in 0..32 {
        s.charge(key(i), &quick, T0);
        s.charge(key(100 + i), &slow, T0);
    }
    assert_eq!(s.len(), 64);
    // Two seconds on, the quick keys are refilled: they make the room.
    let now = T0 + 2 * NANOS;
    for i in 0..16 {
        s.charge(key(1000 + i), &slow, now);
    }
    let ev = s.evictions();
    assert_eq!(
        ev,
        Evictions {
            idle: 32,
            capacity: 0
        }
    );
    assert!((0..32).all(|i| holds(&s, key(100 + i), &slow, now)));
    assert_eq!(s.len(), 48);
}

#[test]
fn under_pressure_the_least_used_entries_go_first() {
    let s = store(64);
    let l = limit(100, Unit::Minutes);
    // Light keys used once, heavy keys ten times: the light ones refill first.
    for i in 0..32 {
        s.charge(key(i), &l, T0);
        for _ in 0..10 {
            s.charge(key(100 + i), &l, T0);
        }
    }
    for i in 0..8 {
        s.charge(key(1000 + i), &l, T0);
        assert!(s.len() <= 64);
    }
    let ev = s.evictions();
    assert_eq!(ev.idle, 0);
    assert!(ev.capacity >= 8, "{ev:?}");
    assert!((0..32).all(|i| holds(&s, key(100 + i), &l, T0)));
    // Every eviction took a once-used key (old or new), never a heavy one.
    let light_left = (0..32)
        .chain(1000..1008)
        .filter(|&i| holds(&s, key(i), &l, T0))
        .count();
    assert_eq!(light_left as u64, 40 - ev.capacity);
}

#[test]
fn an_evicted_key_only_becomes_more_permissive() {
    let s = store(1);
    let l = limit(2, Unit::Minutes);
    assert!(s.charge(key(1), &l, T0).allowed);
    assert!(s.charge(key(1), &l, T0).allowed);
    assert!(!s.charge(key(1), &l, T0).allowed);
    // A second key pushes the first out: its usage is forgotten.
    assert!(s.charge(key(2), &l, T0).allowed);
    assert_eq!(s.evictions().capacity, 1);
    let o = s.charge(key(1), &l, T0);
    assert!(o.allowed);
    assert_eq!(o.binding().map(|w| w.remaining), Some(1));
}

#[test]
fn idle_sweep_updates_len_and_counts() {
    let s = store(1000);
    let l = limit(2, Unit::Seconds);
    for i in 0..100 {
        s.charge(key(i), &l, T0);
    }
    assert_eq!(s.len(), 100);
    assert_eq!(s.evict_idle(T0), 0);
    assert_eq!(s.evict_idle(T0 + NANOS), 100);
    assert!(s.is_empty());
    assert_eq!(
        s.evictions(),
        Evictions {
            idle: 100,
            capacity: 0
        }
    );
}
