//! oVirt Engine REST API v4 SDK.
#![deny(missing_docs)]

pub mod blocking;
pub mod connection;
pub mod error;
pub mod service;
pub mod xml;

/// Every type of the API: a struct per model struct, an enum per model enum
/// (generated from `spec/`).
#[allow(clippy::all)]
pub mod types {
    include!(concat!(env!("OUT_DIR"), "/types.rs"));
}

/// Generated XML readers and writers of the types.
#[allow(clippy::all)]
mod xml_impls {
    include!(concat!(env!("OUT_DIR"), "/xml.rs"));
}

/// Services: one type per API service (`SystemService` is the root), with a typed request
/// builder per method, locators, and navigation by path (generated from `spec/`; runtime in
/// [`service`]).
pub mod services {
    include!(concat!(env!("OUT_DIR"), "/services.rs"));
}

/// Generated test data (feature `test-data`).
#[cfg(feature = "test-data")]
#[doc(hidden)]
#[allow(clippy::all, missing_docs)]
pub mod sample {
    include!(concat!(env!("OUT_DIR"), "/sample.rs"));
}

pub use connection::{Connection, ConnectionBuilder};
pub use error::Error;
pub use xml::List;
