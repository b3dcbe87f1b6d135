//! `tollgate push FILE --to URL`: sends a snapshot to a control plane
//! (`POST /v1/config`) or to a data plane's admin API (`POST /config`).

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Duration;

/// Where to POST: an explicit `/config` or `/v1/config` URL is used as is;
/// a bare base URL tries the control plane first, then the admin API.
fn targets(to: &str) -> Vec<String> {
    let base = to.trim_end_matches('/');
    if base.ends_with("/config") {
        vec![base.to_string()]
    } else {
        vec![format!("{base}/v1/config"), format!("{base}/config")]
    }
}

/// Replaces every `spec_file` with the file's text as `spec`: the receiver
/// has no directory to resolve the path against.
fn inline_spec_files(file: &Path, body: Vec<u8>) -> Result<Vec<u8>> {
    let base = file.parent().unwrap_or(Path::new("."));
    match tollgate_config::inline::inline_spec_files(&body, base) {
        Ok(Some(inlined)) => Ok(inlined),
        Ok(None) => Ok(body),
        Err(e) => bail!("{}: {e}", file.display()),
    }
}

pub fn push(
    file: &Path,
    to: &str,
    force: bool,
    token: Option<&str>,
    ca: Option<&Path>,
) -> Result<()> {
    let body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let body = inline_spec_files(file, body)?;
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(300))
        .tls_connector(tollgate_gateway::feed::tls_connector(ca)?)
        .build();
    let targets = targets(to);
    for (i, url) in targets.iter().enumerate() {
        let last = i + 1 == targets.len();
        let url = if force {
            format!("{url}?force=true")
        } else {
            url.clone()
        };
        let mut req = agent.post(&url).set("content-type", "application/yaml");
        if let Some(t) = token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        let (status, text) = match req.send_bytes(&body) {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
            Err(e) => bail!("cannot reach {url}: {e}"),
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        match status {
            404 if !last => continue,
            200 | 201 => {
                let hash = json.get("hash").or_else(|| json.get("config_hash"));
                let version = json.get("version").or_else(|| json.get("config_version"));
                println!(
                    "pushed to {url}: hash {} version {}",
                    hash.and_then(|h| h.as_str()).unwrap_or("?"),
                    version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "null".into())
                );
                return Ok(());
            }
            _ => {
                eprintln!(
                    "{url} refused the snapshot ({status}): {}",
                    json.get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or(text.trim())
                );
                if let Some(errors) = json.get("errors").and_then(|e| e.as_array()) {
                    for e in errors {
                        eprintln!(
                            "  error: {}: {}",
                            e.get("path").and_then(|p| p.as_str()).unwrap_or(""),
                            e.get("message").and_then(|m| m.as_str()).unwrap_or("")
                        );
                    }
                }
                if let Some(removed) = json.get("removed_operations").and_then(|e| e.as_array()) {
                    for r in removed {
                        eprintln!("  removed: {}", r.as_str().unwrap_or(""));
                    }
                    eprintln!("  (push again with --force to accept)");
                }
                std::process::exit(1);
            }
        }
    }
    bail!("{to}: neither a control plane nor a data plane admin API answered")
}
