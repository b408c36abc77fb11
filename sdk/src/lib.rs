//! An SDK for the oVirt Engine REST API v4 that really pipelines HTTP/1.1.
//!
//! A [`Connection`] holds a few persistent connections to the engine and writes several
//! requests on each before the first answer arrives (HTTP/1.1 pipelining, carried out by
//! the [`http1_pipeline`] crate). Every API service is a generated type reached from
//! [`Connection::system_service`]; every method returns a typed request builder that is
//! sent with `.await` (send and wait) or [`send`](service::Request::send) (send now, wait
//! later), and resolves to generated [`types`] or an [`Error`].
//!
//! # Quick start
//!
//! The inventory of every VM with its disk attachments, NICs and permissions: all
//! sub-collection requests are on their way before the first answer is awaited.
//!
//! ```no_run
//! use ovirt::Connection;
//!
//! # async fn inventory() -> Result<(), ovirt::Error> {
//! let connection = Connection::builder()
//!     .url("https://engine.example.com/ovirt-engine/api")
//!     .username("admin@internal")
//!     .password("secret")
//!     .ca_file("ca.pem")
//!     .connections(5)
//!     .pipeline(8)
//!     .build()?;
//!
//! let vms_service = connection.system_service().vms_service();
//! let vms = vms_service.list().await?;
//!
//! // `send` puts each request on its way at once and returns a future of its result.
//! let mut pending = Vec::new();
//! for vm in &vms {
//!     let vm_service = vms_service.vm_service(vm);
//!     pending.push((
//!         vm.name.clone().unwrap_or_default(),
//!         vm_service.disk_attachments_service().list().send(),
//!         vm_service.nics_service().list().send(),
//!         vm_service.permissions_service().list().send(),
//!     ));
//! }
//! for (name, disks, nics, permissions) in pending {
//!     let (disks, nics, permissions) = (disks.await?, nics.await?, permissions.await?);
//!     println!("{name}: {} disks, {} nics, {} permissions", disks.len(), nics.len(), permissions.len());
//! }
//!
//! connection.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! The same without an async runtime, with the [`blocking`] facade and its
//! [`Wait`](blocking::Wait) trait (`send` returns a handle, `wait` blocks for the result):
//!
//! ```no_run
//! use ovirt::blocking::{Connection, Wait};
//!
//! # fn inventory() -> Result<(), ovirt::Error> {
//! let connection = Connection::builder()
//!     .url("https://engine.example.com/ovirt-engine/api")
//!     .username("admin@internal")
//!     .password("secret")
//!     .ca_file("ca.pem")
//!     .build_blocking()?;
//!
//! let vms_service = connection.system_service().vms_service();
//! let vms = vms_service.list().wait()?;
//! let pending: Vec<_> = vms
//!     .iter()
//!     .map(|vm| {
//!         let vm_service = vms_service.vm_service(vm);
//!         (
//!             vm_service.disk_attachments_service().list().send(),
//!             vm_service.nics_service().list().send(),
//!             vm_service.permissions_service().list().send(),
//!         )
//!     })
//!     .collect();
//! for (vm, (disks, nics, permissions)) in vms.iter().zip(pending) {
//!     let (disks, nics, permissions) = (disks.wait()?, nics.wait()?, permissions.wait()?);
//!     println!("{:?}: {} disks, {} nics, {} permissions",
//!              vm.name, disks.len(), nics.len(), permissions.len());
//! }
//! connection.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! Runnable versions against an embedded test engine or a real one:
//! `cargo run --release -p ovirt --example inventory` and `--example inventory_blocking`.
//!
//! # Disk upload and download
//!
//! [`transfer::upload`] and [`transfer::download`] (and the blocking facade's
//! [`upload`](blocking::Connection::upload) and [`download`](blocking::Connection::download))
//! move a disk's image through an image transfer: over several imageio connections, zeros
//! skipped, with progress, cancelled on failure. See [`transfer`].
//!
//! # Concepts
//!
//! Searching (`search`, `max`, `case_sensitive`), long lists read as a stream, `follow`,
//! `all_content`, async actions and jobs, correlation ids, links and how to follow them,
//! and names that are Rust keywords (`r#type`, `async_`): see [`concepts`].
//!
//! # Pipelining
//!
//! [`ConnectionBuilder::connections`] (default 5) connections are opened as needed, and
//! each carries up to [`ConnectionBuilder::pipeline`] (default 8) requests at once;
//! answers come back in the order the requests were written on each connection.
//! `pipeline(1)` turns pipelining off (one request in flight per connection, which is what
//! the official SDKs do today whatever their `pipeline` option says).
//!
//! Only idempotent requests are pipelined: `get` and `list` (`GET`), `update` (`PUT`) and
//! `remove` (`DELETE`). `add` and actions (`POST`) are written on a connection with nothing
//! in flight, and nothing is written behind them until they are answered.
//!
//! A call is sent when it is awaited or when [`send`](service::Request::send) is called;
//! each sent call runs as a task of the tokio runtime, so it moves (through the login,
//! waiting for room, the exchange) while the caller awaits other answers first.
//!
//! # Cancel safety
//!
//! Dropping a [`ResponseFuture`](service::ResponseFuture) (or a request future before it
//! completes) aborts its task and never desynchronises a connection: a request not yet
//! written is not sent, the answer of one already written is read and thrown away so the
//! next answer still goes to the next request, and a request is never left half written.
//! A dropped request that was already written may still have been carried out by the
//! engine.
//!
//! # Connection failure
//!
//! When a connection ends while requests are on it (the engine closes it, a reset, a
//! malformed answer), requests never written are queued again; written idempotent requests
//! are sent again on another connection, at most [`ConnectionBuilder::max_retries`] times;
//! a written `add` or action fails with [`ErrorKind::Connection`](error::ErrorKind) and
//! [`Error::may_have_been_processed`] returning true, because the engine may have carried
//! it out. A request answered 401 (an expired token) makes the connection log in again,
//! once for all requests that failed with the same token, and sends each of them once
//! more.
//!
//! # Backpressure
//!
//! At most `connections x pipeline` requests are in flight on the wire; sent calls beyond
//! that wait, in the order they were sent, until a place frees up. A waiting call holds
//! only its own request. Each sent call reads its answer whole and keeps it until it is
//! awaited, so a program that sends a very large number of calls before awaiting any
//! should keep a bounded window of calls in flight (for example with
//! `futures::stream::StreamExt::buffered`). A single long list is read in bounded memory
//! with [`stream`](service::Request::stream) instead of `.await` (see
//! [Long lists](concepts#long-lists)).
//!
//! # Errors
//!
//! Every call ends in `Result<T, ovirt::Error>`. An [`Error`] has a
//! [`kind`](Error::kind) (authentication, not found, conflict, engine fault, time-out,
//! connection, malformed HTTP, unexpected response, XML, invalid request or path,
//! configuration), the HTTP method and URL of the request, the HTTP status and the
//! engine's [`Fault`](error::Fault) when the engine answered, and says whether the request
//! [may have been processed](Error::may_have_been_processed). A missing mandatory
//! parameter is reported before anything is sent. Passwords and tokens never appear in
//! errors, `Debug` output or log events.
//!
//! Messages name the full URL and the status line (`GET
//! https://engine.example.com/ovirt-engine/api/vms/123: not found (HTTP 404 Not Found)`)
//! and end with advice when the SDK recognises the mistake
//! ([`Error::hint_text`]): an untrusted CA, an `http://` URL of a TLS port, a wrong API path.
//! `Debug` shows the same text after the kind, then the causes, so a
//! `fn main() -> Result<(), ovirt::Error>` prints something to act on.
//!
//! # Features
//!
//! * `native-roots` (default): trust the operating system's certificate store when no CA
//!   file or PEM is given ([`ConnectionBuilder::system_roots`]).
//! * `webpki-roots`: trust the Mozilla root certificates compiled into the program
//!   (for systems without a usable store); with both features both are trusted.
//!
//! Without either feature, an `https://` engine needs
//! [`ca_file`](ConnectionBuilder::ca_file) or [`ca_pem`](ConnectionBuilder::ca_pem). The
//! [`blocking`] facade is always built: it needs nothing beyond what the async API uses.
#![deny(missing_docs)]
// rustdoc works out the auto traits (`Send`, `Sync`, ...) of the deeply nested generated
// types and needs a deeper limit than the compiler does.
#![recursion_limit = "256"]

pub mod blocking;
pub mod concepts;
pub mod connection;
pub mod error;
mod id;
pub mod links;
pub mod logging;
pub mod service;
pub mod transfer;
pub mod wire;
pub mod xml;

/// Every type of the API: a struct per model struct, an enum per model enum
/// (generated from `spec/`).
#[allow(clippy::all)]
pub mod types {
    include!(concat!(env!("OUT_DIR"), "/types.rs"));
}

/// Generated XML readers and writers of the types.
#[allow(clippy::all)]
mod xml_impls {
    include!(concat!(env!("OUT_DIR"), "/xml.rs"));
}

/// Services: one type per API service (`SystemService` is the root), with a typed request
/// builder per method, locators, and navigation by path (generated from `spec/`; runtime in
/// [`service`]).
pub mod services {
    include!(concat!(env!("OUT_DIR"), "/services.rs"));
}

/// Generated test data (feature `test-data`).
#[cfg(feature = "test-data")]
#[doc(hidden)]
#[allow(clippy::all, missing_docs)]
pub mod sample {
    include!(concat!(env!("OUT_DIR"), "/sample.rs"));
}

pub use connection::{probe, Connection, ConnectionBuilder, Probe};
pub use error::Error;
pub use id::AsId;
pub use links::{Follow, Link};
pub use service::WaitUntil;
pub use xml::List;
