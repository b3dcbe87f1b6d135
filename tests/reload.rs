//! Contract §5 and §6: hot reload from the watched file and from the admin
//! API, limiter state across reloads, atomic swaps under load, admin auth.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::{request, snapshot, upstream, Gateway};

fn base() -> String {
    snapshot(upstream("billing"), upstream("flights"), "")
}

fn hash(gw: &Gateway) -> String {
    gw.status()["config_hash"]
        .as_str()
        .expect("hash")
        .to_string()
}

#[test]
fn file_edits_apply_and_invalid_edits_are_rejected() {
    let yaml = base();
    let gw = Gateway::start(&yaml);
    let h0 = hash(&gw);
    assert_eq!(gw.status()["counts"]["applications"], 5);

    // Remove an application: applied without restart.
    let edited = yaml.replace("  - name: pending-app\n", "  - name: pending-app-renamed\n");
    gw.rewrite_config(&edited);
    let h1 = gw.wait_hash_change(&h0);
    assert_ne!(h0, h1);

    // An invalid edit is logged and rejected; the previous snapshot keeps serving.
    gw.rewrite_config(&edited.replace("api_package: partners }", "api_package: nope }"));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(hash(&gw), h1);
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);
    let log = gw.log();
    assert!(
        log.contains("invalid") && log.contains("\"nope\" does not exist"),
        "{log}"
    );
    gw.wait_metrics(&[r#"tollgate_config_reloads_total{result="failure"} 1"#]);
}

#[test]
fn limiter_state_survives_an_unchanged_limit_and_is_rebased_when_it_changes() {
    let yaml = base();
    let gw = Gateway::start(&yaml);
    let billing = |gw: &Gateway| gw.get("/billing", &[("apikey", "fb-key")]);
    assert_eq!(billing(&gw).header("ratelimit-remaining"), Some("2"));
    assert_eq!(billing(&gw).header("ratelimit-remaining"), Some("1"));

    // Unrelated change: the 3/min operation limit keeps its state.
    let h0 = hash(&gw);
    let unrelated = yaml.replace(
        "  - username: mapped\n",
        "  - username: mapped\n  - username: extra\n",
    );
    gw.rewrite_config(&unrelated);
    gw.wait_hash_change(&h0);
    assert_eq!(billing(&gw).header("ratelimit-remaining"), Some("0"));
    assert_eq!(billing(&gw).status, 429);

    // Raised to 10/min: the 3 already used still count, so 6 remain after one more.
    let h1 = hash(&gw);
    let raised = unrelated.replace(
        "rate_limiting_config: { limit: 3, duration: minutes }",
        "rate_limiting_config: { limit: 10, duration: minutes }",
    );
    gw.rewrite_config(&raised);
    gw.wait_hash_change(&h1);
    let r = billing(&gw);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-limit"), Some("10"));
    assert_eq!(r.header("ratelimit-remaining"), Some("6"));

    // Lowered to 2/min: remaining never exceeds the new limit.
    let h2 = hash(&gw);
    gw.rewrite_config(&raised.replace(
        "rate_limiting_config: { limit: 10, duration: minutes }",
        "rate_limiting_config: { limit: 2, duration: minutes }",
    ));
    gw.wait_hash_change(&h2);
    let r = billing(&gw);
    assert_eq!(r.status, 429);
    assert_eq!(r.header("ratelimit-limit"), Some("2"));
}

#[test]
fn removed_credential_or_registration_is_refused_from_the_next_request() {
    let yaml = base();
    let gw = Gateway::start(&yaml);
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);
    assert_eq!(
        gw.get("/flights/1", &[("apikey", "partner-key")]).status,
        200
    );
    let h0 = hash(&gw);
    let edited = yaml
        .replace("credentials: [{ key: fb-key }]", "credentials: []")
        .replace(
            "registrations: [{ api_package: partners }, { api_package: flight-billing }]",
            "registrations: [{ api_package: partners }]",
        );
    gw.rewrite_config(&edited);
    gw.wait_hash_change(&h0);
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 401);
    assert_eq!(
        gw.get("/flights/1", &[("apikey", "partner-key")]).status,
        403
    );
    assert_eq!(gw.get("/flights", &[("apikey", "partner-key")]).status, 200);
}

/// JSON pushes that leave the applications section as it was keep the running
/// credentials instead of reading a million of them again; every other change
/// still applies, and a change the section depends on reads it again.
#[test]
fn json_pushes_keeping_the_applications_still_apply_every_other_change() {
    let gw = Gateway::start_empty(&[]);
    let push = |yaml: &str| {
        let v: serde_json::Value = serde_yaml::from_str(yaml).expect("yaml");
        let body = serde_json::to_vec(&v).expect("json");
        let r = request("POST", &gw.admin_url("/config"), &[], Some(&body)).expect("push");
        assert_eq!(r.status, 200, "{}", r.body);
    };
    let yaml = base();
    push(&yaml);
    let get = |path: &str, key: &str| gw.get(path, &[("apikey", key)]);
    assert_eq!(
        get("/billing", "fb-key").header("ratelimit-limit"),
        Some("3")
    );

    // Only an operation limit changes: the applications section is the same.
    let raised = yaml.replace(
        "limit: 3, duration: minutes",
        "limit: 10, duration: minutes",
    );
    push(&raised);
    let r = get("/billing", "fb-key");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("ratelimit-limit"), Some("10"));
    assert_eq!(get("/flights/1", "partner-key").status, 200);

    // A package inserted first moves every grant's package position: the
    // same section text must be resolved again.
    let moved = raised.replace(
        "api_packages:\n",
        "api_packages:\n  - name: first\n    operations:\n      - { api: billing, method: POST, path: /billing }\n",
    );
    push(&moved);
    assert_eq!(get("/flights", "fb-key").status, 200);
    assert_eq!(get("/flights", "windows-key").status, 403);
    assert_eq!(get("/flights", "partner-key").status, 200);

    // The section itself changes.
    push(&moved.replace("credentials: [{ key: fb-key }]", "credentials: []"));
    assert_eq!(get("/flights", "fb-key").status, 401);
    assert_eq!(get("/flights", "partner-key").status, 200);
}

#[test]
fn admin_push_applies_valid_snapshots_and_reports_every_error_of_invalid_ones() {
    let gw = Gateway::start_empty(&[]);
    assert_eq!(
        gw.get("/flights", &[]).status,
        404,
        "empty snapshot: every request 404"
    );
    assert_eq!(gw.status()["config_version"], serde_json::Value::Null);

    let yaml = base();
    let r = request("POST", &gw.admin_url("/config"), &[], Some(yaml.as_bytes())).expect("push");
    assert_eq!(r.status, 200, "{}", r.body);
    let pushed_hash = r.json()["config_hash"].as_str().expect("hash").to_string();
    assert_eq!(hash(&gw), pushed_hash);
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 200);

    let bad = yaml
        .replace("api_package: partners }", "api_package: nope }")
        .replace(
            "{ limit: 5, duration: seconds }",
            "{ limit: -1, duration: seconds }",
        );
    let r = request("POST", &gw.admin_url("/config"), &[], Some(bad.as_bytes())).expect("push");
    assert_eq!(r.status, 400);
    let v = r.json();
    assert!(v["message"].is_string());
    let paths: Vec<&str> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["path"].as_str().expect("path"))
        .collect();
    assert!(
        paths.contains(&"api_packages[0].rate_limiting_config.limit"),
        "{paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("applications[1].registrations[0]")),
        "{paths:?}"
    );
    assert_eq!(
        hash(&gw),
        pushed_hash,
        "a rejected snapshot changes nothing"
    );

    let r = request("POST", &gw.admin_url("/config"), &[], Some(b"{not yaml: [")).expect("push");
    assert_eq!(r.status, 400);
    let r = request(
        "POST",
        &gw.admin_url("/config"),
        &[],
        Some(b"{\"_format_version\":\"3.0\"}"),
    )
    .expect("json");
    assert_eq!(r.status, 200, "JSON snapshots are accepted: {}", r.body);
    assert_eq!(gw.get("/flights", &[("apikey", "fb-key")]).status, 404);
}

#[test]
fn admin_token_guards_config_push_only() {
    let gw = Gateway::start_empty(&["--admin-token", "s3cret"]);
    let body = b"_format_version: \"3.0\"\n".as_slice();
    let url = gw.admin_url("/config");
    assert_eq!(
        request("POST", &url, &[], Some(body)).expect("push").status,
        401
    );
    let wrong = [("Authorization", "Bearer nope")];
    assert_eq!(
        request("POST", &url, &wrong, Some(body))
            .expect("push")
            .status,
        401
    );
    let right = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        request("POST", &url, &right, Some(body))
            .expect("push")
            .status,
        200
    );
    assert_eq!(
        support::get(&gw.admin_url("/health"), &[])
            .expect("health")
            .status,
        200
    );
    assert_eq!(
        support::get(&gw.admin_url("/nope"), &[])
            .expect("404")
            .status,
        404
    );
}

/// Two snapshots whose answers differ in two headers that must always agree:
/// a request that saw a mix of both would show a mismatched pair.
#[test]
fn swaps_under_load_are_atomic_and_drop_no_request() {
    let yaml = base();
    let a = yaml.clone();
    let b = yaml
        .replace("operationId: list-flights", "operationId: list-flights-b")
        .replace("- name: partners\n", "- name: partners-b\n")
        .replace("api_package: partners }", "api_package: partners-b }")
        .replace(
            "api_package: partners, status",
            "api_package: partners-b, status",
        );
    let gw = Arc::new(Gateway::start(&a));
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (gw, stop, served) = (gw.clone(), stop.clone(), served.clone());
        workers.push(std::thread::spawn(move || {
            let mut bad = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = match support::get(&gw.url("/flights"), &[("apikey", "partner-key")]) {
                    Ok(r) => r,
                    Err(e) => {
                        bad.push(format!("transport error: {e}"));
                        continue;
                    }
                };
                if r.status != 200 {
                    bad.push(format!("status {}: {}", r.status, r.body));
                    continue;
                }
                let h = r.upstream_headers();
                let pair = (
                    h["x-ace-operation-id"].as_str(),
                    h["x-ace-package"].as_str(),
                );
                if pair != (Some("list-flights"), Some("partners"))
                    && pair != (Some("list-flights-b"), Some("partners-b"))
                {
                    bad.push(format!("mixed snapshots: {pair:?}"));
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            bad
        }));
    }
    for i in 0..20 {
        let body = if i % 2 == 0 { &b } else { &a };
        let r =
            request("POST", &gw.admin_url("/config"), &[], Some(body.as_bytes())).expect("push");
        assert_eq!(r.status, 200, "{}", r.body);
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let bad: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert!(
        served.load(Ordering::Relaxed) > 50,
        "load ran: {}",
        served.load(Ordering::Relaxed)
    );
}
