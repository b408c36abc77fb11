//! Programmable responses.

use bytes::Bytes;
use std::time::Duration;

use crate::render::API_PATH;

/// A programmed response: which requests it matches and what happens to them.
///
/// A rule matches a method (or any) and a path. A path not starting with `/` is relative
/// to the API base (`"vms/123"` means `/ovirt-engine/api/vms/123`); a path ending in `*`
/// matches every path with that prefix. The query string is not part of the match.
///
/// When a rule matches, the engine first waits for the rule's delay (if any), then:
/// * with [`Rule::expire_tokens`], every token issued so far stops being valid;
/// * with a status, it answers with that status, body, content type and headers, and
///   does nothing else (no authentication or version check);
/// * without a status, it handles the request normally.
///
/// ```
/// use ovirt_test_engine::Rule;
/// use std::time::Duration;
/// let rule = Rule::get("vms/*").status(500).xml("<fault><reason>Boom</reason></fault>").times(1);
/// let slow = Rule::any("vms").delay(Duration::from_millis(50));
/// # let _ = (rule, slow);
/// ```
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) method: Option<String>,
    pub(crate) path: String,
    pub(crate) prefix: bool,
    pub(crate) status: Option<u16>,
    pub(crate) body: Bytes,
    pub(crate) content_type: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) delay: Option<Duration>,
    pub(crate) times: Option<usize>,
    pub(crate) expire_tokens: bool,
}

impl Rule {
    /// A rule for requests with this method (`"GET"`, `"POST"`, ...) and path.
    pub fn new(method: &str, path: &str) -> Rule {
        let mut path = if path.starts_with('/') {
            path.to_string()
        } else if path.is_empty() {
            API_PATH.to_string()
        } else {
            format!("{API_PATH}/{path}")
        };
        let prefix = path.ends_with('*');
        if prefix {
            path.pop();
        }
        Rule {
            method: Some(method.to_ascii_uppercase()),
            path,
            prefix,
            status: None,
            body: Bytes::new(),
            content_type: None,
            headers: Vec::new(),
            delay: None,
            times: None,
            expire_tokens: false,
        }
    }

    /// A rule for any method.
    pub fn any(path: &str) -> Rule {
        Rule {
            method: None,
            ..Rule::new("GET", path)
        }
    }

    /// A rule for `GET` requests.
    pub fn get(path: &str) -> Rule {
        Rule::new("GET", path)
    }

    /// A rule for `POST` requests.
    pub fn post(path: &str) -> Rule {
        Rule::new("POST", path)
    }

    /// A rule for `PUT` requests.
    pub fn put(path: &str) -> Rule {
        Rule::new("PUT", path)
    }

    /// A rule for `DELETE` requests.
    pub fn delete(path: &str) -> Rule {
        Rule::new("DELETE", path)
    }

    /// Answer with this status instead of handling the request.
    pub fn status(mut self, status: u16) -> Rule {
        self.status = Some(status);
        self
    }

    /// The body of the programmed answer.
    pub fn body(mut self, body: impl Into<Bytes>) -> Rule {
        self.body = body.into();
        self
    }

    /// An XML body (sets the content type to `application/xml`).
    pub fn xml(self, body: impl Into<Bytes>) -> Rule {
        self.body(body).content_type("application/xml")
    }

    /// An HTML body (sets the content type to `text/html`), like the error pages of a
    /// proxy or servlet container (R4.4).
    pub fn html(self, body: impl Into<Bytes>) -> Rule {
        self.body(body).content_type("text/html; charset=utf-8")
    }

    /// A JSON body (sets the content type to `application/json`).
    pub fn json(self, body: impl Into<Bytes>) -> Rule {
        self.body(body).content_type("application/json")
    }

    /// The content type of the programmed answer.
    pub fn content_type(mut self, content_type: &str) -> Rule {
        self.content_type = Some(content_type.to_string());
        self
    }

    /// An extra header of the programmed answer.
    pub fn header(mut self, name: &str, value: &str) -> Rule {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Wait this long (on the server) before answering or handling the request.
    pub fn delay(mut self, delay: Duration) -> Rule {
        self.delay = Some(delay);
        self
    }

    /// Apply the rule to the next `n` matching requests only (default: all of them).
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// When the rule matches, every token issued so far expires: this request and every
    /// later one carrying such a token gets 401 (unless the rule also sets a status).
    pub fn expire_tokens(mut self) -> Rule {
        self.expire_tokens = true;
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(m) = &self.method {
            if m != method {
                return false;
            }
        }
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_under_the_api_base() {
        let r = Rule::get("vms");
        assert!(r.matches("GET", "/ovirt-engine/api/vms"));
        assert!(!r.matches("POST", "/ovirt-engine/api/vms"));
        assert!(!r.matches("GET", "/ovirt-engine/api/vms/1"));
    }

    #[test]
    fn star_matches_a_prefix_and_any_matches_every_method() {
        let r = Rule::any("/ovirt-engine/sso/*");
        assert!(r.matches("POST", "/ovirt-engine/sso/oauth/token"));
        assert!(!r.matches("POST", "/ovirt-engine/api"));
        assert!(Rule::get("").matches("GET", "/ovirt-engine/api"));
    }
}
