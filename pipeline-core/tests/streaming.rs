//! Streamed request bodies and range requests, against a scripted raw TCP server.

mod support;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http1_pipeline::{Client, ContentRange, ErrorKind, Request, StreamBody};
use support::{within, Server};
use tokio::sync::mpsc;

fn one_conn(server: &Server) -> Client {
    Client::builder(&server.url())
        .max_connections(1)
        .pipeline_depth(4)
        .build()
        .unwrap()
}

/// Deterministic, non-repeating-looking test data.
fn data(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A source yielding `chunks` in order, then `tail` (an error, or the end).
struct Chunks {
    chunks: std::vec::IntoIter<Bytes>,
    tail: Option<io::Error>,
    pulled: Arc<AtomicUsize>,
}

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.pulled.fetch_add(1, Ordering::SeqCst);
        if let Some(c) = self.chunks.next() {
            return Poll::Ready(Some(Ok(c)));
        }
        Poll::Ready(self.tail.take().map(Err))
    }
}

fn chunks_of(bytes: &[u8], size: usize) -> Chunks {
    Chunks {
        chunks: bytes
            .chunks(size)
            .map(Bytes::copy_from_slice)
            .collect::<Vec<_>>()
            .into_iter(),
        tail: None,
        pulled: Arc::default(),
    }
}

/// A source that never ends: 64 KiB chunks for ever.
struct Endless(Arc<AtomicUsize>);

impl futures_core::Stream for Endless {
    type Item = Result<Bytes, io::Error>;
    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Bytes::from(vec![b'z'; 64 * 1024]))))
    }
}

/// Answers every request with the length of its body and its `Content-Length` or
/// `Transfer-Encoding`, and hands the body to the test.
async fn record_bodies(server_tx: mpsc::UnboundedSender<support::Req>) -> Server {
    Server::start(move |_, mut c| {
        let tx = server_tx.clone();
        async move {
            while let Some(req) = c.read_request().await {
                let framing = req
                    .header("content-length")
                    .map(|n| format!("length {n}"))
                    .or_else(|| req.header("transfer-encoding").map(|t| t.to_string()))
                    .unwrap_or_default();
                let answer = format!("{} bytes, {framing}", req.body.len());
                tx.send(req).unwrap();
                c.ok(&answer).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_streamed_body_of_known_length_arrives_byte_for_byte() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = record_bodies(tx).await;
        let client = one_conn(&server);
        let sent = data(3 * 1024 * 1024 + 17);
        let body = StreamBody::new(Some(sent.len() as u64), chunks_of(&sent, 64 * 1024));
        let r = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap();
        assert_eq!(
            r.text().await.unwrap(),
            format!("{} bytes, length {}", sent.len(), sent.len())
        );
        let req = rx.recv().await.unwrap();
        assert_eq!(req.method, "PUT");
        assert!(req.body == sent, "the body arrived changed");
    })
    .await
}

#[tokio::test]
async fn a_streamed_body_of_unknown_length_arrives_chunked_byte_for_byte() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = record_bodies(tx).await;
        let client = one_conn(&server);
        let sent = data(1024 * 1024 + 3);
        // From a reader: 256 KiB chunks.
        let body = StreamBody::reader(None, std::io::Cursor::new(sent.clone()));
        assert!(!body.is_restartable());
        let r = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap();
        assert_eq!(
            r.text().await.unwrap(),
            format!("{} bytes, chunked", sent.len())
        );
        let req = rx.recv().await.unwrap();
        assert!(req.header("content-length").is_none());
        assert!(req.body == sent, "the body arrived changed");
    })
    .await
}

#[tokio::test]
async fn a_streamed_request_is_never_pipelined() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    // Anything already here was written before this request's answer.
                    tx.send((req.target.clone(), c.more_bytes_now())).unwrap();
                    c.ok(&req.target).await;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        let body = StreamBody::new(Some(6), chunks_of(b"abcdef", 2));
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::put("/b", Bytes::new()).stream_body(body));
        let c = client.send(Request::get("/c"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "/b");
        assert_eq!(c.await.unwrap().text().await.unwrap(), "/c");
        let seen: Vec<_> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
        assert_eq!(seen[0], ("/a".to_string(), false), "streamed behind GET");
        assert_eq!(seen[1], ("/b".to_string(), false), "GET behind streamed");
        assert_eq!(server.connections(), 1);
    })
    .await
}

/// A server whose first connection reads one whole request and closes without an answer;
/// later connections answer with the body's length.
async fn closes_the_first_connection(tx: mpsc::UnboundedSender<Vec<u8>>) -> Server {
    Server::start(move |i, mut c| {
        let tx = tx.clone();
        async move {
            while let Some(req) = c.read_request().await {
                tx.send(req.body.clone()).unwrap();
                if i == 0 {
                    return;
                }
                c.ok(&format!("{} bytes", req.body.len())).await;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_restartable_body_is_re_sent_after_an_unannounced_close() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = closes_the_first_connection(tx).await;
        let client = one_conn(&server);
        let sent = Arc::new(data(300_000));
        let made = Arc::new(AtomicUsize::new(0));
        let (s, m) = (sent.clone(), made.clone());
        let body = StreamBody::restartable(Some(sent.len() as u64), move || {
            m.fetch_add(1, Ordering::SeqCst);
            chunks_of(&s, 50_000)
        });
        assert!(body.is_restartable());
        let r = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "300000 bytes");
        assert_eq!(made.load(Ordering::SeqCst), 2);
        for _ in 0..2 {
            assert!(rx.recv().await.unwrap() == *sent, "a body arrived changed");
        }
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn a_restartable_reader_is_opened_again_for_the_re_send() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = closes_the_first_connection(tx).await;
        let client = one_conn(&server);
        let opened = Arc::new(AtomicUsize::new(0));
        let o = opened.clone();
        let body = StreamBody::restartable_reader(None, move || {
            o.fetch_add(1, Ordering::SeqCst);
            async { Ok(std::io::Cursor::new(data(70_000))) }
        });
        let r = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "70000 bytes");
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        assert!(rx.recv().await.unwrap() == data(70_000));
        assert!(rx.recv().await.unwrap() == data(70_000));
    })
    .await
}

#[tokio::test]
async fn a_one_shot_body_is_not_re_sent_and_the_error_says_it_may_have_been_processed() {
    within(async {
        let (tx, _rx) = mpsc::unbounded_channel();
        let server = closes_the_first_connection(tx).await;
        let client = one_conn(&server);
        let body = StreamBody::new(Some(5), chunks_of(b"hello", 5));
        let e = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert!(e.may_have_been_processed());
        let text = e.to_string();
        assert!(text.starts_with("PUT http://"), "{text}");
        assert!(text.contains("may have been processed"), "{text}");
        assert!(text.contains("cannot be produced again"), "{text}");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn a_failed_opening_of_a_restartable_reader_is_a_body_error() {
    within(async {
        let (tx, _rx) = mpsc::unbounded_channel();
        let server = record_bodies(tx).await;
        let client = one_conn(&server);
        let body = StreamBody::restartable_reader(Some(10), || async {
            Err::<std::io::Cursor<Vec<u8>>, _>(io::Error::new(
                io::ErrorKind::NotFound,
                "no such image file",
            ))
        });
        let e = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RequestBody);
        assert!(e.to_string().contains("no such image file"), "{e}");
    })
    .await
}

#[tokio::test]
async fn a_body_source_error_fails_only_its_request() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            // Reads heads; answers GETs; waits for the streamed request's connection to
            // close.
            while let Some(req) = c.read_head().await {
                if req.method == "GET" {
                    c.ok(&req.target).await;
                } else {
                    c.wait_closed().await;
                    return;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        let mut source = chunks_of(&data(10_000), 4096);
        source.tail = Some(io::Error::other("disk on fire"));
        let body = StreamBody::new(None, source);
        let put = client.send(Request::put("/disk", Bytes::new()).stream_body(body));
        let get = client.send(Request::get("/after"));
        let e = put.await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::RequestBody);
        let text = e.to_string();
        assert!(text.contains("request body source failed"), "{text}");
        assert!(text.contains("disk on fire"), "{text}");
        assert!(text.contains("may have been processed"), "{text}");
        assert_eq!(get.await.unwrap().text().await.unwrap(), "/after");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn a_source_that_lies_about_its_length_fails_and_closes_the_connection() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            while let Some(req) = c.read_head().await {
                if req.method == "GET" {
                    c.ok(&req.target).await;
                } else {
                    c.wait_closed().await;
                    return;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        for (announced, actual, want) in [
            (10, 5, "ended after 5 of the 10 bytes it announced"),
            (3, 5, "produced more than the 3 bytes it announced"),
        ] {
            let body = StreamBody::new(Some(announced), chunks_of(&data(actual), 5));
            let e = client
                .send(Request::put("/disk", Bytes::new()).stream_body(body))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::RequestBody);
            assert!(e.to_string().contains(want), "{e}");
            assert!(e.to_string().contains("connection was closed"), "{e}");
            // The connection is gone; the next request works on a new one.
            assert_eq!(
                client
                    .send(Request::get("/next"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
                "/next"
            );
        }
        // One connection per failed request, plus the one that carried `/next` (and
        // then the second streamed request).
        assert_eq!(server.connections(), 3);
    })
    .await
}

#[tokio::test]
async fn an_early_final_response_stops_the_body_and_is_delivered() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                let head = c.read_head().await.unwrap();
                assert_eq!(head.header("transfer-encoding"), Some("chunked"));
                c.write("HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")
                    .await;
                // Drain until the client closes: it must stop writing and close.
                c.wait_closed().await;
                return;
            }
            while let Some(req) = c.read_request().await {
                c.ok(&req.target).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let pulled = Arc::new(AtomicUsize::new(0));
        let body = StreamBody::new(None, Endless(pulled.clone()));
        let r = client
            .send(Request::put("/disk", Bytes::new()).stream_body(body))
            .await
            .unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(r.text().await.unwrap(), "too big!");
        let next = client.send(Request::get("/next")).await.unwrap();
        assert_eq!(next.text().await.unwrap(), "/next");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn dropping_a_streamed_request_during_its_body_stops_it_and_closes_the_connection() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                if i == 0 {
                    c.read_head().await.unwrap();
                    tx.send("head").unwrap();
                    // Drains the endless body until the client closes.
                    c.wait_closed().await;
                    tx.send("closed").unwrap();
                    return;
                }
                while let Some(req) = c.read_request().await {
                    c.ok(&req.target).await;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        let pulled = Arc::new(AtomicUsize::new(0));
        let put = client.send(
            Request::put("/disk", Bytes::new()).stream_body(StreamBody::new(None, Endless(pulled))),
        );
        let after = client.send(Request::get("/after"));
        assert_eq!(rx.recv().await, Some("head"));
        drop(put);
        assert_eq!(rx.recv().await, Some("closed"));
        assert_eq!(after.await.unwrap().text().await.unwrap(), "/after");
    })
    .await
}

#[tokio::test]
async fn range_requests_send_the_range_and_parse_the_content_range() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    // A range of a gzip body could not be decoded: never asked for.
                    if req.header("range").is_some() {
                        assert_eq!(req.header("accept-encoding"), Some("identity"));
                    }
                    tx.send(req.header("range").map(str::to_string)).unwrap();
                    let reply = match req.target.as_str() {
                        "/good" => "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\nContent-Length: 10\r\n\r\n0123456789",
                        "/open" => "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 90-99/*\r\nContent-Length: 10\r\n\r\n0123456789",
                        "/bad" => "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-x/100\r\nContent-Length: 0\r\n\r\n",
                        "/beyond" => "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */100\r\nContent-Length: 0\r\n\r\n",
                        _ => "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nall",
                    };
                    c.write(reply).await;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        let r = client
            .send(Request::get("/good").range(10, Some(19)))
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap().as_deref(), Some("bytes=10-19"));
        assert_eq!(r.status(), 206);
        let cr = r.content_range().unwrap().unwrap();
        assert_eq!((cr.first(), cr.last(), cr.len()), (10, 19, 10));
        assert_eq!(cr.complete_length(), Some(100));
        assert_eq!(r.text().await.unwrap(), "0123456789");

        let r = client
            .send(Request::get("/open").range(90, None))
            .await
            .unwrap();
        assert_eq!(rx.recv().await.unwrap().as_deref(), Some("bytes=90-"));
        assert_eq!(
            r.content_range().unwrap(),
            ContentRange::new(90, 99, None)
        );

        let r = client
            .send(Request::get("/bad").range(10, Some(19)))
            .await
            .unwrap();
        rx.recv().await.unwrap();
        let e = r.content_range().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Range);
        assert!(e.to_string().contains("malformed Content-Range header"), "{e}");
        assert!(e.to_string().contains("\"bytes 10-x/100\""), "{e}");

        let r = client
            .send(Request::get("/beyond").range(200, None))
            .await
            .unwrap();
        rx.recv().await.unwrap();
        assert_eq!(r.status(), 416);
        let e = r.content_range().unwrap_err();
        assert!(e.to_string().contains("the resource has 100 bytes"), "{e}");

        // A server that ignores the range: 200 and no Content-Range.
        let r = client
            .send(Request::get("/ignored").range(1, Some(2)))
            .await
            .unwrap();
        rx.recv().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.content_range().unwrap(), None);

        // An inverted range is refused before anything is sent.
        let e = client
            .send(Request::get("/x").range(5, Some(2)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(!e.may_have_been_processed());
        assert!(rx.try_recv().is_err());
    })
    .await
}

#[tokio::test]
async fn a_tls_alert_on_a_plain_connection_says_to_use_https_and_not_processed() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            if c.read_request().await.is_some() {
                // What a TLS server sends to plain text: an alert record.
                c.write(b"\x15\x03\x03\x00\x02\x02\x46").await;
                c.linger_close().await;
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .build()
            .unwrap();
        let e = client.send(Request::get("/api")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ServerSpeaksTls);
        assert!(!e.may_have_been_processed());
        let text = e.to_string();
        assert!(text.contains("speaks TLS here; use https://"), "{text}");
        assert!(text.contains("the request was not processed"), "{text}");
        // Not retried: one connection.
        assert_eq!(server.connections(), 1);
    })
    .await
}
