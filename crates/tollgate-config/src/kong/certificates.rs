//! Kong's `certificates`, `snis` and `ca_certificates` entities. Top-level
//! `snis` are folded into the certificate they name, and nested ones are
//! reduced to their names, so the model reads one list of certificates,
//! each with the server names it is served for.

use super::entities::{reference, seq_mut, text};
use super::Normalized;
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;

/// Kong fields with no effect here (`id` is kept: services and snis refer to it).
const METADATA: &[&str] = &["created_at", "updated_at", "tags", "cert_digest"];

fn drop_metadata(m: &mut Mapping, at: &str, name: &str, out: &mut Normalized) {
    m.retain(|_, v| !v.is_null());
    for key in METADATA {
        if m.remove(*key).is_some() {
            out.report.ignored(at, name, key, "metadata");
        }
    }
    m.retain(|k, _| !k.as_str().is_some_and(super::is_entity_metadata));
}

/// A nested or top-level sni's name (`"a.example.com"` or `{name: ...}`).
fn sni_name(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("name").and_then(text),
        other => text(other),
    }
}

pub(super) fn normalize(root: &mut Mapping, out: &mut Normalized) {
    let mut by_id: HashMap<String, usize> = HashMap::new();
    if let Some(certs) = seq_mut(root, "certificates") {
        for (i, c) in certs.iter_mut().enumerate() {
            let Some(m) = c.as_mapping_mut() else {
                continue;
            };
            let at = format!("certificates[{i}]");
            let id = m.get("id").and_then(text).unwrap_or_default();
            drop_metadata(m, &at, &id, out);
            if !id.is_empty() {
                by_id.insert(id.clone(), i);
            }
            for key in ["cert_alt", "key_alt"] {
                if m.remove(key).is_some() {
                    out.err(
                        format!("{at}.{key}"),
                        "alternate (ECDSA + RSA) certificates are not supported: give a second certificate with the same snis instead",
                    );
                    out.report
                        .unsupported(&at, &id, key, "one key per certificate");
                }
            }
            if let Some(snis) = seq_mut(m, "snis") {
                for (j, s) in snis.iter_mut().enumerate() {
                    match sni_name(s) {
                        Some(n) => *s = Value::String(n),
                        None => out.err(format!("{at}.snis[{j}]"), "must be a name or {name: ...}"),
                    }
                }
            }
            for key in ["id", "cert", "key", "snis"] {
                if m.contains_key(key) {
                    out.report.accepted(&at, &id, key);
                }
            }
        }
    }
    if let Some(Value::Sequence(snis)) = root.remove("snis") {
        let no_ids = HashMap::new();
        for (k, s) in snis.iter().enumerate() {
            let at = format!("snis[{k}]");
            let Some(name) = sni_name(s) else {
                out.err(format!("{at}.name"), "required");
                continue;
            };
            let target = s
                .as_mapping()
                .and_then(|m| m.get("certificate"))
                .and_then(|c| reference(c, &no_ids));
            let Some(ix) = target.as_ref().and_then(|id| by_id.get(id)).copied() else {
                out.err(
                    format!("{at}.certificate"),
                    format!(
                        "certificate {:?} does not exist (name it by the id of an entry in `certificates`)",
                        target.unwrap_or_default()
                    ),
                );
                continue;
            };
            let Some(cm) = seq_mut(root, "certificates")
                .and_then(|c| c.get_mut(ix))
                .and_then(Value::as_mapping_mut)
            else {
                continue;
            };
            let list = cm
                .entry("snis".into())
                .or_insert_with(|| Value::Sequence(Vec::new()));
            if let Value::Sequence(list) = list {
                out.origins.push((
                    format!("certificates[{ix}].snis[{}]", list.len()),
                    at.clone(),
                ));
                list.push(Value::String(name.clone()));
            }
            out.report.accepted(&at, &name, "certificate");
        }
    }
    if let Some(cas) = seq_mut(root, "ca_certificates") {
        for (i, c) in cas.iter_mut().enumerate() {
            if let Some(m) = c.as_mapping_mut() {
                let at = format!("ca_certificates[{i}]");
                let id = m.get("id").and_then(text).unwrap_or_default();
                drop_metadata(m, &at, &id, out);
                for key in ["id", "cert"] {
                    if m.contains_key(key) {
                        out.report.accepted(&at, &id, key);
                    }
                }
            }
        }
    }
}
