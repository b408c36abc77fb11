//! Streaming request bodies: a body produced chunk by chunk by an async source, written
//! with `Content-Length` when its length is known and `chunked` otherwise.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::io::AsyncRead;

/// The error type a body source may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A running body source, as the connection polls it.
pub(crate) type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

type Factory = Arc<dyn Fn() -> Chunks + Send + Sync>;

/// Size of the chunks [`StreamBody::reader`] reads.
const READ_CHUNK: usize = 256 * 1024;

/// A request body produced chunk by chunk while it is written, instead of held in memory
/// whole. Set it with [`Request::stream_body`](crate::Request::stream_body).
///
/// The source is any [`Stream`] of `Result<Bytes, E>` (or, with [`StreamBody::reader`], an
/// [`AsyncRead`]). With a known length the request carries `Content-Length` and the source
/// must produce exactly that many bytes; without one it is sent `Transfer-Encoding:
/// chunked`. The next chunk is pulled from the source only once the socket has taken the
/// previous one, so memory stays bounded by about one chunk whatever the body's size.
///
/// A request with a streamed body is never pipelined: it is written only on a connection
/// with nothing in flight, and nothing is written behind it until its whole response has
/// been read. It can be sent again after a connection failure (idempotent methods such as
/// `PUT`, within the client's retry budget) only if the body can be produced again: build
/// it with [`StreamBody::restartable`] or [`StreamBody::restartable_reader`], which make a
/// fresh source for every attempt. A one-shot body ([`StreamBody::new`],
/// [`StreamBody::reader`]) is produced at most once.
///
/// Dropping the response future while the body is being written closes the connection
/// (nothing else is on it) and drops the source: the rest is never pulled.
///
/// Cloning a [`Request`](crate::Request) clones its body: the clones of a restartable body
/// each make their own source; the clones of a one-shot body share the single source, and
/// only the first one sent gets it (the others fail with
/// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest)).
#[derive(Clone)]
pub struct StreamBody {
    len: Option<u64>,
    source: SourceKind,
}

#[derive(Clone)]
enum SourceKind {
    /// Produced once; taken by the first attempt.
    Once(Arc<Mutex<Option<Chunks>>>),
    /// Makes a fresh source for every attempt.
    Restartable(Factory),
}

fn boxed<S, E>(stream: S) -> Chunks
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<BoxError>,
{
    Box::pin(MapErr(Box::pin(stream)))
}

/// Turns a stream's error into a [`BoxError`].
struct MapErr<S>(Pin<Box<S>>);

impl<S, E> Stream for MapErr<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0
            .as_mut()
            .poll_next(cx)
            .map(|o| o.map(|r| r.map_err(Into::into)))
    }
}

impl StreamBody {
    /// A body produced once by `stream`. `len`: the number of bytes it produces, if known
    /// (sent as `Content-Length`; `None`: sent `chunked`). Empty chunks are skipped.
    pub fn new<S, E>(len: Option<u64>, stream: S) -> StreamBody
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        StreamBody {
            len,
            source: SourceKind::Once(Arc::new(Mutex::new(Some(boxed(stream))))),
        }
    }

    /// A body that can be produced again: `make` is called for every attempt (the first,
    /// and each re-send after a connection failure) and must return a source producing the
    /// same bytes each time.
    pub fn restartable<F, S, E>(len: Option<u64>, make: F) -> StreamBody
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        StreamBody {
            len,
            source: SourceKind::Restartable(Arc::new(move || boxed(make()))),
        }
    }

    /// A body read once from `reader`, in chunks of up to 256 KiB. `len` as for
    /// [`StreamBody::new`]; to send part of a file, limit the reader (e.g.
    /// [`AsyncReadExt::take`](tokio::io::AsyncReadExt::take)).
    pub fn reader<R>(len: Option<u64>, reader: R) -> StreamBody
    where
        R: AsyncRead + Send + 'static,
    {
        StreamBody::new(len, ReaderChunks::ready(reader))
    }

    /// A body read from the reader that `open` gives, opened again for every attempt: for
    /// example a file opened and positioned at the start of the range to send. A failure
    /// of `open` fails the request as a body source error.
    pub fn restartable_reader<F, Fut, R>(len: Option<u64>, open: F) -> StreamBody
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<R>> + Send + 'static,
        R: AsyncRead + Send + 'static,
    {
        StreamBody::restartable(len, move || ReaderChunks::opening(Box::pin(open())))
    }

    /// The announced length (`None`: sent `chunked`).
    pub fn len(&self) -> Option<u64> {
        self.len
    }

    /// True if the announced length is zero.
    pub fn is_empty(&self) -> bool {
        self.len == Some(0)
    }

    /// True if the body can be produced again, so that the request may be re-sent after a
    /// connection failure.
    pub fn is_restartable(&self) -> bool {
        matches!(self.source, SourceKind::Restartable(_))
    }

    /// A source for one attempt: a fresh one, or the single one of a one-shot body (`None`
    /// once taken).
    pub(crate) fn start(&self) -> Option<Chunks> {
        match &self.source {
            SourceKind::Restartable(make) => Some(make()),
            SourceKind::Once(slot) => slot.lock().unwrap_or_else(|p| p.into_inner()).take(),
        }
    }

    /// False if this is a one-shot body whose source was already taken.
    pub(crate) fn available(&self) -> bool {
        match &self.source {
            SourceKind::Restartable(_) => true,
            SourceKind::Once(slot) => slot.lock().unwrap_or_else(|p| p.into_inner()).is_some(),
        }
    }
}

impl fmt::Debug for StreamBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamBody")
            .field("len", &self.len)
            .field("restartable", &self.is_restartable())
            .finish()
    }
}

type Opening<R> = Pin<Box<dyn Future<Output = io::Result<R>> + Send>>;

/// The chunks of an [`AsyncRead`], optionally opened first.
enum ReaderChunks<R> {
    Opening(Opening<R>),
    /// The reader, and the buffer the next chunk is read into (the rest of one
    /// allocation of [`READ_CHUNK`] bytes; a chunk handed out is split off it).
    Reading(Pin<Box<R>>, BytesMut),
    Done,
}

/// Reads are made into at least this much room; a smaller rest of the buffer is replaced.
const MIN_READ_ROOM: usize = 16 * 1024;

impl<R: AsyncRead + Send + 'static> ReaderChunks<R> {
    fn ready(reader: R) -> Self {
        ReaderChunks::Reading(Box::pin(reader), BytesMut::new())
    }

    fn opening(open: Opening<R>) -> Self {
        ReaderChunks::Opening(open)
    }
}

impl<R: AsyncRead + Send + 'static> Stream for ReaderChunks<R> {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is boxed, so the enum itself is `Unpin`.
        let this = self.get_mut();
        loop {
            match this {
                ReaderChunks::Opening(open) => match open.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(r)) => {
                        *this = ReaderChunks::Reading(Box::pin(r), BytesMut::new())
                    }
                    Poll::Ready(Err(e)) => {
                        *this = ReaderChunks::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                },
                ReaderChunks::Reading(r, buf) => {
                    if buf.len() < MIN_READ_ROOM {
                        *buf = BytesMut::zeroed(READ_CHUNK);
                    }
                    let mut rb = tokio::io::ReadBuf::new(buf);
                    return match r.as_mut().poll_read(cx, &mut rb) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Err(e)) => {
                            *this = ReaderChunks::Done;
                            Poll::Ready(Some(Err(e)))
                        }
                        Poll::Ready(Ok(())) => {
                            let n = rb.filled().len();
                            if n == 0 {
                                *this = ReaderChunks::Done;
                                return Poll::Ready(None);
                            }
                            Poll::Ready(Some(Ok(buf.split_to(n).freeze())))
                        }
                    };
                }
                ReaderChunks::Done => return Poll::Ready(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its data `step` bytes per read.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .step
                .min(buf.remaining())
                .min(self.data.len() - self.at);
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_reader_is_read_whole_in_bounded_chunks() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let body = StreamBody::reader(
            None,
            Trickle {
                data: data.clone(),
                at: 0,
                step: 100_000,
            },
        );
        let mut source = body.start().unwrap();
        assert!(body.start().is_none(), "a one-shot body started twice");
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut all = Vec::new();
        loop {
            match source.as_mut().poll_next(&mut cx) {
                Poll::Ready(Some(Ok(c))) => {
                    assert!(!c.is_empty() && c.len() <= READ_CHUNK, "{}", c.len());
                    all.extend_from_slice(&c);
                }
                Poll::Ready(None) => break,
                other => panic!("{:?}", other.map(|o| o.map(|r| r.map(|b| b.len())))),
            }
        }
        assert!(all == data);
    }
}
