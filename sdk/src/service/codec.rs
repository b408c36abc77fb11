//! Request bodies and response documents of services, on top of [`crate::xml`]. Generated
//! services call these with the tags the spec gives ([wire rule](crate::wire) R1.4-R1.7).

use std::marker::PhantomData;

use bytes::Bytes;

use super::MethodWire;
use crate::error::{Error, ErrorKind};
use crate::xml::{FromXml, Start, ToXml, XmlError, XmlReader, XmlWriter};

fn xml_error(e: XmlError) -> Error {
    Error::with_message(ErrorKind::Xml, e.to_string())
}

fn utf8(body: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(body).map_err(|e| {
        Error::with_message(
            ErrorKind::Xml,
            format!("the response body is not UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// A document whose root is `tag` holding a `T` (R1.4: add/update bodies).
pub fn write_body<T: ToXml>(value: &T, tag: &str) -> Result<Bytes, Error> {
    Ok(Bytes::from(write_element(value, tag)))
}

/// A list document: root `tag`, one `item` element per value (R1.4, `gluster_bricks`/`add`).
pub fn write_list_body<T: ToXml>(values: &[T], tag: &str, item: &str) -> Result<Bytes, Error> {
    Ok(Bytes::from(write_list_element(values, tag, item)))
}

/// `value` as element `tag` (a struct parameter of an action is named after the parameter,
/// R1.5).
pub fn write_element<T: ToXml>(value: &T, tag: &str) -> String {
    let mut w = XmlWriter::new();
    value.to_xml(&mut w, tag);
    w.finish()
}

/// Wrapper `tag` with one `item` element per value (R1.5 list parameters).
pub fn write_list_element<T: ToXml>(values: &[T], tag: &str, item: &str) -> String {
    let mut w = XmlWriter::new();
    w.start(tag);
    for v in values {
        v.to_xml(&mut w, item);
    }
    w.end(tag);
    w.finish()
}

/// `<tag>text</tag>`, text escaped (R1.5 scalar parameters, already rendered per R1.3/R3.7).
pub fn text_element(tag: &str, text: &str) -> String {
    write_element(&text.to_owned(), tag)
}

/// Wrapper `tag` with one `<item>text</item>` per text (R1.5 lists of primitives or enums).
pub fn text_list_element(tag: &str, item: &str, texts: impl IntoIterator<Item = String>) -> String {
    let texts: Vec<String> = texts.into_iter().collect();
    write_list_element(&texts, tag, item)
}

/// Reads a document whose root is `tag` (R1.6 get, add, update; actions without output).
/// A different root is an [`ErrorKind::Xml`] error naming both tags.
pub fn read_body<T: FromXml>(body: &[u8], tag: &str) -> Result<T, Error> {
    XmlReader::new(utf8(body)?).root(tag).map_err(xml_error)
}

/// Reads the `<action>` document (root `tag`) an action without output parameter returns;
/// an empty body (an action answered 202, R1.11) is an empty document.
pub fn read_action_doc<T: FromXml + Default>(body: &[u8], tag: &str) -> Result<T, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    read_body(body, tag)
}

/// Reads a list document with root `tag` whose items are tagged `M::ITEM_TAG` (R1.6 list);
/// other children are skipped.
pub fn read_list_body<M: MethodWire, T: FromXml>(body: &[u8], tag: &str) -> Result<Vec<T>, Error> {
    let doc: Items<M, T> = XmlReader::new(utf8(body)?).root(tag).map_err(xml_error)?;
    Ok(doc.0)
}

/// Reads the output parameter `M::OUTPUT_TAG` of an action response whose root is `tag`
/// (R1.6). A missing or empty element is an [`ErrorKind::UnexpectedResponse`] error.
pub fn read_action_value<M: MethodWire, T: FromXml>(body: &[u8], tag: &str) -> Result<T, Error> {
    let doc: Child<M, T> = XmlReader::new(utf8(body)?).root(tag).map_err(xml_error)?;
    doc.0.ok_or_else(|| {
        Error::with_message(
            ErrorKind::UnexpectedResponse,
            format!(
                "the <{tag}> response has no <{}> (output of {})",
                M::OUTPUT_TAG,
                M::NAME
            ),
        )
    })
}

/// Reads the list output parameter `M::OUTPUT_TAG` (items `M::ITEM_TAG`) of an action
/// response whose root is `tag` (R1.6); a missing element is an empty list.
pub fn read_action_list<M: MethodWire, T: FromXml>(
    body: &[u8],
    tag: &str,
) -> Result<Vec<T>, Error> {
    let doc: ListChild<M, T> = XmlReader::new(utf8(body)?).root(tag).map_err(xml_error)?;
    Ok(doc.0)
}

/// Children tagged `M::ITEM_TAG` of the element read.
struct Items<M, T>(Vec<T>, PhantomData<fn() -> M>);

impl<M: MethodWire, T: FromXml> FromXml for Items<M, T> {
    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
        let items = r.list(start, M::ITEM_TAG.as_bytes())?.unwrap_or_default();
        Ok(Items(items, PhantomData))
    }
}

/// The child tagged `M::OUTPUT_TAG` of the element read, if present and set.
struct Child<M, T>(Option<T>, PhantomData<fn() -> M>);

impl<M: MethodWire, T: FromXml> FromXml for Child<M, T> {
    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
        let mut out = None;
        while let Some(c) = r.next_child(start)? {
            if c.tag() == M::OUTPUT_TAG.as_bytes() && out.is_none() {
                out = r.value(&c)?;
            } else {
                r.skip(&c)?;
            }
        }
        Ok(Child(out, PhantomData))
    }
}

/// The items (tagged `M::ITEM_TAG`) of the child tagged `M::OUTPUT_TAG` of the element read.
struct ListChild<M, T>(Vec<T>, PhantomData<fn() -> M>);

impl<M: MethodWire, T: FromXml> FromXml for ListChild<M, T> {
    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
        let mut out = Vec::new();
        while let Some(c) = r.next_child(start)? {
            if c.tag() == M::OUTPUT_TAG.as_bytes() {
                out = r.list(&c, M::ITEM_TAG.as_bytes())?.unwrap_or_default();
            } else {
                r.skip(&c)?;
            }
        }
        Ok(ListChild(out, PhantomData))
    }
}
