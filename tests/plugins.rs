//! Plugin interplay with Kong semantics, through HTTP only: counting between
//! ACE and rate-limiting, dynamic ordering, anonymous flows, scope precedence,
//! key-auth options.

mod support;

use support::{upstream, Gateway};

/// Services billing and flights, consumers, one API per service, and `plugins`.
fn snapshot(plugins: &str, package_limit: &str) -> String {
    let (billing, flights) = (upstream("billing"), upstream("flights"));
    format!(
        r#"_format_version: "3.0"
services:
  - name: billing
    url: http://{billing}
    routes: [{{ name: billing, paths: [/billing], strip_path: false }}]
  - name: flights
    url: http://{flights}
    routes: [{{ name: flights, paths: [/flights], strip_path: false }}]
consumers:
  - username: anonymous
  - username: ops
    keyauth_credentials: [{{ key: ops-secret }}]
  - username: mapped
plugins:
{plugins}
apis:
  - name: billing
    operations: [{{ method: GET, path: /billing, id: list-invoices }}]
  - name: flights
    operations: [{{ method: GET, path: /flights, id: list-flights }}]
auth_strategies:
  - {{ name: keys, type: key_auth, key_names: [apikey] }}
api_packages:
  - name: pkg
    rate_limiting_config: {package_limit}
    operations:
      - {{ api: billing, method: GET, path: /billing }}
      - {{ api: flights, method: GET, path: /flights }}
applications:
  - {{ name: app, auth_strategy: keys, consumer: mapped, credentials: [{{ key: app-key }}], registrations: [{{ api_package: pkg }}] }}
  - {{ name: loose, auth_strategy: keys, credentials: [{{ key: loose-key }}], registrations: [{{ api_package: pkg }}] }}
"#
    )
}

fn statuses(gw: &Gateway, path: &str, key: &str, n: usize) -> Vec<support::Resp> {
    (0..n).map(|_| gw.get(path, &[("apikey", key)])).collect()
}

#[test]
fn ace_rejected_requests_are_not_counted_by_rate_limiting() {
    let plugins =
        "  - { name: ace }\n  - { name: rate-limiting, config: { minute: 5, limit_by: ip } }";
    let gw = Gateway::start(&snapshot(plugins, "{ limit: 2, duration: hours }"));
    let rs = statuses(&gw, "/flights", "app-key", 4);
    let codes: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 429, 429]);
    assert_eq!(
        rs[2].header("x-ratelimit-limit-hour"),
        Some("2"),
        "the 429s are ACE's"
    );
    assert_eq!(rs[1].header("x-ratelimit-remaining-minute"), Some("3"));
    // Another credential (its own ACE counter) from the same IP (the same
    // rate-limiting counter): the 2 ACE rejections were not counted there.
    let r = gw.get("/flights", &[("apikey", "loose-key")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("2"));
}

#[test]
fn rate_limiting_rejections_were_already_counted_by_the_package() {
    let plugins = "  - { name: ace }\n  - { name: rate-limiting, config: { minute: 2, limit_by: credential, error_message: slow down } }";
    let gw = Gateway::start(&snapshot(plugins, "{ limit: 5, duration: hours }"));
    let rs = statuses(&gw, "/flights", "app-key", 3);
    let codes: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(codes, [200, 200, 429]);
    assert_eq!(rs[2].message(), "slow down");
    assert!(rs[2].header("retry-after").is_some());
    // ACE charged all three: 5 - 3 remain in the package's hour window.
    assert_eq!(rs[2].header("x-ratelimit-remaining-hour"), Some("2"));
}

#[test]
fn ordering_rate_limiting_before_ace_reverses_both_rules() {
    let plugins = "  - { name: ace }\n  - { name: rate-limiting, ordering: { before: { access: [ace] } }, config: { minute: 2, limit_by: credential } }";
    let gw = Gateway::start(&snapshot(plugins, "{ limit: 5, duration: hours }"));
    let rs = statuses(&gw, "/flights", "app-key", 3);
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 429]
    );
    // The rate-limiting rejection never reached ACE: only the 2 admitted were charged.
    assert_eq!(rs[1].header("x-ratelimit-remaining-hour"), Some("3"));
    let r = rs.last().expect("response");
    assert_eq!(
        r.header("x-ratelimit-remaining-hour"),
        None,
        "ACE did not run for it"
    );
    let plugins2 = "  - { name: ace }\n  - { name: rate-limiting, ordering: { before: { access: [ace] } }, config: { minute: 10, limit_by: ip } }";
    let gw2 = Gateway::start(&snapshot(plugins2, "{ limit: 2, duration: hours }"));
    let rs = statuses(&gw2, "/flights", "app-key", 3);
    assert_eq!(
        rs.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 429]
    );
    // The ACE rejection was counted by rate-limiting, which ran first: 10 - 3 = 7.
    assert_eq!(rs[2].header("x-ratelimit-remaining-minute"), Some("7"));
    assert_eq!(rs[2].header("x-ratelimit-remaining-hour"), Some("0"));
}

#[test]
fn ace_anonymous_lets_consumer_scoped_plugins_decide() {
    let plugins = r#"  - { name: ace, config: { anonymous: anonymous } }
  - { name: request-termination, consumer: anonymous, config: { status_code: 401, message: authentication required } }"#;
    let gw = Gateway::start(&snapshot(plugins, "null"));
    for headers in [vec![], vec![("apikey", "wrong")]] {
        let r = gw.get("/flights", &headers);
        assert_eq!(r.status, 401, "{headers:?}");
        assert_eq!(r.message(), "authentication required");
    }
    let r = gw.get("/flights", &[("apikey", "app-key")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_headers()["x-consumer-username"], "mapped");
}

#[test]
fn key_auth_and_ace_multi_authentication() {
    let plugins = r#"  - { name: key-auth, config: { key_names: [ops-key], anonymous: anonymous, hide_credentials: true } }
  - { name: ace, config: { anonymous: anonymous } }
  - { name: request-termination, consumer: anonymous, config: { status_code: 401, message: no credentials } }"#;
    let gw = Gateway::start(&snapshot(plugins, "null"));
    // key-auth authenticated: ACE skips, key hidden from the upstream.
    let r = gw.get("/billing", &[("ops-key", "ops-secret")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "ops");
    assert!(h.get("ops-key").is_none(), "hide_credentials: {h}");
    assert!(h.get("x-ace-operation-id").is_none(), "ACE skipped: {h}");
    assert_eq!(
        h["x-credential-identifier"].as_str().map(str::len),
        Some(16)
    );
    // key-auth left the request anonymous; a valid ACE key replaces that identity.
    let r = gw.get("/billing", &[("apikey", "app-key")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.upstream_headers();
    assert_eq!(h["x-ace-operation-id"], "list-invoices");
    assert_eq!(h["x-consumer-username"], "mapped");
    assert!(h.get("x-anonymous-consumer").is_none(), "{h}");
    // Neither: anonymous, and request-termination answers.
    let r = gw.get("/billing", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "no credentials");
    // Query-string key hidden too.
    let r = gw.get("/billing?ops-key=ops-secret&x=1", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["path"], "/billing?x=1");
}

#[test]
fn key_auth_without_anonymous_answers_401() {
    let gw = Gateway::start(&snapshot("  - { name: key-auth }", "null"));
    let r = gw.get("/billing", &[]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (401, "No API key found in request")
    );
    let r = gw.get("/billing", &[("apikey", "nope")]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    let r = gw.get("/billing?apikey=ops-secret", &[]);
    assert_eq!(r.status, 200);
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "ops");
    assert!(h["x-consumer-id"].is_string());
}

#[test]
fn most_specific_plugin_scope_wins() {
    let plugins = r#"  - { name: ace }
  - { name: request-termination, config: { status_code: 410 } }
  - { name: request-termination, service: flights, config: { status_code: 418, message: teapot } }
  - { name: request-termination, consumer: mapped, config: { status_code: 451, message: consumer } }
  - { name: request-termination, route: flights, consumer: mapped, config: { status_code: 409, message: route+consumer } }"#;
    let gw = Gateway::start(&snapshot(plugins, "null"));
    let cases = [
        ("/billing", "loose-key", 410),
        ("/flights", "loose-key", 418),
        ("/billing", "app-key", 451),
        ("/flights", "app-key", 409),
    ];
    for (path, key, status) in cases {
        let r = gw.get(path, &[("apikey", key)]);
        assert_eq!(r.status, status, "{path} {key}: {}", r.body);
    }
}

#[test]
fn rate_limiting_plugin_headers_and_options() {
    let plugins = "  - { name: rate-limiting, route: billing, config: { second: 3, minute: 3, limit_by: ip, error_code: 503 } }\n  - { name: rate-limiting, route: flights, config: { minute: 1, hide_client_headers: true } }";
    let gw = Gateway::start(&snapshot(plugins, "null"));
    let r = gw.get("/billing", &[]);
    assert_eq!(r.header("x-ratelimit-limit-second"), Some("3"));
    assert_eq!(r.header("x-ratelimit-remaining-minute"), Some("2"));
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    gw.get("/billing", &[]);
    gw.get("/billing", &[]);
    let r = gw.get("/billing", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.message(), "API rate limit exceeded");
    let r = gw.get("/flights", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("ratelimit-limit").is_none(), "hide_client_headers");
    assert_eq!(gw.get("/flights", &[]).status, 429);
    let m = gw.metrics();
    assert!(
        m.contains(r#"tollgate_plugin_duration_seconds_count{plugin="rate-limiting"}"#),
        "{m}"
    );
}
