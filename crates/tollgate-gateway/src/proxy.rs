//! The Pingora `ProxyHttp` implementation. Deliberately thin: every phase
//! delegates to the module that owns that concern.

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use crate::{access, access_log, headers, observe, reply, request_id, shadow, trace, upstream};
use async_trait::async_trait;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, Result};
use std::sync::Arc;

pub struct TollgateProxy {
    pub gw: Arc<Gateway>,
}

#[async_trait]
impl ProxyHttp for TollgateProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        request_id::assign(session.req_header(), ctx);
        trace::begin(&self.gw, session.req_header(), ctx);
        access::request_filter(&self.gw, session, ctx).await
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        upstream::peer(session, ctx).await
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        upstream::connect_failed(&self.gw, ctx, &mut e);
        e
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let client_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        if session.is_http2() {
            headers::join_h2_cookies(upstream_request)?;
        }
        upstream::rewrite(upstream_request, client_ip, ctx)?;
        request_id::set_upstream(upstream_request, ctx);
        trace::set_upstream(upstream_request, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<bytes::Bytes>,
        _end_of_stream: bool,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        // Pingora writes an empty chunk as a chunked body's terminator: an
        // empty HTTP/2 DATA frame would end the upstream body early and leave
        // a stray "0\r\n\r\n" on a pooled connection. The real end is written
        // once, when the stream ends.
        if body.as_ref().is_some_and(|b| b.is_empty()) {
            *body = None;
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.upstream_elapsed = ctx.upstream_start.map(|s| s.elapsed());
        upstream::responded(ctx, upstream_response.status.as_u16());
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        headers::set_rate(upstream_response, &ctx.state);
        headers::set_cors(upstream_response, &ctx.state);
        shadow::set_header(upstream_response, &ctx.state);
        request_id::set_response(upstream_response, ctx);
        upstream::set_hash_cookie(upstream_response, ctx)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        reply::fail_to_proxy(session, e, ctx).await
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut RequestCtx) {
        if let Some(e) = e {
            upstream::failed_after_connect(ctx, e);
        }
        observe::record(&self.gw, session, ctx);
        trace::record(&self.gw, session, ctx);
        // Last: it moves the request id and the snapshot out of `ctx`.
        access_log::record(&self.gw, session, ctx);
    }
}
