//! Validation of an upstream's `healthchecks` block (Kong's ranges and the
//! check types tollgate can run), and the header-name rule it shares.

use crate::upstreams::{CheckType, Healthchecks};
use crate::validate_ctx::Ctx;

/// An HTTP token (RFC 9110 `tchar`s): a valid header name.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn check_healthchecks(ctx: &mut Ctx, at: &str, h: &Healthchecks) {
    if !(0.0..=100.0).contains(&h.threshold) {
        ctx.err(format!("{at}.threshold"), "must be between 0 and 100");
    }
    let a = &h.active;
    if matches!(a.kind, CheckType::Grpc | CheckType::Grpcs) {
        ctx.err(
            format!("{at}.active.type"),
            "grpc health checks are not supported (http, https and tcp are)",
        );
    }
    if matches!(h.passive.kind, CheckType::Grpc | CheckType::Grpcs) {
        ctx.err(
            format!("{at}.passive.type"),
            "grpc health checks are not supported (http, https and tcp are)",
        );
    }
    for (field, v, max) in [
        ("active.timeout", a.timeout, 65535.0),
        ("active.healthy.interval", a.healthy.interval, 65535.0),
        ("active.unhealthy.interval", a.unhealthy.interval, 65535.0),
    ] {
        if !(0.0..=max).contains(&v) {
            ctx.err(format!("{at}.{field}"), "must be between 0 and 65535");
        }
    }
    if a.timeout == 0.0 && h.active_enabled() {
        ctx.err(format!("{at}.active.timeout"), "must be more than 0");
    }
    if !a.http_path.starts_with('/') || a.http_path.bytes().any(|b| b <= b' ' || b >= 0x7f) {
        ctx.err(
            format!("{at}.active.http_path"),
            "must be a path starting with '/'",
        );
    }
    for (k, name) in a.headers.iter().flat_map(|m| m.keys()).enumerate() {
        if !is_token(name) {
            ctx.err(
                format!("{at}.active.headers"),
                format!("{name:?} (entry {k}) is not a header name"),
            );
        }
    }
    for (field, list) in [
        ("active.healthy.http_statuses", &a.healthy.http_statuses),
        ("active.unhealthy.http_statuses", &a.unhealthy.http_statuses),
        (
            "passive.healthy.http_statuses",
            &h.passive.healthy.http_statuses,
        ),
        (
            "passive.unhealthy.http_statuses",
            &h.passive.unhealthy.http_statuses,
        ),
    ] {
        if let Some(s) = list.iter().find(|s| !(100..=999).contains(*s)) {
            ctx.err(
                format!("{at}.{field}"),
                format!("{s} is not an HTTP status"),
            );
        }
    }
    for (field, n) in [
        ("active.healthy.successes", a.healthy.successes),
        ("active.unhealthy.tcp_failures", a.unhealthy.tcp_failures),
        ("active.unhealthy.timeouts", a.unhealthy.timeouts),
        ("active.unhealthy.http_failures", a.unhealthy.http_failures),
        ("passive.healthy.successes", h.passive.healthy.successes),
        (
            "passive.unhealthy.tcp_failures",
            h.passive.unhealthy.tcp_failures,
        ),
        ("passive.unhealthy.timeouts", h.passive.unhealthy.timeouts),
        (
            "passive.unhealthy.http_failures",
            h.passive.unhealthy.http_failures,
        ),
    ] {
        if n > 255 {
            ctx.err(format!("{at}.{field}"), "must be between 0 and 255");
        }
    }
}
