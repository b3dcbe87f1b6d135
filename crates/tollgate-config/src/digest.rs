//! The snapshot hash: the content hash every plane reports for a document.

use sha2::{Digest, Sha256};

/// SHA-256 over several byte strings, hex encoded.
pub fn hash_bytes(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// A document with its snapshot hash, computed once. A data plane checks a
/// transfer (or a changed file) against the hash before loading it; loading
/// it through [`crate::load_hashed_reusing`] then does not hash tens of
/// megabytes a second time. The hash can only come from [`Self::new`].
pub struct HashedDocument<'a> {
    bytes: &'a [u8],
    hash: String,
}

impl<'a> HashedDocument<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        HashedDocument {
            bytes,
            hash: hash_bytes(&[bytes]),
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// `hash_bytes(&[bytes])`.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_bytes_reusing, load_hashed_reusing};

    const SPEC: &str = r#"{"openapi":"3.0.0","info":{"title":"f","version":"1"},
        "paths":{"/flights":{"get":{"operationId":"list","responses":{"200":{"description":"ok"}}}}}}"#;

    #[test]
    fn a_hashed_document_loads_to_the_hash_a_plain_load_gives() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f.json"), SPEC).expect("spec");
        let plain =
            "_format_version: \"3.0\"\nservices: [{ name: s, url: \"http://127.0.0.1:9\" }]\n";
        let with_spec = "_format_version: \"3.0\"\napis: [{ name: f, spec_file: f.json }]\n";
        for doc in [plain, with_spec] {
            let hashed = HashedDocument::new(doc.as_bytes());
            assert_eq!(hashed.hash(), hash_bytes(&[doc.as_bytes()]));
            let a = load_bytes_reusing(doc.as_bytes(), Some(dir.path()), None).expect(doc);
            let b = load_hashed_reusing(&hashed, Some(dir.path()), None).expect(doc);
            assert_eq!(a.hash, b.hash, "{doc}");
        }
        // A spec file read from disk is part of the hash: the document's
        // own hash is not the snapshot's then.
        let hashed = HashedDocument::new(with_spec.as_bytes());
        let b = load_hashed_reusing(&hashed, Some(dir.path()), None).expect("valid");
        assert_ne!(b.hash, hashed.hash());
    }
}
