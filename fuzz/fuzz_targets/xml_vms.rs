//! The generated XML reader of a `<vms>` list document on arbitrary bytes: never panics;
//! what it reads, the list writer writes back to a document that reads to the same list.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ovirt_fuzz::xml_list_document::<ovirt::types::Vm>(data);
});
