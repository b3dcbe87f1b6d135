//! Limit counters shared through Redis, for one Redis endpoint and sync rate.
//!
//! `sync_rate` 0: each decision is one atomic script call (all windows, a
//! rejection charges nothing). `sync_rate` > 0: decisions are local and the
//! requests each node admitted are added to Redis every `sync_rate` seconds,
//! which returns the cluster's usage for the node to adopt.
//!
//! When Redis fails or is slow (beyond `read_timeout`), decisions fall back
//! to the local limiter for a cool-down, errors are counted and logged at most
//! once a second, and what was admitted meanwhile is added to Redis once it
//! answers again. A request never fails because Redis did.

use crate::metrics::Metrics;
use dashmap::DashMap;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use tollgate_config::plugins::RedisConfig;
use tollgate_config::Unit;
use tollgate_core::limiter::{CompiledLimit, LimitKey, LimiterStore, Outcome, MAX_WINDOWS};
use tollgate_core::plugins::Charge;

const SCRIPT: &str = include_str!("script.lua");
/// How long decisions stay local after a Redis failure before Redis is tried again.
const COOL_DOWN: Duration = Duration::from_secs(1);

pub struct RedisCounters {
    pub sync_rate: f64,
    client: redis::Client,
    config: RedisConfig,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    origin: Instant,
    /// Elapsed ms (since `origin`) before which Redis is not tried.
    down_until_ms: AtomicU64,
    last_log_ms: AtomicU64,
    /// Requests admitted locally and not yet added to Redis.
    dirty: DashMap<LimitKey, (CompiledLimit, u64)>,
    last_sync: Mutex<Instant>,
}

fn unit_tag(u: Unit) -> char {
    match u {
        Unit::Seconds => 's',
        Unit::Minutes => 'm',
        Unit::Hours => 'h',
        Unit::Days => 'd',
    }
}

enum Mode {
    Charge,
    Add(u64),
}

impl RedisCounters {
    pub fn new(config: &RedisConfig, sync_rate: f64) -> Result<RedisCounters, redis::RedisError> {
        let info = redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(config.host.clone(), config.port),
            redis: redis::RedisConnectionInfo {
                db: i64::from(config.database),
                username: config.username.clone(),
                password: config.password.clone(),
                protocol: redis::ProtocolVersion::RESP2,
            },
        };
        Ok(RedisCounters {
            sync_rate,
            client: redis::Client::open(info)?,
            config: config.clone(),
            conn: OnceCell::new(),
            script: redis::Script::new(SCRIPT),
            origin: Instant::now(),
            down_until_ms: AtomicU64::new(0),
            last_log_ms: AtomicU64::new(0),
            dirty: DashMap::new(),
            last_sync: Mutex::new(Instant::now()),
        })
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_millis(self.config.read_timeout.max(1))
    }

    fn elapsed_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn is_down(&self) -> bool {
        self.elapsed_ms() < self.down_until_ms.load(Ordering::Relaxed)
    }

    fn failed(&self, metrics: &Metrics, what: &str, err: &dyn std::fmt::Display) {
        metrics.redis_errors.inc();
        let now = self.elapsed_ms();
        self.down_until_ms
            .store(now + COOL_DOWN.as_millis() as u64, Ordering::Relaxed);
        let last = self.last_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 1000 || last == 0 {
            self.last_log_ms.store(now.max(1), Ordering::Relaxed);
            tracing::warn!(
                redis = %format!("{}:{}", self.config.host, self.config.port),
                "redis {what} failed, counting locally until it answers: {err}"
            );
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_millis(self.config.connect_timeout.max(1)))
            .set_response_timeout(self.read_timeout())
            .set_number_of_retries(1);
        self.conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), cfg))
            .await
            .cloned()
    }

    /// Runs the script for one limit; returns (allowed, retry_ns, debts_ns).
    async fn eval(
        &self,
        key: LimitKey,
        limit: &CompiledLimit,
        mode: Mode,
    ) -> Result<(bool, u64, [Option<u64>; MAX_WINDOWS]), String> {
        let mut inv = self.script.prepare_invoke();
        let (name, cost) = match mode {
            Mode::Charge => ("charge", 1),
            Mode::Add(n) => ("add", n),
        };
        inv.arg(name).arg(cost);
        for w in limit.iter() {
            // Braces make every window of one limit hash to the same Redis Cluster slot.
            inv.key(format!(
                "tollgate:{{{:016x}:{:016x}}}:{}",
                key.subject,
                key.scope,
                unit_tag(w.unit)
            ));
            inv.arg(w.interval_ns as f64 / 1000.0)
                .arg(w.period_ns / 1000)
                .arg(w.limit);
        }
        let run = async {
            let mut conn = self.connection().await.map_err(|e| e.to_string())?;
            inv.invoke_async::<Vec<i64>>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let reply = tokio::time::timeout(self.read_timeout(), run)
            .await
            .map_err(|_| format!("no answer within {} ms", self.config.read_timeout))??;
        let mut debts = [None; MAX_WINDOWS];
        let mut values = reply.iter().skip(2);
        for (d, w) in debts.iter_mut().zip(limit.windows.iter()) {
            if w.is_some() {
                *d = values.next().map(|v| (*v).max(0) as u64 * 1000);
            }
        }
        let allowed = reply.first().copied() == Some(1);
        let retry_ns = reply.get(1).copied().unwrap_or(0).max(0) as u64 * 1000;
        Ok((allowed, retry_ns, debts))
    }

    fn mark_dirty(&self, c: &Charge) {
        self.dirty
            .entry(c.key)
            .and_modify(|e| {
                e.0 = c.limit;
                e.1 += 1;
            })
            .or_insert((c.limit, 1));
    }

    /// A local decision, remembered so Redis learns about it at the next sync.
    fn local(&self, store: &LimiterStore, c: &Charge, now: u64) -> Outcome {
        let o = store.charge(c.key, &c.limit, now);
        if o.allowed {
            self.mark_dirty(c);
        }
        o
    }

    /// Charges one request according to this backend's mode.
    pub async fn charge(
        &self,
        store: &LimiterStore,
        metrics: &Metrics,
        c: &Charge,
        now: u64,
    ) -> Outcome {
        if self.sync_rate > 0.0 || self.is_down() {
            return self.local(store, c, now);
        }
        match self.eval(c.key, &c.limit, Mode::Charge).await {
            Ok((allowed, retry_ns, debts)) => {
                // Keep the local view current, for a fallback that starts from the cluster's usage.
                store.merge(c.key, &c.limit, &debts, now);
                Outcome::from_debts(&c.limit, &debts, allowed, retry_ns)
            }
            Err(e) => {
                self.failed(metrics, "decision", &e);
                self.local(store, c, now)
            }
        }
    }

    /// Whether a sync is due: every `sync_rate` seconds, or after an outage.
    pub fn sync_due(&self) -> bool {
        if self.dirty.is_empty() || self.is_down() {
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
    pub async fn sync(&self, store: &LimiterStore, metrics: &Metrics, now_ns: impl Fn() -> u64) {
        if let Ok(mut t) = self.last_sync.lock() {
            *t = Instant::now();
        }
        let keys: Vec<LimitKey> = self.dirty.iter().map(|e| *e.key()).collect();
        let mut batch = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some((k, v)) = self.dirty.remove(&k) {
                batch.push((k, v));
            }
        }
        let calls = batch
            .iter()
            .map(|(k, (limit, n))| self.eval(*k, limit, Mode::Add(*n)));
        let results = futures::future::join_all(calls).await;
        let now = now_ns();
        let mut failure: Option<String> = None;
        for ((key, (limit, n)), result) in batch.into_iter().zip(results) {
            match result {
                Ok((_, _, debts)) => store.merge(key, &limit, &debts, now),
                Err(e) => {
                    failure = Some(e);
                    // Keep the count for the next sync.
                    self.dirty
                        .entry(key)
                        .and_modify(|e| e.1 += n)
                        .or_insert((limit, n));
                }
            }
        }
        if let Some(e) = failure {
            self.failed(metrics, "sync", &e);
        }
    }
}
