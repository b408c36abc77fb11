//! Basic request/response behaviour against a scripted raw TCP server.

mod support;

use http1_pipeline::{Client, ErrorKind, Method, Request};
use support::{within, Server};

fn client(server: &Server) -> http1_pipeline::ClientBuilder {
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
        assert_eq!(
            (r1.method.as_str(), r1.header("content-length")),
            ("POST", Some("0"))
        );
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

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Answers each request with `body` as `Content-Encoding: gzip`, reporting whether the
/// request asked for gzip.
async fn gzip_server(
    body: Vec<u8>,
) -> (Server, tokio::sync::mpsc::UnboundedReceiver<Option<String>>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::start(move |_, mut c| {
        let tx = tx.clone();
        let body = body.clone();
        async move {
            while let Some(req) = c.read_request().await {
                tx.send(req.header("accept-encoding").map(str::to_string))
                    .unwrap();
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                c.write(r).await;
            }
        }
    })
    .await;
    (server, rx)
}

#[tokio::test]
async fn gzip_bodies_are_decoded_transparently() {
    within(async {
        let text = "compress me ".repeat(1000);
        let (server, mut rx) = gzip_server(gzip(text.as_bytes())).await;
        let client = client(&server).build().unwrap();
        let r = client.send(Request::get("/z")).await.unwrap();
        assert_eq!(r.headers().get("content-encoding"), None);
        assert_eq!(r.text().await.unwrap(), text);
        assert_eq!(rx.recv().await.unwrap().as_deref(), Some("gzip"));
    })
    .await
}

#[tokio::test]
async fn gzip_off_sends_no_accept_encoding_and_returns_raw_bytes() {
    within(async {
        let packed = gzip(b"raw");
        let (server, mut rx) = gzip_server(packed.clone()).await;
        let client = client(&server).gzip(false).build().unwrap();
        let r = client.send(Request::get("/z")).await.unwrap();
        assert_eq!(r.headers().get("content-encoding"), Some("gzip"));
        assert_eq!(&r.bytes().await.unwrap()[..], &packed[..]);
        assert_eq!(rx.recv().await.unwrap(), None);
    })
    .await
}

#[tokio::test]
async fn invalid_gzip_is_a_body_decode_error() {
    within(async {
        let (server, _rx) = gzip_server(b"this is not gzip".to_vec()).await;
        let client = client(&server).build().unwrap();
        let err = client
            .send(Request::get("/z"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyDecode, "{err}");
        assert!(err.to_string().starts_with("GET http://"), "{err}");
    })
    .await
}

#[tokio::test]
async fn truncated_gzip_is_a_body_decode_error() {
    within(async {
        let mut packed = gzip(&b"some data that is long enough ".repeat(50));
        packed.truncate(packed.len() - 6);
        let (server, _rx) = gzip_server(packed).await;
        let client = client(&server).build().unwrap();
        let err = client
            .send(Request::get("/z"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyDecode, "{err}");
    })
    .await
}

#[tokio::test]
async fn large_bodies_stream_in_chunks() {
    within(async {
        let size = 4 * 1024 * 1024;
        let server = Server::start(move |_, mut c| async move {
            while c.read_request().await.is_some() {
                c.write(format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"))
                    .await;
                let chunk = vec![b'y'; 64 * 1024];
                for _ in 0..size / chunk.len() {
                    c.write(&chunk).await;
                }
            }
        })
        .await;
        let client = client(&server).build().unwrap();
        let mut body = client.send(Request::get("/big")).await.unwrap().into_body();
        let (mut total, mut chunks) = (0, 0);
        while let Some(c) = body.chunk().await.unwrap() {
            assert!(c.iter().all(|&b| b == b'y'));
            total += c.len();
            chunks += 1;
        }
        assert_eq!(total, size);
        assert!(chunks > 1);
        // The connection is still usable afterwards.
        let r = client.send(Request::get("/big")).await.unwrap();
        assert_eq!(r.bytes().await.unwrap().len(), size);
    })
    .await
}

#[tokio::test]
async fn dropping_a_body_midway_keeps_the_connection_in_sync() {
    within(async {
        let server = Server::start(|_, mut c| async move {
            while let Some(req) = c.read_request().await {
                if req.target == "/big" {
                    let size = 2 * 1024 * 1024;
                    c.write(format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n"))
                        .await;
                    c.write(vec![b'b'; size]).await;
                } else {
                    c.ok(&req.target).await;
                }
            }
        })
        .await;
        let client = client(&server).max_connections(1).build().unwrap();
        let big = client.send(Request::get("/big"));
        let small = client.send(Request::get("/small"));
        let mut body = big.await.unwrap().into_body();
        let first = body.chunk().await.unwrap().unwrap();
        assert!(!first.is_empty());
        drop(body);
        assert_eq!(small.await.unwrap().text().await.unwrap(), "/small");
        assert_eq!(server.connections(), 1);
    })
    .await
}

#[test]
fn public_types_are_send_sync_and_unpin_where_promised() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send_unpin<T: Send + Unpin + 'static>() {}
    send_sync::<Client>();
    send_sync::<http1_pipeline::Error>();
    send_sync::<Request>();
    send_sync::<http1_pipeline::StreamBody>();
    send_sync::<http1_pipeline::ContentRange>();
    send_unpin::<http1_pipeline::ResponseFuture>();
    send_unpin::<http1_pipeline::Body>();
    send_unpin::<http1_pipeline::Response>();
}

#[tokio::test]
async fn random_bytes_from_the_server_never_panic_or_hang() {
    within(async {
        // A deterministic xorshift generator: each connection answers with random bytes,
        // sometimes after a valid-looking status line, then closes.
        let server = Server::start(|i, mut c| async move {
            let mut x: u64 =
                0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            if c.read_request().await.is_none() {
                return;
            }
            let prefixes: [&[u8]; 4] = [
                b"",
                b"HTTP/1.1 200 OK\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            ];
            let mut out = prefixes[(next() % 4) as usize].to_vec();
            let len = (next() % 300) as usize;
            let alphabet = b"0123456789abcdefHTTP/1.1 \r\n:;\x00\xff";
            for _ in 0..len {
                out.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            c.write(out).await;
        })
        .await;
        let client = Client::builder(&server.url())
            .max_connections(4)
            .max_retries(1)
            .request_timeout(Some(std::time::Duration::from_secs(5)))
            .build()
            .unwrap();
        let futs: Vec<_> = (0..200)
            .map(|i| client.send(Request::get(format!("/r{i}"))))
            .collect();
        for f in futs {
            // Any outcome is fine as long as it resolves; bodies too.
            if let Ok(r) = f.await {
                let _ = r.bytes().await;
            }
        }
    })
    .await
}

#[test]
fn client_outlives_the_runtime_that_opened_its_connections() {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = server_rt.block_on(Server::start(|_, mut c| async move {
        while let Some(req) = c.read_request().await {
            c.ok(&req.target).await;
        }
    }));
    let client = Client::builder(&server.url())
        .max_connections(1)
        .build()
        .unwrap();
    for path in ["/first-runtime", "/second-runtime"] {
        // Each runtime is shut down after one request, dropping the connection task.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let text = rt.block_on(within(async {
            client
                .send(Request::get(path))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }));
        assert_eq!(text, path);
    }
    drop(server);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    within(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                while let Some(req) = c.read_request().await {
                    c.ok(&req.target).await;
                }
                tx.send("closed by the client").unwrap();
            }
        })
        .await;
        let client = client(&server)
            .idle_timeout(Some(std::time::Duration::from_millis(50)))
            .build()
            .unwrap();
        let r = client.send(Request::get("/a")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "/a");
        assert_eq!(rx.recv().await, Some("closed by the client"));
        // The client is still usable: it opens a new connection.
        let r = client.send(Request::get("/b")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "/b");
        assert_eq!(server.connections(), 2);
    })
    .await
}

#[tokio::test]
async fn a_shown_path_stands_for_the_real_one_in_errors_and_debug_but_the_real_one_is_sent() {
    within(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Reads one request, then closes without answering.
        let server = Server::start(move |_, mut c| {
            let tx = tx.clone();
            async move {
                if let Some(req) = c.read_request().await {
                    tx.send(req).unwrap();
                }
            }
        })
        .await;
        // One attempt, so the close is the request's error.
        let client = client(&server).max_retries(0).build().unwrap();
        let request = Request::new(Method::Post, "/images/secret-ticket-123")
            .body("x")
            .shown_path("/images/***");
        assert_eq!(request.display_path(), "/images/***");
        assert!(
            !format!("{request:?}").contains("secret-ticket"),
            "{request:?}"
        );
        let err = client.send(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Closed, "{err}");
        let url = err.url().unwrap();
        assert!(url.ends_with("/images/***"), "{url}");
        assert!(!err.to_string().contains("secret-ticket"), "{err}");
        assert!(!format!("{err:?}").contains("secret-ticket"), "{err:?}");
        assert_eq!(rx.recv().await.unwrap().target, "/images/secret-ticket-123");
    })
    .await;
}
