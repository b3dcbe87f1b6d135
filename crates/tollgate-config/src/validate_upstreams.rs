//! Validation of `upstreams` and `targets`, and binding services to them.
//!
//! Kong's rule: a service whose host is an upstream's name is balanced across
//! its targets; any other host is a DNS name. So a host that is not an
//! upstream is not an error, only a warning when it looks like a misspelt one.

use crate::resolved::ServiceSpec;
use crate::upstreams::*;
use crate::validate_ctx::{index_names, Ctx};
use crate::validate_healthchecks::{check_healthchecks, is_token};
use std::collections::{HashMap, HashSet};

pub(crate) fn upstreams(
    ctx: &mut Ctx,
    raw: &[(usize, UpstreamEntry)],
    top_targets: &[(usize, TargetEntry)],
) -> Vec<UpstreamSpec> {
    let names = index_names(
        ctx,
        "upstreams",
        "name",
        raw.iter().map(|(i, u)| (*i, u.name.as_str())),
    );
    let mut ids: HashMap<String, usize> = HashMap::new();
    for (pos, (_, u)) in raw.iter().enumerate() {
        if let Some(id) = &u.id {
            ids.insert(id.clone(), pos);
        }
    }
    let mut out: Vec<UpstreamSpec> = raw
        .iter()
        .map(|(i, u)| upstream(ctx, &format!("upstreams[{i}]"), u))
        .collect();
    let mut seen: Vec<HashSet<String>> = out
        .iter()
        .map(|u| u.targets.iter().map(|t| t.target.clone()).collect())
        .collect();
    for (i, t) in top_targets {
        let at = format!("targets[{i}]");
        let Some(r) = &t.upstream else {
            ctx.err(
                format!("{at}.upstream"),
                "required for a top-level target: the name or id of its upstream",
            );
            continue;
        };
        let pos = match r {
            EntityRef::Plain(s) => names
                .get(s)
                .or_else(|| ids.get(s))
                .copied()
                .or_else(|| ctx.resolve(&names, s, "upstream", format!("{at}.upstream"))),
            EntityRef::Keyed { name: Some(n), .. } => {
                ctx.resolve(&names, n, "upstream", format!("{at}.upstream.name"))
            }
            EntityRef::Keyed { id: Some(id), .. } => match ids.get(id) {
                Some(p) => Some(*p),
                None => {
                    ctx.err(
                        format!("{at}.upstream.id"),
                        format!("upstream id {id:?} does not exist"),
                    );
                    None
                }
            },
            EntityRef::Keyed { .. } => {
                ctx.err(format!("{at}.upstream"), "needs a name or an id");
                None
            }
        };
        if let (Some(pos), Some(spec)) = (pos, target(ctx, &at, t)) {
            if !seen[pos].insert(spec.target.clone()) {
                ctx.err(
                    format!("{at}.target"),
                    format!(
                        "duplicate target {:?} in upstream {:?}",
                        spec.target, out[pos].name
                    ),
                );
            }
            out[pos].targets.push(spec);
        }
    }
    for ((i, _), u) in raw.iter().zip(&out) {
        if u.targets.len() > MAX_TARGETS {
            ctx.err(
                format!("upstreams[{i}].targets"),
                format!("{} targets; at most {MAX_TARGETS}", u.targets.len()),
            );
        }
    }
    out
}

fn upstream(ctx: &mut Ctx, at: &str, u: &UpstreamEntry) -> UpstreamSpec {
    let unsupported = |ctx: &mut Ctx, field: &str, what: &str| {
        ctx.err(format!("{at}.{field}"), format!("{what} is not supported"));
    };
    let hash_on = u.hash_on.unwrap_or(HashOn::None);
    let balance = match u.algorithm {
        Some(Algorithm::RoundRobin) => {
            if hash_on != HashOn::None {
                ctx.warn(
                    format!("{at}.hash_on"),
                    "ignored: algorithm is round-robin (set consistent-hashing to hash)",
                );
            }
            Balance::RoundRobin
        }
        Some(Algorithm::ConsistentHashing) => Balance::ConsistentHashing,
        // Kong: hashing input without an algorithm means consistent hashing.
        None if hash_on != HashOn::None => Balance::ConsistentHashing,
        None => Balance::RoundRobin,
        Some(Algorithm::LeastConnections) => {
            if hash_on != HashOn::None {
                ctx.warn(
                    format!("{at}.hash_on"),
                    "ignored: algorithm is least-connections (set consistent-hashing to hash)",
                );
            }
            Balance::LeastConnections
        }
        Some(Algorithm::Latency) => {
            unsupported(ctx, "algorithm", "latency");
            Balance::RoundRobin
        }
    };
    if let Some(s) = u.slots {
        if !(10..=65536).contains(&s) {
            ctx.err(format!("{at}.slots"), "must be between 10 and 65536");
        }
    }
    let cookie = hash_cookie(ctx, at, u);
    let hash_on_key = hash_key(
        ctx,
        at,
        "hash_on",
        hash_on,
        (u.hash_on_header.as_deref(), u.hash_on_query_arg.as_deref()),
        &cookie,
    );
    let fallback = u.hash_fallback.unwrap_or(HashOn::None);
    let hash_fallback = hash_key(
        ctx,
        at,
        "hash_fallback",
        fallback,
        (
            u.hash_fallback_header.as_deref(),
            u.hash_fallback_query_arg.as_deref(),
        ),
        &cookie,
    );
    let named = matches!(fallback, HashOn::Header | HashOn::QueryArg);
    if fallback != HashOn::None
        && (hash_on == HashOn::None || hash_on == HashOn::Cookie || (fallback == hash_on && !named))
    {
        ctx.err(
            format!("{at}.hash_fallback"),
            "must be none when hash_on is none or cookie, and differ from hash_on",
        );
    }
    if hash_on_key != HashKey::None && hash_on_key == hash_fallback {
        ctx.err(
            format!("{at}.hash_fallback_header"),
            "must name another header or argument than hash_on's",
        );
    }
    for (field, v) in [
        ("hash_on_uri_capture", &u.hash_on_uri_capture),
        ("hash_fallback_uri_capture", &u.hash_fallback_uri_capture),
    ] {
        if v.is_some() {
            unsupported(ctx, field, field);
        }
    }
    if u.client_certificate.is_some() {
        unsupported(
            ctx,
            "client_certificate",
            "a client certificate for targets",
        );
    }
    if u.use_srv_name == Some(true) {
        unsupported(ctx, "use_srv_name", "use_srv_name: true");
    }
    let healthchecks = u.healthchecks.clone().unwrap_or_default();
    check_healthchecks(ctx, &format!("{at}.healthchecks"), &healthchecks);
    if let Some(h) = &u.host_header {
        if h.is_empty() || h.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            ctx.err(format!("{at}.host_header"), "is not a valid host");
        }
    }
    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    for (k, t) in u.targets.iter().flatten().enumerate() {
        let tat = format!("{at}.targets[{k}]");
        if let Some(r) = &t.upstream {
            let same = match r {
                EntityRef::Plain(s) => *s == u.name || u.id.as_ref() == Some(s),
                EntityRef::Keyed { name, id } => {
                    name.as_ref() == Some(&u.name) || (id.is_some() && *id == u.id)
                }
            };
            if !same {
                ctx.err(
                    format!("{tat}.upstream"),
                    "a nested target belongs to the upstream it is nested in",
                );
            }
        }
        if let Some(spec) = target(ctx, &tat, t) {
            if !seen.insert(spec.target.clone()) {
                ctx.err(
                    format!("{tat}.target"),
                    format!("duplicate target {:?}", spec.target),
                );
            }
            targets.push(spec);
        }
    }
    UpstreamSpec {
        name: u.name.clone(),
        balance,
        hash_on: hash_on_key,
        hash_fallback,
        host_header: u.host_header.clone(),
        healthchecks,
        targets,
        tags: u.tags.clone().unwrap_or_default(),
    }
}

fn hash_key(
    ctx: &mut Ctx,
    at: &str,
    field: &str,
    on: HashOn,
    (header, query_arg): (Option<&str>, Option<&str>),
    cookie: &Option<HashKey>,
) -> HashKey {
    match on {
        HashOn::None => HashKey::None,
        HashOn::Cookie => match cookie {
            Some(c) => c.clone(),
            None => {
                ctx.err(
                    format!("{at}.hash_on_cookie"),
                    format!("required when {field} is cookie"),
                );
                HashKey::None
            }
        },
        HashOn::Consumer => HashKey::Consumer,
        HashOn::Ip => HashKey::Ip,
        HashOn::Path => HashKey::Path,
        HashOn::QueryArg => match query_arg {
            Some(a) if !a.is_empty() && !a.contains(['&', '=', '#']) => {
                HashKey::QueryArg(a.to_string())
            }
            Some(a) => {
                ctx.err(
                    format!("{at}.{field}_query_arg"),
                    format!("{a:?} is not a query argument name"),
                );
                HashKey::None
            }
            None => {
                ctx.err(
                    format!("{at}.{field}_query_arg"),
                    format!("required when {field} is query_arg"),
                );
                HashKey::None
            }
        },
        HashOn::Header => match header {
            Some(h) if is_token(h) => HashKey::Header(h.to_ascii_lowercase()),
            Some(h) => {
                ctx.err(
                    format!("{at}.{field}_header"),
                    format!("{h:?} is not a header name"),
                );
                HashKey::None
            }
            None => {
                ctx.err(
                    format!("{at}.{field}_header"),
                    format!("required when {field} is header"),
                );
                HashKey::None
            }
        },
        HashOn::UriCapture => {
            ctx.err(
                format!("{at}.{field}"),
                format!(
                    "{field}: uri_capture is not supported (none, consumer, ip, header, cookie, path and query_arg are)"
                ),
            );
            HashKey::None
        }
    }
}

/// `hash_on_cookie` with its path (Kong's default `/`), when set and valid.
fn hash_cookie(ctx: &mut Ctx, at: &str, u: &UpstreamEntry) -> Option<HashKey> {
    let name = u.hash_on_cookie.as_deref()?;
    if !is_token(name) {
        ctx.err(
            format!("{at}.hash_on_cookie"),
            format!("{name:?} is not a cookie name"),
        );
        return None;
    }
    let path = u.hash_on_cookie_path.as_deref().unwrap_or("/");
    if !path.starts_with('/') || path.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b';') {
        ctx.err(
            format!("{at}.hash_on_cookie_path"),
            "must be a path starting with '/'",
        );
        return None;
    }
    Some(HashKey::Cookie {
        name: name.to_string(),
        path: path.to_string(),
    })
}

fn target(ctx: &mut Ctx, at: &str, t: &TargetEntry) -> Option<TargetSpec> {
    let weight = t.weight.unwrap_or(DEFAULT_WEIGHT);
    if weight > 65535 {
        ctx.err(format!("{at}.weight"), "must be between 0 and 65535");
    }
    match parse_target(&t.target) {
        Ok((host, port)) => Some(TargetSpec {
            target: t.target.clone(),
            host,
            port,
            weight: weight.min(65535),
        }),
        Err(m) => {
            ctx.err(format!("{at}.target"), m);
            None
        }
    }
}

/// Binds each service whose host names an upstream; checks `retries`.
/// `raw_index[k]` is the position in the document of `services[k]`.
pub(crate) fn bind_services(
    ctx: &mut Ctx,
    services: &mut [ServiceSpec],
    raw_index: &[usize],
    upstreams: &[UpstreamSpec],
) {
    let by_name: HashMap<&str, usize> = upstreams
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.as_str(), i))
        .collect();
    let mut used = vec![false; upstreams.len()];
    for (k, s) in services.iter_mut().enumerate() {
        let at = format!("services[{}]", raw_index.get(k).copied().unwrap_or(k));
        if s.retries > MAX_RETRIES {
            ctx.warn(
                format!("{at}.retries"),
                format!(
                    "{} retries requested; at most {MAX_RETRIES} are made",
                    s.retries
                ),
            );
        }
        let host = s.upstream.host.as_str();
        if let Some(&u) = by_name.get(host) {
            s.balancer = Some(u);
            used[u] = true;
            if !upstreams[u].targets.iter().any(|t| t.weight > 0) {
                ctx.err(
                    format!("{at}.host"),
                    format!(
                        "upstream {host:?} has no target with a weight above 0: every request would fail"
                    ),
                );
            }
        } else if let Some(u) = upstreams.iter().find(|u| u.name.eq_ignore_ascii_case(host)) {
            ctx.warn(
                format!("{at}.host"),
                format!(
                    "{host:?} is not an upstream name (names are case-sensitive; did you mean {:?}?): it is resolved through DNS",
                    u.name
                ),
            );
        }
    }
    for (i, u) in upstreams.iter().enumerate() {
        if !used[i] && u.targets.is_empty() {
            ctx.warn(
                format!("upstreams[{i}]"),
                format!("upstream {:?} has no targets", u.name),
            );
        }
    }
}

#[cfg(test)]
#[path = "validate_upstreams_tests.rs"]
mod tests;
