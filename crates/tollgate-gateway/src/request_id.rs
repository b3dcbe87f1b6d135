//! `X-Request-ID`: a client's is kept (when it is a sane token), otherwise
//! one is generated; the upstream receives it and the client gets it back,
//! and the access log records it.
//!
//! Generated ids are a random per-process prefix and a counter, as 32 hex
//! characters: unique without a random draw per request, and the only
//! allocation is the header value itself.

use crate::ctx::RequestCtx;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub const X_REQUEST_ID: &str = "x-request-id";
/// Longest client id kept; longer ones are replaced.
const MAX_LEN: usize = 200;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn prefix() -> u64 {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        // std's RandomState is seeded from the operating system's random source.
        std::collections::hash_map::RandomState::new().hash_one(0x7265_7175_6573_7469_u64)
    })
}

fn valid(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty() && b.len() <= MAX_LEN && b.iter().all(|c| (0x21..=0x7e).contains(c))
}

/// A fresh id: 16 hex characters of the process prefix, 16 of the counter.
pub fn generate() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 32];
    for (i, b) in prefix()
        .to_be_bytes()
        .iter()
        .chain(n.to_be_bytes().iter())
        .enumerate()
    {
        buf[2 * i] = HEX[(b >> 4) as usize];
        buf[2 * i + 1] = HEX[(b & 15) as usize];
    }
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0"))
}

/// Takes the client's id, or generates one.
pub fn assign(req: &RequestHeader, ctx: &mut RequestCtx) {
    let mut sent = req.headers.get_all(X_REQUEST_ID).iter();
    match (sent.next(), sent.next()) {
        (Some(v), None) if valid(v) => {
            ctx.request_id = Some(v.clone());
            ctx.request_id_generated = false;
        }
        _ => {
            ctx.request_id = Some(generate());
            ctx.request_id_generated = true;
        }
    }
}

/// The upstream gets the id; a client's own valid one is already there.
pub fn set_upstream(req: &mut RequestHeader, ctx: &RequestCtx) {
    if let (true, Some(id)) = (ctx.request_id_generated, &ctx.request_id) {
        // A valid header value; insertion cannot fail.
        let _ = req.insert_header(X_REQUEST_ID, id.clone());
    }
}

/// The client gets the id back.
pub fn set_response(resp: &mut ResponseHeader, ctx: &RequestCtx) {
    if let Some(id) = &ctx.request_id {
        let _ = resp.insert_header(X_REQUEST_ID, id.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_differ_and_are_tokens() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(valid(&a));
    }

    #[test]
    fn odd_client_ids_are_replaced() {
        for (sent, kept) in [
            ("abc-123", true),
            ("", false),
            ("has space", false),
            (&"x".repeat(201) as &str, false),
        ] {
            let mut req = RequestHeader::build("GET", b"/", None).expect("request");
            req.insert_header(X_REQUEST_ID, sent).expect("header");
            let mut ctx = RequestCtx::new();
            assign(&req, &mut ctx);
            assert_eq!(!ctx.request_id_generated, kept, "{sent:?}");
        }
    }
}
