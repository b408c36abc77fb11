//! `http1-pipeline`: an async HTTP/1.1 client for talking to one REST API fast. It keeps a
//! few persistent connections to one origin and writes several requests on each before the
//! first response arrives (HTTP/1.1 pipelining), matching responses to requests first in,
//! first out (RFC 9112 section 9.3). Many clients never pipeline, because a broken connection
//! or a misbehaving server can hand a response to the wrong request; this crate pipelines only
//! requests that are safe to repeat and keeps the matching strict.
//!
//! It was written for the oVirt Engine SDK (the `ovirt` crate) but knows nothing of oVirt,
//! XML or any particular API: it runs on tokio, with rustls for `https`.
//!
//! A [`Request`] is a method, a path with query,
//! headers and a body: bytes, or a [`StreamBody`] produced chunk by chunk while it is
//! written; a [`Response`] is a status, headers and a [`Body`] read whole or as a stream of
//! chunks.
//!
//! ```
//! use http1_pipeline::{Client, Request};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A tiny server on 127.0.0.1 that answers every request head it reads, in order.
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let origin = format!("http://{}", listener.local_addr()?);
//! tokio::spawn(async move {
//!     let (mut socket, _) = listener.accept().await.unwrap();
//!     let (mut pending, mut buf, mut n) = (Vec::new(), [0u8; 4096], 0);
//!     while let Ok(read) = socket.read(&mut buf).await {
//!         if read == 0 { break }
//!         pending.extend_from_slice(&buf[..read]);
//!         while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
//!             pending.drain(..end + 4);
//!             n += 1;
//!             let body = format!("response {n}");
//!             let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
//!             socket.write_all((head + &body).as_bytes()).await.unwrap();
//!         }
//!     }
//! });
//!
//! let client = Client::builder(&origin)
//!     .max_connections(1)
//!     .pipeline_depth(8)
//!     .default_header("User-Agent", "example/1")
//!     .build()?;
//!
//! // `send` is not async: both requests are queued (and written together) before the
//! // first `.await`.
//! let first = client.send(Request::get("/api/vms?search=name%3Dweb"));
//! let second = client.send(Request::get("/api/hosts"));
//!
//! let first = first.await?;
//! assert_eq!(first.status(), 200);
//! assert_eq!(first.text().await?, "response 1");
//! // Large bodies can be read chunk by chunk as they arrive.
//! let mut body = second.await?.into_body();
//! let mut all = Vec::new();
//! while let Some(chunk) = body.chunk().await? {
//!     all.extend_from_slice(&chunk);
//! }
//! assert_eq!(all, b"response 2");
//! # Ok(())
//! # }
//! ```
//!
//! # Pipelining
//!
//! A new request goes to the connection with the fewest requests in flight; while fewer
//! than [`max_connections`](ClientBuilder::max_connections) are open and every open one
//! is busy, a new connection is opened. Each connection carries at most
//! [`pipeline_depth`](ClientBuilder::pipeline_depth) requests at once (1 turns pipelining
//! off). Requests are written back to back; responses come back in the same order:
//!
//! ```text
//! client  ──GET /a──GET /b──GET /c──────────────────────────────▶
//! server  ◀─────────────────────────200 (a)──200 (b)──200 (c)───
//!         FIFO on the socket:  [a b c] → [b c] → [c] → []
//! ```
//!
//! Only idempotent requests (`GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`, see
//! [`Method::is_idempotent`]) with their body in memory are pipelined. A `POST`, `PATCH` or
//! other non-idempotent request, and any request with a streamed body, is written only on
//! a connection with nothing in flight, and nothing is written behind it until its whole
//! response, body included, has been read. Interim `1xx`
//! responses are skipped. Bodies are framed by `Content-Length`, `chunked` (extensions and
//! trailers are accepted and ignored) or the close of the connection; responses to `HEAD`
//! and `1xx`/`204`/`304` responses have no body.
//!
//! The client sends `Host`, the default headers, `Connection: keep-alive`,
//! `Accept-Encoding: gzip` (unless [`gzip(false)`](ClientBuilder::gzip)) and
//! `Content-Length` when there is a body (and always for `POST`, `PUT` and `PATCH`), or
//! `Transfer-Encoding: chunked` for a streamed body of unknown length. A gzip response body
//! is decoded transparently.
//!
//! A response is handed over when its body is complete, or once 256 KiB of it (half of
//! [`max_body_bytes`](ClientBuilder::max_body_bytes) if that is smaller) have arrived;
//! from then on the rest streams through its [`Body`]. Holding small bodies back is what
//! lets a request whose response was cut be sent again (below).
//!
//! # Connection budget
//!
//! Servers limit how many requests a connection carries and how long it may stay idle;
//! Apache httpd, in front of every oVirt engine, says so in a `Keep-Alive: timeout=5,
//! max=N` header (N: the requests it still takes on this connection) when the request
//! carries `Connection: keep-alive`. The client follows it:
//!
//! * it never writes more requests on a connection than the server said it has left; the
//!   requests beyond go to another connection without losing anything;
//! * a connection that has been given its last request no longer counts against
//!   `max_connections`, so its replacement opens (and completes its TCP and TLS
//!   handshakes) while the last responses are still arriving;
//! * the budget learned from one connection (responses so far plus `max`) applies to the
//!   connections opened later; without the header, the number of responses a connection
//!   carried before the first `Connection: close` of the origin becomes that budget (a
//!   close after a single response teaches nothing), and so does the count at which two
//!   connections in a row were closed without notice between two responses while
//!   requests were still unanswered (a budget the server enforces but does not announce);
//! * an idle connection is closed before the server's announced `timeout`: a fifth of it
//!   earlier (at least a second, at most half of it), or after
//!   [`idle_timeout`](ClientBuilder::idle_timeout) if that comes first or the server
//!   announced nothing.
//!
//! # Cancel safety
//!
//! Dropping a [`ResponseFuture`] (or a [`Body`]) never desynchronises a connection:
//!
//! * a request not yet written is skipped: the server never sees it;
//! * a request already written has its response read and thrown away, so the next response
//!   still goes to the next request;
//! * a request whose writing has started is always written completely (its body is held
//!   as [`bytes::Bytes`] by the connection), so a cancellation can never leave half a
//!   request on the wire. Should a write fail half-way, the connection is closed and the
//!   other requests follow the rules below;
//! * a request with a [streamed body](StreamBody) dropped while its body is being written
//!   closes its connection instead (it is alone on it; requests waiting behind it go to
//!   another connection): the rest of the body is never pulled from its source.
//!
//! # Connection failure
//!
//! A `Connection: close` from the server, an `HTTP/1.0` response without keep-alive, an
//! idle close, a reset, a malformed response, a request timeout and a response body over
//! [`max_body_bytes`](ClientBuilder::max_body_bytes) all end the connection. A request
//! never fails because another request on its connection failed; for the requests that
//! were on it and not yet answered:
//!
//! * a request never written is queued again, never failed;
//! * after an announced close (`Connection: close`, or HTTP/1.0 without keep-alive, on a
//!   complete response) the requests written behind that response were never processed
//!   (RFC 9112 section 9.6): they are sent again at once, pipelined, without spending a
//!   retry;
//! * after any other failure a written idempotent request may have been processed: it is
//!   sent again on another connection while it has retries left
//!   ([`max_retries`](ClientBuilder::max_retries), each re-send spends one, so the server
//!   sees a request at most `1 + max_retries` times). The first such request on a fresh
//!   connection goes alone, and pipelining on that connection resumes after its answer
//!   (RFC 9112 section 9.3.2);
//! * a written non-idempotent request fails with [`ErrorKind::Closed`] and
//!   [`Error::may_have_been_processed`] returning true;
//! * the request whose own response was malformed or cut short is sent again the same way
//!   if it is idempotent and its response was not handed over yet; otherwise it fails with
//!   that error (a non-idempotent one "may have been processed"). A request that timed out
//!   or whose body is over the limit fails with that error.
//!
//! # Streamed request bodies
//!
//! A [`StreamBody`] is produced while it is written, from a [`futures_core::Stream`] of
//! [`bytes::Bytes`] chunks or a [`tokio::io::AsyncRead`], so that a disk image of many
//! gigabytes never sits in memory:
//!
//! ```no_run
//! use http1_pipeline::{Client, Method, Request, StreamBody};
//! use tokio::io::{AsyncReadExt, AsyncSeekExt};
//!
//! # async fn upload(client: &Client) -> Result<(), Box<dyn std::error::Error>> {
//! // Bytes 1 MiB..2 MiB of a file, opened again if the request must be re-sent.
//! let (start, len) = (1 << 20, 1 << 20);
//! let body = StreamBody::restartable_reader(Some(len), move || async move {
//!     let mut file = tokio::fs::File::open("disk.img").await?;
//!     file.seek(std::io::SeekFrom::Start(start)).await?;
//!     Ok(file.take(len))
//! });
//! let request = Request::new(Method::Put, "/images/ticket")
//!     .header("Content-Range", format!("bytes {start}-{}/*", start + len - 1))
//!     .stream_body(body);
//! let response = client.send(request).await?;
//! assert!(response.status() < 300);
//! # Ok(())
//! # }
//! ```
//!
//! * With a known length the request carries `Content-Length`; a source that produces
//!   more or fewer bytes fails the request with [`ErrorKind::RequestBody`] and closes the
//!   connection (its framing is broken). Without a length the body is sent `chunked`.
//! * The next chunk is pulled from the source only once the socket has taken the previous
//!   one: memory stays bounded by about one chunk.
//! * Such a request goes alone on its connection (see Pipelining). Should the server answer
//!   with a final response before the body is complete (`413`, `401`, `403`...), the rest
//!   of the body is not sent: the response is delivered and the connection closes after it.
//! * A source error fails the request with [`ErrorKind::RequestBody`] naming the cause,
//!   and closes the connection; requests waiting behind it go to another connection.
//! * After a connection failure the request is re-sent (idempotent methods, within
//!   [`max_retries`](ClientBuilder::max_retries)) only if its body is restartable
//!   ([`StreamBody::restartable`], [`StreamBody::restartable_reader`]): a fresh source is
//!   made for each attempt. A one-shot body fails the request instead, saying whether it
//!   may have been processed.
//!
//! # Range requests
//!
//! [`Request::range`] asks for part of a resource (`Range: bytes=FIRST-LAST`);
//! [`Response::content_range`] parses the answer's `Content-Range` into a
//! [`ContentRange`]. Check the status: `206` carries the range the `Content-Range` names,
//! `200` means the server ignored the range and sends everything, `416` that the range
//! starts beyond the end.
//!
//! # Timeouts
//!
//! The [request timeout](ClientBuilder::request_timeout) starts when the request is
//! admitted (see Backpressure): time spent waiting for room in
//! `max_connections x pipeline_depth` does not count, so a burst of requests larger than
//! that does not time out in the client's own queue. From admission it covers the whole
//! exchange, waiting for a connection and response body included: a server stalling
//! mid-body hits it. A written request that times out fails with [`ErrorKind::Timeout`];
//! its connection can no longer match responses to requests, so it closes, after the
//! response being streamed ahead of it if there is one, and the other requests on it are
//! handled as above. When the last [`Client`] clone is dropped, idle connections close and
//! busy ones finish the requests already sent, then close.
//!
//! # Backpressure
//!
//! At most `max_connections x pipeline_depth` requests are in flight (sent and not yet
//! finished, body included). [`Client::send`] queues a request at once while there is
//! room; beyond that the returned future holds the request and queues it, in the order
//! the futures started waiting, when room frees up (the future must be polled for that,
//! as any future). So memory stays bounded however many requests are submitted. A waiting
//! future that is dropped gives up its place.
//!
//! # Errors
//!
//! Every future resolves, with a [`Response`] or an [`Error`]. An error names the method
//! and URL, says what failed ([`ErrorKind`]: connect, TLS, timeout, malformed response,
//! closed before the response, body decoding, header limits, body size limit, proxy,
//! streamed request body, TLS server behind an `http://` origin, `Content-Range`) and
//! whether the request [may have been processed](Error::may_have_been_processed). A plain
//! `http://` client whose server answers with a TLS record gets
//! [`ErrorKind::ServerSpeaksTls`] ("use https://"; the request was not processed). No bytes
//! from the network can make the client panic. Errors and `Debug` output never contain header
//! values of `Authorization`, `Proxy-Authorization` or `Cookie`, nor proxy credentials.
//!
//! # TLS and proxies
//!
//! `https://` origins use rustls (ring provider) with the system's certificate
//! authorities and any added with [`ClientBuilder::add_ca_pem`] or
//! [`ClientBuilder::add_ca_file`]; the server name is sent (SNI) and checked against the
//! certificate. [`ClientBuilder::insecure`] turns every certificate check off, for tests
//! only. A [`Proxy`] receives plain-HTTP requests in absolute form and tunnels `https://`
//! connections with `CONNECT`, optionally with basic authentication.
#![deny(missing_docs)]

mod body;
mod client;
mod config;
mod conn;
mod connect;
mod error;
mod future;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod headers;
mod job;
mod method;
mod pipeline;
mod pool;
mod proto;
mod request;
mod response;
mod tls;
mod upload;

pub use body::Body;
pub use client::{Client, ClientBuilder};
pub use config::Proxy;
pub use error::{Error, ErrorKind};
pub use future::ResponseFuture;
pub use headers::Headers;
pub use method::Method;
pub use request::Request;
pub use response::{ContentRange, Response};
pub use upload::{BoxError, StreamBody};
