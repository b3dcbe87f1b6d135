//! OpenAPI import: a spec's `paths` × methods become operations.
//!
//! Swagger 2.0, OpenAPI 3.0 and 3.1 are read from one value tree: only the
//! base path (`servers` or `basePath`) and `paths` matter for routing. A 3.0
//! document is also checked whole by the `openapiv3` parser; that crate
//! models 3.0 only, so 2.0 and 3.1 documents are checked structurally.
//!
//! A problem confined to one path (a template the router cannot hold, an
//! unresolvable `$ref`) is reported once for that path, with a JSON pointer
//! into the spec, so the caller can refuse the API or skip those operations.

mod paths;
mod pointer;
mod servers;
#[cfg(test)]
mod tests;

pub use pointer::escape as pointer_escape;

/// An operation found in a spec, checked and merged with its spelling variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecOperation {
    pub method: String,
    /// Checked template, base path prefixed, without a trailing slash.
    pub path: String,
    pub operation_id: Option<String>,
    /// JSON pointer of the path item in the spec, e.g. `/paths/~1pets`.
    pub pointer: String,
}

/// A problem in a spec: `pointer` locates it (empty: the whole document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub pointer: String,
    pub message: String,
    /// The operations (`GET /path`) it makes unusable; empty for a problem
    /// that concerns no operation in particular.
    pub operations: Vec<String>,
}

impl SpecProblem {
    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self::at("", message)
    }

    pub(crate) fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        SpecProblem {
            pointer: pointer.into(),
            message: message.into(),
            operations: Vec::new(),
        }
    }
}

/// What a spec yields: its operations, and the paths that could not be used.
#[derive(Debug, Default)]
pub struct Imported {
    pub operations: Vec<SpecOperation>,
    pub problems: Vec<SpecProblem>,
}

/// The dialects, by what they call the base path and which methods exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Swagger2,
    OpenApi30,
    OpenApi31,
}

/// Extracts operations from a Swagger 2.0 or OpenAPI 3.x document (YAML or
/// JSON text). `Err` means the document as a whole is unusable.
pub fn import(text: &str) -> Result<Imported, SpecProblem> {
    let value = parse(text)?;
    let dialect = dialect(&value)?;
    let invalid_items = if dialect == Dialect::OpenApi30 {
        check_30(&value)?
    } else {
        check_structure(&value, dialect)?;
        Vec::new()
    };
    let base = servers::base_path(&value, dialect)?;
    let mut imported = paths::walk(&value, dialect, &base);
    for (item, p) in invalid_items {
        if imported.problems.iter().any(|q| q.pointer == item) {
            continue;
        }
        let (dropped, kept) = std::mem::take(&mut imported.operations)
            .into_iter()
            .partition(|o: &SpecOperation| o.pointer == item);
        imported.operations = kept;
        imported.problems.push(SpecProblem {
            message: format!("at #{}: {}", p.pointer, p.message),
            pointer: item,
            operations: dropped
                .iter()
                .map(|o| format!("{} {}", o.method, o.path))
                .collect(),
        });
    }
    Ok(imported)
}

fn parse(text: &str) -> Result<serde_yaml::Value, SpecProblem> {
    if text.trim_start().starts_with('{') {
        // JSON through serde_json: the YAML parser is several times slower on
        // megabyte-sized specs.
        let json: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| SpecProblem::whole(format!("spec is not valid JSON: {e}")))?;
        return serde_yaml::to_value(json)
            .map_err(|e| SpecProblem::whole(format!("spec cannot be read: {e}")));
    }
    serde_yaml::from_str(text)
        .map_err(|e| SpecProblem::whole(format!("spec is not YAML or JSON: {e}")))
}

fn dialect(value: &serde_yaml::Value) -> Result<Dialect, SpecProblem> {
    let version = |key: &str| match value.get(key) {
        Some(serde_yaml::Value::String(v)) => Some(v.clone()),
        Some(serde_yaml::Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(format!("{other:?}")),
        None => None,
    };
    if let Some(v) = version("openapi") {
        return if v.starts_with("3.0.") || v == "3.0" {
            Ok(Dialect::OpenApi30)
        } else if v.starts_with("3.1.") || v == "3.1" {
            Ok(Dialect::OpenApi31)
        } else {
            Err(SpecProblem::at(
                "/openapi",
                format!("spec declares openapi {v:?}; supported: Swagger 2.0, OpenAPI 3.0 and 3.1"),
            ))
        };
    }
    match version("swagger") {
        Some(v) if v == "2.0" => Ok(Dialect::Swagger2),
        Some(v) => Err(SpecProblem::at(
            "/swagger",
            format!("spec declares swagger {v:?}; only Swagger 2.0 is supported"),
        )),
        None => Err(SpecProblem::whole(
            "spec has no `openapi` or `swagger` field; expected OpenAPI 3.x or Swagger 2.0",
        )),
    }
}

/// The fields 2.0 and 3.1 require that routing does not otherwise read.
fn check_structure(value: &serde_yaml::Value, dialect: Dialect) -> Result<(), SpecProblem> {
    let info = value
        .get("info")
        .ok_or_else(|| SpecProblem::whole("spec has no `info`"))?;
    for field in ["title", "version"] {
        if !info.get(field).is_some_and(|v| v.is_string()) {
            return Err(SpecProblem::at(
                "/info",
                format!("`info.{field}` must be a string"),
            ));
        }
    }
    if dialect == Dialect::Swagger2 && value.get("paths").is_none() {
        return Err(SpecProblem::whole("a Swagger 2.0 spec needs `paths`"));
    }
    Ok(())
}

/// The whole-document check for 3.0, located by a JSON pointer. A fault
/// inside path items is theirs, not the document's: those items are
/// returned (pointer of the item, the fault) so the other paths still
/// import, provided the document is valid without them.
fn check_30(value: &serde_yaml::Value) -> Result<Vec<(String, SpecProblem)>, SpecProblem> {
    fn check<T: serde::de::DeserializeOwned>(
        v: &serde_yaml::Value,
        at: &str,
        what: &str,
    ) -> Result<(), SpecProblem> {
        serde_path_to_error::deserialize::<_, T>(v)
            .map(|_| ())
            .map_err(|e| {
                let ptr = format!("{at}{}", pointer::from_serde_path(e.path()));
                SpecProblem::at(
                    ptr,
                    format!("not a valid OpenAPI 3.0 {what}: {}", e.inner()),
                )
            })
    }
    let whole = match check::<openapiv3::OpenAPI>(value, "", "document") {
        Ok(()) => return Ok(Vec::new()),
        Err(p) => p,
    };
    if whole.pointer != "/paths" && !whole.pointer.starts_with("/paths/") {
        return Err(whole);
    }
    let Some(serde_yaml::Value::Mapping(paths)) = value.get("paths") else {
        return Err(whole);
    };
    let mut bad = Vec::new();
    let mut pruned = paths.clone();
    for (key, item) in paths {
        let Some(k) = key.as_str().filter(|k| !k.starts_with("x-")) else {
            continue;
        };
        let at = format!("/paths/{}", pointer::escape(k));
        if let Err(p) = check::<openapiv3::ReferenceOr<openapiv3::PathItem>>(item, &at, "path item")
        {
            pruned.remove(key);
            bad.push((at, p));
        }
    }
    if bad.is_empty() {
        return Err(whole);
    }
    let mut rest = value.clone();
    if let Some(m) = rest.as_mapping_mut() {
        m.insert("paths".into(), serde_yaml::Value::Mapping(pruned));
    }
    check::<openapiv3::OpenAPI>(&rest, "", "document")?;
    Ok(bad)
}
