//! Kong consumers and their credentials (`keyauth_credentials`,
//! `basicauth_credentials`, `acls`), nested or top-level naming the consumer;
//! basic-auth passwords given as Kong stores them (`_transform: false`).

use super::entities::{hoist, metadata, name_of, reference, seq_mut, text, Ids, CREDENTIALS};
use super::{Normalized, FOREIGN_CREDENTIALS};
use serde_yaml::{Mapping, Value};

pub(super) fn consumer(
    m: &mut Mapping,
    i: usize,
    transform: bool,
    hoisted: &mut Vec<(Value, String)>,
    out: &mut Normalized,
) {
    let at = format!("consumers[{i}]");
    let name = name_of(m, "username").unwrap_or_default();
    let kong_id = name_of(m, "id");
    metadata(m, &at, &name, out);
    if m.remove("groups").is_some() {
        out.err(
            format!("{at}.groups"),
            "consumer groups are a Kong Enterprise feature and are not supported",
        );
        out.report
            .unsupported(&at, &name, "groups", "Kong Enterprise");
    }
    for (key, plugin) in FOREIGN_CREDENTIALS {
        if let Some(v) = m.remove(*key) {
            let n = v.as_sequence().map_or(0, Vec::len);
            out.warn(
                format!("{at}.{key}"),
                format!("{n} credential(s) of the {plugin} plugin skipped: tollgate has no {plugin} plugin, so they can never authenticate"),
            );
            out.report.ignored(
                &at,
                &name,
                key,
                "credentials of a plugin tollgate does not have",
            );
        }
    }
    for kind in CREDENTIALS {
        if let Some(list) = seq_mut(m, kind) {
            for (k, c) in list.iter_mut().enumerate() {
                if let Some(cm) = c.as_mapping_mut() {
                    credential(
                        cm,
                        kind,
                        &format!("{at}.{kind}[{k}]"),
                        kong_id.as_deref(),
                        transform,
                        out,
                    );
                }
            }
            out.report.accepted(&at, &name, kind);
        }
    }
    for key in ["username", "custom_id"] {
        if m.contains_key(key) {
            out.report.accepted(&at, &name, key);
        }
    }
    hoist(m, &at, "consumer", &name, hoisted, out);
}

/// One credential entry: metadata dropped; a basic-auth password stored as
/// Kong stores it (`_transform: false`) marked as a hash.
pub(super) fn credential(
    m: &mut Mapping,
    kind: &str,
    at: &str,
    consumer_id: Option<&str>,
    transform: bool,
    out: &mut Normalized,
) {
    metadata(m, at, "", out);
    m.remove("consumer");
    if kind == "keyauth_credentials" && m.remove("ttl").is_some() {
        out.err(
            format!("{at}.ttl"),
            "key-auth credential `ttl` is not supported",
        );
        out.report.unsupported(at, "", "ttl", "not supported");
    }
    if kind == "basicauth_credentials" && !transform {
        let Some(pw) = m.remove("password").and_then(|v| text(&v)) else {
            return;
        };
        if pw.starts_with("$2") {
            m.insert("password_bcrypt".into(), pw.into());
        } else if pw.len() == 40 && pw.bytes().all(|b| b.is_ascii_hexdigit()) {
            match consumer_id {
                Some(id) => {
                    m.insert("password_sha1".into(), pw.to_ascii_lowercase().into());
                    m.insert("salt".into(), id.into());
                }
                None => out.err(
                    format!("{at}.password"),
                    "with _transform: false the password is Kong's stored SHA-1, salted with the consumer's id: give the consumer its `id`",
                ),
            }
        } else {
            out.err(
                format!("{at}.password"),
                "with _transform: false the password must be stored as Kong stores it (40 hex digits of SHA-1, or bcrypt $2..)",
            );
        }
    }
}

/// Top-level credential lists attach to the consumer they name.
pub(super) fn attach_credentials(
    root: &mut Mapping,
    kind: &str,
    ids: &Ids,
    transform: bool,
    out: &mut Normalized,
) {
    let Some(Value::Sequence(list)) = root.remove(kind) else {
        return;
    };
    let consumers: Vec<(String, Option<String>)> = root
        .get("consumers")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .map(|v| {
                    let m = v.as_mapping();
                    (
                        m.and_then(|m| name_of(m, "username")).unwrap_or_default(),
                        ids.consumers
                            .iter()
                            .find(|(_, n)| {
                                m.and_then(|m| name_of(m, "username")).as_deref()
                                    == Some(n.as_str())
                            })
                            .map(|(id, _)| id.clone()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut moved = Vec::new();
    for (i, mut c) in list.into_iter().enumerate() {
        let at = format!("{kind}[{i}]");
        let Some(m) = c.as_mapping_mut() else {
            out.err(at, "must be a mapping");
            continue;
        };
        let Some(target) = m.get("consumer").and_then(|v| reference(v, &ids.consumers)) else {
            out.err(
                format!("{at}.consumer"),
                "needs the consumer it belongs to (username or id)",
            );
            continue;
        };
        let Some(ci) = consumers.iter().position(|(n, _)| *n == target) else {
            out.err(
                format!("{at}.consumer"),
                format!("consumer {target:?} does not exist"),
            );
            continue;
        };
        credential(m, kind, &at, consumers[ci].1.as_deref(), transform, out);
        moved.push((ci, c, at));
    }
    let Some(list) = seq_mut(root, "consumers") else {
        return;
    };
    for (ci, c, at) in moved {
        let Some(cm) = list.get_mut(ci).and_then(Value::as_mapping_mut) else {
            continue;
        };
        if !matches!(cm.get(kind), Some(Value::Sequence(_))) {
            cm.insert(kind.into(), Value::Sequence(Vec::new()));
        }
        if let Some(cs) = seq_mut(cm, kind) {
            out.origins
                .push((format!("consumers[{ci}].{kind}[{}]", cs.len()), at));
            cs.push(c);
        }
    }
}
