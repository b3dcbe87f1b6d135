//! Every spec of the external OpenAPI corpus (`../shared/external/openapi/`,
//! real specs written by others) imports through `spec_file` with the
//! operation count its SOURCE.md gives, compiles, and every imported
//! operation is found again by the operation router from a concrete path.
//! Skipped, with a note, where the corpus is not present.

use std::path::PathBuf;
use std::time::Instant;

/// (file, expected operations, operations whose path has a `{param}.json` segment)
const CORPUS: &[(&str, usize, Option<usize>)] = &[
    ("oai-v3.0-petstore-expanded.yaml", 4, None),
    ("oai-v3.0-uspto.yaml", 3, None),
    ("oai-v3.0-callback-example.yaml", 1, None),
    ("oai-v3.0-link-example.yaml", 6, None),
    ("oai-v3.0-api-with-examples.yaml", 2, None),
    ("oai-v3.1-webhook-example.yaml", 0, None),
    ("oai-v2.0-petstore.yaml", 3, None),
    ("spotify-web-api.yaml", 97, None),
    ("twilio-api-v2010.yaml", 197, Some(99)),
    ("discord-openapi.json", 242, None),
    // 296 path × method pairs; 19 `#fragment` paths merge into the paths they
    // annotate, leaving 278 distinct operations on the wire.
    ("box-openapi.json", 278, None),
    ("netlify-swagger.yaml", 174, None),
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("TOLLGATE_EXTERNAL") {
        Some(d) => PathBuf::from(d).join("openapi"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/external/openapi"),
    };
    dir.is_dir().then_some(dir)
}

/// A request path for a template: parameters and wildcards get a value.
fn sample(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match (seg.find('{'), seg.find('}')) {
            (Some(o), Some(c)) => format!("{}zq9{}", &seg[..o], &seg[c + 1..]),
            _ if seg == "*" => "zq9".to_string(),
            _ => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_external_spec_imports_with_the_expected_count() {
    let Some(dir) = corpus_dir() else {
        println!("note: external OpenAPI corpus not found; set TOLLGATE_EXTERNAL to run this test");
        return;
    };
    let tmp = std::env::temp_dir().join(format!("tollgate-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("tmp dir");
    for (file, want, json_suffixed) in CORPUS {
        let spec = dir.join(file);
        let snapshot = tmp.join("snapshot.yaml");
        std::fs::write(
            &snapshot,
            format!(
                "_format_version: \"3.0\"\napis:\n  - name: corpus\n    spec_file: {:?}\n",
                spec.display().to_string()
            ),
        )
        .expect("write snapshot");
        let started = Instant::now();
        let loaded = tollgate_config::load_file(&snapshot)
            .unwrap_or_else(|e| panic!("{file}: refused:\n{e}"));
        let compiled =
            tollgate_core::compile(&loaded).unwrap_or_else(|e| panic!("{file}: compile: {e}"));
        println!(
            "{file}: {} operations in {:?}",
            compiled.operations.len(),
            started.elapsed()
        );
        assert_eq!(compiled.operations.len(), *want, "{file}");
        if let Some(n) = json_suffixed {
            let got = compiled
                .operations
                .iter()
                .filter(|o| o.path.contains("}.json"))
                .count();
            assert_eq!(got, *n, "{file}: operations on {{X}}.json segments");
        }
        for (id, op) in compiled.operations.iter().enumerate() {
            let method = http::Method::from_bytes(op.method.as_bytes()).expect("method");
            let path = sample(&op.path);
            let found = compiled.op_router.find("api.example.com", &method, &path);
            assert!(
                found.contains(&(id as u32)),
                "{file}: {} {} (as {path}) routes to {found:?}, not to itself",
                op.method,
                op.path
            );
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
