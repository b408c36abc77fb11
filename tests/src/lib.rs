//! Test support: in-process servers, fault injection and the latency emulator.
//!
//! - [`latency::LatencyProxy`]: a TCP proxy that adds a fixed round-trip time.
//! - [`server::ItemServer`]: a hyper HTTP/1.1 server answering `GET /items/<n>`.
//! - [`load`]: load generators (http1-pipeline and reqwest) that check every response.
//! - [`demo`]: the pipelining demo run by the `pipeline-demo` binary.
//! - [`apache`]: a real Apache httpd 2.4 in front of the test engine, set up as the
//!   engine's packaging sets it up.
//! - [`inventory`]: the sdk inventory workload (list VMs, then 3 requests per VM).
//! - [`raw`]: a raw pipelined HTTP/1.1 exchange, to see exactly what a server does.
//! - [`chart`]: the SVG chart of the inventory benchmark.
#![deny(missing_docs)]

pub mod apache;
pub mod chart;
pub mod demo;
pub mod faults;
pub mod inventory;
pub mod latency;
pub mod load;
pub mod raw;
pub mod server;
