//! The thin HTTP layer services call: [`Transport`], the [`Call`] it sends and the
//! [`RawResponse`] it returns, the one translation of a call into an
//! [`http1_pipeline::Request`] ([`Call::into_request`]), and [`PlainTransport`] over an
//! `http1_pipeline::Client`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

pub use http1_pipeline::Method;

use super::encode::render_target;
use crate::error::Error;

/// A boxed, `Send`, `'static` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One request of a service method, as the runtime built it: method, service path, query
/// and the request target rendered from them once. `Debug` shows header names only and the
/// body's length (headers and bodies may carry secrets).
#[derive(Clone)]
pub struct Call {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    target: String,
    /// Extra headers of this call ([wire rule](crate::wire) R1.9); a transport adds its own (R5.4).
    pub headers: Vec<(String, String)>,
    /// XML request body, if any (sent with `Content-Type: application/xml`).
    pub body: Option<Bytes>,
    /// Time limit of this call; `None` uses the transport's default.
    pub timeout: Option<Duration>,
}

/// Header names of a header list, for `Debug` without values.
pub(crate) struct HeaderNames<'a>(pub(crate) &'a [(String, String)]);

impl std::fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.as_ref().map(|b| b.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Call {
    /// A call of `method` to `path` (relative to the API base `base_path`, without leading
    /// `/`, segments already percent-encoded, [wire rule](crate::wire) R2.1; empty for the root service)
    /// with `query` (not yet encoded, in the order sent, R1.3). The request target
    /// `base_path/path?query` is rendered here, once (R1.2, R1.3).
    pub fn new(
        method: Method,
        base_path: &str,
        path: impl Into<String>,
        query: Vec<(String, String)>,
    ) -> Call {
        let path = path.into();
        let target = render_target(base_path, &path, &query);
        Call {
            method,
            path,
            query,
            target,
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// The HTTP method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path below the API base, e.g. `vms/123/nics`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query pairs, not encoded.
    pub fn query(&self) -> &[(String, String)] {
        &self.query
    }

    /// The request target: the API base path, `/`, the path, `?` and the form-encoded query,
    /// e.g. `/ovirt-engine/api/vms?search=name%3Dweb%2A`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// True if the call may be repeated safely after a connection failure.
    pub fn is_idempotent(&self) -> bool {
        self.method.is_idempotent()
    }

    /// The request `http1_pipeline` sends for this call: its target, the call's headers, then
    /// `Accept` and `Content-Type: application/xml` ([wire rule](crate::wire) R5.4), body and time limit.
    /// Both [`PlainTransport`] and the [`Connection`](crate::Connection) send this; the
    /// connection adds `Version`, `All-Content` and `Authorization`.
    pub fn into_request(self) -> http1_pipeline::Request {
        let mut req = http1_pipeline::Request::new(self.method, self.target);
        for (k, v) in self.headers {
            req = req.header(k, v);
        }
        req = req
            .header("Accept", "application/xml")
            .header("Content-Type", "application/xml");
        if let Some(body) = self.body {
            req = req.body(body);
        }
        if self.timeout.is_some() {
            req = req.timeout(self.timeout);
        }
        req
    }
}

/// The answer to a [`Call`]: status, reason phrase, content type and the whole body.
/// `Debug` shows the body's length only (a body may carry secrets, and is long).
#[derive(Clone)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// The reason phrase of the status line (`Not Found`; may be empty).
    pub reason: String,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The whole body (decompressed).
    pub body: Bytes,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("content_type", &self.content_type)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// The answer to a call whose body is read as it arrives ([`Transport::send_streamed`]):
/// status, reason phrase, content type, and the body still to read. `Debug` shows no body.
#[derive(Debug)]
pub struct StreamedResponse {
    /// HTTP status.
    pub status: u16,
    /// The reason phrase of the status line (may be empty).
    pub reason: String,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body (decompressed), chunk by chunk.
    pub body: ResponseBody,
}

impl StreamedResponse {
    /// The head of `response`, its body to be read as it arrives.
    pub fn from_response(response: http1_pipeline::Response) -> Self {
        let status = response.status();
        let reason = response.reason().to_owned();
        let content_type = response.headers().get("content-type").map(str::to_owned);
        StreamedResponse {
            status,
            reason,
            content_type,
            body: ResponseBody(BodySource::Chunks(response.into_body())),
        }
    }
}

impl From<RawResponse> for StreamedResponse {
    /// A response read whole, handed out as one chunk.
    fn from(raw: RawResponse) -> Self {
        StreamedResponse {
            status: raw.status,
            reason: raw.reason,
            content_type: raw.content_type,
            body: ResponseBody(BodySource::Whole(Some(raw.body))),
        }
    }
}

/// The body of a [`StreamedResponse`]: chunks as they arrive from the connection, or one
/// chunk already read. Dropping it before its end is fine: the connection reads and
/// discards the rest.
pub struct ResponseBody(BodySource);

enum BodySource {
    Whole(Option<Bytes>),
    Chunks(http1_pipeline::Body),
}

impl ResponseBody {
    /// Polls for the next chunk; `None` at the end of the body.
    pub fn poll_chunk(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Error>>> {
        match &mut self.0 {
            BodySource::Whole(bytes) => std::task::Poll::Ready(bytes.take().map(Ok)),
            BodySource::Chunks(body) => body
                .poll_chunk(cx)
                .map(|chunk| chunk.map(|r| r.map_err(Error::from))),
        }
    }

    /// The next chunk; `Ok(None)` at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        std::future::poll_fn(|cx| self.poll_chunk(cx))
            .await
            .transpose()
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.0 {
            BodySource::Whole(_) => "whole",
            BodySource::Chunks(_) => "chunks",
        };
        f.debug_tuple("ResponseBody").field(&kind).finish()
    }
}

/// Reads a response whole into a [`RawResponse`].
pub(crate) async fn read_raw(
    pending: http1_pipeline::ResponseFuture,
) -> Result<RawResponse, Error> {
    read_raw_response(pending.await?).await
}

/// Reads the rest of a response whose head is in whole into a [`RawResponse`].
pub(crate) async fn read_raw_response(
    response: http1_pipeline::Response,
) -> Result<RawResponse, Error> {
    let status = response.status();
    let reason = response.reason().to_owned();
    let content_type = response.headers().get("content-type").map(str::to_owned);
    let body = response.bytes().await?;
    Ok(RawResponse {
        status,
        reason,
        content_type,
        body,
    })
}

/// Sends calls. Services hold one as `Arc<dyn Transport>`.
///
/// `send` must hand the call to the network (or queue it) *before* returning, not when the
/// future is first polled: services rely on it so that calls issued before any `.await` are
/// in flight together.
pub trait Transport: Send + Sync + 'static {
    /// Sends `call`; the future resolves to the response (any status) or a transport error.
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>>;

    /// Sends `call` like [`send`](Transport::send); the future resolves once the response
    /// head is in, and the body is read as it arrives (what [`Request::stream`] reads
    /// lists from). The default reads the whole body with `send` and hands it out as one
    /// chunk; the SDK's transports stream it.
    ///
    /// [`Request::stream`]: super::Request::stream
    fn send_streamed(&self, call: Call) -> BoxFuture<Result<StreamedResponse, Error>> {
        let whole = self.send(call);
        Box::pin(async move { whole.await.map(StreamedResponse::from) })
    }

    /// Path of the API entry point (e.g. `/ovirt-engine/api`), used to build request targets,
    /// to turn an `href` into a service path ([wire rule](crate::wire) R2.2) and to name URLs in errors.
    fn base_path(&self) -> &str;

    /// Scheme, host and port the calls go to (`https://engine.example.com:443`), to name
    /// full URLs in errors.
    fn origin(&self) -> &str;
}

/// A [`Transport`] over a [`http1_pipeline::Client`], sending [`Call::into_request`] as it is:
/// no login, no `Authorization` or `Version` header (the connection adds those,
/// [wire rule](crate::wire) R5.4).
#[derive(Clone, Debug)]
pub struct PlainTransport {
    client: http1_pipeline::Client,
    base_path: String,
}

/// `base_path` with a leading `/` and no trailing `/` (empty for the root).
pub(crate) fn normalise_base_path(base_path: impl Into<String>) -> String {
    let mut base_path = base_path.into();
    while base_path.ends_with('/') {
        base_path.pop();
    }
    if !base_path.is_empty() && !base_path.starts_with('/') {
        base_path.insert(0, '/');
    }
    base_path
}

impl PlainTransport {
    /// A transport sending to `base_path` (e.g. `/ovirt-engine/api`; a trailing `/` is
    /// ignored) on `client`'s origin.
    pub fn new(client: http1_pipeline::Client, base_path: impl Into<String>) -> Self {
        PlainTransport {
            client,
            base_path: normalise_base_path(base_path),
        }
    }
}

impl Transport for PlainTransport {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        // `http1_pipeline::Client::send` queues the request at once (see its docs).
        Box::pin(read_raw(self.client.send(call.into_request())))
    }

    fn send_streamed(&self, call: Call) -> BoxFuture<Result<StreamedResponse, Error>> {
        let pending = self.client.send(call.into_request());
        Box::pin(async move { Ok(StreamedResponse::from_response(pending.await?)) })
    }

    fn base_path(&self) -> &str {
        &self.base_path
    }

    fn origin(&self) -> &str {
        self.client.origin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_call_shows_no_header_value_or_body() {
        let mut call = Call::new(
            Method::Post,
            "/ovirt-engine/api",
            "vms",
            vec![("max".into(), "1".into())],
        );
        call.headers = vec![("Authorization".into(), "Bearer s3cret".into())];
        call.body = Some(Bytes::from_static(b"<vm><password>pw</password></vm>"));
        let text = format!("{call:?}");
        assert!(text.contains("Authorization"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("pw"), "{text}");
        assert_eq!(call.target(), "/ovirt-engine/api/vms?max=1");
        assert!(!call.is_idempotent());
    }

    #[test]
    fn debug_of_a_raw_response_shows_no_body() {
        let raw = RawResponse {
            status: 200,
            reason: "OK".into(),
            content_type: Some("application/xml".into()),
            body: Bytes::from_static(b"<vm><password>pw</password></vm>"),
        };
        let text = format!("{raw:?}");
        assert!(!text.contains("pw"), "{text}");
        assert!(text.contains("body_len: 32"), "{text}");
    }
}
