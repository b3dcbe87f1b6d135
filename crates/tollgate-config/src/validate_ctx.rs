//! What every validator shares: the context that collects located errors and
//! warnings, and name indexing with duplicate detection. Kept apart from
//! `validate` so that the per-entity validators do not depend on the module
//! that calls them.

use crate::resolved::ConfigError;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Collects errors and warnings while validating.
pub(crate) struct Ctx<'a> {
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
    pub base_dir: Option<&'a Path>,
    pub broken: HashSet<String>,
    /// Bytes of every spec file read, for the content hash.
    pub spec_bytes: Vec<Vec<u8>>,
}

impl Ctx<'_> {
    pub fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Resolves a reference by name; reports it unless the target itself was broken.
    pub fn resolve(
        &mut self,
        names: &HashMap<String, usize>,
        name: &str,
        kind: &str,
        path: impl Into<String>,
    ) -> Option<usize> {
        match names.get(name) {
            Some(&i) => Some(i),
            None => {
                if !self.broken.contains(name) {
                    self.err(path, format!("{kind} {name:?} does not exist"));
                }
                None
            }
        }
    }
}

/// Maps names to their position, reporting empty and duplicate names.
pub(crate) fn index_names<'n>(
    ctx: &mut Ctx,
    list: &str,
    field: &str,
    names: impl Iterator<Item = (usize, &'n str)>,
) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (pos, (i, name)) in names.enumerate() {
        if name.trim().is_empty() {
            ctx.err(format!("{list}[{i}].{field}"), "must not be empty");
        } else if map.insert(name.to_string(), pos).is_some() {
            ctx.err(
                format!("{list}[{i}].{field}"),
                format!("duplicate {field} {name:?}"),
            );
        }
    }
    map
}
