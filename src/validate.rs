//! `tollgate validate FILE`: the same loading, validation and compilation the
//! gateway does, reported for a person.

use anyhow::Result;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

/// Prints the report; `Ok(true)` when the snapshot is valid. A closed
/// stdout (`| head`) is not an error worth a panic.
pub fn validate(file: &Path, explain_kong: bool) -> Result<bool> {
    let mut out = String::new();
    let kong = std::fs::read(file)
        .ok()
        .and_then(|b| tollgate_config::explain_kong(&b).ok());
    if explain_kong {
        match &kong {
            Some(k) if !k.entities.is_empty() => {
                let _ = writeln!(out, "{}: as a Kong declarative file", file.display());
                out.push_str(&k.render());
            }
            Some(_) => {
                let _ = writeln!(out, "{}: nothing Kong-specific", file.display());
            }
            None => {}
        }
    }
    let valid = report(file, &mut out);
    if valid {
        for e in kong.iter().flat_map(|k| k.tagged()) {
            let _ = writeln!(
                out,
                "  tags: {} ({}): {}",
                e.path,
                e.name,
                e.tags.join(", ")
            );
        }
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(valid)
}

fn report(file: &Path, out: &mut String) -> bool {
    let snapshot = match tollgate_config::load_file(file) {
        Ok(s) => s,
        Err(errors) => {
            let _ = writeln!(
                out,
                "{}: invalid, {} error(s)",
                file.display(),
                errors.0.len()
            );
            // Located with the names of the entities on the way, read from
            // the document as written.
            let doc: Option<serde_yaml::Value> = std::fs::read(file)
                .ok()
                .and_then(|b| serde_yaml::from_slice(&b).ok());
            for e in &errors.0 {
                match (&doc, e.path.is_empty()) {
                    (Some(doc), false) => {
                        let at = tollgate_config::names::named_path(doc, &e.path);
                        let _ = writeln!(out, "  error: {at}: {}", e.message);
                    }
                    _ => {
                        let _ = writeln!(out, "  error: {e}");
                    }
                }
            }
            return false;
        }
    };
    let compiled = match tollgate_core::compile(&snapshot) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(out, "{}: invalid, 1 error(s)", file.display());
            let _ = writeln!(out, "  error: {e}");
            return false;
        }
    };
    let c = compiled.counts;
    let _ = writeln!(out, "{}: valid", file.display());
    let _ = writeln!(
            out,
        "  {} services, {} routes, {} apis, {} operations, {} api_packages, {} applications, {} credentials, {} plugins",
        c.services,
        c.routes,
        c.apis,
        c.operations,
        c.api_packages,
        c.applications,
        c.credentials,
        snapshot.plugins.len()
    );
    let _ = writeln!(out, "  config_hash: {}", compiled.hash);
    for w in &compiled.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    true
}
