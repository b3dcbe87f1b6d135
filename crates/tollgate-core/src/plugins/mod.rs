//! Plugins: the phase trait, the compiled plugin instances, and the per-route
//! chains they are arranged in.
//!
//! A plugin's config is typed (from `tollgate-config`) and compiled into an
//! instance once per snapshot. Instances are an enum rather than trait objects
//! so the access phase is a static dispatch with no allocation.

mod ace;
mod chain;
mod key_auth;
mod rate_limiting;
mod request_termination;

pub use ace::Ace;
pub use chain::{resolve_chains, Chain, ChainEntry};
pub use key_auth::KeyAuth;
pub use rate_limiting::RateLimiting;
pub use request_termination::RequestTermination;

use crate::limiter::LimiterStore;
use crate::request::{Flow, RequestState, RequestView};
use crate::snapshot::CompiledSnapshot;

/// Everything a plugin's access phase may read or change.
pub struct AccessCx<'a> {
    pub req: &'a RequestView<'a>,
    pub state: &'a mut RequestState,
    pub snap: &'a CompiledSnapshot,
    pub limiter: &'a LimiterStore,
    /// Monotonic nanoseconds; the core has no clock of its own.
    pub now_ns: u64,
}

/// The phases a plugin takes part in. Response headers are written by the
/// gateway from [`RequestState`], so plugins only need the access phase.
pub trait Plugin {
    const NAME: &'static str;
    const PRIORITY: i32;

    fn access(&self, cx: &mut AccessCx<'_>) -> Flow;
}

/// A compiled plugin.
#[derive(Debug)]
pub enum PluginInstance {
    KeyAuth(KeyAuth),
    Ace(Ace),
    RateLimiting(RateLimiting),
    RequestTermination(RequestTermination),
}

impl PluginInstance {
    pub fn name(&self) -> &'static str {
        match self {
            PluginInstance::KeyAuth(_) => KeyAuth::NAME,
            PluginInstance::Ace(_) => Ace::NAME,
            PluginInstance::RateLimiting(_) => RateLimiting::NAME,
            PluginInstance::RequestTermination(_) => RequestTermination::NAME,
        }
    }

    pub fn priority(&self) -> i32 {
        match self {
            PluginInstance::KeyAuth(_) => KeyAuth::PRIORITY,
            PluginInstance::Ace(_) => Ace::PRIORITY,
            PluginInstance::RateLimiting(_) => RateLimiting::PRIORITY,
            PluginInstance::RequestTermination(_) => RequestTermination::PRIORITY,
        }
    }

    pub fn access(&self, cx: &mut AccessCx<'_>) -> Flow {
        match self {
            PluginInstance::KeyAuth(p) => p.access(cx),
            PluginInstance::Ace(p) => p.access(cx),
            PluginInstance::RateLimiting(p) => p.access(cx),
            PluginInstance::RequestTermination(p) => p.access(cx),
        }
    }
}

/// Runs a route's chain in order; stops at the first plugin that responds.
pub fn run_access(chain: &Chain, cx: &mut AccessCx<'_>) -> Flow {
    for entry in chain.entries() {
        let Some(plugin) = entry.pick(cx.state.identity.consumer) else {
            continue;
        };
        if let Flow::Respond(r) = plugin.access(cx) {
            return Flow::Respond(r);
        }
    }
    Flow::Continue
}
