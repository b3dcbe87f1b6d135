//! tollgate's Pingora integration: the proxy phases, the admin API, snapshot
//! reload, metrics, and a demo upstream. Decisions are made by
//! `tollgate-core`; this crate moves bytes and keeps state.

pub mod access;
pub mod access_log;
pub mod admin;
pub mod background;
pub mod balancer;
pub mod cluster;
pub mod ctx;
pub mod demo;
pub mod dns;
pub mod drain;
pub mod explain;
pub mod feed;
pub mod feed_cache;
pub mod head_guard;
pub mod headers;
pub mod health;
pub mod least_conn;
mod lowprio;
pub mod metrics;
pub mod observe;
pub mod password_checks;
pub mod probe;
pub mod proxy;
pub mod reply;
pub mod request_id;
pub mod retire;
pub mod server;
pub mod shadow;
pub mod state;
pub mod tls;
pub mod tls_watch;
pub mod trace;
pub mod trusted;
pub mod tuning;
pub mod upstream;

pub use server::{run, RunOptions, StartError, TlsListen};
pub use state::Gateway;
