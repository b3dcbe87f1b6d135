//! The route table at 10,000 routes: normalize + route a request path.
//! Run: `cargo bench -p tollgate-core --bench routes`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::Method;
use tollgate_core::routes::RouteTable;
use tollgate_core::target::resolve;

const ROUTES: usize = 10_000;

fn table() -> RouteTable {
    let mut yaml = String::from("_format_version: \"3.0\"\nservices:\n");
    for s in 0..ROUTES / 10 {
        yaml.push_str(&format!(
            "  - name: s{s}\n    url: http://127.0.0.1:1\n    routes:\n"
        ));
        for r in 0..10 {
            let i = s * 10 + r;
            yaml.push_str(&format!(
                "      - {{ name: r{i}, paths: [/svc{s}/v{r}], strip_path: {} }}\n",
                i % 2 == 0
            ));
        }
    }
    let snap = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
    RouteTable::compile(&snap)
}

fn bench(c: &mut Criterion) {
    let t = table();
    assert_eq!(t.len(), ROUTES);
    let paths: Vec<String> = (0..4096)
        .map(|i| {
            let i = (i * 2_654_435_761usize) % ROUTES;
            format!("/svc{}/v{}/items/{i}", i / 10, i % 10)
        })
        .collect();
    let get = Method::GET;
    let none = http::HeaderMap::new();
    let mut i = 0usize;
    c.bench_function("normalize_and_route_10k_routes", |b| {
        b.iter(|| {
            i = (i + 1) % paths.len();
            let t = resolve(&t, &get, "h", &none, &paths[i]).expect("routed");
            black_box(t.route)
        })
    });
    // The route table alone, on paths already normalized.
    c.bench_function("route_only_10k_routes", |b| {
        b.iter(|| {
            i = (i + 1) % paths.len();
            black_box(t.find(&get, "h", &none, &paths[i]).map(|m| m.route))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
