//! Assembles the Pingora server: proxy listener, admin listener and the
//! background services, around one shared [`Gateway`].

use crate::admin::AdminApp;
use crate::background::{ClusterSync, DnsRefresher, Evictor, FileWatcher};
use crate::feed::{FeedOptions, FeedStatus};
use crate::proxy::TollgateProxy;
use crate::state::Gateway;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config: Option<PathBuf>,
    pub control_plane: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub listen: String,
    pub admin_listen: String,
    pub threads: usize,
    pub admin_token: Option<String>,
    /// Limiter key cap and upstream DNS refresh interval.
    pub state: crate::state::StateOptions,
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
    let gw = Arc::new(Gateway::with_options(opts.admin_token.clone(), opts.state)?);
    let mut cached_epoch: Option<String> = None;
    if let Some(path) = &opts.config {
        let bytes = std::fs::read(path).map_err(|e| StartError::Config {
            path: path.display().to_string(),
            errors: format!("cannot read: {e}"),
        })?;
        let applied = gw
            .apply_bytes(&bytes, path.parent(), None)
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
            .and_then(|dir| crate::feed::boot_from_cache(&gw, dir));
        match cached {
            Some(epoch) => cached_epoch = epoch,
            None => tracing::info!(
                "no usable cached snapshot: serving the empty snapshot until the control plane answers"
            ),
        }
    } else {
        tracing::info!("no --config: serving the empty snapshot until one is pushed");
    }
    probe(&opts.listen)?;
    probe(&opts.admin_listen)?;
    let feed_status = opts.control_plane.as_ref().map(|url| {
        Arc::new(FeedStatus {
            url: url.clone(),
            connected: AtomicBool::new(false),
            last_sync: Mutex::new(None),
        })
    });
    if let (Some(url), Some(status)) = (&opts.control_plane, &feed_status) {
        let hostname = crate::feed::hostname();
        let feed = FeedOptions {
            url: url.clone(),
            cache_dir: opts.cache_dir.clone(),
            epoch: cached_epoch.clone(),
            id: crate::feed::data_plane_id(&hostname, &opts.listen),
            hostname,
        };
        crate::feed::spawn(gw.clone(), feed, status.clone()).map_err(StartError::Feed)?;
    }

    let conf = ServerConf {
        threads: opts.threads.max(1),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(2),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy =
        pingora::proxy::http_proxy_service(&server.configuration, TollgateProxy { gw: gw.clone() });
    proxy.add_tcp(&opts.listen);
    let mut admin = Service::new(
        "tollgate admin".to_string(),
        AdminApp {
            gw: gw.clone(),
            feed: feed_status,
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
    tracing::info!(proxy = %opts.listen, admin = %opts.admin_listen, "tollgate running");
    server.run_forever()
}
