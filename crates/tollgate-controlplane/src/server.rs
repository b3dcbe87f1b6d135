//! The control plane's HTTP API (contract §7) and the subscribe long-poll.

use crate::registry::{Registry, HEARTBEAT};
use crate::store::{PushError, Store};
use async_trait::async_trait;
use http::{Method, Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tollgate_config::auth::Secret;
use tollgate_config::feed::{self, Report};

pub struct ControlPlane {
    pub store: Arc<Store>,
    pub registry: Registry,
    pub max_body: usize,
    /// Required as `Authorization: Bearer <token>` on every `/v1/*` request.
    pub token: Option<Secret>,
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

fn message(status: StatusCode, msg: &str) -> Response<Vec<u8>> {
    json_response(status, &json!({ "message": msg }))
}

fn unauthorized() -> Response<Vec<u8>> {
    let mut resp = message(StatusCode::UNAUTHORIZED, "Unauthorized");
    resp.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    resp
}

async fn read_body(s: &mut ServerSession, limit: usize) -> Result<Vec<u8>, Response<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        match s.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(message(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("snapshot larger than the {limit} byte limit"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(message(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read body: {e}"),
                ))
            }
        }
    }
}

impl ControlPlane {
    async fn push(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        let force = s
            .req_header()
            .uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "force=true" || p == "force=1"));
        let body = match read_body(s, self.max_body).await {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        match self.store.push_async(body, force).await {
            Ok(stored) => {
                tracing::info!(version = stored.version, hash = %stored.hash, "snapshot pushed");
                json_response(
                    StatusCode::CREATED,
                    &json!({"version": stored.version, "hash": stored.hash}),
                )
            }
            Err(PushError::Invalid(errors)) => json_response(
                StatusCode::BAD_REQUEST,
                &json!({"message": format!("invalid snapshot: {} error(s)", errors.0.len()), "errors": errors.0}),
            ),
            Err(PushError::Breaking(removed)) => json_response(
                StatusCode::CONFLICT,
                &json!({
                    "message": format!("the snapshot removes {} existing operation(s); push with ?force=true to accept", removed.len()),
                    "removed_operations": removed,
                }),
            ),
            Err(e @ PushError::Persist(_)) => {
                tracing::error!("{e}");
                message(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
            }
            Err(e @ PushError::Unavailable(_)) => {
                tracing::error!("push refused: {e}");
                message(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
            }
        }
    }

    /// With a shared store, reads its head first: a replica answers with what
    /// another one accepted a moment ago, not with its cached copy.
    async fn fresh(&self) {
        if let Some(r) = self.store.redis() {
            let read = crate::store_redis::bounded(
                crate::store_redis::READ_TIMEOUT,
                r.refresh(&self.store),
            );
            if let Err(e) = read.await {
                tracing::debug!("cannot read the store; answering from the cached copy: {e}");
            }
        }
    }

    async fn data_planes(&self) -> Response<Vec<u8>> {
        self.fresh().await;
        match self.registry.entries().await {
            Ok(entries) => {
                let list = crate::registry::view(entries, &self.store.state());
                json_response(
                    StatusCode::OK,
                    &serde_json::to_value(list).unwrap_or(Value::Null),
                )
            }
            Err(e) => message(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot read the data-plane list from the store: {e}"),
            ),
        }
    }

    async fn get_config(&self) -> Response<Vec<u8>> {
        self.fresh().await;
        match self.store.current() {
            None => message(StatusCode::NOT_FOUND, "no snapshot has been pushed yet"),
            Some(c) => json_response(
                StatusCode::OK,
                &json!({
                    "version": c.version,
                    "hash": c.hash,
                    "config": String::from_utf8_lossy(&c.bytes),
                }),
            ),
        }
    }

    async fn subscribe(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        let report = match Report::from_query(s.req_header().uri.query().unwrap_or("")) {
            Ok(r) => r,
            Err(e) => return message(StatusCode::BAD_REQUEST, &e),
        };
        let gzip_ok = s
            .req_header()
            .headers
            .get(http::header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("gzip"));
        self.registry.record(&report).await;
        let mut rx = self.store.subscribe();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(report.wait);
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
        // Watching the connection lets a data plane that went away stop its
        // heartbeat at once, instead of when the poll would have ended.
        let mut watch_client = true;
        let answer = loop {
            let st = self.store.state();
            if let Some(cur) = &st.current {
                // `!=` rather than `>`: a control plane that lost its data dir restarts
                // its versions at 1, and its data planes must still follow it.
                if cur.version != report.seen || report.epoch.as_deref() != Some(&*st.epoch) {
                    break Some((st.epoch.clone(), cur.clone()));
                }
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { break None },
                _ = tokio::time::sleep_until(deadline) => break None,
                _ = beat.tick() => self.registry.record(&report).await,
                gone = s.read_body_or_idle(true), if watch_client => match gone {
                    Err(_) => return message(StatusCode::BAD_REQUEST, "the data plane went away"),
                    Ok(_) => watch_client = false,
                },
            }
        };
        self.registry.record(&report).await;
        let Some((epoch, cur)) = answer else {
            return Response::builder()
                .status(StatusCode::NO_CONTENT)
                .header(feed::EPOCH_HEADER, &*self.store.state().epoch)
                .body(Vec::new())
                .unwrap_or_default();
        };
        let (body, encoding) = if gzip_ok {
            (cur.gzipped.clone(), Some("gzip"))
        } else {
            (cur.bytes.clone(), None)
        };
        let mut b = Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/octet-stream")
            .header("content-length", body.len())
            .header(feed::VERSION_HEADER, cur.version)
            .header(feed::HASH_HEADER, cur.hash.as_str())
            .header(feed::EPOCH_HEADER, &*epoch);
        if let Some(enc) = encoding {
            b = b.header("content-encoding", enc);
        }
        b.body(body).unwrap_or_default()
    }
}

#[async_trait]
impl ServeHttp for ControlPlane {
    async fn response(&self, s: &mut ServerSession) -> Response<Vec<u8>> {
        let method = s.req_header().method.clone();
        let path = s.req_header().uri.path().to_string();
        if let (Some(token), true) = (&self.token, path.starts_with("/v1/")) {
            let auth = s
                .req_header()
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            if !tollgate_config::auth::bearer_matches(auth, token.expose()) {
                return unauthorized();
            }
        }
        match (method, path.as_str()) {
            (Method::POST, feed::CONFIG_PATH) => self.push(s).await,
            (Method::GET, feed::CONFIG_PATH) => self.get_config().await,
            (Method::GET, feed::DATA_PLANES_PATH) => self.data_planes().await,
            (Method::GET, feed::SUBSCRIBE_PATH) => self.subscribe(s).await,
            (Method::GET, "/health") => json_response(StatusCode::OK, &json!({"status": "ok"})),
            _ => message(StatusCode::NOT_FOUND, "Not found"),
        }
    }
}
