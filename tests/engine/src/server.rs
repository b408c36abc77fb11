//! Request handling: SSO endpoints, recording, programmed rules, and the hand-over of API
//! requests to the store ([`crate::store`]).

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::actions::{Clock, Pace};
use crate::form;
use crate::imageio::{Hub, ImageioOptions};
use crate::inventory::Inventory;
use crate::render::API_PATH;
use crate::rules::Rule;
use crate::store::{self, Call, Store};
use crate::RecordedRequest;

/// Path of the SSO token endpoint (R5.1).
pub const SSO_TOKEN_PATH: &str = "/ovirt-engine/sso/oauth/token";
/// Path of the SSO logout endpoint (R5.3).
pub const SSO_LOGOUT_PATH: &str = "/ovirt-engine/services/sso-logout";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Valid,
    Expired,
    Revoked,
}

/// Shared state of a running engine.
pub(crate) struct State {
    pub(crate) users: Vec<(String, String)>,
    pub(crate) gzip: bool,
    pub(crate) record: bool,
    /// The objects of the API.
    pub(crate) data: RwLock<Store>,
    /// The clock of the engine's background work.
    pub(crate) clock: Arc<Clock>,
    /// The imageio service of image transfers (also held by the store).
    pub(crate) hub: Arc<Hub>,
    tokens: Mutex<HashMap<String, TokenState>>,
    token_counter: AtomicU64,
    pub(crate) logins: AtomicUsize,
    pub(crate) failed_logins: AtomicUsize,
    pub(crate) revocations: AtomicUsize,
    pub(crate) unauthorized: AtomicUsize,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) rules: Mutex<Vec<Rule>>,
    pub(crate) connections: AtomicU64,
    pub(crate) http_auth: crate::negotiate::HttpAuthState,
}

impl State {
    pub(crate) fn new(
        users: Vec<(String, String)>,
        gzip: bool,
        record: bool,
        inventory: Inventory,
        pace: Pace,
        imageio: ImageioOptions,
    ) -> State {
        let clock = Arc::new(Clock::new(pace));
        let hub = Arc::new(Hub::new(clock.clone(), imageio, record));
        State {
            users,
            gzip,
            record,
            data: RwLock::new(Store::seeded(&inventory, hub.clone())),
            clock,
            hub,
            tokens: Mutex::new(HashMap::new()),
            token_counter: AtomicU64::new(0),
            logins: AtomicUsize::new(0),
            failed_logins: AtomicUsize::new(0),
            revocations: AtomicUsize::new(0),
            unauthorized: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            rules: Mutex::new(Vec::new()),
            connections: AtomicU64::new(0),
            http_auth: Default::default(),
        }
    }

    /// Makes every token issued so far invalid.
    pub(crate) fn expire_tokens(&self) {
        let mut tokens = lock(&self.tokens);
        for state in tokens.values_mut() {
            if *state == TokenState::Valid {
                *state = TokenState::Expired;
            }
        }
    }

    /// Issues a token that is valid until expired or revoked.
    pub(crate) fn issue_token(&self) -> String {
        let n = self.token_counter.fetch_add(1, Ordering::Relaxed);
        let token = format!("test-engine-token-{n}-{:x}", nanos() ^ (n << 20));
        lock(&self.tokens).insert(token.clone(), TokenState::Valid);
        token
    }

    fn token_valid(&self, token: &str) -> bool {
        lock(&self.tokens).get(token) == Some(&TokenState::Valid)
    }

    fn take_rule(&self, method: &str, path: &str) -> Option<Rule> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|r| r.times != Some(0) && r.matches(method, path))?;
        if let Some(n) = rule.times.as_mut() {
            *n -= 1;
        }
        Some(rule.clone())
    }
}

fn nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Locks a mutex, ignoring poisoning (the data stays usable for tests).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, content_type: Option<&str>, body: impl Into<Bytes>) -> Reply {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(ct) = content_type {
        if let Ok(v) = HeaderValue::from_str(ct) {
            resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
        }
    }
    resp
}

fn xml(status: u16, body: impl Into<Bytes>) -> Reply {
    reply(status, Some("application/xml"), body)
}

fn json(status: u16, body: String) -> Reply {
    reply(status, Some("application/json"), body)
}

fn empty(status: u16) -> Reply {
    reply(status, None, Bytes::new())
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An SSO error reply for the `ovirt-app-api` scope (R5.2).
fn sso_error(code: &str, message: &str) -> Reply {
    json(
        400,
        format!(
            "{{\"error_code\":{},\"error\":{}}}",
            json_string(code),
            json_string(message)
        ),
    )
}

fn header<'a>(req: &'a http::request::Parts, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Handles one request.
pub(crate) async fn handle(
    state: Arc<State>,
    connection: u64,
    req: Request<Incoming>,
) -> Result<Reply, std::convert::Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            tracing::debug!("test engine: reading a request body failed: {e}");
            return Ok(empty(400));
        }
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    tracing::debug!(%method, %path, connection, "test engine request");
    if state.record {
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let target = parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| path.clone());
        lock(&state.requests).push(RecordedRequest {
            method: method.clone(),
            target,
            headers,
            body: body.clone(),
            connection,
        });
    }

    let mut resp = respond(&state, &parts, &method, &path, &query, &body).await;
    if state.gzip && !resp.body().size_hint_is_empty() {
        let accepts = header(&parts, "accept-encoding")
            .map(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
            .unwrap_or(false);
        if accepts {
            resp = gzip(resp);
        }
    }
    Ok(resp)
}

trait SizeHintEmpty {
    fn size_hint_is_empty(&self) -> bool;
}

impl SizeHintEmpty for Full<Bytes> {
    fn size_hint_is_empty(&self) -> bool {
        hyper::body::Body::size_hint(self).exact() == Some(0)
    }
}

fn gzip(resp: Reply) -> Reply {
    let (mut parts, body) = resp.into_parts();
    // A `Full` body yields one frame; collecting it is immediate.
    let bytes = futures_now(body);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if enc.write_all(&bytes).is_err() {
        return Response::from_parts(parts, Full::new(bytes));
    }
    match enc.finish() {
        Ok(compressed) => {
            parts.headers.insert(
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static("gzip"),
            );
            Response::from_parts(parts, Full::new(Bytes::from(compressed)))
        }
        Err(_) => Response::from_parts(parts, Full::new(bytes)),
    }
}

/// Takes the bytes out of a `Full` body without a runtime.
fn futures_now(body: Full<Bytes>) -> Bytes {
    use hyper::body::Body;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let mut body = pin!(body);
    let mut cx = Context::from_waker(Waker::noop());
    match body.as_mut().poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

async fn respond(
    state: &State,
    parts: &http::request::Parts,
    method: &str,
    path: &str,
    query: &str,
    body: &Bytes,
) -> Reply {
    if let Some(rule) = state.take_rule(method, path) {
        if let Some(delay) = rule.delay {
            tokio::time::sleep(delay).await;
        }
        if rule.expire_tokens {
            state.expire_tokens();
        }
        if let Some(status) = rule.status {
            let mut resp = reply(status, rule.content_type.as_deref(), rule.body.clone());
            for (k, v) in &rule.headers {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(v),
                ) {
                    resp.headers_mut().append(k, v);
                }
            }
            return resp;
        }
    }

    if path == crate::negotiate::TOKEN_HTTP_AUTH_PATH {
        return crate::negotiate::token_http_auth(state, parts, body);
    }
    if path == SSO_TOKEN_PATH {
        return if parts.method == Method::POST {
            sso_token(state, body)
        } else {
            empty(405)
        };
    }
    if path == SSO_LOGOUT_PATH {
        return if parts.method == Method::POST {
            sso_logout(state, body)
        } else {
            empty(405)
        };
    }
    let rest = if path == API_PATH {
        ""
    } else if let Some(rest) = path
        .strip_prefix(API_PATH)
        .and_then(|r| r.strip_prefix('/'))
    {
        rest.trim_end_matches('/')
    } else {
        return empty(404);
    };

    // R5.4: this engine insists on `Version: 4` so tests notice a missing header.
    if header(parts, "version").map(str::trim) != Some("4") {
        return reply(
            400,
            Some("text/html; charset=utf-8"),
            "<html><body>Version 4 is required (header 'Version: 4')</body></html>",
        );
    }
    let token = header(parts, "authorization").and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    match token {
        Some(t) if state.token_valid(&t) => {}
        _ => {
            // R4.5: a request rejected with 401 was not executed.
            state.unauthorized.fetch_add(1, Ordering::Relaxed);
            return empty(401);
        }
    }
    api(state, parts, rest, query, body)
}

fn sso_token(state: &State, body: &Bytes) -> Reply {
    let form = form::parse(&String::from_utf8_lossy(body));
    let grant = form::get(&form, "grant_type");
    if grant != Some("password") {
        state.failed_logins.fetch_add(1, Ordering::Relaxed);
        return sso_error(
            "unsupported_grant_type",
            &format!("Unsupported grant type {}", grant.unwrap_or("(none)")),
        );
    }
    let scope_ok = form::get(&form, "scope")
        .map(|s| s.split(' ').any(|s| s == "ovirt-app-api"))
        .unwrap_or(false);
    if !scope_ok {
        state.failed_logins.fetch_add(1, Ordering::Relaxed);
        return sso_error(
            "invalid_scope",
            "The request is missing the required scope ovirt-app-api",
        );
    }
    let user = form::get(&form, "username").unwrap_or("");
    let password = form::get(&form, "password").unwrap_or("");
    if !state.users.iter().any(|(u, p)| u == user && p == password) {
        state.failed_logins.fetch_add(1, Ordering::Relaxed);
        return sso_error(
            "access_denied",
            &format!("Cannot authenticate user '{user}': The username or password is incorrect."),
        );
    }
    let token = state.issue_token();
    state.logins.fetch_add(1, Ordering::Relaxed);
    let exp = (nanos() / 1_000_000) + 3_600_000;
    json(
        200,
        format!(
            "{{\"access_token\":{},\"scope\":\"ovirt-app-api\",\"exp\":\"{exp}\",\"token_type\":\"bearer\"}}",
            json_string(&token)
        ),
    )
}

fn sso_logout(state: &State, body: &Bytes) -> Reply {
    let form = form::parse(&String::from_utf8_lossy(body));
    if let Some(token) = form::get(&form, "token") {
        let mut tokens = lock(&state.tokens);
        if let Some(s) = tokens.get_mut(token) {
            if *s != TokenState::Revoked {
                *s = TokenState::Revoked;
                state.revocations.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    json(200, "{}".to_string())
}

fn api(
    state: &State,
    parts: &http::request::Parts,
    rest: &str,
    query: &str,
    body: &Bytes,
) -> Reply {
    let header = |name: &str| header(parts, name).map(str::to_string);
    let call = Call {
        method: parts.method.as_str(),
        rest,
        params: form::parse(query),
        body,
        header: &header,
    };
    let answer = store::serve(&state.data, &state.clock, &call);
    let mut resp = if answer.body.is_empty() {
        empty(answer.status)
    } else {
        xml(answer.status, answer.body)
    };
    if let Some(location) = answer.location {
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(http::header::LOCATION, v);
        }
    }
    resp
}
