//! The ACE decision of contract §4 as a table of cases against the pure core:
//! no sockets, time passed in.

use http::{HeaderMap, HeaderValue, Method};
use tollgate_core::plugins::{AccessCx, PluginInstance};
use tollgate_core::request::{AceDecision, Flow, RequestState, RequestView};
use tollgate_core::{compile, CompiledSnapshot, LimiterStore};

const SNAPSHOT: &str = r#"
_format_version: "3.0"
services:
  - { name: s, url: "http://127.0.0.1:1", routes: [{ name: r, paths: [/] }] }
consumers: [{ username: anon }, { username: team }]
plugins:
  - { name: ace, config: { match_policy: required } }
apis:
  - name: billing
    operations:
      - { method: GET, path: /billing, id: bill-list }
      - { method: GET, path: "/billing/{id}", id: bill-get }
  - name: flights
    operations:
      - { method: GET, path: /flights, id: fl-list }
      - { method: GET, path: /flights, host: partner.example.com, id: fl-partner }
      - { method: HEAD, path: /probe, id: fl-probe }
  - name: shadow
    operations:
      - { method: GET, path: "/billing/{invoice}", id: shadow-get }
auth_strategies:
  - { name: a, type: key_auth, key_names: [apikey] }
  - { name: b, type: key_auth, key_names: [x-token] }
api_packages:
  - name: p-limited
    rate_limiting_config: { limit: 2, duration: seconds }
    operations:
      - { api: billing, method: GET, path: /billing }
      - { api: billing, method: GET, path: "/billing/{id}", rate_limiting_config: { limit: 1, duration: minutes } }
  - name: p-free
    operations: [{ api: flights, method: GET, path: /flights }]
applications:
  - { name: app-a, auth_strategy: a, consumer: team, credentials: [{ key: ka }], registrations: [{ api_package: p-limited }, { api_package: p-free }] }
  - { name: app-b, auth_strategy: b, credentials: [{ key: kb }], registrations: [{ api: shadow }] }
  - { name: app-c, auth_strategy: a, credentials: [{ key: kc }], registrations: [{ api_package: p-free, status: revoked }] }
"#;

struct Case {
    name: &'static str,
    method: Method,
    host: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    query: Option<&'static str>,
    want_status: Option<u16>,
    want_decision: AceDecision,
    want_op: Option<&'static str>,
}

fn run(snap: &CompiledSnapshot, limiter: &LimiterStore, c: &Case) -> (Option<u16>, RequestState) {
    let mut headers = HeaderMap::new();
    for (k, v) in c.headers {
        headers.append(*k, HeaderValue::from_static(v));
    }
    let view = RequestView {
        method: &c.method,
        host: c.host,
        path: c.path,
        query: c.query,
        headers: &headers,
        client_ip: None,
    };
    let mut state = RequestState::default();
    let mut cx = AccessCx {
        req: &view,
        state: &mut state,
        dir: snap,
        limiter,
        now_ns: 1_000_000_000_000,
    };
    let chain = &snap.chains[0];
    let mut status = None;
    for e in chain.entries() {
        if let Some(p @ PluginInstance::Ace(_)) = e.pick(None) {
            if let Flow::Respond(r) = p.access_local(&mut cx) {
                status = Some(r.status);
            }
        }
    }
    (status, state)
}

fn case(
    name: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    want_status: Option<u16>,
    want_decision: AceDecision,
    want_op: Option<&'static str>,
) -> Case {
    Case {
        name,
        method: Method::GET,
        host: "api.example.com",
        path,
        headers,
        query: None,
        want_status,
        want_decision,
        want_op,
    }
}

#[test]
fn decision_table() {
    let snap = compile(&tollgate_config::load_bytes(SNAPSHOT.as_bytes(), None).expect("valid"))
        .expect("compile");
    let limiter = LimiterStore::default();
    use AceDecision::*;
    let mut cases = vec![
        case(
            "no operation, required",
            "/nothing",
            &[("apikey", "ka")],
            Some(404),
            NoMatch,
            None,
        ),
        case("no key", "/billing", &[], Some(401), Unauthorized, None),
        case(
            "unknown key",
            "/billing",
            &[("apikey", "zz")],
            Some(401),
            Unauthorized,
            None,
        ),
        case(
            "key under another strategy's name",
            "/billing",
            &[("x-token", "ka")],
            Some(401),
            Unauthorized,
            None,
        ),
        case(
            "granted via package",
            "/billing",
            &[("apikey", "ka")],
            None,
            Allow,
            Some("bill-list"),
        ),
        case(
            "package limit 2/s: second",
            "/billing",
            &[("apikey", "ka")],
            None,
            Allow,
            Some("bill-list"),
        ),
        case(
            "package limit 2/s: third",
            "/billing",
            &[("apikey", "ka")],
            Some(429),
            RateLimited,
            Some("bill-list"),
        ),
        case(
            "override 1/min: first",
            "/billing/7",
            &[("apikey", "ka")],
            None,
            Allow,
            Some("bill-get"),
        ),
        case(
            "override 1/min: second",
            "/billing/8",
            &[("apikey", "ka")],
            Some(429),
            RateLimited,
            Some("bill-get"),
        ),
        case(
            "same shape in two APIs: granted one wins",
            "/billing/9",
            &[("x-token", "kb")],
            None,
            Allow,
            Some("shadow-get"),
        ),
        case(
            "not granted",
            "/flights",
            &[("x-token", "kb")],
            Some(403),
            Forbidden,
            None,
        ),
        case(
            "revoked registration",
            "/flights",
            &[("apikey", "kc")],
            Some(403),
            Forbidden,
            None,
        ),
        case(
            "unlimited package",
            "/flights",
            &[("apikey", "ka")],
            None,
            Allow,
            Some("fl-list"),
        ),
        case(
            "trailing slash",
            "/flights/",
            &[("apikey", "ka")],
            None,
            Allow,
            Some("fl-list"),
        ),
        case(
            "duplicate key values",
            "/flights",
            &[("apikey", "ka"), ("apikey", "kb")],
            Some(401),
            Unauthorized,
            None,
        ),
    ];
    let mut hosted = case(
        "host-specific operation wins",
        "/flights",
        &[("apikey", "ka")],
        Some(403),
        Forbidden,
        None,
    );
    hosted.host = "partner.example.com";
    cases.push(hosted);
    let mut query = case(
        "key in query",
        "/flights",
        &[],
        None,
        Allow,
        Some("fl-list"),
    );
    query.query = Some("a=1&apikey=ka");
    cases.push(query);
    let mut post = case(
        "method matters",
        "/flights",
        &[("apikey", "ka")],
        Some(404),
        NoMatch,
        None,
    );
    post.method = Method::POST;
    cases.push(post);
    let mut head = case(
        "HEAD is matched as GET",
        "/flights",
        &[("apikey", "ka")],
        None,
        Allow,
        Some("fl-list"),
    );
    head.method = Method::HEAD;
    cases.push(head);
    let mut head_no_key = case(
        "HEAD needs the GET's key",
        "/billing",
        &[],
        Some(401),
        Unauthorized,
        None,
    );
    head_no_key.method = Method::HEAD;
    cases.push(head_no_key);
    let mut head_only = case(
        "a listed HEAD without GET keeps its own operation",
        "/probe",
        &[("apikey", "ka")],
        Some(403),
        Forbidden,
        None,
    );
    head_only.method = Method::HEAD;
    cases.push(head_only);

    for c in &cases {
        let (status, state) = run(&snap, &limiter, c);
        assert_eq!(status, c.want_status, "{}", c.name);
        assert_eq!(state.ace_decision, Some(c.want_decision), "{}", c.name);
        let op = state
            .ace
            .map(|g| &*snap.operations[g.operation as usize].id);
        assert_eq!(op, c.want_op, "{}", c.name);
        if c.want_decision == Allow && c.want_op == Some("bill-list") {
            assert!(
                state.identity.consumer.is_some(),
                "{}: app-a maps to consumer team",
                c.name
            );
        }
    }
}
