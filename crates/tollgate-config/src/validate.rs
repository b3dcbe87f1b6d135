//! Semantic validation: names, references, routes, plugins. Every
//! problem is collected with its location; a snapshot with any error is
//! refused whole. APIs, packages and applications are in [`crate::validate_access`].

use crate::digest::hash_bytes;
use crate::model;
use crate::operations::{check_host, check_method};
use crate::plugins::{PluginConfig, KNOWN_PLUGINS};
use crate::raw::RawSnapshot;
use crate::resolved::*;
use crate::validate_ctx::{index_names, Ctx};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub(crate) fn validate(
    raw: RawSnapshot,
    document: &[u8],
    document_hash: Option<&str>,
    base_dir: Option<&Path>,
    errors: Vec<ConfigError>,
) -> Result<Snapshot, ConfigErrors> {
    let mut ctx = Ctx {
        errors,
        warnings: Vec::new(),
        base_dir,
        broken: raw.broken_names.clone(),
        spec_bytes: Vec::new(),
    };
    let mut services = services(&mut ctx, &raw.services);
    let upstreams = crate::validate_upstreams::upstreams(&mut ctx, &raw.upstreams, &raw.targets);
    let raw_index: Vec<usize> = raw.services.iter().map(|(i, _)| *i).collect();
    crate::validate_upstreams::bind_services(&mut ctx, &mut services, &raw_index, &upstreams);
    crate::validate_tls::upstream_tls(&mut ctx, &raw, &mut services);
    let certificates = crate::validate_tls::certificates(&mut ctx, &raw);
    let consumers = consumers(&mut ctx, &raw.consumers);
    let consumer_names = index_names(
        &mut ctx,
        "consumers",
        "username",
        raw.consumers.iter().map(|(i, c)| (*i, c.username.as_str())),
    );
    let plugins = plugins(&mut ctx, &raw, &services, &consumer_names);
    let access = crate::validate_access::validate(&mut ctx, &raw, &consumer_names);
    crate::validate_fail_closed::check(&mut ctx, &services, &access.apis, &plugins, &consumers);
    crate::hints::strip_path(&mut ctx, &services, &access.apis);
    if !ctx.errors.is_empty() {
        return Err(ConfigErrors(ctx.errors));
    }
    // Spec files read from disk are part of what the hash covers.
    let hash = match document_hash {
        Some(h) if ctx.spec_bytes.is_empty() => h.to_string(),
        _ => {
            let mut parts: Vec<&[u8]> = vec![document];
            parts.extend(ctx.spec_bytes.iter().map(Vec::as_slice));
            hash_bytes(&parts)
        }
    };
    Ok(Snapshot {
        services,
        consumers,
        plugins,
        apis: access.apis,
        auth_strategies: access.strategies,
        packages: access.packages,
        applications: access.applications,
        applications_key: raw.applications_key,
        applications_unchanged: raw.applications_unchanged,
        tags: upstreams
            .iter()
            .filter(|u| !u.tags.is_empty())
            .map(|u| TaggedEntity {
                kind: "upstreams".into(),
                label: u.name.clone(),
                tags: u.tags.clone(),
            })
            .collect(),
        upstreams,
        certificates,
        hash,
        warnings: ctx.warnings,
    })
}

fn services(ctx: &mut Ctx, raw: &[(usize, model::Service)]) -> Vec<ServiceSpec> {
    index_names(
        ctx,
        "services",
        "name",
        raw.iter().map(|(i, s)| (*i, s.name.as_str())),
    );
    let mut route_names: HashMap<String, ()> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw {
        let at = format!("services[{i}]");
        let upstream = match crate::service_url::parse_upstream(&s.url) {
            Ok(u) => u,
            Err(m) => {
                ctx.err(format!("{at}.url"), m);
                Upstream {
                    tls: false,
                    host: String::new(),
                    port: 0,
                    base_path: String::new(),
                }
            }
        };
        for (field, ms) in [
            ("connect_timeout", s.connect_timeout),
            ("read_timeout", s.read_timeout),
            ("write_timeout", s.write_timeout),
        ] {
            if ms == 0 {
                ctx.err(format!("{at}.{field}"), "must be at least 1 (milliseconds)");
            }
        }
        let mut routes = Vec::with_capacity(s.routes.len());
        for (j, r) in s.routes.iter().enumerate() {
            let rat = format!("{at}.routes[{j}]");
            if r.name.trim().is_empty() {
                ctx.err(format!("{rat}.name"), "must not be empty");
            } else if route_names.insert(r.name.clone(), ()).is_some() {
                ctx.err(
                    format!("{rat}.name"),
                    format!("duplicate route name {:?}", r.name),
                );
            }
            routes.push(route(ctx, &rat, r));
        }
        out.push(ServiceSpec {
            name: s.name.clone(),
            upstream,
            routes,
            connect_timeout_ms: s.connect_timeout,
            read_timeout_ms: s.read_timeout,
            write_timeout_ms: s.write_timeout,
            balancer: None,
            retries: s.retries,
            tls: UpstreamTls::default(),
        });
    }
    out
}

fn route(ctx: &mut Ctx, at: &str, r: &model::Route) -> RouteSpec {
    if r.paths.is_empty() && r.methods.is_empty() && r.hosts.is_empty() && r.headers.is_empty() {
        ctx.err(
            at,
            "a route needs at least one of paths, methods, hosts or headers",
        );
    }
    crate::route_match::check_paths(ctx, at, r);
    let headers = crate::route_match::check_headers(ctx, at, r);
    let mut methods = Vec::new();
    for (k, m) in r.methods.iter().enumerate() {
        match check_method(m) {
            Ok(m) => methods.push(m),
            Err(e) => ctx.err(format!("{at}.methods[{k}]"), e),
        }
    }
    if r.escaped_slashes == model::EscapedSlashes::Keep {
        ctx.warn(
            format!("{at}.escaped_slashes"),
            format!(
                "route {:?} forwards %2F and %5C encoded: an upstream that decodes them \
                 (Flask, Django, Starlette, Go < 1.22) runs a different path than the one \
                 ACE matched",
                r.name
            ),
        );
    }
    let mut hosts = Vec::new();
    for (k, h) in r.hosts.iter().enumerate() {
        match check_host(h, true) {
            Ok(h) => hosts.push(h),
            Err(e) => ctx.err(format!("{at}.hosts[{k}]"), e),
        }
    }
    RouteSpec {
        name: r.name.clone(),
        paths: r.paths.clone(),
        methods,
        hosts,
        strip_path: r.strip_path,
        preserve_host: r.preserve_host,
        escaped_slashes: r.escaped_slashes,
        path_parameters: r.path_parameters,
        headers_with_underscores: r.headers_with_underscores,
        regex_priority: r.regex_priority,
        headers,
    }
}

fn consumers(ctx: &mut Ctx, raw: &[(usize, model::Consumer)]) -> Vec<ConsumerSpec> {
    let mut keys: HashSet<&str> = HashSet::new();
    let mut basic_names: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw {
        for (k, cred) in c.keyauth_credentials.iter().enumerate() {
            let at = format!("consumers[{i}].keyauth_credentials[{k}].key");
            if cred.key.is_empty() {
                ctx.err(at, "must not be empty");
            } else if !keys.insert(cred.key.as_str()) {
                ctx.err(at, "this key is already used by another credential");
            }
        }
        let mut basic = Vec::with_capacity(c.basicauth_credentials.len());
        for (k, cred) in c.basicauth_credentials.iter().enumerate() {
            let at = format!("consumers[{i}].basicauth_credentials[{k}]");
            if cred.username.is_empty() {
                ctx.err(format!("{at}.username"), "must not be empty");
            } else if !basic_names.insert(cred.username.as_str()) {
                ctx.err(
                    format!("{at}.username"),
                    format!(
                        "basic-auth username {:?} is already used by another credential",
                        cred.username
                    ),
                );
            }
            match crate::basic_auth::basic_secret(cred) {
                Ok(secret) => basic.push(BasicCredential {
                    username: cred.username.clone(),
                    secret,
                }),
                Err(m) => ctx.err(at, m),
            }
        }
        let mut groups = Vec::with_capacity(c.acls.len());
        for (k, a) in c.acls.iter().enumerate() {
            if a.group.trim().is_empty() {
                ctx.err(
                    format!("consumers[{i}].acls[{k}].group"),
                    "must not be empty",
                );
            } else if !groups.contains(&a.group) {
                groups.push(a.group.clone());
            }
        }
        out.push(ConsumerSpec {
            username: c.username.clone(),
            custom_id: c.custom_id.clone(),
            keys: c
                .keyauth_credentials
                .iter()
                .map(|k| k.key.clone())
                .collect(),
            basic,
            groups,
        });
    }
    out
}

/// A plugin name with its scope (service, route, consumer): configured once at most.
type PluginScope = (String, Option<usize>, Option<RouteRef>, Option<usize>);

fn plugins(
    ctx: &mut Ctx,
    raw: &RawSnapshot,
    services: &[ServiceSpec],
    consumer_names: &HashMap<String, usize>,
) -> Vec<PluginSpec> {
    let service_names: HashMap<String, usize> = services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let mut route_names: HashMap<String, usize> = HashMap::new();
    let mut route_refs = Vec::new();
    for (si, s) in services.iter().enumerate() {
        for (ri, r) in s.routes.iter().enumerate() {
            route_names.insert(r.name.clone(), route_refs.len());
            route_refs.push(RouteRef {
                service: si,
                route: ri,
            });
        }
    }
    let mut seen: HashSet<PluginScope> = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in &raw.plugins {
        let at = format!("plugins[{i}]");
        if !p.enabled && !KNOWN_PLUGINS.contains(&p.name.as_str()) {
            ctx.warn(
                at,
                format!("plugin {:?} is disabled (enabled: false): skipped", p.name),
            );
            continue;
        }
        let config = match PluginConfig::parse(&p.name, p.config.as_ref()) {
            Ok(c) => Some(c),
            Err((path, msg)) if !KNOWN_PLUGINS.contains(&p.name.as_str()) => {
                let _ = path;
                ctx.err(format!("{at}.name"), msg);
                None
            }
            Err((path, msg)) => {
                let loc = if path.is_empty() {
                    format!("{at}.config")
                } else {
                    format!("{at}.config.{path}")
                };
                ctx.err(loc, msg);
                None
            }
        };
        let service = p
            .service
            .as_ref()
            .and_then(|n| ctx.resolve(&service_names, n, "service", format!("{at}.service")));
        let route = p.route.as_ref().and_then(|n| {
            ctx.resolve(&route_names, n, "route", format!("{at}.route"))
                .map(|k| route_refs[k])
        });
        let consumer = p
            .consumer
            .as_ref()
            .and_then(|n| ctx.resolve(consumer_names, n, "consumer", format!("{at}.consumer")));
        if let (Some(s), Some(r)) = (service, route) {
            if r.service != s {
                ctx.err(
                    format!("{at}.route"),
                    "route does not belong to the plugin's service",
                );
            }
        }
        let ordering = p.ordering.clone().unwrap_or_default();
        let before = ordering.before.map(|l| l.access).unwrap_or_default();
        let after = ordering.after.map(|l| l.access).unwrap_or_default();
        for (dir, list) in [("before", &before), ("after", &after)] {
            for (k, name) in list.iter().enumerate() {
                if !KNOWN_PLUGINS.contains(&name.as_str()) {
                    ctx.err(
                        format!("{at}.ordering.{dir}.access[{k}]"),
                        format!("unknown plugin {name:?}"),
                    );
                } else if name == &p.name {
                    ctx.err(
                        format!("{at}.ordering.{dir}.access[{k}]"),
                        "a plugin cannot be ordered relative to itself",
                    );
                }
            }
        }
        let Some(config) = config else { continue };
        crate::validate_plugins::check(ctx, &at, &config, consumer_names);
        if !seen.insert((p.name.clone(), service, route, consumer)) {
            ctx.err(
                at,
                format!(
                    "plugin {:?} is configured twice with the same scope",
                    p.name
                ),
            );
            continue;
        }
        if p.enabled {
            out.push(PluginSpec {
                config,
                service,
                route,
                consumer,
                before,
                after,
                index: *i,
            });
        }
    }
    crate::validate_plugins::check_ordering_cycles(ctx, &out);
    out
}
