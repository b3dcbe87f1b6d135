//! Names of shared counters in Redis: one hash per window of a limit.
//!
//! Every node must name the same counter alike. Credential and consumer
//! subjects are SHA-256 prefixes of operator-chosen names, the same on every
//! node, and are written as they are. A client-address subject is a keyed
//! hash whose key is random per process, so it cannot name a shared counter:
//! the address itself does (16 bytes, IPv4 as IPv4-mapped IPv6, in hex).
//! Unlike any hash, that cannot collide, and it needs no secret shared
//! between nodes. The `ip:` prefix keeps the two forms apart.

use std::net::IpAddr;
use tollgate_config::Unit;
use tollgate_core::limiter::{canonical_octets, LimitKey};

fn unit_tag(u: Unit) -> char {
    match u {
        Unit::Seconds => 's',
        Unit::Minutes => 'm',
        Unit::Hours => 'h',
        Unit::Days => 'd',
        Unit::Months => 'o',
        Unit::Years => 'y',
    }
}

/// The Redis key of one window. Braces make every window of one limit hash
/// to the same Redis Cluster slot.
pub fn window_key(key: LimitKey, ip: Option<IpAddr>, unit: Unit) -> String {
    match ip {
        Some(ip) => format!(
            "tollgate:{{ip:{}:{:016x}}}:{}",
            hex::encode(canonical_octets(ip)),
            key.scope,
            unit_tag(unit)
        ),
        None => format!(
            "tollgate:{{{:016x}:{:016x}}}:{}",
            key.subject,
            key.scope,
            unit_tag(unit)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::limiter::SubjectKey;

    #[test]
    fn an_address_names_the_same_key_on_every_node() {
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        // Two nodes: different subject keys, so different local subjects.
        let (a, b) = (SubjectKey::random(), SubjectKey::random());
        let ka = LimitKey {
            subject: a.ip_subject(Some(ip)),
            scope: 9,
        };
        let kb = LimitKey {
            subject: b.ip_subject(Some(ip)),
            scope: 9,
        };
        assert_ne!(ka.subject, kb.subject);
        let name = window_key(ka, Some(ip), Unit::Minutes);
        assert_eq!(name, window_key(kb, Some(ip), Unit::Minutes));
        assert_eq!(
            name,
            "tollgate:{ip:00000000000000000000ffffcb007107:0000000000000009}:m"
        );
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(name, window_key(kb, Some(mapped), Unit::Minutes));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            window_key(ka, Some(v6), Unit::Seconds),
            "tollgate:{ip:20010db8000000000000000000000001:0000000000000009}:s"
        );
    }

    #[test]
    fn credential_subjects_keep_their_names() {
        let k = LimitKey {
            subject: 0xabc,
            scope: 0x12,
        };
        assert_eq!(
            window_key(k, None, Unit::Hours),
            "tollgate:{0000000000000abc:0000000000000012}:h"
        );
    }
}
