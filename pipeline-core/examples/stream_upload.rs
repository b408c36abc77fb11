//! Measures a streamed upload ([`StreamBody`]) against writing the same bytes straight to
//! a socket, on 127.0.0.1, in one run: the throughput of each and their ratio, and the
//! process's peak resident memory (which stays near one chunk's size whatever the body's
//! size, since the body is never held whole).
//!
//! `cargo run --release -p http1-pipeline --example stream_upload -- [MiB] [rounds]`

use std::time::{Duration, Instant};

use bytes::Bytes;
use http1_pipeline::{Client, Method, Request, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 256 * 1024;

/// Peak resident set size of this process, in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A server on its own thread: reads a request head with `Content-Length: N`, reads and
/// drops N bytes, answers `200`; for ever, on every connection.
fn start_server() -> std::net::SocketAddr {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut pending = Vec::new();
                    loop {
                        // Head.
                        let end = loop {
                            if let Some(e) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                                break e + 4;
                            }
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => pending.extend_from_slice(&buf[..n]),
                            }
                        };
                        let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
                        let len: u64 = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        let mut left = len.saturating_sub((pending.len() - end) as u64);
                        pending.clear();
                        while left > 0 {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => left = left.saturating_sub(n as u64),
                            }
                        }
                        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    addr_rx.recv().unwrap()
}

/// The same request written by hand on a fresh socket, chunk by chunk.
async fn raw_upload(addr: std::net::SocketAddr, chunk: &Bytes, chunks: u64) -> Duration {
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let len = chunk.len() as u64 * chunks;
    let head = format!("PUT /raw HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {len}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..chunks {
        s.write_all(chunk).await.unwrap();
    }
    let mut answer = [0u8; 64];
    let n = s.read(&mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    t.elapsed()
}

/// A streamed upload through the client (a fresh connection each time).
async fn client_upload(addr: std::net::SocketAddr, chunk: &Bytes, chunks: u64) -> Duration {
    let t = Instant::now();
    let client = Client::builder(&format!("http://{addr}"))
        .max_connections(1)
        .request_timeout(None)
        .build()
        .unwrap();
    let c = chunk.clone();
    let source =
        futures_util::stream::iter((0..chunks).map(move |_| Ok::<_, std::io::Error>(c.clone())));
    let body = StreamBody::new(Some(chunk.len() as u64 * chunks), source);
    let r = client
        .send(Request::new(Method::Put, "/stream").stream_body(body))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    t.elapsed()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mib = args.first().copied().unwrap_or(1024).max(1);
    let rounds = args.get(1).copied().unwrap_or(3).max(1);
    let chunks = mib * 1024 * 1024 / CHUNK as u64;
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let addr = start_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rss_before = peak_rss_kib();
    // Alternating rounds, the best of each kept: the machine may be shared.
    let (mut raw, mut streamed) = (Duration::MAX, Duration::MAX);
    for _ in 0..rounds {
        raw = raw.min(rt.block_on(raw_upload(addr, &chunk, chunks)));
        streamed = streamed.min(rt.block_on(client_upload(addr, &chunk, chunks)));
    }
    let mb = (chunks * CHUNK as u64) as f64 / (1024.0 * 1024.0);
    let rate = |d: Duration| mb / d.as_secs_f64();
    println!("body: {mb:.0} MiB in {CHUNK} byte chunks, best of {rounds} rounds each");
    println!("raw socket writes:  {:8.0} MiB/s", rate(raw));
    println!("StreamBody upload:  {:8.0} MiB/s", rate(streamed));
    println!(
        "ratio StreamBody/raw: {:.2}",
        raw.as_secs_f64() / streamed.as_secs_f64()
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_kib()) {
        println!(
            "peak RSS: {} KiB before the uploads, {} KiB after",
            before, after
        );
    }
}
