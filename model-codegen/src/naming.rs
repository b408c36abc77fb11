//! Rust identifiers from model names.
//!
//! Model names are lower-case words joined by `_`. Types and enum variants
//! become CamelCase (`vm_pool` -> `VmPool`), fields and methods stay
//! snake_case. Rust keywords are escaped: raw identifiers (`r#type`) where Rust
//! allows them, a trailing `_` otherwise (`self_`, `Self_`).

use proc_macro2::{Ident, Span};

use crate::ir::{Locator, Method, Parameter};

/// Words Rust reserves (strict and reserved keywords, 2015-2024 editions).
pub const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super", "_"];

/// `true` if `s` is a Rust keyword.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// CamelCase of a model name: `vm_pool` -> `VmPool`. Where a word starting with a digit
/// follows one ending with a digit, the `_` between them stays, so the numbers do not run
/// together: `x86_64` -> `X86_64`, `v4_2` -> `V4_2` (`rhel_8x64` -> `Rhel8x64`).
/// A name starting with a digit gets a leading `_`.
pub fn camel(name: &str) -> String {
    let mut out = String::new();
    for word in name.split('_').filter(|w| !w.is_empty()) {
        if out.ends_with(|c: char| c.is_ascii_digit())
            && word.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push('_');
        }
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.extend(chars.flat_map(|c| c.to_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// snake_case of a model name (already snake case; a leading digit gets `_`).
pub fn snake(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Escapes `s` if it is a keyword: the text of the identifier to emit
/// (`type` -> `r#type`, `self` -> `self_`).
pub fn escape(s: &str) -> String {
    if NOT_RAW.contains(&s) {
        format!("{s}_")
    } else if is_keyword(s) {
        format!("r#{s}")
    } else {
        s.to_string()
    }
}

/// Makes an [`Ident`] from escaped text (handles the `r#` prefix).
pub fn ident(escaped: &str) -> Ident {
    match escaped.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(escaped, Span::call_site()),
    }
}

/// Type name of a struct, enum or service: `vm_pool` -> `VmPool`, `self` -> `Self_`.
pub fn type_name(name: &str) -> String {
    escape(&camel(name))
}

/// Identifier of a type.
pub fn type_ident(name: &str) -> Ident {
    ident(&type_name(name))
}

/// Field name of a member: `type` -> `r#type`.
pub fn field_name(name: &str) -> String {
    escape(&snake(name))
}

/// Identifier of a field.
pub fn field_ident(name: &str) -> Ident {
    ident(&field_name(name))
}

/// Method names generated types have besides setters (inherent or derived
/// trait methods a setter must not shadow).
pub const RESERVED_METHODS: &[&str] = &[
    "new",
    "clone",
    "clone_from",
    "default",
    "eq",
    "ne",
    "fmt",
    "from",
    "into",
    "to_owned",
];

/// Name of the builder setter of a member: the field name, with `_` appended
/// when it would shadow a method the type already has (`clone` -> `clone_`).
pub fn setter_name(name: &str) -> String {
    let s = snake(name);
    if RESERVED_METHODS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        escape(&s)
    }
}

/// Identifier of a setter.
pub fn setter_ident(name: &str) -> Ident {
    ident(&setter_name(name))
}

/// Variant name of an enum value: `x86_64` -> `X86_64`, `q35_secure_boot` -> `Q35SecureBoot`.
pub fn variant_name(name: &str) -> String {
    escape(&camel(name))
}

/// Identifier of an enum variant.
pub fn variant_ident(name: &str) -> Ident {
    ident(&variant_name(name))
}

/// Method name (snake case, escaped): `async` -> `r#async`.
pub fn method_name(name: &str) -> String {
    escape(&snake(name))
}

/// Identifier of a method.
pub fn method_ident(name: &str) -> Ident {
    ident(&method_name(name))
}

// Services: the names of service types, their methods, locators and request setters.

/// Names of the methods every `Request` already has; a parameter setter with one of these
/// names gets a trailing `_` (`host`/`upgrade` has a parameter `timeout`).
pub const REQUEST_METHODS: &[&str] = &[
    "header",
    "query",
    "timeout",
    "options",
    "send",
    "into_future",
    "into_call",
    "service_path",
    "set_query",
    "set_body",
    "set_action",
];

/// Names of the methods every service type already has (inherent, or `Clone`/`Debug`); a
/// model method with one of these names gets a trailing `_` (`vm`/`clone` -> `clone_`).
pub const SERVICE_METHODS: &[&str] = &[
    "new",
    "context",
    "locate",
    "service",
    "service_for_href",
    "follow_list",
    "follow_object",
    "clone",
    "clone_from",
    "fmt",
];

/// Name of the service method of a model method: the SDK name (`add_from_scratch`, R1.8),
/// escaped, with `_` appended if it clashes with [`SERVICE_METHODS`].
pub fn method_fn_name(method: &Method) -> String {
    let s = snake(&method.sdk_name());
    if SERVICE_METHODS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        escape(&s)
    }
}

/// Name of the service type of model service `name`: `vms` -> `VmsService`.
pub fn service_type_name(name: &str) -> String {
    type_name(&format!("{name}_service"))
}

/// Name of the marker type of a method: `vms` + `add_from_scratch` -> `VmsAddFromScratch`.
pub fn marker_type_name(service: &str, method: &Method) -> String {
    type_name(&format!("{service}_{}", method.sdk_name()))
}

/// Name of the service method of a locator: `disk_attachments` -> `disk_attachments_service`.
pub fn locator_method_name(locator: &Locator) -> String {
    method_name(&format!("{}_service", locator.name))
}

/// Name of the setter of a method parameter on its request (escaped; see
/// [`REQUEST_METHODS`]).
pub fn param_setter_name(param: &Parameter) -> String {
    let s = snake(&param.name);
    if REQUEST_METHODS.contains(&s.as_str()) {
        format!("{s}_")
    } else {
        escape(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_joins_words() {
        assert_eq!(camel("vm_pool"), "VmPool");
        assert_eq!(camel("x86_64"), "X86_64");
        assert_eq!(camel("v4_2"), "V4_2");
        assert_eq!(camel("rhel_8x64"), "Rhel8x64");
        assert_eq!(camel("q35_ovmf"), "Q35Ovmf");
        assert_eq!(camel("open_stack_image_provider"), "OpenStackImageProvider");
        assert_eq!(camel("vm"), "Vm");
    }

    #[test]
    fn names_starting_with_a_digit_get_an_underscore() {
        assert_eq!(camel("4_2"), "_4_2");
        assert_eq!(snake("3d"), "_3d");
    }

    #[test]
    fn keywords_become_raw_identifiers() {
        for k in [
            "type", "async", "move", "static", "true", "false", "ref", "match", "await", "dyn",
        ] {
            assert_eq!(field_name(k), format!("r#{k}"));
            assert_eq!(field_ident(k).to_string(), format!("r#{k}"));
        }
    }

    #[test]
    fn keywords_that_cannot_be_raw_get_a_suffix() {
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("super"), "super_");
        assert_eq!(field_name("crate"), "crate_");
        assert_eq!(type_name("self"), "Self_");
        assert_eq!(type_ident("self").to_string(), "Self_");
    }

    #[test]
    fn std_names_stay_as_they_are() {
        assert_eq!(type_name("option"), "Option");
        assert_eq!(type_name("result"), "Result");
        assert_eq!(type_name("box"), "Box");
        assert_eq!(field_name("box"), "r#box");
    }

    #[test]
    fn setters_do_not_shadow_existing_methods() {
        assert_eq!(setter_name("clone"), "clone_");
        assert_eq!(setter_name("from"), "from_");
        assert_eq!(setter_name("new"), "new_");
        assert_eq!(setter_name("name"), "name");
        assert_eq!(setter_name("type"), "r#type");
        assert_eq!(setter_name("self"), "self_");
    }

    #[test]
    fn variant_names_are_camel_case() {
        assert_eq!(variant_name("q35_secure_boot"), "Q35SecureBoot");
        assert_eq!(variant_name("self"), "Self_");
    }
}
