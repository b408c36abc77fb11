//! The SSO's HTTP-authentication login, `POST /ovirt-engine/sso/oauth/token-http-auth`
//! with the form `grant_type=urn:ovirt:params:oauth:grant-type:http&scope=ovirt-app-api`:
//! the engine issues a token to the user its web server authenticated (Kerberos single
//! sign-on).
//!
//! Three set-ups ([`TestEngineBuilder`]):
//!
//! * none (the default): nobody authenticates the request, so the endpoint answers `401`
//!   without a `Negotiate` challenge, as an engine whose web server is not set up for
//!   Kerberos does;
//! * [`TestEngineBuilder::http_auth_remote_user`]: the engine trusts the `X-Remote-User`
//!   header set by a web server in front of it (Apache with mod_auth_gssapi, as the
//!   engine's packaging deploys it) and answers `401` without it;
//! * [`TestEngineBuilder::negotiate_keytab`] (cargo feature `kerberos`): the engine checks
//!   the SPNEGO token itself (RFC 4559) as a GSSAPI acceptor with the service keys of a
//!   keytab: no `Authorization` gets `401` with `WWW-Authenticate: Negotiate`; a valid
//!   `Authorization: Negotiate <token>` gets the SSO's JSON with the server's
//!   mutual-authentication token in `WWW-Authenticate: Negotiate <token>`; an invalid one
//!   gets `401` again.
//!
//! The principals that logged in are kept in order ([`TestEngine::http_auth_users`]); a
//! login counts in [`TestEngine::logins`] like a password login.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};

use crate::server::State;
use crate::{form, TestEngine, TestEngineBuilder};

/// Path of the SSO's HTTP-authentication endpoint (the Kerberos login).
pub const TOKEN_HTTP_AUTH_PATH: &str = "/ovirt-engine/sso/oauth/token-http-auth";

/// The grant type of the HTTP-authentication login.
const GRANT_TYPE: &str = "urn:ovirt:params:oauth:grant-type:http";

/// Who authenticates requests to [`TOKEN_HTTP_AUTH_PATH`].
#[derive(Clone, Debug, Default)]
pub(crate) enum HttpAuth {
    /// Nobody: every request gets 401 without a Negotiate challenge.
    #[default]
    Off,
    /// The web server in front, which passes the user on as `X-Remote-User`.
    RemoteUser,
    /// The engine itself, with the service keys of this keytab.
    #[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
    Keytab(PathBuf),
}

/// The endpoint's state in a running engine.
#[derive(Default)]
pub(crate) struct HttpAuthState {
    mode: OnceLock<HttpAuth>,
    #[cfg(feature = "kerberos")]
    acceptor: OnceLock<acceptor::Acceptor>,
    users: Mutex<Vec<String>>,
}

impl HttpAuthState {
    /// Sets the mode at start (the keytab is read here, so a bad one fails the start).
    pub(crate) fn configure(&self, mode: HttpAuth) -> Result<(), String> {
        #[cfg(feature = "kerberos")]
        if let HttpAuth::Keytab(path) = &mode {
            let a = acceptor::Acceptor::new(path)?;
            let _ = self.acceptor.set(a);
        }
        let _ = self.mode.set(mode);
        Ok(())
    }
}

impl TestEngineBuilder {
    /// Trust the `X-Remote-User` header at [`TOKEN_HTTP_AUTH_PATH`]: the engine behind a web
    /// server that authenticates the user (Apache with mod_auth_gssapi) and passes the
    /// principal on. Only for an engine reached through such a server.
    pub fn http_auth_remote_user(mut self) -> Self {
        self.http_auth = HttpAuth::RemoteUser;
        self
    }

    /// Check SPNEGO tokens at [`TOKEN_HTTP_AUTH_PATH`] with the service keys of this keytab
    /// (any service principal in it is accepted).
    #[cfg(feature = "kerberos")]
    pub fn negotiate_keytab(mut self, keytab: impl Into<PathBuf>) -> Self {
        self.http_auth = HttpAuth::Keytab(keytab.into());
        self
    }
}

impl TestEngine {
    /// The principals (or `X-Remote-User` values) that logged in at
    /// [`TOKEN_HTTP_AUTH_PATH`], in order.
    pub fn http_auth_users(&self) -> Vec<String> {
        crate::server::lock(&self.state.http_auth.users).clone()
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: u16, body: String, challenge: Option<String>) -> Reply {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(c) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(http::header::WWW_AUTHENTICATE, c);
    }
    resp
}

fn json_error(status: u16, code: &str, message: &str, challenge: Option<String>) -> Reply {
    let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    reply(
        status,
        format!(
            "{{\"error_code\":\"{}\",\"error\":\"{}\"}}",
            q(code),
            q(message)
        ),
        challenge,
    )
}

/// Handles a request to [`TOKEN_HTTP_AUTH_PATH`].
pub(crate) fn token_http_auth(state: &State, parts: &http::request::Parts, body: &Bytes) -> Reply {
    if parts.method != http::Method::POST {
        return reply(405, String::new(), None);
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let http_auth = &state.http_auth;
    // Authentication first: the web server (or the engine's own check) comes before the SSO.
    let (user, server_token) = match http_auth.mode.get().unwrap_or(&HttpAuth::Off) {
        HttpAuth::Off => {
            state.failed_logins.fetch_add(1, Ordering::Relaxed);
            return json_error(
                401,
                "access_denied",
                "No authenticated user: this engine's web server does not authenticate \
                 token-http-auth requests",
                None,
            );
        }
        HttpAuth::RemoteUser => match header("x-remote-user").map(str::trim) {
            Some(u) if !u.is_empty() => (u.to_string(), None),
            _ => {
                state.failed_logins.fetch_add(1, Ordering::Relaxed);
                return json_error(401, "access_denied", "No X-Remote-User", None);
            }
        },
        HttpAuth::Keytab(_) => match negotiate(state, header("authorization")) {
            Ok(ok) => ok,
            Err(resp) => {
                state.failed_logins.fetch_add(1, Ordering::Relaxed);
                return *resp;
            }
        },
    };
    let challenge = server_token.map(|t| format!("Negotiate {t}"));
    let form = form::parse(&String::from_utf8_lossy(body));
    if form::get(&form, "grant_type") != Some(GRANT_TYPE) {
        state.failed_logins.fetch_add(1, Ordering::Relaxed);
        return json_error(
            400,
            "unsupported_grant_type",
            &format!("token-http-auth needs grant_type={GRANT_TYPE}"),
            challenge,
        );
    }
    let scope_ok =
        form::get(&form, "scope").is_some_and(|s| s.split(' ').any(|s| s == "ovirt-app-api"));
    if !scope_ok {
        state.failed_logins.fetch_add(1, Ordering::Relaxed);
        return json_error(
            400,
            "invalid_scope",
            "The request is missing the required scope ovirt-app-api",
            challenge,
        );
    }
    let token = state.issue_token();
    state.logins.fetch_add(1, Ordering::Relaxed);
    crate::server::lock(&http_auth.users).push(user);
    reply(
        200,
        format!(
            "{{\"access_token\":\"{token}\",\"scope\":\"ovirt-app-api\",\"token_type\":\"bearer\"}}"
        ),
        challenge,
    )
}

/// Checks `Authorization: Negotiate <token>`: the principal and the server's token, or the
/// 401 to send.
#[cfg(feature = "kerberos")]
fn negotiate(
    state: &State,
    authorization: Option<&str>,
) -> Result<(String, Option<String>), Box<Reply>> {
    let ask = |why: &str| {
        Box::new(json_error(
            401,
            "access_denied",
            why,
            Some("Negotiate".to_string()),
        ))
    };
    let Some(token) = authorization.and_then(|a| {
        let (scheme, token) = a.trim().split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("negotiate")
            .then(|| token.trim())
    }) else {
        return Err(ask("Negotiate authentication required"));
    };
    let Some(acceptor) = state.http_auth.acceptor.get() else {
        return Err(ask("no acceptor credentials"));
    };
    acceptor.accept(token).map_err(|why| {
        tracing::debug!("test engine: Negotiate token rejected: {why}");
        ask(&format!("The Negotiate token was rejected: {why}"))
    })
}

#[cfg(not(feature = "kerberos"))]
fn negotiate(_: &State, _: Option<&str>) -> Result<(String, Option<String>), Box<Reply>> {
    Err(Box::new(json_error(
        401,
        "access_denied",
        "built without Kerberos",
        None,
    )))
}

#[cfg(feature = "kerberos")]
mod acceptor {
    //! The GSSAPI acceptor: service credentials from a keytab (`gss_acquire_cred_from`).

    use base64::Engine as _;
    use libgssapi::context::{SecurityContext, ServerCtx};
    use libgssapi::credential::Cred;
    use libgssapi::error::{Error as GssError, MajorFlags};
    use std::ffi::CString;
    use std::path::Path;
    use std::ptr;

    /// The service credentials of the keytab.
    pub(crate) struct Acceptor {
        cred: Cred,
    }

    impl Acceptor {
        /// Acquires acceptor credentials from `keytab`, with a replay cache beside it.
        pub(crate) fn new(keytab: &Path) -> Result<Acceptor, String> {
            let kt = keytab
                .to_str()
                .ok_or_else(|| format!("keytab path {} is not UTF-8", keytab.display()))?;
            let rcache = format!("file2:{kt}.rcache");
            let pairs = [
                (CString::new("keytab"), CString::new(kt)),
                (CString::new("rcache"), CString::new(rcache)),
            ];
            let mut owned = Vec::new();
            for (k, v) in pairs {
                owned.push((k.map_err(|e| e.to_string())?, v.map_err(|e| e.to_string())?));
            }
            let mut elements: Vec<libgssapi_sys::gss_key_value_element_desc> = owned
                .iter()
                .map(|(k, v)| libgssapi_sys::gss_key_value_element_desc {
                    key: k.as_ptr(),
                    value: v.as_ptr(),
                })
                .collect();
            let store = libgssapi_sys::gss_key_value_set_desc {
                count: elements.len() as u32,
                elements: elements.as_mut_ptr(),
            };
            let mut minor: libgssapi_sys::OM_uint32 = 0;
            let mut cred: libgssapi_sys::gss_cred_id_t = ptr::null_mut();
            // SAFETY: the strings live in `owned` for the whole call; the out pointers are
            // valid; the credential is owned by `Cred` from here on.
            let major = unsafe {
                libgssapi_sys::gss_acquire_cred_from(
                    &mut minor,
                    ptr::null_mut(),
                    libgssapi_sys::_GSS_C_INDEFINITE,
                    ptr::null_mut(),
                    libgssapi_sys::GSS_C_ACCEPT as libgssapi_sys::gss_cred_usage_t,
                    &store,
                    &mut cred,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            };
            if major & 0xffff_0000 != 0 {
                let e = GssError {
                    major: MajorFlags::from_bits_retain(major),
                    minor,
                };
                return Err(format!("acceptor credentials from {kt}: {e}"));
            }
            // SAFETY: just acquired; released by `Cred`.
            Ok(Acceptor {
                cred: unsafe { Cred::from_c(cred) },
            })
        }

        /// Accepts the client's token (base64): the client's principal and the server's
        /// token (base64), if GSSAPI made one.
        pub(crate) fn accept(&self, token: &str) -> Result<(String, Option<String>), String> {
            let b64 = base64::engine::general_purpose::STANDARD;
            let bytes = b64
                .decode(token)
                .map_err(|_| "the token is not base64".to_string())?;
            let mut ctx = ServerCtx::new(Some(self.cred.clone()));
            let out = ctx.step(&bytes, None).map_err(|e| e.to_string())?;
            if !ctx.is_complete() {
                return Err("the negotiation needs another round".to_string());
            }
            let user = ctx.source_name().map_err(|e| e.to_string())?.to_string();
            Ok((user, out.map(|t| b64.encode(&*t))))
        }
    }
}
