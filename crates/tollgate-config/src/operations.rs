//! Operation identity: method and path syntax, and the canonical form under
//! which two spellings of one operation (trailing slash, parameter names)
//! become the same operation.

/// Methods an operation or route may name.
pub const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

/// Upper-cases and checks a method name.
pub fn check_method(method: &str) -> Result<String, String> {
    let upper = method.to_ascii_uppercase();
    if METHODS.contains(&upper.as_str()) {
        Ok(upper)
    } else {
        Err(format!(
            "unknown method {method:?}; expected one of {}",
            METHODS.join(", ")
        ))
    }
}

/// Checks an operation path template and returns it without a trailing slash.
///
/// A segment is static, or holds one parameter with optional static text
/// around it (`{id}`, `{Sid}.json`, `thumbnail.{extension}`), or is `*`
/// (Kong's API builder wildcard: in the last segment it matches one or more
/// segments, elsewhere exactly one). Two parameters in one segment are
/// refused: the radix router could not give them the "static beats
/// parameter" rule the contract promises.
pub fn check_template(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("path {path:?} must start with '/'"));
    }
    if path.contains('?') || path.contains('#') {
        return Err(format!("path {path:?} must not carry a query or fragment"));
    }
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    if trimmed == "/" {
        return Ok(trimmed.to_string());
    }
    for seg in trimmed.split('/').skip(1) {
        if seg.is_empty() {
            return Err(format!("path {path:?} has an empty segment"));
        }
        if seg == "." || seg == ".." {
            return Err(format!("path {path:?} has a '.' or '..' segment"));
        }
        if seg == "*" {
            continue;
        }
        let (before, param, after) =
            split_segment(seg).map_err(|why| format!("path {path:?}: segment {seg:?} {why}"))?;
        for text in [before, after] {
            if text.is_empty() {
                continue;
            }
            if text.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'*') {
                return Err(format!(
                    "path {path:?} has a space, '*', control or non-ASCII character in {seg:?}; percent-encode it"
                ));
            }
            check_static_segment(text).map_err(|why| format!("path {path:?}: {why}"))?;
        }
        if let Some(n) = param {
            let ok = !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            if !ok {
                return Err(format!(
                    "path {path:?}: parameter {{{n}}} must be named with letters, digits, '_', '-' or '.'"
                ));
            }
        }
    }
    Ok(trimmed.to_string())
}

/// Splits a segment into static text, the parameter name (if any) and
/// static text after it.
fn split_segment(seg: &str) -> Result<(&str, Option<&str>, &str), &'static str> {
    let opens = seg.matches('{').count();
    let closes = seg.matches('}').count();
    match (opens, closes) {
        (0, 0) => Ok((seg, None, "")),
        (1, 1) => {
            let open = seg.find('{').unwrap_or(0);
            let close = seg.find('}').unwrap_or(0);
            if close < open {
                return Err("has a '}' before its '{'");
            }
            Ok((&seg[..open], Some(&seg[open + 1..close]), &seg[close + 1..]))
        }
        _ => Err("must hold at most one parameter like {id}"),
    }
}

/// A static segment must be written the way request paths are normalized,
/// or no request could ever match it (and `if_present` would let its
/// requests through unchecked).
fn check_static_segment(seg: &str) -> Result<(), String> {
    if seg.contains(';') || seg.contains('\\') {
        return Err(format!(
            "segment {seg:?} has ';' or '\\', which request paths never match with"
        ));
    }
    let b = seg.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            i += 1;
            continue;
        }
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        let Some(hex) = hex else {
            return Err(format!("segment {seg:?} has an invalid percent-escape"));
        };
        if hex.iter().any(u8::is_ascii_lowercase) {
            return Err(format!(
                "segment {seg:?}: write percent-escapes with upper-case hex, as requests are normalized"
            ));
        }
        let v = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("00"), 16).unwrap_or(0);
        if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
            return Err(format!(
                "segment {seg:?}: write {:?} instead of %{}, as requests are normalized",
                v as char,
                std::str::from_utf8(hex).unwrap_or("")
            ));
        }
        if matches!(v, b'/' | b'\\' | 0) {
            return Err(format!(
                "segment {seg:?} has an encoded '/', '\\' or NUL, which request paths never keep"
            ));
        }
        i += 3;
    }
    Ok(())
}

/// The identity of a checked template: parameter names do not matter, and a
/// `*` that is not the last segment is an unnamed parameter.
pub fn canonical_key(template: &str) -> String {
    let last = template.rsplit('/').count().saturating_sub(1);
    template
        .split('/')
        .enumerate()
        .map(|(i, seg)| match split_segment(seg) {
            _ if seg == "*" && i < last => "{}".to_string(),
            Ok((before, Some(_), after)) => format!("{before}{{}}{after}"),
            _ => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A checked template in the radix router's syntax, and whether it ends in
/// the catch-all `*` (such templates live in a tree of their own, consulted
/// after the others, because the router cannot hold `{id}` and a catch-all
/// at the same position).
pub fn router_template(template: &str) -> (String, bool) {
    let segs: Vec<&str> = template.split('/').collect();
    let last = segs.len().saturating_sub(1);
    let mut out = String::with_capacity(template.len() + 8);
    let mut wildcard = false;
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        if *seg == "*" {
            if i == last && i > 0 {
                out.push_str("{*__rest}");
                wildcard = true;
            } else {
                out.push_str(&format!("{{__any{i}}}"));
            }
        } else {
            out.push_str(seg);
        }
    }
    (out, wildcard)
}

/// Joins an OpenAPI `servers[0].url` path prefix and a spec path.
pub fn join_prefix(prefix: &str, path: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        path.to_string()
    } else if path == "/" {
        prefix.to_string()
    } else {
        format!("{prefix}{path}")
    }
}

/// Checks a host for an operation or route: exact, or a leading `*.` wildcard.
pub fn check_host(host: &str, allow_wildcard: bool) -> Result<String, String> {
    let lower = host.to_ascii_lowercase();
    let bare = match lower.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => lower.as_str(),
    };
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':');
    if ok {
        Ok(lower)
    } else if !allow_wildcard && lower.starts_with("*.") {
        Err(format!("host {host:?}: wildcards are not allowed here"))
    } else {
        Err(format!(
            "host {host:?} is not a host name (letters, digits, '-', '.'; a leading '*.' for wildcards)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let cases: &[(&str, Result<&str, ()>)] = &[
            ("/billing", Ok("/billing")),
            ("/billing/", Ok("/billing")),
            ("/", Ok("/")),
            ("/flights/{id}", Ok("/flights/{id}")),
            ("/flights/{id}/", Ok("/flights/{id}")),
            ("billing", Err(())),
            ("/a//b", Err(())),
            ("/a/{id}.json", Ok("/a/{id}.json")),
            ("/a/thumbnail.{ext}", Ok("/a/thumbnail.{ext}")),
            ("/a/{x}{y}", Err(())),
            ("/a/{x}-{y}", Err(())),
            ("/a/x}{y", Err(())),
            ("/a/{x y}", Err(())),
            ("/a/{id} .json", Err(())),
            ("/users/*", Ok("/users/*")),
            ("/users/*/posts", Ok("/users/*/posts")),
            ("/users/a*", Err(())),
            ("/users/{id}.*", Err(())),
            ("/a/{}", Err(())),
            ("/a/{x{y}}", Err(())),
            ("/a/../b", Err(())),
            ("/a b", Err(())),
            ("/a?x=1", Err(())),
            ("/caf%C3%A9", Ok("/caf%C3%A9")),
            ("/caf%c3%a9", Err(())),
            ("/admin/%72eport", Err(())),
            ("/a%2Fb", Err(())),
            ("/a;v=1", Err(())),
            ("/a%zz", Err(())),
            ("/a%20b", Ok("/a%20b")),
        ];
        for (input, want) in cases {
            let got = check_template(input).map_err(|_| ());
            assert_eq!(got.as_deref(), want.as_deref(), "{input}");
        }
    }

    #[test]
    fn canonical_ignores_param_names() {
        assert_eq!(canonical_key("/a/{id}/b"), canonical_key("/a/{name}/b"));
        assert_ne!(canonical_key("/a/{id}"), canonical_key("/a/id"));
        assert_eq!(
            canonical_key("/a/{Sid}.json"),
            canonical_key("/a/{id}.json")
        );
        assert_ne!(canonical_key("/a/{Sid}.json"), canonical_key("/a/{Sid}"));
        assert_eq!(canonical_key("/a/*/b"), canonical_key("/a/{id}/b"));
        assert_ne!(canonical_key("/a/*"), canonical_key("/a/{id}"));
    }

    #[test]
    fn router_templates() {
        assert_eq!(
            router_template("/a/{id}.json"),
            ("/a/{id}.json".into(), false)
        );
        assert_eq!(router_template("/a/*"), ("/a/{*__rest}".into(), true));
        assert_eq!(router_template("/a/*/b"), ("/a/{__any2}/b".into(), false));
        assert_eq!(router_template("/"), ("/".into(), false));
    }

    #[test]
    fn prefixes() {
        assert_eq!(join_prefix("/v1/", "/pets"), "/v1/pets");
        assert_eq!(join_prefix("", "/pets"), "/pets");
        assert_eq!(join_prefix("/v1", "/"), "/v1");
    }

    #[test]
    fn hosts() {
        assert_eq!(
            check_host("API.example.com", false).as_deref(),
            Ok("api.example.com")
        );
        assert!(check_host("*.example.com", true).is_ok());
        assert!(check_host("*.example.com", false).is_err());
        assert!(check_host("bad host", true).is_err());
        assert!(check_host("", true).is_err());
    }

    #[test]
    fn methods() {
        assert_eq!(check_method("get").as_deref(), Ok("GET"));
        assert!(check_method("FETCH").is_err());
    }
}
