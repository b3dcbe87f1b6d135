//! The JSON Schema of the snapshot format (`tollgate schema`), generated
//! from the serde model so it cannot drift from what the loader reads.
//!
//! It describes tollgate's own form of every entity. Kong's other forms
//! (top-level `routes`, `id`s, `tags`, ...) are read by the loader too but
//! are not in the schema: the schema is what a new file should look like.

use crate::model;
use schemars::JsonSchema;
use serde::Deserialize;

/// A snapshot document.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "tollgate snapshot")]
#[allow(dead_code)]
struct Document {
    /// "3.0" (Kong's "1.1" and "2.1" are read and migrated).
    #[serde(rename = "_format_version")]
    format_version: Option<String>,
    /// Kong metadata: whether plain-text basic-auth passwords are given (true).
    #[serde(rename = "_transform", default)]
    transform: Option<bool>,
    #[serde(rename = "_comment", default)]
    comment: Option<String>,
    #[serde(rename = "_ignore", default)]
    ignore: Option<Vec<serde_json::Value>>,
    #[serde(rename = "_info", default)]
    info: Option<serde_json::Value>,
    #[serde(default)]
    services: Vec<model::Service>,
    #[serde(default)]
    consumers: Vec<model::Consumer>,
    #[serde(default)]
    plugins: Vec<model::PluginEntry>,
    #[serde(default)]
    apis: Vec<model::Api>,
    #[serde(default)]
    auth_strategies: Vec<model::AuthStrategy>,
    #[serde(default)]
    api_packages: Vec<model::ApiPackage>,
    #[serde(default)]
    applications: Vec<model::Application>,
    /// Load-balanced upstreams (docs/load-balancing.md).
    #[serde(default)]
    upstreams: Vec<crate::upstreams::UpstreamEntry>,
    /// Targets given at the top level, naming their upstream.
    #[serde(default)]
    targets: Vec<crate::upstreams::TargetEntry>,
    /// Certificates for the TLS proxy listener, chosen by SNI (docs/deployment.md).
    #[serde(default)]
    certificates: Vec<model::Certificate>,
    /// CAs trusted for `https` upstreams that list them in `ca_certificates`.
    #[serde(default)]
    ca_certificates: Vec<model::CaCertificate>,
}

/// The schema, as JSON.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Document)).unwrap_or_default()
}
