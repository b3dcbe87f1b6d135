//! TLS on the proxy listener: HTTP/2 and HTTP/1.1 by ALPN through the same
//! phases, certificates chosen by SNI, certificate files reloaded without
//! dropping open connections, and verification of `https` upstreams.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};
use support::tls::{block, curl, issue, served_cn, with_kong_certs, Issued, TlsConn};
use support::{free_port, upstream, Gateway};

/// Starts a gateway with a TLS listener serving `pairs` (in order).
fn tls_gateway(yaml: &str, pairs: &[(&Path, &Path)]) -> (Gateway, u16) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut args: Vec<String> = vec!["--tls-listen".into(), addr.clone()];
    for (c, k) in pairs {
        args.push("--tls-cert".into());
        args.push(c.display().to_string());
        args.push("--tls-key".into());
        args.push(k.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let gw = Gateway::start_with(yaml, &refs);
    assert!(support::wait_listening(&addr), "{}", gw.log());
    (gw, port)
}

#[test]
fn http2_over_tls_goes_through_ace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = issue("test CA", &[], true, None);
    let (ca_file, _) = ca.write(dir.path(), "ca");
    let leaf = issue("gw.test", &["gw.test"], false, Some(&ca));
    let (c, k) = leaf.write(dir.path(), "gw");
    let yaml = support::snapshot(upstream("billing"), upstream("flights"), "");
    let (gw, port) = tls_gateway(&yaml, &[(&c, &k)]);

    let h2 = ["--http2"];
    let (v, status, body) = curl(port, "gw.test", &ca_file, &h2, "/flights");
    assert_eq!((v.as_str(), status), ("2", 401), "{body}");
    let (v, status, _) = curl(
        port,
        "gw.test",
        &ca_file,
        &h2,
        "/flights?apikey=pending-key",
    );
    assert_eq!((v.as_str(), status), ("2", 403));
    let (v, status, body) = curl(port, "gw.test", &ca_file, &h2, "/flights?apikey=fb-key");
    assert_eq!((v.as_str(), status), ("2", 200), "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("upstream echo");
    assert_eq!(seen["headers"]["x-ace-operation-id"], "list-flights");
    assert_eq!(seen["headers"]["x-application-name"], "fb-app");

    // HTTP/1.1 over TLS, and the plain listener, serve the same.
    let (v, status, _) = curl(
        port,
        "gw.test",
        &ca_file,
        &["--http1.1"],
        "/flights?apikey=fb-key",
    );
    assert_eq!((v.as_str(), status), ("1.1", 200));
    let plain = gw.get("/flights", &[("apikey", "fb-key")]);
    assert_eq!(plain.status, 200);
    // The limits count both listeners: 5 per second for the package.
    let statuses: Vec<u16> = (0..12)
        .map(|_| curl(port, "gw.test", &ca_file, &h2, "/flights?apikey=fb-key").1)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[test]
fn certificate_is_chosen_by_sni() {
    let dir = tempfile::tempdir().expect("tempdir");
    let default = issue("default.test", &["default.test"], false, None);
    let exact = issue("a.example.com", &["a.example.com"], false, None);
    let wild = issue("wild.example.com", &["*.example.com"], false, None);
    let d = default.write(dir.path(), "default");
    let e = exact.write(dir.path(), "exact");
    let w = wild.write(dir.path(), "wild");
    let yaml = support::snapshot(upstream("billing"), upstream("flights"), "");
    // The wildcard before the exact one: an exact name still wins.
    let (_gw, port) = tls_gateway(&yaml, &[(&d.0, &d.1), (&w.0, &w.1), (&e.0, &e.1)]);

    assert_eq!(served_cn(port, Some("a.example.com")), "a.example.com");
    assert_eq!(served_cn(port, Some("A.Example.COM")), "a.example.com");
    assert_eq!(served_cn(port, Some("b.example.com")), "wild.example.com");
    assert_eq!(served_cn(port, Some("x.b.example.com")), "default.test");
    assert_eq!(served_cn(port, Some("example.com")), "default.test");
    assert_eq!(served_cn(port, Some("default.test")), "default.test");
    assert_eq!(served_cn(port, None), "default.test");
    // curl verifies the served certificate against the name it asked for.
    let (_, status, _) = curl(port, "b.example.com", &w.0, &["--http2"], "/flights");
    assert_eq!(status, 401);
}

fn replace(files: &(std::path::PathBuf, std::path::PathBuf), with: &Issued) {
    // Written beside and renamed, as cert-manager and editors do.
    let tmp = files.0.with_extension("new");
    std::fs::write(&tmp, with.cert_pem()).expect("write");
    let tmpk = files.1.with_extension("newkey");
    std::fs::write(&tmpk, with.key_pem()).expect("write");
    std::fs::rename(&tmpk, &files.1).expect("rename");
    std::fs::rename(&tmp, &files.0).expect("rename");
}

fn wait_cn(port: u16, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cn = TlsConn::open(port).cn();
        if cn == want || Instant::now() > deadline {
            return cn;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn certificate_files_reload_without_dropping_connections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = issue("first.test", &["gw.test"], false, None).write(dir.path(), "gw");
    let yaml = support::snapshot(upstream("billing"), upstream("flights"), "");
    let (gw, port) = tls_gateway(&yaml, &[(&files.0, &files.1)]);

    let mut kept = TlsConn::open(port);
    assert_eq!(kept.cn(), "first.test");
    assert_eq!(kept.get("/flights"), 200);

    replace(&files, &issue("second.test", &["gw.test"], false, None));
    assert_eq!(wait_cn(port, "second.test"), "second.test", "{}", gw.log());
    // The connection opened before the reload still serves.
    assert_eq!(kept.get("/flights"), 200);
    assert_eq!(kept.cn(), "first.test");

    // A key that does not match: refused, reported, the previous pair serves.
    let tmp = files.1.with_extension("bad");
    std::fs::write(&tmp, issue("x", &[], false, None).key_pem()).expect("write");
    std::fs::rename(&tmp, &files.1).expect("rename");
    gw.wait_metrics(&[
        "tollgate_tls_certificate_reloads_total{result=\"failure\",source=\"files\"} 1",
    ]);
    assert_eq!(TlsConn::open(port).cn(), "second.test");
    assert!(gw.log().contains("does not match"), "{}", gw.log());
    assert_eq!(kept.get("/flights"), 200);
}

#[test]
fn https_upstreams_are_verified_by_default() {
    let self_signed = issue("localhost", &["localhost"], false, None);
    let other_ca = issue("other CA", &[], true, None);
    let up = support::tls::https_upstream(&self_signed, "secure").port();
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: default
    url: https://localhost:{up}
    routes: [{{ name: default, paths: [/default] }}]
  - name: with-ca
    url: https://localhost:{up}
    ca_certificates: [upstream-ca]
    routes: [{{ name: with-ca, paths: [/with-ca] }}]
  - name: wrong-ca
    url: https://localhost:{up}
    ca_certificates: [other-ca]
    routes: [{{ name: wrong-ca, paths: [/wrong-ca] }}]
  - name: unverified
    url: https://localhost:{up}
    tls_verify: false
    routes: [{{ name: unverified, paths: [/unverified] }}]
ca_certificates:
  - id: upstream-ca
    cert: |
{ca}
  - id: other-ca
    cert: |
{other}
"#,
        ca = block(&self_signed.cert_pem(), 6),
        other = block(&other_ca.cert_pem(), 6),
    );
    let gw = Gateway::start(&yaml);
    // The verified and unverified connections go first: a pooled connection
    // must not be handed to a service that trusts other CAs.
    for _ in 0..2 {
        let with_ca = gw.get("/with-ca", &[]);
        assert_eq!((with_ca.status, with_ca.body.as_str()), (200, "secure"));
        let unverified = gw.get("/unverified", &[]);
        assert_eq!(
            (unverified.status, unverified.body.as_str()),
            (200, "secure")
        );
        let default = gw.get("/default", &[]);
        assert_eq!(default.status, 502, "{}", default.body);
        let wrong = gw.get("/wrong-ca", &[]);
        assert_eq!(wrong.status, 502, "{}", wrong.body);
    }
}

#[test]
fn snapshot_certificates_are_served_and_reloaded() {
    let base = support::snapshot(upstream("billing"), upstream("flights"), "");
    let kong1 = issue("kong-one", &["unused.test"], false, None);
    let wild = issue("kong-wild", &["unused.test"], false, None);
    let yaml = with_kong_certs(
        &base,
        &[
            ("c1", &kong1, &["kong.test"]),
            ("c2", &wild, &["*.wild.test"]),
        ],
        &[("other.test", "c1")],
    );
    // No certificate files: the snapshot's first certificate is the default.
    let (gw, port) = tls_gateway(&yaml, &[]);
    assert_eq!(served_cn(port, Some("kong.test")), "kong-one");
    assert_eq!(served_cn(port, Some("other.test")), "kong-one");
    assert_eq!(served_cn(port, Some("a.wild.test")), "kong-wild");
    assert_eq!(served_cn(port, Some("nowhere.test")), "kong-one");

    let mut kept = TlsConn::open(port);
    assert_eq!(kept.get("/flights"), 200);
    let hash = gw.status()["config_hash"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let kong2 = issue("kong-two", &["unused.test"], false, None);
    gw.rewrite_config(&with_kong_certs(
        &base,
        &[("c1", &kong2, &["kong.test"])],
        &[],
    ));
    let hash = gw.wait_hash_change(&hash);
    assert_eq!(served_cn(port, Some("kong.test")), "kong-two");
    assert_eq!(
        served_cn(port, Some("a.wild.test")),
        "kong-two",
        "c2 is gone"
    );
    assert_eq!(kept.get("/flights"), 200);

    // A key that is not the certificate's: the snapshot is refused, located.
    let mut bad = with_kong_certs(&base, &[("c1", &kong1, &["kong.test"])], &[]);
    bad = bad.replace(&block(&kong1.key_pem(), 6), &block(&kong2.key_pem(), 6));
    gw.rewrite_config(&bad);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let s = gw.status();
        if s["last_reload"]["result"] == "failure" || Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let errors = status["last_reload"]["errors"].to_string();
    assert!(
        errors.contains("certificates[0]") && errors.contains("does not match"),
        "{status}"
    );
    assert_eq!(status["config_hash"], hash.as_str());
    assert_eq!(served_cn(port, Some("kong.test")), "kong-two");
}

#[test]
fn validate_locates_certificate_errors() {
    let base = support::snapshot(upstream("billing"), upstream("flights"), "");
    let a = issue("a", &["a.test"], false, None);
    let b = issue("b", &["b.test"], false, None);
    let mut yaml = with_kong_certs(
        &base,
        &[("c1", &a, &["a.test"]), ("c2", &b, &["a.test"])],
        &[("x.test", "missing")],
    );
    yaml = yaml.replace(&block(&b.key_pem(), 6), "      not a key\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("snap.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let (code, text) = support::validate_file(&file);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("certificates[1]: key: not a valid PEM private key"),
        "{text}"
    );
    assert!(
        text.contains(
            "certificates[1].snis[0] (a.test): \"a.test\" is already served by certificates[0]"
        ),
        "{text}"
    );
    assert!(
        text.contains("snis[0] (x.test).certificate: certificate \"missing\" does not exist"),
        "{text}"
    );
}

#[test]
fn route_hosts_and_preserve_host_over_http2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = issue("gw.test", &["gw.test", "other.test"], false, None);
    let (c, k) = cert.write(dir.path(), "gw");
    let (a, b) = (upstream("a"), upstream("b"));
    let yaml = format!(
        r#"_format_version: "3.0"
services:
  - name: a
    url: http://{a}
    routes: [{{ name: a, paths: [/h], hosts: [gw.test], preserve_host: true }}]
  - name: b
    url: http://{b}
    routes: [{{ name: b, paths: [/h], hosts: [other.test] }}]
"#
    );
    let (_gw, port) = tls_gateway(&yaml, &[(&c, &k)]);
    let (v, status, body) = curl(port, "gw.test", &c, &["--http2"], "/h");
    assert_eq!((v.as_str(), status), ("2", 200), "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(seen["headers"]["host"], format!("gw.test:{port}"), "{seen}");
    let (v, status, body) = curl(port, "other.test", &c, &["--http2"], "/h");
    assert_eq!((v.as_str(), status), ("2", 200), "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("echo");
    assert_eq!(seen["headers"]["host"], b.to_string(), "{seen}");

    // --max-header-bytes (32 KiB by default) bounds HTTP/2 heads too.
    let header = |n: usize| format!("x-big: {}", "a".repeat(n));
    let (v, status, _) = curl(
        port,
        "gw.test",
        &c,
        &["--http2", "-H", &header(40_000)],
        "/h",
    );
    assert_eq!((v.as_str(), status), ("2", 431));
    let (v, status, _) = curl(
        port,
        "gw.test",
        &c,
        &["--http2", "-H", &header(20_000)],
        "/h",
    );
    assert_eq!((v.as_str(), status), ("2", 200));
}

#[test]
fn bad_tls_flags_and_files_are_start_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (c, k) = issue("gw.test", &["gw.test"], false, None).write(dir.path(), "gw");
    let (_, other_key) = issue("x", &[], false, None).write(dir.path(), "other");
    let run = |args: &[&str]| {
        let admin = format!("127.0.0.1:{}", free_port());
        let listen = format!("127.0.0.1:{}", free_port());
        let out = std::process::Command::new(support::BIN)
            .args(["run", "--listen", &listen, "--admin-listen", &admin])
            .args(args)
            .output()
            .expect("run tollgate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (c, k, other_key) = (
        c.display().to_string(),
        k.display().to_string(),
        other_key.display().to_string(),
    );
    let tls = format!("127.0.0.1:{}", free_port());
    let (ok, err) = run(&["--tls-cert", &c, "--tls-key", &k]);
    assert!(!ok && err.contains("need --tls-listen"), "{err}");
    let (ok, err) = run(&["--tls-listen", &tls, "--tls-cert", &c]);
    assert!(!ok && err.contains("come in pairs"), "{err}");
    let (ok, err) = run(&[
        "--tls-listen",
        &tls,
        "--tls-cert",
        &c,
        "--tls-key",
        &other_key,
    ]);
    assert!(!ok && err.contains("does not match"), "{err}");
    let missing = dir.path().join("missing.crt").display().to_string();
    let (ok, err) = run(&[
        "--tls-listen",
        &tls,
        "--tls-cert",
        &missing,
        "--tls-key",
        &k,
    ]);
    assert!(
        !ok && err.contains("cannot read") && err.contains("missing.crt"),
        "{err}"
    );
}
