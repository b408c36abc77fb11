//! Writer used by the generated `ToXml` impls.

use super::{List, Scalar, ToXml, XmlType};

/// Builds an XML document as text. Generated writers call its helpers.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: bool,
    scratch: String,
}

fn escape_into(out: &mut String, text: &str, attr: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

impl XmlWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document written so far.
    pub fn finish(self) -> String {
        self.out
    }

    fn close_open(&mut self) {
        if self.open {
            self.out.push('>');
            self.open = false;
        }
    }

    /// Writes `<tag` (attributes may follow).
    pub fn start(&mut self, tag: &str) {
        self.close_open();
        self.out.push('<');
        self.out.push_str(tag);
        self.open = true;
    }

    /// Writes attribute `name` of the element just started, if `value` is set.
    pub fn attr<T: Scalar>(&mut self, name: &str, value: &Option<T>) {
        if let Some(v) = value {
            if self.open {
                self.scratch.clear();
                v.write_xml(&mut self.scratch);
                self.out.push(' ');
                self.out.push_str(name);
                self.out.push_str("=\"");
                escape_into(&mut self.out, &self.scratch, true);
                self.out.push('"');
            }
        }
    }

    /// Ends element `tag` (`/>` when it has no content).
    pub fn end(&mut self, tag: &str) {
        if self.open {
            self.out.push_str("/>");
            self.open = false;
        } else {
            self.out.push_str("</");
            self.out.push_str(tag);
            self.out.push('>');
        }
    }

    /// Writes `<tag>text</tag>` (`<tag></tag>` for empty text).
    pub fn scalar<T: Scalar>(&mut self, tag: &str, value: &T) {
        self.start(tag);
        self.close_open();
        self.scratch.clear();
        value.write_xml(&mut self.scratch);
        escape_into(&mut self.out, &self.scratch, false);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// Writes a member if it is set.
    pub fn value<T: ToXml>(&mut self, tag: &str, value: &Option<T>) {
        if let Some(v) = value {
            v.to_xml(self, tag);
        }
    }

    /// Writes a list member if set: wrapper `tag`, items `item` (R3.2).
    pub fn list<T: ToXml>(&mut self, tag: &str, item: &str, value: &Option<Vec<T>>) {
        if let Some(v) = value {
            self.items(tag, item, v, &None);
        }
    }

    fn items<T: ToXml>(&mut self, tag: &str, item: &str, items: &[T], href: &Option<String>) {
        self.start(tag);
        self.attr("href", href);
        for i in items {
            i.to_xml(self, item);
        }
        self.end(tag);
    }

    /// Writes a list-typed link if set: `<link rel href/>` when only the href
    /// is known (and `rel` is given), else the inline list with the href on
    /// its wrapper (R3.6).
    #[doc(hidden)]
    pub fn link_list<T: ToXml>(
        &mut self,
        tag: &str,
        item: &str,
        rel: Option<&str>,
        value: &Option<List<T>>,
    ) {
        let Some(list) = value else { return };
        match (rel, &list.href) {
            (Some(rel), Some(href)) if list.items.is_empty() => {
                self.start("link");
                self.attr("rel", &Some(rel.to_string()));
                self.attr("href", &Some(href.clone()));
                self.end("link");
            }
            _ => self.items(tag, item, &list.items, &list.href),
        }
    }
}

/// Writes `value` as a document with root `T::TAG`.
pub fn to_string<T: ToXml + XmlType>(value: &T) -> String {
    to_string_tagged(value, T::TAG)
}

/// Writes `value` as a document with root element `tag`.
pub fn to_string_tagged<T: ToXml>(value: &T, tag: &str) -> String {
    let mut w = XmlWriter::new();
    value.to_xml(&mut w, tag);
    w.finish()
}

/// Writes a list document: root `T::LIST_TAG`, items `T::TAG` (R1.4).
pub fn to_string_list<T: ToXml + XmlType>(items: &[T]) -> String {
    let mut w = XmlWriter::new();
    w.items(T::LIST_TAG, T::TAG, items, &None);
    w.finish()
}
