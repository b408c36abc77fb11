//! Loads a spec (the format described in `spec/README.md`) into the IR.
//!
//! Every error names the file, the line and the element that is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::dom::{self, Element};
use crate::ir::*;

/// Root element of the files the loader reads.
pub const API_ROOT: &str = "api";
/// Root element of importer-only files (`names.xml`), skipped by the loader.
pub const IMPORT_ROOT: &str = "import-names";

/// An error in a spec: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0 when not known).
    pub line: usize,
    /// The element that is wrong, with its ancestors: `<struct name="vm"> <attribute name="x">`.
    pub element: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if !self.element.is_empty() {
            write!(f, "{}: ", self.element)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}

/// Loads every `*.xml` file of `dir` whose root is `<api>` (files are read in
/// name order; files with root `<import-names>` are skipped).
pub fn load_dir(dir: &Path) -> Result<Model, SpecError> {
    let err = |m: String| SpecError {
        file: dir.to_path_buf(),
        line: 0,
        element: String::new(),
        message: m,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(format!("cannot read spec directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    let mut sources = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| SpecError {
            file: f.clone(),
            line: 0,
            element: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        sources.push((f, text));
    }
    if sources.is_empty() {
        return Err(err("no *.xml spec files".into()));
    }
    load_sources(&sources)
}

/// Loads a single spec file.
pub fn load_file(path: &Path) -> Result<Model, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.to_path_buf(),
        line: 0,
        element: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    load_sources(&[(path.to_path_buf(), text)])
}

/// Loads spec files given as (file name, contents) pairs.
pub fn load_sources(sources: &[(PathBuf, String)]) -> Result<Model, SpecError> {
    let mut roots = Vec::new();
    for (file, text) in sources {
        let root = dom::parse(text).map_err(|(line, message)| SpecError {
            file: file.clone(),
            line,
            element: String::new(),
            message,
        })?;
        if root.name == IMPORT_ROOT {
            continue;
        }
        if root.name != API_ROOT {
            return Err(SpecError {
                file: file.clone(),
                line: root.line,
                element: root.describe(),
                message: format!("expected root element <{API_ROOT}> (or <{IMPORT_ROOT}>)"),
            });
        }
        roots.push((file.clone(), root));
    }
    Loader::default().load(&roots)
}

/// A declaration with where it came from.
struct At<'a> {
    file: &'a Path,
    el: &'a Element,
}

#[derive(Default)]
struct Loader<'a> {
    primitives: Vec<(PrimitiveDecl, At<'a>)>,
    structs: Vec<At<'a>>,
    enums: Vec<At<'a>>,
    services: Vec<At<'a>>,
    // name -> what it is
    type_names: BTreeMap<String, TypeKind>,
}

fn fail(file: &Path, path: &[&Element], message: impl Into<String>) -> SpecError {
    SpecError {
        file: file.to_path_buf(),
        line: path.last().map_or(0, |e| e.line),
        element: path
            .iter()
            .filter(|e| e.name != API_ROOT || path.len() == 1)
            .map(|e| e.describe())
            .collect::<Vec<_>>()
            .join(" "),
        message: message.into(),
    }
}

fn check_attrs(file: &Path, path: &[&Element], allowed: &[&str]) -> Result<(), SpecError> {
    let el = path[path.len() - 1];
    for (k, _) in &el.attrs {
        if !allowed.contains(&k.as_str()) {
            return Err(fail(
                file,
                path,
                format!("unknown attribute `{k}` (allowed: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn required<'e>(file: &Path, path: &[&'e Element], name: &str) -> Result<&'e str, SpecError> {
    let el = path[path.len() - 1];
    match el.attr(name) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(fail(
            file,
            path,
            format!("missing required attribute `{name}`"),
        )),
    }
}

fn flag(file: &Path, path: &[&Element], name: &str) -> Result<bool, SpecError> {
    match path[path.len() - 1].attr(name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(v) => Err(fail(
            file,
            path,
            format!("attribute `{name}` must be `true` or `false`, found `{v}`"),
        )),
    }
}

fn annotations(file: &Path, path: &[&Element]) -> Result<Annotations, SpecError> {
    Ok(Annotations {
        deprecated: flag(file, path, "deprecated")?,
        since: path[path.len() - 1].attr("since").map(str::to_string),
    })
}

fn no_children(file: &Path, path: &[&Element]) -> Result<(), SpecError> {
    if let Some(c) = path[path.len() - 1].children.first() {
        let mut p = path.to_vec();
        p.push(c);
        return Err(fail(file, &p, "unexpected child element"));
    }
    Ok(())
}

impl<'a> Loader<'a> {
    fn load(mut self, roots: &'a [(PathBuf, Element)]) -> Result<Model, SpecError> {
        let mut root_service = None;
        let mut action_type = None;
        let mut fault_type = None;
        let mut first_def: BTreeMap<String, (&Path, &Element)> = BTreeMap::new();
        for (file, root) in roots {
            let file = file.as_path();
            check_attrs(
                file,
                &[root],
                &["root-service", "action-type", "fault-type"],
            )?;
            for (key, slot) in [
                ("root-service", &mut root_service),
                ("action-type", &mut action_type),
                ("fault-type", &mut fault_type),
            ] {
                if let Some(v) = root.attr(key) {
                    if slot.is_some() {
                        return Err(fail(
                            file,
                            &[root],
                            format!("attribute `{key}` given in more than one spec file"),
                        ));
                    }
                    *slot = Some(v.to_string());
                }
            }
            for el in &root.children {
                let path = [root, el];
                let name = required(file, &path, "name")?;
                let is_type = matches!(el.name.as_str(), "primitive" | "struct" | "enum");
                if is_type || el.name == "service" {
                    let key = if is_type {
                        format!("type {name}")
                    } else {
                        format!("service {name}")
                    };
                    if let Some((f0, e0)) = first_def.get(&key) {
                        return Err(fail(
                            file,
                            &path,
                            format!(
                                "duplicate name `{name}` (first defined at {}:{})",
                                f0.display(),
                                e0.line
                            ),
                        ));
                    }
                    first_def.insert(key, (file, el));
                }
                match el.name.as_str() {
                    "primitive" => {
                        check_attrs(file, &path, &["name", "kind"])?;
                        no_children(file, &path)?;
                        let kind_s = required(file, &path, "kind")?;
                        let kind = Primitive::from_name(kind_s).ok_or_else(|| {
                            fail(
                                file,
                                &path,
                                format!("unknown primitive kind `{kind_s}` (expected boolean, integer, decimal, date or string)"),
                            )
                        })?;
                        self.type_names
                            .insert(name.to_string(), TypeKind::Primitive(kind));
                        self.primitives.push((
                            PrimitiveDecl {
                                name: name.to_string(),
                                kind,
                            },
                            At { file, el },
                        ));
                    }
                    "struct" => {
                        self.type_names
                            .insert(name.to_string(), TypeKind::Struct(name.to_string()));
                        self.structs.push(At { file, el });
                    }
                    "enum" => {
                        self.type_names
                            .insert(name.to_string(), TypeKind::Enum(name.to_string()));
                        self.enums.push(At { file, el });
                    }
                    "service" => self.services.push(At { file, el }),
                    other => {
                        return Err(fail(
                            file,
                            &path,
                            format!("unknown element <{other}> (expected primitive, struct, enum or service)"),
                        ))
                    }
                }
            }
        }
        let _ = &self.primitives;

        let enums = self
            .enums
            .iter()
            .map(|at| self.load_enum(at))
            .collect::<Result<Vec<_>, _>>()?;
        let structs = self.load_structs()?;
        let services = self.load_services(&structs)?;

        let model = Model {
            primitives: self.primitives.iter().map(|(p, _)| p.clone()).collect(),
            structs,
            enums,
            services,
            root_service,
            action_type,
            fault_type,
        };
        self.check_references(roots, &model)?;
        Ok(model)
    }

    fn check_references(
        &self,
        roots: &[(PathBuf, Element)],
        model: &Model,
    ) -> Result<(), SpecError> {
        for (file, root) in roots {
            for (key, want_struct) in [
                ("root-service", false),
                ("action-type", true),
                ("fault-type", true),
            ] {
                if let Some(v) = root.attr(key) {
                    let ok = if want_struct {
                        model.struct_type(v).is_some()
                    } else {
                        model.service(v).is_some()
                    };
                    if !ok {
                        return Err(fail(
                            file,
                            &[root],
                            format!(
                                "attribute `{key}` names `{v}`, which is not a {}",
                                if want_struct { "struct" } else { "service" }
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn type_ref(&self, file: &Path, path: &[&Element], attr: &str) -> Result<TypeRef, SpecError> {
        let s = required(file, path, attr)?;
        let (base, list) = match s.strip_suffix("[]") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let kind = self.type_names.get(base).cloned().ok_or_else(|| {
            fail(
                file,
                path,
                format!("unknown type `{base}` in `{attr}=\"{s}\"`"),
            )
        })?;
        Ok(TypeRef { kind, list })
    }

    fn load_enum(&self, at: &At<'a>) -> Result<EnumType, SpecError> {
        let el = at.el;
        let path = [el];
        check_attrs(at.file, &path, &["name", "deprecated", "since"])?;
        let mut values: Vec<EnumValue> = Vec::new();
        for v in &el.children {
            let vp = [el, v];
            if v.name != "value" {
                return Err(fail(at.file, &vp, "unknown element (expected <value>)"));
            }
            check_attrs(at.file, &vp, &["name", "wire", "deprecated", "since"])?;
            no_children(at.file, &vp)?;
            let name = required(at.file, &vp, "name")?.to_string();
            let wire = v.attr("wire").unwrap_or(&name).to_string();
            if values.iter().any(|x| x.name == name || x.wire == wire) {
                return Err(fail(at.file, &vp, "duplicate enum value"));
            }
            values.push(EnumValue {
                name,
                wire,
                annotations: annotations(at.file, &vp)?,
            });
        }
        Ok(EnumType {
            name: required(at.file, &path, "name")?.to_string(),
            values,
            annotations: annotations(at.file, &path)?,
        })
    }

    fn load_structs(&self) -> Result<Vec<StructType>, SpecError> {
        // First pass: own members and tags.
        struct Raw {
            st: StructType,
            own_attrs: Vec<Member>,
            own_links: Vec<Member>,
        }
        let mut raws: Vec<Raw> = Vec::new();
        for at in &self.structs {
            let el = at.el;
            let path = [el];
            check_attrs(
                at.file,
                &path,
                &[
                    "name",
                    "base",
                    "tag",
                    "list-tag",
                    "list-tag-aliases",
                    "deprecated",
                    "since",
                ],
            )?;
            let name = required(at.file, &path, "name")?.to_string();
            let base = el.attr("base").map(str::to_string);
            if let Some(b) = &base {
                if !matches!(self.type_names.get(b), Some(TypeKind::Struct(_))) {
                    return Err(fail(at.file, &path, format!("base `{b}` is not a struct")));
                }
            }
            let st = StructType {
                tag: el.attr("tag").unwrap_or(&name).to_string(),
                list_tag: required(at.file, &path, "list-tag")?.to_string(),
                list_tag_aliases: el
                    .attr("list-tag-aliases")
                    .unwrap_or_default()
                    .split_ascii_whitespace()
                    .map(str::to_string)
                    .collect(),
                name,
                base,
                members: Vec::new(),
                annotations: annotations(at.file, &path)?,
            };
            raws.push(Raw {
                st,
                own_attrs: Vec::new(),
                own_links: Vec::new(),
            });
        }
        let tag_of: BTreeMap<String, String> = raws
            .iter()
            .map(|r| (r.st.name.clone(), r.st.tag.clone()))
            .collect();
        for (raw, at) in raws.iter_mut().zip(&self.structs) {
            let el = at.el;
            for m in &el.children {
                let mp = [el, m];
                let kind = match m.name.as_str() {
                    "attribute" => MemberKind::Attribute,
                    "link" => MemberKind::Link,
                    _ => {
                        return Err(fail(
                            at.file,
                            &mp,
                            "unknown element (expected <attribute> or <link>)",
                        ))
                    }
                };
                check_attrs(
                    at.file,
                    &mp,
                    &[
                        "name",
                        "type",
                        "tag",
                        "item-tag",
                        "xml",
                        "rel",
                        "deprecated",
                        "since",
                    ],
                )?;
                no_children(at.file, &mp)?;
                let name = required(at.file, &mp, "name")?.to_string();
                let ty = self.type_ref(at.file, &mp, "type")?;
                let as_attribute = match m.attr("xml") {
                    None | Some("element") => false,
                    Some("attribute") => true,
                    Some(v) => {
                        return Err(fail(
                            at.file,
                            &mp,
                            format!("`xml` must be `element` or `attribute`, found `{v}`"),
                        ))
                    }
                };
                if as_attribute && (ty.list || !ty.is_scalar()) {
                    return Err(fail(
                        at.file,
                        &mp,
                        "only a primitive or enum member can be an XML attribute",
                    ));
                }
                let item_tag = if ty.list {
                    Some(match (m.attr("item-tag"), &ty.kind) {
                        (Some(t), _) => t.to_string(),
                        (None, TypeKind::Struct(s)) => tag_of[s].clone(),
                        (None, _) => {
                            return Err(fail(
                                at.file,
                                &mp,
                                "a list of primitives or enums needs `item-tag`",
                            ))
                        }
                    })
                } else {
                    if m.attr("item-tag").is_some() {
                        return Err(fail(at.file, &mp, "`item-tag` is only for list types"));
                    }
                    None
                };
                let rel = m.attr("rel").map(str::to_string);
                if rel.is_some() && !(kind == MemberKind::Link && ty.list) {
                    return Err(fail(at.file, &mp, "`rel` is only for list-typed links"));
                }
                let member = Member {
                    xml: XmlName {
                        tag: m.attr("tag").unwrap_or(&name).to_string(),
                        item_tag,
                        as_attribute,
                        rel,
                    },
                    name,
                    kind,
                    ty,
                    declared_in: raw.st.name.clone(),
                    annotations: annotations(at.file, &mp)?,
                };
                let dup = raw
                    .own_attrs
                    .iter()
                    .chain(&raw.own_links)
                    .any(|x| x.name == member.name);
                if dup {
                    return Err(fail(at.file, &mp, "duplicate member name"));
                }
                match kind {
                    MemberKind::Attribute => raw.own_attrs.push(member),
                    MemberKind::Link => raw.own_links.push(member),
                }
            }
        }
        // Second pass: flatten. Attributes: own, then inherited; links:
        // inherited, then own (the model's order).
        let index: BTreeMap<&str, usize> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| (r.st.name.as_str(), i))
            .collect();
        let mut out = Vec::new();
        for (i, at) in self.structs.iter().enumerate() {
            let mut chain = vec![i];
            let mut cur = i;
            while let Some(b) = &raws[cur].st.base {
                cur = index[b.as_str()];
                if chain.contains(&cur) {
                    return Err(fail(at.file, &[at.el], "struct inheritance cycle"));
                }
                chain.push(cur);
            }
            let mut attrs = Vec::new();
            for &c in &chain {
                attrs.extend(raws[c].own_attrs.iter().cloned());
            }
            let mut links = Vec::new();
            for &c in chain.iter().rev() {
                links.extend(raws[c].own_links.iter().cloned());
            }
            let mut st = raws[i].st.clone();
            st.members = attrs;
            st.members.extend(links);
            for (j, m) in st.members.iter().enumerate() {
                if st.members[..j].iter().any(|x| x.name == m.name) {
                    return Err(fail(
                        at.file,
                        &[at.el],
                        format!(
                            "member `{}` (declared in `{}`) is declared twice along the inheritance chain",
                            m.name, m.declared_in
                        ),
                    ));
                }
            }
            out.push(st);
        }
        Ok(out)
    }

    fn parameter(
        &self,
        file: &Path,
        path: &[&Element],
        structs: &[StructType],
    ) -> Result<Parameter, SpecError> {
        let p = path[path.len() - 1];
        check_attrs(
            file,
            path,
            &[
                "name",
                "type",
                "in",
                "out",
                "tag",
                "item-tag",
                "mandatory",
                "deprecated",
                "since",
            ],
        )?;
        no_children(file, path)?;
        let name = required(file, path, "name")?.to_string();
        let ty = self.type_ref(file, path, "type")?;
        let input = match p.attr("in") {
            None => None,
            Some("query") => Some(ParamIn::Query),
            Some("body") => Some(ParamIn::Body),
            Some("action") => Some(ParamIn::Action),
            Some(v) => {
                return Err(fail(
                    file,
                    path,
                    format!("`in` must be query, body or action, found `{v}`"),
                ))
            }
        };
        let output = match p.attr("out") {
            None => None,
            Some("body") => Some(ParamOut::Body),
            Some("action") => Some(ParamOut::Action),
            Some(v) => {
                return Err(fail(
                    file,
                    path,
                    format!("`out` must be body or action, found `{v}`"),
                ))
            }
        };
        if input == Some(ParamIn::Query) && (ty.list || !ty.is_scalar()) {
            return Err(fail(
                file,
                path,
                "a query parameter must be a single primitive or enum",
            ));
        }
        if (input == Some(ParamIn::Body) || output == Some(ParamOut::Body)) && ty.is_scalar() {
            return Err(fail(
                file,
                path,
                "a body parameter must be a struct or a list of structs",
            ));
        }
        let item_tag = if ty.list {
            match (p.attr("item-tag"), &ty.kind) {
                (Some(t), _) => Some(t.to_string()),
                (None, TypeKind::Struct(s)) => {
                    structs.iter().find(|x| &x.name == s).map(|x| x.tag.clone())
                }
                (None, _) => {
                    return Err(fail(
                        file,
                        path,
                        "a list of primitives or enums needs `item-tag`",
                    ))
                }
            }
        } else {
            None
        };
        Ok(Parameter {
            tag: p.attr("tag").unwrap_or(&name).to_string(),
            name,
            ty,
            input,
            output,
            item_tag,
            mandatory: flag(file, path, "mandatory")?,
            annotations: annotations(file, path)?,
        })
    }

    fn load_services(&self, structs: &[StructType]) -> Result<Vec<Service>, SpecError> {
        struct Raw {
            svc: Service,
        }
        let service_names: Vec<&str> = self
            .services
            .iter()
            .map(|at| at.el.attr("name").unwrap_or(""))
            .collect();
        let mut raws = Vec::new();
        for at in &self.services {
            let el = at.el;
            let path = [el];
            check_attrs(at.file, &path, &["name", "base", "deprecated", "since"])?;
            let name = required(at.file, &path, "name")?.to_string();
            let base = el.attr("base").map(str::to_string);
            if let Some(b) = &base {
                if !service_names.contains(&b.as_str()) {
                    return Err(fail(at.file, &path, format!("unknown base service `{b}`")));
                }
            }
            let mut methods: Vec<Method> = Vec::new();
            let mut locators: Vec<Locator> = Vec::new();
            for c in &el.children {
                let cp = [el, c];
                match c.name.as_str() {
                    "method" => {
                        check_attrs(
                            at.file,
                            &cp,
                            &[
                                "name",
                                "base",
                                "kind",
                                "verb",
                                "segment",
                                "deprecated",
                                "since",
                            ],
                        )?;
                        let mname = required(at.file, &cp, "name")?.to_string();
                        let kind_s = required(at.file, &cp, "kind")?;
                        let kind = MethodKind::from_name(kind_s).ok_or_else(|| {
                            fail(at.file, &cp, format!("unknown method kind `{kind_s}`"))
                        })?;
                        let verb_s = required(at.file, &cp, "verb")?;
                        let verb = Verb::from_name(verb_s).ok_or_else(|| {
                            fail(at.file, &cp, format!("unknown HTTP verb `{verb_s}`"))
                        })?;
                        let mut parameters: Vec<Parameter> = Vec::new();
                        for p in &c.children {
                            let pp = [el, c, p];
                            if p.name != "parameter" {
                                return Err(fail(
                                    at.file,
                                    &pp,
                                    "unknown element (expected <parameter>)",
                                ));
                            }
                            let param = self.parameter(at.file, &pp, structs)?;
                            if parameters.iter().any(|x| x.name == param.name) {
                                return Err(fail(at.file, &pp, "duplicate parameter name"));
                            }
                            parameters.push(param);
                        }
                        if parameters.iter().filter(|p| p.output.is_some()).count() > 1 {
                            return Err(fail(at.file, &cp, "more than one output parameter"));
                        }
                        if parameters
                            .iter()
                            .filter(|p| p.input == Some(ParamIn::Body))
                            .count()
                            > 1
                        {
                            return Err(fail(at.file, &cp, "more than one body parameter"));
                        }
                        let m = Method {
                            base: c.attr("base").map(str::to_string),
                            kind,
                            verb,
                            segment: c.attr("segment").map(str::to_string),
                            parameters,
                            declared_in: name.clone(),
                            annotations: annotations(at.file, &cp)?,
                            name: mname,
                        };
                        if methods.iter().any(|x| x.sdk_name() == m.sdk_name()) {
                            return Err(fail(at.file, &cp, "duplicate method"));
                        }
                        methods.push(m);
                    }
                    "locator" => {
                        check_attrs(
                            at.file,
                            &cp,
                            &["name", "service", "segment", "deprecated", "since"],
                        )?;
                        let lname = required(at.file, &cp, "name")?.to_string();
                        let target = required(at.file, &cp, "service")?.to_string();
                        if !service_names.contains(&target.as_str()) {
                            return Err(fail(at.file, &cp, format!("unknown service `{target}`")));
                        }
                        let mut params = Vec::new();
                        for p in &c.children {
                            let pp = [el, c, p];
                            if p.name != "parameter" {
                                return Err(fail(
                                    at.file,
                                    &pp,
                                    "unknown element (expected <parameter>)",
                                ));
                            }
                            params.push(self.parameter(at.file, &pp, structs)?);
                        }
                        let path =
                            match (c.attr("segment"), params.len()) {
                                (Some(s), 0) => LocatorPath::Segment(s.to_string()),
                                (None, 1) => {
                                    let p = params.pop().expect("one parameter");
                                    if p.ty.list || !p.ty.is_scalar() {
                                        return Err(fail(
                                        at.file,
                                        &cp,
                                        "a locator parameter must be a single primitive or enum",
                                    ));
                                    }
                                    LocatorPath::Parameter(p)
                                }
                                _ => return Err(fail(
                                    at.file,
                                    &cp,
                                    "a locator needs either `segment` or exactly one <parameter>",
                                )),
                            };
                        if locators.iter().any(|x| x.name == lname) {
                            return Err(fail(at.file, &cp, "duplicate locator"));
                        }
                        locators.push(Locator {
                            name: lname,
                            service: target,
                            path,
                            declared_in: name.clone(),
                            annotations: annotations(at.file, &cp)?,
                        });
                    }
                    _ => {
                        return Err(fail(
                            at.file,
                            &cp,
                            "unknown element (expected <method> or <locator>)",
                        ))
                    }
                }
            }
            raws.push(Raw {
                svc: Service {
                    name,
                    base,
                    methods,
                    locators,
                    annotations: annotations(at.file, &path)?,
                },
            });
        }
        let index: BTreeMap<String, usize> = raws
            .iter()
            .enumerate()
            .map(|(i, r)| (r.svc.name.clone(), i))
            .collect();
        let mut out = Vec::new();
        for (i, at) in self.services.iter().enumerate() {
            let mut chain = vec![i];
            let mut cur = i;
            while let Some(b) = &raws[cur].svc.base {
                cur = index[b];
                if chain.contains(&cur) {
                    return Err(fail(at.file, &[at.el], "service inheritance cycle"));
                }
                chain.push(cur);
            }
            let mut svc = raws[i].svc.clone();
            svc.methods.clear();
            svc.locators.clear();
            for &c in chain.iter().rev() {
                svc.methods.extend(raws[c].svc.methods.iter().cloned());
                svc.locators.extend(raws[c].svc.locators.iter().cloned());
            }
            for m in &svc.methods {
                if let Some(b) = &m.base {
                    if !svc.methods.iter().any(|x| &x.name == b && x.base.is_none()) {
                        return Err(fail(
                            at.file,
                            &[at.el],
                            format!(
                                "method `{}`: base method `{b}` is not a method of this service",
                                m.name
                            ),
                        ));
                    }
                }
            }
            for (j, m) in svc.methods.iter().enumerate() {
                if svc.methods[..j]
                    .iter()
                    .any(|x| x.sdk_name() == m.sdk_name())
                {
                    return Err(fail(
                        at.file,
                        &[at.el],
                        format!(
                            "method `{}` is declared twice along the inheritance chain",
                            m.sdk_name()
                        ),
                    ));
                }
            }
            out.push(svc);
        }
        Ok(out)
    }
}
