//! Bearer-token checks shared by the data plane's admin API and the control
//! plane, and a wrapper that keeps tokens out of `Debug` output and logs.

use sha2::{Digest, Sha256};

/// A secret string (a bearer token). Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }

    /// The secret itself, for the one place that must send or compare it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `Bearer <secret>`, the `Authorization` header value carrying it.
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Compares two byte strings in time that depends on neither their contents
/// nor their lengths: both sides are hashed first, so a length mismatch is
/// not an early exit an attacker could time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Whether an `Authorization` header value is `Bearer <token>`. The scheme is
/// matched case-insensitively (RFC 9110 §11.1), the token exactly.
pub fn bearer_matches(authorization: Option<&[u8]>, token: &str) -> bool {
    let Some(value) = authorization else {
        return false;
    };
    let (scheme, given) = value.split_at(value.len().min(7));
    scheme.eq_ignore_ascii_case(b"Bearer ") && constant_time_eq(given, token.as_bytes())
}

/// Whether a listen address (`HOST:PORT`) only accepts connections from this
/// machine: an IP in 127.0.0.0/8, `::1`, or `localhost`. Any other name is
/// treated as reachable from outside, since it may resolve to anything.
pub fn is_loopback_listen(addr: &str) -> bool {
    if let Ok(sock) = addr.parse::<std::net::SocketAddr>() {
        return sock.ip().is_loopback();
    }
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_listen_addresses() {
        for a in [
            "127.0.0.1:8001",
            "127.1.2.3:1",
            "[::1]:8001",
            "localhost:8001",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_listen(a), "{a}");
        }
        for a in [
            "0.0.0.0:8001",
            "[::]:8001",
            "10.0.0.1:8001",
            "example.com:8001",
            "::1",
            "",
        ] {
            assert!(!is_loopback_listen(a), "{a}");
        }
    }

    #[test]
    fn bearer_header_is_checked_exactly() {
        assert!(bearer_matches(Some(b"Bearer s3cret"), "s3cret"));
        assert!(bearer_matches(Some(b"bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some(b"Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some(b"Bearer s3cretX"), "s3cret"));
        assert!(!bearer_matches(Some(b"Basic s3cret"), "s3cret"));
        assert!(!bearer_matches(Some(b"s3cret"), "s3cret"));
        assert!(!bearer_matches(Some(b""), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let s = Secret::new("s3cret".into());
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.bearer_header(), "Bearer s3cret");
    }
}
