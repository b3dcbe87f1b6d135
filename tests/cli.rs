//! Contract §1–§2 through the command line: `validate` exit codes, located
//! errors for every kind of bad input, warnings, and `run` refusing to start
//! on an invalid snapshot.

mod support;

use std::path::Path;
use std::process::Command;
use support::BIN;

/// `validate`'s output, with the entity names after each index removed.
fn validate(dir: &Path, yaml: &str) -> (i32, String) {
    let (code, out) = validate_named(dir, yaml);
    (code, without_names(&out))
}

fn validate_named(dir: &Path, yaml: &str) -> (i32, String) {
    let file = dir.join("snapshot.yaml");
    std::fs::write(&file, yaml).expect("write");
    support::validate_file(&file)
}

#[test]
fn every_example_snapshot_in_config_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("config/") {
        let path = entry.expect("entry").path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            continue;
        }
        let out = Command::new(BIN)
            .arg("validate")
            .arg(&path)
            .output()
            .expect("validate");
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        checked += 1;
    }
    assert!(checked >= 1);
}

#[test]
fn valid_snapshot_prints_a_summary_and_warnings() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9
    routes: [{ name: r, paths: [/a] }]
plugins: [{ name: ace }]
apis:
  - name: api
    operations:
      - { method: GET, path: "/a/{id}" }
      - { method: GET, path: /elsewhere }
"#;
    let (code, out) = validate(dir.path(), yaml);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("1 services"), "{out}");
    assert!(
        out.contains("warning: apis[0].operations[1]") && out.contains("GET /elsewhere"),
        "an operation no route carries is a warning: {out}"
    );
    assert!(!out.contains("operations[0]:"), "{out}");
    // strip_path (default true) changes what the upstream receives: said once.
    assert_eq!(
        out.matches("warning: services[0].routes[0].strip_path")
            .count(),
        1,
        "{out}"
    );
    assert!(out.contains("reaches the upstream as /{id}"), "{out}");
}

/// One snapshot with one mistake of every kind: each must be listed, located.
#[test]
fn every_error_is_listed_with_its_location() {
    let dir = tempfile::tempdir().expect("tmp");
    let yaml = r#"
_format_version: "3.0"
bogus_top: 1
services:
  - name: billing
    url: ftp://127.0.0.1:9101
    routes: [{ name: billing, paths: [billing] }]
  - name: billing
    url: http://127.0.0.1:9102
  - name: other
    url: http://127.0.0.1:9103
    unknown_key: true
plugins:
  - name: ace
    config: { match_policy: sometimes }
  - name: no-such-plugin
  - name: rate-limiting
    config: { second: 10, minute: 5 }
apis:
  - name: flights
    spec: "swagger: '2.0'"
  - name: billing
    spec_file: does-not-exist.yaml
  - name: ops
    operations:
      - { method: FETCH, path: /x }
      - { method: GET, path: "/x/{id}{format}" }
auth_strategies:
  - { name: keys, type: key_auth }
api_packages:
  - name: pkg
    rate_limiting_config: { limit: 0, duration: seconds }
    operations:
      - { api: ops, method: GET, path: /bills }
      - { api: ghost, method: GET, path: /x }
  - name: pkg2
    rate_limiting_config: [{ limit: -5, duration: minutes }, { limit: 1, duration: fortnights }]
applications:
  - name: app
    auth_strategy: nokeys
    consumer: nobody
    credentials: [{ key_sha256: "abc" }, {}]
    registrations: [{ api_package: missing }, { api: flights, api_package: pkg }]
"#;
    let (code, named) = validate_named(dir.path(), yaml);
    assert_eq!(code, 1, "{named}");
    // Entities are named after their index: `services[0] (billing).url`.
    assert!(
        named.contains("api_packages[0] (pkg).operations[1].api"),
        "{named}"
    );
    let out = without_names(&named);
    let expected = [
        "bogus_top",
        "services[0].url",
        "services[0].routes[0].paths[0]",
        "services[1].name",
        "services[2].unknown_key",
        "plugins[0].config.match_policy",
        "plugins[1].name",
        "plugins[2].config.minute",
        "apis[0].spec",
        "apis[1].spec_file",
        "apis[2].operations[0]",
        "apis[2].operations[1]",
        "api_packages[0].rate_limiting_config.limit",
        "api_packages[0].operations[0]: api \"ops\" has no operation GET /bills",
        "api_packages[0].operations[1].api",
        "api_packages[1].rate_limiting_config[0].limit",
        "api_packages[1].rate_limiting_config[1].duration",
        "applications[0].auth_strategy",
        "applications[0].consumer",
        "applications[0].credentials[0].key_sha256",
        "applications[0].credentials[1]",
        "applications[0].registrations[0].api_package",
        "applications[0].registrations[1]",
    ];
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn malformed_documents_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        ("services: [", "not valid YAML"),
        ("", "empty"),
        ("- a\n- b\n", "mapping"),
        // Kong's 1.1/2.1 and a missing version are read (see tests/kong_decks.rs).
        ("_format_version: \"4.0\"\n", "_format_version"),
        ("_format_version: [3]\n", "_format_version"),
        ("_format_version: \"3.0\"\nservices: 5\n", "services"),
        (
            "{\"_format_version\": \"3.0\", \"apis\": [{\"name\": 1}]}",
            "apis[0]",
        ),
    ];
    for (doc, needle) in cases {
        let (code, out) = validate(dir.path(), doc);
        assert_eq!(code, 1, "{doc:?}: {out}");
        assert!(
            out.contains(needle),
            "{doc:?}: expected {needle:?} in {out}"
        );
    }
    let out = Command::new(BIN)
        .args(["validate", "/nonexistent/snapshot.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn spec_file_resolves_relative_to_the_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("specs")).expect("mkdir");
    std::fs::write(
        dir.path().join("specs/flights.json"),
        r#"{"openapi":"3.0.0","info":{"title":"f","version":"1"},"servers":[{"url":"https://x.example/v2"}],
           "paths":{"/flights":{"get":{"operationId":"list","responses":{"200":{"description":"ok"}}}}}}"#,
    )
    .expect("spec");
    let yaml = r#"
_format_version: "3.0"
services: [{ name: s, url: "http://127.0.0.1:9", routes: [{ name: r, paths: [/v2] }] }]
apis: [{ name: flights, spec_file: specs/flights.json }]
api_packages: [{ name: p, operations: [{ api: flights, method: GET, path: /v2/flights }] }]
"#;
    let (code, out) = validate(dir.path(), yaml);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 operations"), "{out}");
}

#[test]
fn run_refuses_to_start_on_an_invalid_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "_format_version: \"3.0\"\nservices: [{ name: s }]\n").expect("write");
    let port = support::free_port();
    let admin = support::free_port();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&file)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("services[0]") && err.contains("url"), "{err}");
}

#[test]
fn flags_read_environment_variables() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "_format_version: \"3.0\"\n").expect("write");
    let proxy = format!("127.0.0.1:{}", support::free_port());
    let admin = format!("127.0.0.1:{}", support::free_port());
    let mut child = Command::new(BIN)
        .arg("run")
        .env("TOLLGATE_CONFIG", &file)
        .env("TOLLGATE_LISTEN", &proxy)
        .env("TOLLGATE_ADMIN_LISTEN", &admin)
        .env("TOLLGATE_THREADS", "1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let healthy = support::wait_healthy(&mut child, &admin) && support::wait_listening(&proxy);
    let r = support::get(&format!("http://{proxy}/x"), &[]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(healthy);
    assert_eq!(r.expect("proxy").status, 404);
}

#[test]
fn package_references_to_host_variants_are_resolved_or_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = r#"
_format_version: "3.0"
apis:
  - name: f
    operations:
      - { method: GET, path: /f, host: a.example.com, id: fa }
      - { method: GET, path: /f, host: b.example.com, id: fb }
api_packages:
  - name: p
    operations: [OPS]
"#;
    let ambiguous = base.replace("OPS", "{ api: f, method: GET, path: /f }");
    let (code, out) = validate(dir.path(), &ambiguous);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("api_packages[0].operations[0]") && out.contains("several hosts"),
        "{out}"
    );
    let named = base.replace(
        "OPS",
        "{ api: f, method: GET, path: /f, host: b.example.com }",
    );
    let (code, out) = validate(dir.path(), &named);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn fail_open_configurations_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let base = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9
    routes: [ROUTE]
consumers: [{ username: partner }, { username: anon }]
plugins: [PLUGINS]
apis:
  - name: f
    operations:
      - { method: GET, path: /flights, host: api.example.com, id: fa }
"#;
    let doc = |route: &str, plugins: &str| base.replace("ROUTE", route).replace("PLUGINS", plugins);
    // A host-scoped operation on a route that takes any host: other hosts skip it.
    let (code, out) = validate_named(
        dir.path(),
        &doc("{ name: r, paths: [/flights] }", "{ name: ace }"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("apis[0] (f)") && out.contains("scoped to host"),
        "{out}"
    );
    let (code, out) = validate(
        dir.path(),
        &doc(
            "{ name: r, paths: [/flights], hosts: [api.example.com] }",
            "{ name: ace }",
        ),
    );
    assert_eq!(code, 0, "{out}");
    // Auth plugins scoped to a consumer authenticate nobody.
    let scoped = "{ name: ace, consumer: partner }, { name: key-auth, consumer: partner }";
    let (code, out) = validate(
        dir.path(),
        &doc(
            "{ name: r, paths: [/flights], hosts: [api.example.com] }",
            scoped,
        ),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("plugins[0].consumer") && out.contains("plugins[1].consumer"),
        "{out}"
    );
    // An anonymous consumer nothing decides for is worth a warning.
    let (code, out) = validate(
        dir.path(),
        &doc(
            "{ name: r, paths: [/flights], hosts: [api.example.com] }",
            "{ name: ace, config: { anonymous: anon } }",
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("no plugin is scoped to the anonymous consumer"),
        "{out}"
    );
    // Keeping encoded slashes is allowed, with a warning naming the route.
    let (code, out) = validate(
        dir.path(),
        &doc(
            "{ name: blobs, paths: [/flights], hosts: [api.example.com], escaped_slashes: keep }",
            "{ name: ace }",
        ),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("services[0].routes[0].escaped_slashes") && out.contains("\"blobs\""),
        "{out}"
    );
}

/// The output with the ` (name)` after each list index removed.
fn without_names(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("] (") {
        out.push_str(&rest[..=i]);
        rest = &rest[i + 1..];
        match rest.find(')') {
            Some(j) if !rest[..j].contains(':') && !rest[..j].contains('\n') => {
                rest = &rest[j + 1..]
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}
