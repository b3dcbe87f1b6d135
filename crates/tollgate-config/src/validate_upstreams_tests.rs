use crate::load_bytes;
use crate::upstreams::{Balance, HashKey};

fn doc(rest: &str) -> String {
    format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://pool.a/base\n    routes: [{{ name: r, paths: [\"/\"] }}]\n{rest}"
    )
}

fn errors(yaml: &str) -> Vec<String> {
    match load_bytes(yaml.as_bytes(), None) {
        Ok(_) => vec![],
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn nested_and_top_level_targets_join_their_upstream() {
    let s = load_bytes(
        doc(
            "upstreams:\n  - name: pool.a\n    id: 6f1c\n    hash_on: header\n    hash_on_header: X-User\n    targets:\n      - target: 10.0.0.1:80\n        weight: 50\ntargets:\n  - { target: 10.0.0.2, upstream: 6f1c }\n  - { target: \"[::1]:81\", upstream: { name: pool.a }, weight: 0 }\n",
        )
        .as_bytes(),
        None,
    )
    .expect("valid");
    let u = &s.upstreams[0];
    assert_eq!(s.services[0].balancer, Some(0));
    assert_eq!(s.services[0].retries, 5);
    // hash_on without an algorithm means consistent hashing, as in Kong.
    assert_eq!(u.balance, Balance::ConsistentHashing);
    assert_eq!(u.hash_on, HashKey::Header("x-user".into()));
    let t: Vec<_> = u
        .targets
        .iter()
        .map(|t| (t.host.as_str(), t.port, t.weight))
        .collect();
    assert_eq!(
        t,
        vec![
            ("10.0.0.1", 80, 50),
            ("10.0.0.2", 8000, 100),
            ("::1", 81, 0)
        ]
    );
}

#[test]
fn a_kong_upstream_as_decks_write_it_loads() {
    // The shape of decK's sample file, with Kong's defaults spelled out.
    let s = load_bytes(
        doc(r#"upstreams:
  - name: pool.a
    algorithm: round-robin
    slots: 10000
    hash_on: none
    hash_fallback: none
    hash_on_cookie_path: null
    host_header: null
    tags: [prod]
    healthchecks:
      threshold: 0
      active:
        type: http
        concurrency: 10
        http_path: /
        https_verify_certificate: true
        https_sni: null
        headers: null
        timeout: 1
        healthy: { interval: 0, http_statuses: [200, 302], successes: 0 }
        unhealthy: { interval: 0, http_statuses: [429, 404, 500, 501, 502, 503, 504, 505], tcp_failures: 0, timeouts: 0, http_failures: 0 }
      passive:
        type: http
        healthy: { http_statuses: [200, 201], successes: 0 }
        unhealthy: { http_statuses: [429, 500, 503], tcp_failures: 0, timeouts: 0, http_failures: 0 }
    targets:
      - target: 198.51.100.11:80
      - target: 198.51.100.12:80
"#)
        .as_bytes(),
        None,
    )
    .expect("valid");
    assert_eq!(s.upstreams[0].balance, Balance::RoundRobin);
    assert_eq!(s.upstreams[0].tags, vec!["prod".to_string()]);
}

#[test]
fn unsupported_and_broken_upstreams_are_located() {
    let e = errors(&doc(
        "upstreams:\n  - name: pool.a\n    algorithm: latency\n    hash_on: cookie\n    targets: [{ target: \"1.2.3.4:0\" }, { target: 1.2.3.5, weight: 70000 }]\n  - name: pool.b\n    hash_on: header\n    healthchecks: { active: { type: grpc } }\n    targets: [{ target: a.b }, { target: a.b }]\ntargets:\n  - { target: 1.1.1.1 }\n  - { target: 1.1.1.1, upstream: nope }\n",
    ));
    let want = [
        "upstreams[0].algorithm: latency is not supported",
        "upstreams[0].hash_on_cookie: required when hash_on is cookie",
        "upstreams[0].targets[0].target",
        "upstreams[0].targets[1].weight",
        "upstreams[1].hash_on_header: required",
        "upstreams[1].healthchecks.active.type",
        "upstreams[1].targets[1].target: duplicate target",
        "targets[0].upstream: required",
        "targets[1].upstream: upstream \"nope\" does not exist",
    ];
    for w in want {
        assert!(
            e.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {e:#?}"
        );
    }
}

#[test]
fn a_service_on_an_upstream_without_targets_is_an_error() {
    let e = errors(&doc("upstreams:\n  - name: pool.a\n"));
    assert!(
        e.iter()
            .any(|e| e.starts_with("services[0].host: upstream \"pool.a\" has no target")),
        "{e:?}"
    );
    // Weight 0 everywhere is the same.
    let e = errors(&doc(
        "upstreams:\n  - name: pool.a\n    targets: [{ target: 10.0.0.1, weight: 0 }]\n",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
}

#[test]
fn a_host_that_is_no_upstream_is_dns_with_a_warning_when_close() {
    let s = load_bytes(
        doc("upstreams:\n  - name: Pool.A\n    targets: [{ target: 10.0.0.1 }]\n").as_bytes(),
        None,
    )
    .expect("valid: Kong resolves it through DNS");
    assert_eq!(s.services[0].balancer, None);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.path == "services[0].host" && w.message.contains("did you mean \"Pool.A\"")),
        "{:?}",
        s.warnings
    );
}
