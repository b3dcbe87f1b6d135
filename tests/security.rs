//! Attacks on the request path, each through a real gateway in front of a
//! real upstream that records what it received: a request must never reach
//! an operation it was not matched, entitled and charged as, and nothing a
//! client sends may pose as the gateway's own headers.

mod support;

use support::recorder::{exchange, has_header, header, status, target, Recorder};
use support::{snapshot, Gateway};

struct Setup {
    gw: Gateway,
    up: Recorder,
}

/// The shared snapshot (`/billing`, `/flights`, `/flights/{id}`), both
/// services on one recording upstream.
fn setup(ace: &str) -> Setup {
    setup_with(ace, &[])
}

fn setup_with(ace: &str, flags: &[&str]) -> Setup {
    let up = Recorder::start();
    let gw = Gateway::start_with(&snapshot(up.addr, up.addr, ace), flags);
    Setup { gw, up }
}

impl Setup {
    /// Sends a raw request (the caller writes the request line and headers,
    /// the Host header and the blank line are added).
    fn send(&self, line_and_headers: &str) -> String {
        let req = format!("{line_and_headers}\r\nHost: gw\r\nConnection: close\r\n\r\n");
        exchange(&self.gw.proxy, req.as_bytes())
    }

    fn send_bytes(&self, bytes: &[u8]) -> String {
        exchange(&self.gw.proxy, bytes)
    }
}

#[test]
fn encoded_slashes_never_reach_the_upstream_as_matched() {
    for ace in ["", "match_policy: required"] {
        let s = setup(ace);
        for path in [
            "/flights/1%2Fpassengers",
            "/flights/1%2fpassengers",
            "/flights/1%5Cpassengers",
            "/flights/1%5cpassengers",
        ] {
            let r = s.send(&format!("GET {path} HTTP/1.1\r\napikey: fb-key"));
            assert_eq!(status(&r), 400, "{ace} {path}: {r}");
        }
        assert_eq!(s.up.count(), 0, "{ace}: {:?}", s.up.heads());
    }
}

#[test]
fn method_override_and_rewrite_headers_are_removed() {
    let s = setup("");
    let r = s.send(
        "GET /flights HTTP/1.1\r\napikey: fb-key\r\nX-HTTP-Method-Override: DELETE\r\n\
         X-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\nX_HTTP_Method_Override: DELETE\r\n\
         X-Original-URL: /admin/report\r\nX-Rewrite-URL: /admin/report",
    );
    assert_eq!(status(&r), 200, "{r}");
    let head = s.up.last();
    for name in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
        "x_http_method_override",
        "x-original-url",
        "x-rewrite-url",
    ] {
        assert!(
            !has_header(&head, name),
            "{name} reached the upstream:\n{head}"
        );
    }
}

#[test]
fn method_override_query_parameter_is_removed() {
    let s = setup("");
    let r = s.send("GET /flights?_method=DELETE&x=1&%5Fmethod=PUT HTTP/1.1\r\napikey: fb-key");
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(target(&s.up.last()), "/flights?x=1", "{}", s.up.last());
}

#[test]
fn head_is_matched_entitled_and_charged_as_get() {
    let s = setup("");
    let r = s.send("HEAD /flights HTTP/1.1");
    assert_eq!(status(&r), 401, "HEAD without a key must not pass: {r}");
    assert_eq!(s.up.count(), 0);
    // pending-app is not entitled: HEAD is refused like GET would be.
    let r = s.send("HEAD /flights HTTP/1.1\r\napikey: pending-key");
    assert_eq!(status(&r), 403, "{r}");
    // Charged against the same package limit as GET (5/second).
    let r = s.send("HEAD /flights HTTP/1.1\r\napikey: fb-key");
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("ratelimit-remaining: 4"), "{r}");
    let r = s.send("GET /flights HTTP/1.1\r\napikey: fb-key");
    assert!(r.contains("ratelimit-remaining: 3"), "{r}");
}

#[test]
fn path_parameters_are_refused_by_default() {
    let s = setup("");
    for path in ["/flights;jsessionid=1", "/flights/1;x=2", "/billing;a"] {
        let r = s.send(&format!("GET {path} HTTP/1.1"));
        assert_eq!(status(&r), 400, "{path}: {r}");
    }
    assert_eq!(s.up.count(), 0);
}

#[test]
fn allowed_path_parameters_are_matched_without_them() {
    let up = Recorder::start();
    let yaml = snapshot(up.addr, up.addr, "").replace(
        "routes: [{ name: flights, paths: [/flights], strip_path: false }]",
        "routes: [{ name: flights, paths: [/flights], strip_path: false, path_parameters: allow }]",
    );
    assert!(yaml.contains("path_parameters: allow"));
    let gw = Gateway::start(&yaml);
    let r = exchange(
        &gw.proxy,
        b"GET /flights;jsessionid=1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        status(&r),
        401,
        "matched as GET /flights, which needs a key: {r}"
    );
    let r = exchange(
        &gw.proxy,
        b"GET /flights;jsessionid=1 HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(target(&up.last()), "/flights;jsessionid=1");
    assert_eq!(
        header(&up.last(), "x-ace-operation-id"),
        Some("list-flights")
    );
    // Tomcat strips `;` and then resolves `..`: a dot segment in disguise.
    for path in [
        "/flights/1/..;/..;/admin",
        "/flights/%2e%2e;x/admin",
        "/flights/.;/1",
    ] {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nConnection: close\r\n\r\n"
        );
        let r = exchange(&gw.proxy, req.as_bytes());
        assert_eq!(status(&r), 400, "{path}: {r}");
    }
}

#[test]
fn paths_differing_only_in_case_are_matched_as_the_operation() {
    // Express, ASP.NET and IIS route case-insensitively: /billing/ADMIN/REPORT
    // runs /billing/admin/report, so it is matched as that operation.
    let up = Recorder::start();
    let yaml = snapshot(up.addr, up.addr, "").replace(
        "      - { method: POST, path: /billing, id: create-invoice }",
        "      - { method: POST, path: /billing, id: create-invoice }\n      - { method: GET, path: /billing/admin/report, id: admin-report }",
    );
    assert!(yaml.contains("admin-report"));
    let gw = Gateway::start(&yaml);
    let send = |extra: &str| {
        let req = format!(
            "GET /billing/ADMIN/Report HTTP/1.1\r\nHost: gw\r\n{extra}Connection: close\r\n\r\n"
        );
        exchange(&gw.proxy, req.as_bytes())
    };
    assert_eq!(status(&send("")), 401, "needs a key like the operation");
    assert_eq!(
        status(&send("apikey: fb-key\r\n")),
        403,
        "fb-app is not entitled"
    );
    assert_eq!(up.count(), 0, "{:?}", up.heads());
}

#[test]
fn identity_headers_are_removed_in_every_spelling() {
    let s = setup("");
    let spoofed = [
        "X_Consumer_Username",
        "X_ACE_Operation_ID",
        "X.Application.Name",
        "X-ACE-Whatever",
        "X-Credential-Username",
        "X_Credential_Identifier",
        "X-Authenticated-Userid",
        "X-Authenticated-Groups",
        "X-Anonymous-Consumer",
        "X-Consumer-Custom-ID",
    ];
    let mut req = "GET /flights HTTP/1.1\r\napikey: partner-key".to_string();
    for name in spoofed {
        req.push_str(&format!("\r\n{name}: forged"));
    }
    let r = s.send(&req);
    assert_eq!(status(&r), 200, "{r}");
    let head = s.up.last();
    assert!(
        !head.contains("forged"),
        "a forged identity reached the upstream:\n{head}"
    );
    assert_eq!(header(&head, "x-application-name"), Some("partner-app"));
}

#[test]
fn forwarding_headers_come_from_the_gateway() {
    let s = setup("");
    let r = s.send(
        "GET /flights HTTP/1.1\r\napikey: fb-key\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\
         X-Forwarded-Host: evil.example\r\nX-Forwarded-For: 6.6.6.6\r\nX_Forwarded_For: 6.6.6.6",
    );
    assert_eq!(status(&r), 200, "{r}");
    let head = s.up.last();
    assert!(!head.contains("6.6.6.6"), "{head}");
    assert!(!head.contains("evil.example"), "{head}");
    assert_eq!(
        header(&head, "x-forwarded-for"),
        Some("127.0.0.1"),
        "{head}"
    );
    assert!(!has_header(&head, "x-real-ip"), "{head}");

    // A trusted proxy's chain is extended instead.
    let t = setup_with("", &["--trusted-ips", "127.0.0.0/8"]);
    let r = t.send("GET /flights HTTP/1.1\r\napikey: fb-key\r\nX-Forwarded-For: 203.0.113.9");
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(
        header(&t.up.last(), "x-forwarded-for"),
        Some("203.0.113.9, 127.0.0.1")
    );
}

#[test]
fn the_key_is_hidden_from_the_upstream_by_default() {
    let s = setup("");
    let r = s.send("GET /flights HTTP/1.1\r\napikey: fb-key");
    assert_eq!(status(&r), 200, "{r}");
    assert!(!has_header(&s.up.last(), "apikey"), "{}", s.up.last());
    let r = s.send("GET /flights?apikey=fb-key&page=2 HTTP/1.1");
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(target(&s.up.last()), "/flights?page=2");

    // A second key beside the one used is hidden too.
    let r =
        s.send("GET /flights?x-api-key=other HTTP/1.1\r\napikey: fb-key\r\nX-API-Key: partner-key");
    assert_eq!(status(&r), 200, "{r}");
    let head = s.up.last();
    assert!(
        !has_header(&head, "x-api-key") && !head.contains("other"),
        "{head}"
    );
    // Repeated query keys with different values are refused, like repeated headers.
    let r = s.send("GET /flights?apikey=fb-key&apikey=partner-key HTTP/1.1");
    assert_eq!(status(&r), 401, "{r}");

    let k = setup("hide_credentials: false");
    let r = k.send("GET /flights HTTP/1.1\r\napikey: fb-key");
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(header(&k.up.last(), "apikey"), Some("fb-key"));
}

#[test]
fn bodies_on_bodiless_methods_are_refused_before_anything_is_charged() {
    let s = setup("");
    let smuggled = "DELETE /users/7 HTTP/1.1\r\nHost: x\r\n\r\nGET /admin/report HTTP/1.1\r\nHost: x\r\nX-Application-Name: admin-app\r\n\r\n";
    let req = format!(
        "GET /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nContent-Length: {}\r\n\r\n{smuggled}",
        smuggled.len()
    );
    let r = s.send_bytes(req.as_bytes());
    assert_eq!(status(&r), 400, "{r}");
    assert_eq!(s.up.count(), 0, "{:?}", s.up.heads());
    // Nothing was charged: the billing operation limit (3/minute) is intact.
    let r = s.send("GET /billing HTTP/1.1\r\napikey: fb-key");
    assert!(r.contains("ratelimit-remaining: 2"), "{r}");
}

#[test]
fn framing_headers_must_be_canonical() {
    let s = setup("");
    let bad: &[&[u8]] = &[
        b"POST /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nContent-Length: 2, 2\r\n\r\nab",
        b"POST /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
        b"POST /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nContent-Length: 02\r\n\r\nab",
        b"GET /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nConnection: host\r\n\r\n",
        b"get /billing HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\n\r\n",
    ];
    for req in bad {
        let r = s.send_bytes(req);
        let code = status(&r);
        assert!(
            (400..500).contains(&code),
            "{:?}: {r}",
            String::from_utf8_lossy(req)
        );
    }
    assert_eq!(s.up.count(), 0, "{:?}", s.up.heads());
    // None of them was charged (windows package: 4/minute).
    let r = s.send_bytes(
        b"POST /billing HTTP/1.1\r\nHost: gw\r\napikey: windows-key\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("x-ratelimit-remaining-minute: 3"), "{r}");
    assert_eq!(header(&s.up.last(), "content-length"), Some("2"));

    let r = s.send_bytes(
        b"GET /flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nTransfer_Encoding: chunked\r\nContent_Length: 5\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    let head = s.up.last();
    assert!(
        !has_header(&head, "transfer_encoding") && !has_header(&head, "content_length"),
        "{head}"
    );
}

#[test]
fn double_encoded_overlong_and_look_alike_paths_are_refused() {
    let s = setup("");
    for path in [
        "/flights/%252e%252e%252fadmin",
        "/flights/%252F",
        "/flights/..%c0%af..%c0%afadmin",
        "/flights/..%EF%BC%8Fadmin",
        "/flights/%ff",
    ] {
        let r = s.send(&format!("GET {path} HTTP/1.1\r\napikey: fb-key"));
        assert_eq!(status(&r), 400, "{path}: {r}");
    }
    assert_eq!(s.up.count(), 0);
}

#[test]
fn underscore_headers_follow_the_route_policy() {
    let up = Recorder::start();
    let base = snapshot(up.addr, up.addr, "");
    let route = "routes: [{ name: flights, paths: [/flights], strip_path: false }]";
    for (policy, want_status, forwarded) in [
        ("allow", 200, true),
        ("drop", 200, false),
        ("reject", 400, false),
    ] {
        let yaml = base.replace(
            route,
            &format!(
                "routes: [{{ name: flights, paths: [/flights], strip_path: false, headers_with_underscores: {policy} }}]"
            ),
        );
        let gw = Gateway::start(&yaml);
        up.clear();
        let r = exchange(
            &gw.proxy,
            b"GET /flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nX_Tenant: other\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status(&r), want_status, "{policy}: {r}");
        assert_eq!(has_header(&up.last(), "x_tenant"), forwarded, "{policy}");
    }
}

#[test]
fn slow_and_huge_heads_are_cut_off() {
    use std::io::{Read, Write};
    let s = setup_with("", &["--header-timeout", "2"]);
    // One header line per 700 ms: the whole head is late.
    let started = std::time::Instant::now();
    let mut c = std::net::TcpStream::connect(&s.gw.proxy).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
        .ok();
    let _ = c.write_all(b"GET /flights HTTP/1.1\r\n");
    let mut answer = Vec::new();
    for i in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(700));
        if c.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .is_err()
        {
            break;
        }
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let elapsed = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(elapsed.as_secs() < 5, "held for {elapsed:?}");

    let big = format!(
        "GET /flights HTTP/1.1\r\nHost: gw\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let r = s.send_bytes(big.as_bytes());
    assert_eq!(status(&r), 431, "{r}");
    assert_eq!(s.up.count(), 0);
    let m = s.gw.metrics();
    assert!(
        m.contains("tollgate_request_head_refused_total{reason=\"timeout\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("tollgate_request_head_refused_total{reason=\"too_large\"} 1"),
        "{m}"
    );
}

#[test]
fn head_limits_apply_to_every_request_on_a_connection() {
    use std::io::{Read, Write};
    let s = setup("");
    let mut c = std::net::TcpStream::connect(&s.gw.proxy).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok();
    c.write_all(b"GET /flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\n\r\n")
        .expect("first");
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).expect("first answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let big = format!(
        "GET /flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = c.write_all(big.as_bytes());
    let mut answer = Vec::new();
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    assert_eq!(s.up.count(), 1);
}

#[test]
fn absolute_form_target_must_name_the_routed_host() {
    let s = setup("");
    let r = s.send_bytes(
        b"GET http://other.example/flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 400, "{r}");
    let r = s.send_bytes(
        b"GET http://gw/flights HTTP/1.1\r\nHost: gw\r\napikey: fb-key\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(target(&s.up.last()), "/flights");
}
