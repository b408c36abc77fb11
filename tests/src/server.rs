//! An in-process HTTP/1.1 server on hyper that serves numbered items quickly.
//!
//! [`ItemServer`] answers `GET /items/<n>` with `200 OK` and a body of a fixed
//! size whose bytes depend on `n` (see [`item_body`]), so a client that hands a
//! pipelined response to the wrong request gets a body that does not match.
//! It keeps connections alive and flushes pipelined responses together
//! (hyper's `pipeline_flush`), like a real server would.
//!
//! `GET /stats` answers `connections=<c> requests=<r>\n`: how many connections the
//! server accepted and how many item requests it served; benchmarks use it to check
//! how many connections a client really opened. Anything else gets `404`.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The body size [`ItemServer`] uses unless told otherwise: 1 KiB.
pub const DEFAULT_BODY_SIZE: usize = 1024;

/// The body [`ItemServer`] sends for item `n`, `size` bytes long.
///
/// It starts with `item <n>\n` and continues with a filler that also depends on
/// `n`; when `size` is smaller than the prefix, the prefix is cut to `size`.
pub fn item_body(n: u64, size: usize) -> Bytes {
    let mut body = format!("item {n}\n").into_bytes();
    // A filler that changes from item to item, so that even bodies compared past
    // their prefix differ.
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while body.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        body.push(b'a' + (state % 26) as u8);
    }
    body.truncate(size);
    Bytes::from(body)
}

/// Counters shared by the server's connections.
#[derive(Debug, Default)]
struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
}

/// A running item server; see the [module documentation](self).
///
/// Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct ItemServer {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: JoinHandle<()>,
}

impl ItemServer {
    /// Starts a server on an ephemeral port of 127.0.0.1 whose item bodies are
    /// `body_size` bytes long; returns its address and the handle that keeps it running.
    ///
    /// Must be called from inside a tokio runtime.
    pub async fn start(body_size: usize) -> io::Result<(SocketAddr, ItemServer)> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            // Connection tasks live in the JoinSet, so aborting this task ends them.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        shared.connections.fetch_add(1, Ordering::Relaxed);
                        let stats = shared.clone();
                        conns.spawn(async move {
                            let service = service_fn(move |req| {
                                let stats = stats.clone();
                                async move { Ok::<_, Infallible>(respond(&req, body_size, &stats)) }
                            });
                            // A client that goes away mid-request is not the server's problem.
                            let _ = http1::Builder::new()
                                .keep_alive(true)
                                .pipeline_flush(true)
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        let server = ItemServer { addr, stats, task };
        Ok((addr, server))
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections the server has accepted so far.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::Relaxed)
    }

    /// How many item requests the server has answered so far.
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }
}

impl Drop for ItemServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond(req: &Request<Incoming>, body_size: usize, stats: &Stats) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() == Method::GET {
        if let Some(n) = path
            .strip_prefix("/items/")
            .and_then(|n| n.parse::<u64>().ok())
        {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            return Response::new(Full::new(item_body(n, body_size)));
        }
        if path == "/stats" {
            let text = format!(
                "connections={} requests={}\n",
                stats.connections.load(Ordering::Relaxed),
                stats.requests.load(Ordering::Relaxed)
            );
            return Response::new(Full::new(Bytes::from(text)));
        }
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
