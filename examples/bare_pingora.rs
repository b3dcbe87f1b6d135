//! The baseline for load comparisons: a Pingora proxy with no logic at all,
//! forwarding every request to one upstream with connection reuse, on the
//! system allocator.
//!
//! `cargo run --release --example bare_pingora -- LISTEN UPSTREAM THREADS`

#[path = "common/bare.rs"]
mod bare;

fn main() {
    bare::main()
}
