//! An expired server certificate is refused even when its CA is trusted and its name
//! matches; insecure mode (and only insecure mode) accepts it.

mod support;

use std::sync::Arc;

use http1_pipeline::{Client, ErrorKind, Request};
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use support::tls::echo_server;
use support::within;

/// A fresh CA (valid today) and a server configuration whose certificate for `localhost`
/// was valid only from 2001-01-01 to 2002-01-01.
fn expired_pki() -> (String, Arc<rustls::ServerConfig>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "http1-pipeline expiry test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = date_time_ymd(2001, 1, 1);
    params.not_after = date_time_ymd(2002, 1, 1);
    let cert = params.signed_by(&key, &ca).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (ca.pem(), Arc::new(config))
}

#[tokio::test]
async fn expired_certificate_is_rejected_even_with_a_trusted_ca() {
    within(async {
        let (ca_pem, config) = expired_pki();
        let addr = echo_server(config).await;
        let url = format!("https://localhost:{}", addr.port());
        let client = Client::builder(&url)
            .tls_system_roots(false)
            .add_ca_pem(ca_pem.as_bytes())
            .build()
            .unwrap();
        let err = client.send(Request::get("/expired")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(!err.may_have_been_processed());
        let text = err.to_string();
        assert!(text.to_ascii_lowercase().contains("expired"), "{text}");
        assert!(text.contains("/expired"), "{text}");
    })
    .await
}

#[tokio::test]
async fn insecure_mode_accepts_an_expired_certificate() {
    within(async {
        let (_, config) = expired_pki();
        let addr = echo_server(config).await;
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .insecure(true)
            .build()
            .unwrap();
        let r = client.send(Request::get("/old")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "tls /old");
    })
    .await
}
