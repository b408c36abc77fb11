//! An HTTP/1.1 client that really pipelines.
#![deny(missing_docs)]
