//! oVirt Engine REST API v4 SDK.
#![deny(missing_docs)]

pub mod error;
pub mod service;

pub use error::Error;
