//! Plugins: the phase trait, the compiled plugin instances, and the per-route
//! chains they are arranged in.
//!
//! A plugin's config is typed (from `tollgate-config`) and compiled into an
//! instance once per snapshot. Instances are an enum rather than trait objects
//! so the access phase is a static dispatch with no allocation.

mod ace;
mod acl;
pub mod basic_auth;
mod chain;
pub mod cors;
mod key_auth;
pub mod password;
mod prometheus;
mod rate_limiting;
mod request_termination;

pub use ace::{grant_entitlement, lookup_credential, match_operations, Ace, KeyLookup};
pub use acl::Acl;
pub use basic_auth::BasicAuth;
pub use chain::{resolve_chains, Chain, ChainEntry};
pub use cors::Cors;
pub use key_auth::KeyAuth;
pub use password::PasswordCheck;
pub use prometheus::Prometheus;
pub use rate_limiting::RateLimiting;
pub use request_termination::RequestTermination;

pub use crate::directory::Counters;
use crate::directory::Directory;
use crate::limiter::{CompiledLimit, LimitKey, LimiterStore, Outcome};
use crate::request::{Flow, RequestState, RequestView};

/// A limit a plugin needs charged before it can decide.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    pub key: LimitKey,
    pub limit: CompiledLimit,
    /// Index into `Directory::counters`.
    pub counters: u32,
    /// The client address, when the subject was derived from it: shared
    /// counters name it in full, since `key.subject` is a per-process hash.
    pub client_ip: Option<std::net::IpAddr>,
    /// Kong's `fault_tolerant`: when false, a Redis failure fails the
    /// request (500) rather than counting locally.
    pub fault_tolerant: bool,
}

/// What a plugin needs to finish once its charge is done.
#[derive(Debug, Clone, Copy)]
pub enum Resume {
    Ace(ace::Pending),
    RateLimiting,
}

/// The result of a plugin's access phase: decided, or waiting for a charge
/// (which may need I/O the core does not do).
// Returned by value once per plugin call and consumed at once; boxing the
// large variant would allocate on every limited request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Access {
    Done(Flow),
    Charge(Charge, Resume),
    /// A bcrypt check to run off the proxy worker, then [`Plugin::verified`].
    Verify(PasswordCheck),
}

/// Everything a plugin's access phase may read or change.
pub struct AccessCx<'a> {
    pub req: &'a RequestView<'a>,
    pub state: &'a mut RequestState,
    pub dir: &'a Directory,
    pub limiter: &'a LimiterStore,
    /// Monotonic nanoseconds; the core has no clock of its own.
    pub now_ns: u64,
}

/// The phases a plugin takes part in. Response headers are written by the
/// gateway from [`RequestState`], so plugins only need the access phase.
pub trait Plugin {
    const NAME: &'static str;
    const PRIORITY: i32;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access;

    /// Finishes after a [`Access::Charge`]; plugins that never charge keep the default.
    fn resume(&self, _cx: &mut AccessCx<'_>, _resume: Resume, _outcome: Outcome) -> Flow {
        Flow::Continue
    }

    /// Finishes after a [`Access::Verify`]: `Some(accepted)`, or `None` when
    /// the check could not run (too many at once).
    fn verified(&self, _cx: &mut AccessCx<'_>, _check: PasswordCheck, _ok: Option<bool>) -> Flow {
        Flow::Continue
    }
}

/// A compiled plugin.
#[derive(Debug)]
pub enum PluginInstance {
    KeyAuth(KeyAuth),
    Ace(Ace),
    RateLimiting(RateLimiting),
    RequestTermination(RequestTermination),
    BasicAuth(BasicAuth),
    Acl(Acl),
    Cors(Cors),
    Prometheus(Prometheus),
}

/// Runs `$body` with `$p` bound to the concrete plugin of any variant.
macro_rules! each {
    ($self:expr, $p:ident => $body:expr) => {
        match $self {
            PluginInstance::KeyAuth($p) => $body,
            PluginInstance::Ace($p) => $body,
            PluginInstance::RateLimiting($p) => $body,
            PluginInstance::RequestTermination($p) => $body,
            PluginInstance::BasicAuth($p) => $body,
            PluginInstance::Acl($p) => $body,
            PluginInstance::Cors($p) => $body,
            PluginInstance::Prometheus($p) => $body,
        }
    };
}

fn name_of<P: Plugin>(_: &P) -> &'static str {
    P::NAME
}

fn priority_of<P: Plugin>(_: &P) -> i32 {
    P::PRIORITY
}

impl PluginInstance {
    pub fn name(&self) -> &'static str {
        each!(self, p => name_of(p))
    }

    pub fn priority(&self) -> i32 {
        each!(self, p => priority_of(p))
    }

    pub fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        each!(self, p => p.access(cx))
    }

    pub fn resume(&self, cx: &mut AccessCx<'_>, resume: Resume, outcome: Outcome) -> Flow {
        each!(self, p => p.resume(cx, resume, outcome))
    }

    pub fn verified(&self, cx: &mut AccessCx<'_>, check: PasswordCheck, ok: Option<bool>) -> Flow {
        each!(self, p => p.verified(cx, check, ok))
    }

    /// The access phase with charges made on the local limiter (tests, benches).
    pub fn access_local(&self, cx: &mut AccessCx<'_>) -> Flow {
        match self.access(cx) {
            Access::Done(flow) => flow,
            Access::Charge(c, resume) => {
                let outcome = cx.limiter.charge(c.key, &c.limit, cx.now_ns);
                self.resume(cx, resume, outcome)
            }
            Access::Verify(check) => {
                let ok = check.run();
                self.verified(cx, check, Some(ok))
            }
        }
    }
}
