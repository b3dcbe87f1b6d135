//! Choosing the upstream peer and rewriting the request sent to it.

use crate::ctx::RequestCtx;
use crate::headers;
use pingora::http::RequestHeader;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::time::{Duration, Instant};

fn internal(msg: &'static str) -> Box<Error> {
    Error::explain(ErrorType::InternalError, msg)
}

/// An upstream host with no address yet: answered 502 like an unreachable one.
fn unresolved() -> Box<Error> {
    Error::create(
        ErrorType::ConnectNoRoute,
        pingora::ErrorSource::Upstream,
        Some("upstream host has not resolved".into()),
        None,
    )
}

pub async fn peer(ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let loaded = ctx.loaded.as_ref().ok_or_else(|| internal("no snapshot"))?;
    let rm = ctx.state.route.ok_or_else(|| internal("no route"))?;
    let svc = &loaded.snap.services[rm.service as usize];
    use crate::dns::Upstream;
    // Never waits on DNS: a hostname's address is kept current in the background.
    let addr = match loaded.peers.get(rm.service as usize) {
        Some(Upstream::Fixed(a)) => *a,
        Some(Upstream::Resolved(slot)) => slot.addr().ok_or_else(|| {
            slot.miss();
            unresolved()
        })?,
        None => return Err(internal("no upstream for service")),
    };
    let sni = if svc.upstream.tls {
        svc.upstream.host.clone()
    } else {
        String::new()
    };
    let mut peer = HttpPeer::new(addr, svc.upstream.tls, sni);
    peer.options.connection_timeout = Some(Duration::from_millis(svc.connect_timeout_ms));
    peer.options.read_timeout = Some(Duration::from_millis(svc.read_timeout_ms));
    peer.options.write_timeout = Some(Duration::from_millis(svc.write_timeout_ms));
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    Ok(Box::new(peer))
}

pub fn rewrite(
    req: &mut RequestHeader,
    client_ip: Option<std::net::IpAddr>,
    ctx: &mut RequestCtx,
) -> Result<()> {
    let loaded = ctx.loaded.clone().ok_or_else(|| internal("no snapshot"))?;
    let snap = &loaded.snap;
    let rm = ctx.state.route.ok_or_else(|| internal("no route"))?;
    // Cloned, not taken: on a retry Pingora rebuilds the upstream request from
    // the client's and runs this filter again.
    if let Some(uri) = ctx.upstream_uri.clone() {
        let uri = http::Uri::try_from(uri).map_err(|_| internal("upstream uri"))?;
        req.set_uri(uri);
    }
    if !snap.routes.route(rm.route).preserve_host {
        req.insert_header(
            http::header::HOST,
            snap.services[rm.service as usize].host_header.clone(),
        )?;
    }
    let route = snap.routes.route(rm.route);
    let ace_keys: &[_] = if ctx.state.hide_ace_keys {
        &snap.ace_key_names
    } else {
        &[]
    };
    headers::sanitize(
        req,
        route.headers_with_underscores,
        ctx.trusted_peer,
        &ctx.state.hidden,
        ace_keys,
    );
    headers::set_identity(req, snap, &ctx.state)?;
    if let Some(ip) = client_ip {
        headers::set_forwarding(req, ip, ctx.trusted_peer)?;
    }
    ctx.upstream_start = Some(Instant::now());
    Ok(())
}
