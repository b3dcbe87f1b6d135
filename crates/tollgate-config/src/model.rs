//! The user-facing snapshot format (contract §2) as serde types.
//!
//! Every struct denies unknown keys so a typo is an error, never a silently
//! ignored setting. Plugin `config` blocks stay untyped here and are parsed
//! into their typed form by [`crate::plugins`] during validation, so an error
//! inside one plugin's config is located and does not hide the others.

use serde::Deserialize;

/// Top-level keys a snapshot may carry; anything else is reported.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "_format_version",
    "services",
    "consumers",
    "plugins",
    "apis",
    "auth_strategies",
    "api_packages",
    "applications",
    "upstreams",
    "targets",
    "certificates",
    "ca_certificates",
];

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Milliseconds, as in Kong.
    #[serde(default = "default_timeout_ms")]
    pub connect_timeout: u64,
    #[serde(default = "default_timeout_ms")]
    pub read_timeout: u64,
    #[serde(default = "default_timeout_ms")]
    pub write_timeout: u64,
    /// Tries on another target after a connect failure (Kong's default 5).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Verify an `https` upstream's certificate and host name (default true).
    #[serde(default)]
    pub tls_verify: Option<bool>,
    /// Longest certificate chain accepted from an `https` upstream.
    #[serde(default)]
    pub tls_verify_depth: Option<u32>,
    /// Ids of `ca_certificates` trusted for this upstream instead of the system roots.
    #[serde(default)]
    pub ca_certificates: Vec<String>,
}

/// A certificate served on the TLS proxy listener (Kong's `certificates`).
/// `Debug` leaves the key out.
#[derive(Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    #[serde(default)]
    pub id: Option<String>,
    /// PEM chain, leaf first.
    pub cert: String,
    /// PEM private key.
    pub key: String,
    /// Server names it is served for (exact or `*.example.com`); when empty,
    /// the names in the certificate.
    #[serde(default)]
    pub snis: Vec<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("snis", &self.snis)
            .finish_non_exhaustive()
    }
}

/// A CA trusted for `https` upstreams that name it (Kong's `ca_certificates`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaCertificate {
    pub id: String,
    /// PEM certificate(s).
    pub cert: String,
}

fn default_retries() -> u32 {
    5
}

fn default_timeout_ms() -> u64 {
    60_000
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default = "default_true")]
    pub strip_path: bool,
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default)]
    pub escaped_slashes: EscapedSlashes,
    #[serde(default)]
    pub path_parameters: PathParameters,
    #[serde(default)]
    pub headers_with_underscores: HeadersWithUnderscores,
    /// Order among routes with regex (`~`) paths: higher is tried first (Kong).
    #[serde(default)]
    pub regex_priority: i64,
    /// Header conditions (Kong): for every named header, one of its values
    /// equals one of the listed values, ignoring case; `~*` marks a regex.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Vec<String>>,
}

/// What a route does with `%2F` / `%5C` in a request path (Envoy's
/// `path_with_escaped_slashes_action`): upstreams disagree on whether they
/// are separators, so by default such a path is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscapedSlashes {
    #[default]
    Reject,
    /// Decoded to `/` before matching: the upstream gets the decoded path.
    Decode,
    /// Matched and forwarded encoded (inside one segment). Opt-in: an upstream
    /// that decodes them runs a different path than the one matched.
    Keep,
}

/// What a route does with `;` parameters in a path segment (Tomcat, Jetty and
/// Spring strip them before routing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathParameters {
    #[default]
    Reject,
    /// Matched with the parameters removed, forwarded with them.
    Allow,
}

/// What a route does with request headers whose name holds `_` (CGI-style
/// servers read `X_Foo` and `X-Foo` as one variable). Identity, forwarding
/// and framing headers are removed in every spelling whatever this says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HeadersWithUnderscores {
    #[default]
    Allow,
    Drop,
    Reject,
}

pub(crate) fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    pub username: String,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default)]
    pub keyauth_credentials: Vec<KeyAuthCredential>,
    #[serde(default)]
    pub basicauth_credentials: Vec<BasicAuthCredential>,
    /// Kong's `acls`: the groups the consumer belongs to (for the `acl` plugin).
    #[serde(default)]
    pub acls: Vec<AclGroup>,
}

/// A `basic-auth` credential: the password in plain text, or as Kong stores
/// it (SHA-1 of password + `salt`, Kong's consumer id; or bcrypt).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthCredential {
    pub username: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_sha1: Option<String>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub password_bcrypt: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AclGroup {
    pub group: String,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthCredential {
    pub key: String,
}

/// A plugin entry before its `config` is typed.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub name: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub consumer: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub ordering: Option<Ordering>,
}

/// Kong dynamic ordering: `before: { access: [..] }` / `after: { access: [..] }`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ordering {
    #[serde(default)]
    pub before: Option<PhaseList>,
    #[serde(default)]
    pub after: Option<PhaseList>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseList {
    #[serde(default)]
    pub access: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Api {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub spec: Option<String>,
    #[serde(default)]
    pub spec_file: Option<String>,
    #[serde(default)]
    pub operations: Vec<ManualOperation>,
    /// What a spec operation the router cannot hold does to the API.
    #[serde(default)]
    pub on_unsupported_operation: OnUnsupported,
}

/// `error` (default): the snapshot is refused, one error per path.
/// `skip`: the API is imported without those operations, each warned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnUnsupported {
    #[default]
    Error,
    Skip,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualOperation {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthStrategy {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default = "default_key_names")]
    pub key_names: Vec<String>,
    /// Konnect's key `ttl`: credentials expire this long after `created_at`.
    #[serde(default)]
    pub ttl: Option<KeyTtl>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyTtl {
    pub value: u64,
    pub unit: TtlUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TtlUnit {
    Days,
    Weeks,
    /// 365 days.
    Years,
}

impl KeyTtl {
    /// The ttl in seconds (saturating: a huge ttl never wraps into the past).
    pub fn seconds(&self) -> u64 {
        let unit: u64 = match self.unit {
            TtlUnit::Days => 86_400,
            TtlUnit::Weeks => 7 * 86_400,
            TtlUnit::Years => 365 * 86_400,
        };
        self.value.saturating_mul(unit)
    }
}

pub(crate) fn default_key_names() -> Vec<String> {
    vec!["apikey".to_string()]
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiPackage {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub rate_limiting_config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub operations: Vec<PackageOperation>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageOperation {
    pub api: String,
    pub method: String,
    pub path: String,
    /// Only needed when the API has the same method and path for several hosts.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub rate_limiting_config: Option<serde_yaml::Value>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    pub auth_strategy: String,
    #[serde(default)]
    pub consumer: Option<String>,
    #[serde(default)]
    pub credentials: Vec<Credential>,
    #[serde(default)]
    pub registrations: Vec<Registration>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// Unix seconds; with a strategy `ttl`, the key expires at `created_at + ttl`.
    #[serde(default)]
    pub created_at: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    #[serde(default)]
    pub api_package: Option<String>,
    #[serde(default)]
    pub api: Option<String>,
    #[serde(default)]
    pub status: RegistrationStatus,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    #[default]
    Approved,
    Pending,
    Rejected,
    Revoked,
}
