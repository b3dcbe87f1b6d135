//! The certificates served on the TLS proxy listener, chosen per connection
//! by SNI.
//!
//! The set is rebuilt off the hot path (at start, when a `--tls-cert` file
//! changes, when a snapshot with Kong `certificates` is applied) and swapped
//! in whole; a handshake only loads the current set and looks the name up, so
//! a reload never touches connections already open.

use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::tls::pkey::{PKey, Private};
use pingora::tls::ssl::NameType;
use pingora::tls::x509::X509;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: no PEM certificate found")]
    NoCert(String),
    #[error("{what}: not a valid PEM {kind}: {source}")]
    Pem {
        what: String,
        kind: &'static str,
        source: pingora::tls::error::ErrorStack,
    },
    #[error("{0}: the private key does not match the certificate")]
    KeyMismatch(String),
    #[error("TLS listener setup: {0}")]
    Setup(String),
}

/// One certificate chain with its key, and the names it is served for.
pub struct CertKey {
    chain: Vec<X509>,
    key: PKey<Private>,
    /// Lower-case DNS names, `*.example.com` for wildcards.
    names: Vec<String>,
}

impl CertKey {
    /// Parses a PEM chain (leaf first) and key; checks that they belong
    /// together. `names`, when given, replace the certificate's own SANs
    /// (Kong's `snis`).
    pub fn from_pem(
        what: &str,
        cert: &[u8],
        key: &[u8],
        names: Option<&[String]>,
    ) -> Result<CertKey, TlsError> {
        let chain = X509::stack_from_pem(cert).map_err(|source| TlsError::Pem {
            what: what.to_string(),
            kind: "certificate",
            source,
        })?;
        let leaf = chain
            .first()
            .ok_or_else(|| TlsError::NoCert(what.to_string()))?;
        let key = PKey::private_key_from_pem(key).map_err(|source| TlsError::Pem {
            what: what.to_string(),
            kind: "private key",
            source,
        })?;
        let matches = leaf
            .public_key()
            .map(|p| p.public_eq(&key))
            .unwrap_or(false);
        if !matches {
            return Err(TlsError::KeyMismatch(what.to_string()));
        }
        let names = match names {
            Some(n) => n.iter().map(|s| s.to_ascii_lowercase()).collect(),
            None => own_names(leaf),
        };
        Ok(CertKey { chain, key, names })
    }

    /// Reads a `--tls-cert` / `--tls-key` pair.
    pub fn from_files(cert: &Path, key: &Path) -> Result<CertKey, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let what = cert.display().to_string();
        CertKey::from_pem(&what, &read(cert)?, &read(key)?, None)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The DNS SANs of a certificate, or its common name when it has none.
fn own_names(leaf: &X509) -> Vec<String> {
    let sans: Vec<String> = leaf
        .subject_alt_names()
        .map(|list| {
            list.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if !sans.is_empty() {
        return sans;
    }
    leaf.subject_name()
        .entries_by_nid(pingora::tls::nid::Nid::COMMONNAME)
        .filter_map(|e| e.data().to_string().ok().map(|s| s.to_ascii_lowercase()))
        .collect()
}

/// The certificates in service, indexed by name.
#[derive(Default)]
pub struct CertSet {
    certs: Vec<Arc<CertKey>>,
    exact: HashMap<String, usize>,
    /// Keyed by the part after `*.`.
    wildcard: HashMap<String, usize>,
}

impl CertSet {
    /// The first certificate is the default (no SNI, or no name matches);
    /// when two certificates claim a name, the earlier one wins.
    pub fn new(certs: Vec<Arc<CertKey>>) -> CertSet {
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for (i, c) in certs.iter().enumerate() {
            for n in &c.names {
                match n.strip_prefix("*.") {
                    Some(rest) => wildcard.entry(rest.to_string()).or_insert(i),
                    None => exact.entry(n.clone()).or_insert(i),
                };
            }
        }
        CertSet {
            certs,
            exact,
            wildcard,
        }
    }

    /// Exact name first, then a wildcard one label deep, then the default.
    pub fn select(&self, sni: Option<&str>) -> Option<&CertKey> {
        let ix = sni.and_then(|name| {
            // SNI is case-insensitive; lower-case without allocating when it already is.
            let lower;
            let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                lower = name.to_ascii_lowercase();
                lower.as_str()
            } else {
                name
            };
            self.exact.get(name).copied().or_else(|| {
                let (_, parent) = name.split_once('.')?;
                self.wildcard.get(parent).copied()
            })
        });
        self.certs.get(ix.unwrap_or(0)).map(Arc::as_ref)
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The two sources of certificates, in one lock so that a file reload and
/// a snapshot apply racing each other cannot publish a stale mix.
#[derive(Default)]
struct Sources {
    files: Vec<Arc<CertKey>>,
    snapshot: Vec<Arc<CertKey>>,
}

/// The certificate sources and the merged set handshakes read.
pub struct TlsStore {
    /// `--tls-cert` / `--tls-key` pairs, in order.
    pub files: Vec<(PathBuf, PathBuf)>,
    sources: Mutex<Sources>,
    current: ArcSwap<CertSet>,
}

impl TlsStore {
    /// Loads every file pair; any bad pair is a start error.
    pub fn load(files: Vec<(PathBuf, PathBuf)>) -> Result<TlsStore, TlsError> {
        let store = TlsStore {
            files,
            sources: Mutex::new(Sources::default()),
            current: ArcSwap::from_pointee(CertSet::default()),
        };
        store.reload_files()?;
        Ok(store)
    }

    /// Re-reads the file pairs; on any error the previous ones stay in service.
    pub fn reload_files(&self) -> Result<usize, TlsError> {
        let loaded = self
            .files
            .iter()
            .map(|(c, k)| CertKey::from_files(c, k).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let n = loaded.len();
        self.publish(|s| s.files = loaded);
        Ok(n)
    }

    /// Replaces the snapshot's certificates (already validated).
    pub fn set_snapshot(&self, certs: Vec<Arc<CertKey>>) {
        self.publish(|s| s.snapshot = certs);
    }

    /// Files first: the first file pair stays the default certificate.
    fn publish(&self, change: impl FnOnce(&mut Sources)) {
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut sources);
        let all = sources
            .files
            .iter()
            .chain(sources.snapshot.iter())
            .cloned()
            .collect();
        self.current.store(Arc::new(CertSet::new(all)));
    }

    pub fn current(&self) -> Arc<CertSet> {
        self.current.load_full()
    }
}

/// Loads a snapshot's certificates (already validated; an error here is
/// located like a validation error).
pub fn snapshot_certs(
    specs: &[tollgate_config::resolved::CertificateSpec],
) -> Result<Vec<Arc<CertKey>>, tollgate_config::ConfigError> {
    specs
        .iter()
        .map(|c| {
            let names = (!c.snis.is_empty()).then_some(c.snis.as_slice());
            CertKey::from_pem(&c.at, c.cert.as_bytes(), c.key.as_bytes(), names)
                .map(Arc::new)
                .map_err(|e| tollgate_config::ConfigError {
                    path: c.at.clone(),
                    message: e.to_string(),
                })
        })
        .collect()
}

/// The CAs an `https` upstream is verified against.
#[derive(Default)]
pub struct UpstreamCa {
    /// `None`: the system roots.
    pub ca: Option<Arc<pingora::protocols::tls::CaType>>,
    /// Pingora pools upstream connections without regard to the CA they
    /// were verified against: this key keeps services trusting different
    /// CAs from reusing each other's connections.
    pub pool_key: u64,
}

impl UpstreamCa {
    /// Parses the PEMs (validated already; an unreadable one is skipped).
    pub fn new(pems: &[String]) -> UpstreamCa {
        use std::hash::{Hash, Hasher};
        let mut all = Vec::new();
        for pem in pems {
            match X509::stack_from_pem(pem.as_bytes()) {
                Ok(list) => all.extend(list),
                Err(e) => tracing::warn!("ca_certificates: unreadable PEM skipped: {e}"),
            }
        }
        if all.is_empty() {
            return UpstreamCa::default();
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        pems.hash(&mut h);
        UpstreamCa {
            ca: Some(Arc::new(all.into_boxed_slice())),
            // Never 0, the key of connections verified against the system roots.
            pool_key: h.finish() | 1,
        }
    }
}

/// Hands the handshake the certificate for its SNI.
pub struct SniCallbacks {
    pub store: Arc<TlsStore>,
}

#[async_trait]
impl TlsAccept for SniCallbacks {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let set = self.store.current.load();
        let Some(ck) = set.select(ssl.servername(NameType::HOST_NAME)) else {
            // No certificate at all: the handshake fails, nothing is served.
            return;
        };
        use pingora::tls::ext;
        let Some(leaf) = ck.chain.first() else {
            return;
        };
        if ext::ssl_use_certificate(ssl, leaf).is_err()
            || ext::ssl_use_private_key(ssl, &ck.key).is_err()
        {
            tracing::warn!("TLS handshake: cannot use the selected certificate");
            return;
        }
        for extra in &ck.chain[1..] {
            if ext::ssl_add_chain_cert(ssl, extra).is_err() {
                tracing::warn!("TLS handshake: cannot add a chain certificate");
                return;
            }
        }
    }
}

/// Listener settings: Mozilla intermediate, ALPN `h2` then `http/1.1`,
/// certificates from `store` per handshake.
pub fn settings(store: Arc<TlsStore>) -> Result<TlsSettings, TlsError> {
    let mut s = TlsSettings::with_callbacks(Box::new(SniCallbacks { store }))
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    s.enable_h2();
    Ok(s)
}
