//! The gateway's shared state: one `ArcSwap` root holding the applied
//! snapshot, the limiter store that outlives snapshots, and the metrics.
//!
//! Applying a snapshot (file watch, admin push) parses and compiles it on the
//! caller's thread, off the request path, then swaps the root in one store:
//! a request loads the root once and sees exactly one snapshot throughout.

use crate::dns::{Dns, Upstream};
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tollgate_config::{ConfigError, ConfigErrors, HashedDocument, Snapshot};
use tollgate_core::limiter::{SubjectKey, DEFAULT_MAX_KEYS};
use tollgate_core::{compile, compile_reusing, CompiledSnapshot, LimiterStore};

/// A compiled snapshot with what the proxy needs beside it.
pub struct Loaded {
    pub snap: CompiledSnapshot,
    /// Upstream per service: an IP literal parsed once, or a hostname's slot,
    /// kept resolved in the background (`dns.rs`).
    pub peers: Vec<Upstream>,
    pub version: Option<u64>,
    pub loaded_at: SystemTime,
    /// `snap.counters` resolved to backends, same order.
    pub backends: Vec<crate::cluster::Backend>,
    /// One pool per `snap.upstreams`, same order.
    pub pools: Vec<Arc<crate::balancer::Pool>>,
    /// Per service: the CAs its `https` upstream is verified against
    /// (`None`: the system roots), parsed once here rather than per request.
    pub upstream_ca: Vec<crate::tls::UpstreamCa>,
}

/// A document to apply: bytes, or bytes already hashed (a feed's transfer
/// check, a file watcher's change check), which are not hashed again.
#[derive(Clone, Copy)]
pub enum Doc<'a> {
    Bytes(&'a [u8]),
    Hashed(&'a HashedDocument<'a>),
}

impl<'a> From<&'a [u8]> for Doc<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Doc::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for Doc<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Doc::Bytes(bytes)
    }
}

impl<'a> From<&'a HashedDocument<'a>> for Doc<'a> {
    fn from(doc: &'a HashedDocument<'a>) -> Self {
        Doc::Hashed(doc)
    }
}

/// What a successful apply reports.
#[derive(Debug, Clone)]
pub struct Applied {
    pub hash: String,
    pub version: Option<u64>,
    pub warnings: Vec<ConfigError>,
    pub changed: bool,
}

pub struct Gateway {
    current: ArcSwap<Loaded>,
    pub limiter: LimiterStore,
    pub metrics: Metrics,
    /// Redis connections for shared counters, kept across snapshots.
    pub cluster: crate::cluster::Registry,
    /// Upstream hostnames in use and their current addresses.
    pub dns: Dns,
    /// Load-balancer pools, kept across snapshots while their upstream is unchanged.
    pub balancers: crate::balancer::Registry,
    origin: Instant,
    pub admin_token: Option<String>,
    /// Serializes applies so that two pushes cannot interleave compile and swap.
    apply_lock: Mutex<()>,
    /// Peers whose forwarding headers are believed.
    pub trusted_ips: crate::trusted::TrustedIps,
    /// `--access-log`: one JSON line per request, when set.
    pub access_log: Option<crate::access_log::AccessLog>,
    /// `--otlp-endpoint`: spans exported over OTLP, when set.
    pub traces: Option<crate::trace::Traces>,
    /// The TLS listener's certificates, when `--tls-listen` is set.
    pub tls: Option<Arc<crate::tls::TlsStore>>,
    /// basic-auth's bcrypt checks, off the proxy workers.
    pub password_checks: crate::password_checks::PasswordChecks,
    last_reload: Mutex<Option<ReloadRecord>>,
    /// Frees replaced snapshots once no request holds them (`retire.rs`).
    retirer: crate::retire::Retirer<Loaded>,
}

/// The last attempt to apply a snapshot, successful or not.
#[derive(Debug, Clone)]
pub struct ReloadRecord {
    pub at: SystemTime,
    pub success: bool,
    /// `file`, `admin`, `control_plane`, `cache` (or `api` for other callers).
    pub source: &'static str,
    /// Why the snapshot was refused; empty on success.
    pub errors: Vec<ConfigError>,
}

/// Offset so that "now" is never near zero (GCRA arithmetic subtracts from it).
const CLOCK_OFFSET_NS: u64 = 1_000_000_000_000;

/// Settings of the state that outlives snapshots.
#[derive(Debug, Clone, Copy)]
pub struct StateOptions {
    /// Cap on limiter keys (`--limiter-max-keys`).
    pub limiter_max_keys: usize,
    /// Interval between re-resolutions of upstream hostnames (`--dns-refresh`).
    pub dns_refresh: Duration,
}

impl Default for StateOptions {
    fn default() -> Self {
        StateOptions {
            limiter_max_keys: DEFAULT_MAX_KEYS,
            dns_refresh: crate::dns::DEFAULT_REFRESH,
        }
    }
}

/// Builds what the proxy needs beside a compiled snapshot. New hostnames are
/// resolved here, before the snapshot takes traffic (callers are on a
/// blocking thread); known ones keep their current address.
fn loaded(
    snap: CompiledSnapshot,
    version: Option<u64>,
    cluster: &crate::cluster::Registry,
    dns: &Dns,
    balancers: &crate::balancer::Registry,
) -> Loaded {
    let peers: Vec<Upstream> = snap
        .services
        .iter()
        .map(|s| match s.upstream.host.parse::<std::net::IpAddr>() {
            Ok(ip) => Upstream::Fixed(SocketAddr::new(ip, s.upstream.port)),
            // Never dialled: the pool picks the address.
            Err(_) if s.balancer.is_some() => {
                Upstream::Fixed(SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0))
            }
            Err(_) => Upstream::Resolved(dns.slot(&s.upstream.host, s.upstream.port)),
        })
        .collect();
    let pools = balancers.build(&snap.upstreams, dns);
    let hosts: Vec<_> = peers
        .iter()
        .enumerate()
        // A balanced service's host is an upstream name, not a DNS name.
        .filter(|(i, _)| snap.services[*i].balancer.is_none())
        .filter_map(|(_, p)| match p {
            Upstream::Resolved(slot) => Some(slot.clone()),
            Upstream::Fixed(_) => None,
        })
        .chain(pools.iter().flat_map(|p| p.slots().cloned()))
        .collect();
    dns.resolve_new(&hosts);
    let upstream_ca = snap
        .services
        .iter()
        .map(|s| crate::tls::UpstreamCa::new(&s.tls.ca_pems))
        .collect();
    Loaded {
        upstream_ca,
        backends: cluster.resolve(&snap.counters),
        snap,
        peers,
        pools,
        version,
        loaded_at: SystemTime::now(),
    }
}

fn one_error(message: String) -> ConfigErrors {
    ConfigErrors(vec![ConfigError {
        path: String::new(),
        message,
    }])
}

impl Gateway {
    pub fn new(admin_token: Option<String>) -> Result<Self, crate::metrics::MetricsError> {
        Self::with_options(admin_token, StateOptions::default())
    }

    pub fn with_options(
        admin_token: Option<String>,
        opts: StateOptions,
    ) -> Result<Self, crate::metrics::MetricsError> {
        let empty = compile(&Snapshot::empty()).map_err(|e| {
            crate::metrics::MetricsError(prometheus::Error::Msg(format!("empty snapshot: {e}")))
        })?;
        let metrics = Metrics::new()?;
        let cluster = crate::cluster::Registry::new(metrics.redis_errors.clone());
        let dns = Dns::new(
            Arc::new(crate::dns::system_lookup),
            opts.dns_refresh,
            metrics.upstream_unresolved.clone(),
            metrics.upstream_dns_errors.clone(),
        );
        let balancers = crate::balancer::Registry::new(metrics.target_health.clone());
        Ok(Gateway {
            current: ArcSwap::from_pointee(loaded(empty, None, &cluster, &dns, &balancers)),
            balancers,
            cluster,
            dns,
            // Random per process: client-address subjects cannot be aimed.
            limiter: LimiterStore::new(opts.limiter_max_keys, SubjectKey::random()),
            metrics,
            origin: Instant::now(),
            admin_token,
            apply_lock: Mutex::new(()),
            trusted_ips: Default::default(),
            access_log: None,
            traces: None,
            tls: None,
            password_checks: crate::password_checks::PasswordChecks::per_core(),
            last_reload: Mutex::new(None),
            retirer: crate::retire::Retirer::default(),
        })
    }

    /// Sets the peers whose forwarding headers are kept.
    pub fn with_trusted_ips(mut self, trusted: crate::trusted::TrustedIps) -> Self {
        self.trusted_ips = trusted;
        self
    }

    /// Turns on the access log.
    pub fn with_access_log(mut self, log: Option<crate::access_log::AccessLog>) -> Self {
        self.access_log = log;
        self
    }

    /// Turns on tracing.
    pub fn with_traces(mut self, traces: Option<crate::trace::Traces>) -> Self {
        self.traces = traces;
        self
    }

    /// Serves TLS with these certificates (snapshot ones are added on apply).
    pub fn with_tls(mut self, tls: Option<Arc<crate::tls::TlsStore>>) -> Self {
        self.tls = tls;
        self
    }

    /// The applied snapshot; load once per request and keep the `Arc`.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.load_full()
    }

    /// Monotonic nanoseconds for the limiter.
    pub fn now_ns(&self) -> u64 {
        CLOCK_OFFSET_NS + self.origin.elapsed().as_nanos() as u64
    }

    /// Validates, compiles and swaps in a snapshot. On error nothing changes.
    pub fn apply_bytes(
        &self,
        bytes: &[u8],
        base_dir: Option<&Path>,
        version: Option<u64>,
    ) -> Result<Applied, ConfigErrors> {
        self.apply_from("api", bytes, base_dir, version)
    }

    /// What the last apply attempt gave, for `/status`.
    pub fn last_reload(&self) -> Option<ReloadRecord> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// [`Gateway::apply_bytes`], recording the attempt and where the snapshot
    /// came from (`file`, `admin`, `control_plane`, `cache`) for `/status`.
    pub fn apply_from<'a>(
        &self,
        source: &'static str,
        doc: impl Into<Doc<'a>>,
        base_dir: Option<&Path>,
        version: Option<u64>,
    ) -> Result<Applied, ConfigErrors> {
        let result = self.apply_inner(doc.into(), base_dir, version);
        self.record(source, result)
    }

    fn record(
        &self,
        source: &'static str,
        result: Result<Applied, ConfigErrors>,
    ) -> Result<Applied, ConfigErrors> {
        let record = ReloadRecord {
            at: SystemTime::now(),
            success: result.is_ok(),
            source,
            errors: result
                .as_ref()
                .err()
                .map(|e| e.0.clone())
                .unwrap_or_default(),
        };
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(record);
        result
    }

    fn apply_inner(
        &self,
        doc: Doc,
        base_dir: Option<&Path>,
        version: Option<u64>,
    ) -> Result<Applied, ConfigErrors> {
        // Held from compile to swap: applies happen in arrival order, and a
        // slow large snapshot cannot overwrite a newer one that compiled faster.
        let guard = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        // The running snapshot is the only writer's: the apply lock is held.
        // An applications section it already holds is neither re-read nor
        // re-compiled.
        let running = self.current.load_full();
        let result = crate::lowprio::run("tollgate-apply", || {
            let known = running.snap.apps_key.as_ref();
            match doc {
                Doc::Bytes(bytes) => tollgate_config::load_bytes_reusing(bytes, base_dir, known),
                Doc::Hashed(doc) => tollgate_config::load_hashed_reusing(doc, base_dir, known),
            }
            .and_then(|s| compile_reusing(&s, &running.snap).map_err(|e| one_error(e.to_string())))
        });
        drop(running);
        let compiled = match result {
            Ok(c) => c,
            Err(e) => {
                self.metrics
                    .config_reloads
                    .with_label_values(&["failure"])
                    .inc();
                return Err(e);
            }
        };
        // Certificates are parsed before the swap: a snapshot whose
        // certificates cannot be served is refused whole.
        if let Err(e) = self.apply_certificates(&compiled) {
            self.metrics
                .config_reloads
                .with_label_values(&["failure"])
                .inc();
            return Err(e);
        }
        let changed = self.current.load().snap.hash != compiled.hash
            || self.current.load().version != version;
        let applied = Applied {
            hash: compiled.hash.clone(),
            version,
            warnings: compiled.warnings.clone(),
            changed,
        };
        let old = self.current.swap(Arc::new(loaded(
            compiled,
            version,
            &self.cluster,
            &self.dns,
            &self.balancers,
        )));
        self.metrics
            .config_reloads
            .with_label_values(&["success"])
            .inc();
        self.metrics
            .config_version
            .set(version.map(|v| v as i64).unwrap_or(0));
        drop(guard);
        self.retirer.retire(old);
        Ok(applied)
    }

    /// Hands the snapshot's certificates to the TLS listener.
    fn apply_certificates(&self, compiled: &CompiledSnapshot) -> Result<(), ConfigErrors> {
        let Some(store) = &self.tls else {
            if !compiled.certificates.is_empty() {
                tracing::warn!(
                    "the snapshot has certificates but there is no --tls-listen: they are not served"
                );
            }
            return Ok(());
        };
        match crate::tls::snapshot_certs(&compiled.certificates) {
            Ok(certs) => {
                store.set_snapshot(certs);
                self.metrics
                    .tls_reloads
                    .with_label_values(&["snapshot", "success"])
                    .inc();
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .tls_reloads
                    .with_label_values(&["snapshot", "failure"])
                    .inc();
                tracing::error!(
                    "snapshot certificates refused; still serving the previous ones: {e}"
                );
                Err(ConfigErrors(vec![e]))
            }
        }
    }

    /// Checks the admin bearer token, when one is configured.
    pub fn admin_authorized(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = &self.admin_token else {
            return true;
        };
        tollgate_config::auth::bearer_matches(authorization, token)
    }
}
