//! Certificates made on the spot for TLS tests: a CA and leaves it signs
//! (or self-signed ones), written as PEM files.

use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Issued {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl Issued {
    pub fn cert_pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().expect("pem")).expect("utf8")
    }

    pub fn key_pem(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8")
    }

    /// Writes `NAME.crt` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let c = dir.join(format!("{name}.crt"));
        let k = dir.join(format!("{name}.key"));
        std::fs::write(&c, self.cert_pem()).expect("write cert");
        std::fs::write(&k, self.key_pem()).expect("write key");
        (c, k)
    }
}

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("curve");
    PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey")
}

/// Builds a certificate for `cn` with DNS `sans`, signed by `issuer` (self-signed when `None`).
pub fn issue(cn: &str, sans: &[&str], ca: bool, issuer: Option<&Issued>) -> Issued {
    static SERIAL: AtomicU32 = AtomicU32::new(1);
    let key = key();
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    let serial = BigNum::from_u32(SERIAL.fetch_add(1, Ordering::Relaxed) + std::process::id())
        .and_then(|n| n.to_asn1_integer())
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name()))
        .expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
        .expect("na");
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
            .expect("bc");
    }
    if !sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for s in sans {
            san.dns(s);
        }
        let ext = san
            .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
            .expect("san");
        b.append_extension(ext).expect("san");
    }
    b.sign(issuer.map_or(&key, |i| &i.key), MessageDigest::sha256())
        .expect("sign");
    Issued {
        cert: b.build(),
        key,
    }
}

/// Runs curl against a TLS listener with `name` resolved to 127.0.0.1;
/// returns (http_version, status, body).
pub fn curl(port: u16, name: &str, ca: &Path, extra: &[&str], path: &str) -> (String, u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(ca)
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_version} %{http_code}"])
        .args(extra)
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let mut it = tail.split(' ');
    let version = it.next().unwrap_or("").to_string();
    let status = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    if status == 0 {
        eprintln!("curl stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    (version, status, body.to_string())
}

/// The subject CN of the certificate served for `servername`.
pub fn served_cn(port: u16, servername: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match servername {
        Some(n) => cmd.args(["-servername", n]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(|s| {
            s.trim()
                .trim_start_matches("CN = ")
                .trim_start_matches("CN=")
                .to_string()
        })
        .unwrap_or_else(|| format!("no certificate: {}", String::from_utf8_lossy(&out.stderr)))
}

/// An HTTPS server answering every request `200 name` on kept-alive connections, with `id`'s certificate.
pub fn https_upstream(id: &Issued, name: &'static str) -> std::net::SocketAddr {
    use openssl::ssl::{SslAcceptor, SslMethod};
    use std::io::{Read, Write};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    b.set_certificate(&id.cert).expect("cert");
    b.set_private_key(&id.key).expect("key");
    let acceptor = std::sync::Arc::new(b.build());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let acceptor = acceptor.clone();
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let Ok(mut s) = acceptor.accept(tcp) else {
                    return;
                };
                // Kept alive: the gateway may pool the connection.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}",
                        name.len()
                    );
                    if s.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A kept-alive HTTP/1.1 connection over TLS that trusts everything (the
/// certificate changes under it).
pub struct TlsConn(openssl::ssl::SslStream<std::net::TcpStream>);

impl TlsConn {
    pub fn open(port: u16) -> TlsConn {
        let mut b =
            openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("connector");
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok();
        let s = b.build().connect("gw.test", tcp).expect("handshake");
        TlsConn(s)
    }

    /// The served certificate's common name.
    pub fn cn(&self) -> String {
        let cert = self.0.ssl().peer_certificate().expect("peer cert");
        let cn = cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .and_then(|e| e.data().to_string().ok());
        cn.unwrap_or_default()
    }

    /// Sends a GET and reads one response with a Content-Length body; returns its status.
    pub fn get(&mut self, path: &str) -> u16 {
        let req = format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\napikey: fb-key\r\n\r\n");
        use std::io::{Read, Write};
        self.0.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = self.0.read(&mut chunk).expect("read");
            assert!(n > 0, "connection closed");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let len = super::recorder::content_length(head);
            if body.len() >= len {
                return head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
}

/// Indents a PEM block for a YAML `|` scalar.
pub fn block(pem: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    pem.lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect::<String>()
}

/// Kong's `certificates` (nested `snis`) and top-level `snis`, after `base`.
pub fn with_kong_certs(
    base: &str,
    certs: &[(&str, &Issued, &[&str])],
    top_snis: &[(&str, &str)],
) -> String {
    let mut y = format!("{base}certificates:\n");
    for (id, c, snis) in certs {
        let names: Vec<String> = snis
            .iter()
            .map(|n| format!("{{ name: \"{n}\" }}"))
            .collect();
        y.push_str(&format!(
            "  - id: {id}\n    tags: [edge]\n    snis: [{}]\n    cert: |\n{}    key: |\n{}",
            names.join(", "),
            block(&c.cert_pem(), 6),
            block(&c.key_pem(), 6),
        ));
    }
    if !top_snis.is_empty() {
        y.push_str("snis:\n");
        for (name, id) in top_snis {
            y.push_str(&format!(
                "  - {{ name: {name}, certificate: {{ id: {id} }} }}\n"
            ));
        }
    }
    y
}
