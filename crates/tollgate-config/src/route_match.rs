//! Route criteria beyond prefixes: regex paths (`~` prefix, Kong 3.x) and
//! `headers` conditions. Patterns are compiled with bounds here so a hostile or
//! careless pattern is refused at load with its location, and the router
//! compiles them again, with the same bounds, when a snapshot is built.

use crate::model;
use crate::resolved::HeaderCondition;
use crate::validate_ctx::Ctx;
use regex::bytes::{Regex, RegexBuilder};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Compiled program size per pattern. The `regex` crate matches in linear time,
/// so what a pattern can cost is memory; `(a{1000}){1000}` is refused here.
const SIZE_LIMIT: usize = 256 * 1024;
/// Lazy DFA cache per pattern.
const DFA_SIZE_LIMIT: usize = 512 * 1024;
/// Deepest group nesting accepted.
const NEST_LIMIT: u32 = 32;

/// Whether a route path is a regex (Kong 3.x: a leading `~`).
pub fn is_regex_path(p: &str) -> bool {
    p.starts_with('~')
}

/// Compiles a `~` path as Kong does: anchored at the start (`^`), not at the
/// end. Capture groups are allowed and ignored. Patterns run on bytes with
/// ASCII classes (`\d`, `\w`, `\s`, case folding), as PCRE does by default:
/// the normalized path they see is ASCII (anything else stays percent-encoded),
/// and Unicode classes would only make `\w{1,64}` a multi-megabyte program.
pub fn path_regex(p: &str) -> Result<Regex, String> {
    let pat = p.strip_prefix('~').unwrap_or(p);
    if pat.is_empty() {
        return Err("a regex path needs a pattern after '~'".into());
    }
    build(pat, &format!("^(?:{pat})"), false)
}

/// Compiles a `~*` header value: case-insensitive, unanchored (Kong's `~*`).
pub fn header_regex(v: &str) -> Result<Regex, String> {
    let pat = v.strip_prefix("~*").unwrap_or(v);
    if pat.is_empty() {
        return Err("a regex header value needs a pattern after '~*'".into());
    }
    build(pat, pat, true)
}

fn build(pat: &str, full: &str, case_insensitive: bool) -> Result<Regex, String> {
    if pat.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "regex is {} bytes; at most {MAX_PATTERN_LEN} are accepted",
            pat.len()
        ));
    }
    RegexBuilder::new(full)
        .unicode(false)
        .case_insensitive(case_insensitive)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(DFA_SIZE_LIMIT)
        .nest_limit(NEST_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!(
                "regex {pat:?} compiles to more than {} KiB; simplify it (bounded repetitions multiply)",
                SIZE_LIMIT / 1024
            ),
            e => format!("regex {pat:?} does not compile: {e}"),
        })
}

/// Checks a route's paths: prefixes as plain request paths, `~` paths as regexes.
pub(crate) fn check_paths(ctx: &mut Ctx, at: &str, r: &model::Route) {
    for (k, p) in r.paths.iter().enumerate() {
        let here = format!("{at}.paths[{k}]");
        if is_regex_path(p) {
            if let Err(e) = path_regex(p) {
                ctx.err(here, e);
            }
        } else if !p.starts_with('/') {
            ctx.err(here, format!("path {p:?} must start with '/'"));
        } else if p
            .bytes()
            .any(|b| b <= b' ' || b >= 0x7f || b == b'?' || b == b'#')
        {
            ctx.err(
                here,
                format!("path {p:?} has a character that cannot appear in a request path"),
            );
        }
    }
    if r.regex_priority != 0 && !r.paths.iter().any(|p| is_regex_path(p)) {
        ctx.warn(
            format!("{at}.regex_priority"),
            "has no effect: the route has no regex (`~`) path",
        );
    }
}

/// Checks a route's `headers` and returns them with lower-case names.
pub(crate) fn check_headers(ctx: &mut Ctx, at: &str, r: &model::Route) -> Vec<HeaderCondition> {
    let mut out = Vec::with_capacity(r.headers.len());
    for (name, values) in &r.headers {
        let here = format!("{at}.headers.{name}");
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || !name.bytes().all(is_tchar) {
            ctx.err(here, format!("{name:?} is not a valid header name"));
            continue;
        }
        if lower == "host" {
            ctx.err(here, "use the route's `hosts` to match the Host header");
            continue;
        }
        // Routes are chosen before the client's copies of these are removed,
        // so a condition on one would let any client pick the route.
        let f = crate::reserved_headers::folded(&lower);
        if crate::reserved_headers::gateway_owned(&f) || crate::reserved_headers::is_forwarding(&f)
        {
            ctx.err(
                here,
                format!("{name:?} is set or rewritten by the gateway; a route cannot be chosen by the client's copy of it"),
            );
            continue;
        }
        if values.is_empty() {
            ctx.err(here, "needs at least one value");
            continue;
        }
        let mut ok = true;
        for (j, v) in values.iter().enumerate() {
            if v.starts_with("~*") {
                if let Err(e) = header_regex(v) {
                    ctx.err(format!("{here}[{j}]"), e);
                    ok = false;
                }
            }
        }
        if ok {
            out.push(HeaderCondition {
                name: lower,
                values: values.clone(),
            });
        }
    }
    out
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_anchored_at_the_start_only() {
        let r = path_regex(r"~/users/\d+").expect("compiles");
        assert!(r.is_match(b"/users/12"));
        assert!(r.is_match(b"/users/12/orders"));
        assert!(!r.is_match(b"/x/users/12"));
        // An alternation stays inside the anchor.
        let r = path_regex("~/a|/b").expect("compiles");
        assert!(!r.is_match(b"/x/b"));
    }

    #[test]
    fn pathological_patterns_are_refused() {
        let e = path_regex("~(a{1000}){1000}").expect_err("too big");
        assert!(e.contains("KiB"), "{e}");
        let long = format!("~/{}", "a".repeat(MAX_PATTERN_LEN));
        assert!(path_regex(&long).expect_err("too long").contains("bytes"));
        let deep = format!("~{}a{}", "(".repeat(100), ")".repeat(100));
        assert!(path_regex(&deep).is_err());
        assert!(path_regex("~/(unclosed").is_err());
        assert!(path_regex("~").is_err());
    }

    #[test]
    fn classes_are_ascii_so_common_kong_patterns_stay_small() {
        for p in [
            r"~/v\d{1,3}/\w{1,16}$",
            r"~/users/\w{1,64}$",
            r"~/.*\.json$",
        ] {
            path_regex(p).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
        let r = path_regex(r"~/n/\d+$").expect("compiles");
        assert!(r.is_match(b"/n/5"));
        // A fullwidth digit, raw or escaped, is not a digit here.
        assert!(!r.is_match("/n/\u{ff15}".as_bytes()));
        assert!(!r.is_match(b"/n/%EF%BC%95"));
    }

    #[test]
    fn conditions_on_gateway_owned_headers_are_refused() {
        let route: model::Route = serde_yaml::from_str(
            "{ name: r, paths: [/x], headers: { x-consumer-username: [ops], X_Forwarded_For: [a], x-real-ip: [b], x-version: [v1] } }",
        )
        .expect("route");
        let mut ctx = Ctx {
            errors: vec![],
            warnings: vec![],
            base_dir: None,
            broken: Default::default(),
            spec_bytes: vec![],
        };
        let kept = check_headers(&mut ctx, "routes[0]", &route);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].name, "x-version");
        assert_eq!(ctx.errors.len(), 3, "{:?}", ctx.errors);
    }

    #[test]
    fn header_regexes_ignore_case() {
        let r = header_regex("~*^v[0-9]+$").expect("compiles");
        assert!(r.is_match(b"V2"));
        assert!(!r.is_match(b"beta"));
    }
}
