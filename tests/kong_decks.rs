//! Real Kong declarative files written by others (`../shared/external/decks`):
//! each loads, or is refused only for what it names (Enterprise, AI, Lua
//! plugins); the ones with documented behaviour run through a real gateway
//! in front of a real upstream and answer as their headers say Kong does.
//! Skipped, with a note, where the material is not present.

mod support;

use std::path::PathBuf;
use support::*;

fn decks_dir() -> Option<PathBuf> {
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/external/decks");
    [beside, PathBuf::from("/work/shared/external/decks")]
        .into_iter()
        .find(|p| p.is_dir())
}

fn deck(name: &str) -> Option<String> {
    let Some(dir) = decks_dir() else {
        eprintln!("note: shared/external/decks not present; skipping {name}");
        return None;
    };
    Some(std::fs::read_to_string(dir.join(name)).expect("read deck"))
}

enum Expect {
    Loads,
    /// Refused; every error names one of these, and each of them is named.
    Refused(&'static [&'static str]),
    /// Loads once upstreams are supported; until then refused only for them.
    LoadsOrOnly(&'static str),
}

#[test]
fn every_deck_loads_or_is_refused_for_what_it_names() {
    let table: &[(&str, Expect)] = &[
        ("01-deck-validate-kong-ee.yaml", Expect::Loads),
        (
            "02-deck-consumer-groups-rla.yaml",
            Expect::Refused(&["consumer_groups", "groups", "rate-limiting-advanced"]),
        ),
        (
            "03-deck-request-termination-on-consumer.yaml",
            Expect::Loads,
        ),
        (
            "04-deck-anonymous-key-auth-request-termination.yaml",
            Expect::Refused(&["ai_models", "ai-model-selector", "model", "openid-connect"]),
        ),
        ("05-deck-plugin-ordering.yaml", Expect::Loads),
        (
            "06-deck-root-sample-no-format-version.yaml",
            Expect::LoadsOrOnly("upstreams"),
        ),
        ("07-kong-config-init-template.yml", Expect::Loads),
        (
            "08-kong-config-init-template-uncommented.yml",
            Expect::Loads,
        ),
        (
            "09-kong-docs-allow-multiple-authentication.yaml",
            Expect::Loads,
        ),
        ("10-kong-docs-rate-limit-a-consumer.yaml", Expect::Loads),
        (
            "11-supabase-self-hosted-kong.yml",
            Expect::Refused(&["request-transformer", "post-function"]),
        ),
    ];
    let Some(dir) = decks_dir() else {
        eprintln!("note: shared/external/decks not present; skipping");
        return;
    };
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("read dir") {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy().to_string();
        assert!(
            table.iter().any(|(n, _)| *n == name),
            "deck {name} has no expectation here"
        );
        seen += 1;
    }
    assert_eq!(seen, table.len());
    for (name, expect) in table {
        let result = tollgate_config::load_file(&dir.join(name));
        let errors: Vec<String> = match &result {
            Ok(_) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        match expect {
            Expect::Loads => assert!(errors.is_empty(), "{name}: {errors:#?}"),
            Expect::Refused(names) => {
                assert!(!errors.is_empty(), "{name} was accepted");
                for e in &errors {
                    assert!(
                        names.iter().any(|n| e.contains(n)),
                        "{name}: error names none of {names:?}: {e}"
                    );
                }
                for n in *names {
                    assert!(
                        errors.iter().any(|e| e.contains(n)),
                        "{name}: nothing names {n}: {errors:#?}"
                    );
                }
            }
            Expect::LoadsOrOnly(what) => {
                for e in &errors {
                    assert!(e.starts_with(what), "{name}: {e}");
                }
            }
        }
    }
}

#[test]
fn deck_06_without_upstreams_loads_with_a_version_warning() {
    let Some(text) = deck("06-deck-root-sample-no-format-version.yaml") else {
        return;
    };
    let start = text.find("upstreams:").expect("upstreams in deck");
    let end = text[start..]
        .find("plugins:")
        .expect("plugins after upstreams")
        + start;
    let without = format!("{}{}", &text[..start], &text[end..]);
    let s = tollgate_config::load_bytes(without.as_bytes(), None).expect("loads");
    let warnings: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        warnings.iter().any(|w| w.starts_with("_format_version")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("hmac-auth")),
        "{warnings:?}"
    );
    let yolo = s
        .consumers
        .iter()
        .position(|c| c.username == "yolo")
        .expect("yolo");
    assert!(s.plugins.iter().any(|p| p.consumer == Some(yolo)));
    assert_eq!(s.consumers[0].groups, ["foo-group"]);
}

/// The deck with its upstream URL pointed at a local echo server.
fn local(text: &str, from: &str) -> String {
    let up = upstream("deck");
    assert!(text.contains(from), "{from} not in deck");
    text.replace(from, &format!("http://{up}"))
}

#[test]
fn deck_01_key_auth_and_service_rate_limit_answer_as_kong() {
    let Some(text) = deck("01-deck-validate-kong-ee.yaml") else {
        return;
    };
    let gw = Gateway::start(&local(&text, "http://mockbin.org"));
    let r = gw.get("/mock", &[]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (401, "No API key found in request")
    );
    assert_eq!(r.header("www-authenticate"), Some("Key"));
    let r = gw.get("/mock", &[("apikey", "wrong")]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    for i in 0..5 {
        let r = gw.get("/mock", &[("apikey", "alice-secret-key")]);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        // hide_credentials: the key never reaches the upstream.
        assert!(r.upstream_headers().get("apikey").is_none());
        assert_eq!(r.upstream_headers()["x-consumer-username"], "alice");
    }
    let r = gw.get("/mock", &[("apikey", "alice-secret-key")]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (429, "API rate limit exceeded")
    );
    // limit_by consumer: bob has his own counter.
    let r = gw.get("/mock", &[("apikey", "bob-secret-key")]);
    assert_eq!(r.status, 200);
}

const ANON_TERMINATION: &str = r#"  plugins:
  - name: request-termination
    config:
      status_code: 401
      message: '"Error - Authentication required"'
"#;

#[test]
fn deck_09_multiple_authentication_follows_the_how_to() {
    let Some(text) = deck("09-kong-docs-allow-multiple-authentication.yaml") else {
        return;
    };
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let gw = Gateway::start(&local(&text, "http://httpbin.konghq.com"));
    let want = "\"Error - Authentication required\"";
    let r = gw.get("/anything", &[("apikey", "nonsense")]);
    assert_eq!((r.status, r.message().as_str()), (401, want));
    let r = gw.get("/anything", &[]);
    assert_eq!((r.status, r.message().as_str()), (401, want));
    let r = gw.get("/anything", &[("authorization", &basic("Dana", "dana"))]);
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "Dana");
    assert_eq!(h["x-credential-identifier"], "Dana");
    assert!(h.get("authorization").is_none(), "hide_credentials: {h}");
    let r = gw.get("/anything", &[("authorization", &basic("Dana", "wrong"))]);
    assert_eq!(r.status, 401);
    let r = gw.get("/anything", &[("apikey", "mahan")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_headers()["x-consumer-username"], "Mahan");
    // Before the anonymous consumer gets request-termination: both fall back.
    assert!(text.contains(ANON_TERMINATION));
    gw.rewrite_config(&local(
        &text.replace(ANON_TERMINATION, ""),
        "http://httpbin.konghq.com",
    ));
    let r = wait_status(&gw, "/anything", &[("apikey", "nonsense")], 200);
    assert_eq!(r.upstream_headers()["x-anonymous-consumer"], "true");
    let r = gw.get("/anything", &[]);
    assert_eq!(r.status, 200);
}

fn wait_status(gw: &Gateway, path: &str, h: &[(&str, &str)], want: u16) -> Resp {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = gw.get(path, h);
        if r.status == want || std::time::Instant::now() > deadline {
            assert_eq!(r.status, want, "{}", r.body);
            return r;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn deck_10_consumer_rate_limit_headers_and_429() {
    let Some(text) = deck("10-kong-docs-rate-limit-a-consumer.yaml") else {
        return;
    };
    let gw = Gateway::start(&local(&text, "http://httpbin.konghq.com"));
    for i in 0..5u64 {
        let r = gw.get("/anything", &[("apikey", "example-key")]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-ratelimit-limit-minute"), Some("5"));
        let remaining = (4 - i).to_string();
        assert_eq!(
            r.header("x-ratelimit-remaining-minute"),
            Some(remaining.as_str())
        );
        assert_eq!(r.header("x-ratelimit-limit-hour"), Some("1000"));
        assert!(r.header("x-ratelimit-remaining-hour").is_some());
        assert!(r.header("ratelimit-limit").is_some());
        assert!(r.header("ratelimit-remaining").is_some());
        assert!(r.header("ratelimit-reset").is_some());
    }
    let r = gw.get("/anything", &[("apikey", "example-key")]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (429, "API rate limit exceeded")
    );
    assert!(r.header("retry-after").is_some());
}

/// Supabase's file without its Lua-bearing plugins (request-transformer with
/// `$LUA_*` templates, post-function), every service pointed at one upstream.
fn supabase_without_lua(text: &str, up: std::net::SocketAddr) -> String {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).expect("yaml");
    let services = doc["services"].as_sequence_mut().expect("services");
    for s in services {
        let url = s["url"].as_str().expect("url").to_string();
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        s["url"] = format!("http://{up}/{path}").into();
        if let Some(plugins) = s.get_mut("plugins").and_then(|p| p.as_sequence_mut()) {
            plugins.retain(|p| {
                !matches!(
                    p["name"].as_str(),
                    Some("request-transformer" | "post-function")
                )
            });
        }
    }
    serde_yaml::to_string(&doc).expect("yaml")
}

#[test]
fn deck_11_supabase_keys_acls_termination_basic_auth_and_cors() {
    let Some(text) = deck("11-supabase-self-hosted-kong.yml") else {
        return;
    };
    let up = upstream("supabase");
    let gw = Gateway::start(&supabase_without_lua(&text, up));
    let anon = [("apikey", "$SUPABASE_ANON_KEY")];
    let service = [("apikey", "$SUPABASE_SERVICE_KEY")];
    // key-auth + acl allow [admin, anon]; hide_groups_header.
    let r = gw.get("/rest/v1/todos", &anon);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/todos");
    let h = r.upstream_headers();
    assert_eq!(h["x-consumer-username"], "anon");
    assert!(h.get("x-consumer-groups").is_none(), "{h}");
    // hide_credentials: false, so the key is forwarded.
    assert_eq!(h["apikey"], "$SUPABASE_ANON_KEY");
    let r = gw.get("/rest/v1/todos", &[]);
    assert_eq!(
        (r.status, r.message().as_str()),
        (401, "No API key found in request")
    );
    // pg-meta allows admin only.
    let r = gw.get("/pg/tables", &anon);
    assert_eq!(
        (r.status, r.message().as_str()),
        (403, "You cannot consume this service")
    );
    assert_eq!(gw.get("/pg/tables", &service).status, 200);
    // request-termination 403 on whole services.
    let r = gw.get("/realtime/v1/api/tenants/x", &anon);
    assert_eq!(
        (r.status, r.message().as_str()),
        (403, "Access is forbidden.")
    );
    // The dashboard: basic-auth with the (unsubstituted) credentials.
    let r = gw.get("/", &[]);
    assert_eq!((r.status, r.message().as_str()), (401, "Unauthorized"));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"service\"")
    );
    use base64::Engine;
    let b =
        base64::engine::general_purpose::STANDARD.encode("$DASHBOARD_USERNAME:$DASHBOARD_PASSWORD");
    let r = gw.get("/", &[("authorization", &format!("Basic {b}"))]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.upstream_headers().get("authorization").is_none());
    // cors with defaults: the gateway answers the preflight itself.
    let r = request(
        "OPTIONS",
        &gw.url("/rest/v1/todos"),
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "apikey,content-type"),
        ],
        None,
    )
    .expect("preflight");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("apikey,content-type")
    );
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT")
    );
    // ... and adds the origin header to proxied responses.
    let r = gw.get(
        "/rest/v1/todos",
        &[
            ("apikey", "$SUPABASE_ANON_KEY"),
            ("origin", "https://app.example"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[test]
fn deck_08_nested_and_top_level_entities_apply_where_kong_says() {
    let Some(text) = deck("08-kong-config-init-template-uncommented.yml") else {
        return;
    };
    let gw = Gateway::start(&local(&text, "http://example.com"));
    let r = gw.get("/anything", &[]);
    assert_eq!(r.status, 401, "example-service's key-auth: {}", r.body);
    let r = gw.get("/anything", &[("apikey", "my-key")]);
    assert_eq!(r.status, 200, "{}", r.body);
    // The consumer-scoped rate-limiting (second 5, hour 10000) applies to
    // example-user; the consumer+service one is on another-service.
    assert_eq!(r.header("x-ratelimit-limit-second"), Some("5"));
    assert_eq!(r.header("x-ratelimit-limit-hour"), Some("10000"));
    // another-route (top-level, host hello.com) belongs to example-service.
    let r = gw.get("/", &[("host", "hello.com")]);
    assert_eq!(r.status, 401);
    let r = gw.get("/", &[("host", "hello.com"), ("apikey", "my-key")]);
    assert_eq!(r.status, 200);
}
