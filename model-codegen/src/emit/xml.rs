//! Emits `xml.rs`: `XmlType`, `FromXml` and `ToXml` impls for every struct.
//! Each impl is a compact match over member tags calling runtime helpers of
//! `crate::xml`.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::emit::types::is_link_list;
use crate::ir::{Model, StructType};
use crate::naming;
use crate::GenerateError;

fn bytes(s: &str) -> Literal {
    Literal::byte_string(s.as_bytes())
}

fn emit_struct(s: &StructType) -> Result<TokenStream, GenerateError> {
    let name = naming::type_ident(&s.name);
    let tag = &s.tag;
    let list_tag = &s.list_tag;

    // Tags must be unique within the struct, and `link` is reserved for list links.
    let mut seen: Vec<(&str, bool)> = vec![("href", true)];
    for m in &s.members {
        let key = (m.xml.tag.as_str(), m.xml.as_attribute);
        if seen.contains(&key) || (!m.xml.as_attribute && m.xml.tag == "link") {
            return Err(GenerateError {
                message: format!(
                    "struct `{}`: member `{}` uses tag `{}`, which is already taken",
                    s.name, m.name, m.xml.tag
                ),
            });
        }
        seen.push(key);
    }

    let mut attrs = Vec::new();
    let mut arms = Vec::new();
    let mut link_arms = Vec::new();
    let mut writes_attr = Vec::new();
    let mut writes = Vec::new();
    for m in &s.members {
        let f = naming::field_ident(&m.name);
        let t = &m.xml.tag;
        if m.xml.as_attribute {
            attrs.push(quote!(v.#f = e.attr(#t)?;));
            writes_attr.push(quote!(w.attr(#t, &self.#f);));
            continue;
        }
        let tb = bytes(t);
        if is_link_list(m) {
            let item = m.xml.item_tag.as_deref().unwrap_or_default();
            let ib = bytes(item);
            arms.push(quote!(#tb => r.link_list(&c, #ib, &mut v.#f)?,));
            let rel = match &m.xml.rel {
                Some(rel) => {
                    link_arms.push(quote!(#rel => crate::xml::set_link(&mut v.#f, href),));
                    quote!(::std::option::Option::Some(#rel))
                }
                None => quote!(::std::option::Option::None),
            };
            writes.push(quote!(w.link_list(#t, #item, #rel, &self.#f);));
        } else if m.ty.list {
            let item = m.xml.item_tag.as_deref().unwrap_or_default();
            let ib = bytes(item);
            arms.push(quote!(#tb => v.#f = r.list(&c, #ib)?,));
            writes.push(quote!(w.list(#t, #item, &self.#f);));
        } else {
            arms.push(quote!(#tb => v.#f = r.value(&c)?,));
            writes.push(quote!(w.value(#t, &self.#f);));
        }
    }
    if !link_arms.is_empty() {
        arms.push(quote! {
            b"link" => {
                if let ::std::option::Option::Some((rel, href)) = r.link(&c)? {
                    match rel.as_str() {
                        #(#link_arms)*
                        _ => {}
                    }
                }
            }
        });
    }
    let body = if arms.is_empty() {
        quote! {
            while let ::std::option::Option::Some(c) = r.next_child(e)? {
                r.skip(&c)?;
            }
        }
    } else {
        quote! {
            while let ::std::option::Option::Some(c) = r.next_child(e)? {
                match c.tag() {
                    #(#arms)*
                    _ => r.skip(&c)?,
                }
            }
        }
    };
    // `crate::Link`: a reference carries only `href` (and `id`, when the type has one).
    let keep_id = s
        .members
        .iter()
        .find(|m| naming::field_name(&m.name) == "id" && !m.ty.list)
        .map(|m| {
            let f = naming::field_ident(&m.name);
            quote!(bare.#f = ::std::clone::Clone::clone(&self.#f);)
        });
    Ok(quote! {
        impl crate::Link for crate::types::#name {
            fn href(&self) -> ::std::option::Option<&str> {
                self.href.as_deref()
            }
            fn is_link(&self) -> bool {
                self.href.is_some() && {
                    let mut bare = <Self as ::std::default::Default>::default();
                    bare.href = ::std::clone::Clone::clone(&self.href);
                    #keep_id
                    bare == *self
                }
            }
        }

        impl crate::xml::XmlType for crate::types::#name {
            const TAG: &'static str = #tag;
            const LIST_TAG: &'static str = #list_tag;
        }

        impl crate::xml::FromXml for crate::types::#name {
            fn from_xml(
                r: &mut crate::xml::XmlReader<'_>,
                e: &crate::xml::Start<'_>,
            ) -> ::std::result::Result<Self, crate::xml::XmlError> {
                let mut v = <Self as ::std::default::Default>::default();
                v.href = e.attr("href")?;
                #(#attrs)*
                #body
                ::std::result::Result::Ok(v)
            }
        }

        impl crate::xml::ToXml for crate::types::#name {
            fn to_xml(&self, w: &mut crate::xml::XmlWriter, tag: &str) {
                w.start(tag);
                w.attr("href", &self.href);
                #(#writes_attr)*
                #(#writes)*
                w.end(tag);
            }
        }
    })
}

/// Emits `xml.rs`.
pub fn emit(model: &Model) -> Result<TokenStream, GenerateError> {
    let impls = model
        .structs
        .iter()
        .map(emit_struct)
        .collect::<Result<Vec<_>, _>>()?;
    // Root tags readers also accept for a list document (spec `list-tag-aliases`).
    let aliases = model.structs.iter().flat_map(|s| {
        let tag = &s.list_tag;
        s.list_tag_aliases.iter().map(move |a| quote!((#tag, #a),))
    });
    Ok(quote! {
        /// `(list tag, other spelling)` pairs: a reader expecting a document with root
        /// `list tag` also takes one with root `other spelling`.
        pub(crate) const LIST_TAG_ALIASES: &[(&str, &str)] = &[#(#aliases)*];
        #(#impls)*
    })
}
