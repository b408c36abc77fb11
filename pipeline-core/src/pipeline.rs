//! The sans-I/O core of a connection: the FIFO of its requests and the pipelining rules.
//!
//! A [`Pipeline`] takes requests ([`Pipeline::push`]), bytes read from the socket
//! ([`Pipeline::read_buffer`] then [`Pipeline::handle_input`]) and the time
//! ([`Pipeline::handle_timeout`], with an explicit `now`); it gives out bytes to write
//! ([`Pipeline::transmit`]), responses (handed to each request's future as they complete),
//! progress for the pool ([`Pipeline::take_progress`]) and, when the connection ends, every
//! request still on it with its [`Fate`] ([`Pipeline::finish`]), which the pool's
//! connection-failure policy turns into a retry or an error. It does no I/O and reads no
//! clock, so every rule is unit-tested on in-memory bytes split at every offset. The
//! socket loop around it is `conn.rs`.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::time::Instant;

use crate::body::{self, BodySender};
use crate::config::Config;
use crate::job::{Fate, Job, Progress};
use crate::proto::encode::{encode_head, BodyFraming, HeadTemplate};
use crate::proto::parse::HeadError;
use crate::proto::{Decoded, Decoder, Framing, ResponseHead, ResponseParser};
use crate::upload::Chunks;
use crate::{Body, Error, ErrorKind, Response};

/// Bodies up to this size are copied next to their head; larger ones are written from
/// their own buffer.
const COPY_BODY_LIMIT: usize = 4096;
/// A response body up to this size (or half the body size limit, if smaller) is held until
/// it is complete before the response is handed over, so that a cut or malformed body can
/// still be re-sent (idempotent requests); a larger body is handed over as a stream once
/// this much has arrived.
pub(crate) const HOLD_BODY_LIMIT: usize = 256 * 1024;

/// A request assigned to this connection.
struct Entry {
    job: Job,
    /// Stream offset of its first byte (valid once `queued`).
    write_start: u64,
    /// Its bytes are in the output queue (they will be written completely: a body is never
    /// abandoned half-way, so cancellation never poisons the connection).
    queued: bool,
    /// The client added `Accept-Encoding: gzip`, so a gzip body is decoded.
    gzip: bool,
    /// It timed out while the response ahead of it was streaming: it fails with this
    /// error when the connection closes, after that response.
    timed_out: Option<Error>,
    /// Its streamed body, once its head is queued.
    upload: Option<Upload>,
}

/// The writing of a streamed request body.
struct Upload {
    /// The source; `None` once it ended (and the body's end was queued).
    source: Option<Chunks>,
    /// The length announced in `Content-Length` (`None`: chunked).
    announced: Option<u64>,
    /// Body bytes queued so far.
    sent: u64,
}

/// Where the body of the response being read goes.
enum Sink {
    /// Not handed over yet: if the whole body is already buffered it is handed over as one
    /// `Bytes`, without a channel.
    Pending {
        head: ResponseHead,
        first: Option<Bytes>,
        rest: BytesMut,
    },
    /// Handed over; chunks go through the body channel.
    Stream(BodySender),
    /// Nobody wants it (the future or the body was dropped): read and throw away.
    Discard,
}

enum ReadState {
    /// Waiting for a status line and headers.
    Head,
    /// Reading the body of the response to the front request.
    Body {
        decoder: Decoder,
        sink: Sink,
        keep_alive: bool,
        /// Body bytes received so far (after chunked decoding), checked against `limit`.
        received: u64,
        limit: Option<u64>,
    },
}

/// What one body decoding step did.
#[derive(Debug, PartialEq, Eq)]
enum BodyStep {
    /// The reader's buffer is full: stop reading the socket until it drains.
    Blocked,
    /// The buffer has no more body bytes.
    NeedMore,
    /// Some body bytes were moved.
    Data,
    /// The body is complete.
    End,
    /// The chunked framing is invalid.
    Invalid(&'static str),
    /// The body passed its size limit.
    TooLarge(u64),
}

/// Why the connection stops, which decides what becomes of the requests still on it.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Nothing written is left unanswered (idle close, nothing more to do).
    Clean,
    /// The server announced its close on a complete response (`Connection: close`, or
    /// HTTP/1.0 without keep-alive): the requests written after it were never processed
    /// and are re-sent at once, pipelined, without spending their retries.
    Announced,
    /// The connection ended without a known culprit (closed, reset, write failure): the
    /// error for requests that cannot be re-sent. Written idempotent requests are re-sent
    /// within their retry budget (the first on a fresh connection goes alone, RFC 9112
    /// section 9.3.2).
    Unannounced(Error),
    /// The server does not speak HTTP on this connection (a TLS record came back to a
    /// plain-text request): every request on it fails with this error, none is retried.
    NotHttp(Error),
    /// One request's own exchange failed (malformed or cut response, timeout, body too
    /// large). It fails with its error, or is re-sent within its budget if `resend` and it
    /// is idempotent; the other written ones are re-sent within their budget, the unwritten
    /// ones re-queued.
    Culprit {
        idx: usize,
        err: Error,
        resend: bool,
    },
}

impl Exit {
    fn culprit(idx: usize, err: Error, resend: bool) -> Exit {
        Exit::Culprit { idx, err, resend }
    }
}

/// The error of a response whose body passed its size limit.
fn too_large(max: u64) -> Error {
    Error::new(
        ErrorKind::BodyTooLarge,
        format!(
            "the response body is larger than the limit of {max} bytes (max_body_bytes); \
             the connection was closed"
        ),
    )
}

fn closed_before_response() -> Error {
    Error::new(ErrorKind::Closed, "connection closed before the response")
}

/// The sans-I/O state of one connection: the FIFO of its requests, what to write, and
/// the parsing of what was read.
pub(crate) struct Pipeline {
    cfg: Arc<Config>,
    id: u64,
    entries: VecDeque<Entry>,
    /// Entries before this index are queued for writing (or written).
    unqueued: usize,
    enc: BytesMut,
    out: VecDeque<Bytes>,
    queued_bytes: u64,
    written_bytes: u64,
    /// The server will close after the current response, or a write failed: write nothing
    /// more.
    no_more_writes: bool,
    write_error: Option<Arc<io::Error>>,
    /// A request that goes alone is in flight: write nothing until its whole response is read.
    alone: bool,
    read_buf: BytesMut,
    parser: ResponseParser,
    read: ReadState,
    /// The body reader is full: do not read the socket until it drains.
    read_blocked: bool,
    /// When the connection last became idle (nothing in flight).
    idle_since: Option<Instant>,
    /// A response arrived on this connection.
    proven: bool,
    /// How many requests this connection may carry in all (the server's keep-alive
    /// budget), if known. Never more are written.
    limit: Option<u64>,
    /// Requests queued for writing so far.
    queued_count: u64,
    /// Final responses received so far.
    responses: u64,
    /// The idle timeout the server announced (`Keep-Alive: timeout=`).
    server_idle: Option<Duration>,
    /// The last complete response announced the close (`Connection: close`, or HTTP/1.0
    /// without keep-alive).
    announced_close: bool,
    /// Takes no more requests: they are handed back as they arrive.
    intake_closed: bool,
    /// A request behind the streaming front response timed out: the connection closes
    /// once that response is complete.
    close_after_front: bool,
    progress: Progress,
    absolute_prefix: Option<String>,
    proxy_authorization: Option<String>,
}

impl Pipeline {
    /// A pipeline for connection `id`, which may carry `limit` requests in all.
    pub(crate) fn new(cfg: Arc<Config>, id: u64, limit: Option<u64>) -> Pipeline {
        // Plain HTTP through a proxy: absolute-form targets (RFC 9112 section 3.2.2) and
        // the proxy credentials on every request. HTTPS goes through a CONNECT tunnel.
        let (absolute_prefix, proxy_authorization) = match &cfg.proxy {
            Some(p) if !cfg.origin.https => {
                (Some(cfg.origin.prefix.clone()), p.authorization.clone())
            }
            _ => (None, None),
        };
        let parser = ResponseParser::new(cfg.max_header_bytes, cfg.max_headers);
        Pipeline {
            cfg,
            id,
            entries: VecDeque::new(),
            unqueued: 0,
            enc: BytesMut::with_capacity(4096),
            out: VecDeque::new(),
            queued_bytes: 0,
            written_bytes: 0,
            no_more_writes: false,
            write_error: None,
            alone: false,
            read_buf: BytesMut::with_capacity(16 * 1024),
            parser,
            read: ReadState::Head,
            read_blocked: false,
            idle_since: None,
            proven: false,
            limit,
            queued_count: 0,
            responses: 0,
            server_idle: None,
            announced_close: false,
            intake_closed: false,
            close_after_front: false,
            progress: Progress::default(),
            absolute_prefix,
            proxy_authorization,
        }
    }

    /// Takes a request assigned to this connection (handed back at once if the connection
    /// takes no more).
    pub(crate) fn push(&mut self, mut job: Job) {
        // The pool marks it so already; a streamed body must never share the wire.
        job.exclusive |= job.stream.is_some();
        if self.intake_closed {
            self.progress.exclusive_cleared |= job.exclusive;
            self.progress.handed_back.push(job);
            return;
        }
        self.entries.push_back(Entry {
            job,
            write_start: 0,
            queued: false,
            gzip: false,
            timed_out: None,
            upload: None,
        });
    }

    /// False once the connection takes no more requests (budget spent, close announced,
    /// write failure): the socket loop stops taking them.
    pub(crate) fn accepting(&self) -> bool {
        !self.intake_closed
    }

    /// Nothing is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.entries.is_empty()
    }

    /// What the pool must hear: finished requests, budget changes, handed-back requests.
    pub(crate) fn take_progress(&mut self) -> Option<Progress> {
        if self.progress.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.progress))
        }
    }

    /// The bytes to write, in order.
    pub(crate) fn transmit(&self) -> &VecDeque<Bytes> {
        &self.out
    }

    /// `n` bytes of [`Pipeline::transmit`] were written.
    pub(crate) fn on_written(&mut self, mut n: usize) {
        self.written_bytes += n as u64;
        while n > 0 {
            let Some(front) = self.out.front_mut() else {
                break;
            };
            if front.len() <= n {
                n -= front.len();
                self.out.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }

    /// Where the socket loop puts what it reads (then calls [`Pipeline::handle_input`]).
    pub(crate) fn read_buffer(&mut self) -> &mut BytesMut {
        if self.read_buf.capacity() - self.read_buf.len() < 4096 {
            self.read_buf.reserve(16 * 1024);
        }
        &mut self.read_buf
    }

    /// The streamed body's reader is full: read nothing more until it drains.
    pub(crate) fn read_blocked(&self) -> bool {
        self.read_blocked
    }

    /// Ready when the streamed body's reader has room again (registers the waker).
    pub(crate) fn poll_body_capacity(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.read {
            ReadState::Body {
                sink: Sink::Stream(s),
                ..
            } => s.poll_capacity(cx),
            _ => Poll::Ready(()),
        }
    }

    /// A write failed earlier (the close cannot be a clean one).
    pub(crate) fn write_failed(&self) -> bool {
        self.write_error.is_some()
    }

    /// The server ended the connection between two responses without announcing it, with
    /// requests written and unanswered: perhaps a budget it does not announce; the pool
    /// learns it when two connections end at the same count.
    fn note_silent_close(&mut self) {
        let unanswered = self.entries.iter().any(|e| self.was_written(e));
        if matches!(self.read, ReadState::Head) && unanswered && self.responses >= 2 {
            self.progress.silent_close_after = Some(self.responses);
        }
    }

    /// Reading the socket failed.
    pub(crate) fn on_read_error(&mut self, e: io::Error) -> Exit {
        tracing::debug!(conn = self.id, "dispatch: read failed: {e}");
        self.note_silent_close();
        let err = Error::new(
            ErrorKind::Closed,
            "connection reset or failed before the response was complete",
        )
        .with_source(e);
        self.fail_front_body(err)
    }

    /// Encodes the next requests into the output queue, following the pipelining rules.
    pub(crate) fn poll_transmit(&mut self, progressed: &mut bool) {
        if self.no_more_writes || self.alone {
            return;
        }
        while self.unqueued < self.entries.len() {
            if self.limit.is_some_and(|l| self.queued_count >= l) {
                self.hand_back_over_budget(progressed);
                break;
            }
            let idx = self.unqueued;
            if self.entries[idx].job.is_canceled() {
                // Never written: skip it (cancel safety).
                if let Some(e) = self.entries.remove(idx) {
                    tracing::trace!(
                        conn = self.id,
                        "dispatch: skipping canceled {} {}",
                        e.job.method,
                        e.job.shown
                    );
                    self.progress.exclusive_cleared |= e.job.exclusive;
                }
                self.progress.done += 1;
                *progressed = true;
                continue;
            }
            let exclusive = self.entries[idx].job.exclusive;
            if exclusive && idx > 0 {
                // Goes alone: wait until everything before it is finished.
                break;
            }
            let template = HeadTemplate {
                authority: &self.cfg.origin.authority,
                absolute_prefix: self.absolute_prefix.as_deref(),
                defaults: &self.cfg.default_headers,
                gzip: self.cfg.gzip,
                proxy_authorization: self.proxy_authorization.as_deref(),
            };
            let entry = &mut self.entries[idx];
            let mut upload = None;
            if let Some(stream) = &entry.job.stream {
                let Some(source) = stream.start() else {
                    // A one-shot body taken by a clone of this request: never written.
                    if let Some(mut e) = self.entries.remove(idx) {
                        let err = Error::new(
                            ErrorKind::InvalidRequest,
                            "the streamed body was already used: a one-shot StreamBody is \
                             produced once (a clone of this request was sent before)",
                        )
                        .processed(e.job.sent_before)
                        .for_request(e.job.method, self.cfg.url(&e.job.shown));
                        self.progress.exclusive_cleared |= e.job.exclusive;
                        e.job.answer(Err(err));
                    }
                    self.progress.done += 1;
                    *progressed = true;
                    continue;
                };
                upload = Some(Upload {
                    source: Some(source),
                    announced: stream.len(),
                    sent: 0,
                });
            }
            let framing = match &upload {
                Some(Upload {
                    announced: Some(n), ..
                }) => BodyFraming::Length(*n),
                Some(_) => BodyFraming::Chunked,
                None => BodyFraming::Length(entry.job.body.len() as u64),
            };
            entry.upload = upload;
            let job = &entry.job;
            let before = self.enc.len();
            entry.gzip = encode_head(
                &mut self.enc,
                &template,
                job.method,
                &job.path,
                &job.headers,
                framing,
            );
            let mut len = self.enc.len() - before;
            if !job.body.is_empty() {
                if job.body.len() <= COPY_BODY_LIMIT {
                    self.enc.extend_from_slice(&job.body);
                } else {
                    self.out.push_back(self.enc.split().freeze());
                    self.out.push_back(job.body.clone());
                }
                len += job.body.len();
            }
            entry.write_start = self.queued_bytes;
            entry.queued = true;
            self.queued_bytes += len as u64;
            self.unqueued += 1;
            self.queued_count += 1;
            *progressed = true;
            tracing::debug!(conn = self.id, "dispatch: {} {}", job.method, job.shown);
            if exclusive {
                tracing::trace!(
                    conn = self.id,
                    "dispatch: request goes alone; writes paused"
                );
                self.alone = true;
                break;
            }
        }
        if !self.enc.is_empty() {
            self.out.push_back(self.enc.split().freeze());
        }
    }

    /// Pulls the next chunk of the streamed body being written, if the socket took all
    /// that was queued before (so at most about one chunk is held), and queues it, framed.
    /// The source's waker is `cx`'s. Fails the request when the source fails or produces
    /// more or fewer bytes than it announced.
    pub(crate) fn poll_request_body(
        &mut self,
        cx: &mut Context<'_>,
        progressed: &mut bool,
    ) -> Result<(), Exit> {
        loop {
            if self.no_more_writes || !self.out.is_empty() {
                return Ok(());
            }
            let Some(Entry {
                queued: true,
                upload: Some(up),
                job,
                ..
            }) = self.entries.front_mut()
            else {
                return Ok(());
            };
            let Some(source) = up.source.as_mut() else {
                return Ok(());
            };
            if job.is_canceled() {
                // Nobody waits for the answer: rather than pull the rest of a body that may
                // be gigabytes, end the connection (nothing else was written on it).
                tracing::debug!(
                    conn = self.id,
                    "dispatch: streamed request canceled during its body; closing the connection"
                );
                let err = Error::new(ErrorKind::Canceled, "the request was canceled");
                return Err(Exit::culprit(0, err, false));
            }
            match source.as_mut().poll_next(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Some(Ok(chunk))) => {
                    *progressed = true;
                    if chunk.is_empty() {
                        continue;
                    }
                    let len = chunk.len() as u64;
                    if let Some(n) = up.announced.filter(|&n| up.sent + len > n) {
                        return Err(self.body_failed(format!(
                            "the request body source produced more than the {n} bytes it \
                             announced (Content-Length); the connection was closed"
                        )));
                    }
                    up.sent += len;
                    let framed = if up.announced.is_none() {
                        let size = Bytes::from(format!("{len:x}\r\n"));
                        let n = size.len() + chunk.len() + 2;
                        self.out.push_back(size);
                        self.out.push_back(chunk);
                        self.out.push_back(Bytes::from_static(b"\r\n"));
                        n
                    } else {
                        let n = chunk.len();
                        self.out.push_back(chunk);
                        n
                    };
                    self.queued_bytes += framed as u64;
                    return Ok(());
                }
                Poll::Ready(Some(Err(e))) => {
                    *progressed = true;
                    tracing::debug!(conn = self.id, "dispatch: request body source failed: {e}");
                    let err = Error::new(
                        ErrorKind::RequestBody,
                        "the request body source failed; the connection was closed",
                    )
                    .with_shared_source(Some(Arc::from(e)));
                    return Err(Exit::culprit(0, err, false));
                }
                Poll::Ready(None) => {
                    *progressed = true;
                    up.source = None;
                    match up.announced {
                        Some(n) if up.sent < n => {
                            let sent = up.sent;
                            return Err(self.body_failed(format!(
                                "the request body source ended after {sent} of the {n} bytes \
                                 it announced (Content-Length); the connection was closed"
                            )));
                        }
                        Some(_) => {}
                        None => {
                            self.out.push_back(Bytes::from_static(b"0\r\n\r\n"));
                            self.queued_bytes += 5;
                        }
                    }
                    tracing::trace!(conn = self.id, "dispatch: request body complete");
                    return Ok(());
                }
            }
        }
    }

    /// The streamed body of the front request broke its framing: it fails with this
    /// message and the connection closes.
    fn body_failed(&self, message: String) -> Exit {
        tracing::debug!(conn = self.id, "dispatch: {message}");
        Exit::culprit(0, Error::new(ErrorKind::RequestBody, message), false)
    }

    /// The connection's budget is spent: the requests assigned to it and not written go
    /// back to the pool (they lose nothing), and it takes no more.
    fn hand_back_over_budget(&mut self, progressed: &mut bool) {
        self.intake_closed = true;
        let mut n = 0;
        while self.entries.len() > self.unqueued {
            let Some(e) = self.entries.pop_back() else {
                break;
            };
            self.progress.exclusive_cleared |= e.job.exclusive;
            if e.job.is_canceled() {
                self.progress.done += 1;
            } else {
                self.progress.handed_back.push(e.job);
                n += 1;
            }
        }
        self.progress.handed_back.reverse();
        if n > 0 {
            *progressed = true;
            tracing::debug!(
                conn = self.id,
                "dispatch: budget of {:?} requests spent; {n} handed back",
                self.limit
            );
        }
    }

    /// Lowers the connection's budget to `total` requests in all.
    fn lower_limit(&mut self, total: u64, from_header: bool) {
        let limit = self.limit.map_or(total, |l| l.min(total));
        self.limit = Some(limit);
        if from_header {
            // The origin's own figure, passed on even when it lowers nothing here.
            self.progress.limit = Some(total);
            self.progress.limit_from_header = true;
        } else if self.progress.limit.is_none_or(|l| limit < l) {
            self.progress.limit = Some(limit);
            self.progress.limit_from_header = false;
        }
    }

    /// Writing failed: nothing more is written (responses already sent are still read).
    pub(crate) fn on_write_error(&mut self, e: io::Error) {
        tracing::debug!(conn = self.id, "dispatch: write failed: {e}");
        self.write_error = Some(Arc::new(e));
        self.no_more_writes = true;
        self.out.clear();
        self.intake_closed = true;
    }

    /// The server closed its side.
    pub(crate) fn on_eof(&mut self) -> Result<(), Exit> {
        tracing::trace!(conn = self.id, "dispatch: end of stream");
        let state = std::mem::replace(&mut self.read, ReadState::Head);
        match state {
            ReadState::Body {
                mut decoder, sink, ..
            } if decoder.ends_at_eof() => {
                // A close-delimited body ends here.
                let mut sink = sink;
                let _ = decoder.decode(&mut self.read_buf);
                self.complete_body(&mut sink);
                self.finish_front();
                Err(self.after_close())
            }
            ReadState::Body { .. } => {
                self.read = state;
                let err = Error::new(
                    ErrorKind::Closed,
                    "connection closed in the middle of the response body",
                );
                Err(self.fail_front_body(err))
            }
            ReadState::Head => {
                self.note_silent_close();
                Err(self.after_close())
            }
        }
    }

    /// How to end after the server closed (or announced closing): requests still unanswered
    /// are retried or failed; with none, it is a clean close.
    fn after_close(&self) -> Exit {
        let written = self.entries.iter().any(|e| self.was_written(e));
        if self.announced_close && matches!(self.read, ReadState::Head) {
            return if written {
                Exit::Announced
            } else {
                Exit::Clean
            };
        }
        if written || self.write_error.is_some() {
            let mut e = closed_before_response();
            if let Some(w) = &self.write_error {
                e = e.with_shared_source(Some(w.clone() as _));
            }
            Exit::Unannounced(e)
        } else {
            Exit::Clean
        }
    }

    /// A failure while the front response is being read: its body gets the error; other
    /// requests are retried or failed.
    fn fail_front_body(&mut self, err: Error) -> Exit {
        if matches!(self.read, ReadState::Body { .. }) {
            Exit::culprit(0, err, true)
        } else {
            Exit::Unannounced(err)
        }
    }

    fn was_written(&self, e: &Entry) -> bool {
        e.queued && e.write_start < self.written_bytes
    }

    /// Parses and dispatches what is buffered.
    pub(crate) fn handle_input(&mut self, progressed: &mut bool) -> Result<(), Exit> {
        self.read_blocked = false;
        loop {
            if let ReadState::Head = self.read {
                if self.read_buf.is_empty() {
                    return Ok(());
                }
                if !self.proven && !self.cfg.origin.https {
                    match starts_like_tls(&self.read_buf) {
                        None => return Ok(()),
                        Some(true) => return Err(self.tls_reply()),
                        Some(false) => {}
                    }
                }
                let head = match self.parser.parse(&mut self.read_buf) {
                    Ok(Some(h)) => h,
                    Ok(None) => return Ok(()),
                    Err(e) => return Err(self.head_error(e)),
                };
                *progressed = true;
                self.on_head(head)?;
            } else if !self.on_body(progressed)? {
                return Ok(());
            }
        }
    }

    /// A plain-text connection received a TLS record.
    fn tls_reply(&self) -> Exit {
        tracing::debug!(
            conn = self.id,
            "dispatch: the server answered with a TLS record on a plain http connection"
        );
        Exit::NotHttp(Error::new(
            ErrorKind::ServerSpeaksTls,
            "the server answered with a TLS record: it speaks TLS here; use https://",
        ))
    }

    fn head_error(&self, e: HeadError) -> Exit {
        let err = match e {
            HeadError::Malformed(m) => Error::new(ErrorKind::Malformed, m),
            HeadError::TooLarge(n) => Error::new(
                ErrorKind::HeaderLimit,
                format!("the response head is larger than max_header_bytes ({n} bytes)"),
            ),
            HeadError::TooMany(n) => Error::new(
                ErrorKind::HeaderLimit,
                format!("the response has more than max_headers ({n}) headers"),
            ),
        };
        tracing::debug!(
            conn = self.id,
            "dispatch: bad response head: {}",
            err.message()
        );
        match self.entries.front() {
            Some(e) if self.was_written(e) => Exit::culprit(0, err, true),
            _ => Exit::Unannounced(err),
        }
    }

    fn on_head(&mut self, head: ResponseHead) -> Result<(), Exit> {
        let Some(front) = self.entries.front() else {
            return Err(Exit::Unannounced(Error::new(
                ErrorKind::Malformed,
                "the server sent a response with no request outstanding",
            )));
        };
        if !self.was_written(front) {
            return Err(Exit::Unannounced(Error::new(
                ErrorKind::Malformed,
                "the server sent a response before the request was written",
            )));
        }
        if head.status == 101 {
            return Err(Exit::culprit(
                0,
                Error::new(ErrorKind::Malformed, "unexpected 101 Switching Protocols"),
                false,
            ));
        }
        if head.is_interim() {
            // Interim responses never pop the FIFO (RFC 9110 section 15.2).
            tracing::trace!(
                conn = self.id,
                status = head.status,
                "dispatch: interim response skipped"
            );
            return Ok(());
        }
        let method = front.job.method;
        let limit = front.job.max_body;
        let framing = head.framing(method).map_err(|e| {
            Exit::culprit(0, Error::new(ErrorKind::Malformed, format!("{e:?}")), true)
        })?;
        tracing::debug!(
            conn = self.id,
            "dispatch: {} {} -> {}",
            method,
            front.job.shown,
            head.status
        );
        let front_canceled = front.job.is_canceled();
        // A final response while the request's streamed body is still being written: the
        // rest of the body is not sent, and the connection closes after this response.
        let early = front.upload.as_ref().is_some_and(|u| u.source.is_some());
        self.progress.proven = true;
        self.proven = true;
        self.responses += 1;
        let params = head.keep_alive_params();
        if let Some(t) = params.timeout_secs {
            self.server_idle = Some(Duration::from_secs(t));
        }
        if let Some(m) = params.max {
            // `max` counts the requests the server still takes after this one.
            self.lower_limit(self.responses.saturating_add(m), true);
        }
        self.announced_close = if head.http10 {
            !head.headers.has_token("connection", "keep-alive")
        } else {
            head.headers.has_token("connection", "close")
        };
        if self.announced_close {
            self.lower_limit(self.responses, false);
        }
        if early {
            tracing::debug!(
                conn = self.id,
                "dispatch: response before the end of the request body; writes stop"
            );
            self.out.clear();
        }
        let keep_alive = head.keep_alive() && framing != Framing::Eof && !early;
        if !keep_alive && !self.no_more_writes {
            tracing::trace!(
                conn = self.id,
                "dispatch: server closes after this response"
            );
            self.no_more_writes = true;
            self.intake_closed = true;
        }
        let decoder = match framing {
            Framing::Empty => {
                self.deliver(head, Body::empty(), false);
                self.finish_front();
                return if keep_alive {
                    Ok(())
                } else {
                    Err(self.after_close())
                };
            }
            Framing::Length(n) => {
                if let Some(max) = limit.filter(|&max| n > max) {
                    // Refused before reading any of it: the connection's place in the
                    // stream is lost, so it closes (the others are retried elsewhere).
                    tracing::debug!(
                        conn = self.id,
                        "dispatch: Content-Length {n} is over the body limit {max}"
                    );
                    return Err(Exit::culprit(0, too_large(max), false));
                }
                Decoder::length(n)
            }
            Framing::Chunked => Decoder::chunked(),
            Framing::Eof => Decoder::eof(),
        };
        let sink = if front_canceled {
            Sink::Discard
        } else {
            Sink::Pending {
                head,
                first: None,
                rest: BytesMut::new(),
            }
        };
        self.read = ReadState::Body {
            decoder,
            sink,
            keep_alive,
            received: 0,
            limit,
        };
        Ok(())
    }

    /// Hands a response to the front request. Returns false if nobody wants it.
    fn deliver(&mut self, head: ResponseHead, body: Body, has_body: bool) -> bool {
        let url_needed = has_body;
        let Some(front) = self.entries.front_mut() else {
            return false;
        };
        let mut headers = head.headers;
        let mut body = body;
        if has_body && front.gzip && is_gzip(&headers) {
            let url = if url_needed {
                self.cfg.url(&front.job.shown)
            } else {
                String::new()
            };
            body = body.gunzip(front.job.method, url, front.job.max_body);
            headers.remove("content-encoding");
            headers.remove("content-length");
        }
        let resp = Response {
            status: head.status,
            reason: head.reason,
            http10: head.http10,
            headers,
            body,
        };
        front.job.answer(Ok(resp))
    }

    /// Moves the body along. Returns false when it must wait (more bytes, or room in the
    /// reader's buffer).
    fn on_body(&mut self, progressed: &mut bool) -> Result<bool, Exit> {
        let ReadState::Body {
            mut decoder,
            mut sink,
            keep_alive,
            mut received,
            limit,
        } = std::mem::replace(&mut self.read, ReadState::Head)
        else {
            return Ok(true);
        };
        let step = self.body_step(&mut decoder, &mut sink, &mut received, limit);
        if step == BodyStep::End {
            *progressed = true;
            self.complete_body(&mut sink);
            self.finish_front();
            if self.close_after_front {
                return Err(Exit::Unannounced(Error::new(
                    ErrorKind::Closed,
                    "the connection was closed because another request pipelined on it timed out",
                )));
            }
            return if keep_alive {
                Ok(true)
            } else {
                Err(self.after_close())
            };
        }
        self.read = ReadState::Body {
            decoder,
            sink,
            keep_alive,
            received,
            limit,
        };
        match step {
            BodyStep::Blocked => {
                self.read_blocked = true;
                Ok(false)
            }
            BodyStep::NeedMore => Ok(false),
            BodyStep::Data | BodyStep::End => {
                *progressed = true;
                Ok(true)
            }
            BodyStep::Invalid(why) => Err(Exit::culprit(
                0,
                Error::new(ErrorKind::Malformed, format!("invalid chunked body: {why}")),
                true,
            )),
            BodyStep::TooLarge(max) => {
                tracing::debug!(
                    conn = self.id,
                    "dispatch: response body passed the limit {max}; closing the connection"
                );
                Err(Exit::culprit(0, too_large(max), false))
            }
        }
    }

    /// One decoding step of the front response's body.
    fn body_step(
        &mut self,
        decoder: &mut Decoder,
        sink: &mut Sink,
        received: &mut u64,
        limit: Option<u64>,
    ) -> BodyStep {
        if let Sink::Stream(s) = sink {
            if !s.has_capacity() {
                return BodyStep::Blocked;
            }
        }
        match decoder.decode(&mut self.read_buf) {
            Err(e) => BodyStep::Invalid(e.0),
            Ok(Decoded::End) => BodyStep::End,
            Ok(Decoded::Data(b)) => {
                *received = received.saturating_add(b.len() as u64);
                if let Some(max) = limit.filter(|&max| *received > max) {
                    return BodyStep::TooLarge(max);
                }
                match sink {
                    Sink::Pending { first, rest, .. } => {
                        if first.is_none() && rest.is_empty() {
                            *first = Some(b);
                        } else {
                            if let Some(f) = first.take() {
                                rest.extend_from_slice(&f);
                            }
                            rest.extend_from_slice(&b);
                        }
                    }
                    Sink::Stream(s) => {
                        if !s.push(b) {
                            tracing::trace!(
                                conn = self.id,
                                "dispatch: body dropped; discarding the rest"
                            );
                            *sink = Sink::Discard;
                        }
                    }
                    Sink::Discard => {}
                }
                BodyStep::Data
            }
            Ok(Decoded::NeedMore) => {
                if let Sink::Pending { first, rest, .. } = sink {
                    let held = first.as_ref().map_or(0, Bytes::len) + rest.len();
                    // Half the body limit at most, so that a body too large is still
                    // handed over (and fails as it streams) before it passes the limit.
                    let hold = limit.map_or(HOLD_BODY_LIMIT as u64, |l| {
                        (l / 2).min(HOLD_BODY_LIMIT as u64)
                    });
                    if (held as u64) < hold {
                        // Held until complete, so that a cut body can still be re-sent.
                        return BodyStep::NeedMore;
                    }
                    // The body is not all here: hand the response over with a streamed body.
                    let Sink::Pending { head, first, rest } =
                        std::mem::replace(sink, Sink::Discard)
                    else {
                        return BodyStep::NeedMore;
                    };
                    let (mut tx, reader) = body::channel();
                    if let Some(f) = first {
                        tx.push(f);
                    }
                    tx.push(rest.freeze());
                    if self.deliver(head, Body::stream(reader), true) {
                        tracing::trace!(conn = self.id, "dispatch: body streams");
                        *sink = Sink::Stream(tx);
                    }
                }
                BodyStep::NeedMore
            }
        }
    }

    /// The front response's body is complete.
    fn complete_body(&mut self, sink: &mut Sink) {
        match std::mem::replace(sink, Sink::Discard) {
            Sink::Pending { head, first, rest } => {
                let bytes = match first {
                    Some(f) => f,
                    None => rest.freeze(),
                };
                let has_body = !bytes.is_empty();
                self.deliver(head, Body::full(bytes), has_body);
            }
            Sink::Stream(s) => s.finish(),
            Sink::Discard => {}
        }
    }

    /// The front request is finished.
    fn finish_front(&mut self) {
        self.read = ReadState::Head;
        if let Some(e) = self.entries.pop_front() {
            self.unqueued = self.unqueued.saturating_sub(1);
            self.progress.done += 1;
            if e.job.exclusive {
                // Nothing was written behind it until its whole response was read.
                tracing::trace!(
                    conn = self.id,
                    "dispatch: a lone request's response is complete; writes resume"
                );
                self.alone = false;
                self.progress.exclusive_cleared = true;
            }
        }
    }

    /// How long the connection may stay idle: the configured idle timeout, and in any case
    /// a margin before the server's announced keep-alive timeout, so that a request is
    /// never written just as the server closes.
    fn idle_limit(&self) -> Option<Duration> {
        let server = self.server_idle.map(before_server_timeout);
        match (self.cfg.idle_timeout, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When [`Pipeline::handle_timeout`] must next be called: the idle deadline when
    /// nothing is in flight (counted from `now` if the connection just became idle), else
    /// the earliest request deadline.
    pub(crate) fn next_timeout(&mut self, now: Instant) -> Option<Instant> {
        if self.entries.is_empty() {
            let since = *self.idle_since.get_or_insert(now);
            self.idle_limit().map(|t| since + t)
        } else {
            self.idle_since = None;
            self.entries
                .iter()
                .filter(|e| e.timed_out.is_none())
                .filter_map(|e| e.job.deadline)
                .min()
        }
    }

    /// The clock reached a deadline given by [`Pipeline::next_timeout`].
    pub(crate) fn handle_timeout(&mut self, now: Instant) -> Result<(), Exit> {
        if self.entries.is_empty() {
            let idle_over = match (self.idle_since, self.idle_limit()) {
                (Some(since), Some(t)) => since + t <= now,
                _ => false,
            };
            if idle_over {
                tracing::debug!(
                    conn = self.id,
                    "dispatch: idle timeout; closing the connection"
                );
                return Err(Exit::Clean);
            }
            return Ok(());
        }
        let expired = |e: &Entry| e.timed_out.is_none() && e.job.deadline.is_some_and(|d| d <= now);
        // Not yet queued for writing: fail it, the connection is unaffected.
        let mut i = self.unqueued;
        while i < self.entries.len() {
            if expired(&self.entries[i]) {
                if let Some(mut e) = self.entries.remove(i) {
                    let err = Error::new(
                        ErrorKind::Timeout,
                        "request timeout expired before it was sent",
                    )
                    .processed(e.job.sent_before)
                    .for_request(e.job.method, self.cfg.url(&e.job.shown));
                    self.progress.exclusive_cleared |= e.job.exclusive;
                    e.job.answer(Err(err));
                    self.progress.done += 1;
                }
            } else {
                i += 1;
            }
        }
        // Written (or being written): its place in the FIFO cannot be given up, so the
        // connection closes and the others are retried elsewhere.
        if let Some(idx) = (0..self.unqueued).find(|&i| expired(&self.entries[i])) {
            let err = Error::new(
                ErrorKind::Timeout,
                "request timeout expired before the response was complete; the connection was closed",
            );
            let front_streams = matches!(
                self.read,
                ReadState::Body {
                    sink: Sink::Stream(_),
                    ..
                }
            );
            if idx > 0 && front_streams {
                // The response ahead is being handed over: let it finish, then close.
                tracing::debug!(
                    conn = self.id,
                    "dispatch: request timed out; closing after the current response"
                );
                for i in idx..self.unqueued {
                    if expired(&self.entries[i]) {
                        self.entries[i].timed_out = Some(err.clone());
                    }
                }
                self.close_after_front = true;
                self.no_more_writes = true;
                self.intake_closed = true;
                return Ok(());
            }
            tracing::debug!(
                conn = self.id,
                "dispatch: request timed out; closing the connection"
            );
            return Err(Exit::culprit(idx, err, false));
        }
        Ok(())
    }

    /// Ends the pipeline: streamed bodies get their error, and every other request still on
    /// the connection comes out with its [`Fate`] for the pool's connection-failure policy
    /// (canceled ones are dropped).
    pub(crate) fn finish(&mut self, exit: Exit) -> Vec<(Job, Fate)> {
        let mut announced = false;
        let mut culprit = None;
        let mut not_http = None;
        let closed_err = match exit {
            Exit::NotHttp(e) => {
                tracing::debug!(conn = self.id, "dispatch: connection closing: {e}");
                not_http = Some(e.clone());
                e
            }
            Exit::Clean => closed_before_response(),
            Exit::Announced => {
                announced = true;
                closed_before_response()
            }
            Exit::Unannounced(e) => {
                tracing::debug!(conn = self.id, "dispatch: connection closing: {e}");
                e
            }
            Exit::Culprit { idx, err, resend } => {
                tracing::debug!(
                    conn = self.id,
                    "dispatch: connection closing after a request failed: {err}"
                );
                culprit = Some((idx, err, resend));
                Error::new(
                    ErrorKind::Closed,
                    "the connection was closed because another request pipelined on it failed",
                )
            }
        };
        let mut front_sink = match std::mem::replace(&mut self.read, ReadState::Head) {
            ReadState::Body { sink, .. } => Some(sink),
            ReadState::Head => None,
        };
        let fresh = !self.proven;
        let mut out = Vec::new();
        for (i, e) in std::mem::take(&mut self.entries).into_iter().enumerate() {
            let written = self.was_written(&e);
            let sink = if i == 0 { front_sink.take() } else { None };
            let own = match &culprit {
                Some((idx, err, resend)) if *idx == i => Some((err.clone(), *resend)),
                _ => None,
            };
            if let Some(Sink::Stream(s)) = sink {
                // Its response was handed over: its body gets the error.
                let err = own
                    .map_or_else(|| closed_err.clone(), |(err, _)| err)
                    .processed(true)
                    .for_request(e.job.method, self.cfg.url(&e.job.shown));
                s.fail(err);
                continue;
            }
            if e.job.is_canceled() {
                continue;
            }
            let own = own.or_else(|| e.timed_out.clone().map(|err| (err, false)));
            let fate = if let Some(err) = &not_http {
                // The server never read it as HTTP.
                Fate::Failed {
                    err: err.clone(),
                    resend: false,
                    written: false,
                }
            } else if let Some((err, resend)) = own {
                Fate::Failed {
                    err,
                    resend,
                    written,
                }
            } else if !written {
                Fate::Unwritten {
                    fresh,
                    cause: closed_err.clone(),
                }
            } else if announced {
                Fate::NotProcessed
            } else {
                Fate::Unanswered(closed_err.clone())
            };
            out.push((e.job, fate));
        }
        for job in std::mem::take(&mut self.progress.handed_back) {
            out.push((
                job,
                Fate::Unwritten {
                    fresh: false,
                    cause: closed_err.clone(),
                },
            ));
        }
        out
    }
}

/// An idle connection is closed this long after its last response when the server
/// announced a keep-alive timeout `t`: a margin of a fifth of `t`, at least one second,
/// but never less than half of `t`.
fn before_server_timeout(t: Duration) -> Duration {
    let margin = (t / 5).max(Duration::from_secs(1));
    t.saturating_sub(margin).max(t / 2)
}

fn is_gzip(headers: &crate::Headers) -> bool {
    headers.get("content-encoding").is_some_and(|v| {
        v.trim().eq_ignore_ascii_case("gzip") || v.trim().eq_ignore_ascii_case("x-gzip")
    })
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;

/// Whether a connection's first bytes look like a TLS record (content type alert 0x15 or
/// handshake 0x16, then major version 3); `None` while only one such byte is here.
fn starts_like_tls(buf: &[u8]) -> Option<bool> {
    match buf {
        [0x15 | 0x16] => None,
        [0x15 | 0x16, 0x03, ..] => Some(true),
        _ => Some(false),
    }
}
