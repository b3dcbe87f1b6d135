//! What one request records for its trace while it runs: ids decided at the
//! start, and the instants at which each plugin, Redis call and the upstream
//! call began and ended. The spans themselves are built once, in the logging
//! phase (`span.rs`): timestamps are cheap to take, and nothing has to live
//! across the proxy's awaits.

use super::context::{self, TraceParent, SAMPLED, TRACEPARENT, TRACESTATE};
use http::HeaderValue;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use pingora::http::RequestHeader;
use std::time::{Instant, SystemTime};

/// One plugin that ran, and the Redis call it made, if any.
#[derive(Debug, Clone)]
pub struct PluginStep {
    pub name: &'static str,
    pub start: Instant,
    pub end: Instant,
    pub redis: Option<(Instant, Instant)>,
}

/// The trace state of one request (boxed in the context; `None` when
/// tracing is off).
#[derive(Debug)]
pub struct RequestTrace {
    pub trace_id: TraceId,
    /// The gateway's server span.
    pub server: SpanId,
    /// The upstream call's span: the parent id the upstream receives.
    pub upstream: SpanId,
    /// The caller's span, when the request continued a trace.
    pub remote_parent: Option<SpanId>,
    pub flags: u8,
    /// The caller's `tracestate`, kept on the exported spans.
    pub tracestate: Option<HeaderValue>,
    /// Wall-clock time of `origin`: instants are turned into timestamps
    /// relative to it.
    pub wall: SystemTime,
    pub origin: Instant,
    pub plugins: Vec<PluginStep>,
}

impl RequestTrace {
    /// Continues the caller's trace, or starts a sampled one when the request
    /// has no `traceparent`, several, or an invalid one.
    pub fn begin(req: &RequestHeader, origin: Instant) -> Box<RequestTrace> {
        let ids = RandomIdGenerator::default();
        let mut sent = req.headers.get_all(TRACEPARENT).iter();
        let parent = match (sent.next(), sent.next()) {
            (Some(v), None) => context::parse(v.as_bytes()),
            _ => None,
        };
        let (trace_id, remote_parent, flags, tracestate) = match parent {
            Some(TraceParent {
                trace_id,
                span_id,
                flags,
            }) => (
                TraceId::from_bytes(trace_id),
                Some(SpanId::from_bytes(span_id)),
                flags,
                req.headers.get(TRACESTATE).cloned(),
            ),
            None => (ids.new_trace_id(), None, SAMPLED, None),
        };
        Box::new(RequestTrace {
            trace_id,
            server: ids.new_span_id(),
            upstream: ids.new_span_id(),
            remote_parent,
            flags,
            tracestate,
            wall: SystemTime::now()
                .checked_sub(origin.elapsed())
                .unwrap_or_else(SystemTime::now),
            origin,
            plugins: Vec::new(),
        })
    }

    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// The timestamp of `t`.
    pub fn at(&self, t: Instant) -> SystemTime {
        self.wall + t.saturating_duration_since(self.origin)
    }

    /// The `traceparent` sent upstream: this trace, the upstream span as parent.
    pub fn upstream_header(&self) -> HeaderValue {
        let v = context::format(
            &self.trace_id.to_bytes(),
            &self.upstream.to_bytes(),
            self.flags,
        );
        HeaderValue::from_bytes(&v).unwrap_or(HeaderValue::from_static(""))
    }
}

/// Sets `traceparent` on the upstream request; a started trace drops the
/// client's `tracestate`, which belonged to the trace that was replaced.
pub fn set_upstream(req: &mut RequestHeader, trace: &RequestTrace) -> pingora::Result<()> {
    req.insert_header(TRACEPARENT, trace.upstream_header())?;
    if trace.remote_parent.is_none() {
        req.remove_header(TRACESTATE);
    }
    Ok(())
}
