//! Request head encoding.

use bytes::{BufMut, BytesMut};

use crate::{Headers, Method};

/// Headers the client writes itself; copies set by the caller are dropped.
const OWNED_BY_CLIENT: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

/// What goes into every request head of a client.
pub(crate) struct HeadTemplate<'a> {
    /// `Host` value.
    pub(crate) authority: &'a str,
    /// For requests through a plain HTTP proxy: `http://authority`, prepended to the path
    /// (absolute form, RFC 9112 section 3.2.2).
    pub(crate) absolute_prefix: Option<&'a str>,
    /// Headers added unless the request sets the same name.
    pub(crate) defaults: &'a Headers,
    /// Send `Accept-Encoding: gzip` unless the request sets `Accept-Encoding`.
    pub(crate) gzip: bool,
    /// `Proxy-Authorization` value for a plain HTTP proxy.
    pub(crate) proxy_authorization: Option<&'a str>,
}

/// How a request's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// `Content-Length: n` (omitted for an empty body, except for the methods that always
    /// send it).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Writes a request head into `dst`. Returns true if `Accept-Encoding: gzip` was added by
/// the client (so the response should be decoded transparently).
pub(crate) fn encode_head(
    dst: &mut BytesMut,
    t: &HeadTemplate<'_>,
    method: Method,
    path: &str,
    headers: &Headers,
    body: BodyFraming,
) -> bool {
    dst.reserve(64 + path.len() + t.authority.len() + 32 * (headers.len() + t.defaults.len()));
    dst.put_slice(method.as_str().as_bytes());
    dst.put_u8(b' ');
    if let Some(prefix) = t.absolute_prefix {
        dst.put_slice(prefix.as_bytes());
    }
    dst.put_slice(path.as_bytes());
    dst.put_slice(b" HTTP/1.1\r\nHost: ");
    dst.put_slice(t.authority.as_bytes());
    dst.put_slice(b"\r\n");
    for (n, v) in t.defaults.iter() {
        if !headers.contains(n) && !is_owned(n) {
            put_header(dst, n, v);
        }
    }
    for (n, v) in headers.iter() {
        if !is_owned(n) {
            put_header(dst, n, v);
        }
    }
    let chosen = headers.contains("accept-encoding") || t.defaults.contains("accept-encoding");
    // A range of a gzip body could not be decoded on its own: a range request asks for
    // the bytes as stored.
    let ranged = headers.contains("range");
    let add_gzip = t.gzip && !chosen && !ranged;
    if add_gzip {
        dst.put_slice(b"Accept-Encoding: gzip\r\n");
    } else if ranged && !chosen {
        dst.put_slice(b"Accept-Encoding: identity\r\n");
    }
    if let Some(auth) = t.proxy_authorization {
        put_header(dst, "Proxy-Authorization", auth);
    }
    // Asks for a persistent connection explicitly: HTTP/1.1 implies it, but Apache httpd
    // announces its `Keep-Alive: timeout=, max=` budget only to requests that say so.
    dst.put_slice(b"Connection: keep-alive\r\n");
    match body {
        BodyFraming::Length(n) if n > 0 || method.always_sends_length() => {
            dst.put_slice(b"Content-Length: ");
            put_decimal(dst, n);
            dst.put_slice(b"\r\n");
        }
        BodyFraming::Length(_) => {}
        BodyFraming::Chunked => dst.put_slice(b"Transfer-Encoding: chunked\r\n"),
    }
    dst.put_slice(b"\r\n");
    add_gzip
}

fn is_owned(name: &str) -> bool {
    OWNED_BY_CLIENT.iter().any(|o| o.eq_ignore_ascii_case(name))
}

fn put_header(dst: &mut BytesMut, name: &str, value: &str) {
    dst.put_slice(name.as_bytes());
    dst.put_slice(b": ");
    dst.put_slice(value.as_bytes());
    dst.put_slice(b"\r\n");
}

fn put_decimal(dst: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    dst.put_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template<'a>(defaults: &'a Headers) -> HeadTemplate<'a> {
        HeadTemplate {
            authority: "example.com:8080",
            absolute_prefix: None,
            defaults,
            gzip: true,
            proxy_authorization: None,
        }
    }

    #[test]
    fn writes_host_defaults_gzip_and_length() {
        let defaults: Headers = [("User-Agent", "t/1"), ("Accept", "a/b")]
            .into_iter()
            .collect();
        let req: Headers = [
            ("Accept", "x/y"),
            ("Content-Length", "99"),
            ("Host", "evil"),
        ]
        .into_iter()
        .collect();
        let mut out = BytesMut::new();
        let gz = encode_head(
            &mut out,
            &template(&defaults),
            Method::Put,
            "/a?b=1",
            &req,
            BodyFraming::Length(12),
        );
        assert!(gz);
        assert_eq!(
            &out[..],
            &b"PUT /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t/1\r\nAccept: x/y\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\nContent-Length: 12\r\n\r\n"[..]
        );
    }

    #[test]
    fn post_without_body_sends_zero_length_and_get_sends_none() {
        let defaults = Headers::new();
        let mut t = template(&defaults);
        t.gzip = false;
        let mut out = BytesMut::new();
        encode_head(
            &mut out,
            &t,
            Method::Post,
            "/x",
            &Headers::new(),
            BodyFraming::Length(0),
        );
        assert!(out.ends_with(b"Content-Length: 0\r\n\r\n"));
        out.clear();
        encode_head(
            &mut out,
            &t,
            Method::Get,
            "/x",
            &Headers::new(),
            BodyFraming::Length(0),
        );
        assert!(!out.windows(14).any(|w| w == b"Content-Length"));
        out.clear();
        encode_head(
            &mut out,
            &t,
            Method::Get,
            "/x",
            &Headers::new(),
            BodyFraming::Length(1234567890),
        );
        assert!(out.ends_with(b"Content-Length: 1234567890\r\n\r\n"));
    }

    #[test]
    fn a_range_request_asks_for_the_identity_encoding() {
        let defaults = Headers::new();
        let t = template(&defaults);
        let req: Headers = [("Range", "bytes=0-9")].into_iter().collect();
        let mut out = BytesMut::new();
        let gz = encode_head(
            &mut out,
            &t,
            Method::Get,
            "/x",
            &req,
            BodyFraming::Length(0),
        );
        assert!(!gz);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains("Accept-Encoding: identity\r\n"), "{s}");
        assert!(!s.contains("gzip"), "{s}");
        // The caller's own choice stands.
        let req: Headers = [("Range", "bytes=0-9"), ("Accept-Encoding", "br")]
            .into_iter()
            .collect();
        out.clear();
        encode_head(
            &mut out,
            &t,
            Method::Get,
            "/x",
            &req,
            BodyFraming::Length(0),
        );
        let s = std::str::from_utf8(&out).unwrap();
        assert!(
            s.contains("Accept-Encoding: br\r\n") && !s.contains("identity"),
            "{s}"
        );
    }

    #[test]
    fn a_chunked_body_sends_transfer_encoding_and_no_length() {
        let defaults = Headers::new();
        let mut t = template(&defaults);
        t.gzip = false;
        let req: Headers = [("Transfer-Encoding", "gzip"), ("Content-Length", "5")]
            .into_iter()
            .collect();
        let mut out = BytesMut::new();
        encode_head(&mut out, &t, Method::Put, "/x", &req, BodyFraming::Chunked);
        assert_eq!(
            &out[..],
            &b"PUT /x HTTP/1.1\r\nHost: example.com:8080\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"[..]
        );
    }

    #[test]
    fn proxy_requests_use_absolute_form_and_proxy_authorization() {
        let defaults = Headers::new();
        let mut t = template(&defaults);
        t.absolute_prefix = Some("http://example.com:8080");
        t.proxy_authorization = Some("Basic dTpw");
        let req: Headers = [("Accept-Encoding", "identity")].into_iter().collect();
        let mut out = BytesMut::new();
        let gz = encode_head(
            &mut out,
            &t,
            Method::Get,
            "/x",
            &req,
            BodyFraming::Length(0),
        );
        assert!(!gz);
        let s = std::str::from_utf8(&out).unwrap();
        assert!(
            s.starts_with("GET http://example.com:8080/x HTTP/1.1\r\n"),
            "{s}"
        );
        assert!(s.contains("Proxy-Authorization: Basic dTpw\r\n"));
        assert!(!s.contains("gzip"));
    }
}
