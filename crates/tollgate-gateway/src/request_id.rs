//! `X-Request-ID` on every request: a client's is kept (when it is a sane
//! token: 1 to 200 visible ASCII characters, sent once), otherwise one is
//! generated; the upstream receives it, the client gets it back on every
//! response (the gateway's own 4xx/5xx included), and the access log
//! records it.
//!
//! Generated ids are 32 hex characters: a random per-process prefix (16), a
//! per-thread slot (4) and a per-thread counter (12). Unique without a random
//! draw or a shared atomic per request, and kept inline, so the only
//! allocations are the header values actually sent.

use crate::ctx::RequestCtx;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub const X_REQUEST_ID: &str = "x-request-id";
/// Longest client id kept; longer ones are replaced.
const MAX_LEN: usize = 200;

/// Threads that have generated an id so far: each takes the next slot
/// (16 bits; ids are generated on the fixed pool of proxy threads only).
static SLOTS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's next id: its slot in the top 16 bits, a counter below
    /// (2^48 ids per thread before it would wrap into the next slot).
    static NEXT: Cell<u64> = const { Cell::new(u64::MAX) };
}

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

/// A request's id: the client's header, or 32 generated hex characters
/// kept inline (a header value is built only where one is sent).
#[derive(Debug, Clone)]
pub enum RequestId {
    Client(HeaderValue),
    /// `replace`: the client sent an id that is not kept.
    Generated {
        id: [u8; 32],
        replace: bool,
    },
}

/// This thread's next (slot, counter) word.
fn next() -> u64 {
    NEXT.with(|c| {
        let mut n = c.get();
        if n == u64::MAX {
            n = SLOTS.fetch_add(1, Ordering::Relaxed) << 48;
        }
        c.set(n.wrapping_add(1));
        n
    })
}

/// A fresh id: 16 hex characters of the process prefix, 4 of the thread's
/// slot, 12 of its counter.
pub fn generate() -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let n = next();
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
    buf
}

fn header(id: &[u8; 32]) -> HeaderValue {
    HeaderValue::from_bytes(id).unwrap_or(HeaderValue::from_static("0"))
}

/// Takes the client's id, or generates one.
pub fn assign(req: &RequestHeader, ctx: &mut RequestCtx) {
    let mut sent = req.headers.get_all(X_REQUEST_ID).iter();
    ctx.request_id = Some(match (sent.next(), sent.next()) {
        (Some(v), None) if valid(v) => RequestId::Client(v.clone()),
        (None, _) => RequestId::Generated {
            id: generate(),
            replace: false,
        },
        _ => RequestId::Generated {
            id: generate(),
            replace: true,
        },
    });
}

impl RequestId {
    /// The id's bytes, for the access log.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            RequestId::Client(v) => v.as_bytes(),
            RequestId::Generated { id, .. } => id,
        }
    }
}

/// The upstream gets the id; a client's own valid one is already there.
pub fn set_upstream(req: &mut RequestHeader, ctx: &RequestCtx) {
    // Header values are hex or checked tokens; insertion cannot fail.
    match &ctx.request_id {
        Some(RequestId::Generated { id, replace: true }) => {
            let _ = req.insert_header(X_REQUEST_ID, header(id));
        }
        // Appending skips the search for an existing header.
        Some(RequestId::Generated { id, replace: false }) => {
            let _ = req.append_header(X_REQUEST_ID, header(id));
        }
        _ => {}
    }
}

/// The client gets the id back (replacing one the upstream may have set).
pub fn set_response(resp: &mut ResponseHeader, ctx: &RequestCtx) {
    let value = match &ctx.request_id {
        Some(RequestId::Client(v)) => v.clone(),
        Some(RequestId::Generated { id, .. }) => header(id),
        None => return,
    };
    let _ = resp.insert_header(X_REQUEST_ID, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_differ_and_are_tokens() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(valid(&header(&a)));
        // Another thread counts from its own slot: no id is repeated.
        let c = std::thread::spawn(generate).join().expect("thread");
        assert_ne!(a, c);
        assert_ne!(b, c);
        assert_eq!(a[..16], c[..16], "one prefix per process");
        assert_ne!(a[16..20], c[16..20], "one slot per thread");
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
            let client = matches!(ctx.request_id, Some(RequestId::Client(_)));
            assert_eq!(client, kept, "{sent:?}");
        }
    }
}
