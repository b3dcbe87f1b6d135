//! The access log (`run --access-log stdout|FILE`): one JSON line per
//! request, written off the request path.
//!
//! A request thread formats its line into a recycled buffer and hands it to
//! a writer thread through a bounded channel; when the channel is full the
//! line is dropped and counted (`tollgate_access_log_dropped_total`) rather
//! than making a request wait for a disk. The writer polls the channel every
//! 10 ms and flushes at most every 100 ms (or when 64 KiB are buffered): a
//! wakeup and a `write` per request cost more than formatting the line. Buffers go back to the request
//! threads through a second channel, so a steady stream allocates nothing.
//! SIGHUP makes the writer reopen its file (for logrotate's "move, then
//! signal").

mod line;

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use pingora::proxy::Session;
use prometheus::IntCounter;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines in flight before new ones are dropped: at POLL, 1.6 M lines/s.
const QUEUE: usize = 16 * 1024;
/// How often the writer drains the queue.
const POLL: Duration = Duration::from_millis(10);
/// Longest a written line stays in the buffer.
const FLUSH: Duration = Duration::from_millis(100);
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
    /// Flushes asked for (by [`AccessLog::flush_pending`]) and done by the
    /// writer: a process about to exit waits for its last lines.
    flushes: Arc<(AtomicU64, AtomicU64)>,
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
        let flushes = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
        let writer_flushes = flushes.clone();
        std::thread::Builder::new()
            .name("tollgate-access-log".into())
            .spawn(move || write_loop(target, out, rx, back_tx, &writer_flushes))?;
        Ok(AccessLog {
            tx,
            flushes,
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

    /// Waits (up to `within`) until every line queued so far is written out.
    pub fn flush_pending(&self, within: Duration) {
        let (asked, done) = &*self.flushes;
        let want = asked.fetch_add(1, Ordering::AcqRel) + 1;
        let start = Instant::now();
        while done.load(Ordering::Acquire) < want && start.elapsed() < within {
            std::thread::sleep(POLL);
        }
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
    flushes: &(AtomicU64, AtomicU64),
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
    let mut last_flush = Instant::now();
    loop {
        // Polled, not blocked on: a sender then never has to wake this
        // thread (a futex call per request), and writes are batched.
        std::thread::sleep(POLL);
        // Before writing: a line that arrives after the signal goes to the new file.
        if REOPEN.swap(false, Ordering::Relaxed) {
            let _ = out.flush();
            match target.open() {
                Ok(f) => out = BufWriter::with_capacity(64 * 1024, f),
                Err(e) => tracing::warn!("access log: cannot reopen: {e}; keeping the old file"),
            }
        }
        // Read before draining: every line queued before a flush request
        // seen here is in the queue now, and is written below.
        let asked = flushes.0.load(Ordering::Acquire);
        let closed = loop {
            match rx.try_recv() {
                Ok(buf) => put(&mut out, buf),
                Err(TryRecvError::Empty) => break false,
                Err(TryRecvError::Disconnected) => break true,
            }
        };
        // The buffer writes itself out when full; otherwise lines wait at
        // most FLUSH, so a quiet gateway's log is still current.
        if closed || last_flush.elapsed() >= FLUSH || asked > flushes.1.load(Ordering::Acquire) {
            let _ = out.flush();
            last_flush = Instant::now();
            flushes.1.store(asked, Ordering::Release);
        }
        if closed {
            return;
        }
    }
}

/// Writes one line for the finished request, when the log is on.
pub fn record(gw: &Gateway, session: &Session, ctx: &RequestCtx) {
    let Some(log) = &gw.access_log else {
        return;
    };
    let mut buf = log.buffer();
    line::format(&mut buf, session, ctx);
    log.send(buf);
}

/// Opens the log named by `--access-log`, if any.
pub fn open(spec: Option<&str>, dropped: IntCounter) -> std::io::Result<Option<AccessLog>> {
    match spec {
        None | Some("") => Ok(None),
        Some(s) => AccessLog::start(Target::parse(s), dropped).map(Some),
    }
}
