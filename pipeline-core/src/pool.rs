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
}

#[derive(Default)]
struct State {
    slots: Vec<Slot>,
    queue: VecDeque<Job>,
    next_id: u64,
    client_dropped: bool,
    /// The runtime of the first `send`, for futures polled outside any runtime.
    handle: Option<tokio::runtime::Handle>,
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
    /// The exclusive request's final status arrived.
    pub(crate) exclusive_cleared: bool,
    /// A response arrived.
    pub(crate) proven: bool,
}

impl Progress {
    pub(crate) fn is_empty(&self) -> bool {
        self.done == 0 && !self.exclusive_cleared && !self.proven
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
        let timeout = request.timeout.unwrap_or(self.config.request_timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        match self.sem.clone().try_acquire_owned() {
            Ok(permit) => {
                let state = self.submit(request, permit, deadline);
                ResponseFuture::from_state(state, deadline)
            }
            Err(_) => {
                tracing::trace!("pool: at capacity, request waits");
                ResponseFuture::waiting(self.sem.clone(), request, self.clone(), deadline)
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
                            .processed(job.attempts > 0)
                            .for_request(job.method, self.config.url(&job.path));
                    job.answer(Err(err));
                }
                continue;
            }
            let idempotent = job.method.is_idempotent();
            let retry = job.attempts > 0;
            let mut best: Option<usize> = None;
            for (i, s) in st.slots.iter().enumerate() {
                if s.tx.is_none() || s.exclusive {
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
            let open_new = st.slots.len() < max && best.is_none_or(|b| st.slots[b].load > 0);
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
            let sent = match &slot.tx {
                Some(tx) => tx.send(job).map_err(|e| e.0),
                None => Err(job),
            };
            if let Err(mut job) = sent {
                // The connection is closing; it will report back. Try elsewhere.
                slot.tx = None;
                slot.load -= 1;
                slot.exclusive = false;
                job.exclusive = false;
                st.queue.push_front(job);
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
        st.slots.push(Slot {
            id,
            tx: Some(tx),
            load: 0,
            exclusive: false,
            proven: false,
        });
        tracing::debug!(conn = id, "pool: opening connection");
        handle.spawn(crate::conn::run(self.clone(), id, rx));
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
        let client_dropped = st.client_dropped;
        let queue_empty = st.queue.is_empty();
        if let Some(s) = st.slots.iter_mut().find(|s| s.id == id) {
            s.load = s.load.saturating_sub(p.done);
            if p.exclusive_cleared {
                s.exclusive = false;
            }
            if p.proven {
                s.proven = true;
            }
            if client_dropped && queue_empty && s.load == 0 {
                s.tx = None;
            }
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
