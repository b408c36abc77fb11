//! Request handling: SSO endpoints, the API endpoints of the inventory, recording and
//! programmed rules.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::form;
use crate::inventory::{stable_id, Inventory, Kind, Vm, VmStatus};
use crate::render::{self, API_PATH};
use crate::rules::Rule;
use crate::RecordedRequest;

/// Path of the SSO token endpoint (R5.1).
pub const SSO_TOKEN_PATH: &str = "/ovirt-engine/sso/oauth/token";
/// Path of the SSO logout endpoint (R5.3).
pub const SSO_LOGOUT_PATH: &str = "/ovirt-engine/services/sso-logout";

/// Pre-rendered documents of one VM.
struct VmDocs {
    vm: Bytes,
    disk_attachments: Bytes,
    nics: Bytes,
    permissions: Bytes,
}

impl VmDocs {
    fn render(vm: &Vm) -> VmDocs {
        let das: Vec<String> = vm
            .disk_attachments
            .iter()
            .map(|d| render::disk_attachment(&vm.id, d))
            .collect();
        let nics: Vec<String> = vm.nics.iter().map(|n| render::nic(&vm.id, n)).collect();
        let perms: Vec<String> = vm
            .permissions
            .iter()
            .map(|p| render::permission(&vm.id, p))
            .collect();
        VmDocs {
            vm: Bytes::from(render::vm(vm)),
            disk_attachments: Bytes::from(render::list(
                "disk_attachments",
                das.iter().map(String::as_str),
            )),
            nics: Bytes::from(render::list("nics", nics.iter().map(String::as_str))),
            permissions: Bytes::from(render::list(
                "permissions",
                perms.iter().map(String::as_str),
            )),
        }
    }
}

/// Inventory plus its pre-rendered documents.
pub(crate) struct Data {
    pub(crate) inventory: Inventory,
    vm_docs: HashMap<String, VmDocs>,
    all_vms: Option<Bytes>,
    next_vm_index: u64,
    clusters: Bytes,
    hosts: Bytes,
    data_centers: Bytes,
    singles: HashMap<(&'static str, String), Bytes>,
}

impl Data {
    pub(crate) fn new(inventory: Inventory) -> Data {
        let vm_docs = inventory
            .vms
            .iter()
            .map(|vm| (vm.id.clone(), VmDocs::render(vm)))
            .collect();
        let mut singles = HashMap::new();
        let clusters: Vec<String> = inventory.clusters.iter().map(render::cluster).collect();
        for (c, doc) in inventory.clusters.iter().zip(&clusters) {
            singles.insert(("clusters", c.id.clone()), Bytes::from(doc.clone()));
        }
        let hosts: Vec<String> = inventory.hosts.iter().map(render::host).collect();
        for (h, doc) in inventory.hosts.iter().zip(&hosts) {
            singles.insert(("hosts", h.id.clone()), Bytes::from(doc.clone()));
        }
        let dcs: Vec<String> = inventory
            .data_centers
            .iter()
            .map(render::data_center)
            .collect();
        for (d, doc) in inventory.data_centers.iter().zip(&dcs) {
            singles.insert(("datacenters", d.id.clone()), Bytes::from(doc.clone()));
        }
        let mut data = Data {
            next_vm_index: inventory.vms.len() as u64,
            vm_docs,
            all_vms: None,
            clusters: render::list("clusters", clusters.iter().map(String::as_str)).into(),
            hosts: render::list("hosts", hosts.iter().map(String::as_str)).into(),
            data_centers: render::list("data_centers", dcs.iter().map(String::as_str)).into(),
            singles,
            inventory,
        };
        data.all_vms = Some(data.render_vms(data.inventory.vms.iter()));
        data
    }

    fn render_vms<'a>(&self, vms: impl Iterator<Item = &'a Vm>) -> Bytes {
        let mut out = Vec::with_capacity(64 + self.inventory.vms.len() * 700);
        out.extend_from_slice(b"<vms>");
        let mut any = false;
        for vm in vms {
            if let Some(docs) = self.vm_docs.get(&vm.id) {
                out.extend_from_slice(&docs.vm);
                any = true;
            }
        }
        if any {
            out.extend_from_slice(b"</vms>");
        } else {
            out.clear();
            out.extend_from_slice(b"<vms/>");
        }
        Bytes::from(out)
    }

    fn changed(&mut self) {
        self.all_vms = Some(self.render_vms(self.inventory.vms.iter()));
    }
}

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
    pub(crate) data: RwLock<Data>,
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
    ) -> State {
        State {
            users,
            gzip,
            record,
            data: RwLock::new(Data::new(inventory)),
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

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
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
    api(state, &parts.method, rest, query, body)
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

fn api(state: &State, method: &Method, rest: &str, query: &str, body: &Bytes) -> Reply {
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    match (method, segments.as_slice()) {
        (&Method::GET, []) => {
            let data = read(&state.data);
            xml(
                200,
                render::api(data.inventory.vms.len(), data.inventory.hosts.len()),
            )
        }
        (&Method::GET, ["vms"]) => list_vms(state, query),
        (&Method::POST, ["vms"]) => add_vm(state, body),
        (&Method::GET, ["vms", id]) if follows(query, "nics") => vm_with_nics(state, id),
        (&Method::GET, ["vms", id]) => vm_doc(state, id, |d| &d.vm),
        (&Method::DELETE, ["vms", id]) => remove_vm(state, id),
        (&Method::GET, ["vms", id, "diskattachments"]) => {
            vm_doc(state, id, |d| &d.disk_attachments)
        }
        (&Method::GET, ["vms", id, "nics"]) => vm_doc(state, id, |d| &d.nics),
        (&Method::GET, ["vms", id, "permissions"]) => vm_doc(state, id, |d| &d.permissions),
        (&Method::GET, ["vms", id, kind @ ("diskattachments" | "nics" | "permissions"), item]) => {
            sub_object(state, id, kind, item)
        }
        (&Method::POST, ["vms", id, action @ ("start" | "stop")]) => {
            vm_action(state, id, action == &"start")
        }
        (&Method::GET, ["clusters"]) => xml(200, read(&state.data).clusters.clone()),
        (&Method::GET, ["hosts"]) => xml(200, read(&state.data).hosts.clone()),
        (&Method::GET, ["datacenters"]) => xml(200, read(&state.data).data_centers.clone()),
        (&Method::GET, [kind @ ("clusters" | "hosts" | "datacenters"), id]) => {
            let data = read(&state.data);
            let key: &'static str = match *kind {
                "clusters" => "clusters",
                "hosts" => "hosts",
                _ => "datacenters",
            };
            match data.singles.get(&(key, id.to_string())) {
                Some(doc) => xml(200, doc.clone()),
                None => empty(404),
            }
        }
        _ => empty(404),
    }
}

fn vm_doc(state: &State, id: &str, pick: impl Fn(&VmDocs) -> &Bytes) -> Reply {
    let data = read(&state.data);
    match data.vm_docs.get(id) {
        Some(docs) => xml(200, pick(docs).clone()),
        None => empty(404),
    }
}

/// Whether the `follow` parameter of `query` names `rel` (R3.6).
fn follows(query: &str, rel: &str) -> bool {
    form::get(&form::parse(query), "follow").is_some_and(|f| f.split(',').any(|r| r.trim() == rel))
}

/// `GET vms/{id}?follow=nics`: the VM with its NICs inline.
fn vm_with_nics(state: &State, id: &str) -> Reply {
    let data = read(&state.data);
    match data.inventory.vm(id) {
        Some(vm) => xml(200, render::vm_with_nics(vm)),
        None => empty(404),
    }
}

/// One disk attachment, NIC or permission of a VM (the `href`s of the lists name them).
fn sub_object(state: &State, vm_id: &str, kind: &str, item: &str) -> Reply {
    let data = read(&state.data);
    let Some(vm) = data.inventory.vm(vm_id) else {
        return empty(404);
    };
    let doc = match kind {
        "diskattachments" => vm
            .disk_attachments
            .iter()
            .find(|d| d.id == item)
            .map(|d| render::disk_attachment(&vm.id, d)),
        "nics" => vm
            .nics
            .iter()
            .find(|n| n.id == item)
            .map(|n| render::nic(&vm.id, n)),
        _ => vm
            .permissions
            .iter()
            .find(|p| p.id == item)
            .map(|p| render::permission(&vm.id, p)),
    };
    match doc {
        Some(doc) => xml(200, doc),
        None => empty(404),
    }
}

/// One `field=value` term of a search; `*` in the value matches any text.
struct Term {
    field: String,
    pattern: String,
}

fn glob(pattern: &str, text: &str, case_sensitive: bool) -> bool {
    let (p, t) = if case_sensitive {
        (pattern.to_string(), text.to_string())
    } else {
        (pattern.to_lowercase(), text.to_lowercase())
    };
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let mut rest = t.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn parse_search(search: &str) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    let words: Vec<&str> = search.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if i % 2 == 1 {
            if !w.eq_ignore_ascii_case("and") {
                return Err(format!("unsupported search operator '{w}'"));
            }
        } else {
            let (field, value) = w
                .split_once('=')
                .ok_or_else(|| format!("unsupported search term '{w}'"))?;
            let field = field.to_ascii_lowercase();
            if !matches!(field.as_str(), "name" | "status" | "id") {
                return Err(format!("unsupported search field '{field}'"));
            }
            terms.push(Term {
                field,
                pattern: value.trim_matches('"').to_string(),
            });
        }
        i += 1;
    }
    if words.len() % 2 == 0 && !words.is_empty() {
        return Err("search ends with an operator".to_string());
    }
    Ok(terms)
}

fn list_vms(state: &State, query: &str) -> Reply {
    let params = form::parse(query);
    let max = match form::get(&params, "max").map(str::parse::<i64>) {
        None => None,
        Some(Ok(m)) if m >= 0 => Some(m as usize),
        Some(Ok(_)) => None, // the engine treats -1 as "no limit"
        Some(Err(_)) => {
            return xml(
                400,
                render::fault(
                    "Invalid value",
                    "Value of parameter 'max' is not an integer",
                ),
            )
        }
    };
    let case_sensitive = form::get(&params, "case_sensitive")
        .map(|v| !v.eq_ignore_ascii_case("false"))
        .unwrap_or(true);
    let terms = match form::get(&params, "search").map(parse_search) {
        None => Vec::new(),
        Some(Ok(t)) => t,
        Some(Err(e)) => return xml(400, render::fault("Invalid search", &e)),
    };
    let data = read(&state.data);
    if terms.is_empty() && max.is_none() {
        if let Some(all) = &data.all_vms {
            return xml(200, all.clone());
        }
    }
    let selected = data
        .inventory
        .vms
        .iter()
        .filter(|vm| {
            terms.iter().all(|t| {
                let value = match t.field.as_str() {
                    "name" => vm.name.as_str(),
                    "status" => vm.status.as_str(),
                    _ => vm.id.as_str(),
                };
                glob(&t.pattern, value, case_sensitive)
            })
        })
        .take(max.unwrap_or(usize::MAX));
    xml(200, data.render_vms(selected))
}

/// Reads the name and cluster of an added VM from its `<vm>` document.
/// What the engine reads from an added VM.
#[derive(Debug, Default)]
struct NewVm {
    name: Option<String>,
    cluster_id: Option<String>,
    cluster_name: Option<String>,
}

fn parse_new_vm(body: &[u8]) -> Result<NewVm, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut depth = 0usize;
    let mut path: Vec<Vec<u8>> = Vec::new();
    let (mut name, mut cluster_id, mut cluster_name) = (None, None, None);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if depth == 0 && e.name().as_ref() != b"vm" =>
            {
                return Err(format!(
                    "expected a <vm> document, found <{}>",
                    String::from_utf8_lossy(e.name().as_ref())
                ));
            }
            Ok(Event::Start(e)) => {
                if depth == 1 && e.name().as_ref() == b"cluster" {
                    cluster_id = attr_id(&e);
                }
                path.push(e.name().as_ref().to_vec());
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                if depth == 1 && e.name().as_ref() == b"cluster" {
                    cluster_id = attr_id(&e);
                }
            }
            Ok(Event::End(_)) => {
                path.pop();
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Text(t)) => {
                let text = t
                    .unescape()
                    .map_err(|e| format!("bad text: {e}"))?
                    .into_owned();
                let p: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                match p.as_slice() {
                    [b"vm", b"name"] => name = Some(text),
                    [b"vm", b"cluster", b"name"] => cluster_name = Some(text),
                    _ => {}
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("malformed XML: {e}")),
        }
        buf.clear();
    }
    if depth != 0 {
        return Err("malformed XML: unclosed elements".to_string());
    }
    Ok(NewVm {
        name,
        cluster_id,
        cluster_name,
    })
}

fn attr_id(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == b"id")
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

fn add_vm(state: &State, body: &Bytes) -> Reply {
    let NewVm {
        name,
        cluster_id,
        cluster_name,
    } = match parse_new_vm(body) {
        Ok(v) => v,
        Err(e) => return xml(400, render::fault("Invalid request body", &e)),
    };
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return xml(
            400,
            render::fault("Incomplete parameters", "Vm [name] required for add"),
        );
    };
    let mut data = write(&state.data);
    let cluster = data
        .inventory
        .clusters
        .iter()
        .find(|c| {
            cluster_id.as_deref() == Some(c.id.as_str())
                || cluster_name.as_deref() == Some(c.name.as_str())
        })
        .map(|c| c.id.clone());
    let Some(cluster) = cluster else {
        return xml(
            400,
            render::fault(
                "Incomplete parameters",
                "Vm [cluster.id|name] required for add, naming an existing cluster",
            ),
        );
    };
    if data.inventory.vm_by_name(&name).is_some() {
        return xml(
            409,
            render::fault(
                "Operation Failed",
                &format!("[Cannot add VM. The VM name '{name}' is already in use.]"),
            ),
        );
    }
    let index = data.next_vm_index;
    data.next_vm_index += 1;
    let vm = Vm {
        id: stable_id(Kind::Vm, index),
        name,
        status: VmStatus::Down,
        memory: 1 << 30,
        cluster_id: cluster,
        host_id: None,
        disk_attachments: Vec::new(),
        nics: Vec::new(),
        permissions: Vec::new(),
    };
    let docs = VmDocs::render(&vm);
    let doc = docs.vm.clone();
    let id = vm.id.clone();
    data.vm_docs.insert(id.clone(), docs);
    data.inventory.vms.push(vm);
    data.changed();
    let mut resp = xml(201, doc);
    if let Ok(v) = HeaderValue::from_str(&format!("{API_PATH}/vms/{id}")) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

fn remove_vm(state: &State, id: &str) -> Reply {
    let mut data = write(&state.data);
    let Some(pos) = data.inventory.vms.iter().position(|v| v.id == id) else {
        return empty(404);
    };
    data.inventory.vms.remove(pos);
    data.vm_docs.remove(id);
    data.changed();
    xml(200, render::action_complete())
}

fn vm_action(state: &State, id: &str, start: bool) -> Reply {
    let mut data = write(&state.data);
    let hosts = data.inventory.hosts.len().max(1);
    let Some(pos) = data.inventory.vms.iter().position(|v| v.id == id) else {
        return empty(404);
    };
    let vm = &mut data.inventory.vms[pos];
    match (start, vm.status) {
        (true, VmStatus::Up) => {
            return xml(
                409,
                render::action_failed("Operation Failed", "[Cannot run VM. VM is running.]"),
            )
        }
        (false, VmStatus::Down) => {
            return xml(
                409,
                render::action_failed("Operation Failed", "[Cannot stop VM. VM is not running.]"),
            )
        }
        (true, _) => {
            vm.status = VmStatus::Up;
            vm.host_id = Some(stable_id(Kind::Host, (pos % hosts) as u64));
        }
        (false, _) => {
            vm.status = VmStatus::Down;
            vm.host_id = None;
        }
    }
    let doc = Bytes::from(render::vm(vm));
    if let Some(docs) = data.vm_docs.get_mut(id) {
        docs.vm = doc;
    }
    data.changed();
    xml(200, render::action_complete())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_prefixes_infixes_and_exact_text() {
        assert!(glob("vm-00*", "vm-0012", true));
        assert!(!glob("vm-00*", "vm-1012", true));
        assert!(glob("*12", "vm-0012", true));
        assert!(glob("vm*1*", "vm-0012", true));
        assert!(glob("VM-0012", "vm-0012", false));
        assert!(!glob("VM-0012", "vm-0012", true));
    }

    #[test]
    fn search_accepts_and_joined_terms_and_rejects_others() {
        assert_eq!(parse_search("name=a* and status=up").unwrap().len(), 2);
        assert!(parse_search("name=a or status=up").is_err());
        assert!(parse_search("cpu=4").is_err());
        assert!(parse_search("name=a and").is_err());
    }

    #[test]
    fn new_vm_document_gives_name_and_cluster() {
        let vm = parse_new_vm(b"<vm><name>web1</name><cluster><name>Default</name></cluster></vm>")
            .unwrap();
        assert_eq!(vm.name.as_deref(), Some("web1"));
        assert_eq!(vm.cluster_id, None);
        assert_eq!(vm.cluster_name.as_deref(), Some("Default"));
        let vm = parse_new_vm(b"<vm><cluster id=\"c1\"/></vm>").unwrap();
        assert_eq!(vm.cluster_id.as_deref(), Some("c1"));
        assert!(parse_new_vm(b"<host/>").is_err());
        assert!(parse_new_vm(b"<vm><name>x</vm>").is_err());
    }
}
