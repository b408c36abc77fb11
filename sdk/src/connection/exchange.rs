//! One API exchange: the call turned into a request with the connection's headers and the
//! token, sent as a task of its own, and re-sent once after a new login on 401 (R4.5).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{InFlight, Inner, Secret};
use crate::error::{Error, ErrorKind};
use tracing::Level;

use crate::logging;
use crate::service::{read_raw, read_raw_response, BoxFuture, Call, RawResponse, StreamedResponse};

/// Headers every API request gets from the connection itself (R5.4).
const FIXED_HEADERS: [&str; 4] = ["Version", "Authorization", "Accept", "Content-Type"];

/// The task of one request; aborted when dropped (which cancels the request).
struct Exchange<T>(tokio::task::JoinHandle<Result<T, Error>>);

impl<T> std::future::Future for Exchange<T> {
    type Output = Result<T, Error>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|joined| {
            joined.unwrap_or_else(|e| {
                Err(Error::with_message(
                    ErrorKind::Connection,
                    format!("the request task ended unexpectedly: {e}"),
                ))
            })
        })
    }
}

impl<T> Drop for Exchange<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn with_token(mut req: http1_pipeline::Request, token: &Secret) -> http1_pipeline::Request {
    req = req.header("Authorization", format!("Bearer {}", token.0));
    req
}

/// What is left of an exchange once its request is queued: reading the answer (and the
/// re-login on 401).
type Finish<T> = fn(
    Arc<Inner>,
    http1_pipeline::Request,
    http1_pipeline::ResponseFuture,
    u64,
    Option<Arc<str>>,
) -> BoxFuture<Result<T, Error>>;

impl Inner {
    /// Sends an API call and reads the whole answer. With a token at hand the request is
    /// handed to the HTTP client before this returns; without one, the future first waits
    /// for the shared login.
    pub(super) fn send(self: &Arc<Self>, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        self.exchange(call, |this, req, pending, generation, line| {
            Box::pin(this.finish(req, pending, generation, line))
        })
    }

    /// Sends an API call like [`Inner::send`]; the answer is handed out once its head is in,
    /// its body to be read as it arrives.
    pub(super) fn send_streamed(
        self: &Arc<Self>,
        call: Call,
    ) -> BoxFuture<Result<StreamedResponse, Error>> {
        self.exchange(call, |this, req, pending, generation, line| {
            Box::pin(this.finish_streamed(req, pending, generation, line))
        })
    }

    fn exchange<T: Send + 'static>(
        self: &Arc<Self>,
        call: Call,
        finish: Finish<T>,
    ) -> BoxFuture<Result<T, Error>> {
        if let Err(e) = self.check_open() {
            return Box::pin(std::future::ready(Err(e)));
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Box::pin(std::future::ready(Err(Error::with_message(
                ErrorKind::InvalidRequest,
                "an async Connection is used outside a tokio runtime; \
                 use ConnectionBuilder::build_blocking for programs without one",
            ))));
        }
        // The debug log (crate::logging): the request line and headers now, the status
        // and time when the answer is in.
        let line: Option<Arc<str>> = (tracing::enabled!(target: logging::REQUEST, Level::DEBUG)
            || tracing::enabled!(target: logging::RESPONSE, Level::DEBUG))
        .then(|| {
            Arc::from(format!(
                "{} {}{}",
                call.method(),
                self.client.origin(),
                call.target()
            ))
        });
        let body = call.body.clone();
        let req = self.request(call);
        if let Some(line) = &line {
            tracing::debug!(
                target: logging::REQUEST,
                headers = %logging::headers(&req, true),
                "{line}"
            );
        }
        if let Some(body) = body.filter(|_| self.logs_bodies()) {
            tracing::trace!(target: logging::BODY, "request body: {}", logging::body(&body));
        }
        let this = self.clone();
        let in_flight = InFlight::new(self);
        // The exchange runs as a task of its own, so the request keeps moving (through
        // login, back-pressure of the HTTP client, re-login) even while the caller awaits
        // other answers first; dropping the returned future aborts it.
        let task = match self.current(None) {
            Some((token, generation)) => {
                // A token is at hand: the request is queued before `send` returns.
                let pending = self.client.send(with_token(req.clone(), &token));
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    finish(this, req, pending, generation, line).await
                })
            }
            None => tokio::spawn(async move {
                let _in_flight = in_flight;
                let (token, generation) = this.token(None).await?;
                let pending = this.client.send(with_token(req.clone(), &token));
                finish(this, req, pending, generation, line).await
            }),
        };
        Box::pin(Exchange(task))
    }

    pub(super) fn check_open(&self) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::with_message(
                ErrorKind::InvalidRequest,
                "the connection is closed",
            ))
        } else {
            Ok(())
        }
    }

    /// The request for `call`, without `Authorization` (R5.4, R1.9, R1.10).
    fn request(&self, mut call: Call) -> http1_pipeline::Request {
        // R1.9: connection-wide headers first; the call's own replace those of the same name.
        if !self.headers.is_empty() {
            let mut headers: Vec<(String, String)> = self
                .headers
                .iter()
                .filter(|(k, _)| !call.headers.iter().any(|(c, _)| c.eq_ignore_ascii_case(k)))
                .cloned()
                .collect();
            headers.append(&mut call.headers);
            call.headers = headers;
        }
        // R1.9: a caller cannot replace the fixed headers of R5.4; a second copy would make
        // the engine read the caller's (the first), so it is left out.
        call.headers.retain(|(k, _)| {
            let fixed = FIXED_HEADERS.iter().any(|f| f.eq_ignore_ascii_case(k));
            if fixed {
                tracing::debug!(header = %k, "ignoring a caller header that the SDK sets itself");
            }
            !fixed
        });
        // R1.10: `all_content` is also sent as a header.
        let all_content = call
            .query()
            .iter()
            .find(|(k, _)| k == "all_content")
            .map(|(_, v)| v.clone());
        let mut req = call.into_request().header("Version", "4");
        if let Some(v) = all_content {
            req = req.header("All-Content", v);
        }
        req
    }

    /// Sends `req` with the token of generation `generation`; on 401 logs in again (once
    /// for all requests that failed with that token) and re-sends once (R4.5).
    async fn finish(
        self: Arc<Self>,
        req: http1_pipeline::Request,
        pending: http1_pipeline::ResponseFuture,
        generation: u64,
        line: Option<Arc<str>>,
    ) -> Result<RawResponse, Error> {
        let started = std::time::Instant::now();
        let raw = read_raw(pending).await?;
        self.log_response(line.as_deref(), &raw, started);
        let can_login = self.credentials.is_some() || self.kerberos.is_some();
        if raw.status != 401 || !can_login || self.closed.load(Ordering::Acquire) {
            return Ok(raw);
        }
        // R4.5: a request rejected with 401 was not executed; log in again (once for all
        // requests that failed with this token) and send it once more.
        tracing::debug!(target: logging::RESPONSE, "token rejected; logging in again");
        let (token, _) = self.token(Some(generation)).await?;
        let started = std::time::Instant::now();
        let raw = read_raw(self.client.send(with_token(req, &token))).await?;
        self.log_response(line.as_deref(), &raw, started);
        Ok(raw)
    }

    /// Like [`Inner::finish`], but hands out the answer once its head is in (a 401 that
    /// causes a new login is read whole first, as small as it is).
    async fn finish_streamed(
        self: Arc<Self>,
        req: http1_pipeline::Request,
        pending: http1_pipeline::ResponseFuture,
        generation: u64,
        line: Option<Arc<str>>,
    ) -> Result<StreamedResponse, Error> {
        let started = std::time::Instant::now();
        let response = pending.await?;
        let can_login = self.credentials.is_some() || self.kerberos.is_some();
        if response.status() != 401 || !can_login || self.closed.load(Ordering::Acquire) {
            return Ok(self.streamed(line.as_deref(), response, started));
        }
        // R4.5, as in `finish`.
        let raw = read_raw_response(response).await?;
        self.log_response(line.as_deref(), &raw, started);
        tracing::debug!(target: logging::RESPONSE, "token rejected; logging in again");
        let (token, _) = self.token(Some(generation)).await?;
        let started = std::time::Instant::now();
        let response = self.client.send(with_token(req, &token)).await?;
        Ok(self.streamed(line.as_deref(), response, started))
    }

    /// The streamed answer, logged by its head (its size is not known yet, and its body is
    /// not logged: redaction needs the whole document).
    fn streamed(
        &self,
        line: Option<&str>,
        response: http1_pipeline::Response,
        started: std::time::Instant,
    ) -> StreamedResponse {
        let streamed = StreamedResponse::from_response(response);
        if let Some(line) = line {
            logging::response(
                line,
                streamed.status,
                &streamed.reason,
                &"streamed",
                started,
            );
        }
        if self.logs_bodies() {
            tracing::trace!(target: logging::BODY, "response body: streamed, not logged");
        }
        streamed
    }

    /// True if bodies go to the log: asked for, and the `ovirt::body` target enabled.
    pub(super) fn logs_bodies(&self) -> bool {
        self.log_bodies && tracing::enabled!(target: logging::BODY, Level::TRACE)
    }

    /// The response events of the debug log (crate::logging).
    pub(super) fn log_response(
        &self,
        line: Option<&str>,
        raw: &RawResponse,
        started: std::time::Instant,
    ) {
        if let Some(line) = line {
            logging::response(line, raw.status, &raw.reason, &raw.body.len(), started);
        }
        if self.logs_bodies() {
            tracing::trace!(target: logging::BODY, "response body: {}", logging::body(&raw.body));
        }
    }
}
