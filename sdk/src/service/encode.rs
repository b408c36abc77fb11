//! URL encoding: query values ([wire rule](crate::wire) R1.3) and path segments ([wire rule](crate::wire) R2.1), and rendering of
//! typed parameter values as query text.

use crate::xml::Scalar;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escaped(out: &mut String, b: u8) {
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

/// Appends `text` form-encoded (`application/x-www-form-urlencoded`): unreserved characters
/// as is, space as `+`, every other byte of the UTF-8 text as `%XX` ([wire rule](crate::wire) R1.3).
pub fn form_encode_into(out: &mut String, text: &str) {
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else if b == b' ' {
            out.push('+');
        } else {
            push_escaped(out, b);
        }
    }
}

/// `text` form-encoded ([wire rule](crate::wire) R1.3): `name=web* sortby name` -> `name%3Dweb%2A+sortby+name`.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    form_encode_into(&mut out, text);
    out
}

/// `text` percent-encoded as one path segment ([wire rule](crate::wire) R2.1): unreserved characters as is,
/// everything else (including `/`, space, `%`) as `%XX`.
pub fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            push_escaped(&mut out, b);
        }
    }
    out
}

/// `base_path` + `/` + `path` (if not empty) + `?` + form-encoded query (if not empty).
pub(crate) fn render_target(base_path: &str, path: &str, query: &[(String, String)]) -> String {
    let mut out = String::with_capacity(base_path.len() + path.len() + 32);
    out.push_str(base_path);
    if !path.is_empty() {
        out.push('/');
        out.push_str(path);
    }
    if out.is_empty() {
        out.push('/');
    }
    for (i, (k, v)) in query.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        form_encode_into(&mut out, k);
        out.push('=');
        form_encode_into(&mut out, v);
    }
    out
}

/// A value that can be a query parameter ([wire rule](crate::wire) R1.3): booleans as `true`/`false`, integers in
/// decimal, strings as given, enums as their model name; the same text as in XML (R3.7-R3.9).
pub trait QueryValue {
    /// The text of the value, before form-encoding.
    fn to_query(&self) -> String;
}

impl<T: Scalar> QueryValue for T {
    fn to_query(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_characters_and_writes_space_as_plus() {
        // docs/wire.md R1.3 example.
        assert_eq!(
            form_encode("name=web* sortby name"),
            "name%3Dweb%2A+sortby+name"
        );
        assert_eq!(form_encode("a&b+c/é"), "a%26b%2Bc%2F%C3%A9");
        assert_eq!(
            form_encode("nics,disk_attachments.disk"),
            "nics%2Cdisk_attachments.disk"
        );
    }

    #[test]
    fn path_segments_escape_slash_space_and_percent() {
        // docs/wire.md R2.1 [rec]: locator values are percent-encoded path segments.
        assert_eq!(encode_segment("a/b c%"), "a%2Fb%20c%25");
        assert_eq!(
            encode_segment("123e4567-e89b-12d3-a456-426614174000"),
            "123e4567-e89b-12d3-a456-426614174000"
        );
    }

    #[test]
    fn target_joins_base_path_service_path_and_query() {
        let q = vec![
            ("search".to_owned(), "name=web*".to_owned()),
            ("max".to_owned(), "10".to_owned()),
        ];
        assert_eq!(
            render_target("/ovirt-engine/api", "vms", &q),
            "/ovirt-engine/api/vms?search=name%3Dweb%2A&max=10"
        );
        assert_eq!(
            render_target("/ovirt-engine/api", "", &[]),
            "/ovirt-engine/api"
        );
        assert_eq!(render_target("", "", &[]), "/");
    }

    #[test]
    fn query_values_render_per_wire_rules() {
        assert_eq!(true.to_query(), "true");
        assert_eq!(false.to_query(), "false");
        assert_eq!((-5i64).to_query(), "-5");
        assert_eq!(0.5f64.to_query(), "0.5");
        assert_eq!(1e21f64.to_query(), "1e21");
        assert_eq!("a b".to_owned().to_query(), "a b");
    }
}
