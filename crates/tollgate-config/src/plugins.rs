//! Typed configuration for each plugin, and the priorities Kong gives them.
//!
//! A plugin entry's `config` is parsed into exactly one of these structs during
//! validation; the runtime never sees untyped plugin settings.

use serde::Deserialize;

pub use crate::plugin_configs::{AclConfig, BasicAuthConfig, CorsConfig, PrometheusConfig};

/// Which plugin an entry configures, with its typed settings.
#[derive(Debug, Clone)]
pub enum PluginConfig {
    KeyAuth(KeyAuthConfig),
    // Boxed (both with Redis settings): several times larger than the rest.
    Ace(Box<AceConfig>),
    RateLimiting(Box<RateLimitingConfig>),
    RequestTermination(RequestTerminationConfig),
    BasicAuth(BasicAuthConfig),
    Acl(AclConfig),
    Cors(CorsConfig),
    Prometheus(PrometheusConfig),
}

/// Names of every plugin tollgate knows, for `ordering` references.
pub const KNOWN_PLUGINS: &[&str] = &[
    "key-auth",
    "ace",
    "rate-limiting",
    "request-termination",
    "basic-auth",
    "acl",
    "cors",
    "prometheus",
];

impl PluginConfig {
    /// Kong's static priority: higher runs first in the access phase.
    pub fn priority(&self) -> i32 {
        priority_of(self.name()).unwrap_or(0)
    }

    pub fn name(&self) -> &'static str {
        match self {
            PluginConfig::KeyAuth(_) => "key-auth",
            PluginConfig::Ace(_) => "ace",
            PluginConfig::RateLimiting(_) => "rate-limiting",
            PluginConfig::RequestTermination(_) => "request-termination",
            PluginConfig::BasicAuth(_) => "basic-auth",
            PluginConfig::Acl(_) => "acl",
            PluginConfig::Cors(_) => "cors",
            PluginConfig::Prometheus(_) => "prometheus",
        }
    }

    /// Parses `config` for the plugin `name`. `Err` carries (path inside config, message).
    pub fn parse(name: &str, config: Option<&serde_yaml::Value>) -> Result<Self, (String, String)> {
        let mut owned = match config {
            None | Some(serde_yaml::Value::Null) => serde_yaml::Value::Mapping(Default::default()),
            Some(v) => v.clone(),
        };
        // Kong's forms (explicit nulls, legacy flat fields), whichever way
        // the document was read.
        crate::kong::config_fixups(name, &mut owned);
        let value = &owned;
        match name {
            "key-auth" => typed(value).map(PluginConfig::KeyAuth),
            "ace" => crate::ace_legacy::parse(value).map(|c| PluginConfig::Ace(Box::new(c))),
            "rate-limiting" => typed(value).map(|c| PluginConfig::RateLimiting(Box::new(c))),
            "request-termination" => typed(value).map(PluginConfig::RequestTermination),
            "basic-auth" => typed(value).map(PluginConfig::BasicAuth),
            "acl" => typed(value).map(PluginConfig::Acl),
            "cors" => typed(value).map(PluginConfig::Cors),
            "prometheus" => typed(value).map(PluginConfig::Prometheus),
            other => Err((
                String::new(),
                format!(
                    "plugin {other:?} is not supported ({}); supported plugins: {}. \
                     An entry with `enabled: false` is skipped",
                    crate::kong::unknown_plugin_note(other),
                    KNOWN_PLUGINS.join(", ")
                ),
            )),
        }
    }
}

pub fn priority_of(name: &str) -> Option<i32> {
    Some(match name {
        "key-auth" => 1250,
        "ace" => 955,
        "rate-limiting" => 910,
        "request-termination" => 2,
        "cors" => 2000,
        "basic-auth" => 1100,
        "acl" => 950,
        "prometheus" => 13,
        _ => return None,
    })
}

pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    value: &serde_yaml::Value,
) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        (path, e.into_inner().to_string())
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthConfig {
    #[serde(default = "crate::model::default_key_names")]
    pub key_names: Vec<String>,
    #[serde(default = "crate::model::default_true")]
    pub key_in_header: bool,
    #[serde(default = "crate::model::default_true")]
    pub key_in_query: bool,
    #[serde(default)]
    pub hide_credentials: bool,
    /// Consumer username used when no valid key is presented.
    #[serde(default)]
    pub anonymous: Option<String>,
    /// Kong reads keys from a form or JSON body too; only `false` is accepted.
    #[serde(default)]
    pub key_in_body: bool,
    /// `false`: `OPTIONS` requests pass without a key (CORS preflights).
    #[serde(default = "crate::model::default_true")]
    pub run_on_preflight: bool,
    /// `WWW-Authenticate: Key realm="<realm>"`; omitted: `Key`.
    #[serde(default)]
    pub realm: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    #[default]
    IfPresent,
    Required,
}

/// Whether ACE's refusals are applied (`enforce`) or only recorded (`shadow`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AceMode {
    #[default]
    Enforce,
    /// Decide, record and count, but let every request through.
    Shadow,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AceConfig {
    #[serde(default)]
    pub match_policy: MatchPolicy,
    #[serde(default)]
    pub mode: AceMode,
    /// In shadow mode, tell the client the would-be decision in
    /// `X-ACE-Shadow-Decision`. Off by default: shadow mode is meant to be
    /// invisible to clients.
    #[serde(default)]
    pub shadow_header: bool,
    #[serde(default)]
    pub anonymous: Option<String>,
    /// Remove the key (header or query parameter) before proxying. Unlike
    /// key-auth's, on by default: a key that identified an application has no
    /// business upstream.
    #[serde(default = "crate::model::default_true")]
    pub hide_credentials: bool,
    #[serde(default)]
    pub rate_limiting: Option<AceRateLimiting>,
    /// The earlier ACE shape: `true` is `match_policy: if_present`, `false`
    /// is `required`. Folded into `match_policy` when parsed.
    #[serde(default)]
    pub allow_unmatched_operations: Option<bool>,
    /// The earlier ACE shape: `redis` and `sync_rate` beside the other
    /// fields. Folded into `rate_limiting` when parsed.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    #[serde(default)]
    pub sync_rate: Option<f64>,
    /// (field, how it was read) for each earlier-shape field, for warnings.
    #[serde(skip)]
    pub legacy: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AceRateLimiting {
    /// `counters` (default: `sync_rate` below) or `lease`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Omitted: node-local. 0: synchronous in Redis. >= 0.02: async sync interval in seconds.
    #[serde(default)]
    pub sync_rate: Option<f64>,
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

/// How a cluster shares an ACE limit through Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Counters decided as `sync_rate` says.
    #[default]
    Counters,
    /// Each node leases slices of the remaining quota; never over-admits.
    Lease,
}

/// Unknown keys land in `unsupported` (serde cannot deny them beside a
/// flattened map) and are refused by [`crate::redis_fields::check`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RedisConfig {
    #[serde(default = "default_redis_host")]
    pub host: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
    #[serde(default)]
    pub database: u32,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_redis_timeout")]
    pub connect_timeout: u64,
    #[serde(default = "default_redis_timeout")]
    pub read_timeout: u64,
    #[serde(default = "default_redis_timeout")]
    pub send_timeout: u64,
    /// TLS to Redis.
    #[serde(default)]
    pub ssl: bool,
    /// Check the server certificate (chain and name) when `ssl` is on.
    #[serde(default = "crate::model::default_true")]
    pub ssl_verify: bool,
    /// Name for SNI and certificate verification; default: `host`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Connections kept open to this Redis (Kong's default 256).
    #[serde(default = "default_keepalive_pool_size")]
    pub keepalive_pool_size: u32,
    /// Accepted as in Kong; connections are multiplexed, so there is no queue.
    #[serde(default)]
    pub keepalive_backlog: Option<u32>,
    /// Redis Sentinel (Kong's fields): the master's name and the sentinels.
    #[serde(default)]
    pub sentinel_master: Option<String>,
    #[serde(default)]
    pub sentinel_nodes: Option<Vec<RedisNode>>,
    /// `master` (or `any`, which counters also need to be the master).
    #[serde(default)]
    pub sentinel_role: Option<String>,
    #[serde(default)]
    pub sentinel_username: Option<String>,
    #[serde(default)]
    pub sentinel_password: Option<String>,
    /// Redis Cluster (Kong's fields): seed nodes, and how many MOVED/ASK
    /// redirections one command may follow.
    #[serde(default)]
    pub cluster_nodes: Option<Vec<RedisNode>>,
    #[serde(default = "default_max_redirections")]
    pub cluster_max_redirections: u32,
    /// Every other key: Kong's cloud-authentication and proxy fields, or typos.
    #[serde(flatten)]
    pub unsupported: std::collections::BTreeMap<String, serde_yaml::Value>,
}

/// One Sentinel or Cluster node; Kong names the address `host` for
/// sentinels and `ip` for cluster nodes, so both are read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisNode {
    #[serde(alias = "ip")]
    pub host: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            host: default_redis_host(),
            port: default_redis_port(),
            database: 0,
            username: None,
            password: None,
            connect_timeout: default_redis_timeout(),
            read_timeout: default_redis_timeout(),
            send_timeout: default_redis_timeout(),
            ssl: false,
            ssl_verify: true,
            server_name: None,
            keepalive_pool_size: default_keepalive_pool_size(),
            keepalive_backlog: None,
            sentinel_master: None,
            sentinel_nodes: None,
            sentinel_role: None,
            sentinel_username: None,
            sentinel_password: None,
            cluster_nodes: None,
            cluster_max_redirections: default_max_redirections(),
            unsupported: Default::default(),
        }
    }
}

fn default_keepalive_pool_size() -> u32 {
    256
}

fn default_max_redirections() -> u32 {
    5
}

fn default_redis_host() -> String {
    "127.0.0.1".to_string()
}
fn default_redis_port() -> u16 {
    6379
}
fn default_redis_timeout() -> u64 {
    2000
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitBy {
    #[default]
    Consumer,
    Credential,
    Ip,
    Service,
    Header,
    Path,
    /// Kong Enterprise consumer groups: refused by validation.
    #[serde(rename = "consumer-group")]
    ConsumerGroup,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    #[default]
    Local,
    Redis,
    /// Kong's database-backed counters: refused (there is no database).
    Cluster,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitingConfig {
    #[serde(default)]
    pub second: Option<u64>,
    #[serde(default)]
    pub minute: Option<u64>,
    #[serde(default)]
    pub hour: Option<u64>,
    #[serde(default)]
    pub day: Option<u64>,
    #[serde(default)]
    pub month: Option<u64>,
    #[serde(default)]
    pub year: Option<u64>,
    #[serde(default)]
    pub limit_by: LimitBy,
    /// With `limit_by: header`: the header whose value is the subject.
    #[serde(default)]
    pub header_name: Option<String>,
    /// With `limit_by: path`: the request path that is limited.
    #[serde(default)]
    pub path: Option<String>,
    /// Redis unreachable: `true` lets requests through on local counters,
    /// `false` answers 500.
    #[serde(default = "crate::model::default_true")]
    pub fault_tolerant: bool,
    /// Kong's periodic-sync knob for `cluster`/`redis`; -1 (its default) is synchronous.
    #[serde(default)]
    pub sync_rate: Option<f64>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub hide_client_headers: bool,
    #[serde(default = "default_error_code")]
    pub error_code: u16,
    #[serde(default = "default_error_message")]
    pub error_message: String,
    #[serde(default)]
    pub redis: Option<RedisConfig>,
}

fn default_error_code() -> u16 {
    429
}
fn default_error_message() -> String {
    "API rate limit exceeded".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestTerminationConfig {
    #[serde(default = "default_termination_status")]
    pub status_code: u16,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Kong echoes the request back when `true`; only `false` is accepted.
    #[serde(default)]
    pub echo: bool,
    /// Kong terminates only when this header or query parameter is present;
    /// not supported (must be unset).
    #[serde(default)]
    pub trigger: Option<String>,
}

fn default_termination_status() -> u16 {
    503
}
