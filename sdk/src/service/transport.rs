//! The thin HTTP layer services call: [`Transport`], the [`Call`] it sends and the
//! [`RawResponse`] it returns, and [`PlainTransport`] over an `http1_pipeline::Client`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

use super::encode::{form_encode_into, render_target};
use crate::error::Error;

/// A boxed, `Send`, `'static` future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The HTTP verbs services use (docs/wire.md R1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verb {
    /// `GET`: get and list.
    Get,
    /// `POST`: add and actions.
    Post,
    /// `PUT`: update.
    Put,
    /// `DELETE`: remove.
    Delete,
    /// `PATCH` (not used by the oVirt model; a spec may name it).
    Patch,
}

impl Verb {
    /// The method token, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Delete => "DELETE",
            Verb::Patch => "PATCH",
        }
    }

    /// True for `GET`, `PUT` and `DELETE`: repeating the request has the same effect.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Verb::Post | Verb::Patch)
    }

    fn to_core(self) -> http1_pipeline::Method {
        match self {
            Verb::Get => http1_pipeline::Method::Get,
            Verb::Post => http1_pipeline::Method::Post,
            Verb::Put => http1_pipeline::Method::Put,
            Verb::Delete => http1_pipeline::Method::Delete,
            Verb::Patch => http1_pipeline::Method::Patch,
        }
    }
}

/// One request of a service method, as the runtime built it. `Debug` shows header names only
/// and the body's length (headers and bodies may carry secrets).
#[derive(Clone)]
pub struct Call {
    /// HTTP verb.
    pub verb: Verb,
    /// Path relative to the API base, without leading `/`, segments already percent-encoded
    /// (docs/wire.md R2.1), e.g. `vms/123/nics`; empty for the root service.
    pub path: String,
    /// Query pairs, not yet encoded (docs/wire.md R1.3), in the order they are sent.
    pub query: Vec<(String, String)>,
    /// Extra headers of this call (docs/wire.md R1.9); a transport adds its own (R5.4).
    pub headers: Vec<(String, String)>,
    /// XML request body, if any (sent with `Content-Type: application/xml`).
    pub body: Option<Bytes>,
    /// Time limit of this call; `None` uses the transport's default.
    pub timeout: Option<Duration>,
}

/// Header names of a header list, for `Debug` without values.
pub(crate) struct HeaderNames<'a>(pub(crate) &'a [(String, String)]);

impl std::fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("verb", &self.verb)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &HeaderNames(&self.headers))
            .field("body_len", &self.body.as_ref().map(|b| b.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Call {
    /// True if the call may be repeated safely after a connection failure.
    pub fn is_idempotent(&self) -> bool {
        self.verb.is_idempotent()
    }

    /// The request target: `base_path` + `/` + path + `?` + form-encoded query (docs/wire.md R1.2, R1.3).
    /// `base_path` is the path of the API entry point, e.g. `/ovirt-engine/api`.
    pub fn target(&self, base_path: &str) -> String {
        render_target(base_path, &self.path, &self.query)
    }

    /// The query string alone, form-encoded, without `?`.
    pub fn query_string(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.query.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            form_encode_into(&mut out, k);
            out.push('=');
            form_encode_into(&mut out, v);
        }
        out
    }
}

/// The answer to a [`Call`].
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The whole body (decompressed).
    pub body: Bytes,
}

/// Sends calls. Services hold one as `Arc<dyn Transport>`.
///
/// `send` must hand the call to the network (or queue it) *before* returning, not when the
/// future is first polled: services rely on it so that calls issued before any `.await` are
/// in flight together.
pub trait Transport: Send + Sync + 'static {
    /// Sends `call`; the future resolves to the response (any status) or a transport error.
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>>;

    /// Path of the API entry point (e.g. `/ovirt-engine/api`), used to turn an `href` into a
    /// service path (docs/wire.md R2.2) and to name URLs in errors.
    fn base_path(&self) -> &str;
}

/// A [`Transport`] over a [`http1_pipeline::Client`], adding only `Accept` and `Content-Type`
/// headers: no login, no `Authorization` or `Version` header (the connection adds those,
/// docs/wire.md R5.4).
#[derive(Clone, Debug)]
pub struct PlainTransport {
    client: http1_pipeline::Client,
    base_path: String,
}

impl PlainTransport {
    /// A transport sending to `base_path` (e.g. `/ovirt-engine/api`; a trailing `/` is
    /// ignored) on `client`'s origin.
    pub fn new(client: http1_pipeline::Client, base_path: impl Into<String>) -> Self {
        let mut base_path = base_path.into();
        while base_path.ends_with('/') {
            base_path.pop();
        }
        if !base_path.is_empty() && !base_path.starts_with('/') {
            base_path.insert(0, '/');
        }
        PlainTransport { client, base_path }
    }

    /// The request `http1_pipeline` will send for `call`: its target, the call's headers, then
    /// `Accept` and `Content-Type` (docs/wire.md R5.4), body and time limit.
    pub fn request(&self, call: Call) -> http1_pipeline::Request {
        let target = call.target(&self.base_path);
        let mut req = http1_pipeline::Request::new(call.verb.to_core(), target);
        for (k, v) in call.headers {
            req = req.header(k, v);
        }
        req = req
            .header("Accept", "application/xml")
            .header("Content-Type", "application/xml");
        if let Some(body) = call.body {
            req = req.body(body);
        }
        if call.timeout.is_some() {
            req = req.timeout(call.timeout);
        }
        req
    }
}

impl Transport for PlainTransport {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        // `http1_pipeline::Client::send` queues the request at once (see its docs).
        let pending = self.client.send(self.request(call));
        Box::pin(async move {
            let response = pending.await?;
            let status = response.status();
            let content_type = response.headers().get("content-type").map(str::to_owned);
            let body = response.bytes().await?;
            Ok(RawResponse {
                status,
                content_type,
                body,
            })
        })
    }

    fn base_path(&self) -> &str {
        &self.base_path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_a_call_shows_no_header_value_or_body() {
        let call = Call {
            verb: Verb::Post,
            path: "vms".into(),
            query: vec![("max".into(), "1".into())],
            headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            body: Some(Bytes::from_static(b"<vm><password>pw</password></vm>")),
            timeout: None,
        };
        let text = format!("{call:?}");
        assert!(text.contains("Authorization"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(!text.contains("pw"), "{text}");
        assert_eq!(call.query_string(), "max=1");
        assert!(!call.is_idempotent());
    }
}
