//! The control plane's snapshot store: validation, the breaking-change check,
//! versioning, and persistence in `--data-dir` that survives crashes.
//!
//! Persistence writes the snapshot to `snapshot-<version>` and then points
//! `current.json` at it, each by write-to-temp, fsync, rename: a crash at any
//! moment leaves `current.json` naming a complete file.

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tollgate_config::{ConfigError, ConfigErrors, Snapshot};

/// One stored snapshot.
pub struct Stored {
    pub version: u64,
    pub hash: String,
    pub bytes: Vec<u8>,
    /// The same bytes gzip-compressed, sent to data planes that accept gzip.
    pub gzipped: Vec<u8>,
    /// Every operation, as `api METHOD path [host]`, for the breaking-change check.
    pub operations: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid snapshot")]
    Invalid(ConfigErrors),
    #[error("the snapshot removes {} operation(s)", .0.len())]
    Breaking(Vec<String>),
    #[error("cannot persist the snapshot: {0}")]
    Persist(std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    version: u64,
    hash: String,
    file: String,
}

pub struct Store {
    /// Random id of this store's version sequence (see `feed::EPOCH_HEADER`).
    pub epoch: String,
    dir: Option<PathBuf>,
    current: Mutex<Option<Arc<Stored>>>,
    /// Serializes pushes: compare, persist and publish happen as one step.
    push_lock: Mutex<()>,
    changes: watch::Sender<u64>,
}

fn operations(s: &Snapshot) -> BTreeSet<String> {
    s.apis
        .iter()
        .flat_map(|a| {
            a.operations.iter().map(move |o| match &o.host {
                Some(h) => format!("{} {} {} {}", a.name, o.method, o.path, h),
                None => format!("{} {} {}", a.name, o.method, o.path),
            })
        })
        .collect()
}

fn new_epoch() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    tollgate_config::hash_bytes(&[&nanos.to_le_bytes(), &pid.to_le_bytes()])[..16].to_string()
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    enc.write_all(bytes)?;
    enc.finish()
}

/// Validates and compiles exactly as a data plane would.
fn check(bytes: &[u8]) -> Result<Snapshot, ConfigErrors> {
    let s = tollgate_config::load_bytes(bytes, None)?;
    tollgate_core::compile(&s).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: e.to_string(),
        }])
    })?;
    Ok(s)
}

impl Store {
    /// Opens the store, loading the persisted snapshot if there is one.
    pub fn open(dir: Option<PathBuf>) -> std::io::Result<Store> {
        let mut current = None;
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
            current = Self::load(d)?;
        }
        let version = current
            .as_ref()
            .map(|c: &Arc<Stored>| c.version)
            .unwrap_or(0);
        let epoch = match &dir {
            Some(d) => Self::epoch(d)?,
            None => new_epoch(),
        };
        Ok(Store {
            epoch,
            dir,
            current: Mutex::new(current),
            push_lock: Mutex::new(()),
            changes: watch::channel(version).0,
        })
    }

    /// The data dir's epoch, created on first use.
    fn epoch(dir: &Path) -> std::io::Result<String> {
        match std::fs::read_to_string(dir.join("epoch")) {
            Ok(e) if !e.trim().is_empty() => Ok(e.trim().to_string()),
            _ => {
                let e = new_epoch();
                tollgate_config::persist::write_atomic(dir, "epoch", e.as_bytes())?;
                Ok(e)
            }
        }
    }

    fn load(dir: &Path) -> std::io::Result<Option<Arc<Stored>>> {
        let ptr = match std::fs::read(dir.join("current.json")) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let ptr: Pointer = serde_json::from_slice(&ptr).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("current.json: {e}"),
            )
        })?;
        let bytes = std::fs::read(dir.join(&ptr.file))?;
        let snap = check(&bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("stored snapshot {}: {e}", ptr.file),
            )
        })?;
        Ok(Some(Arc::new(Stored {
            version: ptr.version,
            hash: snap.hash.clone(),
            gzipped: gzip(&bytes)?,
            operations: operations(&snap),
            bytes,
        })))
    }

    pub fn current(&self) -> Option<Arc<Stored>> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A receiver that changes whenever a new version is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Validates, checks for removed operations (unless `force`), persists and publishes.
    pub fn push(&self, bytes: Vec<u8>, force: bool) -> Result<Arc<Stored>, PushError> {
        let snap = check(&bytes).map_err(PushError::Invalid)?;
        let ops = operations(&snap);
        let gzipped = gzip(&bytes).map_err(PushError::Persist)?;
        let _guard = self.push_lock.lock().unwrap_or_else(|p| p.into_inner());
        let prev = self.current();
        if let (Some(prev), false) = (&prev, force) {
            let removed: Vec<String> = prev.operations.difference(&ops).cloned().collect();
            if !removed.is_empty() {
                return Err(PushError::Breaking(removed));
            }
        }
        let version = prev.as_ref().map(|p| p.version).unwrap_or(0) + 1;
        let stored = Arc::new(Stored {
            version,
            hash: snap.hash.clone(),
            bytes,
            gzipped,
            operations: ops,
        });
        if let Some(dir) = &self.dir {
            let file = format!("snapshot-{version}");
            tollgate_config::persist::write_atomic(dir, &file, &stored.bytes)
                .map_err(PushError::Persist)?;
            let ptr = serde_json::to_vec(&Pointer {
                version,
                hash: stored.hash.clone(),
                file: file.clone(),
            })
            .unwrap_or_default();
            tollgate_config::persist::write_atomic(dir, "current.json", &ptr)
                .map_err(PushError::Persist)?;
            if let Some(prev) = &prev {
                let _ = std::fs::remove_file(dir.join(format!("snapshot-{}", prev.version)));
            }
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(stored.clone());
        self.changes.send_replace(version);
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "_format_version: \"3.0\"\napis: [{ name: a, operations: [{ method: GET, path: /x }, { method: GET, path: /y }] }]\n";
    const B: &str =
        "_format_version: \"3.0\"\napis: [{ name: a, operations: [{ method: GET, path: /x }] }]\n";

    #[test]
    fn versions_persist_and_breaking_pushes_need_force() {
        let dir = std::env::temp_dir().join(format!("tollgate-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(Some(dir.clone())).expect("open");
        assert!(store.current().is_none());
        assert_eq!(store.push(A.into(), false).expect("push").version, 1);
        assert!(
            matches!(store.push(B.into(), false), Err(PushError::Breaking(r)) if r == ["a GET /y"])
        );
        assert!(matches!(
            store.push(b"nope: [".to_vec(), false),
            Err(PushError::Invalid(_))
        ));
        assert_eq!(store.push(B.into(), true).expect("forced").version, 2);
        drop(store);
        let reopened = Store::open(Some(dir.clone())).expect("reopen");
        let cur = reopened.current().expect("persisted");
        assert_eq!((cur.version, cur.bytes.as_slice()), (2, B.as_bytes()));
        assert_eq!(reopened.push(A.into(), false).expect("push").version, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
