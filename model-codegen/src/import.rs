//! Imports an upstream oVirt `model.xml` into the spec format (see `spec/README.md`).
//!
//! The oVirt wire conventions of docs/wire.md are applied here, once, and written
//! into the spec as data; the generator never applies them itself:
//!
//! * tag names `T(x)` from the exception table in `names.xml` (R3.1);
//! * plural and singular of the last word, with the exceptions of `names.xml` (R3.3);
//! * list tags of structs `T(plural(name))`, item tags of primitive/enum lists
//!   `T(singular(member))` (R3.2);
//! * `id` as an XML attribute (R3.4, list in `names.xml`);
//! * `rel` of list links = member name without `_` (R3.6);
//! * method kind through the `base` chain, verb per kind, action segment =
//!   name without `_`, parameter placement (R0, R1.1-R1.8);
//! * locator segment = name without `_`, or the parameter (R2.1).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::dom::{self, Element};

/// Name of the hand-maintained importer input in the spec directory.
pub const NAMES_FILE: &str = "names.xml";
/// Spec file with primitives, enums and structs.
pub const TYPES_FILE: &str = "types.xml";
/// Spec file with services.
pub const SERVICES_FILE: &str = "services.xml";

/// An import error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// File the error is about.
    pub file: PathBuf,
    /// What is wrong (names the element).
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

impl std::error::Error for ImportError {}

/// The naming data of `names.xml`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    tags: BTreeMap<String, String>,
    list_tag_aliases: BTreeMap<String, Vec<String>>,
    plurals: BTreeMap<String, String>,
    singulars: BTreeMap<String, String>,
    attributes: Vec<String>,
    action_type: Option<String>,
    fault_type: Option<String>,
}

impl Names {
    /// Parses `names.xml`.
    pub fn parse(file: &Path, text: &str) -> Result<Names, ImportError> {
        let err = |m: String| ImportError {
            file: file.to_path_buf(),
            message: m,
        };
        let root = dom::parse(text).map_err(|(l, m)| err(format!("line {l}: {m}")))?;
        if root.name != crate::spec::IMPORT_ROOT {
            return Err(err(format!(
                "expected root <{}>, found <{}>",
                crate::spec::IMPORT_ROOT,
                root.name
            )));
        }
        let mut n = Names::default();
        for c in &root.children {
            let get = |a: &str| {
                c.attr(a).map(str::to_string).ok_or_else(|| {
                    err(format!(
                        "line {}: <{}> needs attribute `{a}`",
                        c.line, c.name
                    ))
                })
            };
            match c.name.as_str() {
                "tag" => {
                    n.tags.insert(get("name")?, get("tag")?);
                }
                "list-tag-alias" => {
                    n.list_tag_aliases
                        .entry(get("name")?)
                        .or_default()
                        .push(get("alias")?);
                }
                "plural" => {
                    n.plurals.insert(get("word")?, get("plural")?);
                }
                "singular" => {
                    n.singulars.insert(get("word")?, get("singular")?);
                }
                "xml-attribute" => n.attributes.push(get("member")?),
                "envelopes" => {
                    n.action_type = Some(get("action")?);
                    n.fault_type = Some(get("fault")?);
                }
                other => {
                    return Err(err(format!(
                        "line {}: unknown element <{other}> (expected tag, list-tag-alias, plural, singular, xml-attribute or envelopes)",
                        c.line
                    )))
                }
            }
        }
        Ok(n)
    }

    /// `T(x)` (R3.1).
    pub fn tag(&self, x: &str) -> String {
        self.tags.get(x).cloned().unwrap_or_else(|| x.to_string())
    }

    fn last_word(x: &str) -> (&str, &str) {
        match x.rfind('_') {
            Some(i) => (&x[..=i], &x[i + 1..]),
            None => ("", x),
        }
    }

    /// Plural of the last word (R3.3).
    pub fn plural(&self, x: &str) -> String {
        let (head, w) = Self::last_word(x);
        let p = if let Some(p) = self.plurals.get(w) {
            p.clone()
        } else if let Some(stem) = w.strip_suffix('y') {
            format!("{stem}ies")
        } else {
            format!("{w}s")
        };
        format!("{head}{p}")
    }

    /// Singular of the last word (R3.3).
    pub fn singular(&self, x: &str) -> String {
        let (head, w) = Self::last_word(x);
        let s = if let Some(s) = self.singulars.get(w) {
            s.clone()
        } else if let Some(stem) = w.strip_suffix("ies") {
            format!("{stem}y")
        } else if let Some(stem) = w.strip_suffix('s') {
            stem.to_string()
        } else {
            w.to_string()
        };
        format!("{head}{s}")
    }
}

fn child<'e>(e: &'e Element, name: &str) -> Option<&'e Element> {
    e.children.iter().find(|c| c.name == name)
}

fn text(e: &Element, name: &str) -> String {
    child(e, name).map(|c| c.text.clone()).unwrap_or_default()
}

fn children<'e>(e: &'e Element, name: &'e str) -> impl Iterator<Item = &'e Element> + 'e {
    e.children.iter().filter(move |c| c.name == name)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// ` deprecated="true" since="4.1"` from a model element's annotations.
fn annotations(e: &Element) -> String {
    let mut s = String::new();
    if let Some(a) = child(e, "annotations") {
        for an in children(a, "annotation") {
            match text(an, "name").as_str() {
                "deprecated" => s.push_str(" deprecated=\"true\""),
                "since" => {
                    let v = child(an, "parameters")
                        .and_then(|p| child(p, "parameter"))
                        .and_then(|p| child(p, "values"))
                        .and_then(|v| child(v, "value"))
                        .map(|v| v.text.clone());
                    if let Some(v) = v {
                        let _ = write!(s, " since=\"{}\"", esc(&v));
                    }
                }
                _ => {}
            }
        }
    }
    s
}

fn declared(e: &Element) -> bool {
    e.attr("declared_in").is_none()
}

const HEADER: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- Written by `import-model` from the upstream model description and names.xml.\n     Re-run the importer instead of editing by hand (see README.md). -->\n";

/// The spec files an import produces: (file name, contents).
pub type ImportedFiles = Vec<(String, String)>;

/// Imports `model_xml` (contents of an upstream `model.xml`) with `names`.
pub fn import(
    model_file: &Path,
    model_xml: &str,
    names: &Names,
) -> Result<ImportedFiles, ImportError> {
    let err = |m: String| ImportError {
        file: model_file.to_path_buf(),
        message: m,
    };
    let root = dom::parse(model_xml).map_err(|(l, m)| err(format!("line {l}: {m}")))?;
    if root.name != "model" {
        return Err(err(format!("expected root <model>, found <{}>", root.name)));
    }
    let types = child(&root, "types").ok_or_else(|| err("no <types>".into()))?;
    let services = child(&root, "services").ok_or_else(|| err("no <services>".into()))?;

    // Which names are structs (for list item tags).
    let struct_names: Vec<String> = children(types, "struct").map(|s| text(s, "name")).collect();
    let is_struct = |t: &str| struct_names.iter().any(|s| s == t);

    // ---- types.xml
    let mut t = String::from(HEADER);
    t.push_str("<api");
    if let Some(a) = &names.action_type {
        let _ = write!(t, " action-type=\"{}\"", esc(a));
    }
    if let Some(f) = &names.fault_type {
        let _ = write!(t, " fault-type=\"{}\"", esc(f));
    }
    t.push_str(">\n");
    for ty in &types.children {
        let name = text(ty, "name");
        match ty.name.as_str() {
            "primitive" => {
                if crate::ir::Primitive::from_name(&name).is_none() {
                    return Err(err(format!(
                        "line {}: primitive `{name}` is not one of boolean, integer, decimal, date, string",
                        ty.line
                    )));
                }
                let _ = writeln!(t, "  <primitive name=\"{name}\" kind=\"{name}\"/>");
            }
            "enum" => {
                let _ = writeln!(t, "  <enum name=\"{}\"{}>", esc(&name), annotations(ty));
                for v in children(ty, "value") {
                    // R3.9: the wire text is the value's model name.
                    let _ = writeln!(
                        t,
                        "    <value name=\"{}\"{}/>",
                        esc(&text(v, "name")),
                        annotations(v)
                    );
                }
                t.push_str("  </enum>\n");
            }
            "struct" => {
                let _ = write!(t, "  <struct name=\"{}\"", esc(&name));
                if let Some(b) = child(ty, "base") {
                    let _ = write!(t, " base=\"{}\"", esc(&b.text));
                }
                let tag = names.tag(&name);
                if tag != name {
                    let _ = write!(t, " tag=\"{}\"", esc(&tag));
                }
                let _ = write!(t, " list-tag=\"{}\"", esc(&names.tag(&names.plural(&name))));
                if let Some(aliases) = names.list_tag_aliases.get(&name) {
                    let _ = write!(t, " list-tag-aliases=\"{}\"", esc(&aliases.join(" ")));
                }
                t.push_str(&annotations(ty));
                let members: Vec<&Element> = ty
                    .children
                    .iter()
                    .filter(|c| (c.name == "attribute" || c.name == "link") && declared(c))
                    .collect();
                if members.is_empty() {
                    t.push_str("/>\n");
                    continue;
                }
                t.push_str(">\n");
                for m in members {
                    let mname = text(m, "name");
                    let mtype = text(m, "type");
                    let _ = write!(
                        t,
                        "    <{} name=\"{}\" type=\"{}\"",
                        m.name,
                        esc(&mname),
                        esc(&mtype)
                    );
                    let mtag = names.tag(&mname);
                    if mtag != mname {
                        let _ = write!(t, " tag=\"{}\"", esc(&mtag));
                    }
                    if let Some(elem) = mtype.strip_suffix("[]") {
                        if !is_struct(elem) {
                            let _ = write!(
                                t,
                                " item-tag=\"{}\"",
                                esc(&names.tag(&names.singular(&mname)))
                            );
                        }
                        if m.name == "link" {
                            let _ = write!(t, " rel=\"{}\"", esc(&mname.replace('_', "")));
                        }
                    }
                    if names.attributes.contains(&mname) {
                        t.push_str(" xml=\"attribute\"");
                    }
                    t.push_str(&annotations(m));
                    t.push_str("/>\n");
                }
                t.push_str("  </struct>\n");
            }
            other => {
                return Err(err(format!(
                    "line {}: unknown type element <{other}>",
                    ty.line
                )));
            }
        }
    }
    t.push_str("</api>\n");

    // ---- services.xml
    let mut s = String::from(HEADER);
    let root_service = text(&root, "root");
    if root_service.is_empty() {
        s.push_str("<api>\n");
    } else {
        let _ = writeln!(s, "<api root-service=\"{}\">", esc(&root_service));
    }
    for svc in children(services, "service") {
        let sname = text(svc, "name");
        let _ = write!(s, "  <service name=\"{}\"", esc(&sname));
        if let Some(b) = child(svc, "base") {
            let _ = write!(s, " base=\"{}\"", esc(&b.text));
        }
        s.push_str(&annotations(svc));
        let all_methods: Vec<&Element> = children(svc, "method").collect();
        let methods: Vec<&Element> = all_methods
            .iter()
            .copied()
            .filter(|m| declared(m))
            .collect();
        let locators: Vec<&Element> = children(svc, "locator").filter(|l| declared(l)).collect();
        if methods.is_empty() && locators.is_empty() {
            s.push_str("/>\n");
            continue;
        }
        s.push_str(">\n");
        for m in methods {
            let mname = text(m, "name");
            // R0: follow the base chain to the method without a base.
            let mut end = m;
            let mut guard = 0;
            while let Some(b) = child(end, "base") {
                guard += 1;
                end = all_methods
                    .iter()
                    .copied()
                    .find(|x| text(x, "name") == b.text && child(x, "base").is_none())
                    .ok_or_else(|| {
                        err(format!(
                            "service `{sname}` method `{mname}`: base method `{}` not found",
                            b.text
                        ))
                    })?;
                if guard > 16 {
                    return Err(err(format!(
                        "service `{sname}` method `{mname}`: base cycle"
                    )));
                }
            }
            let end_name = text(end, "name");
            let (kind, verb) = match end_name.as_str() {
                "get" => ("get", "GET"),
                "list" => ("list", "GET"),
                "add" => ("add", "POST"),
                "update" => ("update", "PUT"),
                "remove" => ("remove", "DELETE"),
                _ => ("action", "POST"),
            };
            let _ = write!(s, "    <method name=\"{}\"", esc(&mname));
            if let Some(b) = child(m, "base") {
                let _ = write!(s, " base=\"{}\"", esc(&b.text));
            }
            let _ = write!(s, " kind=\"{kind}\" verb=\"{verb}\"");
            if kind == "action" {
                let _ = write!(s, " segment=\"{}\"", esc(&end_name.replace('_', "")));
            }
            s.push_str(&annotations(m));
            let params: Vec<&Element> = children(m, "parameter").collect();
            if params.is_empty() {
                s.push_str("/>\n");
                continue;
            }
            s.push_str(">\n");
            for p in params {
                let pname = text(p, "name");
                let ptype = text(p, "type");
                let is_in = text(p, "in") == "true";
                let is_out = text(p, "out") == "true";
                let elem = ptype.strip_suffix("[]");
                let structured = is_struct(elem.unwrap_or(&ptype)) || elem.is_some();
                let input = match (is_in, kind) {
                    (false, _) => None,
                    (true, "add" | "update") if is_out => Some("body"),
                    (_, "add" | "update") => Some("query"),
                    // R1.7: a structured remove input goes in an action envelope.
                    (_, "remove") if structured => Some("action"),
                    (_, "get" | "list" | "remove") => Some("query"),
                    _ => Some("action"),
                };
                let output = match (is_out, kind) {
                    (false, _) => None,
                    (_, "action") => Some("action"),
                    _ => Some("body"),
                };
                let _ = write!(
                    s,
                    "      <parameter name=\"{}\" type=\"{}\"",
                    esc(&pname),
                    esc(&ptype)
                );
                if let Some(i) = input {
                    let _ = write!(s, " in=\"{i}\"");
                }
                if let Some(o) = output {
                    let _ = write!(s, " out=\"{o}\"");
                }
                let ptag = names.tag(&pname);
                if ptag != pname {
                    let _ = write!(s, " tag=\"{}\"", esc(&ptag));
                }
                if let Some(e) = elem {
                    if !is_struct(e) {
                        let _ = write!(
                            s,
                            " item-tag=\"{}\"",
                            esc(&names.tag(&names.singular(&pname)))
                        );
                    }
                }
                if p.attr("mandatory") == Some("true") {
                    s.push_str(" mandatory=\"true\"");
                }
                s.push_str(&annotations(p));
                s.push_str("/>\n");
            }
            s.push_str("    </method>\n");
        }
        for l in locators {
            let lname = text(l, "name");
            let _ = write!(
                s,
                "    <locator name=\"{}\" service=\"{}\"",
                esc(&lname),
                esc(&text(l, "service"))
            );
            let params: Vec<&Element> = children(l, "parameter").collect();
            match params.as_slice() {
                [] => {
                    let _ = write!(
                        s,
                        " segment=\"{}\"{}/>",
                        esc(&lname.replace('_', "")),
                        annotations(l)
                    );
                    s.push('\n');
                }
                [p] => {
                    let _ = writeln!(
                        s,
                        "{}>\n      <parameter name=\"{}\" type=\"{}\"/>\n    </locator>",
                        annotations(l),
                        esc(&text(p, "name")),
                        esc(&text(p, "type"))
                    );
                }
                _ => {
                    return Err(err(format!(
                        "service `{sname}` locator `{lname}`: more than one parameter"
                    )))
                }
            }
        }
        s.push_str("  </service>\n");
    }
    s.push_str("</api>\n");

    let files = vec![(TYPES_FILE.to_string(), t), (SERVICES_FILE.to_string(), s)];
    verify(model_file, &root, &files)?;
    Ok(files)
}

/// Loads the imported files and checks that the flattened members, methods
/// and locators equal the upstream (already flattened) lists, in order.
fn verify(model_file: &Path, root: &Element, files: &ImportedFiles) -> Result<(), ImportError> {
    let err = |m: String| ImportError {
        file: model_file.to_path_buf(),
        message: m,
    };
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, c)| (PathBuf::from(n), c.clone()))
        .collect();
    let model = crate::spec::load_sources(&sources)
        .map_err(|e| err(format!("imported spec does not load: {e}")))?;
    let types = child(root, "types").expect("checked");
    for st in children(types, "struct") {
        let name = text(st, "name");
        let want: Vec<String> = st
            .children
            .iter()
            .filter(|c| c.name == "attribute" || c.name == "link")
            .map(|c| text(c, "name"))
            .collect();
        let got: Vec<String> = model
            .struct_type(&name)
            .map(|s| s.members.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        if want != got {
            return Err(err(format!(
                "struct `{name}`: flattened members {got:?} differ from the model's {want:?}"
            )));
        }
    }
    let services = child(root, "services").expect("checked");
    for sv in children(services, "service") {
        let name = text(sv, "name");
        let svc = model.service(&name);
        let want_m: Vec<String> = children(sv, "method").map(|c| text(c, "name")).collect();
        let got_m: Vec<String> = svc
            .map(|s| s.methods.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        let want_l: Vec<String> = children(sv, "locator").map(|c| text(c, "name")).collect();
        let got_l: Vec<String> = svc
            .map(|s| s.locators.iter().map(|m| m.name.clone()).collect())
            .unwrap_or_default();
        if want_m != got_m || want_l != got_l {
            return Err(err(format!(
                "service `{name}`: flattened methods/locators differ from the model's"
            )));
        }
    }
    Ok(())
}

/// Reads `model.xml` and `<spec_dir>/names.xml` and returns the files to write.
pub fn import_paths(model_xml: &Path, spec_dir: &Path) -> Result<ImportedFiles, ImportError> {
    let names_path = spec_dir.join(NAMES_FILE);
    let names_text = std::fs::read_to_string(&names_path).map_err(|e| ImportError {
        file: names_path.clone(),
        message: format!("cannot read: {e}"),
    })?;
    let names = Names::parse(&names_path, &names_text)?;
    let model_text = std::fs::read_to_string(model_xml).map_err(|e| ImportError {
        file: model_xml.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    import(model_xml, &model_text, &names)
}

/// Files of `spec_dir` that differ from `files` (missing counts as different).
pub fn differences(spec_dir: &Path, files: &ImportedFiles) -> Vec<PathBuf> {
    files
        .iter()
        .filter(|(name, contents)| {
            std::fs::read_to_string(spec_dir.join(name)).ok().as_deref() != Some(contents.as_str())
        })
        .map(|(name, _)| spec_dir.join(name))
        .collect()
}
