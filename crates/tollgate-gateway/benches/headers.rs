//! Writing the contract's rate-limit headers onto an upstream response, through
//! Pingora's header API, as the proxy does on every limited request.
//! Run: `cargo bench -p tollgate-gateway --bench headers`.
//!
//! The response is built the way Pingora's HTTP/1 client builds a parsed one:
//! header maps sized for the headers it arrived with. A second variant starts
//! from maps with room for the additions, which shows what the maps growing
//! costs (Pingora offers no way to reserve room on a parsed header).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pingora::http::ResponseHeader;
use tollgate_config::Unit;
use tollgate_core::limiter::{Outcome, WindowState, MAX_WINDOWS};
use tollgate_core::request::{LimitScope, RateHeaders, RequestState};
use tollgate_gateway::headers::set_rate;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An upstream's small response: three headers, maps sized by `room`.
fn upstream_response(room: usize) -> ResponseHeader {
    let mut r = ResponseHeader::build(200, Some(room)).expect("status");
    r.append_header("Content-Type", "application/json")
        .expect("header");
    r.append_header("Content-Length", "11").expect("header");
    r.append_header("Date", "Sat, 28 Nov 2026 12:00:00 GMT")
        .expect("header");
    r
}

/// A request charged against a package limit of 10⁹ per second.
fn limited() -> RequestState {
    let mut windows = [None; MAX_WINDOWS];
    windows[0] = Some(WindowState {
        unit: Unit::Seconds,
        limit: 1_000_000_000,
        remaining: 999_999_999,
        reset_secs: 0,
    });
    RequestState {
        ace_rate: Some(RateHeaders {
            outcome: Outcome {
                allowed: true,
                windows,
                binding: 0,
                retry_after_secs: 0,
            },
            scope: Some(LimitScope::Package),
        }),
        ..RequestState::default()
    }
}

fn bench(c: &mut Criterion) {
    let state = limited();
    let mut probe = upstream_response(3);
    set_rate(&mut probe, &state);
    assert_eq!(
        probe.headers.len(),
        3 + 6,
        "five rate-limit headers and the scope"
    );

    // Maps sized as parsed (room for the three headers), then with room for
    // the additions: the difference is what the maps growing costs.
    for (name, room) in [("response_parsed_3_headers", 3), ("response_with_room", 16)] {
        c.bench_function(name, |b| b.iter(|| black_box(upstream_response(room))));
        c.bench_function(&format!("{name}_set_rate"), |b| {
            b.iter(|| {
                let mut r = upstream_response(room);
                set_rate(&mut r, &state);
                black_box(r)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
