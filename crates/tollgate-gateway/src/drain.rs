//! Graceful shutdown and zero-downtime upgrade: how long a stopping gateway
//! keeps serving what it already accepted, and when it may exit early.
//!
//! Pingora stops accepting on SIGTERM (or, after handing its listening
//! sockets to a new process, on SIGQUIT) and then sleeps for a fixed grace
//! period before cancelling every task. A fixed sleep makes every restart as
//! slow as the worst case, so the proxy's client connections are counted here
//! and the process exits as soon as the last one is done, the grace period
//! being only the upper bound.

use pingora::server::ExecutionPhase;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Default of `--upgrade-sock`.
pub const DEFAULT_UPGRADE_SOCK: &str = "/tmp/tollgate_upgrade.sock";

/// How the process starts and stops.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    /// Longest a stopping gateway waits for open client connections.
    pub shutdown_grace: Duration,
    /// Take the listening sockets over from a running gateway (`--upgrade`).
    pub upgrade: bool,
    /// Unix socket the listening sockets are handed over on.
    pub upgrade_sock: PathBuf,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            shutdown_grace: Duration::from_secs(30),
            upgrade: false,
            upgrade_sock: PathBuf::from(DEFAULT_UPGRADE_SOCK),
        }
    }
}

/// Client connections of the proxy listener that are still open.
#[derive(Debug, Default, Clone)]
pub struct Connections(Arc<AtomicUsize>);

/// Held for as long as one client connection is open.
pub struct Open(Arc<AtomicUsize>);

impl Connections {
    pub fn open(&self) -> Open {
        self.0.fetch_add(1, Ordering::AcqRel);
        Open(self.0.clone())
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How often the open connections are counted once draining.
const POLL: Duration = Duration::from_millis(20);

/// Ends the process as soon as the proxy has no open client connection once
/// Pingora's grace period has begun; Pingora itself ends it at the end of
/// the period otherwise. Runs on its own thread: Pingora's main thread is
/// asleep for the whole period.
/// `before_exit` runs just before an early exit (the access log's last lines).
pub fn exit_when_drained(
    mut phases: broadcast::Receiver<ExecutionPhase>,
    conns: Connections,
    grace: Duration,
    before_exit: Box<dyn FnOnce() + Send>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tollgate drain".to_string())
        .spawn(move || {
            loop {
                match phases.blocking_recv() {
                    Ok(ExecutionPhase::ShutdownGracePeriod) => break,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            let start = Instant::now();
            tracing::info!(
                open = conns.count(),
                grace_s = grace.as_secs(),
                "draining client connections"
            );
            while start.elapsed() < grace {
                if conns.count() == 0 {
                    tracing::info!(
                        after_ms = start.elapsed().as_millis() as u64,
                        "drained: exiting"
                    );
                    before_exit();
                    std::process::exit(0);
                }
                std::thread::sleep(POLL);
            }
            tracing::warn!(
                open = conns.count(),
                "grace period over: closing the connections still open"
            );
        })
        .map(drop)
}
