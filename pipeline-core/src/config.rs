//! What a client is configured with: its origin, its proxy, and the options every
//! connection reads.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;

use crate::{Error, ErrorKind, Headers};

/// The origin every request of a client goes to.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `host[:port]` as sent in `Host` (port omitted when it is the scheme's default).
    pub(crate) authority: String,
    /// `scheme://authority`, used in error messages and absolute-form targets.
    pub(crate) prefix: String,
}

impl Origin {
    /// Parses `http://host[:port]` or `https://host[:port]`, with an optional `/` after it.
    pub(crate) fn parse(url: &str, what: &str) -> Result<Origin, Error> {
        // The URL is echoed in errors, minus any `user:password@` part.
        let shown = redact_userinfo(url);
        let bad = |why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("invalid {what} {shown:?}: {why}"),
            )
        };
        let (https, rest) = if let Some(r) = strip_prefix_ci(url, "https://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "http://") {
            (false, r)
        } else {
            return Err(bad("the scheme must be http:// or https://"));
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (auth, tail) = rest.split_at(end);
        if !(tail.is_empty() || tail == "/") {
            return Err(bad(
                "an origin has no path, query or fragment (give paths to each Request)",
            ));
        }
        if auth.contains('@') {
            return Err(bad("user information in the URL is not supported"));
        }
        let default_port = if https { 443 } else { 80 };
        let (host, port) = if let Some(r) = auth.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad("unclosed '[' in the host"))?;
            let host = &r[..close];
            let after = &r[close + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => parse_port(p).ok_or_else(|| bad("invalid port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("unexpected characters after the host")),
            };
            if host.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 address"));
            }
            (host.to_string(), port)
        } else {
            let (h, p) = match auth.rsplit_once(':') {
                Some((h, p)) => (h, parse_port(p).ok_or_else(|| bad("invalid port"))?),
                None => (auth, default_port),
            };
            (h.to_string(), p)
        };
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        {
            return Err(bad("invalid host"));
        }
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_ascii_lowercase()
        };
        let authority = if port == default_port {
            host_part
        } else {
            format!("{host_part}:{port}")
        };
        let prefix = format!("{}://{}", if https { "https" } else { "http" }, authority);
        Ok(Origin {
            https,
            host: host.to_ascii_lowercase(),
            port,
            authority,
            prefix,
        })
    }
}

/// `url` with any user information (`user:password@`) before the host replaced by `***@`,
/// so that a URL can be shown in an error without leaking a password.
fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    if s.len() >= p.len() && s.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()) {
        Some(&s[p.len()..])
    } else {
        None
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok().filter(|&p| p != 0)
}

/// An HTTP proxy (only `http://` proxies are supported). Requests to an `http://` origin
/// are sent to the proxy in absolute form; connections to an `https://` origin are tunnelled
/// with `CONNECT`.
#[derive(Clone)]
pub struct Proxy {
    pub(crate) origin: Origin,
    /// `Basic ...` credentials; never shown in `Debug` output.
    pub(crate) authorization: Option<String>,
}

impl Proxy {
    /// A proxy at `http://host[:port]`.
    pub fn new(url: &str) -> Result<Proxy, Error> {
        let origin = Origin::parse(url, "proxy URL")?;
        if origin.https {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "invalid proxy URL {:?}: only http:// proxies are supported",
                    origin.prefix
                ),
            ));
        }
        Ok(Proxy {
            origin,
            authorization: None,
        })
    }

    /// Authenticates to the proxy with HTTP basic authentication
    /// (`Proxy-Authorization: Basic ...`).
    pub fn basic_auth(mut self, user: &str, password: &str) -> Proxy {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.authorization = Some(format!("Basic {token}"));
        self
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.origin.prefix)
            .field("basic_auth", &self.authorization.is_some())
            .finish()
    }
}

/// Everything a connection needs to know; shared by all connections of a client.
pub(crate) struct Config {
    pub(crate) origin: Origin,
    pub(crate) max_connections: usize,
    pub(crate) pipeline_depth: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) default_headers: Headers,
    pub(crate) gzip: bool,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) proxy: Option<Proxy>,
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_retries: u32,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_body_bytes: Option<u64>,
}

impl Config {
    /// The URL of a request, for error messages.
    pub(crate) fn url(&self, path: &str) -> String {
        let mut s = String::with_capacity(self.origin.prefix.len() + path.len());
        s.push_str(&self.origin.prefix);
        s.push_str(path);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_url_with_a_password_is_refused_without_showing_the_password() {
        let err = Proxy::new("http://alice:s3cret@proxy.example:3128").unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains("user information"), "{text}");
        assert!(text.contains("***@proxy.example:3128"), "{text}");
        assert!(
            !text.contains("s3cret") && !text.contains("alice"),
            "{text}"
        );
    }

    #[test]
    fn urls_without_user_information_are_shown_as_given() {
        assert_eq!(redact_userinfo("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_userinfo("https://u@h"), "https://***@h");
        assert_eq!(redact_userinfo("u:p@h"), "***@h");
    }
}
