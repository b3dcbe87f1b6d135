//! The forwarded path is the matched path (contract §3: no request reaches an
//! operation's upstream without being matched as that operation).
//!
//! For every path P that routes, with F the path sent upstream (built as the
//! gateway builds it, `upstream_path(base, &t.path, t.prefix_len, strip_path)`):
//!
//! - the match path is a normal path (normalizing it changes nothing);
//! - `strip_path: false`, no base path: F routes again to the same route,
//!   match path and operations; and on routes whose `escaped_slashes` is not
//!   `keep`, F percent-decoded once (Flask, Starlette; servlet containers cut
//!   `;` parameters first) falls in the same operation group as P;
//! - `strip_path: true` with a base path: F is normal, starts with the base
//!   path, and what follows it is what followed the matched prefix.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_config::model::{EscapedSlashes, PathParameters};
use tollgate_core::normalize::{match_form, normalize, strip_params};
use tollgate_core::routes::upstream_path;
use tollgate_core::target::resolve;
use tollgate_fuzz::{ace_method, percent_decode_once, request, Request, BASE, PLAIN, STRIPPED};

fn assert_normal(what: &str, path: &str, raw: &str) {
    let n = normalize(path);
    assert_eq!(
        n.as_ref().map(|n| &*n.path).ok(),
        Some(path),
        "{what} {path:?} of {raw:?} is not a normal path"
    );
}

/// `upstream` as an upstream routes it when the route lets `;` parameters through.
fn without_params(upstream: &str, params: PathParameters) -> String {
    match params {
        PathParameters::Allow => strip_params(upstream),
        PathParameters::Reject => upstream.to_string(),
    }
}

fn plain(req: &Request<'_>) {
    let snap = &*PLAIN;
    let Ok(t) = resolve(&snap.routes, &req.method, req.host, req.path) else {
        return;
    };
    let raw = req.path;
    let route = snap.routes.route(t.route.route);
    let base = &snap.services[t.route.service as usize].upstream.base_path;
    assert!(base.is_empty() && !route.strip_path, "fixture");
    let f = upstream_path(base, &t.path, t.prefix_len, route.strip_path);
    let method = ace_method(&req.method);
    let ops = snap
        .op_router
        .find(req.host, method, match_form(t.match_path()));
    assert_normal("match path", t.match_path(), raw);

    let again = match resolve(&snap.routes, &req.method, req.host, &f) {
        Ok(a) => a,
        Err(e) => panic!("forwarded {f:?} of {raw:?} does not route again: {e}"),
    };
    assert_eq!(
        again.route, t.route,
        "forwarded {f:?} of {raw:?} routes elsewhere"
    );
    assert_eq!(
        again.match_path(),
        t.match_path(),
        "forwarded {f:?} of {raw:?}"
    );
    assert_eq!(
        snap.op_router
            .find(req.host, method, match_form(again.match_path())),
        ops,
        "forwarded {f:?} of {raw:?} matches other operations"
    );

    if route.escaped_slashes != EscapedSlashes::Keep {
        let decoded = percent_decode_once(&without_params(&f, route.path_parameters));
        assert_eq!(
            snap.op_router.find(req.host, method, match_form(&decoded)),
            ops,
            "{raw:?} matched as {:?}, an upstream decoding {f:?} routes {decoded:?}",
            t.match_path()
        );
    }
}

fn stripped(req: &Request<'_>) {
    let snap = &*STRIPPED;
    let Ok(t) = resolve(&snap.routes, &req.method, req.host, req.path) else {
        return;
    };
    let raw = req.path;
    let route = snap.routes.route(t.route.route);
    let base = &snap.services[t.route.service as usize].upstream.base_path;
    assert!(base == BASE && route.strip_path, "fixture");
    let f = upstream_path(base, &t.path, t.prefix_len, true);
    assert_normal("match path", t.match_path(), raw);
    assert_normal("forwarded path", &f, raw);
    let Some(rest) = f.strip_prefix(BASE) else {
        panic!("forwarded {f:?} of {raw:?} is not under the base path");
    };
    assert!(
        rest.is_empty() || rest.starts_with('/'),
        "forwarded {f:?} of {raw:?} runs into the base path"
    );
    let matched_rest = &t.match_path()[t.route.prefix_len..];
    let seen = without_params(rest, route.path_parameters);
    assert_eq!(
        seen.trim_start_matches('/'),
        matched_rest.trim_start_matches('/'),
        "{raw:?} matched as {:?} (prefix {}), forwarded as {f:?}",
        t.match_path(),
        t.route.prefix_len
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else { return };
    plain(&req);
    stripped(&req);
});
