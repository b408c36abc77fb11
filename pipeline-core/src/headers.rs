//! An ordered, case-insensitive header list.

use std::fmt;

use bytes::Bytes;

/// Header names whose values are never shown in `Debug` output or logs.
const SECRET_HEADERS: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

pub(crate) fn is_secret(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A header name or value: shared bytes that are always valid UTF-8.
#[derive(Clone, PartialEq, Eq)]
struct Text(Bytes);

impl Text {
    fn from_string(s: String) -> Text {
        Text(Bytes::from(s))
    }

    /// Makes a text from bytes that may not be UTF-8 (obsolete header text is decoded
    /// lossily).
    fn from_bytes(b: Bytes) -> Text {
        match std::str::from_utf8(&b) {
            Ok(_) => Text(b),
            Err(_) => Text(Bytes::from(String::from_utf8_lossy(&b).into_owned())),
        }
    }

    fn as_str(&self) -> &str {
        // Every constructor checks UTF-8, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// HTTP headers: keeps the order and duplicates as received or added; look-ups by name
/// ignore ASCII case.
///
/// `Debug` output hides the values of `Authorization`, `Proxy-Authorization`, `Cookie` and
/// `Set-Cookie`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(Text, Text)>,
}

impl Headers {
    /// An empty header list.
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn with_capacity(n: usize) -> Headers {
        Headers {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends a header read from the network (name already checked by the parser).
    pub(crate) fn push_raw(&mut self, name: Bytes, value: Bytes) {
        self.entries
            .push((Text::from_bytes(name), Text::from_bytes(value)));
    }

    /// Adds a header, keeping any others with the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((
            Text::from_string(name.into()),
            Text::from_string(value.into()),
        ));
    }

    /// Sets a header: removes every header with that name, then adds this one.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.remove(&name);
        self.append(name, value);
    }

    /// Removes every header with this name; returns true if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|(n, _)| !n.as_str().eq_ignore_ascii_case(name));
        before != self.entries.len()
    }

    /// The value of the first header with this name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header with this name, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True if a header with this name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every header as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of headers (duplicates counted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True if any comma-separated element of any header `name` equals `token`
    /// (ASCII case-insensitive), e.g. `Connection: keep-alive, close`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_list();
        for (n, v) in self.iter() {
            if is_secret(n) {
                m.entry(&format_args!("{}: <redacted>", n));
            } else {
                m.entry(&format_args!("{}: {:?}", n, v));
            }
        }
        m.finish()
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    fn from_iter<T: IntoIterator<Item = (N, V)>>(iter: T) -> Self {
        let mut h = Headers::new();
        for (n, v) in iter {
            h.append(n, v);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_duplicates_in_order() {
        let mut h = Headers::new();
        h.append("Set-Thing", "a");
        h.append("content-type", "text/plain");
        h.append("SET-THING", "b");
        assert_eq!(h.get("Content-Type"), Some("text/plain"));
        assert_eq!(h.get_all("set-thing").collect::<Vec<_>>(), ["a", "b"]);
        h.insert("set-thing", "c");
        assert_eq!(h.get_all("Set-Thing").collect::<Vec<_>>(), ["c"]);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn debug_hides_secret_values() {
        let h: Headers = [("Authorization", "Bearer s3cret"), ("Accept", "x")]
            .into_iter()
            .collect();
        let d = format!("{:?}", h);
        assert!(!d.contains("s3cret"), "{d}");
        assert!(d.contains("Accept"));
    }

    #[test]
    fn non_utf8_values_are_decoded_lossily() {
        let mut h = Headers::new();
        h.push_raw(Bytes::from_static(b"X"), Bytes::from_static(b"a\xffb"));
        assert_eq!(h.get("x"), Some("a\u{fffd}b"));
    }

    #[test]
    fn connection_tokens_are_found_in_lists() {
        let h: Headers = [("Connection", "Keep-Alive, Close")].into_iter().collect();
        assert!(h.has_token("connection", "close"));
        assert!(!h.has_token("connection", "upgrade"));
    }
}
