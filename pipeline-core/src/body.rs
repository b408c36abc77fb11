//! Response bodies: the channel from a connection task to the reader, and gzip decoding.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};

use crate::{Error, ErrorKind};

/// Compressed bytes fed to the gzip decoder at a time, so that one step's decoded output
/// stays bounded (deflate expands at most about 1032 times) and the size limit is checked
/// before a gzip bomb is fully expanded.
const GZIP_INPUT_STEP: usize = 4096;

/// How many body bytes a connection buffers for a slow reader before it stops reading the
/// socket.
pub(crate) const BODY_BUFFER_LIMIT: usize = 256 * 1024;

#[derive(Default)]
struct State {
    chunks: VecDeque<Bytes>,
    buffered: usize,
    /// `Some` once the body ended: `Ok` after the last chunk, or the error.
    end: Option<Result<(), Error>>,
    reader_waker: Option<Waker>,
    writer_waker: Option<Waker>,
    reader_gone: bool,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (every
        // critical section is a few plain field updates), so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The connection task's end of a streamed body.
pub(crate) struct BodySender {
    shared: Arc<Shared>,
    done: bool,
}

/// Creates a streamed body pair.
pub(crate) fn channel() -> (BodySender, Arc<SharedReader>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
    });
    (
        BodySender {
            shared: shared.clone(),
            done: false,
        },
        Arc::new(SharedReader { shared }),
    )
}

/// The reader's end of a streamed body.
pub(crate) struct SharedReader {
    shared: Arc<Shared>,
}

impl Drop for SharedReader {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.reader_gone = true;
        st.chunks.clear();
        st.buffered = 0;
        if let Some(w) = st.writer_waker.take() {
            w.wake();
        }
    }
}

impl BodySender {
    /// Queues a chunk. Returns false if the reader is gone (the chunk is dropped).
    pub(crate) fn push(&mut self, chunk: Bytes) -> bool {
        let mut st = self.shared.lock();
        if st.reader_gone {
            return false;
        }
        if chunk.is_empty() {
            return true;
        }
        st.buffered += chunk.len();
        st.chunks.push_back(chunk);
        if let Some(w) = st.reader_waker.take() {
            w.wake();
        }
        true
    }

    /// True when the reader has room for more (or is gone); registers nothing.
    pub(crate) fn has_capacity(&self) -> bool {
        let st = self.shared.lock();
        st.reader_gone || st.buffered < BODY_BUFFER_LIMIT
    }

    /// Ready when the reader has room for more (or is gone).
    pub(crate) fn poll_capacity(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.shared.lock();
        if st.reader_gone || st.buffered < BODY_BUFFER_LIMIT {
            Poll::Ready(())
        } else {
            st.writer_waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    /// Ends the body successfully.
    pub(crate) fn finish(mut self) {
        self.end(Ok(()));
    }

    /// Ends the body with an error.
    pub(crate) fn fail(mut self, err: Error) {
        self.end(Err(err));
    }

    fn end(&mut self, result: Result<(), Error>) {
        self.done = true;
        let mut st = self.shared.lock();
        if st.end.is_none() {
            st.end = Some(result);
        }
        if let Some(w) = st.reader_waker.take() {
            w.wake();
        }
    }
}

impl Drop for BodySender {
    fn drop(&mut self) {
        if !self.done {
            self.end(Err(Error::new(
                ErrorKind::Canceled,
                "the connection task ended before the body was complete",
            )
            .processed(true)));
        }
    }
}

impl SharedReader {
    fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        let mut st = self.shared.lock();
        if let Some(c) = st.chunks.pop_front() {
            let before = st.buffered;
            st.buffered -= c.len();
            if before >= BODY_BUFFER_LIMIT && st.buffered < BODY_BUFFER_LIMIT {
                if let Some(w) = st.writer_waker.take() {
                    w.wake();
                }
            }
            return Poll::Ready(Some(Ok(c)));
        }
        match &st.end {
            Some(Ok(())) => Poll::Ready(None),
            Some(Err(e)) => Poll::Ready(Some(Err(e.clone()))),
            None => {
                st.reader_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

enum Source {
    /// The whole body, handed over at once (`None` once taken).
    Full(Option<Bytes>),
    /// Chunks arriving from the connection.
    Stream(Arc<SharedReader>),
    /// The body ended, or failed (the error is repeated on every later call).
    Done(Option<Error>),
}

/// A response body, readable whole ([`Body::bytes`]) or chunk by chunk as it arrives
/// ([`Body::chunk`], or as a [`futures_core::Stream`]). A gzip-encoded body is already
/// decoded, unless gzip decoding is off in the client.
///
/// Dropping a body before its end is fine: the connection reads and discards the rest.
pub struct Body {
    source: Source,
    gzip: Option<Box<GzipState>>,
}

struct GzipState {
    decoder: flate2::write::GzDecoder<Vec<u8>>,
    /// Compressed bytes received but not yet fed to the decoder.
    pending: Bytes,
    /// Decoded bytes handed out so far.
    decoded: u64,
    /// The body size limit, applied to the decoded bytes.
    limit: Option<u64>,
    /// Error context: `METHOD url`.
    method: crate::Method,
    url: Box<str>,
}

impl GzipState {
    /// Counts `n` decoded bytes; false if that passes the limit.
    fn count(&mut self, n: usize) -> bool {
        self.decoded = self.decoded.saturating_add(n as u64);
        self.limit.is_none_or(|max| self.decoded <= max)
    }
}

impl Body {
    pub(crate) fn full(bytes: Bytes) -> Body {
        Body {
            source: Source::Full(Some(bytes)),
            gzip: None,
        }
    }

    pub(crate) fn empty() -> Body {
        Body {
            source: Source::Done(None),
            gzip: None,
        }
    }

    pub(crate) fn stream(reader: Arc<SharedReader>) -> Body {
        Body {
            source: Source::Stream(reader),
            gzip: None,
        }
    }

    /// Makes this body decode gzip transparently, failing with
    /// [`ErrorKind::BodyTooLarge`] once more than `limit` bytes are decoded.
    pub(crate) fn gunzip(mut self, method: crate::Method, url: String, limit: Option<u64>) -> Body {
        self.gzip = Some(Box::new(GzipState {
            decoder: flate2::write::GzDecoder::new(Vec::new()),
            pending: Bytes::new(),
            decoded: 0,
            limit,
            method,
            url: url.into_boxed_str(),
        }));
        self
    }

    fn poll_raw(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        match &mut self.source {
            Source::Full(b) => match b.take() {
                Some(b) => {
                    self.source = Source::Done(None);
                    Poll::Ready(Some(Ok(b)))
                }
                None => Poll::Ready(None),
            },
            Source::Stream(r) => match r.poll_next(cx) {
                Poll::Ready(None) => {
                    self.source = Source::Done(None);
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => {
                    self.source = Source::Done(Some(e.clone()));
                    Poll::Ready(Some(Err(e)))
                }
                other => other,
            },
            Source::Done(None) => Poll::Ready(None),
            Source::Done(Some(e)) => Poll::Ready(Some(Err(e.clone()))),
        }
    }

    /// Polls for the next chunk of the (decoded) body; `None` at the end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Error>>> {
        loop {
            if let Some(gz) = self.gzip.as_mut().filter(|gz| !gz.pending.is_empty()) {
                let n = gz.pending.len().min(GZIP_INPUT_STEP);
                let input = gz.pending.split_to(n);
                if let Err(e) = gz.decoder.write_all(&input) {
                    return Poll::Ready(Some(Err(self.gzip_error(e))));
                }
                let out = std::mem::take(gz.decoder.get_mut());
                if !gz.count(out.len()) {
                    return Poll::Ready(Some(Err(self.gzip_too_large())));
                }
                if !out.is_empty() {
                    return Poll::Ready(Some(Ok(Bytes::from(out))));
                }
                continue;
            }
            let raw = match self.poll_raw(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r,
            };
            let Some(gz) = self.gzip.as_mut() else {
                return Poll::Ready(raw.filter(|r| r.as_ref().map_or(true, |b| !b.is_empty())));
            };
            match raw {
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                Some(Ok(chunk)) => gz.pending = chunk,
                None => {
                    let gz = self.gzip.take().map(|g| *g);
                    let Some(mut gz) = gz else {
                        return Poll::Ready(None);
                    };
                    let finished = std::mem::replace(
                        &mut gz.decoder,
                        flate2::write::GzDecoder::new(Vec::new()),
                    )
                    .finish();
                    match finished {
                        Ok(out) => {
                            if !gz.count(out.len()) {
                                self.gzip = Some(Box::new(gz));
                                return Poll::Ready(Some(Err(self.gzip_too_large())));
                            }
                            self.source = Source::Done(None);
                            if out.is_empty() {
                                return Poll::Ready(None);
                            }
                            return Poll::Ready(Some(Ok(Bytes::from(out))));
                        }
                        Err(e) => {
                            let err = Error::new(ErrorKind::BodyDecode, "invalid gzip body")
                                .with_source(e)
                                .processed(true)
                                .for_request(gz.method, gz.url.into());
                            self.source = Source::Done(Some(err.clone()));
                            return Poll::Ready(Some(Err(err)));
                        }
                    }
                }
            }
        }
    }

    fn gzip_error(&mut self, e: std::io::Error) -> Error {
        let gz = self.gzip.take();
        let mut err = Error::new(ErrorKind::BodyDecode, "invalid gzip body").with_source(e);
        if let Some(gz) = gz {
            err = err.processed(true).for_request(gz.method, gz.url.into());
        }
        self.source = Source::Done(Some(err.clone()));
        err
    }

    /// The decoded body passed its size limit: the body ends with this error. Dropping the
    /// source lets the connection discard the rest of the (compressed) body.
    fn gzip_too_large(&mut self) -> Error {
        let err = match self.gzip.take() {
            Some(gz) => Error::new(
                ErrorKind::BodyTooLarge,
                format!(
                    "the gzip-decoded response body is larger than the limit of {} bytes \
                     (max_body_bytes)",
                    gz.limit.unwrap_or_default()
                ),
            )
            .processed(true)
            .for_request(gz.method, gz.url.into()),
            None => Error::new(
                ErrorKind::BodyTooLarge,
                "the gzip-decoded response body is larger than max_body_bytes",
            ),
        };
        self.source = Source::Done(Some(err.clone()));
        err
    }

    /// The next chunk of the body as it arrives; `Ok(None)` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        poll_fn(|cx| self.poll_chunk(cx)).await.transpose()
    }

    /// Reads the whole body.
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        if self.gzip.is_none() {
            if let Source::Full(b) = &mut self.source {
                return Ok(b.take().unwrap_or_default());
            }
        }
        let first = match self.chunk().await? {
            None => return Ok(Bytes::new()),
            Some(b) => b,
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let mut all = BytesMut::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(c) = self.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(all.freeze())
    }
}

impl futures_core::Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_chunk(cx)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.source {
            Source::Full(_) => "full",
            Source::Stream(_) => "stream",
            Source::Done(_) => "done",
        };
        f.debug_struct("Body")
            .field("source", &kind)
            .field("gzip", &self.gzip.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Method;

    fn gzip(data: &[u8]) -> Bytes {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        Bytes::from(e.finish().unwrap())
    }

    fn gunzipped(data: &[u8], limit: Option<u64>) -> Body {
        Body::full(gzip(data)).gunzip(Method::Get, "http://h/x".into(), limit)
    }

    #[tokio::test]
    async fn gzip_decoding_stops_at_the_limit_in_bounded_steps() {
        let mut body = gunzipped(&vec![0u8; 8 * 1024 * 1024], Some(100_000));
        let mut handed_out = 0;
        let e = loop {
            match body.chunk().await {
                Ok(Some(c)) => {
                    // One compressed step never expands to more than deflate's ratio.
                    assert!(c.len() <= GZIP_INPUT_STEP * 1100, "{}", c.len());
                    handed_out += c.len();
                }
                Ok(None) => panic!("the whole bomb was decoded"),
                Err(e) => break e,
            }
        };
        assert!(handed_out <= 100_000, "{handed_out}");
        assert_eq!(e.kind(), ErrorKind::BodyTooLarge);
        assert!(e.may_have_been_processed());
        assert_eq!(
            e.to_string(),
            "GET http://h/x: the gzip-decoded response body is larger than the limit of \
             100000 bytes (max_body_bytes)"
        );
        // The error is repeated, never followed by more data.
        assert_eq!(
            body.chunk().await.unwrap_err().kind(),
            ErrorKind::BodyTooLarge
        );
    }

    #[tokio::test]
    async fn gzip_body_exactly_at_the_limit_or_unlimited_decodes_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let at = gunzipped(&data, Some(data.len() as u64)).bytes().await;
        assert_eq!(at.unwrap(), data);
        let unlimited = gunzipped(&data, None).bytes().await;
        assert_eq!(unlimited.unwrap(), data);
        let over = gunzipped(&data, Some(data.len() as u64 - 1)).bytes().await;
        assert_eq!(over.unwrap_err().kind(), ErrorKind::BodyTooLarge);
    }
}
