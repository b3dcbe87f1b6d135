//! The applications side of a compiled snapshot: each application's grants
//! and the credential index over every key. With a million credentials this
//! is most of a compile, so a snapshot whose applications section is
//! unchanged (same [`tollgate_config::SectionKey`]) shares the running
//! snapshot's instead of building them again.

use crate::compile::CompileError;
use crate::credentials::CredentialIndex;
use crate::snapshot::{CompiledApp, CompiledGrant, CompiledSnapshot};
use std::sync::Arc;
use tollgate_config::model::RegistrationStatus;
use tollgate_config::{Grant, Snapshot};

type Apps = (Arc<Vec<CompiledApp>>, Arc<CredentialIndex>);

pub(crate) fn build(s: &Snapshot) -> (Vec<CompiledApp>, CredentialIndex) {
    let mut credentials = CredentialIndex::default();
    credentials.reserve(s.applications.iter().map(|a| a.credentials.len()).sum());
    let mut apps = Vec::with_capacity(s.applications.len());
    for (ai, a) in s.applications.iter().enumerate() {
        for c in &a.credentials {
            credentials.insert_expiring(ai as u32, c.sha256, c.plain.as_deref(), c.expires_at);
        }
        apps.push(CompiledApp {
            name: a.name.as_str().into(),
            name_header: crate::compile::hv(&a.name),
            strategy: a.strategy as u32,
            consumer: a.consumer.map(|c| c as u32),
            grants: a
                .registrations
                .iter()
                .filter(|r| r.status == RegistrationStatus::Approved)
                .map(|r| compiled_grant(r.grant))
                .collect(),
            inactive: a
                .registrations
                .iter()
                .filter(|r| r.status != RegistrationStatus::Approved)
                .map(|r| (compiled_grant(r.grant), r.status))
                .collect(),
        });
    }
    (apps, credentials)
}

/// The running snapshot's applications, which `s` was loaded against.
pub(crate) fn reuse(s: &Snapshot, running: &CompiledSnapshot) -> Result<Apps, CompileError> {
    match (s.applications_key, running.apps_key) {
        (Some(a), Some(b)) if a == b => {
            Ok((Arc::clone(&running.apps), Arc::clone(&running.credentials)))
        }
        _ => Err(CompileError::ApplicationsNotHeld),
    }
}

fn compiled_grant(g: Grant) -> CompiledGrant {
    match g {
        Grant::Package(p) => CompiledGrant::Package(p as u32),
        Grant::Api(x) => CompiledGrant::Api(x as u32),
    }
}

#[cfg(test)]
mod tests {
    use crate::{compile, compile_reusing, CompileError};
    use std::sync::Arc;
    use tollgate_config::{load_bytes, load_bytes_reusing};

    fn doc(limit: u32) -> String {
        format!(
            r#"{{"_format_version":"3.0",
            "services":[{{"name":"s","url":"http://127.0.0.1:1","routes":[{{"name":"r","paths":["/a"]}}]}}],
            "plugins":[{{"name":"ace"}}],
            "apis":[{{"name":"a","operations":[{{"method":"GET","path":"/a","id":"get-a"}}]}}],
            "auth_strategies":[{{"name":"k","type":"key_auth","key_names":["apikey"]}}],
            "api_packages":[{{"name":"p","rate_limiting_config":{{"limit":{limit},"duration":"seconds"}},"operations":[{{"api":"a","method":"GET","path":"/a"}}]}}],
            "applications":[{{"name":"app","auth_strategy":"k","credentials":[{{"key":"k1"}},{{"key":"k2"}}],"registrations":[{{"api_package":"p"}}]}}]}}"#
        )
    }

    #[test]
    fn an_unchanged_section_shares_the_running_credentials() {
        let running =
            compile(&load_bytes(doc(5).as_bytes(), None).expect("valid")).expect("compiles");
        let next =
            load_bytes_reusing(doc(6).as_bytes(), None, running.apps_key.as_ref()).expect("valid");
        assert!(next.applications_unchanged);
        let next = compile_reusing(&next, &running).expect("compiles");
        assert!(Arc::ptr_eq(&next.apps, &running.apps));
        assert!(Arc::ptr_eq(&next.credentials, &running.credentials));
        assert_eq!(next.counts.credentials, 2);
        assert!(next.credentials.lookup(b"k2").is_some());
        assert_ne!(next.hash, running.hash);

        // A running snapshot without that section cannot lend it.
        let other = compile(&load_bytes(b"_format_version: \"3.0\"\n", None).expect("valid"))
            .expect("compiles");
        let again =
            load_bytes_reusing(doc(7).as_bytes(), None, running.apps_key.as_ref()).expect("valid");
        assert!(matches!(
            compile_reusing(&again, &other),
            Err(CompileError::ApplicationsNotHeld)
        ));
        // A changed section is built anew.
        let changed = load_bytes_reusing(
            doc(5).replace("k2", "k3").as_bytes(),
            None,
            running.apps_key.as_ref(),
        )
        .expect("valid");
        let changed = compile_reusing(&changed, &running).expect("compiles");
        assert!(!Arc::ptr_eq(&changed.credentials, &running.credentials));
        assert!(changed.credentials.lookup(b"k2").is_none());
        assert!(changed.credentials.lookup(b"k3").is_some());
    }
}
