//! The ACE part of an explanation: each step of contract §4 as `Ace::access`
//! takes it, from the same step functions, with the reasons spelled out.

use super::{AceInfo, CredentialInfo, OperationInfo, RegistrationInfo};
use crate::plugins::{grant_entitlement, lookup_credential, match_operations, Ace, KeyLookup};
use crate::request::{LimitScope, RequestState, RequestView};
use crate::snapshot::{CompiledGrant, CompiledSnapshot};
use http::Method;
use tollgate_config::plugins::MatchPolicy;

fn op_info(snap: &CompiledSnapshot, op: u32) -> Option<OperationInfo> {
    let o = snap.operations.get(op as usize)?;
    Some(OperationInfo {
        id: o.id.to_string(),
        api: snap
            .apis
            .get(o.api as usize)
            .map(|a| a.name.to_string())
            .unwrap_or_default(),
        method: o.method.to_string(),
        path: o.path.to_string(),
        host: o.host.as_deref().map(str::to_string),
    })
}

/// ACE's steps for this request, from the functions `Ace::access` runs.
pub(super) fn ace_info(
    snap: &CompiledSnapshot,
    ace: &Ace,
    view: &RequestView<'_>,
    state: &RequestState,
) -> AceInfo {
    let mut info = AceInfo {
        match_policy: match ace.policy {
            MatchPolicy::IfPresent => "if_present",
            MatchPolicy::Required => "required",
        },
        mode: if ace.shadow { "shadow" } else { "enforce" },
        ..Default::default()
    };
    let ops = match_operations(snap, view);
    info.operations = ops.iter().filter_map(|&op| op_info(snap, op)).collect();
    if ops.is_empty() {
        info.no_operation = Some(why_no_operation(snap, view));
    }
    let id = state.identity;
    info.skipped_authenticated = ace.anonymous.is_some() && id.consumer.is_some() && !id.anonymous;
    let lookup = lookup_credential(snap, view, state.unix_s);
    let source = |name: usize, in_query: bool| {
        let n = &snap.ace_key_names[name];
        if in_query {
            format!("query {}", n.query)
        } else {
            let h = n.header.as_ref().map(|h| h.as_str()).unwrap_or(&n.query);
            format!("header {h}")
        }
    };
    let credential = match lookup {
        KeyLookup::Missing => CredentialInfo {
            result: "missing",
            source: None,
            identifier: None,
            application: None,
            consumer: None,
        },
        KeyLookup::Duplicate => CredentialInfo {
            result: "duplicate",
            source: None,
            identifier: None,
            application: None,
            consumer: None,
        },
        KeyLookup::Unknown { name, in_query } => CredentialInfo {
            result: "unknown",
            source: Some(source(name, in_query)),
            identifier: None,
            application: None,
            consumer: None,
        },
        KeyLookup::Known {
            credential,
            name,
            in_query,
        } => {
            let cred = snap.credentials.get(credential);
            let app = &snap.apps[cred.app as usize];
            info.registrations = registrations(snap, cred.app, ops);
            CredentialInfo {
                result: "known",
                source: Some(source(name, in_query)),
                identifier: cred.identifier().to_str().ok().map(str::to_string),
                application: Some(app.name.to_string()),
                consumer: app
                    .consumer
                    .and_then(|c| snap.consumers.get(c as usize))
                    .map(|c| c.username.to_string()),
            }
        }
    };
    info.credential = Some(credential);
    info
}

fn why_no_operation(snap: &CompiledSnapshot, view: &RequestView<'_>) -> String {
    let path = crate::normalize::match_form(view.path);
    let others: Vec<&str> = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ]
    .iter()
    .filter(|m| *m != view.method && !snap.op_router.find(view.host, m, path).is_empty())
    .map(Method::as_str)
    .collect();
    if others.is_empty() {
        format!("no operation of any API has the path {path}")
    } else {
        format!(
            "the path {path} is an operation only for {}, not {}",
            others.join(", "),
            view.method
        )
    }
}

fn grant_name(snap: &CompiledSnapshot, g: CompiledGrant) -> (&'static str, String) {
    match g {
        CompiledGrant::Package(p) => (
            "api_package",
            snap.packages
                .get(p as usize)
                .map(|p| p.name.to_string())
                .unwrap_or_default(),
        ),
        CompiledGrant::Api(a) => (
            "api",
            snap.apis
                .get(a as usize)
                .map(|a| a.name.to_string())
                .unwrap_or_default(),
        ),
    }
}

/// Each registration of the application: the approved ones in the order ACE
/// considers them, then those it ignores.
fn registrations(snap: &CompiledSnapshot, app: u32, ops: &[u32]) -> Vec<RegistrationInfo> {
    let Some(app) = snap.apps.get(app as usize) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut charged = false;
    for &g in &app.grants {
        let (kind, name) = grant_name(snap, g);
        let ent = grant_entitlement(snap, g, ops);
        let grants = ent.and_then(|e| snap.operations.get(e.operation as usize));
        let reason = match (ent, grants) {
            (Some(e), Some(op)) => {
                let limit = match e.charge {
                    Some((_, LimitScope::Operation)) => "the operation's own limit",
                    Some((_, LimitScope::Package)) => "the package limit",
                    None if e.package.is_some() => "nothing (the package has no limit)",
                    None => "nothing (direct API access has no ACE limit)",
                };
                if charged {
                    format!(
                        "grants {} too, but only the first granting registration is charged",
                        op.id
                    )
                } else {
                    format!("grants {}; charged: {limit}", op.id)
                }
            }
            _ if ops.is_empty() => "not considered: no operation matched".to_string(),
            _ => {
                let id = ops
                    .first()
                    .and_then(|&o| snap.operations.get(o as usize))
                    .map(|o| &*o.id)
                    .unwrap_or("");
                let what = if kind == "api" { "API" } else { "package" };
                format!("does not grant {id}: the {what} does not contain it")
            }
        };
        let first = grants.is_some() && !charged;
        charged |= first;
        out.push(RegistrationInfo {
            kind,
            name,
            status: "approved",
            grants: grants.map(|o| o.id.to_string()),
            charged: first,
            reason,
        });
    }
    for &(g, status) in app.inactive.iter() {
        let (kind, name) = grant_name(snap, g);
        let status = match status {
            tollgate_config::model::RegistrationStatus::Approved => "approved",
            tollgate_config::model::RegistrationStatus::Pending => "pending",
            tollgate_config::model::RegistrationStatus::Rejected => "rejected",
            tollgate_config::model::RegistrationStatus::Revoked => "revoked",
        };
        out.push(RegistrationInfo {
            kind,
            name,
            status,
            grants: None,
            charged: false,
            reason: format!("ignored: status {status} (only approved registrations grant)"),
        });
    }
    out
}
