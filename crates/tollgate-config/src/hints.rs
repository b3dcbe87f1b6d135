//! "Did you mean" hints for references that almost match.

use crate::resolved::ApiSpec;

/// When a package names `GET /items` and the API has `GET /v1/items` (the
/// spec's `servers` URL adds its path to every operation), says so.
pub(crate) fn servers_prefix(api: &ApiSpec, method: &str, path: &str) -> String {
    let want = path.trim_end_matches('/');
    let same_shape = |candidate: &str| {
        let (a, b) = (segments(candidate), segments(want));
        a.len() > b.len()
            && a[a.len() - b.len()..]
                .iter()
                .zip(&b)
                .all(|(x, y)| x == y || (is_param(x) && is_param(y)))
    };
    let found: Vec<&str> = api
        .operations
        .iter()
        .filter(|o| o.method == method && o.host.is_none() && same_shape(&o.path))
        .map(|o| o.path.as_str())
        .collect();
    match found.as_slice() {
        [one] => {
            let segs = segments(one);
            let extra = segs.len() - segments(want).len();
            let prefix: String = segs[..extra].iter().map(|s| format!("/{s}")).collect();
            format!(
                "; did you mean {method} {one}? (the spec's servers URL puts {prefix} before every path)"
            )
        }
        _ => String::new(),
    }
}

fn segments(p: &str) -> Vec<&str> {
    p.split('/').filter(|s| !s.is_empty()).collect()
}

fn is_param(s: &str) -> bool {
    s.starts_with('{') && s.ends_with('}')
}

/// Once per route: `strip_path: true` (Kong's default) sends the upstream a
/// shorter path than the operations it carries name, which surprises a user
/// who wrote the operations as the upstream serves them.
pub(crate) fn strip_path(
    ctx: &mut crate::validate_ctx::Ctx,
    services: &[crate::resolved::ServiceSpec],
    apis: &[ApiSpec],
) {
    for (si, s) in services.iter().enumerate() {
        for (ri, r) in s.routes.iter().enumerate() {
            if !r.strip_path {
                continue;
            }
            let carried = r.paths.iter().filter(|p| p.len() > 1).find_map(|p| {
                apis.iter().flat_map(|a| &a.operations).find_map(|o| {
                    let sample = crate::sample_path(&o.path);
                    let rest = sample.strip_prefix(p.as_str())?;
                    let boundary = p.ends_with('/') || rest.is_empty() || rest.starts_with('/');
                    // Shown as a template when the prefix is literal in it.
                    let shown = o.path.strip_prefix(p.as_str()).unwrap_or(rest);
                    boundary.then(|| (p, o, shown.to_string()))
                })
            });
            let Some((prefix, op, rest)) = carried else {
                continue;
            };
            let upstream = format!("{}/{}", s.upstream.base_path, rest.trim_start_matches('/'));
            ctx.warn(
                format!("services[{si}].routes[{ri}].strip_path"),
                format!(
                    "route {:?} strips {prefix:?} (strip_path: true, Kong's default): operation {} {} \
                     reaches the upstream as {upstream}; set strip_path: false if the upstream serves \
                     the paths the operations name",
                    r.name, op.method, op.path
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::load_bytes;

    #[test]
    fn servers_path_mismatch_says_did_you_mean() {
        let yaml = r#"
_format_version: "3.0"
apis:
  - name: shop
    spec: |
      openapi: 3.0.0
      info: { title: t, version: "1" }
      servers: [{ url: "https://shop.example/v1" }]
      paths:
        /items/{id}: { get: { responses: { "200": { description: ok } } } }
  - name: broken
    spec: "openapi: 9"
api_packages:
  - name: retail
    operations:
      - { api: shop, method: GET, path: "/items/{itemId}" }
      - { api: broken, method: GET, path: /x }
"#;
        let errs = load_bytes(yaml.as_bytes(), None).expect_err("invalid").0;
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            text.iter().any(|e| e.contains(
                "did you mean GET /v1/items/{id}? (the spec's servers URL puts /v1 before every path)"
            )),
            "{text:#?}"
        );
        // The broken spec is one error; its package operation is not another.
        assert!(
            !text
                .iter()
                .any(|e| e.contains("api \"broken\" has no operation")),
            "{text:#?}"
        );
        assert!(
            text.iter().any(|e| e.starts_with("apis[1].spec")),
            "{text:#?}"
        );
    }
}
