//! Reading a snapshot document: syntax, top-level keys, and per-entity
//! deserialization that keeps going after an error so that `validate` can
//! list every problem, not just the first.

use crate::model;
use crate::resolved::{ConfigError, ConfigErrors, Snapshot};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Upper bound on a snapshot document; larger input is refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;

/// The raw entity lists, each entity that deserialized cleanly.
#[derive(Debug, Default)]
pub struct RawSnapshot {
    pub services: Vec<(usize, model::Service)>,
    pub consumers: Vec<(usize, model::Consumer)>,
    pub plugins: Vec<(usize, model::PluginEntry)>,
    pub apis: Vec<(usize, model::Api)>,
    pub auth_strategies: Vec<(usize, model::AuthStrategy)>,
    pub api_packages: Vec<(usize, model::ApiPackage)>,
    pub applications: Vec<(usize, model::Application)>,
    /// Names of entities that failed to deserialize: references to them are
    /// not reported again as dangling.
    pub broken_names: HashSet<String>,
}

/// Loads and validates a snapshot file. Spec files resolve relative to it.
pub fn load_file(path: &Path) -> Result<Snapshot, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    let base = path.parent().map(Path::to_path_buf);
    load_bytes(&bytes, base.as_deref())
}

/// Loads and validates a snapshot from bytes (YAML or JSON).
/// `base_dir` is where `spec_file` paths resolve; `None` refuses `spec_file`.
pub fn load_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<Snapshot, ConfigErrors> {
    let one = |message: String| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message,
        }])
    };
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(one(format!(
            "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            bytes.len()
        )));
    }
    let text =
        std::str::from_utf8(bytes).map_err(|e| one(format!("document is not UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(one("document is empty".to_string()));
    }
    let root: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| one(format!("not valid YAML or JSON: {e}")))?;
    let mut errors = Vec::new();
    let raw = split(&root, &mut errors);
    let base_dir: Option<PathBuf> = base_dir.map(Path::to_path_buf);
    crate::validate::validate(raw, bytes, base_dir.as_deref(), errors)
}

fn err(errors: &mut Vec<ConfigError>, path: impl Into<String>, message: impl Into<String>) {
    errors.push(ConfigError {
        path: path.into(),
        message: message.into(),
    });
}

fn split(root: &serde_yaml::Value, errors: &mut Vec<ConfigError>) -> RawSnapshot {
    let mut raw = RawSnapshot::default();
    let Some(map) = root.as_mapping() else {
        err(
            errors,
            "",
            "the document must be a mapping of top-level keys",
        );
        return raw;
    };
    for key in map.keys() {
        match key.as_str() {
            Some(k) if model::TOP_LEVEL_KEYS.contains(&k) => {}
            Some(k) => err(
                errors,
                k,
                format!(
                    "unknown top-level key; expected one of {}",
                    model::TOP_LEVEL_KEYS.join(", ")
                ),
            ),
            None => err(errors, "", "top-level keys must be strings"),
        }
    }
    match map.get("_format_version") {
        None => err(errors, "_format_version", "required; set it to \"3.0\""),
        Some(v) => {
            let ok = v.as_str() == Some("3.0") || v.as_f64() == Some(3.0);
            if !ok {
                err(errors, "_format_version", "unsupported; expected \"3.0\"");
            }
        }
    }
    let b = &mut raw.broken_names;
    raw.services = list(map, "services", "name", errors, b);
    raw.consumers = list(map, "consumers", "username", errors, b);
    raw.plugins = list(map, "plugins", "name", errors, b);
    raw.apis = list(map, "apis", "name", errors, b);
    raw.auth_strategies = list(map, "auth_strategies", "name", errors, b);
    raw.api_packages = list(map, "api_packages", "name", errors, b);
    raw.applications = list(map, "applications", "name", errors, b);
    raw
}

fn list<T: DeserializeOwned>(
    map: &serde_yaml::Mapping,
    key: &str,
    name_key: &str,
    errors: &mut Vec<ConfigError>,
    broken: &mut HashSet<String>,
) -> Vec<(usize, T)> {
    let items = match map.get(key) {
        None | Some(serde_yaml::Value::Null) => return Vec::new(),
        Some(serde_yaml::Value::Sequence(items)) => items,
        Some(_) => {
            err(errors, key, "must be a list");
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match serde_path_to_error::deserialize::<_, T>(item.clone()) {
            Ok(v) => out.push((i, v)),
            Err(e) => {
                let inner = e.path().to_string();
                let path = if inner == "." {
                    format!("{key}[{i}]")
                } else {
                    format!("{key}[{i}].{inner}")
                };
                err(errors, path, e.into_inner().to_string());
                if let Some(name) = item.get(name_key).and_then(|n| n.as_str()) {
                    broken.insert(name.to_string());
                }
            }
        }
    }
    out
}

/// SHA-256 over several byte strings, hex encoded.
pub fn hash_bytes(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}
