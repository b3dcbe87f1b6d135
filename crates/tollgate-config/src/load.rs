//! Reading a snapshot document: syntax, top-level keys, and per-entity
//! deserialization that keeps going after an error so that `validate` can
//! list every problem, not just the first.

use crate::digest::{hash_bytes, HashedDocument};
pub use crate::load_typed::TypedDoc;
use crate::model;
use crate::raw::RawSnapshot;
use crate::resolved::{ConfigError, ConfigErrors, Snapshot};
use crate::section_key::SectionKey;
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Upper bound on a snapshot document; larger input is refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024 * 1024;

/// Loads and validates a snapshot file. Spec files resolve relative to it.
pub fn load_file(path: &Path) -> Result<Snapshot, ConfigErrors> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        }])
    })?;
    let base = path.parent().map(Path::to_path_buf);
    let mut snap = load_bytes(&bytes, base.as_deref())?;
    // The hash is the one of what `push` sends (spec files inlined), so a
    // file read here and the same file pushed to a control plane agree.
    let base = base.unwrap_or_else(|| PathBuf::from("."));
    if let Ok(Some(inlined)) = crate::inline::inline_spec_files(&bytes, &base) {
        snap.hash = hash_bytes(&[&inlined]);
    }
    Ok(snap)
}

/// Loads and validates a snapshot from bytes (YAML or JSON).
/// `base_dir` is where `spec_file` paths resolve; `None` refuses `spec_file`.
pub fn load_bytes(bytes: &[u8], base_dir: Option<&Path>) -> Result<Snapshot, ConfigErrors> {
    load_bytes_reusing(bytes, base_dir, None)
}

/// [`load_bytes`], skipping the applications section when its
/// [`SectionKey`] equals `known`: the key of a section that validated before.
/// The result then has no applications and `applications_unchanged` set; the
/// compiler takes them from the snapshot that had that key. Only JSON
/// documents in tollgate's own format are keyed (the large ones are pushed
/// as JSON); anything else is loaded whole.
pub fn load_bytes_reusing(
    bytes: &[u8],
    base_dir: Option<&Path>,
    known: Option<&SectionKey>,
) -> Result<Snapshot, ConfigErrors> {
    load(bytes, None, base_dir, known)
}

/// [`load_bytes_reusing`] for a document whose hash is already known.
pub fn load_hashed_reusing(
    doc: &HashedDocument,
    base_dir: Option<&Path>,
    known: Option<&SectionKey>,
) -> Result<Snapshot, ConfigErrors> {
    load(doc.bytes(), Some(doc.hash()), base_dir, known)
}

fn load(
    bytes: &[u8],
    hash: Option<&str>,
    base_dir: Option<&Path>,
    known: Option<&SectionKey>,
) -> Result<Snapshot, ConfigErrors> {
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
    let mut errors = Vec::new();
    let is_json = text.trim_start().starts_with('{');
    // Fast path: a well-formed document deserializes straight into the model,
    // without building a value tree first. Only when that fails is the
    // document walked entity by entity, to locate every error.
    let typed = if is_json {
        crate::load_typed::typed_json(text, known)
    } else {
        serde_yaml::from_str::<TypedDoc>(text)
            .ok()
            .and_then(TypedDoc::into_raw)
    };
    if let Some(raw) = typed {
        let base_dir: Option<PathBuf> = base_dir.map(Path::to_path_buf);
        return crate::validate::validate(raw, bytes, hash, base_dir.as_deref(), errors);
    }
    let mut root: serde_yaml::Value = if is_json {
        let json: serde_json::Value =
            serde_json::from_str(text).map_err(|e| one(format!("not valid JSON: {e}")))?;
        serde_yaml::to_value(json).map_err(|e| one(format!("not valid JSON: {e}")))?
    } else {
        serde_yaml::from_str(text).map_err(|e| one(format!("not valid YAML or JSON: {e}")))?
    };
    // Kong's declarative shapes are rewritten into the model's before the
    // entity-by-entity reading; locations are mapped back afterwards.
    let kong = crate::kong::normalize(&mut root);
    errors.extend(kong.errors.iter().cloned());
    let raw = split(&root, &mut errors);
    let base_dir: Option<PathBuf> = base_dir.map(Path::to_path_buf);
    match crate::validate::validate(raw, bytes, hash, base_dir.as_deref(), errors) {
        Ok(mut snap) => {
            kong.relocate(&mut snap.warnings);
            let mut tags = kong.report.tag_list();
            tags.append(&mut snap.tags);
            snap.tags = tags;
            let mut warnings = kong.warnings.clone();
            warnings.append(&mut snap.warnings);
            snap.warnings = warnings;
            Ok(snap)
        }
        Err(ConfigErrors(mut errs)) => {
            kong.relocate(&mut errs);
            Err(ConfigErrors(errs))
        }
    }
}

/// How the Kong layer reads a document: per entity, what was accepted,
/// ignored as metadata, or is not supported (`validate --explain-kong`).
pub fn explain_kong(bytes: &[u8]) -> Result<crate::kong::KongReport, ConfigErrors> {
    let one = |message: String| {
        ConfigErrors(vec![ConfigError {
            path: String::new(),
            message,
        }])
    };
    let text =
        std::str::from_utf8(bytes).map_err(|e| one(format!("document is not UTF-8: {e}")))?;
    let mut root: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| one(format!("not valid YAML or JSON: {e}")))?;
    Ok(crate::kong::normalize(&mut root).report)
}

fn err(errors: &mut Vec<ConfigError>, path: impl Into<String>, message: impl Into<String>) {
    errors.push(ConfigError {
        path: path.into(),
        message: message.into(),
    });
}

/// The parts of a parsed document tree the loader needs, for YAML and JSON alike.
trait Node: Sized {
    /// Keys of a mapping (`None` for a non-string key); `None` when not a mapping.
    fn keys(&self) -> Option<Vec<Option<&str>>>;
    fn get(&self, key: &str) -> Option<&Self>;
    fn seq(&self) -> Option<&[Self]>;
    fn is_null(&self) -> bool;
    fn str(&self) -> Option<&str>;
    fn f64(&self) -> Option<f64>;
    /// Deserializes without copying the tree; `Err` is (path inside, message).
    fn typed<T: DeserializeOwned>(&self) -> Result<T, (String, String)>;
}

fn located<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> (String, String) {
    let inner = e.path().to_string();
    let path = if inner == "." { String::new() } else { inner };
    (path, e.into_inner().to_string())
}

impl Node for serde_yaml::Value {
    fn keys(&self) -> Option<Vec<Option<&str>>> {
        self.as_mapping()
            .map(|m| m.keys().map(|k| k.as_str()).collect())
    }
    fn get(&self, key: &str) -> Option<&Self> {
        self.as_mapping()?.get(key)
    }
    fn seq(&self) -> Option<&[Self]> {
        self.as_sequence().map(Vec::as_slice)
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn str(&self) -> Option<&str> {
        self.as_str()
    }
    fn f64(&self) -> Option<f64> {
        self.as_f64()
    }
    fn typed<T: DeserializeOwned>(&self) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(self).map_err(located)
    }
}

impl Node for serde_json::Value {
    fn keys(&self) -> Option<Vec<Option<&str>>> {
        self.as_object()
            .map(|m| m.keys().map(|k| Some(k.as_str())).collect())
    }
    fn get(&self, key: &str) -> Option<&Self> {
        self.as_object()?.get(key)
    }
    fn seq(&self) -> Option<&[Self]> {
        self.as_array().map(Vec::as_slice)
    }
    fn is_null(&self) -> bool {
        self.is_null()
    }
    fn str(&self) -> Option<&str> {
        self.as_str()
    }
    fn f64(&self) -> Option<f64> {
        self.as_f64()
    }
    fn typed<T: DeserializeOwned>(&self) -> Result<T, (String, String)> {
        serde_path_to_error::deserialize(self).map_err(located)
    }
}

fn split<N: Node>(root: &N, errors: &mut Vec<ConfigError>) -> RawSnapshot {
    let mut raw = RawSnapshot::default();
    let Some(keys) = root.keys() else {
        err(
            errors,
            "",
            "the document must be a mapping of top-level keys",
        );
        return raw;
    };
    for key in keys {
        match key {
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
    match root.get("_format_version") {
        None => err(errors, "_format_version", "required; set it to \"3.0\""),
        Some(v) => {
            if v.str() != Some("3.0") && v.f64() != Some(3.0) {
                err(errors, "_format_version", "unsupported; expected \"3.0\"");
            }
        }
    }
    let b = &mut raw.broken_names;
    raw.services = list(root, "services", "name", errors, b);
    raw.consumers = list(root, "consumers", "username", errors, b);
    raw.plugins = list(root, "plugins", "name", errors, b);
    raw.apis = list(root, "apis", "name", errors, b);
    raw.auth_strategies = list(root, "auth_strategies", "name", errors, b);
    raw.api_packages = list(root, "api_packages", "name", errors, b);
    raw.applications = list(root, "applications", "name", errors, b);
    raw.upstreams = list(root, "upstreams", "name", errors, b);
    raw.targets = list(root, "targets", "target", errors, b);
    raw.certificates = list(root, "certificates", "id", errors, b);
    raw.ca_certificates = list(root, "ca_certificates", "id", errors, b);
    raw
}

fn list<T: DeserializeOwned, N: Node>(
    root: &N,
    key: &str,
    name_key: &str,
    errors: &mut Vec<ConfigError>,
    broken: &mut HashSet<String>,
) -> Vec<(usize, T)> {
    let items = match root.get(key) {
        None => return Vec::new(),
        Some(v) if v.is_null() => return Vec::new(),
        Some(v) => match v.seq() {
            Some(items) => items,
            None => {
                err(errors, key, "must be a list");
                return Vec::new();
            }
        },
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.typed::<T>() {
            Ok(v) => out.push((i, v)),
            Err((inner, message)) => {
                let path = if inner.is_empty() {
                    format!("{key}[{i}]")
                } else {
                    format!("{key}[{i}].{inner}")
                };
                err(errors, path, message);
                if let Some(name) = item.get(name_key).and_then(|n| n.str()) {
                    broken.insert(name.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"openapi":"3.0.0","info":{"title":"f","version":"1"},
        "paths":{"/flights":{"get":{"operationId":"list","responses":{"200":{"description":"ok"}}}}}}"#;

    #[test]
    fn a_hashed_document_loads_to_the_hash_a_plain_load_gives() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f.json"), SPEC).expect("spec");
        let plain =
            "_format_version: \"3.0\"\nservices: [{ name: s, url: \"http://127.0.0.1:9\" }]\n";
        let with_spec = "_format_version: \"3.0\"\napis: [{ name: f, spec_file: f.json }]\n";
        for doc in [plain, with_spec] {
            let hashed = HashedDocument::new(doc.as_bytes());
            assert_eq!(hashed.hash(), hash_bytes(&[doc.as_bytes()]));
            let a = load_bytes_reusing(doc.as_bytes(), Some(dir.path()), None).expect(doc);
            let b = load_hashed_reusing(&hashed, Some(dir.path()), None).expect(doc);
            assert_eq!(a.hash, b.hash, "{doc}");
        }
        // A spec file read from disk is part of the hash: the document's
        // own hash is not the snapshot's then.
        let hashed = HashedDocument::new(with_spec.as_bytes());
        let b = load_hashed_reusing(&hashed, Some(dir.path()), None).expect("valid");
        assert_ne!(b.hash, hashed.hash());
    }
}
