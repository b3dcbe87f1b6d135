//! `rate-limiting` (priority 910): Kong-style per-consumer, per-credential or
//! per-IP limits over second/minute/hour/day windows, on the shared limiter.

use super::{Access, AccessCx, Charge, Plugin, Resume};
use crate::limiter::{CompiledLimit, LimitKey, Outcome};
use crate::request::{Flow, RateHeaders, Reply};
use http::HeaderValue;
use tollgate_config::plugins::LimitBy;

#[derive(Debug)]
pub struct RateLimiting {
    pub limit: CompiledLimit,
    pub limit_by: LimitBy,
    /// Stable id of this plugin's scope (service/route/consumer names).
    pub scope: u64,
    pub hide_client_headers: bool,
    pub error: Reply,
    /// Index into `CompiledSnapshot::counters` (`policy: redis` or local).
    pub counters: u32,
}

/// Kong's fallback: consumer, else credential, else client IP. The second
/// half is the client address when the subject was derived from it.
fn subject(p: &RateLimiting, cx: &AccessCx<'_>) -> (u64, Option<std::net::IpAddr>) {
    let snap = cx.snap;
    let id = &cx.state.identity;
    let consumer = id.consumer.map(|c| snap.consumers[c as usize].subject);
    let credential = cx
        .state
        .ace
        .map(|g| snap.credentials.get(g.credential).subject)
        .or_else(|| {
            id.keyauth_credential
                .map(|k| snap.consumer_keys[k as usize].subject)
        });
    let by_consumer = if p.limit_by == LimitBy::Consumer {
        consumer
    } else {
        None
    };
    let by_credential = if p.limit_by != LimitBy::Ip {
        credential
    } else {
        None
    };
    match by_consumer.or(by_credential) {
        Some(s) => (s, None),
        // Keyed per process, so no client can aim at another's counter.
        None => (cx.limiter.ip_subject(cx.req.client_ip), cx.req.client_ip),
    }
}

impl Plugin for RateLimiting {
    const NAME: &'static str = "rate-limiting";
    const PRIORITY: i32 = 910;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        let (subject, client_ip) = subject(self, cx);
        let charge = Charge {
            key: LimitKey {
                subject,
                scope: self.scope,
            },
            limit: self.limit,
            counters: self.counters,
            client_ip,
        };
        Access::Charge(charge, Resume::RateLimiting)
    }

    fn resume(&self, cx: &mut AccessCx<'_>, _resume: Resume, outcome: Outcome) -> Flow {
        if !self.hide_client_headers {
            cx.state.plugin_rate = Some(RateHeaders {
                outcome,
                scope: None,
            });
        }
        if outcome.allowed {
            return Flow::Continue;
        }
        let mut r = self.error.clone();
        r.headers.push((
            http::header::RETRY_AFTER,
            HeaderValue::from(outcome.retry_after_secs),
        ));
        Flow::Respond(r)
    }
}
