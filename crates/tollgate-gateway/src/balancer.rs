//! Load-balanced upstreams: one [`Pool`] per Kong upstream, picking a target
//! with Pingora's selection algorithms (weighted round-robin, Ketama
//! consistent hashing), or by fewest requests in flight (`least_conn.rs`),
//! among the targets that are healthy.
//!
//! Pools outlive snapshots: the [`Registry`] hands an apply the same pool
//! when its upstream is unchanged, so target health and the round-robin
//! position survive a reload; a changed upstream gets a new pool that keeps
//! the health of the targets it still has. Upstreams that are gone leave the
//! registry, and with it the active probing (`probe.rs`).

use crate::dns::{Dns, HostSlot};
use crate::health::{Health, Probe, Report, Thresholds};
use http::HeaderValue;
use pingora::protocols::l4::socket::SocketAddr as PSocketAddr;
use pingora_load_balancing::selection::{
    BackendIter, BackendSelection, Consistent, RoundRobin as WeightedRoundRobin,
};
use pingora_load_balancing::Backend;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tollgate_config::upstreams::{Balance, UpstreamSpec};

/// Which target a Pingora `Backend` stands for.
#[derive(Clone, Copy)]
struct TargetIx(usize);

pub struct Target {
    pub name: String,
    /// SNI for a TLS service: the upstream's `host_header`, else the target's host.
    pub sni: String,
    pub weight: u32,
    /// What Pingora's selectors and probes see; for a hostname target, its
    /// address when the pool was built (or a reserved placeholder).
    backend: Backend,
    /// A hostname target's current address, refreshed in the background.
    slot: Option<Arc<HostSlot>>,
    /// `Host` sent upstream (Kong: the upstream's `host_header`, else the
    /// target's host, with the port when it is not the default).
    pub host_header: HeaderValue,
    pub health: Arc<Health>,
    pub(crate) probe: Option<Probe>,
    pub(crate) probing: AtomicBool,
    pub(crate) next_probe: Mutex<Option<Instant>>,
    gauge: prometheus::IntGauge,
    /// Requests in flight, counted for least-connections pools only.
    pub(crate) in_flight: AtomicU64,
}

impl Target {
    /// Where to connect; `None` for a hostname that has never resolved.
    pub fn addr(&self) -> Option<SocketAddr> {
        match &self.slot {
            Some(slot) => slot.addr(),
            None => match &self.backend.addr {
                PSocketAddr::Inet(a) => Some(*a),
                _ => None,
            },
        }
    }

    /// The backend to probe, at the target's current address.
    pub(crate) fn probe_backend(&self) -> Option<Backend> {
        let addr = self.addr()?;
        let mut b = self.backend.clone();
        b.addr = PSocketAddr::Inet(addr);
        Some(b)
    }

    /// Kong's words for `/status`.
    pub fn state(&self, checks_on: bool) -> &'static str {
        if self.slot.is_some() && self.addr().is_none() {
            "DNS_ERROR"
        } else if !checks_on {
            "HEALTHCHECKS_OFF"
        } else if self.health.healthy() {
            "HEALTHY"
        } else {
            "UNHEALTHY"
        }
    }
}

enum Selector {
    RoundRobin(Arc<WeightedRoundRobin>),
    Hash(Arc<Consistent>),
    LeastConnections,
    Empty,
}

pub struct Pool {
    pub spec: UpstreamSpec,
    pub targets: Vec<Target>,
    selector: Selector,
    /// Key for consistent hashing when a request has no hash input, and the
    /// starting point of the scans that retries and fallbacks make.
    counter: AtomicU64,
    pub active: Thresholds,
    pub passive: Thresholds,
    pub checks_on: bool,
    pub passive_on: bool,
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Sum of the weights handed to Pingora's selectors: the round-robin table
/// and the Ketama ring (160 points per unit) grow with it.
const MAX_TOTAL_WEIGHT: u64 = 10_000;

/// Target weights as the selectors get them: divided by their common
/// divisor (three targets of weight 100 alternate instead of taking turns of
/// 100), then scaled down if their sum is still large. 0 stays 0.
fn selector_weights(spec: &UpstreamSpec) -> Vec<u32> {
    let divisor = spec
        .targets
        .iter()
        .map(|t| t.weight)
        .filter(|w| *w > 0)
        .fold(0, gcd)
        .max(1);
    let reduced: Vec<u64> = spec
        .targets
        .iter()
        .map(|t| u64::from(t.weight / divisor))
        .collect();
    let sum: u64 = reduced.iter().sum();
    reduced
        .iter()
        .map(|&w| match w {
            0 => 0,
            w if sum > MAX_TOTAL_WEIGHT => (w * MAX_TOTAL_WEIGHT / sum).max(1) as u32,
            w => w as u32,
        })
        .collect()
}

fn host_header(spec: &UpstreamSpec, host: &str, port: u16, tls: bool) -> HeaderValue {
    let host = spec.host_header.as_deref().unwrap_or(host);
    let bracketed;
    let host = if host.contains(':') {
        bracketed = format!("[{host}]");
        bracketed.as_str()
    } else {
        host
    };
    let default = if tls { 443 } else { 80 };
    let value = if port == default {
        host.to_string()
    } else {
        format!("{host}:{port}")
    };
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("localhost"))
}

impl Pool {
    /// Builds a pool; `old` lends the health of targets it shares.
    fn build(
        spec: &UpstreamSpec,
        old: Option<&Pool>,
        dns: &Dns,
        gauges: &prometheus::IntGaugeVec,
    ) -> Pool {
        let tls = spec.healthchecks.active.kind == tollgate_config::upstreams::CheckType::Https;
        let checks_on = spec.healthchecks.active_enabled() || spec.healthchecks.passive_enabled();
        let weights = selector_weights(spec);
        let mut targets = Vec::with_capacity(spec.targets.len());
        for (ix, t) in spec.targets.iter().enumerate() {
            let (addr, slot) = match t.host.parse::<IpAddr>() {
                Ok(ip) => (SocketAddr::new(ip, t.port), None),
                Err(_) => {
                    let slot = dns.slot(&t.host, t.port);
                    // A never-resolved name still needs a distinct ring
                    // position: 240.0.0.0/4 is reserved and never dialled.
                    let placeholder = SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::from(0xF000_0000u32.wrapping_add(ix as u32))),
                        t.port,
                    );
                    (slot.addr().unwrap_or(placeholder), Some(slot))
                }
            };
            let mut backend = Backend {
                addr: PSocketAddr::Inet(addr),
                weight: weights[ix] as usize,
                ext: Default::default(),
            };
            backend.ext.insert(TargetIx(ix));
            let health = old
                .and_then(|o| o.targets.iter().find(|o| o.name == t.target))
                .map(|o| o.health.clone())
                .unwrap_or_default();
            let gauge = gauges.with_label_values(&[&spec.name, &t.target]);
            gauge.set(health.healthy() as i64);
            let hh = host_header(spec, &t.host, t.port, tls);
            let probe = spec
                .healthchecks
                .active_enabled()
                .then(|| {
                    Probe::new(
                        &spec.healthchecks.active,
                        hh.to_str().unwrap_or(&t.host),
                        &t.host,
                    )
                })
                .flatten();
            targets.push(Target {
                name: t.target.clone(),
                sni: spec.host_header.clone().unwrap_or_else(|| t.host.clone()),
                weight: t.weight,
                backend,
                slot,
                host_header: hh,
                health,
                probe,
                probing: AtomicBool::new(false),
                next_probe: Mutex::new(None),
                gauge,
                in_flight: AtomicU64::new(0),
            });
        }
        let set: BTreeSet<Backend> = targets
            .iter()
            .filter(|t| t.weight > 0)
            .map(|t| t.backend.clone())
            .collect();
        // Validation bounds the targets far below the selectors' 16-bit limit.
        let selector = if set.is_empty() || set.len() > usize::from(u16::MAX) {
            Selector::Empty
        } else {
            match spec.balance {
                Balance::RoundRobin => {
                    Selector::RoundRobin(Arc::new(WeightedRoundRobin::build(&set)))
                }
                Balance::ConsistentHashing => Selector::Hash(Arc::new(Consistent::build(&set))),
                Balance::LeastConnections => Selector::LeastConnections,
            }
        };
        Pool {
            spec: spec.clone(),
            targets,
            selector,
            counter: AtomicU64::new(0),
            active: Thresholds::active(&spec.healthchecks),
            passive: Thresholds::passive(&spec.healthchecks),
            checks_on,
            passive_on: spec.healthchecks.passive_enabled(),
        }
    }

    /// Whether enough weight is healthy (Kong's `healthchecks.threshold`, in percent).
    fn available(&self) -> bool {
        let threshold = self.spec.healthchecks.threshold;
        if threshold <= 0.0 {
            return true;
        }
        let (mut total, mut up) = (0u64, 0u64);
        for t in &self.targets {
            total += u64::from(t.weight);
            if t.health.healthy() {
                up += u64::from(t.weight);
            }
        }
        total > 0 && (up as f64) * 100.0 >= threshold * (total as f64)
    }

    fn usable(&self, ix: usize, tried: u64) -> bool {
        let t = &self.targets[ix];
        t.weight > 0
            && t.health.healthy()
            && (ix >= 64 || tried & (1 << ix) == 0)
            && (t.slot.is_none() || t.addr().is_some())
    }

    /// Picks a healthy target, preferring one not in `tried` (bit per
    /// target index). `key` is the hash input, when the upstream hashes.
    /// Allocation-free: Pingora's iterators are walked in place.
    pub fn select(&self, key: Option<&[u8]>, tried: u64) -> Option<usize> {
        if !self.available() {
            return None;
        }
        let n = self.targets.len();
        let fallback_key;
        let picked = match &self.selector {
            Selector::Empty => return None,
            Selector::LeastConnections => {
                let start = self.counter.fetch_add(1, Ordering::Relaxed) as usize;
                crate::least_conn::pick(self, start, |ix| self.usable(ix, tried))
            }
            // A retry does not advance the rotation: that would hand the
            // next request the target this one just skipped.
            Selector::RoundRobin(_) if tried != 0 => None,
            Selector::RoundRobin(w) => first(w.iter(b""), n + 1, |ix| self.usable(ix, tried)),
            Selector::Hash(ring) => {
                let key = match key {
                    Some(k) => k,
                    None => {
                        fallback_key = self.counter.fetch_add(1, Ordering::Relaxed).to_le_bytes();
                        &fallback_key
                    }
                };
                first(ring.iter(key), 4 * n + 16, |ix| self.usable(ix, tried))
            }
        };
        if picked.is_some() {
            return picked;
        }
        // The selector's walk is bounded; scan every target before giving up,
        // then allow one already tried.
        let start = self.counter.fetch_add(1, Ordering::Relaxed) as usize;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&ix| self.usable(ix, tried))
            .or_else(|| {
                (0..n)
                    .map(|i| (start + i) % n)
                    .find(|&ix| self.usable(ix, 0))
            })
    }

    /// Counts an observation of target `ix`; logs and publishes a flip.
    pub fn report(&self, ix: usize, r: Report, active: bool) {
        let Some(t) = self.targets.get(ix) else {
            return;
        };
        let th = if active { &self.active } else { &self.passive };
        if let Some(healthy) = t.health.report(r, th) {
            t.gauge.set(healthy as i64);
            let how = if active { "active" } else { "passive" };
            if healthy {
                tracing::info!(upstream = %self.spec.name, target = %t.name, check = how, "target is healthy again");
            } else {
                tracing::warn!(upstream = %self.spec.name, target = %t.name, check = how, report = ?r, "target is unhealthy: taken out of the balancer");
            }
        }
    }

    /// Whether requests in flight are counted (least-connections).
    pub fn counts_in_flight(&self) -> bool {
        matches!(self.selector, Selector::LeastConnections)
    }

    /// Host slots of hostname targets, for the apply to resolve.
    pub fn slots(&self) -> impl Iterator<Item = &Arc<HostSlot>> {
        self.targets.iter().filter_map(|t| t.slot.as_ref())
    }
}

fn first<I: BackendIter>(mut iter: I, max: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    for _ in 0..max {
        let b = iter.next()?;
        if let Some(TargetIx(ix)) = b.ext.get::<TargetIx>() {
            if ok(*ix) {
                return Some(*ix);
            }
        }
    }
    None
}

/// The pools in use, by upstream name; survives snapshots.
pub struct Registry {
    pools: Mutex<HashMap<String, Arc<Pool>>>,
    gauges: prometheus::IntGaugeVec,
}

impl Registry {
    pub fn new(gauges: prometheus::IntGaugeVec) -> Self {
        Registry {
            pools: Mutex::new(HashMap::new()),
            gauges,
        }
    }

    /// The pools of a snapshot's upstreams, in order: unchanged upstreams
    /// keep their pool. Pools of upstreams no longer named are dropped here,
    /// which stops their probes.
    pub fn build(&self, specs: &[UpstreamSpec], dns: &Dns) -> Vec<Arc<Pool>> {
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        let out: Vec<Arc<Pool>> = specs
            .iter()
            .map(|spec| match pools.get(&spec.name) {
                Some(p) if p.spec == *spec => p.clone(),
                old => Arc::new(Pool::build(spec, old.map(|p| &**p), dns, &self.gauges)),
            })
            .collect();
        let mut next: HashMap<String, Arc<Pool>> = out
            .iter()
            .map(|p| (p.spec.name.clone(), p.clone()))
            .collect();
        std::mem::swap(&mut *pools, &mut next);
        // `next` now holds the previous pools: unpublish targets that left.
        for (name, old) in next {
            for t in &old.targets {
                let kept = pools
                    .get(&name)
                    .is_some_and(|p| p.targets.iter().any(|n| n.name == t.name));
                if !kept {
                    let _ = self.gauges.remove_label_values(&[&name, &t.name]);
                }
            }
        }
        out
    }

    /// Every pool in use.
    pub fn all(&self) -> Vec<Arc<Pool>> {
        let pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        pools.values().cloned().collect()
    }
}

#[cfg(test)]
#[path = "balancer_tests.rs"]
mod tests;
