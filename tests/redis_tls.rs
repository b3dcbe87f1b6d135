//! ACE counters in a real `redis-server` that only speaks TLS, with a CA and
//! server certificate made for the test by the `openssl` CLI: `ssl`,
//! `ssl_verify` and `server_name` decide whether the data planes share the
//! counters (exact across nodes) or, when the server cannot be trusted,
//! count locally without failing a request. Also: Sentinel/Cluster fields
//! refused, and `keepalive_pool_size` respected under concurrent load.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{free_port, upstream, Gateway};

/// A `redis-server` with only a TLS port, killed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl CLI must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for `redis.test` and 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tollgate test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=redis.test",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:redis.test,IP:127.0.0.1\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

fn start_tls_redis(dir: &Path) -> TlsRedis {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed, built with TLS");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server (TLS) did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    TlsRedis { child, port }
}

fn snapshot(up: SocketAddr, port: u16, redis_extra: &str) -> String {
    format!(
        r#"_format_version: "3.0"
services:
  - {{ name: s, url: "http://{up}", routes: [{{ name: r, paths: [/items], strip_path: false }}] }}
plugins:
  - name: ace
    config:
      match_policy: required
      rate_limiting:
        sync_rate: 0
        redis: {{ host: 127.0.0.1, port: {port}, connect_timeout: 500, read_timeout: 500, send_timeout: 500, ssl: true{redis_extra} }}
apis:
  - name: items
    operations: [{{ method: GET, path: /items, id: list-items }}]
auth_strategies: [{{ name: keys, type: key_auth, key_names: [apikey] }}]
api_packages:
  - name: pkg
    rate_limiting_config: {{ limit: 4, duration: minutes }}
    operations: [{{ api: items, method: GET, path: /items }}]
applications:
  - {{ name: app, auth_strategy: keys, credentials: [{{ key: k1 }}], registrations: [{{ api_package: pkg }}] }}
"#
    )
}

/// Requests spread over the planes; the number admitted.
fn admitted(planes: &[Gateway], n: usize) -> usize {
    (0..n)
        .filter(|i| {
            planes[i % planes.len()]
                .get("/items", &[("apikey", "k1")])
                .status
                == 200
        })
        .count()
}

#[test]
fn counters_are_shared_over_tls_only_with_a_trusted_server() {
    let dir = tempfile::tempdir().expect("tmp");
    make_certs(dir.path());
    let redis = start_tls_redis(dir.path());
    // The gateways trust the test CA through OpenSSL's standard variable.
    std::env::set_var("SSL_CERT_FILE", dir.path().join("ca.pem"));
    let up = upstream("items");
    // (redis fields, whether the planes share counters through Redis)
    let cases: &[(&str, bool)] = &[
        // Verified against the test CA, by the IP address dialled.
        ("", true),
        // Verified under another name than the address dialled.
        (", server_name: redis.test", true),
        // A name the certificate does not carry: refused, counted locally.
        (", server_name: other.test", false),
        // Not verified at all.
        (", ssl_verify: false, server_name: other.test", true),
    ];
    for (i, (extra, shared)) in cases.iter().enumerate() {
        // A fresh database per case, so counters do not carry over.
        let yaml = snapshot(up, redis.port, &format!("{extra}, database: {i}"));
        let planes: Vec<Gateway> = (0..2).map(|_| Gateway::start(&yaml)).collect();
        let got = admitted(&planes, 10);
        let want = if *shared { 4 } else { 8 };
        assert_eq!(got, want, "case {extra:?}");
        let errors = planes[0]
            .metrics()
            .lines()
            .find(|l| l.starts_with("tollgate_redis_errors_total "))
            .map(|l| l.to_string())
            .unwrap_or_default();
        assert_eq!(
            errors == "tollgate_redis_errors_total 0",
            *shared,
            "case {extra:?}: {errors}"
        );
    }
}

#[test]
fn redis_fields_kong_writes_are_checked() {
    let up = upstream("items");
    let dir = tempfile::tempdir().expect("tmp");
    let cases = [
        // Sentinel needs its nodes too (Sentinel and Cluster themselves are
        // tested against real servers in cluster_redis_ha.rs).
        (", sentinel_master: mymaster", "sentinel_nodes"),
        (
            ", cloud_authentication: { auth_provider: aws }",
            "cloud_authentication",
        ),
        (
            ", sentinel_nodes: null, cluster_nodes: null, cluster_max_redirections: 5",
            "",
        ),
        (", keepalive_pool_size: 0", "keepalive_pool_size"),
        (", sentinal_master: typo", "sentinal_master"),
    ];
    for (extra, field) in cases {
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, snapshot(up, 6379, extra)).expect("write");
        let out = Command::new(support::BIN)
            .args(["validate", &file.display().to_string()])
            .output()
            .expect("validate");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if field.is_empty() {
            assert!(out.status.success(), "{extra}: {text}");
            continue;
        }
        assert!(!out.status.success(), "{extra}: {text}");
        assert!(
            text.contains(&format!(
                "plugins[0] (ace).config.rate_limiting.redis.{field}"
            )),
            "{extra}: {text}"
        );
        if field == "cloud_authentication" {
            assert!(text.contains("not supported yet"), "{extra}: {text}");
        }
    }
}

#[test]
fn one_pipelined_connection_stays_within_keepalive_pool_size() {
    let redis = support::procs::Redis::start(free_port(), None);
    let up = upstream("items");
    let yaml = snapshot(up, redis.port, ", keepalive_pool_size: 1").replace(", ssl: true", "");
    let gw = Gateway::start(&yaml);
    let url = gw.url("/items");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..5)
                        .map(|_| {
                            support::get(&url, &[("apikey", "k1")])
                                .map(|r| r.status)
                                .unwrap_or(0)
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    // Every decision went through Redis: exactly the limit was admitted.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string(), "client", "list"])
        .output()
        .expect("redis-cli");
    let list = String::from_utf8_lossy(&out.stdout);
    let gateway_clients = list.lines().filter(|l| !l.contains("cmd=client")).count();
    assert_eq!(gateway_clients, 1, "{list}");
}
