//! Primitive and enum values written as element text or attribute values.

use std::borrow::Cow;

use super::DateTime;

/// A value that travels as text: primitives ([wire rule](crate::wire) R3.7, R3.8) and enums (R3.9).
pub trait Scalar: Sized {
    /// Parses the text of an element or attribute; the error says what was expected.
    fn parse_xml(text: &str) -> Result<Self, String>;
    /// Like [`parse_xml`](Self::parse_xml), taking text that may already be owned (readers
    /// call this one, so a `String` value takes the text without copying it again).
    fn from_text(text: Cow<'_, str>) -> Result<Self, String> {
        Self::parse_xml(&text)
    }
    /// Appends the text form (not yet escaped) to `out`.
    fn write_xml(&self, out: &mut String);
}

impl Scalar for String {
    fn parse_xml(text: &str) -> Result<Self, String> {
        Ok(text.to_string())
    }
    fn from_text(text: Cow<'_, str>) -> Result<Self, String> {
        Ok(text.into_owned())
    }
    fn write_xml(&self, out: &mut String) {
        out.push_str(self);
    }
}

fn shorten(text: &str) -> String {
    let t: String = text.chars().take(40).collect();
    if t.len() < text.len() {
        format!("{t}...")
    } else {
        t
    }
}

impl Scalar for i64 {
    fn parse_xml(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("expected an integer, found `{}`", shorten(text)))
    }
    fn write_xml(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{self}");
    }
}

impl Scalar for f64 {
    /// Decimal text with or without exponent (`0.5`, `-3`, `1e300`, `2.5E-7`), and the
    /// `xs:double` specials `INF`, `+INF`, `-INF`, `NaN` (any case; `infinity` too).
    fn parse_xml(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("expected a decimal number, found `{}`", shorten(text)))
    }
    /// The shortest text that reads back to the same value (R3.7): plain decimal
    /// (`0.5`, `100`) for magnitudes from 1e-5 to below 1e16, an exponent otherwise
    /// (`1e300`, `2.5e-7`) rather than hundreds of digits; infinities and not-a-number
    /// as `xs:double` writes them: `INF`, `-INF`, `NaN`.
    fn write_xml(&self, out: &mut String) {
        use std::fmt::Write;
        let v = *self;
        let _ = if v.is_nan() {
            out.write_str("NaN")
        } else if v.is_infinite() {
            out.write_str(if v > 0.0 { "INF" } else { "-INF" })
        } else if v != 0.0 && !(1e-5..1e16).contains(&v.abs()) {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
    }
}

impl Scalar for bool {
    /// `true`/`false` case-insensitively, or `1`/`0` (R3.7).
    fn parse_xml(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("true") || t == "1" {
            Ok(true)
        } else if t.eq_ignore_ascii_case("false") || t == "0" {
            Ok(false)
        } else {
            Err(format!("expected true or false, found `{}`", shorten(text)))
        }
    }
    fn write_xml(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

impl Scalar for DateTime {
    fn parse_xml(text: &str) -> Result<Self, String> {
        DateTime::parse(text.trim())
            .map_err(|e| format!("expected a date-time, found `{}`: {e}", shorten(text)))
    }
    fn write_xml(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{self}");
    }
}
