//! A small XML tree: how the store keeps its objects between requests.
//!
//! Documents enter the store only after a round trip through the SDK's generated reader
//! and writer of their type, and leave it the same way ([`crate::store`]), so this tree
//! never decides what a document may contain; it only holds it and lets the engine set
//! a status or a reference generically.

use quick_xml::events::Event;

/// One element: its name, attributes, text and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) text: Option<String>,
    pub(crate) children: Vec<Node>,
}

impl Node {
    /// An empty element.
    pub(crate) fn new(name: &str) -> Node {
        Node {
            name: name.to_string(),
            ..Node::default()
        }
    }

    /// An element holding only text.
    pub(crate) fn leaf(name: &str, text: impl Into<String>) -> Node {
        Node {
            text: Some(text.into()),
            ..Node::new(name)
        }
    }

    /// A reference `<name id=".." href=".."/>` (R3.6).
    pub(crate) fn reference(name: &str, id: &str, href: &str) -> Node {
        let mut n = Node::new(name);
        n.set_attr("id", id);
        n.set_attr("href", href);
        n
    }

    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value.to_string(),
            None => self.attrs.push((name.to_string(), value.to_string())),
        }
    }

    pub(crate) fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of child `name`.
    pub(crate) fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).and_then(|c| c.text.as_deref())
    }

    /// Replaces the child of the same name, or appends it.
    pub(crate) fn put(&mut self, child: Node) {
        match self.children.iter_mut().find(|c| c.name == child.name) {
            Some(c) => *c = child,
            None => self.children.push(child),
        }
    }

    /// Sets child `name` to hold `text`.
    pub(crate) fn put_text(&mut self, name: &str, text: impl Into<String>) {
        self.put(Node::leaf(name, text));
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.children.retain(|c| c.name != name);
    }

    /// The values found at a dotted path: `name`, `cluster.name`, `id` (an attribute),
    /// `storage_domains.storage_domain.id` (every item of a list).
    pub(crate) fn values(&self, path: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(path, &mut out);
        out
    }

    fn collect(&self, path: &str, out: &mut Vec<String>) {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        if rest.is_none() {
            if let Some(v) = self.attr(head) {
                out.push(v.to_string());
                return;
            }
        }
        for c in self.children.iter().filter(|c| c.name == head) {
            match rest {
                Some(r) => c.collect(r, out),
                None => {
                    if let Some(t) = &c.text {
                        out.push(t.clone());
                    }
                }
            }
        }
    }

    /// Reads a document. Only what the SDK's writers produce needs to be understood:
    /// elements, attributes and text.
    pub(crate) fn parse(text: &str) -> Result<Node, String> {
        let mut reader = quick_xml::Reader::from_str(text);
        let mut stack: Vec<Node> = Vec::new();
        loop {
            let event = reader
                .read_event()
                .map_err(|e| format!("malformed XML: {e}"))?;
            match event {
                Event::Start(e) => stack.push(open(&e)?),
                Event::Empty(e) => {
                    let node = open(&e)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Event::End(_) => {
                    let mut node = stack.pop().ok_or("malformed XML: unexpected end tag")?;
                    if node.children.is_empty() && node.text.is_none() {
                        // `<x></x>` is an empty text, `<x/>` nothing (R3.5).
                        node.text = Some(String::new());
                    }
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Event::Text(t) => {
                    let t = t.unescape().map_err(|e| format!("bad text: {e}"))?;
                    if let Some(top) = stack.last_mut() {
                        top.text.get_or_insert_with(String::new).push_str(&t);
                    }
                }
                Event::CData(t) => {
                    if let Some(top) = stack.last_mut() {
                        let t = String::from_utf8_lossy(&t).into_owned();
                        top.text.get_or_insert_with(String::new).push_str(&t);
                    }
                }
                Event::Eof => return Err("malformed XML: no complete root element".into()),
                _ => {}
            }
        }
    }

    /// Writes the element as XML text.
    pub(crate) fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape(out, v);
            out.push('"');
        }
        if self.children.is_empty() && self.text.is_none() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if self.children.is_empty() {
            escape(out, self.text.as_deref().unwrap_or(""));
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// The element as an XML document.
    pub(crate) fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

fn open(e: &quick_xml::events::BytesStart<'_>) -> Result<Node, String> {
    let mut node = Node::new(&String::from_utf8_lossy(e.name().as_ref()));
    for a in e.attributes() {
        let a = a.map_err(|e| format!("malformed XML attribute: {e}"))?;
        let v = a
            .unescape_value()
            .map_err(|e| format!("malformed XML attribute: {e}"))?;
        node.attrs.push((
            String::from_utf8_lossy(a.key.as_ref()).into_owned(),
            v.into_owned(),
        ));
    }
    Ok(node)
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes_elements_attributes_and_text() {
        let text = r#"<vm id="1" href="/v/1"><name>a &amp; b</name><cluster id="5"/><e></e></vm>"#;
        let n = Node::parse(text).unwrap();
        assert_eq!(n.attr("id"), Some("1"));
        assert_eq!(n.text_of("name"), Some("a & b"));
        assert_eq!(n.values("cluster.id"), ["5"]);
        assert_eq!(n.to_xml(), text);
        assert!(Node::parse("<vm><name>x</vm>").is_err());
        assert!(Node::parse("").is_err());
    }

    #[test]
    fn values_of_a_list_path_are_every_item() {
        let n = Node::parse("<d><sds><sd id=\"a\"/><sd id=\"b\"/></sds></d>").unwrap();
        assert_eq!(n.values("sds.sd.id"), ["a", "b"]);
    }
}
