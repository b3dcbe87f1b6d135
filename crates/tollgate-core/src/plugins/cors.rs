//! `cors` (priority 2000): answers CORS preflights at the gateway and adds
//! the CORS headers to every other response, following Kong's handler:
//! origin matching (exact, `*`, or regex), credentials, exposed headers.

use super::{Access, AccessCx, Plugin};
use crate::request::{Flow, Reply};
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderName, HeaderValue};

const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";
const REQUEST_PRIVATE_NETWORK: &str = "access-control-request-private-network";

/// One configured origin, compiled.
#[derive(Debug)]
pub enum OriginRule {
    Any,
    /// Normalized `scheme://host[:port]` (or the text as given without a scheme).
    Exact(String),
    /// Anchored regex; matched against the host alone when the entry has no `:`.
    Regex {
        re: regex::Regex,
        by_host: bool,
    },
}

#[derive(Debug)]
pub enum Origins {
    /// No origins, or just `*`.
    All,
    /// A single literal origin: sent as configured, whatever the request says.
    Fixed(HeaderValue),
    List(Vec<OriginRule>),
}

#[derive(Debug)]
pub struct Cors {
    pub origins: Origins,
    pub credentials: bool,
    pub allow_headers: Option<HeaderValue>,
    pub expose_headers: Option<HeaderValue>,
    pub methods: HeaderValue,
    pub max_age: Option<HeaderValue>,
    pub private_network: bool,
    pub preflight_continue: bool,
    pub allow_origin_absent: bool,
}

type Headers = Vec<(HeaderName, HeaderValue)>;

fn set(h: &mut Headers, name: HeaderName, value: HeaderValue) {
    h.retain(|(n, _)| *n != name);
    h.push((name, value));
}

/// Kong's `normalize_origin`: (`scheme://host[:port]` without a default port, host).
pub fn normalize_origin(origin: &str) -> (String, String) {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return (origin.to_string(), origin.to_string());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    let port = match (scheme, port) {
        ("http", Some("80")) | ("https", Some("443")) => None,
        (_, p) => p,
    };
    let domain = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    (domain, host.to_string())
}

impl Cors {
    /// Access-Control-Allow-Origin (and Vary); `true` when it is `*`.
    fn origin(&self, h: &mut Headers, req_origin: Option<&str>) -> bool {
        let rules = match &self.origins {
            Origins::All => {
                set(
                    h,
                    ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
                return true;
            }
            Origins::Fixed(v) => {
                set(h, VARY, HeaderValue::from_static("Origin"));
                set(h, ACCESS_CONTROL_ALLOW_ORIGIN, v.clone());
                return false;
            }
            Origins::List(rules) => rules,
        };
        set(h, VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = req_origin else {
            return false;
        };
        let (domain, host) = normalize_origin(origin);
        for rule in rules {
            let found = match rule {
                OriginRule::Any => {
                    set(
                        h,
                        ACCESS_CONTROL_ALLOW_ORIGIN,
                        HeaderValue::from_static("*"),
                    );
                    return true;
                }
                OriginRule::Exact(d) => *d == domain,
                OriginRule::Regex { re, by_host } => {
                    re.is_match(if *by_host { &host } else { &domain })
                }
            };
            if found {
                if let Ok(v) = HeaderValue::from_str(&domain) {
                    set(h, ACCESS_CONTROL_ALLOW_ORIGIN, v);
                }
                return false;
            }
        }
        false
    }

    fn credentials(&self, h: &mut Headers, allow_all: bool, req_origin: Option<&str>) {
        if !self.credentials {
            return;
        }
        if !allow_all {
            set(
                h,
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            return;
        }
        // `*` cannot go with credentials: the request's origin is echoed.
        if let Some(v) = req_origin.and_then(|o| HeaderValue::from_str(o).ok()) {
            set(h, VARY, HeaderValue::from_static("Origin"));
            set(h, ACCESS_CONTROL_ALLOW_ORIGIN, v);
            set(
                h,
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }

    fn preflight(&self, cx: &AccessCx<'_>, origin: Option<&str>) -> Reply {
        let mut h = Headers::new();
        let all = self.origin(&mut h, origin);
        self.credentials(&mut h, all, origin);
        let req = cx.req.headers;
        match (&self.allow_headers, req.get(ACCESS_CONTROL_REQUEST_HEADERS)) {
            (Some(v), _) => set(&mut h, ACCESS_CONTROL_ALLOW_HEADERS, v.clone()),
            (None, Some(v)) => set(&mut h, ACCESS_CONTROL_ALLOW_HEADERS, v.clone()),
            (None, None) => {}
        }
        set(&mut h, ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        if let Some(v) = &self.max_age {
            set(&mut h, ACCESS_CONTROL_MAX_AGE, v.clone());
        }
        if self.private_network
            && req
                .get(REQUEST_PRIVATE_NETWORK)
                .is_some_and(|v| v.as_bytes() == b"true")
        {
            h.push((
                HeaderName::from_static(ALLOW_PRIVATE_NETWORK),
                HeaderValue::from_static("true"),
            ));
        }
        Reply {
            status: 200,
            body: Bytes::new(),
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
            headers: h,
        }
    }
}

impl Plugin for Cors {
    const NAME: &'static str = "cors";
    const PRIORITY: i32 = 2000;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        let origin = cx
            .req
            .headers
            .get(ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| !o.is_empty());
        let preflight = cx.req.method == http::Method::OPTIONS
            && origin.is_some()
            && cx.req.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            if self.preflight_continue {
                return Access::Done(Flow::Continue);
            }
            return Access::Done(Flow::Respond(self.preflight(cx, origin)));
        }
        if origin.is_none() && !self.allow_origin_absent {
            return Access::Done(Flow::Continue);
        }
        let mut h = Headers::new();
        let all = self.origin(&mut h, origin);
        self.credentials(&mut h, all, origin);
        if let Some(v) = &self.expose_headers {
            set(&mut h, ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
        cx.state.cors_headers = h;
        Access::Done(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_normalize_like_kong() {
        let n = |o: &str| normalize_origin(o).0;
        assert_eq!(n("https://a.example:443"), "https://a.example");
        assert_eq!(n("http://a.example:8080/x"), "http://a.example:8080");
        assert_eq!(n("http://a.example"), "http://a.example");
        assert_eq!(normalize_origin("https://a.example:8443").1, "a.example");
        assert_eq!(n("a.example"), "a.example");
    }
}
