//! XML reading and writing of the API types (hand-written runtime of the
//! generated readers and writers).
//!
//! Every generated type implements [`FromXml`] and [`ToXml`]; structs also
//! implement [`XmlType`] (their document tags). Read a document with
//! [`from_str`] / [`from_str_list`], write one with [`to_string`] /
//! [`to_string_list`]:
//!
//! ```
//! use ovirt::types::{Cluster, Vm, VmStatus};
//! let vm: Vm = ovirt::xml::from_str(
//!     r#"<vm id="123"><name>web1</name><status>up</status><cluster id="5"/></vm>"#,
//! ).unwrap();
//! assert_eq!(vm.name.as_deref(), Some("web1"));
//! assert_eq!(vm.status, Some(VmStatus::Up));
//! assert_eq!(vm.cluster.as_deref(), Some(&Cluster::new().id("5")));
//! let text = ovirt::xml::to_string(&vm);
//! assert_eq!(ovirt::xml::from_str::<Vm>(&text).unwrap(), vm);
//! ```
//!
//! Readers skip unknown elements ([wire rule](crate::wire) R3.5), read list links from
//! `<link rel=".." href=".."/>` and inline lists alike (R3.6), and never panic. They
//! read documents as engines write them, not only as the model describes them: enum
//! values with blanks around them (`xs:token`), list items under another tag than the
//! model's, zones written `+0100`, decimals with an exponent or `INF`/`NaN`, and the
//! other root spellings the spec names (`operating_systems`).

mod datetime;
mod list;
mod reader;
#[cfg(feature = "test-data")]
#[doc(hidden)]
pub mod sample;
mod scalar;
mod stream;
mod writer;

pub use datetime::DateTime;
pub use list::List;
#[doc(hidden)]
pub use reader::set_link;
pub use reader::{
    from_slice, from_str, from_str_list, from_str_tagged, root_tag, Start, XmlReader,
};
pub use scalar::Scalar;
pub use stream::ListReader;
pub use writer::{to_string, to_string_list, to_string_tagged, XmlWriter};

use std::borrow::Cow;
use std::fmt;

/// An XML document could not be read: what was wrong and where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError {
    message: String,
    position: u64,
}

impl XmlError {
    /// Creates an error at byte offset `position`.
    pub fn new(message: impl Into<String>, position: u64) -> Self {
        XmlError {
            message: message.into(),
            position,
        }
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Byte offset in the document near which the problem was found.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid XML document at byte {}: {}",
            self.position, self.message
        )
    }
}

impl std::error::Error for XmlError {}

/// A value that can be read from an XML element.
pub trait FromXml: Sized {
    /// `true` when an empty element (`<x/>`) means "not set" (primitives and
    /// enums, R3.5); `false` when it is a value (structs, lists).
    const EMPTY_IS_UNSET: bool = false;

    /// Reads the element `start` (already consumed from `r`) including its
    /// content and end tag.
    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError>;

    /// Like [`from_xml`](Self::from_xml), where the element may hold no value of this type:
    /// `None` for a primitive or enum element holding only child elements (an older shape
    /// of a document; its indentation is not a value). Structs and lists always have one.
    fn from_xml_opt(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Option<Self>, XmlError> {
        Self::from_xml(r, start).map(Some)
    }
}

/// A value that can be written as an XML element.
pub trait ToXml {
    /// Writes the value as element `tag`.
    fn to_xml(&self, w: &mut XmlWriter, tag: &str);
}

/// A struct type with document tags ([wire rule](crate::wire) R3.2).
pub trait XmlType {
    /// Root element of a document holding one value (`vm`).
    const TAG: &'static str;
    /// Root element of a document holding a list (`vms`).
    const LIST_TAG: &'static str;
}

/// Reads a primitive or enum element (used by the scalar `FromXml` impls); an element
/// holding only child elements reads as the value of empty text.
#[doc(hidden)]
pub fn read_scalar<T: Scalar>(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<T, XmlError> {
    match r.scalar(start)? {
        Some(v) => Ok(v),
        None => T::from_text(Cow::Borrowed("")).map_err(|e| {
            XmlError::new(
                format!("element <{}>: {e}", String::from_utf8_lossy(start.tag())),
                r.position(),
            )
        }),
    }
}

/// Reads a primitive or enum element that may hold no value (see
/// [`FromXml::from_xml_opt`]; used by the scalar `FromXml` impls).
#[doc(hidden)]
pub fn read_scalar_opt<T: Scalar>(
    r: &mut XmlReader<'_>,
    start: &Start<'_>,
) -> Result<Option<T>, XmlError> {
    r.scalar(start)
}

/// The text of an enum value as XML Schema `xs:token` reads it: blanks at both ends
/// removed and every inner run of blanks made one space (`"\n  start\n"` is `start`).
/// Borrows when nothing changes (used by the generated enum readers).
#[doc(hidden)]
pub fn token(text: &str) -> Cow<'_, str> {
    let blank = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    let trimmed = text.trim_matches(blank);
    let mut prev_blank = false;
    let regular = trimmed.chars().all(|c| {
        let ok = c == ' ' && !prev_blank || !blank(c);
        prev_blank = blank(c);
        ok
    });
    if regular {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len());
    for word in trimmed.split(blank).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    Cow::Owned(out)
}

macro_rules! scalar_xml {
    ($($t:ty),*) => {$(
        impl FromXml for $t {
            const EMPTY_IS_UNSET: bool = true;
            fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
                read_scalar(r, start)
            }
            fn from_xml_opt(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Option<Self>, XmlError> {
                read_scalar_opt(r, start)
            }
        }
        impl ToXml for $t {
            fn to_xml(&self, w: &mut XmlWriter, tag: &str) {
                w.scalar(tag, self);
            }
        }
    )*};
}

scalar_xml!(String, i64, f64, bool, DateTime);

impl<T: FromXml> FromXml for Box<T> {
    const EMPTY_IS_UNSET: bool = T::EMPTY_IS_UNSET;

    fn from_xml(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Self, XmlError> {
        T::from_xml(r, start).map(Box::new)
    }

    fn from_xml_opt(r: &mut XmlReader<'_>, start: &Start<'_>) -> Result<Option<Self>, XmlError> {
        Ok(T::from_xml_opt(r, start)?.map(Box::new))
    }
}

impl<T: ToXml> ToXml for Box<T> {
    fn to_xml(&self, w: &mut XmlWriter, tag: &str) {
        (**self).to_xml(w, tag);
    }
}
