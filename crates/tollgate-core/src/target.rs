//! From a request path to a route, under the route's path policies
//! (contract §3): encoded slashes are refused, decoded or kept; `;` path
//! parameters are refused or matched without them. The result says which path
//! the routers match and which path the upstream is sent, so that they are
//! the same request to any upstream that reads paths the way the policy says.

use crate::normalize::{decode_slashes, normalize, params_prefix_len, strip_params, PathError};
use crate::routes::{RouteMatch, RouteTable};
use std::borrow::Cow;
use tollgate_config::model::{EscapedSlashes, PathParameters};

/// Why a request path cannot be served (each is a 400, but `NoRoute`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Path(#[from] PathError),
    #[error("no route")]
    NoRoute,
    #[error("path has an encoded '/' or '\\'")]
    EscapedSlash,
    #[error("path has ';' parameters")]
    PathParameters,
    #[error("path has a '.', '..' or empty segment once its ';' parameters are removed")]
    ParamsHideSegment,
}

/// A routed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<'a> {
    pub route: RouteMatch,
    /// The normalized path the upstream path is built from.
    pub path: Cow<'a, str>,
    /// Where the route's prefix ends in `path`.
    pub prefix_len: usize,
    /// `path` without `;` parameters, when it had some.
    stripped: Option<String>,
}

impl Target<'_> {
    /// The path the routers matched (and ACE matches operations on).
    pub fn match_path(&self) -> &str {
        self.stripped.as_deref().unwrap_or(&self.path)
    }
}

/// Normalizes `raw_path` and finds its route; `host` lower-case without port.
/// Routes (regex paths included) only ever see the normalized path.
pub fn resolve<'a>(
    routes: &RouteTable,
    method: &http::Method,
    host: &str,
    headers: &http::HeaderMap,
    raw_path: &'a str,
) -> Result<Target<'a>, TargetError> {
    let n = normalize(raw_path)?;
    let mut path = n.path;
    let find = |p: &str| -> Result<RouteMatch, TargetError> {
        let stripped;
        let p = if n.params {
            stripped = strip_params(p);
            stripped.as_str()
        } else {
            p
        };
        routes
            .find(method, host, headers, p)
            .ok_or(TargetError::NoRoute)
    };
    let mut decoded = false;
    if n.escaped_slash {
        // The route of the path as sent decides what its encoded slashes mean.
        let first = find(&path)?;
        match routes.route(first.route).escaped_slashes {
            EscapedSlashes::Reject => return Err(TargetError::EscapedSlash),
            EscapedSlashes::Keep => {}
            EscapedSlashes::Decode => {
                path = Cow::Owned(decode_slashes(&path)?);
                decoded = true;
            }
        }
    }
    let route = find(&path)?;
    let r = routes.route(route.route);
    // Decoding may lead to another route: it must agree, or the path was
    // matched under one policy and is served under another.
    if decoded && r.escaped_slashes != EscapedSlashes::Decode {
        return Err(TargetError::EscapedSlash);
    }
    if n.params && r.path_parameters == PathParameters::Reject {
        return Err(TargetError::PathParameters);
    }
    let (stripped, prefix_len) = if n.params {
        let stripped = strip_params(&path);
        // Servlet containers cut parameters, then resolve dot segments:
        // `/app/..;x/admin` is `/admin` to Tomcat. What is matched must be
        // what such an upstream resolves the path to.
        if !is_normal(&stripped) {
            return Err(TargetError::ParamsHideSegment);
        }
        (Some(stripped), params_prefix_len(&path, route.prefix_len))
    } else {
        (None, route.prefix_len)
    };
    Ok(Target {
        route,
        path,
        prefix_len,
        stripped,
    })
}

fn is_normal(path: &str) -> bool {
    normalize(path).is_ok_and(|n| n.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::upstream_path;

    fn table() -> RouteTable {
        let yaml = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - { name: strict, paths: [/users] }
      - { name: decode, paths: [/files], escaped_slashes: decode }
      - { name: keep, paths: [/blobs], escaped_slashes: keep }
      - { name: params, paths: [/app], path_parameters: allow }
      - { name: nostrip, paths: [/legacy], path_parameters: allow, strip_path: false }
      - { name: decode-admin, paths: [/files/admin], escaped_slashes: decode }
"#;
        let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
        RouteTable::compile(&s)
    }

    /// (raw path, Ok((route, match path, upstream path)) or the error)
    type Case = (
        &'static str,
        Result<(&'static str, &'static str, &'static str), TargetError>,
    );

    #[test]
    fn policies() {
        let t = table();
        let cases: &[Case] = &[
            ("/users/1", Ok(("strict", "/users/1", "/1"))),
            ("/users/1%2Fpassengers", Err(TargetError::EscapedSlash)),
            ("/users/1%5cpassengers", Err(TargetError::EscapedSlash)),
            ("/users;jsessionid=1", Err(TargetError::PathParameters)),
            ("/users/1;v=2", Err(TargetError::PathParameters)),
            ("/files/a%2Fb", Ok(("decode", "/files/a/b", "/a/b"))),
            (
                "/files/x%2F..%2F..%2Fetc",
                Err(TargetError::Path(PathError::HiddenDotSegment)),
            ),
            (
                "/files/admin%2Fx",
                Ok(("decode-admin", "/files/admin/x", "/x")),
            ),
            ("/blobs/a%2Fb", Ok(("keep", "/blobs/a%2Fb", "/a%2Fb"))),
            ("/app;jsessionid=1/x", Ok(("params", "/app/x", "/x"))),
            ("/app/x;v=1", Ok(("params", "/app/x", "/x;v=1"))),
            (
                "/legacy;s=1/y",
                Ok(("nostrip", "/legacy/y", "/legacy;s=1/y")),
            ),
            ("/nothing", Err(TargetError::NoRoute)),
            ("/app/..;x/admin", Err(TargetError::ParamsHideSegment)),
            ("/app/x/.;", Err(TargetError::ParamsHideSegment)),
            ("/app/;x/y", Err(TargetError::ParamsHideSegment)),
            ("/app/x/%2e%2e;/y", Err(TargetError::ParamsHideSegment)),
            ("/app/x..;a/y", Ok(("params", "/app/x../y", "/x..;a/y"))),
            ("/files/;x/admin", Err(TargetError::PathParameters)),
            ("/app/x;y/", Ok(("params", "/app/x/", "/x;y/"))),
        ];
        for (raw, want) in cases {
            let got =
                resolve(&t, &http::Method::GET, "h", &http::HeaderMap::new(), raw).map(|tg| {
                    let r = t.route(tg.route.route);
                    let up = upstream_path("", &tg.path, tg.prefix_len, r.strip_path).into_owned();
                    (r.name.to_string(), tg.match_path().to_string(), up)
                });
            let want = want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
            assert_eq!(got, want, "{raw}");
        }
    }

    #[test]
    fn decoding_into_a_route_that_does_not_decode_is_refused() {
        let yaml = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - { name: loose, paths: [/a], escaped_slashes: decode }
      - { name: strict, paths: [/a/b] }
"#;
        let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
        let t = RouteTable::compile(&s);
        assert_eq!(
            resolve(
                &t,
                &http::Method::GET,
                "h",
                &http::HeaderMap::new(),
                "/a/b%2Fc"
            )
            .map(|_| ()),
            Err(TargetError::EscapedSlash)
        );
    }
}
