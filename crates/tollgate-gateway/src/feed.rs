//! The data plane's side of the control-plane feed: boot from the local cache,
//! then long-poll the control plane, apply each new snapshot, cache it, and
//! report back. Runs on its own thread; the running snapshot is never dropped
//! because the control plane is gone or sends something unusable.
//!
//! With several control-plane URLs the data plane follows one at a time and
//! moves to the next as soon as a poll fails; only when every one has failed
//! in a row does it back off.

use crate::state::Gateway;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tollgate_config::auth::Secret;
use tollgate_config::feed::{self, Report};
use tollgate_config::HashedDocument;

/// Largest snapshot accepted from the control plane.
const MAX_SNAPSHOT_BYTES: u64 = 512 * 1024 * 1024;

/// What `/status` shows about the control plane.
pub struct FeedStatus {
    /// Every `--control-plane` URL, in the order given.
    pub urls: Vec<String>,
    /// Index in `urls` of the one followed now.
    following: AtomicUsize,
    pub connected: AtomicBool,
    pub last_sync: Mutex<Option<SystemTime>>,
}

impl FeedStatus {
    /// From a comma-separated URL list; `None` when it names none.
    pub fn new(list: &str) -> Option<FeedStatus> {
        let urls: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .collect();
        if urls.is_empty() {
            return None;
        }
        Some(FeedStatus {
            urls,
            following: AtomicUsize::new(0),
            connected: AtomicBool::new(false),
            last_sync: Mutex::new(None),
        })
    }

    /// The control plane followed now.
    pub fn url(&self) -> &str {
        let i = self.following.load(Ordering::Relaxed);
        self.urls.get(i).map(String::as_str).unwrap_or("")
    }
}

pub struct FeedOptions {
    pub cache_dir: Option<PathBuf>,
    /// The control-plane epoch of the snapshot served at start (from the cache).
    pub epoch: Option<String>,
    pub id: String,
    pub hostname: String,
    /// Sent as `Authorization: Bearer <token>` on every feed request.
    pub token: Option<Secret>,
    /// Verifies `https://` control planes (see [`tls_connector`]).
    pub tls: Arc<native_tls::TlsConnector>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    // `error`, not `source`: the message already says it, and printing the
    // error chain must not repeat it.
    #[error("cannot read the CA file {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("the CA file {path} holds no usable PEM certificate: {reason}")]
    BadCa { path: String, reason: String },
    #[error("cannot set up TLS: {0}")]
    Tls(native_tls::Error),
}

/// The TLS client for control-plane connections (the feed and `tollgate
/// push`): the system's trusted roots, plus every certificate in the PEM file
/// `ca` when given. Server names and certificates are always verified.
pub fn tls_connector(ca: Option<&Path>) -> Result<Arc<native_tls::TlsConnector>, TlsSetupError> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(path) = ca {
        let shown = || path.display().to_string();
        let pem = std::fs::read(path).map_err(|error| TlsSetupError::Read {
            path: shown(),
            error,
        })?;
        let certs =
            native_tls::Certificate::stack_from_pem(&pem).map_err(|e| TlsSetupError::BadCa {
                path: shown(),
                reason: e.to_string(),
            })?;
        if certs.is_empty() {
            return Err(TlsSetupError::BadCa {
                path: shown(),
                reason: "no certificate found".into(),
            });
        }
        for cert in certs {
            builder.add_root_certificate(cert);
        }
    }
    builder.build().map(Arc::new).map_err(TlsSetupError::Tls)
}

/// Exponential backoff from 100 ms to 30 s with ±50 % jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(9)).min(30_000);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base / 2 + nanos % base.max(1))
}

/// Why a poll failed; a refused token is worth its own log line.
enum PollError {
    Unauthorized,
    Other(String),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Unauthorized => f.write_str(
                "the control plane refused this data plane's token (401): check --control-plane-token",
            ),
            PollError::Other(e) => f.write_str(e),
        }
    }
}

impl From<String> for PollError {
    fn from(e: String) -> Self {
        PollError::Other(e)
    }
}

impl From<&str> for PollError {
    fn from(e: &str) -> Self {
        PollError::Other(e.to_string())
    }
}

enum Poll {
    /// A new snapshot's headers arrived; its body is read by [`receive`].
    Snapshot {
        resp: Box<ureq::Response>,
        version: u64,
        hash: Option<String>,
        epoch: Option<String>,
    },
    NoChange,
}

fn poll(
    agent: &ureq::Agent,
    url: &str,
    auth: Option<&str>,
    report: &Report,
) -> Result<Poll, PollError> {
    let full = format!(
        "{}{}?{}",
        url.trim_end_matches('/'),
        feed::SUBSCRIBE_PATH,
        report.to_query()
    );
    let mut req = agent.get(&full);
    if let Some(auth) = auth {
        req = req.set("authorization", auth);
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(401, _)) => return Err(PollError::Unauthorized),
        Err(e) => return Err(PollError::Other(e.to_string())),
    };
    match resp.status() {
        204 => Ok(Poll::NoChange),
        200 => {
            let version = resp
                .header(feed::VERSION_HEADER)
                .and_then(|v| v.parse().ok())
                .ok_or("answer without a version header")?;
            let hash = resp.header(feed::HASH_HEADER).map(str::to_string);
            let epoch = resp.header(feed::EPOCH_HEADER).map(str::to_string);
            Ok(Poll::Snapshot {
                resp: Box::new(resp),
                version,
                hash,
                epoch,
            })
        }
        s => Err(format!("unexpected status {s}").into()),
    }
}

/// Reads a snapshot's body, up to the size limit.
fn receive(resp: ureq::Response) -> Result<Vec<u8>, PollError> {
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| PollError::Other(format!("reading the snapshot: {e}")))?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(format!("snapshot larger than {MAX_SNAPSHOT_BYTES} bytes").into());
    }
    Ok(bytes)
}

/// A cut or corrupted transfer must never be applied (and cached).
fn check(doc: &HashedDocument, hash: Option<&str>) -> Result<(), PollError> {
    match hash {
        Some(h) if doc.hash() != h => Err("snapshot does not match its hash header".into()),
        _ => Ok(()),
    }
}

/// Starts the subscription thread.
pub fn spawn(gw: Arc<Gateway>, opts: FeedOptions, status: Arc<FeedStatus>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("tollgate-feed".into())
        .spawn(move || run(gw, opts, status))
        .map(drop)
}

fn run(gw: Arc<Gateway>, opts: FeedOptions, status: Arc<FeedStatus>) {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout_read(Duration::from_secs(feed::MAX_WAIT_SECS + 15))
        .tls_connector(opts.tls.clone())
        .build();
    // Built once: the header value is the same on every poll.
    let auth = opts.token.as_ref().map(Secret::bearer_header);
    let mut unauthorized = false;
    let mut seen = gw.current().version.unwrap_or(0);
    let mut epoch = opts.epoch.clone();
    let mut error: Option<String> = None;
    let mut failures = 0u32;
    let count = status.urls.len().max(1);
    // The first poll on a connection asks for an immediate answer: it tells
    // whether this control plane is reachable without holding for `wait`.
    let mut probe = true;
    loop {
        let url = status.url().to_string();
        let cur = gw.current();
        let report = Report {
            id: opts.id.clone(),
            hostname: opts.hostname.clone(),
            hash: cur.snap.hash.clone(),
            version: cur.version,
            seen,
            error: error.clone(),
            epoch: epoch.clone(),
            wait: if probe { 0 } else { feed::MAX_WAIT_SECS },
            control_plane: Some(url.clone()),
        };
        drop(cur);
        // The body is read, checked, applied and cached at background
        // priority (`lowprio`): a large snapshot must not take the proxy's
        // cores in time slices while traffic is waiting.
        let polled = poll(&agent, &url, auth.as_deref(), &report).and_then(|p| match p {
            Poll::Snapshot {
                resp,
                version,
                hash,
                epoch: from,
            } => {
                // The version this data plane already refused, sent again: a
                // control plane that ignores `seen`.
                let again = version == seen && error.is_some() && from == epoch;
                crate::lowprio::run("tollgate-feed-apply", || {
                    let bytes = receive(*resp)?;
                    let doc = HashedDocument::new(&bytes);
                    check(&doc, hash.as_deref())?;
                    if again {
                        return Ok(Some((version, from, None)));
                    }
                    let applied = gw.apply_from("control_plane", &doc, None, Some(version));
                    if let (Ok(a), Some(dir)) = (&applied, &opts.cache_dir) {
                        crate::feed_cache::write(
                            dir,
                            &bytes,
                            Some(version),
                            &a.hash,
                            from.as_deref(),
                        );
                    }
                    Ok(Some((version, from, Some(applied))))
                })
            }
            Poll::NoChange => Ok(None),
        });
        match polled {
            Ok(p) => {
                if failures > 0 {
                    tracing::info!(url = %url, "following this control plane");
                }
                failures = 0;
                probe = false;
                unauthorized = false;
                status.connected.store(true, Ordering::Relaxed);
                if let Some((version, from, applied)) = p {
                    let Some(applied) = applied else {
                        // Do not spin on a refused version.
                        std::thread::sleep(Duration::from_secs(1));
                        continue;
                    };
                    seen = version;
                    epoch = from;
                    match applied {
                        Ok(a) => {
                            tracing::info!(version, hash = %a.hash, "snapshot from the control plane applied");
                            error = None;
                            *status.last_sync.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some(SystemTime::now());
                        }
                        Err(e) => {
                            tracing::error!(version, "snapshot from the control plane refused; still serving the previous one: {e}");
                            let mut msg =
                                e.0.iter()
                                    .map(|e| e.to_string())
                                    .collect::<Vec<_>>()
                                    .join("; ");
                            // It travels in the poll's URL: keep it short.
                            feed::truncate_chars(&mut msg, feed::MAX_ERROR_BYTES);
                            error = Some(msg);
                        }
                    }
                } else {
                    *status.last_sync.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some(SystemTime::now());
                }
            }
            Err(e) => {
                status.connected.store(false, Ordering::Relaxed);
                let refused = matches!(e, PollError::Unauthorized);
                if refused && !unauthorized {
                    tracing::error!(url = %url, "{e}; still serving the current snapshot, retrying with backoff");
                } else if failures == 0 || unauthorized != refused {
                    tracing::warn!(url = %url, "polling the control plane failed, retrying with backoff: {e}");
                }
                unauthorized = refused;
                probe = true;
                failures = failures.saturating_add(1);
                let next = (status.following.load(Ordering::Relaxed) + 1) % count;
                status.following.store(next, Ordering::Relaxed);
                // The next control plane is tried at once; a full round of
                // failures backs off as a single one would.
                if (failures as usize).rem_euclid(count) != 0 {
                    std::thread::sleep(Duration::from_millis(20));
                } else {
                    std::thread::sleep(backoff(failures / count as u32 - 1));
                }
            }
        }
    }
}

/// A stable id for this data plane: host name and listen address.
pub fn data_plane_id(hostname: &str, listen: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(format!("{hostname}\0{listen}").as_bytes());
    hex::encode(&d[..8])
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}
