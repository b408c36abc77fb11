//! TLS configuration (rustls with the ring provider).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{Error, ErrorKind};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the rustls configuration of a client.
pub(crate) fn client_config(
    system_roots: bool,
    ca_pems: &[Vec<u8>],
    ca_files: &[PathBuf],
    insecure: bool,
) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, "cannot set up TLS").with_source(e))?;
    let mut config = if insecure {
        tracing::warn!("TLS certificate verification is turned off (insecure mode)");
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        if system_roots {
            add_default_roots(&mut roots);
        }
        for pem in ca_pems {
            add_pem(&mut roots, pem, "in-memory PEM")?;
        }
        for path in ca_files {
            let data = std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("cannot read CA file {}", path.display()),
                )
                .with_source(e)
            })?;
            add_pem(&mut roots, &data, &format!("CA file {}", path.display()))?;
        }
        if roots.is_empty() {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "no trusted certificate authority for https: {}",
                    if system_roots && !DEFAULT_ROOTS {
                        "this build of http1-pipeline has neither the `native-roots` nor the \
                         `webpki-roots` feature; enable one, or add a CA with add_ca_pem or add_ca_file"
                    } else {
                        "add a CA with add_ca_pem or add_ca_file, or turn tls_system_roots on"
                    }
                ),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether a feature providing default roots (`native-roots`, `webpki-roots`) is enabled.
const DEFAULT_ROOTS: bool = cfg!(any(feature = "native-roots", feature = "webpki-roots"));

/// Adds the default roots: the operating system's store (feature `native-roots`) and the
/// Mozilla roots compiled into the program (feature `webpki-roots`).
fn add_default_roots(roots: &mut RootCertStore) {
    #[cfg(feature = "native-roots")]
    {
        let loaded = rustls_native_certs::load_native_certs();
        for e in &loaded.errors {
            tracing::debug!("tls: skipping a system certificate source: {e}");
        }
        let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
        tracing::debug!("tls: {added} system roots loaded, {ignored} unusable");
    }
    #[cfg(feature = "webpki-roots")]
    {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        tracing::debug!(
            "tls: {} bundled webpki roots added",
            webpki_roots::TLS_SERVER_ROOTS.len()
        );
    }
    #[cfg(not(any(feature = "native-roots", feature = "webpki-roots")))]
    let _ = roots;
}

fn add_pem(roots: &mut RootCertStore, pem: &[u8], what: &str) -> Result<(), Error> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| {
            Error::new(ErrorKind::Config, format!("invalid PEM in {what}")).with_source(e)
        })?;
        roots.add(cert).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("unusable CA certificate in {what}"),
            )
            .with_source(e)
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(Error::new(
            ErrorKind::Config,
            format!("no certificate found in {what}"),
        ));
    }
    Ok(())
}

/// The server name to present (SNI) and to check the certificate against.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_string()).map_err(|e| {
        Error::new(ErrorKind::Tls, format!("invalid TLS server name {host:?}")).with_source(e)
    })
}

/// Insecure mode: accepts any certificate for any name. Signatures are still checked with
/// the provider's algorithms so the handshake itself is well-formed, but since the
/// certificate is not verified this gives no protection against impersonation.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_without_any_trusted_authority_is_a_config_error() {
        let err = client_config(false, &[], &[], false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains("no trusted certificate authority"),
            "{err}"
        );
    }

    #[test]
    fn insecure_mode_needs_no_authority() {
        assert!(client_config(false, &[], &[], true).is_ok());
    }
}
