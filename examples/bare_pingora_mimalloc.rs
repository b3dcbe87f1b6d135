//! The same bare Pingora proxy as `bare_pingora`, on mimalloc: the allocator
//! tollgate itself uses, so the comparison isolates tollgate's own work.
//!
//! `cargo run --release --example bare_pingora_mimalloc -- LISTEN UPSTREAM THREADS`

#[path = "common/bare.rs"]
mod bare;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    bare::main()
}
