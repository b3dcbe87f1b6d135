//! Where limits are counted. A compiled snapshot names its counters
//! (`Counters::Local` or a Redis endpoint with a sync rate); this module maps
//! each to a backend, reusing Redis connections across reloads, and runs the
//! periodic syncs.

mod connect;
mod endpoint;
mod keys;
mod shared;

pub use shared::RedisCounters;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_config::plugins::RedisConfig;
use tollgate_core::limiter::{LimiterStore, Outcome};
use tollgate_core::plugins::{Charge, Counters};

/// A resolved `Counters`.
#[derive(Clone)]
pub enum Backend {
    Local,
    Redis(Arc<RedisCounters>),
}

impl Backend {
    /// `None` when Redis failed and the charge is not fault tolerant.
    pub async fn charge(&self, store: &LimiterStore, c: &Charge, now: u64) -> Option<Outcome> {
        match self {
            Backend::Local => Some(store.charge(c.key, &c.limit, now)),
            Backend::Redis(r) => r.charge(store, c, now).await,
        }
    }
}

/// Redis backends by endpoint and sync rate, shared by every snapshot.
pub struct Registry {
    redis: Mutex<HashMap<String, Arc<RedisCounters>>>,
    errors: prometheus::IntCounter,
    /// Signalled when a backend is added: the sync task sleeps until then.
    added: tokio::sync::Notify,
}

impl Registry {
    pub fn new(errors: prometheus::IntCounter) -> Self {
        Registry {
            redis: Mutex::new(HashMap::new()),
            errors,
            added: tokio::sync::Notify::new(),
        }
    }

    /// Returns once the registry holds a backend (at once if it does now).
    pub async fn wait_for_backend(&self) {
        loop {
            // `notify_one` keeps a permit when nobody waits yet: an add
            // between the check and the await is not missed.
            let added = self.added.notified();
            if !self
                .redis
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty()
            {
                return;
            }
            added.await;
        }
    }

    /// Backends for a snapshot's `counters`, in the same order.
    pub fn resolve(&self, counters: &[Counters]) -> Vec<Backend> {
        counters
            .iter()
            .map(|c| match c {
                Counters::Local => Backend::Local,
                Counters::Redis { redis, sync_rate } => self.redis(redis, *sync_rate, false),
                Counters::Lease { redis } => self.redis(redis, 0.0, true),
            })
            .collect()
    }

    fn redis(&self, redis: &RedisConfig, sync_rate: f64, lease: bool) -> Backend {
        let id = format!("{redis:?}/{sync_rate}/{lease}");
        let mut map = self.redis.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = map.get(&id) {
            return Backend::Redis(r.clone());
        }
        match RedisCounters::new(redis, sync_rate, lease, self.errors.clone()) {
            Ok(r) => {
                let r = Arc::new(r);
                map.insert(id, r.clone());
                self.added.notify_one();
                Backend::Redis(r)
            }
            Err(e) => {
                tracing::error!("invalid redis settings, counting locally: {e}");
                Backend::Local
            }
        }
    }

    /// Backends still in use or with counts to add; drops the others (e.g.
    /// after a password rotation), so old connections do not pile up.
    pub fn active(&self) -> Vec<Arc<RedisCounters>> {
        let mut map = self.redis.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, r| Arc::strong_count(r) > 1 || r.has_pending());
        map.values().cloned().collect()
    }
}

/// Runs due syncs (and lease returns) of every backend concurrently (a dead
/// Redis must not delay the others); called every few milliseconds by a
/// background service.
pub async fn sync_due(registry: &Registry, store: &LimiterStore, now_ns: impl Fn() -> u64 + Copy) {
    let active = registry.active();
    let due = active.iter().filter(|r| r.sync_due());
    let syncs = futures::future::join_all(due.map(|r| r.sync(store, now_ns)));
    let sweeps = futures::future::join_all(active.iter().map(|r| r.sweep(now_ns())));
    futures::future::join(syncs, sweeps).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_sync_task_sleeps_until_a_redis_backend_is_added() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let registry = Registry::new(prometheus::IntCounter::new("e", "e").expect("counter"));
        rt.block_on(async {
            let idle =
                tokio::time::timeout(Duration::from_millis(50), registry.wait_for_backend()).await;
            assert!(idle.is_err(), "woke with no Redis backend");
            let redis: RedisConfig = serde_json::from_str("{}").expect("defaults");
            let backends = registry.resolve(&[Counters::Redis {
                redis,
                sync_rate: 1.0,
            }]);
            assert!(matches!(backends[0], Backend::Redis(_)));
            tokio::time::timeout(Duration::from_secs(1), registry.wait_for_backend())
                .await
                .expect("woken once a backend exists");
        });
    }
}
