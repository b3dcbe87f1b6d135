//! `tollgate explain` (CLI and `POST /explain`) against the live gateway's
//! answers, and ACE shadow mode, through real processes and real upstreams.

mod support;

use serde_json::Value;
use std::process::Command;
use support::{request, snapshot, upstream, Gateway, BIN};

/// Method, path, headers, and what the test expects.
type Case<'a, T> = (&'a str, &'a str, &'a [(&'a str, &'a str)], T);

fn gateway(ace: &str, extra: &[&str]) -> Gateway {
    Gateway::start_with(
        &snapshot(upstream("billing"), upstream("flights"), ace),
        extra,
    )
}

/// `tollgate explain --json` against the gateway's own snapshot file.
fn explain_cli(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.args(["explain", "--json", "--config"])
        .arg(&gw.config)
        .args([method, &gw.url(path)]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    let out = cmd.output().expect("run explain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("explain prints JSON")
}

fn explain_admin(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> Value {
    let body = serde_json::json!({
        "method": method,
        "url": gw.url(path),
        "headers": headers.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
    });
    let r = request(
        "POST",
        &gw.admin_url("/explain"),
        &[],
        Some(body.to_string().as_bytes()),
    )
    .expect("POST /explain");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// The status explain predicts: its own reply, or the demo upstream's 200.
fn predicted(e: &Value) -> u64 {
    match e["result"].as_str() {
        Some("proxy") => 200,
        _ => e["status"].as_u64().expect("status"),
    }
}

#[test]
fn explain_cli_predicts_what_the_gateway_answers() {
    let gw = gateway("match_policy: required", &[]);
    let cases: &[Case<u16>] = &[
        ("GET", "/nowhere", &[], 404),
        ("GET", "/flights/a/b", &[("apikey", "fb-key")], 404),
        ("GET", "/flights", &[], 401),
        ("GET", "/flights", &[("apikey", "bogus")], 401),
        ("GET", "/flights", &[("apikey", "pending-key")], 403),
        ("GET", "/billing", &[("apikey", "hashed-key")], 403),
        ("GET", "/flights/7", &[("apikey", "fb-key")], 200),
        ("GET", "/billing/", &[("x-api-key", "partner-key")], 200),
        (
            "GET",
            "/flights/%2e%2e/billing",
            &[("apikey", "fb-key")],
            200,
        ),
    ];
    for (method, path, headers, want) in cases {
        let e = explain_cli(&gw, method, path, headers);
        let live = request(method, &gw.url(path), headers, None).expect("request");
        assert_eq!(live.status, *want, "{method} {path}: {}", live.body);
        assert_eq!(
            predicted(&e),
            u64::from(live.status),
            "{method} {path}: {e:#}"
        );
        if live.status != 200 {
            assert_eq!(
                e["body"].as_str(),
                Some(live.body.as_str()),
                "{method} {path}"
            );
        }
    }
}

#[test]
fn explain_names_route_chain_operation_application_and_registrations() {
    let gw = gateway("match_policy: required", &[]);
    let e = explain_cli(&gw, "GET", "/billing", &[("apikey", "partner-key")]);
    assert_eq!(e["route"]["name"], "billing");
    assert_eq!(e["plugins"][0]["name"], "ace");
    assert_eq!(e["ace"]["operations"][0]["id"], "list-invoices");
    assert_eq!(e["ace"]["credential"]["application"], "partner-app");
    assert!(
        e.to_string().find("partner-key").is_none(),
        "key leaked: {e}"
    );
    let regs = e["ace"]["registrations"].as_array().expect("registrations");
    assert_eq!(regs[0]["name"], "partners");
    assert_eq!(regs[0]["grants"], Value::Null);
    assert_eq!(regs[1]["name"], "flight-billing");
    assert_eq!(regs[1]["charged"], true);
    let limit = &e["limits"][0];
    assert_eq!(limit["scope"], "operation");
    assert_eq!(limit["windows"][0]["unit"], "minute");
    assert_eq!(limit["windows"][0]["limit"], 3);
    assert_eq!(limit["windows"][0]["remaining_after"], 2);
    // A pending registration is listed, and says why it does not count.
    let e = explain_cli(&gw, "GET", "/flights", &[("apikey", "pending-key")]);
    assert_eq!(e["ace"]["registrations"][0]["status"], "pending");
    assert_eq!(e["decision"], "forbidden");
    // The text form carries the same facts.
    let out = Command::new(BIN)
        .args(["explain", "--config"])
        .arg(&gw.config)
        .args(["GET", &gw.url("/billing"), "-H", "apikey: partner-key"])
        .output()
        .expect("explain");
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "route          billing",
        "list-invoices",
        "partner-app",
        "3 per minute",
    ] {
        assert!(text.contains(want), "{want:?} missing:\n{text}");
    }
}

#[test]
fn admin_explain_sees_live_limits_and_charges_nothing() {
    let gw = gateway("", &["--admin-token", "s3cret"]);
    let auth = [("Authorization", "Bearer s3cret")];
    let body = format!(
        r#"{{"method":"POST","url":"{}","headers":{{"apikey":"windows-key"}}}}"#,
        gw.url("/billing")
    );
    let unauth = request(
        "POST",
        &gw.admin_url("/explain"),
        &[],
        Some(body.as_bytes()),
    )
    .expect("explain");
    assert_eq!(unauth.status, 401);
    let explain = || {
        let r = request(
            "POST",
            &gw.admin_url("/explain"),
            &auth,
            Some(body.as_bytes()),
        )
        .expect("explain");
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    // Explaining twice charges nothing: the same 3 of 4 remain after.
    for _ in 0..2 {
        let e = explain();
        let minute = e["limits"][0]["windows"]
            .as_array()
            .and_then(|w| w.iter().find(|w| w["unit"] == "minute").cloned())
            .expect("minute window");
        assert_eq!(minute["remaining_after"], 3, "{e:#}");
    }
    for _ in 0..4 {
        let r = request(
            "POST",
            &gw.url("/billing"),
            &[("apikey", "windows-key")],
            None,
        )
        .expect("post");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let e = explain();
    assert_eq!(e["status"], 429, "{e:#}");
    assert_eq!(e["limits"][0]["allowed"], false);
    let live = request(
        "POST",
        &gw.url("/billing"),
        &[("apikey", "windows-key")],
        None,
    )
    .expect("post");
    assert_eq!(live.status, 429);
    assert_eq!(e["body"].as_str(), Some(live.body.as_str()));
}

#[test]
fn shadow_mode_lets_refusals_through_and_counts_them() {
    let gw = gateway(
        "match_policy: required, mode: shadow, shadow_header: true",
        &[],
    );
    let cases: &[Case<&str>] = &[
        ("GET", "/flights/a/b", &[], "no_match"),
        ("GET", "/flights", &[], "unauthorized"),
        ("GET", "/flights", &[("apikey", "pending-key")], "forbidden"),
    ];
    for (method, path, headers, decision) in cases {
        let r = request(method, &gw.url(path), headers, None).expect("request");
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.header("x-ace-shadow-decision"), Some(*decision));
        let e = explain_admin(&gw, method, path, headers);
        assert_eq!(e["decision"], *decision);
        assert_eq!(e["mode"], "shadow");
        assert_eq!(e["result"], "proxy");
    }
    // Keys are still hidden from the upstream in shadow mode.
    let r = gw.get("/flights", &[("apikey", "pending-key")]);
    assert!(r.upstream_headers().get("apikey").is_none(), "{}", r.body);
    // Limits are counted but never reject, and the client sees no limit headers.
    for i in 0..6 {
        let r = request(
            "POST",
            &gw.url("/billing"),
            &[("apikey", "windows-key")],
            None,
        )
        .expect("post");
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        assert!(r.header("ratelimit-limit").is_none());
        let want = if i < 4 { None } else { Some("rate_limited") };
        assert_eq!(r.header("x-ace-shadow-decision"), want, "request {i}");
        if i < 4 {
            assert_eq!(r.upstream_headers()["x-application-name"], "windows-app");
        }
    }
    let m = gw.wait_metrics(&[
        r#"tollgate_ace_decisions_total{decision="unauthorized",mode="shadow"} 1"#,
        r#"tollgate_ace_decisions_total{decision="forbidden",mode="shadow"} 2"#,
        r#"tollgate_ace_decisions_total{decision="rate_limited",mode="shadow"} 2"#,
        r#"tollgate_ace_decisions_total{decision="allow",mode="shadow"} 4"#,
        r#"tollgate_ace_decisions_total{decision="forbidden",mode="enforce"} 0"#,
        r#"tollgate_ace_shadow_refusals_total{decision="no_match",route="flights"} 1"#,
        r#"tollgate_ace_shadow_refusals_total{decision="rate_limited",route="billing"} 2"#,
    ]);
    // Nothing was rejected, so nothing counts as rate limited.
    assert!(!m.contains("tollgate_ace_rate_limited_total{"), "{m}");
}

#[test]
fn shadow_header_is_off_by_default() {
    let gw = gateway("match_policy: required, mode: shadow", &[]);
    let r = gw.get("/flights", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("x-ace-shadow-decision").is_none());
    // The same snapshot in enforce mode refuses it.
    let gw = gateway("match_policy: required", &[]);
    assert_eq!(gw.get("/flights", &[]).status, 401);
}
