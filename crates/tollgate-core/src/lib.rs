//! tollgate's runtime core: a validated snapshot compiled into routers, a
//! credential index, entitlements, limiters and the plugin chains, plus the
//! ACE decision. Pure: no I/O, no clock of its own (time is passed in), so
//! every rule is unit-testable and benchmarkable.

pub mod compile;
mod compile_apps;
mod compile_kong;
pub mod credentials;
pub mod directory;
pub mod explain;
pub mod hygiene;
pub mod limiter;
pub mod normalize;
pub mod opmatch;
mod path_words;
pub mod plugins;
mod prefix_trie;
pub mod request;
mod route_conds;
pub mod routes;
pub mod snapshot;
pub mod target;

pub use compile::{check, compile, compile_reusing, CompileError};
pub use limiter::LimiterStore;
pub use snapshot::CompiledSnapshot;
