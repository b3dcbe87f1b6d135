//! Writes a synthetic snapshot of a chosen size to stdout, for load and scale
//! runs: `cargo run --release --example gen_snapshot -- [APPS] [CREDS_PER_APP]
//! [APIS] [OPS_PER_API] [PACKAGES] [yaml|json] [UPSTREAM]`.
//! Keys are `key-<app>-<n>`; operations are `GET /api<a>/res<o>[/{id}]`.

use tollgate_config::synth::{generate, generate_json, SynthParams};

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let d = SynthParams::default();
    let upstream: &'static str = std::env::args()
        .nth(7)
        .map(|u| &*Box::leak(u.into_boxed_str()))
        .unwrap_or(d.upstream);
    let p = SynthParams {
        applications: arg(1, d.applications),
        credentials_per_app: arg(2, d.credentials_per_app),
        apis: arg(3, d.apis),
        ops_per_api: arg(4, d.ops_per_api),
        packages: arg(5, d.packages),
        upstream,
        ..d
    };
    match std::env::args().nth(6).as_deref() {
        Some("json") => print!("{}", generate_json(&p)),
        _ => print!("{}", generate(&p)),
    }
}
