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
