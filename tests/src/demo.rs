//! The pipelining demo: the same GETs sent without and with pipelining through the
//! latency emulator, timed. The `pipeline-demo` binary prints what [`run`] returns.

use std::time::Duration;

use crate::latency::LatencyProxy;
use crate::load::{expected_bodies, run_gets, ClientKind, LoadError};
use crate::server::ItemServer;

/// The connection count both demo runs use.
pub const CONNECTIONS: usize = 5;
/// The pipeline depth of the pipelined run.
pub const PIPELINED_DEPTH: usize = 8;

/// What one demo produced.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// Requests sent in each run.
    pub requests: usize,
    /// The round-trip time the emulator added.
    pub rtt: Duration,
    /// Wall time with 5 connections and no pipelining (depth 1).
    pub unpipelined: Duration,
    /// Wall time with 5 connections and pipeline depth 8.
    pub pipelined: Duration,
    /// Item requests the server answered over both runs.
    pub served: u64,
}

impl DemoReport {
    /// How many times faster the pipelined run was.
    pub fn speedup(&self) -> f64 {
        self.unpipelined.as_secs_f64() / self.pipelined.as_secs_f64().max(1e-9)
    }
}

/// Starts an [`ItemServer`] with `body_size`-byte items and a [`LatencyProxy`] with
/// round-trip time `rtt` in front of it, then sends `requests` GETs through the proxy
/// with http1-pipeline at (5 connections, depth 1) and then at (5, depth 8), checking
/// every response body against the item it asked for.
pub async fn run(
    requests: usize,
    rtt: Duration,
    body_size: usize,
) -> Result<DemoReport, LoadError> {
    let io = |what: &str, e: std::io::Error| LoadError::new(format!("starting the {what}: {e}"));
    let (server_addr, server) = ItemServer::start(body_size)
        .await
        .map_err(|e| io("item server", e))?;
    let proxy = LatencyProxy::start(server_addr, rtt)
        .await
        .map_err(|e| io("latency emulator", e))?;
    let expected = expected_bodies(requests, body_size);
    let unpipelined = run_gets(
        ClientKind::PipelineCore {
            connections: CONNECTIONS,
            depth: 1,
        },
        proxy.addr(),
        &expected,
    )
    .await?;
    let pipelined = run_gets(
        ClientKind::PipelineCore {
            connections: CONNECTIONS,
            depth: PIPELINED_DEPTH,
        },
        proxy.addr(),
        &expected,
    )
    .await?;
    Ok(DemoReport {
        requests,
        rtt,
        unpipelined,
        pipelined,
        served: server.requests(),
    })
}
