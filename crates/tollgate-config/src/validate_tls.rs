//! Certificates for the TLS proxy listener (Kong's `certificates`, with the
//! `snis` folded in by the Kong layer) and the verification of `https`
//! upstreams (`tls_verify`, `tls_verify_depth`, `ca_certificates`).
//!
//! PEM is parsed here so that a bad certificate refuses the snapshot with
//! its location, instead of failing later in a handshake.

use crate::raw::RawSnapshot;
use crate::resolved::{CertificateSpec, ServiceSpec, UpstreamTls};
use crate::validate_ctx::Ctx;
use openssl::pkey::PKey;
use openssl::x509::X509;
use std::collections::HashMap;

/// Checks one PEM chain and key: both parse, the key is the leaf's.
fn check_pair(cert: &str, key: &str) -> Result<(), String> {
    let chain = X509::stack_from_pem(cert.as_bytes())
        .map_err(|e| format!("cert: not a valid PEM certificate: {e}"))?;
    let leaf = chain
        .first()
        .ok_or_else(|| "cert: no PEM certificate found".to_string())?;
    let key = PKey::private_key_from_pem(key.as_bytes())
        .map_err(|e| format!("key: not a valid PEM private key: {e}"))?;
    let public = leaf
        .public_key()
        .map_err(|e| format!("cert: unreadable public key: {e}"))?;
    if !public.public_eq(&key) {
        return Err("key: does not match the certificate".to_string());
    }
    Ok(())
}

/// A server name as Kong accepts it: a host name, or `*.` and a host name.
fn valid_sni(name: &str) -> bool {
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

pub(crate) fn certificates(ctx: &mut Ctx, raw: &RawSnapshot) -> Vec<CertificateSpec> {
    let mut claimed: HashMap<String, String> = HashMap::new();
    let mut ids: HashMap<&str, ()> = HashMap::new();
    let mut out = Vec::with_capacity(raw.certificates.len());
    for (i, c) in &raw.certificates {
        let at = format!("certificates[{i}]");
        if let Some(id) = c.id.as_deref() {
            if ids.insert(id, ()).is_some() {
                ctx.err(format!("{at}.id"), format!("duplicate id {id:?}"));
            }
        }
        if let Err(m) = check_pair(&c.cert, &c.key) {
            ctx.err(at.clone(), m);
        }
        let mut snis = Vec::with_capacity(c.snis.len());
        for (j, name) in c.snis.iter().enumerate() {
            let lower = name.to_ascii_lowercase();
            if !valid_sni(&lower) {
                ctx.err(
                    format!("{at}.snis[{j}]"),
                    format!("{name:?} is not a host name or *.host name"),
                );
            } else if let Some(other) = claimed.insert(lower.clone(), at.clone()) {
                ctx.err(
                    format!("{at}.snis[{j}]"),
                    format!("{name:?} is already served by {other}"),
                );
            }
            snis.push(lower);
        }
        out.push(CertificateSpec {
            at,
            cert: c.cert.clone(),
            key: c.key.clone(),
            snis,
        });
    }
    out
}

/// Resolves each service's upstream verification; `services` follows `raw.services`.
pub(crate) fn upstream_tls(ctx: &mut Ctx, raw: &RawSnapshot, services: &mut [ServiceSpec]) {
    let mut cas: HashMap<&str, &str> = HashMap::new();
    for (i, ca) in &raw.ca_certificates {
        let at = format!("ca_certificates[{i}]");
        match X509::stack_from_pem(ca.cert.as_bytes()) {
            Ok(list) if !list.is_empty() => {}
            Ok(_) => ctx.err(format!("{at}.cert"), "no PEM certificate found"),
            Err(e) => ctx.err(
                format!("{at}.cert"),
                format!("not a valid PEM certificate: {e}"),
            ),
        }
        if ca.id.trim().is_empty() {
            ctx.err(format!("{at}.id"), "must not be empty");
        } else if cas.insert(ca.id.as_str(), ca.cert.as_str()).is_some() {
            ctx.err(format!("{at}.id"), format!("duplicate id {:?}", ca.id));
        }
    }
    for ((i, s), spec) in raw.services.iter().zip(services.iter_mut()) {
        let at = format!("services[{i}]");
        let mut ca_pems = Vec::with_capacity(s.ca_certificates.len());
        for (j, id) in s.ca_certificates.iter().enumerate() {
            match cas.get(id.as_str()) {
                Some(pem) => ca_pems.push(pem.to_string()),
                None => ctx.err(
                    format!("{at}.ca_certificates[{j}]"),
                    format!("ca_certificate {id:?} does not exist"),
                ),
            }
        }
        let set = s.tls_verify.is_some() || s.tls_verify_depth.is_some() || !ca_pems.is_empty();
        if set && !spec.upstream.tls {
            ctx.warn(
                at.clone(),
                "tls_verify, tls_verify_depth and ca_certificates only apply to an https upstream",
            );
        }
        if s.tls_verify_depth.is_some() {
            ctx.warn(
                format!("{at}.tls_verify_depth"),
                "accepted but not enforced: OpenSSL's default chain depth limit (100) applies",
            );
        }
        if s.tls_verify == Some(false) {
            ctx.warn(
                format!("{at}.tls_verify"),
                "false: the upstream's certificate is not checked; anyone on the path can impersonate it",
            );
        }
        spec.tls = UpstreamTls {
            verify: s.tls_verify.unwrap_or(true),
            depth: s.tls_verify_depth,
            ca_pems,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::valid_sni;

    #[test]
    fn server_names() {
        for ok in ["a.example.com", "*.example.com", "localhost", "x_y.test"] {
            assert!(valid_sni(ok), "{ok}");
        }
        for bad in ["", "*.", "a..b", "*.*.x", "a b", "a.example.com.", "*x.com"] {
            assert!(!valid_sni(bad), "{bad}");
        }
    }
}
