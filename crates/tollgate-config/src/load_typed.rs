//! The fast path of loading: a well-formed document deserialized in one
//! typed pass, without a value tree. For JSON, the applications section is
//! first taken as text and keyed ([`SectionKey`]), and deserialized only when
//! the key is not the running snapshot's.

use crate::model;
use crate::raw::RawSnapshot;
use crate::section_key::SectionKey;
use serde_json::value::RawValue;
use std::collections::HashSet;

/// The whole document in one typed pass (the fast path); public so that the
/// parser comparison (`examples/yaml_parsers.rs`) deserializes exactly this.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedDoc<A = Vec<model::Application>> {
    #[serde(rename = "_format_version")]
    format_version: Option<serde_yaml::Value>,
    #[serde(default)]
    services: Vec<model::Service>,
    #[serde(default)]
    consumers: Vec<model::Consumer>,
    #[serde(default)]
    plugins: Vec<model::PluginEntry>,
    #[serde(default)]
    apis: Vec<model::Api>,
    #[serde(default)]
    auth_strategies: Vec<model::AuthStrategy>,
    #[serde(default)]
    api_packages: Vec<model::ApiPackage>,
    #[serde(default)]
    applications: A,
    #[serde(default)]
    upstreams: Vec<crate::upstreams::UpstreamEntry>,
    #[serde(default)]
    targets: Vec<crate::upstreams::TargetEntry>,
    #[serde(default)]
    certificates: Vec<model::Certificate>,
    #[serde(default)]
    ca_certificates: Vec<model::CaCertificate>,
}

fn indexed<T>(v: Vec<T>) -> Vec<(usize, T)> {
    v.into_iter().enumerate().collect()
}

impl TypedDoc {
    pub fn application_count(&self) -> usize {
        self.applications.len()
    }

    /// `None` when `_format_version` is not one this loader reads here.
    pub(crate) fn into_raw(mut self) -> Option<RawSnapshot> {
        let applications = std::mem::take(&mut self.applications);
        self.with_applications(applications, None, false)
    }
}

impl<A> TypedDoc<A> {
    fn with_applications(
        self,
        applications: Vec<model::Application>,
        applications_key: Option<SectionKey>,
        applications_unchanged: bool,
    ) -> Option<RawSnapshot> {
        if !format_ok(self.format_version.as_ref()) {
            return None;
        }
        Some(RawSnapshot {
            services: indexed(self.services),
            consumers: indexed(self.consumers),
            plugins: indexed(self.plugins),
            apis: indexed(self.apis),
            auth_strategies: indexed(self.auth_strategies),
            api_packages: indexed(self.api_packages),
            applications: indexed(applications),
            applications_key,
            applications_unchanged,
            upstreams: indexed(self.upstreams),
            targets: indexed(self.targets),
            certificates: indexed(self.certificates),
            ca_certificates: indexed(self.ca_certificates),
            broken_names: HashSet::new(),
        })
    }
}

/// The JSON fast path. The applications section is first taken as text:
/// it is keyed, and deserialized only when the key is not `known`.
pub(crate) fn typed_json(text: &str, known: Option<&SectionKey>) -> Option<RawSnapshot> {
    let doc = serde_json::from_str::<TypedDoc<Option<&RawValue>>>(text).ok()?;
    let section = doc.applications.map_or("[]", RawValue::get);
    let key = SectionKey::of(
        section,
        &doc.apis,
        &doc.api_packages,
        &doc.auth_strategies,
        &doc.consumers,
    );
    if known == Some(&key) {
        return doc.with_applications(Vec::new(), Some(key), true);
    }
    let applications = serde_json::from_str::<Vec<model::Application>>(section).ok()?;
    doc.with_applications(applications, Some(key), false)
}

fn format_ok(v: Option<&serde_yaml::Value>) -> bool {
    v.is_some_and(|v| v.as_str() == Some("3.0") || v.as_f64() == Some(3.0))
}
