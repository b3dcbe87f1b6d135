//! The request phase: check the request head, normalize once and route under
//! the route's path policies, run the route's plugin chain, and decide the
//! upstream request line.

use crate::cluster::Backend;
use crate::ctx::RequestCtx;
use crate::password_checks::Checked;
use crate::reply::write_reply;
use crate::state::Gateway;
use crate::state::Loaded;
use crate::trace::{PluginStep, RequestTrace};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::Result;
use std::borrow::Cow;
use std::time::Instant;
use tollgate_core::credentials::{has_query_param, strip_query_param, KeyName};
use tollgate_core::hygiene;
use tollgate_core::plugins::{Access, AccessCx, Chain};
use tollgate_core::request::{Flow, Hidden, HiddenKeys, Reply, RequestView};
use tollgate_core::routes::upstream_path;
use tollgate_core::target::{resolve, TargetError};

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;
const UNEXPECTED: &str = r#"{"message":"An unexpected error occurred"}"#;

/// Host without port, lower-cased (borrowed when already lower-case).
pub fn host_of(req: &pingora::http::RequestHeader) -> Cow<'_, str> {
    let raw = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.host())
        .unwrap_or("");
    let host = if let Some(v6) = raw.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        raw.split(':').next().unwrap_or("")
    };
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// What the request phase decided.
enum Decision {
    Reply(Reply),
    /// Proxy; `Some` carries a rewritten upstream path and query.
    Proxy(Option<String>),
}

/// Runs the request phase; `Ok(true)` when a response was already sent.
pub async fn request_filter(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
) -> Result<bool> {
    let loaded = gw.current();
    ctx.loaded = Some(loaded.clone());
    let client_ip = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip());
    ctx.trusted_peer = client_ip.is_some_and(|ip| gw.trusted_ips.contains(ip));
    // HTTP/2 has no Content-Length/Transfer-Encoding to refuse: a body is a
    // HEADERS frame without END_STREAM. Forwarded to HTTP/1.1 it would become
    // a chunked body on a GET, which an upstream may read as the next request.
    if session.is_http2()
        && hygiene::bodiless(&session.req_header().method)
        && !session.is_body_empty()
    {
        let reply = Reply::message(400, &format!("Bad request: {}", hygiene::Refusal::Body));
        return write_reply(session, ctx, reply).await;
    }
    match decide(gw, &loaded, session.req_header(), client_ip, ctx).await {
        Decision::Reply(reply) => write_reply(session, ctx, reply).await,
        Decision::Proxy(uri) => {
            ctx.upstream_uri = uri;
            Ok(false)
        }
    }
}

fn bad_request(e: impl std::fmt::Display) -> Decision {
    Decision::Reply(Reply::message(400, &format!("Bad request: {e}")))
}

/// Checks of the request line and head that need no route. Run before any
/// plugin, so nothing is charged for a request that is then refused.
fn check_target(req: &RequestHeader, host: &str) -> Option<Decision> {
    // Only origin-form ("/path") and absolute-form ("http://host/path") targets
    // are proxied: for anything else the parsed path would not be what an
    // upstream sees in the raw target.
    let raw = req.raw_path();
    let absolute = raw.starts_with(b"http://") || raw.starts_with(b"https://");
    if !(raw.starts_with(b"/") || absolute) {
        return Some(Decision::Reply(Reply::static_json(
            400,
            r#"{"message":"Bad request: unsupported request target"}"#,
        )));
    }
    // An upstream may take the target's authority over Host (RFC 9112 3.2.2):
    // both must name the host that was routed on.
    if absolute
        && req
            .uri
            .host()
            .is_some_and(|h| !h.eq_ignore_ascii_case(host))
    {
        return Some(bad_request("request target and Host name different hosts"));
    }
    if let Err(e) = hygiene::check_request(&req.method, &req.headers) {
        return Some(bad_request(e));
    }
    None
}

async fn decide(
    gw: &Gateway,
    loaded: &Loaded,
    req: &RequestHeader,
    client_ip: Option<std::net::IpAddr>,
    ctx: &mut RequestCtx,
) -> Decision {
    let snap = &loaded.snap;
    let host = host_of(req);
    if let Some(refused) = check_target(req, &host) {
        return refused;
    }
    let target = match resolve(
        &snap.routes,
        &req.method,
        &host,
        &req.headers,
        req.uri.path(),
    ) {
        Ok(t) => t,
        Err(TargetError::NoRoute) => return Decision::Reply(Reply::static_json(404, NO_ROUTE)),
        Err(e) => return bad_request(e),
    };
    let rm = target.route;
    let route = snap.routes.route(rm.route);
    if hygiene::refuses_underscores(&req.headers, route.headers_with_underscores) {
        return bad_request(hygiene::Refusal::Underscore);
    }
    ctx.state.route = Some(rm);
    let view = RequestView {
        method: &req.method,
        host: &host,
        path: target.match_path(),
        query: req.uri.query(),
        headers: &req.headers,
        client_ip,
    };
    ctx.state.unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut cx = AccessCx {
        req: &view,
        state: &mut ctx.state,
        dir: snap,
        limiter: &gw.limiter,
        now_ns: gw.now_ns(),
    };
    let chain = &snap.chains[rm.route as usize];
    let flow = run_chain(gw, loaded, chain, &mut cx, ctx.trace.as_deref_mut()).await;
    if let Some(d) = ctx.state.ace_decision {
        gw.metrics.ace_decision(d, ctx.state.ace_shadow);
        if ctx.state.shadow.is_some() {
            crate::shadow::count(gw, snap, rm.route, d);
        }
    }
    if let Flow::Respond(reply) = flow {
        return Decision::Reply(reply);
    }
    let service = &snap.services[rm.service as usize];
    let up_path = upstream_path(
        &service.upstream.base_path,
        &target.path,
        target.prefix_len,
        route.strip_path,
    );
    let ace_keys: &[_] = if ctx.state.hide_ace_keys {
        &snap.ace_key_names
    } else {
        &[]
    };
    let query =
        upstream_query(req.uri.query(), &ctx.state.hidden, ace_keys).filter(|q| !q.is_empty());
    // Compared with the raw target, so the upstream always gets exactly the
    // normalized path that was matched; built only when it differs.
    let raw = req.raw_path();
    let unchanged = match raw.strip_prefix(up_path.as_bytes()) {
        Some(rest) => match &query {
            None => rest.is_empty(),
            Some(q) => rest.first() == Some(&b'?') && &rest[1..] == q.as_bytes(),
        },
        None => false,
    };
    if unchanged {
        return Decision::Proxy(None);
    }
    Decision::Proxy(Some(match query {
        Some(q) => format!("{up_path}?{q}"),
        None => up_path.into_owned(),
    }))
}

/// Runs a chain in order, timing each plugin; stops at the first response.
/// A plugin that needs a limit charged gets it charged on the backend its
/// counters name (local, or Redis), then finishes. With tracing on, each
/// plugin's and Redis call's start and end are recorded for its spans.
async fn run_chain(
    gw: &Gateway,
    loaded: &Loaded,
    chain: &Chain,
    cx: &mut AccessCx<'_>,
    mut trace: Option<&mut RequestTrace>,
) -> Flow {
    for entry in chain.entries() {
        let Some(plugin) = entry.pick(cx.state.identity.consumer) else {
            continue;
        };
        let started = Instant::now();
        let mut redis = None;
        let flow = match plugin.access(cx) {
            Access::Done(flow) => flow,
            Access::Charge(charge, resume) => {
                let outcome = match loaded.backends.get(charge.counters as usize) {
                    Some(backend @ Backend::Redis(_)) if trace.is_some() => {
                        let start = Instant::now();
                        let outcome = backend.charge(&gw.limiter, &charge, cx.now_ns).await;
                        redis = Some((start, Instant::now()));
                        outcome
                    }
                    Some(backend) => backend.charge(&gw.limiter, &charge, cx.now_ns).await,
                    None => Some(gw.limiter.charge(charge.key, &charge.limit, cx.now_ns)),
                };
                match outcome {
                    Some(outcome) => plugin.resume(cx, resume, outcome),
                    // Kong's answer when `fault_tolerant: false` and the store failed.
                    None => Flow::Respond(Reply::static_json(500, UNEXPECTED)),
                }
            }
            Access::Verify(check) => match gw.password_checks.run(check).await {
                Checked::Ran(check, ok) => plugin.verified(cx, check, Some(ok)),
                Checked::Busy(check) => plugin.verified(cx, check, None),
                Checked::Lost => Flow::Respond(Reply::static_json(500, UNEXPECTED)),
            },
        };
        let ended = Instant::now();
        gw.metrics
            .plugin_timer(entry.name)
            .observe(ended.duration_since(started).as_secs_f64());
        if let Some(t) = trace.as_deref_mut() {
            t.plugins.push(PluginStep {
                name: entry.name,
                start: started,
                end: ended,
                redis,
            });
        }
        if let Flow::Respond(r) = flow {
            return Flow::Respond(r);
        }
    }
    Flow::Continue
}

/// Query parameter that Laravel, Express's method-override and others read
/// as the method to run.
const METHOD_PARAM: &str = "_method";

fn upstream_query<'q>(
    query: Option<&'q str>,
    hidden: &HiddenKeys,
    ace_keys: &[KeyName],
) -> Option<Cow<'q, str>> {
    let q = query?;
    let mut out: Cow<'q, str> = Cow::Borrowed(q);
    let names = hidden
        .iter()
        .filter_map(|h| match h {
            Hidden::Query(name) => Some(&**name),
            Hidden::Header(_) => None,
        })
        .chain(ace_keys.iter().map(|k| &*k.query))
        .chain(std::iter::once(METHOD_PARAM));
    for name in names {
        if has_query_param(&out, name) {
            out = Cow::Owned(strip_query_param(&out, name));
        }
    }
    Some(out)
}
