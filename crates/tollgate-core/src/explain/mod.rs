//! `explain`: the whole decision for one request, without sending it.
//!
//! It runs the same functions the proxy runs — request-head checks, path
//! normalization and routing (`target::resolve`), the route's plugin chain
//! (each plugin's own `access`/`resume`), and ACE's step functions for the
//! detail — so that what it reports is what the proxy does. The one
//! difference: limits are looked at, never charged, so explaining a request
//! changes no state. Nothing here runs on the proxy's request path.

mod ace;

use crate::hygiene;
use crate::limiter::{admit, LimiterStore, Outcome, WindowState};
use crate::plugins::{Access, AccessCx, Charge, PluginInstance};
use crate::request::{AceDecision, Flow, LimitScope, RequestState, RequestView};
use crate::routes::upstream_path;
use crate::snapshot::CompiledSnapshot;
use crate::target::{resolve, TargetError};
use http::{HeaderMap, Method};
use std::net::IpAddr;

/// The request to explain, as the proxy would see it.
pub struct ExplainInput<'a> {
    pub method: &'a Method,
    /// Lower-case host without port ("" when absent).
    pub host: &'a str,
    /// The raw path, before normalization.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client_ip: Option<IpAddr>,
    /// Wall-clock Unix seconds, for key expiry (the core has no clock).
    pub unix_s: u64,
}

/// Everything the proxy would decide for a request.
#[derive(Debug, Clone, Default)]
pub struct Explanation {
    pub normalized_path: Option<String>,
    pub route: Option<RouteInfo>,
    /// The route's plugins in execution order, each with what it did.
    pub chain: Vec<Step>,
    pub ace: Option<AceInfo>,
    /// Limits the request would be charged, in chain order.
    pub limits: Vec<LimitInfo>,
    pub ace_decision: Option<AceDecision>,
    /// The decision was taken by an ACE in shadow mode.
    pub ace_shadow: bool,
    /// Shadow mode: the status ACE would have answered, had it enforced.
    pub shadow_status: Option<u16>,
    pub result: Verdict,
}

/// How the gateway would finish the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The gateway answers itself.
    Reply {
        status: u16,
        body: String,
        /// The plugin that answered; `None` for routing and request checks.
        by: Option<&'static str>,
    },
    /// Sent to the upstream, which decides the status.
    Proxy { upstream_path: String },
}

impl Default for Verdict {
    fn default() -> Self {
        Verdict::Proxy {
            upstream_path: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub name: String,
    pub service: String,
    /// `http(s)://host:port/base`
    pub upstream: String,
    /// The path the routers and ACE match on.
    pub match_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// No config of this plugin applies to the request's consumer.
    NotConfigured,
    Continue,
    Respond(u16),
    /// An earlier plugin answered.
    NotReached,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub plugin: &'static str,
    pub outcome: StepOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationInfo {
    pub id: String,
    pub api: String,
    pub method: String,
    pub path: String,
    pub host: Option<String>,
}

/// What ACE found, step by step (contract §4).
#[derive(Debug, Clone, Default)]
pub struct AceInfo {
    pub match_policy: &'static str,
    pub mode: &'static str,
    /// Operations the request matches (several when a host-specific and a
    /// host-less one both do); the granted one is the first a registration contains.
    pub operations: Vec<OperationInfo>,
    /// Why no operation matched, when none did.
    pub no_operation: Option<String>,
    /// Step 2: a higher-priority auth plugin authenticated the request and
    /// ACE (with `anonymous` set) skips it.
    pub skipped_authenticated: bool,
    pub credential: Option<CredentialInfo>,
    pub registrations: Vec<RegistrationInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// `missing`, `duplicate`, `unknown` or `known`.
    pub result: &'static str,
    /// Where the key was found, e.g. `header apikey` or `query apikey`.
    pub source: Option<String>,
    /// The public identifier (`X-Credential-Identifier`), never the key.
    pub identifier: Option<String>,
    pub application: Option<String>,
    pub consumer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationInfo {
    /// `api_package` or `api`.
    pub kind: &'static str,
    pub name: String,
    /// `approved`, `pending`, `rejected` or `revoked`.
    pub status: &'static str,
    /// The operation it grants, if any.
    pub grants: Option<String>,
    /// The registration whose limit is charged (the first granting one).
    pub charged: bool,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitInfo {
    pub plugin: &'static str,
    /// For ACE: the package's limit or the operation's own.
    pub scope: Option<LimitScope>,
    pub package: Option<String>,
    /// Would this request be admitted now.
    pub allowed: bool,
    /// Each window: its limit, what would remain after this request, reset.
    pub windows: Vec<WindowState>,
    pub retry_after_secs: u64,
}

const NO_ROUTE: &str = r#"{"message":"no Route matched with those values"}"#;

fn reply(status: u16, body: String) -> Verdict {
    Verdict::Reply {
        status,
        body,
        by: None,
    }
}

fn bad_request(e: impl std::fmt::Display) -> Verdict {
    reply(
        400,
        crate::request::serde_json_message(&format!("Bad request: {e}")),
    )
}

/// What charging `charge` would give now, without charging it: the same
/// admission arithmetic as the store's `charge`, on its current debts.
pub fn peek(limiter: &LimiterStore, charge: &Charge, now_ns: u64) -> Outcome {
    let mut debts = limiter.debts(charge.key, &charge.limit, now_ns);
    let (allowed, retry_ns) = admit(&charge.limit, &debts);
    if allowed {
        for (d, w) in debts.iter_mut().zip(charge.limit.windows.iter()) {
            if let (Some(d), Some(w)) = (d.as_mut(), w) {
                *d += w.interval_ns;
            }
        }
    }
    Outcome::from_debts(&charge.limit, &debts, allowed, retry_ns)
}

/// Explains one request against `snap`, reading (never charging) `limiter`.
pub fn explain(
    snap: &CompiledSnapshot,
    limiter: &LimiterStore,
    now_ns: u64,
    input: &ExplainInput<'_>,
) -> Explanation {
    let mut out = Explanation::default();
    if let Err(e) = hygiene::check_request(input.method, input.headers) {
        out.result = bad_request(e);
        return out;
    }
    if let Ok(n) = crate::normalize::normalize(input.path) {
        out.normalized_path = Some(n.path.into_owned());
    }
    let target = match resolve(
        &snap.routes,
        input.method,
        input.host,
        input.headers,
        input.path,
    ) {
        Ok(t) => t,
        Err(TargetError::NoRoute) => {
            out.result = reply(404, NO_ROUTE.to_string());
            return out;
        }
        Err(e) => {
            out.result = bad_request(e);
            return out;
        }
    };
    let rm = target.route;
    let route = snap.routes.route(rm.route);
    let service = &snap.services[rm.service as usize];
    let u = &service.upstream;
    out.route = Some(RouteInfo {
        name: route.name.to_string(),
        service: service.name.to_string(),
        upstream: format!(
            "{}://{}:{}{}",
            if u.tls { "https" } else { "http" },
            u.host,
            u.port,
            u.base_path
        ),
        match_path: target.match_path().to_string(),
    });
    if hygiene::refuses_underscores(input.headers, route.headers_with_underscores) {
        out.result = bad_request(hygiene::Refusal::Underscore);
        return out;
    }
    let view = RequestView {
        method: input.method,
        host: input.host,
        path: target.match_path(),
        query: input.query,
        headers: input.headers,
        client_ip: input.client_ip,
    };
    let mut state = RequestState {
        route: Some(rm),
        unix_s: input.unix_s,
        ..Default::default()
    };
    let answered = run_chain(snap, limiter, now_ns, &view, &mut state, &mut out);
    out.ace_decision = state.ace_decision;
    out.ace_shadow = state.ace_shadow;
    out.shadow_status = state.shadow.map(|s| s.status);
    out.result = match answered {
        Some(v) => v,
        None => Verdict::Proxy {
            upstream_path: upstream_path(
                &u.base_path,
                &target.path,
                target.prefix_len,
                route.strip_path,
            )
            .into_owned(),
        },
    };
    out
}

/// The proxy's chain loop, with charges looked at instead of made.
fn run_chain(
    snap: &CompiledSnapshot,
    limiter: &LimiterStore,
    now_ns: u64,
    view: &RequestView<'_>,
    state: &mut RequestState,
    out: &mut Explanation,
) -> Option<Verdict> {
    let rm = state.route?;
    let mut answered = None;
    for entry in snap.chains[rm.route as usize].entries() {
        if answered.is_some() {
            out.chain.push(Step {
                plugin: entry.name,
                outcome: StepOutcome::NotReached,
            });
            continue;
        }
        let Some(plugin) = entry.pick(state.identity.consumer) else {
            out.chain.push(Step {
                plugin: entry.name,
                outcome: StepOutcome::NotConfigured,
            });
            continue;
        };
        if let PluginInstance::Ace(ace) = plugin {
            out.ace = Some(ace::ace_info(snap, ace, view, state));
        }
        let mut cx = AccessCx {
            req: view,
            state,
            dir: snap,
            limiter,
            now_ns,
        };
        let flow = match plugin.access(&mut cx) {
            Access::Done(flow) => flow,
            Access::Charge(charge, resume) => {
                let outcome = peek(limiter, &charge, now_ns);
                let flow = plugin.resume(&mut cx, resume, outcome);
                out.limits
                    .push(limit_info(snap, entry.name, cx.state, &outcome));
                flow
            }
            // An explanation runs the check where it is, like any other.
            Access::Verify(check) => {
                let ok = check.run();
                plugin.verified(&mut cx, check, Some(ok))
            }
        };
        let outcome = match flow {
            Flow::Continue => StepOutcome::Continue,
            Flow::Respond(r) => {
                let status = r.status;
                answered = Some(Verdict::Reply {
                    status,
                    body: String::from_utf8_lossy(&r.body).into_owned(),
                    by: Some(entry.name),
                });
                StepOutcome::Respond(status)
            }
        };
        out.chain.push(Step {
            plugin: entry.name,
            outcome,
        });
    }
    answered
}

fn limit_info(
    snap: &CompiledSnapshot,
    plugin: &'static str,
    state: &RequestState,
    outcome: &Outcome,
) -> LimitInfo {
    let ace = plugin == "ace";
    let scope = if ace {
        state.ace_rate.or(state.shadow_rate).and_then(|r| r.scope)
    } else {
        None
    };
    let package = if ace {
        state
            .ace
            .and_then(|g| g.package)
            .and_then(|p| snap.packages.get(p as usize))
            .map(|p| p.name.to_string())
    } else {
        None
    };
    LimitInfo {
        plugin,
        scope,
        package,
        allowed: outcome.allowed,
        windows: outcome.windows.iter().flatten().copied().collect(),
        retry_after_secs: outcome.retry_after_secs,
    }
}
