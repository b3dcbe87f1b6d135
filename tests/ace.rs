//! Contract §3–§4 through HTTP only: a real gateway process in front of real
//! upstreams, one rule per test.

mod support;

use support::{snapshot, upstream, Gateway};

fn gateway(ace: &str) -> Gateway {
    Gateway::start(&snapshot(upstream("billing"), upstream("flights"), ace))
}

#[test]
fn allowed_request_carries_identity_and_spoofed_headers_are_removed() {
    let gw = gateway("");
    let r = gw.get(
        "/flights",
        &[
            ("apikey", "fb-key"),
            ("X-Consumer-Username", "admin"),
            ("X-Consumer-Custom-ID", "spoof"),
            ("X-ACE-Operation-ID", "spoof"),
            ("X-ACE-Package", "spoof"),
            ("X-Application-Name", "spoof"),
            ("X-Credential-Identifier", "spoof"),
            ("X-Anonymous-Consumer", "true"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.upstream_headers();
    assert_eq!(h["x-ace-operation-id"], "list-flights");
    assert_eq!(h["x-ace-package"], "flight-billing");
    assert_eq!(h["x-application-name"], "fb-app");
    assert_eq!(h["x-consumer-username"], "mapped");
    let id = h["x-credential-identifier"].as_str().expect("identifier");
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!id.contains("fb-key"));
    assert!(h.get("x-anonymous-consumer").is_none(), "{h}");
    assert!(h.get("x-consumer-custom-id").is_none(), "{h}");
    // The identifier is stable: the same key gives the same id on the next request.
    let again = gw
        .get("/flights", &[("apikey", "fb-key")])
        .upstream_headers();
    assert_eq!(again["x-credential-identifier"], id);
}

#[test]
fn credential_is_found_in_any_declared_header_or_query_parameter() {
    let gw = gateway("");
    // (path, headers, status, message)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        ("/flights", &[], 401, "No API key found in request"),
        ("/flights", &[("apikey", "wrong")], 401, "Unauthorized"),
        ("/flights", &[("x-api-key", "fb-key")], 200, ""),
        ("/flights", &[("X-API-KEY", "fb-key")], 200, ""),
        ("/flights?apikey=fb-key", &[], 200, ""),
        ("/flights?x-api-key=fb-key", &[], 200, ""),
        (
            "/flights?other=fb-key",
            &[],
            401,
            "No API key found in request",
        ),
        ("/flights", &[("apikey", "hashed-key")], 200, ""),
        (
            "/flights",
            &[("api-key", "fb-key")],
            401,
            "No API key found in request",
        ),
    ];
    for (path, headers, status, message) in cases {
        let r = gw.get(path, headers);
        assert_eq!(r.status, *status, "{path} {headers:?}: {}", r.body);
        if !message.is_empty() {
            assert_eq!(r.message(), *message, "{path} {headers:?}");
            assert_eq!(
                r.header("content-type")
                    .map(|c| c.starts_with("application/json")),
                Some(true)
            );
        }
    }
    let r = gw.get("/flights", &[]);
    assert_eq!(r.header("www-authenticate"), Some("Key"));
}

#[test]
fn entitlement_needs_an_approved_registration_granting_the_operation() {
    let gw = gateway("");
    let forbidden = gw.get("/billing", &[("apikey", "hashed-key")]);
    assert_eq!(forbidden.status, 403);
    assert_eq!(forbidden.message(), "You cannot consume this service");
    let pending = gw.get("/flights", &[("apikey", "pending-key")]);
    assert_eq!(pending.status, 403, "a pending registration grants nothing");
    // Direct API registration: every operation of the API, with no ACE limit.
    let direct = gw.get("/flights/7", &[("apikey", "hashed-key")]);
    assert_eq!(direct.status, 200);
    let h = direct.upstream_headers();
    assert_eq!(h["x-ace-operation-id"], "get-flight");
    assert!(h.get("x-ace-package").is_none());
    assert!(direct.header("ratelimit-limit").is_none());
}

#[test]
fn unmatched_requests_pass_with_if_present_and_404_with_required() {
    let upstreams = (upstream("billing"), upstream("flights"));
    let lenient = Gateway::start(&snapshot(upstreams.0, upstreams.1, ""));
    let r = lenient.get("/flights/1/2", &[]);
    assert_eq!(
        r.status, 200,
        "if_present lets an unmatched request through: {}",
        r.body
    );
    assert!(r.upstream_headers().get("x-ace-operation-id").is_none());

    let strict = Gateway::start(&snapshot(
        upstreams.0,
        upstreams.1,
        "match_policy: required",
    ));
    let r = strict.get("/flights/1/2", &[("apikey", "fb-key")]);
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    // A route that does not exist is the router's 404, before ACE.
    let r = strict.get("/nowhere", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.message(), "no Route matched with those values");
}

#[test]
fn package_limit_is_cumulative_across_its_operations() {
    let gw = gateway("");
    let first = gw.get("/flights", &[("apikey", "fb-key")]);
    assert_eq!(first.header("ratelimit-limit"), Some("5"));
    assert_eq!(
        first.header("ratelimit-remaining"),
        Some("4"),
        "after one request against 5/s, 4 remain"
    );
    assert_eq!(first.header("x-ratelimit-limit-second"), Some("5"));
    assert_eq!(first.header("x-ratelimit-remaining-second"), Some("4"));
    assert_eq!(first.header("x-ace-ratelimit-scope"), Some("package"));
    assert!(first.header("ratelimit-reset").is_some());
    // Five more at once across the package's operations (in parallel, so the
    // 200 ms refill of a 5/s limit cannot slip one in): 4 admitted, 1 rejected.
    let gw_ref = &gw;
    let mut statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = [
            "/flights",
            "/flights/1",
            "/flights/2",
            "/flights/3",
            "/flights/4",
        ]
        .into_iter()
        .map(|path| s.spawn(move || gw_ref.get(path, &[("apikey", "fb-key")]).status))
        .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("request"))
            .collect()
    });
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429],
        "first request, then five at once"
    );
    let limited = gw.get("/flights/9", &[("apikey", "fb-key")]);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.message(), "API rate limit exceeded");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    // The limit refills: after a second the burst is available again.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);
}

#[test]
fn operation_override_is_charged_instead_of_the_package_limit() {
    let gw = gateway("");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = gw.get("/billing", &[("apikey", "fb-key")]);
        if r.status == 200 {
            assert_eq!(r.header("x-ace-ratelimit-scope"), Some("operation"));
            assert_eq!(r.header("x-ratelimit-limit-minute"), Some("3"));
            assert!(r.header("x-ratelimit-limit-second").is_none());
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The package's 5/s was not charged by the billing calls.
    let r = gw.get("/flights", &[("apikey", "fb-key")]);
    assert_eq!(r.header("ratelimit-remaining"), Some("4"));
    gw.wait_metrics(&[
        r#"tollgate_ace_rate_limited_total{api_package="flight-billing",scope="operation"} 1"#,
    ]);
}

#[test]
fn first_granting_registration_is_the_one_charged() {
    let gw = gateway("");
    // partner-app: [partners (unlimited, has GET /flights), flight-billing (5/s)].
    for _ in 0..7 {
        let r = gw.get("/flights", &[("apikey", "partner-key")]);
        assert_eq!(r.status, 200);
        assert_eq!(r.upstream_headers()["x-ace-package"], "partners");
        assert!(r.header("ratelimit-limit").is_none());
    }
    // GET /flights/{id} is only in flight-billing: charged there.
    let r = gw.get("/flights/3", &[("apikey", "partner-key")]);
    assert_eq!(r.upstream_headers()["x-ace-package"], "flight-billing");
    assert_eq!(r.header("ratelimit-remaining"), Some("4"));
}

#[test]
fn every_window_must_admit_and_a_rejection_consumes_nothing() {
    let gw = gateway("");
    let post = |_: ()| {
        support::request(
            "POST",
            &gw.url("/billing"),
            &[("apikey", "windows-key")],
            Some(b"{}"),
        )
        .expect("post")
    };
    for i in 0..4 {
        let r = post(());
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("x-ratelimit-limit-hour"), Some("100"));
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("4"));
    }
    let r = post(());
    assert_eq!(r.status, 429);
    assert_eq!(
        r.header("ratelimit-limit"),
        Some("4"),
        "the minute window bound it"
    );
    // 4 admitted requests charged the second window; the rejected one did not.
    assert_eq!(r.header("x-ratelimit-remaining-hour"), Some("96"));
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("retry-after");
    assert!((1..=15).contains(&retry), "retry-after {retry}");
}

#[test]
fn radix_matching_static_beats_parameter_and_trailing_slash_is_ignored() {
    let gw = gateway("");
    let cases = [
        ("/flights/latest", "latest-flight"),
        ("/flights/123", "get-flight"),
        ("/flights/", "list-flights"),
        ("/flights/123/", "get-flight"),
    ];
    for (path, op) in cases {
        let r = gw.get(path, &[("apikey", "hashed-key")]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.upstream_headers()["x-ace-operation-id"], op, "{path}");
    }
}

#[test]
fn normalized_path_is_the_path_matched_and_the_path_forwarded() {
    let gw = gateway("match_policy: required");
    let cases = [
        ("/flights/./9", "/flights/9", "get-flight"),
        ("//flights//9", "/flights/9", "get-flight"),
        ("/flights/%39", "/flights/9", "get-flight"),
        ("/flights/x/../7", "/flights/7", "get-flight"),
        ("/%66lights", "/flights", "list-flights"),
    ];
    for (sent, forwarded, op) in cases {
        let line = format!(
            "GET {sent} HTTP/1.1\r\nHost: x\r\napikey: hashed-key\r\nConnection: close\r\n\r\n"
        );
        let resp = raw_full(&gw.proxy, line.as_bytes());
        assert!(resp.starts_with("HTTP/1.1 200"), "{sent}: {resp}");
        let body = &resp[resp.find("\r\n\r\n").expect("body") + 4..];
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["path"], forwarded, "{sent}");
        assert_eq!(v["headers"]["x-ace-operation-id"], op, "{sent}");
    }
    // A path that normalizes into another route is routed, and authorized, as that route.
    let line = b"GET /flights/../billing HTTP/1.1\r\nHost: x\r\napikey: hashed-key\r\nConnection: close\r\n\r\n";
    let resp = raw_full(&gw.proxy, line);
    assert!(
        resp.starts_with("HTTP/1.1 403"),
        "hashed-app has no billing grant: {resp}"
    );
    let escape = b"GET /flights/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert!(raw_full(&gw.proxy, escape).starts_with("HTTP/1.1 400"));
}

fn raw_full(addr: &str, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    s.write_all(bytes).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[test]
fn decisions_are_counted_without_credentials_in_labels() {
    let gw = gateway("");
    gw.get("/flights", &[("apikey", "fb-key")]);
    gw.get("/flights", &[]);
    gw.get("/flights", &[("apikey", "bogus-secret")]);
    gw.get("/billing", &[("apikey", "hashed-key")]);
    let m = gw.wait_metrics(&[
        r#"tollgate_ace_decisions_total{decision="allow",mode="enforce"} 1"#,
        r#"tollgate_ace_decisions_total{decision="unauthorized",mode="enforce"} 2"#,
        r#"tollgate_ace_decisions_total{decision="forbidden",mode="enforce"} 1"#,
        r#"tollgate_http_requests_total{route="flights",service="flights",status="200"} 1"#,
        r#"tollgate_http_requests_total{route="flights",service="flights",status="401"} 2"#,
    ]);
    for secret in ["fb-key", "bogus-secret", "hashed-key"] {
        assert!(!m.contains(secret), "metrics leak {secret}");
    }
    assert!(m.contains("tollgate_request_duration_seconds_bucket"));
    assert!(m.contains("tollgate_upstream_duration_seconds_bucket"));
    assert!(m.contains("tollgate_limiter_keys"));
}
