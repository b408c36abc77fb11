//! Test support: in-process servers, fault injection and the latency emulator.
//!
//! - [`latency::LatencyProxy`]: a TCP proxy that adds a fixed round-trip time.
//! - [`server::ItemServer`]: a hyper HTTP/1.1 server answering `GET /items/<n>`.
//! - [`load`]: load generators (http1-pipeline and reqwest) that check every response.
//! - [`demo`]: the pipelining demo run by the `pipeline-demo` binary.
//! - [`chart`]: the SVG chart of the inventory benchmark.
//! - [`kdc`]: a real MIT Kerberos KDC with its realm in a temporary directory.
#![deny(missing_docs)]

pub mod chart;
pub mod demo;
pub mod faults;
pub mod kdc;
pub mod latency;
pub mod load;
pub mod server;
