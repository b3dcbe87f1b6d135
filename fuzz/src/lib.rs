//! Fixtures shared by the fuzz targets: two compiled route snapshots that
//! cover every path policy, and how a fuzz input picks a method and host.

use http::Method;
use std::sync::LazyLock;
use tollgate_core::CompiledSnapshot;

/// Routes with `strip_path: false` and no base path: the forwarded path is
/// the normalized request path itself, so it can be routed again as is.
/// Every `escaped_slashes` × `path_parameters` pair, nested prefixes whose
/// policy differs from the enclosing one, a host-only route and a
/// method-only route, and a catch-all with the default (strict) policies.
pub const PLAIN_ROUTES: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - { name: root, paths: [/], strip_path: false }
      - { name: strict, paths: [/users], strip_path: false }
      - { name: hosted, paths: [/users], hosts: [admin.example.com], escaped_slashes: decode, strip_path: false }
      - { name: decode, paths: [/files], escaped_slashes: decode, strip_path: false }
      - { name: decode-admin, paths: [/files/admin], escaped_slashes: decode, strip_path: false }
      - { name: strict-in-decode, paths: [/files/private], strip_path: false }
      - { name: keep, paths: [/blobs], escaped_slashes: keep, strip_path: false }
      - { name: decode-in-keep, paths: [/blobs/x], escaped_slashes: decode, strip_path: false }
      - { name: params, paths: [/app], path_parameters: allow, strip_path: false }
      - { name: upload, paths: [/app/upload], methods: [POST], strip_path: false }
      - { name: decode-params, paths: [/docs], escaped_slashes: decode, path_parameters: allow, strip_path: false }
      - { name: keep-params, paths: [/raw], escaped_slashes: keep, path_parameters: allow, strip_path: false }
      - { name: mid-segment, paths: [/v2], path_parameters: allow, escaped_slashes: decode, strip_path: false }
apis:
  - name: a
    operations:
      - { method: GET, path: / }
      - { method: GET, path: /users }
      - { method: GET, path: "/users/{id}" }
      - { method: GET, path: /users/me }
      - { method: GET, path: "/users/@me" }
      - { method: POST, path: "/users/me:activate" }
      - { method: GET, path: "/users/{id}/orders" }
      - { method: GET, path: "/users/{id}/orders/{order}" }
      - { method: GET, path: "/files/{name}" }
      - { method: GET, path: "/files/{dir}/{name}" }
      - { method: GET, path: /files/admin }
      - { method: GET, path: "/files/admin/{x}" }
      - { method: DELETE, path: "/files/admin/{x}" }
      - { method: GET, path: "/files/private/{x}" }
      - { method: GET, path: "/blobs/{id}" }
      - { method: GET, path: /blobs/a/b }
      - { method: GET, path: "/blobs/x/{y}" }
      - { method: GET, path: "/app/{x}" }
      - { method: GET, path: "/app/{x}/{y}" }
      - { method: GET, path: /app/admin }
      - { method: POST, path: /app/upload }
      - { method: GET, path: "/docs/{a}/{b}" }
      - { method: GET, path: /docs/index }
      - { method: GET, path: "/raw/{x}" }
      - { method: GET, path: "/v1/{thing}" }
      - { method: GET, path: "/v1/things:batchGet" }
      - { method: GET, path: "/v2/{a}" }
      - { method: GET, path: "/v2x/{a}" }
"#;

/// The service base path of [`STRIPPED_ROUTES`].
pub const BASE: &str = "/base";

/// The same policies with `strip_path: true` and a service base path, where
/// the upstream sees the base path followed by what was not matched.
pub const STRIPPED_ROUTES: &str = r#"
_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1/base
    routes:
      - { name: root, paths: [/] }
      - { name: strict, paths: [/users] }
      - { name: decode, paths: [/files], escaped_slashes: decode }
      - { name: decode-admin, paths: [/files/admin], escaped_slashes: decode }
      - { name: strict-in-decode, paths: [/files/private] }
      - { name: keep, paths: [/blobs], escaped_slashes: keep }
      - { name: params, paths: [/app], path_parameters: allow }
      - { name: decode-params, paths: [/docs], escaped_slashes: decode, path_parameters: allow }
      - { name: keep-params, paths: [/raw], escaped_slashes: keep, path_parameters: allow }
      - { name: slash-prefix, paths: [/api/], escaped_slashes: decode, path_parameters: allow }
"#;

fn compiled(yaml: &str) -> CompiledSnapshot {
    let s = match tollgate_config::load_bytes(yaml.as_bytes(), None) {
        Ok(s) => s,
        Err(e) => panic!("fixture snapshot is invalid: {e:?}"),
    };
    match tollgate_core::compile(&s) {
        Ok(c) => c,
        Err(e) => panic!("fixture snapshot does not compile: {e}"),
    }
}

pub static PLAIN: LazyLock<CompiledSnapshot> = LazyLock::new(|| compiled(PLAIN_ROUTES));
pub static STRIPPED: LazyLock<CompiledSnapshot> = LazyLock::new(|| compiled(STRIPPED_ROUTES));

const METHODS: [Method; 4] = [Method::GET, Method::POST, Method::HEAD, Method::DELETE];
const HOSTS: [&str; 2] = ["h", "admin.example.com"];

/// A request path with the method and host it is sent with.
pub struct Request<'a> {
    pub method: Method,
    pub host: &'static str,
    pub path: &'a str,
}

/// An input starting with `/` is a path sent as `GET` to host `h` (so plain
/// paths work as seeds); otherwise its first byte picks method and host.
pub fn request(data: &[u8]) -> Option<Request<'_>> {
    let (sel, rest) = match data.first() {
        Some(b'/') | None => (0, data),
        Some(&b) => (b, &data[1..]),
    };
    let path = std::str::from_utf8(rest).ok()?;
    Some(Request {
        method: METHODS[usize::from(sel & 3)].clone(),
        host: HOSTS[usize::from((sel >> 2) & 1)],
        path,
    })
}

/// The method ACE matches operations with (HEAD as GET).
pub fn ace_method(m: &Method) -> &Method {
    if *m == Method::HEAD {
        &Method::GET
    } else {
        m
    }
}

/// Decodes every valid `%XX` once and leaves anything else as it is, as
/// Flask (Werkzeug) and Starlette do with a request path before routing.
pub fn percent_decode_once(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
