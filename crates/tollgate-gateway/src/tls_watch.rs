//! Reloads the `--tls-cert` / `--tls-key` files when they change, by
//! polling like the snapshot watcher (editors that replace files, renewed
//! certificates written by an agent, bind-mounted Secrets).

use crate::tls::TlsStore;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub struct CertWatcher {
    pub store: Arc<TlsStore>,
    pub reloads: prometheus::IntCounterVec,
    pub interval: Duration,
}

type Stamp = Vec<Option<(SystemTime, u64)>>;

fn stamp_of(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl CertWatcher {
    fn stamps(&self) -> Stamp {
        self.store
            .files
            .iter()
            .flat_map(|(c, k)| [stamp_of(c), stamp_of(k)])
            .collect()
    }

    async fn check(&self, last: &mut Stamp) {
        let now = self.stamps();
        if now == *last {
            return;
        }
        *last = now;
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.reload_files()).await {
            Ok(Ok(n)) => {
                self.reloads.with_label_values(&["files", "success"]).inc();
                tracing::info!(certificates = n, "TLS certificate files changed: reloaded");
            }
            Ok(Err(e)) => {
                self.reloads.with_label_values(&["files", "failure"]).inc();
                tracing::error!(
                    "TLS certificate files changed but cannot be used; still serving the previous certificates: {e}"
                );
            }
            Err(e) => tracing::error!("TLS certificate reload task failed: {e}"),
        }
    }
}

#[async_trait]
impl BackgroundService for CertWatcher {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut last = self.stamps();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(self.interval) => self.check(&mut last).await,
            }
        }
    }
}
