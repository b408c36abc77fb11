//! TLS (rustls, CA generated with rcgen at test time) and HTTP proxies.

mod support;

use http1_pipeline::{Client, ErrorKind, Proxy, Request};
use support::tls::{echo_server, pki};
use support::{within, Server};
use tokio::sync::mpsc;

#[tokio::test]
async fn trusted_ca_is_accepted() {
    within(async {
        let pki = pki(&["localhost"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .add_ca_pem(pki.ca_pem.as_bytes())
            .build()
            .unwrap();
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "tls /a");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "tls /b");
    })
    .await
}

#[tokio::test]
async fn trusted_ca_from_a_file_is_accepted() {
    within(async {
        let pki = pki(&["localhost"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let path = std::env::temp_dir().join(format!("http1-pipeline-ca-{}.pem", addr.port()));
        std::fs::write(&path, &pki.ca_pem).unwrap();
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .add_ca_file(&path)
            .build()
            .unwrap();
        let r = client.send(Request::get("/f")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "tls /f");
        let _ = std::fs::remove_file(&path);
    })
    .await
}

#[tokio::test]
async fn missing_ca_file_is_a_config_error() {
    let e = Client::builder("https://localhost")
        .add_ca_file("/nonexistent/ca.pem")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    let e = Client::builder("https://localhost")
        .add_ca_pem(&b"not a pem"[..])
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn unknown_ca_is_rejected() {
    within(async {
        let pki = pki(&["localhost"]);
        let other = support::tls::pki(&["localhost"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .add_ca_pem(other.ca_pem.as_bytes())
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
        assert!(!err.may_have_been_processed());
    })
    .await
}

#[tokio::test]
async fn wrong_hostname_is_rejected() {
    within(async {
        let pki = pki(&["some-other-name.test"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .add_ca_pem(pki.ca_pem.as_bytes())
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    })
    .await
}

#[tokio::test]
async fn insecure_mode_accepts_any_certificate() {
    within(async {
        let pki = pki(&["some-other-name.test"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let client = Client::builder(&format!("https://localhost:{}", addr.port()))
            .tls_system_roots(false)
            .insecure(true)
            .build()
            .unwrap();
        let r = client.send(Request::get("/a")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "tls /a");
    })
    .await
}

#[tokio::test]
async fn http_origin_through_proxy_uses_absolute_form_and_basic_auth() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let proxy = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    c.ok("via proxy").await;
                    tx.send(req).unwrap();
                }
            }
        })
        .await;
        let client = Client::builder("http://origin.test:8080")
            .proxy(
                Proxy::new(&proxy.url())
                    .unwrap()
                    .basic_auth("user", "pa:ss"),
            )
            .build()
            .unwrap();
        let r = client.send(Request::get("/x?y=1")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "via proxy");
        let req = rx.recv().await.unwrap();
        assert_eq!(req.target, "http://origin.test:8080/x?y=1");
        assert_eq!(req.header("host"), Some("origin.test:8080"));
        // base64("user:pa:ss")
        assert_eq!(
            req.header("proxy-authorization"),
            Some("Basic dXNlcjpwYTpzcw==")
        );
    })
    .await
}

#[tokio::test]
async fn https_origin_through_proxy_uses_connect_with_basic_auth() {
    within(async {
        let pki = pki(&["localhost"]);
        let tls_addr = echo_server(pki.server_config.clone()).await;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let proxy = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                let req = c.read_request().await.unwrap();
                tx.send(req).unwrap();
                c.write("HTTP/1.1 200 Connection established\r\n\r\n").await;
                let mut upstream = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut c.stream, &mut upstream).await;
            }
        })
        .await;
        let client = Client::builder(&format!("https://localhost:{}", tls_addr.port()))
            .tls_system_roots(false)
            .add_ca_pem(pki.ca_pem.as_bytes())
            .proxy(
                Proxy::new(&proxy.url())
                    .unwrap()
                    .basic_auth("user", "secret"),
            )
            .build()
            .unwrap();
        let r = client.send(Request::get("/tunnelled")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "tls /tunnelled");
        let req = rx.recv().await.unwrap();
        assert_eq!(req.method, "CONNECT");
        assert_eq!(req.target, format!("localhost:{}", tls_addr.port()));
        assert_eq!(
            req.header("proxy-authorization"),
            Some("Basic dXNlcjpzZWNyZXQ=")
        );
    })
    .await
}

#[tokio::test]
async fn proxy_refusing_connect_is_a_proxy_error() {
    within(async {
        let proxy = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.write("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                .await;
        })
        .await;
        let client = Client::builder("https://localhost:1")
            .proxy(Proxy::new(&proxy.url()).unwrap())
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Proxy, "{err}");
        assert!(err.to_string().contains("407"), "{err}");
    })
    .await
}

#[test]
fn proxy_debug_hides_credentials() {
    let p = Proxy::new("http://proxy:3128")
        .unwrap()
        .basic_auth("u", "hunter2");
    let d = format!("{p:?}");
    assert!(!d.contains("hunter2") && !d.contains("aHVudGVyMg"), "{d}");
    assert!(Proxy::new("https://proxy").is_err());
}

#[tokio::test]
async fn plain_http_to_a_tls_server_says_to_use_https_and_that_nothing_was_processed() {
    within(async {
        let pki = pki(&["localhost"]);
        let addr = echo_server(pki.server_config.clone()).await;
        let client = Client::builder(&format!("http://127.0.0.1:{}", addr.port()))
            .max_retries(3)
            .build()
            .unwrap();
        for req in [Request::get("/a"), Request::post("/b", "x")] {
            let e = client.send(req).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ServerSpeaksTls, "{e:?}");
            assert!(!e.may_have_been_processed(), "{e}");
            let text = e.to_string();
            assert!(text.contains("use https://"), "{text}");
            assert!(text.ends_with("the request was not processed"), "{text}");
        }
    })
    .await
}
