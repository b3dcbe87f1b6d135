//! Background services: the config file watcher, the limiter evictor, the
//! cluster sync and the upstream DNS refresh.

use crate::state::Gateway;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tollgate_core::limiter::Evictions;

/// Polls the snapshot file and applies edits. Polling (not inotify) also
/// follows editors that replace the file and bind-mounted ConfigMaps.
pub struct FileWatcher {
    pub gw: Arc<Gateway>,
    pub path: PathBuf,
    pub interval: Duration,
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl FileWatcher {
    async fn check(&self, last: &mut Option<(SystemTime, u64)>) {
        let now = stamp(&self.path);
        if now.is_none() || now == *last {
            return;
        }
        *last = now;
        let gw = self.gw.clone();
        let path = self.path.clone();
        let result = tokio::task::spawn_blocking(move || {
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let doc = tollgate_config::HashedDocument::new(&bytes);
            if gw.current().snap.hash == doc.hash() {
                return Ok(None);
            }
            gw.apply_from("file", &doc, path.parent(), None)
                .map(Some)
                .map_err(|errs| {
                    errs.0
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
        })
        .await;
        match result {
            Ok(Ok(Some(applied))) => {
                tracing::info!(hash = %applied.hash, file = %self.path.display(), "snapshot file changed: applied")
            }
            Ok(Ok(None)) => {}
            Ok(Err(errors)) => tracing::error!(
                file = %self.path.display(),
                "snapshot file changed but is invalid; still serving the previous snapshot: {errors}"
            ),
            Err(e) => tracing::error!("snapshot reload task failed: {e}"),
        }
    }
}

#[async_trait]
impl BackgroundService for FileWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last = stamp(&self.path);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.interval) => self.check(&mut last).await,
            }
        }
    }
}

/// Evicts fully refilled limiter keys so memory follows active keys only,
/// and publishes the limiter's size and evictions (including those made at
/// the cap on the request path).
pub struct Evictor {
    pub gw: Arc<Gateway>,
    pub interval: Duration,
}

impl Evictor {
    fn sweep(&self, seen: &mut Evictions) {
        let limiter = &self.gw.limiter;
        limiter.evict_idle(self.gw.now_ns());
        let now = limiter.evictions();
        let m = &self.gw.metrics;
        m.limiter_evictions
            .with_label_values(&["idle"])
            .inc_by(now.idle.saturating_sub(seen.idle));
        let forced = now.capacity.saturating_sub(seen.capacity);
        m.limiter_evictions
            .with_label_values(&["capacity"])
            .inc_by(forced);
        if forced > 0 {
            tracing::warn!(
                max_keys = limiter.max_keys(),
                "limiter at its key cap: {forced} keys still holding usage were dropped (their limits restart full)"
            );
        }
        *seen = now;
        m.limiter_keys.set(limiter.len() as i64);
    }
}

#[async_trait]
impl BackgroundService for Evictor {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut seen = Evictions::default();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.interval) => self.sweep(&mut seen),
            }
        }
    }
}

/// Re-resolves upstream hostnames when due (every `--dns-refresh`, sooner
/// after a failure), so requests never wait on DNS.
pub struct DnsRefresher {
    pub gw: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for DnsRefresher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                // A slow lookup must not hold up shutdown.
                _ = async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.gw.dns.refresh().await;
                } => {}
            }
        }
    }
}

/// Runs the periodic Redis syncs of shared counters (`sync_rate`), and the
/// catch-up after an outage: every 5 ms while a snapshot uses Redis, and not
/// at all (no timer) while none does.
pub struct ClusterSync {
    pub gw: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for ClusterSync {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let gw = &self.gw;
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = async {
                    gw.cluster.wait_for_backend().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    crate::cluster::sync_due(&gw.cluster, &gw.limiter, || gw.now_ns()).await;
                } => {}
            }
        }
    }
}
