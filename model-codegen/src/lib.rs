//! Generates Rust code from an API model.
#![deny(missing_docs)]
