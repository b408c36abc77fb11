//! The future of a response: it waits for admission (backpressure), then for the
//! connection's answer, under the request's timeout.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::pool::Pool;
use crate::{Error, ErrorKind, Method, Request, Response};

type Acquire =
    Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, tokio::sync::AcquireError>> + Send>>;

/// The future of a response, returned by [`Client::send`](crate::Client::send). Dropping it cancels the request
/// safely (see the crate documentation, "Cancel safety").
pub struct ResponseFuture {
    state: FutureState,
    /// The request's deadline, if it has a timeout.
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

enum FutureState {
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

/// Sends a request through the pool (see [`crate::Client::send`]).
pub(crate) fn send(pool: &Arc<Pool>, request: Request) -> ResponseFuture {
    if let Err(m) = request.validate() {
        return ResponseFuture::ready_err(
            Error::new(ErrorKind::InvalidRequest, m)
                .for_request(request.method, pool.config.url(request.display_path())),
        );
    }
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return ResponseFuture::ready_err(
            Error::new(
                ErrorKind::Config,
                "Client::send must be called within a tokio runtime",
            )
            .for_request(request.method, pool.config.url(request.display_path())),
        );
    };
    pool.note_runtime(handle);
    // The timeout runs from admission: time spent waiting for capacity (below) is not
    // counted.
    let timeout = request.timeout.unwrap_or(pool.config.request_timeout);
    match pool.admission().clone().try_acquire_owned() {
        Ok(permit) => {
            let deadline = timeout.map(|t| Instant::now() + t);
            let state = queued(pool, request, permit, deadline);
            ResponseFuture::from_state(state, deadline)
        }
        Err(_) => {
            tracing::trace!("pool: at capacity, request waits");
            ResponseFuture::waiting(pool.admission().clone(), request, pool.clone(), timeout)
        }
    }
}

/// Hands an admitted request to the pool.
fn queued(
    pool: &Arc<Pool>,
    request: Request,
    permit: OwnedSemaphorePermit,
    deadline: Option<Instant>,
) -> FutureState {
    let (rx, method, path) = pool.submit(request, permit, deadline);
    FutureState::Queued {
        rx,
        method,
        pool: pool.clone(),
        path,
    }
}

impl ResponseFuture {
    fn ready_err(e: Error) -> ResponseFuture {
        ResponseFuture {
            state: FutureState::Ready(Some(e)),
            deadline: None,
            sleep: None,
        }
    }

    fn from_state(state: FutureState, deadline: Option<Instant>) -> ResponseFuture {
        ResponseFuture {
            state,
            deadline,
            sleep: None,
        }
    }

    fn waiting(
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
                        this.state = queued(&pool, *request, permit, this.deadline);
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
