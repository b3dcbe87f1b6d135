//! The earlier shape of ACE's config, found in configs written against a
//! draft of the plugin: `allow_unmatched_operations` instead of
//! `match_policy`, and `redis` / `sync_rate` beside the other fields instead
//! of under `rate_limiting`. They are read as today's fields; setting both
//! spellings of one setting is an error, since they could disagree.

use crate::plugins::{typed, AceConfig, AceRateLimiting, MatchPolicy};

/// Parses an `ace` config in either shape into today's fields.
pub(crate) fn parse(value: &serde_yaml::Value) -> Result<AceConfig, (String, String)> {
    let mut c: AceConfig = typed(value)?;
    let has = |k: &str| value.get(k).is_some_and(|v| !v.is_null());
    if let Some(allow) = c.allow_unmatched_operations.take() {
        if has("match_policy") {
            return Err((
                "allow_unmatched_operations".to_string(),
                "set match_policy or the earlier allow_unmatched_operations, not both".to_string(),
            ));
        }
        c.match_policy = if allow {
            MatchPolicy::IfPresent
        } else {
            MatchPolicy::Required
        };
        let policy = if allow { "if_present" } else { "required" };
        c.legacy.push((
            "allow_unmatched_operations",
            format!("read as match_policy: {policy}"),
        ));
    }
    let redis = c.redis.take();
    let sync_rate = c.sync_rate.take();
    if redis.is_some() || sync_rate.is_some() {
        if c.rate_limiting.is_some() {
            let key = if redis.is_some() {
                "redis"
            } else {
                "sync_rate"
            };
            return Err((
                key.to_string(),
                "set rate_limiting, or the earlier flat redis / sync_rate, not both".to_string(),
            ));
        }
        if redis.is_some() {
            c.legacy
                .push(("redis", "read as rate_limiting.redis".to_string()));
        }
        if sync_rate.is_some() {
            c.legacy
                .push(("sync_rate", "read as rate_limiting.sync_rate".to_string()));
        }
        c.rate_limiting = Some(AceRateLimiting {
            sync_rate,
            redis,
            strategy: Default::default(),
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<AceConfig, (String, String)> {
        parse(&serde_yaml::from_str(text).expect("yaml"))
    }

    #[test]
    fn earlier_shape_reads_as_todays() {
        let c = parse_str(
            "{allow_unmatched_operations: true, redis: {host: r.example, port: 6380}, sync_rate: 1, anonymous: anon}",
        )
        .expect("parses");
        assert_eq!(c.match_policy, MatchPolicy::IfPresent);
        let rl = c.rate_limiting.expect("rate_limiting");
        assert_eq!(rl.sync_rate, Some(1.0));
        let redis = rl.redis.expect("redis");
        assert_eq!((redis.host.as_str(), redis.port), ("r.example", 6380));
        assert_eq!(c.anonymous.as_deref(), Some("anon"));
        let fields: Vec<&str> = c.legacy.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["allow_unmatched_operations", "redis", "sync_rate"]);

        let c = parse_str("{allow_unmatched_operations: false}").expect("parses");
        assert_eq!(c.match_policy, MatchPolicy::Required);
        assert!(c.rate_limiting.is_none());
    }

    #[test]
    fn both_spellings_are_refused() {
        let cases = [
            (
                "{allow_unmatched_operations: true, match_policy: required}",
                "allow_unmatched_operations",
            ),
            ("{redis: {host: a}, rate_limiting: {sync_rate: 0}}", "redis"),
            ("{sync_rate: 0, rate_limiting: {sync_rate: 0}}", "sync_rate"),
        ];
        for (text, key) in cases {
            let e = parse_str(text).expect_err(text);
            assert_eq!(e.0, key, "{text}");
        }
    }
}
