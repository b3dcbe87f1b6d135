//! Checks on the Kong plugins beside ACE (`basic-auth`, `acl`, `cors`,
//! `prometheus`) and on rate-limiting's Kong-only fields.

use crate::plugins::{LimitBy, PluginConfig, Policy, RateLimitingConfig};
use crate::validate_ctx::Ctx;
use std::collections::HashMap;

/// Windows one limit can hold (the limiter's fixed-size state per key).
const MAX_WINDOWS: usize = 4;

pub(crate) fn check(
    ctx: &mut Ctx,
    at: &str,
    config: &PluginConfig,
    consumers: &HashMap<String, usize>,
) {
    match config {
        PluginConfig::BasicAuth(c) => {
            if let Some(a) = &c.anonymous {
                ctx.resolve(consumers, a, "consumer", format!("{at}.config.anonymous"));
            }
            if c.realm.contains('"') || c.realm.bytes().any(|b| b < b' ') {
                ctx.err(
                    format!("{at}.config.realm"),
                    "must not contain quotes or control characters",
                );
            }
        }
        PluginConfig::Acl(c) => {
            let allow = c.allow.as_ref().is_some_and(|l| !l.is_empty());
            let deny = c.deny.as_ref().is_some_and(|l| !l.is_empty());
            match (allow, deny) {
                (true, true) => ctx.err(format!("{at}.config"), "set allow or deny, not both"),
                (false, false) => ctx.err(
                    format!("{at}.config"),
                    "set allow or deny (a non-empty list of groups)",
                ),
                _ => {}
            }
            if c.include_consumer_groups {
                ctx.err(
                    format!("{at}.config.include_consumer_groups"),
                    "consumer groups are a Kong Enterprise feature; only false is accepted",
                );
            }
        }
        PluginConfig::Cors(c) => {
            for (i, o) in c.origins.iter().enumerate() {
                if o != "*" && !is_plain_origin(o) {
                    if let Err(e) = regex::Regex::new(&anchored(o)) {
                        ctx.err(
                            format!("{at}.config.origins[{i}]"),
                            format!("not a valid origin or regex: {e}"),
                        );
                    }
                }
            }
            for (i, m) in c.methods.iter().enumerate() {
                if let Err(e) = crate::operations::check_method(m) {
                    ctx.err(format!("{at}.config.methods[{i}]"), e);
                }
            }
            for (field, list) in [
                ("headers", &c.headers),
                ("exposed_headers", &c.exposed_headers),
            ] {
                for (i, h) in list.iter().enumerate() {
                    if http_token(h).is_none() {
                        ctx.err(
                            format!("{at}.config.{field}[{i}]"),
                            format!("{h:?} is not a header name"),
                        );
                    }
                }
            }
        }
        _ => {}
    }
}

fn http_token(s: &str) -> Option<&str> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    ok.then_some(s)
}

/// Kong reads an origin made only of `[A-Za-z0-9.:/-]` as a literal origin.
pub fn is_plain_origin(o: &str) -> bool {
    !o.is_empty()
        && o.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b))
}

/// Kong anchors an origin regex at the end and strips a leading `^`; it
/// matches from the start (`ngx.re.find` with the `a` flag).
pub fn anchored(o: &str) -> String {
    let body = o.strip_prefix('^').unwrap_or(o);
    if body.ends_with('$') {
        format!("^(?:{})", body)
    } else {
        format!("^(?:{body})$")
    }
}

pub(crate) fn rate_limiting(ctx: &mut Ctx, at: &str, c: &RateLimitingConfig) {
    match c.limit_by {
        LimitBy::ConsumerGroup => ctx.err(
            format!("{at}.config.limit_by"),
            "consumer-group is a Kong Enterprise feature and is not supported",
        ),
        LimitBy::Header if c.header_name.as_deref().is_none_or(|h| h.trim().is_empty()) => ctx.err(
            format!("{at}.config.header_name"),
            "limit_by: header needs header_name",
        ),
        LimitBy::Path if c.path.as_deref().is_none_or(|p| !p.starts_with('/')) => ctx.err(
            format!("{at}.config.path"),
            "limit_by: path needs path (starting with '/')",
        ),
        _ => {}
    }
    if let Some(h) = &c.header_name {
        if http_token(h).is_none() {
            ctx.err(
                format!("{at}.config.header_name"),
                format!("{h:?} is not a header name"),
            );
        }
    }
    if c.policy == Policy::Cluster {
        ctx.err(
            format!("{at}.config.policy"),
            "policy cluster counts in Kong's database, which tollgate does not have: use local or redis",
        );
    }
    if c.policy == Policy::Local && c.redis.is_some() {
        ctx.warn(format!("{at}.config.redis"), "ignored: policy is local");
    }
    if let Some(r) = c.sync_rate {
        if r != -1.0 && r != 0.0 {
            ctx.err(
                format!("{at}.config.sync_rate"),
                "only -1 (Kong's default: synchronous) is supported for rate-limiting; use ace's rate_limiting.sync_rate for periodic sync",
            );
        }
    }
    let windows = [c.second, c.minute, c.hour, c.day, c.month, c.year]
        .iter()
        .filter(|w| w.is_some())
        .count();
    if windows > MAX_WINDOWS {
        ctx.err(
            format!("{at}.config"),
            format!("at most {MAX_WINDOWS} of second, minute, hour, day, month, year at once"),
        );
    }
}
