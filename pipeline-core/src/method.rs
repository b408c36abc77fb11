//! HTTP request methods.

use std::fmt;

/// An HTTP request method.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD` (the response never has a body)
    Head,
    /// `POST` (not idempotent: never pipelined)
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `OPTIONS`
    Options,
    /// `PATCH` (not idempotent: never pipelined)
    Patch,
    /// `TRACE` (treated as non-idempotent here: never pipelined)
    Trace,
}

impl Method {
    /// The method's name as sent on the wire, e.g. `"GET"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
            Method::Trace => "TRACE",
        }
    }

    /// True for the methods this client pipelines and retries after a connection failure:
    /// `GET`, `HEAD`, `PUT`, `DELETE` and `OPTIONS`.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Put | Method::Delete | Method::Options
        )
    }

    /// True if a `Content-Length: 0` header is sent even when the body is empty
    /// (`POST`, `PUT`, `PATCH`).
    pub(crate) fn always_sends_length(&self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_get_head_put_delete_options_are_idempotent() {
        let idem: Vec<_> = [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Options,
            Method::Patch,
            Method::Trace,
        ]
        .into_iter()
        .filter(|m| m.is_idempotent())
        .map(|m| m.as_str())
        .collect();
        assert_eq!(idem, ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
    }
}
