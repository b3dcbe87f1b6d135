//! The control plane's snapshot store: validation, the breaking-change check,
//! versioning, and persistence. Two backends: `--data-dir` (embedded, this
//! file) and `--store redis://...` (shared by replicas, `store_redis.rs`).
//! Either way every replica serves from an in-memory copy of the current
//! snapshot, replaced and announced through a watch channel on each change.
//!
//! Disk persistence writes the snapshot to `snapshot-<version>` and then
//! points `current.json` at it, each by write-to-temp, fsync, rename: a crash
//! at any moment leaves `current.json` naming a complete file.

use crate::store_redis::RedisStore;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tollgate_config::SectionKey;
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

/// What a replica serves: the store's epoch and its current snapshot.
#[derive(Clone)]
pub struct State {
    /// Random id of the store's version sequence (see `feed::EPOCH_HEADER`).
    pub epoch: Arc<str>,
    pub current: Option<Arc<Stored>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("invalid snapshot")]
    Invalid(ConfigErrors),
    #[error("the snapshot removes {} operation(s)", .0.len())]
    Breaking(Vec<String>),
    #[error("cannot persist the snapshot: {0}")]
    Persist(std::io::Error),
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

/// A validated push, ready to be versioned.
pub struct Prepared {
    /// Key of the applications section, which validated.
    pub apps_key: Option<SectionKey>,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub gzipped: Vec<u8>,
    pub operations: BTreeSet<String>,
}

impl Prepared {
    pub fn into_stored(self, version: u64) -> Stored {
        Stored {
            version,
            hash: self.hash,
            bytes: self.bytes,
            gzipped: self.gzipped,
            operations: self.operations,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    version: u64,
    hash: String,
    file: String,
}

enum Backend {
    Disk {
        dir: Option<PathBuf>,
        /// Serializes pushes: compare, persist and publish happen as one step.
        push_lock: Mutex<()>,
    },
    Redis(RedisStore),
}

pub struct Store {
    state: Mutex<State>,
    /// Bumped on every change of `state`; subscribers wake on it.
    changes: watch::Sender<u64>,
    backend: Backend,
    /// Key of the last applications section that validated: a push that
    /// changes only other sections does not validate a million credentials again.
    valid_apps: Mutex<Option<SectionKey>>,
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

pub(crate) fn new_epoch() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let pid = std::process::id();
    tollgate_config::hash_bytes(&[&nanos.to_le_bytes(), &pid.to_le_bytes()])[..16].to_string()
}

pub(crate) fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(bytes.len() / 4), Compression::fast());
    enc.write_all(bytes)?;
    enc.finish()
}

/// Validates and compiles exactly as a data plane would, except for the
/// credential index, which cannot be refused and is not built here. An
/// applications section whose key is `known` validated before and is skipped.
fn check(bytes: &[u8], known: Option<&SectionKey>) -> Result<Snapshot, ConfigErrors> {
    let s = tollgate_config::load_bytes_reusing(bytes, None, known)?;
    tollgate_core::check(&s).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: e.to_string(),
        }])
    })?;
    Ok(s)
}

/// Validates a pushed document (CPU-bound: run it on a blocking thread).
/// `known`: the applications section key of a document that validated before.
pub fn prepare(bytes: Vec<u8>, known: Option<&SectionKey>) -> Result<Prepared, PushError> {
    let snap = check(&bytes, known).map_err(PushError::Invalid)?;
    let gzipped = gzip(&bytes).map_err(PushError::Persist)?;
    Ok(Prepared {
        apps_key: snap.applications_key,
        hash: snap.hash.clone(),
        operations: operations(&snap),
        bytes,
        gzipped,
    })
}

/// The operations `prev` has and `next` lacks.
pub(crate) fn removed(prev: Option<&Stored>, next: &BTreeSet<String>) -> Vec<String> {
    prev.map(|p| p.operations.difference(next).cloned().collect())
        .unwrap_or_default()
}

impl Store {
    /// Opens the embedded store, loading the persisted snapshot if there is one.
    pub fn open(dir: Option<PathBuf>) -> std::io::Result<Store> {
        let mut current = None;
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
            current = Self::load(d)?;
        }
        let epoch = match &dir {
            Some(d) => Self::epoch(d)?,
            None => new_epoch(),
        };
        let state = State {
            epoch: epoch.into(),
            current,
        };
        Ok(Self::with_backend(
            state,
            Backend::Disk {
                dir,
                push_lock: Mutex::new(()),
            },
        ))
    }

    pub(crate) fn with_redis(state: State, redis: RedisStore) -> Store {
        Self::with_backend(state, Backend::Redis(redis))
    }

    fn with_backend(state: State, backend: Backend) -> Store {
        Store {
            state: Mutex::new(state),
            changes: watch::channel(0).0,
            backend,
            valid_apps: Mutex::new(None),
        }
    }

    pub(crate) fn redis(&self) -> Option<&RedisStore> {
        match &self.backend {
            Backend::Redis(r) => Some(r),
            Backend::Disk { .. } => None,
        }
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
        let snap = check(&bytes, None).map_err(|e| {
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

    pub fn state(&self) -> State {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn current(&self) -> Option<Arc<Stored>> {
        self.state().current
    }

    /// A receiver that changes whenever the epoch or the current snapshot does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Serves `current` from now on unless it is older than what is served:
    /// within one epoch versions only grow, so a late answer never rolls back.
    pub(crate) fn install(&self, epoch: Arc<str>, current: Option<Arc<Stored>>) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let served = st.current.as_ref().map(|c| c.version);
        let offered = current.as_ref().map(|c| c.version);
        let changed = if st.epoch == epoch {
            offered > served
        } else {
            true
        };
        if changed {
            *st = State { epoch, current };
            drop(st);
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Stops serving a snapshot the store no longer has (its data was lost).
    pub(crate) fn clear(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.current.take().is_some() {
            drop(st);
            self.changes.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Validates, checks for removed operations (unless `force`), versions,
    /// persists and publishes, on whichever backend this store uses.
    pub async fn push_async(
        self: &Arc<Self>,
        bytes: Vec<u8>,
        force: bool,
    ) -> Result<Arc<Stored>, PushError> {
        let me = self.clone();
        let prepared = tokio::task::spawn_blocking(move || me.prepare(bytes))
            .await
            .map_err(|e| PushError::Unavailable(e.to_string()))??;
        match &self.backend {
            Backend::Redis(r) => r.commit(self, prepared, force).await,
            Backend::Disk { .. } => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.commit_disk(prepared, force))
                    .await
                    .map_err(|e| PushError::Unavailable(e.to_string()))?
            }
        }
    }

    /// [`Store::push_async`] for the embedded store, on the calling thread.
    pub fn push(&self, bytes: Vec<u8>, force: bool) -> Result<Arc<Stored>, PushError> {
        self.commit_disk(self.prepare(bytes)?, force)
    }

    /// [`prepare`] against the last applications section that validated.
    fn prepare(&self, bytes: Vec<u8>) -> Result<Prepared, PushError> {
        let known = *self.valid_apps.lock().unwrap_or_else(|p| p.into_inner());
        let p = prepare(bytes, known.as_ref())?;
        if p.apps_key.is_some() {
            *self.valid_apps.lock().unwrap_or_else(|p| p.into_inner()) = p.apps_key;
        }
        Ok(p)
    }

    fn commit_disk(&self, p: Prepared, force: bool) -> Result<Arc<Stored>, PushError> {
        let Backend::Disk { dir, push_lock } = &self.backend else {
            return Err(PushError::Unavailable(
                "a shared store takes pushes asynchronously".into(),
            ));
        };
        let _guard = push_lock.lock().unwrap_or_else(|p| p.into_inner());
        let st = self.state();
        let prev = st.current;
        let gone = removed(prev.as_deref(), &p.operations);
        if !force && !gone.is_empty() {
            return Err(PushError::Breaking(gone));
        }
        let version = prev.as_ref().map(|p| p.version).unwrap_or(0) + 1;
        let stored = Arc::new(p.into_stored(version));
        if let Some(dir) = dir {
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
        self.install(st.epoch, Some(stored.clone()));
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
