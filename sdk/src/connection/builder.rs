//! [`ConnectionBuilder`]: the options of a connection, checked by `build`.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{config, AuthState, Connection, Endpoint, Inner, Secret, USER_AGENT};
use crate::error::Error;

/// Default path of the SSO token endpoint (R5.1).
const SSO_TOKEN_PATH: &str = "/ovirt-engine/sso/oauth/token";
/// Default path of the SSO logout endpoint (R5.3).
const SSO_LOGOUT_PATH: &str = "/ovirt-engine/services/sso-logout";

/// A URL split into origin (`https://host:port`) and path with query (`/ovirt-engine/api`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct SplitUrl {
    origin: String,
    path: String,
}

fn split_url(url: &str, what: &str) -> Result<SplitUrl, Error> {
    // Never repeat user information (`user:password@`) in an error.
    let shown = match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s && !url[s + 3..at].contains('/') => {
            format!("{}://***{}", &url[..s], &url[at..])
        }
        _ => url.to_string(),
    };
    let bad = |why: &str| config(format!("invalid {what} {shown:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected http:// or https://"))?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("the scheme must be http or https"));
    }
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(bad("the host is missing"));
    }
    if authority.contains('@') {
        // Credentials in a URL would leak into logs and errors.
        return Err(bad(
            "user information in the URL is not supported; use username() and password()",
        ));
    }
    if path.contains('#') {
        return Err(bad("a fragment is not allowed"));
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    Ok(SplitUrl {
        origin: format!("{}://{}", scheme.to_ascii_lowercase(), authority),
        path,
    })
}

/// Options of a [`Connection`]. Start with [`Connection::builder`].
#[derive(Clone)]
pub struct ConnectionBuilder {
    url: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    token: Option<Secret>,
    insecure: bool,
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    system_roots: Option<bool>,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    compress: bool,
    headers: Vec<(String, String)>,
    connections: usize,
    pipeline: usize,
    proxy_url: Option<String>,
    proxy_username: Option<String>,
    proxy_password: Option<Secret>,
    sso_url: Option<String>,
    sso_revoke_url: Option<String>,
    sso_token_name: String,
    kerberos: bool,
    kerberos_ccache: Option<String>,
    kerberos_client_keytab: Option<PathBuf>,
    logout_timeout: Duration,
    max_retries: Option<u32>,
    max_body_bytes: Option<u64>,
    log_bodies: bool,
}

impl fmt::Debug for ConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionBuilder")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("insecure", &self.insecure)
            .field("ca_files", &self.ca_files)
            .field("ca_pems", &self.ca_pems.len())
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("compress", &self.compress)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("connections", &self.connections)
            .field("pipeline", &self.pipeline)
            .field("proxy_url", &self.proxy_url)
            .field("proxy_username", &self.proxy_username)
            .field(
                "proxy_password",
                &self.proxy_password.as_ref().map(|_| "***"),
            )
            .field("sso_url", &self.sso_url)
            .field("sso_revoke_url", &self.sso_revoke_url)
            .field("sso_token_name", &self.sso_token_name)
            .field("kerberos", &self.kerberos)
            .field("kerberos_ccache", &self.kerberos_ccache)
            .field("kerberos_client_keytab", &self.kerberos_client_keytab)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("log_bodies", &self.log_bodies)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionBuilder {
    fn default() -> Self {
        ConnectionBuilder {
            url: None,
            username: None,
            password: None,
            token: None,
            insecure: false,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            system_roots: None,
            timeout: None,
            connect_timeout: Duration::from_secs(10),
            compress: true,
            headers: Vec::new(),
            connections: 5,
            pipeline: 8,
            proxy_url: None,
            proxy_username: None,
            proxy_password: None,
            sso_url: None,
            sso_revoke_url: None,
            sso_token_name: "access_token".to_string(),
            kerberos: false,
            kerberos_ccache: None,
            kerberos_client_keytab: None,
            logout_timeout: Duration::from_secs(10),
            max_retries: None,
            max_body_bytes: None,
            log_bodies: false,
        }
    }
}

impl ConnectionBuilder {
    /// The API entry point, e.g. `https://engine.example.com/ovirt-engine/api` (required).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The user name, including the profile: `admin@internal`.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(Secret(password.into()));
        self
    }

    /// An SSO token obtained earlier (for example from [`Connection::authenticate`]): no
    /// login is made while it is accepted. With a username and password as well, an
    /// expired token is replaced by a new login.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Secret(token.into()));
        self
    }

    /// Skip the verification of the server's certificate and host name. Only for tests.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Trust the CA certificates of this PEM file (may be given several times). When a CA
    /// file or PEM is given, the system's roots are not trusted unless
    /// [`ConnectionBuilder::system_roots`] says so.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Trust the CA certificates of this in-memory PEM bundle (may be given several times).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_pems.push(pem.into());
        self
    }

    /// Whether to trust the system's root certificates (default: only when no CA file or
    /// PEM is given).
    pub fn system_roots(mut self, on: bool) -> Self {
        self.system_roots = Some(on);
        self
    }

    /// Time limit of each whole request, body included (default: none).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Time limit of opening a connection, TLS handshake included (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Ask for gzip-compressed responses (default true).
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// A header sent with every API request (calls may override it with their own).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Maximum number of connections to the engine (default 5, at least 1; see
    /// [Defaults](crate::connection#defaults-5-connections-pipeline-depth-8)).
    pub fn connections(mut self, connections: usize) -> Self {
        self.connections = connections;
        self
    }

    /// Requests in flight per connection (default 8, see
    /// [Defaults](crate::connection#defaults-5-connections-pipeline-depth-8)); 0 or 1 turns pipelining off.
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.pipeline = depth;
        self
    }

    /// An HTTP proxy, `http://proxy.example.com:3128`.
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// User name for the proxy (basic authentication).
    pub fn proxy_username(mut self, username: impl Into<String>) -> Self {
        self.proxy_username = Some(username.into());
        self
    }

    /// Password for the proxy.
    pub fn proxy_password(mut self, password: impl Into<String>) -> Self {
        self.proxy_password = Some(Secret(password.into()));
        self
    }

    /// URL of the SSO token endpoint (default: `/ovirt-engine/sso/oauth/token` on the
    /// API's origin, R5.1).
    pub fn sso_url(mut self, url: impl Into<String>) -> Self {
        self.sso_url = Some(url.into());
        self
    }

    /// URL of the SSO logout endpoint (default: `/ovirt-engine/services/sso-logout` on the
    /// API's origin, R5.3).
    pub fn sso_revoke_url(mut self, url: impl Into<String>) -> Self {
        self.sso_revoke_url = Some(url.into());
        self
    }

    /// Name of the token field in the SSO reply (default `access_token`, R5.2).
    pub fn sso_token_name(mut self, name: impl Into<String>) -> Self {
        self.sso_token_name = name.into();
        self
    }

    /// Log in with Kerberos (default false): HTTP Negotiate (SPNEGO) at the SSO's
    /// `token-http-auth` endpoint with the user's Kerberos credentials (the cache `kinit`
    /// filled, `KRB5CCNAME`, or a client keytab, `KRB5_CLIENT_KTNAME`) for the service
    /// `HTTP@<host of the URL>`; no username or password. Needs the cargo feature
    /// `kerberos`: without it `build` fails with an error saying so. The default SSO URL
    /// becomes `/ovirt-engine/sso/oauth/token-http-auth` on the API's origin
    /// ([`ConnectionBuilder::sso_url`] replaces it). A token rejected later is replaced by
    /// a new Kerberos login.
    pub fn kerberos(mut self, kerberos: bool) -> Self {
        self.kerberos = kerberos;
        self
    }

    /// With [`ConnectionBuilder::kerberos`]: the credential cache to take the ticket from
    /// (`FILE:/tmp/krb5cc_1000`, `KEYRING:persistent:1000`), instead of the default one
    /// (`KRB5CCNAME`).
    pub fn kerberos_ccache(mut self, name: impl Into<String>) -> Self {
        self.kerberos_ccache = Some(name.into());
        self
    }

    /// With [`ConnectionBuilder::kerberos`]: a client keytab from which the Kerberos
    /// library gets the user's ticket when the cache has none (instead of
    /// `KRB5_CLIENT_KTNAME`).
    pub fn kerberos_client_keytab(mut self, path: impl Into<PathBuf>) -> Self {
        self.kerberos_client_keytab = Some(path.into());
        self
    }

    /// Time limit of each of the two steps of [`Connection::close`]: waiting for the requests
    /// in flight, and the token revocation (default 10 s).
    pub fn logout_timeout(mut self, timeout: Duration) -> Self {
        self.logout_timeout = timeout;
        self
    }

    /// Re-sends of an idempotent request after a connection failure (http1-pipeline's
    /// default when not set).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Maximum size of a response body, in bytes, as received and once gzip-decoded
    /// (default `None`: no limit, the timeout is then the only bound). A larger response
    /// fails with [`ErrorKind::ResponseTooLarge`](crate::error::ErrorKind::ResponseTooLarge) and
    /// its connection is closed; other requests on it are retried as after any connection
    /// failure.
    pub fn max_body_bytes(mut self, limit: Option<u64>) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Send request and response bodies to the debug log, target `ovirt::body` at `TRACE`
    /// (default false: even a subscriber at `TRACE` gets no body without this). Secrets in
    /// them are redacted; see [`crate::logging`].
    pub fn log_bodies(mut self, on: bool) -> Self {
        self.log_bodies = on;
        self
    }

    /// A client of another origin (an imageio server) with this connection's TLS, proxy and
    /// connect settings, but its own connections, depth and request timeout, and no gzip.
    pub(crate) fn data_client(
        &self,
        origin: &str,
        connections: usize,
        depth: usize,
        timeout: Option<Duration>,
    ) -> Result<http1_pipeline::Client, Error> {
        let mut options = self.clone();
        options.connections = connections.max(1);
        options.pipeline = depth.max(1);
        options.timeout = timeout;
        options.compress = false;
        options.max_body_bytes = None;
        options.client(origin)
    }

    fn client(&self, origin: &str) -> Result<http1_pipeline::Client, Error> {
        let any_ca = !self.ca_files.is_empty() || !self.ca_pems.is_empty();
        let mut b = http1_pipeline::Client::builder(origin)
            .max_connections(self.connections)
            .pipeline_depth(self.pipeline.max(1))
            .connect_timeout(self.connect_timeout)
            .request_timeout(self.timeout)
            .default_header("User-Agent", USER_AGENT)
            .gzip(self.compress)
            .tls_system_roots(self.system_roots.unwrap_or(!any_ca))
            .insecure(self.insecure)
            .max_body_bytes(self.max_body_bytes);
        for pem in &self.ca_pems {
            b = b.add_ca_pem(pem.clone());
        }
        for file in &self.ca_files {
            b = b.add_ca_file(file.clone());
        }
        if let Some(n) = self.max_retries {
            b = b.max_retries(n);
        }
        if let Some(url) = &self.proxy_url {
            // Checked here first: it rejects user information without repeating it.
            split_url(url, "proxy_url")?;
            let mut proxy = http1_pipeline::Proxy::new(url).map_err(Error::from)?;
            match (&self.proxy_username, &self.proxy_password) {
                (Some(u), Some(p)) => proxy = proxy.basic_auth(u, &p.0),
                (Some(u), None) => proxy = proxy.basic_auth(u, ""),
                (None, Some(_)) => {
                    return Err(config("proxy_password is set but proxy_username is not"))
                }
                (None, None) => {}
            }
            b = b.proxy(proxy);
        }
        b.build().map_err(Error::from)
    }

    /// Like [`ConnectionBuilder::build`], for programs without an async runtime: the
    /// connection runs on a background thread of its own (see [`crate::blocking`]).
    pub fn build_blocking(self) -> Result<crate::blocking::Connection, Error> {
        crate::blocking::Connection::new(self)
    }

    /// Checks the options and creates the connection. No request is made: the login
    /// happens with the first request. Building needs no runtime; sending requests needs
    /// a tokio runtime (or use [`ConnectionBuilder::build_blocking`]).
    pub fn build(self) -> Result<Connection, Error> {
        let kerberos = self.kerberos_options()?;
        let url = self
            .url
            .clone()
            .ok_or_else(|| config("the url option is required"))?;
        let api = split_url(&url, "url")?;
        if api.path.contains('?') {
            return Err(config(format!(
                "invalid url {url:?}: a query is not allowed in the API URL"
            )));
        }
        if self.connections == 0 {
            return Err(config("connections must be at least 1"));
        }
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (Some(_), None) => return Err(config("username is set but password is not")),
            (None, Some(_)) => return Err(config("password is set but username is not")),
            (None, None) => None,
        };
        if credentials.is_none() && self.token.is_none() && kerberos.is_none() {
            return Err(config(
                "either username and password, a token, or kerberos(true) are required",
            ));
        }
        if self.sso_token_name.is_empty() {
            return Err(config("sso_token_name must not be empty"));
        }
        let sso_token_path = match kerberos {
            Some(_) => super::kerberos::TOKEN_HTTP_AUTH_PATH,
            None => SSO_TOKEN_PATH,
        };
        let sso = match &self.sso_url {
            Some(u) => split_url(u, "sso_url")?,
            None => SplitUrl {
                origin: api.origin.clone(),
                path: sso_token_path.to_string(),
            },
        };
        let revoke = match &self.sso_revoke_url {
            Some(u) => split_url(u, "sso_revoke_url")?,
            None => SplitUrl {
                origin: api.origin.clone(),
                path: SSO_LOGOUT_PATH.to_string(),
            },
        };
        let client = self.client(&api.origin)?;
        let sso_client = if sso.origin == api.origin {
            client.clone()
        } else {
            self.client(&sso.origin)?
        };
        let revoke_client = if revoke.origin == api.origin {
            client.clone()
        } else if revoke.origin == sso.origin {
            sso_client.clone()
        } else {
            self.client(&revoke.origin)?
        };
        let base_path = crate::service::normalise_base_path(api.path);
        let has_token = self.token.is_some();
        // Kept for clients of other origins (image transfers), without the secrets.
        let client_options = ConnectionBuilder {
            username: None,
            password: None,
            token: None,
            ..self.clone()
        };
        let inner = Inner {
            url: format!("{}{}", api.origin, base_path),
            base_path,
            client,
            sso: Endpoint {
                client: sso_client,
                path: sso.path,
                url: format!("{}", SsoUrl(&self.sso_url, &api.origin, sso_token_path)),
            },
            revoke: Endpoint {
                client: revoke_client,
                path: revoke.path,
                url: format!(
                    "{}",
                    SsoUrl(&self.sso_revoke_url, &api.origin, SSO_LOGOUT_PATH)
                ),
            },
            sso_token_name: self.sso_token_name,
            credentials,
            kerberos,
            headers: self.headers,
            auth: Mutex::new(AuthState {
                token: self.token,
                generation: u64::from(has_token),
                from_login: false,
            }),
            login_lock: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle: tokio::sync::Notify::new(),
            logout_timeout: self.logout_timeout,
            log_bodies: self.log_bodies,
            client_options,
        };
        Ok(Connection {
            inner: Arc::new(inner),
        })
    }
}

impl ConnectionBuilder {
    /// The Kerberos options when `kerberos(true)`, checked (the feature is compiled in).
    fn kerberos_options(&self) -> Result<Option<super::kerberos::KerberosOptions>, Error> {
        if !self.kerberos {
            return Ok(None);
        }
        super::kerberos::check_available()?;
        Ok(Some(super::kerberos::KerberosOptions {
            ccache: self.kerberos_ccache.clone(),
            client_keytab: self.kerberos_client_keytab.clone(),
        }))
    }
}

/// Displays the SSO URL used: the option as given or the default on the API's origin.
struct SsoUrl<'a>(&'a Option<String>, &'a str, &'static str);

impl fmt::Display for SsoUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(u) => f.write_str(u),
            None => write!(f, "{}{}", self.1, self.2),
        }
    }
}
