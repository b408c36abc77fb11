//! The client and its builder.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{Config, Origin, Proxy};
use crate::future::ResponseFuture;
use crate::pool::Pool;
use crate::{Error, ErrorKind, Headers, Method, Request};

/// Builds a [`Client`]. Get one from [`Client::builder`].
pub struct ClientBuilder {
    origin: String,
    max_connections: usize,
    pipeline_depth: usize,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    default_headers: Headers,
    gzip: bool,
    system_roots: bool,
    ca_pems: Vec<Vec<u8>>,
    ca_files: Vec<PathBuf>,
    insecure: bool,
    proxy: Option<Proxy>,
    max_header_bytes: usize,
    max_headers: usize,
    max_retries: u32,
    idle_timeout: Option<Duration>,
    max_body_bytes: Option<u64>,
}

impl ClientBuilder {
    /// Maximum number of connections to the origin (default 5, at least 1).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Requests in flight per connection (default 8, at least 1; 1 means no pipelining).
    pub fn pipeline_depth(mut self, n: usize) -> Self {
        self.pipeline_depth = n;
        self
    }

    /// Time allowed to open a connection, including the proxy tunnel and the TLS handshake
    /// (default 10 s).
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Time allowed for a whole request, from its admission to the end of its response
    /// body (default 60 s; `None`: no limit). [`Request::timeout`] overrides it. Time spent
    /// waiting for admission, while `max_connections x pipeline_depth` requests are already
    /// in flight, is not counted (see the crate documentation, "Timeouts").
    pub fn request_timeout(mut self, t: Option<Duration>) -> Self {
        self.request_timeout = t;
        self
    }

    /// A header sent on every request unless the request sets a header of the same name.
    pub fn default_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.append(name, value);
        self
    }

    /// Whether to send `Accept-Encoding: gzip` and decode gzip bodies transparently
    /// (default true).
    pub fn gzip(mut self, on: bool) -> Self {
        self.gzip = on;
        self
    }

    /// Whether to trust the default certificate authorities (default true): the operating
    /// system's store with the `native-roots` feature (on by default), the Mozilla roots
    /// compiled in with the `webpki-roots` feature, both with both. Without either feature
    /// only the authorities added with [`ClientBuilder::add_ca_pem`] or
    /// [`ClientBuilder::add_ca_file`] are trusted, and building a client for an `https://`
    /// origin with none fails with [`ErrorKind::Config`].
    pub fn tls_system_roots(mut self, on: bool) -> Self {
        self.system_roots = on;
        self
    }

    /// Trusts the certificate authorities in this PEM bundle (one or more certificates).
    pub fn add_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Trusts the certificate authorities in this PEM file; read by [`ClientBuilder::build`].
    pub fn add_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// **Dangerous.** `true` turns off every server certificate check (trust chain, expiry
    /// and host name): anyone on the network path can impersonate the server. Only for tests
    /// and lab setups. Default false.
    pub fn insecure(mut self, on: bool) -> Self {
        self.insecure = on;
        self
    }

    /// Sends everything through this HTTP proxy.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Maximum size of a response head (status line plus headers; default 64 KiB).
    pub fn max_header_bytes(mut self, n: usize) -> Self {
        self.max_header_bytes = n;
        self
    }

    /// Maximum number of headers in a response (default 100).
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// How many times an idempotent request that may have been processed is re-sent after
    /// the connection it was written on failed, or after its own response was cut or
    /// malformed (default 3). Re-sending the requests a server announced it would not
    /// process (`Connection: close`) spends nothing.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// How long a connection with nothing in flight stays open before the client closes it
    /// (default 90 s; `None`: until the server closes it). When the server announces its
    /// own idle timeout (`Keep-Alive: timeout=`), the connection closes a margin before
    /// that instead, if it is sooner. Closing before the server does avoids sending a
    /// request just as the server closes an idle connection.
    pub fn idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    /// Maximum size of a response body, in bytes (default `None`: no limit; the
    /// request timeout is then the only bound on an endless body).
    /// [`Request::max_body_bytes`] overrides it.
    ///
    /// The limit applies to the body bytes received (after chunked decoding) and, for a
    /// gzip body the client decodes, to the decoded bytes too. A `Content-Length` above
    /// the limit is refused as soon as the response head arrives; a chunked or
    /// close-delimited body is counted as it arrives, even when the caller streams it or
    /// dropped it. Past the limit the request fails with [`ErrorKind::BodyTooLarge`] and
    /// its connection is closed (requests pipelined behind it are handled as for any
    /// closed connection: retried elsewhere when idempotent). A gzip body whose decoded
    /// size passes the limit fails the same way when it is read; its connection stays
    /// open, since its wire bytes were within the limit.
    pub fn max_body_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Checks the options and builds the client. Errors are [`ErrorKind::Config`] (or
    /// [`ErrorKind::Tls`] for unreadable certificate files).
    pub fn build(self) -> Result<Client, Error> {
        let origin = Origin::parse(&self.origin, "origin URL")?;
        let cfg_err = |m: &str| Error::new(ErrorKind::Config, m.to_string());
        if self.max_connections == 0 {
            return Err(cfg_err("max_connections must be at least 1"));
        }
        if self.pipeline_depth == 0 {
            return Err(cfg_err("pipeline_depth must be at least 1"));
        }
        if self.max_headers == 0 || self.max_header_bytes < 16 {
            return Err(cfg_err(
                "max_headers must be at least 1 and max_header_bytes at least 16",
            ));
        }
        let capacity = self
            .max_connections
            .checked_mul(self.pipeline_depth)
            .filter(|&c| c <= Semaphore::MAX_PERMITS)
            .ok_or_else(|| cfg_err("max_connections x pipeline_depth is too large"))?;
        let mut probe = Request::new(Method::Get, "/");
        *probe.headers_mut() = self.default_headers.clone();
        probe
            .validate()
            .map_err(|m| Error::new(ErrorKind::Config, format!("invalid default header: {m}")))?;
        let tls = if origin.https {
            Some(crate::tls::client_config(
                self.system_roots,
                &self.ca_pems,
                &self.ca_files,
                self.insecure,
            )?)
        } else {
            None
        };
        let config = Config {
            origin,
            max_connections: self.max_connections,
            pipeline_depth: self.pipeline_depth,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            default_headers: self.default_headers,
            gzip: self.gzip,
            tls,
            proxy: self.proxy,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_retries: self.max_retries,
            idle_timeout: self.idle_timeout,
            max_body_bytes: self.max_body_bytes,
        };
        let pool = Pool::new(config, capacity);
        Ok(Client {
            inner: Arc::new(ClientInner { pool }),
        })
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("origin", &self.origin)
            .field("max_connections", &self.max_connections)
            .field("pipeline_depth", &self.pipeline_depth)
            .field("insecure", &self.insecure)
            .field("proxy", &self.proxy)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

struct ClientInner {
    pool: Arc<Pool>,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        self.pool.client_dropped();
    }
}

/// An HTTP/1.1 client for one origin that pipelines requests over a few persistent
/// connections. Cheap to clone (all clones share the connections). See the
/// [crate documentation](crate) for the rules it follows.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl Client {
    /// A builder for a client of this origin: `http://host[:port]` or `https://host[:port]`
    /// (a trailing `/` is accepted; any other path, a query or user information is rejected
    /// by `build`).
    pub fn builder(origin: &str) -> ClientBuilder {
        ClientBuilder {
            origin: origin.to_string(),
            max_connections: 5,
            pipeline_depth: 8,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(60)),
            default_headers: Headers::new(),
            gzip: true,
            system_roots: true,
            ca_pems: Vec::new(),
            ca_files: Vec::new(),
            insecure: false,
            proxy: None,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_retries: 3,
            idle_timeout: Some(Duration::from_secs(90)),
            max_body_bytes: None,
        }
    }

    /// Sends a request. Not `async`: if fewer than `max_connections x pipeline_depth`
    /// requests are in flight the request is queued at once (so requests sent before the
    /// first `.await` travel together); otherwise the returned future holds it and queues it,
    /// first come first served, once capacity frees up. Must be called within a tokio
    /// runtime.
    pub fn send(&self, request: Request) -> ResponseFuture {
        crate::future::send(&self.inner.pool, request)
    }

    /// The origin, as `scheme://host[:port]`.
    pub fn origin(&self) -> &str {
        &self.inner.pool.config.origin.prefix
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("origin", &self.origin())
            .finish_non_exhaustive()
    }
}
