//! Validation of one API: its spec imported, its manual operations checked,
//! both merged into one operation list that the operation router is known
//! to accept. Problems inside a spec are located by a JSON pointer after the
//! field that holds the spec (`apis[0].spec_file#/paths/~1a~1{Sid}.json`).

use crate::model::{self, OnUnsupported};
use crate::openapi::{self, SpecProblem};
use crate::operations::{canonical_key, check_host, check_method, check_template};
use crate::resolved::{ApiSpec, OperationSpec};
use crate::router_check::RouterCheck;
use crate::validate_ctx::Ctx;
use std::collections::HashMap;

/// (method, canonical path, host) → operation index within its API.
pub(crate) type OpIndex = HashMap<(String, String, Option<String>), usize>;

/// An operation before checks: where it came from decides how it is reported.
struct Found {
    method: String,
    path: String,
    host: Option<String>,
    id: Option<String>,
    /// Location for errors about it.
    loc: String,
    from_spec: bool,
}

/// `router` is shared by all APIs, in snapshot order, as the core's router is.
pub(crate) fn api(
    ctx: &mut Ctx,
    i: usize,
    a: &model::Api,
    router: &mut RouterCheck,
) -> (ApiSpec, OpIndex) {
    let at = format!("apis[{i}]");
    let skip = a.on_unsupported_operation == OnUnsupported::Skip;
    let mut found: Vec<Found> = Vec::new();
    let text = match (&a.spec, &a.spec_file) {
        (Some(_), Some(_)) => {
            ctx.err(&at, "set spec or spec_file, not both");
            None
        }
        (Some(s), None) => Some((s.clone(), format!("{at}.spec"))),
        (None, Some(f)) => read_spec_file(ctx, &format!("{at}.spec_file"), f),
        (None, None) => None,
    };
    // A spec that cannot be read or imported is reported once: packages
    // naming its operations are not reported again.
    let errors_before = ctx.errors.len();
    if let Some((text, loc)) = text {
        match openapi::import(&text) {
            Ok(imported) => {
                for p in imported.problems {
                    report_problem(ctx, &loc, p, skip);
                }
                found.extend(imported.operations.into_iter().map(|o| Found {
                    method: o.method,
                    path: o.path,
                    host: None,
                    id: o.operation_id,
                    loc: format!("{loc}#{}", o.pointer),
                    from_spec: true,
                }));
            }
            Err(p) => ctx.err(located(&loc, &p.pointer), p.message),
        }
    }
    if ctx.errors.len() > errors_before {
        ctx.broken.insert(a.name.clone());
    }
    found.extend(a.operations.iter().enumerate().map(|(k, m)| Found {
        method: m.method.clone(),
        path: m.path.clone(),
        host: m.host.clone(),
        id: m.id.clone(),
        loc: format!("{at}.operations[{k}]"),
        from_spec: false,
    }));
    let mut ops: Vec<OperationSpec> = Vec::new();
    let mut index: OpIndex = HashMap::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for f in found {
        let loc = f.loc;
        let method = match check_method(&f.method) {
            Ok(m) => m,
            Err(e) => {
                ctx.err(&loc, e);
                continue;
            }
        };
        if method == "CONNECT" {
            ctx.warn(
                &loc,
                "CONNECT requests are answered 405 before routing (as Kong's nginx does): the operation is kept but no request matches it",
            );
        }
        let path = match check_template(&f.path) {
            Ok(p) => p,
            Err(e) => {
                ctx.err(&loc, e);
                continue;
            }
        };
        let host = match f.host.map(|h| check_host(&h, false)).transpose() {
            Ok(h) => h,
            Err(e) => {
                ctx.err(format!("{loc}.host"), e);
                continue;
            }
        };
        let key = (method.clone(), canonical_key(&path), host.clone());
        if let Some(&existing) = index.get(&key) {
            // The same operation again (trailing slash, other parameter names, spec + manual):
            // one operation; an explicit manual id wins over a generated one.
            if let Some(id) = f.id {
                if ids.get(&id).is_some_and(|&o| o != existing) {
                    ctx.err(
                        &loc,
                        format!("operation id {id:?} is used twice in this API"),
                    );
                } else {
                    ids.remove(&ops[existing].id);
                    ids.insert(id.clone(), existing);
                    ops[existing].id = id;
                }
            }
            continue;
        }
        if let Err(why) = router.insert(host.as_deref(), &method, &path) {
            if skip && f.from_spec {
                ctx.warn(
                    &loc,
                    format!(
                        "operation {method} {path} skipped (on_unsupported_operation: skip): {why}"
                    ),
                );
            } else {
                ctx.err(&loc, format!("operation {method} {path} {why}"));
            }
            continue;
        }
        let id =
            f.id.unwrap_or_else(|| format!("{}:{} {}", a.name, method, path));
        if ids.contains_key(&id) {
            ctx.err(
                &loc,
                format!("operation id {id:?} is used twice in this API"),
            );
            continue;
        }
        ids.insert(id.clone(), ops.len());
        index.insert(key, ops.len());
        ops.push(OperationSpec {
            id,
            method,
            path,
            host,
        });
    }
    (
        ApiSpec {
            name: a.name.clone(),
            version: a.version.clone(),
            operations: ops,
        },
        index,
    )
}

fn located(loc: &str, pointer: &str) -> String {
    if pointer.is_empty() {
        loc.to_string()
    } else {
        format!("{loc}#{pointer}")
    }
}

/// One error per unusable path, or with `skip` one warning per operation.
fn report_problem(ctx: &mut Ctx, loc: &str, p: SpecProblem, skip: bool) {
    let at = located(loc, &p.pointer);
    if !skip {
        let what = if p.operations.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.operations.join(", "))
        };
        ctx.err(
            at,
            format!(
                "{}{what}; set `on_unsupported_operation: skip` on the API to import the rest of the spec without it",
                p.message
            ),
        );
    } else if p.operations.is_empty() {
        ctx.warn(
            at,
            format!(
                "path skipped (on_unsupported_operation: skip): {}",
                p.message
            ),
        );
    } else {
        for op in &p.operations {
            ctx.warn(
                &at,
                format!(
                    "operation {op} skipped (on_unsupported_operation: skip): {}",
                    p.message
                ),
            );
        }
    }
}

fn read_spec_file(ctx: &mut Ctx, at: &str, file: &str) -> Option<(String, String)> {
    let Some(base) = ctx.base_dir else {
        ctx.err(
            at,
            "spec_file needs a snapshot loaded from a file; inline the spec with `spec` instead",
        );
        return None;
    };
    let path = base.join(file);
    match std::fs::read(&path) {
        Ok(bytes) => match String::from_utf8(bytes.clone()) {
            Ok(text) => {
                ctx.spec_bytes.push(bytes);
                Some((text, at.to_string()))
            }
            Err(_) => {
                ctx.err(at, format!("{} is not UTF-8", path.display()));
                None
            }
        },
        Err(e) => {
            ctx.err(at, format!("cannot read {}: {e}", path.display()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::load_bytes;

    const SPEC: &str = "openapi: 3.0.0\n      info: {title: t, version: '1'}\n      paths:\n        /a/{x}{y}:\n          get: {responses: {'200': {description: ok}}}\n          post: {responses: {'200': {description: ok}}}\n        /b:\n          get: {responses: {'200': {description: ok}}}\n";

    fn snapshot(extra: &str, spec_key: &str, spec: &str) -> String {
        format!("_format_version: \"3.0\"\napis:\n  - name: x\n    {extra}\n    {spec_key}: |\n      {spec}")
    }

    #[test]
    fn unsupported_path_is_one_error_located_in_the_spec() {
        let doc = snapshot("version: v1", "spec", SPEC);
        let errs = load_bytes(doc.as_bytes(), None).expect_err("refused").0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "apis[0].spec#/paths/~1a~1{x}{y}");
        assert!(
            errs[0].message.contains("GET /a/{x}{y}, POST /a/{x}{y}"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn skip_keeps_the_rest_and_warns_each_operation() {
        let doc = snapshot("on_unsupported_operation: skip", "spec", SPEC);
        let s = load_bytes(doc.as_bytes(), None).expect("loads");
        let ops: Vec<String> = s.apis[0]
            .operations
            .iter()
            .map(|o| format!("{} {}", o.method, o.path))
            .collect();
        assert_eq!(ops, ["GET /b"]);
        let warned: Vec<&str> = s
            .warnings
            .iter()
            .filter(|w| w.path == "apis[0].spec#/paths/~1a~1{x}{y}")
            .map(|w| w.message.as_str())
            .collect();
        assert_eq!(warned.len(), 2, "{:?}", s.warnings);
        assert!(warned[0].contains("GET /a/{x}{y} skipped"), "{warned:?}");
        assert!(warned[1].contains("POST /a/{x}{y} skipped"), "{warned:?}");
    }

    #[test]
    fn router_conflicts_are_located_or_skipped() {
        // Prefix and suffix parameters at one position: the router cannot hold both.
        let spec = "openapi: 3.0.0\n      info: {title: t, version: '1'}\n      paths:\n        /f/thumb.{ext}:\n          get: {responses: {'200': {description: ok}}}\n        /f/{id}.json:\n          get: {responses: {'200': {description: ok}}}\n";
        let errs = load_bytes(snapshot("version: v1", "spec", spec).as_bytes(), None)
            .expect_err("refused")
            .0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "apis[0].spec#/paths/~1f~1{id}.json");
        let s = load_bytes(
            snapshot("on_unsupported_operation: skip", "spec", spec).as_bytes(),
            None,
        )
        .expect("loads");
        assert_eq!(s.apis[0].operations.len(), 1);
        // A manual operation is never skipped.
        let doc = "_format_version: \"3.0\"\napis:\n  - name: x\n    on_unsupported_operation: skip\n    operations:\n      - { method: GET, path: \"/f/thumb.{ext}\" }\n      - { method: GET, path: \"/f/{id}.json\" }\n";
        let errs = load_bytes(doc.as_bytes(), None).expect_err("refused").0;
        assert_eq!(errs[0].path, "apis[0].operations[1]");
    }

    #[test]
    fn conflicts_across_apis_are_found_before_compiling() {
        let doc = "_format_version: \"3.0\"\napis:\n  - name: a\n    operations: [{ method: GET, path: \"/f/thumb.{ext}\" }, { method: GET, path: \"/g/{id}\" }]\n  - name: b\n    operations: [{ method: GET, path: \"/g/{other}\" }, { method: GET, path: \"/f/{id}.json\" }]\n";
        let errs = load_bytes(doc.as_bytes(), None).expect_err("refused").0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "apis[1].operations[1]");
    }

    #[test]
    fn spec_file_errors_name_spec_file() {
        let dir = std::env::temp_dir().join(format!("tollgate-specfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let spec = SPEC.replace("\n      ", "\n");
        std::fs::write(dir.join("spec.yaml"), spec).expect("write");
        let doc = "_format_version: \"3.0\"\napis:\n  - name: x\n    spec_file: spec.yaml\n";
        let errs = load_bytes(doc.as_bytes(), Some(&dir))
            .expect_err("refused")
            .0;
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path, "apis[0].spec_file#/paths/~1a~1{x}{y}");
    }
}
