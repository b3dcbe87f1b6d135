//! `rate-limiting` (priority 910): Kong-style per-consumer, per-credential,
//! per-IP, per-service, per-header or per-path limits over second/minute/hour/day windows, on the shared limiter.

use super::{Access, AccessCx, Charge, Plugin, Resume};
use crate::compile::stable_id;
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
    /// Index into `Directory::counters` (`policy: redis` or local).
    pub counters: u32,
    /// `limit_by: header`: the header whose value is the subject.
    pub header: Option<http::HeaderName>,
    /// `limit_by: path`: the path limited, and its limiter subject.
    pub path: Option<(Box<str>, u64)>,
    /// Kong's `fault_tolerant` (only matters for `policy: redis`).
    pub fault_tolerant: bool,
}

/// Kong's fallback: consumer, else credential, else client IP; service,
/// header and path subjects fall back to the client IP too. The second half
/// is the client address when the subject was derived from it.
fn subject(p: &RateLimiting, cx: &AccessCx<'_>) -> (u64, Option<std::net::IpAddr>) {
    let snap = cx.dir;
    let id = &cx.state.identity;
    let other = match p.limit_by {
        LimitBy::Service => cx
            .state
            .route
            .and_then(|rm| snap.service_subjects.get(rm.service as usize).copied()),
        LimitBy::Header => p
            .header
            .as_ref()
            .and_then(|h| cx.req.headers.get(h))
            .and_then(|v| v.to_str().ok())
            .map(|v| stable_id(&["header", v])),
        LimitBy::Path => p
            .path
            .as_ref()
            .filter(|(path, _)| **path == *cx.req.path)
            .map(|(_, subject)| *subject),
        _ => None,
    };
    if matches!(
        p.limit_by,
        LimitBy::Service | LimitBy::Header | LimitBy::Path
    ) {
        return match other {
            Some(s) => (s, None),
            None => (cx.limiter.ip_subject(cx.req.client_ip), cx.req.client_ip),
        };
    }
    let consumer = id.consumer.map(|c| snap.consumers[c as usize].subject);
    let credential = cx
        .state
        .ace
        .map(|g| snap.credentials.get(g.credential).subject)
        .or_else(|| {
            id.keyauth_credential
                .map(|k| snap.consumer_keys[k as usize].subject)
        })
        .or_else(|| {
            id.basic_credential
                .map(|b| snap.basic_creds[b as usize].subject)
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
            fault_tolerant: self.fault_tolerant,
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

#[cfg(test)]
mod tests {
    use super::subject;
    use crate::compile::stable_id;
    use crate::plugins::{AccessCx, PluginInstance};
    use crate::request::{RequestState, RequestView};
    use crate::routes::RouteMatch;
    use crate::{compile, LimiterStore};
    use http::{HeaderMap, Method};

    /// Subjects are the same on every node (Redis counters are shared), so
    /// they are the stable ids of the service name and of the limited path.
    #[test]
    fn service_and_path_subjects_are_stable_ids_of_their_names() {
        let yaml = r#"_format_version: "3.0"
services:
  - name: billing
    url: http://127.0.0.1:1
    routes: [{ name: b, paths: [/billing] }]
    plugins: [{ name: rate-limiting, config: { minute: 5, limit_by: service } }]
  - name: flights
    url: http://127.0.0.1:1
    routes: [{ name: f, paths: [/flights] }]
    plugins: [{ name: rate-limiting, config: { minute: 5, limit_by: path, path: /flights/x } }]
"#;
        let snap = compile(&tollgate_config::load_bytes(yaml.as_bytes(), None).expect("valid"))
            .expect("compiles");
        let limiter = LimiterStore::default();
        let headers = HeaderMap::new();
        let cases = [
            (0u32, "/billing/1", Some(stable_id(&["service", "billing"]))),
            (0, "/billing/2", Some(stable_id(&["service", "billing"]))),
            (1, "/flights/x", Some(stable_id(&["path", "/flights/x"]))),
            // Another path falls back to the client address.
            (1, "/flights/y", None),
        ];
        for (service, path, want) in cases {
            let PluginInstance::RateLimiting(p) = snap.chains[service as usize]
                .entries()
                .iter()
                .find_map(|e| e.pick(None))
                .expect("a plugin")
            else {
                panic!("rate-limiting expected");
            };
            let view = RequestView {
                method: &Method::GET,
                host: "h",
                path,
                query: None,
                headers: &headers,
                client_ip: None,
            };
            let mut state = RequestState {
                route: Some(RouteMatch {
                    route: service,
                    service,
                    prefix_len: 0,
                }),
                ..RequestState::default()
            };
            let cx = AccessCx {
                req: &view,
                state: &mut state,
                dir: &snap,
                limiter: &limiter,
                now_ns: 1,
            };
            let (got, from_ip) = subject(p, &cx);
            match want {
                Some(w) => assert_eq!((got, from_ip), (w, None), "{path}"),
                None => assert_eq!(got, limiter.ip_subject(None), "{path}"),
            }
        }
    }
}
