//! A small HTTP/1.1 client for the engine's own tests (hyper's client connection over
//! plain TCP or rustls), independent of the SDK's client.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};
use std::sync::Arc;
use tokio::net::TcpStream;

pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Conn {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

pub async fn connect(engine: &TestEngine, server_name: &str) -> Conn {
    connect_to(engine.addr(), engine.ca_pem(), server_name).await
}

/// Connects to `addr` (plain TCP, or TLS trusting `ca_pem` and checking `server_name`).
pub async fn connect_to(
    addr: std::net::SocketAddr,
    ca_pem: Option<&str>,
    server_name: &str,
) -> Conn {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let host = format!("{}:{}", server_name, addr.port());
    match ca_pem {
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .unwrap();
            tokio::spawn(conn);
            Conn { sender, host }
        }
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile_certs(pem) {
                roots.add(cert).unwrap();
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let name = rustls_pki_types::ServerName::try_from(server_name.to_string()).unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            Conn { sender, host }
        }
    }
}

/// Certificates of a PEM bundle, decoded with rustls-pki-types.
fn rustls_pemfile_certs(pem: &str) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.unwrap())
        .collect()
}

impl Conn {
    pub async fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        self.try_send(method, target, headers, Bytes::from(body.to_string()))
            .await
            .unwrap()
    }

    /// Sends a request with a binary body; an error when the connection fails (for
    /// example when the server closes it before or while answering).
    pub async fn try_send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply, hyper::Error> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(target)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).unwrap();
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// Sends a request without a body and returns the response with its body unread.
    pub async fn start(
        &mut self,
        method: &str,
        target: &str,
    ) -> http::Response<hyper::body::Incoming> {
        let req = http::Request::builder()
            .method(method)
            .uri(target)
            .header("host", &self.host)
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.sender.ready().await.unwrap();
        self.sender.send_request(req).await.unwrap()
    }

    /// Whether the server has closed this connection (or it failed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Logs in with the default user and returns the token.
    pub async fn login(&mut self) -> String {
        let r = self.sso_login(USERNAME, PASSWORD).await;
        assert_eq!(r.status, 200, "login failed: {}", r.text());
        json_field(&r.text(), "access_token").expect("access_token in the reply")
    }

    pub async fn sso_login(&mut self, user: &str, password: &str) -> Reply {
        let body = format!(
            "grant_type=password&scope=ovirt-app-api&username={}&password={}",
            user.replace('@', "%40"),
            password
        );
        self.send(
            "POST",
            ovirt_test_engine::SSO_TOKEN_PATH,
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("accept", "application/json"),
            ],
            &body,
        )
        .await
    }

    /// GET under the API base with `Version: 4` and the token.
    pub async fn api_get(&mut self, token: &str, rel: &str) -> Reply {
        self.api("GET", token, rel, "").await
    }

    pub async fn api(&mut self, method: &str, token: &str, rel: &str, body: &str) -> Reply {
        let target = if rel.is_empty() {
            ovirt_test_engine::API_PATH.to_string()
        } else {
            format!("{}/{}", ovirt_test_engine::API_PATH, rel)
        };
        let auth = format!("Bearer {token}");
        self.send(
            method,
            &target,
            &[
                ("version", "4"),
                ("authorization", &auth),
                ("content-type", "application/xml"),
            ],
            body,
        )
        .await
    }
}

/// The string value of a top-level field of a flat JSON object.
pub fn json_field(json: &str, name: &str) -> Option<String> {
    let key = format!("\"{name}\":\"");
    let start = json.find(&key)? + key.len();
    let end = json[start..].find('"')? + start;
    Some(json[start..end].to_string())
}

/// The `id` attributes of the elements named `tag`, in document order.
pub fn ids_of(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag} ");
    let mut ids = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let elem = &rest[at..];
        let end = elem.find('>').unwrap();
        let head = &elem[..end];
        if let Some(i) = head.find(" id=\"") {
            let v = &head[i + 5..];
            ids.push(v[..v.find('"').unwrap()].to_string());
        }
        rest = &elem[end..];
    }
    ids
}
