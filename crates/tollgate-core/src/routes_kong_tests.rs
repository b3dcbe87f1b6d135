//! Kong's regex paths, `regex_priority` and `headers` in the route table, and
//! through `resolve` so that a regex only ever sees the normalized path.

use super::*;
use crate::target::{resolve, TargetError};
use http::{HeaderValue, Method};

fn table(routes: &str) -> RouteTable {
    let yaml = format!(
        "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n{routes}"
    );
    let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
    RouteTable::compile(&s)
}

fn route_of(t: &RouteTable, headers: &HeaderMap, path: &str) -> Option<String> {
    t.find(&Method::GET, "h", headers, path)
        .map(|m| t.route(m.route).name.to_string())
}

#[test]
fn regex_paths_come_first_by_priority_then_prefixes() {
    let t = table(
        r#"      - { name: status, paths: ["~/status/\\d+"] }
      - { name: versioned, paths: ["~/version/\\d+/status/\\d+"], regex_priority: 6 }
      - { name: version, paths: [/version] }
      - { name: version-any, paths: [/version/any/] }
      - { name: low, paths: ["~/version/"], regex_priority: -1 }
      - { name: ends, paths: ["~/files/[a-z]+\\.json$"], strip_path: false }
"#,
    );
    let none = HeaderMap::new();
    let cases: &[(&str, Option<&str>)] = &[
        ("/version/1/status/2", Some("versioned")),
        ("/status/7", Some("status")),
        ("/status/7/more", Some("status")),
        // Anchored at the start: the regex does not match mid-path.
        ("/x/status/7", None),
        ("/status/x", None),
        // A regex beats a longer prefix, whatever its priority.
        ("/version/any/thing", Some("low")),
        ("/version", Some("version")),
        // Stripped prefixes end at a segment, as before.
        ("/versionx", None),
        ("/files/a.json", Some("ends")),
        ("/files/a.json/x", None),
    ];
    for (path, want) in cases {
        assert_eq!(route_of(&t, &none, path).as_deref(), *want, "{path}");
    }
}

#[test]
fn equal_priorities_keep_definition_order_and_higher_wins() {
    let t = table(
        r#"      - { name: first, paths: ["~/a/.*"] }
      - { name: second, paths: ["~/a/b"] }
      - { name: boosted, paths: ["~/a/b/c"], regex_priority: 1 }
"#,
    );
    let none = HeaderMap::new();
    assert_eq!(route_of(&t, &none, "/a/b").as_deref(), Some("first"));
    assert_eq!(route_of(&t, &none, "/a/b/c").as_deref(), Some("boosted"));
}

#[test]
fn stripped_regex_matches_end_at_a_segment_and_set_the_cut() {
    let t = table(
        r#"      - { name: users, paths: ["~/users/\\d+"] }
"#,
    );
    let none = HeaderMap::new();
    let m = t.find(&Method::GET, "h", &none, "/users/12/orders");
    assert_eq!(m.map(|m| m.prefix_len), Some(9));
    // `\d+` stops inside the segment "12abc": stripping there would send
    // "abc" upstream as if it were a path.
    assert_eq!(t.find(&Method::GET, "h", &none, "/users/12abc"), None);
}

#[test]
fn headers_must_all_hold_and_win_over_an_equal_route_without() {
    let t = table(
        r#"      - { name: plain, paths: [/api] }
      - { name: v2, paths: [/api], headers: { x-version: [v2, V3] } }
      - { name: v2-beta, paths: [/api], headers: { x-version: [v2], x-beta: ["~*^(yes|1)$"] } }
      - { name: longer, paths: [/api/long] }
      - { name: re-hdr, paths: ["~/re/"], headers: { x-version: [v2] } }
      - { name: re, paths: ["~/re/"] }
"#,
    );
    let mut h = HeaderMap::new();
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("plain"));
    h.insert("x-version", HeaderValue::from_static("V2"));
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("v2"));
    h.insert("x-beta", HeaderValue::from_static("YES"));
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("v2-beta"));
    h.insert("x-beta", HeaderValue::from_static("no"));
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("v2"));
    // A longer prefix still wins: headers only break ties of equal prefixes.
    assert_eq!(route_of(&t, &h, "/api/long").as_deref(), Some("longer"));
    assert_eq!(route_of(&t, &h, "/re/x").as_deref(), Some("re-hdr"));
    h.insert("x-version", HeaderValue::from_static("v9"));
    assert_eq!(route_of(&t, &h, "/re/x").as_deref(), Some("re"));
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("plain"));
}

#[test]
fn a_route_with_only_headers_takes_any_path() {
    let t = table(
        r#"      - { name: canary, headers: { x-canary: ["1"] } }
      - { name: api, paths: [/api] }
"#,
    );
    let mut h = HeaderMap::new();
    assert_eq!(route_of(&t, &h, "/other"), None);
    h.insert("x-canary", HeaderValue::from_static("1"));
    assert_eq!(route_of(&t, &h, "/other").as_deref(), Some("canary"));
    // Prefix length first, as ever: "/api" is longer than "".
    assert_eq!(route_of(&t, &h, "/api/x").as_deref(), Some("api"));
}

#[test]
fn regexes_see_the_normalized_path_only() {
    let t = table(
        r#"      - { name: admin, paths: ["~/admin(/|$)"], strip_path: false }
      - { name: public, paths: [/] , strip_path: false }
"#,
    );
    let none = HeaderMap::new();
    let via = |raw: &str| {
        resolve(&t, &Method::GET, "h", &none, raw)
            .map(|tg| t.route(tg.route.route).name.to_string())
    };
    // Encoded and dotted spellings of /admin reach the admin route, never
    // the catch-all: a regex on the raw path would miss them.
    for raw in ["/admin/x", "/%61dmin/x", "/public/../admin/x", "//admin"] {
        assert_eq!(via(raw).as_deref(), Ok("admin"), "{raw}");
    }
    assert_eq!(via("/adminx").as_deref(), Ok("public"));
    assert_eq!(via("/admin%2Fx"), Err(TargetError::EscapedSlash));
}

#[test]
fn carries_sees_regex_routes() {
    let t = table(
        r#"      - { name: users, paths: ["~/users/\\d+"], methods: [GET] }
"#,
    );
    assert!(t.carries(&Method::GET, None, "/users/1/x"));
    assert!(!t.carries(&Method::POST, None, "/users/1/x"));
    assert!(!t.carries(&Method::GET, None, "/users/x"));
}

#[test]
fn a_pathological_regex_never_reaches_the_table() {
    let yaml = "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - { name: r, paths: [\"~/((a{100}){100}){100}\"] }\n";
    let errs = tollgate_config::load_bytes(yaml.as_bytes(), None).expect_err("refused");
    let text = errs
        .0
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains("services[0].routes[0].paths[0]") && text.contains("KiB"),
        "{text}"
    );
}
