//! Which peers may speak for the client (Kong's `trusted_ips`): only their
//! `X-Forwarded-*`, `Forwarded` and `X-Real-IP` reach the upstream; from anyone
//! else those headers are replaced by what the gateway saw.

use ipnet::IpNet;
use std::net::IpAddr;

/// A list of addresses and networks; empty trusts nobody.
#[derive(Debug, Clone, Default)]
pub struct TrustedIps(Vec<IpNet>);

impl TrustedIps {
    /// Parses `10.0.0.0/8,192.168.1.7,::1`; a bare address is a /32 or /128.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let net = match item.parse::<IpNet>() {
                Ok(n) => n,
                Err(_) => item
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR network"))?,
            };
            out.push(net);
        }
        Ok(TrustedIps(out))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|n| n.contains(&ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let t = TrustedIps::parse("10.0.0.0/8, 192.168.1.7,::1").expect("valid");
        let cases = [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("::1", true),
            ("::ffff:10.9.9.9", true),
        ];
        for (ip, want) in cases {
            assert_eq!(t.contains(ip.parse().expect("ip")), want, "{ip}");
        }
        assert!(TrustedIps::parse("10.0.0.0/33").is_err());
        assert!(TrustedIps::parse("nope").is_err());
        assert!(!TrustedIps::default().contains("127.0.0.1".parse().expect("ip")));
    }
}
