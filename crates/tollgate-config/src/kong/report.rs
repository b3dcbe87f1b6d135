//! The per-entity account of how a Kong file was read: what was accepted,
//! what was ignored as metadata, what is not supported, and the tags kept.

use serde::Serialize;

/// One entity (or the document itself) as the Kong layer saw it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EntityReport {
    /// Where the user wrote it, e.g. `services[0]`.
    pub path: String,
    /// Its name, when it has one.
    pub name: String,
    pub accepted: Vec<String>,
    /// (field, why) for keys dropped as metadata or without effect.
    pub ignored: Vec<(String, String)>,
    /// (field, why) for keys that made the file invalid.
    pub unsupported: Vec<(String, String)>,
    /// (field, how) for values rewritten by the 2.x → 3.0 migration.
    pub migrated: Vec<(String, String)>,
    pub tags: Vec<String>,
}

/// Every entity the Kong layer touched, in document order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KongReport {
    pub entities: Vec<EntityReport>,
}

impl KongReport {
    pub(crate) fn entity(&mut self, path: &str, name: &str) -> &mut EntityReport {
        let i = match self.entities.iter().position(|e| e.path == path) {
            Some(i) => i,
            None => {
                self.entities.push(EntityReport {
                    path: path.to_string(),
                    ..Default::default()
                });
                self.entities.len() - 1
            }
        };
        let e = &mut self.entities[i];
        if e.name.is_empty() && !name.is_empty() {
            e.name = name.to_string();
        }
        e
    }

    pub(crate) fn accepted(&mut self, path: &str, name: &str, field: &str) {
        let e = self.entity(path, name);
        if !e.accepted.iter().any(|f| f == field) {
            e.accepted.push(field.to_string());
        }
    }

    pub(crate) fn ignored(&mut self, path: &str, name: &str, field: &str, why: &str) {
        self.entity(path, name)
            .ignored
            .push((field.to_string(), why.to_string()));
    }

    pub(crate) fn unsupported(&mut self, path: &str, name: &str, field: &str, why: &str) {
        self.entity(path, name)
            .unsupported
            .push((field.to_string(), why.to_string()));
    }

    /// Every entity that carries tags, with them.
    pub fn tagged(&self) -> impl Iterator<Item = &EntityReport> {
        self.entities.iter().filter(|e| !e.tags.is_empty())
    }

    /// The tagged entities as the snapshot keeps them: collection, name.
    pub fn tag_list(&self) -> Vec<crate::resolved::TaggedEntity> {
        self.tagged()
            .map(|e| {
                // `services[0].routes[1]` is a route: the last collection named.
                let last = e.path.rsplit('.').next().unwrap_or(&e.path);
                let kind = last.split('[').next().unwrap_or(last).to_string();
                let label = if e.name.is_empty() || kind.ends_with("plugins") {
                    e.path.clone()
                } else {
                    e.name.clone()
                };
                crate::resolved::TaggedEntity {
                    kind,
                    label,
                    tags: e.tags.clone(),
                }
            })
            .collect()
    }

    /// The report as plain text, one block per entity.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for e in &self.entities {
            if e.name.is_empty() {
                s.push_str(&format!("{}\n", e.path));
            } else {
                s.push_str(&format!("{} ({})\n", e.path, e.name));
            }
            if !e.accepted.is_empty() {
                s.push_str(&format!("  accepted:    {}\n", e.accepted.join(", ")));
            }
            for (f, why) in &e.ignored {
                s.push_str(&format!("  ignored:     {f} ({why})\n"));
            }
            for (f, why) in &e.unsupported {
                s.push_str(&format!("  unsupported: {f} ({why})\n"));
            }
            for (f, how) in &e.migrated {
                s.push_str(&format!("  migrated:    {f} ({how})\n"));
            }
            if !e.tags.is_empty() {
                s.push_str(&format!("  tags:        {}\n", e.tags.join(", ")));
            }
        }
        s
    }
}
