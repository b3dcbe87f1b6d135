//! ACE's own Kong fields through a real gateway and a real upstream:
//! operation paths with Kong's `*` wildcard, parameters with a literal
//! suffix or prefix (from real-world-shaped specs: Twilio's `{Sid}.json`,
//! Box's `thumbnail.{extension}` and `#fragment` paths, a Swagger 2.0
//! `basePath`), Kong's TRACE method, the key-auth strategy's key `ttl`, and
//! the earlier ACE config shape (`allow_unmatched_operations`).

mod support;

use std::process::Command;
use support::{upstream, Gateway};

const TWILIO_LIKE: &str = r#"openapi: 3.0.1
info: { title: calls, version: "1" }
servers: [{ url: "https://api.example.com/{version}", variables: { version: { default: "2010-04-01" } } }]
paths:
  /Accounts/{Sid}.json:
    get: { operationId: fetch-account, responses: { "200": { description: ok } } }
  /Accounts/{AccountSid}/Calls.json:
    get: { operationId: list-calls, responses: { "200": { description: ok } } }
  /files/{file_id}/thumbnail.{extension}:
    get: { operationId: get-thumbnail, responses: { "200": { description: ok } } }
  /files/{file_id}#add_shared_link:
    put: { operationId: add-shared-link, responses: { "200": { description: ok } } }
  /files/{file_id}#remove_shared_link:
    put: { operationId: remove-shared-link, responses: { "200": { description: ok } } }
"#;

const SWAGGER: &str = r#"swagger: "2.0"
info: { title: pets, version: "1" }
host: petstore.example.com
basePath: /v1
paths:
  /pets/{petId}:
    get: { operationId: showPetById, responses: { "200": { description: ok } } }
"#;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn snapshot(up: std::net::SocketAddr) -> String {
    let fresh = now() - 3600;
    let stale = now() - 2 * 86_400;
    format!(
        r#"_format_version: "3.0"
services:
  - {{ name: s, url: "http://{up}", routes: [{{ name: r, paths: [/], strip_path: false }}] }}
plugins:
  - name: ace
    config: {{ allow_unmatched_operations: false }}
apis:
  - name: users
    operations:
      - {{ method: GET, path: "/users/*", id: users-any }}
      - {{ method: GET, path: "/users/{{id}}", id: user-get }}
      - {{ method: GET, path: "/users/{{id}}/posts", id: user-posts }}
      - {{ method: GET, path: "/teams/*/members", id: team-members }}
      - {{ method: TRACE, path: /diag, id: diag-trace }}
  - name: calls
    spec_file: calls.yaml
  - name: pets
    spec_file: pets.yaml
auth_strategies:
  - {{ name: expiring, type: key_auth, key_names: [apikey], ttl: {{ value: 1, unit: days }} }}
applications:
  - name: fresh-app
    auth_strategy: expiring
    credentials: [{{ key: fresh-key, created_at: {fresh} }}]
    registrations: [{{ api: users }}, {{ api: calls }}, {{ api: pets }}]
  - name: stale-app
    auth_strategy: expiring
    credentials: [{{ key: stale-key, created_at: {stale} }}]
    registrations: [{{ api: users }}]
"#
    )
}

fn gateway() -> Gateway {
    let yaml = snapshot(upstream("app"));
    let gw = Gateway::start_with("_format_version: \"3.0\"\n", &[]);
    std::fs::write(gw.dir.path().join("calls.yaml"), TWILIO_LIKE).expect("spec");
    std::fs::write(gw.dir.path().join("pets.yaml"), SWAGGER).expect("spec");
    let old = gw.status()["config_hash"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    gw.rewrite_config(&yaml);
    gw.wait_hash_change(&old);
    gw
}

/// (method, path, key, status, operation id the upstream sees)
type Case<'a> = (&'a str, &'a str, &'a str, u16, &'a str);

#[test]
fn operations_match_as_kong_writes_them() {
    let gw = gateway();
    let cases: &[Case] = &[
        // `*` last: one or more segments; the more specific templates win.
        ("GET", "/users/7", "fresh-key", 200, "user-get"),
        ("GET", "/users/7/posts", "fresh-key", 200, "user-posts"),
        ("GET", "/users/7/likes", "fresh-key", 200, "users-any"),
        ("GET", "/users/7/a/b/c", "fresh-key", 200, "users-any"),
        ("GET", "/users", "fresh-key", 404, ""),
        // `*` elsewhere: exactly one segment.
        (
            "GET",
            "/teams/red/members",
            "fresh-key",
            200,
            "team-members",
        ),
        ("GET", "/teams/red/blue/members", "fresh-key", 404, ""),
        ("TRACE", "/diag", "fresh-key", 200, "diag-trace"),
        // A parameter with a literal suffix; the server variable's default is the base path.
        (
            "GET",
            "/2010-04-01/Accounts/AC123.json",
            "fresh-key",
            200,
            "fetch-account",
        ),
        (
            "GET",
            "/2010-04-01/Accounts/AC123.xml",
            "fresh-key",
            404,
            "",
        ),
        (
            "GET",
            "/2010-04-01/Accounts/AC123/Calls.json",
            "fresh-key",
            200,
            "list-calls",
        ),
        // A literal prefix; `#fragment` variants are one operation (the first keeps its id).
        (
            "GET",
            "/2010-04-01/files/9/thumbnail.png",
            "fresh-key",
            200,
            "get-thumbnail",
        ),
        (
            "PUT",
            "/2010-04-01/files/9",
            "fresh-key",
            200,
            "add-shared-link",
        ),
        // Swagger 2.0: basePath prefixes the paths.
        ("GET", "/v1/pets/3", "fresh-key", 200, "showPetById"),
        ("GET", "/pets/3", "fresh-key", 404, ""),
        // The key's ttl (1 day) is over: the key is refused like an unknown one.
        ("GET", "/users/7", "stale-key", 401, ""),
    ];
    for (method, path, key, status, op) in cases {
        let r = support::request(method, &gw.url(path), &[("apikey", key)], None)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(r.status, *status, "{method} {path} {key}: {}", r.body);
        if *status == 200 {
            assert_eq!(
                r.upstream_headers()["x-ace-operation-id"],
                *op,
                "{method} {path}"
            );
        }
        if *status == 401 {
            assert_eq!(r.message(), "Unauthorized", "{method} {path}");
        }
    }
}

#[test]
fn a_key_ttl_needs_the_credential_creation_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("s.yaml");
    let yaml = "_format_version: \"3.0\"\nauth_strategies:\n  - { name: k, type: key_auth, ttl: { value: 2, unit: weeks } }\napplications:\n  - { name: a, auth_strategy: k, credentials: [{ key: x }] }\n";
    std::fs::write(&file, yaml).expect("write");
    let out = Command::new(support::BIN)
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("validate");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("applications[0] (a).credentials[0].created_at"),
        "{text}"
    );
}
