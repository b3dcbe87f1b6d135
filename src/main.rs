//! The `tollgate` command line: parses flags and hands off to the library
//! crates. Nothing here decides anything about requests.

mod explain;
mod push;
mod validate;

// The proxy allocates per request on several threads; glibc's arena locks
// showed up as contention under load, mimalloc's thread-local heaps do not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use tollgate_config::auth::Secret;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "API gateway data plane with ACE-enforced API packages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Snapshot file (YAML or JSON); watched and re-applied on change.
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Control-plane URLs to subscribe to, comma-separated; the data plane
    /// follows one and fails over to the next when it stops answering.
    #[arg(long, env = "TOLLGATE_CONTROL_PLANE")]
    control_plane: Option<String>,
    /// Proxy listen address.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8000")]
    listen: String,
    /// Admin API listen address.
    #[arg(long, env = "TOLLGATE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
    admin_listen: String,
    /// Directory for the cached copy of the last applied snapshot.
    #[arg(long, env = "TOLLGATE_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Worker threads for the proxy.
    #[arg(long, env = "TOLLGATE_THREADS")]
    threads: Option<usize>,
    /// Bearer token required by `POST /config` on the admin API.
    #[arg(long, env = "TOLLGATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    // Who may change the snapshot, and how the control plane is reached.
    /// Bearer token sent to the control plane (its `cp --token`).
    #[arg(long, env = "TOLLGATE_CONTROL_PLANE_TOKEN", hide_env_values = true)]
    control_plane_token: Option<String>,
    /// PEM file of CA certificates trusted for an https:// control plane, besides the system roots.
    #[arg(long, env = "TOLLGATE_CONTROL_PLANE_CA")]
    control_plane_ca: Option<PathBuf>,
    /// Accept `POST /config` on the admin API even with --control-plane (409 otherwise).
    #[arg(long, env = "TOLLGATE_ALLOW_ADMIN_CONFIG")]
    allow_admin_config: bool,
    /// Allow --admin-listen on a non-loopback address without --admin-token.
    #[arg(long, env = "TOLLGATE_ADMIN_INSECURE")]
    admin_insecure: bool,
    /// Most limiter keys held in memory (about 120 bytes each); past it, the
    /// keys closest to refilling are dropped.
    #[arg(long, env = "TOLLGATE_LIMITER_MAX_KEYS", default_value_t = tollgate_core::limiter::DEFAULT_MAX_KEYS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    limiter_max_keys: u64,
    /// Seconds between re-resolutions of upstream hostnames.
    #[arg(long, env = "TOLLGATE_DNS_REFRESH", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    dns_refresh: u64,
    /// Access log, one JSON line per request: `stdout` or a file (reopened on SIGHUP). Off when unset.
    #[arg(long, env = "TOLLGATE_ACCESS_LOG")]
    access_log: Option<String>,
    /// OTLP/HTTP collector (e.g. http://127.0.0.1:4318) to export spans to;
    /// the W3C traceparent is continued or started only when set.
    #[arg(long, env = "TOLLGATE_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    #[command(flatten)]
    edge: EdgeArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    tune: TuneArgs,
    #[command(flatten)]
    life: LifeArgs,
}

/// The TLS proxy listener (docs/deployment.md, TLS).
#[derive(clap::Args, Clone)]
struct TlsArgs {
    /// Address of a TLS proxy listener (HTTP/1.1 and HTTP/2 by ALPN), beside --listen.
    #[arg(long, env = "TOLLGATE_TLS_LISTEN")]
    tls_listen: Option<String>,
    /// PEM certificate chain, leaf first; repeat with --tls-key for more certificates
    /// (picked by SNI; the first is the default). Reloaded when the file changes.
    #[arg(long, env = "TOLLGATE_TLS_CERT", value_delimiter = ',')]
    tls_cert: Vec<PathBuf>,
    /// PEM private key of the --tls-cert at the same position.
    #[arg(long, env = "TOLLGATE_TLS_KEY", value_delimiter = ',')]
    tls_key: Vec<PathBuf>,
}

impl TlsArgs {
    fn listener(self) -> Result<Option<tollgate_gateway::TlsListen>> {
        if self.tls_cert.len() != self.tls_key.len() {
            bail!(
                "--tls-cert and --tls-key come in pairs: {} certificate(s), {} key(s)",
                self.tls_cert.len(),
                self.tls_key.len()
            );
        }
        let Some(addr) = self.tls_listen else {
            if !self.tls_cert.is_empty() {
                bail!("--tls-cert/--tls-key need --tls-listen");
            }
            return Ok(None);
        };
        Ok(Some(tollgate_gateway::TlsListen {
            addr,
            pairs: self.tls_cert.into_iter().zip(self.tls_key).collect(),
        }))
    }
}

/// Stopping and upgrading without dropping requests (docs/deployment.md).
#[derive(clap::Args, Clone)]
struct LifeArgs {
    /// Longest wait, in seconds, for open client connections to finish after
    /// SIGTERM (or SIGQUIT on upgrade) before they are closed.
    #[arg(long, env = "TOLLGATE_SHUTDOWN_GRACE", default_value_t = 30)]
    shutdown_grace: u64,
    /// Take the listening sockets over from the gateway running with the same
    /// --upgrade-sock; send that one SIGQUIT once this one is started.
    #[arg(long, env = "TOLLGATE_UPGRADE")]
    upgrade: bool,
    /// Unix socket on which listening sockets are handed to an upgrading gateway.
    #[arg(long, env = "TOLLGATE_UPGRADE_SOCK", default_value = tollgate_gateway::drain::DEFAULT_UPGRADE_SOCK)]
    upgrade_sock: PathBuf,
}

impl LifeArgs {
    fn lifecycle(self) -> tollgate_gateway::drain::Lifecycle {
        tollgate_gateway::drain::Lifecycle {
            shutdown_grace: std::time::Duration::from_secs(self.shutdown_grace),
            upgrade: self.upgrade,
            upgrade_sock: self.upgrade_sock,
        }
    }
}

/// Runtime knobs Pingora leaves at its defaults (docs/performance.md has
/// what each measured).
#[derive(clap::Args, Clone)]
struct TuneArgs {
    /// Share work between proxy threads (one work-stealing runtime); `false`
    /// gives each thread its own runtime and its own connections.
    #[arg(long, env = "TOLLGATE_WORK_STEALING", default_value_t = true, action = clap::ArgAction::Set)]
    work_stealing: bool,
    /// Idle upstream connections kept for reuse, over all upstreams.
    #[arg(long, env = "TOLLGATE_UPSTREAM_KEEPALIVE_POOL", default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    upstream_keepalive_pool: u64,
    /// Tasks accepting connections on the proxy listener.
    #[arg(long, env = "TOLLGATE_LISTENER_TASKS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    listener_tasks: u64,
}

impl TuneArgs {
    fn tuning(&self) -> tollgate_gateway::tuning::Tuning {
        tollgate_gateway::tuning::Tuning {
            work_stealing: self.work_stealing,
            upstream_keepalive_pool: usize::try_from(self.upstream_keepalive_pool)
                .unwrap_or(usize::MAX),
            listener_tasks: usize::try_from(self.listener_tasks).unwrap_or(1),
        }
    }
}

/// How the proxy listener treats clients: whose forwarding headers it
/// believes, and how long and large a request head may be.
#[derive(clap::Args, Clone)]
struct EdgeArgs {
    /// Comma-separated addresses or CIDR networks of trusted proxies: only their
    /// X-Forwarded-*, Forwarded and X-Real-IP headers reach the upstream.
    #[arg(long, env = "TOLLGATE_TRUSTED_IPS", default_value = "")]
    trusted_ips: String,
    /// Seconds from a request's first byte to the end of its head (else 408).
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Largest request head in bytes, request line included (else 431).
    #[arg(long, env = "TOLLGATE_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    max_header_bytes: usize,
    /// Seconds an idle client connection is kept open waiting for its next request.
    #[arg(long, env = "TOLLGATE_KEEPALIVE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    keepalive_timeout: u64,
}

impl EdgeArgs {
    fn trusted(&self) -> Result<tollgate_gateway::trusted::TrustedIps> {
        tollgate_gateway::trusted::TrustedIps::parse(&self.trusted_ips)
            .map_err(|e| anyhow::anyhow!("--trusted-ips: {e}"))
    }

    fn head(&self) -> Result<tollgate_gateway::head_guard::HeadLimits> {
        if self.header_timeout == 0 || self.max_header_bytes < 1024 {
            bail!("--header-timeout must be at least 1 s and --max-header-bytes at least 1024");
        }
        Ok(tollgate_gateway::head_guard::HeadLimits {
            deadline: std::time::Duration::from_secs(self.header_timeout),
            max_bytes: self.max_header_bytes,
            idle: std::time::Duration::from_secs(self.keepalive_timeout),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the data plane (proxy + admin API).
    Run(Box<RunArgs>),
    /// Print the JSON Schema of the snapshot format.
    Schema,
    /// Check a snapshot: exit 0 when valid, 1 with every located error when not.
    Validate {
        file: PathBuf,
        /// First list, per Kong entity, what was accepted, ignored as metadata, or is unsupported.
        #[arg(long)]
        explain_kong: bool,
    },
    /// Print the whole decision for one request against a snapshot, without sending it.
    Explain {
        /// Snapshot file (YAML or JSON).
        #[arg(long, env = "TOLLGATE_CONFIG")]
        config: PathBuf,
        /// Request method, e.g. GET.
        method: String,
        /// Request URL, e.g. http://api.example.com/flights/42?x=1 (or /path with -H 'Host: ...').
        url: String,
        /// A request header, as curl takes it: -H 'apikey: secret'. Repeatable.
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run the quickstart: two demo upstreams and the gateway on the embedded snapshot.
    Demo {
        /// Proxy listen address.
        #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8000")]
        listen: String,
        /// Admin API listen address.
        #[arg(long, env = "TOLLGATE_ADMIN_LISTEN", default_value = "127.0.0.1:8001")]
        admin_listen: String,
        /// Bearer token required by `POST /config` on the admin API.
        #[arg(long, env = "TOLLGATE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Allow --admin-listen on a non-loopback address without --admin-token.
        #[arg(long, env = "TOLLGATE_ADMIN_INSECURE")]
        admin_insecure: bool,
    },
    /// Run a demo upstream that answers every request with JSON describing it.
    DemoUpstream {
        #[arg(long, default_value = "127.0.0.1:9101")]
        listen: String,
        #[arg(long, default_value = "demo")]
        name: String,
        /// Answer `{"ok":true}` to everything instead of describing the request.
        #[arg(long)]
        fixed: bool,
    },
    /// Run the control-plane feed server. Its flags read `TOLLGATE_CP_*`
    /// variables (else `TOLLGATE_*`), so one environment can configure a data
    /// plane beside it.
    Cp {
        /// Listen address.
        #[arg(long, env = "TOLLGATE_CP_LISTEN", default_value = "127.0.0.1:8005")]
        listen: String,
        /// Where the current snapshot is persisted across restarts.
        #[arg(long, env = "TOLLGATE_CP_DATA_DIR", conflicts_with = "store")]
        data_dir: Option<PathBuf>,
        /// Keep versions and snapshots in Redis (redis:// or rediss://), shared
        /// by every control plane started on the same store.
        #[arg(long, env = "TOLLGATE_CP_STORE", hide_env_values = true)]
        store: Option<String>,
        /// Largest snapshot a push may carry, in MiB (413 above).
        #[arg(long, env = "TOLLGATE_CP_MAX_SNAPSHOT_MB", default_value_t = 256)]
        max_snapshot_mb: usize,
        /// Bearer token every /v1/* request must carry (401 otherwise).
        #[arg(long, env = "TOLLGATE_CP_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// PEM certificate chain: serve HTTPS (needs --tls-key).
        #[arg(long, env = "TOLLGATE_CP_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, env = "TOLLGATE_CP_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Push a snapshot to a control plane or a data plane's admin API.
    Push {
        file: PathBuf,
        #[arg(long, env = "TOLLGATE_TO")]
        to: String,
        #[arg(long, env = "TOLLGATE_FORCE")]
        force: bool,
        #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// PEM file of CA certificates trusted for an https:// target, besides the system roots.
        #[arg(long, env = "TOLLGATE_CA")]
        ca: Option<PathBuf>,
    },
}

const QUICKSTART: &str = include_str!("../config/quickstart.yaml");

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never into a log file.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn run(args: RunArgs) -> Result<()> {
    if args.control_plane.is_some() && args.config.is_some() {
        bail!("--config and --control-plane are exclusive: a data plane takes its snapshot from one source");
    }
    if args.cache_dir.is_some() && args.control_plane.is_none() {
        tracing::warn!("--cache-dir only applies with --control-plane; ignored");
    }
    if (args.control_plane_token.is_some() || args.control_plane_ca.is_some())
        && args.control_plane.is_none()
    {
        tracing::warn!(
            "--control-plane-token and --control-plane-ca only apply with --control-plane; ignored"
        );
    }
    tollgate_gateway::run(tollgate_gateway::RunOptions {
        config: args.config,
        control_plane: args.control_plane,
        cache_dir: args.cache_dir,
        listen: args.listen,
        admin_listen: args.admin_listen,
        threads: args.threads.unwrap_or_else(default_threads),
        admin_token: args.admin_token,
        trusted_ips: args.edge.trusted()?,
        head: args.edge.head()?,
        control_plane_token: args.control_plane_token.map(Secret::new),
        control_plane_ca: args.control_plane_ca,
        allow_admin_config: args.allow_admin_config,
        admin_insecure: args.admin_insecure,
        state: tollgate_gateway::state::StateOptions {
            limiter_max_keys: usize::try_from(args.limiter_max_keys).unwrap_or(usize::MAX),
            dns_refresh: std::time::Duration::from_secs(args.dns_refresh),
        },
        tuning: args.tune.tuning(),
        access_log: args.access_log,
        otlp_endpoint: args.otlp_endpoint,
        lifecycle: args.life.lifecycle(),
        tls: args.tls.listener()?,
    })
    .map_err(anyhow::Error::from)
}

/// What `demo` takes besides its snapshot.
struct DemoArgs {
    listen: String,
    admin_listen: String,
    admin_token: Option<String>,
    admin_insecure: bool,
}

fn demo(args: DemoArgs) -> Result<()> {
    let DemoArgs {
        listen,
        admin_listen,
        admin_token,
        admin_insecure,
    } = args;
    let billing = tollgate_gateway::demo::spawn("127.0.0.1:9101", "billing")
        .context("starting demo billing on 127.0.0.1:9101")?;
    let flights = tollgate_gateway::demo::spawn("127.0.0.1:9102", "flights")
        .context("starting demo flights on 127.0.0.1:9102")?;
    let dir = std::env::temp_dir().join(format!("tollgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("quickstart.yaml");
    std::fs::write(&path, QUICKSTART).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("demo upstreams: billing on {billing}, flights on {flights}");
    eprintln!("snapshot: {} (edit it: changes apply live)", path.display());
    eprintln!("try: curl -i http://{listen}/flights -H 'apikey: partner-key'");
    tollgate_gateway::run(tollgate_gateway::RunOptions {
        config: Some(path),
        control_plane: None,
        cache_dir: None,
        listen,
        admin_listen,
        threads: default_threads(),
        admin_token,
        trusted_ips: Default::default(),
        head: Default::default(),
        control_plane_token: None,
        control_plane_ca: None,
        allow_admin_config: false,
        admin_insecure,
        state: Default::default(),
        tuning: Default::default(),
        access_log: None,
        otlp_endpoint: None,
        lifecycle: Default::default(),
        tls: None,
    })
    .map_err(anyhow::Error::from)
}

fn demo_upstream(listen: &str, name: &str, fixed: bool) -> Result<()> {
    use tollgate_gateway::demo::Mode;
    let mode = if fixed { Mode::Fixed } else { Mode::Echo };
    let addr = tollgate_gateway::demo::spawn_with(listen, name, mode)
        .with_context(|| format!("listening on {listen}"))?;
    eprintln!("demo upstream {name:?} on {addr}");
    loop {
        std::thread::park();
    }
}

/// `tollgate cp` reads `TOLLGATE_CP_<FLAG>`, so that one environment can
/// configure a data plane beside it; where only the contract's
/// `TOLLGATE_<FLAG>` is set, that is used. Runs before any thread starts.
fn cp_env_fallback() {
    if std::env::args().nth(1).as_deref() != Some("cp") {
        return;
    }
    for flag in [
        "LISTEN",
        "DATA_DIR",
        "STORE",
        "MAX_SNAPSHOT_MB",
        "TOKEN",
        "TLS_CERT",
        "TLS_KEY",
    ] {
        let own = format!("TOLLGATE_CP_{flag}");
        if std::env::var_os(&own).is_none() {
            if let Some(v) = std::env::var_os(format!("TOLLGATE_{flag}")) {
                std::env::set_var(own, v);
            }
        }
    }
}

fn main() {
    cp_env_fallback();
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Schema => serde_json::to_string_pretty(&tollgate_config::schema::json_schema())
            .map(|text| println!("{text}"))
            .map_err(anyhow::Error::from),
        Command::Validate { file, explain_kong } => match validate::validate(&file, explain_kong) {
            Ok(true) => Ok(()),
            Ok(false) => std::process::exit(1),
            Err(e) => Err(e),
        },
        Command::Explain {
            config,
            method,
            url,
            headers,
            json,
        } => explain::explain(&config, &method, &url, &headers, json),
        Command::Demo {
            listen,
            admin_listen,
            admin_token,
            admin_insecure,
        } => demo(DemoArgs {
            listen,
            admin_listen,
            admin_token,
            admin_insecure,
        }),
        Command::DemoUpstream {
            listen,
            name,
            fixed,
        } => demo_upstream(&listen, &name, fixed),
        Command::Cp {
            listen,
            data_dir,
            store,
            max_snapshot_mb,
            token,
            tls_cert,
            tls_key,
        } => tollgate_controlplane::run(tollgate_controlplane::CpOptions {
            listen,
            data_dir,
            store,
            max_body: max_snapshot_mb.saturating_mul(1024 * 1024),
            token: token.map(Secret::new),
            // clap's `requires` makes these both present or both absent.
            tls: tls_cert
                .zip(tls_key)
                .map(|(cert, key)| tollgate_controlplane::TlsFiles { cert, key }),
        })
        .map_err(anyhow::Error::from),
        Command::Push {
            file,
            to,
            force,
            token,
            ca,
        } => push::push(&file, &to, force, token.as_deref(), ca.as_deref()),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
