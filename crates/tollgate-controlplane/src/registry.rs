//! The data planes the control plane has heard from, for `GET /v1/data-planes`.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tollgate_config::feed::{Report, MAX_WAIT_SECS};

#[derive(Debug, Clone)]
struct Entry {
    report: Report,
    last_seen: SystemTime,
    /// Subscribe requests currently held open for this data plane.
    polling: usize,
}

#[derive(Debug, Serialize)]
pub struct DataPlaneView {
    pub id: String,
    pub hostname: String,
    pub config_hash: String,
    pub config_version: Option<u64>,
    pub last_seen: String,
    /// `in_sync`, `behind`, `failed` (refused the current snapshot) or `disconnected`.
    pub status: &'static str,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct Registry {
    planes: Mutex<HashMap<String, Entry>>,
}

impl Registry {
    /// Records a poll; call [`Registry::done`] when it is answered.
    pub fn poll(&self, report: &Report) {
        let mut m = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        let e = m.entry(report.id.clone()).or_insert_with(|| Entry {
            report: report.clone(),
            last_seen: SystemTime::now(),
            polling: 0,
        });
        e.report = report.clone();
        e.last_seen = SystemTime::now();
        e.polling += 1;
    }

    pub fn done(&self, id: &str) {
        let mut m = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = m.get_mut(id) {
            e.polling = e.polling.saturating_sub(1);
            e.last_seen = SystemTime::now();
        }
    }

    pub fn list(&self, current: Option<(u64, &str)>) -> Vec<DataPlaneView> {
        let m = self.planes.lock().unwrap_or_else(|p| p.into_inner());
        let stale = Duration::from_secs(MAX_WAIT_SECS * 2 + 5);
        let mut out: Vec<DataPlaneView> = m
            .values()
            .map(|e| {
                let r = &e.report;
                let connected =
                    e.polling > 0 || e.last_seen.elapsed().map(|d| d < stale).unwrap_or(false);
                let status = match current {
                    _ if !connected => "disconnected",
                    Some((_, hash)) if r.hash == hash => "in_sync",
                    Some((v, _)) if r.error.is_some() && r.seen >= v => "failed",
                    Some(_) => "behind",
                    None => "in_sync",
                };
                DataPlaneView {
                    id: r.id.clone(),
                    hostname: r.hostname.clone(),
                    config_hash: r.hash.clone(),
                    config_version: r.version,
                    last_seen: humantime::format_rfc3339_millis(e.last_seen).to_string(),
                    status,
                    error: r.error.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}
