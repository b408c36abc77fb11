//! oVirt Engine REST API v4 SDK.
#![deny(missing_docs)]
