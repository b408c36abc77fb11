//! The SDK's error type.
//!
//! Every call of a service method ends in `Result<T, ovirt::Error>`. An [`Error`] says what
//! happened ([`ErrorKind`]), for which request (HTTP method and URL, when there was a request),
//! the HTTP status and the engine's fault when the engine answered ([wire rule](crate::wire) R4.1-R4.4).
//!
//! Messages never contain secrets: URLs carry no credentials in this SDK (the token travels in
//! a header, which is never copied into an error), and request bodies are never quoted.

use std::fmt;

/// The engine's `<fault>` document ([wire rule](crate::wire) R3.10, R4.1): a short `reason` and a human `detail`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    /// Short category, e.g. `Operation Failed`.
    pub reason: Option<String>,
    /// Human text, often a bracketed list of engine messages.
    pub detail: Option<String>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reason, &self.detail) {
            (Some(r), Some(d)) => write!(f, "{r}: {d}"),
            (Some(r), None) => f.write_str(r),
            (None, Some(d)) => f.write_str(d),
            (None, None) => f.write_str("(empty fault)"),
        }
    }
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The engine rejected the credentials or the token (HTTP 401 or 403, [wire rule](crate::wire) R4.3).
    Authentication,
    /// The addressed object does not exist (HTTP 404).
    NotFound,
    /// The request conflicts with the engine's state, e.g. a name already in use (HTTP 409).
    Conflict,
    /// The engine answered with a fault (any other error status, or an action response carrying
    /// a `<fault>` even with a 2xx status, [wire rule](crate::wire) R4.3).
    Fault,
    /// The engine accepted the call (HTTP 202) but sent no body: an `add` whose object is still
    /// being created, or an action with an output parameter still running, in the background
    /// ([wire rule](crate::wire) R1.11). Not a failure; find the object by listing or searching.
    Accepted,
    /// The request or its response did not complete in time.
    Timeout,
    /// The connection failed or was lost. See [`Error::may_have_been_processed`].
    Connection,
    /// The HTTP response was malformed (bad head, bad chunking, too large headers, bad gzip).
    Protocol,
    /// The response body is larger than
    /// [`ConnectionBuilder::max_body_bytes`](crate::ConnectionBuilder::max_body_bytes)
    /// (as received, or once gzip-decoded). The connection it arrived on was closed.
    ResponseTooLarge,
    /// The response is not the XML document expected: see [`Error::content_type`] and
    /// [`Error::body_excerpt`] ([wire rule](crate::wire) R4.4).
    UnexpectedResponse,
    /// The XML document could not be read.
    Xml,
    /// The call could not be built: a missing mandatory parameter, a bad option.
    InvalidRequest,
    /// A path given to `service(path)` or an `href` to follow does not name a service ([wire rule](crate::wire) R2.2).
    InvalidPath,
    /// The client or connection configuration is invalid.
    Config,
}

impl ErrorKind {
    fn describe(&self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication failed",
            ErrorKind::NotFound => "not found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Fault => "the engine reported a fault",
            ErrorKind::Accepted => "accepted, no result returned yet",
            ErrorKind::Timeout => "timed out",
            ErrorKind::Connection => "connection failed",
            ErrorKind::Protocol => "malformed HTTP response",
            ErrorKind::ResponseTooLarge => "response body too large",
            ErrorKind::UnexpectedResponse => "unexpected response",
            ErrorKind::Xml => "invalid XML",
            ErrorKind::InvalidRequest => "invalid request",
            ErrorKind::InvalidPath => "invalid service path",
            ErrorKind::Config => "invalid configuration",
        }
    }
}

/// An error of the SDK.
///
/// `Display` reads `METHOD URL: what happened (HTTP status reason): details; hint`, with the
/// full URL (scheme, host, port, path and query). `Debug` shows the same text after the
/// kind, then the causes not already in the text, one a line; so a `main` returning
/// `Result<(), ovirt::Error>` prints something a person can act on. Neither shows a header
/// value, a request body, or a successful response's body.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    method: Option<String>,
    url: Option<String>,
    status: Option<u16>,
    reason: Option<String>,
    fault: Option<Fault>,
    hint: Option<String>,
    content_type: Option<String>,
    body_excerpt: Option<String>,
    message: Option<String>,
    /// What the SDK was doing, shown first (`upload to disk 123: creating the transfer`).
    context: Option<String>,
    may_have_been_processed: bool,
    from_transport: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Longest body excerpt kept in an error, in bytes.
const EXCERPT_LIMIT: usize = 200;

impl Error {
    /// A new error of `kind` with no request context.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                method: None,
                url: None,
                status: None,
                reason: None,
                fault: None,
                hint: None,
                content_type: None,
                body_excerpt: None,
                message: None,
                context: None,
                may_have_been_processed: false,
                from_transport: false,
                source: None,
            }),
        }
    }

    /// A new error of `kind` with an explanation.
    pub fn with_message(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::new(kind).message(message)
    }

    pub(crate) fn message(mut self, message: impl Into<String>) -> Self {
        self.inner.message = Some(message.into());
        self
    }

    /// Sets the request the error belongs to (HTTP method and URL), unless already set.
    pub fn for_request(mut self, method: &str, url: &str) -> Self {
        if self.inner.method.is_none() {
            self.inner.method = Some(method.to_owned());
            self.inner.url = Some(url.to_owned());
        }
        self
    }

    /// Puts what the SDK was doing in front of the message (outermost first when called
    /// several times): `upload to disk 123: finalizing: POST ...: conflict`.
    pub(crate) fn context(mut self, context: impl Into<String>) -> Self {
        let context = context.into();
        self.inner.context = Some(match self.inner.context.take() {
            Some(inner) => format!("{context}: {inner}"),
            None => context,
        });
        self
    }

    pub(crate) fn status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Sets the reason phrase of the status line (`Not Found`), when it is not empty.
    pub(crate) fn reason(mut self, reason: &str) -> Self {
        if !reason.is_empty() {
            self.inner.reason = Some(reason.to_owned());
        }
        self
    }

    /// Adds advice on what to do (shown last), unless there is already some.
    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        if self.inner.hint.is_none() {
            self.inner.hint = Some(hint.into());
        }
        self
    }

    pub(crate) fn fault(mut self, fault: Fault) -> Self {
        self.inner.fault = Some(fault);
        self
    }

    pub(crate) fn response_body(mut self, content_type: Option<&str>, body: &[u8]) -> Self {
        self.inner.content_type = content_type.map(str::to_owned);
        if !body.is_empty() {
            self.inner.body_excerpt = Some(excerpt(body));
        }
        self
    }

    pub(crate) fn processed(mut self, may_have_been_processed: bool) -> Self {
        self.inner.may_have_been_processed = may_have_been_processed;
        self
    }

    pub(crate) fn source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// HTTP method of the failed request, if a request was made.
    pub fn method(&self) -> Option<&str> {
        self.inner.method.as_deref()
    }

    /// URL (without credentials) of the failed request, if a request was made.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// HTTP status of the response, if one was received.
    pub fn http_status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The reason phrase of the response's status line (`Not Found`), if one was received.
    pub fn http_reason(&self) -> Option<&str> {
        self.inner.reason.as_deref()
    }

    /// Advice on what to do about the error, when the SDK has some (an untrusted CA, a
    /// plain `http://` URL of a TLS port, a wrong API path); also the end of the message.
    pub fn hint_text(&self) -> Option<&str> {
        self.inner.hint.as_deref()
    }

    /// The engine's fault, if the response carried one.
    pub fn engine_fault(&self) -> Option<&Fault> {
        self.inner.fault.as_ref()
    }

    /// `Content-Type` of a response that was not the XML expected.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type.as_deref()
    }

    /// The first bytes (at most 200, lossily decoded) of a response body that could not be used.
    pub fn body_excerpt(&self) -> Option<&str> {
        self.inner.body_excerpt.as_deref()
    }

    /// For connection errors and time-outs: true if the request was (or may have been) sent,
    /// so the engine may have acted on it. Always true when a response was received.
    pub fn may_have_been_processed(&self) -> bool {
        self.inner.may_have_been_processed || self.inner.status.is_some()
    }

    /// True for [`ErrorKind::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::NotFound)
    }

    /// True for [`ErrorKind::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Conflict)
    }

    /// True for [`ErrorKind::Authentication`].
    pub fn is_authentication(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Authentication)
    }

    /// True for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self.inner.kind, ErrorKind::Timeout)
    }

    /// The error of an error HTTP status ([wire rule](crate::wire) R4.3): 401/403 authentication, 404 not found,
    /// 409 conflict, others a fault.
    pub(crate) fn from_status(status: u16, reason: &str) -> Self {
        let kind = match status {
            401 | 403 => ErrorKind::Authentication,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            _ => ErrorKind::Fault,
        };
        Error::new(kind).status(status).reason(reason)
    }
}

impl From<http1_pipeline::Error> for Error {
    fn from(e: http1_pipeline::Error) -> Self {
        use http1_pipeline::ErrorKind as K;
        let kind = match e.kind() {
            K::Timeout => ErrorKind::Timeout,
            K::Connect | K::Tls | K::Closed | K::Proxy => ErrorKind::Connection,
            K::Config => ErrorKind::Config,
            K::Malformed | K::BodyDecode | K::HeaderLimit | K::ServerSpeaksTls | K::Range => {
                ErrorKind::Protocol
            }
            K::InvalidRequest => ErrorKind::InvalidRequest,
            K::BodyTooLarge => ErrorKind::ResponseTooLarge,
            _ => ErrorKind::Connection,
        };
        let mut err = Error::new(kind).processed(e.may_have_been_processed());
        if let (Some(m), Some(u)) = (e.method(), e.url()) {
            err = err.for_request(m.as_str(), u);
        }
        if let Some(hint) = transport_hint(&e) {
            err = err.hint(hint);
        }
        err.inner.from_transport = true;
        err.source(e)
    }
}

/// The text of `e` and all its causes.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        text.push_str(": ");
        text.push_str(&s.to_string());
        next = s.source();
    }
    text
}

/// Advice for transport failures whose cause a user can fix.
fn transport_hint(e: &http1_pipeline::Error) -> Option<String> {
    use http1_pipeline::ErrorKind as K;
    let text = chain_text(e);
    let plain_http = e.url().is_some_and(|u| u.starts_with("http://"));
    match e.kind() {
        K::Tls if text.contains("UnknownIssuer") || text.contains("unknown issuer") => Some(
            "the engine's certificate is not signed by a CA this connection trusts: pass the \
             engine's CA certificate with ConnectionBuilder::ca_file (an engine serves it at \
             /ovirt-engine/services/pki-resource?resource=ca-certificate&format=X509-PEM-CA) \
             or ca_pem"
                .to_owned(),
        ),
        K::Tls if text.contains("NotValidForName") => Some(
            "the engine's certificate does not name this host: use the host name the \
             certificate was issued for in the URL"
                .to_owned(),
        ),
        K::Tls if text.contains("Expired") => Some(
            "the engine's certificate has expired: renew it on the engine (or, for tests \
             only, ConnectionBuilder::insecure)"
                .to_owned(),
        ),
        K::ServerSpeaksTls => Some(tls_port_hint()),
        K::Malformed if plain_http => Some(
            "the server's answer is not HTTP; if this port serves HTTPS, use an https:// URL"
                .to_owned(),
        ),
        _ => None,
    }
}

pub(crate) fn tls_port_hint() -> String {
    // http1-pipeline's message already says that the request was not processed.
    "this port serves HTTPS: use an https:// URL for the engine".to_owned()
}

fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(EXCERPT_LIMIT)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if body.len() > EXCERPT_LIMIT {
        text.push_str("...");
    }
    text
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        if let Some(c) = &i.context {
            write!(f, "{c}: ")?;
        }
        if let (Some(m), Some(u)) = (&i.method, &i.url) {
            write!(f, "{m} {u}: ")?;
        }
        f.write_str(i.kind.describe())?;
        if i.from_transport {
            // http1-pipeline's message: without the method and URL written above; it says
            // whether the request may have been processed.
            if let Some(src) = &i.source {
                let text = src.to_string();
                let prefix = match (&i.method, &i.url) {
                    (Some(m), Some(u)) => format!("{m} {u}: "),
                    _ => String::new(),
                };
                let text = text.strip_prefix(prefix.as_str()).unwrap_or(&text);
                write!(f, ": {text}")?;
                if matches!(i.kind, ErrorKind::Connection | ErrorKind::Timeout)
                    && !text.contains("processed")
                    && !text.contains("not sent")
                {
                    f.write_str(if i.may_have_been_processed {
                        "; the request may have been processed"
                    } else {
                        "; the request was not processed"
                    })?;
                }
            }
            if let Some(h) = &i.hint {
                write!(f, "; {h}")?;
            }
            return Ok(());
        }
        if let Some(s) = i.status {
            write!(f, " (HTTP {s}")?;
            if let Some(r) = &i.reason {
                write!(f, " {r}")?;
            }
            f.write_str(")")?;
        }
        if let Some(msg) = &i.message {
            write!(f, ": {msg}")?;
        }
        if let Some(fault) = &i.fault {
            write!(f, ": {fault}")?;
        }
        if matches!(i.kind, ErrorKind::UnexpectedResponse | ErrorKind::Xml) || i.fault.is_none() {
            if let Some(ct) = &i.content_type {
                write!(f, "; content type {ct}")?;
            }
            // Only of error answers (an HTML error page): a successful answer's body may
            // hold secrets.
            if let Some(b) = &i.body_excerpt {
                if !i.status.is_some_and(|s| (200..300).contains(&s)) {
                    write!(f, "; body starts with {b:?}")?;
                }
            }
        }
        if matches!(i.kind, ErrorKind::Connection | ErrorKind::Timeout) {
            if i.may_have_been_processed {
                f.write_str("; the request may have been processed")?;
            } else {
                f.write_str("; the request was not processed")?;
            }
        }
        if let Some(src) = &i.source {
            write!(f, ": {src}")?;
        }
        if let Some(h) = &i.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    /// `Kind: message`, then each cause whose text the message does not already hold.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.to_string();
        write!(f, "{:?}: {text}", self.inner.kind)?;
        let prefix = match (&self.inner.method, &self.inner.url) {
            (Some(m), Some(u)) => format!("{m} {u}: "),
            _ => String::new(),
        };
        let mut next = std::error::Error::source(self);
        let mut first = true;
        while let Some(cause) = next {
            let c = cause.to_string();
            let c = c.strip_prefix(prefix.as_str()).unwrap_or(&c);
            if !text.contains(c) {
                if first {
                    f.write_str("\n\nCaused by:")?;
                    first = false;
                }
                write!(f, "\n    {c}")?;
            }
            next = cause.source();
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_method_url_status_and_fault() {
        let e = Error::from_status(409, "Conflict")
            .fault(Fault {
                reason: Some("Operation Failed".into()),
                detail: Some("[Name in use]".into()),
            })
            .for_request("POST", "/ovirt-engine/api/vms");
        assert_eq!(
            e.to_string(),
            "POST /ovirt-engine/api/vms: conflict (HTTP 409 Conflict): Operation Failed: [Name in use]"
        );
        assert!(e.is_conflict());
        assert!(e.may_have_been_processed());
    }

    #[test]
    fn unexpected_response_shows_content_type_and_excerpt() {
        let body = vec![b'x'; 500];
        let e = Error::new(ErrorKind::UnexpectedResponse)
            .status(502)
            .response_body(Some("text/html"), &body)
            .for_request("GET", "/api/vms");
        assert_eq!(e.body_excerpt().unwrap().len(), EXCERPT_LIMIT + 3);
        let text = e.to_string();
        assert!(
            text.starts_with("GET /api/vms: unexpected response (HTTP 502)"),
            "{text}"
        );
        assert!(text.contains("content type text/html"), "{text}");
    }

    #[test]
    fn the_first_request_context_is_kept() {
        let e = Error::new(ErrorKind::Timeout)
            .for_request("GET", "/a")
            .for_request("PUT", "/b");
        assert_eq!((e.method(), e.url()), (Some("GET"), Some("/a")));
        assert_eq!(
            e.to_string(),
            "GET /a: timed out; the request was not processed"
        );
    }

    #[test]
    fn excerpt_of_invalid_utf8_is_lossy_not_a_panic() {
        let e = Error::new(ErrorKind::UnexpectedResponse).response_body(None, &[0xff, 0xfe, b'a']);
        assert_eq!(e.body_excerpt(), Some("\u{FFFD}\u{FFFD}a"));
    }
}
