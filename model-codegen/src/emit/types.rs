//! Emits `types.rs`.

use proc_macro2::TokenStream;

use crate::ir::Model;
use crate::GenerateError;

/// Emits the file for `model`.
pub fn emit(model: &Model) -> Result<TokenStream, GenerateError> {
    let _ = model;
    Ok(TokenStream::new())
}
