//! Header work at the proxy boundary: removing what clients must not send
//! upstream, setting the identity and forwarding headers the upstream receives
//! (contract §4.6), and the rate-limit headers every limited response carries
//! (§4.7).

use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::Result;
use std::net::IpAddr;
use tollgate_config::model::HeadersWithUnderscores;
use tollgate_config::Unit;
use tollgate_core::credentials::KeyName;
use tollgate_core::hygiene;
use tollgate_core::limiter::WindowState;
use tollgate_core::request::RequestState;
use tollgate_core::request::{Hidden, HiddenKeys};
use tollgate_core::CompiledSnapshot;

pub const X_ACE_OPERATION_ID: &str = "x-ace-operation-id";
pub const X_ACE_PACKAGE: &str = "x-ace-package";
pub const X_APPLICATION_NAME: &str = "x-application-name";
pub const X_CREDENTIAL_IDENTIFIER: &str = "x-credential-identifier";
pub const X_CONSUMER_USERNAME: &str = "x-consumer-username";
pub const X_CONSUMER_ID: &str = "x-consumer-id";
pub const X_CONSUMER_CUSTOM_ID: &str = "x-consumer-custom-id";
pub const X_ANONYMOUS_CONSUMER: &str = "x-anonymous-consumer";
pub const X_CONSUMER_GROUPS: &str = "x-consumer-groups";
pub const X_ACE_RATELIMIT_SCOPE: &str = "x-ace-ratelimit-scope";
const X_FORWARDED_FOR: &str = "x-forwarded-for";
const RATELIMIT_LIMIT: &str = "ratelimit-limit";
const RATELIMIT_REMAINING: &str = "ratelimit-remaining";
const RATELIMIT_RESET: &str = "ratelimit-reset";

// Names are passed to Pingora as lower-case `&'static str`: from a
// `HeaderName` Pingora would allocate a title-cased copy per insert.
fn window_names(unit: Unit) -> (&'static str, &'static str) {
    match unit {
        Unit::Seconds => ("x-ratelimit-limit-second", "x-ratelimit-remaining-second"),
        Unit::Minutes => ("x-ratelimit-limit-minute", "x-ratelimit-remaining-minute"),
        Unit::Hours => ("x-ratelimit-limit-hour", "x-ratelimit-remaining-hour"),
        Unit::Days => ("x-ratelimit-limit-day", "x-ratelimit-remaining-day"),
        Unit::Months => ("x-ratelimit-limit-month", "x-ratelimit-remaining-month"),
        Unit::Years => ("x-ratelimit-limit-year", "x-ratelimit-remaining-year"),
    }
}

/// Removes what a client must not send upstream (identity, method-override,
/// path-rewrite and oddly spelled framing headers; forwarding headers from
/// untrusted peers; underscored names when the route drops them) and the
/// credentials a plugin hides (`ace_keys`: every ACE key name, when ACE
/// hides). Allocates only when something is removed.
pub fn sanitize(
    req: &mut RequestHeader,
    underscores: HeadersWithUnderscores,
    trusted_peer: bool,
    hidden: &HiddenKeys,
    ace_keys: &[KeyName],
) {
    for name in hygiene::removals(&req.headers, underscores, trusted_peer) {
        req.remove_header(&name);
    }
    for h in hidden.iter() {
        if let Hidden::Header(name) = h {
            if req.headers.contains_key(name) {
                req.remove_header(name);
            }
        }
    }
    for name in ace_keys.iter().filter_map(|k| k.header.as_ref()) {
        if req.headers.contains_key(name) {
            req.remove_header(name);
        }
    }
}

/// `X-Forwarded-For` from the gateway's view of the peer: a trusted proxy's
/// chain is extended, anyone else's replaced. (`X-Real-IP` is only removed
/// from untrusted peers, not set: an insert costs more than 1 % of a request,
/// and the address is the last `X-Forwarded-For` entry.)
pub fn set_forwarding(req: &mut RequestHeader, ip: IpAddr, trusted_peer: bool) -> Result<()> {
    let value = match req
        .headers
        .get(X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
    {
        Some(prev) if trusted_peer => HeaderValue::try_from(format!("{prev}, {ip}"))
            .map_err(|_| pingora::Error::new(pingora::ErrorType::InvalidHTTPHeader))?,
        _ => client_ip_value(ip),
    };
    req.insert_header(X_FORWARDED_FOR, value)?;
    Ok(())
}

/// The client address as a header value. Keep-alive connections send many
/// requests from one address: the last one formatted on this thread is reused.
fn client_ip_value(ip: IpAddr) -> HeaderValue {
    use std::cell::RefCell;
    thread_local! {
        static LAST: RefCell<Option<(IpAddr, HeaderValue)>> = const { RefCell::new(None) };
    }
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((cached, v)) if *cached == ip => v.clone(),
            _ => {
                let v = HeaderValue::from_str(&ip.to_string())
                    .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
                *last = Some((ip, v.clone()));
                v
            }
        }
    })
}

/// Sets the identity headers for the upstream from what the plugins established.
pub fn set_identity(
    req: &mut RequestHeader,
    snap: &CompiledSnapshot,
    state: &RequestState,
) -> Result<()> {
    let id = &state.identity;
    if let Some(c) = id.consumer {
        let consumer = &snap.consumers[c as usize];
        req.insert_header(X_CONSUMER_ID, consumer.id_header.clone())?;
        req.insert_header(X_CONSUMER_USERNAME, consumer.username_header.clone())?;
        if let Some(custom) = &consumer.custom_id_header {
            req.insert_header(X_CONSUMER_CUSTOM_ID, custom.clone())?;
        }
    }
    if id.anonymous {
        req.insert_header(X_ANONYMOUS_CONSUMER, HeaderValue::from_static("true"))?;
    }
    if let Some(k) = id.keyauth_credential {
        req.insert_header(
            X_CREDENTIAL_IDENTIFIER,
            snap.consumer_keys[k as usize].identifier.clone(),
        )?;
    }
    if let Some(b) = id.basic_credential {
        req.insert_header(
            X_CREDENTIAL_IDENTIFIER,
            snap.basic_creds[b as usize].identifier.clone(),
        )?;
    }
    if state.send_groups {
        if let Some(g) = id
            .consumer
            .and_then(|c| snap.consumers[c as usize].groups_header.as_ref())
        {
            req.insert_header(X_CONSUMER_GROUPS, g.clone())?;
        }
    }
    if let Some(g) = &state.ace {
        req.insert_header(
            X_ACE_OPERATION_ID,
            snap.operations[g.operation as usize].id_header.clone(),
        )?;
        if let Some(p) = g.package {
            req.insert_header(X_ACE_PACKAGE, snap.packages[p as usize].name_header.clone())?;
        }
        req.insert_header(
            X_APPLICATION_NAME,
            snap.apps[g.app as usize].name_header.clone(),
        )?;
        req.insert_header(
            X_CREDENTIAL_IDENTIFIER,
            snap.credentials.get(g.credential).identifier(),
        )?;
    }
    Ok(())
}

/// A number as a header value. Values below 1024 (most limits, remaining
/// counts and resets) come from a table built once, so writing the rate-limit
/// headers does not allocate. Larger ones go through a small per-thread cache:
/// a limit is the same on every request, and a remaining count is written
/// twice per response (`X-RateLimit-Remaining-*` and `RateLimit-Remaining`).
fn num(v: u64) -> HeaderValue {
    use std::cell::RefCell;
    static SMALL: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    const WAYS: usize = 8;
    thread_local! {
        static LARGE: RefCell<[(u64, Option<HeaderValue>); WAYS]> =
            const { RefCell::new([const { (0, None) }; WAYS]) };
    }
    let table = SMALL.get_or_init(|| (0..1024u64).map(HeaderValue::from).collect());
    if let Some(small) = usize::try_from(v).ok().and_then(|i| table.get(i)) {
        return small.clone();
    }
    LARGE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let slot = &mut cache[(v % WAYS as u64) as usize];
        match &slot.1 {
            Some(hit) if slot.0 == v => hit.clone(),
            _ => {
                let value = HeaderValue::from(v);
                *slot = (v, Some(value.clone()));
                value
            }
        }
    })
}

fn put_binding(headers: &mut dyn FnMut(&'static str, HeaderValue), b: &WindowState) {
    headers(RATELIMIT_LIMIT, num(b.limit));
    headers(RATELIMIT_REMAINING, num(b.remaining));
    headers(RATELIMIT_RESET, num(b.reset_secs));
}

/// Adds the headers the `cors` plugin decided on.
pub fn set_cors(resp: &mut ResponseHeader, state: &RequestState) {
    for (name, value) in &state.cors_headers {
        // Names and values were built as valid headers. `Vary` is added to
        // the upstream's, as Kong does; the others replace.
        if *name == http::header::VARY {
            let _ = resp.append_header(name.clone(), value.clone());
        } else {
            let _ = resp.insert_header(name.clone(), value.clone());
        }
    }
}

/// Adds the rate-limit headers. When ACE and the rate-limiting plugin both
/// limited the request, each window shows whichever has fewer requests left,
/// and `RateLimit-*` the limit that bound it (the one that rejected, if any).
pub fn set_rate(resp: &mut ResponseHeader, state: &RequestState) {
    let mut put = |n: &'static str, v: HeaderValue| {
        // Values are digits or fixed tokens; insertion cannot fail.
        let _ = resp.insert_header(n, v);
    };
    let mut per_unit: [Option<WindowState>; Unit::ALL.len()] = [None; Unit::ALL.len()];
    let mut binding: Option<(bool, WindowState)> = None;
    for r in [state.ace_rate.as_ref(), state.plugin_rate.as_ref()]
        .into_iter()
        .flatten()
    {
        for w in r.outcome.windows.iter().flatten() {
            let i = Unit::ALL.iter().position(|u| *u == w.unit).unwrap_or(0);
            if per_unit[i].is_none_or(|cur| w.remaining < cur.remaining) {
                per_unit[i] = Some(*w);
            }
        }
        if let Some(b) = r.outcome.binding() {
            let rejected = !r.outcome.allowed;
            let better = match binding {
                None => true,
                Some((cur_rejected, cur)) => {
                    (rejected && !cur_rejected)
                        || (rejected == cur_rejected && b.remaining < cur.remaining)
                }
            };
            if better {
                binding = Some((rejected, *b));
            }
        }
    }
    for w in per_unit.iter().flatten() {
        let (limit, remaining) = window_names(w.unit);
        put(limit, num(w.limit));
        put(remaining, num(w.remaining));
    }
    if let Some((_, b)) = binding {
        put_binding(&mut put, &b);
    }
    if let Some(scope) = state.ace_rate.and_then(|r| r.scope) {
        put(
            X_ACE_RATELIMIT_SCOPE,
            HeaderValue::from_static(scope.as_str()),
        );
    }
}

/// RFC 9113 8.2.3: cookies split over several HTTP/2 fields are joined with
/// "; " before the request goes out as HTTP/1.1, where several `Cookie` lines
/// are read as one comma-joined value and the cookies after the first are lost.
pub fn join_h2_cookies(req: &mut RequestHeader) -> Result<()> {
    let mut all = req.headers.get_all(http::header::COOKIE).iter();
    if all.next().is_none() || all.next().is_none() {
        return Ok(());
    }
    let mut joined = Vec::new();
    for v in req.headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    let value = HeaderValue::from_bytes(&joined).map_err(|e| {
        pingora::Error::because(pingora::ErrorType::InvalidHTTPHeader, "joining cookies", e)
    })?;
    req.insert_header(http::header::COOKIE, value)
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn numbers_are_written_exactly_whichever_cache_serves_them() {
        // Small table, its edge, the per-thread cache (including values that
        // share a slot, written alternately), and the extremes.
        let cases = [
            0u64,
            1,
            1023,
            1024,
            1_000_000_000,
            1_000_000_008,
            1_000_000_000,
            999_999_999,
            999_999_991,
            999_999_999,
            u64::MAX,
        ];
        for _ in 0..2 {
            for v in cases {
                assert_eq!(num(v).to_str().ok(), Some(v.to_string().as_str()), "{v}");
            }
        }
    }
}
