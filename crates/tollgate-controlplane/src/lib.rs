//! `tollgate cp`: the control-plane feed. It holds the current snapshot,
//! validates pushes with the same code as the data planes, refuses breaking
//! pushes unless forced, versions and persists snapshots, and serves them to
//! subscribed data planes over a long-poll (docs/control-plane.md). With
//! `--store redis://...`, several replicas share one version sequence.

pub mod registry;
pub mod server;
pub mod store;
pub mod store_redis;

use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;
use std::path::PathBuf;
use std::sync::Arc;
use tollgate_config::auth::Secret;

#[derive(Debug, Clone)]
pub struct CpOptions {
    pub listen: String,
    pub data_dir: Option<PathBuf>,
    /// `redis://` or `rediss://` URL of a store shared with other replicas
    /// (instead of `data_dir`).
    pub store: Option<String>,
    /// Largest snapshot accepted by a push, in bytes (413 above).
    pub max_body: usize,
    /// Bearer token every `/v1/*` request must carry (401 otherwise).
    pub token: Option<Secret>,
    /// Serve HTTPS with this certificate chain and key (both PEM files).
    pub tls: Option<TlsFiles>,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum CpError {
    #[error("cannot open the data directory: {0}")]
    Store(std::io::Error),
    #[error("cannot use the store {url}: {reason}")]
    SharedStore { url: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

pub fn run(opts: CpOptions) -> Result<(), CpError> {
    let (store, registry) = match &opts.store {
        Some(url) => open_shared(url)?,
        None => (
            Arc::new(store::Store::open(opts.data_dir.clone()).map_err(CpError::Store)?),
            registry::Registry::memory(),
        ),
    };
    match store.current() {
        Some(c) => {
            tracing::info!(version = c.version, hash = %c.hash, "serving the persisted snapshot")
        }
        None => tracing::info!("no snapshot yet; waiting for a push"),
    }
    std::net::TcpListener::bind(&opts.listen)
        .map(drop)
        .map_err(|source| CpError::Listen {
            addr: opts.listen.clone(),
            source,
        })?;
    let conf = ServerConf {
        threads: 2,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut svc = Service::new(
        "tollgate control plane".to_string(),
        server::ControlPlane {
            store,
            registry,
            max_body: opts.max_body,
            token: opts.token.clone(),
        },
    );
    match &opts.tls {
        Some(tls) => svc
            .add_tls(
                &opts.listen,
                &tls.cert.display().to_string(),
                &tls.key.display().to_string(),
            )
            .map_err(|e| CpError::Tls(e.to_string()))?,
        None => svc.add_tcp(&opts.listen),
    }
    if opts.token.is_none() && !tollgate_config::auth::is_loopback_listen(&opts.listen) {
        tracing::warn!("no --token: anyone who can reach the control plane can push snapshots and read them, credentials included");
    }
    server.add_service(svc);
    let scheme = if opts.tls.is_some() { "https" } else { "http" };
    tracing::info!(listen = %opts.listen, scheme, auth = opts.token.is_some(), "control plane running");
    server.run_forever()
}

/// Connects to the shared store and keeps following it on a thread of its
/// own, whose runtime also drives the Redis connection the handlers use.
fn open_shared(url: &str) -> Result<(Arc<store::Store>, registry::Registry), CpError> {
    let fail = |reason: String| CpError::SharedStore {
        url: redact(url),
        reason,
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(fail(
            "only redis:// and rediss:// URLs are supported".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let connect = async {
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            store_redis::connect(url),
        )
        .await
    };
    let store = match rt.block_on(connect) {
        Ok(Ok(s)) => Arc::new(s),
        Ok(Err(e)) => return Err(fail(e.to_string())),
        Err(_) => return Err(fail("timed out connecting".into())),
    };
    let conn = store
        .redis()
        .map(store_redis::RedisStore::connection)
        .ok_or_else(|| fail("not a shared store".into()))?;
    let follower = store.clone();
    std::thread::Builder::new()
        .name("tollgate-cp-store".into())
        .spawn(move || rt.block_on(store_redis::follow(follower)))
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(store = %redact(url), "versions and snapshots kept in the shared store");
    Ok((store, registry::Registry::Redis(conn)))
}

/// The URL without its password, for logs and errors.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}
