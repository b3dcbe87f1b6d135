//! A deadline and a size cap for the whole request head, in front of the
//! Pingora proxy app.
//!
//! Pingora times out each read (60 s) and allows a 1 MB head, so a client
//! sending one header line per minute, or a thousand connections each holding
//! an unfinished megabyte, pins connections and memory. This wrapper runs
//! Pingora's HTTP/1 keep-alive loop itself and, for every request on a
//! connection, reads the head under one deadline and a small cap, then hands
//! the bytes back to the stream (`rewind`) so Pingora parses exactly what
//! arrived.
//!
//! It also counts the open connections for the shutdown drain, and closes a
//! kept-alive connection that is waiting for its next request once the server
//! stops, so that a drain ends when the last request in flight is answered.

use crate::drain::Connections;
use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use pingora::time::fast_timeout::fast_timeout;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};

/// Limits on a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// From the first byte of a request to the end of its head.
    pub deadline: Duration,
    /// Largest head accepted (431 above).
    pub max_bytes: usize,
    /// How long a kept-alive connection may wait for its next request.
    pub idle: Duration,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            deadline: Duration::from_secs(10),
            max_bytes: 32 * 1024,
            idle: Duration::from_secs(60),
        }
    }
}

/// Counters of heads refused, by reason.
#[derive(Clone)]
pub struct HeadRefusals {
    pub too_large: prometheus::IntCounter,
    pub timed_out: prometheus::IntCounter,
}

pub struct HeadGuard<A> {
    inner: Arc<A>,
    limits: HeadLimits,
    refusals: HeadRefusals,
    conns: Connections,
}

impl<A> HeadGuard<A> {
    pub fn new(inner: A, limits: HeadLimits, refusals: HeadRefusals, conns: Connections) -> Self {
        HeadGuard {
            inner: Arc::new(inner),
            limits,
            refusals,
            conns,
        }
    }
}

/// How long a connection accepted before the server stopped may still take
/// to send its first request: its client had no way to know, and closing it
/// unanswered would fail that request.
const FIRST_REQUEST_LINGER: Duration = Duration::from_secs(2);

/// Resolves `linger` after the server starts stopping; never if it does not.
async fn stopped(shutdown: &mut ShutdownWatch, linger: Duration) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
    if !linger.is_zero() {
        tokio::time::sleep(linger).await;
    }
}

/// A complete error response that closes the connection.
fn refusal(status: &str, message: &str) -> Vec<u8> {
    let body = format!("{{\"message\":\"{message}\"}}");
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Where the head ends (just past its blank line), ignoring leading blank lines.
fn head_end(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let mut i = start;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

enum Head {
    Complete,
    /// The client went away, or never started a request.
    Gone,
    TooLarge,
    TimedOut,
}

async fn read_head(
    s: &mut L4Stream,
    buf: &mut Vec<u8>,
    limits: HeadLimits,
    shutdown: &mut ShutdownWatch,
    linger: Duration,
) -> Head {
    // Read into spare capacity: no zeroed scratch buffer per request.
    buf.reserve(4096);
    // The idle wait for a request to begin is not part of the deadline. It is
    // Pingora's timer wheel, not tokio's: arming a tokio timer after every
    // response wakes the runtime's driver (an eventfd write and an extra
    // epoll_wait per request).
    let first = tokio::select! {
        // A request already received is served even when stopping.
        biased;
        r = fast_timeout(limits.idle, s.read_buf(buf)) => r,
        _ = stopped(shutdown, linger) => return Head::Gone,
    };
    match first {
        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return Head::Gone,
        Ok(Ok(_)) => {}
    }
    let deadline = Instant::now() + limits.deadline;
    loop {
        // One read may bring more than the cap: the head's end is checked too.
        match head_end(buf) {
            Some(end) if end > limits.max_bytes => return Head::TooLarge,
            Some(_) => return Head::Complete,
            None if buf.len() > limits.max_bytes => return Head::TooLarge,
            None => {}
        }
        buf.reserve(4096);
        match timeout_at(deadline, s.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Head::Gone,
            Ok(Ok(_)) => {}
            Err(_) => return Head::TimedOut,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for HeadGuard<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let _open = self.conns.open();
        // Plain TCP only; other transports are handed over untouched.
        if !stream.as_any().is::<L4Stream>() {
            return self.inner.process_new(stream, shutdown).await;
        }
        // Pingora's own HTTP/1 keep-alive loop, with every request's head read
        // under the guard first (not only the connection's first request).
        let mut stream = stream;
        let mut persistent: Option<HttpPersistentSettings> = None;
        // One buffer per connection, not per request.
        let mut buf = Vec::with_capacity(4096);
        let mut shutdown = shutdown.clone();
        let mut linger = FIRST_REQUEST_LINGER;
        loop {
            let Ok(mut l4) = stream.into_any().downcast::<L4Stream>() else {
                return None;
            };
            buf.clear();
            let head = read_head(&mut l4, &mut buf, self.limits, &mut shutdown, linger).await;
            // A kept-alive client knows the connection may close while idle.
            linger = Duration::ZERO;
            let answer = match head {
                Head::Complete => None,
                Head::Gone => return None,
                Head::TooLarge => {
                    self.refusals.too_large.inc();
                    Some(refusal(
                        "431 Request Header Fields Too Large",
                        "Request header fields too large",
                    ))
                }
                Head::TimedOut => {
                    self.refusals.timed_out.inc();
                    Some(refusal("408 Request Timeout", "Request timeout"))
                }
            };
            if let Some(bytes) = answer {
                let _ = timeout(Duration::from_secs(1), async {
                    let _ = l4.write_all(&bytes).await;
                    let _ = l4.flush().await;
                })
                .await;
                return None;
            }
            l4.rewind(&buf);
            let mut session = ServerSession::new_http1(l4);
            let keepalive = if *shutdown.borrow() {
                None
            } else {
                Some(self.limits.idle.as_secs())
            };
            session.set_keepalive(keepalive);
            if let Some(p) = persistent.take() {
                p.apply_to_session(&mut session);
            }
            let reused = self.inner.process_new_http(session, &shutdown).await?;
            let (next, settings) = reused.consume();
            stream = next;
            persistent = settings;
        }
    }

    async fn cleanup(&self) {
        self.inner.http_cleanup().await
    }
}

#[cfg(test)]
mod tests {
    use super::head_end;

    #[test]
    fn finds_the_end_of_a_head() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Some(27)),
            (b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", Some(27)),
            (b"GET / HTTP/1.1\nHost: x\n\n", Some(24)),
            (b"GET / HTTP/1.1\r\nHost: x\r\n", None),
            (b"\r\n\r\nGET / HTTP/1.1\r\n", None),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Some(22)),
            (b"", None),
        ];
        for (buf, want) in cases {
            assert_eq!(head_end(buf), *want, "{:?}", String::from_utf8_lossy(buf));
        }
    }
}
