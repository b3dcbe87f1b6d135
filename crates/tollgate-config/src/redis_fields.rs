//! Kong's Redis fields that tollgate does not implement yet (cloud IAM
//! authentication, proxied connections), and unknown keys. This is the one
//! place that refuses them: implementing one means removing it here.
//! (Sentinel and Cluster are typed fields, checked with the topology.)
//!
//! Kong writes these fields as `null` when unused (decK dumps them all), so
//! `null`, and the defaults that mean "off", are accepted.

use crate::plugins::RedisConfig;
use crate::validate_ctx::Ctx;
use serde_yaml::Value;

/// Fields whose presence selects a Redis mode tollgate does not speak yet.
const NOT_YET: &[&str] = &["cloud_authentication"];

pub(crate) fn check(ctx: &mut Ctx, at: &str, redis: &RedisConfig) {
    if redis.keepalive_pool_size == 0 {
        ctx.err(format!("{at}.keepalive_pool_size"), "must be at least 1");
    }
    if redis.server_name.as_deref().is_some_and(str::is_empty) {
        ctx.err(format!("{at}.server_name"), "must not be empty");
    }
    for (key, value) in &redis.unsupported {
        let off = match key.as_str() {
            "connection_is_proxied" => matches!(value, Value::Null | Value::Bool(false)),
            k if NOT_YET.contains(&k) => value.is_null(),
            _ => {
                ctx.err(format!("{at}.{key}"), "unknown field");
                continue;
            }
        };
        if !off {
            ctx.err(
                format!("{at}.{key}"),
                "proxied and cloud-authenticated Redis connections are not supported yet; use a Redis host, Sentinel or Cluster (ssl is supported)",
            );
        }
    }
}
