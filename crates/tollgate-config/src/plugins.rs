//! Typed configuration for each plugin, and the priorities Kong gives them.
//!
//! A plugin entry's `config` is parsed into exactly one of these structs during
//! validation; the runtime never sees untyped plugin settings.

use serde::Deserialize;

/// Which plugin an entry configures, with its typed settings.
#[derive(Debug, Clone)]
pub enum PluginConfig {
    KeyAuth(KeyAuthConfig),
    Ace(AceConfig),
    RateLimiting(RateLimitingConfig),
    RequestTermination(RequestTerminationConfig),
}

/// Names of every plugin tollgate knows, for `ordering` references.
pub const KNOWN_PLUGINS: &[&str] = &["key-auth", "ace", "rate-limiting", "request-termination"];

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
        }
    }

    /// Parses `config` for the plugin `name`. `Err` carries (path inside config, message).
    pub fn parse(name: &str, config: Option<&serde_yaml::Value>) -> Result<Self, (String, String)> {
        let empty = serde_yaml::Value::Mapping(Default::default());
        let value = match config {
            None | Some(serde_yaml::Value::Null) => &empty,
            Some(v) => v,
        };
        match name {
            "key-auth" => typed(value).map(PluginConfig::KeyAuth),
            "ace" => typed(value).map(PluginConfig::Ace),
            "rate-limiting" => typed(value).map(PluginConfig::RateLimiting),
            "request-termination" => typed(value).map(PluginConfig::RequestTermination),
            other => Err((
                String::new(),
                format!(
                    "unknown plugin {other:?}; known plugins: {}",
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
        _ => return None,
    })
}

fn typed<T: serde::de::DeserializeOwned>(value: &serde_yaml::Value) -> Result<T, (String, String)> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    #[default]
    IfPresent,
    Required,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AceConfig {
    #[serde(default)]
    pub match_policy: MatchPolicy,
    #[serde(default)]
    pub anonymous: Option<String>,
    /// Remove the key (header or query parameter) before proxying. Unlike
    /// key-auth's, on by default: a key that identified an application has no
    /// business upstream.
    #[serde(default = "crate::model::default_true")]
    pub hide_credentials: bool,
    #[serde(default)]
    pub rate_limiting: Option<AceRateLimiting>,
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
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
            sentinel_master: None,
            sentinel_nodes: None,
            sentinel_role: None,
            sentinel_username: None,
            sentinel_password: None,
            cluster_nodes: None,
            cluster_max_redirections: default_max_redirections(),
        }
    }
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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    #[default]
    Local,
    Redis,
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
    pub limit_by: LimitBy,
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
}

fn default_termination_status() -> u16 {
    503
}
