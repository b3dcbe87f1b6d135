//! One access-log line, formatted into a reused buffer. See `docs/admin.md`
//! for the fields.

use crate::ctx::RequestCtx;
use pingora::proxy::Session;
use std::io::Write;
use std::time::SystemTime;
use tollgate_core::request::RateHeaders;

// Lines are formatted by hand: `core::fmt` cost more than the rest of the
// line together (numbers, the timestamp and the address were most of it).

/// Appends a number in decimal.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends `s` as a JSON string.
fn json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let plain = |b: &u8| *b >= 0x20 && *b != b'"' && *b != b'\\' && *b != 0x7f;
    if bytes.iter().all(plain) {
        buf.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            match b {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                0..=0x1f | 0x7f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[(b >> 4) as usize]);
                    buf.push(HEX[(b & 15) as usize]);
                }
                _ => buf.push(b),
            }
        }
    }
    buf.push(b'"');
}

fn json_opt(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_str(buf, s),
        None => buf.extend_from_slice(b"null"),
    }
}

/// `,"k":`
fn key(buf: &mut Vec<u8>, k: &str) {
    buf.extend_from_slice(b",\"");
    buf.extend_from_slice(k.as_bytes());
    buf.extend_from_slice(b"\":");
}

thread_local! {
    /// The last second formatted on this thread: "YYYY-MM-DDTHH:MM:SS".
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

/// Appends the RFC 3339 UTC time with milliseconds; the date and time of
/// day are formatted once a second per thread.
fn push_time(buf: &mut Vec<u8>, now: SystemTime) {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let full = humantime::format_rfc3339_seconds(now).to_string();
        if let Some(head) = full.as_bytes().get(..19) {
            text.copy_from_slice(head);
        }
        SECOND.set((secs, text));
    }
    buf.extend_from_slice(&text);
    let ms = since.subsec_millis();
    buf.extend_from_slice(&[
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
        b'Z',
    ]);
}

fn push_ip(buf: &mut Vec<u8>, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            buf.push(b'"');
            for (i, o) in v4.octets().iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                push_u64(buf, u64::from(*o));
            }
            buf.push(b'"');
        }
        std::net::IpAddr::V6(v6) => {
            let _ = write!(buf, "\"{v6}\"");
        }
    }
}

fn unit_name(u: tollgate_config::Unit) -> &'static str {
    u.name()
}

/// The limit that bound the request: ACE's (applied or shadow), else the
/// rate-limiting plugin's.
fn binding(buf: &mut Vec<u8>, r: &RateHeaders) {
    let Some(w) = r.outcome.binding() else {
        buf.extend_from_slice(b"null");
        return;
    };
    buf.extend_from_slice(b"{\"scope\":\"");
    buf.extend_from_slice(
        r.scope
            .map(|s| s.as_str())
            .unwrap_or("rate-limiting")
            .as_bytes(),
    );
    buf.extend_from_slice(b"\",\"limit\":");
    push_u64(buf, w.limit);
    buf.extend_from_slice(b",\"per\":\"");
    buf.extend_from_slice(unit_name(w.unit).as_bytes());
    buf.extend_from_slice(b"\",\"remaining\":");
    push_u64(buf, w.remaining);
    buf.extend_from_slice(if r.outcome.allowed {
        b",\"allowed\":true}"
    } else {
        b",\"allowed\":false}"
    });
}

pub(super) fn format(buf: &mut Vec<u8>, session: &Session, ctx: &RequestCtx) {
    let req = session.req_header();
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(0);
    let total_us = ctx.start.elapsed().as_micros() as u64;
    buf.extend_from_slice(b"{\"time\":\"");
    push_time(buf, SystemTime::now());
    buf.push(b'"');
    key(buf, "request_id");
    match crate::request_id::bytes(ctx) {
        // Ids are visible ASCII (checked or generated); quotes still escaped.
        Some(id) => json_str(buf, std::str::from_utf8(id).unwrap_or("")),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "client_ip");
    match session.client_addr().and_then(|a| a.as_inet()) {
        Some(a) => push_ip(buf, a.ip()),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "method");
    json_str(buf, req.method.as_str());
    key(buf, "path");
    // Normalized as routing saw it; borrowed when the path was already normal.
    match tollgate_core::normalize::normalize(req.uri.path()) {
        Ok(n) => json_str(buf, &n.path),
        Err(_) => json_str(buf, req.uri.path()),
    }
    key(buf, "status");
    push_u64(buf, u64::from(status));
    key(buf, "bytes");
    push_u64(buf, session.body_bytes_sent() as u64);
    key(buf, "total_us");
    push_u64(buf, total_us);
    key(buf, "upstream_us");
    let up = ctx.upstream_elapsed.map(|u| u.as_micros() as u64);
    match up {
        Some(up) => push_u64(buf, up),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "gateway_us");
    push_u64(buf, total_us.saturating_sub(up.unwrap_or(0)));
    let snap = ctx.loaded.as_ref().map(|l| &l.snap);
    let st = &ctx.state;
    let route = st.route.zip(snap);
    key(buf, "route");
    json_opt(buf, route.map(|(rm, s)| &*s.routes.route(rm.route).name));
    key(buf, "service");
    json_opt(
        buf,
        route.and_then(|(rm, s)| s.services.get(rm.service as usize).map(|x| &*x.name)),
    );
    let grant = st.ace.zip(snap);
    key(buf, "operation");
    json_opt(
        buf,
        grant.and_then(|(g, s)| s.operations.get(g.operation as usize).map(|o| &*o.id)),
    );
    key(buf, "package");
    json_opt(
        buf,
        grant.and_then(|(g, s)| {
            g.package
                .and_then(|p| s.packages.get(p as usize))
                .map(|p| &*p.name)
        }),
    );
    key(buf, "application");
    json_opt(
        buf,
        grant.and_then(|(g, s)| s.apps.get(g.app as usize).map(|a| &*a.name)),
    );
    key(buf, "credential");
    match grant {
        Some((g, s)) => {
            let id =
                tollgate_core::credentials::identifier_hex(s.credentials.get(g.credential).subject);
            buf.push(b'"');
            buf.extend_from_slice(&id);
            buf.push(b'"');
        }
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "consumer");
    json_opt(
        buf,
        st.identity
            .consumer
            .zip(snap)
            .and_then(|(c, s)| s.consumers.get(c as usize).map(|c| &*c.username)),
    );
    key(buf, "ace_decision");
    json_opt(buf, st.ace_decision.map(|d| d.as_str()));
    key(buf, "ace_mode");
    json_opt(
        buf,
        st.ace_decision
            .map(|_| if st.ace_shadow { "shadow" } else { "enforce" }),
    );
    key(buf, "limit");
    let rate = st
        .ace_rate
        .as_ref()
        .or(st.shadow_rate.as_ref())
        .or(st.plugin_rate.as_ref());
    match rate {
        Some(r) => binding(buf, r),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b"}\n");
}
