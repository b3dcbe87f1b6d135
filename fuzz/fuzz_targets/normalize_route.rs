//! Routing an arbitrary request path over fixed snapshots that use every
//! `escaped_slashes` / `path_parameters` policy, with and without
//! `strip_path`: never panics, whatever the path.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::normalize::match_form;
use tollgate_core::routes::upstream_path;
use tollgate_core::target::resolve;
use tollgate_fuzz::{ace_method, request, PLAIN, STRIPPED};

fuzz_target!(|data: &[u8]| {
    let Some(req) = request(data) else { return };
    for snap in [&*PLAIN, &*STRIPPED] {
        let Ok(t) = resolve(&snap.routes, &req.method, req.host, req.path) else {
            continue;
        };
        let route = snap.routes.route(t.route.route);
        let base = &snap.services[t.route.service as usize].upstream.base_path;
        let up = upstream_path(base, &t.path, t.prefix_len, route.strip_path);
        let ops = snap.op_router.find(
            req.host,
            ace_method(&req.method),
            match_form(t.match_path()),
        );
        std::hint::black_box((up, ops));
    }
});
