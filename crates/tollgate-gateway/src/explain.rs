//! `tollgate explain` and `POST /explain`: parse a request description,
//! run `tollgate_core::explain` on it (the proxy's own decision code, with
//! limits looked at but not charged), and render the answer as JSON or as
//! text for a person.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use tollgate_core::explain::{explain, ExplainInput, Explanation, LimitInfo, StepOutcome, Verdict};
use tollgate_core::{CompiledSnapshot, LimiterStore};

/// A request to explain, as given on the command line or to `POST /explain`.
#[derive(Debug, Clone, Default)]
pub struct ExplainRequest {
    pub method: String,
    /// `http://host[:port]/path?query`, or `/path?query` (host from `Host`).
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub client_ip: Option<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("invalid method {0:?}")]
    Method(String),
    #[error("invalid URL {0:?}: {1}")]
    Url(String, String),
    #[error("invalid header {0:?}")]
    Header(String),
    #[error("invalid snapshot: {0}")]
    Config(String),
    #[error("request body: {0}")]
    Body(String),
}

impl ExplainRequest {
    /// Reads `{"method", "url", "headers", "client_ip"}`; headers as an
    /// object `{"apikey": "..."}` or a list of `"Name: value"` strings.
    pub fn from_json(body: &[u8]) -> Result<Self, ExplainError> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| ExplainError::Body(e.to_string()))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let method = field("method").unwrap_or_else(|| "GET".to_string());
        let url = field("url").ok_or_else(|| ExplainError::Body("\"url\" is required".into()))?;
        let mut headers = Vec::new();
        match v.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, val) in m {
                    let val = val
                        .as_str()
                        .ok_or_else(|| ExplainError::Header(k.clone()))?;
                    headers.push((k.clone(), val.to_string()));
                }
            }
            Some(Value::Array(a)) => {
                for h in a {
                    let line = h
                        .as_str()
                        .ok_or_else(|| ExplainError::Header(h.to_string()))?;
                    headers.push(split_header(line)?);
                }
            }
            Some(other) => return Err(ExplainError::Header(other.to_string())),
        }
        let client_ip = match field("client_ip") {
            Some(ip) => Some(
                ip.parse()
                    .map_err(|_| ExplainError::Body(format!("invalid client_ip {ip:?}")))?,
            ),
            None => None,
        };
        Ok(ExplainRequest {
            method,
            url,
            headers,
            client_ip,
        })
    }
}

/// `"Name: value"` → (name, value), as curl's `-H` takes it.
pub fn split_header(line: &str) -> Result<(String, String), ExplainError> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| ExplainError::Header(line.to_string()))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// Explains `req` against a compiled snapshot and limiter state.
pub fn run(
    snap: &CompiledSnapshot,
    limiter: &LimiterStore,
    now_ns: u64,
    req: &ExplainRequest,
) -> Result<Explanation, ExplainError> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| ExplainError::Method(req.method.clone()))?;
    let uri: Uri = req
        .url
        .parse()
        .map_err(|e: http::uri::InvalidUri| ExplainError::Url(req.url.clone(), e.to_string()))?;
    let mut headers = HeaderMap::new();
    for (k, v) in &req.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|_| ExplainError::Header(k.clone()))?;
        let value = HeaderValue::from_str(v).map_err(|_| ExplainError::Header(k.clone()))?;
        headers.append(name, value);
    }
    // As the proxy does: Host header first, then the target's authority.
    let raw_host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.host())
        .unwrap_or("");
    let host = match raw_host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => raw_host.split(':').next().unwrap_or(""),
    }
    .to_ascii_lowercase();
    let input = ExplainInput {
        method: &method,
        host: &host,
        path: if uri.path().is_empty() {
            "/"
        } else {
            uri.path()
        },
        query: uri.query(),
        headers: &headers,
        client_ip: req.client_ip,
        unix_s: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    Ok(explain(snap, limiter, now_ns, &input))
}

/// Explains `req` against a snapshot file, with fresh limiter state.
pub fn run_file(file: &Path, req: &ExplainRequest) -> Result<Explanation, ExplainError> {
    let snapshot =
        tollgate_config::load_file(file).map_err(|e| ExplainError::Config(e.to_string()))?;
    let snap =
        tollgate_core::compile(&snapshot).map_err(|e| ExplainError::Config(e.to_string()))?;
    let limiter = LimiterStore::default();
    // Any origin works for a store that has never been charged.
    run(&snap, &limiter, 1_000_000_000_000, req)
}

fn status_of(e: &Explanation) -> Option<u16> {
    match &e.result {
        Verdict::Reply { status, .. } => Some(*status),
        Verdict::Proxy { .. } => None,
    }
}

fn step_str(o: StepOutcome) -> String {
    match o {
        StepOutcome::NotConfigured => "not configured for this consumer".into(),
        StepOutcome::Continue => "continue".into(),
        StepOutcome::Respond(s) => format!("respond {s}"),
        StepOutcome::NotReached => "not reached".into(),
    }
}

fn unit_name(u: tollgate_config::Unit) -> &'static str {
    u.name()
}

fn limit_json(l: &LimitInfo) -> Value {
    json!({
        "plugin": l.plugin,
        "scope": l.scope.map(|s| s.as_str()),
        "api_package": l.package,
        "allowed": l.allowed,
        "retry_after": if l.allowed { None } else { Some(l.retry_after_secs) },
        "windows": l.windows.iter().map(|w| json!({
            "unit": unit_name(w.unit),
            "limit": w.limit,
            "remaining_after": w.remaining,
            "reset": w.reset_secs,
        })).collect::<Vec<_>>(),
    })
}

/// The machine-readable answer (`--json`, `POST /explain`).
pub fn to_json(req: &ExplainRequest, e: &Explanation) -> Value {
    let (result, body, by, upstream_path) = match &e.result {
        Verdict::Reply { body, by, .. } => ("reply", Some(body.as_str()), *by, None),
        Verdict::Proxy { upstream_path } => ("proxy", None, None, Some(upstream_path.as_str())),
    };
    json!({
        "request": { "method": req.method, "url": req.url },
        "normalized_path": e.normalized_path,
        "route": e.route.as_ref().map(|r| json!({
            "name": r.name, "service": r.service, "upstream": r.upstream, "match_path": r.match_path,
        })),
        "plugins": e.chain.iter().map(|s| json!({"name": s.plugin, "outcome": step_str(s.outcome)})).collect::<Vec<_>>(),
        "ace": e.ace.as_ref().map(|a| json!({
            "match_policy": a.match_policy,
            "mode": a.mode,
            "operations": a.operations.iter().map(|o| json!({
                "id": o.id, "api": o.api, "method": o.method, "path": o.path, "host": o.host,
            })).collect::<Vec<_>>(),
            "no_operation": a.no_operation,
            "skipped_authenticated": a.skipped_authenticated,
            "credential": a.credential.as_ref().map(|c| json!({
                "result": c.result, "source": c.source, "identifier": c.identifier,
                "application": c.application, "consumer": c.consumer,
            })),
            "registrations": a.registrations.iter().map(|r| json!({
                "kind": r.kind, "name": r.name, "status": r.status, "grants": r.grants,
                "charged": r.charged, "reason": r.reason,
            })).collect::<Vec<_>>(),
        })),
        "limits": e.limits.iter().map(limit_json).collect::<Vec<_>>(),
        "decision": e.ace_decision.map(|d| d.as_str()),
        "mode": e.ace_decision.map(|_| if e.ace_shadow { "shadow" } else { "enforce" }),
        "shadow_status": e.shadow_status,
        "result": result,
        "status": status_of(e),
        "body": body,
        "answered_by": by,
        "upstream_path": upstream_path,
    })
}

/// The answer for a person.
pub fn to_text(req: &ExplainRequest, e: &Explanation) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "request        {} {}", req.method, req.url);
    if let Some(p) = &e.normalized_path {
        let _ = writeln!(o, "normalized     {p}");
    }
    match &e.route {
        Some(r) => {
            let _ = writeln!(
                o,
                "route          {} (service {}, upstream {})",
                r.name, r.service, r.upstream
            );
        }
        None => {
            let _ = writeln!(o, "route          none");
        }
    }
    if !e.chain.is_empty() {
        let _ = writeln!(o, "plugins        (in order)");
        for (i, s) in e.chain.iter().enumerate() {
            let _ = writeln!(o, "  {}. {:<20} {}", i + 1, s.plugin, step_str(s.outcome));
        }
    } else if e.route.is_some() {
        let _ = writeln!(o, "plugins        none");
    }
    if let Some(a) = &e.ace {
        let _ = writeln!(
            o,
            "ace            match_policy {}, mode {}",
            a.match_policy, a.mode
        );
        if a.operations.is_empty() {
            let why = a.no_operation.as_deref().unwrap_or("no operation matched");
            let _ = writeln!(o, "operation      none: {why}");
        }
        for op in &a.operations {
            let host = op
                .host
                .as_deref()
                .map(|h| format!(" host {h}"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "operation      {} ({} {}{host}, api {})",
                op.id, op.method, op.path, op.api
            );
        }
        if a.skipped_authenticated {
            let _ = writeln!(
                o,
                "               already authenticated by a higher-priority plugin: ACE skips it"
            );
        }
        if let Some(c) = &a.credential {
            // ACE stops before the credential step in these cases; the lookup
            // is still shown, since "which application is this key?" is often
            // the next question.
            let unchecked = if a.operations.is_empty() || a.skipped_authenticated {
                " [not checked by ACE for this request]"
            } else {
                ""
            };
            let from = c
                .source
                .as_deref()
                .map(|s| format!(" ({s}){unchecked}"))
                .unwrap_or_else(|| unchecked.to_string());
            match (&c.application, &c.identifier) {
                (Some(app), Some(id)) => {
                    let consumer = c
                        .consumer
                        .as_deref()
                        .map(|u| format!(", consumer {u}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        o,
                        "credential     {id}{from} -> application {app}{consumer}"
                    );
                }
                _ => {
                    let _ = writeln!(o, "credential     {}{from}", c.result);
                }
            }
        }
        if !a.registrations.is_empty() {
            let _ = writeln!(o, "registrations  (in the application's order)");
            for (i, r) in a.registrations.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "  {}. {} {} [{}]: {}",
                    i + 1,
                    r.kind,
                    r.name,
                    r.status,
                    r.reason
                );
            }
        }
    }
    for l in &e.limits {
        let scope = l
            .scope
            .map(|s| format!(" {} limit", s.as_str()))
            .unwrap_or_default();
        let pkg = l
            .package
            .as_deref()
            .map(|p| format!(" of package {p}"))
            .unwrap_or_default();
        let verdict = if l.allowed {
            "admits".to_string()
        } else {
            format!("rejects (retry after {} s)", l.retry_after_secs)
        };
        let _ = writeln!(o, "limit          {}{scope}{pkg}: {verdict}", l.plugin);
        for w in &l.windows {
            let _ = writeln!(
                o,
                "  {} per {}: {} remaining after this request, full again in {} s",
                w.limit,
                unit_name(w.unit),
                w.remaining,
                w.reset_secs
            );
        }
    }
    if let Some(d) = e.ace_decision {
        let mode = if e.ace_shadow { "shadow" } else { "enforce" };
        let would = e
            .shadow_status
            .map(|s| format!(" (enforce would answer {s}; shadow lets it through)"))
            .unwrap_or_default();
        let _ = writeln!(o, "decision       {} [{mode}]{would}", d.as_str());
    }
    match &e.result {
        Verdict::Reply { status, body, by } => {
            let by = by.map(|b| format!(" by {b}")).unwrap_or_default();
            let _ = writeln!(o, "result         {status}{by} {body}");
        }
        Verdict::Proxy { upstream_path } => {
            let _ = writeln!(
                o,
                "result         proxied upstream as {upstream_path} (the upstream answers)"
            );
        }
    }
    o
}
