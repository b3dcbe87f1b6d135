//! Distributed tracing: W3C `traceparent` propagation and OpenTelemetry
//! spans exported over OTLP/HTTP, both on only with `--otlp-endpoint`.
//!
//! Off, nothing here runs: the request context holds `None`, and a client's
//! `traceparent`/`tracestate` reach the upstream like any other header.
//! On, each request continues the caller's trace (or starts a sampled one),
//! the upstream receives the upstream call's span as parent, and the spans
//! are built from timestamps once the request is done and handed to the
//! SDK's batch span processor: a bounded queue drained by its own thread, so
//! export never blocks a request (spans past the queue are dropped, counted
//! and logged by the SDK).

pub mod context;
pub mod export;
pub mod request;
pub mod span;

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanProcessor};
use opentelemetry_sdk::Resource;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::time::Duration;

pub use export::ExportError;
pub use request::{PluginStep, RequestTrace};

/// The span exporter of a gateway with tracing on.
pub struct Traces {
    processor: BatchSpanProcessor,
    scope: InstrumentationScope,
}

impl std::fmt::Debug for Traces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Traces")
    }
}

impl Traces {
    /// Starts the exporter thread for `endpoint` (`OTEL_BSP_*` variables
    /// tune the batching, as in every OpenTelemetry SDK).
    pub fn start(endpoint: &str) -> Result<Traces, ExportError> {
        let exporter = export::exporter(endpoint)?;
        let mut processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(BatchConfigBuilder::default().build())
            .build();
        let version = env!("CARGO_PKG_VERSION");
        processor.set_resource(
            &Resource::builder()
                .with_service_name("tollgate")
                .with_attribute(KeyValue::new("service.version", version))
                .build(),
        );
        Ok(Traces {
            processor,
            scope: InstrumentationScope::builder("tollgate")
                .with_version(version)
                .build(),
        })
    }

    /// Exports what is queued and stops the exporter, waiting at most
    /// `timeout`; spans recorded after it are not exported.
    pub fn shutdown(&self, timeout: Duration) {
        if let Err(e) = self.processor.shutdown_with_timeout(timeout) {
            tracing::warn!("traces not all exported at shutdown: {e}");
        }
    }
}

/// Request phase: decides the request's trace ids (tracing on only).
pub fn begin(gw: &Gateway, req: &RequestHeader, ctx: &mut RequestCtx) {
    if gw.traces.is_some() {
        ctx.trace = Some(RequestTrace::begin(req, ctx.start));
    }
}

/// Upstream request: sends the trace on.
pub fn set_upstream(req: &mut RequestHeader, ctx: &RequestCtx) -> pingora::Result<()> {
    match &ctx.trace {
        Some(t) => request::set_upstream(req, t),
        None => Ok(()),
    }
}

/// Logging phase: builds the request's spans and queues them for export.
pub fn record(gw: &Gateway, session: &Session, ctx: &RequestCtx) {
    let (Some(traces), Some(trace)) = (&gw.traces, &ctx.trace) else {
        return;
    };
    for span in span::build(session, ctx, trace, &traces.scope) {
        traces.processor.on_end(span);
    }
}
