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
