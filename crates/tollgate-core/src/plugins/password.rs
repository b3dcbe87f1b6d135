//! bcrypt checks for `basic-auth`: a bounded per-credential memory of the
//! passwords a check accepted, and the job the gateway runs off the proxy
//! worker when a password is not remembered (a bcrypt run costs milliseconds
//! by design; the core does no blocking work of its own choosing).

use crate::directory::BasicCred;
use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use tollgate_config::BasicSecret;

/// Passwords a bcrypt check accepted, kept per credential.
pub const REMEMBERED: usize = 16;

/// What the memory keeps of a password: a keyed 128-bit hash, so neither
/// the password nor an offline-crackable digest of it sits in memory.
pub use crate::directory::Remembered;

/// The hash key, random per process (std's `RandomState` is seeded from the
/// operating system's random source).
fn key() -> (u64, u64) {
    static KEY: OnceLock<(u64, u64)> = OnceLock::new();
    *KEY.get_or_init(|| {
        let seed = std::collections::hash_map::RandomState::new();
        (
            seed.hash_one(0x6263_7279_7074_u64),
            seed.hash_one(0x6b65_7973_u64),
        )
    })
}

fn remembered(password: &[u8]) -> Remembered {
    let (k0, k1) = key();
    let mut h = SipHasher13::new_with_keys(k0, k1);
    h.write(password);
    h.finish128().as_bytes()
}

/// A bcrypt check to run, and what to remember when it succeeds.
#[derive(Debug)]
pub struct PasswordCheck {
    /// Index into `Directory::basic_creds`.
    pub credential: u32,
    password: Vec<u8>,
    hash: String,
    remember: Remembered,
}

impl PasswordCheck {
    /// The bcrypt run itself: blocking, milliseconds.
    pub fn run(&self) -> bool {
        bcrypt::verify(&self.password, &self.hash).unwrap_or(false)
    }

    /// Records a successful check, dropping the oldest when full.
    pub(crate) fn accepted(&self, cred: &BasicCred) {
        if let Ok(mut ok) = cred.bcrypt_ok.lock() {
            if ok.contains(&self.remember) {
                return;
            }
            if ok.len() >= REMEMBERED {
                ok.remove(0);
            }
            ok.push(self.remember);
        }
    }
}

/// How a presented password compares with a credential's secret.
pub(crate) enum Verdict {
    Accepted,
    Refused,
    /// bcrypt, not remembered: the check has to run.
    Check(PasswordCheck),
}

/// Plain and SHA-1 secrets are checked at once; a bcrypt secret only when the
/// password was accepted before, else a [`PasswordCheck`] is returned.
pub(crate) fn judge(cred: &BasicCred, credential: u32, password: Vec<u8>) -> Verdict {
    let BasicSecret::Bcrypt(hash) = &cred.secret else {
        return if super::basic_auth::verify(&cred.secret, &password) {
            Verdict::Accepted
        } else {
            Verdict::Refused
        };
    };
    let remember = remembered(&password);
    // The lock is held for a lookup, never across a check.
    let known = cred
        .bcrypt_ok
        .lock()
        .map(|ok| ok.iter().any(|d| super::basic_auth::ct_eq(d, &remember)))
        .unwrap_or(false);
    if known {
        return Verdict::Accepted;
    }
    Verdict::Check(PasswordCheck {
        credential,
        password,
        hash: hash.clone(),
        remember,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(pw: &str) -> BasicCred {
        BasicCred {
            consumer: 0,
            secret: BasicSecret::Bcrypt(bcrypt::hash(pw, 4).expect("hash")),
            identifier: http::HeaderValue::from_static("u"),
            subject: 1,
            bcrypt_ok: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn check(c: &BasicCred, pw: &[u8]) -> PasswordCheck {
        match judge(c, 0, pw.to_vec()) {
            Verdict::Check(check) => check,
            _ => panic!("expected a check"),
        }
    }

    #[test]
    fn acceptances_are_remembered_not_refusals() {
        let c = cred("pw");
        let wrong = check(&c, b"nope");
        assert!(!wrong.run());
        let right = check(&c, b"pw");
        assert!(right.run());
        right.accepted(&c);
        assert!(matches!(judge(&c, 0, b"pw".to_vec()), Verdict::Accepted));
        // A wrong password is checked again every time.
        assert!(matches!(judge(&c, 0, b"nope".to_vec()), Verdict::Check(_)));
        assert_eq!(c.bcrypt_ok.lock().expect("lock").len(), 1);
    }

    #[test]
    fn memory_is_bounded_and_keeps_no_password() {
        let c = cred("pw");
        for i in 0..(REMEMBERED + 5) {
            let pw = format!("pw{i}");
            // Remembering is what a successful run does; bounded whatever is fed.
            check(&c, pw.as_bytes()).accepted(&c);
        }
        let ok = c.bcrypt_ok.lock().expect("lock");
        assert_eq!(ok.len(), REMEMBERED);
        drop(ok);
        // The oldest went first.
        assert!(matches!(judge(&c, 0, b"pw0".to_vec()), Verdict::Check(_)));
        let last = format!("pw{}", REMEMBERED + 4);
        assert!(matches!(judge(&c, 0, last.into_bytes()), Verdict::Accepted));
    }
}
