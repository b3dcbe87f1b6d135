//! `tollgate validate FILE`: the same loading, validation and compilation the
//! gateway does, reported for a person.

use anyhow::Result;
use std::path::Path;

/// Prints the report; `Ok(true)` when the snapshot is valid.
pub fn validate(file: &Path) -> Result<bool> {
    let snapshot = match tollgate_config::load_file(file) {
        Ok(s) => s,
        Err(errors) => {
            println!("{}: invalid, {} error(s)", file.display(), errors.0.len());
            for e in &errors.0 {
                println!("  error: {e}");
            }
            return Ok(false);
        }
    };
    let compiled = match tollgate_core::compile(&snapshot) {
        Ok(c) => c,
        Err(e) => {
            println!("{}: invalid, 1 error(s)", file.display());
            println!("  error: {e}");
            return Ok(false);
        }
    };
    let c = compiled.counts;
    println!("{}: valid", file.display());
    println!(
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
    println!("  config_hash: {}", compiled.hash);
    for w in &compiled.warnings {
        println!("  warning: {w}");
    }
    Ok(true)
}
