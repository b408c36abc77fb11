//! One task per connection: the socket loop around a [`Pipeline`]. It takes the requests
//! the pool assigns, writes what the pipeline gives it (pulling a streamed request body's
//! chunks as the socket takes them), reads into the pipeline, runs its
//! timer and reports to the pool. Its loop reads whenever it can, even while writes are
//! blocked, so a server that reads slowly never deadlocks it. Every rule of matching,
//! retrying and closing lives in `pipeline.rs`.

use std::future::{poll_fn, Future};
use std::io::{self, IoSlice};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::connect::{connect, Stream};
use crate::job::{Dispatcher, Fate, Job};
use crate::pipeline::{Exit, Pipeline};
use crate::{Error, ErrorKind};

/// Loop passes before the task yields to the runtime.
const PASSES_PER_POLL: usize = 32;

/// Runs a connection until it closes, then hands unfinished requests back to the pool.
pub(crate) async fn run(
    pool: Arc<dyn Dispatcher>,
    id: u64,
    rx: mpsc::UnboundedReceiver<Job>,
    limit: Option<u64>,
) {
    let mut guard = SlotGuard {
        pool: pool.clone(),
        id,
        armed: true,
    };
    run_inner(pool, id, rx, limit).await;
    guard.armed = false;
}

/// Frees the pool slot if the task is dropped before it reported its end (for example
/// when its runtime shuts down). Its requests' futures then resolve with
/// [`ErrorKind::Canceled`].
struct SlotGuard {
    pool: Arc<dyn Dispatcher>,
    id: u64,
    armed: bool,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if self.armed {
            self.pool.forget(self.id);
        }
    }
}

async fn run_inner(
    pool: Arc<dyn Dispatcher>,
    id: u64,
    rx: mpsc::UnboundedReceiver<Job>,
    limit: Option<u64>,
) {
    let cfg = pool.config().clone();
    let io = match tokio::time::timeout(cfg.connect_timeout, connect(&cfg)).await {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => return fail_connect(pool, id, rx, e),
        Err(_) => {
            let e = Error::new(
                ErrorKind::Connect,
                format!(
                    "connect timeout ({:?}) expired opening a connection to {}",
                    cfg.connect_timeout, cfg.origin.prefix
                ),
            );
            return fail_connect(pool, id, rx, e);
        }
    };
    tracing::debug!(conn = id, "dispatch: connected to {}", cfg.origin.prefix);
    let mut conn = Conn {
        pipeline: Pipeline::new(cfg, id, limit),
        pool,
        id,
        rx,
        rx_closed: false,
        io,
        needs_flush: false,
        timer: Box::pin(tokio::time::sleep_until(Instant::now())),
        timer_at: None,
    };
    let exit = poll_fn(|cx| conn.poll(cx)).await;
    conn.teardown(exit).await;
}

/// The connection could not be opened: every request assigned to it fails.
fn fail_connect(
    pool: Arc<dyn Dispatcher>,
    id: u64,
    mut rx: mpsc::UnboundedReceiver<Job>,
    e: Error,
) {
    tracing::debug!(conn = id, "dispatch: connect failed: {e}");
    rx.close();
    let mut failed = 0;
    while let Ok(mut job) = rx.try_recv() {
        let err = e
            .clone()
            .processed(job.sent_before)
            .for_request(job.method, pool.config().url(&job.shown));
        job.answer(Err(err));
        failed += 1;
    }
    tracing::trace!(
        conn = id,
        failed,
        "dispatch: requests failed by connect error"
    );
    pool.closed(id, Vec::new());
}

struct Conn {
    pipeline: Pipeline,
    pool: Arc<dyn Dispatcher>,
    id: u64,
    rx: mpsc::UnboundedReceiver<Job>,
    rx_closed: bool,
    io: Stream,
    needs_flush: bool,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
}

impl Conn {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Exit> {
        for _ in 0..PASSES_PER_POLL {
            let mut progressed = false;
            let step = self.step(cx, &mut progressed);
            self.report();
            if let Err(exit) = step {
                return Poll::Ready(exit);
            }
            if self.pipeline.is_idle() && self.rx_closed {
                tracing::trace!(conn = self.id, "dispatch: nothing left to do");
                return Poll::Ready(Exit::Clean);
            }
            if !progressed {
                return Poll::Pending;
            }
        }
        // Busy: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One pass: take new requests, write, parse what is buffered, read, check timers.
    fn step(&mut self, cx: &mut Context<'_>, progressed: &mut bool) -> Result<(), Exit> {
        self.intake(cx, progressed);
        self.pipeline.poll_transmit(progressed);
        self.pipeline.poll_request_body(cx, progressed)?;
        self.poll_write(cx, progressed);
        self.pipeline.handle_input(progressed)?;
        self.poll_read(cx, progressed)?;
        self.poll_timer(cx, progressed)
    }

    fn report(&mut self) {
        if let Some(p) = self.pipeline.take_progress() {
            self.pool.clone().report(self.id, p);
        }
    }

    fn intake(&mut self, cx: &mut Context<'_>, progressed: &mut bool) {
        if !self.pipeline.accepting() {
            // Jobs still in the channel go back through the pipeline.
            self.rx.close();
        }
        while !self.rx_closed {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(job)) => {
                    self.pipeline.push(job);
                    *progressed = true;
                }
                Poll::Ready(None) => {
                    self.rx_closed = true;
                    *progressed = true;
                }
                Poll::Pending => break,
            }
        }
    }

    /// Writes as much of the pipeline's output as the socket takes. A write error stops
    /// all writing but not reading: responses already sent by the server are still read.
    fn poll_write(&mut self, cx: &mut Context<'_>, progressed: &mut bool) {
        loop {
            let out = self.pipeline.transmit();
            if out.is_empty() {
                if self.needs_flush {
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.needs_flush = false,
                        Poll::Ready(Err(e)) => self.write_failed(e),
                        Poll::Pending => {}
                    }
                }
                return;
            }
            let mut iov = [IoSlice::new(&[]); 32];
            let mut n = 0;
            for (slot, b) in iov.iter_mut().zip(out.iter()) {
                *slot = IoSlice::new(b);
                n += 1;
            }
            match Pin::new(&mut self.io).poll_write_vectored(cx, &iov[..n]) {
                Poll::Ready(Ok(0)) => {
                    self.write_failed(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes"));
                    return;
                }
                Poll::Ready(Ok(k)) => {
                    self.pipeline.on_written(k);
                    self.needs_flush = true;
                    *progressed = true;
                }
                Poll::Ready(Err(e)) => {
                    self.write_failed(e);
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    fn write_failed(&mut self, e: io::Error) {
        self.needs_flush = false;
        self.pipeline.on_write_error(e);
        self.rx.close();
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, progressed: &mut bool) -> Result<(), Exit> {
        if self.pipeline.read_blocked() {
            // The body reader is full: wait for room (this registers the wake-up).
            if self.pipeline.poll_body_capacity(cx).is_ready() {
                *progressed = true;
            }
            return Ok(());
        }
        let read = pin!(self.io.read_buf(self.pipeline.read_buffer())).poll(cx);
        match read {
            Poll::Ready(Ok(0)) => self.pipeline.on_eof(),
            Poll::Ready(Ok(_)) => {
                *progressed = true;
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(self.pipeline.on_read_error(e)),
            Poll::Pending => Ok(()),
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>, progressed: &mut bool) -> Result<(), Exit> {
        let Some(at) = self.pipeline.next_timeout(Instant::now()) else {
            self.timer_at = None;
            return Ok(());
        };
        if self.timer_at != Some(at) {
            self.timer.as_mut().reset(at);
            self.timer_at = Some(at);
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return Ok(());
        }
        self.timer_at = None;
        *progressed = true;
        self.pipeline.handle_timeout(Instant::now())
    }

    /// Ends the connection: answers or hands back every request, then closes.
    async fn teardown(mut self, exit: Exit) {
        let clean = matches!(exit, Exit::Clean | Exit::Announced) && !self.pipeline.write_failed();
        self.rx.close();
        while let Ok(job) = self.rx.try_recv() {
            self.pipeline.push(job);
        }
        let mut jobs = self.pipeline.finish(exit);
        // Requests still in the channel were never written.
        while let Ok(job) = self.rx.try_recv() {
            let cause = Error::new(ErrorKind::Closed, "connection closed before the response");
            jobs.push((
                job,
                Fate::Unwritten {
                    fresh: false,
                    cause,
                },
            ));
        }
        jobs.retain(|(job, _)| !job.is_canceled());
        self.pool.clone().closed(self.id, jobs);
        if clean {
            // A clean close: say goodbye (TLS close_notify), without waiting long.
            let _ = tokio::time::timeout(Duration::from_millis(200), self.io.shutdown()).await;
        }
        tracing::debug!(conn = self.id, "dispatch: connection closed");
    }
}
