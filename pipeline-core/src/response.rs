//! Responses.

use std::fmt;

use bytes::Bytes;

use crate::{Body, Error, ErrorKind, Headers};

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

    /// The `Content-Range` header, parsed: which bytes of the resource a `206 Partial
    /// Content` body holds (the answer to [`Request::range`](crate::Request::range)).
    /// `Ok(None)` when the response has no such header (a `200 OK` to a range request: the
    /// server ignored the range and sends the whole resource).
    ///
    /// Fails with [`ErrorKind::Range`] when the header is malformed, or is the
    /// unsatisfied-range form `bytes */LENGTH` (sent with `416 Range Not Satisfiable`;
    /// the error gives the length). A caller should check the status first (206), then
    /// that the range starts where it asked: a server may send fewer bytes than asked at
    /// the end of the resource.
    pub fn content_range(&self) -> Result<Option<ContentRange>, Error> {
        let mut values = self.headers.get_all("content-range");
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(Error::new(
                ErrorKind::Range,
                "the response has more than one Content-Range header",
            ));
        }
        value.parse().map(Some)
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

/// A byte range of a resource, as in a `Content-Range: bytes FIRST-LAST/LENGTH` header:
/// the offsets of the first and last bytes (both included) and the resource's whole
/// length, when known (`*` otherwise).
///
/// Read from a response with [`Response::content_range`]; parse any header value with
/// [`str::parse`]. Its `Display` writes the header value back, so it can also be sent, for
/// example on an upload that says where its bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentRange {
    first: u64,
    last: u64,
    complete_length: Option<u64>,
}

impl ContentRange {
    /// The range `first..=last` of a resource of `complete_length` bytes (`None`: unknown,
    /// written `*`). `None` if `last < first`, or if the range does not fit in the length.
    pub fn new(first: u64, last: u64, complete_length: Option<u64>) -> Option<ContentRange> {
        if last < first || complete_length.is_some_and(|n| last >= n) {
            return None;
        }
        Some(ContentRange {
            first,
            last,
            complete_length,
        })
    }

    /// The offset of the first byte.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The offset of the last byte (included).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The number of bytes in the range (`last - first + 1`).
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one byte. (Here for the `len`/`is_empty`
    /// convention.)
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The length of the whole resource, if the server gave it.
    pub fn complete_length(&self) -> Option<u64> {
        self.complete_length
    }
}

impl fmt::Display for ContentRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes {}-{}/", self.first, self.last)?;
        match self.complete_length {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("*"),
        }
    }
}

impl std::str::FromStr for ContentRange {
    type Err = Error;

    /// Parses `bytes FIRST-LAST/LENGTH` or `bytes FIRST-LAST/*` (RFC 9110 section 14.4).
    fn from_str(value: &str) -> Result<ContentRange, Error> {
        let shown: String = value.chars().take(80).collect();
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Range,
                format!("malformed Content-Range header {shown:?}: {why}"),
            )
        };
        let v = value.trim();
        let rest = match v.split_once(' ') {
            Some((unit, rest)) if unit.eq_ignore_ascii_case("bytes") => rest.trim_start(),
            _ => return Err(bad("it does not start with the unit \"bytes\"")),
        };
        let (range, length) = rest
            .split_once('/')
            .ok_or_else(|| bad("no '/' before the complete length"))?;
        let complete_length = match length {
            "*" => None,
            n => Some(digits(n).ok_or_else(|| bad("the complete length is not a number"))?),
        };
        if range == "*" {
            return Err(match complete_length {
                Some(n) => Error::new(
                    ErrorKind::Range,
                    format!(
                        "the server could not satisfy the range asked for: the resource has \
                         {n} bytes (Content-Range: {shown})"
                    ),
                ),
                None => bad("neither a range nor a complete length"),
            });
        }
        let (first, last) = range
            .split_once('-')
            .ok_or_else(|| bad("no '-' between the first and last byte"))?;
        let first = digits(first).ok_or_else(|| bad("the first byte is not a number"))?;
        let last = digits(last).ok_or_else(|| bad("the last byte is not a number"))?;
        if last < first {
            return Err(bad("the last byte is before the first"));
        }
        if complete_length.is_some_and(|n| last >= n) {
            return Err(bad("the range ends beyond the complete length"));
        }
        Ok(ContentRange {
            first,
            last,
            complete_length,
        })
    }
}

/// A decimal number of ASCII digits only (no sign, no blanks), that fits in a `u64`.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges_parse_and_print_back() {
        let r: ContentRange = "bytes 0-99/1000".parse().unwrap();
        assert_eq!((r.first(), r.last(), r.len()), (0, 99, 100));
        assert_eq!(r.complete_length(), Some(1000));
        assert_eq!(r.to_string(), "bytes 0-99/1000");
        let r: ContentRange = " BYTES 5-5/*".parse().unwrap();
        assert_eq!((r.first(), r.last(), r.complete_length()), (5, 5, None));
        assert_eq!(r.to_string(), "bytes 5-5/*");
        assert_eq!(ContentRange::new(3, 2, None), None);
        assert_eq!(ContentRange::new(0, 10, Some(10)), None);
    }

    #[test]
    fn malformed_content_ranges_are_rejected_with_the_reason() {
        for (value, why) in [
            ("0-99/100", "unit"),
            ("items 0-99/100", "unit"),
            ("bytes 0-99", "'/'"),
            ("bytes 099/100", "'-'"),
            ("bytes -5/100", "first byte"),
            ("bytes 0-+5/100", "last byte"),
            ("bytes 0-99/x", "complete length is not"),
            ("bytes 9-5/100", "before the first"),
            ("bytes 0-100/100", "beyond"),
            ("bytes 0-99999999999999999999/*", "last byte"),
            ("bytes */*", "neither"),
        ] {
            let e = value.parse::<ContentRange>().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Range, "{value}");
            let text = e.to_string();
            assert!(text.contains(why), "{value}: {text}");
            assert!(text.contains("malformed Content-Range"), "{value}: {text}");
        }
        let e = "bytes */4096".parse::<ContentRange>().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Range);
        assert!(e.to_string().contains("the resource has 4096 bytes"), "{e}");
    }
}
