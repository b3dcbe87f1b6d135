//! The OTLP/HTTP (protobuf) span exporter behind `--otlp-endpoint`.
//!
//! The SDK's batch span processor exports on its own thread, blocking on each
//! export; so the HTTP client is the blocking `ureq` agent the gateway already
//! uses for the control plane (plain HTTP and HTTPS through the system's TLS),
//! rather than a second HTTP stack with its own runtime.

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use std::io::Read;
use std::time::Duration;

/// Longest one export may take; the batch is dropped after it.
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Collectors answer with a small status body; anything past this is unread.
const MAX_RESPONSE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--otlp-endpoint {0:?} is not an http:// or https:// URL")]
    Endpoint(String),
    #[error("cannot build the OTLP exporter: {0}")]
    Build(String),
}

#[derive(Debug)]
struct UreqClient(ureq::Agent);

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .0
            .request(parts.method.as_str(), &parts.uri.to_string());
        for (name, value) in &parts.headers {
            if let Ok(v) = value.to_str() {
                req = req.set(name.as_str(), v);
            }
        }
        let resp = match req.send_bytes(&body) {
            Ok(r) => r,
            // A refusal is the exporter's to judge (and log), not a transport error.
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(Box::new(e)),
        };
        let status = resp.status();
        let mut buf = Vec::new();
        resp.into_reader()
            .take(MAX_RESPONSE)
            .read_to_end(&mut buf)?;
        Ok(Response::builder().status(status).body(Bytes::from(buf))?)
    }
}

/// The traces URL of an endpoint: `/v1/traces` is appended to a base URL
/// (`http://collector:4318`), a URL already ending in it is kept.
pub fn traces_url(endpoint: &str) -> Result<String, ExportError> {
    let bad = || ExportError::Endpoint(endpoint.to_string());
    let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
    match uri.scheme_str() {
        Some("http") | Some("https") if uri.host().is_some() => {}
        _ => return Err(bad()),
    }
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        Ok(base.to_string())
    } else {
        Ok(format!("{base}/v1/traces"))
    }
}

/// The OTLP/HTTP protobuf exporter for `endpoint`.
pub fn exporter(endpoint: &str) -> Result<opentelemetry_otlp::SpanExporter, ExportError> {
    let url = traces_url(endpoint)?;
    let agent = ureq::AgentBuilder::new().timeout(EXPORT_TIMEOUT).build();
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(UreqClient(agent))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| ExportError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn appends_the_traces_path_once() {
        assert_eq!(
            traces_url("http://c:4318").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://c/otlp/").unwrap(),
            "https://c/otlp/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces").unwrap(),
            "http://c:4318/v1/traces"
        );
        assert!(traces_url("c:4318").is_err());
        assert!(traces_url("ftp://c/").is_err());
        assert!(traces_url("").is_err());
    }
}
