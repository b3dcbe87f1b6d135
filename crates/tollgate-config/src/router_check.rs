//! A dry run of the operation router's insertions, so that an operation the
//! radix router cannot hold is a located validation error (or, when the API
//! says `on_unsupported_operation: skip`, a skipped operation), never a
//! snapshot that fails to compile. It mirrors `tollgate_core::opmatch`:
//! one tree per host, method, and catch-all or not, shared by all APIs in
//! snapshot order, and operations of one shape inserted once.

use crate::operations::{canonical_key, router_template};
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub(crate) struct RouterCheck {
    trees: HashMap<(Option<String>, String, bool), matchit::Router<()>>,
    shapes: HashSet<(Option<String>, String, String)>,
}

impl RouterCheck {
    /// Inserts a checked template; `Err` says what it conflicts with.
    pub fn insert(
        &mut self,
        host: Option<&str>,
        method: &str,
        template: &str,
    ) -> Result<(), String> {
        let shape = (
            host.map(str::to_string),
            method.to_string(),
            canonical_key(template),
        );
        if self.shapes.contains(&shape) {
            // The router shares one entry between operations of one shape.
            return Ok(());
        }
        let (t, wildcard) = router_template(template);
        self.trees
            .entry((host.map(str::to_string), method.to_string(), wildcard))
            .or_default()
            .insert(t, ())
            .map(|()| {
                self.shapes.insert(shape);
            })
            .map_err(|e| match e {
                matchit::InsertError::Conflict { with } => format!(
                    "cannot be routed beside {} {}: one segment position may hold parameters with a literal prefix or ones with a literal suffix, not both, and at most one with both",
                    method,
                    with.replace("{*__rest}", "*")
                ),
                other => other.to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts() {
        let mut r = RouterCheck::default();
        for t in [
            "/a/{id}",
            "/a/{sid}.json",
            "/a/list.json",
            "/a/*",
            "/b/thumbnail.{ext}",
            "/b/{id}",
        ] {
            assert!(r.insert(None, "GET", t).is_ok(), "{t}");
        }
        // Prefix and suffix parameters at one position are ambiguous.
        assert!(r.insert(None, "GET", "/b/{x}.png").is_err());
        // The same shape again (another API, other parameter names) shares the entry.
        assert!(r.insert(None, "GET", "/a/{other}.json").is_ok());
        // Another host or method is another tree.
        assert!(r.insert(Some("h"), "GET", "/b/{x}.png").is_ok());
        assert!(r.insert(None, "PUT", "/b/{x}.png").is_ok());
    }
}
