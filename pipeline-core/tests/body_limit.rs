//! The response body size limit (`max_body_bytes`) against a scripted raw TCP server:
//! announced lengths, endless chunked bodies (read whole, streamed, or dropped), gzip
//! bombs, bodies exactly at the limit, and requests pipelined behind an oversized one.

mod support;

use http1_pipeline::{Client, Error, ErrorKind, Request};
use support::{within, Conn, Server};
use tokio::sync::mpsc;

const LIMIT: u64 = 64 * 1024;

fn limited(server: &Server) -> Client {
    Client::builder(&server.url())
        .max_body_bytes(Some(LIMIT))
        .request_timeout(None)
        .build()
        .unwrap()
}

/// The error of a request, whether it came with the response future or from its body.
async fn body_error(client: &Client, req: Request) -> Error {
    match client.send(req).await {
        Ok(resp) => resp
            .bytes()
            .await
            .expect_err("the oversized body was accepted"),
        Err(e) => e,
    }
}

fn assert_too_large(e: &Error, path: &str, limit: u64) {
    assert_eq!(e.kind(), ErrorKind::BodyTooLarge, "{e}");
    assert!(e.may_have_been_processed(), "{e}");
    assert!(e.url().is_some_and(|u| u.ends_with(path)), "{e}");
    let text = e.to_string();
    assert!(text.starts_with("GET http://"), "{text}");
    assert!(text.contains(&limit.to_string()), "{text}");
}

/// Writes a chunked response head, then 1 KiB chunks until the client closes.
async fn endless_chunked(c: &mut Conn) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await;
    let mut chunk = b"400\r\n".to_vec();
    chunk.extend_from_slice(&[b'x'; 1024]);
    chunk.extend_from_slice(b"\r\n");
    use tokio::io::AsyncWriteExt;
    while c.stream.write_all(&chunk).await.is_ok() {}
}

/// A server whose connections answer the first request with an endless chunked body and
/// report when the client closed the connection.
async fn endless_server() -> (Server, mpsc::UnboundedReceiver<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server::start(move |_, mut c| {
        let tx = tx.clone();
        async move {
            if c.read_request().await.is_some() {
                endless_chunked(&mut c).await;
                let _ = tx.send(());
            }
        }
    })
    .await;
    (server, rx)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Answers every request with this raw response.
async fn fixed_server(response: Vec<u8>) -> Server {
    Server::start(move |_, mut c| {
        let response = response.clone();
        async move {
            while c.read_request().await.is_some() {
                c.write(&response).await;
            }
        }
    })
    .await
}

fn length_response(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[tokio::test]
async fn content_length_over_the_limit_is_refused_when_the_head_arrives() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                if c.read_request().await.is_some() {
                    // Announces more than the limit and sends none of it.
                    c.write(format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
                        LIMIT + 1
                    ))
                    .await;
                    c.wait_closed().await;
                    let _ = tx.send(());
                }
            }
        })
        .await;
        let client = limited(&server);
        let e = body_error(&client, Request::get("/big")).await;
        assert_too_large(&e, "/big", LIMIT);
        rx.recv()
            .await
            .expect("the server saw the connection closed");
    })
    .await
}

#[tokio::test]
async fn endless_chunked_body_fails_and_its_connection_is_closed() {
    within(async {
        let (server, mut closed) = endless_server().await;
        let client = limited(&server);
        let e = body_error(&client, Request::get("/endless")).await;
        assert_too_large(&e, "/endless", LIMIT);
        closed
            .recv()
            .await
            .expect("the server saw the connection closed");
    })
    .await
}

#[tokio::test]
async fn endless_chunked_body_streamed_chunk_by_chunk_fails_past_the_limit() {
    within(async {
        let (server, mut closed) = endless_server().await;
        let client = limited(&server);
        let mut body = client
            .send(Request::get("/stream"))
            .await
            .expect("the head arrives before the limit")
            .into_body();
        let mut received = 0u64;
        let e = loop {
            match body.chunk().await {
                Ok(Some(c)) => received += c.len() as u64,
                Ok(None) => panic!("an endless body ended"),
                Err(e) => break e,
            }
        };
        assert!(received <= LIMIT, "{received} bytes passed the limit");
        assert_too_large(&e, "/stream", LIMIT);
        closed
            .recv()
            .await
            .expect("the server saw the connection closed");
    })
    .await
}

#[tokio::test]
async fn endless_chunked_body_dropped_by_the_caller_still_closes_its_connection() {
    within(async {
        let (server, mut closed) = endless_server().await;
        let client = limited(&server);
        // The response (or its early error) is dropped without reading the body: the
        // connection discards what arrives, and must stop at the limit.
        drop(client.send(Request::get("/dropped")).await);
        closed
            .recv()
            .await
            .expect("the server saw the connection closed");
    })
    .await
}

#[tokio::test]
async fn gzip_bomb_fails_once_the_decoded_size_passes_the_limit() {
    within(async {
        let decoded = vec![0u8; 16 * 1024 * 1024];
        let packed = gzip(&decoded);
        assert!(
            (packed.len() as u64) < LIMIT,
            "the bomb is small on the wire"
        );
        let server = fixed_server(length_response("Content-Encoding: gzip\r\n", &packed)).await;
        let client = limited(&server);
        let e = body_error(&client, Request::get("/bomb")).await;
        assert_too_large(&e, "/bomb", LIMIT);
        assert!(e.to_string().contains("gzip"), "{e}");
    })
    .await
}

#[tokio::test]
async fn gzip_bomb_streamed_chunk_by_chunk_hands_out_no_more_than_the_limit() {
    within(async {
        let packed = gzip(&vec![7u8; 16 * 1024 * 1024]);
        let server = fixed_server(length_response("Content-Encoding: gzip\r\n", &packed)).await;
        let client = limited(&server);
        let mut body = client
            .send(Request::get("/bomb"))
            .await
            .unwrap()
            .into_body();
        let mut received = 0u64;
        let e = loop {
            match body.chunk().await {
                Ok(Some(c)) => received += c.len() as u64,
                Ok(None) => panic!("the bomb was decoded whole"),
                Err(e) => break e,
            }
        };
        assert!(
            received <= LIMIT,
            "{received} decoded bytes passed the limit"
        );
        assert_too_large(&e, "/bomb", LIMIT);
    })
    .await
}

#[tokio::test]
async fn bodies_exactly_at_the_limit_are_delivered_whole() {
    within(async {
        let full = vec![b'a'; LIMIT as usize];
        // Content-Length.
        let server = fixed_server(length_response("", &full)).await;
        let client = limited(&server);
        let got = client.send(Request::get("/len")).await.unwrap();
        assert_eq!(got.bytes().await.unwrap().len() as u64, LIMIT);
        // Chunked, in 1 KiB chunks.
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for piece in full.chunks(1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let server = fixed_server(chunked).await;
        let client = limited(&server);
        let got = client.send(Request::get("/chunked")).await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), full);
        // Gzip, decoded size exactly at the limit.
        let packed = gzip(&full);
        let server = fixed_server(length_response("Content-Encoding: gzip\r\n", &packed)).await;
        let client = limited(&server);
        let got = client.send(Request::get("/gzip")).await.unwrap();
        assert_eq!(got.bytes().await.unwrap(), full);
        // The same connection still works after a body at the limit.
        let again = client.send(Request::get("/gzip")).await.unwrap();
        assert_eq!(again.bytes().await.unwrap(), full);
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn request_limit_overrides_the_client_limit() {
    within(async {
        let body = vec![b'b'; 1000];
        let server = fixed_server(length_response("", &body)).await;
        let client = limited(&server);
        let e = body_error(&client, Request::get("/small").max_body_bytes(Some(999))).await;
        assert_too_large(&e, "/small", 999);
        let unlimited = Client::builder(&server.url()).build().unwrap();
        let got = unlimited
            .send(Request::get("/ok").max_body_bytes(Some(1000)))
            .await
            .unwrap();
        assert_eq!(got.bytes().await.unwrap(), body);
    })
    .await
}

#[tokio::test]
async fn request_pipelined_behind_an_oversized_body_is_retried_and_succeeds() {
    within(async {
        let (tx, mut seen) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                if i == 0 {
                    // Both requests arrive on this connection before anything is answered.
                    let a = c.read_request().await.unwrap();
                    let b = c.read_request().await.unwrap();
                    tx.send((i, a.target)).unwrap();
                    tx.send((i, b.target)).unwrap();
                    endless_chunked(&mut c).await;
                } else {
                    while let Some(req) = c.read_request().await {
                        tx.send((i, req.target.clone())).unwrap();
                        c.ok(&format!("answer to {}", req.target)).await;
                    }
                }
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_body_bytes(Some(LIMIT))
            .max_connections(1)
            .pipeline_depth(2)
            .request_timeout(None)
            .build()
            .unwrap();
        let big = client.send(Request::get("/big"));
        let next = client.send(Request::get("/next"));
        let e = match big.await {
            Ok(resp) => resp
                .bytes()
                .await
                .expect_err("the endless body was accepted"),
            Err(e) => e,
        };
        assert_too_large(&e, "/big", LIMIT);
        let resp = next.await.expect("the pipelined request is retried");
        assert_eq!(resp.text().await.unwrap(), "answer to /next");
        assert_eq!(seen.recv().await.unwrap(), (0, "/big".to_string()));
        assert_eq!(seen.recv().await.unwrap(), (0, "/next".to_string()));
        assert_eq!(seen.recv().await.unwrap(), (1, "/next".to_string()));
    })
    .await
}
