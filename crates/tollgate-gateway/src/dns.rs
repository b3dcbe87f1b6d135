//! Upstream hostnames, resolved off the request path.
//!
//! A request never waits on DNS: a service whose host is a name points at a
//! [`HostSlot`] that holds the last good address. Slots are resolved when the
//! snapshot naming them is applied (a blocking thread) and re-resolved in the
//! background every `refresh` interval ([`Dns::refresh`]). A failed lookup
//! keeps the last good address and is retried sooner; a host that never
//! resolved fails its requests at once with 502 (counted and logged).
//!
//! When a name has several addresses, IPv4 ones are preferred (Kong's
//! default order, A before AAAA), and the current address is kept while it
//! is still among the answers so pooled connections stay useful.

use arc_swap::ArcSwapOption;
use futures::StreamExt;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default interval between re-resolutions of a hostname.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
/// A failed lookup is retried after this (or `refresh`, when shorter).
const RETRY: Duration = Duration::from_secs(2);
/// Longest a background lookup may take before it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lookups run at once, in the background and at apply.
const PARALLEL: usize = 8;
/// At most one lookup failure log line per host per this while a failure lasts.
const FAIL_LOG: Duration = Duration::from_secs(60);
/// At most one "not resolved" log line per host per this many ms.
const MISS_LOG_MS: u64 = 5_000;

/// A blocking lookup: all addresses of `host`, with `port`.
pub type Lookup = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync;

/// The system resolver (getaddrinfo).
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (host, port).to_socket_addrs().map(|a| a.collect())
}

/// Where a service's requests go.
pub enum Upstream {
    /// An IP literal, parsed when the snapshot was compiled.
    Fixed(SocketAddr),
    /// A hostname: its current address, kept fresh in the background.
    Resolved(Arc<HostSlot>),
}

#[derive(Default)]
struct Schedule {
    /// When the next lookup is due; `None` until the first one.
    next: Option<Instant>,
    failures: u32,
    /// When a failure was last logged.
    logged: Option<Instant>,
}

/// One `host:port` with its current address, shared by every snapshot that names it.
pub struct HostSlot {
    pub host: String,
    pub port: u16,
    addr: ArcSwapOption<SocketAddr>,
    schedule: Mutex<Schedule>,
    /// A background lookup is running (possibly past its timeout): no second one.
    in_flight: AtomicBool,
    origin: Instant,
    last_miss_log_ms: AtomicU64,
    /// `tollgate_upstream_unresolved_total`.
    unresolved: prometheus::IntCounter,
}

impl HostSlot {
    /// The current address; `None` when the host has never resolved.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.load().as_deref().copied()
    }

    /// Counts (and logs, at most every few seconds) a request that found no address.
    pub fn miss(&self) {
        self.unresolved.inc();
        let now = self.origin.elapsed().as_millis() as u64 + MISS_LOG_MS;
        let last = self.last_miss_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= MISS_LOG_MS
            && self
                .last_miss_log_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                host = %self.host,
                port = self.port,
                "upstream host has not resolved yet: answering 502"
            );
        }
    }

    fn due(&self, now: Instant) -> bool {
        if self.in_flight.load(Ordering::Acquire) {
            return false;
        }
        let s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        match s.next {
            Some(t) => t <= now,
            None => true,
        }
    }

    fn attempted(&self) -> bool {
        let s = self.schedule.lock().unwrap_or_else(|p| p.into_inner());
        s.next.is_some()
    }
}

/// Picks one address: the current one while it is still offered, else the
/// first IPv4, else the first.
fn pick(current: Option<SocketAddr>, answers: &[SocketAddr]) -> Option<SocketAddr> {
    if let Some(c) = current.filter(|c| answers.contains(c)) {
        return Some(c);
    }
    answers
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| answers.first())
        .copied()
}

/// Every hostname slot in use, and how they are resolved.
pub struct Dns {
    slots: Mutex<HashMap<(String, u16), Arc<HostSlot>>>,
    lookup: Arc<Lookup>,
    refresh: Duration,
    origin: Instant,
    unresolved: prometheus::IntCounter,
    /// `tollgate_upstream_dns_errors_total`.
    errors: prometheus::IntCounter,
}

impl Dns {
    pub fn new(
        lookup: Arc<Lookup>,
        refresh: Duration,
        unresolved: prometheus::IntCounter,
        errors: prometheus::IntCounter,
    ) -> Self {
        Dns {
            slots: Mutex::new(HashMap::new()),
            lookup,
            refresh: refresh.max(Duration::from_secs(1)),
            origin: Instant::now(),
            unresolved,
            errors,
        }
    }

    /// The slot of `host:port`, made when new (not resolved yet).
    pub fn slot(&self, host: &str, port: u16) -> Arc<HostSlot> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((host.to_string(), port))
            .or_insert_with(|| {
                Arc::new(HostSlot {
                    host: host.to_string(),
                    port,
                    addr: ArcSwapOption::empty(),
                    schedule: Mutex::new(Schedule::default()),
                    in_flight: AtomicBool::new(false),
                    origin: self.origin,
                    last_miss_log_ms: AtomicU64::new(0),
                    unresolved: self.unresolved.clone(),
                })
            })
            .clone()
    }

    /// Slots whose lookup is due; forgets slots no snapshot names any more.
    pub fn due(&self, now: Instant) -> Vec<Arc<HostSlot>> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|_, s| Arc::strong_count(s) > 1);
        slots.values().filter(|s| s.due(now)).cloned().collect()
    }

    /// Takes a lookup's result: a new address, or on failure the last good
    /// one kept and the lookup retried sooner.
    pub fn record(&self, slot: &HostSlot, result: io::Result<Vec<SocketAddr>>, now: Instant) {
        let mut s = slot.schedule.lock().unwrap_or_else(|p| p.into_inner());
        let picked = match &result {
            Ok(answers) => pick(slot.addr(), answers),
            Err(_) => None,
        };
        match picked {
            Some(addr) => {
                if slot.addr() != Some(addr) {
                    tracing::info!(host = %slot.host, %addr, "upstream host resolved");
                    slot.addr.store(Some(Arc::new(addr)));
                }
                if s.failures > 0 {
                    tracing::info!(host = %slot.host, "upstream host resolves again");
                }
                s.failures = 0;
                s.next = Some(now + self.refresh);
            }
            None => {
                self.errors.inc();
                let why = match result {
                    Ok(_) => "no address".to_string(),
                    Err(e) => e.to_string(),
                };
                // Logged on the first failure of a run, then at most once a minute.
                let quiet = s.failures > 0
                    && s.logged
                        .is_some_and(|t| now.saturating_duration_since(t) < FAIL_LOG);
                if !quiet {
                    s.logged = Some(now);
                    match slot.addr() {
                        Some(addr) => {
                            tracing::warn!(host = %slot.host, %addr, "cannot resolve upstream host, keeping its last address: {why}")
                        }
                        None => {
                            tracing::warn!(host = %slot.host, "cannot resolve upstream host (its requests get 502 until it does): {why}")
                        }
                    }
                }
                s.failures = s.failures.saturating_add(1);
                s.next = Some(now + RETRY.min(self.refresh));
            }
        }
    }

    /// Resolves the slots that were never looked up, in parallel, blocking:
    /// for a snapshot being applied, before it takes traffic.
    pub fn resolve_new(&self, slots: &[Arc<HostSlot>]) {
        let fresh: Vec<&Arc<HostSlot>> = slots.iter().filter(|s| !s.attempted()).collect();
        for chunk in fresh.chunks(PARALLEL) {
            std::thread::scope(|scope| {
                for slot in chunk {
                    let lookup = &self.lookup;
                    let spawned = std::thread::Builder::new()
                        .name("tollgate-dns".into())
                        .spawn_scoped(scope, move || {
                            crate::lowprio::leave_idle();
                            let r = lookup(&slot.host, slot.port);
                            self.record(slot, r, Instant::now());
                        });
                    if spawned.is_err() {
                        let r = (self.lookup)(&slot.host, slot.port);
                        self.record(slot, r, Instant::now());
                    }
                }
            });
        }
    }

    /// Runs every due lookup on the blocking pool, a few at a time; each
    /// bounded by a timeout so one stuck name does not hold the others.
    pub async fn refresh(&self) {
        let due = self.due(Instant::now());
        let lookups = due.into_iter().map(|slot| {
            let lookup = self.lookup.clone();
            async move {
                slot.in_flight.store(true, Ordering::Release);
                let running = slot.clone();
                let task = tokio::task::spawn_blocking(move || {
                    let r = lookup(&running.host, running.port);
                    running.in_flight.store(false, Ordering::Release);
                    r
                });
                let r = match tokio::time::timeout(LOOKUP_TIMEOUT, task).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        slot.in_flight.store(false, Ordering::Release);
                        Err(io::Error::other(e.to_string()))
                    }
                    Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "lookup timed out")),
                };
                (slot, r)
            }
        });
        let results: Vec<_> = futures::stream::iter(lookups)
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let now = Instant::now();
        for (slot, r) in results {
            self.record(&slot, r, now);
        }
    }
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
