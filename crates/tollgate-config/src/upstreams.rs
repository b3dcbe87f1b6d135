//! Kong's `upstreams` and `targets` entities: the serde model (Kong 3.x field
//! names and defaults) and the validated form the gateway balances with.
//!
//! An upstream is a named pool of targets; a service whose host equals an
//! upstream's name is balanced across that upstream's targets instead of
//! being resolved through DNS. Targets are written nested under their
//! upstream or at the top level with an `upstream:` reference.

use crate::host_port::{split, Colons};
use serde::Deserialize;

/// Kong's default target port when a target gives none.
pub const DEFAULT_TARGET_PORT: u16 = 8000;
/// Pingora tries a request at most 16 times: the first try and 15 retries.
pub const MAX_RETRIES: u32 = 15;
/// Targets one upstream may have (Pingora's selectors index them in 16 bits).
pub const MAX_TARGETS: usize = 10_000;
/// Kong's default target weight.
pub const DEFAULT_WEIGHT: u32 = 100;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamEntry {
    pub name: String,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub created_at: Option<serde_yaml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub updated_at: Option<serde_yaml::Value>,
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
    #[serde(default)]
    pub slots: Option<u32>,
    #[serde(default)]
    pub hash_on: Option<HashOn>,
    #[serde(default)]
    pub hash_fallback: Option<HashOn>,
    #[serde(default)]
    pub hash_on_header: Option<String>,
    #[serde(default)]
    pub hash_fallback_header: Option<String>,
    // Accepted so Kong files load; refused by validation when set.
    #[serde(default)]
    pub hash_on_cookie: Option<String>,
    #[serde(default)]
    pub hash_on_cookie_path: Option<String>,
    #[serde(default)]
    pub hash_on_query_arg: Option<String>,
    #[serde(default)]
    pub hash_fallback_query_arg: Option<String>,
    #[serde(default)]
    pub hash_on_uri_capture: Option<String>,
    #[serde(default)]
    pub hash_fallback_uri_capture: Option<String>,
    #[serde(default)]
    pub host_header: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub client_certificate: Option<serde_yaml::Value>,
    #[serde(default)]
    pub use_srv_name: Option<bool>,
    #[serde(default)]
    pub healthchecks: Option<Healthchecks>,
    #[serde(default)]
    pub targets: Option<Vec<TargetEntry>>,
}

/// A target, nested (no `upstream`) or top-level (`upstream` names its pool).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    pub target: String,
    #[serde(default)]
    pub weight: Option<u32>,
    #[serde(default)]
    pub upstream: Option<EntityRef>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub created_at: Option<serde_yaml::Value>,
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Value>")]
    pub updated_at: Option<serde_yaml::Value>,
}

/// A reference to another entity: its name or id, or `{name: ..}` / `{id: ..}`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum EntityRef {
    Plain(String),
    Keyed {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum Algorithm {
    #[serde(rename = "round-robin")]
    RoundRobin,
    #[serde(rename = "consistent-hashing")]
    ConsistentHashing,
    #[serde(rename = "least-connections")]
    LeastConnections,
    #[serde(rename = "latency")]
    Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HashOn {
    None,
    Consumer,
    Ip,
    Header,
    Cookie,
    Path,
    QueryArg,
    UriCapture,
}

/// Kong's `healthchecks` block, every field with Kong's default.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Healthchecks {
    pub threshold: f64,
    pub active: Active,
    pub passive: Passive,
}

impl Default for Healthchecks {
    fn default() -> Self {
        Healthchecks {
            threshold: 0.0,
            active: Active::default(),
            passive: Passive::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    Http,
    Https,
    Tcp,
    Grpc,
    Grpcs,
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Active {
    #[serde(rename = "type")]
    pub kind: CheckType,
    /// Seconds.
    pub timeout: f64,
    pub concurrency: u32,
    pub http_path: String,
    pub https_sni: Option<String>,
    pub https_verify_certificate: bool,
    pub headers: Option<std::collections::BTreeMap<String, Vec<String>>>,
    pub healthy: ActiveHealthy,
    pub unhealthy: ActiveUnhealthy,
}

impl Default for Active {
    fn default() -> Self {
        Active {
            kind: CheckType::Http,
            timeout: 1.0,
            concurrency: 10,
            http_path: "/".to_string(),
            https_sni: None,
            https_verify_certificate: true,
            headers: None,
            healthy: ActiveHealthy::default(),
            unhealthy: ActiveUnhealthy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveHealthy {
    /// Seconds between probes of a healthy target; 0 disables them.
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

impl Default for ActiveHealthy {
    fn default() -> Self {
        ActiveHealthy {
            interval: 0.0,
            http_statuses: vec![200, 302],
            successes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveUnhealthy {
    /// Seconds between probes of an unhealthy target; 0 disables them.
    pub interval: f64,
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

impl Default for ActiveUnhealthy {
    fn default() -> Self {
        ActiveUnhealthy {
            interval: 0.0,
            http_statuses: vec![429, 404, 500, 501, 502, 503, 504, 505],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Passive {
    #[serde(rename = "type")]
    pub kind: CheckType,
    pub healthy: PassiveHealthy,
    pub unhealthy: PassiveUnhealthy,
}

impl Default for Passive {
    fn default() -> Self {
        Passive {
            kind: CheckType::Http,
            healthy: PassiveHealthy::default(),
            unhealthy: PassiveUnhealthy::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveHealthy {
    pub http_statuses: Vec<u16>,
    pub successes: u32,
}

impl Default for PassiveHealthy {
    fn default() -> Self {
        PassiveHealthy {
            http_statuses: vec![
                200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305,
                306, 307, 308,
            ],
            successes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveUnhealthy {
    pub http_statuses: Vec<u16>,
    pub tcp_failures: u32,
    pub timeouts: u32,
    pub http_failures: u32,
}

impl Default for PassiveUnhealthy {
    fn default() -> Self {
        PassiveUnhealthy {
            http_statuses: vec![429, 500, 503],
            tcp_failures: 0,
            timeouts: 0,
            http_failures: 0,
        }
    }
}

impl Healthchecks {
    /// Any active probing at all.
    pub fn active_enabled(&self) -> bool {
        self.active.healthy.interval > 0.0 || self.active.unhealthy.interval > 0.0
    }

    /// Any passive counter that can take a target out or bring it back.
    pub fn passive_enabled(&self) -> bool {
        let p = &self.passive;
        p.healthy.successes > 0
            || p.unhealthy.tcp_failures > 0
            || p.unhealthy.timeouts > 0
            || p.unhealthy.http_failures > 0
    }
}

/// How the validated upstream picks a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    ConsistentHashing,
    LeastConnections,
}

/// Where a consistent-hashing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    None,
    Consumer,
    Ip,
    /// Lower-cased header name.
    Header(String),
    /// The request path as the client sent it.
    Path,
    /// A query argument's value as sent (not percent-decoded).
    QueryArg(String),
    /// A cookie's value; a client without it gets one set (Kong's rule).
    Cookie {
        name: String,
        path: String,
    },
}

/// A validated upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamSpec {
    pub name: String,
    pub balance: Balance,
    pub hash_on: HashKey,
    pub hash_fallback: HashKey,
    pub host_header: Option<String>,
    pub healthchecks: Healthchecks,
    /// In the order written; weight-0 targets are kept (shown, never picked).
    pub targets: Vec<TargetSpec>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// As written (`host:port`), the name `/status` and metrics show.
    pub target: String,
    pub host: String,
    pub port: u16,
    pub weight: u32,
}

/// Splits `host[:port]` / `[v6][:port]`; the port defaults to Kong's 8000.
pub fn parse_target(s: &str) -> Result<(String, u16), String> {
    let (host, port) = split(s, Colons::BareV6).map_err(|p| p.about(&format!("target {s:?}")))?;
    if host
        .bytes()
        .any(|b| b <= b' ' || b >= 0x7f || b"/?#@".contains(&b))
    {
        return Err(format!("target {s:?} is not a host name or address"));
    }
    let port = port.unwrap_or(DEFAULT_TARGET_PORT);
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_like_kong() {
        assert_eq!(parse_target("10.0.0.1:80"), Ok(("10.0.0.1".into(), 80)));
        assert_eq!(parse_target("svc.local"), Ok(("svc.local".into(), 8000)));
        assert_eq!(parse_target("[::1]:81"), Ok(("::1".into(), 81)));
        assert_eq!(parse_target("[::1]"), Ok(("::1".into(), 8000)));
        assert_eq!(parse_target("::1"), Ok(("::1".into(), 8000)));
        assert!(parse_target("h:0").is_err());
        assert!(parse_target("h:x").is_err());
        assert!(parse_target(":80").is_err());
        assert!(parse_target("a b:80").is_err());
    }
}
