//! Typed configuration of the Kong plugins that sit beside ACE: `basic-auth`,
//! `acl`, `cors` and `prometheus`, with Kong's field names and defaults.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthConfig {
    /// Consumer username used when authentication fails (Kong's logical OR).
    #[serde(default)]
    pub anonymous: Option<String>,
    #[serde(default)]
    pub hide_credentials: bool,
    /// `WWW-Authenticate: Basic realm="<realm>"`.
    #[serde(default = "default_realm")]
    pub realm: String,
}

fn default_realm() -> String {
    "service".to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclConfig {
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    #[serde(default)]
    pub deny: Option<Vec<String>>,
    /// Do not send `X-Consumer-Groups` upstream.
    #[serde(default)]
    pub hide_groups_header: bool,
    /// Kong reads groups set by other auth plugins (LDAP, OAuth2) first; no
    /// tollgate plugin sets such groups, so only `false` is accepted.
    #[serde(default)]
    pub always_use_authenticated_groups: bool,
    /// Consumer-group membership (Kong Enterprise): only `false` is accepted.
    #[serde(default)]
    pub include_consumer_groups: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    /// Allowed origins: exact (`https://a.example`), `*`, or a regex.
    /// Empty: every origin (`*`).
    #[serde(default)]
    pub origins: Vec<String>,
    /// `Access-Control-Allow-Headers`; empty: echo the request's.
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    #[serde(default = "default_cors_methods")]
    pub methods: Vec<String>,
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub credentials: bool,
    #[serde(default)]
    pub private_network: bool,
    /// Proxy preflight requests instead of answering them.
    #[serde(default)]
    pub preflight_continue: bool,
    /// Add the headers to responses to requests without `Origin` too.
    #[serde(default = "crate::model::default_true")]
    pub allow_origin_absent: bool,
}

fn default_cors_methods() -> Vec<String> {
    [
        "GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Kong's `prometheus` settings. tollgate's metrics are always exported on the
/// admin listener's `/metrics`; these switches are accepted and have no effect.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    #[serde(default)]
    pub per_consumer: bool,
    #[serde(default)]
    pub status_code_metrics: bool,
    #[serde(default)]
    pub latency_metrics: bool,
    #[serde(default)]
    pub bandwidth_metrics: bool,
    #[serde(default)]
    pub upstream_health_metrics: bool,
    #[serde(default)]
    pub ai_metrics: bool,
    #[serde(default)]
    pub wasm_metrics: bool,
}
