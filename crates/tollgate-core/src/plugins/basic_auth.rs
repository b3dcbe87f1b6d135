//! `basic-auth` (priority 1100): identifies a consumer by a username and
//! password in `Proxy-Authorization` or `Authorization`, as Kong does,
//! with Kong's AND/OR rule for several auth plugins (see `key_auth`).

use super::password::{judge, PasswordCheck, Verdict};
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
        match self.authenticate(cx) {
            Some((index, Verdict::Accepted)) => Access::Done(self.admit(cx, index)),
            Some((_, Verdict::Check(check))) => Access::Verify(check),
            Some((_, Verdict::Refused)) | None => Access::Done(self.refuse(cx)),
        }
    }

    fn verified(&self, cx: &mut AccessCx<'_>, check: PasswordCheck, ok: Option<bool>) -> Flow {
        match ok {
            Some(true) => {
                if let Some(cred) = cx.dir.basic_creds.get(check.credential as usize) {
                    check.accepted(cred);
                }
                self.admit(cx, check.credential)
            }
            Some(false) => self.refuse(cx),
            // Neither a wrong password nor the anonymous consumer: the
            // client may retry, as after any 429.
            None => {
                let mut r = Reply::static_json(429, BUSY);
                r.headers
                    .push((http::header::RETRY_AFTER, HeaderValue::from_static("1")));
                Flow::Respond(r)
            }
        }
    }
}

/// The answer when too many bcrypt checks are already running.
const BUSY: &str = r#"{"message":"API rate limit exceeded"}"#;

impl BasicAuth {
    fn admit(&self, cx: &mut AccessCx<'_>, index: u32) -> Flow {
        let Some(cred) = cx.dir.basic_creds.get(index as usize) else {
            return self.refuse(cx);
        };
        cx.state.identity = Identity {
            consumer: Some(cred.consumer),
            anonymous: false,
            keyauth_credential: None,
            basic_credential: Some(index),
        };
        Flow::Continue
    }

    /// A failure: the anonymous consumer when configured, else 401.
    fn refuse(&self, cx: &mut AccessCx<'_>) -> Flow {
        match self.anonymous {
            Some(c) => {
                cx.state.identity = Identity::anonymous(c);
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
        }
    }

    /// The credential named and how its password compares; `None` when no
    /// known credential was presented.
    fn authenticate(&self, cx: &mut AccessCx<'_>) -> Option<(u32, Verdict)> {
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
        let cred = cx.dir.basic_creds.get(index as usize)?;
        Some((index, judge(cred, index, password)))
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
    let &index = cx.dir.basic_index.get(user)?;
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

pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
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
}
