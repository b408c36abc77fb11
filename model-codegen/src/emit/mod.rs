//! Emitters: IR -> token streams, one module per generated file.

pub mod docs;
pub mod sample;
pub mod services;
pub mod types;
pub mod xml;
