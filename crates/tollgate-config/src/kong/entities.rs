//! Kong's core entities in nested and top-level form, rewritten into the
//! model's shape: ids collected and resolved to names, services (with
//! `host`/`port`/`protocol`/`path` read as `url`), nested plugins hoisted to
//! the top level naming their scope. Routes are in `routes.rs`, consumers and
//! credentials in `consumers.rs`.

use super::{is_entity_metadata, Normalized};
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;

/// Fields every Kong entity may carry that have no effect here.
const ENTITY_METADATA: &[&str] = &["id", "created_at", "updated_at", "tags"];

/// Which credential lists a consumer carries, and the keys each entry may hold.
pub(super) const CREDENTIALS: &[&str] = &["keyauth_credentials", "basicauth_credentials", "acls"];

/// Ids of services, routes and consumers, mapped to their names.
#[derive(Default)]
pub(super) struct Ids {
    pub(super) services: HashMap<String, String>,
    pub(super) routes: HashMap<String, String>,
    pub(super) consumers: HashMap<String, String>,
}

pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub(super) fn seq_mut<'a>(map: &'a mut Mapping, key: &str) -> Option<&'a mut Vec<Value>> {
    map.get_mut(key).and_then(Value::as_sequence_mut)
}

/// A reference as Kong writes it: `name`, `id`, `{name: ..}`, `{id: ..}`, `{username: ..}`.
pub(super) fn reference(v: &Value, ids: &HashMap<String, String>) -> Option<String> {
    let raw = match v {
        Value::Mapping(m) => ["name", "username", "id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(text))?,
        other => text(other)?,
    };
    Some(ids.get(&raw).cloned().unwrap_or(raw))
}

/// Drops the metadata keys of an entity, recording them (and its tags).
pub(super) fn metadata(m: &mut Mapping, at: &str, name: &str, out: &mut Normalized) {
    strip_nulls_shallow(m);
    for key in ENTITY_METADATA {
        let Some(v) = m.remove(*key) else { continue };
        if *key == "tags" {
            match v.as_sequence() {
                Some(tags) => {
                    let tags: Vec<String> = tags.iter().filter_map(text).collect();
                    out.report.entity(at, name).tags.extend(tags);
                }
                None => out.err(format!("{at}.tags"), "must be a list of strings"),
            }
        }
        out.report.ignored(at, name, key, "metadata");
    }
    let meta: Vec<Value> = m
        .keys()
        .filter(|k| k.as_str().is_some_and(is_entity_metadata))
        .cloned()
        .collect();
    for k in meta {
        m.remove(&k);
        out.report
            .ignored(at, name, k.as_str().unwrap_or(""), "metadata");
    }
}

fn strip_nulls_shallow(m: &mut Mapping) {
    m.retain(|_, v| !v.is_null());
}

pub(super) fn name_of(m: &Mapping, key: &str) -> Option<String> {
    m.get(key).and_then(text)
}

/// Rewrites the core entities of a document.
pub(super) fn normalize(root: &mut Mapping, transform: bool, out: &mut Normalized) {
    let ids = collect_ids(root);
    let mut hoisted: Vec<(Value, String)> = Vec::new();
    if let Some(services) = seq_mut(root, "services") {
        for (i, svc) in services.iter_mut().enumerate() {
            if let Some(m) = svc.as_mapping_mut() {
                service(m, i, &mut hoisted, out);
            }
        }
    }
    super::routes::attach_routes(root, &ids, &mut hoisted, out);
    if let Some(consumers) = seq_mut(root, "consumers") {
        for (i, c) in consumers.iter_mut().enumerate() {
            if let Some(m) = c.as_mapping_mut() {
                super::consumers::consumer(m, i, transform, &mut hoisted, out);
            }
        }
    }
    for kind in CREDENTIALS {
        super::consumers::attach_credentials(root, kind, &ids, transform, out);
    }
    super::plugins::normalize_all(root, hoisted, &ids.as_refs(), out);
}

impl Ids {
    fn as_refs(&self) -> super::plugins::Refs<'_> {
        super::plugins::Refs {
            services: &self.services,
            routes: &self.routes,
            consumers: &self.consumers,
        }
    }
}

/// Names synthesized for unnamed entities, so ids and names both resolve.
fn collect_ids(root: &mut Mapping) -> Ids {
    let mut ids = Ids::default();
    let record =
        |map: &mut HashMap<String, String>, m: &mut Mapping, name_key: &str, fallback: String| {
            let name = match name_of(m, name_key) {
                Some(n) => n,
                None => {
                    let n = name_of(m, "id").unwrap_or(fallback);
                    if name_key == "username" {
                        // Kong allows a consumer with only a custom_id.
                        let n = name_of(m, "custom_id").unwrap_or(n);
                        m.insert(name_key.into(), n.clone().into());
                        n
                    } else {
                        m.insert(name_key.into(), n.clone().into());
                        n
                    }
                }
            };
            if let Some(id) = name_of(m, "id") {
                map.insert(id, name.clone());
            }
            name
        };
    if let Some(services) = seq_mut(root, "services") {
        for (i, s) in services.iter_mut().enumerate() {
            let Some(m) = s.as_mapping_mut() else {
                continue;
            };
            let sname = record(&mut ids.services, m, "name", format!("service-{i}"));
            if let Some(routes) = seq_mut(m, "routes") {
                for (k, r) in routes.iter_mut().enumerate() {
                    if let Some(rm) = r.as_mapping_mut() {
                        record(&mut ids.routes, rm, "name", format!("{sname}-route-{k}"));
                    }
                }
            }
        }
    }
    if let Some(routes) = seq_mut(root, "routes") {
        for (i, r) in routes.iter_mut().enumerate() {
            if let Some(m) = r.as_mapping_mut() {
                record(&mut ids.routes, m, "name", format!("route-{i}"));
            }
        }
    }
    if let Some(consumers) = seq_mut(root, "consumers") {
        for (i, c) in consumers.iter_mut().enumerate() {
            if let Some(m) = c.as_mapping_mut() {
                record(&mut ids.consumers, m, "username", format!("consumer-{i}"));
            }
        }
    }
    ids
}

pub(super) fn hoist(
    m: &mut Mapping,
    at: &str,
    scope: &str,
    name: &str,
    hoisted: &mut Vec<(Value, String)>,
    out: &mut Normalized,
) {
    let Some(v) = m.remove("plugins") else { return };
    let Value::Sequence(list) = v else {
        out.err(format!("{at}.plugins"), "must be a list");
        return;
    };
    for (j, mut p) in list.into_iter().enumerate() {
        if let Some(pm) = p.as_mapping_mut() {
            if pm.contains_key(scope) {
                out.err(
                    format!("{at}.plugins[{j}].{scope}"),
                    format!("a plugin nested under a {scope} takes its {scope} from there"),
                );
            }
            pm.insert(scope.into(), name.into());
        }
        hoisted.push((p, format!("{at}.plugins[{j}]")));
    }
    out.report.accepted(at, name, "plugins");
}

fn service(m: &mut Mapping, i: usize, hoisted: &mut Vec<(Value, String)>, out: &mut Normalized) {
    let at = format!("services[{i}]");
    let name = name_of(m, "name").unwrap_or_default();
    metadata(m, &at, &name, out);
    match m.remove("enabled") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => {
            out.err(
                format!("{at}.enabled"),
                "a disabled service is not supported: remove it (and its routes) instead",
            );
            out.report.unsupported(&at, &name, "enabled", "only true");
        }
    }
    if m.remove("client_certificate").is_some() {
        out.err(
            format!("{at}.client_certificate"),
            "`client_certificate` is not supported",
        );
        out.report.unsupported(
            &at,
            &name,
            "client_certificate",
            "client certificates to upstreams are not supported",
        );
    }
    // Kong writes CA references as ids, or `{id: ...}`.
    if let Some(cas) = seq_mut(m, "ca_certificates") {
        for ca in cas.iter_mut() {
            if let Some(id) = reference(ca, &HashMap::new()) {
                *ca = Value::String(id);
            }
        }
    }
    service_url(m, &at, &name, out);
    for key in [
        "name",
        "url",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
        "retries",
        "tls_verify",
        "tls_verify_depth",
        "ca_certificates",
    ] {
        if m.contains_key(key) {
            out.report.accepted(&at, &name, key);
        }
    }
    if let Some(routes) = seq_mut(m, "routes") {
        for (k, r) in routes.iter_mut().enumerate() {
            if let Some(rm) = r.as_mapping_mut() {
                super::routes::route(rm, &format!("{at}.routes[{k}]"), hoisted, out);
            }
        }
        out.report.accepted(&at, &name, "routes");
    }
    hoist(m, &at, "service", &name, hoisted, out);
}

/// `protocol`/`host`/`port`/`path` become `url` (Kong's `url` is their shorthand).
fn service_url(m: &mut Mapping, at: &str, name: &str, out: &mut Normalized) {
    let protocol = m.remove("protocol").and_then(|v| text(&v));
    let scheme = match protocol.as_deref() {
        None | Some("http") | Some("ws") => "http",
        Some("https") | Some("wss") => "https",
        Some(other) => {
            out.err(
                format!("{at}.protocol"),
                format!(
                    "protocol {other:?} is not supported; tollgate proxies http, https, ws and wss"
                ),
            );
            out.report
                .unsupported(at, name, "protocol", "only http, https, ws, wss");
            "http"
        }
    };
    let host = m.remove("host").and_then(|v| text(&v));
    let port = m.remove("port").and_then(|v| text(&v));
    let path = m.remove("path").and_then(|v| text(&v));
    if m.contains_key("url") {
        if host.is_some() || port.is_some() || path.is_some() {
            out.warn(
                format!("{at}.url"),
                "url is set: host, port and path are ignored (url is their shorthand)",
            );
        }
        return;
    }
    let Some(host) = host else {
        out.err(
            at.to_string(),
            "a service needs `url`, or `host` (with optional protocol, port, path)",
        );
        return;
    };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host
    };
    let url = format!("{scheme}://{host}{port}{}", path.unwrap_or_default());
    for f in ["protocol", "host", "port", "path"] {
        out.report.accepted(at, name, f);
    }
    m.insert("url".into(), url.into());
}
