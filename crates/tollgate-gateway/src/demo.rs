//! A small HTTP/1.1 upstream for demos, tests and load runs: it answers every
//! request with JSON describing what it received (service name, method, path,
//! headers), with keep-alive, so the gateway's rewriting can be observed.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MAX_HEAD: usize = 64 * 1024;

/// What the upstream answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// JSON describing the request (method, path, headers).
    Echo,
    /// A fixed small body whatever the request, so load runs compare proxies
    /// without the upstream's work depending on the headers a proxy adds.
    Fixed,
}

const FIXED_BODY: &[u8] = b"{\"ok\":true}";

/// Binds `addr` and serves echo responses in a background thread.
/// Returns the bound address (use port 0 for an ephemeral one).
pub fn spawn(addr: &str, name: &str) -> std::io::Result<SocketAddr> {
    spawn_with(addr, name, Mode::Echo)
}

/// Like [`spawn`], with a choice of response.
pub fn spawn_with(addr: &str, name: &str, mode: Mode) -> std::io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    let name = name.to_string();
    std::thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("demo upstream {name}: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match TcpListener::from_std(std_listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("demo upstream {name}: {e}");
                        return;
                    }
                };
                serve(listener, name, mode).await;
            });
        })?;
    Ok(local)
}

async fn serve(listener: TcpListener, name: String, mode: Mode) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let name = name.clone();
        tokio::spawn(async move {
            let _ = connection(stream, &name, mode).await;
        });
    }
}

async fn connection(mut stream: TcpStream, name: &str, mode: Mode) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        // Read until a full request head is buffered.
        let (head_len, response, keep_alive, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => {
                    let body_len = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| {
                            std::str::from_utf8(h.value)
                                .ok()?
                                .trim()
                                .parse::<usize>()
                                .ok()
                        })
                        .unwrap_or(0);
                    let close = req.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                    });
                    let response = match mode {
                        Mode::Echo => describe(name, &req),
                        Mode::Fixed => FIXED_BODY.to_vec(),
                    };
                    break (n, response, !close, body_len);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                    let mut chunk = [0u8; 4096];
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                _ => {
                    stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await?;
                    return Ok(());
                }
            }
        };
        // Consume (and discard) the body.
        while buf.len() < head_len + body_len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_len + body_len);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
            response.len(),
            if keep_alive {
                ""
            } else {
                "connection: close\r\n"
            }
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(&response);
        stream.write_all(&out).await?;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn describe(name: &str, req: &httparse::Request) -> Vec<u8> {
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                serde_json::Value::String(String::from_utf8_lossy(h.value).into_owned()),
            )
        })
        .collect();
    let body = serde_json::json!({
        "service": name,
        "method": req.method.unwrap_or(""),
        "path": req.path.unwrap_or(""),
        "headers": headers,
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
