//! OpenAPI 3.x import: a spec's `paths` × methods become operations.
//!
//! 3.0 documents are parsed with the `openapiv3` crate, which checks the whole
//! document. That crate models 3.0 only (3.1 changed the schema dialect), so a
//! 3.1 document is read structurally: only `servers` and `paths` are needed.

/// An operation found in a spec, before it is checked and merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecOperation {
    pub method: String,
    pub path: String,
    pub operation_id: Option<String>,
}

/// Extracts operations from an OpenAPI document (YAML or JSON text).
pub fn import(text: &str) -> Result<Vec<SpecOperation>, String> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| format!("spec is not YAML or JSON: {e}"))?;
    let version = match value.get("openapi") {
        Some(serde_yaml::Value::String(v)) => v.clone(),
        Some(other) => format!("{other:?}"),
        None if value.get("swagger").is_some() => {
            return Err("spec is Swagger 2.0; convert it to OpenAPI 3.x".to_string())
        }
        None => return Err("spec has no `openapi` field; expected OpenAPI 3.x".to_string()),
    };
    if version.starts_with("3.0") {
        import_30(value)
    } else if version.starts_with("3.1") {
        import_31(&value)
    } else {
        Err(format!(
            "spec declares openapi {version:?}; only OpenAPI 3.0 and 3.1 are supported"
        ))
    }
}

fn server_prefix(url: Option<&str>) -> String {
    let Some(url) = url else {
        return String::new();
    };
    // Absolute URLs carry a scheme and host before the path; relative ones are the path.
    let path = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            rest.find('/').map(|j| &rest[j..]).unwrap_or("")
        }
        None => url,
    };
    path.trim_end_matches('/').to_string()
}

fn import_30(value: serde_yaml::Value) -> Result<Vec<SpecOperation>, String> {
    let spec: openapiv3::OpenAPI = serde_path_to_error::deserialize(value).map_err(|e| {
        format!(
            "spec is not a valid OpenAPI 3.0 document at {}: {}",
            e.path(),
            e.inner()
        )
    })?;
    let prefix = server_prefix(spec.servers.first().map(|s| s.url.as_str()));
    let mut out = Vec::new();
    for (path, item) in spec.paths.paths.iter() {
        let Some(item) = item.as_item() else {
            return Err(format!(
                "spec path {path:?} is a $ref; inline path items are required"
            ));
        };
        for (method, op) in item.iter() {
            out.push(SpecOperation {
                method: method.to_ascii_uppercase(),
                path: crate::operations::join_prefix(&prefix, path),
                operation_id: op.operation_id.clone(),
            });
        }
    }
    Ok(out)
}

const SPEC_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn import_31(value: &serde_yaml::Value) -> Result<Vec<SpecOperation>, String> {
    let prefix = server_prefix(
        value
            .get("servers")
            .and_then(|s| s.get(0))
            .and_then(|s| s.get("url"))
            .and_then(|u| u.as_str()),
    );
    let mut out = Vec::new();
    let paths = match value.get("paths") {
        None | Some(serde_yaml::Value::Null) => return Ok(out),
        Some(serde_yaml::Value::Mapping(m)) => m,
        Some(_) => return Err("spec `paths` must be a mapping".to_string()),
    };
    for (path, item) in paths {
        let Some(path) = path.as_str() else {
            return Err("spec `paths` keys must be strings".to_string());
        };
        let Some(item) = item.as_mapping() else {
            return Err(format!("spec path {path:?} must be a mapping"));
        };
        for method in SPEC_METHODS {
            if let Some(op) = item.get(*method) {
                out.push(SpecOperation {
                    method: method.to_ascii_uppercase(),
                    path: crate::operations::join_prefix(&prefix, path),
                    operation_id: op
                        .get("operationId")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V30: &str = r#"
openapi: 3.0.3
info: { title: Flights, version: "1" }
servers: [{ url: "https://api.example.com/v1/" }]
paths:
  /flights:
    get: { operationId: list-flights, responses: { "200": { description: ok } } }
    post: { responses: { "201": { description: ok } } }
  /flights/{id}:
    get: { operationId: get-flight, responses: { "200": { description: ok } } }
"#;

    #[test]
    fn imports_30_with_prefix_and_ids() {
        let ops = import(V30).expect("valid");
        assert_eq!(ops.len(), 3);
        assert!(ops.contains(&SpecOperation {
            method: "GET".into(),
            path: "/v1/flights".into(),
            operation_id: Some("list-flights".into())
        }));
        assert!(ops.contains(&SpecOperation {
            method: "POST".into(),
            path: "/v1/flights".into(),
            operation_id: None
        }));
        assert!(ops.iter().any(|o| o.path == "/v1/flights/{id}"));
    }

    #[test]
    fn imports_31_structurally() {
        let text = r#"{"openapi":"3.1.0","info":{"title":"x","version":"1"},
            "servers":[{"url":"/api"}],
            "paths":{"/a":{"get":{"operationId":"a"},"delete":{}}}}"#;
        let ops = import(text).expect("valid");
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|o| o.path == "/api/a"));
    }

    #[test]
    fn rejects_non_openapi() {
        let cases = [
            "swagger: '2.0'\npaths: {}",
            "openapi: 2.5.0\npaths: {}",
            "just: a map",
            "openapi: 3.0.0\ninfo: 7\npaths: {}",
            "[unclosed",
        ];
        for c in cases {
            assert!(import(c).is_err(), "{c}");
        }
    }
}
