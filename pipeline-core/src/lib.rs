//! An HTTP/1.1 client that really pipelines.
//!
//! (Crate documentation in progress.)
#![deny(missing_docs)]

mod body;
mod client;
mod conn;
mod connect;
mod error;
mod headers;
mod method;
mod proto;
mod pool;
mod request;
mod response;
mod tls;

pub use body::Body;
pub use client::{Client, ClientBuilder, Proxy, ResponseFuture};
pub use error::{Error, ErrorKind};
pub use headers::Headers;
pub use method::Method;
pub use request::Request;
pub use response::Response;
