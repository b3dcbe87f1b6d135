//! An upstream that records the raw head of every request it receives, so a
//! test can assert exactly what crossed the gateway (path, headers, count).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct Recorder {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let h = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let h = h.clone();
                std::thread::spawn(move || serve(conn, h));
            }
        });
        Recorder { addr, heads }
    }

    /// Every request head received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("lock").clone()
    }

    pub fn count(&self) -> usize {
        self.heads.lock().expect("lock").len()
    }

    /// The last request head, lower-cased header names kept as sent.
    pub fn last(&self) -> String {
        self.heads().last().cloned().unwrap_or_default()
    }

    pub fn clear(&self) {
        self.heads.lock().expect("lock").clear();
    }
}

fn serve(mut s: TcpStream, heads: Arc<Mutex<Vec<String>>>) {
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut buf: Vec<u8> = Vec::new();
    while let Some((head, _body)) = read_message(&mut s, &mut buf) {
        heads.lock().expect("lock").push(head);
        if s.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
        )
        .is_err()
        {
            return;
        }
    }
}

/// The `Content-Length` of a message head, 0 without one.
pub fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads one HTTP/1.1 message (its head, then a `Content-Length` body) from
/// `s`; bytes of the next message stay in `buf`. `None` once the peer closes.
pub fn read_message(s: &mut impl Read, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let mut chunk = [0u8; 16384];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let len = content_length(&head);
    while buf.len() < end + len {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buf.drain(..end + len).skip(end).collect();
    Some((head, body))
}

/// Sends raw bytes on a fresh connection; returns the whole response text
/// read until the server closes or goes quiet.
pub fn exchange(addr: &str, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&chunk[..n]);
                // A complete response with a body: stop waiting.
                let text = String::from_utf8_lossy(&out);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse::<usize>().ok());
                    if len.is_some_and(|n| body.len() >= n) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

/// The status code of a response text (0 when there is none).
pub fn status(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Whether a recorded head carries header `name` (case-insensitive, exact spelling).
pub fn has_header(head: &str, name: &str) -> bool {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .any(|(k, _)| k.trim().eq_ignore_ascii_case(name))
}

/// The value of header `name` in a recorded head.
pub fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The request target of a recorded head.
pub fn target(head: &str) -> &str {
    head.split_whitespace().nth(1).unwrap_or("")
}
