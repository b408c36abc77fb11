//! Sans-I/O HTTP/1.1 codec: response head parsing, body decoding and request head
//! encoding. Nothing here does I/O or knows about tokio; everything works on `BytesMut`
//! and is tested on in-memory bytes split at every byte offset.

pub(crate) mod decode;
pub(crate) mod encode;
pub(crate) mod parse;

#[cfg(test)]
pub(crate) mod testutil;

pub(crate) use decode::{Decoded, Decoder};
pub(crate) use parse::{Framing, ResponseHead, ResponseParser};

#[cfg(test)]
mod no_panic {
    use bytes::BytesMut;

    use super::*;
    use crate::Method;

    /// Feeds pseudo-random byte strings (biased towards HTTP syntax) to the parser and
    /// the decoders, as the connection does: nothing may panic or loop forever.
    #[test]
    fn random_input_never_panics_the_codec() {
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let alphabet = b"HTTP/1.0 2004\r\n:;Content-Length: 12\r\nTransfer-Encoding: chunked\r\n0aF \t\x00\xff";
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut buf = BytesMut::new();
            if next() % 2 == 0 {
                buf.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
            }
            for _ in 0..len {
                buf.extend_from_slice(&[alphabet[(next() % alphabet.len() as u64) as usize]]);
            }
            let mut parser = ResponseParser::new(512, 8);
            let Ok(Some(head)) = parser.parse(&mut buf) else {
                continue;
            };
            let _ = head.keep_alive();
            let mut decoder = match head.framing(Method::Get) {
                Ok(Framing::Length(n)) => Decoder::length(n),
                Ok(Framing::Chunked) => Decoder::chunked(),
                Ok(Framing::Eof) => Decoder::eof(),
                Ok(Framing::Empty) | Err(_) => continue,
            };
            for _ in 0..1000 {
                match decoder.decode(&mut buf) {
                    Ok(Decoded::Data(_)) => {}
                    Ok(Decoded::NeedMore) | Ok(Decoded::End) | Err(_) => break,
                }
            }
        }
    }
}
