//! Request hygiene at the gateway boundary (contract §3, §4.6): the checks a
//! request passes before any plugin runs or any limit is charged, and which
//! client headers never reach an upstream.
//!
//! Upstreams disagree with each other (and with us) about method tokens,
//! message framing and header spellings; every rule here removes one way of
//! making the upstream run something other than what ACE matched.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Method};
use tollgate_config::model::HeadersWithUnderscores;
use tollgate_config::reserved_headers::{folded, gateway_owned, is_forwarding};

/// Why a request was refused before routing (each a 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("method token must be upper-case")]
    Method,
    #[error("a body is not allowed on this method")]
    Body,
    #[error("Content-Length must be one decimal value")]
    ContentLength,
    #[error("Transfer-Encoding must be chunked, without Content-Length")]
    TransferEncoding,
    #[error("Connection may only name close, keep-alive, upgrade or te")]
    Connection,
    #[error("header names with '_' are not allowed on this route")]
    Underscore,
}

/// Methods whose requests have no defined body semantics: an upstream that
/// ignores the body would read it as the next request.
pub fn bodiless(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Method token and message framing, checked before routing.
pub fn check_request(method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    if method.as_str().bytes().any(|b| b.is_ascii_lowercase()) {
        return Err(Refusal::Method);
    }
    let mut lengths = headers.get_all(CONTENT_LENGTH).iter();
    let length = match (lengths.next(), lengths.next()) {
        (None, _) => None,
        (Some(v), None) => Some(canonical_length(v.as_bytes()).ok_or(Refusal::ContentLength)?),
        (Some(_), Some(_)) => return Err(Refusal::ContentLength),
    };
    let mut encodings = headers.get_all(TRANSFER_ENCODING).iter();
    let chunked = match (encodings.next(), encodings.next()) {
        (None, _) => false,
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"chunked") && length.is_none() => {
            true
        }
        _ => return Err(Refusal::TransferEncoding),
    };
    if bodiless(method) && (chunked || length.is_some_and(|n| n > 0)) {
        return Err(Refusal::Body);
    }
    for v in headers.get_all(CONNECTION) {
        let ok = v.as_bytes().split(|&b| b == b',').all(|token| {
            let t = token.trim_ascii();
            [&b"close"[..], b"keep-alive", b"upgrade", b"te"]
                .iter()
                .any(|ok| t.eq_ignore_ascii_case(ok))
        });
        if !ok {
            return Err(Refusal::Connection);
        }
    }
    Ok(())
}

/// `1*DIGIT` without leading zeros (but "0").
fn canonical_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if v.len() > 1 && v[0] == b'0' {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// What happens to one client header on its way upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderClass {
    /// Forwarded as is.
    Keep,
    /// Set by the gateway only (identity, method override, path rewrite, or a
    /// framing/hop-by-hop name in a non-canonical spelling): always removed.
    Remove,
    /// `X-Forwarded-*`, `Forwarded`, `X-Real-IP`: kept only from trusted peers.
    Forwarding,
    /// Another name with `_`: the route's `headers_with_underscores` decides.
    Underscore,
}

/// Names that only count in their canonical spelling; any other spelling
/// (`Content_Length`, `Transfer.Encoding`) is someone's attempt at confusion.
const FRAMING_NAMES: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    // The request id is the gateway's to check: `X_Request_ID` would reach a
    // folding server beside it.
    "x-request-id",
];

/// Classifies a header name (lower-case, as `http` stores it).
pub fn classify(name: &str) -> HeaderClass {
    let odd = name.bytes().any(|b| b == b'_' || b == b'.');
    if !odd {
        // Every gateway-owned name starts with "x-" or "f"(orwarded).
        return match name.as_bytes().first() {
            Some(b'x') if gateway_owned(name) => HeaderClass::Remove,
            Some(b'x' | b'f') if is_forwarding(name) => HeaderClass::Forwarding,
            _ => HeaderClass::Keep,
        };
    }
    // CGI-style servers fold `_` (and some `.`) into `-`.
    let folded = folded(name);
    if gateway_owned(&folded) || is_forwarding(&folded) || FRAMING_NAMES.contains(&folded.as_str())
    {
        HeaderClass::Remove
    } else if name.contains('_') {
        HeaderClass::Underscore
    } else {
        HeaderClass::Keep
    }
}

/// Whether the route's policy refuses this request's headers.
pub fn refuses_underscores(headers: &HeaderMap, policy: HeadersWithUnderscores) -> bool {
    policy == HeadersWithUnderscores::Reject
        && headers
            .keys()
            .any(|n| classify(n.as_str()) == HeaderClass::Underscore)
}

/// The client headers to remove before proxying.
pub fn removals(
    headers: &HeaderMap,
    policy: HeadersWithUnderscores,
    trusted_peer: bool,
) -> Vec<http::HeaderName> {
    let mut out = Vec::new();
    for name in headers.keys() {
        let remove = match classify(name.as_str()) {
            HeaderClass::Keep => false,
            HeaderClass::Remove => true,
            HeaderClass::Forwarding => !trusted_peer,
            HeaderClass::Underscore => policy != HeadersWithUnderscores::Allow,
        };
        if remove {
            out.push(name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in list {
            h.append(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    }

    /// (method, headers, expected)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Result<(), Refusal>,
    );

    #[test]
    fn request_checks() {
        let cases: &[Case] = &[
            ("GET", &[], Ok(())),
            ("get", &[], Err(Refusal::Method)),
            ("Get", &[], Err(Refusal::Method)),
            ("PURGE", &[], Ok(())),
            ("GET", &[("content-length", "0")], Ok(())),
            ("GET", &[("content-length", "145")], Err(Refusal::Body)),
            ("HEAD", &[("content-length", "1")], Err(Refusal::Body)),
            (
                "DELETE",
                &[("transfer-encoding", "chunked")],
                Err(Refusal::Body),
            ),
            ("OPTIONS", &[("content-length", "3")], Err(Refusal::Body)),
            ("POST", &[("content-length", "37")], Ok(())),
            (
                "POST",
                &[("content-length", "37, 37")],
                Err(Refusal::ContentLength),
            ),
            (
                "POST",
                &[("content-length", "37"), ("content-length", "37")],
                Err(Refusal::ContentLength),
            ),
            (
                "POST",
                &[("content-length", "037")],
                Err(Refusal::ContentLength),
            ),
            (
                "POST",
                &[("content-length", "+37")],
                Err(Refusal::ContentLength),
            ),
            (
                "POST",
                &[("content-length", "")],
                Err(Refusal::ContentLength),
            ),
            ("POST", &[("transfer-encoding", "chunked")], Ok(())),
            ("POST", &[("transfer-encoding", "Chunked")], Ok(())),
            (
                "POST",
                &[("transfer-encoding", "gzip, chunked")],
                Err(Refusal::TransferEncoding),
            ),
            (
                "POST",
                &[("transfer-encoding", "chunked"), ("content-length", "3")],
                Err(Refusal::TransferEncoding),
            ),
            (
                "POST",
                &[
                    ("transfer-encoding", "chunked"),
                    ("transfer-encoding", "chunked"),
                ],
                Err(Refusal::TransferEncoding),
            ),
            ("GET", &[("connection", "keep-alive")], Ok(())),
            ("GET", &[("connection", "Keep-Alive, TE")], Ok(())),
            ("GET", &[("connection", "host")], Err(Refusal::Connection)),
            (
                "GET",
                &[("connection", "close, x-ace-operation-id")],
                Err(Refusal::Connection),
            ),
        ];
        for (m, h, want) in cases {
            let m = Method::from_bytes(m.as_bytes()).expect("method");
            assert_eq!(check_request(&m, &headers(h)), *want, "{m} {h:?}");
        }
    }

    #[test]
    fn classes() {
        use HeaderClass::*;
        let cases = [
            ("accept", Keep),
            ("apikey", Keep),
            ("x-request-id", Keep),
            ("x_request_id", Remove),
            ("x.request.id", Remove),
            ("x-ace-operation-id", Remove),
            ("x-ace-anything", Remove),
            ("x_ace_operation_id", Remove),
            ("x.ace.package", Remove),
            ("x-consumer-username", Remove),
            ("x_consumer_username", Remove),
            ("x-credential-identifier", Remove),
            ("x-credential-username", Remove),
            ("x-authenticated-userid", Remove),
            ("x-authenticated-groups", Remove),
            ("x.application.name", Remove),
            ("x-anonymous-consumer", Remove),
            ("x-http-method-override", Remove),
            ("x_http_method", Remove),
            ("x-method-override", Remove),
            ("x-original-url", Remove),
            ("x-rewrite-url", Remove),
            ("transfer_encoding", Remove),
            ("content_length", Remove),
            ("content.length", Remove),
            ("ho_st", Underscore),
            ("x-forwarded-for", Forwarding),
            ("x-forwarded-host", Forwarding),
            ("forwarded", Forwarding),
            ("x-real-ip", Forwarding),
            ("x_forwarded_for", Remove),
            ("x_custom", Underscore),
            ("my.header", Keep),
        ];
        for (name, want) in cases {
            assert_eq!(classify(name), want, "{name}");
        }
    }

    #[test]
    fn removal_policy() {
        let h = headers(&[
            ("x_custom", "1"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x_ace_package", "p"),
            ("accept", "*/*"),
        ]);
        let names = |v: Vec<http::HeaderName>| -> Vec<String> {
            v.iter().map(|n| n.as_str().to_string()).collect()
        };
        assert_eq!(
            names(removals(&h, HeadersWithUnderscores::Allow, false)),
            ["x-forwarded-for", "x_ace_package"]
        );
        assert_eq!(
            names(removals(&h, HeadersWithUnderscores::Drop, true)),
            ["x_custom", "x_ace_package"]
        );
        assert!(refuses_underscores(&h, HeadersWithUnderscores::Reject));
        assert!(!refuses_underscores(&h, HeadersWithUnderscores::Drop));
    }
}
