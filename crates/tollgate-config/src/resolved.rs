//! The validated snapshot: every reference resolved to an index, every plugin
//! config typed, every operation merged and checked. This is what the core
//! crate compiles; it never has to re-check anything the validator checked.

use crate::limits::Limits;
use crate::model::RegistrationStatus;
use crate::plugins::PluginConfig;
use serde::Serialize;

/// One problem in a snapshot, with where it is (`api_packages[1].operations[0]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error found in a snapshot that was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("snapshot has {} error(s); first: {}", .0.len(), .0.first().map(|e| e.to_string()).unwrap_or_default())]
pub struct ConfigErrors(pub Vec<ConfigError>);

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub services: Vec<ServiceSpec>,
    pub consumers: Vec<ConsumerSpec>,
    pub plugins: Vec<PluginSpec>,
    pub apis: Vec<ApiSpec>,
    pub auth_strategies: Vec<StrategySpec>,
    pub packages: Vec<PackageSpec>,
    /// Empty when `applications_unchanged`.
    pub applications: Vec<ApplicationSpec>,
    /// Key of the applications section (JSON documents in tollgate's format).
    pub applications_key: Option<crate::section_key::SectionKey>,
    /// The applications are those of the snapshot with `applications_key`,
    /// which the caller said it holds; they were not read again.
    pub applications_unchanged: bool,
    pub upstreams: Vec<crate::upstreams::UpstreamSpec>,
    /// Certificates for the TLS proxy listener, checked (PEM, key matches).
    pub certificates: Vec<CertificateSpec>,
    /// Kong `tags`, per tagged entity, as written.
    pub tags: Vec<TaggedEntity>,
    /// SHA-256 (hex) of the document and every spec file it read.
    pub hash: String,
    /// Non-fatal findings, located like errors.
    pub warnings: Vec<ConfigError>,
}

impl Snapshot {
    /// A snapshot with nothing in it: every request is answered 404.
    pub fn empty() -> Self {
        Snapshot {
            services: vec![],
            consumers: vec![],
            plugins: vec![],
            apis: vec![],
            auth_strategies: vec![],
            packages: vec![],
            applications: vec![],
            applications_key: None,
            applications_unchanged: false,
            upstreams: vec![],
            certificates: vec![],
            tags: vec![],
            hash: crate::digest::hash_bytes(&[b""]),
            warnings: vec![],
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub upstream: Upstream,
    pub routes: Vec<RouteSpec>,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
    /// The upstream (index into `Snapshot::upstreams`) balancing this
    /// service, when its host names one.
    pub balancer: Option<usize>,
    /// Kong's `retries`: further tries after a connect failure.
    pub retries: u32,
    /// How an `https` upstream is verified.
    pub tls: UpstreamTls,
}

/// Verification of an `https` upstream (Kong's `tls_verify`,
/// `tls_verify_depth`, `ca_certificates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    pub verify: bool,
    pub depth: Option<u32>,
    /// PEM text of the trusted CAs; empty: the system roots.
    pub ca_pems: Vec<String>,
}

impl Default for UpstreamTls {
    fn default() -> Self {
        UpstreamTls {
            verify: true,
            depth: None,
            ca_pems: Vec::new(),
        }
    }
}

/// A checked certificate for the TLS listener (`Debug` leaves the key out).
#[derive(Clone)]
pub struct CertificateSpec {
    /// Where it was written, for messages.
    pub at: String,
    pub cert: String,
    pub key: String,
    /// Names it is served for; empty: the certificate's own.
    pub snis: Vec<String>,
}

impl std::fmt::Debug for CertificateSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSpec")
            .field("at", &self.at)
            .field("snis", &self.snis)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path prefix from the service URL, without a trailing slash ("" for none).
    pub base_path: String,
}

/// An entity that carries Kong `tags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedEntity {
    /// Its collection: `services`, `routes`, `consumers`, `plugins`, `upstreams`, ...
    pub kind: String,
    /// Its name; for plugins and nameless entities, where it is written (`plugins[2]`).
    pub label: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    pub hosts: Vec<String>,
    pub strip_path: bool,
    pub preserve_host: bool,
    pub escaped_slashes: crate::model::EscapedSlashes,
    pub path_parameters: crate::model::PathParameters,
    pub headers_with_underscores: crate::model::HeadersWithUnderscores,
    pub regex_priority: i64,
    pub headers: Vec<HeaderCondition>,
}

/// One `headers` entry of a route: a lower-case name and its accepted values
/// (as written; a `~*` value is a case-insensitive regex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCondition {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub username: String,
    pub custom_id: Option<String>,
    pub keys: Vec<String>,
    pub basic: Vec<BasicCredential>,
    /// `acl` groups, as written.
    pub groups: Vec<String>,
}

/// A `basic-auth` credential: a username and how its password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredential {
    pub username: String,
    pub secret: BasicSecret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicSecret {
    /// SHA-256 of the plain password: the snapshot's text is not kept.
    Sha256([u8; 32]),
    /// Kong's stored form: SHA-1 of password followed by `salt`.
    KongSha1 { digest: [u8; 20], salt: String },
    /// A bcrypt hash (`$2a$`, `$2b$`, `$2y$`).
    Bcrypt(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRef {
    pub service: usize,
    pub route: usize,
}

#[derive(Debug, Clone)]
pub struct PluginSpec {
    pub config: PluginConfig,
    pub service: Option<usize>,
    pub route: Option<RouteRef>,
    pub consumer: Option<usize>,
    /// Dynamic ordering for the access phase: run before / after these plugins.
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// Index in the snapshot's `plugins` list, for messages.
    pub index: usize,
}

#[derive(Debug, Clone)]
pub struct ApiSpec {
    pub name: String,
    pub version: Option<String>,
    pub operations: Vec<OperationSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationSpec {
    pub id: String,
    pub method: String,
    /// Template without trailing slash, parameters as `{name}`.
    pub path: String,
    pub host: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StrategySpec {
    pub name: String,
    pub key_names: Vec<String>,
    /// Key lifetime in seconds, when the strategy sets a `ttl`.
    pub ttl_s: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct PackageSpec {
    pub name: String,
    pub description: Option<String>,
    pub limits: Option<Limits>,
    pub operations: Vec<PackageOpSpec>,
}

#[derive(Debug, Clone)]
pub struct PackageOpSpec {
    pub api: usize,
    pub operation: usize,
    /// An operation override: when set, only this is charged for the operation.
    pub limits: Option<Limits>,
}

#[derive(Debug, Clone)]
pub struct ApplicationSpec {
    pub name: String,
    pub strategy: usize,
    pub consumer: Option<usize>,
    pub credentials: Vec<CredentialSpec>,
    pub registrations: Vec<RegistrationSpec>,
}

/// A credential: always its SHA-256; the key itself only when the snapshot carried it.
#[derive(Debug, Clone)]
pub struct CredentialSpec {
    pub sha256: [u8; 32],
    pub plain: Option<String>,
    /// Unix seconds from which the key is refused (its strategy's `ttl`).
    pub expires_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    Package(usize),
    Api(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct RegistrationSpec {
    pub grant: Grant,
    pub status: RegistrationStatus,
}
