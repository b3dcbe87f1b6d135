//! Kong routes: nested under a service or top-level naming it, their Kong-only
//! fields (accepted, ignored or refused), and format 1.1/2.1 path migration.
//! Regex paths, `regex_priority` and `headers` pass through to the model.

use super::entities::{hoist, metadata, name_of, reference, seq_mut, text, Ids};
use super::Normalized;
use serde_yaml::{Mapping, Value};

pub(super) fn route(
    m: &mut Mapping,
    at: &str,
    hoisted: &mut Vec<(Value, String)>,
    out: &mut Normalized,
) {
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
    for key in ["snis", "sources", "destinations", "expression", "priority"] {
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
    if m.get("headers").is_some_and(Value::is_null) {
        m.remove("headers");
    }
    let has_regex = m
        .get("paths")
        .and_then(Value::as_sequence)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.as_str().is_some_and(|p| p.starts_with('~')))
        });
    if !has_regex && m.contains_key("regex_priority") {
        // Kong sets it on every route; it only orders regex paths.
        m.remove("regex_priority");
        out.report
            .ignored(at, &name, "regex_priority", "no regex path on this route");
    } else if m.get("regex_priority").is_some_and(Value::is_null) {
        m.remove("regex_priority");
    }
    for key in [
        "name",
        "paths",
        "methods",
        "hosts",
        "strip_path",
        "preserve_host",
        "headers",
        "regex_priority",
    ] {
        if m.contains_key(key) {
            out.report.accepted(at, &name, key);
        }
    }
    hoist(m, at, "route", &name, hoisted, out);
}

/// Top-level `routes:` move under the service they name.
pub(super) fn attach_routes(
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

/// Kong 3.0 reads a 1.1/2.1 path as a regex unless it holds only
/// `[a-zA-Z0-9.\-_~/%]`; such paths get the `~` prefix 3.0 requires.
pub(super) fn migrate_2x_paths(root: &mut Mapping, version: &str, out: &mut Normalized) {
    let fix = |routes: &mut Vec<Value>, at: &str, out: &mut Normalized| {
        for (k, r) in routes.iter_mut().enumerate() {
            let Some(paths) = r.as_mapping_mut().and_then(|m| seq_mut(m, "paths")) else {
                continue;
            };
            let mut notes = Vec::new();
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
                    let mut how = format!("{s:?} is a regex in Kong 2.x: read as {migrated:?}");
                    if s.contains('%') {
                        // Kong 3.0 matches regexes on the normalized path, and
                        // so does tollgate: an escape of an unreserved character
                        // is decoded before matching.
                        how.push_str(
                            "; regexes now see the normalized path: write percent-escaped \
                             letters, digits and -._~ decoded",
                        );
                    }
                    notes.push((format!("paths[{j}]"), how));
                    *p = migrated.into();
                }
            }
            if !notes.is_empty() {
                let name = r
                    .as_mapping()
                    .and_then(|m| name_of(m, "name"))
                    .unwrap_or_default();
                out.report
                    .entity(&format!("{at}[{k}]"), &name)
                    .migrated
                    .extend(notes);
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
