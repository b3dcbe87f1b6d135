//! Kong's core entities (services, routes, consumers, their credentials and
//! plugins) in nested and top-level form, rewritten into the model's shape:
//! routes under their service, credentials under their consumer, plugins at
//! the top level naming their scope, ids resolved to names.

use super::{is_entity_metadata, Normalized, FOREIGN_CREDENTIALS};
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;

/// Fields every Kong entity may carry that have no effect here.
const ENTITY_METADATA: &[&str] = &["id", "created_at", "updated_at", "tags"];

/// Which credential lists a consumer carries, and the keys each entry may hold.
const CREDENTIALS: &[&str] = &["keyauth_credentials", "basicauth_credentials", "acls"];

/// Ids of services, routes and consumers, mapped to their names.
#[derive(Default)]
struct Ids {
    services: HashMap<String, String>,
    routes: HashMap<String, String>,
    consumers: HashMap<String, String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn seq_mut<'a>(map: &'a mut Mapping, key: &str) -> Option<&'a mut Vec<Value>> {
    map.get_mut(key).and_then(Value::as_sequence_mut)
}

/// A reference as Kong writes it: `name`, `id`, `{name: ..}`, `{id: ..}`, `{username: ..}`.
fn reference(v: &Value, ids: &HashMap<String, String>) -> Option<String> {
    let raw = match v {
        Value::Mapping(m) => ["name", "username", "id"]
            .iter()
            .find_map(|k| m.get(*k).and_then(text))?,
        other => text(other)?,
    };
    Some(ids.get(&raw).cloned().unwrap_or(raw))
}

/// Drops the metadata keys of an entity, recording them (and its tags).
fn metadata(m: &mut Mapping, at: &str, name: &str, out: &mut Normalized) {
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

fn name_of(m: &Mapping, key: &str) -> Option<String> {
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
    attach_routes(root, &ids, &mut hoisted, out);
    if let Some(consumers) = seq_mut(root, "consumers") {
        for (i, c) in consumers.iter_mut().enumerate() {
            if let Some(m) = c.as_mapping_mut() {
                consumer(m, i, transform, &mut hoisted, out);
            }
        }
    }
    for kind in CREDENTIALS {
        attach_credentials(root, kind, &ids, transform, out);
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

fn hoist(
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
    if m.remove("retries").is_some() {
        out.report.ignored(
            &at,
            &name,
            "retries",
            "no effect: a service proxies to one address",
        );
    }
    for key in [
        "tls_verify",
        "tls_verify_depth",
        "ca_certificates",
        "client_certificate",
    ] {
        if m.remove(key).is_some() {
            out.err(format!("{at}.{key}"), format!("`{key}` is not supported"));
            out.report
                .unsupported(&at, &name, key, "upstream TLS settings are not supported");
        }
    }
    service_url(m, &at, &name, out);
    for key in [
        "name",
        "url",
        "connect_timeout",
        "read_timeout",
        "write_timeout",
    ] {
        if m.contains_key(key) {
            out.report.accepted(&at, &name, key);
        }
    }
    if let Some(routes) = seq_mut(m, "routes") {
        for (k, r) in routes.iter_mut().enumerate() {
            if let Some(rm) = r.as_mapping_mut() {
                route(rm, &format!("{at}.routes[{k}]"), hoisted, out);
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

fn route(m: &mut Mapping, at: &str, hoisted: &mut Vec<(Value, String)>, out: &mut Normalized) {
    let name = name_of(m, "name").unwrap_or_default();
    metadata(m, at, &name, out);
    if let Some(v) = m.remove("protocols") {
        let list: Vec<String> = v
            .as_sequence()
            .map(|s| s.iter().filter_map(text).collect())
            .unwrap_or_default();
        if !list.iter().any(|p| p == "http") {
            out.err(
                format!("{at}.protocols"),
                "a route without \"http\" in protocols is not supported (tollgate answers plain HTTP on every listener)",
            );
            out.report
                .unsupported(at, &name, "protocols", "must include http");
        } else if let Some(bad) = list
            .iter()
            .find(|p| !matches!(p.as_str(), "http" | "https"))
        {
            out.err(
                format!("{at}.protocols"),
                format!("protocol {bad:?} is not supported on a route"),
            );
            out.report
                .unsupported(at, &name, "protocols", "only http, https");
        } else {
            out.report.accepted(at, &name, "protocols");
        }
    }
    if m.remove("https_redirect_status_code").is_some() {
        out.report.ignored(
            at,
            &name,
            "https_redirect_status_code",
            "applies only to routes without http in protocols",
        );
    }
    for key in ["request_buffering", "response_buffering"] {
        if m.remove(key).is_some() {
            out.report.ignored(at, &name, key, "bodies are streamed");
        }
    }
    match m.remove("path_handling") {
        None => {}
        Some(v) if v.as_str() == Some("v0") => {
            out.report
                .ignored(at, &name, "path_handling", "v0 is how paths are joined");
        }
        Some(_) => {
            out.err(
                format!("{at}.path_handling"),
                "only \"v0\" (Kong's default) is supported",
            );
            out.report
                .unsupported(at, &name, "path_handling", "only v0");
        }
    }
    for key in [
        "snis",
        "sources",
        "destinations",
        "headers",
        "expression",
        "priority",
    ] {
        let Some(v) = m.remove(key) else { continue };
        let empty = v.as_sequence().is_some_and(Vec::is_empty)
            || v.as_mapping().is_some_and(Mapping::is_empty);
        if !empty {
            out.err(
                format!("{at}.{key}"),
                format!("route `{key}` is not supported"),
            );
            out.report.unsupported(at, &name, key, "not supported");
        }
    }
    let has_regex = m
        .get("paths")
        .and_then(Value::as_sequence)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.as_str().is_some_and(|p| p.starts_with('~')))
        });
    if has_regex {
        out.err(
            format!("{at}.paths"),
            "regex paths (`~` prefix) are not supported; use prefix paths",
        );
        out.report
            .unsupported(at, &name, "paths", "regex paths are not supported");
    }
    if m.remove("regex_priority").is_some() {
        out.report
            .ignored(at, &name, "regex_priority", "no regex path on this route");
    }
    for key in [
        "name",
        "paths",
        "methods",
        "hosts",
        "strip_path",
        "preserve_host",
    ] {
        if m.contains_key(key) {
            out.report.accepted(at, &name, key);
        }
    }
    hoist(m, at, "route", &name, hoisted, out);
}

/// Top-level `routes:` move under the service they name.
fn attach_routes(
    root: &mut Mapping,
    ids: &Ids,
    hoisted: &mut Vec<(Value, String)>,
    out: &mut Normalized,
) {
    let Some(Value::Sequence(routes)) = root.remove("routes") else {
        return;
    };
    let services: Vec<String> = root
        .get("services")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .map(|v| {
                    v.as_mapping()
                        .and_then(|m| name_of(m, "name"))
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut moved: Vec<(usize, Value, String)> = Vec::new();
    for (i, mut r) in routes.into_iter().enumerate() {
        let at = format!("routes[{i}]");
        let Some(m) = r.as_mapping_mut() else {
            out.err(at, "must be a mapping");
            continue;
        };
        let Some(target) = m
            .remove("service")
            .and_then(|v| reference(&v, &ids.services))
        else {
            out.err(
                format!("{at}.service"),
                "a route needs a service (by name or id); routes without one are not supported",
            );
            continue;
        };
        let Some(si) = services.iter().position(|s| *s == target) else {
            out.err(
                format!("{at}.service"),
                format!("service {target:?} does not exist"),
            );
            continue;
        };
        route(m, &at, hoisted, out);
        out.report.accepted(&at, "", "service");
        moved.push((si, r, at));
    }
    let Some(list) = seq_mut(root, "services") else {
        return;
    };
    for (si, r, at) in moved {
        let Some(svc) = list.get_mut(si).and_then(Value::as_mapping_mut) else {
            continue;
        };
        if !matches!(svc.get("routes"), Some(Value::Sequence(_))) {
            svc.insert("routes".into(), Value::Sequence(Vec::new()));
        }
        if let Some(rs) = seq_mut(svc, "routes") {
            out.origins
                .push((format!("services[{si}].routes[{}]", rs.len()), at));
            rs.push(r);
        }
    }
}

fn consumer(
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
fn credential(
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
fn attach_credentials(
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

/// Kong 3.0 reads a 1.1/2.1 path as a regex unless it holds only
/// `[a-zA-Z0-9.\-_~/%]`; such paths get the `~` prefix 3.0 requires.
pub(super) fn migrate_2x_paths(root: &mut Mapping, version: &str, out: &mut Normalized) {
    let fix = |routes: &mut Vec<Value>, at: &str, out: &mut Normalized| {
        for (k, r) in routes.iter_mut().enumerate() {
            let Some(paths) = r.as_mapping_mut().and_then(|m| seq_mut(m, "paths")) else {
                continue;
            };
            for (j, p) in paths.iter_mut().enumerate() {
                let Some(s) = p.as_str() else { continue };
                let plain = s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-~/%".contains(&b));
                if !plain {
                    let migrated = format!("~{s}");
                    out.warn(
                        format!("{at}[{k}].paths[{j}]"),
                        format!("format {version}: {s:?} is a regex in Kong 2.x; read as {migrated:?} (Kong 3.0's form)"),
                    );
                    *p = migrated.into();
                }
            }
        }
    };
    if let Some(routes) = seq_mut(root, "routes") {
        fix(routes, "routes", out);
    }
    if let Some(services) = seq_mut(root, "services") {
        for (i, s) in services.iter_mut().enumerate() {
            if let Some(routes) = s.as_mapping_mut().and_then(|m| seq_mut(m, "routes")) {
                fix(routes, &format!("services[{i}].routes"), out);
            }
        }
    }
}
