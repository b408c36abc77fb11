//! Reading a list response item by item as its body arrives: [`ListMethod`], the
//! [`Request::stream`] of list requests and the [`ListStream`] it returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;

use super::response::{check, is_xml};
use super::{
    BoxFuture, Method, MethodWire, RawResponse, Request, ResponseBody, StreamedResponse, Transport,
};
use crate::error::{Error, ErrorKind};
use crate::xml::{FromXml, ListReader};

/// A method whose output is a list document (`<vms><vm/>...</vms>`, [wire rule](crate::wire)
/// R1.6): its request can be read item by item with [`Request::stream`]. Implemented by the
/// generated marker of every `list` method.
pub trait ListMethod: MethodWire {
    /// The type of one item (`Vm`).
    type Item: FromXml + 'static;
    /// The root element of the list document (`vms`); items are tagged
    /// [`MethodWire::ITEM_TAG`].
    const LIST_TAG: &'static str;
}

/// Reads the list document of list method `M` whole (what `send` and `.await` give).
#[doc(hidden)]
pub fn read_list<M: ListMethod>(body: &[u8]) -> Result<Vec<M::Item>, Error> {
    super::read_list_body::<M, M::Item>(body, M::LIST_TAG)
}

/// The most of an error response's body that is read (for its fault and excerpt); the
/// rest is left to the connection, which reads and drops it.
const ERROR_BODY_LIMIT: usize = 1 << 20;

impl<M: ListMethod> Request<M> {
    /// Sends the request now, like [`send`](Request::send), and returns its items one by one
    /// as the response body arrives: each item is read as soon as its end tag is in and the
    /// bytes before it are dropped, so a list of any length is read in bounded memory
    /// (about one body chunk and the items it completes).
    ///
    /// The parameters (`search`, `max`, `follow`, ...) and per-call options are those of
    /// `send`. An error (a 404, a fault, a document that is not the list expected, a
    /// connection lost midway) is the stream's last item; the items before it were read
    /// from the document as sent. A time limit of the call ([`Request::timeout`], or the
    /// connection's [`timeout`](crate::ConnectionBuilder::timeout)) covers the whole body,
    /// so leave room for a long list read slowly.
    ///
    /// Dropping the stream before its end is fine: the connection reads and discards the
    /// rest of the body, and the requests pipelined behind it get their own answers.
    ///
    /// ```no_run
    /// # async fn demo(connection: ovirt::Connection) -> Result<(), ovirt::Error> {
    /// let mut vms = connection.system_service().vms_service().list().search("name=web*").stream();
    /// while let Some(vm) = vms.next().await {
    ///     let vm = vm?;
    ///     println!("{:?}", vm.name);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn stream(self) -> ListStream<M::Item> {
        let (call, transport, method, url) = match self.prepare() {
            Ok(prepared) => prepared,
            Err(e) => return ListStream::failed(e),
        };
        let head = transport.send_streamed(call);
        ListStream {
            phase: Phase::Head(head),
            reader: Some(ListReader::for_tags(M::LIST_TAG, M::ITEM_TAG)),
            ready: Vec::new().into_iter(),
            reject: reject::<M>,
            transport: Some(transport),
            method,
            url,
        }
    }
}

/// The error of a response that is not a list document to read: an error status, or a body
/// that is not XML (the same checks as `send`, [wire rule](crate::wire) R1.11, R4.4).
fn reject<M: MethodWire>(raw: RawResponse, base_path: &str) -> Error {
    let status = raw.status;
    match check::<M>(raw, base_path) {
        Err(e) => e,
        Ok(_) => Error::with_message(
            ErrorKind::UnexpectedResponse,
            "the response is not a list document",
        )
        .status(status),
    }
}

/// An error of a successful response's document, described as `send` describes it (status
/// and content type; a successful body is never quoted).
fn document_error(head: &RawResponse, kind: ErrorKind, message: String) -> Error {
    Error::with_message(kind, message)
        .status(head.status)
        .response_body(head.content_type.as_deref(), b"")
}

/// The items of a list response, read as the body arrives (see [`Request::stream`]): a
/// [`futures_core::Stream`] of `Result<T, Error>`, also read with [`ListStream::next`]
/// (or, with the [`blocking`](crate::blocking) facade, as an iterator through
/// [`Wait`](crate::blocking::Wait)). After an error item the stream ends.
#[must_use = "streams do nothing unless read; the request is already sent"]
pub struct ListStream<T> {
    phase: Phase,
    /// The reader of the document; `None` once it ended (or was not needed).
    reader: Option<ListReader<T>>,
    /// Items read and not yet handed out (those the last chunk completed).
    ready: std::vec::IntoIter<T>,
    reject: fn(RawResponse, &str) -> Error,
    transport: Option<Arc<dyn Transport>>,
    method: Method,
    url: String,
}

enum Phase {
    /// Waiting for the response head.
    Head(BoxFuture<Result<StreamedResponse, Error>>),
    /// Reading a successful list body; `seen` once a byte other than white space came.
    Items {
        body: ResponseBody,
        head: RawResponse,
        seen: bool,
    },
    /// Reading an error response's body (at most [`ERROR_BODY_LIMIT`]) to report it.
    Rejected {
        body: ResponseBody,
        head: RawResponse,
        bytes: BytesMut,
    },
    /// Over: nothing more comes, or the error to hand out next.
    Done(Option<Error>),
}

impl<T> std::fmt::Debug for ListStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.phase {
            Phase::Head(_) => "head",
            Phase::Items { .. } => "items",
            Phase::Rejected { .. } => "error",
            Phase::Done(_) => "done",
        };
        f.debug_struct("ListStream")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("phase", &phase)
            .field("ready", &self.ready.len())
            .finish_non_exhaustive()
    }
}

impl<T: FromXml> ListStream<T> {
    fn failed(error: Error) -> Self {
        ListStream {
            phase: Phase::Done(Some(error)),
            reader: None,
            ready: Vec::new().into_iter(),
            reject: |raw, _| Error::new(ErrorKind::UnexpectedResponse).status(raw.status),
            transport: None,
            method: Method::Get,
            url: String::new(),
        }
    }

    /// The next item; `None` once the list (or the error that ended it) was handed out.
    pub async fn next(&mut self) -> Option<Result<T, Error>> {
        std::future::poll_fn(|cx| self.poll_item(cx)).await
    }

    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Error>>> {
        loop {
            if let Some(item) = self.ready.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            let step = match &mut self.phase {
                Phase::Done(error) => return Poll::Ready(error.take().map(Err)),
                Phase::Head(head) => match Pin::new(head).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => self.on_head(result),
                },
                Phase::Items { body, head, seen } => match body.poll_chunk(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) => {
                        if !*seen {
                            *seen = chunk.iter().any(|b| !b.is_ascii_whitespace());
                        }
                        let mut items = Vec::new();
                        let pushed = match &mut self.reader {
                            Some(reader) => reader.push_into(&chunk, &mut items),
                            None => Ok(()),
                        };
                        // The items before a malformed part still come out, then the error.
                        self.ready = items.into_iter();
                        pushed
                            .err()
                            .map(|e| document_error(head, ErrorKind::Xml, e.to_string()))
                    }
                    Poll::Ready(Some(Err(e))) => Some(e),
                    // As `send` says of an empty body (R4.4).
                    Poll::Ready(None) if !*seen => Some(document_error(
                        head,
                        ErrorKind::UnexpectedResponse,
                        "the response has no body".into(),
                    )),
                    Poll::Ready(None) => match self.reader.take().map(ListReader::finish) {
                        Some(Err(e)) => Some(document_error(head, ErrorKind::Xml, e.to_string())),
                        _ => {
                            self.phase = Phase::Done(None);
                            None
                        }
                    },
                },
                Phase::Rejected { body, head, bytes } => match body.poll_chunk(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(Ok(chunk))) if bytes.len() < ERROR_BODY_LIMIT => {
                        let room = ERROR_BODY_LIMIT - bytes.len();
                        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        None
                    }
                    // Enough of the body is in, or it ended (or failed: what came is kept).
                    _ => {
                        let mut raw = head.clone();
                        raw.body = std::mem::take(bytes).freeze();
                        let base = self.transport.as_ref().map_or("", |t| t.base_path());
                        Some((self.reject)(raw, base))
                    }
                },
            };
            if let Some(error) = step {
                self.end(Some(error));
            }
        }
    }

    /// Moves on from the response head: to the items, or to reading the error.
    fn on_head(&mut self, result: Result<StreamedResponse, Error>) -> Option<Error> {
        let response = match result {
            Ok(r) => r,
            Err(e) => return Some(e),
        };
        let head = RawResponse {
            status: response.status,
            reason: response.reason,
            content_type: response.content_type,
            body: bytes::Bytes::new(),
        };
        let ok = (200..300).contains(&head.status) && is_xml(head.content_type.as_deref());
        self.phase = if ok {
            Phase::Items {
                body: response.body,
                head,
                seen: false,
            }
        } else {
            Phase::Rejected {
                body: response.body,
                head,
                bytes: BytesMut::new(),
            }
        };
        None
    }

    /// Ends the stream, with `error` as its last item (after the items already read).
    /// Dropping the body lets the connection discard the rest of it.
    fn end(&mut self, error: Option<Error>) {
        self.reader = None;
        let error = error.map(|e| e.for_request(self.method.as_str(), &self.url));
        self.phase = Phase::Done(error);
    }
}

impl<T: FromXml> futures_core::Stream for ListStream<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx)
    }
}

impl<T> Unpin for ListStream<T> {}
