//! Responses.

use std::fmt;

use bytes::Bytes;

use crate::{Body, Error, Headers};

/// An HTTP response: status, headers and body.
///
/// When the client decoded a gzip body, the `Content-Encoding` and `Content-Length` headers
/// are removed (they describe the encoded bytes).
pub struct Response {
    pub(crate) status: u16,
    pub(crate) reason: Box<str>,
    pub(crate) http10: bool,
    pub(crate) headers: Headers,
    pub(crate) body: Body,
}

impl Response {
    /// The status code, e.g. `200`.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason phrase sent by the server (may be empty).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// True if the server answered with `HTTP/1.0`.
    pub fn is_http10(&self) -> bool {
        self.http10
    }

    /// The headers, in the order received.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// Reads the whole body (decoded).
    pub async fn bytes(self) -> Result<Bytes, Error> {
        self.body.bytes().await
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced).
    pub async fn text(self) -> Result<String, Error> {
        let b = self.body.bytes().await?;
        Ok(String::from_utf8_lossy(&b).into_owned())
    }

    /// The body, to read as a stream of chunks.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// Splits into status, headers and body.
    pub fn into_parts(self) -> (u16, Headers, Body) {
        (self.status, self.headers, self.body)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &self.body)
            .finish()
    }
}
