//! tollgate's snapshot format: the serde model users write, loading with
//! located errors, validation of every rule and reference, and OpenAPI import.
//!
//! Output is a [`Snapshot`] with references resolved to indices and plugin
//! configs typed; `tollgate-core` compiles it into the runtime form.

mod ace_legacy;
pub mod auth;
pub mod basic_auth;
mod digest;
pub mod feed;
mod hints;
mod host_port;
pub mod inline;
pub mod kong;
pub mod limits;
pub mod load;
mod load_typed;
pub mod model;
pub mod names;
pub mod openapi;
pub mod operations;
pub mod persist;
pub mod plugin_configs;
pub mod plugins;
pub mod raw;
mod redis_fields;
pub mod reserved_headers;
pub mod resolved;
pub mod route_match;
mod router_check;
pub mod schema;
pub mod section_key;
mod service_url;
pub mod synth;
pub mod upstreams;
mod validate;
mod validate_access;
mod validate_api;
mod validate_ctx;
mod validate_fail_closed;
mod validate_healthchecks;
mod validate_plugins;
pub mod validate_plugins_kong;
mod validate_tls;
mod validate_upstreams;

pub use digest::{hash_bytes, HashedDocument};
pub use limits::{Limits, Unit, Window};
pub use load::{explain_kong, load_bytes, load_bytes_reusing, load_file, load_hashed_reusing};
pub use resolved::*;
pub use section_key::SectionKey;
pub use validate_fail_closed::sample_path;
