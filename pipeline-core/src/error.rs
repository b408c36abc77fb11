//! The crate's error type.

use std::fmt;
use std::sync::Arc;

use crate::Method;

/// What kind of failure an [`Error`] is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The TCP connection (to the origin or the proxy) could not be opened, or the connect
    /// timeout expired.
    Connect,
    /// The TLS handshake failed: unknown certificate authority, wrong host name, bad
    /// certificate, protocol error.
    Tls,
    /// The request (including its response body) did not finish within its timeout.
    Timeout,
    /// The server sent bytes that are not a valid HTTP/1.1 response.
    Malformed,
    /// The connection closed (or was reset) before the response was complete.
    Closed,
    /// The response body could not be decoded (for example invalid gzip data).
    BodyDecode,
    /// The response head exceeded the configured size or header-count limit.
    HeaderLimit,
    /// The proxy refused the tunnel or answered with something unexpected.
    Proxy,
    /// A client option was invalid (reported by `ClientBuilder::build`).
    Config,
    /// The request itself is invalid (bad path, header name or value).
    InvalidRequest,
    /// The client's connection task ended unexpectedly (for example its runtime shut down).
    Canceled,
    /// The response body is larger than the body size limit
    /// (`ClientBuilder::max_body_bytes` or `Request::max_body_bytes`): announced by
    /// `Content-Length`, counted on the wire, or counted after gzip decoding. The
    /// connection it arrived on is closed.
    BodyTooLarge,
    /// The request's streamed body ([`StreamBody`](crate::StreamBody)) could not be sent:
    /// its source failed, or produced more or fewer bytes than the length it announced.
    /// The connection it was written on is closed (its framing is broken); other requests
    /// are not affected.
    RequestBody,
    /// A plain `http://` connection received a TLS record instead of an HTTP response:
    /// the server speaks TLS on this port, so the origin must be `https://`. The server
    /// never read the request as HTTP, so it was not processed (unless an earlier attempt
    /// of it was), and it is not retried.
    ServerSpeaksTls,
    /// A `Content-Range` response header is malformed, or says the range asked for cannot
    /// be satisfied (see [`Response::content_range`](crate::Response::content_range)).
    Range,
}

type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the client. It names the request's method and URL (except for
/// [`ErrorKind::Config`] errors), says what went wrong, and whether the request may have
/// reached the server.
///
/// Errors are cheap to clone. They never contain header values, so secrets sent in headers
/// never appear in them.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    method: Option<Method>,
    url: Option<Box<str>>,
    message: Box<str>,
    may_have_been_processed: bool,
    source: Option<Source>,
}

impl Error {
    /// A new error without request context.
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                method: None,
                url: None,
                message: message.into().into_boxed_str(),
                may_have_been_processed: false,
                source: None,
            }),
        }
    }

    pub(crate) fn with_source<E>(mut self, source: E) -> Self
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        self.inner.source = Some(Arc::new(source));
        self
    }

    pub(crate) fn with_shared_source(mut self, source: Option<Source>) -> Self {
        self.inner.source = source;
        self
    }

    pub(crate) fn source_arc(&self) -> Option<Source> {
        self.inner.source.clone()
    }

    pub(crate) fn processed(mut self, may_have_been_processed: bool) -> Self {
        self.inner.may_have_been_processed = may_have_been_processed;
        self
    }

    pub(crate) fn for_request(mut self, method: Method, url: String) -> Self {
        self.inner.method = Some(method);
        self.inner.url = Some(url.into_boxed_str());
        self
    }

    pub(crate) fn message(&self) -> &str {
        &self.inner.message
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// True if the request was written (wholly or partly) to a connection, so the server
    /// may have processed it. False means the server certainly never saw it.
    pub fn may_have_been_processed(&self) -> bool {
        self.inner.may_have_been_processed
    }

    /// The method of the failed request (`None` for configuration errors).
    pub fn method(&self) -> Option<&Method> {
        self.inner.method.as_ref()
    }

    /// The URL of the failed request: origin plus path and query (`None` for configuration
    /// errors).
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// True for [`ErrorKind::Closed`].
    pub fn is_closed(&self) -> bool {
        self.inner.kind == ErrorKind::Closed
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let (Some(m), Some(u)) = (&i.method, &i.url) {
            write!(f, "{} {}: ", m, u)?;
        }
        f.write_str(&i.message)?;
        match i.kind {
            ErrorKind::ServerSpeaksTls if i.method.is_some() => {
                if i.may_have_been_processed {
                    f.write_str("; an earlier attempt of the request may have been processed")?;
                } else {
                    f.write_str("; the request was not processed")?;
                }
            }
            ErrorKind::Closed
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::RequestBody
                if i.method.is_some() =>
            {
                if i.may_have_been_processed {
                    f.write_str("; the request may have been processed")?;
                } else {
                    f.write_str("; the request was not sent")?;
                }
            }
            _ => {}
        }
        if let Some(s) = &i.source {
            write!(f, " ({})", s)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Error")
            .field("kind", &i.kind)
            .field("method", &i.method)
            .field("url", &i.url)
            .field("message", &i.message)
            .field("may_have_been_processed", &i.may_have_been_processed)
            .field("source", &i.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_method_url_and_processing() {
        let e = Error::new(ErrorKind::Closed, "connection closed before the response")
            .processed(true)
            .for_request(Method::Get, "https://h/api/vms".into());
        assert_eq!(
            e.to_string(),
            "GET https://h/api/vms: connection closed before the response; the request may have been processed"
        );
        assert_eq!(e.method(), Some(&Method::Get));
        assert_eq!(e.url(), Some("https://h/api/vms"));
    }

    #[test]
    fn config_error_has_no_request() {
        let e = Error::new(ErrorKind::Config, "max_connections must be at least 1");
        assert!(e.method().is_none());
        assert!(e.url().is_none());
        assert!(!e.to_string().contains("processed"));
    }
}
