//! oVirt Engine REST API v4 SDK.
#![deny(missing_docs)]

pub mod blocking;
pub mod connection;
pub mod error;
pub mod service;

pub use connection::{Connection, ConnectionBuilder};
pub use error::Error;
