//! The imageio HTTP protocol: `OPTIONS`, `PUT` with `Content-Range`, `PATCH` zero and
//! flush, `GET` with `Range`, and the `extents` list, over an `http1_pipeline::Client` of the
//! imageio origin.
//!
//! The ticket is the last segment of the transfer URL and a secret: it never appears in an
//! error or a log event of this module (errors show the URL with `***` in its place).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http1_pipeline::{Method, Request};

use crate::error::{Error, ErrorKind};

/// A transfer URL split into origin and path, with the ticket kept out of `Debug`.
#[derive(Clone)]
pub(crate) struct ImageUrl {
    /// `https://host:54322`.
    pub(crate) origin: String,
    /// `/images/<ticket>`.
    path: String,
    /// The ticket (the last path segment), for redacting it.
    ticket: String,
}

impl fmt::Debug for ImageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageUrl({:?})", self.shown())
    }
}

impl ImageUrl {
    /// Parses `https://host:port/images/<ticket>` (or `http://`).
    pub(crate) fn parse(url: &str, what: &str) -> Result<ImageUrl, Error> {
        let bad = |why: &str| {
            Error::with_message(
                ErrorKind::UnexpectedResponse,
                format!("the image transfer's {what} is not a usable URL: {why}"),
            )
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no http:// or https://"))?;
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("the scheme is not http or https"));
        }
        let slash = rest.find('/').ok_or_else(|| bad("it has no path"))?;
        let (authority, path) = rest.split_at(slash);
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("the host is missing or carries user information"));
        }
        let path = path.trim_end_matches('/');
        if path.contains(['?', '#']) {
            return Err(bad("it carries a query or fragment"));
        }
        let ticket = path.rsplit('/').next().unwrap_or_default();
        if ticket.is_empty() {
            return Err(bad("it names no ticket"));
        }
        Ok(ImageUrl {
            origin: format!("{}://{}", scheme.to_ascii_lowercase(), authority),
            path: path.to_string(),
            ticket: ticket.to_string(),
        })
    }

    /// The URL with the ticket replaced by `***`, for messages.
    pub(crate) fn shown(&self) -> String {
        format!("{}{}", self.origin, self.redact(&self.path))
    }

    /// `text` with every occurrence of the ticket replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(&self.ticket, "***")
    }

    fn target(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.path)
    }
}

/// What `OPTIONS` says about the server.
#[derive(Clone, Debug, Default)]
pub(crate) struct ServerOptions {
    pub(crate) zero: bool,
    pub(crate) flush: bool,
    pub(crate) extents: bool,
    pub(crate) max_readers: Option<usize>,
    pub(crate) max_writers: Option<usize>,
}

/// One extent of the image, as `GET .../extents?context=zero` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Extent {
    pub(crate) start: u64,
    pub(crate) length: u64,
    pub(crate) zero: bool,
}

/// An imageio server of one transfer: a client of its origin and the image's URL.
#[derive(Clone)]
pub(crate) struct Imageio {
    pub(crate) client: http1_pipeline::Client,
    pub(crate) url: ImageUrl,
}

/// The error kind of an imageio answer with an error status.
fn status_kind(status: u16) -> ErrorKind {
    match status {
        401 | 403 => ErrorKind::Authentication,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        _ => ErrorKind::Fault,
    }
}

/// True for failures worth sending the same request again: the connection broke or the
/// answer was cut or malformed (every imageio request of a transfer can be repeated).
pub(crate) fn retriable(e: &http1_pipeline::Error) -> bool {
    use http1_pipeline::ErrorKind as K;
    matches!(
        e.kind(),
        K::Closed | K::Malformed | K::BodyDecode | K::Connect
    )
}

impl Imageio {
    /// An error of `what` (`PUT at offset 0 (4194304 bytes)`) from the transport.
    pub(crate) fn transport_error(
        &self,
        method: Method,
        what: &str,
        e: &http1_pipeline::Error,
    ) -> Error {
        use http1_pipeline::ErrorKind as K;
        let kind = match e.kind() {
            K::Timeout => ErrorKind::Timeout,
            K::Malformed | K::BodyDecode | K::HeaderLimit => ErrorKind::Protocol,
            K::Config => ErrorKind::Config,
            _ => ErrorKind::Connection,
        };
        // The transport's text names the URL, ticket included: redacted.
        let text = self.url.redact(&e.to_string());
        let prefix = format!("{method} {}: ", self.url.shown());
        let text = text.strip_prefix(prefix.as_str()).unwrap_or(&text);
        Error::with_message(kind, format!("{what}: {text}"))
            .for_request(method.as_str(), &self.url.shown())
            .processed(e.may_have_been_processed())
    }

    /// An error of `what` for an error status; the body (imageio's explanation) is quoted
    /// with the ticket redacted.
    async fn status_error(
        &self,
        method: Method,
        what: &str,
        response: http1_pipeline::Response,
    ) -> Error {
        let status = response.status();
        let reason = response.reason().to_string();
        let body = response.bytes().await.unwrap_or_default();
        let cut = &body[..body.len().min(300)];
        let text = self.url.redact(String::from_utf8_lossy(cut).trim());
        let mut message = what.to_string();
        if !text.is_empty() {
            message.push_str(": ");
            message.push_str(&text);
        }
        let mut err = Error::with_message(status_kind(status), message)
            .status(status)
            .reason(&reason)
            .for_request(method.as_str(), &self.url.shown());
        if status == 403 || status == 401 {
            err = err.hint(
                "imageio refused the transfer's ticket: the transfer was cancelled, paused or \
                 timed out (see TransferOptions::inactivity_timeout)",
            );
        }
        err
    }

    /// Sends `request`, re-sending it after connection failures up to `retries` times, and
    /// returns the response if its status is 2xx.
    async fn exchange(
        &self,
        request: impl Fn() -> Request,
        what: &str,
        retries: u32,
    ) -> Result<http1_pipeline::Response, Error> {
        let mut attempt = 0;
        loop {
            let req = request();
            // http1-pipeline's own log events and errors show the path without the ticket.
            let shown = self.url.redact(req.path());
            let req = req.shown_path(shown);
            let method = req.method();
            match self.client.send(req).await {
                Ok(response) if (200..300).contains(&response.status()) => return Ok(response),
                Ok(response) => return Err(self.status_error(method, what, response).await),
                Err(e) if attempt < retries && retriable(&e) => {
                    attempt += 1;
                    tracing::debug!(
                        target: "ovirt::transfer",
                        "{what}: {}; sending it again ({attempt} of {retries})",
                        self.url.redact(&e.to_string())
                    );
                }
                Err(e) => return Err(self.transport_error(method, what, &e)),
            }
        }
    }

    /// `OPTIONS`: the features and connection limits of the server.
    pub(crate) async fn options(&self) -> Result<ServerOptions, Error> {
        let path = self.url.target("");
        let response = self
            .exchange(|| Request::new(Method::Options, path.clone()), "OPTIONS", 1)
            .await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(Method::Options, "reading the OPTIONS answer", &e))?;
        parse_options(&body).map_err(|why| {
            Error::with_message(
                ErrorKind::UnexpectedResponse,
                format!("the OPTIONS answer is not imageio's: {why}"),
            )
            .for_request("OPTIONS", &self.url.shown())
        })
    }

    /// `PUT` of `data` at `offset`, not flushed.
    pub(crate) async fn put(&self, offset: u64, data: Bytes, retries: u32) -> Result<(), Error> {
        let len = data.len() as u64;
        let path = self.url.target("?flush=n");
        let range = format!("bytes {}-{}/*", offset, offset + len - 1);
        let what = format!("PUT at offset {offset} ({len} bytes)");
        let response = self
            .exchange(
                || {
                    Request::put(path.clone(), data.clone())
                        .header("Content-Range", range.clone())
                        .header("Content-Type", "application/octet-stream")
                },
                &what,
                retries,
            )
            .await?;
        // The body of a write's answer is empty or a few words; read it so the
        // connection's next answer follows.
        let _ = response.bytes().await;
        Ok(())
    }

    /// `PATCH` `{"op": "zero"}` of `size` bytes at `offset`, not flushed. Zeroing is
    /// repeatable, so it is sent again after a connection failure although `PATCH` is not
    /// idempotent in general.
    pub(crate) async fn zero(&self, offset: u64, size: u64, retries: u32) -> Result<(), Error> {
        let body = Bytes::from(
            serde_json::json!({"op": "zero", "offset": offset, "size": size, "flush": false})
                .to_string(),
        );
        self.patch(
            body,
            &format!("PATCH zero at offset {offset} ({size} bytes)"),
            retries,
        )
        .await
    }

    /// `PATCH` `{"op": "flush"}`: everything written reaches storage.
    pub(crate) async fn flush(&self, retries: u32) -> Result<(), Error> {
        let body = Bytes::from_static(br#"{"op": "flush"}"#);
        self.patch(body, "PATCH flush", retries).await
    }

    async fn patch(&self, body: Bytes, what: &str, retries: u32) -> Result<(), Error> {
        let path = self.url.target("");
        let response = self
            .exchange(
                || {
                    Request::new(Method::Patch, path.clone())
                        .body(body.clone())
                        .header("Content-Type", "application/json")
                },
                what,
                retries,
            )
            .await?;
        let _ = response.bytes().await;
        Ok(())
    }

    /// `GET` of `len` bytes at `offset`: the bytes, exactly `len` of them.
    pub(crate) async fn get(&self, offset: u64, len: u64, retries: u32) -> Result<Bytes, Error> {
        let path = self.url.target("");
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        let what = format!("GET at offset {offset} ({len} bytes)");
        let mut attempt = 0;
        loop {
            let response = self
                .exchange(
                    || Request::get(path.clone()).header("Range", range.clone()),
                    &what,
                    retries.saturating_sub(attempt),
                )
                .await?;
            // 206 with the range, or 200 with exactly the bytes asked for (an image of one
            // chunk); a 200 with more means the server ignored the range: not read.
            let length = response
                .headers()
                .get("Content-Length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if response.status() != 206 && length != Some(len) {
                return Err(Error::with_message(
                    ErrorKind::UnexpectedResponse,
                    format!(
                        "{what}: the server ignored the Range header (HTTP {})",
                        response.status()
                    ),
                )
                .for_request("GET", &self.url.shown()));
            }
            // A body cut after the response was handed over is fetched again whole.
            match read_exactly(response.into_body(), len).await {
                Ok(Ok(body)) => return Ok(body),
                Ok(Err(got)) => {
                    return Err(Error::with_message(
                        ErrorKind::UnexpectedResponse,
                        format!("{what}: the answer carries {got} bytes"),
                    )
                    .for_request("GET", &self.url.shown()))
                }
                Err(e) if attempt < retries && retriable(&e) => {
                    attempt += 1;
                    tracing::debug!(
                        target: "ovirt::transfer",
                        "{what}: the body was cut ({}); fetching it again",
                        self.url.redact(&e.to_string())
                    );
                }
                Err(e) => return Err(self.transport_error(Method::Get, &what, &e)),
            }
        }
    }

    /// `GET .../extents?context=zero`: the extents, checked to cover the image from 0
    /// without gaps.
    pub(crate) async fn extents(&self) -> Result<Vec<Extent>, Error> {
        let path = self.url.target("/extents?context=zero");
        let what = "GET extents";
        let response = self
            .exchange(|| Request::get(path.clone()), what, 1)
            .await?;
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(Method::Get, what, &e))?;
        parse_extents(&body).map_err(|why| {
            Error::with_message(
                ErrorKind::UnexpectedResponse,
                format!("the extents are not usable: {why}"),
            )
            .for_request(
                "GET",
                &self.url.redact(&format!("{}/extents", self.url.shown())),
            )
        })
    }

    /// The size of the image from a one-byte range request (`Content-Range: bytes
    /// 0-0/SIZE`), for servers without `extents`.
    pub(crate) async fn size(&self, retries: u32) -> Result<Option<u64>, Error> {
        let path = self.url.target("");
        let response = self
            .exchange(
                || Request::get(path.clone()).header("Range", "bytes=0-0"),
                "GET of the first byte",
                retries,
            )
            .await?;
        let size = response
            .headers()
            .get("Content-Range")
            .and_then(|v| v.rsplit('/').next())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let _ = response.bytes().await;
        Ok(size)
    }
}

/// Reads a body that should be `len` bytes into one buffer of that size (no regrowth);
/// `Ok(Err(n))` if it carries another number of bytes (counted up to the first excess).
async fn read_exactly(
    mut body: http1_pipeline::Body,
    len: u64,
) -> Result<Result<Bytes, u64>, http1_pipeline::Error> {
    let mut all = bytes::BytesMut::with_capacity(len as usize);
    while let Some(chunk) = body.chunk().await? {
        if (all.len() + chunk.len()) as u64 > len {
            return Ok(Err((all.len() + chunk.len()) as u64));
        }
        all.extend_from_slice(&chunk);
    }
    if all.len() as u64 != len {
        return Ok(Err(all.len() as u64));
    }
    Ok(Ok(all.freeze()))
}

/// Parses imageio's `OPTIONS` answer: `{"features": [...], "max_readers": n, "max_writers": n}`.
pub(crate) fn parse_options(body: &[u8]) -> Result<ServerOptions, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let mut options = ServerOptions::default();
    if let Some(features) = object.get("features") {
        let list = features.as_array().ok_or("features is not a list")?;
        for f in list {
            match f.as_str() {
                Some("zero") => options.zero = true,
                Some("flush") => options.flush = true,
                Some("extents") => options.extents = true,
                _ => {}
            }
        }
    }
    let count = |name: &str| -> Result<Option<usize>, String> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| *n >= 1)
                .map(|n| Some(n.min(1024) as usize))
                .ok_or(format!("{name} is not a positive integer")),
        }
    };
    options.max_readers = count("max_readers")?;
    options.max_writers = count("max_writers")?;
    Ok(options)
}

/// Parses and checks the extents list: contiguous from 0, every length positive.
pub(crate) fn parse_extents(body: &[u8]) -> Result<Vec<Extent>, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("not JSON ({e})"))?;
    let list = value.as_array().ok_or("not a JSON list")?;
    let mut extents: Vec<Extent> = Vec::with_capacity(list.len());
    let mut next = 0u64;
    for (i, item) in list.iter().enumerate() {
        let field = |name: &str| item.get(name).and_then(serde_json::Value::as_u64);
        let (Some(start), Some(length)) = (field("start"), field("length")) else {
            return Err(format!("extent {i} has no start or length"));
        };
        if start != next {
            return Err(format!(
                "extent {i} starts at {start}, the previous one ended at {next}"
            ));
        }
        if length == 0 {
            return Err(format!("extent {i} is empty"));
        }
        next = start
            .checked_add(length)
            .ok_or(format!("extent {i} ends past 2^64"))?;
        let zero = item
            .get("zero")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        // Neighbours of the same kind are merged.
        match extents.last_mut() {
            Some(last) if last.zero == zero => last.length += length,
            _ => extents.push(Extent {
                start,
                length,
                zero,
            }),
        }
    }
    Ok(extents)
}

/// The `Duration` imageio requests get when the options set none.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_url_is_split_and_its_ticket_never_shown() {
        let u = ImageUrl::parse("https://host.example:54322/images/s3cr3t-t1cket", "x").unwrap();
        assert_eq!(u.origin, "https://host.example:54322");
        assert_eq!(u.shown(), "https://host.example:54322/images/***");
        assert!(!format!("{u:?}").contains("s3cr3t"));
        assert!(ImageUrl::parse("ftp://h/images/t", "x").is_err());
        assert!(ImageUrl::parse("https://h", "x").is_err());
        assert!(ImageUrl::parse("https://h/images/t?x=1", "x").is_err());
    }

    #[test]
    fn options_give_features_and_limits() {
        let o = parse_options(
            br#"{"unix_socket": "x", "features": ["extents", "zero", "flush"], "max_readers": 8, "max_writers": 4}"#,
        )
        .unwrap();
        assert!(o.zero && o.flush && o.extents);
        assert_eq!((o.max_readers, o.max_writers), (Some(8), Some(4)));
        let o = parse_options(br#"{"features": []}"#).unwrap();
        assert!(!o.zero && o.max_writers.is_none());
        assert!(parse_options(b"<html>").is_err());
        assert!(parse_options(br#"{"max_writers": 0}"#).is_err());
        assert!(parse_options(br#"{"features": "zero"}"#).is_err());
    }

    #[test]
    fn extents_must_be_contiguous_and_are_merged() {
        let e = parse_extents(
            br#"[{"start": 0, "length": 10, "zero": false, "hole": false},
                 {"start": 10, "length": 5, "zero": false, "hole": false},
                 {"start": 15, "length": 5, "zero": true, "hole": true}]"#,
        )
        .unwrap();
        assert_eq!(
            e,
            vec![
                Extent {
                    start: 0,
                    length: 15,
                    zero: false
                },
                Extent {
                    start: 15,
                    length: 5,
                    zero: true
                }
            ]
        );
        assert!(parse_extents(br#"[{"start": 1, "length": 10, "zero": false}]"#).is_err());
        assert!(parse_extents(br#"[{"start": 0, "length": 0, "zero": false}]"#).is_err());
        assert!(parse_extents(br#"{"start": 0}"#).is_err());
    }
}
