//! Measures how long a snapshot takes to load (parse + validate) and compile,
//! for a synthetic snapshot of the given size, in YAML and in JSON:
//! `cargo run --release --example compile_time -- [APPS] [CREDS_PER_APP] [ROUNDS]`.

use std::time::Instant;
use tollgate_config::synth::{generate, generate_json, SynthParams};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let p = SynthParams {
        applications: arg(1, 100_000),
        credentials_per_app: arg(2, 10),
        ..SynthParams::default()
    };
    let rounds = arg(3, 3);
    for (format, text) in [("json", generate_json(&p)), ("yaml", generate(&p))] {
        for round in 1..=rounds {
            let t0 = Instant::now();
            let snap = tollgate_config::load_bytes(text.as_bytes(), None).expect("valid");
            let t1 = Instant::now();
            let compiled = tollgate_core::compile(&snap).expect("compile");
            let t2 = Instant::now();
            drop(snap);
            println!(
                "{format} round {round}: {} MB, {} credentials, {} operations, {} packages: load+validate {:.3} s, compile {:.3} s, total {:.3} s",
                text.len() / 1_000_000,
                compiled.counts.credentials,
                compiled.counts.operations,
                compiled.counts.api_packages,
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t2 - t0).as_secs_f64()
            );
        }
    }
}
