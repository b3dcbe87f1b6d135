//! `basic-auth` credentials: how a password given in a snapshot (plain, or
//! as Kong stores it) becomes the secret the gateway checks against.

use crate::model::BasicAuthCredential;
use crate::resolved::BasicSecret;
use sha2::{Digest, Sha256};

/// The secret to check for a credential, or why the credential is unusable.
pub fn basic_secret(c: &BasicAuthCredential) -> Result<BasicSecret, String> {
    match (&c.password, &c.password_sha1, &c.password_bcrypt) {
        (Some(p), None, None) => {
            if c.salt.is_some() {
                return Err("salt only applies with password_sha1".into());
            }
            Ok(BasicSecret::Sha256(Sha256::digest(p.as_bytes()).into()))
        }
        (None, Some(h), None) => {
            let Some(salt) = &c.salt else {
                return Err("password_sha1 needs salt (Kong salts with the consumer's id)".into());
            };
            let mut digest = [0u8; 20];
            hex::decode_to_slice(h, &mut digest)
                .map_err(|_| "password_sha1 must be 40 hex digits".to_string())?;
            Ok(BasicSecret::KongSha1 {
                digest,
                salt: salt.clone(),
            })
        }
        (None, None, Some(b)) => {
            if !is_bcrypt(b) {
                return Err("password_bcrypt is not a bcrypt hash ($2a$, $2b$ or $2y$)".into());
            }
            Ok(BasicSecret::Bcrypt(b.clone()))
        }
        (None, None, None) => Err("needs a password".into()),
        _ => Err("set one of password, password_sha1, password_bcrypt".into()),
    }
}

/// `$2a$NN$` + 53 characters of bcrypt's base64.
fn is_bcrypt(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 60
        && (s.starts_with("$2a$") || s.starts_with("$2b$") || s.starts_with("$2y$"))
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}
