//! Load generators shared by the pipelining demo, its smoke test and the benchmark.
//!
//! Each generator sends `GET /items/0` .. `GET /items/<m-1>` to an [`ItemServer`]
//! (usually through a [`LatencyProxy`]), keeps a fixed number of requests in flight,
//! and checks every response byte for byte against [`item_body`], so a response
//! handed to the wrong request fails the run. The client is built inside the timed
//! section: connection set-up is part of what is measured.
//!
//! [`ItemServer`]: crate::server::ItemServer
//! [`LatencyProxy`]: crate::latency::LatencyProxy

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future;
use futures_util::stream::{self, StreamExt, TryStreamExt};

use crate::server::item_body;

/// Which client a run uses and how it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientKind {
    /// `http1-pipeline` with this many connections and this pipeline depth per connection.
    PipelineCore {
        /// Connections to the origin.
        connections: usize,
        /// Requests in flight per connection (1 = no pipelining).
        depth: usize,
    },
    /// `reqwest` (no pipelining): this many workers, each sending one request at a
    /// time on its own keep-alive connection.
    Reqwest {
        /// Concurrent requests, each on its own keep-alive connection.
        connections: usize,
    },
}

impl ClientKind {
    /// The client's name as printed in reports.
    pub fn name(&self) -> &'static str {
        match self {
            ClientKind::PipelineCore { .. } => "http1-pipeline",
            ClientKind::Reqwest { .. } => "reqwest",
        }
    }

    /// The number of connections the client is meant to use.
    pub fn connections(&self) -> usize {
        match *self {
            ClientKind::PipelineCore { connections, .. } => connections,
            ClientKind::Reqwest { connections } => connections,
        }
    }

    /// Requests in flight per connection.
    pub fn depth(&self) -> usize {
        match *self {
            ClientKind::PipelineCore { depth, .. } => depth,
            ClientKind::Reqwest { .. } => 1,
        }
    }
}

/// Why a load run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    message: String,
}

impl LoadError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> LoadError {
        LoadError {
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LoadError {}

/// The bodies a run expects, item `n` at index `n`; built before the timed section
/// so that checking a response costs one comparison.
pub fn expected_bodies(m: usize, body_size: usize) -> Vec<Bytes> {
    (0..m as u64).map(|n| item_body(n, body_size)).collect()
}

fn check(n: usize, status: u16, body: &[u8], expected: &[Bytes]) -> Result<(), LoadError> {
    if status != 200 {
        return Err(LoadError::new(format!(
            "GET /items/{n}: status {status}, expected 200"
        )));
    }
    if body != expected[n].as_ref() {
        let shown = String::from_utf8_lossy(&body[..body.len().min(24)]).into_owned();
        return Err(LoadError::new(format!(
            "GET /items/{n}: wrong body ({} bytes, starting {shown:?}); expected {} bytes starting \"item {n}\\n\"",
            body.len(),
            expected[n].len()
        )));
    }
    Ok(())
}

/// Sends `expected.len()` GETs to `addr` with the given client and returns the wall
/// time from building the client to the last checked response.
///
/// Every response is checked against `expected` (see [`expected_bodies`]); the first
/// mismatch or transport error ends the run with an error naming the request.
pub async fn run_gets(
    kind: ClientKind,
    addr: SocketAddr,
    expected: &[Bytes],
) -> Result<Duration, LoadError> {
    let start = Instant::now();
    match kind {
        ClientKind::PipelineCore { connections, depth } => {
            http1_pipeline_gets(addr, connections, depth, expected).await?
        }
        ClientKind::Reqwest { connections } => reqwest_gets(addr, connections, expected).await?,
    }
    Ok(start.elapsed())
}

async fn http1_pipeline_gets(
    addr: SocketAddr,
    connections: usize,
    depth: usize,
    expected: &[Bytes],
) -> Result<(), LoadError> {
    let client = http1_pipeline::Client::builder(&format!("http://{addr}"))
        .max_connections(connections)
        .pipeline_depth(depth)
        .build()
        .map_err(|e| LoadError::new(format!("building the http1-pipeline client: {e}")))?;
    // Keep exactly connections x depth requests in flight, as a user would.
    stream::iter(0..expected.len())
        .map(|n| {
            let client = client.clone();
            async move {
                let response = client
                    .send(http1_pipeline::Request::get(format!("/items/{n}")))
                    .await
                    .map_err(|e| LoadError::new(e.to_string()))?;
                let status = response.status();
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| LoadError::new(e.to_string()))?;
                check(n, status, &body, expected)
            }
        })
        .buffer_unordered(connections * depth)
        .try_collect::<()>()
        .await
}

async fn reqwest_gets(
    addr: SocketAddr,
    connections: usize,
    expected: &[Bytes],
) -> Result<(), LoadError> {
    // One worker per connection, each with a client (and so a pool) of its own that
    // it uses for one request at a time: every worker keeps its single keep-alive
    // connection. A single shared client behind `buffer_unordered` opens extra
    // connections when a request starts before the previous response's connection
    // has gone back to the pool (up to 50 instead of 5 per 1000 requests here).
    let next = AtomicUsize::new(0);
    let worker = || async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| LoadError::new(format!("building the reqwest client: {e}")))?;
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            if n >= expected.len() {
                return Ok::<(), LoadError>(());
            }
            let url = format!("http://{addr}/items/{n}");
            let fail = |e: reqwest::Error| LoadError::new(format!("GET {url}: {e}"));
            let response = client.get(&url).send().await.map_err(fail)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(fail)?;
            check(n, status, &body, expected)?;
            // hyper-util hands the connection back to the pool from a task of its
            // own once the response is done; letting that task run first keeps the
            // next request from opening a sixth connection (6-7 per 1000 requests at
            // RTT 2 ms without this, exactly 5 with it).
            tokio::task::yield_now().await;
        }
    };
    future::try_join_all((0..connections).map(|_| worker())).await?;
    Ok(())
}

/// CPU time (user plus system) this process has used so far, all threads together.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the zeroed struct we pass it.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// Asks an [`ItemServer`](crate::server::ItemServer) at `addr` for its counters
/// (`GET /stats`) with a blocking socket: `(connections accepted, item requests served)`.
pub fn server_stats(addr: SocketAddr) -> Result<(u64, u64), LoadError> {
    use std::io::{Read, Write};
    let fail = |e: std::io::Error| LoadError::new(format!("GET http://{addr}/stats: {e}"));
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    stream
        .write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .map_err(fail)?;
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(fail)?;
    let field = |name: &str| -> Option<u64> {
        let start = text.find(name)? + name.len();
        let digits: String = text[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    };
    match (field("connections="), field("requests=")) {
        (Some(c), Some(r)) => Ok((c, r)),
        _ => Err(LoadError::new(format!(
            "GET http://{addr}/stats: unexpected answer {text:?}"
        ))),
    }
}

/// CPU time (user plus system, all threads) that process `pid` and its direct children have
/// used so far, read from Linux's `/proc/PID/stat` (clock ticks of `sysconf(_SC_CLK_TCK)`,
/// usually 10 ms). A benchmark uses it to see what a server program (the engine process,
/// Apache and its worker processes) spent during a run. `None` where `/proc` cannot be read.
pub fn process_tree_cpu_time(pid: u32) -> Option<Duration> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields = |text: &str| -> Option<Vec<u64>> {
        let rest = &text[text.rfind(')')? + 1..];
        Some(
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect(),
        )
    };
    let mut total = 0u64;
    let own = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let own = fields(&own)?;
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    total += own.get(11)? + own.get(12)?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(child) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if child == pid {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        if let Some(f) = fields(&text) {
            if f.get(1) == Some(&u64::from(pid)) {
                total += f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
            }
        }
    }
    Some(Duration::from_millis(total * 1000 / ticks))
}
