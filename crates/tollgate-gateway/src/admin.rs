//! The admin API (contract §6): health, status, metrics, config push and
//! explain.

use crate::state::Gateway;
use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};
use std::sync::Arc;
use tollgate_config::ConfigErrors;

/// Largest snapshot body accepted by `POST /config`.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024 * 1024;
/// Largest request description accepted by `POST /explain`.
const MAX_EXPLAIN_BYTES: usize = 64 * 1024;

pub struct AdminApp {
    pub gw: Arc<Gateway>,
    pub feed: Option<Arc<crate::feed::FeedStatus>>,
    /// Accept `POST /config` even while following a control plane.
    pub allow_admin_config: bool,
}

fn json_response(status: StatusCode, body: &Value) -> Response<Vec<u8>> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("content-length", bytes.len())
        .body(bytes)
        .unwrap_or_default()
}

pub fn errors_json(errors: &ConfigErrors) -> Value {
    json!({
        "message": format!("invalid snapshot: {} error(s)", errors.0.len()),
        "errors": errors.0,
    })
}

/// Reads a request body up to `limit` bytes; `None` when it is larger.
/// The request body, or the 413/400 answer when it is over `limit` bytes
/// (`what` names it in the message) or cannot be read.
async fn body_within(
    s: &mut ServerSession,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Response<Vec<u8>>> {
    match read_body(s, limit).await {
        Ok(Some(b)) => Ok(b),
        Ok(None) => Err(json_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            &json!({"message": format!("{what} larger than {limit} bytes")}),
        )),
        Err(e) => Err(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": format!("cannot read body: {e}")}),
        )),
    }
}

pub async fn read_body(s: &mut ServerSession, limit: usize) -> pingora::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    while let Some(chunk) = s.read_request_body().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

impl AdminApp {
    fn status(&self) -> Value {
        let l = self.gw.current();
        let c = l.snap.counts;
        json!({
            "config_hash": l.snap.hash,
            "config_version": l.version,
            "loaded_at": humantime::format_rfc3339_seconds(l.loaded_at).to_string(),
            "counts": {
                "services": c.services, "routes": c.routes, "apis": c.apis,
                "operations": c.operations, "api_packages": c.api_packages,
                "applications": c.applications, "credentials": c.credentials,
            },
            "warnings": l.snap.warnings,
            "tags": l.snap.tags,
            "upstreams": l.pools.iter().map(|p| json!({
                "name": p.spec.name,
                "algorithm": match p.spec.balance {
                    tollgate_config::upstreams::Balance::RoundRobin => "round-robin",
                    tollgate_config::upstreams::Balance::ConsistentHashing => "consistent-hashing",
                    tollgate_config::upstreams::Balance::LeastConnections => "least-connections",
                },
                "tags": p.spec.tags,
                "targets": p.targets.iter().map(|t| json!({
                    "target": t.name,
                    "weight": t.weight,
                    "address": t.addr().map(|a| a.to_string()),
                    "health": t.state(p.checks_on),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "last_reload": self.gw.last_reload().map(|r| json!({
                "at": humantime::format_rfc3339_millis(r.at).to_string(),
                "result": if r.success { "success" } else { "failure" },
                "source": r.source,
                "errors": r.errors,
            })),
            "control_plane": match &self.feed {
                None => json!({"url": Value::Null, "urls": [], "connected": false, "last_sync": Value::Null}),
                Some(f) => json!({
                    "url": f.url(),
                    "urls": f.urls,
                    "connected": f.connected.load(std::sync::atomic::Ordering::Relaxed),
                    "last_sync": f.last_sync.lock().unwrap_or_else(|p| p.into_inner())
                        .map(|t| humantime::format_rfc3339_millis(t).to_string()),
                }),
            },
        })
    }

    /// The 401 answer when the admin token is set and not sent.
    fn refuse_unauthorized(&self, s: &ServerSession) -> Option<Response<Vec<u8>>> {
        let auth = s
            .req_header()
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        (!self.gw.admin_authorized(auth)).then(|| {
            json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"message": "Unauthorized"}),
            )
        })
    }

    /// `POST /explain`: the decision for a described request against the
    /// live snapshot and limiter state; charges nothing.
    async fn explain(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        if let Some(refused) = self.refuse_unauthorized(s) {
            return refused;
        }
        let body = match body_within(s, MAX_EXPLAIN_BYTES, "body").await {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let explained = crate::explain::ExplainRequest::from_json(&body).and_then(|req| {
            let l = self.gw.current();
            crate::explain::run(&l.snap, &self.gw.limiter, self.gw.now_ns(), &req)
                .map(|e| crate::explain::to_json(&req, &e))
        });
        match explained {
            Ok(v) => json_response(StatusCode::OK, &v),
            Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"message": e.to_string()})),
        }
    }

    async fn push(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        if let Some(refused) = self.refuse_unauthorized(s) {
            return refused;
        }
        // A snapshot pushed here would be silently replaced by the control
        // plane's next one, and until then this data plane differs from its fleet.
        if let (Some(feed), false) = (&self.feed, self.allow_admin_config) {
            return json_response(
                StatusCode::CONFLICT,
                &json!({"message": format!(
                    "this data plane follows the control plane {}; push there (or start with --allow-admin-config)",
                    feed.url()
                )}),
            );
        }
        let body = match body_within(s, MAX_CONFIG_BYTES, "snapshot").await {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let gw = self.gw.clone();
        // Parsing and compiling a large snapshot is CPU work: keep it off the I/O threads.
        let result =
            tokio::task::spawn_blocking(move || gw.apply_from("admin", &body, None, None)).await;
        match result {
            Ok(Ok(applied)) => {
                tracing::info!(hash = %applied.hash, "snapshot applied from admin API");
                let l = self.gw.current();
                json_response(
                    StatusCode::OK,
                    &json!({
                        "config_hash": applied.hash,
                        "config_version": applied.version,
                        "changed": applied.changed,
                        "counts": self.status()["counts"],
                        "warnings": l.snap.warnings,
                    }),
                )
            }
            Ok(Err(errors)) => {
                tracing::warn!(
                    errors = errors.0.len(),
                    "snapshot from admin API rejected: {errors}"
                );
                json_response(StatusCode::BAD_REQUEST, &errors_json(&errors))
            }
            Err(e) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"message": format!("apply failed: {e}")}),
            ),
        }
    }
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        let method = s.req_header().method.clone();
        let path = s.req_header().uri.path().to_string();
        match (method, path.as_str()) {
            (Method::GET, "/health") => json_response(StatusCode::OK, &json!({"status": "ok"})),
            (Method::GET, "/status") => json_response(StatusCode::OK, &self.status()),
            (Method::GET, "/metrics") => {
                self.gw
                    .metrics
                    .limiter_keys
                    .set(self.gw.limiter.len() as i64);
                let body = self.gw.metrics.render();
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/plain; version=0.0.4")
                    .header("content-length", body.len())
                    .body(body)
                    .unwrap_or_default()
            }
            (Method::POST, "/config") => self.push(s).await,
            (Method::POST, "/explain") => self.explain(s).await,
            (_, "/health" | "/status" | "/metrics" | "/config" | "/explain") => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"message": "Method not allowed"}),
            ),
            _ => json_response(StatusCode::NOT_FOUND, &json!({"message": "Not found"})),
        }
    }
}
