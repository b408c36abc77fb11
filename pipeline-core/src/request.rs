//! Requests.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

use crate::{Headers, Method, StreamBody};

/// An HTTP request: method, path with query, headers and a body.
///
/// The body is either bytes held in memory ([`Request::body`]) or produced chunk by chunk
/// while it is written ([`Request::stream_body`], see [`StreamBody`]).
///
/// The client adds `Host`, `Content-Length` (when there is a body, and always for `POST`,
/// `PUT` and `PATCH`; for a streamed body of known length) or `Transfer-Encoding: chunked`
/// (a streamed body of unknown length), the client's default headers (unless the request
/// sets a header of the same name) and `Accept-Encoding: gzip` (when gzip is on and the
/// request sets no `Accept-Encoding`; `identity` instead for a request with a `Range`
/// header). `Host`, `Content-Length`, `Transfer-Encoding` and
/// `Connection` headers set on the request are ignored: the client owns the framing.
#[derive(Clone)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    /// How logs and errors show the path (see [`Request::shown_path`]).
    pub(crate) shown_path: Option<String>,
    pub(crate) headers: Headers,
    pub(crate) body: Bytes,
    pub(crate) stream: Option<StreamBody>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) max_body_bytes: Option<Option<u64>>,
    /// Why the range asked for with [`Request::range`] is invalid.
    pub(crate) range_error: Option<String>,
}

impl Request {
    /// A request with this method and path (which must start with `/` and may contain a
    /// query, already percent-encoded, e.g. `/api/vms?search=name%3Dweb`).
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method,
            path: path.into(),
            shown_path: None,
            headers: Headers::new(),
            body: Bytes::new(),
            stream: None,
            timeout: None,
            max_body_bytes: None,
            range_error: None,
        }
    }

    /// A `GET` request.
    pub fn get(path: impl Into<String>) -> Request {
        Request::new(Method::Get, path)
    }

    /// A `HEAD` request.
    pub fn head(path: impl Into<String>) -> Request {
        Request::new(Method::Head, path)
    }

    /// A `POST` request with this body.
    pub fn post(path: impl Into<String>, body: impl Into<Bytes>) -> Request {
        Request::new(Method::Post, path).body(body)
    }

    /// A `PUT` request with this body.
    pub fn put(path: impl Into<String>, body: impl Into<Bytes>) -> Request {
        Request::new(Method::Put, path).body(body)
    }

    /// A `DELETE` request.
    pub fn delete(path: impl Into<String>) -> Request {
        Request::new(Method::Delete, path)
    }

    /// Adds a header (keeping others of the same name).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.append(name, value);
        self
    }

    /// Sets the body (replacing a streamed body set before).
    pub fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self.stream = None;
        self
    }

    /// Says how this crate's log events and errors show the path, in place of the real
    /// one, for a path that carries a secret: a one-time ticket in `/images/TICKET`, say,
    /// shown as `/images/***`. The real path is written only to the socket. Without it,
    /// logs (at `debug` and `trace`) and [`Error::url`](crate::Error::url) show the path
    /// as it is.
    pub fn shown_path(mut self, shown: impl Into<String>) -> Request {
        self.shown_path = Some(shown.into());
        self
    }

    /// The path as logs and errors show it: [`Request::shown_path`] if set, else the path.
    pub fn display_path(&self) -> &str {
        self.shown_path.as_deref().unwrap_or(&self.path)
    }

    /// Sets a body produced chunk by chunk while it is written (replacing a body set
    /// before). Such a request is never pipelined and is re-sent after a connection
    /// failure only if the body is restartable; see [`StreamBody`].
    pub fn stream_body(mut self, body: StreamBody) -> Request {
        self.body = Bytes::new();
        self.stream = Some(body);
        self
    }

    /// Asks for part of the resource: sets `Range: bytes=FIRST-LAST`, where `first` and
    /// `last` are the offsets of the first and last byte wanted (both included, as in
    /// HTTP), or `bytes=FIRST-` (to the end) when `last` is `None`.
    ///
    /// The server may honour it or not; check the response:
    ///
    /// * `206 Partial Content`: [`Response::content_range`](crate::Response::content_range)
    ///   says which bytes the body holds. It may end before `last` when the resource is
    ///   shorter; check `first` too before using the bytes.
    /// * `200 OK`: the server ignored the range and the body is the whole resource, from
    ///   offset 0 (skip `first` bytes, or treat it as an error).
    /// * `416 Range Not Satisfiable`: the range starts beyond the end of the resource;
    ///   `Content-Range: bytes */LENGTH` gives its length.
    ///
    /// Unless the request sets `Accept-Encoding` itself, a request with a `Range` header
    /// asks for `Accept-Encoding: identity` instead of gzip: a range of a compressed body
    /// could not be decoded on its own.
    ///
    /// `last` before `first` makes the request fail with
    /// [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) when it is sent.
    pub fn range(mut self, first: u64, last: Option<u64>) -> Request {
        let value = match last {
            Some(last) if last < first => {
                self.range_error = Some(format!(
                    "invalid range: the last byte ({last}) is before the first ({first})"
                ));
                return self;
            }
            Some(last) => format!("bytes={first}-{last}"),
            None => format!("bytes={first}-"),
        };
        self.range_error = None;
        self.headers.insert("Range", value);
        self
    }

    /// Overrides the client's request timeout for this request (`None`: no timeout).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Request {
        self.timeout = Some(timeout);
        self
    }

    /// Overrides the client's response body size limit for this request (`None`: no
    /// limit). See [`ClientBuilder::max_body_bytes`](crate::ClientBuilder::max_body_bytes).
    pub fn max_body_bytes(mut self, limit: Option<u64>) -> Request {
        self.max_body_bytes = Some(limit);
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path with query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The headers set on this request.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Mutable access to the headers.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.headers
    }

    /// The body held in memory (empty when the body is streamed).
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The streamed body, if one is set.
    pub fn streamed_body(&self) -> Option<&StreamBody> {
        self.stream.as_ref()
    }

    /// Checks the path and headers can be written without breaking the framing.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(e) = &self.range_error {
            return Err(e.clone());
        }
        if self.stream.as_ref().is_some_and(|s| !s.available()) {
            return Err(
                "the streamed body was already used: a one-shot StreamBody is \
                        produced once (a clone of this request was sent before); use \
                        StreamBody::restartable to send it again"
                    .into(),
            );
        }
        let p = self.path.as_bytes();
        let path_ok = (p.first() == Some(&b'/')
            || (self.path == "*" && self.method == Method::Options))
            && p.iter().all(|&b| b > 0x20 && b != 0x7f);
        if !path_ok {
            return Err(format!(
                "the path must start with '/' and contain no spaces or control characters: {:?}",
                self.display_path()
            ));
        }
        for (n, v) in self.headers.iter() {
            if n.is_empty() || !n.bytes().all(is_token_byte) {
                return Err(format!("invalid header name {:?}", n));
            }
            if v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                // The value is not shown: it may be a secret.
                return Err(format!("the value of header {} contains CR, LF or NUL", n));
            }
        }
        Ok(())
    }
}

/// `tchar` from RFC 9110 section 5.6.2.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.display_path())
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_paths_and_headers_that_break_framing() {
        assert!(Request::get("/a?b=c").validate().is_ok());
        assert!(Request::get("a").validate().is_err());
        assert!(Request::get("/a b").validate().is_err());
        assert!(Request::get("/a\r\nX: y").validate().is_err());
        assert!(Request::new(Method::Options, "*").validate().is_ok());
        assert!(Request::get("/").header("X Y", "1").validate().is_err());
        let e = Request::get("/")
            .header("Authorization", "secret\r\n")
            .validate()
            .unwrap_err();
        assert!(!e.contains("secret\r"), "{e}");
    }
}
