//! The immutable runtime snapshot: everything a request needs, prebuilt.
//! Built by [`crate::compile`] off the request path and swapped in whole.

use crate::credentials::{CredentialIndex, KeyName};
use crate::limiter::CompiledLimit;
use crate::opmatch::{OpId, OperationRouter};
use crate::plugins::Chain;
use crate::routes::RouteTable;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::Arc;
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

pub struct CompiledOperation {
    pub api: u32,
    pub id: Box<str>,
    pub id_header: HeaderValue,
    pub method: Box<str>,
    pub path: Box<str>,
    pub host: Option<Box<str>>,
}

pub struct CompiledApi {
    pub name: Box<str>,
    /// Operations of an API have consecutive ids.
    pub ops: std::ops::Range<OpId>,
}

/// A limit with its stable scope id (the limiter key's second half).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopedLimit {
    pub scope: u64,
    pub limit: CompiledLimit,
}

pub struct CompiledPackage {
    pub name: Box<str>,
    pub name_header: HeaderValue,
    pub limit: Option<ScopedLimit>,
    /// Operation → its override, if it has one.
    pub ops: HashMap<OpId, Option<ScopedLimit>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledGrant {
    Package(u32),
    Api(u32),
}

pub struct CompiledApp {
    pub name: Box<str>,
    pub name_header: HeaderValue,
    pub strategy: u32,
    pub consumer: Option<u32>,
    /// Approved registrations only, in the application's order.
    pub grants: Vec<CompiledGrant>,
    /// Registrations that are not approved, with their status: never
    /// consulted by a decision, only reported by `explain`.
    pub inactive: Box<[(CompiledGrant, tollgate_config::model::RegistrationStatus)]>,
}

pub struct CompiledConsumer {
    pub username: Box<str>,
    pub username_header: HeaderValue,
    /// Kong's `X-Consumer-ID`: stable id derived from the username.
    pub id_header: HeaderValue,
    pub custom_id_header: Option<HeaderValue>,
    /// Stable limiter subject for `limit_by: consumer`.
    pub subject: u64,
    /// `acl` groups.
    pub groups: Vec<Box<str>>,
    /// `X-Consumer-Groups` (the groups, comma-separated); `None` without groups.
    pub groups_header: Option<HeaderValue>,
}

/// A basic-auth credential.
pub struct BasicCred {
    pub consumer: u32,
    pub secret: tollgate_config::BasicSecret,
    /// `X-Credential-Identifier`: the credential's username, as Kong sends it.
    pub identifier: HeaderValue,
    pub subject: u64,
    /// Keyed hashes of passwords a bcrypt check accepted (at most
    /// `plugins::password::REMEMBERED`): a client sending the right password
    /// again costs a hash, not another bcrypt run.
    pub bcrypt_ok: std::sync::Mutex<Vec<crate::plugins::password::Remembered>>,
}

/// A key-auth (consumer) credential.
pub struct ConsumerKey {
    pub consumer: u32,
    pub identifier: HeaderValue,
    pub subject: u64,
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
    pub apis: Vec<CompiledApi>,
    pub operations: Vec<CompiledOperation>,
    pub op_router: OperationRouter,
    pub packages: Vec<CompiledPackage>,
    /// Shared with every snapshot compiled from the same applications
    /// section (`apps_key`): applying a change elsewhere keeps them.
    pub apps: Arc<Vec<CompiledApp>>,
    pub credentials: Arc<CredentialIndex>,
    pub apps_key: Option<tollgate_config::SectionKey>,
    /// Union of every key_auth strategy's key names.
    pub ace_key_names: Vec<KeyName>,
    pub consumers: Vec<CompiledConsumer>,
    pub consumer_keys: Vec<ConsumerKey>,
    pub consumer_key_index: HashMap<Box<[u8]>, u32>,
    pub basic_creds: Vec<BasicCred>,
    /// basic-auth username → index in `basic_creds`.
    pub basic_index: HashMap<Box<str>, u32>,
    pub counts: Counts,
    pub warnings: Vec<ConfigError>,
    /// Where limits are counted; `counters[0]` is always local.
    pub counters: Vec<crate::plugins::Counters>,
    /// Load-balanced upstreams; the gateway builds their pools.
    pub upstreams: Vec<tollgate_config::upstreams::UpstreamSpec>,
    /// Certificates for the TLS proxy listener; the gateway loads them.
    pub certificates: Vec<tollgate_config::resolved::CertificateSpec>,
    /// Kong tags: tag → collection (`services`, `routes`, ...) → entity names.
    pub tags: TagIndex,
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
