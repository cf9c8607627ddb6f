//! Test PKI made fresh for each test binary with rcgen: a CA, a TLS
//! certificate for 127.0.0.1 signed by it (the Rahti-2-like registry), and
//! a self-signed certificate whose key signs registry tokens.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

pub struct Pki {
    /// CA certificate (PEM) file: what clients trust.
    pub ca_file: PathBuf,
    /// Server certificate and key files for 127.0.0.1.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// The same certificate and key as DER, for servers of our own (the
    /// token server's HTTPS realm).
    pub tls_cert_der: Vec<u8>,
    pub tls_key_der: Vec<u8>,
    /// Token signing: certificate file (the registry's rootcertbundle),
    /// its DER, and the private key PEM.
    pub token_cert_file: PathBuf,
    pub token_cert_der: Vec<u8>,
    pub token_key_pem: String,
}

fn fail<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

pub fn make(dir: &Path) -> Result<Pki, String> {
    let ca_key = KeyPair::generate().map_err(fail("ca key"))?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail("ca params"))?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "rahti-migrate test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(fail("ca cert"))?;

    let tls_key = KeyPair::generate().map_err(fail("tls key"))?;
    let mut tls =
        CertificateParams::new(vec!["localhost".to_string()]).map_err(fail("tls params"))?;
    tls.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    tls.distinguished_name.push(DnType::CommonName, "127.0.0.1");
    let tls_cert = tls
        .signed_by(&tls_key, &ca_cert, &ca_key)
        .map_err(fail("tls cert"))?;

    let tok_key = KeyPair::generate().map_err(fail("token key"))?;
    let mut tok = CertificateParams::new(Vec::<String>::new()).map_err(fail("token params"))?;
    tok.distinguished_name
        .push(DnType::CommonName, "rahti-migrate test token signer");
    tok.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let tok_cert = tok.self_signed(&tok_key).map_err(fail("token cert"))?;

    let w = |name: &str, data: &str| -> Result<PathBuf, String> {
        let p = dir.join(name);
        std::fs::write(&p, data).map_err(|e| format!("write {}: {e}", p.display()))?;
        Ok(p)
    };
    Ok(Pki {
        ca_file: w("ca.pem", &ca_cert.pem())?,
        tls_cert: w("tls.pem", &tls_cert.pem())?,
        tls_key: w("tls.key", &tls_key.serialize_pem())?,
        tls_cert_der: tls_cert.der().to_vec(),
        tls_key_der: tls_key.serialize_der(),
        token_cert_file: w("token-signer.pem", &tok_cert.pem())?,
        token_cert_der: tok_cert.der().to_vec(),
        token_key_pem: tok_key.serialize_pem(),
    })
}
