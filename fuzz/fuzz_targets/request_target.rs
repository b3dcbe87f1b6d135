//! The path helpers of the request line and the header hygiene checks on
//! arbitrary bytes: never panic. Also: normalizing is idempotent (a normal
//! path is its own normal form, with the same flags).
//!
//! Input: one selector byte (a prefix length and flags), then text. The text
//! as a whole is the path; its first line is also a method token and every
//! further line a `name: value` header when both are valid.

#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use tollgate_config::model::HeadersWithUnderscores;
use tollgate_core::hygiene::{check_request, classify, refuses_underscores, removals};
use tollgate_core::normalize::{
    decode_slashes, match_form, normalize, params_prefix_len, strip_params,
};
use tollgate_core::routes::upstream_path;

fn paths(sel: u8, raw: &str) {
    if let Ok(n) = normalize(raw) {
        let again = normalize(&n.path);
        assert_eq!(
            again
                .as_ref()
                .map(|m| (&*m.path, m.escaped_slash, m.params)),
            Ok((&*n.path, n.escaped_slash, n.params)),
            "normalize is not idempotent on {raw:?}"
        );
        if n.escaped_slash {
            let _ = decode_slashes(&n.path);
        }
    }
    let _ = decode_slashes(raw);
    let stripped = strip_params(raw);
    let k = usize::from(sel >> 1);
    let end = params_prefix_len(raw, k.min(stripped.len()));
    assert!(end <= raw.len(), "prefix end {end} past the path {raw:?}");
    let base = if sel & 1 == 0 { "" } else { "/base" };
    let _ = upstream_path(base, raw, k, sel & 0x80 == 0);
    let _ = upstream_path(base, raw, end, true);
    let _ = match_form(raw);
}

fn hygiene(sel: u8, bytes: &[u8]) {
    let mut lines = bytes.split(|&b| b == b'\n');
    let Some(Ok(method)) = lines.next().map(Method::from_bytes) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let _ = check_request(&method, &headers);
    for name in headers.keys() {
        let _ = classify(name.as_str());
    }
    for policy in [
        HeadersWithUnderscores::Allow,
        HeadersWithUnderscores::Drop,
        HeadersWithUnderscores::Reject,
    ] {
        let _ = refuses_underscores(&headers, policy);
        let _ = removals(&headers, policy, sel & 0x40 != 0);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    paths(sel, &String::from_utf8_lossy(rest));
    hygiene(sel, rest);
});
