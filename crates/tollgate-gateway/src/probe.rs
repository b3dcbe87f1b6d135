//! Active health checks: a background service that probes each target of
//! every pool in use at Kong's intervals (`healthchecks.active.healthy.interval`
//! for healthy targets, `unhealthy.interval` for unhealthy ones). Pools that
//! left the registry are no longer visited, so their probing stops with them.

use crate::balancer::Pool;
use crate::state::Gateway;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often due probes are looked for.
const TICK: Duration = Duration::from_millis(100);

pub struct HealthChecker {
    pub gw: Arc<Gateway>,
}

fn interval(pool: &Pool, healthy: bool) -> Option<Duration> {
    let a = &pool.spec.healthchecks.active;
    let secs = if healthy {
        a.healthy.interval
    } else {
        a.unhealthy.interval
    };
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Starts every probe that is due; each runs on its own task.
fn start_due(pool: &Arc<Pool>, now: Instant) {
    for (ix, t) in pool.targets.iter().enumerate() {
        if t.probe.is_none() || t.probing.load(Ordering::Acquire) {
            continue;
        }
        let Some(every) = interval(pool, t.health.healthy()) else {
            continue;
        };
        {
            let mut next = t.next_probe.lock().unwrap_or_else(|p| p.into_inner());
            match *next {
                Some(at) if at > now => continue,
                _ => *next = Some(now + every),
            }
        }
        let Some(backend) = t.probe_backend() else {
            continue;
        };
        t.probing.store(true, Ordering::Release);
        let pool = pool.clone();
        tokio::spawn(async move {
            let timeout = Duration::from_secs_f64(pool.spec.healthchecks.active.timeout.max(0.001));
            let t = &pool.targets[ix];
            if let Some(probe) = &t.probe {
                if let Some(report) = probe.run(&backend, timeout).await {
                    pool.report(ix, report, true);
                }
            }
            // The next probe follows the interval of the state the target is now in.
            if let Some(every) = interval(&pool, t.health.healthy()) {
                let mut next = t.next_probe.lock().unwrap_or_else(|p| p.into_inner());
                *next = Some(Instant::now() + every);
            }
            t.probing.store(false, Ordering::Release);
        });
    }
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(TICK) => {
                    let now = Instant::now();
                    for pool in self.gw.balancers.all() {
                        if pool.spec.healthchecks.active_enabled() {
                            start_due(&pool, now);
                        }
                    }
                }
            }
        }
    }
}
