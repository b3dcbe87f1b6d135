//! Synthetic snapshots of a chosen size, for benchmarks and scale tests:
//! `apis × ops_per_api` operations, packages of `ops_per_package` operations,
//! and applications holding `credentials_per_app` keys `key-<app>-<n>`.

use std::fmt::Write;

#[derive(Debug, Clone, Copy)]
pub struct SynthParams {
    pub apis: usize,
    pub ops_per_api: usize,
    pub packages: usize,
    pub ops_per_package: usize,
    pub applications: usize,
    pub credentials_per_app: usize,
    /// Package limit per second (large values keep benchmarks out of 429s).
    pub package_limit_per_second: u64,
    pub upstream: &'static str,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            apis: 100,
            ops_per_api: 100,
            packages: 1_000,
            ops_per_package: 10,
            applications: 10_000,
            credentials_per_app: 10,
            package_limit_per_second: 1_000_000,
            upstream: "http://127.0.0.1:9101",
        }
    }
}

/// Path of operation `o` of API `a`: half static, half with a parameter.
pub fn op_path(a: usize, o: usize) -> String {
    if o.is_multiple_of(2) {
        format!("/api{a}/res{o}")
    } else {
        format!("/api{a}/res{o}/{{id}}")
    }
}

/// A request path that matches operation `o` of API `a`.
pub fn request_path(a: usize, o: usize) -> String {
    op_path(a, o).replace("{id}", "42")
}

/// The key of credential `n` of application `app`.
pub fn key(app: usize, n: usize) -> String {
    format!("key-{app}-{n}")
}

/// Which operation (api, op) is the `k`-th of package `p`.
pub fn package_op(p: &SynthParams, pkg: usize, k: usize) -> (usize, usize) {
    let flat = (pkg * p.ops_per_package + k) % (p.apis * p.ops_per_api);
    (flat / p.ops_per_api, flat % p.ops_per_api)
}

/// Application `app` is registered to packages `app % packages` and `(app + 1) % packages`.
pub fn app_packages(p: &SynthParams, app: usize) -> [usize; 2] {
    [app % p.packages, (app + 1) % p.packages]
}

pub fn generate(p: &SynthParams) -> String {
    let mut y = String::with_capacity(
        p.applications * p.credentials_per_app * 40 + p.apis * p.ops_per_api * 60,
    );
    let _ = writeln!(y, "_format_version: \"3.0\"");
    let _ = writeln!(y, "services:\n  - name: backend\n    url: {}\n    routes: [{{ name: all, paths: [/], strip_path: false }}]", p.upstream);
    let _ = writeln!(
        y,
        "plugins:\n  - name: ace\n    config: {{ match_policy: required }}"
    );
    let _ = writeln!(
        y,
        "auth_strategies:\n  - {{ name: keys, type: key_auth, key_names: [apikey] }}"
    );
    let _ = writeln!(y, "apis:");
    for a in 0..p.apis {
        let _ = writeln!(y, "  - name: api{a}\n    operations:");
        for o in 0..p.ops_per_api {
            let _ = writeln!(
                y,
                "      - {{ method: GET, path: \"{}\", id: op-{a}-{o} }}",
                op_path(a, o)
            );
        }
    }
    let _ = writeln!(y, "api_packages:");
    for pkg in 0..p.packages {
        let _ = writeln!(
            y,
            "  - name: pkg{pkg}\n    rate_limiting_config: {{ limit: {}, duration: seconds }}\n    operations:",
            p.package_limit_per_second
        );
        for k in 0..p.ops_per_package {
            let (a, o) = package_op(p, pkg, k);
            let _ = writeln!(
                y,
                "      - {{ api: api{a}, method: GET, path: \"{}\" }}",
                op_path(a, o)
            );
        }
    }
    let _ = writeln!(y, "applications:");
    for app in 0..p.applications {
        let [p1, p2] = app_packages(p, app);
        let _ = write!(
            y,
            "  - name: app{app}\n    auth_strategy: keys\n    credentials: ["
        );
        for n in 0..p.credentials_per_app {
            let sep = if n == 0 { "" } else { ", " };
            let _ = write!(y, "{sep}{{ key: {} }}", key(app, n));
        }
        let _ = writeln!(
            y,
            "]\n    registrations: [{{ api_package: pkg{p1} }}, {{ api_package: pkg{p2} }}]"
        );
    }
    y
}

/// The same snapshot as [`generate`], as JSON (which loads several times faster).
pub fn generate_json(p: &SynthParams) -> String {
    let mut y = String::with_capacity(
        p.applications * p.credentials_per_app * 40 + p.apis * p.ops_per_api * 80,
    );
    let _ = write!(
        y,
        r#"{{"_format_version":"3.0","services":[{{"name":"backend","url":"{}","routes":[{{"name":"all","paths":["/"],"strip_path":false}}]}}],"plugins":[{{"name":"ace","config":{{"match_policy":"required"}}}}],"auth_strategies":[{{"name":"keys","type":"key_auth","key_names":["apikey"]}}],"apis":["#,
        p.upstream
    );
    for a in 0..p.apis {
        let sep = if a == 0 { "" } else { "," };
        let _ = write!(y, r#"{sep}{{"name":"api{a}","operations":["#);
        for o in 0..p.ops_per_api {
            let sep = if o == 0 { "" } else { "," };
            let _ = write!(
                y,
                r#"{sep}{{"method":"GET","path":"{}","id":"op-{a}-{o}"}}"#,
                op_path(a, o)
            );
        }
        y.push_str("]}");
    }
    y.push_str(r#"],"api_packages":["#);
    for pkg in 0..p.packages {
        let sep = if pkg == 0 { "" } else { "," };
        let _ = write!(
            y,
            r#"{sep}{{"name":"pkg{pkg}","rate_limiting_config":{{"limit":{},"duration":"seconds"}},"operations":["#,
            p.package_limit_per_second
        );
        for k in 0..p.ops_per_package {
            let (a, o) = package_op(p, pkg, k);
            let sep = if k == 0 { "" } else { "," };
            let _ = write!(
                y,
                r#"{sep}{{"api":"api{a}","method":"GET","path":"{}"}}"#,
                op_path(a, o)
            );
        }
        y.push_str("]}");
    }
    y.push_str(r#"],"applications":["#);
    for app in 0..p.applications {
        let [p1, p2] = app_packages(p, app);
        let sep = if app == 0 { "" } else { "," };
        let _ = write!(
            y,
            r#"{sep}{{"name":"app{app}","auth_strategy":"keys","credentials":["#
        );
        for n in 0..p.credentials_per_app {
            let sep = if n == 0 { "" } else { "," };
            let _ = write!(y, r#"{sep}{{"key":"{}"}}"#, key(app, n));
        }
        let _ = write!(
            y,
            r#"],"registrations":[{{"api_package":"pkg{p1}"}},{{"api_package":"pkg{p2}"}}]}}"#
        );
    }
    y.push_str("]}");
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_synthetic_snapshot_is_valid() {
        let p = SynthParams {
            apis: 3,
            ops_per_api: 4,
            packages: 2,
            ops_per_package: 3,
            applications: 5,
            credentials_per_app: 2,
            ..SynthParams::default()
        };
        let s = crate::load_bytes(generate(&p).as_bytes(), None).expect("valid");
        assert_eq!(s.apis.iter().map(|a| a.operations.len()).sum::<usize>(), 12);
        assert_eq!(s.applications.len(), 5);
        assert_eq!(s.packages[1].operations.len(), 3);
        let j = crate::load_bytes(generate_json(&p).as_bytes(), None).expect("valid json");
        assert_eq!(j.applications.len(), 5);
        assert_eq!(j.applications[4].credentials.len(), 2);
    }
}
