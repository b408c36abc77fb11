//! Body decoders: `Content-Length`, chunked (a byte-at-a-time state machine) and
//! close-delimited.

use bytes::{Buf, Bytes, BytesMut};

/// What one decoding step produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Some body bytes.
    Data(Bytes),
    /// The buffer holds no more body bytes: read more from the socket.
    NeedMore,
    /// The body is complete; what follows in the buffer belongs to the next response.
    End,
}

/// The decoder's view of a malformed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// The chunked decoder's states (RFC 9112 section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading the hexadecimal chunk size.
    Size,
    /// Whitespace after the size (tolerated).
    SizeWs,
    /// A chunk extension: ignored up to the CR.
    Extension,
    /// Expecting the LF that ends the size line.
    SizeLf,
    /// Chunk data; the count says how many bytes remain.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// Inside a trailer field line (ignored).
    TrailerLine,
    /// Expecting the LF that ends a trailer line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    EndLf,
    /// Done.
    End,
}

/// Decodes one response body from a buffer that may hold more (pipelined responses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// `Content-Length`: bytes still to come.
    Length(u64),
    /// Chunked: the state and the bytes left in the current size or chunk.
    Chunked { state: Chunk, size: u64, digits: u8 },
    /// Until end of stream.
    Eof,
}

impl Decoder {
    pub(crate) fn length(n: u64) -> Decoder {
        Decoder::Length(n)
    }

    pub(crate) fn chunked() -> Decoder {
        Decoder::Chunked {
            state: Chunk::Size,
            size: 0,
            digits: 0,
        }
    }

    pub(crate) fn eof() -> Decoder {
        Decoder::Eof
    }

    /// True if the end of stream is a valid end of this body.
    pub(crate) fn ends_at_eof(&self) -> bool {
        matches!(self, Decoder::Eof | Decoder::Length(0))
    }

    /// Takes the next piece of body from the front of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        match self {
            Decoder::Length(0) => Ok(Decoded::End),
            Decoder::Length(rest) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = (*rest).min(buf.len() as u64) as usize;
                *rest -= n as u64;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Decoder::Eof => {
                if buf.is_empty() {
                    Ok(Decoded::NeedMore)
                } else {
                    Ok(Decoded::Data(buf.split().freeze()))
                }
            }
            Decoder::Chunked {
                state,
                size,
                digits,
            } => decode_chunked(state, size, digits, buf),
        }
    }
}

fn decode_chunked(
    state: &mut Chunk,
    size: &mut u64,
    digits: &mut u8,
    buf: &mut BytesMut,
) -> Result<Decoded, DecodeError> {
    loop {
        if *state == Chunk::End {
            return Ok(Decoded::End);
        }
        if *state == Chunk::Data {
            if buf.is_empty() {
                return Ok(Decoded::NeedMore);
            }
            let n = (*size).min(buf.len() as u64) as usize;
            *size -= n as u64;
            if *size == 0 {
                *state = Chunk::DataCr;
            }
            return Ok(Decoded::Data(buf.split_to(n).freeze()));
        }
        let Some(&b) = buf.first() else {
            return Ok(Decoded::NeedMore);
        };
        buf.advance(1);
        *state = step(*state, b, size, digits)?;
    }
}

/// One byte of the chunked framing outside chunk data.
fn step(state: Chunk, b: u8, size: &mut u64, digits: &mut u8) -> Result<Chunk, DecodeError> {
    let next = match state {
        Chunk::Size => match hex(b) {
            Some(d) => {
                if *digits >= 16 {
                    return Err(DecodeError("chunk size too large"));
                }
                *digits += 1;
                *size = *size * 16 + d;
                Chunk::Size
            }
            None if *digits == 0 => return Err(DecodeError("invalid chunk size")),
            None => after_size(b)?,
        },
        Chunk::SizeWs => after_size(b)?,
        Chunk::Extension => match b {
            b'\r' => Chunk::SizeLf,
            b'\n' => return Err(DecodeError("bare LF in chunk extension")),
            _ => Chunk::Extension,
        },
        Chunk::SizeLf => {
            if b != b'\n' {
                return Err(DecodeError("expected LF after chunk size"));
            }
            *digits = 0;
            if *size == 0 {
                Chunk::TrailerStart
            } else {
                Chunk::Data
            }
        }
        Chunk::DataCr => {
            if b != b'\r' {
                return Err(DecodeError("expected CRLF after chunk data"));
            }
            Chunk::DataLf
        }
        Chunk::DataLf => {
            if b != b'\n' {
                return Err(DecodeError("expected CRLF after chunk data"));
            }
            Chunk::Size
        }
        Chunk::TrailerStart => match b {
            b'\r' => Chunk::EndLf,
            b'\n' => return Err(DecodeError("bare LF in trailer section")),
            _ => Chunk::TrailerLine,
        },
        Chunk::TrailerLine => match b {
            b'\r' => Chunk::TrailerLf,
            b'\n' => return Err(DecodeError("bare LF in trailer field")),
            _ => Chunk::TrailerLine,
        },
        Chunk::TrailerLf => {
            if b != b'\n' {
                return Err(DecodeError("expected LF after trailer field"));
            }
            Chunk::TrailerStart
        }
        Chunk::EndLf => {
            if b != b'\n' {
                return Err(DecodeError("expected LF at the end of the chunked body"));
            }
            Chunk::End
        }
        Chunk::Data | Chunk::End => state,
    };
    if next != state {
        tracing::trace!(from = ?state, to = ?next, "chunked: transition");
    }
    Ok(next)
}

fn after_size(b: u8) -> Result<Chunk, DecodeError> {
    match b {
        b' ' | b'\t' => Ok(Chunk::SizeWs),
        b';' => Ok(Chunk::Extension),
        b'\r' => Ok(Chunk::SizeLf),
        _ => Err(DecodeError("invalid character after chunk size")),
    }
}

fn hex(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some((b - b'0') as u64),
        b'a'..=b'f' => Some((b - b'a' + 10) as u64),
        b'A'..=b'F' => Some((b - b'A' + 10) as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::testutil::for_every_split;

    /// Feeds the pieces one by one; returns the body, whether it ended, and the leftover.
    fn run(mut d: Decoder, pieces: &[&[u8]]) -> Result<(Vec<u8>, bool, Vec<u8>), DecodeError> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut ended = false;
        for piece in pieces {
            buf.extend_from_slice(piece);
            if ended {
                continue;
            }
            loop {
                match d.decode(&mut buf)? {
                    Decoded::Data(b) => {
                        assert!(!b.is_empty(), "empty data chunk");
                        body.extend_from_slice(&b)
                    }
                    Decoded::NeedMore => break,
                    Decoded::End => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        Ok((body, ended, buf.to_vec()))
    }

    #[test]
    fn length_body_stops_at_its_length_at_every_split() {
        for_every_split(b"helloHTTP/1.1", |p| {
            let (body, ended, rest) = run(Decoder::length(5), p).unwrap();
            assert_eq!(body, b"hello");
            assert!(ended);
            assert_eq!(rest, b"HTTP/1.1");
        });
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers_at_every_split() {
        let input = b"5;name=value\r\nhello\r\n1A ; x\r\nabcdefghijklmnopqrstuvwxyz\r\n0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";
        for_every_split(input, |p| {
            let (body, ended, rest) = run(Decoder::chunked(), p).unwrap();
            assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
            assert!(ended);
            assert_eq!(rest, b"NEXT");
        });
    }

    #[test]
    fn chunked_body_without_trailers_at_every_split() {
        for_every_split(b"3\r\nabc\r\n0\r\n\r\n", |p| {
            let (body, ended, rest) = run(Decoder::chunked(), p).unwrap();
            assert_eq!(body, b"abc");
            assert!(ended);
            assert!(rest.is_empty());
        });
    }

    #[test]
    fn incomplete_chunked_body_needs_more() {
        let (body, ended, _) = run(Decoder::chunked(), &[b"3\r\nabc\r\n0\r\n"]).unwrap();
        assert_eq!(body, b"abc");
        assert!(!ended);
    }

    #[test]
    fn malformed_chunked_bodies_are_errors_at_every_split() {
        let cases: [&[u8]; 7] = [
            b"x\r\n",
            b"3\r\nabcX\r\n",
            b"3\nabc",
            b"3\r\nabc\r\n0\r\nbad\nx",
            b"11111111111111111\r\n",
            b"3 x\r\n",
            b"0\r\n\rX",
        ];
        for case in cases {
            for_every_split(case, |p| {
                assert!(run(Decoder::chunked(), p).is_err(), "{:?}", case);
            });
        }
    }

    #[test]
    fn eof_body_takes_everything() {
        for_every_split(b"all of it", |p| {
            let (body, ended, _) = run(Decoder::eof(), p).unwrap();
            assert_eq!(body, b"all of it");
            assert!(!ended);
        });
        assert!(Decoder::eof().ends_at_eof());
        assert!(!Decoder::length(3).ends_at_eof());
        assert!(!Decoder::chunked().ends_at_eof());
    }
}
