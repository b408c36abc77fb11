//! Harnesses of the fuzz targets.
//!
//! The response codec is reached through http1-pipeline's hidden `fuzzing` module (cargo
//! feature `fuzzing`, off by default), which runs the crate's own head parser and body
//! decoders over a byte stream as a connection task does.

pub use http1_pipeline::fuzzing::{transcript, Event};
use http1_pipeline::Method;

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
