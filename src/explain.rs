//! `tollgate explain`: the decision the gateway would take for one request
//! against a snapshot file, printed without sending anything.

use anyhow::{Context, Result};
use std::io::Write as _;
use std::path::Path;
use tollgate_gateway::explain::{run_file, split_header, to_json, to_text, ExplainRequest};

/// Prints the explanation; a closed stdout (`| head`) is not an error.
pub fn explain(
    config: &Path,
    method: &str,
    url: &str,
    headers: &[String],
    json: bool,
) -> Result<()> {
    let headers = headers
        .iter()
        .map(|h| split_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let req = ExplainRequest {
        method: method.to_string(),
        url: url.to_string(),
        headers,
        client_ip: None,
    };
    let e = run_file(config, &req)
        .with_context(|| format!("explaining against {}", config.display()))?;
    let out = if json {
        let mut s = serde_json::to_string_pretty(&to_json(&req, &e))?;
        s.push('\n');
        s
    } else {
        to_text(&req, &e)
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(())
}
