//! What a request thread hands the access-log writer: the request's facts as
//! fixed-size values (indices into the snapshot, integers for times), so the
//! request path copies a few words and the writer thread does the formatting.

use crate::ctx::RequestCtx;
use crate::request_id::RequestId;
use crate::state::Loaded;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tollgate_core::limiter::WindowState;
use tollgate_core::request::{AceDecision, AceGrant, LimitScope, RateHeaders};
use tollgate_core::routes::RouteMatch;

/// Paths up to this long are copied inline; longer ones are boxed.
const INLINE_PATH: usize = 96;

/// The request path as received (normalized by the writer): inline for the
/// usual API path, so that the request thread does not allocate.
pub(super) enum RawPath {
    Inline { len: u8, bytes: [u8; INLINE_PATH] },
    Boxed(Box<str>),
}

impl RawPath {
    fn new(path: &str) -> RawPath {
        let mut bytes = [0u8; INLINE_PATH];
        match bytes.get_mut(..path.len()) {
            Some(head) => {
                head.copy_from_slice(path.as_bytes());
                RawPath::Inline {
                    len: path.len() as u8,
                    bytes,
                }
            }
            None => RawPath::Boxed(path.into()),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `&str`, so the prefix is valid UTF-8.
            RawPath::Inline { len, bytes } => bytes
                .get(..usize::from(*len))
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or(""),
            RawPath::Boxed(s) => s,
        }
    }
}

/// The limit that bound the request: its binding window only (the whole
/// outcome is several times larger).
#[derive(Clone, Copy)]
pub(super) struct Binding {
    /// `None`: the rate-limiting plugin's.
    pub scope: Option<LimitScope>,
    pub window: WindowState,
    pub allowed: bool,
}

impl Binding {
    fn of(r: &RateHeaders) -> Option<Binding> {
        r.outcome.binding().map(|w| Binding {
            scope: r.scope,
            window: *w,
            allowed: r.outcome.allowed,
        })
    }
}

/// One finished request, as the access log needs it.
pub(super) struct Record {
    /// When the request finished, since the Unix epoch.
    pub since_epoch: Duration,
    pub request_id: Option<RequestId>,
    pub client_ip: Option<IpAddr>,
    pub method: http::Method,
    pub path: RawPath,
    pub status: u16,
    pub bytes: u64,
    pub total_us: u64,
    pub upstream_us: Option<u64>,
    /// The snapshot the indices below point into.
    pub loaded: Option<Arc<Loaded>>,
    pub route: Option<RouteMatch>,
    pub ace: Option<AceGrant>,
    pub consumer: Option<u32>,
    pub ace_decision: Option<AceDecision>,
    pub ace_shadow: bool,
    /// ACE's limit (applied or shadow), else the rate-limiting plugin's.
    pub limit: Option<Binding>,
}

impl Record {
    /// Captures the finished request. The id and the snapshot are moved out
    /// of `ctx` (the logging phase is its last use): no refcount traffic on
    /// the snapshot, no copy of a client's id.
    pub(super) fn capture(session: &Session, ctx: &mut RequestCtx) -> Record {
        let req = session.req_header();
        let st = &ctx.state;
        Record {
            total_us: ctx.start.elapsed().as_micros() as u64,
            since_epoch: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default(),
            request_id: ctx.request_id.take(),
            client_ip: session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip()),
            method: req.method.clone(),
            path: RawPath::new(req.uri.path()),
            status: session
                .response_written()
                .map(|r| r.status.as_u16())
                .unwrap_or(0),
            bytes: session.body_bytes_sent() as u64,
            upstream_us: ctx.upstream_elapsed.map(|u| u.as_micros() as u64),
            loaded: ctx.loaded.take(),
            route: st.route,
            ace: st.ace,
            consumer: st.identity.consumer,
            ace_decision: st.ace_decision,
            ace_shadow: st.ace_shadow,
            limit: st
                .ace_rate
                .as_ref()
                .or(st.shadow_rate.as_ref())
                .or(st.plugin_rate.as_ref())
                .and_then(Binding::of),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_inline_or_boxed() {
        let long = "/a".repeat(INLINE_PATH);
        for p in ["", "/", "/héllo/wörld", &long[..INLINE_PATH], &long] {
            let raw = RawPath::new(p);
            assert_eq!(raw.as_str(), p);
            assert_eq!(
                matches!(raw, RawPath::Inline { .. }),
                p.len() <= INLINE_PATH
            );
        }
    }

    #[test]
    fn a_record_stays_small() {
        // The queue's slots are allocated up front (see `QUEUE`).
        let size = std::mem::size_of::<Record>();
        assert!(size <= 384, "{size}");
    }
}
