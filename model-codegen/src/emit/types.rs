//! Emits `types.rs`: a struct per struct type (with builder setters) and an
//! enum per enum type.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ir::{EnumType, Member, MemberKind, Model, Primitive, StructType, TypeKind, TypeRef};
use crate::naming;
use crate::GenerateError;

/// Name of the catch-all variant that keeps an unknown enum value as text.
pub const UNRECOGNIZED: &str = "Unrecognized";

/// Rust type of one element of `ty` (ignores list-ness).
pub fn element_type(ty: &TypeRef) -> TokenStream {
    match &ty.kind {
        TypeKind::Primitive(p) => match p {
            Primitive::Boolean => quote!(bool),
            Primitive::Integer => quote!(i64),
            Primitive::Decimal => quote!(f64),
            Primitive::Date => quote!(crate::xml::DateTime),
            Primitive::String => quote!(::std::string::String),
        },
        TypeKind::Struct(n) | TypeKind::Enum(n) => {
            let id = naming::type_ident(n);
            quote!(crate::types::#id)
        }
    }
}

/// `true` if the member is held in a [`crate`]-runtime `List` (list-typed link).
pub fn is_link_list(m: &Member) -> bool {
    m.kind == MemberKind::Link && m.ty.list
}

/// Rust type of a member's value (without the `Option`).
pub fn member_type(m: &Member) -> TokenStream {
    let el = element_type(&m.ty);
    if is_link_list(m) {
        quote!(crate::xml::List<#el>)
    } else if m.ty.list {
        quote!(::std::vec::Vec<#el>)
    } else if m.ty.struct_name().is_some() {
        // Boxed: struct types refer to each other in cycles (vm -> host -> vm).
        quote!(::std::boxed::Box<#el>)
    } else {
        el
    }
}

/// Rust type accepted by a member's setter (`impl Into<...>`): the member type,
/// except that boxed structs are taken unboxed.
pub fn setter_type(m: &Member) -> TokenStream {
    if !m.ty.list && m.ty.struct_name().is_some() {
        element_type(&m.ty)
    } else {
        member_type(m)
    }
}

/// Rust type of a parameter or other type reference (lists as `Vec`).
pub fn type_ref(ty: &TypeRef) -> TokenStream {
    let el = element_type(ty);
    if ty.list {
        quote!(::std::vec::Vec<#el>)
    } else {
        el
    }
}

fn doc(text: String) -> TokenStream {
    let text = format!(" {text}");
    quote!(#[doc = #text])
}

fn type_desc(ty: &TypeRef) -> String {
    let base = match &ty.kind {
        TypeKind::Primitive(p) => p.as_str().to_string(),
        TypeKind::Struct(n) | TypeKind::Enum(n) => format!("[`{}`]", naming::type_name(n)),
    };
    if ty.list {
        format!("list of {base}")
    } else {
        base
    }
}

fn member_doc(m: &Member) -> String {
    let kind = match m.kind {
        MemberKind::Attribute => "Attribute",
        MemberKind::Link => "Link",
    };
    let mut s = format!("{kind} `{}`: {}", m.name, type_desc(&m.ty));
    if m.xml.as_attribute {
        s.push_str(&format!("; XML attribute `{}`", m.xml.tag));
    } else {
        s.push_str(&format!("; element `<{}>`", m.xml.tag));
    }
    if m.annotations.deprecated {
        s.push_str(". Deprecated");
    }
    if let Some(v) = &m.annotations.since {
        s.push_str(&format!(". Since {v}"));
    }
    s.push('.');
    s
}

/// Checks that generated identifiers do not collide; returns an error naming
/// the model items.
fn check_names(model: &Model) -> Result<(), GenerateError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (kind, name) in model
        .structs
        .iter()
        .map(|s| ("struct", &s.name))
        .chain(model.enums.iter().map(|e| ("enum", &e.name)))
    {
        let id = naming::type_name(name);
        if let Some((_, other)) = seen.iter().find(|(i, _)| *i == id) {
            return Err(GenerateError {
                message: format!("{kind} `{name}` and `{other}` both become Rust type `{id}`"),
            });
        }
        seen.push((id, name.clone()));
    }
    for s in &model.structs {
        let mut fields: Vec<(String, &str)> = vec![("href".into(), "href (built-in)")];
        for m in &s.members {
            let f = naming::field_name(&m.name);
            if let Some((_, other)) = fields.iter().find(|(x, _)| *x == f) {
                return Err(GenerateError {
                    message: format!(
                        "struct `{}`: members `{}` and `{other}` both become field `{f}`",
                        s.name, m.name
                    ),
                });
            }
            fields.push((f, &m.name));
        }
    }
    for e in &model.enums {
        let mut vs: Vec<(String, &str)> = vec![(UNRECOGNIZED.into(), "the catch-all variant")];
        for v in &e.values {
            let id = naming::variant_name(&v.name);
            if let Some((_, other)) = vs.iter().find(|(x, _)| *x == id) {
                return Err(GenerateError {
                    message: format!(
                        "enum `{}`: value `{}` and {other} both become variant `{id}`",
                        e.name, v.name
                    ),
                });
            }
            vs.push((id, &v.name));
        }
    }
    Ok(())
}

fn emit_struct(s: &StructType) -> TokenStream {
    let name = naming::type_ident(&s.name);
    let mut sdoc = format!(
        "The `{}` type: a document is `<{}>`, a list `<{}>`.",
        s.name, s.tag, s.list_tag
    );
    if s.annotations.deprecated {
        sdoc.push_str(" Deprecated.");
    }
    let sdoc = doc(sdoc);
    let mut fields = Vec::new();
    let mut setters = Vec::new();
    fields.push(quote! {
        /// Where the object lives on the server (`href` XML attribute).
        pub href: ::std::option::Option<::std::string::String>,
    });
    setters.push(quote! {
        /// Sets `href`.
        pub fn href(mut self, value: impl ::std::convert::Into<::std::string::String>) -> Self {
            self.href = ::std::option::Option::Some(value.into());
            self
        }
    });
    for m in &s.members {
        let f = naming::field_ident(&m.name);
        let setter = naming::setter_ident(&m.name);
        let ty = member_type(m);
        let d = doc(member_doc(m));
        fields.push(quote! { #d pub #f: ::std::option::Option<#ty>, });
        let sd = doc(format!("Sets `{}`.", m.name));
        let st = setter_type(m);
        let conv = if !m.ty.list && m.ty.struct_name().is_some() {
            quote!(::std::boxed::Box::new(value.into()))
        } else {
            quote!(value.into())
        };
        setters.push(quote! {
            #sd
            pub fn #setter(mut self, value: impl ::std::convert::Into<#st>) -> Self {
                self.#f = ::std::option::Option::Some(#conv);
                self
            }
        });
        // A setter named by a Rust keyword (`r#type`) also gets a plain spelling (`type_`).
        if let Some(raw) = naming::setter_name(&m.name).strip_prefix("r#") {
            let alias = naming::ident(&format!("{raw}_"));
            let ad = doc(format!(
                "Same as `.r#{raw}(..)`: `{raw}` is a Rust keyword, so this spelling is offered too (the field stays `r#{raw}`)."
            ));
            setters.push(quote! {
                #ad
                #[inline]
                pub fn #alias(self, value: impl ::std::convert::Into<#st>) -> Self {
                    self.#setter(value)
                }
            });
        }
    }
    // `crate::AsId`: a returned object names its own id to a locator (`vm_service(&vm)`).
    let as_id = s
        .members
        .iter()
        .find(|m| {
            naming::field_name(&m.name) == "id"
                && !m.ty.list
                && m.ty.primitive() == Some(Primitive::String)
        })
        .map(|m| {
            let f = naming::field_ident(&m.name);
            quote! {
                impl crate::AsId for #name {
                    fn as_id(&self) -> ::std::option::Option<&str> {
                        self.#f.as_deref()
                    }
                }
            }
        });
    quote! {
        #sdoc
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct #name {
            #(#fields)*
        }

        #as_id

        impl #name {
            /// A value with every field unset; set fields with the builder methods.
            pub fn new() -> Self {
                <Self as ::std::default::Default>::default()
            }
            #(#setters)*
        }

        // SAFETY: see `send_sync_leaf_check` in `emit`: every field is an
        // `Option` of a leaf type checked there to be `Send + Sync`, of a
        // generated enum, or of `Box`/`Vec`/`List` of generated structs, which
        // get these same impls. Written out because proving it structurally
        // overflows the compiler's recursion limit in users' crates (the
        // struct graph has chains deeper than 128 levels, e.g. `Action`).
        unsafe impl ::std::marker::Send for #name {}
        unsafe impl ::std::marker::Sync for #name {}
    }
}

fn emit_enum(e: &EnumType) -> TokenStream {
    let name = naming::type_ident(&e.name);
    let unrec = format_ident!("{}", UNRECOGNIZED);
    let edoc = doc(format!(
        "The `{}` enum. Values unknown to this SDK are kept as text in `{UNRECOGNIZED}`.",
        e.name
    ));
    let variants = e.values.iter().map(|v| {
        let id = naming::variant_ident(&v.name);
        let d = doc(format!("`{}`.", v.wire));
        quote!(#d #id,)
    });
    let to_str = e.values.iter().map(|v| {
        let id = naming::variant_ident(&v.name);
        let w = &v.wire;
        quote!(Self::#id => #w,)
    });
    let from_str = e.values.iter().map(|v| {
        let id = naming::variant_ident(&v.name);
        let w = &v.wire;
        quote!(#w => Self::#id,)
    });
    let all = e.values.iter().map(|v| {
        let id = naming::variant_ident(&v.name);
        quote!(Self::#id,)
    });
    quote! {
        #edoc
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum #name {
            #(#variants)*
            /// A value this SDK does not know (from a newer engine), as sent.
            #unrec(::std::string::String),
        }

        impl #name {
            /// Every known value.
            pub const VALUES: &'static [Self] = &[#(#all)*];

            /// The text on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    #(#to_str)*
                    Self::#unrec(s) => s,
                }
            }

            /// The value for wire text `s` (also matched in lower case, [wire rule R3.4](crate::wire));
            /// unknown text is kept in the catch-all variant.
            pub fn from_wire(s: &str) -> Self {
                match s {
                    #(#from_str)*
                    _ if s.bytes().any(|b| b.is_ascii_uppercase()) => {
                        match Self::from_wire(&s.to_ascii_lowercase()) {
                            Self::#unrec(_) => Self::#unrec(s.to_string()),
                            known => known,
                        }
                    }
                    _ => {
                        Self::#unrec(s.to_string())
                    }
                }
            }
        }

        impl ::std::str::FromStr for #name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::std::result::Result::Ok(Self::from_wire(s))
            }
        }

        impl ::std::convert::From<&str> for #name {
            fn from(s: &str) -> Self {
                Self::from_wire(s)
            }
        }

        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl crate::xml::FromXml for #name {
            const EMPTY_IS_UNSET: bool = true;
            fn from_xml(
                r: &mut crate::xml::XmlReader<'_>,
                e: &crate::xml::Start<'_>,
            ) -> ::std::result::Result<Self, crate::xml::XmlError> {
                crate::xml::read_scalar(r, e)
            }
            fn from_xml_opt(
                r: &mut crate::xml::XmlReader<'_>,
                e: &crate::xml::Start<'_>,
            ) -> ::std::result::Result<::std::option::Option<Self>, crate::xml::XmlError> {
                crate::xml::read_scalar_opt(r, e)
            }
        }

        impl crate::xml::ToXml for #name {
            fn to_xml(&self, w: &mut crate::xml::XmlWriter, tag: &str) {
                w.scalar(tag, self);
            }
        }

        impl crate::xml::Scalar for #name {
            fn parse_xml(text: &str) -> ::std::result::Result<Self, ::std::string::String> {
                ::std::result::Result::Ok(Self::from_wire(&crate::xml::token(text)))
            }
            fn write_xml(&self, out: &mut ::std::string::String) {
                out.push_str(self.as_str());
            }
        }
    }
}

/// Emits `types.rs`.
pub fn emit(model: &Model) -> Result<TokenStream, GenerateError> {
    check_names(model)?;
    let structs = model.structs.iter().map(emit_struct);
    let enums = model.enums.iter().map(emit_enum);
    // The leaf types the `unsafe impl Send/Sync` of every struct rely on.
    let send_sync_leaf_check = quote! {
        const _: fn() = || {
            fn send_sync<T: ::std::marker::Send + ::std::marker::Sync>() {}
            send_sync::<bool>();
            send_sync::<i64>();
            send_sync::<f64>();
            send_sync::<::std::string::String>();
            send_sync::<crate::xml::DateTime>();
            send_sync::<crate::xml::List<()>>();
            send_sync::<::std::vec::Vec<()>>();
            send_sync::<::std::boxed::Box<()>>();
        };
    };
    Ok(quote! {
        #send_sync_leaf_check
        #(#structs)*
        #(#enums)*
    })
}
