//! Checks on typed plugin configs that serde cannot express, and the
//! dynamic-ordering graph (a cycle would make the chain order undefined).

use crate::plugins::PluginConfig;
use crate::resolved::PluginSpec;
use crate::validate_ctx::Ctx;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) fn check(
    ctx: &mut Ctx,
    at: &str,
    config: &PluginConfig,
    consumers: &HashMap<String, usize>,
) {
    match config {
        PluginConfig::KeyAuth(c) => {
            if c.key_names.is_empty() || c.key_names.iter().any(|k| k.trim().is_empty()) {
                ctx.err(
                    format!("{at}.config.key_names"),
                    "needs at least one non-empty name",
                );
            }
            if !c.key_in_header && !c.key_in_query {
                ctx.err(
                    format!("{at}.config"),
                    "key_in_header and key_in_query are both false: no key could ever be found",
                );
            }
            if let Some(a) = &c.anonymous {
                ctx.resolve(consumers, a, "consumer", format!("{at}.config.anonymous"));
            }
            if c.key_in_body {
                ctx.err(
                    format!("{at}.config.key_in_body"),
                    "keys in the request body are not supported; only false is accepted",
                );
            }
        }
        PluginConfig::Ace(c) => {
            for (field, how) in &c.legacy {
                ctx.warn(
                    format!("{at}.config.{field}"),
                    format!("earlier ACE config shape, {how}"),
                );
            }
            if let Some(a) = &c.anonymous {
                ctx.resolve(consumers, a, "consumer", format!("{at}.config.anonymous"));
            }
            if let Some(rl) = &c.rate_limiting {
                if let Some(redis) = &rl.redis {
                    // Located where the user wrote it, in either shape.
                    let flat = c.legacy.iter().any(|(f, _)| *f == "redis");
                    let path = if flat { "redis" } else { "rate_limiting.redis" };
                    crate::redis_fields::check(ctx, &format!("{at}.config.{path}"), redis);
                    check_redis_topology(ctx, &format!("{at}.config.{path}"), redis);
                }
                let lease = rl.strategy == crate::plugins::Strategy::Lease;
                if lease && rl.sync_rate.is_some() {
                    ctx.warn(
                        format!("{at}.config.rate_limiting.sync_rate"),
                        "ignored with strategy: lease",
                    );
                }
                match rl.sync_rate {
                    _ if lease => {}
                    None if rl.redis.is_some() => ctx.warn(
                        format!("{at}.config.rate_limiting.redis"),
                        "ignored without sync_rate: counters are node-local",
                    ),
                    None => {}
                    Some(r) if r == 0.0 || (r >= 0.02 && r.is_finite()) => {}
                    Some(r) => ctx.err(
                        format!("{at}.config.rate_limiting.sync_rate"),
                        format!(
                            "{r} is invalid: omit it (local), 0 (synchronous) or >= 0.02 seconds"
                        ),
                    ),
                }
            }
        }
        PluginConfig::RateLimiting(c) => {
            if let Some(r) = &c.redis {
                check_redis_topology(ctx, &format!("{at}.config.redis"), r);
            }
            let windows = [
                ("second", c.second),
                ("minute", c.minute),
                ("hour", c.hour),
                ("day", c.day),
                ("month", c.month),
                ("year", c.year),
            ];
            if windows.iter().all(|(_, v)| v.is_none()) {
                ctx.err(
                    format!("{at}.config"),
                    "set at least one of second, minute, hour, day, month, year",
                );
            }
            crate::validate_plugins_kong::rate_limiting(ctx, at, c);
            let mut prev: Option<(&str, u64)> = None;
            for (name, v) in windows {
                let Some(v) = v else { continue };
                if v == 0 {
                    ctx.err(format!("{at}.config.{name}"), "must be at least 1");
                }
                if let Some((pname, pv)) = prev {
                    if v < pv {
                        ctx.err(
                            format!("{at}.config.{name}"),
                            format!("limit per {name} ({v}) is lower than per {pname} ({pv})"),
                        );
                    }
                }
                prev = Some((name, v));
            }
            if let Some(redis) = &c.redis {
                crate::redis_fields::check(ctx, &format!("{at}.config.redis"), redis);
            }
            if !(400..=599).contains(&c.error_code) {
                ctx.err(
                    format!("{at}.config.error_code"),
                    "must be an HTTP error status (400-599)",
                );
            }
        }
        PluginConfig::RequestTermination(c) => {
            if !(100..=599).contains(&c.status_code) {
                ctx.err(
                    format!("{at}.config.status_code"),
                    "must be an HTTP status (100-599)",
                );
            }
            if c.message.is_some() && c.body.is_some() {
                ctx.err(format!("{at}.config"), "set message or body, not both");
            }
            if c.content_type.is_some() && c.body.is_none() {
                ctx.err(
                    format!("{at}.config.content_type"),
                    "only applies with body",
                );
            }
            if c.echo {
                ctx.err(
                    format!("{at}.config.echo"),
                    "echo is not supported; only false is accepted",
                );
            }
            if c.trigger.is_some() {
                ctx.err(format!("{at}.config.trigger"), "trigger is not supported");
            }
        }
        PluginConfig::BasicAuth(_)
        | PluginConfig::Acl(_)
        | PluginConfig::Cors(_)
        | PluginConfig::Prometheus(_) => {
            crate::validate_plugins_kong::check(ctx, at, config, consumers)
        }
    }
}

/// Reports a cycle in the explicit `ordering` edges.
pub(crate) fn check_ordering_cycles(ctx: &mut Ctx, plugins: &[PluginSpec]) {
    // Edge a -> b: a runs before b.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in plugins {
        let me = p.config.name();
        for b in &p.before {
            edges.entry(me).or_default().insert(b.as_str());
        }
        for a in &p.after {
            edges.entry(a.as_str()).or_default().insert(me);
        }
    }
    if let Some(cycle) = find_cycle(&edges) {
        let at = plugins
            .iter()
            .find(|p| {
                cycle.contains(&p.config.name()) && (!p.before.is_empty() || !p.after.is_empty())
            })
            .map(|p| format!("plugins[{}].ordering", p.index))
            .unwrap_or_else(|| "plugins".to_string());
        ctx.err(
            at,
            format!("ordering forms a cycle: {}", cycle.join(" -> ")),
        );
    }
}

fn find_cycle<'a>(edges: &BTreeMap<&'a str, BTreeSet<&'a str>>) -> Option<Vec<&'a str>> {
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| *s == n).unwrap_or(0);
                let mut c = stack[start..].to_vec();
                c.push(n);
                return Some(c);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        if let Some(next) = edges.get(n) {
            for m in next {
                if let Some(c) = visit(m, edges, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        let mut stack = Vec::new();
        if let Some(c) = visit(n, edges, &mut state, &mut stack) {
            return Some(c);
        }
    }
    None
}

/// Sentinel and Cluster fields must describe one topology that counters can
/// write to.
fn check_redis_topology(ctx: &mut Ctx, at: &str, r: &crate::plugins::RedisConfig) {
    let sentinel = r.sentinel_master.is_some() || r.sentinel_nodes.is_some();
    if sentinel
        && (r.sentinel_master.is_none() || r.sentinel_nodes.as_ref().is_none_or(Vec::is_empty))
    {
        ctx.err(
            format!("{at}.sentinel_nodes"),
            "Sentinel needs both sentinel_master and at least one of sentinel_nodes",
        );
    }
    if let Some(role) = r.sentinel_role.as_deref() {
        if role != "master" && role != "any" {
            ctx.err(
                format!("{at}.sentinel_role"),
                format!("{role:?}: counters are written, so only master (or any) can hold them"),
            );
        }
    }
    if r.cluster_nodes.as_ref().is_some_and(Vec::is_empty) {
        ctx.err(format!("{at}.cluster_nodes"), "must list at least one node");
    }
    if r.cluster_nodes.is_some() && r.database != 0 {
        ctx.err(
            format!("{at}.database"),
            "a Redis Cluster has only database 0",
        );
    }
    if sentinel && r.cluster_nodes.is_some() {
        ctx.err(
            format!("{at}.cluster_nodes"),
            "Sentinel and Cluster fields are exclusive",
        );
    }
}
