//! Credential lookup: finding an API key in a request (headers first, then
//! query parameters, by the names the auth strategies declare) and resolving
//! it to an application without ever keeping a hashed-only secret in memory.

use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::HashMap;

/// Keys longer than this are not looked up (answered 401), bounding the work
/// an attacker can make a lookup do.
pub const MAX_KEY_LEN: usize = 1024;

/// A compiled credential: 16 bytes, since snapshots may hold millions.
#[derive(Debug, Clone, Copy)]
pub struct Credential {
    pub app: u32,
    /// Stable limiter subject: survives reloads, equal on every node. Its hex
    /// form is the public `X-Credential-Identifier` (never the key).
    pub subject: u64,
}

impl Credential {
    /// The `X-Credential-Identifier` value: 16 hex characters.
    pub fn identifier(&self) -> HeaderValue {
        identifier_value(self.subject)
    }
}

/// A subject's 16 hex characters, without allocating.
pub fn identifier_hex(subject: u64) -> [u8; 16] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    for (i, b) in subject.to_be_bytes().iter().enumerate() {
        buf[2 * i] = HEX[(b >> 4) as usize];
        buf[2 * i + 1] = HEX[(b & 15) as usize];
    }
    buf
}

/// A subject's 16-hex-character header form.
pub fn identifier_value(subject: u64) -> HeaderValue {
    let buf = identifier_hex(subject);
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("0000000000000000"))
}

/// A name under which keys are looked for, with the strategies declaring it.
#[derive(Debug, Clone)]
pub struct KeyName {
    pub header: Option<HeaderName>,
    pub query: Box<str>,
    pub strategies: Vec<u32>,
}

/// Where a key was found, so it can be hidden from the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Header(usize),
    Query(usize),
}

/// What looking for a key in a request gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'r> {
    None,
    /// One header carried several different values.
    Duplicate,
    Key(Cow<'r, [u8]>, KeySource),
}

#[derive(Debug, Default)]
pub struct CredentialIndex {
    plain: HashMap<Box<[u8]>, u32>,
    hashed: HashMap<[u8; 32], u32>,
    creds: Vec<Credential>,
    /// True when some credential is known only by its hash: unknown plain
    /// keys must then be hashed before they can be called unknown.
    has_hash_only: bool,
    /// Credential → Unix second from which it is refused. Kept apart so that
    /// `Credential` stays 16 bytes; most snapshots have no expiring keys.
    expiries: HashMap<u32, u64>,
}

/// First 8 bytes of the SHA-256 as a number and as 16 hex characters.
pub fn identity(hash: &[u8; 32]) -> (u64, String) {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(b), hex::encode(b))
}

impl CredentialIndex {
    /// Adds a credential that expires at `expires_at` (Unix seconds).
    pub fn insert_expiring(
        &mut self,
        app: u32,
        hash: [u8; 32],
        plain: Option<&str>,
        expires_at: Option<u64>,
    ) {
        if let Some(at) = expires_at {
            self.expiries.insert(self.creds.len() as u32, at);
        }
        self.insert(app, hash, plain);
    }

    /// Whether a credential has expired at `now_unix_s`. An unknown time (0)
    /// counts every expiring credential as expired: never fail open.
    pub fn expired(&self, idx: u32, now_unix_s: u64) -> bool {
        !self.expiries.is_empty()
            && self
                .expiries
                .get(&idx)
                .is_some_and(|&at| now_unix_s == 0 || now_unix_s >= at)
    }

    /// Adds a credential; `plain` is the key when the snapshot carried it.
    pub fn insert(&mut self, app: u32, hash: [u8; 32], plain: Option<&str>) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&hash[..8]);
        let subject = u64::from_be_bytes(b);
        let idx = self.creds.len() as u32;
        self.creds.push(Credential { app, subject });
        // A credential known by its key is found in `plain`; only hash-only
        // ones need the digest index.
        match plain {
            Some(k) => {
                self.plain.insert(k.as_bytes().into(), idx);
            }
            None => {
                self.has_hash_only = true;
                self.hashed.insert(hash, idx);
            }
        }
    }

    /// Pre-sizes the index for `n` credentials.
    pub fn reserve(&mut self, n: usize) {
        self.creds.reserve(n);
        self.plain.reserve(n);
    }

    pub fn get(&self, idx: u32) -> &Credential {
        &self.creds[idx as usize]
    }

    pub fn len(&self) -> usize {
        self.creds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.creds.is_empty()
    }

    /// Resolves a presented key to a credential index.
    pub fn lookup(&self, key: &[u8]) -> Option<u32> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return None;
        }
        if let Some(&i) = self.plain.get(key) {
            return Some(i);
        }
        if !self.has_hash_only {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key).into();
        self.hashed.get(&digest).copied()
    }
}

/// Looks for a key: every header name first, then every query name.
pub fn find_key<'r>(
    names: &[KeyName],
    headers: &'r HeaderMap,
    query: Option<&'r str>,
    in_header: bool,
    in_query: bool,
) -> Found<'r> {
    if in_header {
        for (i, n) in names.iter().enumerate() {
            let Some(h) = &n.header else { continue };
            let mut values = headers.get_all(h).iter();
            if let Some(first) = values.next() {
                if values.any(|v| v != first) {
                    return Found::Duplicate;
                }
                return Found::Key(Cow::Borrowed(first.as_bytes()), KeySource::Header(i));
            }
        }
    }
    if let (true, Some(q)) = (in_query, query) {
        for (i, n) in names.iter().enumerate() {
            if let Some(v) = query_value(q, &n.query) {
                // Frameworks disagree on which of repeated parameters wins.
                if query_values(q, &n.query).any(|other| other != v) {
                    return Found::Duplicate;
                }
                return Found::Key(v, KeySource::Query(i));
            }
        }
    }
    Found::None
}

/// The first value of query parameter `name`, percent-decoded when needed.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, [u8]>> {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if names_equal(k, name) {
            return Some(percent_decode(v.as_bytes()));
        }
    }
    None
}

/// Every value of query parameter `name`, percent-decoded.
fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Cow<'q, [u8]>> {
    query.split('&').filter_map(move |pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        names_equal(k, name).then(|| percent_decode(v.as_bytes()))
    })
}

/// Decodes `%XX` and `+`; invalid escapes are kept literally.
fn percent_decode(v: &[u8]) -> Cow<'_, [u8]> {
    if !v.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < v.len() => {
                let hex = std::str::from_utf8(&v[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// The query string without the parameters named `name` (for hide_credentials).
pub fn strip_query_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter(|pair| !names_equal(pair.split_once('=').map(|(k, _)| k).unwrap_or(pair), name))
        .collect::<Vec<_>>()
        .join("&")
}

/// Whether query parameter name `raw` is `name` once decoded, as upstreams read it.
fn names_equal(raw: &str, name: &str) -> bool {
    raw == name || (raw.contains(['%', '+']) && *percent_decode(raw.as_bytes()) == *name.as_bytes())
}

/// Whether the query names parameter `name` (in any encoding).
pub fn has_query_param(query: &str, name: &str) -> bool {
    query
        .split('&')
        .any(|pair| names_equal(pair.split_once('=').map(|(k, _)| k).unwrap_or(pair), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<KeyName> {
        ["apikey", "x-api-key"]
            .iter()
            .map(|n| KeyName {
                header: HeaderName::from_bytes(n.as_bytes()).ok(),
                query: (*n).into(),
                strategies: vec![0],
            })
            .collect()
    }

    #[test]
    fn finding_keys() {
        let n = names();
        let mut h = HeaderMap::new();
        assert_eq!(find_key(&n, &h, None, true, true), Found::None);
        assert_eq!(
            find_key(&n, &h, Some("a=1&apikey=k%2B1"), true, true),
            Found::Key(Cow::Borrowed(b"k+1".as_slice()), KeySource::Query(0))
        );
        assert_eq!(find_key(&n, &h, Some("apikey=k"), true, false), Found::None);
        h.insert("X-API-KEY", HeaderValue::from_static("hk"));
        assert_eq!(
            find_key(&n, &h, Some("apikey=q"), true, true),
            Found::Key(Cow::Borrowed(b"hk".as_slice()), KeySource::Header(1))
        );
        h.append("x-api-key", HeaderValue::from_static("hk"));
        assert!(matches!(find_key(&n, &h, None, true, true), Found::Key(..)));
        h.append("x-api-key", HeaderValue::from_static("other"));
        assert_eq!(find_key(&n, &h, None, true, true), Found::Duplicate);
        let empty = HeaderMap::new();
        let q = |query| find_key(&n, &empty, Some(query), true, true);
        assert_eq!(q("apikey=a&apikey=b"), Found::Duplicate);
        assert_eq!(q("apikey=a&%61pikey=b"), Found::Duplicate);
        assert!(matches!(q("apikey=a&apikey=a"), Found::Key(..)));
        assert!(matches!(q("%61pikey=a"), Found::Key(..)));
    }

    #[test]
    fn index_plain_and_hashed() {
        let mut idx = CredentialIndex::default();
        let h1: [u8; 32] = Sha256::digest(b"plain-key").into();
        let h2: [u8; 32] = Sha256::digest(b"secret-key").into();
        idx.insert(0, h1, Some("plain-key"));
        idx.insert(1, h2, None);
        assert_eq!(idx.lookup(b"plain-key"), Some(0));
        assert_eq!(idx.lookup(b"secret-key"), Some(1));
        assert_eq!(idx.lookup(b"nope"), None);
        assert_eq!(idx.lookup(b""), None);
        assert_eq!(idx.lookup(&vec![b'a'; MAX_KEY_LEN + 1]), None);
        let id = idx.get(0).identifier();
        assert_ne!(id, "plain-key");
        assert_eq!(id.len(), 16);
        assert_eq!(
            id.to_str().ok(),
            Some(identity(&h1).1.as_str()),
            "same as the hex of the digest prefix"
        );
    }

    #[test]
    fn query_helpers() {
        assert_eq!(strip_query_param("a=1&apikey=x&b=2", "apikey"), "a=1&b=2");
        assert_eq!(strip_query_param("apikey=x", "apikey"), "");
        assert_eq!(
            query_value("apikey", "apikey").as_deref(),
            Some(b"".as_slice())
        );
        assert_eq!(
            query_value("x=%zz", "x").as_deref(),
            Some(b"%zz".as_slice())
        );
        assert_eq!(query_value("x=%4", "x").as_deref(), Some(b"%4".as_slice()));
    }

    #[test]
    fn expiring_credentials() {
        let mut idx = CredentialIndex::default();
        idx.insert_expiring(0, [1; 32], Some("a"), Some(1_000));
        idx.insert_expiring(0, [2; 32], Some("b"), None);
        // (credential, now, expired)
        let cases = [
            (0, 999, false),
            (0, 1_000, true),
            (0, 5_000, true),
            // An unknown clock never lets an expiring key through.
            (0, 0, true),
            (1, 5_000, false),
            (1, 0, false),
        ];
        for (c, now, want) in cases {
            assert_eq!(idx.expired(c, now), want, "credential {c} at {now}");
        }
    }
}
