//! Harnesses of the fuzz targets.
//!
//! http1-pipeline keeps its sans-I/O codec private and exposes no parsing entry point, so
//! this crate compiles the codec's own source files (`src/proto/parse.rs`,
//! `src/proto/decode.rs` and the `Headers` and `Method` types they use) into a module of
//! its own with `#[path]`: the fuzzer runs exactly http1-pipeline's code without any
//! addition to http1-pipeline's API.

#![allow(clippy::all)]

#[allow(dead_code, unused_imports)]
#[path = "../../pipeline-core/src/headers.rs"]
mod headers;
#[allow(dead_code, unused_imports)]
#[path = "../../pipeline-core/src/method.rs"]
mod method;

pub use headers::Headers;
pub use method::Method;

/// http1-pipeline's codec (its `src/proto/` files).
#[allow(dead_code, unused_imports)]
mod proto {
    pub(crate) use super::{decode, parse};
}
#[allow(dead_code, unused_imports)]
#[path = "../../pipeline-core/src/proto/decode.rs"]
mod decode;
#[allow(dead_code, unused_imports)]
#[path = "../../pipeline-core/src/proto/parse.rs"]
mod parse;

use bytes::BytesMut;
use proto::decode::{Decoded, Decoder};
use proto::parse::{Framing, HeadError, ResponseParser};

/// What the connection would have seen, independent of how the bytes were split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An interim (1xx) head.
    Interim(u16),
    /// A final head: status, headers, framing.
    Head(u16, Vec<(String, String)>, String),
    /// A complete body (all its decoded bytes).
    Body(Vec<u8>),
    /// The response said the connection ends after it.
    Close,
    /// A head error. Its kind is not compared: http1-pipeline reports a head that is both
    /// over `max_header_bytes` and invalid further on as malformed when it sees it whole,
    /// and as too large when it arrives in pieces (reported to the maintainers; found by
    /// this target).
    HeadError,
    /// A framing error (for example conflicting `Content-Length`).
    FramingError,
    /// A body decoding error.
    DecodeError(&'static str),
    /// The stream ended in the middle of a body that needs an explicit end.
    EofMidBody(usize),
    /// The stream ended between responses (or mid-head); true if unused bytes other than
    /// blank lines (which the parser skips, whether it sees them whole or in pieces) were
    /// left.
    EofBetween(bool),
}

enum State {
    Head,
    Body {
        decoder: Decoder,
        body: Vec<u8>,
        keep_alive: bool,
        expected: Option<u64>,
    },
    Done,
}

/// Runs http1-pipeline's parser and decoders over `pieces` as its connection task does
/// (parse a head, decode its body, the next head follows in the same buffer) and returns
/// what happened. Panics if a decoder makes no progress or breaks its framing.
pub fn transcript(
    pieces: &[&[u8]],
    method: Method,
    max_bytes: usize,
    max_headers: usize,
) -> Vec<Event> {
    let mut parser = ResponseParser::new(max_bytes, max_headers);
    let mut buf = BytesMut::new();
    let mut events = Vec::new();
    let mut state = State::Head;
    for piece in pieces {
        buf.extend_from_slice(piece);
        let mut idle_steps = 0;
        loop {
            match &mut state {
                State::Done => return events,
                State::Head => {
                    if buf.is_empty() {
                        break;
                    }
                    let head = match parser.parse(&mut buf) {
                        Ok(Some(h)) => h,
                        Ok(None) => break,
                        Err(
                            HeadError::Malformed(_)
                            | HeadError::TooLarge(_)
                            | HeadError::TooMany(_),
                        ) => {
                            events.push(Event::HeadError);
                            return events;
                        }
                    };
                    assert!((100..=999).contains(&head.status), "status {}", head.status);
                    if head.status == 101 {
                        events.push(Event::HeadError);
                        return events;
                    }
                    if head.is_interim() {
                        events.push(Event::Interim(head.status));
                        continue;
                    }
                    let framing = match head.framing(method) {
                        Ok(f) => f,
                        Err(_) => {
                            events.push(Event::FramingError);
                            return events;
                        }
                    };
                    let keep_alive = head.keep_alive() && framing != Framing::Eof;
                    events.push(Event::Head(
                        head.status,
                        head.headers
                            .iter()
                            .map(|(n, v)| (n.to_string(), v.to_string()))
                            .collect(),
                        format!("{framing:?}"),
                    ));
                    let (decoder, expected) = match framing {
                        Framing::Empty => {
                            events.push(Event::Body(Vec::new()));
                            if keep_alive {
                                continue;
                            }
                            events.push(Event::Close);
                            return events;
                        }
                        Framing::Length(n) => (Decoder::length(n), Some(n)),
                        Framing::Chunked => (Decoder::chunked(), None),
                        Framing::Eof => (Decoder::eof(), None),
                    };
                    state = State::Body {
                        decoder,
                        body: Vec::new(),
                        keep_alive,
                        expected,
                    };
                }
                State::Body {
                    decoder,
                    body,
                    keep_alive,
                    expected,
                } => match decoder.decode(&mut buf) {
                    Err(e) => {
                        events.push(Event::DecodeError(e.0));
                        return events;
                    }
                    Ok(Decoded::NeedMore) => break,
                    Ok(Decoded::Data(b)) => {
                        if b.is_empty() {
                            idle_steps += 1;
                            assert!(idle_steps < 10_000, "the decoder makes no progress");
                        } else {
                            idle_steps = 0;
                        }
                        body.extend_from_slice(&b);
                        if let Some(n) = expected {
                            assert!(body.len() as u64 <= *n, "more body than Content-Length");
                        }
                    }
                    Ok(Decoded::End) => {
                        if let Some(n) = expected {
                            assert_eq!(body.len() as u64, *n, "body shorter than Content-Length");
                        }
                        events.push(Event::Body(std::mem::take(body)));
                        if *keep_alive {
                            state = State::Head;
                        } else {
                            events.push(Event::Close);
                            state = State::Done;
                        }
                    }
                },
            }
        }
    }
    match &mut state {
        State::Body { decoder, body, .. } if decoder.ends_at_eof() => {
            let _ = decoder.decode(&mut buf);
            events.push(Event::Body(std::mem::take(body)));
            events.push(Event::Close);
        }
        State::Body { body, .. } => events.push(Event::EofMidBody(body.len())),
        State::Head => events.push(Event::EofBetween(
            buf.iter().any(|&b| b != b'\r' && b != b'\n'),
        )),
        State::Done => {}
    }
    events
}

/// A small xorshift generator for split points.
struct Split(u64);

impl Split {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Splits `input` into pieces of 1 to `max` bytes (every byte alone when `max` is 1).
pub fn split_points(input: &[u8], seed: u64, max: usize) -> Vec<&[u8]> {
    let mut rng = Split(seed | 1);
    let mut pieces = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let n = (1 + (rng.next() % max.max(1) as u64) as usize).min(rest.len());
        pieces.push(&rest[..n]);
        rest = &rest[n..];
    }
    pieces
}

/// Fuzz entry of the response codec. `data[0]`: request method and limits; `data[1]`:
/// split seed and largest piece; the rest: the bytes from the server.
pub fn response_stream(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let (flags, seed, input) = (data[0], data[1], &data[2..]);
    let method = if flags & 1 == 1 {
        Method::Head
    } else {
        Method::Get
    };
    let (max_bytes, max_headers) = if flags & 2 == 2 {
        (256, 4)
    } else {
        (64 * 1024, 100)
    };
    let whole = transcript(&[input], method, max_bytes, max_headers);
    let max_piece = if seed & 0xF0 == 0 {
        1
    } else {
        usize::from(seed >> 4) * 3
    };
    let pieces = split_points(input, u64::from(seed) + 1, max_piece);
    let split = transcript(&pieces, method, max_bytes, max_headers);
    assert_eq!(
        whole,
        split,
        "the same bytes read differently when split into {} pieces",
        pieces.len()
    );
}

/// Fuzz entry of a generated XML reader: arbitrary bytes never panic it; a value it reads
/// is written and read back to the same value.
pub fn xml_document<T>(data: &[u8])
where
    T: ovirt::xml::FromXml + ovirt::xml::ToXml + ovirt::xml::XmlType + std::fmt::Debug,
{
    let Ok(value) = ovirt::xml::from_slice::<T>(data) else {
        return;
    };
    let text = ovirt::xml::to_string(&value);
    let back: T = ovirt::xml::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot read what the writer wrote: {e}\n{text}"));
    // Debug text compares NaN equal to NaN.
    assert_eq!(format!("{back:?}"), format!("{value:?}"), "\n{text}");
}

/// Fuzz entry of a list document reader (`<vms>`), as [`xml_document`].
pub fn xml_list_document<T>(data: &[u8])
where
    T: ovirt::xml::FromXml + ovirt::xml::ToXml + ovirt::xml::XmlType + std::fmt::Debug,
{
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(items) = ovirt::xml::from_str_list::<T>(text) else {
        return;
    };
    let written = ovirt::xml::to_string_list(&items);
    let back: Vec<T> = ovirt::xml::from_str_list(&written)
        .unwrap_or_else(|e| panic!("cannot read what the writer wrote: {e}\n{written}"));
    assert_eq!(format!("{back:?}"), format!("{items:?}"), "\n{written}");
}
