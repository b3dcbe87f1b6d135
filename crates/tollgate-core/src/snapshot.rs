//! The immutable runtime snapshot: everything a request needs, prebuilt.
//! Built by [`crate::compile`] off the request path and swapped in whole.

pub use crate::directory::*;
use crate::plugins::Chain;
use crate::routes::RouteTable;
use http::HeaderValue;
use tollgate_config::{ConfigError, Upstream};

pub struct CompiledService {
    pub name: Box<str>,
    pub upstream: Upstream,
    /// `Host` sent upstream unless the route preserves the client's.
    pub host_header: HeaderValue,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    pub write_timeout_ms: u64,
    /// Index into `CompiledSnapshot::upstreams` when the host names an upstream.
    pub balancer: Option<u32>,
    /// Further tries on another target after a connect failure.
    pub retries: u32,
    /// How an `https` upstream is verified; the gateway builds the CA list.
    pub tls: tollgate_config::resolved::UpstreamTls,
}

/// Entity counts for `/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub services: usize,
    pub routes: usize,
    pub apis: usize,
    pub operations: usize,
    pub api_packages: usize,
    pub applications: usize,
    pub credentials: usize,
}

pub struct CompiledSnapshot {
    pub hash: String,
    pub services: Vec<CompiledService>,
    pub routes: RouteTable,
    /// One chain per route, plugins in execution order.
    pub chains: Vec<Chain>,
    /// What the plugins look things up in (see [`Directory`]).
    pub dir: Directory,
    pub counts: Counts,
    pub warnings: Vec<ConfigError>,
    /// Load-balanced upstreams; the gateway builds their pools.
    pub upstreams: Vec<tollgate_config::upstreams::UpstreamSpec>,
    /// Certificates for the TLS proxy listener; the gateway loads them.
    pub certificates: Vec<tollgate_config::resolved::CertificateSpec>,
    /// Kong tags: tag → collection (`services`, `routes`, ...) → entity names.
    pub tags: TagIndex,
}

/// Field access reads through to the directory (`snap.apps`, `snap.credentials`):
/// the snapshot is the directory plus what only the proxy needs.
impl std::ops::Deref for CompiledSnapshot {
    type Target = Directory;

    fn deref(&self) -> &Directory {
        &self.dir
    }
}

/// Tag → collection → the names of the entities carrying it, sorted.
pub type TagIndex =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>;

/// Indexes the tagged entities of a snapshot by tag.
pub fn tag_index(tagged: &[tollgate_config::TaggedEntity]) -> TagIndex {
    let mut index = TagIndex::new();
    for e in tagged {
        for t in &e.tags {
            let names = index
                .entry(t.clone())
                .or_default()
                .entry(e.kind.clone())
                .or_default();
            if !names.contains(&e.label) {
                names.push(e.label.clone());
            }
        }
    }
    for names in index.values_mut().flat_map(|k| k.values_mut()) {
        names.sort();
    }
    index
}
