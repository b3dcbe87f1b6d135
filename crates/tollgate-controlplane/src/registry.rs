//! The data planes the control plane has heard from, for `GET /v1/data-planes`.
//!
//! Each poll is a report, and the replica holding a poll open re-records it
//! every [`HEARTBEAT`], so `last_seen` is fresh for every data plane that is
//! connected to any replica. With `--store`, reports live in Redis and every
//! replica lists the same data planes.

use crate::store::State;
use crate::store_redis::{bounded, DATA_PLANES_KEY, READ_TIMEOUT};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tollgate_config::feed::Report;

/// How often a held poll refreshes its data plane's `last_seen`.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// A data plane not heard from for this long is `lost`.
pub const LOST_AFTER: Duration = Duration::from_secs(15);
/// A data plane not heard from for this long is dropped from a shared list.
const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// One data plane's last report, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub hostname: String,
    pub hash: String,
    pub version: Option<u64>,
    pub seen: u64,
    pub error: Option<String>,
    pub epoch: Option<String>,
    pub control_plane: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub last_seen_ms: u64,
}

#[derive(Debug, Serialize)]
pub struct DataPlaneView {
    pub id: String,
    pub hostname: String,
    pub config_hash: String,
    pub config_version: Option<u64>,
    pub last_seen: String,
    /// See [`classify`] and docs/control-plane.md.
    pub status: &'static str,
    pub error: Option<String>,
    /// The control-plane URL the data plane follows.
    pub control_plane: Option<String>,
}

pub enum Registry {
    Memory(Mutex<HashMap<String, Entry>>),
    Redis(ConnectionManager),
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn entry(r: &Report) -> Entry {
    Entry {
        id: r.id.clone(),
        hostname: r.hostname.clone(),
        hash: r.hash.clone(),
        version: r.version,
        seen: r.seen,
        error: r.error.clone(),
        epoch: r.epoch.clone(),
        control_plane: r.control_plane.clone(),
        last_seen_ms: now_ms(),
    }
}

impl Registry {
    pub fn memory() -> Registry {
        Registry::Memory(Mutex::new(HashMap::new()))
    }

    /// Records a report as heard now. Never fails the poll: a shared list
    /// that cannot be written only makes this data plane look older.
    pub async fn record(&self, r: &Report) {
        let e = entry(r);
        match self {
            Registry::Memory(m) => {
                m.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(e.id.clone(), e);
            }
            Registry::Redis(conn) => {
                let json = serde_json::to_string(&e).unwrap_or_default();
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("HSET");
                cmd.arg(DATA_PLANES_KEY).arg(&e.id).arg(json);
                let done: Result<i64, _> = bounded(READ_TIMEOUT, cmd.query_async(&mut conn)).await;
                if let Err(err) = done {
                    tracing::debug!(id = %e.id, "cannot record the data plane in the store: {err}");
                }
            }
        }
    }

    pub async fn entries(&self) -> Result<Vec<Entry>, redis::RedisError> {
        match self {
            Registry::Memory(m) => Ok(m
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .values()
                .cloned()
                .collect()),
            Registry::Redis(conn) => {
                let mut conn = conn.clone();
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(DATA_PLANES_KEY);
                let all: HashMap<String, String> =
                    bounded(READ_TIMEOUT, cmd.query_async(&mut conn)).await?;
                let forget = now_ms().saturating_sub(FORGET_AFTER.as_millis() as u64);
                let mut out = Vec::with_capacity(all.len());
                let mut old = Vec::new();
                for (id, json) in all {
                    match serde_json::from_str::<Entry>(&json) {
                        Ok(e) if e.last_seen_ms >= forget => out.push(e),
                        _ => old.push(id),
                    }
                }
                if !old.is_empty() {
                    let _: Result<i64, _> = redis::cmd("HDEL")
                        .arg(DATA_PLANES_KEY)
                        .arg(old)
                        .query_async(&mut conn)
                        .await;
                }
                Ok(out)
            }
        }
    }
}

/// A data plane's status against the state this replica serves:
///
/// - `lost`: not heard from for [`LOST_AFTER`];
/// - `diverged`: it refused the current snapshot, or it serves a version the
///   store does not have (one at or past the current version of the same
///   epoch with another hash, or any version while the store has none), or
///   one pushed to its admin API after it had received from a control plane;
/// - `connecting`: it serves no versioned snapshot and has applied nothing
///   from a control plane yet;
/// - `in_sync`: it serves the current snapshot;
/// - `behind`: it serves an older one and has not refused the current one
///   (it is sent the current one on its next poll).
pub fn classify(e: &Entry, st: &State, now_ms: u64) -> &'static str {
    if now_ms.saturating_sub(e.last_seen_ms) > LOST_AFTER.as_millis() as u64 {
        return "lost";
    }
    let same_epoch = e.epoch.as_deref() == Some(&*st.epoch);
    let Some(cur) = &st.current else {
        return match e.version {
            None => "connecting",
            Some(_) => "diverged",
        };
    };
    if same_epoch && e.error.is_some() && e.seen >= cur.version {
        return "diverged";
    }
    let Some(v) = e.version else {
        // No version, yet it applied something received before: it serves a
        // snapshot pushed to its own admin API (`--allow-admin-config`).
        return if e.seen == 0 || e.error.is_some() {
            "connecting"
        } else {
            "diverged"
        };
    };
    if e.hash == cur.hash {
        "in_sync"
    } else if same_epoch && v >= cur.version {
        "diverged"
    } else {
        "behind"
    }
}

pub fn view(entries: Vec<Entry>, st: &State) -> Vec<DataPlaneView> {
    let now = now_ms();
    let mut out: Vec<DataPlaneView> = entries
        .into_iter()
        .map(|e| DataPlaneView {
            status: classify(&e, st, now),
            last_seen: humantime::format_rfc3339_millis(
                SystemTime::UNIX_EPOCH + Duration::from_millis(e.last_seen_ms),
            )
            .to_string(),
            id: e.id,
            hostname: e.hostname,
            config_hash: e.hash,
            config_version: e.version,
            error: e.error,
            control_plane: e.control_plane,
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Stored;
    use std::sync::Arc;

    fn state(current: Option<(u64, &str)>) -> State {
        State {
            epoch: Arc::from("e"),
            current: current.map(|(version, hash)| {
                Arc::new(Stored {
                    version,
                    hash: hash.into(),
                    bytes: Vec::new(),
                    gzipped: Vec::new(),
                    operations: Default::default(),
                })
            }),
        }
    }

    fn dp(version: Option<u64>, hash: &str, seen: u64, error: bool) -> Entry {
        Entry {
            id: "a".into(),
            hostname: "h".into(),
            hash: hash.into(),
            version,
            seen,
            error: error.then(|| "bad".into()),
            epoch: Some("e".into()),
            control_plane: None,
            last_seen_ms: 1_000_000,
        }
    }

    #[test]
    fn statuses() {
        let now = 1_000_000;
        let empty = state(None);
        let cur = state(Some((3, "h3")));
        assert_eq!(
            classify(&dp(None, "x", 0, false), &empty, now),
            "connecting"
        );
        assert_eq!(
            classify(&dp(Some(1), "h1", 1, false), &empty, now),
            "diverged"
        );
        assert_eq!(classify(&dp(None, "x", 0, false), &cur, now), "connecting");
        assert_eq!(classify(&dp(None, "x", 3, false), &cur, now), "diverged");
        assert_eq!(classify(&dp(None, "x", 2, true), &cur, now), "connecting");
        assert_eq!(classify(&dp(Some(3), "h3", 3, false), &cur, now), "in_sync");
        assert_eq!(classify(&dp(Some(2), "h2", 2, false), &cur, now), "behind");
        assert_eq!(classify(&dp(Some(2), "h2", 3, true), &cur, now), "diverged");
        assert_eq!(classify(&dp(None, "x", 3, true), &cur, now), "diverged");
        assert_eq!(
            classify(&dp(Some(4), "h4", 4, false), &cur, now),
            "diverged"
        );
        let late = now + LOST_AFTER.as_millis() as u64 + 1;
        assert_eq!(classify(&dp(Some(3), "h3", 3, false), &cur, late), "lost");
    }
}
