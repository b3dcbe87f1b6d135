//! One access-log line, formatted from a [`Record`] on the writer thread
//! into its reused buffer. See `docs/admin.md` for the fields.

use super::record::{Binding, Record};
use std::io::Write;
use std::time::{Duration, SystemTime};

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

/// The last second formatted: "YYYY-MM-DDTHH:MM:SS", and which second it is.
pub(super) struct Second {
    secs: u64,
    text: [u8; 19],
}

impl Default for Second {
    fn default() -> Self {
        Second {
            secs: u64::MAX,
            text: [0; 19],
        }
    }
}

/// Appends the RFC 3339 UTC time with milliseconds; the date and time of
/// day are formatted once a second.
fn push_time(buf: &mut Vec<u8>, second: &mut Second, since: Duration) {
    let secs = since.as_secs();
    if second.secs != secs {
        let full =
            humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
                .to_string();
        if let Some(head) = full.as_bytes().get(..19) {
            second.text.copy_from_slice(head);
        }
        second.secs = secs;
    }
    buf.extend_from_slice(&second.text);
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

/// The limit that bound the request.
fn binding(buf: &mut Vec<u8>, b: &Binding) {
    let w = &b.window;
    buf.extend_from_slice(b"{\"scope\":\"");
    buf.extend_from_slice(
        b.scope
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
    buf.extend_from_slice(if b.allowed {
        b",\"allowed\":true}"
    } else {
        b",\"allowed\":false}"
    });
}

pub(super) fn format(buf: &mut Vec<u8>, second: &mut Second, rec: &Record) {
    buf.extend_from_slice(b"{\"time\":\"");
    push_time(buf, second, rec.since_epoch);
    buf.push(b'"');
    key(buf, "request_id");
    match &rec.request_id {
        // Ids are visible ASCII (checked or generated); quotes still escaped.
        Some(id) => json_str(buf, std::str::from_utf8(id.as_bytes()).unwrap_or("")),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "client_ip");
    match rec.client_ip {
        Some(ip) => push_ip(buf, ip),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "method");
    json_str(buf, rec.method.as_str());
    key(buf, "path");
    // Normalized as routing saw it; borrowed when the path was already normal.
    let path = rec.path.as_str();
    match tollgate_core::normalize::normalize(path) {
        Ok(n) => json_str(buf, &n.path),
        Err(_) => json_str(buf, path),
    }
    key(buf, "status");
    push_u64(buf, u64::from(rec.status));
    key(buf, "bytes");
    push_u64(buf, rec.bytes);
    key(buf, "total_us");
    push_u64(buf, rec.total_us);
    key(buf, "upstream_us");
    match rec.upstream_us {
        Some(up) => push_u64(buf, up),
        None => buf.extend_from_slice(b"null"),
    }
    key(buf, "gateway_us");
    push_u64(
        buf,
        rec.total_us.saturating_sub(rec.upstream_us.unwrap_or(0)),
    );
    let snap = rec.loaded.as_ref().map(|l| &l.snap);
    let route = rec.route.zip(snap);
    key(buf, "route");
    json_opt(buf, route.map(|(rm, s)| &*s.routes.route(rm.route).name));
    key(buf, "service");
    json_opt(
        buf,
        route.and_then(|(rm, s)| s.services.get(rm.service as usize).map(|x| &*x.name)),
    );
    let grant = rec.ace.zip(snap);
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
        rec.consumer
            .zip(snap)
            .and_then(|(c, s)| s.consumers.get(c as usize).map(|c| &*c.username)),
    );
    key(buf, "ace_decision");
    json_opt(buf, rec.ace_decision.map(|d| d.as_str()));
    key(buf, "ace_mode");
    json_opt(
        buf,
        rec.ace_decision
            .map(|_| if rec.ace_shadow { "shadow" } else { "enforce" }),
    );
    key(buf, "limit");
    match &rec.limit {
        Some(b) => binding(buf, b),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b"}\n");
}
