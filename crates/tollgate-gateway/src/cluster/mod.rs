//! Where limits are counted. A compiled snapshot names its counters
//! (`Counters::Local` or a Redis endpoint with a sync rate); this module maps
//! each to a backend, reusing Redis connections across reloads, and runs the
//! periodic syncs.

mod shared;

pub use shared::RedisCounters;

use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tollgate_core::limiter::{LimiterStore, Outcome};
use tollgate_core::plugins::{Charge, Counters};

/// A resolved `Counters`.
#[derive(Clone)]
pub enum Backend {
    Local,
    Redis(Arc<RedisCounters>),
}

impl Backend {
    pub async fn charge(
        &self,
        store: &LimiterStore,
        metrics: &Metrics,
        c: &Charge,
        now: u64,
    ) -> Outcome {
        match self {
            Backend::Local => store.charge(c.key, &c.limit, now),
            Backend::Redis(r) => r.charge(store, metrics, c, now).await,
        }
    }
}

/// Redis backends by endpoint and sync rate, shared by every snapshot.
#[derive(Default)]
pub struct Registry {
    redis: Mutex<HashMap<String, Arc<RedisCounters>>>,
}

impl Registry {
    /// Backends for a snapshot's `counters`, in the same order.
    pub fn resolve(&self, counters: &[Counters]) -> Vec<Backend> {
        counters
            .iter()
            .map(|c| match c {
                Counters::Local => Backend::Local,
                Counters::Redis { redis, sync_rate } => {
                    let id = format!("{redis:?}/{sync_rate}");
                    let mut map = self.redis.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(r) = map.get(&id) {
                        return Backend::Redis(r.clone());
                    }
                    match RedisCounters::new(redis, *sync_rate) {
                        Ok(r) => {
                            let r = Arc::new(r);
                            map.insert(id, r.clone());
                            Backend::Redis(r)
                        }
                        Err(e) => {
                            tracing::error!("invalid redis settings, counting locally: {e}");
                            Backend::Local
                        }
                    }
                }
            })
            .collect()
    }

    pub fn all(&self) -> Vec<Arc<RedisCounters>> {
        self.redis
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}

/// Runs due syncs; called every few milliseconds by a background service.
pub async fn sync_due(
    registry: &Registry,
    store: &LimiterStore,
    metrics: &Metrics,
    now_ns: impl Fn() -> u64 + Copy,
) {
    for r in registry.all() {
        if r.sync_due() {
            r.sync(store, metrics, now_ns).await;
        }
    }
}
