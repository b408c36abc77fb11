//! What the pool and its connections exchange: the requests ([`Job`]), a connection's
//! progress reports, what became of each request when a connection ended ([`Fate`]), and
//! the interface a connection reports through ([`Dispatcher`]), so that connections do not
//! depend on the pool.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{oneshot, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::config::Config;
use crate::{Error, Headers, Method, Response, StreamBody};

/// A request admitted into the pool, with everything needed to answer it.
pub(crate) struct Job {
    pub(crate) method: Method,
    pub(crate) path: Arc<str>,
    /// The path as logs and errors show it ([`crate::Request::shown_path`]; else `path`).
    pub(crate) shown: Arc<str>,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
    /// A body produced while it is written (then `body` is empty).
    pub(crate) stream: Option<StreamBody>,
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
    /// Nothing else may be written on its connection until its whole response is read
    /// (non-idempotent requests, and a retried request on a connection not yet proven).
    pub(crate) exclusive: bool,
    /// The response body size limit (`None`: unlimited).
    pub(crate) max_body: Option<u64>,
    /// Its share of `max_connections x pipeline_depth`; released when the job is dropped.
    pub(crate) _permit: OwnedSemaphorePermit,
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

    /// True if it must go alone on its connection: nothing else in flight, and nothing
    /// written behind it until its whole response is read (non-idempotent methods and
    /// streamed bodies).
    pub(crate) fn goes_alone(&self) -> bool {
        !self.method.is_idempotent() || self.stream.is_some()
    }

    /// True if its streamed body was produced once and cannot be produced again, so the
    /// request cannot be written again.
    pub(crate) fn body_spent(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| !s.available())
    }

    /// True if the caller dropped the response future (or it was answered already).
    pub(crate) fn is_canceled(&self) -> bool {
        self.tx.as_ref().is_none_or(|tx| tx.is_closed())
    }
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
    /// The server closed without notice after this many responses, between two
    /// responses, with requests still unanswered: maybe an unannounced budget.
    pub(crate) silent_close_after: Option<u64>,
}

impl Progress {
    pub(crate) fn is_empty(&self) -> bool {
        self.done == 0
            && !self.exclusive_cleared
            && !self.proven
            && self.limit.is_none()
            && self.handed_back.is_empty()
            && self.silent_close_after.is_none()
    }
}

/// What became of a request still on a connection when it ended.
#[derive(Debug)]
pub(crate) enum Fate {
    /// Never written on it. `fresh`: the connection never got a response (it may be the
    /// server refusing connections); `cause`: why the connection ended.
    Unwritten { fresh: bool, cause: Error },
    /// Written, but the server announced its close before it: never processed.
    NotProcessed,
    /// Written and unanswered when the connection failed (the error says how).
    Unanswered(Error),
    /// Its own exchange failed (malformed or cut response, timeout, body too large);
    /// `resend`: a new attempt may cure it; `written`: it reached the wire.
    Failed {
        err: Error,
        resend: bool,
        written: bool,
    },
}

/// The pool, as its connections see it.
pub(crate) trait Dispatcher: Send + Sync + 'static {
    /// The client's configuration.
    fn config(&self) -> &Arc<Config>;
    /// A connection's progress report.
    fn report(self: Arc<Self>, id: u64, progress: Progress);
    /// A connection ended; every request still on it, with what became of it.
    fn closed(self: Arc<Self>, id: u64, jobs: Vec<(Job, Fate)>);
    /// A connection task vanished without reporting (its runtime shut down).
    fn forget(&self, id: u64);
}
