//! Against a real HTTP/1.1 server library (hyper 1, with pipeline flushing): the server
//! receives several requests on one connection before it releases the first response.

mod support;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http1_pipeline::{Client, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use support::within;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Counts the request lines in the bytes the server reads from the socket.
struct Counting {
    inner: TcpStream,
    seen: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        let n = new.windows(11).filter(|w| w == b" HTTP/1.1\r\n").count();
        if n > 0 {
            self.seen.fetch_add(n, Ordering::SeqCst);
            self.arrived.notify_waiters();
        }
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Starts a hyper server whose first response waits until `hold_until` requests arrived
/// on the connection. Returns its URL and the per-connection counter of requests seen
/// when the first response was released.
async fn start(hold_until: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen_at_release = Arc::new(AtomicUsize::new(0));
    let out = seen_at_release.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = Arc::new(AtomicUsize::new(0));
            let arrived = Arc::new(Notify::new());
            let io = Counting {
                inner: tcp,
                seen: seen.clone(),
                arrived: arrived.clone(),
            };
            let out = out.clone();
            let answered = Arc::new(AtomicUsize::new(0));
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let (seen, arrived, out, answered) =
                    (seen.clone(), arrived.clone(), out.clone(), answered.clone());
                async move {
                    let method = req.method().to_string();
                    let path = req.uri().path().to_string();
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    if answered.fetch_add(1, Ordering::SeqCst) == 0 {
                        // Hold the first response until enough requests arrived.
                        loop {
                            let wait = arrived.notified();
                            if seen.load(Ordering::SeqCst) >= hold_until {
                                break;
                            }
                            wait.await;
                        }
                        out.store(seen.load(Ordering::SeqCst), Ordering::SeqCst);
                    }
                    let text = format!("{method} {path} {}", body.len());
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
                }
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(io), svc)
                    .await;
            });
        }
    });
    (url, seen_at_release)
}

#[tokio::test]
async fn hyper_server_sees_pipelined_requests_before_answering() {
    within(async {
        let (url, seen_at_release) = start(6).await;
        let client = Client::builder(&url)
            .max_connections(1)
            .pipeline_depth(8)
            .build()
            .unwrap();
        let futs: Vec<_> = (0..6)
            .map(|i| client.send(Request::get(format!("/vm/{i}"))))
            .collect();
        for (i, f) in futs.into_iter().enumerate() {
            let text = f.await.unwrap().text().await.unwrap();
            assert_eq!(text, format!("GET /vm/{i} 0"));
        }
        assert!(seen_at_release.load(Ordering::SeqCst) >= 6);
    })
    .await
}

#[tokio::test]
async fn mixed_methods_against_hyper_all_match_their_requests() {
    within(async {
        let (url, _) = start(1).await;
        let client = Client::builder(&url)
            .max_connections(2)
            .pipeline_depth(4)
            .build()
            .unwrap();
        let mut futs = Vec::new();
        for i in 0..50 {
            let req = match i % 5 {
                0 => Request::post(format!("/p/{i}"), vec![b'x'; i]),
                1 => Request::put(format!("/u/{i}"), vec![b'y'; i * 100]),
                2 => Request::delete(format!("/d/{i}")),
                3 => Request::new(Method::Options, format!("/o/{i}")),
                _ => Request::get(format!("/g/{i}")),
            };
            futs.push((
                req.method(),
                req.path().to_string(),
                req.body_bytes().len(),
                client.send(req),
            ));
        }
        for (method, path, len, f) in futs {
            let text = f.await.unwrap().text().await.unwrap();
            assert_eq!(text, format!("{method} {path} {len}"));
        }
    })
    .await
}

/// A hyper server answering each request with its body's length, a hash of it and the
/// framing hyper saw (`length N` or `chunked`).
async fn hashing_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let svc = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let framing = match req.headers().get("content-length") {
                    Some(n) => format!("length {}", n.to_str().unwrap()),
                    None => req
                        .headers()
                        .get("transfer-encoding")
                        .map_or("none".into(), |t| t.to_str().unwrap().to_string()),
                };
                let body = req.into_body().collect().await.unwrap().to_bytes();
                let text = format!("{} {:016x} {framing}", body.len(), fnv(&body));
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(text))))
            });
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    url
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[tokio::test]
async fn hyper_reads_streamed_bodies_byte_for_byte_with_either_framing() {
    within(async {
        let url = hashing_server().await;
        let client = Client::builder(&url).max_connections(2).build().unwrap();
        let data: Vec<u8> = (0..2_000_003u32).map(|i| (i * 7 % 251) as u8).collect();
        let want_hash = fnv(&data);
        for len in [Some(data.len() as u64), None] {
            let d = data.clone();
            let body = http1_pipeline::StreamBody::restartable(len, move || {
                let chunks: Vec<Result<Bytes, std::io::Error>> = d
                    .chunks(100_000)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                futures_util::stream::iter(chunks)
            });
            let r = client
                .send(Request::new(Method::Put, "/disk").stream_body(body))
                .await
                .unwrap();
            let framing = match len {
                Some(n) => format!("length {n}"),
                None => "chunked".to_string(),
            };
            assert_eq!(
                r.text().await.unwrap(),
                format!("{} {want_hash:016x} {framing}", data.len())
            );
        }
    })
    .await
}
