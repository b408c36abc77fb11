//! One test per rule of RFC 9112 section 9.3 handling, against a scripted raw TCP server.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http1_pipeline::{Client, ErrorKind, Method, Request};
use support::{within, Server};
use tokio::sync::mpsc;

/// A client with one connection and pipelining depth 4.
fn one_conn(server: &Server) -> Client {
    Client::builder(&server.url())
        .max_connections(1)
        .pipeline_depth(4)
        .build()
        .unwrap()
}

/// Answers every request with its own target as the body.
async fn echo_target(mut c: support::Conn) {
    while let Some(req) = c.read_request().await {
        c.ok(&req.target).await;
    }
}

async fn body_of(client: &Client, path: &str) -> String {
    let r = client.send(Request::get(path)).await.unwrap();
    r.text().await.unwrap()
}

#[tokio::test]
async fn pipelines_requests_and_matches_responses_in_order() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            // All four requests arrive before any answer: they were pipelined.
            let mut reqs = Vec::new();
            for _ in 0..4 {
                reqs.push(c.read_request().await.unwrap());
            }
            for r in reqs {
                c.ok(&format!("answer to {}", r.target)).await;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let futs: Vec<_> = (0..4)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            let body = f.await.unwrap().text().await.unwrap();
            assert_eq!(body, format!("answer to /r{i}"));
        }
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn close_after_response_k_of_n_retries_the_unanswered_ones() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                let mut reqs = Vec::new();
                for _ in 0..4 {
                    reqs.push(c.read_request().await.unwrap());
                }
                // Answer two of four, then close.
                for r in &reqs[..2] {
                    c.ok(&r.target).await;
                }
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let futs: Vec<_> = (0..4)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn retried_request_goes_alone_on_the_new_connection() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                if i == 0 {
                    for _ in 0..3 {
                        c.read_request().await.unwrap();
                    }
                    return; // close without answering
                }
                let first = c.read_request().await.unwrap();
                // Nothing else may arrive before the first retried request is answered.
                tx.send(c.more_bytes_now()).unwrap();
                c.ok(&first.target).await;
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let futs: Vec<_> = (0..3)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        assert!(
            !rx.recv().await.unwrap(),
            "a second request came before the answer"
        );
    })
    .await
}

#[tokio::test]
async fn post_is_never_pipelined() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    let more = c.more_bytes_now();
                    tx.send((req.method.clone(), more)).unwrap();
                    c.ok(&req.target).await;
                }
            }
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::post("/b", "x"));
        let c = client.send(Request::get("/c"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "/b");
        assert_eq!(c.await.unwrap().text().await.unwrap(), "/c");
        let seen: Vec<_> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
        assert_eq!(
            seen[0],
            ("GET".to_string(), false),
            "POST pipelined behind GET"
        );
        assert_eq!(
            seen[1],
            ("POST".to_string(), false),
            "GET pipelined behind POST"
        );
    })
    .await
}

#[tokio::test]
async fn connection_close_header_moves_later_requests_to_a_new_connection() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                let first = c.read_request().await.unwrap();
                let _second = c.read_request().await.unwrap();
                let body = first.target;
                c.write(format!(
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{}",
                    body.len(),
                    body
                ))
                .await;
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "/b");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn http10_response_without_keep_alive_closes_the_connection() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                c.read_request().await.unwrap();
                c.write("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                c.wait_closed().await;
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let r = client.send(Request::get("/a")).await.unwrap();
        assert!(r.is_http10());
        assert_eq!(r.text().await.unwrap(), "ok");
        assert_eq!(body_of(&client, "/b").await, "/b");
        assert_eq!(server.connections(), 2);
    })
    .await
}

/// More body bytes than the client holds back before it hands a response over: the
/// response is streamed, so a failure after it can no longer re-send the request.
const STREAMED: usize = 300 * 1024;

#[tokio::test]
async fn close_in_the_middle_of_a_streamed_body_fails_the_body() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.write(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                2 * STREAMED,
                "a".repeat(STREAMED)
            ))
            .await;
        })
        .await;
        let client = one_conn(&server);
        let r = client.send(Request::get("/a")).await.unwrap();
        let err = r.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.may_have_been_processed());
        assert_eq!(err.url(), Some(&*format!("{}/a", server.url())));
    })
    .await
}

#[tokio::test]
async fn garbage_response_fails_that_request_after_its_retries_and_the_others_succeed() {
    within(async {
        // `/a` always gets garbage; anything else is answered.
        let server = Server::start(|_, mut c| async move {
            while let Some(req) = c.read_request().await {
                if req.target == "/a" {
                    c.write("SSH-2.0-Nope\r\n\r\n").await;
                    c.wait_closed().await;
                    return;
                }
                c.ok(&req.target).await;
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(4)
            .max_retries(2)
            .build()
            .unwrap();
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        let err = a.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
        assert!(err.to_string().starts_with("GET http://"), "{err}");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "/b");
        // Sent once and re-sent twice (its budget); `/b` got its own connection.
        assert_eq!(server.connections(), 4);
    })
    .await
}

#[tokio::test]
async fn stalled_server_hits_the_request_timeout() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await;
            c.wait_closed().await;
        })
        .await;
        let client = Client::builder(&server.url())
            .request_timeout(Some(Duration::from_millis(1000)))
            .build()
            .unwrap();
        let err = client.send(Request::get("/stall")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(err.is_timeout());
    })
    .await
}

#[tokio::test]
async fn stall_in_the_middle_of_a_body_hits_the_request_timeout() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await;
            c.write(format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                2 * STREAMED,
                "p".repeat(STREAMED)
            ))
            .await;
            c.wait_closed().await;
        })
        .await;
        let client = Client::builder(&server.url())
            .request_timeout(Some(Duration::from_millis(1000)))
            .build()
            .unwrap();
        let resp = client.send(Request::get("/stall")).await.unwrap();
        let err = resp.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    })
    .await
}

#[tokio::test]
async fn timeout_of_a_pipelined_request_closes_the_socket_and_retries_the_others() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                if i == 0 {
                    c.read_request().await.unwrap();
                    c.read_request().await.unwrap();
                    // Never answer; report when the client gives up on the socket.
                    c.wait_closed().await;
                    tx.send("closed").unwrap();
                    return;
                }
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a").timeout(Some(Duration::from_millis(1000))));
        let b = client.send(Request::get("/b").timeout(None));
        let err = a.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert_eq!(b.await.unwrap().text().await.unwrap(), "/b");
        assert_eq!(rx.recv().await, Some("closed"));
    })
    .await
}

#[tokio::test]
async fn interim_responses_are_skipped_without_popping_the_queue() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.read_request().await.unwrap();
            c.write(
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n\
                 HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
            )
            .await;
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "first");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "second");
    })
    .await
}

#[tokio::test]
async fn head_204_and_304_responses_have_no_body() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            for _ in 0..4 {
                c.read_request().await.unwrap();
            }
            c.write(
                "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
                 HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n\
                 HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n\
                 HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast",
            )
            .await;
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::head("/a"));
        let b = client.send(Request::get("/b"));
        let c = client.send(Request::get("/c"));
        let d = client.send(Request::get("/d"));
        let a = a.await.unwrap();
        assert_eq!(a.headers().get("content-length"), Some("1000"));
        assert!(a.bytes().await.unwrap().is_empty());
        let b = b.await.unwrap();
        assert_eq!(b.status(), 204);
        assert!(b.bytes().await.unwrap().is_empty());
        let c = c.await.unwrap();
        assert_eq!(c.status(), 304);
        assert!(c.bytes().await.unwrap().is_empty());
        assert_eq!(d.await.unwrap().text().await.unwrap(), "last");
    })
    .await
}

#[tokio::test]
async fn chunked_bodies_with_extensions_and_trailers_are_decoded() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.read_request().await.unwrap();
            c.write(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5;ext=1\r\nhello\r\n6\r\n world\r\n0;end\r\nX-Trailer: t\r\n\r\n\
                 HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
            )
            .await;
            // The second body arrives in two parts.
            c.write("0\r\n\r\n").await;
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        assert_eq!(a.await.unwrap().text().await.unwrap(), "hello world");
        assert_eq!(b.await.unwrap().text().await.unwrap(), "abc");
        assert_eq!(body_of(&client, "/c").await, "/c");
    })
    .await
}

#[tokio::test]
async fn close_delimited_body_ends_at_close() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                c.read_request().await.unwrap();
                c.write("HTTP/1.1 200 OK\r\n\r\nuntil the end").await;
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        assert_eq!(body_of(&client, "/a").await, "until the end");
        assert_eq!(body_of(&client, "/b").await, "/b");
    })
    .await
}

#[tokio::test]
async fn dropped_future_before_writing_is_never_sent() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    tx.send(req.target.clone()).unwrap();
                    c.ok(&req.target).await;
                }
            }
        })
        .await;
        // Depth 1: the second request waits while the first is in flight.
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(1)
            .build()
            .unwrap();
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        let c = client.send(Request::get("/c"));
        drop(b);
        assert_eq!(a.await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(c.await.unwrap().text().await.unwrap(), "/c");
        assert_eq!(rx.recv().await.unwrap(), "/a");
        assert_eq!(rx.recv().await.unwrap(), "/c");
    })
    .await
}

#[tokio::test]
async fn dropped_future_after_writing_has_its_response_discarded() {
    within(async {
        let (go_tx, go_rx) = mpsc::unbounded_channel::<()>();
        let (got_tx, mut got_rx) = mpsc::unbounded_channel::<()>();
        let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
        let server = Server::start(move |_, mut c| {
            let go_rx = go_rx.clone();
            let got_tx = got_tx.clone();
            async move {
                let a = c.read_request().await.unwrap();
                let b = c.read_request().await.unwrap();
                // Both were written; wait until the test dropped the first future.
                got_tx.send(()).unwrap();
                let mut go = go_rx.lock().await.take().unwrap();
                go.recv().await;
                c.ok(&format!("answer to {}", a.target)).await;
                c.ok(&format!("answer to {}", b.target)).await;
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let a = client.send(Request::get("/a"));
        let b = client.send(Request::get("/b"));
        got_rx.recv().await.unwrap();
        drop(a);
        go_tx.send(()).unwrap();
        assert_eq!(b.await.unwrap().text().await.unwrap(), "answer to /b");
        assert_eq!(body_of(&client, "/c").await, "/c");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn reset_connection_retries_idempotent_requests() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                c.read_request().await.unwrap();
                c.reset();
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        assert_eq!(body_of(&client, "/a").await, "/a");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn reset_connection_fails_a_post_as_maybe_processed() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.reset();
        })
        .await;
        let client = one_conn(&server);
        let err = client.send(Request::post("/p", "x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.may_have_been_processed());
        assert_eq!(err.method(), Some(&Method::Post));
        assert!(err.to_string().contains("may have been processed"), "{err}");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn retries_are_bounded() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .max_retries(2)
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.may_have_been_processed());
        assert_eq!(server.connections(), 3);
    })
    .await
}

#[tokio::test]
async fn oversized_response_head_is_a_header_limit_error() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            let big = "x".repeat(2000);
            c.write(format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\n\r\n"))
                .await;
            c.wait_closed().await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_header_bytes(1024)
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HeaderLimit, "{err}");
        assert!(err.to_string().contains("max_header_bytes"), "{err}");
    })
    .await
}

#[tokio::test]
async fn too_many_headers_is_a_header_limit_error() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            let mut r = String::from("HTTP/1.1 200 OK\r\n");
            for i in 0..20 {
                r.push_str(&format!("X-{i}: v\r\n"));
            }
            r.push_str("Content-Length: 0\r\n\r\n");
            c.write(r).await;
            c.wait_closed().await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_headers(10)
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::HeaderLimit, "{err}");
        assert!(err.to_string().contains("max_headers"), "{err}");
    })
    .await
}

#[tokio::test]
async fn backpressure_keeps_at_most_connections_times_depth_in_flight() {
    within(async {
        let outstanding = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let (o, m) = (outstanding.clone(), max_seen.clone());
        let server = Server::start(move |_, mut c| {
            let (o, m) = (o.clone(), m.clone());
            async move {
                let mut pending = Vec::new();
                loop {
                    let Some(req) = c.read_request().await else {
                        return;
                    };
                    let now = o.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    pending.push(req);
                    if c.more_bytes_now() {
                        continue;
                    }
                    for r in pending.drain(..) {
                        o.fetch_sub(1, Ordering::SeqCst);
                        c.ok(&r.target).await;
                    }
                }
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(2)
            .pipeline_depth(2)
            .build()
            .unwrap();
        let futs: Vec<_> = (0..40)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        let max = max_seen.load(Ordering::SeqCst);
        assert!(max <= 4, "server saw {max} requests in flight at once");
        assert!(server.connections() <= 2);
    })
    .await
}

#[tokio::test]
async fn slow_reading_server_and_large_bodies_do_not_deadlock() {
    within(async {
        // The server reads a little at a time and answers each request as soon as it is
        // complete, with a large body: while it writes that answer it reads nothing, so the
        // client must keep reading while its own writes are blocked.
        let server = Server::start(|_, mut c| async move {
            loop {
                while let Some(req) = c.parse_buffered() {
                    let text = format!("{} {}", req.target, req.body.len());
                    let body = text + &" ".repeat(2 * 1024 * 1024);
                    c.write(format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                        body.len(),
                        body
                    ))
                    .await;
                }
                if c.read_some(8 * 1024).await == 0 {
                    return;
                }
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(8)
            .build()
            .unwrap();
        let body = bytes::Bytes::from(vec![b'x'; 1024 * 1024]);
        let futs: Vec<_> = (0..16)
            .map(|i| client.send(Request::put(format!("/u{i}"), body.clone())))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            let text = f.await.unwrap().text().await.unwrap();
            assert_eq!(text.trim_end(), format!("/u{i} {}", 1024 * 1024));
        }
    })
    .await
}

#[tokio::test]
async fn dropping_the_client_closes_idle_connections() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                let req = c.read_request().await.unwrap();
                c.ok(&req.target).await;
                c.wait_closed().await;
                tx.send("closed").unwrap();
            }
        })
        .await;
        let client = one_conn(&server);
        assert_eq!(body_of(&client, "/a").await, "/a");
        drop(client);
        assert_eq!(rx.recv().await, Some("closed"));
    })
    .await
}

#[tokio::test]
async fn requests_in_flight_finish_after_the_client_is_dropped() {
    within(async {
        let server = Server::start(|_, c| echo_target(c)).await;
        let client = one_conn(&server);
        let futs: Vec<_> = (0..6)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        drop(client);
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
    })
    .await
}

#[tokio::test]
async fn connect_failure_names_the_request() {
    within(async {
        // A port with nothing listening.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let client = Client::builder(&format!("http://{addr}")).build().unwrap();
        let err = client.send(Request::get("/x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
        assert!(!err.may_have_been_processed());
        assert_eq!(err.url(), Some(&*format!("http://{addr}/x")));
    })
    .await
}

#[tokio::test]
async fn request_dropped_while_its_body_is_written_is_finished_and_the_socket_stays_in_sync() {
    within(async {
        let (started_tx, mut started_rx) = mpsc::unbounded_channel::<()>();
        let (go_tx, go_rx) = mpsc::unbounded_channel::<()>();
        let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
        let server = Server::start(move |_, mut c| {
            let (started_tx, go_rx) = (started_tx.clone(), go_rx.clone());
            async move {
                // Part of the large body arrived: the write is under way.
                c.read_some(64 * 1024).await;
                started_tx.send(()).unwrap();
                let mut go = go_rx.lock().await.take().unwrap();
                go.recv().await;
                let put = c.read_request().await.unwrap();
                assert_eq!(put.body.len(), 8 * 1024 * 1024, "the body was cut short");
                c.ok("put done").await;
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let big = bytes::Bytes::from(vec![b'p'; 8 * 1024 * 1024]);
        let put = client.send(Request::put("/big", big));
        let get = client.send(Request::get("/after"));
        started_rx.recv().await.unwrap();
        drop(put);
        go_tx.send(()).unwrap();
        assert_eq!(get.await.unwrap().text().await.unwrap(), "/after");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn server_closing_every_connection_at_once_fails_the_request_instead_of_looping() {
    within(async {
        let server = Server::start(|_, c| async move {
            c.reset();
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .request_timeout(None)
            .build()
            .unwrap();
        let err = client.send(Request::get("/a")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(server.connections() > 1);
    })
    .await
}

#[tokio::test]
async fn idle_close_by_the_server_is_handled() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                if i == 0 {
                    let req = c.read_request().await.unwrap();
                    c.ok(&req.target).await;
                    drop(c); // idle close, without `Connection: close`
                    tx.send("closed").unwrap();
                    return;
                }
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        assert_eq!(body_of(&client, "/a").await, "/a");
        assert_eq!(rx.recv().await, Some("closed"));
        assert_eq!(body_of(&client, "/b").await, "/b");
        assert_eq!(server.connections(), 2);
    })
    .await
}

// ---- The connection budget (`Keep-Alive: timeout=, max=`) and the retry rules. ----

/// A connection of a server that takes `cap` requests per connection: answers them in
/// order, announcing the budget left (`Keep-Alive: max=`) when `announce`, and the last one
/// with `Connection: close`; then reports how many bytes the client wrote past the cap.
async fn capped(c: &mut support::Conn, cap: usize, announce: bool, already: usize) -> usize {
    for k in already + 1..=cap {
        let Some(req) = c.read_request().await else {
            return 0;
        };
        answer_capped(c, &req.target, k, cap, announce).await;
    }
    c.wait_closed().await;
    c.buffered()
}

async fn answer_capped(c: &mut support::Conn, body: &str, k: usize, cap: usize, announce: bool) {
    if k == cap {
        c.ok_with("Connection: close\r\n", body).await;
    } else if announce {
        let h = format!("Keep-Alive: timeout=5, max={}\r\n", cap - k);
        c.ok_with(&h, body).await;
    } else {
        c.ok(body).await;
    }
}

#[tokio::test]
async fn keep_alive_max_is_honoured_and_the_replacement_opens_before_the_last_responses() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let next_opened = Arc::new(tokio::sync::Notify::new());
        let server = Server::start(move |i, mut c| {
            let (tx, next_opened) = (tx.clone(), next_opened.clone());
            async move {
                if i == 0 {
                    // The first response announces two more requests (3 in all).
                    let first = c.read_request().await.unwrap();
                    answer_capped(&mut c, &first.target, 1, 3, true).await;
                    let a = c.read_request().await.unwrap();
                    let b = c.read_request().await.unwrap();
                    // The last two are answered only once the replacement is open.
                    next_opened.notified().await;
                    answer_capped(&mut c, &a.target, 2, 3, true).await;
                    answer_capped(&mut c, &b.target, 3, 3, true).await;
                    c.wait_closed().await;
                    tx.send((i, c.buffered())).unwrap();
                    return;
                }
                next_opened.notify_one();
                // The client knows the budget from the start: all three come pipelined,
                // and no fourth.
                let reqs = [
                    c.read_request().await.unwrap(),
                    c.read_request().await.unwrap(),
                    c.read_request().await.unwrap(),
                ];
                for (k, r) in reqs.iter().enumerate() {
                    answer_capped(&mut c, &r.target, k + 1, 3, true).await;
                }
                c.wait_closed().await;
                tx.send((i, c.buffered())).unwrap();
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(8)
            .max_retries(0)
            .build()
            .unwrap();
        assert_eq!(body_of(&client, "/first").await, "/first");
        let futs: Vec<_> = (0..8)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        for _ in 0..3 {
            let (conn, extra) = rx.recv().await.unwrap();
            assert_eq!(extra, 0, "connection {conn} got requests past its budget");
        }
        assert_eq!(server.connections(), 3);
    })
    .await
}

#[tokio::test]
async fn cap_is_learned_from_the_first_announced_close() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                // Three requests per connection, no `Keep-Alive` header.
                let extra = capped(&mut c, 3, false, 0).await;
                tx.send((i, extra)).unwrap();
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(8)
            .max_retries(0)
            .build()
            .unwrap();
        for i in 0..3 {
            assert_eq!(body_of(&client, &format!("/s{i}")).await, format!("/s{i}"));
        }
        assert_eq!(rx.recv().await.unwrap(), (0, 0));
        // Later connections carry three requests each, written together.
        let futs: Vec<_> = (0..9)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        for _ in 0..3 {
            let (conn, extra) = rx.recv().await.unwrap();
            assert_eq!(
                extra, 0,
                "connection {conn} got requests past the learned cap"
            );
        }
        assert_eq!(server.connections(), 4);
    })
    .await
}

#[tokio::test]
async fn announced_close_re_sends_the_rest_pipelined_without_spending_retries() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                // A budget of 50 is announced, but the server closes early.
                let warm = c.read_request().await.unwrap();
                c.ok_with("Keep-Alive: timeout=5, max=50\r\n", &warm.target)
                    .await;
                let reqs = [
                    c.read_request().await.unwrap(),
                    c.read_request().await.unwrap(),
                    c.read_request().await.unwrap(),
                    c.read_request().await.unwrap(),
                ];
                c.ok_with("Connection: close\r\n", &reqs[0].target).await;
                c.wait_closed().await;
                return;
            }
            // The three unanswered ones come back together, not one at a time.
            let reqs = [
                c.read_request().await.unwrap(),
                c.read_request().await.unwrap(),
                c.read_request().await.unwrap(),
            ];
            for r in &reqs {
                c.ok(&r.target).await;
            }
            echo_target(c).await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(4)
            .max_retries(0)
            .build()
            .unwrap();
        assert_eq!(body_of(&client, "/warm").await, "/warm");
        let futs: Vec<_> = (0..4)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn unannounced_close_spends_the_retries_of_written_requests_only() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                for _ in 0..3 {
                    c.read_request().await.unwrap();
                }
                return; // closes without a word
            }
            echo_target(c).await;
        })
        .await;
        // Depth 3: the fourth request is not written on the first connection.
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(3)
            .max_retries(0)
            .build()
            .unwrap();
        let futs: Vec<_> = (0..4)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        let mut futs = futs.into_iter();
        // Written, maybe processed, no retry left: they fail saying so...
        for _ in 0..3 {
            let err = futs.next().unwrap().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
            assert!(err.may_have_been_processed());
        }
        // ...the one never written is sent on the next connection.
        let last = futs.next().unwrap().await.unwrap();
        assert_eq!(last.text().await.unwrap(), "/r3");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn cut_response_of_an_idempotent_request_is_re_sent() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                c.read_request().await.unwrap();
                c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                    .await;
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = one_conn(&server);
        assert_eq!(body_of(&client, "/a").await, "/a");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn cut_response_of_a_post_fails_as_maybe_processed() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            c.read_request().await.unwrap();
            c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                .await;
        })
        .await;
        let client = one_conn(&server);
        let err = client.send(Request::post("/p", "x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        assert!(err.may_have_been_processed());
        assert!(err.to_string().contains("may have been processed"), "{err}");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test]
async fn a_timeout_fails_only_its_own_request() {
    within(async {
        let server = Server::start(|i, mut c| async move {
            if i == 0 {
                // Never answers the three pipelined requests.
                for _ in 0..3 {
                    c.read_request().await.unwrap();
                }
                c.wait_closed().await;
                return;
            }
            echo_target(c).await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(4)
            .max_retries(1)
            .request_timeout(None)
            .build()
            .unwrap();
        let a = client.send(Request::get("/a"));
        let slow = client.send(Request::get("/slow").timeout(Some(Duration::from_millis(500))));
        let c = client.send(Request::get("/c"));
        let err = slow.await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        // Its neighbours, ahead and behind, are re-sent (within their budget).
        assert_eq!(a.await.unwrap().text().await.unwrap(), "/a");
        assert_eq!(c.await.unwrap().text().await.unwrap(), "/c");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn waiting_for_admission_does_not_count_against_the_timeout() {
    within(async {
        let (go_tx, go_rx) = mpsc::unbounded_channel::<()>();
        let go_rx = Arc::new(tokio::sync::Mutex::new(Some(go_rx)));
        let server = Server::start(move |_, mut c| {
            let go_rx = go_rx.clone();
            async move {
                let first = c.read_request().await.unwrap();
                let mut go = go_rx.lock().await.take().unwrap();
                go.recv().await;
                c.ok(&first.target).await;
                echo_target(c).await;
            }
        })
        .await;
        // Room for one request in flight.
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(1)
            .request_timeout(None)
            .build()
            .unwrap();
        let first = client.send(Request::get("/first"));
        let mut waiting =
            Box::pin(client.send(Request::get("/waits").timeout(Some(Duration::from_secs(1)))));
        // Poll it once so that it queues for admission, then let ten (paused-clock) seconds
        // pass: ten times its timeout.
        let pending = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(waiting.as_mut(), cx).is_pending())
        })
        .await;
        assert!(pending, "the second request was admitted at once");
        tokio::time::sleep(Duration::from_secs(10)).await;
        go_tx.send(()).unwrap();
        assert_eq!(first.await.unwrap().text().await.unwrap(), "/first");
        assert_eq!(waiting.await.unwrap().text().await.unwrap(), "/waits");
    })
    .await
}

#[tokio::test]
async fn nothing_is_written_behind_a_post_until_its_whole_response_is_read() {
    within(async {
        let (probe_tx, probe_rx) = mpsc::unbounded_channel::<()>();
        let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
        let probe_rx = Arc::new(tokio::sync::Mutex::new(Some(probe_rx)));
        let server = Server::start(move |_, mut c| {
            let (probe_rx, seen_tx) = (probe_rx.clone(), seen_tx.clone());
            async move {
                c.read_request().await.unwrap();
                // The head and part of the body (enough to be handed over as a stream).
                c.write(format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                    2 * STREAMED,
                    "a".repeat(STREAMED)
                ))
                .await;
                // The test saw the head: did anything come behind the POST?
                let mut probe = probe_rx.lock().await.take().unwrap();
                probe.recv().await;
                seen_tx.send(c.more_bytes_now()).unwrap();
                c.write("a".repeat(STREAMED)).await;
                echo_target(c).await;
            }
        })
        .await;
        let client = one_conn(&server);
        let post = client.send(Request::post("/p", "x"));
        let get = client.send(Request::get("/g"));
        let resp = post.await.unwrap();
        probe_tx.send(()).unwrap();
        assert!(
            !seen_rx.recv().await.unwrap(),
            "a request was written behind the POST while its body was arriving"
        );
        assert_eq!(resp.bytes().await.unwrap().len(), 2 * STREAMED);
        assert_eq!(get.await.unwrap().text().await.unwrap(), "/g");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn idle_connection_closes_before_the_servers_keep_alive_timeout() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                let req = c.read_request().await.unwrap();
                c.ok_with("Keep-Alive: timeout=5, max=100\r\n", &req.target)
                    .await;
                // The server would close after 5 idle seconds (paused clock).
                let who = tokio::select! {
                    _ = c.wait_closed() => "client",
                    _ = tokio::time::sleep(Duration::from_secs(5)) => "server",
                };
                tx.send(who).unwrap();
            }
        })
        .await;
        // The client's own idle timeout is much longer.
        let client = Client::builder(&server.url())
            .idle_timeout(Some(Duration::from_secs(90)))
            .build()
            .unwrap();
        assert_eq!(body_of(&client, "/a").await, "/a");
        assert_eq!(rx.recv().await, Some("client"));
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_applies_when_the_server_announces_none() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                let req = c.read_request().await.unwrap();
                c.ok(&req.target).await;
                let who = tokio::select! {
                    _ = c.wait_closed() => "client",
                    _ = tokio::time::sleep(Duration::from_secs(3)) => "server",
                };
                tx.send(who).unwrap();
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .idle_timeout(Some(Duration::from_secs(2)))
            .build()
            .unwrap();
        assert_eq!(body_of(&client, "/a").await, "/a");
        assert_eq!(rx.recv().await, Some("client"));
    })
    .await
}

#[tokio::test]
async fn cap_is_learned_from_two_silent_closes_at_the_same_count() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = Server::start(move |i, mut c| {
            let tx = tx.clone();
            async move {
                // Three answers per connection, then a close without notice.
                let mut answered = 0;
                while answered < 3 {
                    let Some(req) = c.read_request().await else {
                        return;
                    };
                    c.ok(&req.target).await;
                    answered += 1;
                }
                if i < 2 {
                    c.linger_close().await;
                    return;
                }
                c.wait_closed().await;
                tx.send((i, c.buffered())).unwrap();
            }
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(1)
            .pipeline_depth(8)
            .build()
            .unwrap();
        // Two connections teach the cap (each loses the requests written past it)...
        let futs: Vec<_> = (0..8)
            .map(|i| client.send(Request::get(format!("/s{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/s{i}"));
        }
        // ...then each connection carries three, and is closed by the client.
        let futs: Vec<_> = (0..6)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            assert_eq!(f.await.unwrap().text().await.unwrap(), format!("/r{i}"));
        }
        for _ in 0..2 {
            let (conn, extra) = rx.recv().await.unwrap();
            assert_eq!(
                extra, 0,
                "connection {conn} got requests past the learned cap"
            );
        }
    })
    .await
}
