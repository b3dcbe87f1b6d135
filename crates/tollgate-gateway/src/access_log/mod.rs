//! The access log (`run --access-log stdout|FILE`): one JSON line per
//! request, written off the request path.
//!
//! A request thread fills a fixed-size [`record::Record`] (indices into the
//! snapshot it holds, integers for times; no formatting, and no allocation
//! unless the path is longer than 96 bytes) and
//! hands it to a writer thread through a bounded channel; when the channel
//! is full the line is dropped and counted
//! (`tollgate_access_log_dropped_total`) rather than making a request wait
//! for a disk. The writer polls the channel every 10 ms, formats the lines
//! and flushes at most every 100 ms (or when 64 KiB are buffered): a wakeup
//! and a `write` per request cost more than the line itself. SIGHUP makes
//! the writer reopen its file (for logrotate's "move, then signal").

mod line;
mod record;

use crate::ctx::RequestCtx;
use crate::state::Gateway;
use pingora::proxy::Session;
use prometheus::IntCounter;
use record::Record;
use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines in flight before new ones are dropped: at POLL, 800 k lines/s.
/// The channel's slots are allocated up front (a record is a few hundred
/// bytes: about 3 MB).
const QUEUE: usize = 8 * 1024;
/// How often the writer drains the queue.
const POLL: Duration = Duration::from_millis(10);
/// Longest a written line stays in the buffer.
const FLUSH: Duration = Duration::from_millis(100);

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
    tx: SyncSender<Record>,
    /// Flushes asked for (by [`AccessLog::flush_pending`]) and done by the
    /// writer: a process about to exit waits for its last lines.
    flushes: Arc<(AtomicU64, AtomicU64)>,
    dropped: IntCounter,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub fn start(target: Target, dropped: IntCounter) -> std::io::Result<AccessLog> {
        let out = target.open()?;
        let (tx, rx) = sync_channel::<Record>(QUEUE);
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
            .spawn(move || write_loop(target, out, rx, &writer_flushes))?;
        Ok(AccessLog {
            tx,
            flushes,
            dropped,
        })
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

    fn send(&self, record: Record) {
        match self.tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.dropped.inc(),
        }
    }
}

fn write_loop(
    target: Target,
    out: Box<dyn Write + Send>,
    rx: Receiver<Record>,
    flushes: &(AtomicU64, AtomicU64),
) {
    let mut out = BufWriter::with_capacity(64 * 1024, out);
    let mut line = Vec::with_capacity(1024);
    let mut second = line::Second::default();
    // The record (and with it, perhaps, the last hold on a retired
    // snapshot) is dropped here, off the request threads.
    let mut put = |out: &mut BufWriter<Box<dyn Write + Send>>, rec: Record| {
        line.clear();
        line::format(&mut line, &mut second, &rec);
        if let Err(e) = out.write_all(&line) {
            tracing::warn!("access log write failed: {e}");
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
                Ok(rec) => put(&mut out, rec),
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

/// Queues one line for the finished request, when the log is on. Takes the
/// request id and the snapshot out of `ctx`: call it last.
pub fn record(gw: &Gateway, session: &Session, ctx: &mut RequestCtx) {
    let Some(log) = &gw.access_log else {
        return;
    };
    log.send(Record::capture(session, ctx));
}

/// Opens the log named by `--access-log`, if any.
pub fn open(spec: Option<&str>, dropped: IntCounter) -> std::io::Result<Option<AccessLog>> {
    match spec {
        None | Some("") => Ok(None),
        Some(s) => AccessLog::start(Target::parse(s), dropped).map(Some),
    }
}
