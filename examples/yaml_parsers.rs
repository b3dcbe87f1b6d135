//! Compares the two YAML deserializers on a synthetic snapshot: serde_yaml
//! (what `load` uses) and serde-saphyr, each deserializing the whole document
//! straight into the snapshot model (no value tree), plus serde_json on the
//! same snapshot as JSON for scale:
//! `cargo run --release --example yaml_parsers -- [APPS] [CREDS_PER_APP] [ROUNDS]`.

use std::time::Instant;
use tollgate_config::synth::{generate, generate_json, SynthParams};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The snapshot's top level, as the loader's typed fast path reads it.
type Doc = tollgate_config::load::TypedDoc;

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn time<E: std::fmt::Display>(name: &str, size: usize, f: impl Fn() -> Result<Doc, E>) {
    let t = Instant::now();
    match f() {
        Ok(doc) => println!(
            "{name}: {:.3} s for {} MB ({} applications)",
            t.elapsed().as_secs_f64(),
            size / 1_000_000,
            doc.application_count()
        ),
        Err(e) => println!(
            "{name}: failed after {:.3} s: {e}",
            t.elapsed().as_secs_f64()
        ),
    }
}

fn main() {
    let p = SynthParams {
        applications: arg(1, 100_000),
        credentials_per_app: arg(2, 10),
        ..SynthParams::default()
    };
    let rounds = arg(3, 2);
    let yaml = generate(&p);
    let json = generate_json(&p);
    // The document is trusted here; the default budget caps what an untrusted
    // document may make the parser do.
    let opts = serde_saphyr::options! { budget: None };
    for round in 1..=rounds {
        println!("round {round}");
        time("  serde_yaml   ", yaml.len(), || {
            serde_yaml::from_str::<Doc>(&yaml)
        });
        time("  serde-saphyr ", yaml.len(), || {
            serde_saphyr::from_str_with_options::<Doc>(&yaml, opts.clone())
        });
        time("  serde_json   ", json.len(), || {
            serde_json::from_str::<Doc>(&json)
        });
    }
}
