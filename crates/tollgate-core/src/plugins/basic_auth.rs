//! `basic-auth` (priority 1100): identifies a consumer by a username and
//! password in `Proxy-Authorization` or `Authorization`, as Kong does,
//! with Kong's AND/OR rule for several auth plugins (see `key_auth`).

use super::{Access, AccessCx, Plugin};
use crate::request::{Flow, Hidden, Identity, Reply};
use base64::Engine;
use http::header::{AUTHORIZATION, PROXY_AUTHORIZATION};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use tollgate_config::BasicSecret;

#[derive(Debug)]
pub struct BasicAuth {
    pub hide_credentials: bool,
    pub anonymous: Option<u32>,
    /// `Basic realm="<realm>"`.
    pub www_authenticate: HeaderValue,
}

impl Plugin for BasicAuth {
    const NAME: &'static str = "basic-auth";
    const PRIORITY: i32 = 1100;

    fn access(&self, cx: &mut AccessCx<'_>) -> Access {
        if self.anonymous.is_some() && cx.state.identity.has_credential() {
            return Access::Done(Flow::Continue);
        }
        let flow = match self.authenticate(cx) {
            Some(()) => Flow::Continue,
            None => match self.anonymous {
                Some(c) => {
                    cx.state.identity = Identity {
                        consumer: Some(c),
                        anonymous: true,
                        keyauth_credential: None,
                        basic_credential: None,
                    };
                    Flow::Continue
                }
                None => {
                    let mut r = Reply::static_json(401, r#"{"message":"Unauthorized"}"#);
                    r.headers.push((
                        http::header::WWW_AUTHENTICATE,
                        self.www_authenticate.clone(),
                    ));
                    Flow::Respond(r)
                }
            },
        };
        Access::Done(flow)
    }
}

impl BasicAuth {
    /// `Some` when a credential matched; the identity is then set.
    fn authenticate(&self, cx: &mut AccessCx<'_>) -> Option<()> {
        let headers = cx.req.headers;
        let proxy = headers.get(PROXY_AUTHORIZATION);
        let auth = headers.get(AUTHORIZATION);
        if proxy.is_none() && auth.is_none() {
            return None;
        }
        // Kong tries Proxy-Authorization first, then Authorization; each
        // header it read is removed when credentials are hidden.
        let mut found = None;
        if proxy.is_some() {
            self.hide(cx, PROXY_AUTHORIZATION);
            found = lookup(cx, headers, &PROXY_AUTHORIZATION);
        }
        if found.is_none() {
            if auth.is_some() {
                self.hide(cx, AUTHORIZATION);
            }
            found = lookup(cx, headers, &AUTHORIZATION);
        }
        let (index, password) = found?;
        let cred = &cx.snap.basic_creds[index as usize];
        if !verify_cached(cred, &password) {
            return None;
        }
        cx.state.identity = Identity {
            consumer: Some(cred.consumer),
            anonymous: false,
            keyauth_credential: None,
            basic_credential: Some(index),
        };
        Some(())
    }

    fn hide(&self, cx: &mut AccessCx<'_>, name: HeaderName) {
        if self.hide_credentials {
            cx.state.hidden.push(Hidden::Header(name));
        }
    }
}

/// The credential named in a header, with the password given.
fn lookup(cx: &AccessCx<'_>, headers: &HeaderMap, name: &HeaderName) -> Option<(u32, Vec<u8>)> {
    let (user, password) = parse(headers.get(name)?.as_bytes())?;
    let user = std::str::from_utf8(&user).ok()?;
    let &index = cx.snap.basic_index.get(user)?;
    Some((index, password))
}

/// `Basic <base64(user:password)>` (Kong: `\s*[Bb]asic\s*(.+)`, user non-empty).
pub fn parse(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let v = value.trim_ascii_start();
    if v.len() < 5 || !v[..5].eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let b64 = v[5..].trim_ascii();
    if b64.is_empty() {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    if colon == 0 {
        return None;
    }
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Passwords a bcrypt check accepted, kept per credential.
const BCRYPT_REMEMBERED: usize = 16;

/// [`verify`], remembering the passwords a bcrypt check accepted (their
/// SHA-256): bcrypt costs milliseconds by design, on the request's thread.
fn verify_cached(cred: &crate::snapshot::BasicCred, password: &[u8]) -> bool {
    if !matches!(cred.secret, BasicSecret::Bcrypt(_)) {
        return verify(&cred.secret, password);
    }
    let digest: [u8; 32] = Sha256::digest(password).into();
    // The lock is held for a lookup or an insert, never across the check.
    let known = cred
        .bcrypt_ok
        .lock()
        .map(|ok| ok.iter().any(|d| ct_eq(d, &digest)))
        .unwrap_or(false);
    if known {
        return true;
    }
    if !verify(&cred.secret, password) {
        return false;
    }
    if let Ok(mut ok) = cred.bcrypt_ok.lock() {
        if ok.len() >= BCRYPT_REMEMBERED {
            ok.remove(0);
        }
        ok.push(digest);
    }
    true
}

/// Checks a password against a stored secret; digests compare in constant time.
pub fn verify(secret: &BasicSecret, password: &[u8]) -> bool {
    match secret {
        BasicSecret::Sha256(d) => ct_eq(&Sha256::digest(password), d),
        BasicSecret::KongSha1 { digest, salt } => {
            let mut h = sha1::Sha1::new();
            h.update(password);
            h.update(salt.as_bytes());
            ct_eq(&h.finalize(), digest)
        }
        BasicSecret::Bcrypt(hash) => bcrypt::verify(password, hash).unwrap_or(false),
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_kong() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let ok = format!("Basic {}", enc("Dana:da:na"));
        assert_eq!(
            parse(ok.as_bytes()),
            Some((b"Dana".to_vec(), b"da:na".to_vec()))
        );
        let lower = format!("  basic   {}", enc("u:"));
        assert_eq!(parse(lower.as_bytes()), Some((b"u".to_vec(), b"".to_vec())));
        for bad in [
            "Bearer abc".to_string(),
            format!("Basic {}", enc(":pw")),
            format!("Basic {}", enc("nocolon")),
            "Basic !!!".to_string(),
            "Basic".to_string(),
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn verifies_each_stored_form() {
        let plain = BasicSecret::Sha256(Sha256::digest(b"dana").into());
        assert!(verify(&plain, b"dana"));
        assert!(!verify(&plain, b"Dana"));
        // Kong's form: sha1(password .. consumer_id), hex.
        let mut h = sha1::Sha1::new();
        h.update(b"pw");
        h.update(b"c-id");
        let kong = BasicSecret::KongSha1 {
            digest: h.finalize().into(),
            salt: "c-id".into(),
        };
        assert!(verify(&kong, b"pw"));
        assert!(!verify(&kong, b"pw2"));
        let hash = bcrypt::hash("secret", 4).expect("hash");
        let b = BasicSecret::Bcrypt(hash);
        assert!(verify(&b, b"secret"));
        assert!(!verify(&b, b"nope"));
    }

    #[test]
    fn bcrypt_acceptances_are_remembered_not_refusals() {
        let cred = crate::snapshot::BasicCred {
            consumer: 0,
            secret: BasicSecret::Bcrypt(bcrypt::hash("pw", 4).expect("hash")),
            identifier: HeaderValue::from_static("u"),
            subject: 1,
            bcrypt_ok: std::sync::Mutex::new(Vec::new()),
        };
        assert!(!verify_cached(&cred, b"nope"));
        assert!(cred.bcrypt_ok.lock().expect("lock").is_empty());
        assert!(verify_cached(&cred, b"pw"));
        assert_eq!(cred.bcrypt_ok.lock().expect("lock").len(), 1);
        assert!(verify_cached(&cred, b"pw"));
        assert_eq!(cred.bcrypt_ok.lock().expect("lock").len(), 1);
    }
}
