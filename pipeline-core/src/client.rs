//! The client, its builder and the response future.

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::pool::Pool;
use crate::{Error, ErrorKind, Headers, Method, Request, Response};

/// The origin every request of a client goes to.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as sent in `Host` (port omitted when it is the scheme's default).
    pub(crate) authority: String,
    /// `scheme://authority`, used in error messages and absolute-form targets.
    pub(crate) prefix: String,
}

impl Origin {
    /// Parses `http://host[:port]` or `https://host[:port]`, with an optional `/` after it.
    pub(crate) fn parse(url: &str, what: &str) -> Result<Origin, Error> {
        // The URL is echoed in errors, minus any `user:password@` part.
        let shown = redact_userinfo(url);
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("invalid {what} {shown:?}: {why}"),
            )
        };
        let (https, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            (false, r)
        } else {
            return Err(bad("the scheme must be http:// or https://"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (auth, tail) = rest.split_at(end);
        if !(tail.is_empty() || tail == "/") {
            return Err(bad(
                "an origin has no path, query or fragment (give paths to each Request)",
            ));
        }
        if auth.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(r) = auth.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            let host = &r[..close];
            let after = &r[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p).ok_or_else(|| bad("invalid port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("unexpected characters after the host")),
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
            (host.to_string(), port)
        } else {
            let (h, p) = match auth.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p).ok_or_else(|| bad("invalid port"))?),
                None => (auth, default_port),
            };
            (h.to_string(), p)
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return Err(bad("invalid host"));
        }
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_ascii_lowercase()
        };
        let authority = if port == default_port {
            host_part
        } else {
            format!("{host_part}:{port}")
        };
        let prefix = format!("{}://{}", if https { "https" } else { "http" }, authority);
        Ok(Origin {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority,
            prefix,
        })
    }
}

/// `url` with any user information (`user:password@`) before the host replaced by `***@`,
/// so that a URL can be shown in an error without leaking a password.
fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    if s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()) {
        Some(&s[p.len()..])
    } else {
        None
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&p| p != 0)
}

/// An HTTP proxy (only `http://` proxies are supported). Requests to an `http://` origin
/// are sent to the proxy in absolute form; connections to an `https://` origin are tunnelled
/// with `CONNECT`.
#[derive(Clone)]
pub struct Proxy {
    pub(crate) origin: Origin,
    /// `Basic ...` credentials; never shown in `Debug` output.
    pub(crate) authorization: Option<String>,
}

impl Proxy {
    /// A proxy at `http://host[:port]`.
    pub fn new(url: &str) -> Result<Proxy, Error> {
        let origin = Origin::parse(url, "proxy URL")?;
        if origin.https {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "invalid proxy URL {:?}: only http:// proxies are supported",
                    origin.prefix
                ),
            ));
        }
        Ok(Proxy {
            origin,
            authorization: None,
        })
    }

    /// Authenticates to the proxy with HTTP basic authentication
    /// (`Proxy-Authorization: Basic ...`).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Proxy {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.origin.prefix)
            .field("basic_auth", &self.authorization.is_some())
            .finish()
    }
}

/// Everything a connection needs to know; shared by all connections of a client.
pub(crate) struct Config {
    pub(crate) origin: Origin,
    pub(crate) max_connections: usize,
    pub(crate) pipeline_depth: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) default_headers: Headers,
    pub(crate) gzip: bool,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) proxy: Option<Proxy>,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_retries: u32,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_body_bytes: Option<u64>,
}

impl Config {
    /// The URL of a request, for error messages.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut s = String::with_capacity(self.origin.prefix.len() + path.len());
        s.push_str(&self.origin.prefix);
        s.push_str(path);
        s
    }
}

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

    /// Time allowed for a whole request, from `send` to the end of its response body
    /// (default 60 s; `None`: no limit). [`Request::timeout`] overrides it.
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

    /// How many times an idempotent request is re-sent after the connection it was written
    /// on failed (default 3).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// How long a connection with nothing in flight stays open before the client closes it
    /// (default 90 s; `None`: until the server closes it). Closing before the server does
    /// avoids sending a request just as the server closes an idle connection.
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
        let probe = Request {
            method: Method::Get,
            path: "/".into(),
            headers: self.default_headers.clone(),
            body: Bytes::new(),
            timeout: None,
            max_body_bytes: None,
        };
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
        self.inner.pool.send(request)
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

type Acquire =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>> + Send>>;

/// The future of a response, returned by [`Client::send`]. Dropping it cancels the request
/// safely (see the crate documentation, "Cancel safety").
pub struct ResponseFuture {
    state: FutureState,
    /// The request's deadline, if it has a timeout.
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

pub(crate) enum FutureState {
    /// Waiting for capacity (backpressure). The request's timeout does not run yet.
    Admission {
        acquire: Acquire,
        request: Box<Request>,
        pool: Arc<Pool>,
        /// The request's timeout, started once it is admitted.
        timeout: Option<Duration>,
    },
    /// Queued; the connection answers through the channel.
    Queued {
        rx: oneshot::Receiver<Result<Response, Error>>,
        method: Method,
        pool: Arc<Pool>,
        path: Arc<str>,
    },
    /// Resolved without going to a connection (e.g. an invalid request).
    Ready(Option<Error>),
}

impl ResponseFuture {
    pub(crate) fn ready_err(e: Error) -> ResponseFuture {
        ResponseFuture {
            state: FutureState::Ready(Some(e)),
            deadline: None,
            sleep: None,
        }
    }

    pub(crate) fn from_state(state: FutureState, deadline: Option<Instant>) -> ResponseFuture {
        ResponseFuture {
            state,
            deadline,
            sleep: None,
        }
    }

    pub(crate) fn waiting(
        sem: Arc<Semaphore>,
        request: Request,
        pool: Arc<Pool>,
        timeout: Option<Duration>,
    ) -> ResponseFuture {
        ResponseFuture {
            state: FutureState::Admission {
                acquire: Box::pin(sem.acquire_owned()),
                request: Box::new(request),
                pool,
                timeout,
            },
            deadline: None,
            sleep: None,
        }
    }

    fn timeout_error(&self) -> Error {
        match &self.state {
            // Not reached: no deadline runs during admission.
            FutureState::Admission { .. } => Error::new(ErrorKind::Timeout, "timed out"),
            FutureState::Queued {
                method, pool, path, ..
            } => Error::new(ErrorKind::Timeout, "timed out waiting for the response")
                .processed(true)
                .for_request(*method, pool.config.url(path)),
            FutureState::Ready(_) => Error::new(ErrorKind::Timeout, "timed out"),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                FutureState::Ready(e) => {
                    return Poll::Ready(Err(e.take().unwrap_or_else(|| {
                        Error::new(
                            ErrorKind::Canceled,
                            "response future polled after completion",
                        )
                    })));
                }
                FutureState::Queued { rx, .. } => match Pin::new(rx).poll(cx) {
                    Poll::Ready(Ok(r)) => {
                        this.state = FutureState::Ready(None);
                        return Poll::Ready(r);
                    }
                    Poll::Ready(Err(_)) => {
                        let e = match &this.state {
                            FutureState::Queued {
                                method, pool, path, ..
                            } => Error::new(
                                ErrorKind::Canceled,
                                "the connection task ended without an answer",
                            )
                            .processed(true)
                            .for_request(*method, pool.config.url(path)),
                            _ => unreachable_state(),
                        };
                        this.state = FutureState::Ready(None);
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => break,
                },
                FutureState::Admission { acquire, .. } => match acquire.as_mut().poll(cx) {
                    Poll::Ready(Ok(permit)) => {
                        let FutureState::Admission {
                            request,
                            pool,
                            timeout,
                            ..
                        } = std::mem::replace(&mut this.state, FutureState::Ready(None))
                        else {
                            return Poll::Ready(Err(unreachable_state()));
                        };
                        // The timeout starts now that the request is admitted.
                        this.deadline = timeout.map(|t| Instant::now() + t);
                        this.state = pool.submit(*request, permit, this.deadline);
                    }
                    Poll::Ready(Err(_)) => {
                        let e = Error::new(ErrorKind::Canceled, "the client was shut down");
                        this.state = FutureState::Ready(None);
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => break,
                },
            }
        }
        if let (Some(deadline), FutureState::Queued { .. }) = (this.deadline, &this.state) {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if sleep.as_mut().poll(cx).is_ready() {
                let e = this.timeout_error();
                if let FutureState::Queued { rx, .. } = &mut this.state {
                    // The connection may have answered at the same instant.
                    if let Ok(r) = rx.try_recv() {
                        this.state = FutureState::Ready(None);
                        return Poll::Ready(r);
                    }
                }
                this.state = FutureState::Ready(None);
                return Poll::Ready(Err(e));
            }
        }
        Poll::Pending
    }
}

fn unreachable_state() -> Error {
    Error::new(
        ErrorKind::Canceled,
        "internal error: unexpected future state",
    )
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match &self.state {
            FutureState::Admission { .. } => "waiting for capacity",
            FutureState::Queued { .. } => "queued",
            FutureState::Ready(_) => "ready",
        };
        f.debug_struct("ResponseFuture").field("state", &s).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_url_with_a_password_is_refused_without_showing_the_password() {
        let err = Proxy::new("http://alice:s3cret@proxy.example:3128").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("user information"), "{text}");
        assert!(text.contains("***@proxy.example:3128"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
    }

    #[test]
    fn urls_without_user_information_are_shown_as_given() {
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_userinfo("https://u@h"), "https://***@h");
        assert_eq!(redact_userinfo("u:p@h"), "***@h");
    }
}
