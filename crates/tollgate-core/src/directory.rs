//! What plugins look things up in: operations and their router, packages,
//! applications and the credential index, consumers and their credentials,
//! and where limits are counted. Compiled once per snapshot; the snapshot
//! holds one and adds what only the proxy needs (routes, chains, upstreams).
//! Plugins see this and nothing else, so the plugin modules do not depend on
//! the snapshot that holds their chains.

use crate::credentials::{CredentialIndex, KeyName};
use crate::limiter::CompiledLimit;
use crate::opmatch::{OpId, OperationRouter};
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::Arc;
use tollgate_config::plugins::RedisConfig;

/// A keyed hash of a password a bcrypt check accepted.
pub type Remembered = [u8; 16];

pub struct Directory {
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
    /// Where limits are counted; `counters[0]` is always local.
    pub counters: Vec<Counters>,
    /// Per service, the limiter subject of `rate-limiting` with `limit_by: service`.
    pub service_subjects: Vec<u64>,
}

/// Where a plugin's counters live. The core only names it; the gateway owns
/// the connections (`snap.counters[i]` → a backend).
#[derive(Debug, Clone, PartialEq)]
pub enum Counters {
    Local,
    /// `sync_rate` 0: every decision atomically in Redis; > 0: local
    /// decisions, counters exchanged with Redis every `sync_rate` seconds.
    Redis {
        redis: RedisConfig,
        sync_rate: f64,
    },
    /// `strategy: lease`: nodes lease slices of the remaining quota from Redis.
    Lease {
        redis: RedisConfig,
    },
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
    pub bcrypt_ok: std::sync::Mutex<Vec<Remembered>>,
}

/// A key-auth (consumer) credential.
pub struct ConsumerKey {
    pub consumer: u32,
    pub identifier: HeaderValue,
    pub subject: u64,
}
