//! Assembles the Pingora server: proxy listener, admin listener and the
//! background services, around one shared [`Gateway`].

use crate::admin::AdminApp;
use crate::background::{ClusterSync, DnsRefresher, Evictor, FileWatcher};
use crate::drain::Connections;
use crate::feed::{FeedOptions, FeedStatus};
use crate::head_guard::{HeadGuard, HeadRefusals};
use crate::proxy::TollgateProxy;
use crate::state::Gateway;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tollgate_config::auth::Secret;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: Option<PathBuf>,
    pub control_plane: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub listen: String,
    pub admin_listen: String,
    pub threads: usize,
    pub admin_token: Option<String>,
    /// Peers whose X-Forwarded-* / Forwarded / X-Real-IP are kept.
    pub trusted_ips: crate::trusted::TrustedIps,
    /// Deadline and size cap for request heads.
    pub head: crate::head_guard::HeadLimits,
    // Who may change the snapshot, and how the control plane is reached.
    /// Bearer token sent to the control plane on every feed request.
    pub control_plane_token: Option<Secret>,
    /// Extra PEM CA trusted for an `https://` control plane.
    pub control_plane_ca: Option<PathBuf>,
    /// Accept `POST /config` while following a control plane (409 otherwise).
    pub allow_admin_config: bool,
    /// Allow an admin API on a non-loopback address without `admin_token`.
    pub admin_insecure: bool,
    /// Limiter key cap and upstream DNS refresh interval.
    pub state: crate::state::StateOptions,
    /// Runtime knobs handed to Pingora.
    pub tuning: crate::tuning::Tuning,
    /// `--access-log`: `stdout` or a file path (reopened on SIGHUP); off when `None`.
    pub access_log: Option<String>,
    /// `--otlp-endpoint`: OTLP/HTTP collector for spans; tracing is off when `None`.
    pub otlp_endpoint: Option<String>,
    /// Shutdown grace period and socket hand-over on upgrade.
    pub lifecycle: crate::drain::Lifecycle,
    /// `--tls-listen` and its certificate/key file pairs.
    pub tls: Option<TlsListen>,
}

/// The TLS proxy listener: an address and `--tls-cert`/`--tls-key` pairs
/// (the first is the default certificate).
#[derive(Debug, Clone)]
pub struct TlsListen {
    pub addr: String,
    pub pairs: Vec<(PathBuf, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("snapshot {path} is invalid:\n{errors}")]
    Config { path: String, errors: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the control-plane subscription: {0}")]
    Feed(std::io::Error),
    #[error("cannot start the drain watcher: {0}")]
    Drain(std::io::Error),
    #[error("--upgrade-sock {0} is not valid UTF-8")]
    UpgradeSock(String),
    #[error("--control-plane names no URL")]
    NoControlPlane,
    #[error("cannot open the access log {path}: {source}")]
    AccessLog {
        path: String,
        source: std::io::Error,
    },
    #[error("--tls-listen: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("{0}")]
    Traces(#[from] crate::trace::ExportError),
    #[error("control plane TLS: {0}")]
    FeedTls(crate::feed::TlsSetupError),
    #[error("the admin API would listen on {0}, which is not a loopback address, without --admin-token: anyone who can reach it could replace the snapshot. Set --admin-token (TOLLGATE_ADMIN_TOKEN), listen on 127.0.0.1, or pass --admin-insecure to accept the risk")]
    AdminExposed(String),
}

/// Checks that an address can be bound, so a busy port is a clear error at
/// start rather than a failure inside a server thread.
fn probe(addr: &str) -> Result<(), StartError> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|source| StartError::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Builds the gateway and its initial snapshot; runs until shutdown.
pub fn run(opts: RunOptions) -> Result<(), StartError> {
    if opts.admin_token.is_none() && !tollgate_config::auth::is_loopback_listen(&opts.admin_listen)
    {
        if !opts.admin_insecure {
            return Err(StartError::AdminExposed(opts.admin_listen));
        }
        tracing::warn!(admin = %opts.admin_listen, "--admin-insecure: the admin API listens on a non-loopback address without a token; anyone who can reach it can replace the snapshot");
    }
    // Read the CA before anything starts, so a bad file is a start error.
    let feed_tls = match &opts.control_plane {
        Some(_) => Some(
            crate::feed::tls_connector(opts.control_plane_ca.as_deref())
                .map_err(StartError::FeedTls)?,
        ),
        None => None,
    };
    let gw = Gateway::with_options(opts.admin_token.clone(), opts.state)?
        .with_trusted_ips(opts.trusted_ips.clone());
    let log = crate::access_log::open(
        opts.access_log.as_deref(),
        gw.metrics.access_log_dropped.clone(),
    )
    .map_err(|source| StartError::AccessLog {
        path: opts.access_log.clone().unwrap_or_default(),
        source,
    })?;
    let traces = match &opts.otlp_endpoint {
        Some(endpoint) => {
            let traces = crate::trace::Traces::start(endpoint)?;
            tracing::info!(endpoint = %endpoint, "exporting spans over OTLP/HTTP");
            Some(traces)
        }
        None => None,
    };
    // Certificates are read before anything listens, so a bad file is a start error.
    let tls_store = match &opts.tls {
        Some(t) => Some(Arc::new(crate::tls::TlsStore::load(t.pairs.clone())?)),
        None => None,
    };
    let gw = Arc::new(
        gw.with_access_log(log)
            .with_traces(traces)
            .with_tls(tls_store.clone()),
    );
    let mut cached_epoch: Option<String> = None;
    if let Some(path) = &opts.config {
        let bytes = std::fs::read(path).map_err(|e| StartError::Config {
            path: path.display().to_string(),
            errors: format!("cannot read: {e}"),
        })?;
        let applied = gw
            .apply_from("file", &bytes, path.parent(), None)
            .map_err(|errs| StartError::Config {
                path: path.display().to_string(),
                errors: errs
                    .0
                    .iter()
                    .map(|e| format!("  {e}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })?;
        for w in &applied.warnings {
            tracing::warn!("snapshot warning: {w}");
        }
        tracing::info!(hash = %applied.hash, file = %path.display(), "snapshot loaded");
    } else if opts.control_plane.is_some() {
        let cached = opts
            .cache_dir
            .as_deref()
            .and_then(|dir| crate::feed_cache::boot_from_cache(&gw, dir));
        match cached {
            Some(epoch) => cached_epoch = epoch,
            None => tracing::info!(
                "no usable cached snapshot: serving the empty snapshot until the control plane answers"
            ),
        }
    } else {
        tracing::info!("no --config: serving the empty snapshot until one is pushed");
    }
    // On upgrade the addresses are held by the running gateway, whose
    // sockets this process is about to receive.
    if !opts.lifecycle.upgrade {
        probe(&opts.listen)?;
        probe(&opts.admin_listen)?;
        if let Some(t) = &opts.tls {
            probe(&t.addr)?;
        }
    }
    let feed_status = match &opts.control_plane {
        Some(list) => Some(Arc::new(
            FeedStatus::new(list).ok_or(StartError::NoControlPlane)?,
        )),
        None => None,
    };
    if let (Some(status), Some(tls)) = (&feed_status, feed_tls) {
        let hostname = crate::feed::hostname();
        let feed = FeedOptions {
            cache_dir: opts.cache_dir.clone(),
            epoch: cached_epoch.clone(),
            id: crate::feed::data_plane_id(&hostname, &opts.listen),
            hostname,
            token: opts.control_plane_token.clone(),
            tls,
        };
        crate::feed::spawn(gw.clone(), feed, status.clone()).map_err(StartError::Feed)?;
    }

    let upgrade_sock = opts
        .lifecycle
        .upgrade_sock
        .to_str()
        .ok_or_else(|| StartError::UpgradeSock(opts.lifecycle.upgrade_sock.display().to_string()))?
        .to_string();
    let mut conf = ServerConf {
        threads: opts.threads.max(1),
        // The upper bound of the drain; `drain` ends the process earlier.
        grace_period_seconds: Some(opts.lifecycle.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(2),
        upgrade_sock,
        ..ServerConf::default()
    };
    opts.tuning.apply(&mut conf);
    let opt = Opt {
        upgrade: opts.lifecycle.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), conf);
    if opts.lifecycle.upgrade {
        tracing::info!(sock = %opts.lifecycle.upgrade_sock.display(), "waiting for the running gateway's listening sockets (send it SIGQUIT)");
    }
    server.bootstrap();
    let conns = Connections::default();
    let flush_gw = gw.clone();
    crate::drain::exit_when_drained(
        server.watch_execution_phase(),
        conns.clone(),
        opts.lifecycle.shutdown_grace,
        Box::new(move || {
            if let Some(log) = &flush_gw.access_log {
                log.flush_pending(Duration::from_secs(1));
            }
            if let Some(traces) = &flush_gw.traces {
                traces.shutdown(Duration::from_secs(2));
            }
        }),
    )
    .map_err(StartError::Drain)?;

    let refusals = HeadRefusals {
        too_large: gw.metrics.head_refused.with_label_values(&["too_large"]),
        timed_out: gw.metrics.head_refused.with_label_values(&["timeout"]),
    };
    let mut app =
        pingora::proxy::http_proxy(&server.configuration, TollgateProxy { gw: gw.clone() });
    // HTTP/2 (TLS listener) heads bypass the head guard: cap their decoded
    // size with the same --max-header-bytes, keeping Pingora's other bounds.
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_header_list_size(u32::try_from(opts.head.max_bytes).unwrap_or(u32::MAX));
    app.h2_options = Some(h2);
    let mut proxy = Service::new(
        "tollgate proxy".to_string(),
        HeadGuard::new(app, opts.head, refusals, conns),
    );
    proxy.add_tcp(&opts.listen);
    // Same app and phases: the head guard only wraps plain TCP connections
    // and hands TLS ones (HTTP/1.1 or h2 by ALPN) to Pingora untouched.
    if let (Some(t), Some(store)) = (&opts.tls, &tls_store) {
        if t.pairs.is_empty() && store.current().is_empty() {
            tracing::warn!(tls = %t.addr, "no --tls-cert and no certificates in the snapshot: TLS handshakes fail until a snapshot brings some");
        }
        proxy.add_tls_with_settings(&t.addr, None, crate::tls::settings(store.clone())?);
        if !t.pairs.is_empty() {
            server.add_service(background_service(
                "tls certificate watcher",
                crate::tls_watch::CertWatcher {
                    store: store.clone(),
                    reloads: gw.metrics.tls_reloads.clone(),
                    interval: Duration::from_millis(250),
                },
            ));
        }
    }
    let mut admin = Service::new(
        "tollgate admin".to_string(),
        AdminApp {
            gw: gw.clone(),
            feed: feed_status,
            allow_admin_config: opts.allow_admin_config,
        },
    );
    admin.add_tcp(&opts.admin_listen);
    server.add_service(proxy);
    server.add_service(admin);
    server.add_service(background_service(
        "cluster sync",
        ClusterSync { gw: gw.clone() },
    ));
    server.add_service(background_service(
        "limiter evictor",
        Evictor {
            gw: gw.clone(),
            interval: Duration::from_secs(1),
        },
    ));
    server.add_service(background_service(
        "upstream dns refresh",
        DnsRefresher { gw: gw.clone() },
    ));
    server.add_service(background_service(
        "upstream health checks",
        crate::probe::HealthChecker { gw: gw.clone() },
    ));
    if let Some(path) = opts.config {
        server.add_service(background_service(
            "snapshot file watcher",
            FileWatcher {
                gw,
                path,
                interval: Duration::from_millis(250),
            },
        ));
    }
    let tls = opts.tls.as_ref().map(|t| t.addr.as_str()).unwrap_or("off");
    tracing::info!(proxy = %opts.listen, tls = %tls, admin = %opts.admin_listen, "tollgate running");
    exit_when_a_listener_fails();
    server.run_forever()
}

/// Pingora binds each service's listeners in that service's own thread and
/// panics there when it cannot (a port taken between `probe` and the bind, or
/// held by something other than the gateway `--upgrade` takes over from).
/// The other services would run on: an admin API answering `/health` in
/// front of a proxy that serves nothing. The process exits instead.
fn exit_when_a_listener_fails() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Failed to build listeners") {
            tracing::error!("a listener could not be bound; exiting");
            std::process::exit(2);
        }
    }));
}
