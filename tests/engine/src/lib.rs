//! A fake oVirt engine for tests, examples and benchmarks.
//!
//! It runs on hyper's HTTP/1.1 server (keep-alive, pipelined requests answered in
//! order), optionally behind TLS with a certificate authority generated at start, and
//! serves:
//!
//! * the SSO endpoints: `POST /ovirt-engine/sso/oauth/token` (password grant, docs/wire.md
//!   R5.1, R5.2) and `POST /ovirt-engine/services/sso-logout` (R5.3);
//! * the everyday parts of the API below `/ovirt-engine/api`, from one generic store of
//!   collections whose documents are read and written by the SDK's generated code: add,
//!   get, list, update and remove of VMs, templates, disks, a VM's disk attachments, NICs,
//!   snapshots, CD-ROMs, graphics consoles and permissions, data centers (and their
//!   attached storage domains), clusters, hosts, storage domains, networks, vNIC profiles,
//!   users, tags, events, jobs and their steps, answered with the engine's status codes,
//!   `Location` and `<fault>` bodies;
//! * actions whose work moves through the engine's statuses on a logical clock ([`Pace`]):
//!   VM `start`, `stop`, `shutdown`, `suspend`, `reboot`, `ticket`, host `deactivate`,
//!   `activate`, `iscsidiscover`, and more, each under a job findable by
//!   `correlation_id`; `async=true` and `Expect: 202-accepted` get 202;
//! * `search` (`name=web*`, `status!=up`, `and`, `or`, `sortby name desc`, `page 2`,
//!   `case_sensitive`), `max`, `follow` and `all_content`.
//! * image transfers (`imagetransfers`, their phases and actions) with the host's
//!   imageio and the engine's imageio proxy played by two more listeners: `OPTIONS`,
//!   `PUT`, `GET` with ranges, `PATCH` zero and flush, extents, on sparse disk data, with
//!   ticket expiry, faults ([`ImageioFault`]) and counters ([`ImageioStats`],
//!   [`TransferStats`]); see [`ImageioOptions`].
//!
//! The data at start is a generated inventory of data centers, clusters, hosts and VMs
//! ([`inventory`]) plus what every engine has (the `Blank` template, a storage domain,
//! the `ovirtmgmt` network, users, events). `tests/engine/README.md` lists every endpoint
//! and answer.
//!
//! Like the web server in front of a real engine, it can cap the requests of a connection
//! (announced with `Connection: close` and `Keep-Alive: max=`, or unannounced, see
//! [`RequestCap`]), close idle connections ([`TestEngineBuilder::idle_timeout`]) and spend
//! a server time on every request ([`TestEngineBuilder::server_time`]); connections close
//! the way Apache closes them (a lingering close).
//!
//! API requests need `Version: 4` (else 400) and a valid bearer token (else 401). Unknown
//! paths and objects get 404 with an empty body. Every request is recorded
//! ([`TestEngine::requests`]), and [`Rule`]s program other answers, delays and token
//! expiry.
//!
//! ```no_run
//! # async fn demo() {
//! use ovirt_test_engine::{Rule, TestEngine};
//! let engine = TestEngine::builder().vms(100).tls(true).start().await.unwrap();
//! let url = engine.url();          // https://127.0.0.1:PORT/ovirt-engine/api
//! let ca = engine.ca_pem().map(str::to_owned); // trust this CA in the client
//! engine.program(Rule::get("vms").status(503).times(1));
//! engine.expire_tokens();          // every token issued so far now gets 401
//! assert_eq!(engine.logins(), 0);
//! engine.shutdown().await;
//! # let _ = (url, ca);
//! # }
//! ```
#![deny(missing_docs)]

mod actions;
pub mod form;
mod imageio;
pub mod inventory;
mod limits;
mod negotiate;
mod node;
pub mod render;
mod rules;
mod search;
mod server;
mod sparse;
mod store;
mod tls;
mod transfers;

use bytes::Bytes;
use ovirt::xml::{FromXml, ToXml, XmlType};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use actions::Pace;
pub use imageio::{
    ImageioFault, ImageioOp, ImageioOptions, ImageioRequest, ImageioStats, TransferStats,
    TransferUrl,
};
pub use inventory::{Inventory, InventorySize};
pub use limits::RequestCap;
pub use negotiate::TOKEN_HTTP_AUTH_PATH;
pub use render::API_PATH;
pub use rules::Rule;
pub use server::{SSO_LOGOUT_PATH, SSO_TOKEN_PATH};
pub use sparse::Extent;
pub use tls::TestCertificates;

use server::{lock, State};

/// The user name the engine accepts by default.
pub const USERNAME: &str = "admin@internal";
/// The password the engine accepts by default for [`USERNAME`].
pub const PASSWORD: &str = "secret";

/// A request as the engine received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Method, upper case.
    pub method: String,
    /// Path and query, as sent (`/ovirt-engine/api/vms?search=name%3Dvm%2A`).
    pub target: String,
    /// Headers in arrival order, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// Number of the connection it arrived on (0 for the first accepted connection).
    pub connection: u64,
}

impl RecordedRequest {
    /// The value of the first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of the headers with this name (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The decoded query parameters.
    pub fn query(&self) -> Vec<(String, String)> {
        match self.target.split_once('?') {
            Some((_, q)) => form::parse(q),
            None => Vec::new(),
        }
    }

    /// The body as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether this is a request to the API (not to SSO).
    pub fn is_api(&self) -> bool {
        let p = self.path();
        p == API_PATH || p.starts_with(&format!("{API_PATH}/"))
    }
}

/// Error starting the engine.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "test engine failed to start: {}", self.0)
    }
}

impl std::error::Error for StartError {}

/// Options of a [`TestEngine`].
#[derive(Debug, Clone)]
pub struct TestEngineBuilder {
    size: InventorySize,
    tls: bool,
    gzip: bool,
    record: bool,
    users: Vec<(String, String)>,
    rules: Vec<Rule>,
    limits: limits::Limits,
    pace: Pace,
    http_auth: negotiate::HttpAuth,
    imageio: ImageioOptions,
}

impl TestEngineBuilder {
    /// Options of the imageio service that serves image transfers (default
    /// [`ImageioOptions::default`]). It always runs: two more listeners on 127.0.0.1,
    /// the daemon of `transfer_url` and the proxy of `proxy_url`, with TLS when the
    /// engine has it.
    pub fn imageio(mut self, options: ImageioOptions) -> Self {
        self.imageio = options;
        self
    }

    /// How fast background work (a VM starting, a disk being created) moves through its
    /// stages (default [`Pace::Instant`]).
    pub fn pace(mut self, pace: Pace) -> Self {
        self.pace = pace;
        self
    }

    /// Number of generated VMs (default 10).
    pub fn vms(mut self, n: usize) -> Self {
        self.size.vms = n;
        self
    }

    /// Number of clusters (default 2, at least 1).
    pub fn clusters(mut self, n: usize) -> Self {
        self.size.clusters = n;
        self
    }

    /// Number of hosts (default 3, at least 1).
    pub fn hosts(mut self, n: usize) -> Self {
        self.size.hosts = n;
        self
    }

    /// Number of data centers (default 1, at least 1).
    pub fn data_centers(mut self, n: usize) -> Self {
        self.size.data_centers = n;
        self
    }

    /// Serve HTTPS with a certificate signed by a CA generated at start (default false).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Gzip response bodies when the request accepts gzip (default false).
    pub fn gzip(mut self, gzip: bool) -> Self {
        self.gzip = gzip;
        self
    }

    /// Record requests (default true; benchmarks may turn it off).
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// Accept this user and password at the SSO endpoint, in addition to
    /// [`USERNAME`]/[`PASSWORD`].
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.users
            .push((username.to_string(), password.to_string()));
        self
    }

    /// Close a connection that has not sent (the whole head of) its next request within
    /// this time, like the keep-alive timeout of the web server in front of a real engine
    /// (default: never). A response to a request carrying `Connection: keep-alive` then
    /// says `Keep-Alive: timeout=T` (whole seconds, rounded down, as Apache writes it).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// Cap the requests one connection carries, announced or not (default: no cap); see
    /// [`RequestCap`].
    pub fn request_cap(mut self, cap: Option<RequestCap>) -> Self {
        self.limits.cap = cap;
        self
    }

    /// Spend this much server time on every request before answering it (default: none).
    /// The requests of one connection are handled one after another, so a connection
    /// carrying `k` pipelined requests answers the last after `k` times this, like one
    /// worker of a web server; requests on different connections overlap.
    pub fn server_time(mut self, time: Option<Duration>) -> Self {
        self.limits.server_time = time;
        self
    }

    /// Install a rule before the first request.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving (needs a tokio runtime).
    pub async fn start(self) -> Result<TestEngine, StartError> {
        let tls = if self.tls {
            Some(tls::generate().map_err(StartError)?)
        } else {
            None
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| StartError(format!("binding 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError(format!("local address: {e}")))?;
        let inventory = Inventory::generate(self.size);
        let state = Arc::new(State::new(
            self.users,
            self.gzip,
            self.record,
            inventory,
            self.pace,
            self.imageio,
        ));
        lock(&state.rules).extend(self.rules);
        state
            .http_auth
            .configure(self.http_auth)
            .map_err(StartError)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config.clone()));
        let connections = Arc::new(limits::Connections::default());
        let io_err = |what: &str, e: std::io::Error| StartError(format!("imageio {what}: {e}"));
        let daemon = imageio::Listener::bind(false)
            .await
            .map_err(|e| io_err("binding 127.0.0.1", e))?;
        let proxy = imageio::Listener::bind(true)
            .await
            .map_err(|e| io_err("binding 127.0.0.1", e))?;
        let urls = imageio::Urls {
            scheme: if self.tls { "https" } else { "http" },
            daemon: daemon.addr().map_err(|e| io_err("local address", e))?,
            proxy: proxy.addr().map_err(|e| io_err("local address", e))?,
            unreachable: imageio::closed_port()
                .await
                .map_err(|e| io_err("a closed port", e))?,
        };
        let imageio_addrs = (urls.daemon, urls.proxy);
        let _ = state.hub.urls.set(urls);
        let mut tasks = vec![
            tokio::spawn(imageio::accept_loop(
                daemon,
                state.hub.clone(),
                acceptor.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(imageio::accept_loop(
                proxy,
                state.hub.clone(),
                acceptor.clone(),
                stop_rx.clone(),
            )),
        ];
        tasks.push(tokio::spawn(accept_loop(
            listener,
            state.clone(),
            acceptor,
            stop_rx,
            self.limits,
            connections.clone(),
        )));
        Ok(TestEngine {
            addr,
            imageio_addrs,
            tls: self.tls,
            ca_pem: tls.map(|t| t.ca_pem),
            state,
            connections,
            stop: stop_tx,
            tasks,
        })
    }
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    limits: limits::Limits,
    connections: Arc<limits::Connections>,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("test engine: accept failed: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let id = state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        let acceptor = acceptor.clone();
        let mut stop = stop.clone();
        let live = connections.open();
        let counts = connections.clone();
        tokio::spawn(async move {
            let _live = live;
            let serve = async {
                match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => serve(tls, state, id, limits, counts).await,
                        Err(e) => tracing::debug!("test engine: TLS handshake failed: {e}"),
                    },
                    None => serve(stream, state, id, limits, counts).await,
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn serve<I>(
    io: I,
    state: Arc<State>,
    id: u64,
    limits: limits::Limits,
    counts: Arc<limits::Connections>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    limits::serve(io, limits, counts, id, move |req| {
        server::handle(state.clone(), id, req)
    })
    .await;
}

/// A running fake engine. Dropping it stops the server (like [`TestEngine::shutdown`]).
pub struct TestEngine {
    addr: SocketAddr,
    /// The imageio daemon and proxy listeners.
    imageio_addrs: (SocketAddr, SocketAddr),
    tls: bool,
    ca_pem: Option<String>,
    state: Arc<State>,
    connections: Arc<limits::Connections>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for TestEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEngine")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl TestEngine {
    /// Options, starting from the defaults (10 VMs, 2 clusters, 3 hosts, 1 data center,
    /// plain HTTP, recording on, user [`USERNAME`] with [`PASSWORD`]).
    pub fn builder() -> TestEngineBuilder {
        TestEngineBuilder {
            size: InventorySize::default(),
            tls: false,
            gzip: false,
            record: true,
            users: vec![(USERNAME.to_string(), PASSWORD.to_string())],
            rules: Vec::new(),
            limits: limits::Limits::default(),
            pace: Pace::Instant,
            http_auth: Default::default(),
            imageio: ImageioOptions::default(),
        }
    }

    /// The socket address the engine listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The origin, `https://127.0.0.1:PORT` (the certificate is valid for `127.0.0.1`
    /// and `localhost`).
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    /// The API base URL, `https://127.0.0.1:PORT/ovirt-engine/api`.
    pub fn url(&self) -> String {
        format!("{}{API_PATH}", self.origin())
    }

    /// The API base URL as seen through another address, for example a latency proxy in
    /// front of the engine: `https://ADDR/ovirt-engine/api` (the certificate covers
    /// `127.0.0.1`).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        format!("{}://{addr}{API_PATH}", self.scheme())
    }

    /// The same as [`TestEngine::url`] with the host written `localhost`.
    pub fn url_localhost(&self) -> String {
        format!(
            "{}://localhost:{}{API_PATH}",
            self.scheme(),
            self.addr.port()
        )
    }

    /// The PEM of the generated CA (only with TLS).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// The requests to the API (not to the SSO endpoints) received so far.
    pub fn api_requests(&self) -> Vec<RecordedRequest> {
        self.requests().into_iter().filter(|r| r.is_api()).collect()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.state.requests).clear();
    }

    /// Number of successful logins (tokens issued).
    pub fn logins(&self) -> usize {
        self.state.logins.load(Ordering::Relaxed)
    }

    /// Number of rejected login attempts.
    pub fn failed_logins(&self) -> usize {
        self.state.failed_logins.load(Ordering::Relaxed)
    }

    /// Number of tokens revoked through the logout endpoint.
    pub fn revocations(&self) -> usize {
        self.state.revocations.load(Ordering::Relaxed)
    }

    /// Number of API requests answered 401.
    pub fn unauthorized(&self) -> usize {
        self.state.unauthorized.load(Ordering::Relaxed)
    }

    /// Number of connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// Number of connections open now (accepted and not yet closed by either side).
    pub fn open_connections(&self) -> u64 {
        self.connections.live()
    }

    /// The most requests ever handled at the same time on one connection: 1 when the
    /// requests of every connection were handled one after another (as they are: see
    /// [`TestEngineBuilder::server_time`]).
    pub fn max_concurrent_requests_per_connection(&self) -> usize {
        self.connections.max_in_service_per_connection()
    }

    /// Requests being handled now, over all connections.
    pub fn requests_in_service(&self) -> usize {
        self.connections.in_service()
    }

    /// Waits until at most `n` connections are open (for example until an idle
    /// connection has been closed by the idle timeout). Bound it with a timeout.
    pub async fn wait_open_connections_at_most(&self, n: u64) {
        self.connections.wait_at_most(n).await
    }

    /// Issues a valid token without a login request (counts neither as a login), for
    /// tests of clients that are given a token.
    pub fn issue_token(&self) -> String {
        self.state.issue_token()
    }

    /// Every token issued so far expires now: requests carrying one get 401.
    pub fn expire_tokens(&self) {
        self.state.expire_tokens();
    }

    /// Adds a rule; earlier rules win when several match.
    pub fn program(&self, rule: Rule) {
        lock(&self.state.rules).push(rule);
    }

    /// Removes every rule.
    pub fn clear_rules(&self) {
        lock(&self.state.rules).clear();
    }

    /// A copy of the current inventory (VMs added or removed through the API included).
    pub fn inventory(&self) -> Inventory {
        self.current().inventory()
    }

    /// The store, with the work due now applied (what the next request would see).
    fn current(&self) -> std::sync::RwLockReadGuard<'_, store::Store> {
        let now = self.state.clock.now();
        if store::read(&self.state.data)
            .pending
            .iter()
            .any(|p| p.due <= now)
        {
            actions::apply_due(&mut store::write(&self.state.data), Some(now));
        }
        self.sync_transfers();
        store::read(&self.state.data)
    }

    /// A context for work started by the handle (not by a request).
    fn ctx(&self) -> actions::Ctx {
        actions::Ctx {
            now: self.state.clock.now(),
            step: self.state.clock.step(),
            lag: self.state.clock.lag(),
            ..Default::default()
        }
    }

    /// Lets the API see what the imageio service saw (bytes, expired tickets).
    fn sync_transfers(&self) {
        let ctx = self.ctx();
        if self.state.hub.needs_sync(ctx.now) {
            transfers::sync(&mut store::write(&self.state.data), &ctx);
        }
    }

    /// Moves the clock of background work by `ticks` and applies the stages that are
    /// due (with [`Pace::Manual`] one tick is one stage); returns the time now. With
    /// [`Pace::Manual`] a tick is also a second of the imageio tickets' inactivity
    /// timeouts.
    pub fn advance(&self, ticks: u64) -> u64 {
        let now = self.state.clock.advance(ticks);
        actions::apply_due(&mut store::write(&self.state.data), Some(now));
        self.sync_transfers();
        now
    }

    /// Finishes all background work at once: every pending stage is applied.
    pub fn settle(&self) {
        self.sync_transfers();
        actions::apply_due(&mut store::write(&self.state.data), None);
    }

    /// Number of stages of background work still to come.
    pub fn pending(&self) -> usize {
        store::read(&self.state.data).pending.len()
    }

    /// The object at `path` below the API base (`vms/ID`, `vms/ID/nics/NIC`), read
    /// with the SDK's reader of `T`, as the API would send it now.
    pub fn get<T: FromXml + XmlType>(&self, path: &str) -> Option<T> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let Some(store::Target::Object(key, id)) = store::target(&segments) else {
            return None;
        };
        let answer = self.current().get(&key, id, &Default::default());
        ovirt::xml::from_slice(&answer.body).ok()
    }

    /// The objects of the collection at `path` below the API base (`vms`,
    /// `vms/ID/diskattachments`), read with the SDK's reader of `T`.
    pub fn list<T: FromXml + XmlType>(&self, path: &str) -> Vec<T> {
        let answer = self
            .current()
            .list(path.trim_matches('/'), &[], &Default::default());
        std::str::from_utf8(&answer.body)
            .ok()
            .and_then(|t| ovirt::xml::from_str_list(t).ok())
            .unwrap_or_default()
    }

    /// Adds an object to the collection at `path` as `POST` would (same defaults, checks
    /// and background work), for a test to prepare the engine's data; returns the created
    /// object or the engine's fault as text.
    pub fn add<T: FromXml + ToXml + XmlType>(&self, path: &str, value: &T) -> Result<T, String> {
        let ctx = self.ctx();
        let body = ovirt::xml::to_string(value);
        let answer =
            store::write(&self.state.data).add(path.trim_matches('/'), body.as_bytes(), &ctx);
        let text = String::from_utf8_lossy(&answer.body);
        if answer.status != 201 {
            return Err(format!("{}: {text}", answer.status));
        }
        ovirt::xml::from_str(&text).map_err(|e| e.to_string())
    }

    /// The address of the imageio daemon (the host's imageio, where `transfer_url`
    /// points).
    pub fn imageio_addr(&self) -> SocketAddr {
        self.imageio_addrs.0
    }

    /// The address of the imageio proxy (the engine's imageio, where `proxy_url`
    /// points); it serves the same tickets with the same protocol.
    pub fn imageio_proxy_addr(&self) -> SocketAddr {
        self.imageio_addrs.1
    }

    /// Plays `fault` once, on the next imageio request it applies to; faults added
    /// earlier are played first.
    pub fn imageio_fault(&self, fault: ImageioFault) {
        self.state.hub.add_fault(fault);
    }

    /// Forgets the faults not yet played.
    pub fn clear_imageio_faults(&self) {
        self.state.hub.clear_faults();
    }

    /// The ticket of the transfer `transfer_id` expires now, as after its inactivity
    /// timeout: imageio requests get 403, and the transfer pauses or fails as its
    /// `timeout_policy` says (seen by the next API request or handle call). False if
    /// the ticket was not open (no such transfer, or not `transferring`).
    pub fn expire_ticket(&self, transfer_id: &str) -> bool {
        let expired = self.state.hub.expire(transfer_id);
        self.sync_transfers();
        expired
    }

    /// The next `finalize` of an image transfer fails, as when the engine finds the
    /// uploaded image bad: `finalizing_success` -> `finalizing_failure` ->
    /// `finished_failure`, and the disk as after `cancel` (an upload's disk removed).
    pub fn fail_next_finalize(&self) {
        self.state.hub.fail_next_finalize();
    }

    /// Every open ticket expires now (see [`TestEngine::expire_ticket`]); returns how
    /// many.
    pub fn expire_tickets(&self) -> usize {
        let n = self.state.hub.expire_all();
        self.sync_transfers();
        n
    }

    /// Every imageio request received so far (both listeners), in the order they were
    /// answered.
    pub fn imageio_requests(&self) -> Vec<ImageioRequest> {
        self.state.hub.requests()
    }

    /// Forgets the recorded imageio requests.
    pub fn clear_imageio_requests(&self) {
        self.state.hub.clear_requests();
    }

    /// Waits until the imageio service has written at least `n` bytes of `PUT` bodies
    /// in all (for a test that streams a body to see it written as it arrives). Bound it
    /// with a timeout.
    pub async fn wait_imageio_bytes_written(&self, n: u64) {
        self.state.hub.wait_written(n).await
    }

    /// Counters of the imageio service (both listeners, all tickets).
    pub fn imageio_stats(&self) -> ImageioStats {
        self.state.hub.stats()
    }

    /// Counters of one transfer's ticket (None for an unknown transfer).
    pub fn transfer_stats(&self, transfer_id: &str) -> Option<TransferStats> {
        self.state.hub.transfer_stats(transfer_id)
    }

    /// `len` bytes of the data stored for disk `disk_id` at `offset` (zeros where
    /// nothing was written), as a download would read them.
    pub fn read_disk(&self, disk_id: &str, offset: u64, len: usize) -> Vec<u8> {
        self.state.hub.read_disk(disk_id, offset, len)
    }

    /// Stores `data` at `offset` of disk `disk_id`, for a download to read.
    pub fn write_disk(&self, disk_id: &str, offset: u64, data: &[u8]) {
        self.state.hub.write_disk(disk_id, offset, data);
    }

    /// The extents of disk `disk_id` over its `provisioned_size` (empty for an unknown
    /// disk), as `GET /images/TICKET/extents` reports them.
    pub fn disk_extents(&self, disk_id: &str) -> Vec<Extent> {
        let size = self
            .current()
            .entity("disks", disk_id)
            .and_then(|d| d.node.text_of("provisioned_size")?.parse::<u64>().ok());
        match size {
            Some(size) => self.state.hub.extents_of(disk_id, size),
            None => Vec::new(),
        }
    }

    /// Bytes of data stored for disk `disk_id` (whole chunks of 64 KiB; what
    /// `actual_size` becomes when an upload is finalized).
    pub fn disk_stored_bytes(&self, disk_id: &str) -> u64 {
        self.state.hub.allocated(disk_id, u64::MAX)
    }

    /// Stops accepting, closes every connection and waits for the accept loops to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
