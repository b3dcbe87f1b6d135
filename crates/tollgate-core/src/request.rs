//! The per-request types the plugins share: a borrowed view of the request,
//! the state plugins build up (identity, ACE grant, rate-limit headers), and
//! the explicit result of a plugin phase.

use crate::limiter::Outcome;
use crate::routes::RouteMatch;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::net::IpAddr;

/// What a plugin sees of a request. `path` is already normalized.
pub struct RequestView<'a> {
    pub method: &'a Method,
    /// Lower-case host without port ("" when absent).
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub client_ip: Option<IpAddr>,
}

/// A response produced by the gateway itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: HeaderValue,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    /// A `{"message": ...}` JSON reply, Kong style.
    pub fn message(status: u16, message: &str) -> Self {
        let body = serde_json_message(message);
        Reply {
            status,
            body: Bytes::from(body),
            content_type: HeaderValue::from_static("application/json; charset=utf-8"),
            headers: Vec::new(),
        }
    }

    /// A reply whose JSON body is fixed at compile time.
    pub fn static_json(status: u16, body: &'static str) -> Self {
        Reply {
            status,
            body: Bytes::from_static(body.as_bytes()),
            content_type: HeaderValue::from_static("application/json; charset=utf-8"),
            headers: Vec::new(),
        }
    }
}

/// `{"message":"..."}` with JSON string escaping.
pub fn serde_json_message(message: &str) -> String {
    let mut s = String::with_capacity(message.len() + 16);
    s.push_str("{\"message\":\"");
    for c in message.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push_str("\"}");
    s
}

/// The result of a plugin's access phase.
#[derive(Debug)]
pub enum Flow {
    Continue,
    Respond(Reply),
}

/// Which ACE limit bound a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Package,
    Operation,
}

impl LimitScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Package => "package",
            LimitScope::Operation => "operation",
        }
    }
}

/// How ACE decided, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AceDecision {
    Allow,
    PassThrough,
    Anonymous,
    NoMatch,
    Unauthorized,
    Forbidden,
    RateLimited,
}

impl AceDecision {
    pub const ALL: [AceDecision; 7] = [
        AceDecision::Allow,
        AceDecision::PassThrough,
        AceDecision::Anonymous,
        AceDecision::NoMatch,
        AceDecision::Unauthorized,
        AceDecision::Forbidden,
        AceDecision::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AceDecision::Allow => "allow",
            AceDecision::PassThrough => "pass_through",
            AceDecision::Anonymous => "anonymous",
            AceDecision::NoMatch => "no_match",
            AceDecision::Unauthorized => "unauthorized",
            AceDecision::Forbidden => "forbidden",
            AceDecision::RateLimited => "rate_limited",
        }
    }
}

/// A refusal that shadow mode turned into "continue".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShadowRefusal {
    /// The status ACE would have answered.
    pub status: u16,
    /// Return the decision to the client in `X-ACE-Shadow-Decision`.
    pub header: bool,
}

/// What ACE granted: the operation, the application and how it was charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AceGrant {
    pub operation: u32,
    pub package: Option<u32>,
    pub app: u32,
    pub credential: u32,
}

/// Rate-limit figures to put on the response.
#[derive(Debug, Clone, Copy)]
pub struct RateHeaders {
    pub outcome: Outcome,
    /// Set for ACE limits; `None` for the rate-limiting plugin.
    pub scope: Option<LimitScope>,
}

/// Identity established by an auth plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity {
    pub consumer: Option<u32>,
    /// The consumer is the configured anonymous one, not an authenticated caller.
    pub anonymous: bool,
    /// A key-auth credential (consumer key) index, when key-auth authenticated.
    pub keyauth_credential: Option<u32>,
    /// A basic-auth credential index, when basic-auth authenticated.
    pub basic_credential: Option<u32>,
}

impl Identity {
    /// The configured anonymous consumer, after an auth plugin found no valid
    /// credential.
    pub fn anonymous(consumer: u32) -> Self {
        Identity {
            consumer: Some(consumer),
            anonymous: true,
            keyauth_credential: None,
            basic_credential: None,
        }
    }

    /// An auth plugin authenticated a credential (Kong's `get_credential()`):
    /// not the anonymous fallback.
    pub fn has_credential(&self) -> bool {
        !self.anonymous && (self.keyauth_credential.is_some() || self.basic_credential.is_some())
    }
}

/// A credential to remove before proxying (`hide_credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    Header(HeaderName),
    Query(Box<str>),
}

/// The credentials to hide: at most one per auth plugin, kept inline so a
/// request that hides its key does not allocate for it.
#[derive(Debug, Clone, Default)]
pub struct HiddenKeys([Option<Hidden>; 2]);

impl HiddenKeys {
    pub fn push(&mut self, h: Hidden) {
        if self.iter().any(|x| *x == h) {
            return;
        }
        match self.0.iter_mut().find(|s| s.is_none()) {
            Some(slot) => *slot = Some(h),
            // Two plugins both hiding keys fill it; a third never exists.
            None => self.0[1] = Some(h),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Hidden> {
        self.0.iter().flatten()
    }
}

/// State built up by the plugins of one request.
#[derive(Debug, Default)]
pub struct RequestState {
    pub route: Option<RouteMatch>,
    pub identity: Identity,
    pub ace: Option<AceGrant>,
    pub ace_decision: Option<AceDecision>,
    /// The ACE limit that was charged, with the package it belongs to (for metrics).
    pub ace_rate: Option<RateHeaders>,
    pub plugin_rate: Option<RateHeaders>,
    pub hidden: HiddenKeys,
    /// `ace_decision` was taken by an ACE in shadow mode.
    pub ace_shadow: bool,
    /// Shadow mode: the refusal ACE would have answered, had it enforced.
    pub shadow: Option<ShadowRefusal>,
    /// Shadow mode: the ACE limit that was charged (not shown to the client).
    pub shadow_rate: Option<RateHeaders>,
    /// ACE found a key and hides credentials: every ACE key name (header and
    /// query) is removed before proxying.
    pub hide_ace_keys: bool,
    /// Wall-clock Unix seconds when the request arrived, for key expiry
    /// (the core has no clock; 0 = unknown, and expiring keys are refused).
    pub unix_s: u64,
    /// `acl` admitted the consumer and sends `X-Consumer-Groups` upstream.
    pub send_groups: bool,
    /// Headers the `cors` plugin adds to the response (empty: none).
    pub cors_headers: Vec<(HeaderName, HeaderValue)>,
}
