//! The access log (`run --access-log stdout|FILE`): one JSON line per
//! request, written off the request path.
//!
//! A request thread formats its line into a recycled buffer and hands it to
//! a writer thread through a bounded channel; when the channel is full the
//! line is dropped and counted (`tollgate_access_log_dropped_total`) rather
//! than making a request wait for a disk. Buffers go back to the request
//! threads through a second channel, so a steady stream allocates nothing.
//! SIGHUP makes the writer reopen its file (for logrotate's "move, then
//! signal").

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use pingora::proxy::Session;
use prometheus::IntCounter;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tollgate_core::request::RateHeaders;

/// Lines in flight before new ones are dropped.
const QUEUE: usize = 16 * 1024;
/// Idle buffers kept for reuse.
const POOL: usize = 1024;
/// A buffer larger than this (a huge path) is not kept for reuse.
const KEEP_BYTES: usize = 4096;

/// Set by the SIGHUP handler, taken by the writer thread.
static REOPEN: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    REOPEN.store(true, Ordering::Relaxed);
}

/// Where lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    /// `stdout` (or `-`), else a file path.
    pub fn parse(s: &str) -> Target {
        match s {
            "stdout" | "-" => Target::Stdout,
            path => Target::File(PathBuf::from(path)),
        }
    }

    fn open(&self) -> std::io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Target::Stdout => Box::new(std::io::stdout()),
            Target::File(p) => Box::new(OpenOptions::new().create(true).append(true).open(p)?),
        })
    }
}

pub struct AccessLog {
    tx: SyncSender<Vec<u8>>,
    /// Returned buffers; `try_lock`ed, so a busy pool means a new buffer, never a wait.
    pool: Mutex<Receiver<Vec<u8>>>,
    dropped: IntCounter,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub fn start(target: Target, dropped: IntCounter) -> std::io::Result<AccessLog> {
        let out = target.open()?;
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let (back_tx, back_rx) = sync_channel::<Vec<u8>>(POOL);
        if matches!(target, Target::File(_)) {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(
                    libc::SIGHUP,
                    on_hup as extern "C" fn(libc::c_int) as libc::sighandler_t,
                );
            }
        }
        std::thread::Builder::new()
            .name("tollgate-access-log".into())
            .spawn(move || write_loop(target, out, rx, back_tx))?;
        Ok(AccessLog {
            tx,
            pool: Mutex::new(back_rx),
            dropped,
        })
    }

    fn buffer(&self) -> Vec<u8> {
        self.pool
            .try_lock()
            .ok()
            .and_then(|rx| rx.try_recv().ok())
            .unwrap_or_else(|| Vec::with_capacity(512))
    }

    fn send(&self, line: Vec<u8>) {
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }
}

fn write_loop(
    target: Target,
    out: Box<dyn Write + Send>,
    rx: Receiver<Vec<u8>>,
    back: SyncSender<Vec<u8>>,
) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    let put = |out: &mut BufWriter<Box<dyn Write + Send>>, mut buf: Vec<u8>| {
        if let Err(e) = out.write_all(&buf) {
            tracing::warn!("access log write failed: {e}");
        }
        if buf.capacity() <= KEEP_BYTES {
            buf.clear();
            let _ = back.try_send(buf);
        }
    };
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(buf) => Some(buf),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                let _ = out.flush();
                return;
            }
        };
        // Before writing: a line that arrives after the signal goes to the new file.
        if REOPEN.swap(false, Ordering::Relaxed) {
            let _ = out.flush();
            match target.open() {
                Ok(f) => out = BufWriter::with_capacity(64 * 1024, f),
                Err(e) => tracing::warn!("access log: cannot reopen: {e}; keeping the old file"),
            }
        }
        if let Some(buf) = first {
            put(&mut out, buf);
            // Drain what is queued, then write it out in one go.
            while let Ok(buf) = rx.try_recv() {
                put(&mut out, buf);
            }
            let _ = out.flush();
        }
    }
}

/// Appends `s` as a JSON string.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            0..=0x1f | 0x7f => {
                let _ = write!(buf, "\\u{:04x}", b);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

fn json_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

fn key(buf: &mut Vec<u8>, k: &str) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
}

/// The limit that bound the request: ACE's (applied or shadow), else the
/// rate-limiting plugin's.
fn binding(buf: &mut Vec<u8>, r: &RateHeaders) {
    let Some(w) = r.outcome.binding() else {
        buf.extend_from_slice(b"null");
        return;
    };
    let scope = r.scope.map(|s| s.as_str()).unwrap_or("rate-limiting");
    let unit = match w.unit {
        tollgate_config::Unit::Seconds => "second",
        tollgate_config::Unit::Minutes => "minute",
        tollgate_config::Unit::Hours => "hour",
        tollgate_config::Unit::Days => "day",
    };
    let _ = write!(
        buf,
        "{{\"scope\":\"{scope}\",\"limit\":{},\"per\":\"{unit}\",\"remaining\":{},\"allowed\":{}}}",
        w.limit, w.remaining, r.outcome.allowed
    );
}

/// Writes one line for the finished request, when the log is on.
pub fn record(gw: &Gateway, session: &Session, ctx: &RequestCtx) {
    let Some(log) = &gw.access_log else {
        return;
    };
    let mut buf = log.buffer();
    format_line(&mut buf, session, ctx);
    log.send(buf);
}

fn format_line(buf: &mut Vec<u8>, session: &Session, ctx: &RequestCtx) {
    let req = session.req_header();
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let total = ctx.start.elapsed();
    let _ = write!(
        buf,
        "{{\"time\":\"{}\"",
        humantime::format_rfc3339_millis(SystemTime::now())
    );
    key(buf, "request_id");
    json_opt(buf, ctx.request_id.as_ref().and_then(|v| v.to_str().ok()));
    key(buf, "client_ip");
    match session.client_addr().and_then(|a| a.as_inet()) {
        Some(a) => {
            let _ = write!(buf, "\"{}\"", a.ip());
        }
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "method");
    json_str(buf, req.method.as_str());
    key(buf, "path");
    // Normalized as routing saw it; borrowed when the path was already normal.
    match tollgate_core::normalize::normalize(req.uri.path()) {
        Ok(n) => json_str(buf, &n.path),
        Err(_) => json_str(buf, req.uri.path()),
    }
    let _ = write!(
        buf,
        ",\"status\":{status},\"bytes\":{}",
        session.body_bytes_sent()
    );
    let total_us = total.as_micros() as u64;
    let _ = write!(buf, ",\"total_us\":{total_us}");
    key(buf, "upstream_us");
    match ctx.upstream_elapsed {
        Some(u) => {
            let up = u.as_micros() as u64;
            let _ = write!(buf, "{up},\"gateway_us\":{}", total_us.saturating_sub(up));
        }
        None => {
            let _ = write!(buf, "null,\"gateway_us\":{total_us}");
        }
    }
    let snap = ctx.loaded.as_ref().map(|l| &l.snap);
    let st = &ctx.state;
    let route = st.route.zip(snap);
    key(buf, "route");
    json_opt(buf, route.map(|(rm, s)| &*s.routes.route(rm.route).name));
    key(buf, "service");
    json_opt(
        buf,
        route.and_then(|(rm, s)| s.services.get(rm.service as usize).map(|x| &*x.name)),
    );
    let grant = st.ace.zip(snap);
    key(buf, "operation");
    json_opt(
        buf,
        grant.and_then(|(g, s)| s.operations.get(g.operation as usize).map(|o| &*o.id)),
    );
    key(buf, "package");
    json_opt(
        buf,
        grant.and_then(|(g, s)| {
            g.package
                .and_then(|p| s.packages.get(p as usize))
                .map(|p| &*p.name)
        }),
    );
    key(buf, "application");
    json_opt(
        buf,
        grant.and_then(|(g, s)| s.apps.get(g.app as usize).map(|a| &*a.name)),
    );
    key(buf, "credential");
    match grant {
        Some((g, s)) => {
            let id = s.credentials.get(g.credential).identifier();
            json_opt(buf, id.to_str().ok());
        }
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "consumer");
    json_opt(
        buf,
        st.identity
            .consumer
            .zip(snap)
            .and_then(|(c, s)| s.consumers.get(c as usize).map(|c| &*c.username)),
    );
    key(buf, "ace_decision");
    json_opt(buf, st.ace_decision.map(|d| d.as_str()));
    key(buf, "ace_mode");
    json_opt(
        buf,
        st.ace_decision
            .map(|_| if st.ace_shadow { "shadow" } else { "enforce" }),
    );
    key(buf, "limit");
    let rate = st
        .ace_rate
        .as_ref()
        .or(st.shadow_rate.as_ref())
        .or(st.plugin_rate.as_ref());
    match rate {
        Some(r) => binding(buf, r),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b"}\n");
}

/// Opens the log named by `--access-log`, if any.
pub fn open(spec: Option<&str>, dropped: IntCounter) -> std::io::Result<Option<AccessLog>> {
    match spec {
        None | Some("") => Ok(None),
        Some(s) => AccessLog::start(Target::parse(s), dropped).map(Some),
    }
}
