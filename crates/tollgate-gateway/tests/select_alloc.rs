//! Picking a target allocates nothing: counted with a global allocator
//! around `Pool::select`, for both selectors, with and without retries.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tollgate_config::upstreams::{Balance, HashKey, TargetSpec, UpstreamSpec};
use tollgate_gateway::balancer::Registry;
use tollgate_gateway::dns::Dns;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn spec(balance: Balance) -> UpstreamSpec {
    UpstreamSpec {
        name: "u".into(),
        balance,
        hash_on: HashKey::None,
        hash_fallback: HashKey::None,
        host_header: None,
        healthchecks: Default::default(),
        targets: (0..5)
            .map(|i| TargetSpec {
                target: format!("10.0.0.{i}:80"),
                host: format!("10.0.0.{i}"),
                port: 80,
                weight: 100 * (i + 1),
            })
            .collect(),
        tags: vec![],
    }
}

#[test]
fn select_does_not_allocate() {
    let dns = Dns::new(
        Arc::new(tollgate_gateway::dns::system_lookup),
        Duration::from_secs(30),
        prometheus::IntCounter::new("u", "u").expect("counter"),
        prometheus::IntCounter::new("e", "e").expect("counter"),
    );
    let gauges =
        prometheus::IntGaugeVec::new(prometheus::Opts::new("g", "g"), &["upstream", "target"])
            .expect("gauges");
    let registry = Registry::new(gauges);
    let mut rr = spec(Balance::RoundRobin);
    rr.name = "rr".into();
    let mut hash = spec(Balance::ConsistentHashing);
    hash.name = "hash".into();
    let pools = registry.build(&[rr, hash], &dns);
    let keys: Vec<Vec<u8>> = (0..100).map(|i| format!("user-{i}").into_bytes()).collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut picked = 0usize;
    for pool in &pools {
        for k in &keys {
            for tried in [0u64, 1, 0b11] {
                picked += pool.select(Some(k), tried).map_or(0, |ix| ix + 1);
                picked += pool.select(None, tried).map_or(0, |ix| ix + 1);
            }
        }
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(picked > 0);
    assert_eq!(after - before, 0, "select allocated");
}
