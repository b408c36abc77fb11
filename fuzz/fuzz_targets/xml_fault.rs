//! The generated XML reader of `Fault` on arbitrary bytes: never panics; what it reads, its
//! writer writes back to a document that reads to the same value.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ovirt_fuzz::xml_document::<ovirt::types::Fault>(data);
});
