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
//! Login is lazy: the first request logs in with the SSO password grant ([wire rule](crate::wire) R5.1, R5.2)
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

mod builder;
mod exchange;
mod kerberos;
mod probe;
mod sso;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::service::{BoxFuture, Call, Method, RawResponse, StreamedResponse, Transport};

pub use builder::ConnectionBuilder;
pub use probe::{probe, Probe};

/// The `User-Agent` of every request: this SDK's name and version (R5.4).
pub const USER_AGENT: &str = concat!("ovirt-rs/", env!("CARGO_PKG_VERSION"));

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

/// An SSO endpoint: the client of its origin, its path, and its URL for messages.
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
    /// The API entry URL: origin and base path.
    url: String,
    /// Path of the API entry point, without trailing `/` (`/ovirt-engine/api`).
    base_path: String,
    client: http1_pipeline::Client,
    sso: Endpoint,
    revoke: Endpoint,
    sso_token_name: String,
    credentials: Option<(String, Secret)>,
    /// Log in with Kerberos (`kerberos(true)`) instead of the password grant.
    kerberos: Option<kerberos::KerberosOptions>,
    headers: Vec<(String, String)>,
    auth: Mutex<AuthState>,
    login_lock: tokio::sync::Mutex<()>,
    closed: AtomicBool,
    /// Requests sent and not yet finished; `close` waits for them (R5.3).
    in_flight: AtomicUsize,
    /// Notified when `in_flight` drops to zero.
    idle: tokio::sync::Notify,
    logout_timeout: Duration,
    /// Whether bodies go to the debug log (`ovirt::body`, crate::logging).
    log_bodies: bool,
    /// The options this connection was built with, minus credentials: the TLS and proxy
    /// settings of clients of other origins (the imageio servers of image transfers).
    client_options: ConnectionBuilder,
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

    /// The root service (`system`, [wire rule](crate::wire) R2.1): every other service is reached from it.
    pub fn system_service(&self) -> crate::services::SystemService {
        crate::services::SystemService::new(crate::service::ServiceContext::root(self.transport()))
    }

    /// The transport services send through (this connection).
    pub fn transport(&self) -> Arc<dyn Transport> {
        Arc::new(self.clone())
    }

    /// Returns the SSO token, logging in first if no token is held.
    pub async fn authenticate(&self) -> Result<String, Error> {
        self.inner.check_open()?;
        let (token, _) = self.inner.token(None).await?;
        Ok(token.0)
    }

    /// Checks that the engine answers: logs in if needed and reads the API root.
    pub async fn test(&self) -> Result<(), Error> {
        let call = Call::new(Method::Get, &self.inner.base_path, "", Vec::new());
        let url = self.inner.url.clone();
        let raw = self.inner.send(call).await?;
        if (200..300).contains(&raw.status) {
            return Ok(());
        }
        let kind = match raw.status {
            401 | 403 => ErrorKind::Authentication,
            404 => ErrorKind::NotFound,
            _ => ErrorKind::UnexpectedResponse,
        };
        let mut err = Error::with_message(kind, "the API root did not answer")
            .status(raw.status)
            .reason(&raw.reason)
            .for_request("GET", &url);
        if raw.status == 404 {
            err = err.hint(crate::service::wrong_path_hint(&self.inner.base_path));
        }
        Err(err)
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

    /// An HTTP client of another origin with this connection's TLS (CA), proxy and connect
    /// settings: how image transfers reach imageio (crate::transfer).
    pub(crate) fn data_client(
        &self,
        origin: &str,
        connections: usize,
        depth: usize,
        timeout: Option<Duration>,
    ) -> Result<http1_pipeline::Client, Error> {
        self.inner
            .client_options
            .data_client(origin, connections, depth, timeout)
    }

    /// True once [`Connection::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}

impl Inner {
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
}

impl Transport for Connection {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        self.inner.send(call)
    }

    fn send_streamed(&self, call: Call) -> BoxFuture<Result<StreamedResponse, Error>> {
        self.inner.send_streamed(call)
    }

    fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    fn origin(&self) -> &str {
        self.inner.client.origin()
    }
}
