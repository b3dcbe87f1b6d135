//! The operation router: host + method + path → the operations that match.
//!
//! One `matchit` radix tree per method, and per host for operations that name
//! one. Parameter names do not make operations distinct, so operations of the
//! same shape (possibly in different APIs) share one entry; the entry lists
//! them all and entitlement picks the one the caller is granted.

use std::collections::HashMap;

/// An operation's global index in the compiled snapshot.
pub type OpId = u32;

#[derive(Default)]
struct MethodTrees {
    by_method: HashMap<http::Method, matchit::Router<u32>>,
}

/// Operations grouped by shape; a lookup yields one group.
#[derive(Default)]
pub struct OperationRouter {
    any_host: MethodTrees,
    by_host: HashMap<Box<str>, MethodTrees>,
    /// The same operations with lower-cased templates: a request that matches
    /// nothing exactly is looked up here, because Express, ASP.NET and IIS
    /// route case-insensitively and would run `/ADMIN` as `/admin`.
    folded_any_host: MethodTrees,
    folded_by_host: HashMap<Box<str>, MethodTrees>,
    groups: Vec<Vec<OpId>>,
    /// (host, method, canonical template) → group, to merge same-shape operations.
    shapes: HashMap<(Option<String>, http::Method, String), u32>,
}

/// Why an operation could not be inserted (a bug in validation if ever seen).
#[derive(Debug, thiserror::Error)]
#[error("operation {method} {path} cannot be routed: {reason}")]
pub struct InsertError {
    pub method: String,
    pub path: String,
    pub reason: String,
}

impl OperationRouter {
    pub fn insert(
        &mut self,
        host: Option<&str>,
        method: &str,
        template: &str,
        op: OpId,
    ) -> Result<(), InsertError> {
        let fail = |reason: String| InsertError {
            method: method.to_string(),
            path: template.to_string(),
            reason,
        };
        let m = http::Method::from_bytes(method.as_bytes()).map_err(|e| fail(e.to_string()))?;
        let shape = (
            host.map(str::to_string),
            m.clone(),
            tollgate_config::operations::canonical_key(template),
        );
        if let Some(&g) = self.shapes.get(&shape) {
            self.groups[g as usize].push(op);
            return Ok(());
        }
        let g = self.groups.len() as u32;
        let trees = match host {
            Some(h) => self.by_host.entry(h.into()).or_default(),
            None => &mut self.any_host,
        };
        trees
            .by_method
            .entry(m.clone())
            .or_default()
            .insert(template, g)
            .map_err(|e| fail(e.to_string()))?;
        let folded = match host {
            Some(h) => self.folded_by_host.entry(h.into()).or_default(),
            None => &mut self.folded_any_host,
        };
        // Templates that differ only in case fold to one: the first keeps it.
        let _ = folded
            .by_method
            .entry(m)
            .or_default()
            .insert(template.to_ascii_lowercase(), g);
        self.groups.push(vec![op]);
        self.shapes.insert(shape, g);
        Ok(())
    }

    /// Operations matching a request; `path` in match form (no trailing slash),
    /// `host` lower-case without port. Host-specific operations win.
    pub fn find(&self, host: &str, method: &http::Method, path: &str) -> &[OpId] {
        if let Some(g) = lookup_in(&self.by_host, &self.any_host, host, method, path) {
            return &self.groups[g as usize];
        }
        let lower: std::borrow::Cow<'_, str> = if path.bytes().any(|b| b.is_ascii_uppercase()) {
            path.to_ascii_lowercase().into()
        } else {
            path.into()
        };
        match lookup_in(
            &self.folded_by_host,
            &self.folded_any_host,
            host,
            method,
            &lower,
        ) {
            Some(g) => &self.groups[g as usize],
            None => &[],
        }
    }
}

/// Host-specific trees first, then the host-less ones.
fn lookup_in(
    by_host: &HashMap<Box<str>, MethodTrees>,
    any_host: &MethodTrees,
    host: &str,
    method: &http::Method,
    path: &str,
) -> Option<u32> {
    if !by_host.is_empty() {
        if let Some(g) = by_host.get(host).and_then(|t| lookup(t, method, path)) {
            return Some(g);
        }
    }
    lookup(any_host, method, path)
}

fn lookup(trees: &MethodTrees, method: &http::Method, path: &str) -> Option<u32> {
    trees.by_method.get(method)?.at(path).ok().map(|m| *m.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let mut r = OperationRouter::default();
        let ops: &[(Option<&str>, &str, &str)] = &[
            (None, "GET", "/flights"),
            (None, "GET", "/flights/{id}"),
            (None, "GET", "/flights/latest"),
            (None, "POST", "/flights"),
            (Some("api.example.com"), "GET", "/flights"),
            (None, "GET", "/flights/{flight}"),
            (None, "GET", "/"),
        ];
        for (i, (h, m, p)) in ops.iter().enumerate() {
            r.insert(*h, m, p, i as u32).expect("insert");
        }
        let get = http::Method::GET;
        let cases: &[(&str, &http::Method, &str, &[u32])] = &[
            ("x", &get, "/flights", &[0]),
            ("x", &http::Method::POST, "/flights", &[3]),
            ("x", &http::Method::DELETE, "/flights", &[]),
            ("x", &get, "/flights/123", &[1, 5]),
            ("x", &get, "/flights/latest", &[2]),
            ("x", &get, "/flights/a%2Fb", &[1, 5]),
            ("x", &get, "/flights/1/2", &[]),
            ("api.example.com", &get, "/flights", &[4]),
            ("api.example.com", &get, "/flights/9", &[1, 5]),
            ("x", &get, "/", &[6]),
            ("x", &get, "/billing", &[]),
            ("x", &get, "/FLIGHTS", &[0]),
            ("x", &get, "/Flights/LATEST", &[2]),
            ("x", &get, "/FLIGHTS/AbC", &[1, 5]),
            ("api.example.com", &get, "/FLIGHTS", &[4]),
        ];
        for (host, m, path, want) in cases {
            assert_eq!(r.find(host, m, path), *want, "{host} {m} {path}");
        }
    }
}
