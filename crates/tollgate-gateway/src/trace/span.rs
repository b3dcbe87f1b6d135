//! Turns a finished request's [`RequestTrace`] into OpenTelemetry spans: the
//! server span, one child per plugin that ran (with its Redis call as a
//! grandchild), and one for the upstream call.

use super::request::RequestTrace;
use crate::ctx::RequestCtx;
use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanLinks};
use pingora::proxy::Session;
use std::borrow::Cow;
use std::str::FromStr;
use std::time::{Instant, SystemTime};

/// What every span of one request shares.
struct Common<'a> {
    trace: &'a RequestTrace,
    state: TraceState,
    scope: &'a InstrumentationScope,
}

impl Common<'_> {
    fn span(
        &self,
        (id, parent): (SpanId, SpanId),
        kind: SpanKind,
        name: Cow<'static, str>,
        (start, end): (SystemTime, SystemTime),
        attributes: Vec<KeyValue>,
        status: Status,
    ) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                self.trace.trace_id,
                id,
                TraceFlags::SAMPLED,
                false,
                self.state.clone(),
            ),
            parent_span_id: parent,
            parent_span_is_remote: parent != SpanId::INVALID
                && Some(parent) == self.trace.remote_parent,
            span_kind: kind,
            name,
            start_time: start,
            end_time: end,
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

fn text(s: &str) -> opentelemetry::Value {
    opentelemetry::Value::from(s.to_string())
}

/// The server span's attributes: what was asked, how it was routed and what
/// ACE decided. Never the key: the application and package are named.
fn server_attributes(session: &Session, ctx: &RequestCtx, status: u16) -> Vec<KeyValue> {
    let req = session.req_header();
    let mut a = Vec::with_capacity(10);
    a.push(KeyValue::new(
        "http.request.method",
        text(req.method.as_str()),
    ));
    a.push(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if let Some(id) = ctx
        .request_id
        .as_ref()
        .map(|r| r.as_bytes())
        .and_then(|b| std::str::from_utf8(b).ok())
    {
        a.push(KeyValue::new("tollgate.request_id", text(id)));
    }
    let snap = ctx.loaded.as_ref().map(|l| &l.snap);
    let st = &ctx.state;
    if let Some((rm, s)) = st.route.zip(snap) {
        a.push(KeyValue::new(
            "http.route",
            text(&s.routes.route(rm.route).name),
        ));
        if let Some(svc) = s.services.get(rm.service as usize) {
            a.push(KeyValue::new("tollgate.service", text(&svc.name)));
        }
    }
    if let Some(d) = st.ace_decision {
        a.push(KeyValue::new("tollgate.ace.decision", d.as_str()));
        a.push(KeyValue::new(
            "tollgate.ace.mode",
            if st.ace_shadow { "shadow" } else { "enforce" },
        ));
    }
    if let Some((g, s)) = st.ace.zip(snap) {
        if let Some(op) = s.operations.get(g.operation as usize) {
            a.push(KeyValue::new("tollgate.operation", text(&op.id)));
        }
        if let Some(p) = g.package.and_then(|p| s.packages.get(p as usize)) {
            a.push(KeyValue::new("tollgate.package", text(&p.name)));
        }
        if let Some(app) = s.apps.get(g.app as usize) {
            a.push(KeyValue::new("tollgate.application", text(&app.name)));
        }
    }
    a
}

/// Builds the request's spans; empty when the caller's trace is not sampled.
pub fn build(
    session: &Session,
    ctx: &RequestCtx,
    trace: &RequestTrace,
    scope: &InstrumentationScope,
) -> Vec<SpanData> {
    if !trace.sampled() {
        return Vec::new();
    }
    let state = trace
        .tracestate
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceState::from_str(v).ok())
        .unwrap_or_default();
    let c = Common {
        trace,
        state,
        scope,
    };
    let now = Instant::now();
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let method = session.req_header().method.as_str();
    let route = match (&ctx.loaded, ctx.state.route) {
        (Some(l), Some(rm)) => Some(&*l.snap.routes.route(rm.route).name),
        _ => None,
    };
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None => method.to_string(),
    };
    // A server span is an error for 5xx only: 4xx are the client's.
    let server_status = if status >= 500 || status == 0 {
        Status::error("")
    } else {
        Status::Unset
    };
    let ids = RandomIdGenerator::default();
    let mut spans = Vec::with_capacity(2 + 2 * trace.plugins.len());
    spans.push(c.span(
        (trace.server, trace.remote_parent.unwrap_or(SpanId::INVALID)),
        SpanKind::Server,
        Cow::Owned(name),
        (trace.at(ctx.start), trace.at(now)),
        server_attributes(session, ctx, status),
        server_status,
    ));
    for step in &trace.plugins {
        let id = ids.new_span_id();
        spans.push(c.span(
            (id, trace.server),
            SpanKind::Internal,
            Cow::Owned(format!("plugin {}", step.name)),
            (trace.at(step.start), trace.at(step.end)),
            vec![KeyValue::new("tollgate.plugin", step.name)],
            Status::Unset,
        ));
        if let Some((start, end)) = step.redis {
            spans.push(c.span(
                (ids.new_span_id(), id),
                SpanKind::Client,
                Cow::Borrowed("redis limiter"),
                (trace.at(start), trace.at(end)),
                vec![KeyValue::new("db.system.name", "redis")],
                Status::Unset,
            ));
        }
    }
    if let Some(start) = ctx.upstream_start {
        let end = ctx.upstream_elapsed.map_or(now, |d| start + d);
        let answered = ctx.upstream_elapsed.is_some();
        let mut attributes = vec![KeyValue::new(
            "tollgate.upstream.tries",
            i64::from(ctx.lb_tries),
        )];
        if answered {
            attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        spans.push(c.span(
            (trace.upstream, trace.server),
            SpanKind::Client,
            Cow::Owned(format!("upstream {method}")),
            (trace.at(start), trace.at(end)),
            attributes,
            if answered {
                Status::Unset
            } else {
                Status::error("no response from the upstream")
            },
        ));
    }
    spans
}
