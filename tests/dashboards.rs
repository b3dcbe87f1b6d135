//! The Grafana dashboard and the Prometheus alert rules query only metrics
//! (and label values) that a real gateway exposes after serving traffic; and,
//! where `promtool` is installed, its checks pass on the rules and on the
//! gateway's `/metrics`.

mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{snapshot, upstream, Gateway};

const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/tollgate.json");
const ALERTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/alerts.yaml");

/// Series Prometheus makes itself when scraping, not exposed by the gateway.
const SCRAPE_SERIES: &[&str] = &["up"];

/// PromQL words that look like identifiers but name no metric.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// A metric selector found in a PromQL expression: the metric name and its
/// exact-match label matchers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Selector {
    metric: String,
    labels: Vec<(String, String)>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Index just past the bracket closing the one at `open`.
fn skip_group(chars: &[char], open: usize, close: char) -> usize {
    let opener = chars[open];
    let mut depth = 0;
    let mut quoted = false;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if quoted {
            if c == '\\' {
                i += 1;
            } else if c == '"' {
                quoted = false;
            }
        } else if c == '"' {
            quoted = true;
        } else if c == opener {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
        i += 1;
    }
    chars.len()
}

/// Exact (`=`) matchers of a `{...}` body.
fn matchers(body: &str) -> Vec<(String, String)> {
    body.split(',')
        .filter_map(|m| {
            let (k, v) = m.split_once('=')?;
            if k.ends_with('!') || v.starts_with('~') {
                return None;
            }
            let v = v.trim().trim_matches('"');
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Metric selectors of a PromQL expression: identifiers that are neither
/// functions (followed by `(`), keywords, label lists (`by (...)`), nor
/// inside strings, matchers or ranges.
fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != c {
                j += if chars[j] == '\\' { 2 } else { 1 };
            }
            i = j + 1;
        } else if c == '[' {
            i = skip_group(&chars, i, ']');
        } else if c == '{' {
            i = skip_group(&chars, i, '}');
        } else if c.is_ascii_digit() || c == '.' || c == '$' {
            // Numbers (0.99, 1e3) and Grafana variables.
            i += 1;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let rest: String = chars[next..].iter().take(8).collect();
            // `sum by (...) (...)`: an aggregation with its grouping first.
            let grouped =
                rest.starts_with("by ") || rest.starts_with("by(") || rest.starts_with("without");
            let paren = chars.get(next) == Some(&'(') || grouped;
            let lower = word.to_ascii_lowercase();
            if KEYWORDS.contains(&lower.as_str()) {
                if paren {
                    i = skip_group(&chars, next, ')');
                }
            } else if !paren {
                let labels = if chars.get(next) == Some(&'{') {
                    let end = skip_group(&chars, next, '}');
                    let body: String = chars[next + 1..end - 1].iter().collect();
                    i = end;
                    matchers(&body)
                } else {
                    Vec::new()
                };
                out.push(Selector {
                    metric: word,
                    labels,
                });
            }
        } else {
            i += 1;
        }
    }
    out
}

fn dashboard_exprs() -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).expect("dashboard"))
            .expect("JSON");
    let mut exprs = Vec::new();
    for panel in json["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(t["expr"].as_str().expect("expr").to_string());
        }
    }
    for var in json["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(METRIC, label)
            if let Some(inner) = q
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
            {
                exprs.push(inner.to_string());
            }
        }
    }
    exprs
}

fn alert_exprs() -> Vec<String> {
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(ALERTS).expect("alerts")).expect("YAML");
    let mut exprs = Vec::new();
    for group in yaml["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            exprs.push(rule["expr"].as_str().expect("expr").to_string());
        }
    }
    exprs
}

/// Sample lines of an exposition, without comments.
fn samples(metrics: &str) -> Vec<&str> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect()
}

fn sample_name(line: &str) -> &str {
    line.split(['{', ' ']).next().unwrap_or("")
}

#[test]
fn the_selector_parser_finds_metrics_and_only_metrics() {
    let got = selectors(
        r#"histogram_quantile(0.99, sum by (le, plugin) (rate(a_bucket{instance=~"$i",result="failure"}[$__rate_interval]))) / ignoring(x) b > bool 1e3 and on (job) c{job="t"} offset 5m"#,
    );
    let names: Vec<&str> = got.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, ["a_bucket", "b", "c"]);
    assert_eq!(
        got[0].labels,
        [("result".to_string(), "failure".to_string())]
    );
}

fn drive_traffic(gw: &Gateway) {
    for _ in 0..4 {
        // flight-billing allows 3 GET /billing a minute: the fourth is a 429.
        gw.get("/billing", &[("apikey", "fb-key")]);
    }
    gw.get("/flights", &[("apikey", "partner-key")]);
    gw.get("/flights", &[]);
    gw.get("/nowhere", &[]);
    gw.wait_metrics(&[
        "tollgate_ace_rate_limited_total{",
        "tollgate_http_requests_total{",
    ]);
}

#[test]
fn every_metric_queried_exists_on_a_gateway_that_served_traffic() {
    // A Kong upstream, so that per-target health series exist.
    let yaml = format!(
        "{}upstreams:\n  - name: pool.up\n    targets: [{{ target: \"{}\" }}]\n",
        snapshot(upstream("billing"), upstream("flights"), ""),
        upstream("pooled")
    );
    let gw = Gateway::start(&yaml);
    drive_traffic(&gw);
    let old = gw.status()["config_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    gw.rewrite_config(&format!("{yaml}\n# edited\n"));
    gw.wait_hash_change(&old);
    let metrics = gw.metrics();
    let lines = samples(&metrics);
    let exposed: BTreeSet<&str> = lines.iter().map(|l| sample_name(l)).collect();

    let mut queried = BTreeSet::new();
    for expr in dashboard_exprs().iter().chain(alert_exprs().iter()) {
        let found = selectors(expr);
        assert!(!found.is_empty(), "no metric found in {expr:?}");
        queried.extend(found);
    }
    let names: BTreeSet<&str> = queried.iter().map(|s| s.metric.as_str()).collect();
    assert!(names.len() >= 12, "only {names:?} queried");

    let mut missing = Vec::new();
    for sel in &queried {
        if SCRAPE_SERIES.contains(&sel.metric.as_str()) {
            continue;
        }
        if !exposed.contains(sel.metric.as_str()) {
            missing.push(format!("{} (no such metric)", sel.metric));
            continue;
        }
        // Labels Prometheus adds at scrape time, and dashboard variables, are not in /metrics.
        for (k, v) in &sel.labels {
            if k == "job" || k == "instance" || v.contains('$') {
                continue;
            }
            let want = format!("{k}=\"{v}\"");
            let present = lines
                .iter()
                .any(|l| sample_name(l) == sel.metric && l.contains(&want));
            if !present {
                missing.push(format!("{}{{{want}}}", sel.metric));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exposed: {missing:?}\n{metrics}"
    );
    promtool_checks(&metrics);
}

/// `promtool check metrics` on the gateway's exposition and `promtool check
/// rules` on the alerts. Skipped when promtool is not installed, unless
/// TOLLGATE_REQUIRE_PROMTOOL is set (CI installs it and sets it).
fn promtool_checks(metrics: &str) {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("TOLLGATE_REQUIRE_PROMTOOL").is_none(),
            "TOLLGATE_REQUIRE_PROMTOOL is set but promtool is not installed"
        );
        eprintln!("promtool not installed: its checks are skipped");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(Path::new(ALERTS))
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool check rules:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
