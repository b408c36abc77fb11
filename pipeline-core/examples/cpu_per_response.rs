//! Measures the client's CPU time per 1 KiB response with pipelining, against a fast raw
//! server on 127.0.0.1 running on another thread.
//!
//! `cargo run --release -p http1-pipeline --example cpu_per_response -- [requests] [conns] [depth]`

use std::time::Instant;

use http1_pipeline::{Client, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// CPU time of the calling thread, in nanoseconds (Linux `schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(200_000);
    let conns = args.get(1).copied().unwrap_or(4);
    let depth = args.get(2).copied().unwrap_or(16);

    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let mut response =
                b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 1024\r\n\r\n"
                    .to_vec();
            response.extend_from_slice(&[b'x'; 1024]);
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut carry = Vec::new();
                    let mut out = Vec::new();
                    loop {
                        let n = match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        carry.extend_from_slice(&buf[..n]);
                        let mut start = 0;
                        while let Some(p) = carry[start..].windows(4).position(|w| w == b"\r\n\r\n")
                        {
                            start += p + 4;
                            out.extend_from_slice(&response);
                        }
                        carry.drain(..start);
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                });
            }
        });
    });
    let addr = addr_rx.recv().unwrap();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let client = Client::builder(&format!("http://{addr}"))
            .max_connections(conns)
            .pipeline_depth(depth)
            .build()
            .unwrap();
        // Warm up the connections.
        let warm: Vec<_> = (0..conns * depth).map(|_| client.send(Request::get("/warm"))).collect();
        for f in warm {
            f.await.unwrap().bytes().await.unwrap();
        }
        let cpu0 = thread_cpu_ns();
        let t0 = Instant::now();
        let window = conns * depth * 2;
        let mut inflight = std::collections::VecDeque::with_capacity(window);
        let mut done = 0usize;
        let mut bytes = 0usize;
        for i in 0..requests {
            inflight.push_back(client.send(Request::get("/api/vms/123")));
            if inflight.len() >= window || i + 1 == requests {
                while let Some(f) = inflight.pop_front() {
                    bytes += f.await.unwrap().bytes().await.unwrap().len();
                    done += 1;
                    if inflight.len() < window / 2 && i + 1 != requests {
                        break;
                    }
                }
            }
        }
        while let Some(f) = inflight.pop_front() {
            bytes += f.await.unwrap().bytes().await.unwrap().len();
            done += 1;
        }
        let wall = t0.elapsed();
        let cpu = thread_cpu_ns() - cpu0;
        assert_eq!(bytes, done * 1024);
        println!(
            "{done} responses of 1 KiB over {conns} connections x depth {depth}: {:.0} req/s, client CPU {:.2} us/response",
            done as f64 / wall.as_secs_f64(),
            cpu as f64 / 1000.0 / done as f64
        );
    });
}
