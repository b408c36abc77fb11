//! Basic request/response behaviour against a scripted raw TCP server.

mod support;

use pipeline_core::{Client, ErrorKind, Method, Request};
use support::{within, Server};

fn client(server: &Server) -> pipeline_core::ClientBuilder {
    Client::builder(&server.url())
}

#[tokio::test]
async fn sends_host_and_reads_a_content_length_body() {
    within(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    tx.send(req).unwrap();
                    c.ok("hello").await;
                }
            }
        })
        .await;
        let client = client(&server)
            .default_header("User-Agent", "t/1")
            .build()
            .unwrap();
        let resp = client.send(Request::get("/a?b=c")).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers().get("content-length"), Some("5"));
        assert_eq!(&resp.bytes().await.unwrap()[..], b"hello");
        let req = rx.recv().await.unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/a?b=c");
        assert_eq!(req.header("host"), Some(&*server.addr.to_string()));
        assert_eq!(req.header("user-agent"), Some("t/1"));
        assert_eq!(req.header("accept-encoding"), Some("gzip"));
        assert_eq!(req.header("content-length"), None);
    })
    .await
}

#[tokio::test]
async fn post_and_put_always_send_content_length() {
    within(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    tx.send(req).unwrap();
                    c.ok("").await;
                }
            }
        })
        .await;
        let client = client(&server).build().unwrap();
        client.send(Request::new(Method::Post, "/p")).await.unwrap();
        client.send(Request::put("/u", "abc")).await.unwrap();
        client
            .send(Request::new(Method::Delete, "/d"))
            .await
            .unwrap();
        let r1 = rx.recv().await.unwrap();
        assert_eq!((r1.method.as_str(), r1.header("content-length")), ("POST", Some("0")));
        let r2 = rx.recv().await.unwrap();
        assert_eq!(r2.header("content-length"), Some("3"));
        assert_eq!(r2.body, b"abc");
        let r3 = rx.recv().await.unwrap();
        assert_eq!(r3.header("content-length"), None);
    })
    .await
}

#[tokio::test]
async fn invalid_request_fails_without_touching_the_network() {
    within(async {
        let server = Server::start(|_, _c| async {}).await;
        let client = client(&server).build().unwrap();
        let err = client.send(Request::get("no-slash")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(!err.may_have_been_processed());
        assert_eq!(server.connections(), 0);
    })
    .await
}

#[tokio::test]
async fn bad_options_are_config_errors() {
    for b in [
        Client::builder("ftp://x"),
        Client::builder("http://x/path"),
        Client::builder("http://x:99999"),
        Client::builder("http://user@x"),
        Client::builder("http://x").max_connections(0),
        Client::builder("http://x").pipeline_depth(0),
        Client::builder("http://x").default_header("Bad Name", "v"),
    ] {
        let e = b.build().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{e}");
        assert!(e.method().is_none());
    }
    assert!(Client::builder("http://x/").build().is_ok());
    assert!(Client::builder("https://[::1]:8443").build().is_ok());
}
