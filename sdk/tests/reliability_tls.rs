//! An engine presenting an expired certificate is refused, even with its CA trusted and
//! its name right, unless the connection is asked to be insecure.

mod connection_common;

use connection_common::get;
use ovirt::error::ErrorKind;
use ovirt::Connection;
use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Starts a TLS server on 127.0.0.1 whose certificate (for `localhost` and `127.0.0.1`,
/// signed by a CA valid today) expired in 2002. It answers every request `200 tls <target>`.
/// Returns its address and the CA's PEM.
async fn expired_server() -> (SocketAddr, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ovirt expiry test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
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
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end + 4);
                        let body = format!("tls {}", head.split(' ').nth(1).unwrap_or(""));
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if tls.write_all(resp.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
            });
        }
    });
    (addr, ca.pem())
}

#[tokio::test]
async fn expired_engine_certificate_is_a_connection_error_even_with_its_ca_trusted() {
    let (addr, ca_pem) = expired_server().await;
    let conn = Connection::builder()
        .url(format!(
            "https://localhost:{}/ovirt-engine/api",
            addr.port()
        ))
        .token("expiry-test-token")
        .ca_pem(ca_pem.into_bytes())
        .build()
        .unwrap();
    let err = get(&conn, "vms").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    let text = err.to_string();
    assert!(text.to_ascii_lowercase().contains("expired"), "{text}");
    assert!(!err.may_have_been_processed(), "{err:?}");
}

#[tokio::test]
async fn insecure_connection_accepts_an_expired_engine_certificate() {
    let (addr, _) = expired_server().await;
    let conn = Connection::builder()
        .url(format!(
            "https://localhost:{}/ovirt-engine/api",
            addr.port()
        ))
        .token("expiry-test-token")
        .insecure(true)
        .build()
        .unwrap();
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(raw.status, 200);
    assert_eq!(&raw.body[..], b"tls /ovirt-engine/api/vms");
}
