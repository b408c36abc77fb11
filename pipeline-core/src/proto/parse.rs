//! Response head parsing (status line and headers) with `httparse`, and the framing
//! decision of RFC 9112 section 6.3.

use std::mem::MaybeUninit;

use bytes::{Bytes, BytesMut};

use crate::{Headers, Method};

/// Why a response head was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not valid HTTP/1.x.
    Malformed(String),
    /// Larger than `max_header_bytes`.
    TooLarge(usize),
    /// More than `max_headers` headers.
    TooMany(usize),
}

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: `HEAD` request, 1xx, 204 or 304 status.
    Empty,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Read until the server closes the connection.
    Eof,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) reason: Box<str>,
    /// `HTTP/1.0` rather than `HTTP/1.1`.
    pub(crate) http10: bool,
    pub(crate) headers: Headers,
}

impl ResponseHead {
    /// True for 1xx interim responses, which precede the final response and never end
    /// the exchange (RFC 9110 section 15.2). 101 is not interim: it switches protocols.
    pub(crate) fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }

    /// Decides how the body is delimited, given the request method.
    pub(crate) fn framing(&self, method: Method) -> Result<Framing, HeadError> {
        // RFC 9112 section 6.3, rules 1 and 2: these responses never have a body,
        // whatever their headers say.
        match (method, self.status) {
            (Method::Head, _) => return Ok(Framing::Empty),
            (_, 100..=199) | (_, 204) | (_, 304) => return Ok(Framing::Empty),
            _ => {}
        }
        // Rule 3: Transfer-Encoding wins over Content-Length. If chunked is not the final
        // coding, the body runs until the connection closes.
        if self.headers.contains("transfer-encoding") {
            let last = self
                .headers
                .get_all("transfer-encoding")
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .last();
            return Ok(match last {
                Some(t) if t.eq_ignore_ascii_case("chunked") => Framing::Chunked,
                _ => Framing::Eof,
            });
        }
        // Rule 5: Content-Length; several values (or a list) must all agree.
        let mut length: Option<u64> = None;
        for v in self.headers.get_all("content-length") {
            for part in v.split(',') {
                let part = part.trim();
                let n = parse_length(part).ok_or_else(|| {
                    HeadError::Malformed(format!("invalid Content-Length {part:?}"))
                })?;
                if length.is_some_and(|l| l != n) {
                    return Err(HeadError::Malformed(
                        "conflicting Content-Length values".into(),
                    ));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            // Rule 8: otherwise the body is delimited by the close.
            None => Framing::Eof,
        })
    }

    /// True if the connection can carry more requests after this response
    /// (RFC 9112 section 9.3): HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with
    /// `Connection: keep-alive`.
    pub(crate) fn keep_alive(&self) -> bool {
        // Both Transfer-Encoding and Content-Length: the framing is ambiguous (a smuggling
        // risk), so the connection must not be reused (RFC 9112 section 6.3, rule 3).
        if self.headers.contains("transfer-encoding") && self.headers.contains("content-length") {
            return false;
        }
        if self.http10 {
            self.headers.has_token("connection", "keep-alive")
        } else {
            !self.headers.has_token("connection", "close")
        }
    }
}

/// The parameters of a `Keep-Alive` response header (`timeout=N, max=M`; RFC 2068
/// section 19.7.1, still sent by Apache httpd): how long the server keeps an idle connection
/// open, and how many more requests it will take on this connection after this response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct KeepAliveParams {
    /// Idle timeout, in seconds.
    pub(crate) timeout_secs: Option<u64>,
    /// Requests the server still accepts on this connection after this response.
    pub(crate) max: Option<u64>,
}

impl ResponseHead {
    /// The `Keep-Alive` header's parameters. Unknown parameters and values that are not
    /// plain decimal numbers are ignored (the header is advisory).
    pub(crate) fn keep_alive_params(&self) -> KeepAliveParams {
        let mut p = KeepAliveParams::default();
        for part in self
            .headers
            .get_all("keep-alive")
            .flat_map(|v| v.split(','))
        {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            let Some(n) = parse_length(value) else {
                continue;
            };
            match name.trim() {
                n2 if n2.eq_ignore_ascii_case("timeout") => p.timeout_secs = Some(n),
                n2 if n2.eq_ignore_ascii_case("max") => p.max = Some(n),
                _ => {}
            }
        }
        p
    }
}

fn parse_length(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses response heads; keeps a scratch vector so that parsing allocates only the
/// header list itself.
pub(crate) struct ResponseParser {
    max_bytes: usize,
    max_headers: usize,
    /// Offsets (name start, name end, value start, value end) into the head.
    scratch: Vec<(usize, usize, usize, usize)>,
}

impl ResponseParser {
    pub(crate) fn new(max_bytes: usize, max_headers: usize) -> ResponseParser {
        ResponseParser {
            max_bytes,
            max_headers,
            scratch: Vec::new(),
        }
    }

    /// Parses one head from the front of `buf`, removing it. `Ok(None)`: incomplete, read
    /// more.
    pub(crate) fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<ResponseHead>, HeadError> {
        // Tolerate empty lines before a status line (RFC 9112 section 2.2).
        // Either form, in any mix, so the result does not depend on how the bytes arrived.
        loop {
            if buf.starts_with(b"\r\n") {
                let _ = buf.split_to(2);
            } else if buf.first() == Some(&b'\n') {
                let _ = buf.split_to(1);
            } else {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let mut storage;
        let mut small: [MaybeUninit<httparse::Header<'_>>; 32] = [MaybeUninit::uninit(); 32];
        let headers: &mut [MaybeUninit<httparse::Header<'_>>] = if self.max_headers <= 32 {
            &mut small[..self.max_headers]
        } else {
            storage = Vec::with_capacity(self.max_headers);
            storage.resize_with(self.max_headers, MaybeUninit::uninit);
            &mut storage[..]
        };
        let mut res = httparse::Response::new(&mut []);
        let status = httparse::ParserConfig::default()
            .allow_multiple_spaces_in_response_status_delimiters(true)
            // Only the first `max_bytes` are looked at: a head longer than that is too
            // large whatever comes after, however the bytes were split into reads, and
            // each call's work stays bounded.
            .parse_response_with_uninit_headers(
                &mut res,
                &buf[..buf.len().min(self.max_bytes)],
                headers,
            );
        let len = match status {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if buf.len() > self.max_bytes {
                    return Err(HeadError::TooLarge(self.max_bytes));
                }
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(HeadError::TooMany(self.max_headers));
            }
            Err(e) => return Err(HeadError::Malformed(format!("invalid response head: {e}"))),
        };
        if len > self.max_bytes {
            return Err(HeadError::TooLarge(self.max_bytes));
        }
        let base = buf.as_ptr() as usize;
        self.scratch.clear();
        for h in res.headers.iter() {
            let ns = h.name.as_ptr() as usize - base;
            let vs = h.value.as_ptr() as usize - base;
            self.scratch
                .push((ns, ns + h.name.len(), vs, vs + h.value.len()));
        }
        let status = res.code.unwrap_or(0);
        let http10 = res.version == Some(0);
        let reason: Box<str> = res.reason.unwrap_or("").into();
        if !(100..=999).contains(&status) {
            return Err(HeadError::Malformed(format!(
                "invalid status code {status}"
            )));
        }
        let head: Bytes = buf.split_to(len).freeze();
        let mut headers = Headers::with_capacity(self.scratch.len());
        for &(ns, ne, vs, ve) in &self.scratch {
            headers.push_raw(head.slice(ns..ne), head.slice(vs..ve));
        }
        Ok(Some(ResponseHead {
            status,
            reason,
            http10,
            headers,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testutil::for_every_split;

    /// Feeds `input` in the given pieces, parsing after each, and returns the first
    /// head or error.
    fn first_outcome(
        p: &mut ResponseParser,
        pieces: &[&[u8]],
    ) -> Option<Result<ResponseHead, HeadError>> {
        let mut buf = BytesMut::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            match p.parse(&mut buf) {
                Ok(None) => {}
                Ok(Some(h)) => return Some(Ok(h)),
                Err(e) => return Some(Err(e)),
            }
        }
        None
    }

    #[test]
    fn an_oversized_head_that_is_also_invalid_later_is_too_large_however_it_is_split() {
        let mut input = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        input.extend_from_slice(&[b'a'; 100]);
        input.extend_from_slice(b"\r\nbad header line\r\n\r\n");
        for_every_split(&input, |pieces| {
            let mut p = ResponseParser::new(64, 16);
            match first_outcome(&mut p, pieces) {
                Some(Err(HeadError::TooLarge(64))) => {}
                other => panic!("expected TooLarge(64), got {other:?}"),
            }
        });
    }

    #[test]
    fn blank_lines_of_both_kinds_before_a_head_do_not_count_against_the_limit() {
        let mut input = b"\n\r\n".repeat(40);
        input.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
        for_every_split(&input, |pieces| {
            let mut p = ResponseParser::new(64, 16);
            match first_outcome(&mut p, pieces) {
                Some(Ok(head)) => assert_eq!(head.status, 204),
                other => panic!("expected the 204 head, got {other:?}"),
            }
        });
    }

    #[test]
    fn parses_a_head_split_at_every_offset() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc";
        for_every_split(input, |pieces| {
            let mut p = ResponseParser::new(1024, 16);
            let mut buf = BytesMut::new();
            let mut head = None;
            for piece in pieces {
                buf.extend_from_slice(piece);
                if head.is_none() {
                    head = p.parse(&mut buf).unwrap();
                }
            }
            let head = head.expect("complete head");
            assert_eq!(head.status, 200);
            assert_eq!(&*head.reason, "OK");
            assert!(!head.http10);
            assert_eq!(head.headers.get_all("x-a").collect::<Vec<_>>(), ["1", "2"]);
            assert_eq!(head.framing(Method::Get), Ok(Framing::Length(3)));
            assert_eq!(&buf[..], b"abc");
        });
    }

    #[test]
    fn rejects_garbage_as_malformed() {
        let mut p = ResponseParser::new(1024, 16);
        let mut buf = BytesMut::from(&b"SSH-2.0-OpenSSH\r\n\r\n"[..]);
        assert!(matches!(p.parse(&mut buf), Err(HeadError::Malformed(_))));
        let mut buf = BytesMut::from(&b"HTTP/1.1 2000 OK\r\n\r\n"[..]);
        assert!(matches!(p.parse(&mut buf), Err(HeadError::Malformed(_))));
    }

    #[test]
    fn enforces_size_and_count_limits() {
        let mut p = ResponseParser::new(64, 2);
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"[..]);
        assert_eq!(p.parse(&mut buf).unwrap_err(), HeadError::TooMany(2));
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nA: "[..]);
        buf.extend_from_slice(&[b'x'; 100]);
        assert_eq!(p.parse(&mut buf).unwrap_err(), HeadError::TooLarge(64));
        // Over 32 headers uses the heap scratch path.
        let mut p = ResponseParser::new(4096, 40);
        let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..40 {
            raw.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let head = p.parse(&mut BytesMut::from(&raw[..])).unwrap().unwrap();
        assert_eq!(head.headers.len(), 40);
    }

    #[test]
    fn framing_follows_rfc_9112_section_6_3() {
        let head = |raw: &[u8]| {
            ResponseParser::new(1024, 16)
                .parse(&mut BytesMut::from(raw))
                .unwrap()
                .unwrap()
        };
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing(Method::Head), Ok(Framing::Empty));
        for s in [
            b"204 No Content".as_slice(),
            b"304 Not Modified",
            b"100 Continue",
        ] {
            let mut raw = b"HTTP/1.1 ".to_vec();
            raw.extend_from_slice(s);
            raw.extend_from_slice(b"\r\nContent-Length: 5\r\n\r\n");
            assert_eq!(head(&raw).framing(Method::Get), Ok(Framing::Empty));
        }
        let h = head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!(h.framing(Method::Get), Ok(Framing::Chunked));
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!(h.framing(Method::Get), Ok(Framing::Eof));
        let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.framing(Method::Get), Ok(Framing::Eof));
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(h.framing(Method::Get), Ok(Framing::Length(5)));
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
        assert!(h.framing(Method::Get).is_err());
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
        assert!(h.framing(Method::Get).is_err());
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert!(h.framing(Method::Get).is_err());
    }

    #[test]
    fn keep_alive_follows_rfc_9112_section_9_3() {
        let head = |raw: &[u8]| {
            ResponseParser::new(1024, 16)
                .parse(&mut BytesMut::from(raw))
                .unwrap()
                .unwrap()
        };
        assert!(head(b"HTTP/1.1 200 OK\r\n\r\n").keep_alive());
        assert!(!head(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n").keep_alive());
        assert!(!head(b"HTTP/1.0 200 OK\r\n\r\n").keep_alive());
        assert!(head(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
        assert!(!head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        )
        .keep_alive());
        assert!(head(b"HTTP/1.1 100 Continue\r\n\r\n").is_interim());
        assert!(!head(b"HTTP/1.1 101 Switching\r\n\r\n").is_interim());
    }

    #[test]
    fn reads_keep_alive_timeout_and_max() {
        let head = |raw: &[u8]| {
            ResponseParser::new(1024, 16)
                .parse(&mut BytesMut::from(raw))
                .unwrap()
                .unwrap()
        };
        let h = head(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5, max=99\r\n\r\n");
        assert_eq!(
            h.keep_alive_params(),
            KeepAliveParams {
                timeout_secs: Some(5),
                max: Some(99)
            }
        );
        let h = head(b"HTTP/1.1 200 OK\r\nkeep-alive: MAX = 0\r\n\r\n");
        assert_eq!(h.keep_alive_params().max, Some(0));
        assert_eq!(h.keep_alive_params().timeout_secs, None);
        let h = head(b"HTTP/1.1 200 OK\r\nKeep-Alive: timeout=-1, max=x, foo\r\n\r\n");
        assert_eq!(h.keep_alive_params(), KeepAliveParams::default());
        let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(h.keep_alive_params(), KeepAliveParams::default());
    }

    #[test]
    fn skips_empty_lines_before_the_status_line() {
        let mut buf = BytesMut::from(&b"\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"[..]);
        let h = ResponseParser::new(1024, 16)
            .parse(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 204);
        assert!(buf.is_empty());
    }
}
