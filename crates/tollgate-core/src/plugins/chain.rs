//! Per-route plugin chains, resolved when a snapshot compiles.
//!
//! For each route, every plugin name gets one entry: the most specific config
//! by Kong's precedence, with consumer-scoped variants kept beside it and
//! picked once the consumer is known. Entries are ordered by priority, then
//! dynamic `ordering` constraints are applied by a stable topological sort.

use super::PluginInstance;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tollgate_config::{PluginSpec, RouteRef};

/// One plugin in a chain.
#[derive(Debug, Clone)]
pub struct ChainEntry {
    pub name: &'static str,
    default: Option<Arc<PluginInstance>>,
    by_consumer: Vec<(u32, Arc<PluginInstance>)>,
}

impl ChainEntry {
    /// The config that applies for `consumer` (the default when none is specific).
    pub fn pick(&self, consumer: Option<u32>) -> Option<&PluginInstance> {
        if let Some(c) = consumer {
            if let Some((_, p)) = self.by_consumer.iter().find(|(k, _)| *k == c) {
                return Some(p);
            }
        }
        self.default.as_deref()
    }
}

/// The plugins of one route, in execution order.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    entries: Vec<ChainEntry>,
}

impl Chain {
    pub fn entries(&self) -> &[ChainEntry] {
        &self.entries
    }
}

/// Kong's precedence: lower is more specific.
fn rank(p: &PluginSpec) -> u8 {
    match (p.consumer.is_some(), p.route.is_some(), p.service.is_some()) {
        (true, true, true) => 0,
        (true, true, false) => 1,
        (true, false, true) => 2,
        (false, true, true) => 3,
        (true, false, false) => 4,
        (false, true, false) => 5,
        (false, false, true) => 6,
        (false, false, false) => 7,
    }
}

fn applies(p: &PluginSpec, route: RouteRef) -> bool {
    p.route.is_none_or(|r| r == route) && p.service.is_none_or(|s| s == route.service)
}

/// Builds the chain of every route; `instances[i]` is the compiled `specs[i]`.
pub fn resolve_chains(
    specs: &[PluginSpec],
    instances: &[Arc<PluginInstance>],
    routes: &[RouteRef],
) -> Vec<Chain> {
    routes
        .iter()
        .map(|&route| resolve_one(specs, instances, route))
        .collect()
}

fn resolve_one(specs: &[PluginSpec], instances: &[Arc<PluginInstance>], route: RouteRef) -> Chain {
    let mut by_name: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for (i, p) in specs.iter().enumerate() {
        if applies(p, route) {
            by_name.entry(p.config.name()).or_default().push(i);
        }
    }
    let mut entries = Vec::new();
    let mut edges: BTreeSet<(&'static str, &'static str)> = BTreeSet::new();
    for (name, mut cands) in by_name {
        cands.sort_by_key(|&i| rank(&specs[i]));
        let default = cands
            .iter()
            .find(|&&i| specs[i].consumer.is_none())
            .map(|&i| instances[i].clone());
        let mut by_consumer: Vec<(u32, Arc<PluginInstance>)> = Vec::new();
        let consumers: BTreeSet<usize> = cands.iter().filter_map(|&i| specs[i].consumer).collect();
        for c in consumers {
            // Best of: configs for this consumer, and consumer-less ones.
            if let Some(&best) = cands
                .iter()
                .find(|&&i| specs[i].consumer.is_none_or(|x| x == c))
            {
                by_consumer.push((c as u32, instances[best].clone()));
            }
        }
        for &i in &cands {
            for b in &specs[i].before {
                if let Some(b) = tollgate_config::plugins::KNOWN_PLUGINS
                    .iter()
                    .find(|k| **k == b)
                {
                    edges.insert((name, b));
                }
            }
            for a in &specs[i].after {
                if let Some(a) = tollgate_config::plugins::KNOWN_PLUGINS
                    .iter()
                    .find(|k| **k == a)
                {
                    edges.insert((a, name));
                }
            }
        }
        entries.push(ChainEntry {
            name,
            default,
            by_consumer,
        });
    }
    Chain {
        entries: order(entries, &edges),
    }
}

/// Priority order (higher first), adjusted so every `a -> b` edge between
/// present plugins puts a before b. Validation has refused cycles; should one
/// slip through, the remaining plugins keep their priority order.
fn order(
    mut entries: Vec<ChainEntry>,
    edges: &BTreeSet<(&'static str, &'static str)>,
) -> Vec<ChainEntry> {
    let prio = |e: &ChainEntry| tollgate_config::plugins::priority_of(e.name).unwrap_or(0);
    entries.sort_by(|a, b| prio(b).cmp(&prio(a)).then(a.name.cmp(b.name)));
    let present: BTreeSet<&str> = entries.iter().map(|e| e.name).collect();
    let mut out = Vec::with_capacity(entries.len());
    while !entries.is_empty() {
        let ready = entries.iter().position(|e| {
            !edges.iter().any(|(a, b)| {
                *b == e.name && present.contains(a) && entries.iter().any(|x| x.name == *a)
            })
        });
        out.push(entries.remove(ready.unwrap_or(0)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile;

    fn chain_names(yaml: &str, route: usize, consumer: Option<u32>) -> Vec<String> {
        let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
        let c = compile(&s).expect("compiles");
        c.chains[route]
            .entries()
            .iter()
            .filter_map(|e| {
                e.pick(consumer)
                    .map(|p| format!("{}:{:?}", e.name, short(p)))
            })
            .collect()
    }

    fn short(p: &PluginInstance) -> String {
        match p {
            PluginInstance::RequestTermination(t) => t.status.to_string(),
            other => other.name().to_string(),
        }
    }

    const BASE: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{ name: r1, paths: [/a] }, { name: r2, paths: [/b] }]
consumers: [{ username: anon }, { username: vip }]
"#;

    #[test]
    fn priority_order() {
        let yaml = format!(
            "{BASE}plugins:\n  - {{ name: request-termination, config: {{ status_code: 418 }} }}\n  - {{ name: rate-limiting, config: {{ second: 5 }} }}\n  - {{ name: ace }}\n  - {{ name: key-auth }}\n"
        );
        let names: Vec<String> = chain_names(&yaml, 0, None);
        assert_eq!(
            names,
            [
                "key-auth:\"key-auth\"",
                "ace:\"ace\"",
                "rate-limiting:\"rate-limiting\"",
                "request-termination:\"418\""
            ]
        );
    }

    #[test]
    fn dynamic_ordering_moves_rate_limiting_before_ace() {
        let yaml = format!(
            "{BASE}plugins:\n  - {{ name: ace }}\n  - {{ name: rate-limiting, config: {{ second: 5 }}, ordering: {{ before: {{ access: [ace] }} }} }}\n"
        );
        let names = chain_names(&yaml, 0, None);
        assert_eq!(names[0], "rate-limiting:\"rate-limiting\"");
        assert_eq!(names[1], "ace:\"ace\"");
    }

    #[test]
    fn scope_precedence() {
        let yaml = format!(
            "{BASE}plugins:\n  - {{ name: request-termination, config: {{ status_code: 401 }} }}\n  - {{ name: request-termination, service: s, config: {{ status_code: 402 }} }}\n  - {{ name: request-termination, route: r2, config: {{ status_code: 403 }} }}\n  - {{ name: request-termination, consumer: vip, config: {{ status_code: 404 }} }}\n"
        );
        let table: &[(usize, Option<u32>, &str)] = &[
            (0, None, "402"),
            (1, None, "403"),
            (0, Some(0), "402"),
            (0, Some(1), "404"),
            (1, Some(1), "404"),
        ];
        for (route, consumer, want) in table {
            let names = chain_names(&yaml, *route, *consumer);
            assert_eq!(
                names,
                [format!("request-termination:\"{want}\"")],
                "route {route} consumer {consumer:?}"
            );
        }
    }
}
