//! A document's entity lists as read, before validation: what the loader
//! produces and the validators consume, so that neither depends on the other's
//! module.

use crate::model;
use crate::section_key::SectionKey;
use std::collections::HashSet;

/// The raw entity lists, each entity that deserialized cleanly.
#[derive(Debug, Default)]
pub struct RawSnapshot {
    pub services: Vec<(usize, model::Service)>,
    pub consumers: Vec<(usize, model::Consumer)>,
    pub plugins: Vec<(usize, model::PluginEntry)>,
    pub apis: Vec<(usize, model::Api)>,
    pub auth_strategies: Vec<(usize, model::AuthStrategy)>,
    pub api_packages: Vec<(usize, model::ApiPackage)>,
    pub applications: Vec<(usize, model::Application)>,
    /// The applications section's key (JSON fast path only).
    pub applications_key: Option<SectionKey>,
    /// The section's key was known: `applications` is empty and validated
    /// as it was before.
    pub applications_unchanged: bool,
    pub upstreams: Vec<(usize, crate::upstreams::UpstreamEntry)>,
    pub targets: Vec<(usize, crate::upstreams::TargetEntry)>,
    pub certificates: Vec<(usize, model::Certificate)>,
    pub ca_certificates: Vec<(usize, model::CaCertificate)>,
    /// Names of entities that failed to deserialize: references to them are
    /// not reported again as dangling.
    pub broken_names: HashSet<String>,
}
