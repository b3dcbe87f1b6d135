//! ACE shadow mode at the proxy boundary: the per-route count of requests
//! let through that enforce mode would refuse, and the opt-in
//! `X-ACE-Shadow-Decision` response header.

use crate::state::Gateway;
use http::HeaderValue;
use pingora::http::ResponseHeader;
use tollgate_core::request::{AceDecision, RequestState};
use tollgate_core::CompiledSnapshot;

pub const X_ACE_SHADOW_DECISION: &str = "x-ace-shadow-decision";

/// Counts a refusal that shadow mode let through, by route.
pub fn count(gw: &Gateway, snap: &CompiledSnapshot, route: u32, d: AceDecision) {
    let name = &*snap.routes.route(route).name;
    gw.metrics
        .ace_shadow_refusals
        .with_label_values(&[name, d.as_str()])
        .inc();
}

/// Adds `X-ACE-Shadow-Decision` when an ACE in shadow mode decided and its
/// config asks for the header. The value is a fixed token: no allocation.
pub fn set_header(resp: &mut ResponseHeader, state: &RequestState) {
    let asked = state.shadow.is_some_and(|s| s.header);
    if let (true, Some(d)) = (asked, state.ace_decision) {
        // Decision names are fixed lower-case tokens; insertion cannot fail.
        let _ = resp.insert_header(X_ACE_SHADOW_DECISION, HeaderValue::from_static(d.as_str()));
    }
}
