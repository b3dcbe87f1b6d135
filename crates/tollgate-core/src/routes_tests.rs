//! The route table's prefix precedence, the trie against a full scan, and
//! upstream path joining.

use super::*;

fn table() -> RouteTable {
    let yaml = r#"
_format_version: "3.0"
services:
  - name: a
    url: http://127.0.0.1:1
    routes:
      - { name: short, paths: [/api] }
      - { name: long, paths: [/api/v2] }
      - { name: post-only, paths: [/api/v2], methods: [POST] }
      - { name: hosted, paths: [/api], hosts: [admin.example.com] }
      - { name: wild, paths: [/api], hosts: ["*.example.org"] }
      - { name: any-path, hosts: [only.example.net] }
"#;
    let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
    RouteTable::compile(&s)
}

#[test]
fn precedence() {
    let t = table();
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("GET", "x", "/api", Some("short")),
        ("GET", "x", "/api/v1", Some("short")),
        ("GET", "x", "/apix", None),
        ("GET", "x", "/api/v2/a", Some("long")),
        ("POST", "x", "/api/v2/a", Some("post-only")),
        ("GET", "ADMIN.example.com", "/api/x", Some("hosted")),
        ("GET", "a.example.org", "/api/x", Some("wild")),
        ("GET", "example.org", "/api/x", Some("short")),
        ("GET", "only.example.net", "/zzz", Some("any-path")),
        ("GET", "x", "/other", None),
    ];
    for (m, host, path, want) in cases {
        let m = http::Method::from_bytes(m.as_bytes()).unwrap();
        let got = t
            .find(&m, host, &HeaderMap::new(), path)
            .map(|rm| &*t.route(rm.route).name);
        assert_eq!(got, *want, "{host} {path}");
    }
}

#[test]
fn trie_lookup_equals_a_full_scan() {
    // Random tables and paths over a small alphabet, so prefixes overlap a lot.
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let pieces = ["/", "a", "b", "/a", "/ab", "x"];
    let word = |next: &mut dyn FnMut(u64) -> u64| -> String {
        let len = next(5);
        (0..len)
            .map(|_| pieces[next(pieces.len() as u64) as usize])
            .collect()
    };
    let mut matched = 0;
    for table in 0..40 {
        let mut routes = String::new();
        for r in 0..(1 + next(12)) {
            let path = format!("/{}", word(&mut next));
            let methods = if next(3) == 0 {
                ", methods: [POST]"
            } else {
                ""
            };
            let hosts = match next(4) {
                0 => ", hosts: [h1]",
                1 => ", hosts: ['*.w']",
                _ => "",
            };
            let strip = if next(2) == 0 { "true" } else { "false" };
            routes.push_str(&format!(
                    "      - {{ name: r{r}, paths: [\"{path}\"], strip_path: {strip}{methods}{hosts} }}\n"
                ));
        }
        let yaml = format!(
                "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n{routes}"
            );
        let s = tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid");
        let t = RouteTable::compile(&s);
        for _ in 0..200 {
            let path = format!("/{}", word(&mut next));
            let method = if next(2) == 0 {
                http::Method::GET
            } else {
                http::Method::POST
            };
            let host = ["h1", "a.w", "other"][next(3) as usize];
            let none = HeaderMap::new();
            let got = t.find(&method, host, &none, &path);
            matched += usize::from(got.is_some());
            assert_eq!(
                got,
                t.find_linear(&method, host, &none, &path),
                "table {table}: {method} {host} {path}\n{yaml}"
            );
        }
    }
    assert!(
        matched > 1000,
        "the tables must route a good share: {matched} of 8000"
    );
}

#[test]
fn upstream_paths() {
    let cases = [
        ("", "/billing", 8, true, "/"),
        ("", "/billing/x", 8, true, "/x"),
        ("", "/billingx", 8, true, "/x"),
        ("/base", "/billing/x", 8, true, "/base/x"),
        ("/base", "/billing/x", 8, false, "/base/billing/x"),
        ("", "/billing", 8, false, "/billing"),
        ("/base", "/billing", 8, true, "/base"),
        ("", "/billing", 9, true, "/"),
        ("", "/caf\u{e9}", 5, true, "/"),
    ];
    for (base, path, n, strip, want) in cases {
        assert_eq!(upstream_path(base, path, n, strip), want, "{base} {path}");
    }
}
