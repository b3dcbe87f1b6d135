//! Route criteria beyond prefix, host and method: Kong `headers` conditions,
//! and the regex-path stage of the route table. The stage holds only routes
//! with `~` paths, so a table without any pays one `is_empty` per lookup.

use http::header::{HeaderMap, HeaderName};
use regex::bytes::Regex;
use tollgate_config::route_match::{header_regex, path_regex};
use tollgate_config::HeaderCondition;

/// One compiled `headers` entry.
#[derive(Debug, Clone)]
pub(crate) struct HeaderCond {
    /// `None` when the name does not parse: the condition then never holds,
    /// so a route is never widened by a condition that was dropped.
    name: Option<HeaderName>,
    plain: Vec<Box<str>>,
    regexes: Vec<Regex>,
}

impl HeaderCond {
    pub(crate) fn compile(c: &HeaderCondition) -> Self {
        let mut plain = Vec::new();
        let mut regexes = Vec::new();
        for v in &c.values {
            if v.starts_with("~*") {
                // Validation compiled it with the same bounds; a value that
                // fails here only narrows the route.
                if let Ok(r) = header_regex(v) {
                    regexes.push(r);
                }
            } else {
                plain.push(v.as_str().into());
            }
        }
        HeaderCond {
            name: HeaderName::from_bytes(c.name.as_bytes()).ok(),
            plain,
            regexes,
        }
    }

    /// Whether one of the request's values for the header is accepted.
    pub(crate) fn holds(&self, headers: &HeaderMap) -> bool {
        let Some(name) = &self.name else {
            return false;
        };
        headers.get_all(name).iter().any(|v| {
            let v = v.as_bytes();
            self.plain
                .iter()
                .any(|p| p.as_bytes().eq_ignore_ascii_case(v))
                || self.regexes.iter().any(|r| r.is_match(v))
        })
    }
}

/// A regex path of a route, with what ordering and the common case need.
#[derive(Debug, Clone)]
pub(crate) struct RegexCandidate {
    pub regex: Regex,
    pub route: u32,
    /// What every regex path of the route shares.
    pub of: RegexCandidateTemplate,
}

impl RegexCandidate {
    /// `None` when the pattern does not compile (validation refuses it first).
    pub(crate) fn new(path: &str, route: u32, template: &RegexCandidateTemplate) -> Option<Self> {
        Some(RegexCandidate {
            regex: path_regex(path).ok()?,
            route,
            of: template.clone(),
        })
    }

    /// Kong's order among regex paths: `regex_priority` (higher first); then,
    /// as among prefixes of equal length, an exact host, a wildcard host,
    /// more header conditions, methods; then definition order.
    pub(crate) fn order(a: &Self, b: &Self) -> std::cmp::Ordering {
        let (x, y) = (&a.of, &b.of);
        y.priority
            .cmp(&x.priority)
            .then(x.host_rank.cmp(&y.host_rank))
            .then(y.header_count.cmp(&x.header_count))
            .then(y.has_methods.cmp(&x.has_methods))
            .then(a.route.cmp(&b.route))
    }

    /// Where the match ends in `path`, if the pattern matches it.
    pub(crate) fn match_end(&self, path: &str) -> Option<usize> {
        self.regex.find(path.as_bytes()).map(|m| m.end())
    }
}

/// The route-level fields every regex candidate of a route shares.
#[derive(Debug, Clone)]
pub(crate) struct RegexCandidateTemplate {
    pub service: u32,
    pub strip_path: bool,
    pub open: bool,
    pub priority: i64,
    pub host_rank: u8,
    pub header_count: usize,
    pub has_methods: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn header_values_compare_ignoring_case_and_any_line_counts() {
        let c = HeaderCond::compile(&HeaderCondition {
            name: "x-version".into(),
            values: vec!["v1".into(), "V2".into(), "~*^beta-\\d+$".into()],
        });
        let mut h = HeaderMap::new();
        assert!(!c.holds(&h));
        h.insert("x-version", HeaderValue::from_static("v3"));
        assert!(!c.holds(&h));
        h.append("X-Version", HeaderValue::from_static("v2"));
        assert!(c.holds(&h));
        h.insert("x-version", HeaderValue::from_static("BETA-7"));
        assert!(c.holds(&h));
        h.insert("x-version", HeaderValue::from_static("v1, v2"));
        assert!(!c.holds(&h), "a list is one value, as in Kong");
    }

    #[test]
    fn an_unparsable_name_never_holds() {
        let c = HeaderCond::compile(&HeaderCondition {
            name: "bad name".into(),
            values: vec!["x".into()],
        });
        assert!(!c.holds(&HeaderMap::new()));
    }
}
