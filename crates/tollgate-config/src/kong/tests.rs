//! The Kong layer through `load_bytes`: each Kong shape is read into the
//! same snapshot as its tollgate form, and errors keep the user's locations.

use crate::plugins::PluginConfig;
use crate::{load_bytes, BasicSecret, Snapshot};

fn load(yaml: &str) -> Snapshot {
    match load_bytes(yaml.as_bytes(), None) {
        Ok(s) => s,
        Err(e) => panic!("{yaml}\n{:#?}", e.0),
    }
}

fn errors(yaml: &str) -> Vec<String> {
    match load_bytes(yaml.as_bytes(), None) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn top_level_routes_and_plugins_refer_by_name_or_id() {
    let s = load(
        r#"
_format_version: "3.0"
services:
  - { id: 11111111-0000-0000-0000-000000000001, host: up.local, port: 8080, path: /base, protocol: https, tags: [t1] }
routes:
  - { id: r-1, paths: [/a], service: { id: 11111111-0000-0000-0000-000000000001 } }
  - { name: named, paths: [/b], service: 11111111-0000-0000-0000-000000000001, created_at: 1 }
consumers:
  - { id: c-1, username: alice }
plugins:
  - { name: rate-limiting, route: r-1, consumer: { id: c-1 }, config: { minute: 5, hour: null } }
  - { name: key-auth, service: { name: 11111111-0000-0000-0000-000000000001 }, instance_name: ka, id: p-1 }
"#,
    );
    let svc = &s.services[0];
    assert_eq!(svc.name, "11111111-0000-0000-0000-000000000001");
    assert!(svc.upstream.tls);
    assert_eq!(
        (svc.upstream.host.as_str(), svc.upstream.port),
        ("up.local", 8080)
    );
    assert_eq!(svc.upstream.base_path, "/base");
    let names: Vec<&str> = svc.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["r-1", "named"]);
    assert_eq!(s.plugins.len(), 2);
    let rl = &s.plugins[0];
    assert_eq!(rl.route.map(|r| r.route), Some(0));
    assert_eq!(rl.consumer, Some(0));
}

#[test]
fn nested_plugins_keep_their_location_in_errors() {
    let errs = errors(
        r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - name: r
        paths: [/x]
        plugins:
          - { name: rate-limiting, config: { minute: 0 } }
    plugins:
      - { name: rate-limiting, config: { bogus: 1, minute: 1 } }
consumers:
  - username: c
    plugins:
      - { name: request-transformer }
"#,
    );
    let joined = errs.join("\n");
    for want in [
        "services[0].plugins[0].config",
        "services[0].routes[0].plugins[0].config.minute",
        "consumers[0].plugins[0].name",
    ] {
        assert!(joined.contains(want), "missing {want} in\n{joined}");
    }
    assert!(!joined.contains("plugins[1]"), "{joined}");
}

#[test]
fn metadata_nulls_and_missing_version() {
    let s = load(
        r#"
_transform: true
_comment: hello
_ignore: [1, {a: b}]
_info: { select_tags: [x] }
services:
  - name: s
    url: http://127.0.0.1:1
    _comment: a service
    enabled: true
    retries: 5
    tls_verify: null
    routes:
      - { name: r, paths: [/x], protocols: [http, https], https_redirect_status_code: 426, regex_priority: 0, path_handling: v0, headers: null }
consumers:
  - username: anon
    plugins:
      - name: request-termination
        enabled: true
        protocols: [grpc, grpcs, http, https]
        config: { body: null, content_type: null, echo: false, message: null, status_code: 404, trigger: null }
plugins:
  - { name: openid-connect, enabled: false, config: { issuer: x } }
"#,
    );
    let w: Vec<String> = s.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|w| w.starts_with("_format_version: missing")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.contains("openid-connect")), "{w:?}");
    match &s.plugins[0].config {
        PluginConfig::RequestTermination(c) => assert_eq!(c.status_code, 404),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_fields_are_located_refusals() {
    let errs = errors(
        r#"
_format_version: "3.0"
_info: { defaults: { service: { retries: 1 } } }
services:
  - name: s
    host: h
    protocol: grpc
    client_certificate: { id: x }
    routes:
      - { name: r, paths: ["~/v(\\d+/x"], headers: { host: ["1"] }, protocols: [https] }
consumers:
  - { username: c, groups: [{ name: gold }], keyauth_credentials: [{ key: k, ttl: 10 }] }
plugins:
  - { name: key-auth, consumer_group: gold, protocols: [grpc] }
  - { name: rate-limiting, config: { second: 1, minute: 2, hour: 3, day: 4, month: 5, policy: cluster, fault_tolerant: false } }
"#,
    );
    let joined = errs.join("\n");
    for want in [
        "_info.defaults",
        "services[0].protocol",
        "services[0].client_certificate",
        "services[0].routes[0].paths[0]: regex",
        "services[0].routes[0].headers.host: use the route's `hosts`",
        "services[0].routes[0].protocols",
        "consumers[0].groups",
        "consumers[0].keyauth_credentials[0].ttl",
        "plugins[0].consumer_group",
        "plugins[0].protocols",
        "plugins[1].config: at most 4 of second",
        "plugins[1].config.policy",
    ] {
        assert!(joined.contains(want), "missing {want} in\n{joined}");
    }
}

#[test]
fn format_2x_regex_paths_are_migrated() {
    // Kong 3.0 reads "/v\d+" from a 2.1 file as "~/v\d+".
    let yaml = r#"
_format_version: "2.1"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{ name: r, paths: ["/plain/path-1.json", "/v\\d+"], regex_priority: 3 }]
"#;
    let s = load(yaml);
    let r = &s.services[0].routes[0];
    assert_eq!(r.paths, ["/plain/path-1.json", "~/v\\d+"]);
    assert_eq!(r.regex_priority, 3);
    let text = crate::explain_kong(yaml.as_bytes())
        .expect("parses")
        .render();
    assert!(
        text.contains("services[0].routes[0] (r)\n")
            && text.contains("migrated:    paths[1] (\"/v\\\\d+\" is a regex in Kong 2.x: read as \"~/v\\\\d+\")"),
        "{text}"
    );
    let text = crate::explain_kong(yaml.replace("/v\\\\d+", "/v%41+").as_bytes())
        .expect("parses")
        .render();
    assert!(
        text.contains("regexes now see the normalized path"),
        "{text}"
    );
}

#[test]
fn regex_paths_and_headers_errors_are_located() {
    let errs = errors(
        r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - { name: ok, paths: ["~/v\\d+/x"], regex_priority: 2, headers: { x-v: [v1, "~*^beta"] } }
      - { name: big, paths: [/a, "~(a{1000}){1000}"] }
      - { name: hdr, paths: [/b], headers: { "bad name": [x], x-empty: [], x-re: ["~*(("] } }
"#,
    )
    .join("\n");
    for want in [
        "services[0].routes[1].paths[1]: regex \"(a{1000}){1000}\" compiles to more than",
        "services[0].routes[2].headers.bad name",
        "services[0].routes[2].headers.x-empty: needs at least one value",
        "services[0].routes[2].headers.x-re[0]: regex",
    ] {
        assert!(errs.contains(want), "missing {want} in\n{errs}");
    }
    assert!(!errs.contains("routes[0]"), "{errs}");
}

#[test]
fn top_level_credentials_attach_and_hashed_passwords_are_read() {
    let s = load(
        r#"
_format_version: "2.1"
_transform: false
consumers:
  - { id: 7e3c0c6b-0000-4000-8000-000000000001, username: DASHBOARD }
  - { username: anon }
basicauth_credentials:
  - { consumer: DASHBOARD, username: dash, password: 0123456789abcdef0123456789abcdef01234567 }
  - { consumer: { id: 7e3c0c6b-0000-4000-8000-000000000001 }, username: dash2, password: "$2b$04$abcdefghijklmnopqrstuuVGpqmQnnO1gnZCjw8rZ0x7O0aY4nJ1S" }
acls:
  - { consumer: anon, group: anon }
  - { consumer: anon, group: anon }
keyauth_credentials:
  - { consumer: anon, key: k1 }
"#,
    );
    let dash = &s.consumers[0];
    assert_eq!(dash.basic.len(), 2);
    assert!(matches!(
        &dash.basic[0].secret,
        BasicSecret::KongSha1 { salt, .. } if salt == "7e3c0c6b-0000-4000-8000-000000000001"
    ));
    assert!(matches!(&dash.basic[1].secret, BasicSecret::Bcrypt(_)));
    assert_eq!(s.consumers[1].groups, ["anon"]);
    assert_eq!(s.consumers[1].keys, ["k1"]);
}

#[test]
fn dangling_top_level_references_are_located() {
    let errs = errors(
        r#"
_format_version: "3.0"
services: [{ name: s, url: "http://127.0.0.1:1" }]
routes: [{ name: r, paths: [/x], service: nope }]
consumers: [{ username: c }]
acls: [{ consumer: ghost, group: g }]
plugins: [{ name: key-auth, route: { id: missing } }]
"#,
    )
    .join("\n");
    for want in [
        "routes[0].service: service \"nope\" does not exist",
        "acls[0].consumer",
        "plugins[0].route",
    ] {
        assert!(errs.contains(want), "missing {want} in\n{errs}");
    }
}

#[test]
fn explain_lists_accepted_ignored_and_unsupported() {
    let r = crate::explain_kong(
        br#"
services:
  - name: s
    url: http://x
    tags: [team-a]
    retries: 3
    routes: [{ name: r, paths: [/], headers: { a: [b] }, snis: [x.example] }]
"#,
    )
    .expect("parses");
    let text = r.render();
    for want in [
        "services[0] (s)",
        "accepted:    name, url",
        "tags:        team-a",
        "unsupported: snis",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // Balanced services retry on another target: `retries` is honoured.
    assert!(
        text.lines()
            .any(|l| l.contains("accepted:") && l.contains("retries")),
        "{text}"
    );
}

#[test]
fn basic_auth_scoped_to_a_consumer_is_refused() {
    // It would run only once the consumer is known: it authenticates nobody.
    let errs = errors(
        r#"
_format_version: "3.0"
consumers:
  - username: c
    plugins: [{ name: basic-auth }]
"#,
    )
    .join("\n");
    assert!(
        errs.contains(
            "consumers[0].plugins[0].consumer: basic-auth cannot be scoped to a consumer"
        ),
        "{errs}"
    );
}
