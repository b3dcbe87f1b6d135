//! The route table: which service a request goes to (Kong semantics).
//!
//! Regex (`~`) paths are tried first, by `regex_priority` (higher first), as
//! Kong does; that stage exists only when some route has one. Then prefix
//! candidates, sorted once at compile time — longest path prefix first, then
//! routes naming an exact host, a wildcard host, more header conditions, then
//! methods, then definition order — and indexed by prefix, so a lookup tries
//! only the candidates whose prefix the path has, in that order, and stops at
//! the first match. Every path seen here is already normalized.

use crate::prefix_trie::{Hit, PrefixTrie, TrieBuilder, Value, MAX_HITS};
use crate::route_conds::{HeaderCond, RegexCandidate, RegexCandidateTemplate};
use http::HeaderMap;
use std::borrow::Cow;
use tollgate_config::model::{EscapedSlashes, HeadersWithUnderscores, PathParameters};
use tollgate_config::route_match::is_regex_path;
use tollgate_config::{RouteSpec, Snapshot};

#[derive(Debug, Clone)]
struct Candidate {
    prefix: Box<str>,
    /// `prefix.len()`, kept inline: a lookup already knows the prefix
    /// matches and should not follow the pointer to it.
    prefix_len: u32,
    /// Index into `RouteTable::routes`.
    route: u32,
    // Copied from the route so that the common case (no method or host
    // criteria) is decided without loading the route.
    service: u32,
    strip_path: bool,
    /// The route takes any method on any host, whatever its headers.
    open: bool,
    /// Sort rank of the host criterion: 0 exact, 1 wildcard, 2 none.
    host_rank: u8,
}

/// The fields of a candidate a lookup decides on, as the trie keeps them
/// (`[route, service, prefix_len, flags]`): read next to the trie node, not
/// from the candidate list, so a lookup touches one cache line less.
#[derive(Debug, Clone, Copy)]
struct Hot {
    route: u32,
    service: u32,
    prefix_len: u32,
    strip_path: bool,
    open: bool,
}

const STRIP_PATH: u32 = 1;
const OPEN: u32 = 2;

impl Hot {
    fn of(v: Value) -> Self {
        Hot {
            route: v[0],
            service: v[1],
            prefix_len: v[2],
            strip_path: v[3] & STRIP_PATH != 0,
            open: v[3] & OPEN != 0,
        }
    }
}

impl Candidate {
    fn value(&self) -> Value {
        let flags = if self.strip_path { STRIP_PATH } else { 0 } | if self.open { OPEN } else { 0 };
        [self.route, self.service, self.prefix_len, flags]
    }
}

/// A route after compilation: its criteria, ready for matching.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    pub service: u32,
    pub name: Box<str>,
    methods: Vec<http::Method>,
    exact_hosts: Vec<Box<str>>,
    /// Wildcard suffixes including the dot: "*.example.com" → ".example.com".
    wildcard_hosts: Vec<Box<str>>,
    headers: Vec<HeaderCond>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub escaped_slashes: EscapedSlashes,
    pub path_parameters: PathParameters,
    pub headers_with_underscores: HeadersWithUnderscores,
}

/// The route a request matched, and where the matched prefix ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMatch {
    pub route: u32,
    pub service: u32,
    pub prefix_len: usize,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    candidates: Vec<Candidate>,
    /// Regex paths in Kong's order; empty in the common, prefix-only table.
    regexes: Vec<RegexCandidate>,
    /// `candidates` indexed by prefix: a lookup visits only the prefixes of the path.
    trie: PrefixTrie,
}

impl CompiledRoute {
    fn matches(&self, method: &http::Method, host: &str, headers: &HeaderMap) -> bool {
        self.matches_method_host(method, host) && self.headers.iter().all(|c| c.holds(headers))
    }

    fn matches_method_host(&self, method: &http::Method, host: &str) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(method) {
            return false;
        }
        if self.exact_hosts.is_empty() && self.wildcard_hosts.is_empty() {
            return true;
        }
        self.exact_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host))
            || self.wildcard_hosts.iter().any(|suffix| {
                host.len() > suffix.len()
                    && host.as_bytes()[host.len() - suffix.len()..]
                        .eq_ignore_ascii_case(suffix.as_bytes())
            })
    }
}

impl RouteTable {
    pub fn compile(snapshot: &Snapshot) -> Self {
        let mut routes = Vec::new();
        let mut candidates = Vec::new();
        let mut regexes = Vec::new();
        for (si, s) in snapshot.services.iter().enumerate() {
            for r in &s.routes {
                let idx = routes.len() as u32;
                routes.push(compile_route(si as u32, r));
                let c = &routes[idx as usize];
                let host_rank = if !c.exact_hosts.is_empty() {
                    0
                } else if !c.wildcard_hosts.is_empty() {
                    1
                } else {
                    2
                };
                let open = c.methods.is_empty()
                    && c.exact_hosts.is_empty()
                    && c.wildcard_hosts.is_empty()
                    && c.headers.is_empty();
                let template = RegexCandidateTemplate {
                    service: c.service,
                    strip_path: c.strip_path,
                    open,
                    priority: r.regex_priority,
                    host_rank,
                    header_count: c.headers.len(),
                    has_methods: !c.methods.is_empty(),
                };
                // A pattern that does not compile (validation refuses it
                // first) leaves its route without that path: never wider.
                regexes.extend(
                    r.paths
                        .iter()
                        .filter(|p| is_regex_path(p))
                        .filter_map(|p| RegexCandidate::new(p, idx, &template)),
                );
                let prefixes: Vec<&str> = if r.paths.is_empty() {
                    vec![""]
                } else {
                    r.paths
                        .iter()
                        .map(String::as_str)
                        .filter(|p| !is_regex_path(p))
                        .collect()
                };
                for p in prefixes {
                    candidates.push(Candidate {
                        prefix: p.into(),
                        prefix_len: p.len() as u32,
                        route: idx,
                        service: c.service,
                        strip_path: c.strip_path,
                        open,
                        host_rank,
                    });
                }
            }
        }
        candidates.sort_by(|a, b| {
            let ra = &routes[a.route as usize];
            let rb = &routes[b.route as usize];
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.host_rank.cmp(&b.host_rank))
                .then(rb.headers.len().cmp(&ra.headers.len()))
                .then(ra.methods.is_empty().cmp(&rb.methods.is_empty()))
                .then(a.route.cmp(&b.route))
        });
        let mut trie = TrieBuilder::default();
        for c in &candidates {
            trie.insert(&c.prefix, c.value());
        }
        let trie = trie.build();
        regexes.sort_by(RegexCandidate::order);
        RouteTable {
            routes,
            candidates,
            regexes,
            trie,
        }
    }

    pub fn route(&self, idx: u32) -> &CompiledRoute {
        &self.routes[idx as usize]
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Finds the route for a normalized path; `host` without port.
    pub fn find(
        &self,
        method: &http::Method,
        host: &str,
        headers: &HeaderMap,
        path: &str,
    ) -> Option<RouteMatch> {
        if !self.regexes.is_empty() {
            if let Some(m) = self.find_regex(method, host, headers, path) {
                return Some(m);
            }
        }
        let mut hits = [Hit::default(); MAX_HITS];
        let Some(n) = self.trie.prefixes_of(path, &mut hits) else {
            return self.find_linear(method, host, headers, path);
        };
        // Longest prefix first, each prefix's candidates in precedence order:
        // the order of the sorted candidate list.
        for &h in hits[..n].iter().rev() {
            for v in self.trie.cands(h) {
                let c = Hot::of(v);
                if let Some(m) = self.try_prefixed(&c, method, host, headers, path) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// The regex stage: the first regex path, in Kong's order, that matches.
    fn find_regex(
        &self,
        method: &http::Method,
        host: &str,
        headers: &HeaderMap,
        path: &str,
    ) -> Option<RouteMatch> {
        self.regexes.iter().find_map(|c| {
            // The cheap criteria first: a regex runs only for a route that
            // could take the request.
            if !self.admits(c.of.open, c.route, method, host, headers)? {
                return None;
            }
            let end = c.match_end(path)?;
            // As for prefixes: a stripped match must end at a segment.
            if c.of.strip_path && !at_segment_end(path, end) {
                return None;
            }
            Some(RouteMatch {
                route: c.route,
                service: c.of.service,
                prefix_len: end,
            })
        })
    }

    /// The prefix stage's answer by scanning every candidate (paths crossing
    /// very many prefixes, and the reference the trie is tested against).
    fn find_linear(
        &self,
        method: &http::Method,
        host: &str,
        headers: &HeaderMap,
        path: &str,
    ) -> Option<RouteMatch> {
        self.candidates
            .iter()
            .filter(|c| path.starts_with(&*c.prefix))
            .find_map(|c| self.try_prefixed(&Hot::of(c.value()), method, host, headers, path))
    }

    /// Whether the route's hosts, methods and headers take the request (an
    /// `open` route has none); `None` for an unknown route index.
    fn admits(
        &self,
        open: bool,
        route: u32,
        method: &http::Method,
        host: &str,
        headers: &HeaderMap,
    ) -> Option<bool> {
        if open {
            return Some(true);
        }
        Some(
            self.routes
                .get(route as usize)?
                .matches(method, host, headers),
        )
    }

    /// Whether candidate `c`, whose prefix starts `path`, takes the request.
    fn try_prefixed(
        &self,
        c: &Hot,
        method: &http::Method,
        host: &str,
        headers: &HeaderMap,
        path: &str,
    ) -> Option<RouteMatch> {
        // Kong matches prefixes mid-segment; with strip_path that would let
        // `/billingadmin` reach upstream `/admin` without ever being matched as
        // the operation `/billing/admin`. So a stripped prefix ends at a segment.
        let prefix_len = c.prefix_len as usize;
        if c.strip_path && !at_segment_end(path, prefix_len) {
            return None;
        }
        if !self.admits(c.open, c.route, method, host, headers)? {
            return None;
        }
        Some(RouteMatch {
            route: c.route,
            service: c.service,
            prefix_len,
        })
    }
}

impl RouteTable {
    /// Whether some route would carry `method path` for `host` (any host when
    /// `None`) and some request headers.
    pub fn carries(&self, method: &http::Method, host: Option<&str>, path: &str) -> bool {
        let takes = |route: u32| {
            let r = &self.routes[route as usize];
            (r.methods.is_empty() || r.methods.contains(method))
                && host.is_none_or(|h| r.matches_method_host(method, h))
        };
        self.candidates
            .iter()
            .any(|c| path.starts_with(&*c.prefix) && takes(c.route))
            || self
                .regexes
                .iter()
                .any(|c| takes(c.route) && c.match_end(path).is_some())
    }
}

fn compile_route(service: u32, r: &RouteSpec) -> CompiledRoute {
    let mut exact_hosts = Vec::new();
    let mut wildcard_hosts = Vec::new();
    for h in &r.hosts {
        match h.strip_prefix('*') {
            Some(suffix) => wildcard_hosts.push(suffix.into()),
            None => exact_hosts.push(h.as_str().into()),
        }
    }
    CompiledRoute {
        service,
        name: r.name.as_str().into(),
        methods: r
            .methods
            .iter()
            .filter_map(|m| http::Method::from_bytes(m.as_bytes()).ok())
            .collect(),
        exact_hosts,
        wildcard_hosts,
        headers: r.headers.iter().map(HeaderCond::compile).collect(),
        strip_path: r.strip_path,
        preserve_host: r.preserve_host,
        escaped_slashes: r.escaped_slashes,
        path_parameters: r.path_parameters,
        headers_with_underscores: r.headers_with_underscores,
    }
}

/// Whether the prefix of `path` `len` bytes long ends at a segment boundary.
fn at_segment_end(path: &str, len: usize) -> bool {
    let b = path.as_bytes();
    len == 0 || b.get(len - 1) == Some(&b'/') || b.len() == len || b.get(len) == Some(&b'/')
}

/// The upstream path (Kong `path_handling: v0`): service base path joined
/// with the request path, minus the matched prefix when `strip_path` is set.
pub fn upstream_path<'a>(
    base: &str,
    path: &'a str,
    prefix_len: usize,
    strip: bool,
) -> Cow<'a, str> {
    // A routed path is ASCII, so `prefix_len` is a char boundary; were it
    // not, nothing past the prefix is known to be matched: send none of it.
    let rest = if strip {
        path.get(prefix_len..).unwrap_or("")
    } else {
        path
    };
    // The common case (no base path, nothing stripped or a clean cut) borrows.
    if base.is_empty() && rest.starts_with('/') {
        return Cow::Borrowed(rest);
    }
    let mut out = String::with_capacity(base.len() + rest.len() + 1);
    out.push_str(base);
    if !rest.is_empty() && !rest.starts_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    if out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "routes_kong_tests.rs"]
mod kong_tests;
