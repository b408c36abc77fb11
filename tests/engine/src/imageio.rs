//! The imageio service of an image transfer: the host's daemon (the `transfer_url`) and
//! the engine's proxy (the `proxy_url`), two listeners speaking the same HTTP protocol.
//!
//! Followed: the ovirt-imageio "Images API" documentation (docs/images.md of the
//! ovirt-imageio project) for the requests, JSON shapes and status codes, and the
//! behaviour of its server where the page is silent (a `Content-Range` of a `GET` answer
//! names the ticket's size; a `403` closes the connection; `PUT` needs a
//! `Content-Length`). `tests/engine/README.md` lists every answer.
//!
//! A ticket belongs to one transfer; it lets requests in only while the transfer is in
//! phase `transferring` ([`Access`]), and expires after `inactivity_timeout` seconds of
//! the engine's clock without a request (with [`crate::Pace::Manual`] or
//! [`crate::Pace::Timed`]; one tick is one second) or when a test says so. The data of a
//! disk lives in a [`SparseImage`] that outlives its transfers, so what an upload wrote a
//! download reads back.
//!
//! This module never takes the store's lock: what the API must learn (bytes transferred,
//! an expired ticket) is left in the [`Hub`] for the store to collect on its next
//! request (`transfers::sync`).

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::actions::Clock;
use crate::form;
use crate::server::lock;
use crate::sparse::{Extent, SparseImage};

/// Where the `transfer_url` of a new transfer points (see [`ImageioOptions::transfer_url`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransferUrl {
    /// The engine's imageio daemon listener (the default).
    #[default]
    Served,
    /// No `transfer_url` in the transfer: clients must use the `proxy_url`.
    Omitted,
    /// A URL on 127.0.0.1 where nothing listens (connections are refused): a client
    /// that tries it must fall back to the `proxy_url`.
    Unreachable,
}

/// Options of the engine's imageio service.
///
/// ```
/// use ovirt_test_engine::{ImageioOptions, TestEngine, TransferUrl};
/// # async fn demo() {
/// let engine = TestEngine::builder()
///     .imageio(ImageioOptions::default().max_writers(4).transfer_url(TransferUrl::Unreachable))
///     .start()
///     .await
///     .unwrap();
/// # let _ = engine;
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ImageioOptions {
    pub(crate) max_readers: u32,
    pub(crate) max_writers: u32,
    pub(crate) transfer_url: TransferUrl,
    pub(crate) proxy_url: bool,
}

impl Default for ImageioOptions {
    fn default() -> Self {
        ImageioOptions {
            max_readers: 8,
            max_writers: 8,
            transfer_url: TransferUrl::Served,
            proxy_url: true,
        }
    }
}

impl ImageioOptions {
    /// `max_readers` announced by `OPTIONS` (default 8).
    pub fn max_readers(mut self, n: u32) -> Self {
        self.max_readers = n;
        self
    }

    /// `max_writers` announced by `OPTIONS` for transfers in `raw` format (default 8);
    /// a `cow` transfer announces 1, as imageio's file backend does.
    pub fn max_writers(mut self, n: u32) -> Self {
        self.max_writers = n;
        self
    }

    /// What the `transfer_url` of new transfers is (default [`TransferUrl::Served`]).
    pub fn transfer_url(mut self, url: TransferUrl) -> Self {
        self.transfer_url = url;
        self
    }

    /// Whether new transfers carry a `proxy_url` (default true).
    pub fn proxy_url(mut self, on: bool) -> Self {
        self.proxy_url = on;
        self
    }
}

/// A fault the imageio service plays once, on the next request it applies to
/// ([`crate::TestEngine::imageio_fault`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageioFault {
    /// The next `PUT` has its connection closed (no answer) once this many bytes of
    /// its body have been received; those bytes are written to the disk.
    ClosePutAfter(u64),
    /// The next `GET` of image data has its connection closed once this many bytes of
    /// the answer's body have been sent.
    CloseGetAfter(u64),
    /// The next request on a ticket (any method) is answered with this status and a
    /// text body, without doing anything.
    Status(u16),
}

/// Counters of the whole imageio service ([`crate::TestEngine::imageio_stats`]). The
/// requests by kind count those a ticket let in (and `OPTIONS` of `*`); `errors` counts
/// every error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageioStats {
    /// Connections accepted by the daemon listener (the `transfer_url`).
    pub connections: u64,
    /// Connections accepted by the proxy listener (the `proxy_url`).
    pub proxy_connections: u64,
    /// `OPTIONS` requests.
    pub options: u64,
    /// `GET` requests for image data.
    pub gets: u64,
    /// `GET` requests for extents.
    pub extents: u64,
    /// `PUT` requests.
    pub puts: u64,
    /// `PATCH` requests with `"op": "zero"`.
    pub zeros: u64,
    /// `PATCH` requests with `"op": "flush"`.
    pub flushes: u64,
    /// Requests answered with a status of 400 or more.
    pub errors: u64,
    /// Connections closed by an [`ImageioFault`].
    pub aborted: u64,
    /// Bytes of `PUT` bodies written to disks.
    pub bytes_written: u64,
    /// Bytes of image data sent in `GET` answers.
    pub bytes_read: u64,
}

/// Counters of one transfer's ticket ([`crate::TestEngine::transfer_stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStats {
    /// Distinct connections (of either listener) that sent a request with this ticket.
    pub connections: usize,
    /// The most requests on this ticket handled at the same time.
    pub max_in_flight: usize,
    /// Requests on this ticket that passed its checks.
    pub requests: u64,
    /// `OPTIONS` requests.
    pub options: u64,
    /// `GET` requests for image data.
    pub gets: u64,
    /// `GET` requests for extents.
    pub extents: u64,
    /// `PUT` requests.
    pub puts: u64,
    /// `PATCH` zero requests.
    pub zeros: u64,
    /// Flushes: `PATCH` flush requests, and `PUT`s with `flush=y` (the default) and
    /// zero requests with `"flush": true`.
    pub flushes: u64,
    /// Whether data was written or zeroed since the last flush.
    pub unflushed: bool,
    /// Bytes of `PUT` bodies written.
    pub bytes_written: u64,
    /// Bytes zeroed by `PATCH` zero requests.
    pub bytes_zeroed: u64,
    /// Bytes of image data sent.
    pub bytes_read: u64,
}

/// What an imageio request asked for (see [`ImageioRequest`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageioOp {
    /// `OPTIONS`.
    Options,
    /// `GET` of image data.
    Read,
    /// `GET` of extents.
    Extents,
    /// `PUT`.
    Write,
    /// `PATCH` with `"op": "zero"`.
    Zero,
    /// `PATCH` with `"op": "flush"`.
    Flush,
}

/// An imageio request as the service received it ([`crate::TestEngine::imageio_requests`];
/// recorded unless [`crate::TestEngineBuilder::record`] is off). The ticket is not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageioRequest {
    /// Method, upper case.
    pub method: String,
    /// What it asked for, once known (None for a request refused before that, such as an
    /// unknown path or an unreadable `PATCH` body).
    pub op: Option<ImageioOp>,
    /// The transfer of the ticket it named, when the ticket let it in.
    pub transfer_id: Option<String>,
    /// The query string (`flush=n`, `context=zero`), empty when there is none.
    pub query: String,
    /// First byte written, read or zeroed.
    pub offset: Option<u64>,
    /// Bytes written, read or zeroed (for a `PUT`, its `Content-Length`).
    pub length: Option<u64>,
    /// Whether the request asked for a flush (`PUT` `flush=y`, zero `"flush": true`, or
    /// a flush request).
    pub flush: Option<bool>,
    /// The status answered; 0 when the connection was closed instead (a `PUT` fault, or
    /// the client went away mid-body). A `GET` cut mid-answer keeps its status: the head
    /// had been sent.
    pub status: u16,
    /// Number of the imageio connection (both listeners count together, from 0).
    pub connection: u64,
    /// Whether it came through the proxy listener.
    pub proxy: bool,
}

/// Whether a ticket lets requests in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The transfer is not (or not yet, or no longer) transferring: "no such ticket".
    Closed,
    /// The transfer is transferring.
    Open,
    /// The ticket expired (inactivity or a test); `reported` once the store has been told.
    Expired { reported: bool },
}

struct TicketState {
    access: Access,
    /// Clock time of the last request's end (or of opening).
    last_access: u64,
    ongoing: usize,
    connections: HashSet<u64>,
    stats: TransferStats,
    /// Bytes transferred (written for an upload, read for a download) last told to the
    /// store.
    reported_bytes: u64,
}

/// The ticket of one transfer.
pub(crate) struct Ticket {
    pub(crate) transfer_id: String,
    image: Arc<Mutex<SparseImage>>,
    pub(crate) size: u64,
    write: bool,
    max_writers: u32,
    /// Seconds (clock ticks) without a request after which the ticket expires; 0: never.
    timeout: u64,
    state: Mutex<TicketState>,
}

/// What the store must learn about a transfer.
pub(crate) struct Event {
    pub(crate) transfer_id: String,
    pub(crate) transferred: u64,
    pub(crate) expired: bool,
}

/// The addresses the listeners got.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    pub(crate) scheme: &'static str,
    pub(crate) daemon: std::net::SocketAddr,
    pub(crate) proxy: std::net::SocketAddr,
    pub(crate) unreachable: std::net::SocketAddr,
}

/// The imageio service's state, shared by the store and the listeners.
pub(crate) struct Hub {
    clock: Arc<Clock>,
    pub(crate) options: ImageioOptions,
    tickets: Mutex<HashMap<String, Arc<Ticket>>>,
    by_transfer: Mutex<HashMap<String, Arc<Ticket>>>,
    images: Mutex<HashMap<String, Arc<Mutex<SparseImage>>>>,
    faults: Mutex<VecDeque<ImageioFault>>,
    stats: Mutex<ImageioStats>,
    changed: AtomicBool,
    serial: AtomicU64,
    connection_serial: AtomicU64,
    pub(crate) urls: OnceLock<Urls>,
    record: bool,
    requests: Mutex<Vec<ImageioRequest>>,
    /// Finalizations still to fail ([`crate::TestEngine::fail_next_finalize`]).
    fail_finalize: AtomicU64,
    /// Bytes of `PUT` bodies written so far, for tests to wait on.
    written: watch::Sender<u64>,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64: spreads a counter over all bits.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Hub {
    pub(crate) fn new(clock: Arc<Clock>, options: ImageioOptions, record: bool) -> Hub {
        Hub {
            clock,
            options,
            tickets: Mutex::new(HashMap::new()),
            by_transfer: Mutex::new(HashMap::new()),
            images: Mutex::new(HashMap::new()),
            faults: Mutex::new(VecDeque::new()),
            stats: Mutex::new(ImageioStats::default()),
            changed: AtomicBool::new(false),
            serial: AtomicU64::new(0),
            connection_serial: AtomicU64::new(0),
            urls: OnceLock::new(),
            record,
            requests: Mutex::new(Vec::new()),
            fail_finalize: AtomicU64::new(0),
            written: watch::Sender::new(0),
        }
    }

    /// The stored data of a disk (created empty on first use).
    pub(crate) fn image(&self, disk_id: &str) -> Arc<Mutex<SparseImage>> {
        lock(&self.images)
            .entry(disk_id.to_string())
            .or_default()
            .clone()
    }

    /// The stored data of a disk, if any was ever used.
    pub(crate) fn existing_image(&self, disk_id: &str) -> Option<Arc<Mutex<SparseImage>>> {
        lock(&self.images).get(disk_id).cloned()
    }

    /// Forgets a removed disk's data.
    pub(crate) fn drop_image(&self, disk_id: &str) {
        if let Some(img) = lock(&self.images).remove(disk_id) {
            lock(&img).clear();
        }
    }

    /// A new ticket value: unique in this engine and not guessable from the transfer.
    fn new_ticket_id(&self) -> String {
        let n = self.serial.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let a = mix(nanos ^ (n << 32));
        let b = mix(a ^ n.wrapping_mul(0x2545_f491_4f6c_dd1d));
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    /// Creates the (closed) ticket of a new transfer; returns its value.
    pub(crate) fn create_ticket(
        &self,
        transfer_id: &str,
        disk_id: &str,
        size: u64,
        write: bool,
        raw: bool,
        timeout: u64,
    ) -> String {
        let id = self.new_ticket_id();
        let ticket = Arc::new(Ticket {
            transfer_id: transfer_id.to_string(),
            image: self.image(disk_id),
            size,
            write,
            max_writers: if raw { self.options.max_writers } else { 1 },
            timeout,
            state: Mutex::new(TicketState {
                access: Access::Closed,
                last_access: self.clock.now(),
                ongoing: 0,
                connections: HashSet::new(),
                stats: TransferStats::default(),
                reported_bytes: 0,
            }),
        });
        lock(&self.tickets).insert(id.clone(), ticket.clone());
        lock(&self.by_transfer).insert(transfer_id.to_string(), ticket);
        id
    }

    pub(crate) fn ticket_of(&self, transfer_id: &str) -> Option<Arc<Ticket>> {
        lock(&self.by_transfer).get(transfer_id).cloned()
    }

    /// The phase of the transfer decides whether its ticket lets requests in.
    pub(crate) fn set_open(&self, transfer_id: &str, open: bool) {
        let Some(t) = self.ticket_of(transfer_id) else {
            return;
        };
        let mut s = lock(&t.state);
        if open {
            s.access = Access::Open;
            s.last_access = self.clock.now();
        } else if s.access == Access::Open {
            // An expired ticket stays expired: later requests are told so.
            s.access = Access::Closed;
        }
    }

    /// Restarts the inactivity timeout of a ticket (the `extend` action).
    pub(crate) fn touch(&self, transfer_id: &str) {
        if let Some(t) = self.ticket_of(transfer_id) {
            lock(&t.state).last_access = self.clock.now();
        }
    }

    /// Expires a transfer's ticket now; false if it was not open.
    pub(crate) fn expire(&self, transfer_id: &str) -> bool {
        let Some(t) = self.ticket_of(transfer_id) else {
            return false;
        };
        let mut s = lock(&t.state);
        if s.access != Access::Open {
            return false;
        }
        s.access = Access::Expired { reported: false };
        self.changed.store(true, Ordering::SeqCst);
        true
    }

    /// Expires every open ticket; returns how many.
    pub(crate) fn expire_all(&self) -> usize {
        let ids: Vec<String> = lock(&self.by_transfer).keys().cloned().collect();
        ids.iter().filter(|id| self.expire(id)).count()
    }

    /// Whether the inactivity timeout is counted (the clock moves with time).
    fn counts_time(&self) -> bool {
        self.clock.moves_with_time()
    }

    /// Expires the ticket if it has been idle for its timeout; returns whether it is
    /// expired now.
    fn check_idle(&self, t: &Ticket, s: &mut TicketState, now: u64) -> bool {
        if let Access::Expired { .. } = s.access {
            return true;
        }
        if s.access == Access::Open
            && self.counts_time()
            && t.timeout > 0
            && s.ongoing == 0
            && now.saturating_sub(s.last_access) >= t.timeout
        {
            s.access = Access::Expired { reported: false };
            self.changed.store(true, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Whether the store has something to collect (cheap when nothing is open).
    pub(crate) fn needs_sync(&self, now: u64) -> bool {
        if self.changed.load(Ordering::SeqCst) {
            return true;
        }
        if !self.counts_time() {
            return false;
        }
        let tickets: Vec<Arc<Ticket>> = lock(&self.by_transfer).values().cloned().collect();
        tickets.iter().any(|t| {
            let s = lock(&t.state);
            s.access == Access::Open
                && t.timeout > 0
                && s.ongoing == 0
                && now.saturating_sub(s.last_access) >= t.timeout
        })
    }

    /// What changed since the last call: bytes transferred and tickets expired.
    pub(crate) fn events(&self, now: u64) -> Vec<Event> {
        self.changed.store(false, Ordering::SeqCst);
        let tickets: Vec<Arc<Ticket>> = lock(&self.by_transfer).values().cloned().collect();
        let mut out = Vec::new();
        for t in tickets {
            let mut s = lock(&t.state);
            self.check_idle(&t, &mut s, now);
            let bytes = if t.write {
                s.stats.bytes_written
            } else {
                s.stats.bytes_read
            };
            let expired = s.access == Access::Expired { reported: false };
            if expired {
                s.access = Access::Expired { reported: true };
            }
            if expired || bytes != s.reported_bytes {
                s.reported_bytes = bytes;
                out.push(Event {
                    transfer_id: t.transfer_id.clone(),
                    transferred: bytes,
                    expired,
                });
            }
        }
        out
    }

    /// Bytes stored for a disk, at most `size`.
    pub(crate) fn allocated(&self, disk_id: &str, size: u64) -> u64 {
        self.existing_image(disk_id)
            .map_or(0, |img| lock(&img).allocated(size))
    }

    pub(crate) fn stats(&self) -> ImageioStats {
        lock(&self.stats).clone()
    }

    pub(crate) fn transfer_stats(&self, transfer_id: &str) -> Option<TransferStats> {
        let t = self.ticket_of(transfer_id)?;
        let s = lock(&t.state);
        let mut stats = s.stats.clone();
        stats.connections = s.connections.len();
        Some(stats)
    }

    /// Waits until at least `n` bytes of `PUT` bodies have been written.
    pub(crate) async fn wait_written(&self, n: u64) {
        let mut rx = self.written.subscribe();
        let _ = rx.wait_for(|w| *w >= n).await;
    }

    /// The next finalization fails.
    pub(crate) fn fail_next_finalize(&self) {
        self.fail_finalize.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether this finalization is to fail (uses up one).
    pub(crate) fn take_finalize_failure(&self) -> bool {
        self.fail_finalize
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn requests(&self) -> Vec<ImageioRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn add_fault(&self, fault: ImageioFault) {
        lock(&self.faults).push_back(fault);
    }

    pub(crate) fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Takes the first fault that applies to a request of this kind.
    fn take_fault(&self, kind: Kind) -> Option<ImageioFault> {
        let mut faults = lock(&self.faults);
        let at = faults.iter().position(|f| match f {
            ImageioFault::ClosePutAfter(_) => kind == Kind::Put,
            ImageioFault::CloseGetAfter(_) => kind == Kind::Get,
            ImageioFault::Status(_) => true,
        })?;
        faults.remove(at)
    }

    fn count(&self, f: impl FnOnce(&mut ImageioStats)) {
        f(&mut lock(&self.stats));
    }

    /// The URLs of a new transfer's ticket: (`transfer_url`, `proxy_url`).
    pub(crate) fn urls_for(&self, ticket: &str) -> (Option<String>, Option<String>) {
        let Some(u) = self.urls.get() else {
            return (None, None);
        };
        let url = |addr: std::net::SocketAddr| format!("{}://{addr}/images/{ticket}", u.scheme);
        let transfer = match self.options.transfer_url {
            TransferUrl::Served => Some(url(u.daemon)),
            TransferUrl::Omitted => None,
            TransferUrl::Unreachable => Some(url(u.unreachable)),
        };
        let proxy = self.options.proxy_url.then(|| url(u.proxy));
        (transfer, proxy)
    }

    /// Reads data of a disk (zeros where nothing is stored).
    pub(crate) fn read_disk(&self, disk_id: &str, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        if let Some(img) = self.existing_image(disk_id) {
            lock(&img).read(offset, &mut out);
        }
        out
    }

    pub(crate) fn write_disk(&self, disk_id: &str, offset: u64, data: &[u8]) {
        lock(&self.image(disk_id)).write(offset, data);
    }

    pub(crate) fn extents_of(&self, disk_id: &str, size: u64) -> Vec<Extent> {
        match self.existing_image(disk_id) {
            Some(img) => lock(&img).extents(size),
            None => SparseImage::default().extents(size),
        }
    }
}

/// The kinds of requests, for counters and faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Options,
    Get,
    Extents,
    Put,
    Zero,
    Flush,
}

impl Kind {
    fn op(self) -> ImageioOp {
        match self {
            Kind::Options => ImageioOp::Options,
            Kind::Get => ImageioOp::Read,
            Kind::Extents => ImageioOp::Extents,
            Kind::Put => ImageioOp::Write,
            Kind::Zero => ImageioOp::Zero,
            Kind::Flush => ImageioOp::Flush,
        }
    }
}

/// What the handlers learn about a request, for its record.
#[derive(Default)]
struct Note {
    kind: Option<Kind>,
    transfer_id: Option<String>,
    offset: Option<u64>,
    length: Option<u64>,
    flush: Option<bool>,
}

impl Note {
    fn range(&mut self, offset: u64, length: u64) {
        self.offset = Some(offset);
        self.length = Some(length);
    }
}

/// One request in service: its connection and its record.
struct Cx {
    connection: u64,
    note: Mutex<Note>,
}

/// Why a connection is dropped without an answer (a fault, or a client gone).
#[derive(Debug)]
pub(crate) struct Abort(&'static str);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

/// A request in service on a ticket: counted while alive, touches the ticket when done.
struct InFlight {
    ticket: Arc<Ticket>,
    clock: Arc<Clock>,
}

impl InFlight {
    fn enter(ticket: &Arc<Ticket>, clock: &Arc<Clock>, connection: u64, kind: Kind) -> InFlight {
        let mut s = lock(&ticket.state);
        s.ongoing += 1;
        s.stats.max_in_flight = s.stats.max_in_flight.max(s.ongoing);
        s.connections.insert(connection);
        s.stats.requests += 1;
        match kind {
            Kind::Options => s.stats.options += 1,
            Kind::Get => s.stats.gets += 1,
            Kind::Extents => s.stats.extents += 1,
            Kind::Put => s.stats.puts += 1,
            Kind::Zero => s.stats.zeros += 1,
            Kind::Flush => s.stats.flushes += 1,
        }
        drop(s);
        InFlight {
            ticket: ticket.clone(),
            clock: clock.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = lock(&self.ticket.state);
        s.ongoing = s.ongoing.saturating_sub(1);
        s.last_access = self.clock.now();
    }
}

/// Bytes per frame of a `GET` answer.
const FRAME: usize = 256 * 1024;
static ZEROS: [u8; FRAME] = [0; FRAME];

/// The image data of a `GET` answer, read frame by frame.
pub(crate) struct ImageStream {
    hub: Arc<Hub>,
    ticket: Arc<Ticket>,
    pos: u64,
    end: u64,
    sent: u64,
    cut: Option<u64>,
    _in_flight: InFlight,
}

impl ImageStream {
    fn next_frame(&mut self) -> Option<Result<Frame<Bytes>, Abort>> {
        if self.pos >= self.end {
            return None;
        }
        if self.cut.is_some_and(|c| self.sent >= c) {
            self.cut = None;
            self.hub.count(|s| s.aborted += 1);
            return Some(Err(Abort("the test closed the connection mid-answer")));
        }
        if lock(&self.ticket.state).access != Access::Open {
            return Some(Err(Abort("the ticket was closed mid-answer")));
        }
        let mut n = (self.end - self.pos).min(FRAME as u64);
        if let Some(c) = self.cut {
            n = n.min(c - self.sent);
        }
        let n = n as usize;
        let data = {
            let img = lock(&self.ticket.image);
            if img.has_data(self.pos, n as u64) {
                let mut v = vec![0u8; n];
                img.read(self.pos, &mut v);
                Bytes::from(v)
            } else {
                Bytes::from_static(&ZEROS[..n])
            }
        };
        self.pos += n as u64;
        self.sent += n as u64;
        lock(&self.ticket.state).stats.bytes_read += n as u64;
        self.hub.count(|s| s.bytes_read += n as u64);
        self.hub.changed.store(true, Ordering::Relaxed);
        Some(Ok(Frame::data(data)))
    }
}

/// The body of an imageio answer.
pub(crate) enum ImageioBody {
    Bytes(Option<Bytes>),
    Image(Box<ImageStream>),
}

impl Body for ImageioBody {
    type Data = Bytes;
    type Error = Abort;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Abort>>> {
        match self.get_mut() {
            ImageioBody::Bytes(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ImageioBody::Image(s) => Poll::Ready(s.next_frame()),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ImageioBody::Bytes(b) => b.as_ref().is_none_or(Bytes::is_empty),
            ImageioBody::Image(s) => s.pos >= s.end,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ImageioBody::Bytes(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ImageioBody::Image(s) => SizeHint::with_exact(s.end.saturating_sub(s.pos)),
        }
    }
}

type Reply = Response<ImageioBody>;
/// An answer that ends a request early (boxed: answers are large).
type Refused = Box<Reply>;

fn reply(status: u16, content_type: Option<&'static str>, body: impl Into<Bytes>) -> Reply {
    let body: Bytes = body.into();
    let mut resp = Response::new(ImageioBody::Bytes((!body.is_empty()).then_some(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        resp.headers_mut()
            .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    resp
}

/// An error answer as imageio writes them: the message as plain text, one line.
fn error(status: u16, message: &str) -> Reply {
    reply(
        status,
        Some("text/plain; charset=UTF-8"),
        format!("{message}\n"),
    )
}

fn json(body: String) -> Reply {
    reply(200, Some("application/json"), format!("{body}\n"))
}

fn with_header(mut resp: Reply, name: &'static str, value: &str) -> Reply {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

/// A 416 naming the range that can be asked for.
fn unsatisfiable(message: &str, size: u64) -> Reply {
    with_header(
        error(416, message),
        "content-range",
        &format!("bytes */{size}"),
    )
}

/// A 403: no such ticket, expired, or not allowed; the connection closes.
fn forbidden(reason: &str) -> Reply {
    with_header(
        error(
            403,
            &format!("You are not allowed to access this resource: {reason}"),
        ),
        "connection",
        "close",
    )
}

/// A `Range` header as imageio reads it: one range, `bytes=FIRST-LAST` or
/// `bytes=FIRST-`; anything else is 416.
fn parse_range(header: &str) -> Result<(u64, Option<u64>), String> {
    let bad = || format!("Cannot satisfy range {header:?}, invalid range or multiple ranges");
    let spec = header.strip_prefix("bytes=").ok_or_else(bad)?;
    let (first, last) = spec.split_once('-').ok_or_else(bad)?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(first) || !digits(last) {
        return Err(bad());
    }
    if first.is_empty() {
        return Err(if last.is_empty() {
            format!("Cannot satisfy range {header:?}, no first or last")
        } else {
            "suffix-byte-range-spec not supported yet".to_string()
        });
    }
    let first: u64 = first.parse().map_err(|_| bad())?;
    if last.is_empty() {
        return Ok((first, None));
    }
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(format!("Cannot satisfy range {header:?}, first > last"));
    }
    Ok((first, Some(last)))
}

/// A `Content-Range` header of a `PUT`: `bytes FIRST-LAST/COMPLETE` (LAST and COMPLETE
/// may be `*`); anything else is 400.
fn parse_content_range(header: &str) -> Result<(u64, Option<u64>), String> {
    let bad = |why: &str| format!("Invalid Content-Range {header:?}{why}");
    let spec = header.strip_prefix("bytes ").ok_or_else(|| bad(""))?;
    let (range, complete) = spec.split_once('/').ok_or_else(|| bad(""))?;
    let (first, last) = range.split_once('-').ok_or_else(|| bad(""))?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    let first = number(first).ok_or_else(|| bad(""))?;
    let last = match last {
        "*" => None,
        l => Some(number(l).ok_or_else(|| bad(""))?),
    };
    let complete = match complete {
        "*" => None,
        c => Some(number(c).ok_or_else(|| bad(""))?),
    };
    if last.is_some_and(|l| l < first) {
        return Err(bad(", first > last"));
    }
    if let (Some(l), Some(c)) = (last, complete) {
        if l >= c {
            return Err(bad(", last >= complete"));
        }
    }
    Ok((first, last))
}

fn header<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks a ticket for an operation, as imageio's authorization does.
fn authorize(hub: &Hub, ticket_id: &str, write: bool) -> Result<Arc<Ticket>, Refused> {
    let deny = |reason: &str| Box::new(forbidden(reason));
    let ticket = lock(&hub.tickets).get(ticket_id).cloned();
    let Some(ticket) = ticket else {
        return Err(deny("No such ticket"));
    };
    let now = hub.clock.now();
    let mut s = lock(&ticket.state);
    if hub.check_idle(&ticket, &mut s, now) {
        return Err(deny(&format!("Transfer={} expired", ticket.transfer_id)));
    }
    if s.access != Access::Open {
        return Err(deny("No such ticket"));
    }
    if write && !ticket.write {
        return Err(deny(&format!(
            "Transfer={} forbids write",
            ticket.transfer_id
        )));
    }
    drop(s);
    Ok(ticket)
}

/// Answers one request of either listener.
async fn handle(
    hub: Arc<Hub>,
    connection: u64,
    proxy: bool,
    req: Request<Incoming>,
) -> Result<Reply, Abort> {
    let cx = Cx {
        connection,
        note: Mutex::new(Note::default()),
    };
    let method = req.method().as_str().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let resp = route(&hub, &cx, req).await;
    let status = match &resp {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    };
    if status >= 400 {
        hub.count(|s| s.errors += 1);
    }
    if hub.record {
        let note = std::mem::take(&mut *lock(&cx.note));
        lock(&hub.requests).push(ImageioRequest {
            method,
            op: note.kind.map(Kind::op),
            transfer_id: note.transfer_id,
            query,
            offset: note.offset,
            length: note.length,
            flush: note.flush,
            status,
            connection,
            proxy,
        });
    }
    resp
}

async fn route(hub: &Arc<Hub>, cx: &Cx, req: Request<Incoming>) -> Result<Reply, Abort> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/images/") else {
        return Ok(error(404, "No such resource"));
    };
    let (ticket_id, extents) = match rest.split_once('/') {
        None => (rest, false),
        Some((t, "extents")) => (t, true),
        Some(_) => return Ok(error(404, "No such resource")),
    };
    if ticket_id.is_empty() {
        return Ok(error(400, "Ticket id is required"));
    }
    let method = req.method().clone();
    let kind = match (method.as_str(), extents) {
        ("OPTIONS", false) => Kind::Options,
        ("GET", true) => Kind::Extents,
        ("GET", false) => Kind::Get,
        ("PUT", false) => Kind::Put,
        ("PATCH", false) => Kind::Zero, // or flush: decided by the body
        (_, true) => {
            return Ok(with_header(
                error(405, "Method not allowed"),
                "allow",
                "GET",
            ))
        }
        _ => {
            return Ok(with_header(
                error(405, "Method not allowed"),
                "allow",
                "OPTIONS,GET,PUT,PATCH",
            ))
        }
    };
    if kind != Kind::Zero {
        lock(&cx.note).kind = Some(kind);
    }
    if kind == Kind::Options && ticket_id == "*" {
        hub.count(|s| s.options += 1);
        let resp = json(r#"{"features": ["extents", "zero", "flush"]}"#.to_string());
        return Ok(with_header(resp, "allow", "OPTIONS,GET,PUT,PATCH"));
    }
    match kind {
        Kind::Options => options(hub, cx, ticket_id),
        Kind::Extents => get_extents(hub, cx, ticket_id, req.uri().query()),
        Kind::Get => get(hub, cx, ticket_id, &req),
        Kind::Put => put(hub, cx, ticket_id, req).await,
        _ => patch(hub, cx, ticket_id, req).await,
    }
}

/// Checks the ticket, counts the request and plays a `Status` fault.
fn enter(
    hub: &Arc<Hub>,
    cx: &Cx,
    ticket_id: &str,
    kind: Kind,
    write: bool,
) -> Result<(Arc<Ticket>, InFlight, Option<ImageioFault>), Refused> {
    let ticket = authorize(hub, ticket_id, write)?;
    let in_flight = InFlight::enter(&ticket, &hub.clock, cx.connection, kind);
    {
        let mut note = lock(&cx.note);
        note.kind = Some(kind);
        note.transfer_id = Some(ticket.transfer_id.clone());
    }
    hub.count(|s| match kind {
        Kind::Options => s.options += 1,
        Kind::Get => s.gets += 1,
        Kind::Extents => s.extents += 1,
        Kind::Put => s.puts += 1,
        Kind::Zero => s.zeros += 1,
        Kind::Flush => s.flushes += 1,
    });
    match hub.take_fault(kind) {
        Some(ImageioFault::Status(status)) => Err(Box::new(error(
            status,
            &format!("The test engine answers {status} (a programmed fault)"),
        ))),
        fault => Ok((ticket, in_flight, fault)),
    }
}

fn options(hub: &Arc<Hub>, cx: &Cx, ticket_id: &str) -> Result<Reply, Abort> {
    let (ticket, _in_flight, _) = match enter(hub, cx, ticket_id, Kind::Options, false) {
        Ok(t) => t,
        Err(r) => return Ok(*r),
    };
    let (allow, features) = if ticket.write {
        ("OPTIONS,GET,PUT,PATCH", r#"["extents", "zero", "flush"]"#)
    } else {
        ("OPTIONS,GET", r#"["extents"]"#)
    };
    let body = format!(
        r#"{{"features": {features}, "max_readers": {}, "max_writers": {}}}"#,
        hub.options.max_readers, ticket.max_writers
    );
    Ok(with_header(json(body), "allow", allow))
}

fn get_extents(
    hub: &Arc<Hub>,
    cx: &Cx,
    ticket_id: &str,
    query: Option<&str>,
) -> Result<Reply, Abort> {
    let (ticket, _in_flight, _) = match enter(hub, cx, ticket_id, Kind::Extents, false) {
        Ok(t) => t,
        Err(r) => return Ok(*r),
    };
    let params = form::parse(query.unwrap_or(""));
    let context = form::get(&params, "context").unwrap_or("zero");
    match context {
        "zero" => {}
        "dirty" => return Ok(error(404, "Ticket does not support dirty extents")),
        other => {
            return Ok(error(
                400,
                &format!(
                    "Unsupported value {other:?} for 'context', expecting one of ['dirty', 'zero']"
                ),
            ))
        }
    }
    let extents = lock(&ticket.image).extents(ticket.size);
    let items: Vec<String> = extents
        .iter()
        .map(|e| {
            format!(
                r#"{{"start": {}, "length": {}, "zero": {}, "hole": false}}"#,
                e.start, e.length, e.zero
            )
        })
        .collect();
    Ok(json(format!("[{}]", items.join(", "))))
}

fn get(hub: &Arc<Hub>, cx: &Cx, ticket_id: &str, req: &Request<Incoming>) -> Result<Reply, Abort> {
    let range = match header(req, "range").map(parse_range) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(message)) => return Ok(error(416, &message)),
    };
    let (ticket, in_flight, fault) = match enter(hub, cx, ticket_id, Kind::Get, false) {
        Ok(t) => t,
        Err(r) => return Ok(*r),
    };
    let size = ticket.size;
    let (offset, length) = match range {
        None => (0, size),
        Some((first, Some(last))) => {
            if last >= size {
                return Ok(unsatisfiable(
                    &format!("Requested more bytes than available: {} > {size}", last + 1),
                    size,
                ));
            }
            (first, last - first + 1)
        }
        Some((first, None)) => {
            if first >= size {
                return Ok(unsatisfiable("Requested range out of allowed range", size));
            }
            (first, size - first)
        }
    };
    lock(&cx.note).range(offset, length);
    let cut = match fault {
        Some(ImageioFault::CloseGetAfter(n)) => Some(n),
        _ => None,
    };
    let stream = ImageStream {
        hub: hub.clone(),
        ticket: ticket.clone(),
        pos: offset,
        end: offset + length,
        sent: 0,
        cut,
        _in_flight: in_flight,
    };
    let mut resp = Response::new(ImageioBody::Image(Box::new(stream)));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!("bytes {offset}-{}/{size}", offset + length - 1);
        resp = with_header(resp, "content-range", &value);
    }
    Ok(resp)
}

fn flush_param(query: Option<&str>) -> Result<bool, Refused> {
    let params = form::parse(query.unwrap_or(""));
    match form::get(&params, "flush") {
        None | Some("y") => Ok(true),
        Some("n") => Ok(false),
        Some(other) => Err(Box::new(error(
            400,
            &format!("Unsupported value {other:?} for 'flush', expecting one of ['n', 'y']"),
        ))),
    }
}

fn record_write(hub: &Hub, ticket: &Ticket, written: u64, zeroed: u64, flush: bool) {
    let mut s = lock(&ticket.state);
    s.stats.bytes_written += written;
    s.stats.bytes_zeroed += zeroed;
    if written > 0 || zeroed > 0 {
        s.stats.unflushed = true;
    }
    if flush {
        s.stats.unflushed = false;
    }
    drop(s);
    if written > 0 {
        hub.count(|s| s.bytes_written += written);
        hub.changed.store(true, Ordering::Relaxed);
        hub.written.send_modify(|w| *w += written);
    }
}

async fn put(
    hub: &Arc<Hub>,
    cx: &Cx,
    ticket_id: &str,
    req: Request<Incoming>,
) -> Result<Reply, Abort> {
    let length = match header(&req, "content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => return Ok(error(400, "Invalid Content-Length header")),
        None => return Ok(error(400, "Content-Length header is required")),
    };
    let offset = match header(&req, "content-range").map(parse_content_range) {
        None => 0,
        Some(Ok((first, last))) => {
            if last.is_some_and(|l| length == 0 || l - first != length - 1) {
                return Ok(error(
                    400,
                    &format!(
                        "Content-Range ends at {} but Content-Length is {length}",
                        last.unwrap_or(0)
                    ),
                ));
            }
            first
        }
        Some(Err(message)) => return Ok(error(400, &message)),
    };
    let flush = match flush_param(req.uri().query()) {
        Ok(f) => f,
        Err(r) => return Ok(*r),
    };
    {
        let mut note = lock(&cx.note);
        note.range(offset, length);
        note.flush = Some(flush);
    }
    let (ticket, _in_flight, fault) = match enter(hub, cx, ticket_id, Kind::Put, true) {
        Ok(t) => t,
        Err(r) => return Ok(*r),
    };
    if offset.saturating_add(length) > ticket.size {
        return Ok(unsatisfiable(
            "Requested range out of allowed range",
            ticket.size,
        ));
    }
    let mut cut = match fault {
        Some(ImageioFault::ClosePutAfter(n)) => Some(n),
        _ => None,
    };
    let mut body = req.into_body();
    let mut pos = offset;
    let mut received = 0u64;
    loop {
        if cut.is_some_and(|c| received >= c) {
            hub.count(|s| s.aborted += 1);
            return Err(Abort("the test closed the connection mid-upload"));
        }
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|_| Abort("the upload's body could not be read"))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        if let Some(c) = cut {
            let room = (c - received) as usize;
            if data.len() > room {
                data.truncate(room);
                cut = Some(received + room as u64);
            }
        }
        if received + data.len() as u64 > length {
            return Ok(error(400, "The body is longer than Content-Length"));
        }
        if lock(&ticket.state).access != Access::Open {
            return Ok(forbidden(&format!(
                "Transfer={} was canceled",
                ticket.transfer_id
            )));
        }
        lock(&ticket.image).write(pos, &data);
        pos += data.len() as u64;
        received += data.len() as u64;
        record_write(hub, &ticket, data.len() as u64, 0, false);
    }
    if received != length {
        return Ok(error(
            400,
            &format!("Expected {length} bytes, received {received}"),
        ));
    }
    if flush {
        lock(&ticket.state).stats.flushes += 1;
    }
    record_write(hub, &ticket, 0, 0, flush);
    Ok(reply(200, None, Bytes::new()))
}

/// The body of a `PATCH`: a small JSON document.
const PATCH_LIMIT: usize = 64 * 1024;

async fn patch(
    hub: &Arc<Hub>,
    cx: &Cx,
    ticket_id: &str,
    req: Request<Incoming>,
) -> Result<Reply, Abort> {
    let mut body = req.into_body();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Abort("the request body could not be read"))?;
        if let Ok(data) = frame.into_data() {
            if text.len() + data.len() > PATCH_LIMIT {
                return Ok(error(413, "The PATCH body is too large"));
            }
            text.extend_from_slice(&data);
        }
    }
    let msg: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => return Ok(error(400, &format!("Invalid JSON message {e}"))),
    };
    let Some(obj) = msg.as_object() else {
        return Ok(error(400, "Invalid JSON message: not an object"));
    };
    let op = match obj.get("op") {
        None => return Ok(error(400, "Missing required value for op")),
        Some(serde_json::Value::String(s)) if s == "zero" || s == "flush" => s.clone(),
        Some(other) => {
            return Ok(error(
                400,
                &format!("Unsupported value {other} for 'op', expecting one of ['flush', 'zero']"),
            ))
        }
    };
    if op == "flush" {
        lock(&cx.note).flush = Some(true);
        let (ticket, _in_flight, _) = match enter(hub, cx, ticket_id, Kind::Flush, true) {
            Ok(t) => t,
            Err(r) => return Ok(*r),
        };
        record_write(hub, &ticket, 0, 0, true);
        return Ok(reply(200, None, Bytes::new()));
    }
    let integer = |name: &str, default: Option<u64>| -> Result<u64, Refused> {
        match obj.get(name) {
            None => default.ok_or_else(|| {
                Box::new(error(400, &format!("Missing required value for '{name}'")))
            }),
            Some(v) => match (v.as_u64(), v.as_i64()) {
                (Some(n), _) => Ok(n),
                (None, Some(n)) => Err(Box::new(error(400, &format!("Invalid value {n} < 0")))),
                _ => Err(Box::new(error(400, &format!("Integer required {v}")))),
            },
        }
    };
    let size = match integer("size", None) {
        Ok(n) => n,
        Err(r) => return Ok(*r),
    };
    let offset = match integer("offset", Some(0)) {
        Ok(n) => n,
        Err(r) => return Ok(*r),
    };
    let flush = match obj.get("flush") {
        None => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(other) => return Ok(error(400, &format!("Boolean required {other}"))),
    };
    {
        let mut note = lock(&cx.note);
        note.range(offset, size);
        note.flush = Some(flush);
    }
    let (ticket, _in_flight, _) = match enter(hub, cx, ticket_id, Kind::Zero, true) {
        Ok(t) => t,
        Err(r) => return Ok(*r),
    };
    if offset.saturating_add(size) > ticket.size {
        return Ok(unsatisfiable(
            "Requested range out of allowed range",
            ticket.size,
        ));
    }
    lock(&ticket.image).zero(offset, size);
    if flush {
        lock(&ticket.state).stats.flushes += 1;
    }
    record_write(hub, &ticket, 0, size, flush);
    Ok(reply(200, None, Bytes::new()))
}

/// A bound listener of the imageio service.
pub(crate) struct Listener {
    listener: TcpListener,
    proxy: bool,
}

impl Listener {
    pub(crate) async fn bind(proxy: bool) -> std::io::Result<Listener> {
        Ok(Listener {
            listener: TcpListener::bind("127.0.0.1:0").await?,
            proxy,
        })
    }

    pub(crate) fn addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub(crate) async fn closed_port() -> std::io::Result<std::net::SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    l.local_addr()
}

/// Accepts and serves connections of one listener until `stop`.
pub(crate) async fn accept_loop(
    listener: Listener,
    hub: Arc<Hub>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
) {
    let proxy = listener.proxy;
    loop {
        let (stream, _) = tokio::select! {
            r = listener.listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!("test engine imageio: accept failed: {e}");
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let connection = hub.connection_serial.fetch_add(1, Ordering::Relaxed);
        hub.count(|s| {
            if proxy {
                s.proxy_connections += 1
            } else {
                s.connections += 1
            }
        });
        let hub = hub.clone();
        let acceptor = acceptor.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let serve = async {
                match acceptor {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(tls) => serve(tls, hub, connection, proxy).await,
                        Err(e) => tracing::debug!("test engine imageio: TLS handshake failed: {e}"),
                    },
                    None => serve(stream, hub, connection, proxy).await,
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn serve<I>(io: I, hub: Arc<Hub>, connection: u64, proxy: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let hub = hub.clone();
        async move { handle(hub, connection, proxy, req).await }
    });
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
    if let Err(e) = result {
        tracing::debug!("test engine imageio: connection {connection} ended: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_imageio_reads_them() {
        assert_eq!(parse_range("bytes=0-99"), Ok((0, Some(99))));
        assert_eq!(parse_range("bytes=5-"), Ok((5, None)));
        for bad in [
            "bytes=-5",
            "bytes=-",
            "bytes=9-1",
            "bytes=0-1,5-6",
            "items=0-1",
            "bytes= 0-1",
        ] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_content_range("bytes 0-9/*"), Ok((0, Some(9))));
        assert_eq!(parse_content_range("bytes 10-*/*"), Ok((10, None)));
        assert_eq!(parse_content_range("bytes 10-19/20"), Ok((10, Some(19))));
        for bad in [
            "bytes 9-1/*",
            "bytes 0-20/20",
            "bytes */20",
            "0-1/*",
            "bytes a-b/*",
        ] {
            assert!(parse_content_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ticket_values_are_uuid_shaped_and_distinct() {
        let hub = Hub::new(
            Arc::new(Clock::new(crate::Pace::Manual)),
            ImageioOptions::default(),
            false,
        );
        let a = hub.new_ticket_id();
        let b = hub.new_ticket_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
