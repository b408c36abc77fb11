//! Emits `services.rs`: one client type per model service.
//!
//! For every service `x` of the model:
//!
//! * `XService`, a cheap-to-clone handle (transport + path, `crate::service::ServiceContext`)
//!   with one method per model method returning a `crate::service::Request<XMethod>` builder,
//!   and one `<locator>_service` method per locator (docs/wire.md R2.1);
//! * for every method, a marker type `X<Method>` implementing `crate::service::MethodWire`
//!   (verb, action segment, kind, how to read the output: all taken from the IR, which takes
//!   them from the spec), and an inherent impl on `Request<X<Method>>` with one typed setter
//!   per input parameter (query parameter R1.3, body R1.4, action element R1.5/R1.7);
//! * `AnyService`, an enum of every service, and path navigation (`service(path)`, R2.2).
//!
//! The generated code is only declarations and one-line calls into the hand-written runtime
//! (`sdk/src/service/`), so it stays compact. Names come from [`crate::naming`], Rust types
//! from [`crate::emit::types`]. It names std items with full paths (`::std::...`)
//! because the model has types called `Option`, `Version`, `File`, ...

use std::collections::{BTreeMap, VecDeque};

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::emit::docs;
use crate::emit::types::{element_type, type_ref as rust_type};
use crate::ir::*;
use crate::naming::{
    self, locator_method_name, marker_type_name, method_fn_name, param_setter_name as setter_name,
    service_type_name,
};

fn ident(s: &str) -> Ident {
    naming::ident(s)
}

/// Emits the services module for `model`.
pub fn emit(model: &Model) -> TokenStream {
    let paths = example_paths(model);
    let services = model
        .services
        .iter()
        .map(|s| emit_service(model, s, &paths));
    let any = emit_any(model);
    quote! {
        #(#services)*
        #any
    }
}

/// One shortest path from the root service to every reachable service, in the form
/// `vms/{id}/nics` (for docs).
fn example_paths(model: &Model) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(root) = &model.root_service else {
        return out;
    };
    out.insert(root.clone(), String::new());
    let mut queue = VecDeque::from([root.clone()]);
    while let Some(name) = queue.pop_front() {
        let Some(service) = model.service(&name) else {
            continue;
        };
        let base = out[&name].clone();
        for l in &service.locators {
            if out.contains_key(&l.service) {
                continue;
            }
            let seg = match &l.path {
                LocatorPath::Segment(s) => s.clone(),
                LocatorPath::Parameter(p) => format!("{{{}}}", p.name),
            };
            let path = if base.is_empty() {
                seg
            } else {
                format!("{base}/{seg}")
            };
            out.insert(l.service.clone(), path);
            queue.push_back(l.service.clone());
        }
    }
    out
}

fn annotation_doc(a: &Annotations) -> String {
    let mut s = String::new();
    if let Some(v) = &a.since {
        s.push_str(&format!("\n\nSince version {v}."));
    }
    if a.deprecated {
        s.push_str("\n\nDeprecated in the model.");
    }
    s
}

/// Readable type of a parameter for docs: `vm`, `vm[]`, `string`.
fn type_doc(ty: &TypeRef) -> String {
    let base = match &ty.kind {
        TypeKind::Primitive(p) => p.as_str().to_string(),
        TypeKind::Struct(n) | TypeKind::Enum(n) => n.clone(),
    };
    if ty.list {
        format!("{base}[]")
    } else {
        base
    }
}

/// Root and item tag of a document whose root is a value of `ty` (R1.4, R1.6).
fn document_tags(model: &Model, ty: &TypeRef) -> (String, String) {
    match ty.struct_name().and_then(|n| model.struct_type(n)) {
        Some(s) if ty.list => (s.list_tag.clone(), s.tag.clone()),
        Some(s) => (s.tag.clone(), s.tag.clone()),
        None => {
            let n = type_doc(ty);
            (n.clone(), n)
        }
    }
}

fn item_tag(model: &Model, p: &Parameter) -> String {
    p.item_tag
        .clone()
        .unwrap_or_else(|| document_tags(model, &p.ty).1)
}

fn kind_ident(kind: MethodKind) -> Ident {
    ident(match kind {
        MethodKind::Get => "Get",
        MethodKind::List => "List",
        MethodKind::Add => "Add",
        MethodKind::Update => "Update",
        MethodKind::Remove => "Remove",
        MethodKind::Action => "Action",
    })
}

/// The `http1_pipeline::Method` variant of a model verb.
fn method_ident(verb: Verb) -> Ident {
    ident(match verb {
        Verb::Get => "Get",
        Verb::Post => "Post",
        Verb::Put => "Put",
        Verb::Delete => "Delete",
        Verb::Patch => "Patch",
    })
}

/// How a method's output is read (R1.6).
struct Output {
    /// The Rust type of the output.
    ty: TokenStream,
    /// The body of `MethodWire::read`.
    read: TokenStream,
    /// A description for docs.
    doc: String,
    /// Extra constants of the `MethodWire` impl.
    consts: TokenStream,
    /// The `ListMethod` impl of a list method (its items can be streamed), or nothing.
    list: Option<TokenStream>,
}

/// The output of `m` (R1.6); `marker` is its marker type.
fn output(model: &Model, m: &Method, marker: &Ident) -> Output {
    let unit = || Output {
        ty: quote!(()),
        read: quote!(::std::result::Result::Ok(())),
        doc: "nothing (`()`)".to_string(),
        consts: quote!(),
        list: None,
    };
    if m.kind == MethodKind::Remove {
        return unit();
    }
    let out = m.output().and_then(|p| p.output.map(|o| (p, o)));
    match out {
        Some((p, ParamOut::Body)) => {
            let ty = rust_type(&p.ty);
            let (root, item) = document_tags(model, &p.ty);
            let mut list = None;
            let (read, consts) = match (p.ty.list, m.kind) {
                // A list method's items can also be read as the body arrives
                // (`Request::stream`): one small impl naming the item type and root tag.
                (true, MethodKind::List) => {
                    let elem = element_type(&p.ty);
                    list = Some(quote! {
                        impl crate::service::ListMethod for #marker {
                            type Item = #elem;
                            const LIST_TAG: &'static str = #root;
                        }
                    });
                    (
                        quote!(crate::service::read_list::<Self>(body)),
                        quote!(const ITEM_TAG: &'static str = #item;),
                    )
                }
                (true, _) => (
                    quote!(crate::service::read_list_body::<Self, _>(body, #root)),
                    quote!(const ITEM_TAG: &'static str = #item;),
                ),
                (false, _) => (quote!(crate::service::read_body(body, #root)), quote!()),
            };
            let doc = format!(
                "`{}` (parameter `{}`, document `<{root}>`)",
                type_doc(&p.ty),
                p.name
            );
            Output {
                ty,
                read,
                doc,
                consts,
                list,
            }
        }
        Some((p, ParamOut::Action)) => {
            let ty = rust_type(&p.ty);
            let action = action_tag(model);
            let tag = &p.tag;
            let (read, consts) = if p.ty.list {
                let item = item_tag(model, p);
                (
                    quote!(crate::service::read_action_list::<Self, _>(body, #action)),
                    quote! {
                        const OUTPUT_TAG: &'static str = #tag;
                        const ITEM_TAG: &'static str = #item;
                    },
                )
            } else {
                (
                    quote!(crate::service::read_action_value::<Self, _>(body, #action)),
                    quote!(const OUTPUT_TAG: &'static str = #tag;),
                )
            };
            let doc = format!(
                "`{}` (parameter `{}`, element `<{tag}>` of the returned `<{action}>`)",
                type_doc(&p.ty),
                p.name
            );
            Output {
                ty,
                read,
                doc,
                consts,
                list: None,
            }
        }
        // An action without output parameter returns the whole `<action>` document.
        None if m.kind == MethodKind::Action => {
            match model
                .action_type
                .as_deref()
                .and_then(|n| model.struct_type(n))
            {
                Some(a) => {
                    let id = naming::type_ident(&a.name);
                    let tag = &a.tag;
                    Output {
                        ty: quote!(crate::types::#id),
                        read: quote!(crate::service::read_action_doc(body, #tag)),
                        doc: format!("the returned `<{tag}>` document (status, job, ...)"),
                        consts: quote!(),
                        list: None,
                    }
                }
                None => unit(),
            }
        }
        None => unit(),
    }
}

fn action_tag(model: &Model) -> String {
    model
        .action_type
        .as_deref()
        .and_then(|n| model.struct_type(n))
        .map_or_else(|| "action".to_string(), |s| s.tag.clone())
}

/// Where a parameter goes, in words, for docs.
fn place_doc(model: &Model, p: &Parameter) -> String {
    match p.input {
        Some(ParamIn::Query) => format!("query parameter `{}`", p.tag),
        Some(ParamIn::Body) => format!("the request body `<{}>`", document_tags(model, &p.ty).0),
        Some(ParamIn::Action) => format!("element `<{}>` of the `<action>` body", p.tag),
        None => "output only".to_string(),
    }
}

/// The facts the model gives about a parameter: type, mandatory or not, input and/or
/// output, and where it travels.
fn param_facts(model: &Model, p: &Parameter) -> String {
    let dir = match (p.input.is_some(), p.output.is_some()) {
        (true, true) => "in and out",
        (true, false) => "in",
        (false, _) => "out",
    };
    let need = if p.mandatory { "mandatory" } else { "optional" };
    format!(
        "(`{}`, {need}, {dir}), sent as {}.",
        type_doc(&p.ty),
        place_doc(model, p)
    )
}

/// A link to the crate docs' account of a parameter that many methods share.
fn concept_link(name: &str) -> Option<&'static str> {
    Some(match name {
        "search" | "max" | "case_sensitive" => "See [searching](crate::concepts#search).",
        "follow" => "See [follow](crate::concepts#follow).",
        "all_content" => "See [all content](crate::concepts#all-content).",
        "async" => "See [async actions](crate::concepts#async-actions).",
        "filter" => "See [filter](crate::concepts#search).",
        _ => return None,
    })
}

/// A forwarding setter for a setter whose name is a Rust keyword (`r#async` -> `async_`),
/// so it can be called without the raw-identifier syntax.
fn keyword_alias(setter: &str, arg: TokenStream) -> Option<TokenStream> {
    let raw = setter.strip_prefix("r#")?;
    let alias = ident(&format!("{raw}_"));
    let target = ident(setter);
    let doc = format!(
        "Same as `.r#{raw}(..)`: `{raw}` is a Rust keyword, so this spelling is offered too."
    );
    Some(quote! {
        #[doc = #doc]
        #[inline]
        pub fn #alias(self, value: #arg) -> Self {
            self.#target(value)
        }
    })
}

/// The setter of one input parameter on `Request<marker>`.
fn setter(model: &Model, p: &Parameter) -> Option<TokenStream> {
    let input = p.input?;
    let name = ident(&setter_name(p));
    let tag = &p.tag;
    let mut doc = format!("Sets `{}` {}", p.name, param_facts(model, p));
    if let Some(concept) = concept_link(&p.name) {
        doc.push(' ');
        doc.push_str(concept);
    }
    doc.push_str(&annotation_doc(&p.annotations));
    let elem = element_type(&p.ty);
    let is_string = p.ty.primitive() == Some(Primitive::String);
    let body = match (input, p.ty.is_scalar(), p.ty.list) {
        // R1.3: a scalar query parameter, rendered as text.
        (ParamIn::Query, true, false) if is_string => {
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::convert::Into<::std::string::String>) -> Self {
                    self.set_query(#tag, value.into())
                }
            })
        }
        (ParamIn::Query, true, false) => {
            quote!(self.set_query(#tag, crate::service::QueryValue::to_query(&value)))
        }
        // No list or struct query parameter exists in the model (docs/wire.md §6); render a list of
        // scalars comma-separated, a struct is not supported as a query parameter.
        (ParamIn::Query, true, true) => quote! {
            self.set_query(#tag, value.iter().map(crate::service::QueryValue::to_query)
                .collect::<::std::vec::Vec<_>>().join(","))
        },
        (ParamIn::Query, false, _) => return None,
        // R1.4: the body document; root tag is the type's tag (list tag for a list).
        (ParamIn::Body, false, false) => {
            let (root, _) = document_tags(model, &p.ty);
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::borrow::Borrow<#elem>) -> Self {
                    self.set_body(crate::service::write_body(value.borrow(), #root))
                }
            });
        }
        (ParamIn::Body, false, true) => {
            let (root, item) = document_tags(model, &p.ty);
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::convert::AsRef<[#elem]>) -> Self {
                    self.set_body(crate::service::write_list_body(value.as_ref(), #root, #item))
                }
            });
        }
        (ParamIn::Body, true, _) => return None,
        // R1.5, R1.7: one element of the `<action>` envelope, named after the parameter.
        (ParamIn::Action, true, false) if is_string => {
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::convert::Into<::std::string::String>) -> Self {
                    self.set_action(#tag, crate::service::text_element(#tag, &value.into()))
                }
            })
        }
        (ParamIn::Action, true, false) => quote! {
            self.set_action(#tag, crate::service::text_element(#tag,
                &crate::service::QueryValue::to_query(&value)))
        },
        (ParamIn::Action, true, true) => {
            let item = item_tag(model, p);
            quote! {
                self.set_action(#tag, crate::service::text_list_element(#tag, #item,
                    value.iter().map(crate::service::QueryValue::to_query)))
            }
        }
        (ParamIn::Action, false, false) => {
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::borrow::Borrow<#elem>) -> Self {
                    self.set_action(#tag, crate::service::write_element(value.borrow(), #tag))
                }
            })
        }
        (ParamIn::Action, false, true) => {
            let item = item_tag(model, p);
            return Some(quote! {
                #[doc = #doc]
                pub fn #name(self, value: impl ::std::convert::AsRef<[#elem]>) -> Self {
                    self.set_action(#tag, crate::service::write_list_element(value.as_ref(), #tag, #item))
                }
            });
        }
    };
    let arg = if p.ty.list {
        quote!(::std::vec::Vec<#elem>)
    } else {
        elem
    };
    let alias = keyword_alias(&setter_name(p), arg.clone());
    Some(quote! {
        #[doc = #doc]
        pub fn #name(self, value: #arg) -> Self {
            #body
        }
        #alias
    })
}

fn method_doc(model: &Model, service: &Service, m: &Method, out: &Output, request: &str) -> String {
    let target = match &m.segment {
        Some(s) => format!("the service path + `/{s}`"),
        None => "the service path".to_string(),
    };
    let mut doc = match docs::method(&service.name, &m.sdk_name(), m.kind) {
        Some(sentence) => format!("{sentence}\n\n"),
        None => String::new(),
    };
    doc.push_str(&format!(
        "`{}` of service `{}` ({}): `{}` to {}.",
        m.name,
        service.name,
        m.kind.as_str(),
        m.verb.as_str(),
        target
    ));
    if let Some(b) = &m.base {
        doc.push_str(&format!(
            " A signature of `{b}`: sent like it, with its own parameter set ([wire rule R1.8](crate::wire))."
        ));
    }
    let inputs: Vec<String> = m
        .parameters
        .iter()
        .filter(|p| p.input.is_some())
        .map(|p| {
            let setter = setter_name(p);
            // A keyword setter is linked through its plain spelling (`async_`).
            let (shown, target) = match setter.strip_prefix("r#") {
                Some(raw) => (format!("r#{raw}` or `{raw}_"), format!("{raw}_")),
                None => (setter.clone(), setter.clone()),
            };
            format!(
                "* [`{shown}`]({request}::{target}) {}",
                param_facts(model, p)
            )
        })
        .collect();
    if inputs.is_empty() {
        doc.push_str("\n\nNo parameters.");
    } else {
        doc.push_str(&format!(
            "\n\nParameters, set on the returned [`{request}`]:\n\n"
        ));
        doc.push_str(&inputs.join("\n"));
    }
    doc.push_str(&format!("\n\nOutput: {}.", out.doc));
    if out.list.is_some() {
        doc.push_str(
            " Or item by item as the body arrives, in bounded memory: \
             [`stream`](crate::service::Request::stream).",
        );
    }
    doc.push_str(&annotation_doc(&m.annotations));
    doc
}

fn emit_method(model: &Model, service: &Service, m: &Method) -> (TokenStream, TokenStream) {
    let marker = ident(&marker_type_name(&service.name, m));
    let fn_name = ident(&method_fn_name(m));
    let out = output(model, m, &marker);
    let body_arg = if out.ty.to_string() == "()" {
        ident("_body")
    } else {
        ident("body")
    };
    let request_name = format!("{}Request", marker_type_name(&service.name, m));
    let request = ident(&request_name);
    let doc = method_doc(model, service, m, &out, &request_name);
    let service_ty = service_type_name(&service.name);
    let marker_doc = format!(
        "How method `{}` of service `{}` travels (verb, path, output reader); its request is [`{request_name}`].",
        m.sdk_name(),
        service.name
    );
    let fn_text = method_fn_name(m);
    // Intra-doc links cannot name a raw identifier (`r#move`); its page anchor can.
    let fn_link = match fn_text.strip_prefix("r#") {
        Some(raw) => format!("{service_ty}#method.{raw}"),
        None => format!("{service_ty}::{fn_text}"),
    };
    let request_doc = format!(
        "The request of [`{service_ty}::{fn_text}`]({fn_link}): its own methods set the parameters; send it with `.await` or [`send`](crate::service::Request::send).",
    );
    let name = format!("{}.{}", service.name, m.sdk_name());
    let method = method_ident(m.verb);
    let kind = kind_ident(m.kind);
    let segment = match &m.segment {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    };
    let mandatory: Vec<&str> = m
        .parameters
        .iter()
        .filter(|p| p.mandatory && matches!(p.input, Some(ParamIn::Query | ParamIn::Action)))
        .map(|p| p.tag.as_str())
        .collect();
    let mandatory = if mandatory.is_empty() {
        quote!()
    } else {
        quote!(const MANDATORY: &'static [&'static str] = &[#(#mandatory),*];)
    };
    let setters: Vec<TokenStream> = m
        .parameters
        .iter()
        .filter_map(|p| setter(model, p))
        .collect();
    let setters_impl = if setters.is_empty() {
        quote!()
    } else {
        quote! {
            impl #request {
                #(#setters)*
            }
        }
    };
    let Output {
        ty: out_ty,
        read,
        consts,
        list,
        ..
    } = out;
    let items = quote! {
        #[doc = #request_doc]
        pub type #request = crate::service::Request<#marker>;
        #[doc = #marker_doc]
        #[derive(Debug)]
        pub enum #marker {}
        impl crate::service::MethodWire for #marker {
            type Output = #out_ty;
            const NAME: &'static str = #name;
            const METHOD: crate::service::Method = crate::service::Method::#method;
            const SEGMENT: ::std::option::Option<&'static str> = #segment;
            const RESPONSE: crate::service::ResponseKind = crate::service::ResponseKind::#kind;
            #consts
            #mandatory
            fn read(#body_arg: &[u8]) -> ::std::result::Result<Self::Output, crate::Error> {
                #read
            }
        }
        #list
        #setters_impl
    };
    let method = quote! {
        #[doc = #doc]
        pub fn #fn_name(&self) -> #request {
            self.0.request()
        }
    };
    (items, method)
}

fn emit_locator(model: &Model, service: &Service, l: &Locator) -> TokenStream {
    let fn_name = ident(&locator_method_name(l));
    let target = ident(&service_type_name(&l.service));
    let _ = model;
    let mut doc = match &l.path {
        LocatorPath::Segment(s) => format!(
            "Locator `{}` of `{}`: service `{}` at the path + `/{s}` ([wire rule R2.1](crate::wire)).",
            l.name, service.name, l.service
        ),
        LocatorPath::Parameter(p) => format!(
            "Locator `{}` of `{}`: service `{}` at the path + `/` + `{}` percent-encoded ([wire rule R2.1](crate::wire)).",
            l.name, service.name, l.service, p.name
        ),
    };
    doc.push_str(&annotation_doc(&l.annotations));
    match &l.path {
        LocatorPath::Segment(s) => quote! {
            #[doc = #doc]
            pub fn #fn_name(&self) -> #target {
                #target(self.0.child(#s))
            }
        },
        // The value is anything that names an id (`&str`, `String`, `&vm.id`, `&vm`):
        // `crate::AsId`, one runtime trait, so each locator is one line.
        LocatorPath::Parameter(p) => {
            let arg = ident(&naming::field_name(&p.name));
            let name = locator_method_name(l);
            quote! {
                #[doc = #doc]
                pub fn #fn_name(&self, #arg: impl crate::AsId) -> #target {
                    #target(self.0.child_id(&#arg, #name))
                }
            }
        }
    }
}

/// Path navigation step of a service (R2.2).
fn emit_locate(service: &Service) -> TokenStream {
    let variant = naming::type_ident(&service.name);
    let name = &service.name;
    let fixed: Vec<TokenStream> = service
        .locators
        .iter()
        .filter_map(|l| match &l.path {
            LocatorPath::Segment(s) => {
                let f = ident(&locator_method_name(l));
                Some(quote!(#s => self.#f().locate(rest, full),))
            }
            LocatorPath::Parameter(_) => None,
        })
        .collect();
    let param = service
        .locators
        .iter()
        .find(|l| matches!(l.path, LocatorPath::Parameter(_)))
        .map(|l| ident(&locator_method_name(l)));
    let step = match (fixed.is_empty(), param) {
        (true, None) => quote! {
            let (segment, _) = crate::service::split_segment(path);
            ::std::result::Result::Err(crate::service::invalid_segment(#name, segment, full))
        },
        (true, Some(f)) => quote! {
            let (segment, rest) = crate::service::split_segment(path);
            self.#f(crate::service::decode_segment(segment)?).locate(rest, full)
        },
        (false, None) => quote! {
            let (segment, rest) = crate::service::split_segment(path);
            match segment {
                #(#fixed)*
                other => ::std::result::Result::Err(crate::service::invalid_segment(#name, other, full)),
            }
        },
        (false, Some(f)) => quote! {
            let (segment, rest) = crate::service::split_segment(path);
            match segment {
                #(#fixed)*
                value => self.#f(crate::service::decode_segment(value)?).locate(rest, full),
            }
        },
    };
    quote! {
        #[doc = "Continues navigation by path ([wire rule R2.2](crate::wire)) from this service with `path`; `full` is the whole path, for errors."]
        #[doc(hidden)]
        pub fn locate(self, path: &str, full: &str) -> ::std::result::Result<AnyService, crate::Error> {
            if path.is_empty() {
                return ::std::result::Result::Ok(AnyService::#variant(self));
            }
            #step
        }
    }
}

fn emit_service(model: &Model, s: &Service, paths: &BTreeMap<String, String>) -> TokenStream {
    let ty = ident(&service_type_name(&s.name));
    let mut doc = match docs::service(&s.name) {
        Some(d) => format!("{}\n\nService `{}`.", d.about, s.name),
        None => format!("Service `{}`.", s.name),
    };
    match paths.get(&s.name) {
        Some(p) if p.is_empty() => doc.push_str(" The root service: its path is the API entry URL."),
        Some(p) => doc.push_str(&format!(
            "\n\nOne path to it from the root: `{p}` (below the API entry URL; `{{id}}` is a locator value)."
        )),
        None => doc.push_str(" Not reachable from the root service."),
    }
    if let Some(b) = &s.base {
        doc.push_str(&format!(
            "\n\nExtends service `{b}` (its methods and locators are included)."
        ));
    }
    doc.push_str(&annotation_doc(&s.annotations));
    let mut items = Vec::new();
    let mut methods = Vec::new();
    for m in &s.methods {
        let (i, f) = emit_method(model, s, m);
        items.push(i);
        methods.push(f);
    }
    let locators = s.locators.iter().map(|l| emit_locator(model, s, l));
    let locate = emit_locate(s);
    let root_nav = if model.root_service.as_deref() == Some(s.name.as_str()) {
        quote! {
            /// Navigation by path ([wire rule R2.2](crate::wire)): the service at `path` below the API entry URL,
            /// e.g. `vms/123/nics`. A segment no locator matches is an
            /// [`ErrorKind::InvalidPath`](crate::error::ErrorKind::InvalidPath) error naming it.
            pub fn service(&self, path: &str) -> ::std::result::Result<AnyService, crate::Error> {
                self.clone().locate(path.trim_matches('/'), path)
            }
            /// Reads the list a list link of a returned object points at (`vm.nics` announced
            /// as `<link rel="nics" href=".."/>`, [wire rules R3.6, R2.2](crate::wire)). A list without an `href`
            /// fails when sent, with an [`ErrorKind::InvalidPath`](crate::error::ErrorKind::InvalidPath) error.
            pub fn follow_list<T: crate::xml::FromXml + crate::xml::XmlType + 'static>(
                &self,
                list: &crate::xml::List<T>,
            ) -> crate::service::Request<crate::service::FollowList<T>> {
                self.0.follow_list(list.href.as_deref().unwrap_or(""))
            }
            /// Reads the object an `href` names (e.g. the `href` of a reference such as
            /// `vm.cluster`), as a `T` ([wire rule R2.2](crate::wire)).
            pub fn follow_object<T: crate::xml::FromXml + crate::xml::XmlType + 'static>(
                &self,
                href: &str,
            ) -> crate::service::Request<crate::service::FollowObject<T>> {
                self.0.follow_object(href)
            }
            /// The service an `href` of a returned object names ([wire rule R2.2](crate::wire)): the API base path
            /// is removed, then the rest is navigated as by [`Self::service`].
            pub fn service_for_href(&self, href: &str) -> ::std::result::Result<AnyService, crate::Error> {
                let path = crate::service::href_to_path(href, self.0.transport().base_path())?;
                self.clone().locate(path, href)
            }
        }
    } else {
        quote!()
    };
    // `crate::WaitUntil` (poll `get` until a condition holds), for services with a `get`.
    let wait = s
        .methods
        .iter()
        .find(|m| m.kind == MethodKind::Get)
        .map(|m| {
            let marker = ident(&marker_type_name(&s.name, m));
            let get = ident(&method_fn_name(m));
            quote! {
                impl crate::service::WaitUntil for #ty {
                    type Get = #marker;
                    fn get_request(&self) -> crate::service::Request<#marker> {
                        self.#get()
                    }
                }
            }
        });
    quote! {
        #wait
        #[doc = #doc]
        #[derive(Clone, Debug)]
        pub struct #ty(crate::service::ServiceContext);
        impl #ty {
            /// The service at `context` (a transport and this service's path).
            pub fn new(context: crate::service::ServiceContext) -> Self {
                Self(context)
            }
            /// The transport and path of this service.
            pub fn context(&self) -> &crate::service::ServiceContext {
                &self.0
            }
            #(#methods)*
            #(#locators)*
            #root_nav
            #locate
        }
        #(#items)*
    }
}

fn emit_any(model: &Model) -> TokenStream {
    let variants: Vec<(Ident, Ident, String)> = model
        .services
        .iter()
        .map(|s| {
            (
                naming::type_ident(&s.name),
                ident(&service_type_name(&s.name)),
                format!("Service `{}`.", s.name),
            )
        })
        .collect();
    let decl = variants.iter().map(|(v, t, d)| quote!(#[doc = #d] #v(#t),));
    let arms = variants
        .iter()
        .map(|(v, _, _)| quote!(AnyService::#v(s) => &s.0,));
    quote! {
        /// Any service, as found by navigation by path ([wire rule R2.2](crate::wire)).
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum AnyService {
            #(#decl)*
        }
        impl AnyService {
            /// The transport and path of the service.
            pub fn context(&self) -> &crate::service::ServiceContext {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn spec_model() -> Model {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec");
        crate::spec::load_dir(&dir).expect("spec/ loads")
    }

    /// What the generated file declares, counted from its syntax tree.
    #[derive(Default, Debug)]
    struct Declared {
        services: BTreeSet<String>,
        markers: BTreeSet<String>,
        methods: usize,
        locators: usize,
        setters: usize,
    }

    fn declared(model: &Model) -> Declared {
        let file: syn::File = syn::parse2(emit(model)).expect("services parse");
        let mut d = Declared::default();
        for item in &file.items {
            match item {
                syn::Item::Struct(s) => {
                    d.services.insert(s.ident.to_string());
                }
                syn::Item::Impl(i) => {
                    let fns = i.items.iter().filter_map(|it| match it {
                        syn::ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
                        _ => None,
                    });
                    match (&i.trait_, &*i.self_ty) {
                        (Some((_, path, _)), syn::Type::Path(t))
                            if path.segments.last().unwrap().ident == "MethodWire" =>
                        {
                            let name = t.path.segments.last().unwrap().ident.to_string();
                            assert!(d.markers.insert(name.clone()), "duplicate marker {name}");
                        }
                        (None, syn::Type::Path(t)) => {
                            let last = t.path.segments.last().unwrap();
                            if last.ident.to_string().ends_with("Request") {
                                // Keyword setters' plain spellings (`async_`) are aliases.
                                let fns: Vec<String> = fns.collect();
                                d.setters += fns
                                    .iter()
                                    .filter(|f| {
                                        !f.strip_suffix('_')
                                            .is_some_and(|raw| fns.contains(&format!("r#{raw}")))
                                    })
                                    .count();
                            } else if last.ident.to_string().ends_with("Service") {
                                for f in fns {
                                    if [
                                        "new",
                                        "context",
                                        "locate",
                                        "service",
                                        "service_for_href",
                                        "follow_list",
                                        "follow_object",
                                    ]
                                    .contains(&f.as_str())
                                    {
                                        continue;
                                    }
                                    if f.ends_with("_service") {
                                        d.locators += 1;
                                    } else {
                                        d.methods += 1;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        d
    }

    #[test]
    fn generated_services_methods_and_locators_match_the_model_counts() {
        let model = spec_model();
        let c = model.counts();
        // The model's figures (spec/README.md, ovirt-api-model README).
        assert_eq!((c.services, c.methods, c.locators), (290, 706, 336));
        let d = declared(&model);
        assert_eq!(d.services.len(), 290, "service types");
        assert_eq!(d.markers.len(), 706, "method markers");
        assert_eq!(d.methods, 706, "service methods");
        assert_eq!(d.locators, 336, "locator methods");
        let inputs: usize = model
            .services
            .iter()
            .flat_map(|s| &s.methods)
            .flat_map(|m| &m.parameters)
            .filter(|p| p.input.is_some())
            .count();
        assert_eq!(d.setters, inputs, "one setter per input parameter");
    }

    #[test]
    fn signature_methods_are_named_after_their_base() {
        // R1.8: `vms`/`from_scratch` -> `add_from_scratch`, `host`/`using_ssh` of `install`.
        let model = spec_model();
        let text = crate::render(emit(&model)).unwrap();
        for needle in [
            "pub fn add_from_scratch(&self) -> VmsAddFromScratchRequest",
            "pub fn install_using_ssh(&self) -> HostInstallUsingSshRequest",
            "pub type VmsAddFromScratchRequest = crate::service::Request<VmsAddFromScratch>;",
            "pub fn update_iscsi(",
            "pub fn r#move(&self)",
            "pub fn timeout_(self, value: i64) -> Self",
            "pub fn clone_(&self) -> VmCloneRequest",
            "pub fn async_(self, value: bool) -> Self",
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
    }

    #[test]
    fn every_method_of_the_hand_documented_services_has_a_sentence() {
        let model = spec_model();
        assert!(docs::SERVICES.len() >= 40, "{}", docs::SERVICES.len());
        let mut sentences = 0;
        for d in docs::SERVICES {
            let s = model
                .service(d.name)
                .unwrap_or_else(|| panic!("docs name service `{}`, not in the model", d.name));
            for m in &s.methods {
                assert!(
                    docs::method(d.name, &m.sdk_name(), m.kind).is_some(),
                    "no sentence for `{}`/`{}`",
                    d.name,
                    m.sdk_name()
                );
                sentences += 1;
            }
        }
        assert!(sentences >= 200, "{sentences}");
        // Every hand-written sentence names a method that exists.
        for (service, method, _) in docs::METHODS {
            let s = model.service(service).expect("service exists");
            assert!(
                s.methods.iter().any(|m| m.sdk_name() == *method),
                "docs name `{service}`/`{method}`, not in the model"
            );
        }
        let text = crate::render(emit(&model)).unwrap();
        assert!(
            text.contains("Powers the VM on"),
            "the sentences are emitted"
        );
    }

    #[test]
    fn generation_is_deterministic() {
        let model = spec_model();
        assert_eq!(emit(&model).to_string(), emit(&model).to_string());
    }
}
