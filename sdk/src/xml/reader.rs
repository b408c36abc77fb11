//! Streaming reader over quick-xml used by the generated `FromXml` impls.

use std::borrow::Cow;

use quick_xml::escape::unescape;
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
        match self.attr_cow(name)? {
            None => Ok(None),
            Some(text) => T::from_text(text).map(Some).map_err(|e| {
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
        Ok(self.attr_cow(name)?.map(Cow::into_owned))
    }

    /// The unescaped text of XML attribute `name`, borrowed from the document when it holds
    /// no character reference. A second attribute of the same name is an error.
    fn attr_cow(&self, name: &str) -> Result<Option<Cow<'_, str>>, XmlError> {
        // A scan of the attribute bytes of our own: quick-xml's attribute iterator costs
        // several times more per byte, and its duplicate check allocates on every pass.
        let found = find_attr(self.start.attributes_raw(), name.as_bytes()).map_err(|e| {
            XmlError::new(
                format!(
                    "bad attribute in <{}>: {e}",
                    String::from_utf8_lossy(self.tag())
                ),
                self.position,
            )
        })?;
        let Some(raw) = found else { return Ok(None) };
        let bad = |e: &dyn std::fmt::Display| {
            XmlError::new(format!("bad attribute `{name}`: {e}"), self.position)
        };
        let text = std::str::from_utf8(raw).map_err(|e| bad(&e))?;
        Ok(Some(unescape(text).map_err(|e| bad(&e))?))
    }
}

/// Index of the first `needle` in `hay`, eight bytes at a time (attribute values such as
/// hrefs are long; a byte-by-byte loop was a third of the time spent reading a VM list).
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(needle);
    let mut chunks = hay.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word) ^ pattern;
        // A zero byte in `x` is a byte equal to `needle` (exact test: no false positives
        // because a borrow only propagates above a true zero byte).
        if x.wrapping_sub(LOW) & !x & HIGH != 0 {
            return chunk.iter().position(|&c| c == needle).map(|i| offset + i);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == needle)
        .map(|i| offset + i)
}

/// The raw value of attribute `name` in `raw`, the bytes of a start tag after its name
/// (` id="1" href='/x'`). Attributes are `name = "value"` or `name = 'value'` separated by
/// white space; anything else is an error, and so is a second attribute called `name`.
fn find_attr<'s>(raw: &'s [u8], name: &[u8]) -> Result<Option<&'s [u8]>, String> {
    fn skip_space(b: &[u8]) -> &[u8] {
        let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
        &b[n..]
    }
    let mut found = None;
    let mut rest = skip_space(raw);
    while !rest.is_empty() {
        let key_len = rest
            .iter()
            .position(|&c| c == b'=' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_len];
        let shown = || String::from_utf8_lossy(key).into_owned();
        if key_len == 0 {
            return Err("an attribute has no name".to_string());
        }
        rest = skip_space(&rest[key_len..]);
        let Some(after_eq) = rest.strip_prefix(b"=") else {
            return Err(format!("attribute `{}` has no value", shown()));
        };
        rest = skip_space(after_eq);
        let quote = match rest.first() {
            Some(&q) if q == b'"' || q == b'\'' => q,
            _ => {
                return Err(format!(
                    "the value of attribute `{}` is not quoted",
                    shown()
                ))
            }
        };
        let Some(len) = find_byte(&rest[1..], quote) else {
            return Err(format!(
                "the value of attribute `{}` is not closed",
                shown()
            ));
        };
        let value = &rest[1..1 + len];
        rest = &rest[len + 2..];
        if key == name {
            if found.is_some() {
                return Err(format!("attribute `{}` appears twice", shown()));
            }
            found = Some(value);
        }
        let next = skip_space(rest);
        if next.len() == rest.len() && !rest.is_empty() {
            return Err(format!(
                "no space after the value of attribute `{}`",
                shown()
            ));
        }
        rest = next;
    }
    Ok(found)
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
        Ok(self.text_cow(start)?.map(Cow::into_owned))
    }

    /// Like [`text`](Self::text), borrowing from the document when the content is one piece
    /// of text without character references (the usual case: no copy, no allocation).
    pub(crate) fn text_cow(&mut self, start: &Start<'_>) -> Result<Option<Cow<'a, str>>, XmlError> {
        Ok(self.text_parts(start)?.map(|(text, _)| text))
    }

    /// The text content of `start` and whether it held child elements (which are skipped).
    fn text_parts(&mut self, start: &Start<'_>) -> Result<Option<(Cow<'a, str>, bool)>, XmlError> {
        if start.empty {
            return Ok(None);
        }
        let mut children = false;
        let mut out: Option<Cow<'a, str>> = None;
        let mut add = |piece: Cow<'a, str>| match &mut out {
            None => out = Some(piece),
            Some(text) => text.to_mut().push_str(&piece),
        };
        loop {
            let position = self.position();
            match self.inner.read_event().map_err(|e| xml_err(e, position))? {
                Event::Text(t) => add(match t.into_inner() {
                    Cow::Borrowed(bytes) => {
                        let text = std::str::from_utf8(bytes).map_err(|e| xml_err(e, position))?;
                        unescape(text).map_err(|e| xml_err(e, position))?
                    }
                    Cow::Owned(bytes) => {
                        let text = String::from_utf8(bytes).map_err(|e| xml_err(e, position))?;
                        Cow::Owned(
                            unescape(&text)
                                .map_err(|e| xml_err(e, position))?
                                .into_owned(),
                        )
                    }
                }),
                Event::CData(t) => add(match t.into_inner() {
                    Cow::Borrowed(bytes) => {
                        Cow::Borrowed(std::str::from_utf8(bytes).map_err(|e| xml_err(e, position))?)
                    }
                    Cow::Owned(bytes) => {
                        Cow::Owned(String::from_utf8(bytes).map_err(|e| xml_err(e, position))?)
                    }
                }),
                Event::Start(inner) => {
                    children = true;
                    self.inner
                        .read_to_end(inner.name())
                        .map_err(|e| xml_err(e, position))?;
                }
                Event::Empty(_) => children = true,
                Event::End(_) => return Ok(Some((out.unwrap_or(Cow::Borrowed("")), children))),
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

    /// Reads one value: `Some(value)`, or `None` for an element of a primitive or enum
    /// that holds no value: an empty one (R3.5), or one holding only child elements (an
    /// older shape of the document, such as `<status><state>up</state></status>`).
    pub fn value<T: FromXml>(&mut self, start: &Start<'_>) -> Result<Option<T>, XmlError> {
        if start.empty && T::EMPTY_IS_UNSET {
            return Ok(None);
        }
        self.nested(start, T::from_xml_opt)
    }

    fn nested<T>(
        &mut self,
        start: &Start<'_>,
        read: impl FnOnce(&mut Self, &Start<'_>) -> Result<T, XmlError>,
    ) -> Result<T, XmlError> {
        if self.depth >= MAX_DEPTH {
            return Err(XmlError::new(
                format!("elements nested deeper than {MAX_DEPTH} levels"),
                start.position,
            ));
        }
        self.depth += 1;
        let r = read(self, start);
        self.depth -= 1;
        r
    }

    /// Reads a scalar element; `None` when it holds child elements and no text but blanks
    /// (an older document shape: its indentation is not a value).
    pub(crate) fn scalar<T: Scalar>(&mut self, start: &Start<'_>) -> Result<Option<T>, XmlError> {
        let pos = self.position();
        let (text, children) = self
            .text_parts(start)?
            .unwrap_or((Cow::Borrowed(""), false));
        if children && text.bytes().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        T::from_text(text).map(Some).map_err(|e| {
            XmlError::new(
                format!("element <{}>: {e}", String::from_utf8_lossy(start.tag())),
                pos,
            )
        })
    }

    /// Reads a list wrapper: every child element is an item, whatever its tag (the
    /// engine does not always use the model's item tag `item`, e.g.
    /// `<required_rng_sources><source>random</source></required_rng_sources>`), except
    /// the children the engine's list wrappers carry beside their items: `<actions>`,
    /// `<link>`, `<size>`, `<total>`, `<active>` (R3.5, R3.6), unless `item` is their tag. An item of a primitive or enum that holds no value (see
    /// [`value`](Self::value)) is left out.
    pub fn list<T: FromXml>(
        &mut self,
        start: &Start<'_>,
        item: &[u8],
    ) -> Result<Option<Vec<T>>, XmlError> {
        let mut items = Vec::new();
        while let Some(c) = self.next_child(start)? {
            if !is_item(c.tag(), item) {
                self.skip(&c)?;
            } else if let Some(v) = self.value(&c)? {
                items.push(v);
            }
        }
        Ok(Some(items))
    }

    /// Reads an inline list-typed link (`<nics><nic/>...</nics>`, R3.6) into
    /// `slot`, keeping an href already known from a `<link>`.
    #[doc(hidden)]
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
    #[doc(hidden)]
    pub fn link(&mut self, start: &Start<'_>) -> Result<Option<(String, String)>, XmlError> {
        let rel = start.attr_text("rel")?;
        let href = start.attr_text("href")?;
        self.skip(start)?;
        Ok(rel.zip(href))
    }

    /// Reads the root element, which must be tagged `tag`.
    pub fn root<T: FromXml>(&mut self, tag: &str) -> Result<T, XmlError> {
        let start = self.root_start()?;
        if !root_matches(tag, start.tag()) {
            return Err(XmlError::new(
                format!(
                    "expected root element <{tag}>, found <{}>",
                    String::from_utf8_lossy(start.tag())
                ),
                start.position,
            ));
        }
        let v = self.nested(&start, T::from_xml)?;
        self.finish()?;
        Ok(v)
    }

    /// Reads a document that is one item of a list, with root `tag`, as
    /// [`list`](Self::list) reads an item (`None`: a scalar item holding no value).
    pub(crate) fn item<T: FromXml>(&mut self, tag: &str) -> Result<Option<T>, XmlError> {
        let start = self.root_start()?;
        if start.tag() != tag.as_bytes() {
            return Err(XmlError::new(
                format!(
                    "expected <{tag}>, found <{}>",
                    String::from_utf8_lossy(start.tag())
                ),
                start.position,
            ));
        }
        let v = self.value(&start)?;
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

/// `true` if a root element tagged `found` is the document whose root the model tags
/// `expected`: the same tag, or another spelling the spec accepts for it
/// (`list-tag-aliases`: `operating_systems` for `operation_systems`).
pub(crate) fn root_matches(expected: &str, found: &[u8]) -> bool {
    found == expected.as_bytes()
        || crate::xml_impls::LIST_TAG_ALIASES
            .iter()
            .any(|(tag, alias)| *tag == expected && alias.as_bytes() == found)
}

/// `true` if a child tagged `tag` of a list wrapper whose items are tagged `item` is an
/// item (see [`XmlReader::list`]).
pub(crate) fn is_item(tag: &[u8], item: &[u8]) -> bool {
    tag == item || !matches!(tag, b"actions" | b"link" | b"size" | b"total" | b"active")
}

/// Sets the href of a list link announced by `<link rel href>` (R3.6).
#[doc(hidden)]
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
/// inside the root `T::LIST_TAG` (or a spelling the spec accepts for it); every child
/// is an item but the wrapper's own `<actions>`, `<link>`, `<size>`, ... (see
/// [`XmlReader::list`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Vm;

    #[test]
    fn attributes_are_found_with_either_quote_and_spaces_around_the_equals_sign() {
        let raw = b" id=\"1\" href = '/vms/1'\n\tname=\"a b\"";
        assert_eq!(find_attr(raw, b"id"), Ok(Some(&b"1"[..])));
        assert_eq!(find_attr(raw, b"href"), Ok(Some(&b"/vms/1"[..])));
        assert_eq!(find_attr(raw, b"name"), Ok(Some(&b"a b"[..])));
        assert_eq!(find_attr(raw, b"missing"), Ok(None));
        assert_eq!(find_attr(b"", b"id"), Ok(None));
        // A quote of the other kind is part of the value.
        assert_eq!(find_attr(b" a='x\"y'", b"a"), Ok(Some(&b"x\"y"[..])));
    }

    #[test]
    fn find_byte_finds_the_first_occurrence_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'a'; len];
                hay[at] = b'"';
                if at + 3 < len {
                    hay[at + 3] = b'"';
                }
                assert_eq!(find_byte(&hay, b'"'), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_byte(&vec![b'a'; len], b'"'), None);
        }
        // Bytes next to the needle's value do not match.
        assert_eq!(find_byte(b"!#!#!#!#!#\"", b'"'), Some(10));
        assert_eq!(find_byte(&[0xa2, 0x22, 0xff], b'"'), Some(1));
    }

    #[test]
    fn malformed_attributes_are_errors_naming_the_attribute() {
        for (raw, expected) in [
            (&b" id"[..], "attribute `id` has no value"),
            (b" id=1", "the value of attribute `id` is not quoted"),
            (b" id=\"1", "the value of attribute `id` is not closed"),
            (
                b" id=\"1\"href=\"x\"",
                "no space after the value of attribute `id`",
            ),
            (b" =\"1\"", "an attribute has no name"),
            (b" id=\"1\" id=\"2\"", "attribute `id` appears twice"),
        ] {
            assert_eq!(find_attr(raw, b"id"), Err(expected.to_string()), "{raw:?}");
        }
    }

    #[test]
    fn attribute_and_text_values_are_unescaped_and_duplicates_rejected() {
        let vm: Vm =
            from_str("<vm id='a&amp;b' href=\"/x\"><name>n &lt;1&gt;</name></vm>").unwrap();
        assert_eq!(vm.id.as_deref(), Some("a&b"));
        assert_eq!(vm.name.as_deref(), Some("n <1>"));
        let e = from_str::<Vm>("<vm id=\"1\" id=\"2\"/>").unwrap_err();
        assert!(e.message().contains("attribute `id` appears twice"), "{e}");
        let e = from_str::<Vm>("<vm id=1/>").unwrap_err();
        assert!(e.message().contains("not quoted"), "{e}");
    }

    #[test]
    fn text_in_several_pieces_is_joined() {
        let vm: Vm =
            from_str("<vm><name>a<!-- c -->b<![CDATA[<c>]]>&amp;d</name><description/></vm>")
                .unwrap();
        assert_eq!(vm.name.as_deref(), Some("ab<c>&d"));
        assert_eq!(vm.description, None);
        let vm: Vm = from_str("<vm><name></name></vm>").unwrap();
        assert_eq!(vm.name.as_deref(), Some(""));
    }
}
