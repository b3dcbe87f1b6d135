//! Router lookup and the full ACE decision (match, credential, entitlement,
//! limiter) on a synthetic snapshot of 10,000 operations and 100,000
//! credentials. Run: `cargo bench -p tollgate-core --bench decision`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, HeaderValue, Method};
use tollgate_config::synth::{self, SynthParams};
use tollgate_core::plugins::{AccessCx, PluginInstance};
use tollgate_core::request::{Flow, RequestState, RequestView};
use tollgate_core::target::resolve;
use tollgate_core::{compile, CompiledSnapshot, LimiterStore};

struct Req {
    path: String,
    headers: HeaderMap,
}

fn setup() -> (CompiledSnapshot, Vec<Req>) {
    let p = SynthParams::default();
    let yaml = synth::generate(&p);
    let started = std::time::Instant::now();
    let snap =
        tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid synthetic snapshot");
    let compiled = compile(&snap).expect("compile");
    eprintln!(
        "synthetic snapshot: {} operations, {} credentials, {} packages; load+compile {:?}",
        compiled.counts.operations,
        compiled.counts.credentials,
        compiled.counts.api_packages,
        started.elapsed()
    );
    // 4096 granted (credential, operation) pairs spread over the snapshot.
    let reqs = (0..4096)
        .map(|i| {
            let app = (i * 2_654_435_761usize) % p.applications;
            let pkg = synth::app_packages(&p, app)[i % 2];
            let (a, o) = synth::package_op(&p, pkg, i % p.ops_per_package);
            let mut headers = HeaderMap::new();
            let key = synth::key(app, i % p.credentials_per_app);
            headers.insert("apikey", HeaderValue::from_str(&key).expect("key"));
            headers.insert("user-agent", HeaderValue::from_static("bench"));
            Req {
                path: synth::request_path(a, o),
                headers,
            }
        })
        .collect();
    (compiled, reqs)
}

fn bench(c: &mut Criterion) {
    let (snap, reqs) = setup();
    let limiter = LimiterStore::default();
    let ace = snap.chains[0]
        .entries()
        .iter()
        .find_map(|e| match e.pick(None) {
            Some(p @ PluginInstance::Ace(_)) => Some(p),
            _ => None,
        })
        .expect("ace in chain");
    let get = Method::GET;
    let none = http::HeaderMap::new();

    let mut i = 0usize;
    c.bench_function("operation_router_lookup", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            black_box(snap.op_router.find("h", &get, &reqs[i].path).len())
        })
    });
    let mut i = 0usize;
    c.bench_function("normalize_and_route", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            black_box(resolve(&snap.routes, &get, "h", &none, &reqs[i].path).map(|t| t.route))
        })
    });
    let mut i = 0usize;
    let mut now = 1_000_000_000_000u64;
    c.bench_function("ace_decision_full", |b| {
        b.iter(|| {
            i = (i + 1) % reqs.len();
            now += 1_000;
            let r = &reqs[i];
            let view = RequestView {
                method: &get,
                host: "h",
                path: &r.path,
                query: None,
                headers: &r.headers,
                client_ip: None,
            };
            let mut state = RequestState::default();
            let mut cx = AccessCx {
                req: &view,
                state: &mut state,
                dir: &snap,
                limiter: &limiter,
                now_ns: now,
            };
            let flow = ace.access_local(&mut cx);
            assert!(matches!(flow, Flow::Continue), "{:?}", state.ace_decision);
            black_box(state.ace)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
