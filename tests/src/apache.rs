//! A real Apache httpd 2.4 in front of the test engine, set up as the engine's packaging
//! sets it up (`ovirt-engine-proxy.conf` and httpd's defaults):
//!
//! * `ProxyPass /ovirt-engine/` to the engine with `timeout=3600 retry=5`;
//! * `RequestHeader unset Expect early`;
//! * `AddOutputFilterByType DEFLATE application/xml application/json` (a client that
//!   accepts gzip gets gzip, chunked);
//! * `KeepAlive On`, `MaxKeepAliveRequests 100`, `KeepAliveTimeout 5`, the event MPM;
//! * mod_ssl with a certificate signed by a CA generated here (valid for `127.0.0.1` and
//!   `localhost`).
//!
//! [`Apache::start`] writes its own configuration (server root, pid file, error log,
//! `Listen` on free loopback ports, `LoadModule` lines for `/usr/lib/apache2/modules/`)
//! into a fresh temporary directory, starts `/usr/sbin/apache2 -f CONF -DFOREGROUND` as a
//! child, and returns once the port accepts connections. Dropping the [`Apache`] sends
//! SIGTERM to that pid, waits for it and removes the directory. The system's
//! `/etc/apache2` and its service are never read or touched.
//!
//! A second listener, plain HTTP, serves only `mod_status` (`/server-status?auto`), so a
//! test can watch Apache's connections ([`Apache::status`]).
//!
//! Without Apache installed, [`apache_or_skip`] says how to install it (`apt-get install
//! apache2`) and the caller skips; with `CI=true` it panics instead, so CI never skips.

use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The httpd binary (Debian's name and place); the environment variable `APACHE2_BINARY`
/// names another.
pub const APACHE_BINARY: &str = "/usr/sbin/apache2";

/// The httpd binary to run: `APACHE2_BINARY` if set, else [`APACHE_BINARY`].
pub fn binary() -> PathBuf {
    std::env::var_os("APACHE2_BINARY").map_or_else(|| PathBuf::from(APACHE_BINARY), PathBuf::from)
}
/// Where Debian's apache2 package puts the modules.
pub const MODULES_DIR: &str = "/usr/lib/apache2/modules";

/// The modules the configuration loads (all shipped by Debian's apache2 package).
const MODULES: &[(&str, &str)] = &[
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_host_module", "mod_authz_host.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("headers_module", "mod_headers.so"),
    ("filter_module", "mod_filter.so"),
    ("deflate_module", "mod_deflate.so"),
    ("socache_shmcb_module", "mod_socache_shmcb.so"),
    ("ssl_module", "mod_ssl.so"),
    ("status_module", "mod_status.so"),
];

/// Why Apache could not be used.
#[derive(Debug, Clone)]
pub struct ApacheError(String);

impl fmt::Display for ApacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ApacheError {}

fn error(message: impl Into<String>) -> ApacheError {
    ApacheError(message.into())
}

/// Whether Apache httpd and the modules the configuration loads are installed; the error
/// says what is missing and how to install it.
pub fn installed() -> Result<(), ApacheError> {
    let how = "install it with `apt-get install apache2` (Debian/Ubuntu)";
    let bin = binary();
    if !bin.is_file() {
        return Err(error(format!(
            "Apache httpd is not installed ({} not found): {how}",
            bin.display()
        )));
    }
    for (_, file) in MODULES {
        let path = Path::new(MODULES_DIR).join(file);
        if !path.is_file() {
            return Err(error(format!(
                "the Apache module {} is missing: {how}",
                path.display()
            )));
        }
    }
    Ok(())
}

/// For tests: `true` when Apache is installed. Otherwise prints why the test is skipped
/// and returns `false`, or panics when the environment variable `CI` is `true` (CI
/// installs apache2 and must not skip these tests).
pub fn apache_or_skip(test: &str) -> bool {
    match installed() {
        Ok(()) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
                panic!("{test}: {e} (CI=true: Apache tests are not skipped)");
            }
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

/// How to set Apache up in front of an engine.
#[derive(Debug, Clone)]
pub struct ApacheConfig {
    /// The engine's address (plain HTTP): `/ovirt-engine/` is proxied there.
    pub backend: SocketAddr,
    /// Serve HTTPS with mod_ssl (default true).
    pub tls: bool,
    /// `MaxKeepAliveRequests` (default 100, httpd's default).
    pub max_keep_alive_requests: u32,
    /// `KeepAliveTimeout` (default 5 s, httpd's default). Whole seconds are written as
    /// such, anything else in milliseconds.
    pub keep_alive_timeout: Duration,
    /// `LogLevel` (default `warn`).
    pub log_level: String,
    /// Kerberos single sign-on with mod_auth_gssapi on the SSO's `token-http-auth`
    /// (default none; see [`crate::kdc::ApacheGssapi`]).
    pub gssapi: Option<crate::kdc::ApacheGssapi>,
}

impl ApacheConfig {
    /// The engine packaging's setup in front of the engine at `backend`.
    pub fn new(backend: SocketAddr) -> ApacheConfig {
        ApacheConfig {
            backend,
            tls: true,
            max_keep_alive_requests: 100,
            keep_alive_timeout: Duration::from_secs(5),
            log_level: "warn".to_string(),
            gssapi: None,
        }
    }

    /// With Kerberos single sign-on (mod_auth_gssapi) as [`crate::kdc::ApacheGssapi`] sets
    /// it up.
    pub fn gssapi(mut self, gssapi: crate::kdc::ApacheGssapi) -> Self {
        self.gssapi = Some(gssapi);
        self
    }

    /// With or without TLS.
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Another `KeepAliveTimeout`.
    pub fn keep_alive_timeout(mut self, timeout: Duration) -> Self {
        self.keep_alive_timeout = timeout;
        self
    }

    /// Another `MaxKeepAliveRequests`.
    pub fn max_keep_alive_requests(mut self, n: u32) -> Self {
        self.max_keep_alive_requests = n;
        self
    }
}

fn certificates() -> Result<ovirt_test_engine::TestCertificates, ApacheError> {
    ovirt_test_engine::TestCertificates::generate("ovirt-tests Apache CA").map_err(error)
}

/// A free port on 127.0.0.1 (bound, read, released: Apache binds it next).
fn free_port() -> Result<u16, ApacheError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| error(format!("binding: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| error(format!("local address: {e}")))
}

fn fresh_dir() -> Result<PathBuf, ApacheError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ovirt-tests-apache-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| error(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

fn duration_directive(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        d.as_secs().to_string()
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

/// The httpd configuration (everything in `dir`).
fn config_text(c: &ApacheConfig, dir: &Path, port: u16, status_port: u16, as_root: bool) -> String {
    let d = dir.display();
    let mut s = String::new();
    let mut line = |l: &str| {
        s.push_str(l);
        s.push('\n');
    };
    line("# Written by ovirt-tests (tests/src/apache.rs) for one test run.");
    line(&format!("ServerRoot \"{d}\""));
    line("ServerName 127.0.0.1");
    line(&format!("PidFile \"{d}/httpd.pid\""));
    line(&format!("DefaultRuntimeDir \"{d}\""));
    line(&format!("ErrorLog \"{d}/error.log\""));
    line(&format!("LogLevel {}", c.log_level));
    if as_root {
        // Started as root, httpd's children change to this user (nobody).
        line("User #65534");
        line("Group #65534");
    }
    for (name, file) in MODULES {
        line(&format!("LoadModule {name} {MODULES_DIR}/{file}"));
    }
    line(&format!("Listen 127.0.0.1:{port}"));
    line(&format!("Listen 127.0.0.1:{status_port}"));
    line("# httpd's keep-alive defaults, which the engine's packaging keeps.");
    line("KeepAlive On");
    line(&format!(
        "MaxKeepAliveRequests {}",
        c.max_keep_alive_requests
    ));
    line(&format!(
        "KeepAliveTimeout {}",
        duration_directive(c.keep_alive_timeout)
    ));
    line("# As ovirt-engine-proxy.conf sets it up.");
    line(&format!(
        "ProxyPass /ovirt-engine/ http://{}/ovirt-engine/ timeout=3600 retry=5",
        c.backend
    ));
    line("RequestHeader unset Expect early");
    if let Some(g) = &c.gssapi {
        line(&g.config_text(dir));
    }
    line("AddOutputFilterByType DEFLATE application/xml application/json");
    if c.tls {
        line(&format!("SSLSessionCache \"shmcb:{d}/ssl_scache(512000)\""));
    }
    line(&format!("<VirtualHost 127.0.0.1:{port}>"));
    line("    ServerName 127.0.0.1");
    if c.tls {
        line("    SSLEngine on");
        line(&format!("    SSLCertificateFile \"{d}/server.pem\""));
        line(&format!("    SSLCertificateKeyFile \"{d}/server.key\""));
    }
    line("</VirtualHost>");
    line(&format!("<VirtualHost 127.0.0.1:{status_port}>"));
    line("    ServerName 127.0.0.1");
    line("    <Location /server-status>");
    line("        SetHandler server-status");
    line("        Require ip 127.0.0.1");
    line("    </Location>");
    line("</VirtualHost>");
    s
}

/// Counters of Apache's `server-status?auto` page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApacheStatus {
    /// `ConnsTotal`: client connections open (the event MPM's count).
    pub conns_total: u64,
    /// `ConnsAsyncKeepAlive`: connections idle between requests.
    pub conns_keep_alive: u64,
    /// `Total Accesses`: requests served since start (status requests included).
    pub total_accesses: u64,
}

/// A running Apache httpd, stopped (SIGTERM, then waited for) when dropped.
pub struct Apache {
    child: Child,
    dir: PathBuf,
    port: u16,
    status_port: u16,
    tls: bool,
    ca_pem: Option<String>,
}

impl fmt::Debug for Apache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Apache")
            .field("pid", &self.child.id())
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("dir", &self.dir)
            .finish()
    }
}

impl Apache {
    /// Writes the configuration, starts httpd and waits until it accepts connections
    /// (at most 30 s). Blocking: call it outside an async runtime's worker, or through
    /// `spawn_blocking`, or accept that it blocks for the start (about 100 ms).
    pub fn start(config: &ApacheConfig) -> Result<Apache, ApacheError> {
        installed()?;
        if let Some(g) = &config.gssapi {
            g.installed().map_err(|e| error(e.to_string()))?;
        }
        // A free port can be taken by someone else between our check and httpd's bind:
        // try a few times.
        let mut last = error("not started");
        for _ in 0..3 {
            match Apache::start_once(config) {
                Ok(a) => return Ok(a),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_once(config: &ApacheConfig) -> Result<Apache, ApacheError> {
        let dir = fresh_dir()?;
        let cleanup = |e: ApacheError| {
            let _ = std::fs::remove_dir_all(&dir);
            e
        };
        let port = free_port().map_err(cleanup)?;
        let status_port = free_port().map_err(cleanup)?;
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).map_err(|e| error(format!("writing {name}: {e}")))
        };
        let ca_pem = if config.tls {
            let certs = certificates().map_err(cleanup)?;
            write("server.pem", &certs.cert_pem).map_err(cleanup)?;
            write("server.key", &certs.key_pem).map_err(cleanup)?;
            write("ca.pem", &certs.ca_pem).map_err(cleanup)?;
            Some(certs.ca_pem)
        } else {
            None
        };
        // SAFETY: geteuid has no preconditions and cannot fail.
        let as_root = unsafe { libc::geteuid() } == 0;
        let conf = dir.join("httpd.conf");
        write(
            "httpd.conf",
            &config_text(config, &dir, port, status_port, as_root),
        )
        .map_err(cleanup)?;
        let child = Command::new(binary())
            .envs(config.gssapi.iter().flat_map(crate::kdc::ApacheGssapi::env))
            .arg("-f")
            .arg(&conf)
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("stderr.log")).map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .map_err(|e| cleanup(error(format!("starting {}: {e}", binary().display()))))?;
        let mut apache = Apache {
            child,
            dir,
            port,
            status_port,
            tls: config.tls,
            ca_pem,
        };
        apache.wait_ready(Duration::from_secs(30))?;
        Ok(apache)
    }

    /// Polls until both ports accept a connection, or fails with the error log if httpd
    /// exits or does not get there in time.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), ApacheError> {
        let deadline = Instant::now() + limit;
        let accepts = |port: u16| {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(200),
            )
            .is_ok()
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(error(format!(
                    "Apache exited at start ({status}): {}",
                    self.logs()
                )));
            }
            if accepts(self.port) && accepts(self.status_port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(error(format!(
                    "Apache did not accept connections within {limit:?}: {}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// httpd's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `https` or `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// The API URL through Apache: `https://127.0.0.1:PORT/ovirt-engine/api`.
    pub fn url(&self) -> String {
        format!("{}://{}/ovirt-engine/api", self.scheme(), self.addr())
    }

    /// The API URL as seen through another address in front of Apache (a latency proxy).
    pub fn url_via(&self, addr: SocketAddr) -> String {
        format!("{}://{addr}/ovirt-engine/api", self.scheme())
    }

    /// The origin, `https://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr())
    }

    /// The PEM of the CA that signed Apache's certificate (with TLS).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The CA's file (with TLS).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("ca.pem"))
    }

    /// The temporary directory of this instance (configuration, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// httpd's error log and standard error so far.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "error.log: {} | stderr: {}",
            read("error.log").trim(),
            read("stderr.log").trim()
        )
    }

    /// Reads `server-status?auto` from the status listener (blocking, short).
    pub fn status(&self) -> Result<ApacheStatus, ApacheError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.status_port));
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| error(format!("connecting to server-status: {e}")))?;
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        s.write_all(
            b"GET /server-status?auto HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        )
        .map_err(|e| error(format!("asking server-status: {e}")))?;
        let mut text = String::new();
        s.read_to_string(&mut text)
            .map_err(|e| error(format!("reading server-status: {e}")))?;
        let field = |name: &str| -> Result<u64, ApacheError> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| error(format!("server-status has no {name}: {text:?}")))
        };
        Ok(ApacheStatus {
            conns_total: field("ConnsTotal")?,
            conns_keep_alive: field("ConnsAsyncKeepAlive")?,
            total_accesses: field("Total Accesses")?,
        })
    }

    /// Polls `server-status` until `done` holds (at most `limit`); the last status.
    pub fn wait_status(
        &self,
        limit: Duration,
        mut done: impl FnMut(&ApacheStatus) -> bool,
    ) -> Result<ApacheStatus, ApacheError> {
        let deadline = Instant::now() + limit;
        loop {
            let status = self.status()?;
            if done(&status) {
                return Ok(status);
            }
            if Instant::now() > deadline {
                return Err(error(format!(
                    "server-status did not reach the awaited state within {limit:?}: {status:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill with a pid we started and have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
            }
        }
        if std::env::var_os("OVIRT_TESTS_KEEP_APACHE_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
