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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

/// How many requests one connection may carry, and whether the engine says so.
///
/// ```
/// use ovirt_test_engine::{RequestCap, TestEngine};
/// // Like Apache httpd with `MaxKeepAliveRequests 100`, which answers 101 requests.
/// let builder = TestEngine::builder().request_cap(RequestCap::Announced(101));
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
type BoxReply = Pin<Box<dyn Future<Output = Result<Reply, Infallible>> + Send>>;

/// The state of one connection.
struct PerConnection {
    limits: Limits,
    /// Requests received so far.
    requests: AtomicUsize,
    /// Raised by the request after which the connection closes unannounced.
    close: Notify,
    /// Raised by [`serve`] once hyper will close after the response in progress.
    closing: Notify,
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
    async fn answer<H, F>(&self, req: Request<Incoming>, handler: &H) -> Result<Reply, Infallible>
    where
        H: Fn(Request<Incoming>) -> F,
        F: Future<Output = Result<Reply, Infallible>>,
    {
        let nth = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let keep_alive_asked = connection_names(&req, "keep-alive");
        if let Some(time) = self.limits.server_time {
            tokio::time::sleep(time).await;
        }
        let mut resp = handler(req).await?;
        let last = self.limits.cap.is_some_and(|cap| nth >= cap.requests());
        if let (true, Some(RequestCap::Announced(_))) = (last, self.limits.cap) {
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return Ok(resp);
        }
        if keep_alive_asked {
            let mut params = Vec::new();
            if let Some(t) = self.limits.idle_timeout {
                params.push(format!("timeout={}", t.as_secs()));
            }
            if let Some(RequestCap::Announced(n)) = self.limits.cap {
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
        if last {
            // Unannounced: hyper is told to close after this response (which it then
            // writes without `Connection: close`) before the response is handed over.
            self.close.notify_one();
            self.closing.notified().await;
        }
        Ok(resp)
    }
}

/// Serves one connection with `handler` under `limits`, then closes it (lingering).
pub(crate) async fn serve<I, H, F>(io: I, limits: Limits, id: u64, handler: H)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, Infallible>> + Send + 'static,
{
    let per = Arc::new(PerConnection {
        limits,
        requests: AtomicUsize::new(0),
        close: Notify::new(),
        closing: Notify::new(),
    });
    let handler = Arc::new(handler);
    let p = per.clone();
    let service = hyper::service::service_fn(move |req| {
        let per = p.clone();
        let handler = handler.clone();
        Box::pin(async move { per.answer(req, &*handler).await }) as BoxReply
    });
    let mut conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true)
        .pipeline_flush(true)
        .serve_connection(TokioIo::new(io), service);
    enum Event {
        Close,
        Done(hyper::Result<()>),
    }
    let mut closing = false;
    let result = loop {
        let event = tokio::select! {
            biased;
            _ = per.close.notified(), if !closing => Event::Close,
            r = std::future::poll_fn(|cx| conn.poll_without_shutdown(cx)) => Event::Done(r),
        };
        match event {
            Event::Close => {
                Pin::new(&mut conn).graceful_shutdown();
                closing = true;
                per.closing.notify_one();
            }
            Event::Done(r) => break r,
        }
    };
    if let Err(e) = result {
        tracing::debug!("test engine: connection {id} ended: {e}");
    }
    linger(conn.into_parts().io.into_inner()).await;
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
