//! Generated test data (feature `test-data`): a value of every type with every
//! field set, to check that writers and readers agree.

use super::{DateTime, FromXml, List, ToXml, XmlType};

/// A type that can produce a populated value.
pub trait Sample: Sized {
    /// A value with every field set; nested objects are filled `depth` levels deep.
    fn sample(depth: u32) -> Self;
}

impl Sample for String {
    fn sample(depth: u32) -> Self {
        format!("text {depth} with <&> \"quotes\" 'apostrophes', ünïcödé and\nnewline")
    }
}

impl Sample for i64 {
    fn sample(depth: u32) -> Self {
        -9_007_199_254_740_993 + i64::from(depth)
    }
}

impl Sample for f64 {
    fn sample(depth: u32) -> Self {
        0.1 + 1234.5678 * f64::from(depth)
    }
}

impl Sample for bool {
    fn sample(depth: u32) -> Self {
        depth % 2 == 1
    }
}

impl Sample for DateTime {
    fn sample(_depth: u32) -> Self {
        DateTime::parse("2016-09-08T09:53:35.138+02:00").expect("valid sample date")
    }
}

impl<T: Sample> Sample for Vec<T> {
    fn sample(depth: u32) -> Self {
        vec![T::sample(depth), T::sample(depth)]
    }
}

impl<T: Sample> Sample for List<T> {
    fn sample(depth: u32) -> Self {
        List {
            href: Some("/ovirt-engine/api/sample/list".into()),
            items: vec![T::sample(depth)],
        }
    }
}

/// A set primitive or enum field.
pub fn scalar<T: Sample>(depth: u32) -> Option<T> {
    Some(T::sample(depth))
}

/// A nested object (or list of objects) field: set while `depth > 0`.
pub fn nested<T: Sample>(depth: u32) -> Option<T> {
    if depth == 0 {
        None
    } else {
        Some(T::sample(depth - 1))
    }
}

/// Writes a sample of `T`, reads it back and compares.
pub fn round_trip<T>(depth: u32) -> Result<(), String>
where
    T: Sample + FromXml + ToXml + XmlType + PartialEq + std::fmt::Debug,
{
    let value = T::sample(depth);
    let text = super::to_string(&value);
    let back: T = super::from_str(&text).map_err(|e| format!("{e}\n{text}"))?;
    if back != value {
        return Err(format!(
            "read back differs\nwritten: {value:?}\nread: {back:?}\nxml: {text}"
        ));
    }
    let list = super::to_string_list(std::slice::from_ref(&value));
    let back: Vec<T> = super::from_str_list(&list).map_err(|e| format!("{e}\n{list}"))?;
    if back != [value] {
        return Err("list document read back differs".into());
    }
    Ok(())
}

/// Checks that every value's text reads back as the value, as an element and
/// as an attribute; returns how many values were checked.
pub fn enum_round_trip<T>(values: &[T]) -> Result<usize, String>
where
    T: super::Scalar + PartialEq + std::fmt::Debug,
{
    for v in values {
        let mut text = String::new();
        v.write_xml(&mut text);
        let back = T::parse_xml(&text)?;
        if &back != v {
            return Err(format!("{v:?} written as `{text}` reads back as {back:?}"));
        }
    }
    Ok(values.len())
}

impl<T: Sample> Sample for Box<T> {
    fn sample(depth: u32) -> Self {
        Box::new(T::sample(depth))
    }
}
