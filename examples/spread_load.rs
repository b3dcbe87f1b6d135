//! Spreads paced requests for one key evenly over several data planes and
//! counts what was admitted: the load side of `benches/cluster.sh`.
//! `cargo run --release --example spread_load -- KEY SECONDS RATE_PER_NODE URL...`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: spread_load KEY SECONDS RATE_PER_NODE URL...");
        std::process::exit(2);
    }
    let key = args[0].clone();
    let secs: f64 = args[1].parse().unwrap_or(10.0);
    let rate: f64 = args[2].parse().unwrap_or(50.0);
    let urls = args[3..].to_vec();
    let admitted = Arc::new(AtomicU64::new(0));
    let rejected = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let threads: Vec<_> = urls
        .into_iter()
        .enumerate()
        .map(|(i, url)| {
            let (key, admitted, rejected, errors) = (
                key.clone(),
                admitted.clone(),
                rejected.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(5))
                    .build();
                let gap = Duration::from_secs_f64(1.0 / rate);
                // Stagger nodes so their requests interleave evenly.
                let mut next = started + gap.mul_f64(i as f64 / 8.0);
                while started.elapsed().as_secs_f64() < secs {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += gap;
                    match agent.get(&url).set("apikey", &key).call() {
                        Ok(_) => admitted.fetch_add(1, Ordering::Relaxed),
                        Err(ureq::Error::Status(429, _)) => {
                            rejected.fetch_add(1, Ordering::Relaxed)
                        }
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    println!(
        "admitted {} rejected {} errors {} elapsed {:.3}",
        admitted.load(Ordering::Relaxed),
        rejected.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}
