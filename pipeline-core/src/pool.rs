//! The connection pool: admits requests (backpressure), assigns them to the least-loaded
//! connection following the pipelining rules, and takes back requests from dead connections.
//!
//! The pool's lock is a plain `std` mutex, held only for short bookkeeping (never across an
//! `.await`, never while doing I/O).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::Config;
use crate::job::{Dispatcher, Fate, Job, Progress};
use crate::{Error, ErrorKind, Method, Request, Response};

/// How many fresh connections may die under a request not yet written before it fails.
const MAX_BOUNCES: u32 = 8;

/// Where a request's answer arrives.
pub(crate) type Answer = oneshot::Receiver<Result<Response, Error>>;

struct Slot {
    id: u64,
    /// `None` once the connection must take no more work.
    tx: Option<mpsc::UnboundedSender<Job>>,
    /// Requests assigned and not finished (response body read or failed).
    load: usize,
    /// An exclusive request is in flight: assign nothing until its whole response is read.
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
    /// The response count of the last connection the server closed without notice, with
    /// requests unanswered: two in a row at the same count become the cap.
    last_silent_close: Option<u64>,
}

/// Shared by the client, its futures and its connection tasks.
pub(crate) struct Pool {
    pub(crate) config: Arc<Config>,
    sem: Arc<Semaphore>,
    state: Mutex<State>,
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

    /// Remembers the runtime of the first request, for futures polled outside any runtime.
    pub(crate) fn note_runtime(&self, handle: tokio::runtime::Handle) {
        let mut st = self.lock();
        if st.handle.is_none() {
            st.handle = Some(handle);
        }
    }

    /// The admission semaphore (`max_connections x pipeline_depth` permits).
    pub(crate) fn admission(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Queues an admitted request.
    pub(crate) fn submit(
        self: &Arc<Self>,
        request: Request,
        permit: OwnedSemaphorePermit,
        deadline: Option<Instant>,
    ) -> (Answer, Method, Arc<str>) {
        let (tx, rx) = oneshot::channel();
        let path: Arc<str> = Arc::from(request.path);
        let shown: Arc<str> = request.shown_path.map_or_else(|| path.clone(), Arc::from);
        let method = request.method;
        let job = Job {
            method,
            path,
            shown: shown.clone(),
            headers: request.headers,
            body: request.body,
            stream: request.stream,
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
        (rx, method, shown)
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
                            .for_request(job.method, self.config.url(&job.shown));
                    job.answer(Err(err));
                }
                continue;
            }
            let alone = job.goes_alone();
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
                let fits = if alone || (retry && !s.proven) {
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
            job.exclusive = alone || (retry && !slot.proven);
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
        let dispatcher: Arc<dyn Dispatcher> = self.clone();
        handle.spawn(crate::conn::run(dispatcher, id, rx, limit));
        Some(st.slots.len() - 1)
    }

    /// A connection task vanished without reporting (its runtime shut down): forget its
    /// slot so that it no longer counts against `max_connections`.
    fn forget_slot(&self, id: u64) {
        let mut st = self.lock();
        st.slots.retain(|s| s.id != id);
    }

    /// A connection's progress report.
    fn on_report(self: &Arc<Self>, id: u64, p: Progress) {
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
        if let Some(n) = p.silent_close_after {
            if st.origin_cap.is_none() && st.last_silent_close == Some(n) {
                tracing::debug!(
                    conn = id,
                    "pool: two connections closed without notice after {n} responses: \
                     {n} requests per connection"
                );
                st.origin_cap = Some(n);
            }
            st.last_silent_close = Some(n);
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

    /// A connection ended: each request still on it is re-queued or failed by the
    /// connection-failure policy ([`after_failure`]); the re-queued go first, oldest first.
    fn on_closed(self: &Arc<Self>, id: u64, jobs: Vec<(Job, Fate)>) {
        let requeue: Vec<Job> = jobs
            .into_iter()
            .filter_map(|(job, fate)| after_failure(&self.config, job, fate))
            .collect();
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

impl Dispatcher for Pool {
    fn config(&self) -> &Arc<Config> {
        &self.config
    }

    fn report(self: Arc<Self>, id: u64, progress: Progress) {
        self.on_report(id, progress);
    }

    fn closed(self: Arc<Self>, id: u64, jobs: Vec<(Job, Fate)>) {
        self.on_closed(id, jobs);
    }

    fn forget(&self, id: u64) {
        self.forget_slot(id);
    }
}

/// The connection-failure policy: what becomes of a request that was on a connection when
/// it ended. Returns it if it is to be sent again (it was answered with an error otherwise).
///
/// * Never written: queued again, never failed (unless [`MAX_BOUNCES`] fresh connections
///   died under it before any response).
/// * Written, but the server announced its close first: never processed, so sent again
///   at once, without spending a retry.
/// * Written and unanswered on a failed connection, or its own response cut or malformed:
///   an idempotent request is sent again while it has retries left (each re-send spends
///   one, so the server sees a request at most `1 + max_retries` times); any other fails
///   saying it may have been processed.
/// * Its own failure that a new attempt would not cure (timeout, body too large): fails.
/// * A written request whose streamed body is one-shot (not restartable) is never sent
///   again: it fails, saying why.
pub(crate) fn after_failure(cfg: &Config, mut job: Job, fate: Fate) -> Option<Job> {
    let retry = |job: &mut Job, why: &dyn std::fmt::Display| {
        let ok = job.method.is_idempotent() && job.attempts < cfg.max_retries && !job.body_spent();
        if ok {
            job.attempts += 1;
            tracing::debug!(
                attempt = job.attempts,
                "pool: re-sending {} {} ({why})",
                job.method,
                job.shown
            );
        }
        ok
    };
    let err = match fate {
        // (An unwritten one whose one-shot body a clone took fails when it is written.)
        Fate::NotProcessed if job.body_spent() => Error::new(
            ErrorKind::Closed,
            "the connection closed before the request was processed, and its streamed body \
             cannot be produced again (StreamBody::restartable makes one that can)",
        )
        .processed(job.sent_before),
        Fate::Unwritten { fresh, cause } => {
            if fresh {
                job.bounces += 1;
            }
            if job.bounces <= MAX_BOUNCES {
                return Some(job);
            }
            Error::new(
                ErrorKind::Closed,
                format!("{MAX_BOUNCES} new connections closed before the request could be written"),
            )
            .with_shared_source(cause.source_arc())
            .processed(job.sent_before)
        }
        Fate::NotProcessed => {
            job.sent_before = true;
            return Some(job);
        }
        Fate::Unanswered(cause) => {
            job.sent_before = true;
            if retry(&mut job, &"its connection failed") {
                return Some(job);
            }
            spent_note(&job, cfg, cause).processed(true)
        }
        Fate::Failed {
            err,
            resend,
            written,
        } => {
            job.sent_before |= written;
            if resend && written && retry(&mut job, &err) {
                return Some(job);
            }
            let processed = job.sent_before;
            let err = if resend && written {
                spent_note(&job, cfg, err)
            } else {
                err
            };
            err.processed(processed)
        }
    };
    let err = err.for_request(job.method, cfg.url(&job.shown));
    job.answer(Err(err));
    None
}

/// The error of a request that would have been re-sent but for its one-shot streamed
/// body: says so.
fn spent_note(job: &Job, cfg: &Config, err: Error) -> Error {
    if job.body_spent() && job.method.is_idempotent() && job.attempts < cfg.max_retries {
        Error::new(
            err.kind(),
            format!(
                "{}; it was not sent again because its streamed body cannot be produced \
                 again (StreamBody::restartable makes one that can)",
                err.message()
            ),
        )
        .with_shared_source(err.source_arc())
    } else {
        err
    }
}
