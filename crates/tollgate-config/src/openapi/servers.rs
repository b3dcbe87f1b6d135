//! The base path a spec puts before every path: `servers[0].url`'s path
//! (3.x, server variables replaced by their defaults) or `basePath` (2.0).
//! Scheme and host are not used for matching: operations match on any host
//! the routes accept, as with Kong's generated operations.

use super::{Dialect, SpecProblem};
use serde_yaml::Value;

/// The document-level base path, `""` when there is none.
pub(crate) fn base_path(doc: &Value, dialect: Dialect) -> Result<String, SpecProblem> {
    match dialect {
        Dialect::Swagger2 => match doc.get("basePath") {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(p)) => Ok(normalize(p)),
            Some(_) => Err(SpecProblem::at("/basePath", "basePath must be a string")),
        },
        Dialect::OpenApi30 | Dialect::OpenApi31 => {
            first_server(doc.get("servers"), "/servers").map(|p| p.unwrap_or_default())
        }
    }
}

/// The path of the first server in a `servers` list; `None` when the list is
/// absent or empty (the caller keeps the enclosing base path).
pub(crate) fn first_server(
    servers: Option<&Value>,
    at: &str,
) -> Result<Option<String>, SpecProblem> {
    let first = match servers {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Sequence(list)) => match list.first() {
            None => return Ok(None),
            Some(first) => first,
        },
        Some(_) => return Err(SpecProblem::at(at, "servers must be a list")),
    };
    let at = format!("{at}/0");
    let Some(url) = first.get("url").and_then(Value::as_str) else {
        return Err(SpecProblem::at(
            format!("{at}/url"),
            "server url must be a string",
        ));
    };
    let url = substitute(url, first.get("variables"), &at)?;
    Ok(Some(normalize(url_path(&url))))
}

/// Replaces `{name}` with the variable's `default`.
fn substitute(url: &str, vars: Option<&Value>, at: &str) -> Result<String, SpecProblem> {
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(len) = rest[open..].find('}') else {
            return Err(SpecProblem::at(
                format!("{at}/url"),
                format!("server url {url:?} has an unclosed '{{'"),
            ));
        };
        let name = &rest[open + 1..open + len];
        let default = vars
            .and_then(|v| v.get(name))
            .and_then(|v| v.get("default"))
            .and_then(|d| match d {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        let Some(default) = default else {
            return Err(SpecProblem::at(
                format!("{at}/variables/{}", super::pointer::escape(name)),
                format!("server url {url:?} uses variable {name:?}, which has no default"),
            ));
        };
        out.push_str(&default);
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The path of an absolute or relative URL, without query or fragment.
fn url_path(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or("");
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("")
        }
        // Protocol-relative `//host/path`.
        None if url.starts_with("//") => url[2..].find('/').map(|j| &url[2 + j..]).unwrap_or(""),
        None => url,
    }
}

/// `""` or `/a/b`: a leading slash, no trailing one.
fn normalize(path: &str) -> String {
    let p = path.trim_matches('/');
    if p.is_empty() || p == "." {
        String::new()
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        serde_yaml::from_str(text).expect("yaml")
    }

    #[test]
    fn base_paths() {
        let cases: &[(&str, Dialect, Result<&str, &str>)] = &[
            (
                "servers: [{url: 'https://x.io/v1/'}]",
                Dialect::OpenApi30,
                Ok("/v1"),
            ),
            ("servers: [{url: '/api'}]", Dialect::OpenApi31, Ok("/api")),
            (
                "servers: [{url: 'https://x.io'}]",
                Dialect::OpenApi30,
                Ok(""),
            ),
            ("servers: []", Dialect::OpenApi30, Ok("")),
            ("info: {}", Dialect::OpenApi30, Ok("")),
            (
                "servers: [{url: '//x.io/v2'}]",
                Dialect::OpenApi30,
                Ok("/v2"),
            ),
            (
                "servers: [{url: '{scheme}://x.io/ds-api', variables: {scheme: {default: https}}}]",
                Dialect::OpenApi30,
                Ok("/ds-api"),
            ),
            (
                "servers: [{url: 'https://x.io/{basePath}', variables: {basePath: {default: v3}}}]",
                Dialect::OpenApi30,
                Ok("/v3"),
            ),
            (
                "servers: [{url: 'https://x.io/{basePath}'}]",
                Dialect::OpenApi30,
                Err("/servers/0/variables/basePath"),
            ),
            (
                "servers: [{url: 'https://x.io/{a'}]",
                Dialect::OpenApi30,
                Err("/servers/0/url"),
            ),
            ("servers: {url: x}", Dialect::OpenApi30, Err("/servers")),
            ("basePath: /api/v1", Dialect::Swagger2, Ok("/api/v1")),
            ("basePath: /", Dialect::Swagger2, Ok("")),
            ("host: x.io", Dialect::Swagger2, Ok("")),
            ("basePath: 7", Dialect::Swagger2, Err("/basePath")),
        ];
        for (text, d, want) in cases {
            let got = base_path(&doc(text), *d);
            match (got, want) {
                (Ok(p), Ok(w)) => assert_eq!(p, *w, "{text}"),
                (Err(e), Err(w)) => assert_eq!(e.pointer, *w, "{text}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
