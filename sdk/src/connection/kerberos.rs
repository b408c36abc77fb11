//! Kerberos login: HTTP Negotiate (RFC 4559, SPNEGO) at the SSO's `token-http-auth`
//! endpoint, through the system's MIT GSSAPI library (cargo feature `kerberos`).
//!
//! The exchange, as an engine set up for Kerberos single sign-on expects it:
//!
//! 1. `POST /ovirt-engine/sso/oauth/token-http-auth` with the form
//!    `grant_type=urn:ovirt:params:oauth:grant-type:http&scope=ovirt-app-api` and no
//!    credentials;
//! 2. the engine's web server (mod_auth_gssapi) answers `401` with
//!    `WWW-Authenticate: Negotiate`;
//! 3. the same request again with `Authorization: Negotiate <base64 token>`, the token
//!    made by GSSAPI for the service `HTTP@<host of the URL>` from the user's credentials
//!    (the cache filled by `kinit`, or a client keytab);
//! 4. the answer is the SSO's JSON, as for the password grant; a
//!    `WWW-Authenticate: Negotiate <token>` on it is the server's half of mutual
//!    authentication and is checked.
//!
//! The GSSAPI calls may ask the KDC for a service ticket (blocking network I/O), so they
//! run on tokio's blocking threads. Tokens and tickets never reach a log, an error or a
//! `Debug` output; errors name what the user can do (`kinit`, the host name, krb5.conf).

use std::path::PathBuf;

use bytes::Bytes;

use super::{Inner, Secret};
use crate::error::{Error, ErrorKind};
use crate::service::RawResponse;

/// Default path of the SSO endpoint behind HTTP authentication (Kerberos login).
pub(super) const TOKEN_HTTP_AUTH_PATH: &str = "/ovirt-engine/sso/oauth/token-http-auth";

/// The form of the Kerberos login: the SSO's HTTP-authentication grant.
const FORM: &str = "grant_type=urn:ovirt:params:oauth:grant-type:http&scope=ovirt-app-api";

/// Rounds of `401` + token the exchange goes through at most (SPNEGO with Kerberos needs
/// one).
const MAX_ROUNDS: usize = 4;

/// Where the user's Kerberos credentials come from (default: the library's own defaults,
/// `KRB5CCNAME` and `KRB5_CLIENT_KTNAME`).
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
pub(super) struct KerberosOptions {
    /// A credential cache name (`FILE:/tmp/krb5cc_1000`, `KEYRING:persistent:1000`).
    pub(super) ccache: Option<String>,
    /// A client keytab to get the initial ticket from.
    pub(super) client_keytab: Option<PathBuf>,
}

/// Checked by `build`: `kerberos(true)` needs the `kerberos` feature.
pub(super) fn check_available() -> Result<(), Error> {
    if cfg!(feature = "kerberos") {
        Ok(())
    } else {
        Err(Error::with_message(
            ErrorKind::Config,
            "kerberos(true) needs the `kerberos` feature of the ovirt crate, which this \
             program was built without: enable it in Cargo.toml \
             (ovirt = { version = \"...\", features = [\"kerberos\"] }; it needs the MIT \
             Kerberos development files, Debian's libkrb5-dev, and libclang to build), or \
             log in with username and password",
        ))
    }
}

/// The host of a URL (`https://engine.example.com:443/x` -> `engine.example.com`), for the
/// service name `HTTP@host`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// The auth schemes of the `WWW-Authenticate` challenges (`Negotiate`, `Basic`), and the
/// token of a `Negotiate` challenge if it carries one.
fn challenges<'a>(values: impl Iterator<Item = &'a str>) -> (Vec<String>, bool, Option<String>) {
    let mut schemes = Vec::new();
    let mut negotiate = false;
    let mut token = None;
    for value in values {
        // Several challenges may share a header, separated by commas; a Negotiate token
        // (base64) holds no comma.
        for part in value.split(',') {
            let part = part.trim();
            let (scheme, rest) = part.split_once(' ').unwrap_or((part, ""));
            if scheme.is_empty() || scheme.contains('=') {
                continue; // a parameter of the previous challenge
            }
            if scheme.eq_ignore_ascii_case("negotiate") {
                negotiate = true;
                let rest = rest.trim();
                if !rest.is_empty() {
                    token = Some(rest.to_string());
                }
            }
            schemes.push(scheme.to_string());
        }
    }
    (schemes, negotiate, token)
}

impl Inner {
    /// Logs in with Kerberos (see the module documentation).
    pub(super) async fn kerberos_login(&self, options: &KerberosOptions) -> Result<Secret, Error> {
        let url = self.sso.url.clone();
        let fail = |message: String| {
            Error::with_message(ErrorKind::Authentication, message).for_request("POST", &url)
        };
        let host = url_host(&url).to_string();
        if host.is_empty() {
            return Err(fail(
                "the SSO URL has no host to name the Kerberos service".into(),
            ));
        }
        tracing::debug!(target: crate::logging::REQUEST, service = %format_args!("HTTP@{host}"), "POST {url} (Kerberos login)");
        let (raw, schemes, negotiate, _) = self.http_auth_request(None).await?;
        if raw.status != 401 {
            // Already authenticated (or an error of the SSO itself): the reply says.
            return self.login_reply(raw);
        }
        if !negotiate {
            let offered = if schemes.is_empty() {
                "no authentication scheme".to_string()
            } else {
                schemes.join(", ")
            };
            return Err(fail(format!(
                "the server answered 401 without offering Negotiate (Kerberos) \
                 authentication (it offered: {offered}); the engine's web server is not set \
                 up for Kerberos single sign-on (mod_auth_gssapi protecting {TOKEN_HTTP_AUTH_PATH}), \
                 or the URL is not the engine's; log in with username and password instead"
            )));
        }
        let mut initiator = gss::Initiator::start(host.clone(), options.clone())
            .await
            .map_err(|e| fail(e.explain(&host)))?;
        let rejected = |library: Option<String>| {
            let mut m = format!(
                "the server rejected the Kerberos ticket for HTTP/{host} (401 to the \
                 Negotiate token): the web server's keytab may not hold the current key of \
                 HTTP/{host} (export it again), or its GssapiCredStore names another \
                 principal's keytab"
            );
            if let Some(l) = library {
                m.push_str(&format!(" (GSSAPI: {})", l.trim()));
            }
            fail(m)
        };
        for _ in 0..MAX_ROUNDS {
            let token = initiator.take_token();
            let (raw, _, _, server_token) = self.http_auth_request(token).await?;
            if raw.status != 401 {
                tracing::debug!(target: crate::logging::RESPONSE, status = raw.status, reason = %raw.reason, "POST {url} (Kerberos login)");
                if let Some(server_token) = &server_token {
                    // The server's half of mutual authentication.
                    initiator
                        .step(server_token)
                        .await
                        .map_err(|e| fail(e.explain(&host)))?;
                }
                return self.login_reply(raw);
            }
            // 401 again: a rejection, or (rarely) the next round of the negotiation.
            match server_token {
                Some(t) if !initiator.is_complete() => match initiator.step(&t).await {
                    Ok(next) if next.has_token() => initiator = next,
                    Ok(_) => return Err(rejected(None)),
                    Err(e) => return Err(rejected(Some(e.text))),
                },
                _ => return Err(rejected(None)),
            }
        }
        Err(fail(format!(
            "the Negotiate exchange did not finish within {MAX_ROUNDS} rounds"
        )))
    }

    /// One `POST` to the SSO endpoint, with `Authorization: Negotiate <token>` when a token
    /// is given: the whole response, the schemes offered by its `WWW-Authenticate`
    /// challenges, whether one is `Negotiate`, and the token of that challenge.
    async fn http_auth_request(
        &self,
        token: Option<String>,
    ) -> Result<(RawResponse, Vec<String>, bool, Option<String>), Error> {
        let mut req =
            http1_pipeline::Request::new(http1_pipeline::Method::Post, self.sso.path.clone())
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "application/json")
                .body(Bytes::from_static(FORM.as_bytes()));
        if let Some(token) = token {
            req = req.header("Authorization", format!("Negotiate {token}"));
        }
        let for_request = |e: Error| e.for_request("POST", &self.sso.url);
        let response = self
            .sso
            .client
            .send(req)
            .await
            .map_err(|e| for_request(e.into()))?;
        let (schemes, negotiate, server_token) =
            challenges(response.headers().get_all("www-authenticate"));
        let status = response.status();
        let reason = response.reason().to_owned();
        let content_type = response.headers().get("content-type").map(str::to_owned);
        let body = response.bytes().await.map_err(|e| for_request(e.into()))?;
        Ok((
            RawResponse {
                status,
                reason,
                content_type,
                body,
            },
            schemes,
            negotiate,
            server_token,
        ))
    }
}

/// Why GSSAPI failed, classified while still on the thread that failed (the library's
/// messages are kept per thread).
#[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
#[derive(Debug)]
pub(super) struct GssFailure {
    what: Failure,
    /// The library's own words (major and minor status), which hold no secret.
    text: String,
}

#[cfg_attr(not(feature = "kerberos"), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    NoCredentials,
    Expired,
    NoServicePrincipal,
    KdcUnreachable,
    NoDefaultRealm,
    ClockSkew,
    MutualAuthentication,
    Other,
}

impl GssFailure {
    /// The message of the error: what went wrong, what to do, and the library's words.
    fn explain(&self, host: &str) -> String {
        let advice = match self.what {
            Failure::NoCredentials => "no Kerberos credentials: run `kinit` (kinit \
                 user@REALM), or point KRB5CCNAME at the credential cache that holds your \
                 ticket, or KRB5_CLIENT_KTNAME at a client keytab"
                .to_string(),
            Failure::Expired => "your Kerberos ticket has expired: run `kinit` again (or \
                 `kinit -R` while it is renewable)"
                .to_string(),
            Failure::NoServicePrincipal => format!(
                "the KDC has no service principal HTTP/{host}: use the engine's host name \
                 as the KDC knows it in the URL (not an IP address or another alias), or ask \
                 the Kerberos administrator to create HTTP/{host} and its keytab for the \
                 engine's web server"
            ),
            Failure::KdcUnreachable => "the Kerberos KDC cannot be reached: check the \
                 [realms] kdc entries of krb5.conf (/etc/krb5.conf, or the file KRB5_CONFIG \
                 names) and that the KDC answers from this machine"
                .to_string(),
            Failure::NoDefaultRealm => "no Kerberos realm is configured: set default_realm \
                 and the realm's kdc in krb5.conf (/etc/krb5.conf, or the file KRB5_CONFIG \
                 names)"
                .to_string(),
            Failure::ClockSkew => "the clocks of this machine and of the KDC or server \
                 differ too much for Kerberos: synchronise them (NTP)"
                .to_string(),
            Failure::MutualAuthentication => format!(
                "the server's answer failed Kerberos mutual authentication: it did not prove \
                 to be HTTP/{host}"
            ),
            Failure::Other => format!("Kerberos login for HTTP/{host} failed"),
        };
        format!("{advice} (GSSAPI: {})", self.text.trim())
    }
}

#[cfg(feature = "kerberos")]
mod gss {
    //! The GSSAPI initiator, on blocking threads.

    use std::ffi::CString;
    use std::ptr;

    use base64::Engine as _;
    use libgssapi::context::{ClientCtx, CtxFlags, SecurityContext};
    use libgssapi::credential::Cred;
    use libgssapi::error::{Error as GssError, MajorFlags};
    use libgssapi::name::Name;
    use libgssapi::oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE};

    use super::{Failure, GssFailure, KerberosOptions};

    // MIT krb5 error codes (krb5.h) that name what the user got wrong.
    const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
    const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
    const KRB5KRB_AP_ERR_TKT_EXPIRED: i32 = -1765328352;
    const KRB5KRB_AP_ERR_SKEW: i32 = -1765328347;
    const KRB5_CC_NOTFOUND: i32 = -1765328243;
    const KRB5_CC_END: i32 = -1765328242;
    const KRB5_NO_TKT_SUPPLIED: i32 = -1765328241;
    const KRB5_REALM_UNKNOWN: i32 = -1765328230;
    const KRB5_KDC_UNREACH: i32 = -1765328228;
    const KRB5_FCC_NOFILE: i32 = -1765328189;
    const KRB5_REALM_CANT_RESOLVE: i32 = -1765328164;
    const KRB5_CONFIG_NODEFREALM: i32 = -1765328160;
    const KRB5_KT_NOTFOUND: i32 = -1765328203;

    fn failure(e: &GssError, mutual: bool) -> GssFailure {
        let minor = e.minor as i32;
        let what = match minor {
            KRB5_FCC_NOFILE
            | KRB5_CC_NOTFOUND
            | KRB5_CC_END
            | KRB5_NO_TKT_SUPPLIED
            | KRB5_KT_NOTFOUND
            | KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN => Failure::NoCredentials,
            KRB5KRB_AP_ERR_TKT_EXPIRED => Failure::Expired,
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => Failure::NoServicePrincipal,
            KRB5_KDC_UNREACH | KRB5_REALM_UNKNOWN | KRB5_REALM_CANT_RESOLVE => {
                Failure::KdcUnreachable
            }
            KRB5_CONFIG_NODEFREALM => Failure::NoDefaultRealm,
            KRB5KRB_AP_ERR_SKEW => Failure::ClockSkew,
            _ if e.major.contains(MajorFlags::GSS_S_CREDENTIALS_EXPIRED) => Failure::Expired,
            _ if e.major.contains(MajorFlags::GSS_S_NO_CRED) => Failure::NoCredentials,
            _ if mutual => Failure::MutualAuthentication,
            _ => Failure::Other,
        };
        GssFailure {
            what,
            text: e.to_string(),
        }
    }

    /// Classifies a failure of the SPNEGO mechanism. SPNEGO hands on the Kerberos
    /// mechanism's error with its minor code remapped to a private number, so when that
    /// code says nothing, the same first step is tried once with the Kerberos mechanism
    /// itself, whose minor codes are krb5's own; the message stays SPNEGO's.
    fn diagnose(e: &GssError, cred: Option<Cred>, service: &str) -> GssFailure {
        let mut found = failure(e, false);
        if found.what == Failure::Other {
            if let Ok(name) = Name::new(service.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE)) {
                let mut probe =
                    ClientCtx::new(cred, name, CtxFlags::GSS_C_MUTUAL_FLAG, Some(GSS_MECH_KRB5));
                if let Err(pe) = probe.step(None, None) {
                    found.what = failure(&pe, false).what;
                }
            }
        }
        found
    }

    fn plain(text: impl Into<String>) -> GssFailure {
        GssFailure {
            what: Failure::Other,
            text: text.into(),
        }
    }

    /// Credentials from the given cache and/or client keytab (`gss_acquire_cred_from`,
    /// MIT's credential store extension).
    fn acquire_from(options: &KerberosOptions) -> Result<Cred, GssFailure> {
        let mut pairs: Vec<(CString, CString)> = Vec::new();
        let c = |s: &str| CString::new(s).map_err(|_| plain("a NUL byte in a Kerberos option"));
        if let Some(cc) = &options.ccache {
            pairs.push((c("ccache")?, c(cc)?));
        }
        if let Some(kt) = &options.client_keytab {
            let kt = kt
                .to_str()
                .ok_or_else(|| plain("the client keytab path is not UTF-8"))?;
            pairs.push((c("client_keytab")?, c(kt)?));
        }
        let mut elements: Vec<libgssapi_sys::gss_key_value_element_desc> = pairs
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
        // SAFETY: the store's strings live in `pairs` for the whole call; the out pointers
        // are valid; a returned credential is owned by `Cred` from here on.
        let major = unsafe {
            libgssapi_sys::gss_acquire_cred_from(
                &mut minor,
                ptr::null_mut(),
                libgssapi_sys::_GSS_C_INDEFINITE,
                ptr::null_mut(),
                libgssapi_sys::GSS_C_INITIATE as libgssapi_sys::gss_cred_usage_t,
                &store,
                &mut cred,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if major & 0xffff_0000 != 0 {
            return Err(failure(
                &GssError {
                    major: MajorFlags::from_bits_retain(major),
                    minor,
                },
                false,
            ));
        }
        // SAFETY: `cred` was just acquired and is released by `Cred`'s drop.
        Ok(unsafe { Cred::from_c(cred) })
    }

    /// The client side of one Negotiate exchange; moved to a blocking thread for each
    /// GSSAPI call.
    pub(in super::super) struct Initiator {
        ctx: ClientCtx,
        token: Option<String>,
    }

    impl std::fmt::Debug for Initiator {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Initiator").finish_non_exhaustive()
        }
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, GssFailure> + Send + 'static,
    ) -> Result<T, GssFailure> {
        tokio::task::spawn_blocking(f)
            .await
            .unwrap_or_else(|e| Err(plain(format!("the GSSAPI task ended unexpectedly: {e}"))))
    }

    fn encode(token: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(token)
    }

    impl Initiator {
        /// Names the service `HTTP@host`, acquires the credentials and makes the first
        /// token (which may ask the KDC for a service ticket).
        pub(in super::super) async fn start(
            host: String,
            options: KerberosOptions,
        ) -> Result<Initiator, GssFailure> {
            blocking(move || {
                let service = format!("HTTP@{host}");
                let name = Name::new(service.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE))
                    .map_err(|e| failure(&e, false))?;
                let cred = if options.ccache.is_some() || options.client_keytab.is_some() {
                    Some(acquire_from(&options)?)
                } else {
                    None
                };
                let mut ctx = ClientCtx::new(
                    cred.clone(),
                    name,
                    CtxFlags::GSS_C_MUTUAL_FLAG,
                    Some(GSS_MECH_SPNEGO),
                );
                let token = ctx
                    .step(None, None)
                    .map_err(|e| diagnose(&e, cred, &service))?;
                Ok(Initiator {
                    ctx,
                    token: token.map(|t| encode(&t)),
                })
            })
            .await
        }

        /// The token to send next (base64), if any.
        pub(in super::super) fn take_token(&mut self) -> Option<String> {
            self.token.take()
        }

        /// Whether the context is established (mutual authentication done).
        pub(in super::super) fn is_complete(&self) -> bool {
            self.ctx.is_complete()
        }

        /// Whether there is a token to send.
        pub(in super::super) fn has_token(&self) -> bool {
            self.token.is_some()
        }

        /// Feeds the server's token (base64) to the context: mutual authentication, or the
        /// next round.
        pub(in super::super) async fn step(
            mut self,
            server_token: &str,
        ) -> Result<Initiator, GssFailure> {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(server_token.trim())
                .map_err(|_| plain("the server's Negotiate token is not base64"))?;
            blocking(move || {
                let next = self
                    .ctx
                    .step(Some(&bytes), None)
                    .map_err(|e| failure(&e, true))?;
                self.token = next.map(|t| encode(&t));
                Ok(self)
            })
            .await
        }
    }
}

#[cfg(not(feature = "kerberos"))]
mod gss {
    //! Without the `kerberos` feature `build` refuses `kerberos(true)`, so none of this
    //! runs; it keeps the login code the same for both builds.

    use super::{Failure, GssFailure, KerberosOptions};

    pub(in super::super) struct Initiator;

    fn unavailable() -> GssFailure {
        GssFailure {
            what: Failure::Other,
            text: "built without the `kerberos` feature".to_string(),
        }
    }

    impl Initiator {
        pub(in super::super) async fn start(
            _host: String,
            _options: KerberosOptions,
        ) -> Result<Initiator, GssFailure> {
            Err(unavailable())
        }

        pub(in super::super) fn take_token(&mut self) -> Option<String> {
            None
        }

        pub(in super::super) fn is_complete(&self) -> bool {
            false
        }

        pub(in super::super) fn has_token(&self) -> bool {
            false
        }

        pub(in super::super) async fn step(self, _: &str) -> Result<Initiator, GssFailure> {
            Err(unavailable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{challenges, url_host};

    #[test]
    fn host_of_the_url_names_the_service() {
        assert_eq!(
            url_host("https://engine.example.com/ovirt-engine"),
            "engine.example.com"
        );
        assert_eq!(
            url_host("https://engine.example.com:8443/x"),
            "engine.example.com"
        );
        assert_eq!(url_host("http://[::1]:80/x"), "::1");
        assert_eq!(url_host("http://localhost"), "localhost");
    }

    #[test]
    fn challenges_are_split_into_schemes_and_the_negotiate_token() {
        let (schemes, negotiate, token) =
            challenges(["Basic realm=\"engine\", Negotiate"].into_iter());
        assert_eq!(schemes, ["Basic", "Negotiate"]);
        assert!(negotiate);
        assert_eq!(token, None);
        let (_, negotiate, token) = challenges(["Negotiate oYG3MIG0oAMKAQA="].into_iter());
        assert!(negotiate);
        assert_eq!(token.as_deref(), Some("oYG3MIG0oAMKAQA="));
        let (schemes, negotiate, _) = challenges(std::iter::empty());
        assert!(schemes.is_empty() && !negotiate);
    }
}
