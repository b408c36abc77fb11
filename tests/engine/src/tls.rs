//! A certificate authority generated at start and a server certificate it signs.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// The generated CA and the server configuration using the certificate it signed.
pub(crate) struct GeneratedTls {
    pub(crate) ca_pem: String,
    pub(crate) server_config: Arc<rustls::ServerConfig>,
}

/// A generated certificate authority and a server certificate for `localhost` and
/// `127.0.0.1` that it signed, all as PEM: for a test server of one's own (the Apache front
/// of the ovirt-tests crate uses it) that clients should trust through `ca_pem`.
#[derive(Clone)]
pub struct TestCertificates {
    /// The CA certificate, to pass to a client as its trusted root.
    pub ca_pem: String,
    /// The server certificate (signed by the CA).
    pub cert_pem: String,
    /// The server certificate's private key (PKCS #8).
    pub key_pem: String,
    cert_der: Vec<u8>,
    ca_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for TestCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is left out, as any private key should be.
        f.debug_struct("TestCertificates")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl TestCertificates {
    /// Generates a new CA (named `ca_name`) and a server certificate for `localhost` and
    /// `127.0.0.1` signed by it.
    pub fn generate(ca_name: &str) -> Result<TestCertificates, String> {
        let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

        let ca_key = KeyPair::generate().map_err(|e| err("generating the CA key", &e))?;
        let mut ca_params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA parameters", &e))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key)
            .map_err(|e| err("self-signing the CA", &e))?;

        let server_key = KeyPair::generate().map_err(|e| err("generating the server key", &e))?;
        let mut params = CertificateParams::new(vec!["localhost".to_string()])
            .map_err(|e| err("server certificate parameters", &e))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = params
            .signed_by(&server_key, &ca)
            .map_err(|e| err("signing the server certificate", &e))?;
        Ok(TestCertificates {
            ca_pem: ca.pem(),
            cert_pem: server_cert.pem(),
            key_pem: server_key.serialize_pem(),
            cert_der: server_cert.der().to_vec(),
            ca_der: ca.der().to_vec(),
            key_der: server_key.serialize_der(),
        })
    }
}

/// Generates a CA and a server certificate for `localhost` and `127.0.0.1`.
pub(crate) fn generate() -> Result<GeneratedTls, String> {
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");
    let certs = TestCertificates::generate("ovirt-test-engine CA")?;
    let chain = vec![
        CertificateDer::from(certs.cert_der.clone()),
        CertificateDer::from(certs.ca_der.clone()),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key_der.clone()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err("TLS protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err("server certificate", &e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(GeneratedTls {
        ca_pem: certs.ca_pem,
        server_config: Arc::new(config),
    })
}
