//! Kong plugin entries: metadata dropped, scope references (name, id or
//! `{name|id: ..}`) resolved to names, nested plugins appended after the
//! top-level ones, disabled plugins of unknown names skipped, explicit nulls
//! in `config` read as unset, and rate-limiting's legacy flat `redis_*` fields
//! read into its `redis` record.

use super::{strip_nulls, Normalized};
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;

/// Ids of the entities a plugin can be scoped to, mapped to names.
pub(super) struct Refs<'a> {
    pub services: &'a HashMap<String, String>,
    pub routes: &'a HashMap<String, String>,
    pub consumers: &'a HashMap<String, String>,
}

const PLUGIN_METADATA: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "tags",
    "instance_name",
    "_comment",
    "_ignore",
];

/// Kong Enterprise plugins, named so a refusal says why.
const ENTERPRISE: &[&str] = &[
    "rate-limiting-advanced",
    "openid-connect",
    "oauth2-introspection",
    "jwt-signer",
    "ldap-auth-advanced",
    "mtls-auth",
    "key-auth-enc",
    "request-validator",
    "canary",
    "proxy-cache-advanced",
    "graphql-rate-limiting-advanced",
    "exit-transformer",
    "vault-auth",
    "opa",
    "saml",
    "konnect-application-auth",
    "application-registration",
    "degraphql",
    "route-by-header",
    "upstream-timeout",
    "websocket-validator",
    "websocket-size-limit",
    "xml-threat-protection",
    "json-threats",
    "oas-validation",
    "mocking",
    "forward-proxy",
    "tls-handshake-modifier",
    "tls-metadata-headers",
    "statsd-advanced",
    "kafka-log",
    "kafka-upstream",
    "request-transformer-advanced",
    "response-transformer-advanced",
];

/// Why a plugin tollgate does not have is refused, for the error message.
pub fn unknown_plugin_note(name: &str) -> &'static str {
    if name.starts_with("ai-") {
        "AI plugins are not supported"
    } else if matches!(
        name,
        "pre-function" | "post-function" | "serverless-functions"
    ) {
        "plugins that run Lua code are not supported"
    } else if ENTERPRISE.contains(&name) {
        "it is a Kong Enterprise plugin, not supported"
    } else {
        "tollgate does not have this plugin"
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn resolve(v: &Value, ids: &HashMap<String, String>) -> Option<String> {
    let raw = match v {
        Value::Mapping(m) => ["name", "username", "id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(text))?,
        other => text(other)?,
    };
    Some(ids.get(&raw).cloned().unwrap_or(raw))
}

/// Rewrites the top-level `plugins` list and appends the nested ones.
pub(super) fn normalize_all(
    root: &mut Mapping,
    hoisted: Vec<(Value, String)>,
    refs: &Refs<'_>,
    out: &mut Normalized,
) {
    let top: Vec<(Value, String)> = match root.remove("plugins") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(list)) => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| (v, format!("plugins[{i}]")))
            .collect(),
        Some(other) => {
            // Not a list: left for the loader to report.
            root.insert("plugins".into(), other);
            return;
        }
    };
    let mut list = Vec::with_capacity(top.len() + hoisted.len());
    for (mut p, at) in top.into_iter().chain(hoisted) {
        if let Some(m) = p.as_mapping_mut() {
            if !plugin(m, &at, refs, out) {
                continue;
            }
        }
        let here = format!("plugins[{}]", list.len());
        if here != at {
            out.origins.push((here, at));
        }
        list.push(p);
    }
    if !list.is_empty() {
        root.insert("plugins".into(), Value::Sequence(list));
    }
}

/// Normalizes one plugin entry; `false` when it is skipped.
fn plugin(m: &mut Mapping, at: &str, refs: &Refs<'_>, out: &mut Normalized) -> bool {
    m.retain(|_, v| !v.is_null());
    let name = m.get("name").and_then(text).unwrap_or_default();
    for key in PLUGIN_METADATA {
        if let Some(v) = m.remove(*key) {
            if *key == "tags" {
                let tags: Vec<String> = v
                    .as_sequence()
                    .map(|s| s.iter().filter_map(text).collect())
                    .unwrap_or_default();
                out.report.entity(at, &name).tags.extend(tags);
            }
            out.report.ignored(at, &name, key, "metadata");
        }
    }
    let enabled = !matches!(m.get("enabled"), Some(Value::Bool(false)));
    if !enabled && !crate::plugins::KNOWN_PLUGINS.contains(&name.as_str()) {
        out.warn(
            at,
            format!("plugin {name:?} is disabled (enabled: false): skipped"),
        );
        out.report
            .ignored(at, &name, "(whole entry)", "disabled plugin");
        return false;
    }
    if !crate::plugins::KNOWN_PLUGINS.contains(&name.as_str()) {
        out.report
            .unsupported(at, &name, "name", unknown_plugin_note(&name));
    }
    if let Some(v) = m.remove("protocols") {
        let list: Vec<String> = v
            .as_sequence()
            .map(|s| s.iter().filter_map(text).collect())
            .unwrap_or_default();
        if list.iter().any(|p| p == "http") && list.iter().any(|p| p == "https") {
            out.report.ignored(
                at,
                &name,
                "protocols",
                "includes http and https: the plugin runs on every request",
            );
        } else {
            out.err(
                format!("{at}.protocols"),
                "a plugin limited to some protocols is not supported: include http and https",
            );
            out.report
                .unsupported(at, &name, "protocols", "must include http and https");
        }
    }
    for key in ["consumer_group", "partials"] {
        if m.remove(key).is_some() {
            out.err(
                format!("{at}.{key}"),
                format!("plugin `{key}` is a Kong Enterprise feature and is not supported"),
            );
            out.report.unsupported(at, &name, key, "Kong Enterprise");
        }
    }
    for (key, ids) in [
        ("service", refs.services),
        ("route", refs.routes),
        ("consumer", refs.consumers),
    ] {
        if let Some(v) = m.remove(key) {
            match resolve(&v, ids) {
                Some(n) => {
                    m.insert(key.into(), n.into());
                    out.report.accepted(at, &name, key);
                }
                None => {
                    out.err(
                        format!("{at}.{key}"),
                        format!("must name a {key} (by name or id)"),
                    );
                }
            }
        }
    }
    if let Some(config) = m.get_mut("config") {
        config_fixups(&name, config);
    }
    let known = crate::plugins::KNOWN_PLUGINS.contains(&name.as_str());
    for key in ["name", "config", "enabled", "ordering"] {
        if !known && key != "enabled" {
            continue;
        }
        if m.contains_key(key) {
            out.report.accepted(at, &name, key);
        }
    }
    true
}

/// Kong's forms of a plugin `config`: explicit nulls read as unset, and
/// rate-limiting's legacy flat `redis_*` fields read into `redis`.
pub fn config_fixups(name: &str, config: &mut Value) {
    strip_nulls(config);
    if name == "rate-limiting" {
        if let Some(c) = config.as_mapping_mut() {
            flat_redis(c);
        }
    }
}

/// Kong's legacy `redis_host`, `redis_port`, ... fields, read into `redis`.
fn flat_redis(c: &mut Mapping) {
    const FLAT: &[(&str, &[&str])] = &[
        ("redis_host", &["host"]),
        ("redis_port", &["port"]),
        ("redis_username", &["username"]),
        ("redis_password", &["password"]),
        ("redis_database", &["database"]),
        (
            "redis_timeout",
            &["connect_timeout", "read_timeout", "send_timeout"],
        ),
        ("redis_ssl", &["ssl"]),
        ("redis_ssl_verify", &["ssl_verify"]),
        ("redis_server_name", &["server_name"]),
    ];
    let mut redis = match c.remove("redis") {
        Some(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    };
    let mut any = false;
    for (flat, nested) in FLAT {
        let Some(v) = c.remove(*flat) else { continue };
        any = true;
        for n in *nested {
            if !redis.contains_key(*n) {
                redis.insert((*n).into(), v.clone());
            }
        }
    }
    if let Some(t) = redis.remove("timeout") {
        for n in ["connect_timeout", "read_timeout", "send_timeout"] {
            if !redis.contains_key(n) {
                redis.insert(n.into(), t.clone());
            }
        }
    }
    if any || !redis.is_empty() {
        c.insert("redis".into(), Value::Mapping(redis));
    }
}
