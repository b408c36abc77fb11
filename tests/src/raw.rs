//! A raw HTTP/1.1 exchange for tests of servers: write requests back to back on one
//! plain TCP connection, read until the server closes, split what came back into
//! responses. It shows exactly what a server does with a pipelined connection (how many
//! requests it answers, which headers it announces its limits with, when it closes),
//! with no client library's interpretation in between.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// One response as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked when it was chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a `Connection` header names `token` (case-insensitive).
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// What a pipelined exchange returned.
#[derive(Debug, Clone)]
pub struct RawExchange {
    /// The complete responses, in order.
    pub responses: Vec<RawResponse>,
    /// Bytes after the last complete response (a cut response), if any.
    pub trailing: Vec<u8>,
    /// Whether the server closed the connection (rather than the read timing out).
    pub closed: bool,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Parses one response at the start of `buf`: the response and its length, or `None`
/// when it is not complete.
fn parse_one(buf: &[u8]) -> io::Result<Option<(RawResponse, usize)>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(format!("unparsable response head: {e}"))),
    };
    let status = r.code.unwrap_or(0);
    let version = format!("HTTP/1.{}", r.version.unwrap_or(1));
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut response = RawResponse {
        status,
        version,
        headers: headers.clone(),
        body: Vec::new(),
    };
    let rest = &buf[head..];
    if status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(Some((response, head)));
    }
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut at = 0;
        loop {
            let Some(eol) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size_text = String::from_utf8_lossy(&rest[at..at + eol]).to_string();
            let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
            at += eol + 2;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    let Some(eol) = rest[at..].windows(2).position(|w| w == b"\r\n") else {
                        return Ok(None);
                    };
                    at += eol + 2;
                    if eol == 0 {
                        return Ok(Some((response, head + at)));
                    }
                }
            }
            if rest.len() < at + size + 2 {
                return Ok(None);
            }
            response.body.extend_from_slice(&rest[at..at + size]);
            at += size + 2;
        }
    }
    let len = match get("content-length") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| invalid(format!("bad Content-Length {v:?}")))?,
        None => return Ok(None), // until close: never complete here
    };
    if rest.len() < len {
        return Ok(None);
    }
    response.body.extend_from_slice(&rest[..len]);
    Ok(Some((response, head + len)))
}

/// Splits `buf` into complete responses and the bytes left over.
pub fn split_responses(buf: &[u8]) -> io::Result<(Vec<RawResponse>, Vec<u8>)> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < buf.len() {
        match parse_one(&buf[at..])? {
            Some((r, n)) => {
                out.push(r);
                at += n;
            }
            None => break,
        }
    }
    Ok((out, buf[at..].to_vec()))
}

/// Writes `requests` back to back in one write on a new connection to `addr`, then reads
/// until the server closes the connection or nothing arrives for `quiet`.
pub fn pipeline(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    quiet: Duration,
) -> io::Result<RawExchange> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(quiet))?;
    let all: Vec<u8> = requests.concat();
    s.write_all(&all)?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let closed = loop {
        match s.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break true,
            Err(e) => return Err(e),
        }
    };
    let (responses, trailing) = split_responses(&buf)?;
    Ok(RawExchange {
        responses,
        trailing,
        closed,
    })
}

/// A `GET` of `target` with these extra header lines (`"Name: value"`).
pub fn get(target: &str, headers: &[&str]) -> Vec<u8> {
    let mut s = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for h in headers {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_length_and_chunked_responses_and_keeps_a_cut_one() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n1\r\nd\r\n0\r\nT: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncut";
        let (rs, rest) = split_responses(wire).unwrap();
        assert_eq!(rs.len(), 3);
        assert_eq!(rs[0].body, b"hi");
        assert_eq!(rs[1].body, b"abcd");
        assert_eq!(rs[2].status, 204);
        assert!(rest.ends_with(b"cut"));
        assert!(split_responses(b"SSH-2.0\r\n\r\n").is_err());
    }
}
