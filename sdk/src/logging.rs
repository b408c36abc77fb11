//! The debug log: what the SDK tells [`tracing`] about each request, and how to switch it
//! on.
//!
//! The SDK emits [`tracing`] events under three targets:
//!
//! | target | level | what |
//! | --- | --- | --- |
//! | `ovirt::request` | `DEBUG` | each request when it is sent: method, full URL, headers (the `Authorization` value as `Bearer ***`); also the SSO login and logout |
//! | `ovirt::response` | `DEBUG` | each response: method and URL, status and reason phrase, body size, milliseconds since the request was sent; a 401 that causes a new login |
//! | `ovirt::body` | `TRACE` | request and response bodies, only with [`ConnectionBuilder::log_bodies`](crate::ConnectionBuilder::log_bodies) |
//!
//! A list read with [`stream`](crate::service::Request::stream) is logged when its head is
//! in, with `bytes=streamed` (its size is not known yet); its body is not logged, since the
//! secrets in it could only be found in the whole document.
//!
//! Secrets never reach the log: the `Authorization` header is shown as `Bearer ***`, the
//! password and token of the SSO forms as `***`, the token of the SSO's JSON answer as
//! `"***"`, and in XML bodies the text of every element whose name ends in `password` or
//! `token` (and a ticket's `value`) as `***`.
//!
//! With `tracing-subscriber` (its `env-filter` feature), the equivalent of the Python SDK's
//! `debug=True`:
//!
//! ```no_run
//! # fn demo() -> Result<(), ovirt::Error> {
//! tracing_subscriber::fmt()
//!     .with_env_filter("ovirt::request=debug,ovirt::response=debug,ovirt::body=trace")
//!     .init();
//! let connection = ovirt::Connection::builder()
//!     .url("https://engine.example.com/ovirt-engine/api")
//!     .username("admin@internal")
//!     .password("secret")
//!     .log_bodies(true)
//!     .build()?;
//! # let _ = connection;
//! # Ok(())
//! # }
//! ```
//!
//! `RUST_LOG=ovirt::request=debug,ovirt::response=debug` (with `EnvFilter::from_default_env`)
//! shows request lines and statuses only. A runnable example: `cargo run -p ovirt --example
//! debug_log`.

use std::fmt::Write as _;

/// Target of the request events (`DEBUG`).
pub const REQUEST: &str = "ovirt::request";
/// Target of the response events (`DEBUG`).
pub const RESPONSE: &str = "ovirt::response";
/// Target of the body events (`TRACE`, with [`ConnectionBuilder::log_bodies`](crate::ConnectionBuilder::log_bodies)).
pub const BODY: &str = "ovirt::body";

/// True if element `name` holds a secret.
fn is_secret_tag(name: &str, ticket: bool) -> bool {
    name.ends_with("password") || name.ends_with("token") || (ticket && name == "value")
}

/// `text` (an XML document) with the text of secret elements replaced by `***`.
pub(crate) fn redact_xml(text: &str) -> String {
    let ticket = text.contains("<ticket");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let name_end = rest[1..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .map_or(rest.len(), |i| i + 1);
        let name = &rest[1..name_end];
        let Some(close) = rest.find('>') else {
            out.push_str(rest);
            return out;
        };
        let head = &rest[..=close];
        out.push_str(head);
        rest = &rest[close + 1..];
        let local = name.rsplit(':').next().unwrap_or(name);
        if !head.ends_with("/>")
            && !name.starts_with(['/', '?', '!'])
            && is_secret_tag(local, ticket)
        {
            let end = format!("</{name}>");
            match rest.find(&end) {
                Some(i) => {
                    out.push_str("***");
                    rest = &rest[i..];
                }
                None => {
                    out.push_str("***");
                    return out;
                }
            }
        }
    }
    out.push_str(rest);
    out
}

/// A form (`a=b&c=d`) with the values of `password` and `token` replaced by `***`.
pub(crate) fn redact_form(form: &str) -> String {
    let mut out = String::with_capacity(form.len());
    for (i, pair) in form.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if k.ends_with("password") || k.ends_with("token") => {
                let _ = write!(out, "{k}=***");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// A JSON answer of the SSO service with every member whose name holds `token` as `"***"`.
pub(crate) fn redact_json(value: &serde_json::Value) -> String {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if k.contains("token") && !k.ends_with("token_type") {
                        *v = serde_json::Value::String("***".into());
                    } else {
                        walk(v);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v = value.clone();
    walk(&mut v);
    v.to_string()
}

/// Headers of a request for the log, `Authorization` as `Bearer ***`.
pub(crate) fn headers(req: &http1_pipeline::Request, with_token: bool) -> String {
    let mut out = String::new();
    for (k, v) in req.headers().iter() {
        if !out.is_empty() {
            out.push_str(", ");
        }
        if k.eq_ignore_ascii_case("authorization") || k.eq_ignore_ascii_case("cookie") {
            let _ = write!(out, "{k}: ***");
        } else {
            let _ = write!(out, "{k}: {v}");
        }
    }
    if with_token {
        out.push_str(", Authorization: Bearer ***");
    }
    out
}

/// The `ovirt::response` event of one answer: `line` (method and URL), status, reason
/// phrase, body size (`bytes`: a number, or `streamed` when not known yet) and the time
/// since `started`.
pub(crate) fn response(
    line: &str,
    status: u16,
    reason: &str,
    bytes: &dyn std::fmt::Display,
    started: std::time::Instant,
) {
    tracing::debug!(
        target: RESPONSE,
        status,
        reason = %reason,
        bytes = %bytes,
        ms = %format_args!("{:.1}", started.elapsed().as_secs_f64() * 1e3),
        "{line}"
    );
}

/// A body for the log: text (secrets redacted as XML), or its size if it is not UTF-8.
pub(crate) fn body(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => redact_xml(text),
        Err(_) => format!("({} bytes, not UTF-8)", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_secrets_are_redacted() {
        let doc = "<vm><name>a</name><initialization><root_password>pw1</root_password>\
                   <user_name>root</user_name></initialization><password>pw2</password>\
                   <ns:token>t</ns:token><empty_password/></vm>";
        let r = redact_xml(doc);
        assert!(
            !r.contains("pw1") && !r.contains("pw2") && !r.contains(">t<"),
            "{r}"
        );
        assert!(r.contains("<user_name>root</user_name>"), "{r}");
        assert!(r.contains("<root_password>***</root_password>"), "{r}");
        let t =
            redact_xml("<action><ticket><value>abc</value><expiry>120</expiry></ticket></action>");
        assert_eq!(
            t,
            "<action><ticket><value>***</value><expiry>120</expiry></ticket></action>"
        );
        assert_eq!(redact_xml("<a><password>x"), "<a><password>***");
    }

    #[test]
    fn forms_and_json_are_redacted() {
        assert_eq!(
            redact_form("grant_type=password&username=u&password=p%20w"),
            "grant_type=password&username=u&password=***"
        );
        assert_eq!(redact_form("scope=x&token=abc"), "scope=x&token=***");
        let v: serde_json::Value =
            serde_json::from_str(r#"{"access_token":"s3","token_type":"bearer","exp":"1"}"#)
                .unwrap();
        let r = redact_json(&v);
        assert!(!r.contains("s3") && r.contains("bearer"), "{r}");
    }
}
