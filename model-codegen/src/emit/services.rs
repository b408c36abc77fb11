//! Services: one client type per model service (owned by the services work).

use proc_macro2::TokenStream;

use crate::ir::Model;

/// Emits the services module for `model`.
pub fn emit(model: &Model) -> TokenStream {
    let _ = model;
    TokenStream::new()
}
