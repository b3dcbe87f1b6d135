//! Responses the gateway writes itself: plugin replies and proxy failures,
//! always with a JSON body and the rate-limit headers of the request.

use crate::ctx::RequestCtx;
use crate::headers;
use pingora::http::ResponseHeader;
use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use tollgate_core::request::Reply;

/// Sends `reply` downstream; returns `Ok(true)` (the request is answered).
pub async fn write_reply(
    session: &mut Session,
    ctx: &mut RequestCtx,
    reply: Reply,
) -> Result<bool> {
    let mut resp = ResponseHeader::build(reply.status, Some(8 + reply.headers.len()))?;
    resp.insert_header(http::header::CONTENT_TYPE, reply.content_type)?;
    resp.insert_header(http::header::CONTENT_LENGTH, reply.body.len())?;
    for (name, value) in reply.headers {
        resp.insert_header(name, value)?;
    }
    headers::set_rate(&mut resp, &ctx.state);
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(resp), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(true)
}

/// The error type of a balanced request that found no healthy target.
pub const NO_HEALTHY_TARGET: &str = "no healthy upstream target";

/// Maps a proxy error to a status and a Kong-style JSON body.
pub fn classify(e: &Error) -> (u16, &'static str) {
    use ErrorType::*;
    match e.etype() {
        // Kong's answer when the ring-balancer has no healthy target.
        Custom(NO_HEALTHY_TARGET) => (
            503,
            r#"{"message":"failure to get a peer from the ring-balancer"}"#,
        ),
        HTTPStatus(code) => (*code, r#"{"message":"Request failed"}"#),
        ConnectTimedout | ReadTimedout | WriteTimedout => {
            (504, r#"{"message":"The upstream server is timing out"}"#)
        }
        _ => match e.esource() {
            ErrorSource::Upstream => (
                502,
                r#"{"message":"An invalid response was received from the upstream server"}"#,
            ),
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed => (0, ""),
                _ => (400, r#"{"message":"Bad request"}"#),
            },
            ErrorSource::Internal | ErrorSource::Unset => {
                (500, r#"{"message":"An unexpected error occurred"}"#)
            }
        },
    }
}

pub async fn fail_to_proxy(session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
    let (code, body) = classify(e);
    if code > 0 {
        let reply = Reply::static_json(code, body);
        if let Err(err) = write_reply(session, ctx, reply).await {
            tracing::debug!("could not send error response: {err}");
        }
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}
