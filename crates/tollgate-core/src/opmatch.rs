//! The operation router: host + method + path → the operations that match.
//!
//! One `matchit` radix tree per method, and per host for operations that name
//! one. Parameter names do not make operations distinct, so operations of the
//! same shape (possibly in different APIs) share one entry; the entry lists
//! them all and entitlement picks the one the caller is granted.
//!
//! Templates ending in the wildcard `*` (one or more segments) sit in trees
//! of their own, looked up only when the others have no match: the radix
//! router cannot hold `/users/{id}` and a catch-all `/users/*` in one tree,
//! and the more specific template should win anyway.

use std::collections::HashMap;

/// An operation's global index in the compiled snapshot.
pub type OpId = u32;

#[derive(Default)]
struct MethodTrees {
    by_method: HashMap<http::Method, matchit::Router<u32>>,
    /// Templates ending in `*`, consulted after `by_method`.
    wildcard: HashMap<http::Method, matchit::Router<u32>>,
}

impl MethodTrees {
    fn tree(&mut self, m: http::Method, wildcard: bool) -> &mut matchit::Router<u32> {
        let map = if wildcard {
            &mut self.wildcard
        } else {
            &mut self.by_method
        };
        map.entry(m).or_default()
    }
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
        let (routed, wildcard) = tollgate_config::operations::router_template(template);
        trees
            .tree(m.clone(), wildcard)
            .insert(routed.as_str(), g)
            .map_err(|e| fail(e.to_string()))?;
        let folded = match host {
            Some(h) => self.folded_by_host.entry(h.into()).or_default(),
            None => &mut self.folded_any_host,
        };
        // Templates that differ only in case fold to one: the first keeps it.
        let _ = folded.tree(m, wildcard).insert(lower_static(&routed), g);
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
    let at = |map: &HashMap<http::Method, matchit::Router<u32>>| {
        map.get(method)
            .and_then(|t| t.at(path).ok())
            .map(|m| *m.value)
    };
    at(&trees.by_method).or_else(|| {
        if trees.wildcard.is_empty() {
            None
        } else {
            at(&trees.wildcard)
        }
    })
}

/// Lower-cases a router template's static text, leaving parameter names
/// (which the router does not compare) as they are.
fn lower_static(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => in_param = true,
            '}' => in_param = false,
            _ => {}
        }
        out.push(if in_param { c } else { c.to_ascii_lowercase() });
    }
    out
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

    #[test]
    fn literal_suffixes_and_wildcards() {
        let mut r = OperationRouter::default();
        let ops: &[(&str, &str)] = &[
            ("GET", "/Accounts/{Sid}.json"),
            ("GET", "/Accounts/{AccountSid}/Calls.json"),
            ("GET", "/Accounts/list.json"),
            ("GET", "/files/{id}/thumbnail.{extension}"),
            ("GET", "/files/{id}/content"),
            ("GET", "/users/{id}"),
            ("GET", "/users/*"),
            ("GET", "/users/{id}/posts"),
            ("DELETE", "/*"),
            ("GET", "/a/*/b"),
        ];
        for (i, (m, p)) in ops.iter().enumerate() {
            r.insert(None, m, p, i as u32).expect(p);
        }
        let get = http::Method::GET;
        let cases: &[(&http::Method, &str, &[u32])] = &[
            (&get, "/Accounts/AC123.json", &[0]),
            (&get, "/Accounts/AC123.JSON", &[0]),
            (&get, "/Accounts/list.json", &[2]),
            (&get, "/Accounts/AC123", &[]),
            (&get, "/Accounts/AC1/Calls.json", &[1]),
            (&get, "/files/7/thumbnail.png", &[3]),
            (&get, "/files/7/content", &[4]),
            (&get, "/files/7/thumbnail", &[]),
            // `*` last: one or more segments; the more specific templates win.
            (&get, "/users/7", &[5]),
            (&get, "/users/7/posts", &[7]),
            (&get, "/users/7/likes", &[6]),
            (&get, "/users/7/a/b/c", &[6]),
            (&get, "/users", &[]),
            (&get, "/USERS/7/x", &[6]),
            (&http::Method::DELETE, "/anything/at/all", &[8]),
            (&http::Method::DELETE, "/", &[]),
            // `*` elsewhere: exactly one segment.
            (&get, "/a/x/b", &[9]),
            (&get, "/a/x/y/b", &[]),
        ];
        for (m, path, want) in cases {
            assert_eq!(r.find("h", m, path), *want, "{m} {path}");
        }
    }
}
