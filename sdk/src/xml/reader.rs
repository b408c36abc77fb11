//! Streaming reader over quick-xml used by the generated `FromXml` impls.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{FromXml, List, Scalar, XmlError, XmlType};

/// Deepest nesting of objects a document may have (guards the stack).
pub const MAX_DEPTH: usize = 64;

/// A start tag (`<vm id="1">` or the empty `<vm id="1"/>`) being read.
#[derive(Debug)]
pub struct Start<'a> {
    start: BytesStart<'a>,
    empty: bool,
    position: u64,
}

impl<'a> Start<'a> {
    /// The element name.
    pub fn tag(&self) -> &[u8] {
        self.start.name().into_inner()
    }

    /// `true` for an empty element (`<x/>`).
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Reads XML attribute `name` as a scalar; absent -> `None`.
    pub fn attr<T: Scalar>(&self, name: &str) -> Result<Option<T>, XmlError> {
        match self.attr_text(name)? {
            None => Ok(None),
            Some(text) => T::parse_xml(&text).map(Some).map_err(|e| {
                XmlError::new(
                    format!(
                        "attribute `{name}` of <{}>: {e}",
                        String::from_utf8_lossy(self.tag())
                    ),
                    self.position,
                )
            }),
        }
    }

    /// The unescaped text of XML attribute `name`.
    pub fn attr_text(&self, name: &str) -> Result<Option<String>, XmlError> {
        for a in self.start.attributes() {
            let a = a.map_err(|e| XmlError::new(format!("bad attribute: {e}"), self.position))?;
            if a.key.into_inner() == name.as_bytes() {
                let v = a.unescape_value().map_err(|e| {
                    XmlError::new(format!("bad attribute `{name}`: {e}"), self.position)
                })?;
                return Ok(Some(v.into_owned()));
            }
        }
        Ok(None)
    }
}

/// Reads elements from a document; generated readers call its helpers.
pub struct XmlReader<'a> {
    inner: Reader<&'a [u8]>,
    depth: usize,
}

fn xml_err(e: impl std::fmt::Display, pos: u64) -> XmlError {
    XmlError::new(e.to_string(), pos)
}

impl<'a> XmlReader<'a> {
    /// A reader over a whole document.
    pub fn new(text: &'a str) -> Self {
        let mut inner = Reader::from_str(text);
        let cfg = inner.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        XmlReader { inner, depth: 0 }
    }

    /// Byte offset of the reader in the document.
    pub fn position(&self) -> u64 {
        self.inner.buffer_position()
    }

    /// The next child element of `parent`, or `None` after its end tag.
    /// Text, comments and processing instructions between children are ignored.
    /// The caller must consume every returned child (read or [`skip`](Self::skip) it).
    pub fn next_child(&mut self, parent: &Start<'_>) -> Result<Option<Start<'a>>, XmlError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            let position = self.position();
            match self.inner.read_event().map_err(|e| xml_err(e, position))? {
                Event::Start(start) => {
                    return Ok(Some(Start {
                        start,
                        empty: false,
                        position,
                    }))
                }
                Event::Empty(start) => {
                    return Ok(Some(Start {
                        start,
                        empty: true,
                        position,
                    }))
                }
                Event::End(_) => return Ok(None),
                Event::Eof => {
                    return Err(XmlError::new(
                        format!(
                            "document ends inside <{}>",
                            String::from_utf8_lossy(parent.tag())
                        ),
                        position,
                    ))
                }
                _ => {}
            }
        }
    }

    /// Skips the element `start` with everything inside it.
    pub fn skip(&mut self, start: &Start<'_>) -> Result<(), XmlError> {
        if start.empty {
            return Ok(());
        }
        let pos = self.position();
        self.inner
            .read_to_end(start.start.name())
            .map(|_| ())
            .map_err(|e| xml_err(e, pos))
    }

    /// The text content of `start` (`None` for `<x/>`, `Some("")` for `<x></x>`).
    /// Child elements inside text are skipped.
    pub fn text(&mut self, start: &Start<'_>) -> Result<Option<String>, XmlError> {
        if start.empty {
            return Ok(None);
        }
        let mut out = String::new();
        loop {
            let position = self.position();
            match self.inner.read_event().map_err(|e| xml_err(e, position))? {
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| xml_err(e, position))?;
                    out.push_str(&s);
                }
                Event::CData(t) => {
                    let s = std::str::from_utf8(&t).map_err(|e| xml_err(e, position))?;
                    out.push_str(s);
                }
                Event::Start(inner) => {
                    self.inner
                        .read_to_end(inner.name())
                        .map_err(|e| xml_err(e, position))?;
                }
                Event::End(_) => return Ok(Some(out)),
                Event::Eof => {
                    return Err(XmlError::new(
                        format!(
                            "document ends inside <{}>",
                            String::from_utf8_lossy(start.tag())
                        ),
                        position,
                    ))
                }
                _ => {}
            }
        }
    }

    /// Reads one value: `Some(value)`, or `None` for an empty element of a
    /// primitive or enum (R3.5).
    pub fn value<T: FromXml>(&mut self, start: &Start<'_>) -> Result<Option<T>, XmlError> {
        if start.empty && T::EMPTY_IS_UNSET {
            return Ok(None);
        }
        self.nested(start).map(Some)
    }

    fn nested<T: FromXml>(&mut self, start: &Start<'_>) -> Result<T, XmlError> {
        if self.depth >= MAX_DEPTH {
            return Err(XmlError::new(
                format!("elements nested deeper than {MAX_DEPTH} levels"),
                start.position,
            ));
        }
        self.depth += 1;
        let r = T::from_xml(self, start);
        self.depth -= 1;
        r
    }

    /// Reads a list wrapper: every child tagged `item` is an item; other
    /// children are skipped (R3.5).
    pub fn list<T: FromXml>(
        &mut self,
        start: &Start<'_>,
        item: &[u8],
    ) -> Result<Option<Vec<T>>, XmlError> {
        let mut items = Vec::new();
        while let Some(c) = self.next_child(start)? {
            if c.tag() == item {
                items.push(self.nested(&c)?);
            } else {
                self.skip(&c)?;
            }
        }
        Ok(Some(items))
    }

    /// Reads an inline list-typed link (`<nics><nic/>...</nics>`, R3.6) into
    /// `slot`, keeping an href already known from a `<link>`.
    pub fn link_list<T: FromXml>(
        &mut self,
        start: &Start<'_>,
        item: &[u8],
        slot: &mut Option<List<T>>,
    ) -> Result<(), XmlError> {
        let href: Option<String> = start.attr("href")?;
        let items = self.list(start, item)?.unwrap_or_default();
        let list = slot.get_or_insert_with(List::default);
        list.items = items;
        if href.is_some() {
            list.href = href;
        }
        Ok(())
    }

    /// Reads a `<link rel=".." href=".."/>` element; `None` when `rel` or
    /// `href` is missing (such links are ignored, R3.6).
    pub fn link(&mut self, start: &Start<'_>) -> Result<Option<(String, String)>, XmlError> {
        let rel = start.attr_text("rel")?;
        let href = start.attr_text("href")?;
        self.skip(start)?;
        Ok(rel.zip(href))
    }

    /// Reads the root element, which must be tagged `tag`.
    pub fn root<T: FromXml>(&mut self, tag: &str) -> Result<T, XmlError> {
        let start = self.root_start()?;
        if start.tag() != tag.as_bytes() {
            return Err(XmlError::new(
                format!(
                    "expected root element <{tag}>, found <{}>",
                    String::from_utf8_lossy(start.tag())
                ),
                start.position,
            ));
        }
        let v = self.nested(&start)?;
        self.finish()?;
        Ok(v)
    }

    fn root_start(&mut self) -> Result<Start<'a>, XmlError> {
        loop {
            let position = self.position();
            match self.inner.read_event().map_err(|e| xml_err(e, position))? {
                Event::Start(start) => {
                    return Ok(Start {
                        start,
                        empty: false,
                        position,
                    })
                }
                Event::Empty(start) => {
                    return Ok(Start {
                        start,
                        empty: true,
                        position,
                    })
                }
                Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
                Event::Text(_) | Event::CData(_) => {
                    return Err(XmlError::new("text before the root element", position))
                }
                Event::End(_) => return Err(XmlError::new("unexpected end tag", position)),
                Event::Eof => return Err(XmlError::new("empty document", position)),
                _ => {}
            }
        }
    }

    fn finish(&mut self) -> Result<(), XmlError> {
        loop {
            let position = self.position();
            match self.inner.read_event().map_err(|e| xml_err(e, position))? {
                Event::Eof => return Ok(()),
                Event::Start(_) | Event::Empty(_) => {
                    return Err(XmlError::new("content after the root element", position))
                }
                Event::Text(t) if !t.iter().all(u8::is_ascii_whitespace) => {
                    return Err(XmlError::new("text after the root element", position))
                }
                _ => {}
            }
        }
    }
}

/// Sets the href of a list link announced by `<link rel href>` (R3.6).
pub fn set_link<T>(slot: &mut Option<List<T>>, href: String) {
    slot.get_or_insert_with(List::default).href = Some(href);
}

/// Reads a document whose root is `T`'s tag (`<vm>`).
pub fn from_str<T: FromXml + XmlType>(text: &str) -> Result<T, XmlError> {
    XmlReader::new(text).root(T::TAG)
}

/// Reads a document whose root is element `tag` holding a `T`
/// (e.g. an action envelope: `from_str_tagged::<Action>(s, "action")`).
pub fn from_str_tagged<T: FromXml>(text: &str, tag: &str) -> Result<T, XmlError> {
    XmlReader::new(text).root(tag)
}

/// Reads a list document (`<vms><vm/>...</vms>`, R1.6): items tagged `T::TAG`
/// inside the root `T::LIST_TAG`; other children are skipped.
pub fn from_str_list<T: FromXml + XmlType>(text: &str) -> Result<Vec<T>, XmlError> {
    let items: ListDoc<T> = XmlReader::new(text).root(T::LIST_TAG)?;
    Ok(items.0)
}

struct ListDoc<T>(Vec<T>);

impl<T: FromXml + XmlType> FromXml for ListDoc<T> {
    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
        Ok(ListDoc(
            r.list(start, T::TAG.as_bytes())?.unwrap_or_default(),
        ))
    }
}

/// Reads a document given as bytes (must be UTF-8) whose root is `T`'s tag.
pub fn from_slice<T: FromXml + XmlType>(bytes: &[u8]) -> Result<T, XmlError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| XmlError::new(format!("not UTF-8: {e}"), e.valid_up_to() as u64))?;
    from_str(text)
}

/// The name of the root element of a document (to tell a `<fault>` from the
/// expected document before reading it).
pub fn root_tag(text: &str) -> Result<String, XmlError> {
    let start = XmlReader::new(text).root_start()?;
    Ok(String::from_utf8_lossy(start.tag()).into_owned())
}
