//! The connection to an engine: options, SSO login and logout, and the [`Transport`] the
//! services send through.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ovirt::Error> {
//! let connection = ovirt::Connection::builder()
//!     .url("https://engine.example.com/ovirt-engine/api")
//!     .username("admin@internal")
//!     .password("secret")
//!     .ca_file("ca.pem")
//!     .build()?;
//! connection.test().await?;          // logs in (once) and reads the API root
//! let vms = connection.system_service().vms_service().list().search("name=web*").await?;
//! println!("{} VMs", vms.len());
//! connection.close().await?;         // revokes the token
//! # Ok(())
//! # }
//! ```
//!
//! Login is lazy: the first request logs in with the SSO password grant (docs/wire.md R5.1, R5.2)
//! and every request issued meanwhile waits for that one login. A request answered 401
//! makes the connection log in again, once for all requests that failed with the same
//! token, and send each of them once more (R4.5). [`Connection::close`] lets the requests
//! in flight finish, then revokes the token (R5.3).
//!
//! Every API request carries `Version: 4`, `Accept` and `Content-Type: application/xml`,
//! `Authorization: Bearer ...`, a `User-Agent` naming this SDK, `All-Content` when the
//! call has the `all_content` parameter, and the extra headers (connection-wide first,
//! then the call's own) (R5.4, R1.9, R1.10).
//!
//! Secrets: the password and the token never appear in `Debug` output, in log events or
//! in errors.
//!
//! # Defaults: 5 connections, pipeline depth 8
//!
//! Measured with the inventory benchmark (`inventory-bench` in `ovirt-tests`; list 1,000 VMs,
//! then their disk attachments, NICs and permissions: 3,001 requests, figures in
//! `BENCHMARKS.md`):
//!
//! * Wall time follows round trip x requests / (connections x pipeline) within 4-22 % once the
//!   round trip dominates: at 20 ms, 65 s one request at a time, 13.4 s with 5 connections
//!   unpipelined, 1.6 s with the defaults (5 x 8), 0.45 s with 5 x 32, 0.23 s with 10 x 40.
//! * Client CPU per request does not grow with depth (11-16 µs at 0 ms round trip for 5 x 8 up
//!   to 10 x 40), so a deep pipeline costs the client nothing.
//! * An engine answers the requests of one connection in order, one at a time, so the number of
//!   connections is the number of requests the engine works on at once; 5 is what the oVirt
//!   team's own measurements use and keeps the load on the engine modest. Depth is the cheap
//!   factor: it only queues requests.
//! * Depth 8 keeps head-of-line blocking short (a slow request delays at most 7 behind it) and
//!   bounds what is re-sent after a connection failure, while cutting the 20 ms inventory 8x
//!   against no pipelining.
//!
//! For long round trips or large inventories raise [`ConnectionBuilder::pipeline`] (16-40);
//! raise [`ConnectionBuilder::connections`] only if the engine has capacity to spare.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use crate::error::{Error, ErrorKind};
use crate::service::{form_encode, BoxFuture, Call, PlainTransport, RawResponse, Transport};

/// The `User-Agent` of every request: this SDK's name and version (R5.4).
pub const USER_AGENT: &str = concat!("ovirt-rs/", env!("CARGO_PKG_VERSION"));

/// Headers every API request gets from the connection itself (R5.4).
const FIXED_HEADERS: [&str; 4] = ["Version", "Authorization", "Accept", "Content-Type"];

/// Default path of the SSO token endpoint (R5.1).
const SSO_TOKEN_PATH: &str = "/ovirt-engine/sso/oauth/token";
/// Default path of the SSO logout endpoint (R5.3).
const SSO_LOGOUT_PATH: &str = "/ovirt-engine/services/sso-logout";

/// A secret string: shown as `***` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

fn config(message: impl Into<String>) -> Error {
    Error::with_message(ErrorKind::Config, message)
}

/// A URL split into origin (`https://host:port`) and path with query (`/ovirt-engine/api`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SplitUrl {
    origin: String,
    path: String,
}

fn split_url(url: &str, what: &str) -> Result<SplitUrl, Error> {
    // Never repeat user information (`user:password@`) in an error.
    let shown = match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}://***{}", &url[..s], &url[at..])
        }
        _ => url.to_string(),
    };
    let bad = |why: &str| config(format!("invalid {what} {shown:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http:// or https://"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("the scheme must be http or https"));
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(bad("the host is missing"));
    }
    if authority.contains('@') {
        // Credentials in a URL would leak into logs and errors.
        return Err(bad(
            "user information in the URL is not supported; use username() and password()",
        ));
    }
    if path.contains('#') {
        return Err(bad("a fragment is not allowed"));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(SplitUrl {
        origin: format!("{}://{}", scheme.to_ascii_lowercase(), authority),
        path,
    })
}

/// Options of a [`Connection`]. Start with [`Connection::builder`].
#[derive(Clone)]
pub struct ConnectionBuilder {
    url: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    token: Option<Secret>,
    insecure: bool,
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    system_roots: Option<bool>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    compress: bool,
    headers: Vec<(String, String)>,
    connections: usize,
    pipeline: usize,
    proxy_url: Option<String>,
    proxy_username: Option<String>,
    proxy_password: Option<Secret>,
    sso_url: Option<String>,
    sso_revoke_url: Option<String>,
    sso_token_name: String,
    kerberos: bool,
    logout_timeout: Duration,
    max_retries: Option<u32>,
    max_body_bytes: Option<u64>,
}

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("insecure", &self.insecure)
            .field("ca_files", &self.ca_files)
            .field("ca_pems", &self.ca_pems.len())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("compress", &self.compress)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("connections", &self.connections)
            .field("pipeline", &self.pipeline)
            .field("proxy_url", &self.proxy_url)
            .field("proxy_username", &self.proxy_username)
            .field(
                "proxy_password",
                &self.proxy_password.as_ref().map(|_| "***"),
            )
            .field("sso_url", &self.sso_url)
            .field("sso_revoke_url", &self.sso_revoke_url)
            .field("sso_token_name", &self.sso_token_name)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionBuilder {
    fn default() -> Self {
        ConnectionBuilder {
            url: None,
            username: None,
            password: None,
            token: None,
            insecure: false,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            system_roots: None,
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            compress: true,
            headers: Vec::new(),
            connections: 5,
            pipeline: 8,
            proxy_url: None,
            proxy_username: None,
            proxy_password: None,
            sso_url: None,
            sso_revoke_url: None,
            sso_token_name: "access_token".to_string(),
            kerberos: false,
            logout_timeout: Duration::from_secs(10),
            max_retries: None,
            max_body_bytes: None,
        }
    }
}

impl ConnectionBuilder {
    /// The API entry point, e.g. `https://engine.example.com/ovirt-engine/api` (required).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The user name, including the profile: `admin@internal`.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret(password.into()));
        self
    }

    /// An SSO token obtained earlier (for example from [`Connection::authenticate`]): no
    /// login is made while it is accepted. With a username and password as well, an
    /// expired token is replaced by a new login.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret(token.into()));
        self
    }

    /// Skip the verification of the server's certificate and host name. Only for tests.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Trust the CA certificates of this PEM file (may be given several times). When a CA
    /// file or PEM is given, the system's roots are not trusted unless
    /// [`ConnectionBuilder::system_roots`] says so.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trust the CA certificates of this in-memory PEM bundle (may be given several times).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Whether to trust the system's root certificates (default: only when no CA file or
    /// PEM is given).
    pub fn system_roots(mut self, on: bool) -> Self {
        self.system_roots = Some(on);
        self
    }

    /// Time limit of each whole request, body included (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time limit of opening a connection, TLS handshake included (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Ask for gzip-compressed responses (default true).
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// A header sent with every API request (calls may override it with their own).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Maximum number of connections to the engine (default 5, at least 1; see
    /// [Defaults](self#defaults-5-connections-pipeline-depth-8)).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Requests in flight per connection (default 8, see
    /// [Defaults](self#defaults-5-connections-pipeline-depth-8)); 0 or 1 turns pipelining off.
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.pipeline = depth;
        self
    }

    /// An HTTP proxy, `http://proxy.example.com:3128`.
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// User name for the proxy (basic authentication).
    pub fn proxy_username(mut self, username: impl Into<String>) -> Self {
        self.proxy_username = Some(username.into());
        self
    }

    /// Password for the proxy.
    pub fn proxy_password(mut self, password: impl Into<String>) -> Self {
        self.proxy_password = Some(Secret(password.into()));
        self
    }

    /// URL of the SSO token endpoint (default: `/ovirt-engine/sso/oauth/token` on the
    /// API's origin, R5.1).
    pub fn sso_url(mut self, url: impl Into<String>) -> Self {
        self.sso_url = Some(url.into());
        self
    }

    /// URL of the SSO logout endpoint (default: `/ovirt-engine/services/sso-logout` on the
    /// API's origin, R5.3).
    pub fn sso_revoke_url(mut self, url: impl Into<String>) -> Self {
        self.sso_revoke_url = Some(url.into());
        self
    }

    /// Name of the token field in the SSO reply (default `access_token`, R5.2).
    pub fn sso_token_name(mut self, name: impl Into<String>) -> Self {
        self.sso_token_name = name.into();
        self
    }

    /// Kerberos authentication. Not supported: `build` fails when this is `true`.
    pub fn kerberos(mut self, kerberos: bool) -> Self {
        self.kerberos = kerberos;
        self
    }

    /// Time limit of each of the two steps of [`Connection::close`]: waiting for the requests
    /// in flight, and the token revocation (default 10 s).
    pub fn logout_timeout(mut self, timeout: Duration) -> Self {
        self.logout_timeout = timeout;
        self
    }

    /// Re-sends of an idempotent request after a connection failure (http1-pipeline's
    /// default when not set).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Maximum size of a response body, in bytes, as received and once gzip-decoded
    /// (default `None`: no limit, the timeout is then the only bound). A larger response
    /// fails with [`ErrorKind::ResponseTooLarge`] and
    /// its connection is closed; other requests on it are retried as after any connection
    /// failure.
    pub fn max_body_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_body_bytes = limit;
        self
    }

    fn client(&self, origin: &str) -> Result<http1_pipeline::Client, Error> {
        let any_ca = !self.ca_files.is_empty() || !self.ca_pems.is_empty();
        let mut b = http1_pipeline::Client::builder(origin)
            .max_connections(self.connections)
            .pipeline_depth(self.pipeline.max(1))
            .connect_timeout(self.connect_timeout)
            .request_timeout(self.timeout)
            .default_header("User-Agent", USER_AGENT)
            .gzip(self.compress)
            .tls_system_roots(self.system_roots.unwrap_or(!any_ca))
            .insecure(self.insecure)
            .max_body_bytes(self.max_body_bytes);
        for pem in &self.ca_pems {
            b = b.add_ca_pem(pem.clone());
        }
        for file in &self.ca_files {
            b = b.add_ca_file(file.clone());
        }
        if let Some(n) = self.max_retries {
            b = b.max_retries(n);
        }
        if let Some(url) = &self.proxy_url {
            // Checked here first: it rejects user information without repeating it.
            split_url(url, "proxy_url")?;
            let mut proxy = http1_pipeline::Proxy::new(url).map_err(Error::from)?;
            match (&self.proxy_username, &self.proxy_password) {
                (Some(u), Some(p)) => proxy = proxy.basic_auth(u, &p.0),
                (Some(u), None) => proxy = proxy.basic_auth(u, ""),
                (None, Some(_)) => {
                    return Err(config("proxy_password is set but proxy_username is not"))
                }
                (None, None) => {}
            }
            b = b.proxy(proxy);
        }
        b.build().map_err(Error::from)
    }

    /// Like [`ConnectionBuilder::build`], for programs without an async runtime: the
    /// connection runs on a background thread of its own (see [`crate::blocking`]).
    pub fn build_blocking(self) -> Result<crate::blocking::Connection, Error> {
        crate::blocking::Connection::new(self)
    }

    /// Checks the options and creates the connection. No request is made: the login
    /// happens with the first request. Building needs no runtime; sending requests needs
    /// a tokio runtime (or use [`ConnectionBuilder::build_blocking`]).
    pub fn build(self) -> Result<Connection, Error> {
        if self.kerberos {
            return Err(config(
                "Kerberos authentication is not supported by this SDK; use username and password, or a token",
            ));
        }
        let url = self
            .url
            .clone()
            .ok_or_else(|| config("the url option is required"))?;
        let api = split_url(&url, "url")?;
        if api.path.contains('?') {
            return Err(config(format!(
                "invalid url {url:?}: a query is not allowed in the API URL"
            )));
        }
        if self.connections == 0 {
            return Err(config("connections must be at least 1"));
        }
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (Some(_), None) => return Err(config("username is set but password is not")),
            (None, Some(_)) => return Err(config("password is set but username is not")),
            (None, None) => None,
        };
        if credentials.is_none() && self.token.is_none() {
            return Err(config(
                "either username and password, or a token, are required",
            ));
        }
        if self.sso_token_name.is_empty() {
            return Err(config("sso_token_name must not be empty"));
        }
        let sso = match &self.sso_url {
            Some(u) => split_url(u, "sso_url")?,
            None => SplitUrl {
                origin: api.origin.clone(),
                path: SSO_TOKEN_PATH.to_string(),
            },
        };
        let revoke = match &self.sso_revoke_url {
            Some(u) => split_url(u, "sso_revoke_url")?,
            None => SplitUrl {
                origin: api.origin.clone(),
                path: SSO_LOGOUT_PATH.to_string(),
            },
        };
        let client = self.client(&api.origin)?;
        let sso_client = if sso.origin == api.origin {
            client.clone()
        } else {
            self.client(&sso.origin)?
        };
        let revoke_client = if revoke.origin == api.origin {
            client.clone()
        } else if revoke.origin == sso.origin {
            sso_client.clone()
        } else {
            self.client(&revoke.origin)?
        };
        let base_path = api.path.trim_end_matches('/').to_string();
        let plain = PlainTransport::new(client.clone(), base_path.clone());
        let has_token = self.token.is_some();
        let inner = Inner {
            url: format!("{}{}", api.origin, base_path),
            client,
            plain,
            sso: Endpoint {
                client: sso_client,
                path: sso.path,
                url: format!("{}", SsoUrl(&self.sso_url, &api.origin, SSO_TOKEN_PATH)),
            },
            revoke: Endpoint {
                client: revoke_client,
                path: revoke.path,
                url: format!(
                    "{}",
                    SsoUrl(&self.sso_revoke_url, &api.origin, SSO_LOGOUT_PATH)
                ),
            },
            sso_token_name: self.sso_token_name,
            credentials,
            headers: self.headers,
            auth: Mutex::new(AuthState {
                token: self.token,
                generation: u64::from(has_token),
                from_login: false,
            }),
            login_lock: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
            logout_timeout: self.logout_timeout,
        };
        Ok(Connection {
            inner: Arc::new(inner),
        })
    }
}

/// Displays the SSO URL used: the option as given or the default on the API's origin.
struct SsoUrl<'a>(&'a Option<String>, &'a str, &'static str);

impl fmt::Display for SsoUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(u) => f.write_str(u),
            None => write!(f, "{}{}", self.1, self.2),
        }
    }
}

struct Endpoint {
    client: http1_pipeline::Client,
    path: String,
    url: String,
}

struct AuthState {
    token: Option<Secret>,
    /// Incremented each time a token is installed; a 401 names the generation it failed
    /// with, so concurrent failures cause one login.
    generation: u64,
    /// True when the token came from this connection's own login.
    from_login: bool,
}

struct Inner {
    url: String,
    client: http1_pipeline::Client,
    plain: PlainTransport,
    sso: Endpoint,
    revoke: Endpoint,
    sso_token_name: String,
    credentials: Option<(String, Secret)>,
    headers: Vec<(String, String)>,
    auth: Mutex<AuthState>,
    login_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// Requests sent and not yet finished; `close` waits for them (R5.3).
    in_flight: AtomicUsize,
    /// Notified when `in_flight` drops to zero.
    idle: tokio::sync::Notify,
    logout_timeout: Duration,
}

/// Counts one request in flight for as long as it lives (its task, or until aborted).
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(inner: &Arc<Inner>) -> InFlight {
        inner.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(inner.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection to an engine. Cheap to clone; clones share the HTTP connections and the
/// token. See the [module documentation](self).
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.inner.url)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Options for a new connection.
    pub fn builder() -> ConnectionBuilder {
        ConnectionBuilder::default()
    }

    /// The API entry URL (`https://engine.example.com/ovirt-engine/api`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The root service (`system`, docs/wire.md R2.1): every other service is reached from it.
    pub fn system_service(&self) -> crate::services::SystemService {
        crate::services::SystemService::new(crate::service::ServiceContext::root(self.transport()))
    }

    /// The transport services send through (this connection).
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.clone())
    }

    /// Path of the API entry point (`/ovirt-engine/api`).
    pub(crate) fn transport_base_path(&self) -> &str {
        self.inner.plain.base_path()
    }

    /// Returns the SSO token, logging in first if no token is held.
    pub async fn authenticate(&self) -> Result<String, Error> {
        self.inner.check_open()?;
        let (token, _) = self.inner.token(None).await?;
        Ok(token.0)
    }

    /// Checks that the engine answers: logs in if needed and reads the API root.
    pub async fn test(&self) -> Result<(), Error> {
        let call = Call {
            verb: crate::service::Verb::Get,
            path: String::new(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        };
        let url = self.inner.url.clone();
        let raw = self.inner.send(call).await?;
        if (200..300).contains(&raw.status) {
            Ok(())
        } else {
            let kind = match raw.status {
                401 | 403 => ErrorKind::Authentication,
                404 => ErrorKind::NotFound,
                _ => ErrorKind::UnexpectedResponse,
            };
            Err(Error::with_message(
                kind,
                format!("the API root answered with HTTP status {}", raw.status),
            )
            .for_request("GET", &url))
        }
    }

    /// Closes the connection: new calls fail at once, the requests in flight finish (for at
    /// most the logout timeout), then the token is revoked (R5.3, for at most the logout
    /// timeout again). Closing again does nothing.
    pub async fn close(&self) -> Result<(), Error> {
        self.inner.close(true).await
    }

    /// Closes the connection without revoking the token (it stays usable elsewhere, for
    /// example with [`ConnectionBuilder::token`]).
    pub async fn close_without_logout(&self) -> Result<(), Error> {
        self.inner.close(false).await
    }

    /// True once [`Connection::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

/// The task of one request; aborted when dropped (which cancels the request).
struct Exchange(tokio::task::JoinHandle<Result<RawResponse, Error>>);

impl std::future::Future for Exchange {
    type Output = Result<RawResponse, Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(Error::with_message(
                    ErrorKind::Connection,
                    format!("the request task ended unexpectedly: {e}"),
                ))
            })
        })
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads a response into a [`RawResponse`].
async fn read_raw(pending: http1_pipeline::ResponseFuture) -> Result<RawResponse, Error> {
    let response = pending.await?;
    let status = response.status();
    let content_type = response.headers().get("content-type").map(str::to_owned);
    let body = response.bytes().await?;
    Ok(RawResponse {
        status,
        content_type,
        body,
    })
}

fn with_token(mut req: http1_pipeline::Request, token: &Secret) -> http1_pipeline::Request {
    req = req.header("Authorization", format!("Bearer {}", token.0));
    req
}

impl Inner {
    /// Sends an API call. With a token at hand the request is handed to the HTTP client
    /// before this returns; without one, the future first waits for the shared login.
    fn send(self: &Arc<Self>, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        if let Err(e) = self.check_open() {
            return Box::pin(std::future::ready(Err(e)));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Box::pin(std::future::ready(Err(Error::with_message(
                ErrorKind::InvalidRequest,
                "an async Connection is used outside a tokio runtime; \
                 use ConnectionBuilder::build_blocking for programs without one",
            ))));
        }
        // The request line, for the debug log (never headers: they hold the token).
        let line: Option<Arc<str>> = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            Arc::from(format!(
                "{} {}{}",
                call.verb.as_str(),
                self.client.origin(),
                call.target(self.plain.base_path())
            ))
        });
        if let Some(line) = &line {
            tracing::debug!(request = %line, "request");
        }
        let req = self.request(call);
        let this = self.clone();
        let in_flight = InFlight::new(self);
        // The exchange runs as a task of its own, so the request keeps moving (through
        // login, back-pressure of the HTTP client, re-login) even while the caller awaits
        // other answers first; dropping the returned future aborts it.
        let task = match self.current(None) {
            Some((token, generation)) => {
                // A token is at hand: the request is queued before `send` returns.
                let pending = self.client.send(with_token(req.clone(), &token));
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    this.finish(req, pending, generation, line).await
                })
            }
            None => tokio::spawn(async move {
                let _in_flight = in_flight;
                let (token, generation) = this.token(None).await?;
                let pending = this.client.send(with_token(req.clone(), &token));
                this.finish(req, pending, generation, line).await
            }),
        };
        Box::pin(Exchange(task))
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::with_message(
                ErrorKind::InvalidRequest,
                "the connection is closed",
            ))
        } else {
            Ok(())
        }
    }

    /// The request for `call`, without `Authorization` (R5.4, R1.9, R1.10).
    fn request(&self, mut call: Call) -> http1_pipeline::Request {
        // R1.9: connection-wide headers first; the call's own replace those of the same name.
        if !self.headers.is_empty() {
            let mut headers: Vec<(String, String)> = self
                .headers
                .iter()
                .filter(|(k, _)| !call.headers.iter().any(|(c, _)| c.eq_ignore_ascii_case(k)))
                .cloned()
                .collect();
            headers.append(&mut call.headers);
            call.headers = headers;
        }
        // R1.9: a caller cannot replace the fixed headers of R5.4; a second copy would make
        // the engine read the caller's (the first), so it is left out.
        call.headers.retain(|(k, _)| {
            let fixed = FIXED_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(k));
            if fixed {
                tracing::debug!(header = %k, "ignoring a caller header that the SDK sets itself");
            }
            !fixed
        });
        // R1.10: `all_content` is also sent as a header.
        let all_content = call
            .query
            .iter()
            .find(|(k, _)| k == "all_content")
            .map(|(_, v)| v.clone());
        let mut req = self.plain.request(call).header("Version", "4");
        if let Some(v) = all_content {
            req = req.header("All-Content", v);
        }
        req
    }

    /// The current token, logging in when there is none or when `failed` names the
    /// generation of the token that was just rejected.
    async fn token(&self, failed: Option<u64>) -> Result<(Secret, u64), Error> {
        if let Some(t) = self.current(failed) {
            return Ok(t);
        }
        let _guard = self.login_lock.lock().await;
        // Someone else may have logged in while we waited.
        if let Some(t) = self.current(failed) {
            return Ok(t);
        }
        self.check_open()?;
        let token = self.login().await?;
        let mut auth = lock(&self.auth);
        auth.generation += 1;
        auth.token = Some(token.clone());
        auth.from_login = true;
        Ok((token, auth.generation))
    }

    fn current(&self, failed: Option<u64>) -> Option<(Secret, u64)> {
        let auth = lock(&self.auth);
        let token = auth.token.as_ref()?;
        if failed == Some(auth.generation) {
            return None;
        }
        Some((token.clone(), auth.generation))
    }

    /// SSO password grant (R5.1, R5.2).
    async fn login(&self) -> Result<Secret, Error> {
        let Some((user, password)) = &self.credentials else {
            return Err(Error::with_message(
                ErrorKind::Authentication,
                "the token was rejected and no username and password are set to log in again",
            )
            .for_request("POST", &self.sso.url));
        };
        tracing::debug!(url = %self.sso.url, user = %user, "SSO login");
        let mut form = String::from("grant_type=password&scope=ovirt-app-api&username=");
        form.push_str(&form_encode(user));
        form.push_str("&password=");
        form.push_str(&form_encode(&password.0));
        let req = http1_pipeline::Request::new(http1_pipeline::Method::Post, self.sso.path.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(Bytes::from(form));
        let raw = read_raw(self.sso.client.send(req))
            .await
            .map_err(|e| e.for_request("POST", &self.sso.url))?;
        tracing::debug!(status = raw.status, "SSO login response");
        let fail = |message: String| {
            Error::with_message(ErrorKind::Authentication, message)
                .for_request("POST", &self.sso.url)
        };
        let json: serde_json::Value = match serde_json::from_slice(&raw.body) {
            Ok(v) => v,
            Err(_) => {
                return Err(fail(format!(
                    "the SSO service answered HTTP status {} with a body that is not JSON (content type {})",
                    raw.status,
                    raw.content_type.as_deref().unwrap_or("none")
                )))
            }
        };
        // R5.2: an array reply holds the object first.
        let obj = match &json {
            serde_json::Value::Array(items) => items.first().cloned().unwrap_or_default(),
            other => other.clone(),
        };
        if let Some((code, text)) = sso_error(&obj) {
            return Err(fail(format!("SSO authentication failed: {code}: {text}")));
        }
        match obj.get(&self.sso_token_name).and_then(|t| t.as_str()) {
            Some(token) if !token.is_empty() && (200..300).contains(&raw.status) => {
                Ok(Secret(token.to_string()))
            }
            _ => Err(fail(format!(
                "the SSO reply (HTTP status {}) has no {:?} field",
                raw.status, self.sso_token_name
            ))),
        }
    }

    /// SSO logout (R5.3).
    async fn revoke(&self, token: &Secret) -> Result<(), Error> {
        tracing::debug!(url = %self.revoke.url, "SSO logout");
        let mut form = String::from("scope=ovirt-app-api&token=");
        form.push_str(&form_encode(&token.0));
        let req =
            http1_pipeline::Request::new(http1_pipeline::Method::Post, self.revoke.path.clone())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(Bytes::from(form))
                .timeout(Some(self.logout_timeout));
        let pending = read_raw(self.revoke.client.send(req));
        let raw = match tokio::time::timeout(self.logout_timeout, pending).await {
            Ok(r) => r.map_err(|e| e.for_request("POST", &self.revoke.url))?,
            Err(_) => {
                return Err(Error::with_message(
                    ErrorKind::Timeout,
                    format!("the SSO logout took longer than {:?}", self.logout_timeout),
                )
                .for_request("POST", &self.revoke.url))
            }
        };
        tracing::debug!(status = raw.status, "SSO logout response");
        let fail = |message: String| {
            Error::with_message(ErrorKind::Authentication, message)
                .for_request("POST", &self.revoke.url)
        };
        match serde_json::from_slice::<serde_json::Value>(&raw.body) {
            Ok(obj) => match sso_error(&obj) {
                Some((code, text)) => Err(fail(format!("SSO logout failed: {code}: {text}"))),
                None if (200..300).contains(&raw.status) => Ok(()),
                None => Err(fail(format!(
                    "SSO logout failed with HTTP status {}",
                    raw.status
                ))),
            },
            Err(_) if (200..300).contains(&raw.status) && raw.body.is_empty() => Ok(()),
            Err(_) => Err(fail(format!(
                "the SSO logout answered HTTP status {} with a body that is not JSON",
                raw.status
            ))),
        }
    }

    /// Returns once no request is in flight.
    async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    async fn close(&self, logout: bool) -> Result<(), Error> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Requests already sent finish first (within the logout timeout), so that the token
        // is not revoked under them (R5.3); past the timeout the logout goes ahead anyway.
        let _ = tokio::time::timeout(self.logout_timeout, self.wait_idle()).await;
        let token = lock(&self.auth).token.take();
        match token {
            Some(token) if logout => self.revoke(&token).await,
            _ => Ok(()),
        }
    }

    /// Sends `req` with the token of generation `generation`; on 401 logs in again (once
    /// for all requests that failed with that token) and re-sends once (R4.5).
    async fn finish(
        self: Arc<Self>,
        req: http1_pipeline::Request,
        pending: http1_pipeline::ResponseFuture,
        generation: u64,
        line: Option<Arc<str>>,
    ) -> Result<RawResponse, Error> {
        let raw = read_raw(pending).await?;
        if let Some(line) = &line {
            tracing::debug!(request = %line, status = raw.status, "response");
        }
        if raw.status != 401 || self.credentials.is_none() || self.closed.load(Ordering::Acquire) {
            return Ok(raw);
        }
        // R4.5: a request rejected with 401 was not executed; log in again (once for all
        // requests that failed with this token) and send it once more.
        tracing::debug!("token rejected; logging in again");
        let (token, _) = self.token(Some(generation)).await?;
        let raw = read_raw(self.client.send(with_token(req, &token))).await?;
        if let Some(line) = &line {
            tracing::debug!(request = %line, status = raw.status, "response");
        }
        Ok(raw)
    }
}

/// The (code, text) of an SSO error object (R5.2): `error` + `error_description`, or
/// `error_code` + `error`.
fn sso_error(obj: &serde_json::Value) -> Option<(String, String)> {
    let s = |k: &str| {
        obj.get(k).map(|v| {
            v.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string())
        })
    };
    match (s("error"), s("error_description"), s("error_code")) {
        (Some(code), Some(text), _) => Some((code, text)),
        (Some(text), None, Some(code)) => Some((code, text)),
        (Some(text), None, None) => Some(("error".to_string(), text)),
        (None, _, Some(code)) => Some((code, String::new())),
        (None, _, None) => None,
    }
}

impl Transport for Connection {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        self.inner.send(call)
    }

    fn base_path(&self) -> &str {
        self.inner.plain.base_path()
    }
}
