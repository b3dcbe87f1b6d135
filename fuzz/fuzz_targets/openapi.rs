//! OpenAPI import on arbitrary text: never panics. A spec that imports is
//! also loaded inline in a minimal snapshot and compiled, so that its
//! operations go through validation, merging and the operation router.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::fmt::Write;

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ops) = tollgate_config::openapi::import(text) else {
        return;
    };
    for op in &ops {
        if let Ok(t) = tollgate_config::operations::check_template(&op.path) {
            let _ = tollgate_config::operations::canonical_key(&t);
            let _ = tollgate_config::sample_path(&t);
        }
    }
    let doc = format!(
        r#"{{"_format_version":"3.0","services":[{{"name":"s","url":"http://127.0.0.1:1","routes":[{{"name":"r","paths":["/"]}}]}}],"apis":[{{"name":"a","spec":{}}}]}}"#,
        json_string(text)
    );
    if let Ok(snapshot) = tollgate_config::load_bytes(doc.as_bytes(), None) {
        let _ = tollgate_core::compile(&snapshot);
    }
});
