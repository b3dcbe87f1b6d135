//! Walking a spec's `paths`: each path item × method becomes an operation.
//!
//! - `x-` keys under `paths` are extensions, not paths: ignored.
//! - A path item that is a `$ref` is followed (local references only).
//! - A `#fragment` in a path key never reaches a server (Box writes
//!   `/files/{id}#add_shared_link` to document variants of one endpoint):
//!   it is stripped and the variants merge into one operation.
//! - Path-level and operation-level `servers` replace the base path there.
//! - Spellings of one operation (trailing slash, parameter names, fragment
//!   variants) merge; the first one in document order keeps its id.

use super::pointer::{escape, resolve};
use super::servers::first_server;
use super::{Dialect, Imported, SpecOperation, SpecProblem};
use crate::operations::{canonical_key, check_template, join_prefix};
use serde_yaml::Value;
use std::collections::HashSet;

const METHODS_3: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
const METHODS_2: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// `$ref` chains longer than this are refused (they are loops in practice).
const MAX_REF_DEPTH: usize = 16;

pub(crate) fn walk(doc: &Value, dialect: Dialect, base: &str) -> Imported {
    let mut out = Imported::default();
    let paths = match doc.get("paths") {
        None | Some(Value::Null) => return out,
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            out.problems
                .push(SpecProblem::at("/paths", "`paths` must be a mapping"));
            return out;
        }
    };
    let methods = match dialect {
        Dialect::Swagger2 => METHODS_2,
        Dialect::OpenApi30 | Dialect::OpenApi31 => METHODS_3,
    };
    let mut seen: HashSet<(&'static str, String)> = HashSet::new();
    for (key, item) in paths {
        let Some(key) = key.as_str() else {
            out.problems
                .push(SpecProblem::at("/paths", "`paths` keys must be strings"));
            continue;
        };
        if key.starts_with("x-") {
            continue;
        }
        let ptr = format!("/paths/{}", escape(key));
        match path_item(doc, dialect, base, key, &ptr, item, methods) {
            Ok(ops) => {
                for (method, op) in ops {
                    if seen.insert((method, canonical_key(&op.path))) {
                        out.operations.push(op);
                    }
                }
            }
            Err(problem) => out.problems.push(problem),
        }
    }
    out
}

/// The operations of one path item, or the one problem that stops them all.
fn path_item(
    doc: &Value,
    dialect: Dialect,
    base: &str,
    key: &str,
    ptr: &str,
    item: &Value,
    methods: &[&'static str],
) -> Result<Vec<(&'static str, SpecOperation)>, SpecProblem> {
    let target = follow(doc, item).map_err(|m| SpecProblem::at(ptr, m))?;
    // Fields beside a `$ref` (3.1 allows them) take precedence over the target's.
    let field = |name: &str| item.get(name).or_else(|| target.get(name));
    let path = key.split('#').next().unwrap_or(key);
    let item_base = match dialect {
        Dialect::Swagger2 => None,
        _ => first_server(field("servers"), &format!("{ptr}/servers"))?,
    };
    let item_base = item_base.as_deref().unwrap_or(base);
    let mut ops = Vec::new();
    let mut unusable: Vec<String> = Vec::new();
    let mut why = String::new();
    for &method in methods {
        let Some(op) = field(method) else { continue };
        let upper = method.to_ascii_uppercase();
        if !op.is_mapping() {
            return Err(SpecProblem::at(
                format!("{ptr}/{method}"),
                "an operation must be a mapping",
            ));
        }
        let op_base = match dialect {
            Dialect::Swagger2 => None,
            _ => first_server(op.get("servers"), &format!("{ptr}/{method}/servers"))?,
        };
        let full = join_prefix(op_base.as_deref().unwrap_or(item_base), path);
        match check_template(&full) {
            Ok(template) => ops.push((
                method,
                SpecOperation {
                    method: upper,
                    path: template,
                    operation_id: op
                        .get("operationId")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    pointer: ptr.to_string(),
                },
            )),
            Err(e) => {
                if why.is_empty() {
                    why = e;
                }
                unusable.push(format!("{upper} {full}"));
            }
        }
    }
    if unusable.is_empty() {
        Ok(ops)
    } else {
        // One problem per path: the path, not each method, is what is wrong.
        // Its other operations (a different server, say) are kept out too so
        // that the path is all-or-nothing.
        unusable.extend(
            ops.into_iter()
                .map(|(_, o)| format!("{} {}", o.method, o.path)),
        );
        Err(SpecProblem {
            pointer: ptr.to_string(),
            message: why,
            operations: unusable,
        })
    }
}

/// Follows a path item's `$ref` chain to a mapping.
fn follow<'a>(doc: &'a Value, item: &'a Value) -> Result<&'a Value, String> {
    let mut at = item;
    for _ in 0..MAX_REF_DEPTH {
        if !at.is_mapping() {
            return Err("a path item must be a mapping".to_string());
        }
        match at.get("$ref") {
            None => return Ok(at),
            Some(Value::String(r)) => at = resolve(doc, r)?,
            Some(_) => return Err("$ref must be a string".to_string()),
        }
    }
    Err(format!(
        "$ref chain is longer than {MAX_REF_DEPTH} (a loop?)"
    ))
}
