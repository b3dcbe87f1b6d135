//! `tollgate schema` prints a JSON Schema generated from the serde model;
//! every example snapshot in config/ conforms to it, and a typo does not.

mod support;

use std::process::Command;
use support::BIN;

fn schema() -> serde_json::Value {
    let out = Command::new(BIN)
        .arg("schema")
        .output()
        .expect("run schema");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("schema is JSON")
}

fn as_json(yaml: &str) -> serde_json::Value {
    serde_yaml::from_str(yaml).expect("yaml")
}

#[test]
fn config_examples_conform_to_the_schema() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("config/") {
        let path = entry.expect("entry").path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            continue;
        }
        let doc = as_json(&std::fs::read_to_string(&path).expect("read"));
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{}: {e}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} files checked");
    // The schema is strict where the loader is: unknown keys and bad enums.
    for bad in [
        "_format_version: \"3.0\"\nservices: [{ name: s, url: http://x, retires: 5 }]\n",
        "_format_version: \"3.0\"\nservices: [{ name: s, url: http://x, routes: [{ name: r, escaped_slashes: maybe }] }]\n",
        "_format_version: \"3.0\"\nbogus: 1\n",
    ] {
        assert!(!validator.is_valid(&as_json(bad)), "accepted: {bad}");
    }
}
