//! A tiny element tree over quick-xml, with line numbers for error messages.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// An XML element: name, attributes (in document order), child elements, text.
#[derive(Debug, Clone)]
pub struct Element {
    /// Element name.
    pub name: String,
    /// Attributes in document order.
    pub attrs: Vec<(String, String)>,
    /// Child elements.
    pub children: Vec<Element>,
    /// Concatenated text content (trimmed).
    pub text: String,
    /// 1-based line of the start tag.
    pub line: usize,
}

impl Element {
    /// Value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A short description for error messages: `<struct name="vm">`.
    pub fn describe(&self) -> String {
        match self.attr("name") {
            Some(n) => format!("<{} name=\"{}\">", self.name, n),
            None => format!("<{}>", self.name),
        }
    }
}

fn line_of(src: &str, pos: usize) -> usize {
    let end = pos.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Line numbers for increasing positions, counted incrementally.
struct Lines<'s> {
    src: &'s str,
    pos: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.src.len());
        if pos < self.pos {
            return line_of(self.src, pos);
        }
        self.line += self.src.as_bytes()[self.pos..pos]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.pos = pos;
        self.line
    }
}

fn element_of(
    src: &str,
    e: &BytesStart<'_>,
    pos: usize,
    line: usize,
) -> Result<Element, (usize, String)> {
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|err| (line_of(src, pos), format!("bad attribute: {err}")))?;
        let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
        let value = a
            .unescape_value()
            .map_err(|err| (line_of(src, pos), format!("bad attribute value: {err}")))?
            .into_owned();
        if attrs.iter().any(|(k, _)| *k == key) {
            return Err((line_of(src, pos), format!("duplicate attribute `{key}`")));
        }
        attrs.push((key, value));
    }
    Ok(Element {
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
        line,
    })
}

/// Parses a document into its root element. Errors carry a line number.
pub fn parse(src: &str) -> Result<Element, (usize, String)> {
    let mut reader = Reader::from_str(src);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut lines = Lines {
        src,
        pos: 0,
        line: 1,
    };
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| {
            (
                line_of(src, reader.buffer_position() as usize),
                e.to_string(),
            )
        })?;
        match ev {
            Event::Start(e) => {
                let el = element_of(src, &e, pos, lines.at(pos))?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element_of(src, &e, pos, lines.at(pos))?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err((line_of(src, pos), "more than one root element".into())),
                }
            }
            Event::End(_) => {
                let mut el = stack
                    .pop()
                    .ok_or_else(|| (line_of(src, pos), "unbalanced end tag".to_string()))?;
                el.text = el.text.trim().to_string();
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err((line_of(src, pos), "more than one root element".into())),
                }
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    let s = t
                        .unescape()
                        .map_err(|e| (line_of(src, pos), format!("bad text: {e}")))?;
                    p.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err((line_of(src, src.len()), "unexpected end of file".into()));
    }
    root.ok_or_else(|| (1, "no root element".into()))
}
