//! Kong route matching through a real gateway: regex (`~`) paths with
//! `regex_priority`, `headers` conditions, a format 2.1 file whose regex paths
//! have no `~`, and normalization before any regex sees the path. Each route
//! leads to its own upstream, which names itself in its answer.

mod support;

use support::*;

/// (service the request reached, path the upstream received), or the status.
fn reached(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Result<(String, String), u16> {
    let r = gw.get(path, headers);
    if r.status != 200 {
        return Err(r.status);
    }
    let j = r.json();
    Ok((
        j["service"].as_str().unwrap_or_default().to_string(),
        j["path"].as_str().unwrap_or_default().to_string(),
    ))
}

fn deck(version: &str, routes: &[(&str, &str)]) -> String {
    let mut yaml = format!("_format_version: \"{version}\"\nservices:\n");
    for (name, route) in routes {
        let up = upstream(name);
        yaml.push_str(&format!(
            "  - name: {name}\n    url: http://{up}\n    tags: [team-{name}]\n    routes:\n      - {{ name: {name}, {route} }}\n"
        ));
    }
    yaml
}

#[test]
fn regex_paths_priority_and_headers_route_as_kong() {
    let yaml = deck(
        "3.0",
        &[
            (
                "orders",
                r#"paths: ["~/users/\\d+/orders"], regex_priority: 10"#,
            ),
            ("user", r#"paths: ["~/users/\\d+"]"#),
            ("users", "paths: [/users]"),
            (
                "files",
                r#"paths: ["~/files/[a-z]+\\.json$"], strip_path: false"#,
            ),
            ("v2", "paths: [/api], headers: { x-version: [v2, v3] }"),
            (
                "beta",
                r#"paths: [/api], headers: { x-version: [v2], x-channel: ["~*^beta"] }"#,
            ),
            ("api", "paths: [/api]"),
        ],
    );
    let gw = Gateway::start(&yaml);
    let ok = |s: &str, p: &str| Ok((s.to_string(), p.to_string()));
    // Regexes first, by regex_priority; anchored at the start; a stripped
    // regex match is cut from the upstream path like a prefix.
    assert_eq!(reached(&gw, "/users/7/orders/1", &[]), ok("orders", "/1"));
    assert_eq!(
        reached(&gw, "/users/7/profile", &[]),
        ok("user", "/profile")
    );
    assert_eq!(reached(&gw, "/users/me", &[]), ok("users", "/me"));
    assert_eq!(reached(&gw, "/x/users/7", &[]), Err(404));
    assert_eq!(
        reached(&gw, "/files/a.json", &[]),
        ok("files", "/files/a.json")
    );
    assert_eq!(reached(&gw, "/files/a.json.bak", &[]), Err(404));
    // The regex sees the normalized path: an encoded digit and a dot segment
    // are the same request as the plain one.
    assert_eq!(reached(&gw, "/users/%37/x", &[]), ok("user", "/x"));
    assert_eq!(
        reached(&gw, "/users/me/../7/orders", &[]),
        ok("orders", "/")
    );
    // Headers: every condition holds, values ignore case; more conditions win.
    assert_eq!(reached(&gw, "/api/a", &[]), ok("api", "/a"));
    assert_eq!(
        reached(&gw, "/api/a", &[("x-version", "V3")]),
        ok("v2", "/a")
    );
    assert_eq!(
        reached(
            &gw,
            "/api/a",
            &[("x-version", "v2"), ("x-channel", "Beta-1")]
        ),
        ok("beta", "/a")
    );
    assert_eq!(
        reached(
            &gw,
            "/api/a",
            &[("x-version", "v2"), ("x-channel", "stable")]
        ),
        ok("v2", "/a")
    );
    assert_eq!(
        reached(&gw, "/api/a", &[("x-version", "v9")]),
        ok("api", "/a")
    );
}

#[test]
fn a_format_21_file_reads_metacharacter_paths_as_regexes() {
    // Kong 2.x: a path with regex metacharacters is a regex, no `~`.
    let yaml = deck(
        "2.1",
        &[
            (
                "items",
                r#"paths: ["/items/\\d+$"], strip_path: false, regex_priority: 1"#,
            ),
            ("plain", "paths: [/items]"),
        ],
    );
    let gw = Gateway::start(&yaml);
    assert_eq!(
        reached(&gw, "/items/42", &[]),
        Ok(("items".to_string(), "/items/42".to_string()))
    );
    assert_eq!(
        reached(&gw, "/items/42x", &[]),
        Ok(("plain".to_string(), "/42x".to_string()))
    );
}

#[test]
fn a_pathological_regex_or_a_host_header_condition_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("kong.yaml");
    let yaml = deck(
        "3.0",
        &[
            ("big", r#"paths: ["~/((a{100}){100}){100}"]"#),
            ("host", "paths: [/h], headers: { Host: [example.com] }"),
        ],
    );
    std::fs::write(&file, yaml).expect("write");
    let out = std::process::Command::new(BIN)
        .args(["validate", &file.display().to_string()])
        .output()
        .expect("run validate");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("services[0] (big).routes[0] (big).paths[0]"),
        "{text}"
    );
    assert!(text.contains("KiB"), "{text}");
    assert!(text.contains("headers.Host"), "{text}");
}

#[test]
fn status_shows_each_tag_with_the_entities_carrying_it() {
    let up = upstream("tagged");
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: billing
    url: http://{up}
    tags: [team-a, prod]
    routes:
      - {{ name: billing-api, paths: [/billing], tags: [team-a] }}
routes:
  - {{ name: top, paths: [/top], service: billing, tags: [team-b] }}
consumers:
  - {{ username: ops, tags: [team-a] }}
plugins:
  - {{ name: cors, tags: [prod] }}
"#
    );
    let gw = Gateway::start(&yaml);
    let tags = &gw.status()["tags"];
    assert_eq!(
        tags,
        &serde_json::json!({
            "team-a": {"services": ["billing"], "routes": ["billing-api"], "consumers": ["ops"]},
            "team-b": {"routes": ["top"]},
            "prod": {"services": ["billing"], "plugins": ["plugins[0]"]},
        }),
        "{tags:#}"
    );
}

#[test]
fn explain_routes_on_headers_and_regex_paths_as_the_gateway_does() {
    let yaml = deck(
        "3.0",
        &[
            ("v2", "paths: [/api], headers: { x-version: [v2] }"),
            ("api", "paths: [/api]"),
            ("item", r#"paths: ["~/api/items/\\d+$"]"#),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("kong.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let explain = |path: &str, headers: &[&str]| -> (String, String) {
        let mut cmd = std::process::Command::new(BIN);
        cmd.args(["explain", "--json", "--config", &file.display().to_string()]);
        cmd.args(["GET", &format!("http://h{path}")]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        let out = cmd.output().expect("run explain");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("explain prints JSON");
        let up = v["upstream_path"].as_str().unwrap_or_default().to_string();
        (
            v["route"]["name"].as_str().unwrap_or_default().to_string(),
            up,
        )
    };
    let gw = Gateway::start(&yaml);
    for (path, headers, route) in [
        ("/api/x", &[][..], "api"),
        ("/api/x", &["x-version: V2"][..], "v2"),
        ("/api/items/7", &["x-version: v2"][..], "item"),
    ] {
        let (name, upstream_path) = explain(path, headers);
        assert_eq!(name, route, "{path} {headers:?}");
        let sent: Vec<(&str, &str)> = headers.iter().filter_map(|h| h.split_once(": ")).collect();
        assert_eq!(
            reached(&gw, path, &sent),
            Ok((route.to_string(), upstream_path)),
            "{path} {headers:?}"
        );
    }
}
