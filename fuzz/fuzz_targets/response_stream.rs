//! http1-pipeline's response head parser and body decoders on an arbitrary byte stream, fed
//! whole and in random pieces: never panics, never loops, and reads the same responses
//! either way.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ovirt_fuzz::response_stream(data);
});
