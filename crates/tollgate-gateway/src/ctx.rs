//! The typed per-request context carried through the proxy phases.

use crate::state::Loaded;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_core::request::RequestState;

pub struct RequestCtx {
    pub start: Instant,
    /// The snapshot this request uses from start to end.
    pub loaded: Option<Arc<Loaded>>,
    pub state: RequestState,
    /// Rewritten upstream path and query, when it differs from the client's.
    pub upstream_uri: Option<String>,
    pub upstream_start: Option<Instant>,
    pub upstream_elapsed: Option<Duration>,
    /// The peer is a trusted proxy: its forwarding headers are kept.
    pub trusted_peer: bool,
    /// The load-balanced target of the current try (index in its pool).
    pub lb_target: Option<u32>,
    /// Targets already tried, one bit per index.
    pub lb_tried: u64,
    /// Tries made so far.
    pub lb_tries: u32,
    /// The current try got a response header, or was already counted as a
    /// connect failure: either way the logging phase counts nothing more.
    pub lb_responded: bool,
    /// A hash cookie made up for a client that had none: sent back in `Set-Cookie`.
    pub lb_cookie: Option<String>,
    /// The current try's count in a least-connections pool, released when
    /// the next try replaces it or the request ends.
    pub lb_in_flight: Option<crate::least_conn::InFlight>,
    /// `X-Request-ID`: the client's, or generated (`request_id.rs`).
    pub request_id: Option<crate::request_id::RequestId>,
    /// Trace ids and timings, with tracing on (`trace/`).
    pub trace: Option<Box<crate::trace::RequestTrace>>,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            start: Instant::now(),
            loaded: None,
            state: RequestState::default(),
            upstream_uri: None,
            upstream_start: None,
            upstream_elapsed: None,
            trusted_peer: false,
            lb_target: None,
            lb_tried: 0,
            lb_tries: 0,
            lb_responded: false,
            lb_cookie: None,
            lb_in_flight: None,
            request_id: None,
            trace: None,
        }
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}
