//! The harness of `tests/traces.rs`: an OTLP/HTTP receiver that decodes what
//! it is sent, and a gateway process started with its own environment.

use super::support::recorder::read_message;
use super::support::{self, free_port, get, wait_healthy, wait_listening, Resp, BIN};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An OTLP/HTTP receiver: keeps every export request it is sent.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    got: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    pub paths: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let r = Receiver {
            addr: listener.local_addr().expect("addr"),
            got: Arc::default(),
            paths: Arc::default(),
        };
        let rc = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let rc = rc.clone();
                std::thread::spawn(move || rc.serve(conn));
            }
        });
        r
    }

    fn serve(&self, mut s: TcpStream) {
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let mut buf = Vec::new();
        while let Some((head, body)) = read_message(&mut s, &mut buf) {
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            self.paths.lock().unwrap().push(path);
            let req = ExportTraceServiceRequest::decode(&body[..]).expect("protobuf body");
            self.got.lock().unwrap().push(req);
            let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
            if s.write_all(ok).is_err() {
                return;
            }
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        let got = self.got.lock().unwrap();
        got.iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    /// Waits until the spans of `trace` (hex) include `n`.
    pub fn wait_trace(&self, trace: &str, n: usize) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let spans: Vec<Span> = self
                .spans()
                .into_iter()
                .filter(|s| hex::encode(&s.trace_id) == trace)
                .collect();
            if spans.len() >= n || Instant::now() > deadline {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn resource_attr(&self, key: &str) -> Option<String> {
        let got = self.got.lock().unwrap();
        got.iter()
            .flat_map(|r| &r.resource_spans)
            .filter_map(|rs| rs.resource.as_ref())
            .find_map(|res| string_attr(&res.attributes, key))
    }
}

pub fn string_attr(
    attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

pub fn attr(span: &Span, key: &str) -> Option<String> {
    string_attr(&span.attributes, key)
}

/// A gateway process with its own environment (batching delay of the exporter).
pub struct Gw {
    pub child: Child,
    proxy: String,
    dir: tempfile::TempDir,
}

impl Gw {
    pub fn start(yaml: &str, extra: &[&str], env: &[(&str, &str)]) -> Gw {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("snapshot.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let log = dir.path().join("gateway.log");
        for _attempt in 0..3 {
            let proxy = format!("127.0.0.1:{}", free_port());
            let admin = format!("127.0.0.1:{}", free_port());
            let mut child = Command::new(BIN)
                .arg("run")
                .args(["--listen", &proxy, "--admin-listen", &admin])
                .args(["--threads", "2", "--shutdown-grace", "5"])
                .arg("--config")
                .arg(&config)
                .args(extra)
                .envs(env.iter().copied())
                .env("TOLLGATE_LOG", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).expect("log"))
                .spawn()
                .expect("spawn tollgate");
            if wait_healthy(&mut child, &admin) && wait_listening(&proxy) {
                return Gw { child, proxy, dir };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "gateway did not start:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        get(&format!("http://{}{path}", self.proxy), headers).expect("request")
    }

    /// `GET /flights` as `partner-key`, carrying the caller's `traceparent`
    /// and a `tracestate`.
    pub fn get_traced(&self, traceparent: &str) -> Resp {
        self.get(
            "/flights",
            &[
                ("apikey", "partner-key"),
                ("traceparent", traceparent),
                ("tracestate", "vendor=opaque"),
            ],
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The quickstart snapshot with a second plugin in every chain.
pub fn snapshot() -> String {
    let billing = support::upstream("billing");
    let flights = support::upstream("flights");
    support::snapshot(billing, flights, "").replace(
        "plugins:\n  - name: ace\n",
        "plugins:\n  - name: rate-limiting\n    config: { minute: 1000 }\n  - name: ace\n",
    )
}

pub fn traced(receiver: &Receiver, extra_env: &[(&str, &str)]) -> Gw {
    let endpoint = format!("http://{}", receiver.addr);
    let mut env = vec![("OTEL_BSP_SCHEDULE_DELAY", "100")];
    env.extend_from_slice(extra_env);
    Gw::start(&snapshot(), &["--otlp-endpoint", &endpoint], &env)
}

/// The `traceparent` the upstream received, split in its four fields.
pub fn upstream_traceparent(r: &Resp) -> Vec<String> {
    let tp = r.upstream_headers()["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent upstream: {}", r.body))
        .to_string();
    tp.split('-').map(str::to_string).collect()
}

pub fn by_name<'s>(spans: &'s [Span], name: &str) -> &'s Span {
    spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
        let names: Vec<_> = spans.iter().map(|s| &s.name).collect();
        panic!("no span {name:?} among {names:?}")
    })
}
