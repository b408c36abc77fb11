//! Test helpers for the codec.

/// Runs `case` with `input` cut into two pieces at every byte offset, then once more with
/// every byte in its own piece.
pub(crate) fn for_every_split(input: &[u8], mut case: impl FnMut(&[&[u8]])) {
    for i in 0..=input.len() {
        let (a, b) = input.split_at(i);
        case(&[a, b]);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    case(&bytes);
}
