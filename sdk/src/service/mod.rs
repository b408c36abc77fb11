//! The hand-written runtime of the generated services.
//!
//! A generated service (`VmsService`, `VmService`, ...) is a [`ServiceContext`]: a transport
//! and a path. Each of its methods returns a [`Request`] builder whose type parameter is a
//! generated marker type implementing [`MethodWire`]; the builder collects the typed model
//! parameters (through generated setters) and the per-call options shared by every method
//! ([`Request::header`], [`Request::query`], [`Request::timeout`], [wire rule](crate::wire) R1.9), and
//! [`Request::send`] hands the call to the [`Transport`] at once and returns a
//! [`ResponseFuture`]. `Request` also implements [`IntoFuture`], so `vms.list().await` works.
//!
//! Outputs by kind of method ([wire rule](crate::wire) R1.1, R1.6):
//!
//! | kind | output |
//! | --- | --- |
//! | get, update | the object |
//! | list | `Vec` of the objects; or, with [`Request::stream`], a [`ListStream`] of them read as the body arrives |
//! | add | the created object; 202 without a body is [`ErrorKind::Accepted`] (R1.11) |
//! | remove | `()` (the body is ignored) |
//! | action with an output parameter | the output parameter's value |
//! | other action | the returned `Action` document (status, job, ...) |
//!
//! Every 2xx status is success (R1.11, recommendation); an action response carrying a
//! `<fault>` is an error whatever its status (R4.3). An action answered 202 without a body
//! returns an empty `Action` (or [`ErrorKind::Accepted`] if it has an output parameter).
//!
//! # Example
//!
//! Calls issued before any `.await` are in flight together (here over a bare
//! [`PlainTransport`]; a `Connection` adds login and the fixed headers):
//!
//! ```no_run
//! use std::sync::Arc;
//! use ovirt::service::{PlainTransport, ServiceContext};
//! use ovirt::services::{AnyService, SystemService};
//!
//! # async fn demo() -> Result<(), ovirt::Error> {
//! let client = http1_pipeline::Client::builder("http://engine.example.com").build()?;
//! let transport = Arc::new(PlainTransport::new(client, "/ovirt-engine/api"));
//! let system = SystemService::new(ServiceContext::root(transport));
//!
//! let vms = system.vms_service().list().search("name=web*").max(10).await?;
//! // Start every call first, then wait: the requests are already sent.
//! let pending: Vec<_> = vms
//!     .iter()
//!     .filter_map(|vm| vm.id.as_deref())
//!     .map(|id| system.vms_service().vm_service(id).nics_service().list().send())
//!     .collect();
//! for nics in pending {
//!     println!("{} NICs", nics.await?.len());
//! }
//!
//! // Per-call options, an action, navigation by path.
//! let vm = system.vms_service().vm_service("123");
//! vm.start()
//!     .header("Correlation-Id", "abc")
//!     .timeout(std::time::Duration::from_secs(30))
//!     .await?;
//! if let AnyService::VmNics(nics) = system.service("vms/123/nics")? {
//!     nics.list().await?;
//! }
//! # Ok(())
//! # }
//! ```

mod codec;
mod encode;
mod response;
mod stream;
mod transport;
mod wait;

use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

pub use codec::{
    read_action_doc, read_action_list, read_action_value, read_body, read_list_body, text_element,
    text_list_element, write_body, write_element, write_list_body, write_list_element,
};
pub use encode::{encode_segment, form_encode, QueryValue};
pub(crate) use response::wrong_path_hint;
pub use response::{parse_fault, ResponseKind};
pub use stream::{read_list, ListMethod, ListStream};
pub(crate) use transport::{normalise_base_path, read_raw, read_raw_response};
pub use transport::{
    BoxFuture, Call, Method, PlainTransport, RawResponse, ResponseBody, StreamedResponse, Transport,
};
pub use wait::WaitUntil;

use crate::error::{Error, ErrorKind};
use crate::xml::{FromXml, XmlType};

/// Where a service lives: the transport it sends through and its path below the API base.
/// Cheap to clone.
#[derive(Clone)]
pub struct ServiceContext {
    transport: Arc<dyn Transport>,
    path: Arc<str>,
    /// Why requests of this service cannot be sent (a locator was given no id).
    invalid: Option<Arc<str>>,
}

impl std::fmt::Debug for ServiceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceContext")
            .field("path", &self.path)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

impl ServiceContext {
    /// The root service's context (empty path) on `transport`.
    pub fn root(transport: Arc<dyn Transport>) -> Self {
        ServiceContext {
            transport,
            path: Arc::from(""),
            invalid: None,
        }
    }

    /// The path below the API base, segments percent-encoded (`vms/123/nics`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    fn join(&self, encoded: &str) -> Self {
        let path = if self.path.is_empty() {
            encoded.to_owned()
        } else {
            format!("{}/{}", self.path, encoded)
        };
        ServiceContext {
            transport: self.transport.clone(),
            path: Arc::from(path),
            invalid: self.invalid.clone(),
        }
    }

    /// The context of a parameterless locator: appends the fixed `segment` ([wire rule](crate::wire) R2.1).
    pub fn child(&self, segment: &str) -> Self {
        self.join(segment)
    }

    /// The context of a parameterised locator: appends `value` percent-encoded as one path
    /// segment ([wire rule](crate::wire) R2.1, recommendation).
    pub fn child_value(&self, value: &str) -> Self {
        self.join(&encode_segment(value))
    }

    /// The context of a locator taking an id ([wire rule](crate::wire) R2.1): like
    /// [`ServiceContext::child_value`]; without an id (`None`, an object without `id`), the
    /// requests of the service fail when sent, naming `locator`.
    pub fn child_id(&self, id: &dyn crate::AsId, locator: &'static str) -> Self {
        match id.as_id() {
            Some(id) => self.child_value(id),
            None => {
                let mut ctx = self.join("");
                ctx.invalid = Some(Arc::from(format!(
                    "{locator} was given no id (None, or an object whose id is not set)"
                )));
                ctx
            }
        }
    }

    /// A `GET` of the list `href` names (an `href` of a returned object or list link, e.g.
    /// `/ovirt-engine/api/vms/123/nics`), read as a list of `T` ([wire rule](crate::wire) R2.2, R3.6). Per-call
    /// options (e.g. `.query("follow", "...")`) may be added. An `href` outside the API base
    /// path fails when sent, with [`ErrorKind::InvalidPath`].
    pub fn follow_list<T: FromXml + XmlType + 'static>(
        &self,
        href: &str,
    ) -> Request<FollowList<T>> {
        self.at_href(href)
    }

    /// A `GET` of the object `href` names, read as a `T` ([wire rule](crate::wire) R2.2).
    pub fn follow_object<T: FromXml + XmlType + 'static>(
        &self,
        href: &str,
    ) -> Request<FollowObject<T>> {
        self.at_href(href)
    }

    fn at_href<M: MethodWire>(&self, href: &str) -> Request<M> {
        match href_to_path(href, self.transport.base_path()) {
            Ok(path) => ServiceContext {
                transport: self.transport.clone(),
                path: Arc::from(path),
                invalid: self.invalid.clone(),
            }
            .request(),
            // Reported by `send` (the request is never sent).
            Err(e) => self.request::<M>().set_body(Err(e)),
        }
    }

    /// A new request builder for method `M` of this service.
    pub fn request<M: MethodWire>(&self) -> Request<M> {
        Request {
            ctx: self.clone(),
            query: Vec::new(),
            body: None,
            action: Vec::new(),
            options: CallOptions::default(),
            _method: PhantomData,
        }
    }
}

/// Method marker of a `GET` of the list an `href` names (see [`ServiceContext::follow_list`]).
pub struct FollowList<T>(PhantomData<fn() -> T>);

impl<T: FromXml + XmlType + 'static> MethodWire for FollowList<T> {
    type Output = Vec<T>;
    const NAME: &'static str = "follow list link";
    const METHOD: Method = Method::Get;
    const SEGMENT: Option<&'static str> = None;
    const RESPONSE: ResponseKind = ResponseKind::List;
    const ITEM_TAG: &'static str = T::TAG;
    fn read(body: &[u8]) -> Result<Vec<T>, Error> {
        read_list::<Self>(body)
    }
}

impl<T: FromXml + XmlType + 'static> ListMethod for FollowList<T> {
    type Item = T;
    const LIST_TAG: &'static str = T::LIST_TAG;
}

/// Method marker of a `GET` of the object an `href` names (see
/// [`ServiceContext::follow_object`]).
pub struct FollowObject<T>(PhantomData<fn() -> T>);

impl<T: FromXml + XmlType + 'static> MethodWire for FollowObject<T> {
    type Output = T;
    const NAME: &'static str = "follow link";
    const METHOD: Method = Method::Get;
    const SEGMENT: Option<&'static str> = None;
    const RESPONSE: ResponseKind = ResponseKind::Get;
    fn read(body: &[u8]) -> Result<T, Error> {
        read_body(body, T::TAG)
    }
}

/// The wire facts of one generated method, implemented by a generated marker type.
///
/// The facts come from the spec (HTTP method, action segment, kind: [wire rule](crate::wire) R1.1, R1.2); the runtime
/// only follows them.
pub trait MethodWire: Sized + 'static {
    /// What the call returns.
    type Output: 'static;
    /// `service/method` in model names, for messages.
    const NAME: &'static str;
    /// HTTP method.
    const METHOD: Method;
    /// Segment appended to the service path (actions, R1.2).
    const SEGMENT: Option<&'static str>;
    /// How the response is checked before [`MethodWire::read`] (R1.6, R1.11, R4.3).
    const RESPONSE: ResponseKind;
    /// Element of the output inside a returned `<action>` (R1.6), when the action has an
    /// output parameter.
    const OUTPUT_TAG: &'static str = "";
    /// Item element of a list output (the list document's items, or the items of the action's
    /// output element).
    const ITEM_TAG: &'static str = "";
    /// Names (query names or action element tags) of the parameters the model marks
    /// mandatory; a call without one of them is not sent ([`ErrorKind::InvalidRequest`]).
    const MANDATORY: &'static [&'static str] = &[];
    /// Reads the output from a successful response's body.
    fn read(body: &[u8]) -> Result<Self::Output, Error>;
}

/// Options every call accepts ([wire rule](crate::wire) R1.9): extra headers, extra query parameters, a timeout.
/// `Debug` shows header names only (a header may carry a secret).
#[derive(Clone, Default)]
pub struct CallOptions {
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Extra query parameters; a model parameter of the same name replaces an entry (R1.9).
    pub query: Vec<(String, String)>,
    /// Time limit of this call (overrides the transport's default).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for CallOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallOptions")
            .field("headers", &transport::HeaderNames(&self.headers))
            .field("query", &self.query)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A request being built for method `M` (a generated marker type). Generated setters add the
/// model parameters; `header`, `query` and `timeout` add per-call options; `send` or `.await`
/// sends it.
#[must_use = "a request does nothing until sent or awaited"]
pub struct Request<M> {
    ctx: ServiceContext,
    query: Vec<(&'static str, String)>,
    body: Option<Result<Bytes, Error>>,
    action: Vec<(&'static str, String)>,
    options: CallOptions,
    _method: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for Request<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("path", &self.ctx.path)
            .field("query", &self.query)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<M: MethodWire> Request<M> {
    /// Adds an extra header to this call ([wire rule](crate::wire) R1.9).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.headers.push((name.into(), value.into()));
        self
    }

    /// Adds an extra query parameter to this call ([wire rule](crate::wire) R1.9); a model parameter of the same
    /// name wins.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.query.push((name.into(), value.into()));
        self
    }

    /// Sets the time limit of this call, overriding the transport's default.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = Some(timeout);
        self
    }

    /// Replaces all per-call options.
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets query parameter `name` (a model parameter, [wire rule](crate::wire) R1.3), replacing an earlier value.
    #[doc(hidden)]
    pub fn set_query(mut self, name: &'static str, value: String) -> Self {
        match self.query.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.query.push((name, value)),
        }
        self
    }

    /// Sets the request body document (add and update, [wire rule](crate::wire) R1.4).
    #[doc(hidden)]
    pub fn set_body(mut self, body: Result<Bytes, Error>) -> Self {
        self.body = Some(body);
        self
    }

    /// Sets the child element `tag` of the `<action>` envelope to `xml` (an already written
    /// element, [wire rule](crate::wire) R1.5), replacing an earlier value.
    #[doc(hidden)]
    pub fn set_action(mut self, tag: &'static str, xml: String) -> Self {
        match self.action.iter_mut().find(|(n, _)| *n == tag) {
            Some(slot) => slot.1 = xml,
            None => self.action.push((tag, xml)),
        }
        self
    }

    /// The service path this request goes to (without the action segment).
    pub fn service_path(&self) -> &str {
        self.ctx.path()
    }

    /// The path of the call below the API base: the service path, then the action segment.
    fn call_path(&self) -> String {
        let mut path = self.ctx.path.to_string();
        if let Some(segment) = M::SEGMENT {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(segment);
        }
        path
    }

    /// Builds the [`Call`] ([wire rule](crate::wire) R1.2-R1.9) without sending it.
    pub fn into_call(self) -> Result<(Call, Arc<dyn Transport>), Error> {
        let path = self.call_path();
        self.build(path)
    }

    fn build(self, path: String) -> Result<(Call, Arc<dyn Transport>), Error> {
        let Request {
            ctx,
            query,
            body,
            action,
            options,
            ..
        } = self;
        if let Some(why) = &ctx.invalid {
            return Err(Error::with_message(
                ErrorKind::InvalidRequest,
                format!("{}: {why}", M::NAME),
            ));
        }
        if let Some(missing) = M::MANDATORY.iter().find(|name| {
            !query.iter().any(|(n, _)| n == *name) && !action.iter().any(|(n, _)| n == *name)
        }) {
            return Err(Error::with_message(
                ErrorKind::InvalidRequest,
                format!("{}: mandatory parameter `{missing}` is not set", M::NAME),
            ));
        }
        // R1.9: caller's extra query first, model parameters override the same name.
        let mut pairs: Vec<(String, String)> = options
            .query
            .into_iter()
            .filter(|(k, _)| !query.iter().any(|(n, _)| n == k))
            .collect();
        pairs.extend(query.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let body = match body {
            Some(Ok(b)) => Some(b),
            Some(Err(e)) => return Err(e),
            // R1.5: an action always sends its envelope; R1.7: a remove with an action
            // parameter sends one when the parameter is set.
            None if M::RESPONSE == ResponseKind::Action || !action.is_empty() => {
                Some(action_envelope(&action))
            }
            None if matches!(M::RESPONSE, ResponseKind::Add | ResponseKind::Update) => {
                return Err(Error::with_message(
                    ErrorKind::InvalidRequest,
                    format!("{}: the object to send is not set", M::NAME),
                ));
            }
            None => None,
        };
        let mut call = Call::new(M::METHOD, ctx.transport.base_path(), path, pairs);
        call.headers = options.headers;
        call.body = body;
        call.timeout = options.timeout;
        Ok((call, ctx.transport))
    }

    /// The call, its transport, method and full URL (for errors); an error found before
    /// sending names the URL without query.
    fn prepare(self) -> Result<(Call, Arc<dyn Transport>, Method, String), Error> {
        let path = self.call_path();
        let transport = self.ctx.transport.clone();
        let (call, transport) = match self.build(path.clone()) {
            Ok(x) => x,
            Err(e) => {
                let url = format!(
                    "{}{}",
                    transport.origin(),
                    encode::render_target(transport.base_path(), &path, &[])
                );
                return Err(e.for_request(M::METHOD.as_str(), &url));
            }
        };
        let url = format!("{}{}", transport.origin(), call.target());
        let method = call.method();
        Ok((call, transport, method, url))
    }

    /// Sends the request now (it is handed to the transport before this returns) and returns
    /// a future of its result.
    pub fn send(self) -> ResponseFuture<M::Output> {
        let (call, transport, method, url) = match self.prepare() {
            Ok(prepared) => prepared,
            Err(e) => return ResponseFuture::failed(e),
        };
        let raw = transport.send(call);
        ResponseFuture {
            state: State::Pending {
                raw,
                check: response::check::<M>,
                transport,
                method,
                url,
            },
        }
    }
}

impl<M: MethodWire> IntoFuture for Request<M> {
    type Output = Result<M::Output, Error>;
    type IntoFuture = ResponseFuture<M::Output>;

    fn into_future(self) -> Self::IntoFuture {
        self.send()
    }
}

/// `<action>` + the set children + `</action>` ([wire rule](crate::wire) R1.5; `<action/>` when nothing is set).
fn action_envelope(children: &[(&'static str, String)]) -> Bytes {
    if children.is_empty() {
        return Bytes::from_static(b"<action/>");
    }
    let mut out = String::from("<action>");
    for (_, xml) in children {
        out.push_str(xml);
    }
    out.push_str("</action>");
    Bytes::from(out)
}

/// The result of a sent call: a `Send + Unpin + 'static` future of `Result<T, Error>`.
///
/// It holds the transport's future of the raw response and the function that checks and
/// reads it, never a `T`, so it is `Send` whatever `T` is (proving `Send` for the deeply
/// nested API types is left to where a value is actually held).
#[must_use = "futures do nothing unless awaited; the request is already sent"]
pub struct ResponseFuture<T> {
    state: State<T>,
}

enum State<T> {
    Pending {
        raw: BoxFuture<Result<RawResponse, Error>>,
        check: fn(RawResponse, &str) -> Result<T, Error>,
        transport: Arc<dyn Transport>,
        method: Method,
        url: String,
    },
    Failed(Option<Error>),
}

impl<T> ResponseFuture<T> {
    fn failed(error: Error) -> Self {
        ResponseFuture {
            state: State::Failed(Some(error)),
        }
    }
}

impl<T> std::fmt::Debug for ResponseFuture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            State::Pending { method, url, .. } => f
                .debug_struct("ResponseFuture")
                .field("method", method)
                .field("url", url)
                .finish_non_exhaustive(),
            State::Failed(e) => f.debug_tuple("ResponseFuture").field(e).finish(),
        }
    }
}

impl<T> Future for ResponseFuture<T> {
    type Output = Result<T, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Pending {
                raw,
                check,
                transport,
                method,
                url,
            } => {
                let result = match raw.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => r.and_then(|raw| check(raw, transport.base_path())),
                };
                let result = result.map_err(|e| e.for_request(method.as_str(), url));
                self.state = State::Failed(None);
                Poll::Ready(result)
            }
            State::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(|| {
                Error::with_message(
                    ErrorKind::InvalidRequest,
                    "response future polled after completion",
                )
            }))),
        }
    }
}

/// Turns an `href` of a returned object (`/ovirt-engine/api/vms/123/nics`) into a service
/// path (`vms/123/nics`) by removing the API base path and `/` ([wire rule](crate::wire) R2.2).
pub fn href_to_path<'a>(href: &'a str, base_path: &str) -> Result<&'a str, Error> {
    // An absolute URL: keep its path part.
    let path = match href.find("://") {
        Some(i) => {
            let rest = &href[i + 3..];
            rest.find('/').map_or("", |j| &rest[j..])
        }
        None => href,
    };
    let base = base_path.trim_end_matches('/');
    path.strip_prefix(base)
        .and_then(|rest| {
            if rest.is_empty() {
                Some(rest)
            } else {
                rest.strip_prefix('/')
            }
        })
        .map(|p| p.trim_end_matches('/'))
        .ok_or_else(|| {
            Error::with_message(
                ErrorKind::InvalidPath,
                format!("href {href:?} does not start with the API base path {base:?}"),
            )
        })
}

/// Splits the first segment off a navigation path ([wire rule](crate::wire) R2.2): `("vms", "123/nics")`.
#[doc(hidden)]
pub fn split_segment(path: &str) -> (&str, &str) {
    match path.find('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (path, ""),
    }
}

/// Decodes a percent-encoded navigation path segment (the value of a parameterised locator).
#[doc(hidden)]
pub fn decode_segment(segment: &str) -> Result<String, Error> {
    if segment.is_empty() {
        return Err(Error::with_message(
            ErrorKind::InvalidPath,
            "empty segment in path (two `/` in a row)",
        ));
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => {
                    return Err(Error::with_message(
                        ErrorKind::InvalidPath,
                        format!("bad percent-escape in path segment {segment:?}"),
                    ))
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| {
        Error::with_message(
            ErrorKind::InvalidPath,
            format!("path segment {segment:?} is not UTF-8"),
        )
    })
}

/// The error for a navigation path segment no locator of `service` matches ([wire rule](crate::wire) R2.2).
#[doc(hidden)]
pub fn invalid_segment(service: &str, segment: &str, path: &str) -> Error {
    Error::with_message(
        ErrorKind::InvalidPath,
        format!("segment {segment:?} of path {path:?} names no locator of service `{service}`"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn href_loses_the_base_path() {
        assert_eq!(
            href_to_path("/ovirt-engine/api/vms/123/nics", "/ovirt-engine/api").unwrap(),
            "vms/123/nics"
        );
        assert_eq!(
            href_to_path("https://e.x/ovirt-engine/api/vms", "/ovirt-engine/api/").unwrap(),
            "vms"
        );
        assert_eq!(
            href_to_path("/ovirt-engine/api", "/ovirt-engine/api").unwrap(),
            ""
        );
    }

    #[test]
    fn href_outside_the_base_path_is_an_error() {
        let e = href_to_path("/other/vms", "/ovirt-engine/api").unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::InvalidPath));
        assert!(e.to_string().contains("/other/vms"), "{e}");
        assert!(href_to_path("/ovirt-engine/apix/vms", "/ovirt-engine/api").is_err());
    }

    #[test]
    fn navigation_segments_are_split_and_decoded() {
        assert_eq!(split_segment("vms/123/nics"), ("vms", "123/nics"));
        assert_eq!(split_segment("vms"), ("vms", ""));
        assert_eq!(decode_segment("a%2Fb%20c").unwrap(), "a/b c");
        assert!(decode_segment("a%zz").is_err());
        assert!(decode_segment("%ff").is_err());
        assert!(decode_segment("").is_err());
    }

    #[test]
    fn empty_action_envelope_is_an_empty_element() {
        assert_eq!(&action_envelope(&[])[..], b"<action/>");
        assert_eq!(
            &action_envelope(&[("force", "<force>true</force>".into())])[..],
            b"<action><force>true</force></action>"
        );
    }
}
