//! Emits `sample.rs` (compiled with the sdk's `test-data` feature): a
//! populated value of every struct, and a round-trip check of every struct
//! and every enum value.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ir::Model;
use crate::naming;
use crate::GenerateError;

/// Emits `sample.rs`.
pub fn emit(model: &Model) -> Result<TokenStream, GenerateError> {
    let mut impls = Vec::new();
    let mut checks = Vec::new();
    for s in &model.structs {
        let name = naming::type_ident(&s.name);
        let fields = s.members.iter().map(|m| {
            let f = naming::field_ident(&m.name);
            if m.ty.is_scalar() {
                quote!(#f: crate::xml::sample::scalar(d),)
            } else {
                quote!(#f: crate::xml::sample::nested(d),)
            }
        });
        impls.push(quote! {
            impl crate::xml::sample::Sample for crate::types::#name {
                fn sample(d: u32) -> Self {
                    Self {
                        href: crate::xml::sample::scalar(d),
                        #(#fields)*
                    }
                }
            }
        });
        let n = &s.name;
        checks.push(quote!((#n, crate::xml::sample::round_trip::<crate::types::#name>),));
    }
    let mut enum_checks = Vec::new();
    for e in &model.enums {
        let name = naming::type_ident(&e.name);
        let n = &e.name;
        enum_checks.push(quote! {
            (#n, {
                fn check() -> ::std::result::Result<usize, ::std::string::String> {
                    crate::xml::sample::enum_round_trip(crate::types::#name::VALUES)
                }
                check
            }),
        });
        impls.push(quote! {
            impl crate::xml::sample::Sample for crate::types::#name {
                fn sample(d: u32) -> Self {
                    let all = Self::VALUES;
                    if all.is_empty() {
                        Self::Unrecognized(::std::string::String::from("sample"))
                    } else {
                        all[d as usize % all.len()].clone()
                    }
                }
            }
        });
    }
    Ok(quote! {
        #(#impls)*

        /// Every struct: model name and its write-then-read check (argument: depth).
        pub const STRUCT_CHECKS: &[(&str, fn(u32) -> ::std::result::Result<(), ::std::string::String>)] = &[
            #(#checks)*
        ];

        /// Every enum: model name and a check that all values read back (returns the count).
        pub const ENUM_CHECKS: &[(&str, fn() -> ::std::result::Result<usize, ::std::string::String>)] = &[
            #(#enum_checks)*
        ];
    })
}
