//! Traces: the W3C `traceparent` the upstream receives, and the spans the
//! gateway exports to an OTLP/HTTP receiver started by the test (protobuf
//! bodies of `POST /v1/traces`, decoded with the OpenTelemetry protos).

#[path = "traces/harness.rs"]
mod harness;
mod support;

use harness::{attr, by_name, snapshot, traced, upstream_traceparent, Gw, Receiver};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{free_port, BIN};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

#[test]
fn continues_the_callers_trace_and_exports_the_request_spans() {
    let receiver = Receiver::start();
    let gw = traced(&receiver, &[]);
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let r = gw.get_traced(&incoming);
    assert_eq!(r.status, 200, "{}", r.body);
    let tp = upstream_traceparent(&r);
    assert_eq!(tp[0], "00");
    assert_eq!(tp[1], TRACE, "the upstream continues the caller's trace");
    assert_ne!(tp[2], PARENT, "the gateway's own span is the parent");
    assert_eq!(tp[2].len(), 16);
    assert_eq!(tp[3], "01");
    assert_eq!(r.upstream_headers()["tracestate"], "vendor=opaque");

    let spans = receiver.wait_trace(TRACE, 4);
    let server = by_name(&spans, "GET flights");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(hex::encode(&server.parent_span_id), PARENT);
    assert_eq!(server.trace_state, "vendor=opaque");
    assert_eq!(attr(server, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr(server, "http.route").as_deref(), Some("flights"));
    assert_eq!(
        attr(server, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(attr(server, "tollgate.service").as_deref(), Some("flights"));
    assert_eq!(
        attr(server, "tollgate.ace.decision").as_deref(),
        Some("allow")
    );
    assert_eq!(
        attr(server, "tollgate.package").as_deref(),
        Some("partners")
    );
    assert_eq!(
        attr(server, "tollgate.application").as_deref(),
        Some("partner-app")
    );
    assert_eq!(
        attr(server, "tollgate.operation").as_deref(),
        Some("list-flights")
    );
    let server_id = hex::encode(&server.span_id);
    for span in &spans {
        for kv in &span.attributes {
            let v = format!("{:?}", kv.value);
            assert!(
                !v.contains("partner-key"),
                "the key leaked in {}: {v}",
                span.name
            );
        }
    }

    let upstream = by_name(&spans, "upstream GET");
    assert_eq!(upstream.kind, SpanKind::Client as i32);
    assert_eq!(
        hex::encode(&upstream.span_id),
        tp[2],
        "the upstream's parent is this span"
    );
    assert_eq!(hex::encode(&upstream.parent_span_id), server_id);
    for plugin in ["plugin rate-limiting", "plugin ace"] {
        let p = by_name(&spans, plugin);
        assert_eq!(hex::encode(&p.parent_span_id), server_id, "{plugin}");
        assert!(
            p.start_time_unix_nano >= server.start_time_unix_nano,
            "{plugin}"
        );
        assert!(
            p.end_time_unix_nano <= server.end_time_unix_nano,
            "{plugin}"
        );
    }
    assert!(upstream.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(upstream.end_time_unix_nano <= server.end_time_unix_nano);
    assert_eq!(
        receiver.resource_attr("service.name").as_deref(),
        Some("tollgate")
    );
    assert_eq!(
        receiver.resource_attr("service.version").as_deref(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(receiver
        .paths
        .lock()
        .unwrap()
        .iter()
        .all(|p| p == "/v1/traces"));
}

#[test]
fn starts_a_sampled_trace_without_a_valid_traceparent() {
    let receiver = Receiver::start();
    let gw = traced(&receiver, &[]);
    let cases: [&[(&str, &str)]; 2] = [
        &[("apikey", "partner-key")],
        &[
            ("apikey", "partner-key"),
            (
                "traceparent",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
            ("tracestate", "vendor=stale"),
        ],
    ];
    for headers in cases {
        let r = gw.get("/flights", headers);
        assert_eq!(r.status, 200, "{}", r.body);
        let tp = upstream_traceparent(&r);
        assert_eq!(tp[1].len(), 32);
        assert_ne!(tp[1], "0".repeat(32));
        assert_eq!(tp[3], "01", "a started trace is sampled");
        assert!(
            r.upstream_headers().get("tracestate").is_none(),
            "the replaced trace's state is not sent on"
        );
        let spans = receiver.wait_trace(&tp[1], 4);
        let server = by_name(&spans, "GET flights");
        assert!(server.parent_span_id.is_empty(), "a root span");
        assert_eq!(hex::encode(&by_name(&spans, "upstream GET").span_id), tp[2]);
    }
    // A refused request still has its server span, with the refusal.
    let r = gw.get("/billing", &[("apikey", "pending-key")]);
    assert_eq!(r.status, 403, "{}", r.body);
    let deadline = Instant::now() + Duration::from_secs(15);
    let refused = loop {
        let found = receiver
            .spans()
            .into_iter()
            .find(|s| attr(s, "http.response.status_code").as_deref() == Some("403"));
        if let Some(s) = found {
            break s;
        }
        assert!(Instant::now() < deadline, "no span for the 403");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(refused.name, "GET billing");
    assert_eq!(
        attr(&refused, "tollgate.ace.decision").as_deref(),
        Some("forbidden")
    );
}

#[test]
fn without_an_endpoint_trace_headers_pass_through_untouched() {
    let gw = Gw::start(&snapshot(), &[], &[]);
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let r = gw.get_traced(&incoming);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_headers()["traceparent"], incoming.as_str());
    assert_eq!(r.upstream_headers()["tracestate"], "vendor=opaque");
    // Not even an invalid one is touched, and none is made up.
    let r = gw.get(
        "/flights",
        &[("apikey", "partner-key"), ("traceparent", "garbage")],
    );
    assert_eq!(r.upstream_headers()["traceparent"], "garbage");
    let r = gw.get("/flights", &[("apikey", "partner-key")]);
    assert!(r.upstream_headers().get("traceparent").is_none());
    assert!(!gw.log().contains("OTLP"));
}

#[test]
fn queued_spans_are_exported_when_the_gateway_stops() {
    let receiver = Receiver::start();
    // Batches would wait a minute: only the shutdown flush can send this one.
    let mut gw = traced(&receiver, &[("OTEL_BSP_SCHEDULE_DELAY", "60000")]);
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let r = gw.get(
        "/flights",
        &[("apikey", "partner-key"), ("traceparent", &incoming)],
    );
    assert_eq!(r.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(receiver.spans().is_empty(), "exported before the delay");
    let ok = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "gateway did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let spans = receiver.wait_trace(TRACE, 4);
    assert!(
        spans.iter().any(|s| s.name == "GET flights"),
        "spans after shutdown: {spans:?}\n{}",
        gw.log()
    );
}

#[test]
fn a_redis_limiter_call_has_its_own_span_under_the_plugin() {
    let redis = support::procs::Redis::start(free_port(), None);
    let yaml = support::cluster::items_snapshot(
        support::upstream("items"),
        "sync_rate: 0",
        &support::cluster::local_redis(redis.port, 500),
        "{ limit: 100, duration: minutes }",
    );
    let receiver = Receiver::start();
    let endpoint = format!("http://{}", receiver.addr);
    let gw = Gw::start(
        &yaml,
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    let incoming = format!("00-{TRACE}-{PARENT}-01");
    let r = gw.get("/items", &[("apikey", "k1"), ("traceparent", &incoming)]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        redis.command(&["DBSIZE"]).trim() != ":0",
        "the limit was charged in Redis"
    );
    let spans = receiver.wait_trace(TRACE, 4);
    let server = by_name(&spans, "GET r");
    assert_eq!(attr(server, "tollgate.package").as_deref(), Some("pkg"));
    assert_eq!(attr(server, "tollgate.application").as_deref(), Some("app"));
    let ace = by_name(&spans, "plugin ace");
    assert_eq!(ace.parent_span_id, server.span_id);
    let call = by_name(&spans, "redis limiter");
    assert_eq!(call.kind, SpanKind::Client as i32);
    assert_eq!(call.parent_span_id, ace.span_id);
    assert_eq!(attr(call, "db.system.name").as_deref(), Some("redis"));
    assert!(call.start_time_unix_nano >= ace.start_time_unix_nano);
    assert!(call.end_time_unix_nano <= ace.end_time_unix_nano);
}

#[test]
fn a_collector_that_never_answers_does_not_slow_requests() {
    // Accepts connections and never reads or answers them.
    let hole = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = hole.local_addr().expect("addr");
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for conn in hole.incoming().flatten() {
            keep.lock().unwrap().push(conn);
        }
    });
    let endpoint = format!("http://{addr}");
    let gw = Gw::start(
        &snapshot(),
        &["--otlp-endpoint", &endpoint],
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "20"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"),
        ],
    );
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let t = Instant::now();
        let r = gw.get("/flights", &[("apikey", "partner-key")]);
        assert_eq!(r.status, 200, "{}", r.body);
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a request waited for the exporter: {slowest:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(!held.lock().unwrap().is_empty(), "the exporter connected");
    // 400 spans into a queue of 16 behind a stuck export: the SDK drops and says so.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("SpanDroppingStarted") {
        assert!(Instant::now() < deadline, "no drop logged:\n{}", gw.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_endpoint_that_is_not_an_http_url_is_a_start_error() {
    let out = Command::new(BIN)
        .args(["run", "--otlp-endpoint", "collector:4318"])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--admin-listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--otlp-endpoint \"collector:4318\""), "{err}");
}

#[test]
fn a_caller_trace_that_is_not_sampled_is_propagated_but_not_exported() {
    let receiver = Receiver::start();
    let gw = traced(&receiver, &[]);
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let r = gw.get(
        "/flights",
        &[
            ("apikey", "partner-key"),
            ("traceparent", &format!("00-{unsampled}-{PARENT}-00")),
        ],
    );
    let tp = upstream_traceparent(&r);
    assert_eq!(tp[1], unsampled);
    assert_ne!(tp[2], PARENT);
    assert_eq!(tp[3], "00", "the caller's decision is kept");
    // A sampled request after it: once its spans are in, the first one's
    // would have been too.
    let r = gw.get(
        "/flights",
        &[
            ("apikey", "partner-key"),
            ("traceparent", &format!("00-{TRACE}-{PARENT}-01")),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(receiver.wait_trace(TRACE, 4).len(), 4);
    assert!(receiver
        .spans()
        .iter()
        .all(|s| hex::encode(&s.trace_id) != unsampled));
}
