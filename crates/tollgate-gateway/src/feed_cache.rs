//! The data plane's copy of the last snapshot its control plane sent
//! (`--cache-dir`): written after every applied update, served at boot when
//! no control plane answers.

use crate::state::Gateway;
use std::path::Path;

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheMeta {
    version: Option<u64>,
    hash: String,
    #[serde(default)]
    epoch: Option<String>,
}

/// Writes an applied snapshot to the cache; failures are logged, never fatal.
pub(crate) fn write(
    dir: &Path,
    bytes: &[u8],
    version: Option<u64>,
    hash: &str,
    epoch: Option<&str>,
) {
    let result = std::fs::create_dir_all(dir)
        .and_then(|_| tollgate_config::persist::write_atomic(dir, "snapshot", bytes))
        .and_then(|_| {
            let meta = serde_json::to_vec(&CacheMeta {
                version,
                hash: hash.to_string(),
                epoch: epoch.map(str::to_string),
            })
            .unwrap_or_default();
            tollgate_config::persist::write_atomic(dir, "snapshot.meta.json", &meta)
        });
    if let Err(e) = result {
        tracing::warn!(dir = %dir.display(), "cannot write the snapshot cache (still serving): {e}");
    }
}

/// Applies the cached snapshot, if any. Returns the control-plane epoch it
/// came from when one was applied (`Some(None)` for a cache without one).
pub fn boot_from_cache(gw: &Gateway, dir: &Path) -> Option<Option<String>> {
    let bytes = std::fs::read(dir.join("snapshot")).ok()?;
    let meta = std::fs::read(dir.join("snapshot.meta.json")).ok()?;
    let meta = serde_json::from_slice::<CacheMeta>(&meta).ok();
    let version = meta.as_ref().and_then(|m| m.version);
    match gw.apply_from("cache", &bytes, None, version) {
        Ok(a) => {
            tracing::info!(hash = %a.hash, version = ?version, "serving the cached snapshot");
            Some(meta.and_then(|m| m.epoch))
        }
        Err(e) => {
            tracing::warn!("cached snapshot is unusable, ignoring it: {e}");
            None
        }
    }
}
