//! A digest of a document's applications section together with every name
//! that section resolves against (APIs, packages, auth strategies, consumers).
//!
//! Validating the applications of two documents with the same key gives the
//! same result, so a snapshot that differs from the running one only
//! elsewhere (a package limit, a route, a plugin) can keep the running
//! snapshot's validated and compiled credentials instead of redoing a million
//! of them: see [`crate::load::load_bytes_reusing`].

use crate::model;

/// BLAKE3 over the applications section's text and the names it resolves.
/// Not the snapshot hash (SHA-256, which every plane reports): this key never
/// leaves the process, and a million-credential section is hashed on every
/// push, where BLAKE3 takes a fraction of SHA-256's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionKey([u8; 32]);

impl SectionKey {
    pub(crate) fn of(
        applications: &str,
        apis: &[model::Api],
        packages: &[model::ApiPackage],
        strategies: &[model::AuthStrategy],
        consumers: &[model::Consumer],
    ) -> SectionKey {
        let mut h = blake3::Hasher::new();
        field(&mut h, b"applications", applications.as_bytes());
        // Names resolve to positions, so order and count are part of the key.
        for a in apis {
            field(&mut h, b"api", a.name.as_bytes());
        }
        for p in packages {
            field(&mut h, b"package", p.name.as_bytes());
        }
        // The whole strategy: its ttl decides when a credential expires.
        for s in strategies {
            field(&mut h, b"strategy", format!("{s:?}").as_bytes());
        }
        for c in consumers {
            field(&mut h, b"consumer", c.username.as_bytes());
        }
        SectionKey(*h.finalize().as_bytes())
    }
}

/// Tag and length before each value, so no two different inputs hash alike
/// by shifting bytes from one field to the next.
fn field(h: &mut blake3::Hasher, tag: &[u8], value: &[u8]) {
    h.update(tag);
    h.update(&(value.len() as u64).to_le_bytes());
    h.update(value);
}

#[cfg(test)]
mod tests {
    use crate::load::{load_bytes, load_bytes_reusing};

    /// A JSON snapshot; `pkgs` is the api_packages list, `apps` the applications.
    fn doc(pkgs: &str, strategy: &str, apps: &str) -> String {
        format!(
            r#"{{"_format_version":"3.0",
            "services":[{{"name":"s","url":"http://127.0.0.1:1","routes":[{{"name":"r","paths":["/a"]}}]}}],
            "apis":[{{"name":"a","operations":[{{"method":"GET","path":"/a","id":"get-a"}}]}}],
            "auth_strategies":[{strategy}],
            "api_packages":[{pkgs}],
            "applications":[{apps}]}}"#
        )
    }
    const PKG: &str = r#"{"name":"p","rate_limiting_config":{"limit":5,"duration":"seconds"},"operations":[{"api":"a","method":"GET","path":"/a"}]}"#;
    const PKG_6: &str = r#"{"name":"p","rate_limiting_config":{"limit":6,"duration":"seconds"},"operations":[{"api":"a","method":"GET","path":"/a"}]}"#;
    const OTHER: &str = r#"{"name":"q","operations":[{"api":"a","method":"GET","path":"/a"}]}"#;
    const KEYS: &str = r#"{"name":"k","type":"key_auth","key_names":["apikey"]}"#;
    const KEYS_TTL: &str =
        r#"{"name":"k","type":"key_auth","key_names":["apikey"],"ttl":{"value":1,"unit":"days"}}"#;
    const APP: &str = r#"{"name":"app","auth_strategy":"k","credentials":[{"key":"k1","created_at":1}],"registrations":[{"api_package":"p"}]}"#;
    const APP_2: &str = r#"{"name":"app","auth_strategy":"k","credentials":[{"key":"k2","created_at":1}],"registrations":[{"api_package":"p"}]}"#;

    #[test]
    fn a_known_section_is_skipped_and_any_change_it_depends_on_reads_it_again() {
        let first = doc(PKG, KEYS, APP);
        let s = load_bytes(first.as_bytes(), None).expect("valid");
        assert!(!s.applications_unchanged);
        assert_eq!(s.applications.len(), 1);
        let known = s.applications_key.expect("JSON documents are keyed");
        let cases = [
            ("same document", first.clone(), true),
            ("a package limit changed", doc(PKG_6, KEYS, APP), true),
            ("a credential changed", doc(PKG, KEYS, APP_2), false),
            // Grants resolve to package positions: a new first package moves them.
            (
                "a package inserted before",
                doc(&format!("{OTHER},{PKG}"), KEYS, APP),
                false,
            ),
            ("the strategy's ttl changed", doc(PKG, KEYS_TTL, APP), false),
        ];
        for (what, d, unchanged) in cases {
            let s = load_bytes_reusing(d.as_bytes(), None, Some(&known)).expect(what);
            assert_eq!(s.applications_unchanged, unchanged, "{what}");
            assert_eq!(s.applications.is_empty(), unchanged, "{what}");
            assert_eq!(s.applications_key == Some(known), unchanged, "{what}");
        }
    }

    #[test]
    fn a_known_section_does_not_hide_errors_elsewhere_and_yaml_is_not_keyed() {
        let first = doc(PKG, KEYS, APP);
        let known = load_bytes(first.as_bytes(), None)
            .expect("valid")
            .applications_key
            .expect("keyed");
        let bad = first.replace(
            r#""method":"GET","path":"/a","id""#,
            r#""method":"GETX","path":"/a","id""#,
        );
        assert!(load_bytes_reusing(bad.as_bytes(), None, Some(&known)).is_err());
        let yaml = "_format_version: \"3.0\"\nservices: []\n";
        let s = load_bytes_reusing(yaml.as_bytes(), None, Some(&known)).expect("valid");
        assert!(s.applications_key.is_none() && !s.applications_unchanged);
    }
}
