//! The limits of one connection, like those of the Apache httpd in front of a real engine:
//! a cap on the requests one connection carries (announced with `Connection: close`, or
//! not announced at all), a keep-alive idle timeout, and a server time per request.
//!
//! Each accepted connection is served by [`serve`]: hyper's HTTP/1.1 server (which reads
//! the next pipelined request only once the previous response is written, so the requests
//! of one connection are handled one after another, as by one worker of a web server),
//! with [`PerConnection::answer`] around the engine's handler. When the connection ends,
//! for whatever reason, it is closed the way Apache closes (a *lingering close*): the
//! write side is shut down first and what the client still sends is read and thrown away
//! for a while, so the responses already written reach the client instead of being
//! destroyed by the reset a close with unread requests in the socket would send.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// How many requests one connection may carry, and whether the engine says so.
///
/// ```
/// use ovirt_test_engine::{RequestCap, TestEngine};
/// // Like Apache httpd with `MaxKeepAliveRequests 100`, which answers 101 requests.
/// let builder = TestEngine::builder().request_cap(Some(RequestCap::Announced(101)));
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestCap {
    /// The `n`th request of a connection is answered with `Connection: close` and the
    /// connection is closed after that response; requests pipelined behind it are never
    /// read. Before that, a response to a request carrying `Connection: keep-alive` says
    /// how many requests are left, `Keep-Alive: timeout=T, max=LEFT` (`T` the idle timeout
    /// in whole seconds, when one is set), with `Connection: Keep-Alive`, as Apache does.
    /// (Apache's `MaxKeepAliveRequests 100` lets a connection carry 101 requests: the
    /// first response says `max=100`, the 101st says `Connection: close`.)
    Announced(usize),
    /// The connection is closed after its `n`th response without a word: that response
    /// looks like any other, and requests pipelined behind it are never read.
    Unannounced(usize),
}

impl RequestCap {
    fn requests(self) -> usize {
        match self {
            RequestCap::Announced(n) | RequestCap::Unannounced(n) => n.max(1),
        }
    }
}

/// The connection limits of an engine (set through its builder).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Limits {
    /// Requests per connection.
    pub(crate) cap: Option<RequestCap>,
    /// Server time of every request, spent before the handler runs.
    pub(crate) server_time: Option<Duration>,
    /// A connection that has not sent (the whole head of) its next request within this
    /// time is closed.
    pub(crate) idle_timeout: Option<Duration>,
}

/// Counts of the connections of an engine.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    live: AtomicU64,
    closed: Notify,
    /// Requests being handled now (server time included), over all connections.
    in_service: AtomicUsize,
    /// The most requests ever handled at the same time on one connection.
    max_in_service_per_connection: AtomicUsize,
}

impl Connections {
    /// Connections accepted and not yet closed.
    pub(crate) fn live(&self) -> u64 {
        self.live.load(Ordering::SeqCst)
    }

    /// Waits until at most `n` connections are open.
    pub(crate) async fn wait_at_most(&self, n: u64) {
        loop {
            let closed = self.closed.notified();
            if self.live() <= n {
                return;
            }
            closed.await;
        }
    }

    /// The most requests ever handled at the same time on one connection (1 when every
    /// connection's requests were handled one after another).
    pub(crate) fn max_in_service_per_connection(&self) -> usize {
        self.max_in_service_per_connection.load(Ordering::SeqCst)
    }

    /// Requests being handled now, over all connections.
    pub(crate) fn in_service(&self) -> usize {
        self.in_service.load(Ordering::SeqCst)
    }

    /// Counts a connection as open until the guard is dropped.
    pub(crate) fn open(self: &Arc<Self>) -> LiveGuard {
        self.live.fetch_add(1, Ordering::SeqCst);
        LiveGuard(self.clone())
    }
}

/// Keeps a connection counted as open.
pub(crate) struct LiveGuard(Arc<Connections>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

type Reply = Response<Full<Bytes>>;
type BoxReply = Pin<Box<dyn Future<Output = Result<Response<Tracked>, Infallible>> + Send>>;

/// The state of one connection.
struct PerConnection {
    limits: Limits,
    counts: Arc<Connections>,
    /// Requests of this connection being handled now.
    in_service: AtomicUsize,
    /// Requests received so far.
    requests: AtomicUsize,
    /// Set once the last response of an unannounced cap has been handed to hyper whole.
    last_handed: AtomicBool,
    /// Raised once that response has been written and flushed: [`serve`] closes then.
    close: Notify,
}

/// Counts a request as being handled until dropped.
struct InService<'a>(&'a PerConnection);

impl<'a> InService<'a> {
    fn enter(per: &'a Arc<PerConnection>) -> InService<'a> {
        let here = per.in_service.fetch_add(1, Ordering::SeqCst) + 1;
        per.counts
            .max_in_service_per_connection
            .fetch_max(here, Ordering::SeqCst);
        per.counts.in_service.fetch_add(1, Ordering::SeqCst);
        InService(per)
    }
}

impl Drop for InService<'_> {
    fn drop(&mut self) {
        self.0.in_service.fetch_sub(1, Ordering::SeqCst);
        self.0.counts.in_service.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a `Connection` header of the request names `token`.
fn connection_names(req: &Request<Incoming>, token: &str) -> bool {
    req.headers()
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

impl PerConnection {
    /// Answers one request: the server time, the handler, then the headers and the close
    /// the cap asks for.
    async fn answer<H, F>(
        self: Arc<Self>,
        req: Request<Incoming>,
        handler: &H,
    ) -> Result<Response<Tracked>, Infallible>
    where
        H: Fn(Request<Incoming>) -> F,
        F: Future<Output = Result<Reply, Infallible>>,
    {
        let nth = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let cap = self.limits.cap;
        if let Some(RequestCap::Unannounced(n)) = cap {
            if nth > n.max(1) {
                // Read by hyper after the last response, while the connection closes:
                // never handled (the connection is dropped before this resolves).
                std::future::pending::<()>().await;
            }
        }
        let keep_alive_asked = connection_names(&req, "keep-alive");
        let mut resp = {
            let _busy = InService::enter(&self);
            if let Some(time) = self.limits.server_time {
                tokio::time::sleep(time).await;
            }
            handler(req).await?
        };
        let last = cap.is_some_and(|cap| nth >= cap.requests());
        if let (true, Some(RequestCap::Announced(_))) = (last, cap) {
            // hyper closes the connection after a response saying so, without reading
            // the requests behind it.
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(resp.map(|body| Tracked { body, last: None }));
        }
        if keep_alive_asked {
            let mut params = Vec::new();
            if let Some(t) = self.limits.idle_timeout {
                params.push(format!("timeout={}", t.as_secs()));
            }
            if let Some(RequestCap::Announced(n)) = cap {
                params.push(format!("max={}", n.max(1) - nth));
            }
            if !params.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&params.join(", ")) {
                    resp.headers_mut().insert("keep-alive", v);
                }
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    HeaderValue::from_static("Keep-Alive"),
                );
            }
        }
        // Unannounced: this response looks like any other; once hyper has written and
        // flushed it, `serve` drops the connection.
        let last = last.then_some(self);
        Ok(resp.map(|body| Tracked { body, last }))
    }
}

/// A response body that tells its connection when hyper has taken all of it (for the
/// last response of an unannounced cap).
pub(crate) struct Tracked {
    body: Full<Bytes>,
    last: Option<Arc<PerConnection>>,
}

impl Tracked {
    fn mark_if_done(&self) {
        if let Some(per) = &self.last {
            if self.body.is_end_stream() {
                per.last_handed.store(true, Ordering::SeqCst);
            }
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        self.mark_if_done();
        frame
    }

    fn is_end_stream(&self) -> bool {
        // hyper asks before writing the head; an empty body is never polled.
        self.mark_if_done();
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, watched for the flush that follows the last response of an
/// unannounced cap (hyper flushes only once its buffer is written out).
struct Watched<I> {
    io: I,
    per: Arc<PerConnection>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) && self.per.last_handed.load(Ordering::SeqCst) {
            self.per.close.notify_one();
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves one connection with `handler` under `limits`, then closes it (lingering).
pub(crate) async fn serve<I, H, F>(
    io: I,
    limits: Limits,
    counts: Arc<Connections>,
    id: u64,
    handler: H,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, Infallible>> + Send + 'static,
{
    let per = Arc::new(PerConnection {
        limits,
        counts,
        in_service: AtomicUsize::new(0),
        requests: AtomicUsize::new(0),
        last_handed: AtomicBool::new(false),
        close: Notify::new(),
    });
    let handler = Arc::new(handler);
    let p = per.clone();
    let service = hyper::service::service_fn(move |req| {
        let per = p.clone();
        let handler = handler.clone();
        Box::pin(async move { per.answer(req, &*handler).await }) as BoxReply
    });
    let io = Watched {
        io,
        per: per.clone(),
    };
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true)
        // Aggregated flushes skip flushing while pipelined requests are buffered, and a
        // connection that closes after a response would then end with that response
        // still in hyper's buffer: with a cap, every response is flushed.
        .pipeline_flush(limits.cap.is_none())
        .serve_connection(TokioIo::new(io), service);
    let result = tokio::select! {
        biased;
        // The last response of an unannounced cap is out: stop serving (hyper may have
        // read requests behind it; they are never handled).
        _ = per.close.notified() => Ok(()),
        r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => r,
    };
    if let Err(e) = result {
        tracing::debug!("test engine: connection {id} ended: {e}");
    }
    linger(conn.into_parts().io.into_inner().io).await;
}

/// Closes like Apache's lingering close: shut the write side down, then read and discard
/// what the client still sends until it closes too (at most 2 s).
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    let _ = io.shutdown().await;
    let mut buf = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}
