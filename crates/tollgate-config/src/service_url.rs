//! A service's `url` (`scheme://host[:port][/base]`) parsed into where its
//! requests go.

use crate::host_port::{split, Colons};
use crate::resolved::Upstream;

/// Parses `scheme://host[:port][/base]` for a service.
pub(crate) fn parse_upstream(url: &str) -> Result<Upstream, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("url {url:?} needs a scheme, e.g. http://host:port"))?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => return Err(format!("url scheme {other:?} is not http or https")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if path.contains('?') || path.contains('#') {
        return Err(format!("url {url:?} must not carry a query or fragment"));
    }
    if authority.contains('@') {
        return Err(format!("url {url:?} must not carry credentials"));
    }
    let (host, port) =
        split(authority, Colons::LastIsPort).map_err(|p| p.about(&format!("url {url:?}")))?;
    let port = port.unwrap_or(if tls { 443 } else { 80 });
    let base_path = path.trim_end_matches('/').to_string();
    Ok(Upstream {
        tls,
        host,
        port,
        base_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls() {
        let ok = [
            ("http://127.0.0.1:9101", false, "127.0.0.1", 9101, ""),
            (
                "https://api.example.com/base/",
                true,
                "api.example.com",
                443,
                "/base",
            ),
            ("http://[::1]:8080/x", false, "::1", 8080, "/x"),
            ("HTTP://h", false, "h", 80, ""),
        ];
        for (url, tls, host, port, base) in ok {
            let u = parse_upstream(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(
                (u.tls, u.host.as_str(), u.port, u.base_path.as_str()),
                (tls, host, port, base)
            );
        }
        for bad in [
            "127.0.0.1:80",
            "ftp://h",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://u@h",
            "http://h/x?y",
            "http://[::1]x:80",
        ] {
            assert!(parse_upstream(bad).is_err(), "{bad}");
        }
    }
}
