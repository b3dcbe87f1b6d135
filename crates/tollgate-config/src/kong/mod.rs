//! Kong's declarative format (decK / DB-less `kong.yml`) read as Kong reads
//! it, rewritten into tollgate's own snapshot shape before the usual loading.
//!
//! The document tree is normalized in place: metadata keys dropped, nested
//! plugins and credentials hoisted to where the model expects them, top-level
//! routes and credentials attached to their parents, ids resolved to names,
//! `_format_version` 1.1/2.1 migrated. Every rewrite records where the entity
//! came from, so errors found later still name the user's own location.
//! The same pass produces the per-entity report `validate --explain-kong`
//! prints: what was accepted, ignored as metadata, or is not supported.

mod certificates;
mod consumers;
mod entities;
mod plugins;
mod report;
mod routes;

pub use plugins::{config_fixups, unknown_plugin_note};
pub use report::{EntityReport, KongReport};

use crate::resolved::ConfigError;
use serde_yaml::{Mapping, Value};

/// Top-level keys Kong defines that this layer consumes (the rest pass through).
const METADATA_KEYS: &[&str] = &["_transform", "_comment", "_ignore", "_info"];

/// Kong entities with no counterpart here; a file using them is refused, naming them.
const UNSUPPORTED_ENTITIES: &[(&str, &str)] = &[
    (
        "consumer_groups",
        "consumer groups are a Kong Enterprise feature",
    ),
    ("vaults", "vaults are not supported"),
    ("keys", "keys are not supported"),
    ("key_sets", "key sets are not supported"),
    ("partials", "partials are a Kong Enterprise feature"),
    (
        "filter_chains",
        "filter chains (WebAssembly) are not supported",
    ),
    ("licenses", "licenses are a Kong Enterprise feature"),
    ("workspaces", "workspaces are a Kong Enterprise feature"),
    ("_workspace", "workspaces are a Kong Enterprise feature"),
    ("ai_models", "AI entities are not supported"),
    ("ai_providers", "AI entities are not supported"),
];

/// Credentials of Kong auth plugins tollgate does not have. The plugins
/// themselves are refused, so these credentials can never authenticate
/// anything: they are skipped with a warning.
pub(crate) const FOREIGN_CREDENTIALS: &[(&str, &str)] = &[
    ("hmacauth_credentials", "hmac-auth"),
    ("jwt_secrets", "jwt"),
    ("oauth2_credentials", "oauth2"),
    ("mtls_auth_credentials", "mtls-auth"),
];

/// What normalizing a document found, besides the rewritten tree.
#[derive(Debug, Default)]
pub struct Normalized {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
    /// (location in the rewritten tree, the user's location), most specific first.
    pub origins: Vec<(String, String)>,
    pub report: KongReport,
}

impl Normalized {
    pub(crate) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Maps a location in the rewritten tree back to where the user wrote it.
    pub fn origin_of(&self, path: &str) -> String {
        for (new, old) in &self.origins {
            if let Some(rest) = path.strip_prefix(new.as_str()) {
                if rest.is_empty() || rest.starts_with('.') || rest.starts_with('[') {
                    return format!("{old}{rest}");
                }
            }
        }
        path.to_string()
    }

    /// Rewrites every error's and warning's location to the user's.
    pub fn relocate(&self, list: &mut [ConfigError]) {
        if self.origins.is_empty() {
            return;
        }
        for e in list {
            e.path = self.origin_of(&e.path);
        }
    }
}

/// Normalizes a document tree in place. The tree keeps tollgate's own
/// entities untouched; Kong's are rewritten into the model's shape.
pub fn normalize(root: &mut Value) -> Normalized {
    let mut out = Normalized::default();
    let Some(map) = root.as_mapping_mut() else {
        return out;
    };
    let transform = format_and_metadata(map, &mut out);
    for (key, why) in UNSUPPORTED_ENTITIES {
        if map.contains_key(*key) {
            out.err(*key, format!("Kong entity `{key}` is not supported: {why}"));
            out.report.unsupported(key, "", key, why);
            map.remove(*key);
        }
    }
    for (key, plugin) in FOREIGN_CREDENTIALS {
        if let Some(v) = map.remove(*key) {
            let n = v.as_sequence().map_or(0, Vec::len);
            out.warn(
                *key,
                format!("{n} credential(s) of the {plugin} plugin skipped: tollgate has no {plugin} plugin, so they can never authenticate"),
            );
            out.report.ignored(
                key,
                "",
                key,
                "credentials of a plugin tollgate does not have",
            );
        }
    }
    certificates::normalize(map, &mut out);
    entities::normalize(map, transform, &mut out);
    out.origins.sort_by_key(|o| std::cmp::Reverse(o.0.len()));
    out
}

/// `_format_version` and the metadata keys. Returns `_transform`.
fn format_and_metadata(map: &mut Mapping, out: &mut Normalized) -> bool {
    let version = map.get("_format_version").cloned();
    let version_str = match &version {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => Some(String::new()),
    };
    match version_str.as_deref() {
        None => {
            out.warn(
                "_format_version",
                "missing: the file is read as format \"3.0\" (Kong requires the key; set it)",
            );
            out.report
                .ignored("(document)", "", "_format_version", "missing: read as 3.0");
        }
        Some("3.0" | "3") => {}
        Some(v @ ("1.1" | "2.1")) => {
            routes::migrate_2x_paths(map, v, out);
            out.report.accepted("(document)", "", "_format_version");
        }
        Some(other) => {
            out.err(
                "_format_version",
                format!("unsupported format {other:?}; expected \"3.0\" (or Kong's older \"1.1\" / \"2.1\")"),
            );
        }
    }
    map.insert("_format_version".into(), "3.0".into());
    let mut transform = true;
    for key in METADATA_KEYS {
        let Some(v) = map.remove(*key) else { continue };
        match (*key, &v) {
            ("_transform", Value::Bool(b)) => transform = *b,
            ("_transform", _) => out.err("_transform", "must be true or false"),
            ("_comment", Value::String(_) | Value::Null) => {}
            ("_comment", _) => out.err("_comment", "must be a string"),
            ("_ignore", Value::Sequence(_) | Value::Null) => {}
            ("_ignore", _) => out.err("_ignore", "must be a list"),
            ("_info", Value::Mapping(m)) => {
                for (k, _) in m {
                    match k.as_str() {
                        Some("select_tags") => {}
                        Some("defaults") => out.err(
                            "_info.defaults",
                            "entity defaults are not supported: write the values on the entities",
                        ),
                        Some(other) => out.err(
                            format!("_info.{other}"),
                            "unknown _info key; expected select_tags",
                        ),
                        None => out.err("_info", "keys must be strings"),
                    }
                }
            }
            ("_info", Value::Null) => {}
            ("_info", _) => out.err("_info", "must be a mapping"),
            _ => {}
        }
        out.report.ignored("(document)", "", key, "metadata");
    }
    transform
}

/// Is this key a Kong metadata key on an entity (`_comment`, `_ignore`)?
pub(crate) fn is_entity_metadata(key: &str) -> bool {
    matches!(key, "_comment" | "_ignore")
}

/// Removes explicit `null`s from a mapping, recursively: Kong reads a null
/// as "not set", so the default applies.
pub(crate) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Mapping(m) => {
            m.retain(|_, v| !v.is_null());
            for (_, v) in m.iter_mut() {
                strip_nulls(v);
            }
        }
        Value::Sequence(s) => s.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
