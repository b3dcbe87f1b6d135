//! Limit counters shared through Redis, for one Redis endpoint and sync rate.
//!
//! `sync_rate` 0: each decision is one atomic script call (all windows, a
//! rejection charges nothing). `sync_rate` > 0: decisions are local and the
//! requests each node admitted are added to Redis every `sync_rate` seconds,
//! which returns the cluster's usage for the node to adopt.
//!
//! Failure handling, so that a request never waits on a broken Redis:
//! - the connection is made by a background task; requests only use one that
//!   is up, and count locally meanwhile;
//! - a failed or slow call (beyond `read_timeout`) starts a 1 s cool-down of
//!   local counting; after it one request probes Redis while the others stay
//!   local; a timed-out connection is replaced;
//! - what was admitted locally is added to Redis once it answers, crediting
//!   the refill since, so clients within their limit are not punished later.

use super::endpoint::{Conn, Endpoint};
use dashmap::DashMap;
use futures::StreamExt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_config::plugins::RedisConfig;
use tollgate_core::limiter::{CompiledLimit, LimitKey, LimiterStore, Outcome, MAX_WINDOWS};
use tollgate_core::plugins::Charge;

#[path = "lease.rs"]
mod lease;

const SCRIPT: &str = include_str!("script.lua");
/// How long decisions stay local after a Redis failure before Redis is probed.
const COOL_DOWN: Duration = Duration::from_secs(1);
/// Script calls in flight at once during a sync, so live decisions keep flowing.
const SYNC_CONCURRENCY: usize = 32;

/// Requests admitted locally and not yet added to Redis.
#[derive(Clone, Copy)]
struct Dirty {
    limit: CompiledLimit,
    /// The client address of an address subject (it names the Redis key).
    ip: Option<IpAddr>,
    count: u64,
    /// When the first of them was admitted (limiter clock, ns).
    since_ns: u64,
}

type Debts = [Option<u64>; MAX_WINDOWS];

pub struct RedisCounters {
    pub sync_rate: f64,
    client: Endpoint,
    config: RedisConfig,
    conn: Mutex<Option<Conn>>,
    connecting: AtomicBool,
    /// Bumped whenever a connect attempt ends, for callers waiting on one.
    connect_done: tokio::sync::watch::Sender<u64>,
    script: redis::Script,
    origin: Instant,
    /// Elapsed ms (since `origin`) until which Redis is not tried; 0 = healthy.
    down_until_ms: AtomicU64,
    probing: AtomicBool,
    last_log_ms: AtomicU64,
    dirty: DashMap<LimitKey, Dirty>,
    last_sync: Mutex<Instant>,
    /// `tollgate_redis_errors_total`.
    errors: prometheus::IntCounter,
    /// `strategy: lease` (see `lease.rs`) instead of counters.
    lease: bool,
    lease_script: redis::Script,
    leases: DashMap<LimitKey, lease::Lease>,
    last_sweep: Mutex<Instant>,
}

enum Mode {
    Charge { floor: Debts },
    Add { count: u64, since_us: u64 },
}

/// How a Redis call ended.
enum CallError {
    /// The script did not run (connection refused, auth, script error).
    Failed(String),
    /// No answer in time: the script may or may not have run.
    TimedOut,
}

impl RedisCounters {
    pub fn new(
        config: &RedisConfig,
        sync_rate: f64,
        lease: bool,
        errors: prometheus::IntCounter,
    ) -> Result<RedisCounters, redis::RedisError> {
        Ok(RedisCounters {
            sync_rate,
            client: Endpoint::new(config)?,
            config: config.clone(),
            conn: Mutex::new(None),
            connecting: AtomicBool::new(false),
            connect_done: tokio::sync::watch::channel(0).0,
            script: redis::Script::new(SCRIPT),
            origin: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            last_log_ms: AtomicU64::new(0),
            dirty: DashMap::new(),
            last_sync: Mutex::new(Instant::now()),
            errors,
            lease,
            lease_script: redis::Script::new(lease::LEASE_SCRIPT),
            leases: DashMap::new(),
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.config.read_timeout.max(1))
    }

    fn elapsed_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64 + 1
    }

    fn log_failure(&self, what: &str, err: &str) {
        let now = self.elapsed_ms();
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if last == 0 || now.saturating_sub(last) >= 1000 {
            self.last_log_ms.store(now, Ordering::Relaxed);
            tracing::warn!(
                redis = %format!("{}:{}", self.config.host, self.config.port),
                "redis {what} failed, counting locally until it answers: {err}"
            );
        }
    }

    fn failed(&self, what: &str, err: &str) {
        self.errors.inc();
        if self.client.rediscovers() {
            self.drop_connection();
        }
        self.down_until_ms.store(
            self.elapsed_ms() + COOL_DOWN.as_millis() as u64,
            Ordering::Relaxed,
        );
        self.log_failure(what, err);
    }

    /// Records a failed call; a timed-out connection is replaced.
    fn call_failed(&self, what: &str, e: CallError) {
        match e {
            CallError::Failed(e) => self.failed(what, &e),
            CallError::TimedOut => {
                self.failed(
                    what,
                    &format!("no answer within {} ms", self.config.read_timeout),
                );
                self.drop_connection();
            }
        }
    }

    fn recovered(&self) {
        if self.down_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!(redis = %format!("{}:{}", self.config.host, self.config.port), "redis answers again");
        }
    }

    fn drop_connection(&self) {
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Starts a background connect unless one is running.
    fn ensure_connecting(self: &Arc<Self>) {
        if self.connecting.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let connect = Duration::from_millis(me.config.connect_timeout.max(1));
            let made =
                tokio::time::timeout(connect * 3, me.client.connect(connect, me.read_timeout()))
                    .await;
            match made {
                Ok(Ok(c)) => *me.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(c),
                Ok(Err(e)) => me.failed("connect", &e.to_string()),
                Err(_) => me.failed("connect", "timed out"),
            }
            me.connecting.store(false, Ordering::Release);
            me.connect_done.send_modify(|n| *n += 1);
        });
    }

    /// A connection to use now, if Redis is up and not cooling down. After a
    /// cool-down only one caller (the probe) gets one until Redis answers.
    /// While a healthy backend is still connecting (at start, or after a
    /// connection was replaced), callers wait for it up to `read_timeout`.
    async fn usable(self: &Arc<Self>) -> Option<(Conn, bool)> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if conn.is_none() {
            let mut done = self.connect_done.subscribe();
            self.ensure_connecting();
            if self.down_until_ms.load(Ordering::Relaxed) != 0 {
                return None;
            }
            let _ = tokio::time::timeout(self.read_timeout(), done.changed()).await;
            conn = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        let conn = conn?;
        let down_until = self.down_until_ms.load(Ordering::Relaxed);
        if down_until == 0 {
            return Some((conn, false));
        }
        if self.elapsed_ms() < down_until || self.probing.swap(true, Ordering::AcqRel) {
            return None;
        }
        Some((conn, true))
    }

    /// Starts connecting now (called by the sync service), so the first
    /// requests find a connection.
    pub fn warm_up(self: &Arc<Self>) {
        let idle = self.conn.lock().map(|c| c.is_none()).unwrap_or(false);
        if idle && self.down_until_ms.load(Ordering::Relaxed) == 0 {
            self.ensure_connecting();
        }
    }

    /// Runs the script for one limit; returns (allowed, retry_ns, debts_ns).
    async fn eval(
        &self,
        conn: Conn,
        key: LimitKey,
        ip: Option<IpAddr>,
        limit: &CompiledLimit,
        mode: Mode,
    ) -> Result<(bool, u64, Debts), CallError> {
        let mut inv = self.script.prepare_invoke();
        let (name, cost, since_us, floor) = match mode {
            Mode::Charge { floor } => ("charge", 1, 0, floor),
            Mode::Add { count, since_us } => ("add", count, since_us, [Some(0); MAX_WINDOWS]),
        };
        inv.arg(name).arg(cost).arg(since_us);
        for (w, f) in limit.windows.iter().zip(floor.iter()) {
            let Some(w) = w else { continue };
            inv.key(super::keys::window_key(key, ip, w.unit));
            inv.arg(w.interval_ns as f64 / 1000.0)
                .arg(w.period_ns / 1000)
                .arg(w.limit)
                .arg(f.unwrap_or(0) / 1000);
        }
        let (first, retry_ns, debts) = self.invoke(&inv, conn, limit).await?;
        Ok((first == 1, retry_ns, debts))
    }

    /// Runs a prepared script within `read_timeout`; returns its reply as
    /// (first value, retry_ns, debts_ns).
    async fn invoke(
        &self,
        inv: &redis::ScriptInvocation<'_>,
        mut conn: Conn,
        limit: &CompiledLimit,
    ) -> Result<(i64, u64, Debts), CallError> {
        let reply = match tokio::time::timeout(
            self.read_timeout(),
            inv.invoke_async::<Vec<i64>>(&mut conn),
        )
        .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if e.is_timeout() => return Err(CallError::TimedOut),
            Ok(Err(e)) => return Err(CallError::Failed(e.to_string())),
            Err(_) => return Err(CallError::TimedOut),
        };
        let mut debts = [None; MAX_WINDOWS];
        let mut values = reply.iter().skip(2);
        for (d, w) in debts.iter_mut().zip(limit.windows.iter()) {
            if w.is_some() {
                *d = values.next().map(|v| (*v).max(0) as u64 * 1000);
            }
        }
        let first = reply.first().copied().unwrap_or(0);
        let retry_ns = reply.get(1).copied().unwrap_or(0).max(0) as u64 * 1000;
        Ok((first, retry_ns, debts))
    }

    /// Queues `count` admitted requests for the next sync. At most `cap` keys
    /// wait (the limiter's own cap): past it a new key is only counted
    /// locally, which can only make the cluster more permissive.
    fn mark_dirty(&self, key: LimitKey, d: Dirty, cap: usize) {
        let Dirty {
            limit,
            ip,
            count,
            since_ns,
        } = d;
        if !self.dirty.contains_key(&key) && self.dirty.len() >= cap {
            self.log_failure("queue", "too many keys waiting for the next sync");
            return;
        }
        self.dirty
            .entry(key)
            .and_modify(|d| {
                d.limit = limit;
                d.count += count;
                d.since_ns = d.since_ns.min(since_ns);
            })
            .or_insert(Dirty {
                limit,
                ip,
                count,
                since_ns,
            });
    }

    /// A local decision, remembered so Redis learns about it at the next sync.
    fn local(&self, store: &LimiterStore, c: &Charge, now: u64) -> Outcome {
        let o = store.charge(c.key, &c.limit, now);
        if o.allowed {
            let d = Dirty {
                limit: c.limit,
                ip: c.client_ip,
                count: 1,
                since_ns: now,
            };
            self.mark_dirty(c.key, d, store.max_keys());
        }
        o
    }

    /// After a Redis failure: count locally, or (Kong's `fault_tolerant:
    /// false`) charge nothing so the request fails.
    fn fallback(&self, store: &LimiterStore, c: &Charge, now: u64) -> Option<Outcome> {
        c.fault_tolerant.then(|| self.local(store, c, now))
    }

    /// Charges one request according to this backend's mode.
    pub async fn charge(
        self: &Arc<Self>,
        store: &LimiterStore,
        c: &Charge,
        now: u64,
    ) -> Option<Outcome> {
        if self.lease {
            return Some(self.charge_lease(store, c, now).await);
        }
        if self.sync_rate > 0.0 {
            return Some(self.local(store, c, now));
        }
        let Some((conn, probe)) = self.usable().await else {
            return self.fallback(store, c, now);
        };
        // The local state is a floor: an empty (restarted) Redis, or a switch from
        // local counting, must not hand out a fresh burst.
        let floor = store.debts(c.key, &c.limit, now);
        let result = self
            .eval(conn, c.key, c.client_ip, &c.limit, Mode::Charge { floor })
            .await;
        if probe {
            self.probing.store(false, Ordering::Release);
        }
        match result {
            Ok((allowed, retry_ns, debts)) => {
                self.recovered();
                // Keep the local view current, for a fallback that starts from the cluster's usage.
                store.merge(c.key, &c.limit, &debts, now);
                Some(Outcome::from_debts(&c.limit, &debts, allowed, retry_ns))
            }
            Err(CallError::Failed(e)) => {
                self.failed("decision", &e);
                // A multiplexed connection does not heal itself: the next
                // use after the cool-down opens a new one.
                self.drop_connection();
                self.fallback(store, c, now)
            }
            Err(CallError::TimedOut) => {
                self.failed(
                    "decision",
                    &format!("no answer within {} ms", self.config.read_timeout),
                );
                self.drop_connection();
                self.fallback(store, c, now)
            }
        }
    }

    /// Whether locally admitted requests are waiting to be added to Redis.
    pub fn has_pending(&self) -> bool {
        !self.dirty.is_empty() || !self.leases.is_empty()
    }

    /// Returns expired leases' unused quota, at most every `SWEEP_EVERY`.
    pub async fn sweep(self: &Arc<Self>, now: u64) {
        if self.leases.is_empty() {
            return;
        }
        let due = self
            .last_sweep
            .lock()
            .map(|mut t| {
                let due = t.elapsed() >= lease::SWEEP_EVERY;
                if due {
                    *t = Instant::now();
                }
                due
            })
            .unwrap_or(true);
        if due {
            self.sweep_leases(now).await;
        }
    }

    /// Whether a sync is due: every `sync_rate` seconds, or once a second
    /// after an outage left local counts to add.
    pub fn sync_due(&self) -> bool {
        if self.dirty.is_empty() {
            return false;
        }
        let interval = if self.sync_rate > 0.0 {
            self.sync_rate
        } else {
            1.0
        };
        self.last_sync
            .lock()
            .map(|t| t.elapsed().as_secs_f64() >= interval)
            .unwrap_or(true)
    }

    /// Adds what this node admitted since the last sync to Redis and adopts
    /// the cluster's usage in return.
    pub async fn sync(self: &Arc<Self>, store: &LimiterStore, now_ns: impl Fn() -> u64) {
        if let Ok(mut t) = self.last_sync.lock() {
            *t = Instant::now();
        }
        let Some((conn, probe)) = self.usable().await else {
            return;
        };
        let keys: Vec<LimitKey> = self.dirty.iter().map(|e| *e.key()).collect();
        let batch: Vec<(LimitKey, Dirty)> = keys
            .into_iter()
            .filter_map(|k| self.dirty.remove(&k))
            .collect();
        let start = now_ns();
        let calls = batch.into_iter().map(|(key, d)| {
            let conn = conn.clone();
            let since_us = start.saturating_sub(d.since_ns) / 1000;
            async move {
                let r = self
                    .eval(
                        conn,
                        key,
                        d.ip,
                        &d.limit,
                        Mode::Add {
                            count: d.count,
                            since_us,
                        },
                    )
                    .await;
                (key, d, r)
            }
        });
        let results: Vec<_> = futures::stream::iter(calls)
            .buffer_unordered(SYNC_CONCURRENCY)
            .collect()
            .await;
        if probe {
            self.probing.store(false, Ordering::Release);
        }
        let now = now_ns();
        let mut failure: Option<String> = None;
        let mut timed_out = false;
        for (key, d, result) in results {
            match result {
                Ok((_, _, debts)) => store.merge(key, &d.limit, &debts, now),
                // Not run: keep the counts for the next sync.
                Err(CallError::Failed(e)) => {
                    failure = Some(e);
                    self.mark_dirty(key, d, usize::MAX);
                }
                // Maybe run: dropped rather than risk counting them twice.
                Err(CallError::TimedOut) => timed_out = true,
            }
        }
        match (failure, timed_out) {
            (Some(e), _) => {
                self.failed("sync", &e);
                self.drop_connection();
            }
            (None, true) => {
                self.failed("sync", "no answer in time");
                self.drop_connection();
            }
            (None, false) => self.recovered(),
        }
    }
}
