//! Choosing the upstream peer and rewriting the request sent to it.

use crate::ctx::RequestCtx;
use crate::headers;
use crate::health::Report;
use crate::state::Gateway;
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType, Result};
use std::time::{Duration, Instant};
use tollgate_config::upstreams::HashKey;

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

/// Every target of a balanced upstream is unhealthy (or has no address).
fn no_target() -> Box<Error> {
    Error::create(
        ErrorType::Custom(crate::reply::NO_HEALTHY_TARGET),
        pingora::ErrorSource::Upstream,
        Some("no healthy target in the upstream".into()),
        None,
    )
}

/// The bytes a request hashes on, per Kong's `hash_on` (`None`: no input).
fn hash_input<'a>(
    key: &'a HashKey,
    session: &'a Session,
    ctx: &'a RequestCtx,
    ip_buf: &'a mut [u8; 16],
) -> Option<&'a [u8]> {
    match key {
        HashKey::None => None,
        HashKey::Consumer => {
            let loaded = ctx.loaded.as_ref()?;
            let c = ctx.state.identity.consumer?;
            loaded
                .snap
                .consumers
                .get(c as usize)
                .map(|c| c.username.as_bytes())
        }
        HashKey::Ip => {
            let ip = session.client_addr()?.as_inet()?.ip();
            let len = match ip {
                std::net::IpAddr::V4(v4) => {
                    ip_buf[..4].copy_from_slice(&v4.octets());
                    4
                }
                std::net::IpAddr::V6(v6) => {
                    ip_buf.copy_from_slice(&v6.octets());
                    16
                }
            };
            Some(&ip_buf[..len])
        }
        HashKey::Header(name) => session
            .req_header()
            .headers
            .get(name.as_str())
            .map(|v| v.as_bytes()),
        HashKey::Cookie { name, .. } => {
            request_cookie(session, name).or(ctx.lb_cookie.as_deref().map(str::as_bytes))
        }
        HashKey::Path => Some(session.req_header().uri.path().as_bytes()),
        HashKey::QueryArg(arg) => session
            .req_header()
            .uri
            .query()?
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some((k, v)) if k == arg => Some(v),
                None if pair == arg => Some(""),
                _ => None,
            })
            .filter(|v| !v.is_empty())
            .map(str::as_bytes),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn request_cookie<'a>(session: &'a Session, name: &str) -> Option<&'a [u8]> {
    session
        .req_header()
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| match pair.trim().split_once('=') {
            Some((k, v)) if k == name && !v.is_empty() => Some(v.as_bytes()),
            _ => None,
        })
}

/// The upstream's hash cookie (name, path), when it hashes on one.
fn cookie_key(spec: &tollgate_config::upstreams::UpstreamSpec) -> Option<(&str, &str)> {
    [&spec.hash_on, &spec.hash_fallback]
        .into_iter()
        .find_map(|k| match k {
            HashKey::Cookie { name, path } => Some((name.as_str(), path.as_str())),
            _ => None,
        })
}

/// A fresh value for a hash cookie, shaped like Kong's (a UUID). Not a
/// secret: it only spreads clients over targets.
fn new_cookie_value() -> String {
    use std::hash::{BuildHasher, Hasher};
    static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_u128(now);
    let x = h.finish();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(x);
    let y = h.finish();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        (y >> 48) & 0x3fff | 0x8000,
        y & 0xffff_ffff_ffff
    )
}

/// Sends a made-up hash cookie back, so the client's next requests stick.
pub fn set_hash_cookie(resp: &mut pingora::http::ResponseHeader, ctx: &RequestCtx) -> Result<()> {
    let Some(value) = &ctx.lb_cookie else {
        return Ok(());
    };
    let Some((pool, _, _)) = current_target(ctx) else {
        return Ok(());
    };
    if let Some((name, path)) = cookie_key(&pool.spec) {
        resp.append_header(
            http::header::SET_COOKIE,
            format!("{name}={value}; Path={path}; HttpOnly"),
        )?;
    }
    Ok(())
}

/// Picks a target of the service's upstream: the peer for this try.
fn balanced(
    session: &Session,
    ctx: &mut RequestCtx,
    upstream: usize,
) -> Result<(std::net::SocketAddr, usize)> {
    let loaded = ctx.loaded.clone().ok_or_else(|| internal("no snapshot"))?;
    let pool = loaded
        .pools
        .get(upstream)
        .ok_or_else(|| internal("no pool for upstream"))?;
    let (mut a, mut b) = ([0u8; 16], [0u8; 16]);
    // Kong makes up the hash cookie when it is the input in use and absent.
    let make_cookie = ctx.lb_cookie.is_none()
        && match (&pool.spec.hash_on, &pool.spec.hash_fallback) {
            (HashKey::Cookie { name, .. }, _) => request_cookie(session, name).is_none(),
            (on, HashKey::Cookie { name, .. }) => {
                hash_input(on, session, ctx, &mut a).is_none()
                    && request_cookie(session, name).is_none()
            }
            _ => false,
        };
    if make_cookie {
        ctx.lb_cookie = Some(new_cookie_value());
    }
    let key = hash_input(&pool.spec.hash_on, session, ctx, &mut a)
        .or_else(|| hash_input(&pool.spec.hash_fallback, session, ctx, &mut b));
    let ix = pool.select(key, ctx.lb_tried).ok_or_else(no_target)?;
    let addr = pool.targets[ix].addr().ok_or_else(no_target)?;
    ctx.lb_target = Some(ix as u32);
    // Replacing the previous try's count releases it.
    ctx.lb_in_flight = if pool.counts_in_flight() {
        crate::least_conn::InFlight::start(pool, ix)
    } else {
        None
    };
    if ix < 64 {
        ctx.lb_tried |= 1 << ix;
    }
    ctx.lb_tries += 1;
    ctx.lb_responded = false;
    Ok((addr, ix))
}

pub async fn peer(session: &Session, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let loaded = ctx.loaded.clone().ok_or_else(|| internal("no snapshot"))?;
    let rm = ctx.state.route.ok_or_else(|| internal("no route"))?;
    let svc = &loaded.snap.services[rm.service as usize];
    if let Some(u) = svc.balancer {
        let (addr, ix) = balanced(session, ctx, u as usize)?;
        let sni = if svc.upstream.tls {
            loaded.pools[u as usize].targets[ix].sni.clone()
        } else {
            String::new()
        };
        return Ok(Box::new(with_options(
            HttpPeer::new(addr, svc.upstream.tls, sni),
            svc,
            loaded.upstream_ca.get(rm.service as usize),
        )));
    }
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
    Ok(Box::new(with_options(
        HttpPeer::new(addr, svc.upstream.tls, sni),
        svc,
        loaded.upstream_ca.get(rm.service as usize),
    )))
}

fn with_options(
    mut peer: HttpPeer,
    svc: &tollgate_core::snapshot::CompiledService,
    ca: Option<&crate::tls::UpstreamCa>,
) -> HttpPeer {
    if svc.upstream.tls {
        // Pingora verifies chain and host name by default; Kong's
        // `tls_verify: false` turns both off.
        peer.options.verify_cert = svc.tls.verify;
        peer.options.verify_hostname = svc.tls.verify;
        if let Some(ca) = ca {
            peer.options.ca = ca.ca.clone();
            peer.group_key = ca.pool_key;
        }
    }
    peer.options.connection_timeout = Some(Duration::from_millis(svc.connect_timeout_ms));
    peer.options.read_timeout = Some(Duration::from_millis(svc.read_timeout_ms));
    peer.options.write_timeout = Some(Duration::from_millis(svc.write_timeout_ms));
    peer.options.idle_timeout = Some(Duration::from_secs(60));
    peer
}

/// The pool and target of the current try, when the service is balanced.
fn current_target(ctx: &RequestCtx) -> Option<(&crate::balancer::Pool, usize, u32)> {
    let loaded = ctx.loaded.as_ref()?;
    let rm = ctx.state.route?;
    let svc = loaded.snap.services.get(rm.service as usize)?;
    let pool = loaded.pools.get(svc.balancer? as usize)?;
    Some((pool, ctx.lb_target? as usize, svc.retries))
}

/// A connect failure: counted against the target (passive checks), and
/// tried again on another target while the service's `retries` allow.
pub fn connect_failed(gw: &Gateway, ctx: &mut RequestCtx, e: &mut Error) {
    ctx.lb_responded = true;
    let Some((pool, ix, retries)) = current_target(ctx) else {
        return;
    };
    if pool.passive_on {
        let r = match e.etype() {
            ErrorType::ConnectTimedout => Report::Timeout,
            _ => Report::TcpFailure,
        };
        pool.report(ix, r, false);
    }
    let again = ctx.lb_tries <= retries.min(tollgate_config::upstreams::MAX_RETRIES);
    if again {
        gw.metrics.upstream_retries.inc();
    }
    e.set_retry(again);
}

/// The upstream answered: its status counts for passive checks.
pub fn responded(ctx: &mut RequestCtx, status: u16) {
    ctx.lb_responded = true;
    let Some((pool, ix, _)) = current_target(ctx) else {
        return;
    };
    let p = &pool.spec.healthchecks.passive;
    if !pool.passive_on || p.kind == tollgate_config::upstreams::CheckType::Tcp {
        return;
    }
    if p.unhealthy.http_statuses.contains(&status) {
        pool.report(ix, Report::HttpFailure, false);
    } else if p.healthy.http_statuses.contains(&status) {
        pool.report(ix, Report::Success, false);
    }
}

/// A try that failed after connecting, before any response header.
pub fn failed_after_connect(ctx: &RequestCtx, e: &Error) {
    if ctx.lb_responded || e.esource() != &pingora::ErrorSource::Upstream {
        return;
    }
    let Some((pool, ix, _)) = current_target(ctx) else {
        return;
    };
    if !pool.passive_on {
        return;
    }
    let r = match e.etype() {
        ErrorType::ReadTimedout | ErrorType::WriteTimedout | ErrorType::ConnectTimedout => {
            Report::Timeout
        }
        _ => Report::TcpFailure,
    };
    pool.report(ix, r, false);
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
        let svc = &snap.services[rm.service as usize];
        let host = match (svc.balancer, ctx.lb_target) {
            (Some(u), Some(ix)) => loaded
                .pools
                .get(u as usize)
                .and_then(|p| p.targets.get(ix as usize))
                .map(|t| t.host_header.clone()),
            _ => None,
        };
        req.insert_header(
            http::header::HOST,
            host.unwrap_or_else(|| svc.host_header.clone()),
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
