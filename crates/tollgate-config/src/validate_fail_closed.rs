//! Checks for configurations that would fail open: settings that are each
//! valid on their own but together let a request skip access control.
//!
//! - An operation scoped to a host, carried by a route that also accepts other
//!   hosts: under those hosts the operation does not match, so ACE lets the
//!   request through (`if_present`) to the very same upstream handler.
//! - `key-auth` or `ace` scoped to a consumer: the consumer is only known once
//!   they ran, so they would authenticate nobody (Kong refuses this too).
//! - An `anonymous` consumer that no plugin is scoped to: unauthenticated
//!   requests reach the upstream as that consumer. Legitimate, so a warning.

use crate::operations::canonical_key;
use crate::plugins::PluginConfig;
use crate::resolved::{ApiSpec, ConsumerSpec, PluginSpec, RouteSpec, ServiceSpec};
use crate::validate_ctx::Ctx;
use std::collections::HashSet;

/// A concrete request path for a template (`{id}` → `x`), for prefix checks.
pub fn sample_path(template: &str) -> String {
    let s: Vec<String> = template
        .split('/')
        .map(|seg| match (seg.find('{'), seg.find('}')) {
            (Some(o), Some(c)) if o < c => format!("{}x{}", &seg[..o], &seg[c + 1..]),
            _ if seg == "*" => "x".to_string(),
            _ => seg.to_string(),
        })
        .collect();
    let s = s.join("/");
    if s.is_empty() {
        "/".to_string()
    } else {
        s
    }
}

/// Whether `route` carries `method path` for some host and some headers
/// (paths: Kong prefixes or `~` regexes).
fn carries(route: &RouteSpec, method: &str, path: &str) -> bool {
    let path_ok = route.paths.is_empty()
        || route.paths.iter().any(|p| {
            if crate::route_match::is_regex_path(p) {
                // Validation only: compiling again here keeps RouteSpec plain data.
                crate::route_match::path_regex(p).is_ok_and(|r| r.is_match(path.as_bytes()))
            } else {
                path.starts_with(p.as_str())
            }
        });
    let method_ok = route.methods.is_empty()
        || route.methods.iter().any(|m| m == method)
        || (method == "GET" && route.methods.iter().any(|m| m == "HEAD"));
    path_ok && method_ok
}

pub(crate) fn check(
    ctx: &mut Ctx,
    services: &[ServiceSpec],
    apis: &[ApiSpec],
    plugins: &[PluginSpec],
    consumers: &[ConsumerSpec],
) {
    host_scoped_operations(ctx, services, apis);
    auth_scopes(ctx, plugins, consumers);
}

fn host_scoped_operations(ctx: &mut Ctx, services: &[ServiceSpec], apis: &[ApiSpec]) {
    // (host or "", method, shape) of every operation.
    let mut shapes: HashSet<(&str, &str, String)> = HashSet::new();
    for op in apis.iter().flat_map(|a| &a.operations) {
        let host = op.host.as_deref().unwrap_or("");
        shapes.insert((host, &op.method, canonical_key(&op.path)));
    }
    let mut reported: HashSet<(usize, usize, String)> = HashSet::new();
    for (ai, api) in apis.iter().enumerate() {
        for op in &api.operations {
            let Some(host) = op.host.as_deref() else {
                continue;
            };
            let shape = canonical_key(&op.path);
            if shapes.contains(&("", op.method.as_str(), shape.clone())) {
                // Other hosts match the host-less twin and are checked as it.
                continue;
            }
            let sample = sample_path(&op.path);
            for (si, svc) in services.iter().enumerate() {
                for (ri, route) in svc.routes.iter().enumerate() {
                    if !carries(route, &op.method, &sample) {
                        continue;
                    }
                    let open = if route.hosts.is_empty() {
                        Some("any host".to_string())
                    } else {
                        route
                            .hosts
                            .iter()
                            .find(|h| {
                                h.starts_with('*')
                                    || !shapes.contains(&(
                                        h.as_str(),
                                        op.method.as_str(),
                                        shape.clone(),
                                    ))
                            })
                            .map(|h| format!("host {h:?}"))
                    };
                    let Some(open) = open else { continue };
                    if !reported.insert((si, ri, format!("{} {} {host}", op.method, shape))) {
                        continue;
                    }
                    ctx.err(
                        format!("apis[{ai}] ({})", api.name),
                        format!(
                            "operation {} {} is scoped to host {host:?}, but route {:?} \
                             (services[{si}].routes[{ri}]) also accepts {open}, under which the \
                             operation would not match and ACE would not apply; restrict the \
                             route's hosts to the operation's, or add the operation without a host",
                            op.method, op.path, route.name
                        ),
                    );
                }
            }
        }
    }
}

fn auth_scopes(ctx: &mut Ctx, plugins: &[PluginSpec], consumers: &[ConsumerSpec]) {
    let scoped: HashSet<usize> = plugins.iter().filter_map(|p| p.consumer).collect();
    let mut warned: HashSet<usize> = HashSet::new();
    for p in plugins {
        let at = format!("plugins[{}]", p.index);
        let anonymous = match &p.config {
            PluginConfig::KeyAuth(c) => c.anonymous.as_deref(),
            PluginConfig::Ace(c) => c.anonymous.as_deref(),
            PluginConfig::BasicAuth(c) => c.anonymous.as_deref(),
            _ => continue,
        };
        if p.consumer.is_some() {
            ctx.err(
                format!("{at}.consumer"),
                format!(
                    "{} cannot be scoped to a consumer: the consumer is only known after it \
                     ran, so it would authenticate nobody and every other caller would pass",
                    p.config.name()
                ),
            );
        }
        let Some(name) = anonymous else { continue };
        let Some(ci) = consumers.iter().position(|c| c.username == name) else {
            continue;
        };
        if !scoped.contains(&ci) && warned.insert(ci) {
            ctx.warn(
                format!("{at}.config.anonymous"),
                format!(
                    "no plugin is scoped to the anonymous consumer {name:?}: requests without \
                     a valid key reach the upstream as {name:?}; scope e.g. request-termination \
                     or rate-limiting to it if that is not intended"
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    const BASE: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [ROUTE]
consumers: [{ username: anon }]
apis:
  - name: a
    operations: [OPS]
plugins: [PLUGINS]
"#;

    fn check(route: &str, ops: &str, plugins: &str) -> (Vec<String>, Vec<String>) {
        let yaml = BASE
            .replace("ROUTE", route)
            .replace("OPS", ops)
            .replace("PLUGINS", plugins);
        match crate::load_bytes(yaml.as_bytes(), None) {
            Ok(s) => (vec![], s.warnings.iter().map(|w| w.to_string()).collect()),
            Err(e) => (e.0.iter().map(|w| w.to_string()).collect(), vec![]),
        }
    }

    #[test]
    fn host_scoped_operations_need_a_route_restricted_to_their_host() {
        let op = "{ method: GET, path: /f, host: api.example.com }";
        let twin = "{ method: GET, path: /f, id: any-host }";
        let table: &[(&str, &str, bool)] = &[
            ("{ name: r, paths: [/f] }", op, true),
            (
                "{ name: r, paths: [/f], hosts: [api.example.com] }",
                op,
                false,
            ),
            (
                "{ name: r, paths: [/f], hosts: [api.example.com, other.com] }",
                op,
                true,
            ),
            (
                "{ name: r, paths: [/f], hosts: ['*.example.com'] }",
                op,
                true,
            ),
            ("{ name: r, paths: [/other] }", op, false),
            ("{ name: r, paths: [/f], methods: [POST] }", op, false),
        ];
        for (route, ops, want_err) in table {
            let (errors, _) = check(route, ops, "");
            assert_eq!(!errors.is_empty(), *want_err, "{route}: {errors:?}");
            if *want_err {
                assert!(errors[0].contains("scoped to host"), "{errors:?}");
            }
        }
        let (errors, _) = check("{ name: r, paths: [/f] }", &format!("{op}, {twin}"), "");
        assert!(
            errors.is_empty(),
            "a host-less twin covers other hosts: {errors:?}"
        );
    }

    #[test]
    fn auth_plugins_cannot_be_consumer_scoped() {
        for name in ["key-auth", "ace"] {
            let (errors, _) = check(
                "{ name: r, paths: [/] }",
                "{ method: GET, path: /z }",
                &format!("{{ name: {name}, consumer: anon }}"),
            );
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("cannot be scoped to a consumer")),
                "{name}: {errors:?}"
            );
        }
        let (errors, _) = check(
            "{ name: r, paths: [/] }",
            "{ method: GET, path: /z }",
            "{ name: rate-limiting, consumer: anon, config: { second: 1 } }",
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn anonymous_without_a_deciding_plugin_is_a_warning() {
        let (_, warnings) = check(
            "{ name: r, paths: [/] }",
            "{ method: GET, path: /z }",
            "{ name: ace, config: { anonymous: anon } }",
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("no plugin is scoped to the anonymous")),
            "{warnings:?}"
        );
        let (_, warnings) = check(
            "{ name: r, paths: [/] }",
            "{ method: GET, path: /z }",
            "{ name: ace, config: { anonymous: anon } }, { name: request-termination, consumer: anon }",
        );
        assert!(
            !warnings.iter().any(|w| w.contains("anonymous")),
            "{warnings:?}"
        );
    }
}
