//! The item server answers numbered items with bodies of the requested size, in
//! order on a pipelined connection, and counts connections and requests.

use std::future::Future;
use std::time::Duration;

use ovirt_tests::server::{item_body, ItemServer, DEFAULT_BODY_SIZE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Guards against a hang only.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
}

#[test]
fn item_bodies_have_the_requested_size_and_differ_between_items() {
    assert_eq!(item_body(7, 1024).len(), 1024);
    assert!(item_body(7, 1024).starts_with(b"item 7\n"));
    assert_eq!(item_body(7, 1024), item_body(7, 1024));
    // The fillers differ too, not only the prefixes.
    assert_ne!(item_body(7, 1024)[8..], item_body(8, 1024)[8..]);
    assert_eq!(item_body(12345, 3).as_ref(), b"ite");
    assert!(item_body(3, 0).is_empty());
}

#[tokio::test]
async fn serves_the_item_asked_for_with_the_configured_body_size() {
    let (addr, server) = ItemServer::start(100).await.unwrap();
    let client = reqwest::Client::new();
    for n in [0u64, 1, 42, 99999] {
        let response = bounded("GET", client.get(format!("http://{addr}/items/{n}")).send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.bytes().await.unwrap();
        assert_eq!(body, item_body(n, 100));
    }
    assert_eq!(server.requests(), 4);
    assert_eq!(server.addr(), addr);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_404() {
    let (addr, server) = ItemServer::start(DEFAULT_BODY_SIZE).await.unwrap();
    let client = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/items/abc"),
        (reqwest::Method::GET, "/nothing"),
        (reqwest::Method::POST, "/items/1"),
    ] {
        let response = bounded(
            "request",
            client
                .request(method.clone(), format!("http://{addr}{path}"))
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn answers_pipelined_requests_in_order_on_one_connection() {
    let (addr, server) = ItemServer::start(DEFAULT_BODY_SIZE).await.unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // All requests leave in one write before any answer is read.
    let mut requests = String::new();
    let items = [5u64, 3, 9, 1, 7];
    for (i, n) in items.iter().enumerate() {
        let close = if i == items.len() - 1 {
            "Connection: close\r\n"
        } else {
            ""
        };
        requests.push_str(&format!(
            "GET /items/{n} HTTP/1.1\r\nHost: t\r\n{close}\r\n"
        ));
    }
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    bounded("reading the answers", stream.read_to_end(&mut raw))
        .await
        .unwrap();
    // Each answer's body follows its head; find them in order.
    let mut at = 0;
    for n in items {
        let body = item_body(n, DEFAULT_BODY_SIZE);
        let found = raw[at..]
            .windows(body.len())
            .position(|w| w == body.as_ref())
            .unwrap_or_else(|| panic!("the body of item {n} is missing or out of order"));
        at += found + body.len();
    }
    assert_eq!(
        raw.windows(8).filter(|w| w == b"HTTP/1.1").count(),
        items.len()
    );
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests(), items.len() as u64);
}

#[tokio::test]
async fn stats_count_connections_and_item_requests() {
    let (addr, _server) = ItemServer::start(10).await.unwrap();
    let client = reqwest::Client::new();
    for n in 0..3 {
        client
            .get(format!("http://{addr}/items/{n}"))
            .send()
            .await
            .unwrap();
    }
    // The blocking helper runs off the runtime's threads.
    let stats = tokio::task::spawn_blocking(move || ovirt_tests::load::server_stats(addr))
        .await
        .unwrap()
        .unwrap();
    // One keep-alive connection for the three GETs, one for the stats request.
    assert_eq!(stats, (2, 3));
}
