//! The connection pool: admits requests (backpressure), assigns them to the least-loaded
//! connection following the pipelining rules, and takes back requests from dead connections.
//!
//! The pool's lock is a plain `std` mutex, held only for short bookkeeping (never across an
//! `.await`, never while doing I/O).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::client::{Config, FutureState, ResponseFuture};
use crate::{Error, ErrorKind, Headers, Method, Request, Response};

/// A request admitted into the pool, with everything needed to answer it.
pub(crate) struct Job {
    pub(crate) method: Method,
    pub(crate) path: Arc<str>,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
    pub(crate) deadline: Option<Instant>,
    /// Taken when the response head is handed over.
    pub(crate) tx: Option<oneshot::Sender<Result<Response, Error>>>,
    /// How many times it was written on a connection that then failed.
    pub(crate) attempts: u32,
    /// How many connections died under it, before any response, while it was not yet
    /// written (bounded so that a server closing every new connection cannot loop it
    /// forever).
    pub(crate) bounces: u32,
    /// It was written on a connection before (so it may have been processed).
    pub(crate) sent_before: bool,
    /// Nothing else may be written on its connection until its final status arrives
    /// (non-idempotent requests, and a retried request on a connection not yet proven).
    pub(crate) exclusive: bool,
    /// The response body size limit (`None`: unlimited).
    pub(crate) max_body: Option<u64>,
    /// Its share of `max_connections x pipeline_depth`; released when the job is dropped.
    _permit: OwnedSemaphorePermit,
}

impl Job {
    /// Answers the request. Returns false if its future was dropped (or it was answered
    /// already).
    pub(crate) fn answer(&mut self, result: Result<Response, Error>) -> bool {
        match self.tx.take() {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// True if the caller dropped the response future (or it was answered already).
    pub(crate) fn is_canceled(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }
}

struct Slot {
    id: u64,
    /// `None` once the connection must take no more work.
    tx: Option<mpsc::UnboundedSender<Job>>,
    /// Requests assigned and not finished (response body read or failed).
    load: usize,
    /// An exclusive request is in flight: assign nothing until its final status.
    exclusive: bool,
    /// A response was received on it.
    proven: bool,
    /// How many requests it may carry in all (the server's keep-alive budget), if known.
    limit: Option<u64>,
    /// Requests assigned to it so far (minus those it handed back unwritten).
    assigned: u64,
}

impl Slot {
    /// Takes new work: neither closing nor at the end of its budget. Only these count
    /// against `max_connections`, so that a connection finishing its last responses does
    /// not hold up the opening of its replacement.
    fn is_open(&self) -> bool {
        self.tx.is_some()
    }

    /// Its budget is spent: stop sending it work (it closes once its requests are done).
    fn retire_if_spent(&mut self) {
        if self.limit.is_some_and(|l| self.assigned >= l) && self.tx.is_some() {
            tracing::debug!(
                conn = self.id,
                "pool: connection budget of {:?} requests spent; it retires",
                self.limit
            );
            self.tx = None;
        }
    }
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    queue: VecDeque<Job>,
    next_id: u64,
    client_dropped: bool,
    /// The runtime of the first `send`, for futures polled outside any runtime.
    handle: Option<tokio::runtime::Handle>,
    /// Requests per connection the origin accepts, learned from a `Keep-Alive: max=`
    /// header or from the first announced close; applied to connections opened later.
    origin_cap: Option<u64>,
    /// The cap came from a `Keep-Alive` header (a close never overrides it).
    cap_from_header: bool,
}

/// Shared by the client, its futures and its connection tasks.
pub(crate) struct Pool {
    pub(crate) config: Arc<Config>,
    sem: Arc<Semaphore>,
    state: Mutex<State>,
}

/// What a connection reports after a batch of work.
#[derive(Default)]
pub(crate) struct Progress {
    /// Requests finished (answered, failed, or skipped because canceled).
    pub(crate) done: usize,
    /// The exclusive request's whole response was read.
    pub(crate) exclusive_cleared: bool,
    /// A response arrived.
    pub(crate) proven: bool,
    /// The connection's total request budget, lowered (`Keep-Alive: max=` or a close
    /// announced after this many responses).
    pub(crate) limit: Option<u64>,
    /// `limit` came from a `Keep-Alive: max=` header (rather than from a close).
    pub(crate) limit_from_header: bool,
    /// Requests assigned but never written, handed back because they are over the budget.
    pub(crate) handed_back: Vec<Job>,
}

impl Progress {
    pub(crate) fn is_empty(&self) -> bool {
        self.done == 0
            && !self.exclusive_cleared
            && !self.proven
            && self.limit.is_none()
            && self.handed_back.is_empty()
    }
}

impl Pool {
    pub(crate) fn new(config: Config, capacity: usize) -> Arc<Pool> {
        Arc::new(Pool {
            config: Arc::new(config),
            sem: Arc::new(Semaphore::new(capacity)),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Critical sections only move jobs between queues and update counters; a panic in
        // one (which would be a bug) leaves nothing half-done that matters, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn send(self: &Arc<Self>, request: Request) -> ResponseFuture {
        if let Err(m) = request.validate() {
            return ResponseFuture::ready_err(
                Error::new(ErrorKind::InvalidRequest, m)
                    .for_request(request.method, self.config.url(&request.path)),
            );
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return ResponseFuture::ready_err(
                Error::new(
                    ErrorKind::Config,
                    "Client::send must be called within a tokio runtime",
                )
                .for_request(request.method, self.config.url(&request.path)),
            );
        };
        {
            let mut st = self.lock();
            if st.handle.is_none() {
                st.handle = Some(handle);
            }
        }
        // The timeout runs from admission: time spent waiting for capacity (below) is
        // not counted.
        let timeout = request.timeout.unwrap_or(self.config.request_timeout);
        match self.sem.clone().try_acquire_owned() {
            Ok(permit) => {
                let deadline = timeout.map(|t| Instant::now() + t);
                let state = self.submit(request, permit, deadline);
                ResponseFuture::from_state(state, deadline)
            }
            Err(_) => {
                tracing::trace!("pool: at capacity, request waits");
                ResponseFuture::waiting(self.sem.clone(), request, self.clone(), timeout)
            }
        }
    }

    /// Queues an admitted request.
    pub(crate) fn submit(
        self: &Arc<Self>,
        request: Request,
        permit: OwnedSemaphorePermit,
        deadline: Option<Instant>,
    ) -> FutureState {
        let (tx, rx) = oneshot::channel();
        let path: Arc<str> = Arc::from(request.path);
        let method = request.method;
        let job = Job {
            method,
            path: path.clone(),
            headers: request.headers,
            body: request.body,
            deadline,
            tx: Some(tx),
            attempts: 0,
            bounces: 0,
            sent_before: false,
            exclusive: false,
            max_body: request.max_body_bytes.unwrap_or(self.config.max_body_bytes),
            _permit: permit,
        };
        {
            let mut st = self.lock();
            st.queue.push_back(job);
            self.dispatch(&mut st);
        }
        FutureState::Queued {
            rx,
            method,
            pool: self.clone(),
            path,
        }
    }

    /// Assigns queued jobs to connections, oldest first, until the oldest cannot be placed.
    fn dispatch(self: &Arc<Self>, st: &mut State) {
        let max = self.config.max_connections;
        let depth = self.config.pipeline_depth;
        let now = Instant::now();
        while let Some(job) = st.queue.front() {
            if job.is_canceled() {
                st.queue.pop_front();
                continue;
            }
            if job.deadline.is_some_and(|d| d <= now) {
                if let Some(mut job) = st.queue.pop_front() {
                    let err =
                        Error::new(ErrorKind::Timeout, "timed out before a connection was free")
                            .processed(job.sent_before)
                            .for_request(job.method, self.config.url(&job.path));
                    job.answer(Err(err));
                }
                continue;
            }
            let idempotent = job.method.is_idempotent();
            let retry = job.attempts > 0;
            let mut best: Option<usize> = None;
            let mut open_slots = 0;
            for (i, s) in st.slots.iter().enumerate() {
                if !s.is_open() {
                    continue;
                }
                open_slots += 1;
                if s.exclusive {
                    continue;
                }
                let fits = if !idempotent || (retry && !s.proven) {
                    s.load == 0
                } else {
                    s.load < depth
                };
                if fits && best.is_none_or(|b| st.slots[b].load > s.load) {
                    best = Some(i);
                }
            }
            let open_new = open_slots < max && best.is_none_or(|b| st.slots[b].load > 0);
            let opened = if open_new { self.open(st) } else { None };
            let idx = if let Some(i) = opened {
                i
            } else if let Some(b) = best {
                b
            } else {
                tracing::trace!("pool: no connection can take the next request now");
                break;
            };
            let Some(mut job) = st.queue.pop_front() else {
                break;
            };
            let slot = &mut st.slots[idx];
            job.exclusive = !idempotent || (retry && !slot.proven);
            slot.exclusive = job.exclusive;
            slot.load += 1;
            slot.assigned += 1;
            let sent = match &slot.tx {
                Some(tx) => tx.send(job).map_err(|e| e.0),
                None => Err(job),
            };
            match sent {
                Ok(()) => slot.retire_if_spent(),
                Err(mut job) => {
                    // The connection is closing; it will report back. Try elsewhere.
                    slot.tx = None;
                    slot.load -= 1;
                    slot.assigned -= 1;
                    slot.exclusive = false;
                    job.exclusive = false;
                    st.queue.push_front(job);
                }
            }
        }
    }

    /// Starts a connection task; returns its slot index (`None` without a runtime).
    fn open(self: &Arc<Self>, st: &mut State) -> Option<usize> {
        let handle = match tokio::runtime::Handle::try_current() {
            Ok(h) => h,
            Err(_) => st.handle.clone()?,
        };
        let id = st.next_id;
        st.next_id += 1;
        let (tx, rx) = mpsc::unbounded_channel();
        let limit = st.origin_cap;
        st.slots.push(Slot {
            id,
            tx: Some(tx),
            load: 0,
            exclusive: false,
            proven: false,
            limit,
            assigned: 0,
        });
        tracing::debug!(conn = id, ?limit, "pool: opening connection");
        handle.spawn(crate::conn::run(self.clone(), id, rx, limit));
        Some(st.slots.len() - 1)
    }

    /// A connection task vanished without reporting (its runtime shut down): forget its
    /// slot so that it no longer counts against `max_connections`.
    pub(crate) fn forget(&self, id: u64) {
        let mut st = self.lock();
        st.slots.retain(|s| s.id != id);
    }

    /// A connection's progress report.
    pub(crate) fn report(self: &Arc<Self>, id: u64, p: Progress) {
        if p.is_empty() {
            return;
        }
        let mut st = self.lock();
        if let Some(limit) = p.limit {
            if p.limit_from_header {
                if !st.cap_from_header || st.origin_cap != Some(limit) {
                    tracing::debug!(
                        conn = id,
                        limit,
                        "pool: the origin takes {limit} requests per connection"
                    );
                }
                st.origin_cap = Some(limit);
                st.cap_from_header = true;
            } else if st.origin_cap.is_none() && limit >= 2 {
                // A close after the very first response says little about a budget (an
                // error page, a restart) and learning 1 would end pipelining for good.
                tracing::debug!(
                    conn = id,
                    limit,
                    "pool: learned from a close: {limit} requests per connection"
                );
                st.origin_cap = Some(limit);
            }
        }
        let handed_back = p.handed_back.len();
        let client_dropped = st.client_dropped;
        let queue_empty = st.queue.is_empty() && handed_back == 0;
        if let Some(s) = st.slots.iter_mut().find(|s| s.id == id) {
            s.load = s.load.saturating_sub(p.done + handed_back);
            s.assigned = s.assigned.saturating_sub(handed_back as u64);
            if p.exclusive_cleared {
                s.exclusive = false;
            }
            if p.proven {
                s.proven = true;
            }
            if let Some(limit) = p.limit {
                s.limit = Some(s.limit.map_or(limit, |l| l.min(limit)));
                s.retire_if_spent();
            }
            if handed_back > 0 {
                // Over its budget: it takes nothing more.
                s.tx = None;
            }
            if client_dropped && queue_empty && s.load == 0 {
                s.tx = None;
            }
        }
        for mut job in p.handed_back.into_iter().rev() {
            job.exclusive = false;
            st.queue.push_front(job);
        }
        self.dispatch(&mut st);
    }

    /// A connection ended; `requeue` are requests to send elsewhere, oldest first.
    pub(crate) fn closed(self: &Arc<Self>, id: u64, requeue: Vec<Job>) {
        let mut st = self.lock();
        st.slots.retain(|s| s.id != id);
        for mut job in requeue.into_iter().rev() {
            job.exclusive = false;
            st.queue.push_front(job);
        }
        self.dispatch(&mut st);
        if st.client_dropped && st.queue.is_empty() {
            for s in st.slots.iter_mut().filter(|s| s.load == 0) {
                s.tx = None;
            }
        }
    }

    /// The last `Client` clone was dropped: idle connections close, busy ones finish.
    pub(crate) fn client_dropped(&self) {
        let mut st = self.lock();
        st.client_dropped = true;
        if st.queue.is_empty() {
            for s in st.slots.iter_mut().filter(|s| s.load == 0) {
                s.tx = None;
            }
        }
    }
}
