//! Limiter subjects derived from client input (the client address).
//!
//! A public hash (FNV, or SipHash with fixed keys) lets anyone compute which
//! addresses share a subject, so a client could pick a source address that
//! collides with another client's and spend that client's limit. SipHash-1-3
//! under a secret key does not: without the key, collisions are a 2^-64 guess.
//!
//! The key is random per process, so subjects differ between nodes and
//! restarts. That is fine for node-local state; limits shared through Redis
//! name the address itself in their Redis key instead (`cluster` in the
//! gateway), which every node derives alike and which cannot collide.

use siphasher::sip::SipHasher13;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

/// Subject of requests without a client address (e.g. a Unix socket): one
/// shared bucket, the same on every node.
pub const NO_ADDRESS: u64 = 0xcbf2_9ce4_8422_2325;

/// The secret key of the client-address hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SubjectKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key itself.
        f.write_str("SubjectKey(..)")
    }
}

impl SubjectKey {
    pub fn new(k0: u64, k1: u64) -> Self {
        SubjectKey { k0, k1 }
    }

    /// A fresh secret key. std's `RandomState` is seeded from the operating
    /// system's random source; its keyed hash of two constants is as
    /// unpredictable as that seed, without another randomness dependency.
    pub fn random() -> Self {
        let seed = std::collections::hash_map::RandomState::new();
        SubjectKey {
            k0: seed.hash_one(0x746f_6c6c_6761_7465_u64),
            k1: seed.hash_one(0x7375_626a_6563_7473_u64),
        }
    }

    /// The subject of a client address. IPv4 and IPv4-mapped IPv6 are the
    /// same client, so both hash their 16-byte mapped form.
    pub fn ip_subject(&self, ip: Option<IpAddr>) -> u64 {
        let Some(ip) = ip else { return NO_ADDRESS };
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(&canonical_octets(ip));
        h.finish()
    }
}

/// The 16 bytes that name a client: IPv4 as IPv4-mapped IPv6.
pub fn canonical_octets(ip: IpAddr) -> [u8; 16] {
    match ip.to_canonical() {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_address_same_key_same_subject() {
        let k = SubjectKey::new(1, 2);
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(k.ip_subject(Some(a)), k.ip_subject(Some(a)));
        assert_eq!(
            k.ip_subject(Some(a)),
            SubjectKey::new(1, 2).ip_subject(Some(a))
        );
        // The IPv4-mapped form is the same client.
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(k.ip_subject(Some(a)), k.ip_subject(Some(mapped)));
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        assert_ne!(k.ip_subject(Some(a)), k.ip_subject(Some(other)));
    }

    #[test]
    fn different_keys_give_different_subjects() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_ne!(
            SubjectKey::new(1, 2).ip_subject(Some(a)),
            SubjectKey::new(1, 3).ip_subject(Some(a))
        );
        // Two processes each draw their own key.
        let (p1, p2) = (SubjectKey::random(), SubjectKey::random());
        assert_ne!(p1, p2);
        assert_ne!(p1.ip_subject(Some(a)), p2.ip_subject(Some(a)));
    }

    #[test]
    fn subject_is_not_the_public_fnv_hash() {
        // The previous subject was FNV-1a of the octets: computable by anyone.
        let fnv = |bytes: &[u8]| {
            bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        let a: IpAddr = "198.51.100.1".parse().unwrap();
        let k = SubjectKey::random();
        assert_ne!(k.ip_subject(Some(a)), fnv(&[198, 51, 100, 1]));
        assert_ne!(k.ip_subject(Some(a)), fnv(&canonical_octets(a)));
        assert_eq!(k.ip_subject(None), NO_ADDRESS);
    }
}
