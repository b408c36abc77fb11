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
