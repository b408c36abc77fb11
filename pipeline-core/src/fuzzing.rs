//! Entry point for fuzzing, behind the `fuzzing` cargo feature (off by default) and hidden
//! from the documentation: not part of the supported API, and it may change in any release.
//!
//! [`transcript`] drives the sans-I/O response codec (head parser and body decoders) over a
//! byte stream the way a connection task does, so a fuzzer (the repository's `fuzz/`
//! crate) can feed it arbitrary bytes, whole or in pieces, and compare what it read.
#![doc(hidden)]

use bytes::BytesMut;

use crate::proto::decode::{Decoded, Decoder};
use crate::proto::parse::{Framing, HeadError, ResponseParser};
use crate::Method;

/// What the connection would have seen, independent of how the bytes were split.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An interim (1xx) head.
    Interim(u16),
    /// A final head: status, headers, framing.
    Head(u16, Vec<(String, String)>, String),
    /// A complete body (all its decoded bytes).
    Body(Vec<u8>),
    /// The response said the connection ends after it.
    Close,
    /// A head error. Its kind is not kept: a head that is both over `max_header_bytes`
    /// and invalid further on is reported as malformed when it is seen whole, and as too
    /// large when it arrives in pieces (found by the `response_stream` fuzz target).
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

/// Runs the response parser and body decoders over `pieces` as a connection task does
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
