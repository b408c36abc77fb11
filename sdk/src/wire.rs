//! The wire rules of the oVirt Engine API v4 (`R0` to `R5.4`) that the SDK and its
//! generated code follow and cite. This page is the repository's `docs/wire.md`, included
//! here so that the rules travel with the crate (`sdk/src/wire.md` is a link to it).
//!
#![doc = include_str!("wire.md")]
