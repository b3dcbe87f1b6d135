//! Per-request metrics, recorded once in the logging phase.

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use pingora::proxy::Session;
use tollgate_core::request::AceDecision;

pub fn record(gw: &Gateway, session: &Session, ctx: &RequestCtx) {
    let m = &gw.metrics;
    let status = session
        .response_written()
        .map(|r| r.status)
        .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let (service, route) = match (&ctx.loaded, ctx.state.route) {
        (Some(l), Some(rm)) => (
            &*l.snap.services[rm.service as usize].name,
            &*l.snap.routes.route(rm.route).name,
        ),
        _ => ("", ""),
    };
    m.http_requests
        .with_label_values(&[service, route, status.as_str()])
        .inc();
    m.request_duration
        .observe(ctx.start.elapsed().as_secs_f64());
    if let Some(d) = ctx.upstream_elapsed {
        m.upstream_duration.observe(d.as_secs_f64());
    }
    // A shadow-mode "would be 429" was not rejected: it is counted by
    // `tollgate_ace_shadow_refusals_total` instead.
    if ctx.state.ace_decision == Some(AceDecision::RateLimited) && ctx.state.shadow.is_none() {
        let package = match (&ctx.loaded, ctx.state.ace.and_then(|g| g.package)) {
            (Some(l), Some(p)) => &*l.snap.packages[p as usize].name,
            _ => "",
        };
        let scope = ctx
            .state
            .ace_rate
            .and_then(|r| r.scope)
            .map(|s| s.as_str())
            .unwrap_or("");
        m.ace_rate_limited
            .with_label_values(&[package, scope])
            .inc();
    }
}
