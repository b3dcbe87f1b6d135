//! Kong's plugins beside ACE through a real gateway and a real upstream:
//! `basic-auth`, `acl`, `cors`, key-auth's Kong fields, the AND/OR rule of
//! several auth plugins, and rate-limiting's Kong fields. Statuses, messages
//! and headers are Kong's (kong/plugins/<name>/handler.lua).

mod support;

use base64::Engine;
use support::*;

fn basic(user: &str, password: &str) -> String {
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn snapshot(extra: &str) -> String {
    let up = upstream("kong-plugins");
    format!(
        r#"_format_version: "3.0"
services:
  - name: s
    url: http://{up}
    routes:
      - {{ name: r, paths: [/], strip_path: false }}
      - {{ name: other, paths: [/other], strip_path: false }}
consumers:
  - username: dana
    basicauth_credentials: [{{ username: dana, password: s3cret }}]
    keyauth_credentials: [{{ key: dana-key }}]
    acls: [{{ group: gold }}, {{ group: beta }}]
  - username: bob
    keyauth_credentials: [{{ key: bob-key }}]
  - username: anonymous
{extra}"#
    )
}

#[test]
fn basic_auth_statuses_headers_and_hidden_credentials() {
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: basic-auth, config: { hide_credentials: true } }\n",
    ));
    let r = gw.get("/x", &[]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"service\"")
    );
    let r = gw.get("/x", &[("authorization", &basic("dana", "wrong"))]);
    assert_eq!(r.status, 401);
    let r = gw.get("/x", &[("authorization", "Bearer abc")]);
    assert_eq!(r.status, 401);
    let r = gw.get("/x", &[("authorization", &basic("dana", "s3cret"))]);
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "dana");
    assert_eq!(h["x-credential-identifier"], "dana");
    assert!(h.get("authorization").is_none(), "{h}");
    // Kong reads Proxy-Authorization first.
    let r = gw.get(
        "/x",
        &[
            ("proxy-authorization", &basic("dana", "s3cret")),
            ("authorization", "Bearer for-the-upstream"),
        ],
    );
    assert_eq!(r.status, 200);
    assert!(r.upstream_headers().get("proxy-authorization").is_none());
}

#[test]
fn basic_auth_reads_passwords_as_kong_stores_them() {
    // _transform: false: SHA-1 of password + consumer id (Kong CE), or bcrypt.
    let up = upstream("kong-hashed");
    let salt = "4e8e6c2a-0000-4000-8000-000000000001";
    let sha1 = {
        use sha1::Digest;
        hex::encode(sha1::Sha1::digest(format!("open-sesame{salt}").as_bytes()))
    };
    let bcrypt = bcrypt::hash("bcrypt-pw", 4).expect("bcrypt");
    let yaml = format!(
        r#"_format_version: "3.0"
_transform: false
services: [{{ name: s, url: "http://{up}", routes: [{{ name: r, paths: [/] }}] }}]
consumers:
  - id: {salt}
    username: ops
    basicauth_credentials:
      - {{ username: ops, password: {sha1} }}
      - {{ username: ops2, password: "{bcrypt}" }}
plugins: [{{ name: basic-auth, config: {{ realm: tollgate }} }}]
"#
    );
    let gw = Gateway::start(&yaml);
    let ok = gw.get("/", &[("authorization", &basic("ops", "open-sesame"))]);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let r = gw.get("/", &[("authorization", &basic("ops", &sha1))]);
    assert_eq!(r.status, 401, "the stored hash is not the password");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"tollgate\"")
    );
    assert_eq!(
        gw.get("/", &[("authorization", &basic("ops2", "bcrypt-pw"))])
            .status,
        200
    );
    assert_eq!(
        gw.get("/", &[("authorization", &basic("ops2", "nope"))])
            .status,
        401
    );
}

#[test]
fn several_auth_plugins_follow_kongs_and_or_rule() {
    // Without anonymous: every auth plugin must pass (logical AND).
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: key-auth }\n  - { name: basic-auth }\n",
    ));
    let r = gw.get("/x", &[("apikey", "dana-key")]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    let r = gw.get(
        "/x",
        &[
            ("apikey", "dana-key"),
            ("authorization", &basic("dana", "s3cret")),
        ],
    );
    assert_eq!(r.status, 200);
    // With anonymous on both: either is enough (logical OR); none is anonymous.
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: key-auth, config: { anonymous: anonymous } }\n  - { name: basic-auth, config: { anonymous: anonymous } }\n",
    ));
    let r = gw.get("/x", &[("apikey", "bob-key")]);
    assert_eq!(r.upstream_headers()["x-consumer-username"], "bob");
    let r = gw.get("/x", &[("authorization", &basic("dana", "s3cret"))]);
    assert_eq!(r.upstream_headers()["x-consumer-username"], "dana");
    // key-auth authenticated bob first; basic-auth (OR) leaves him alone.
    let r = gw.get(
        "/x",
        &[
            ("apikey", "bob-key"),
            ("authorization", &basic("dana", "wrong")),
        ],
    );
    assert_eq!(r.upstream_headers()["x-consumer-username"], "bob");
    let r = gw.get("/x", &[]);
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "anonymous");
    assert_eq!(h["x-anonymous-consumer"], "true");
}

#[test]
fn acl_allow_deny_statuses_and_groups_header() {
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: key-auth, config: { anonymous: anonymous } }\n  - { name: acl, config: { allow: [gold] } }\n  - { name: acl, route: other, config: { deny: [beta], hide_groups_header: true } }\n",
    ));
    let r = gw.get(
        "/x",
        &[("apikey", "dana-key"), ("x-consumer-groups", "admin")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_headers()["x-consumer-groups"], "gold, beta");
    // An authenticated consumer without groups: 403.
    let r = gw.get("/x", &[("apikey", "bob-key")]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (403, "You cannot consume this service")
    );
    // The anonymous consumer has no credential: 401.
    let r = gw.get("/x", &[]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    // deny [beta]: dana is refused, bob (no groups) passes; no groups header.
    let r = gw.get("/other", &[("apikey", "dana-key")]);
    assert_eq!(r.status, 403);
    let r = gw.get(
        "/other",
        &[("apikey", "bob-key"), ("x-consumer-groups", "x")],
    );
    assert_eq!(r.status, 200);
    assert!(r.upstream_headers().get("x-consumer-groups").is_none());
}

#[test]
fn cors_origins_credentials_and_preflight() {
    let gw = Gateway::start(&snapshot(
        r#"plugins:
  - name: cors
    config:
      origins: ["https://app.example", "http://localhost:3000", "(.*\\.)?partner\\.example"]
      credentials: true
      exposed_headers: [X-Request-Id]
      max_age: 600
      methods: [GET, POST]
  - { name: key-auth, route: other }
"#,
    ));
    let pre = |origin: &str| {
        request(
            "OPTIONS",
            &gw.url("/x"),
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ],
            None,
        )
        .expect("preflight")
    };
    let r = pre("https://app.example:443");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET,POST"));
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = pre("https://api.partner.example");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://api.partner.example")
    );
    let r = pre("https://evil.example");
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());
    // A proxied response gets the headers; the upstream saw no preflight.
    let r = gw.get("/x", &[("origin", "http://localhost:3000")]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("X-Request-Id")
    );
    // A gateway answer (key-auth's 401) carries them too.
    let r = gw.get("/other", &[("origin", "https://app.example")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
}

#[test]
fn key_auth_kong_fields() {
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: key-auth, config: { run_on_preflight: false, realm: api, key_in_body: false } }\n",
    ));
    let r = request("OPTIONS", &gw.url("/x"), &[], None).expect("options");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = gw.get("/x", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Key realm=\"api\""));
}

#[test]
fn rate_limiting_by_header_and_path_with_kong_fields() {
    let gw = Gateway::start(&snapshot(
        r#"plugins:
  - name: rate-limiting
    route: r
    config: { minute: 2, limit_by: header, header_name: X-Tenant, hide_client_headers: true, error_code: 503, error_message: slow down, month: null, fault_tolerant: true, sync_rate: -1, redis_host: null }
  - name: rate-limiting
    route: other
    config: { minute: 1, limit_by: path, path: /other/limited }
"#,
    ));
    for _ in 0..2 {
        let r = gw.get("/x", &[("x-tenant", "a")]);
        assert_eq!(r.status, 200);
        assert!(r.header("x-ratelimit-limit-minute").is_none());
    }
    let r = gw.get("/x", &[("x-tenant", "a")]);
    assert_eq!((r.status, r.message().as_str()), (503, "slow down"));
    // Another header value is another counter.
    assert_eq!(gw.get("/x", &[("x-tenant", "b")]).status, 200);
    // limit_by path: the configured path has its own counter...
    assert_eq!(gw.get("/other/limited", &[]).status, 200);
    assert_eq!(gw.get("/other/limited", &[]).status, 429);
    // ...and any other path falls back to the client address, also at 1/min.
    assert_eq!(gw.get("/other/free", &[]).status, 200);
    assert_eq!(gw.get("/other/free2", &[]).status, 429);
}

#[test]
fn rate_limiting_fault_tolerant_false_fails_when_redis_is_down() {
    // Kong (rate-limiting/handler.lua): a counter-store error answers 500
    // "An unexpected error occurred" unless fault_tolerant is true.
    let mut redis = support::procs::Redis::start(free_port(), None);
    let conf = |strict: bool, route: &str| {
        format!(
            "  - {{ name: rate-limiting, route: {route}, config: {{ minute: 100, policy: redis, fault_tolerant: {}, redis: {{ {} }} }} }}\n",
            !strict,
            support::cluster::local_redis(redis.port, 300)
        )
    };
    let gw = Gateway::start(&snapshot(&format!(
        "plugins:\n{}{}",
        conf(true, "r"),
        conf(false, "other")
    )));
    assert_eq!(gw.get("/x", &[]).status, 200);
    assert_eq!(gw.get("/other/y", &[]).status, 200);
    assert!(redis.script_calls() >= 2, "counted in Redis");
    redis.kill();
    for _ in 0..3 {
        let r = gw.get("/x", &[]);
        assert_eq!(
            (r.status, r.message().as_str()),
            (500, "An unexpected error occurred")
        );
        let r = gw.get("/other/y", &[]);
        assert_eq!(r.status, 200, "fault tolerant: counted locally");
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("100"));
    }
    // Back once Redis is (after the cool-down).
    let redis = support::procs::Redis::start(redis.port, None);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gw.get("/x", &[]).status != 200 {
        assert!(std::time::Instant::now() < deadline, "never recovered");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    drop(redis);
}

#[test]
fn rate_limiting_month_and_year_windows() {
    let gw = Gateway::start(&snapshot(
        "plugins:\n  - { name: rate-limiting, config: { month: 2, year: 100, limit_by: ip } }\n",
    ));
    for left in ["1", "0"] {
        let r = gw.get("/x", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit-month"), Some("2"));
        assert_eq!(r.header("x-ratelimit-remaining-month"), Some(left));
        assert_eq!(r.header("x-ratelimit-limit-year"), Some("100"));
    }
    let r = gw.get("/x", &[]);
    assert_eq!(r.status, 429);
    // A month refills over 30 days: the wait is about 15 days.
    let retry: u64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("secs");
    assert!(retry > 14 * 86_400 && retry <= 15 * 86_400, "{retry}");
}

#[test]
fn unknown_plugins_are_named_unless_disabled() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("k.yaml");
    std::fs::write(
        &f,
        "_format_version: \"3.0\"\nplugins:\n  - { name: ip-restriction, config: { allow: [1.2.3.4] } }\n  - { name: post-function, enabled: false, config: { access: [\"x\"] } }\n",
    )
    .expect("write");
    let out = std::process::Command::new(BIN)
        .args(["validate", f.to_str().expect("utf8")])
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("plugins[0] (ip-restriction).name"), "{text}");
    assert!(
        text.contains("\"ip-restriction\" is not supported"),
        "{text}"
    );
    assert!(!text.contains("plugins[1]"), "{text}");
    let out = std::process::Command::new(BIN)
        .args(["validate", "--explain-kong", f.to_str().expect("utf8")])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    for want in [
        "plugins[0] (ip-restriction)\n  unsupported: name (tollgate does not have this plugin)",
        "plugins[1] (post-function)\n  ignored:     (whole entry) (disabled plugin)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}
