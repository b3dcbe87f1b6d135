//! `ace` (priority 955): access control enforcement for API packages,
//! following contract §4 step by step.

use super::{Access, AccessCx, Charge, Plugin, Resume};
use crate::credentials::{find_key, Found, KeySource};
use crate::directory::{CompiledApp, CompiledGrant, Directory, ScopedLimit};
use crate::limiter::{LimitKey, Outcome};
use crate::normalize::match_form;
use crate::opmatch::OpId;
use crate::request::{
    AceDecision, AceGrant, Flow, Identity, LimitScope, RateHeaders, Reply, RequestView,
    ShadowRefusal,
};
use http::HeaderValue;
use tollgate_config::plugins::MatchPolicy;

#[derive(Debug)]
pub struct Ace {
    pub policy: MatchPolicy,
    /// Consumer index to continue as when no or an unknown credential is presented.
    pub anonymous: Option<u32>,
    /// Index into `Directory::counters`: where package limits are counted.
    pub counters: u32,
    /// Remove the presented key before proxying.
    pub hide_credentials: bool,
    /// Shadow mode: decide, record and charge, but never refuse.
    pub shadow: bool,
    /// In shadow mode, return the would-be decision to the client.
    pub shadow_header: bool,
}

/// An ACE decision waiting for its limit to be charged.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    ent: Entitlement,
    credential: u32,
    scope: LimitScope,
}

const NO_MATCH: &str = r#"{"message":"no API operation matched"}"#;
const NO_KEY: &str = r#"{"message":"No API key found in request"}"#;
const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const DUPLICATE: &str = r#"{"message":"Duplicate API key found"}"#;
const FORBIDDEN: &str = r#"{"message":"You cannot consume this service"}"#;
const LIMITED: &str = r#"{"message":"API rate limit exceeded"}"#;
const INTERNAL: &str = r#"{"message":"An unexpected error occurred"}"#;

/// What granted an operation to an application, and what to charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entitlement {
    pub operation: OpId,
    pub package: Option<u32>,
    pub charge: Option<(ScopedLimit, LimitScope)>,
}

/// Step 4–5 input: the first approved registration that grants one of `ops`.
pub fn entitlement(snap: &Directory, app: &CompiledApp, ops: &[OpId]) -> Option<Entitlement> {
    app.grants
        .iter()
        .find_map(|&grant| grant_entitlement(snap, grant, ops))
}

/// What one registration grants of `ops`, if anything: the first of `ops` a
/// package contains (with the limit it charges), or one of its API's.
pub fn grant_entitlement(
    snap: &Directory,
    grant: CompiledGrant,
    ops: &[OpId],
) -> Option<Entitlement> {
    match grant {
        CompiledGrant::Package(p) => {
            let pkg = snap.packages.get(p as usize)?;
            ops.iter().find_map(|&op| {
                let over = pkg.ops.get(&op)?;
                let charge = match over {
                    Some(l) => Some((*l, LimitScope::Operation)),
                    None => pkg.limit.map(|l| (l, LimitScope::Package)),
                };
                Some(Entitlement {
                    operation: op,
                    package: Some(p),
                    charge,
                })
            })
        }
        CompiledGrant::Api(a) => {
            let range = &snap.apis.get(a as usize)?.ops;
            let &op = ops.iter().find(|op| range.contains(op))?;
            Some(Entitlement {
                operation: op,
                package: None,
                charge: None,
            })
        }
    }
}

/// Step 1: the operations a request matches. Every framework runs the GET
/// handler for HEAD, so HEAD is matched, entitled and charged as GET; an API
/// that lists HEAD on a path without GET keeps its own HEAD operation.
pub fn match_operations<'s>(snap: &'s Directory, req: &RequestView<'_>) -> &'s [OpId] {
    let path = match_form(req.path);
    if *req.method == http::Method::HEAD {
        match snap.op_router.find(req.host, &http::Method::GET, path) {
            [] => snap.op_router.find(req.host, req.method, path),
            get => get,
        }
    } else {
        snap.op_router.find(req.host, req.method, path)
    }
}

/// Step 3: what the request's API key resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLookup {
    Missing,
    /// Several different values for one key name.
    Duplicate,
    /// A key was presented (under `ace_key_names[name]`) but no credential
    /// of a strategy declaring that name has it.
    Unknown {
        name: usize,
        in_query: bool,
    },
    Known {
        credential: u32,
        name: usize,
        in_query: bool,
    },
}

/// Finds the request's key under every key_auth strategy's names and
/// resolves it to a credential.
/// `unix_s`: wall-clock Unix seconds now, for key expiry (0 = unknown: every
/// expiring key counts as expired).
pub fn lookup_credential(snap: &Directory, req: &RequestView<'_>, unix_s: u64) -> KeyLookup {
    let (key, source) = match find_key(&snap.ace_key_names, req.headers, req.query, true, true) {
        Found::None => return KeyLookup::Missing,
        Found::Duplicate => return KeyLookup::Duplicate,
        Found::Key(k, s) => (k, s),
    };
    let (name, in_query) = match source {
        KeySource::Header(i) => (i, false),
        KeySource::Query(i) => (i, true),
    };
    let cred = snap.credentials.lookup(&key).filter(|&c| {
        // The key must arrive under a name its application's strategy declares.
        let app = &snap.apps[snap.credentials.get(c).app as usize];
        snap.ace_key_names[name].strategies.contains(&app.strategy)
            // An expired key (its strategy's ttl) is an unknown key.
            && !snap.credentials.expired(c, unix_s)
    });
    match cred {
        Some(credential) => KeyLookup::Known {
            credential,
            name,
            in_query,
        },
        None => KeyLookup::Unknown { name, in_query },
    }
}

impl Ace {
    fn decide(&self, cx: &mut AccessCx<'_>, d: AceDecision) {
        cx.state.ace_decision = Some(d);
        cx.state.ace_shadow = self.shadow;
    }

    /// Step 3 failures: a 401, or continuing as the anonymous consumer.
    fn unauthenticated(&self, cx: &mut AccessCx<'_>, reply: Reply) -> Flow {
        match self.anonymous {
            Some(c) => {
                cx.state.identity = Identity::anonymous(c);
                self.decide(cx, AceDecision::Anonymous);
                Flow::Continue
            }
            None => {
                self.decide(cx, AceDecision::Unauthorized);
                Flow::Respond(reply)
            }
        }
    }
}

impl Plugin for Ace {
    const NAME: &'static str = "ace";
    const PRIORITY: i32 = 955;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        let access = self.enforce(cx);
        match access {
            Access::Done(Flow::Respond(reply)) if self.shadow => {
                Access::Done(self.let_through(cx, reply.status))
            }
            other => other,
        }
    }

    fn resume(&self, cx: &mut AccessCx<'_>, resume: Resume, outcome: Outcome) -> Flow {
        let Resume::Ace(p) = resume else {
            // A resume meant for another plugin: a bug, and never a reason to allow.
            self.decide(cx, AceDecision::Forbidden);
            return Flow::Respond(Reply::static_json(500, INTERNAL));
        };
        let rate = RateHeaders {
            outcome,
            scope: Some(p.scope),
        };
        if self.shadow {
            // The client sees no limit headers in shadow mode: the limit is
            // not applied to it yet. The access log still reports it.
            cx.state.shadow_rate = Some(rate);
            let flow = self.allow(cx, p.ent, p.credential);
            if !outcome.allowed {
                self.decide(cx, AceDecision::RateLimited);
                return self.let_through(cx, 429);
            }
            return flow;
        }
        cx.state.ace_rate = Some(rate);
        if outcome.allowed {
            return self.allow(cx, p.ent, p.credential);
        }
        let app = cx.dir.credentials.get(p.credential).app;
        cx.state.ace = Some(AceGrant {
            operation: p.ent.operation,
            package: p.ent.package,
            app,
            credential: p.credential,
        });
        self.decide(cx, AceDecision::RateLimited);
        let mut r = Reply::static_json(429, LIMITED);
        r.headers.push((
            http::header::RETRY_AFTER,
            HeaderValue::from(outcome.retry_after_secs),
        ));
        Flow::Respond(r)
    }
}

impl Ace {
    /// Steps 1–5 as the contract states them; shadow mode is applied on top.
    fn enforce(&self, cx: &mut AccessCx<'_>) -> Access {
        let snap = cx.dir;
        let req = cx.req;
        // 1. Operation match.
        let ops = match_operations(snap, req);
        if ops.is_empty() {
            return Access::Done(match self.policy {
                MatchPolicy::Required => {
                    self.decide(cx, AceDecision::NoMatch);
                    Flow::Respond(Reply::static_json(404, NO_MATCH))
                }
                MatchPolicy::IfPresent => {
                    self.decide(cx, AceDecision::PassThrough);
                    Flow::Continue
                }
            });
        }
        // 2. Already authenticated by a higher-priority auth plugin.
        let id = cx.state.identity;
        if self.anonymous.is_some() && id.consumer.is_some() && !id.anonymous {
            self.decide(cx, AceDecision::PassThrough);
            return Access::Done(Flow::Continue);
        }
        // 3. Credential.
        let cred_idx = match lookup_credential(snap, req, cx.state.unix_s) {
            KeyLookup::Missing => {
                let mut r = Reply::static_json(401, NO_KEY);
                r.headers.push((
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Key"),
                ));
                return Access::Done(self.unauthenticated(cx, r));
            }
            KeyLookup::Duplicate => {
                return Access::Done(self.unauthenticated(cx, Reply::static_json(401, DUPLICATE)))
            }
            KeyLookup::Unknown { .. } => {
                // Every name a key may arrive under is hidden, not only the one used:
                // a second key beside it must not reach the upstream either.
                cx.state.hide_ace_keys |= self.hide_credentials;
                return Access::Done(
                    self.unauthenticated(cx, Reply::static_json(401, UNAUTHORIZED)),
                );
            }
            KeyLookup::Known { credential, .. } => {
                cx.state.hide_ace_keys |= self.hide_credentials;
                credential
            }
        };
        let cred = snap.credentials.get(cred_idx);
        let app = &snap.apps[cred.app as usize];
        // 4. Entitlement.
        let Some(ent) = entitlement(snap, app, ops) else {
            self.decide(cx, AceDecision::Forbidden);
            return Access::Done(Flow::Respond(Reply::static_json(403, FORBIDDEN)));
        };
        // 5. Limits: charged by the caller (locally or in Redis), then `resume`.
        match ent.charge {
            Some((limit, scope)) => Access::Charge(
                Charge {
                    key: LimitKey {
                        subject: cred.subject,
                        scope: limit.scope,
                    },
                    limit: limit.limit,
                    counters: self.counters,
                    client_ip: None,
                    fault_tolerant: true,
                },
                Resume::Ace(Pending {
                    ent,
                    credential: cred_idx,
                    scope,
                }),
            ),
            None => Access::Done(self.allow(cx, ent, cred_idx)),
        }
    }

    /// Shadow mode: the refusal `status` is recorded, and the request goes on.
    fn let_through(&self, cx: &mut AccessCx<'_>, status: u16) -> Flow {
        cx.state.shadow = Some(ShadowRefusal {
            status,
            header: self.shadow_header,
        });
        Flow::Continue
    }
}

impl Ace {
    /// Step 6: identity for the upstream headers and later plugins.
    fn allow(&self, cx: &mut AccessCx<'_>, ent: Entitlement, credential: u32) -> Flow {
        let app_idx = cx.dir.credentials.get(credential).app;
        let app = &cx.dir.apps[app_idx as usize];
        cx.state.ace = Some(AceGrant {
            operation: ent.operation,
            package: ent.package,
            app: app_idx,
            credential,
        });
        if app.consumer.is_some() || cx.state.identity.anonymous {
            cx.state.identity = Identity {
                consumer: app.consumer,
                anonymous: false,
                keyauth_credential: None,
                basic_credential: None,
            };
        }
        self.decide(cx, AceDecision::Allow);
        Flow::Continue
    }
}
