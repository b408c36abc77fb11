//! A real MIT Kerberos KDC for tests, with its realm, principals, keytabs and credential
//! caches in a temporary directory.
//!
//! [`Kdc::start`] writes `kdc.conf` and `krb5.conf` into a fresh directory, creates the
//! realm's database with `kdb5_util create -s`, and starts `krb5kdc -n` as a child on a
//! free loopback port (TCP; `krb5.conf` sets `udp_preference_limit = 1`, so clients use
//! TCP too), returning once the port accepts connections. [`Kdc::add_user`],
//! [`Kdc::add_service`] (with its keytab) and [`Kdc::kinit`] run `kadmin.local` and
//! `kinit` with `KRB5_CONFIG` and `KRB5_KDC_PROFILE` set for that child only. Dropping the
//! [`Kdc`] sends SIGTERM to the KDC's pid, waits for it and removes the directory; the
//! system's `/etc/krb5.conf` and `/etc/krb5kdc` are never read or touched by the tools it
//! runs.
//!
//! The client library in the test process finds the realm through `KRB5_CONFIG`, which
//! names a file and is read by each Kerberos context the library creates: a test sets it
//! with [`Kdc::use_in_this_process`] once, before any Kerberos call, and shares one
//! `Kdc` between its tests ([`Kdc::keep_until_exit`]).
//!
//! `krb5.conf` also names a second realm, [`Kdc::unreachable_realm`], whose KDC address is
//! a loopback port nobody listens on: a client that needs that realm's KDC gets "Cannot
//! contact any KDC".
//!
//! Without the MIT KDC installed, [`kdc_or_skip`] says what to install (`apt-get install
//! krb5-kdc krb5-admin-server krb5-user`) and the caller skips; with `CI=true` it panics
//! instead, so CI never skips.

use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The programs the harness runs, and the Debian package of each.
const PROGRAMS: &[(&str, &str)] = &[
    ("/usr/sbin/krb5kdc", "krb5-kdc"),
    ("/usr/sbin/kdb5_util", "krb5-kdc"),
    ("/usr/sbin/kadmin.local", "krb5-admin-server"),
    ("/usr/bin/kinit", "krb5-user"),
    ("/usr/bin/klist", "krb5-user"),
    ("/usr/bin/ktutil", "krb5-user"),
];

/// The apt line that installs everything the Kerberos tests need (the KDC, the tools, the
/// GSSAPI headers and libclang for the client bindings, Apache's mod_auth_gssapi).
pub const INSTALL_HINT: &str = "apt-get install krb5-kdc krb5-admin-server krb5-user \
     libkrb5-dev libclang-dev libapache2-mod-auth-gssapi apache2";

/// The `clockskew` of `krb5.conf`, in seconds: the KDC accepts a ticket this long after it
/// expired (MIT's default is 300; the KDC and its clients share one clock here).
pub const CLOCKSKEW: u64 = 1;

/// Why the KDC or one of its tools failed.
#[derive(Debug, Clone)]
pub struct KdcError(String);

impl fmt::Display for KdcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KdcError {}

fn error(message: impl Into<String>) -> KdcError {
    KdcError(message.into())
}

/// Whether the MIT KDC and its tools are installed; the error names what is missing and
/// how to install it.
pub fn installed() -> Result<(), KdcError> {
    for (path, package) in PROGRAMS {
        if !Path::new(path).is_file() {
            return Err(error(format!(
                "{path} not found (Debian package {package}); install the Kerberos test \
                 dependencies with `{INSTALL_HINT}`"
            )));
        }
    }
    Ok(())
}

/// For tests: `true` when the MIT KDC is installed. Otherwise prints why the test is
/// skipped and returns `false`, or panics when the environment variable `CI` is `true`
/// (CI installs the packages and must not skip these tests).
pub fn kdc_or_skip(test: &str) -> bool {
    match installed() {
        Ok(()) => true,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
                panic!("{test}: {e} (CI=true: Kerberos tests are not skipped)");
            }
            eprintln!("SKIPPED {test}: {e}");
            false
        }
    }
}

/// A free port on 127.0.0.1 (bound, read, released: the KDC binds it next).
fn free_port() -> Result<u16, KdcError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| error(format!("binding: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| error(format!("local address: {e}")))
}

fn fresh_dir() -> Result<PathBuf, KdcError> {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ovirt-tests-kdc-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| error(format!("creating {}: {e}", dir.display())))?;
    Ok(dir)
}

/// A running MIT KDC with its realm; stopped (SIGTERM, then waited for) when dropped.
pub struct Kdc {
    child: Option<Child>,
    dir: PathBuf,
    realm: String,
    port: u16,
    unreachable_realm: String,
}

impl fmt::Debug for Kdc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kdc")
            .field("pid", &self.child.as_ref().map(Child::id))
            .field("realm", &self.realm)
            .field("port", &self.port)
            .field("dir", &self.dir)
            .finish()
    }
}

/// Stops the KDC of [`Kdc::keep_until_exit`] when the process exits.
static KEPT_PID: AtomicI32 = AtomicI32::new(0);
static KEPT_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);

extern "C" fn stop_kept_kdc() {
    let pid = KEPT_PID.swap(0, Ordering::AcqRel);
    if pid > 0 {
        // SAFETY: kill and waitpid with the pid of a child this process started.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
        }
    }
    if std::env::var_os("OVIRT_TESTS_KEEP_KDC_DIR").is_none() {
        if let Some(dir) = KEPT_DIR.lock().ok().and_then(|mut d| d.take()) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Kdc {
    /// Creates the realm `realm` (upper case, e.g. `OVIRT.TEST`) in a fresh temporary
    /// directory and starts its KDC; returns once the KDC accepts connections (at most
    /// 30 s). Blocking.
    pub fn start(realm: &str) -> Result<Kdc, KdcError> {
        installed()?;
        let mut last = error("not started");
        // A free port can be taken by someone else between our check and the KDC's bind.
        for _ in 0..3 {
            match Kdc::start_once(realm) {
                Ok(k) => return Ok(k),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_once(realm: &str) -> Result<Kdc, KdcError> {
        let dir = fresh_dir()?;
        let port = free_port()?;
        let dead_port = free_port()?;
        let mut kdc = Kdc {
            child: None,
            dir,
            realm: realm.to_string(),
            port,
            unreachable_realm: format!("UNREACHABLE.{realm}"),
        };
        let d = kdc.dir.display().to_string();
        let kdc_conf = format!(
            "# Written by ovirt-tests (tests/src/kdc.rs) for one test run.\n\
             [kdcdefaults]\n kdc_listen = 127.0.0.1:{port}\n kdc_tcp_listen = 127.0.0.1:{port}\n\
             [realms]\n {realm} = {{\n  database_name = {d}/principal\n  \
             key_stash_file = {d}/stash\n  acl_file = {d}/kadm5.acl\n  max_life = 10h\n  \
             max_renewable_life = 1d\n }}\n\
             [logging]\n kdc = FILE:{d}/kdc.log\n admin_server = FILE:{d}/kadmin.log\n"
        );
        let krb5_conf = format!(
            "# Written by ovirt-tests (tests/src/kdc.rs) for one test run.\n\
             [libdefaults]\n default_realm = {realm}\n dns_lookup_kdc = false\n \
             dns_lookup_realm = false\n dns_canonicalize_hostname = false\n rdns = false\n \
             udp_preference_limit = 1\n clockskew = {CLOCKSKEW}\n\
             [realms]\n {realm} = {{\n  kdc = 127.0.0.1:{port}\n }}\n \
             {unreachable} = {{\n  kdc = 127.0.0.1:{dead_port}\n }}\n\
             [domain_realm]\n localhost = {realm}\n",
            unreachable = kdc.unreachable_realm
        );
        kdc.write("kdc.conf", &kdc_conf)?;
        kdc.write("krb5.conf", &krb5_conf)?;
        kdc.write("kadm5.acl", "")?;
        kdc.run(
            "kdb5_util",
            &[
                "create",
                "-s",
                "-P",
                "master-key-of-the-test-realm",
                "-r",
                realm,
            ],
            None,
        )?;
        let log = std::fs::File::create(kdc.dir.join("krb5kdc.stderr"))
            .map_or(Stdio::null(), Stdio::from);
        let child = kdc
            .command("/usr/sbin/krb5kdc")
            .args(["-n", "-r", realm])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| error(format!("starting krb5kdc: {e}")))?;
        kdc.child = Some(child);
        kdc.wait_ready(Duration::from_secs(30))?;
        Ok(kdc)
    }

    fn write(&self, name: &str, text: &str) -> Result<(), KdcError> {
        std::fs::write(self.dir.join(name), text).map_err(|e| error(format!("writing {name}: {e}")))
    }

    /// A command with this realm's configuration in its environment (and only there).
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("KRB5_CONFIG", self.krb5_conf())
            .env("KRB5_KDC_PROFILE", self.dir.join("kdc.conf"))
            .env("KRB5RCACHETYPE", "none")
            .env_remove("KRB5CCNAME")
            .env_remove("KRB5_KTNAME")
            .env_remove("KRB5_CLIENT_KTNAME");
        c
    }

    /// Runs one of the Kerberos tools with `input` on its standard input; fails with its
    /// output when it exits with an error.
    fn run(&self, tool: &str, args: &[&str], input: Option<&str>) -> Result<String, KdcError> {
        let path = PROGRAMS
            .iter()
            .map(|(p, _)| *p)
            .find(|p| p.ends_with(&format!("/{tool}")))
            .ok_or_else(|| error(format!("unknown tool {tool}")))?;
        self.run_command(self.command(path).args(args), tool, input)
    }

    fn run_command(
        &self,
        command: &mut Command,
        tool: &str,
        input: Option<&str>,
    ) -> Result<String, KdcError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| error(format!("starting {tool}: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            if let Some(text) = input {
                let _ = stdin.write_all(text.as_bytes());
            }
        }
        let out = child
            .wait_with_output()
            .map_err(|e| error(format!("waiting for {tool}: {e}")))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            Ok(text)
        } else {
            Err(error(format!(
                "{tool} failed ({}): {}",
                out.status,
                text.trim()
            )))
        }
    }

    /// Polls until the KDC's port accepts a connection, or fails with its log if it exits
    /// or does not get there in time.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), KdcError> {
        let deadline = Instant::now() + limit;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(error(format!(
                    "krb5kdc exited at start ({status}): {}",
                    self.logs()
                )));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(error(format!(
                    "krb5kdc did not accept connections within {limit:?}: {}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The KDC's log and standard error so far.
    pub fn logs(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!(
            "kdc.log: {} | stderr: {}",
            read("kdc.log").trim(),
            read("krb5kdc.stderr").trim()
        )
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A realm in `krb5.conf` whose KDC is a loopback port nobody listens on.
    pub fn unreachable_realm(&self) -> &str {
        &self.unreachable_realm
    }

    /// The KDC's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The KDC's pid (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temporary directory (configuration, database, keytabs, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The client configuration, for `KRB5_CONFIG`.
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.join("krb5.conf")
    }

    /// Adds the principal `name` (in this realm) with a password.
    pub fn add_user(&self, name: &str, password: &str) -> Result<(), KdcError> {
        self.run(
            "kadmin.local",
            &[
                "-r",
                &self.realm,
                "-q",
                &format!("addprinc -pw {password} {name}"),
            ],
            None,
        )
        .map(drop)
    }

    /// Adds the service principal `principal` (`HTTP/localhost`) with a random key and
    /// writes its keys to a new keytab in the directory (readable by every user, so that
    /// httpd's children can read it); returns the keytab's path.
    pub fn add_service(&self, principal: &str) -> Result<PathBuf, KdcError> {
        let file = format!("{}.keytab", principal.replace(['/', '@'], "_"));
        let keytab = self.dir.join(file);
        let r = &self.realm;
        self.run(
            "kadmin.local",
            &["-r", r, "-q", &format!("addprinc -randkey {principal}")],
            None,
        )?;
        self.run(
            "kadmin.local",
            &[
                "-r",
                r,
                "-q",
                &format!("ktadd -k {} {principal}", keytab.display()),
            ],
            None,
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| error(format!("chmod {}: {e}", keytab.display())))?;
        Ok(keytab)
    }

    /// Writes a keytab for `principal` (any realm, the KDC is not asked) with the key
    /// derived from `password`, as `ktutil addent -password` does; returns its path.
    pub fn keytab_from_password(
        &self,
        principal: &str,
        password: &str,
    ) -> Result<PathBuf, KdcError> {
        let keytab = self.dir.join(format!(
            "{}.client.keytab",
            principal.replace(['/', '@'], "_")
        ));
        let script = format!(
            "addent -password -p {principal} -k 1 -e aes256-cts-hmac-sha1-96\n{password}\n\
             wkt {}\nquit\n",
            keytab.display()
        );
        self.run("ktutil", &[], Some(&script))?;
        if !keytab.is_file() {
            return Err(error(format!("ktutil wrote no {}", keytab.display())));
        }
        Ok(keytab)
    }

    /// Gets a ticket-granting ticket for `principal` with `password` into the credential
    /// cache file `ccache` (`kinit`, the password on its standard input); `lifetime` is
    /// kinit's `-l` (`10s`, `1h`) or the realm's default.
    pub fn kinit(
        &self,
        principal: &str,
        password: &str,
        ccache: &Path,
        lifetime: Option<&str>,
    ) -> Result<(), KdcError> {
        let mut c = self.command("/usr/bin/kinit");
        c.env("KRB5CCNAME", format!("FILE:{}", ccache.display()));
        if let Some(l) = lifetime {
            c.args(["-l", l]);
        }
        c.arg(principal);
        self.run_command(&mut c, "kinit", Some(&format!("{password}\n")))
            .map(drop)
    }

    /// Whether the credential cache file holds a ticket that has not expired (`klist -s`).
    pub fn has_valid_ticket(&self, ccache: &Path) -> bool {
        self.command("/usr/bin/klist")
            .arg("-s")
            .env("KRB5CCNAME", format!("FILE:{}", ccache.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Polls until the tickets in `ccache` have expired for the KDC too (at most `limit`):
    /// until `klist -s` says they have, then until [`CLOCKSKEW`] more has passed, since the
    /// KDC still accepts a ticket within its clock skew. Expiry is a matter of time, so
    /// this waits on the clock, not on an event.
    pub fn wait_expired(&self, ccache: &Path, limit: Duration) -> Result<(), KdcError> {
        let deadline = Instant::now() + limit;
        let too_long = || {
            error(format!(
                "the tickets in {} did not expire within {limit:?}",
                ccache.display()
            ))
        };
        while self.has_valid_ticket(ccache) {
            if Instant::now() > deadline {
                return Err(too_long());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Seen expired at most 50 ms after the end time; whole seconds count for the KDC.
        let past_skew = Instant::now() + Duration::from_secs(CLOCKSKEW + 1);
        while Instant::now() < past_skew {
            if Instant::now() > deadline {
                return Err(too_long());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Points this process's Kerberos library at this realm: sets `KRB5_CONFIG` to
    /// [`Kdc::krb5_conf`] and removes `KRB5CCNAME`, `KRB5_KTNAME` and `KRB5_CLIENT_KTNAME`
    /// (the caller names caches and keytabs explicitly). Call it once, before any
    /// Kerberos call of the process (the variables are process-wide).
    pub fn use_in_this_process(&self) {
        std::env::set_var("KRB5_CONFIG", self.krb5_conf());
        std::env::remove_var("KRB5CCNAME");
        std::env::remove_var("KRB5_KTNAME");
        std::env::remove_var("KRB5_CLIENT_KTNAME");
    }

    /// Keeps this KDC running until the process exits, for a realm shared by the tests of
    /// one test binary: at exit (`atexit`) the KDC is stopped by its pid and the directory
    /// removed.
    pub fn keep_until_exit(mut self) -> &'static Kdc {
        if let Some(child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                KEPT_PID.store(pid, Ordering::Release);
            }
            // The pid is reaped by `stop_kept_kdc`.
            std::mem::forget(child);
        }
        if let Ok(mut d) = KEPT_DIR.lock() {
            *d = Some(self.dir.clone());
        }
        // SAFETY: registering a function without arguments that only signals, waits and
        // removes files.
        unsafe {
            libc::atexit(stop_kept_kdc);
        }
        Box::leak(Box::new(self))
    }

    /// Stops the KDC (SIGTERM, then waits): later requests to it find nobody listening.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill with the pid of our child, not yet reaped.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("OVIRT_TESTS_KEEP_KDC_DIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Where Debian's libapache2-mod-auth-gssapi puts the module.
pub const MOD_AUTH_GSSAPI: &str = "/usr/lib/apache2/modules/mod_auth_gssapi.so";

/// Kerberos single sign-on in Apache httpd as an engine set up for it has it
/// ([`crate::apache::ApacheConfig::gssapi`]): mod_auth_gssapi protects the SSO's
/// `token-http-auth` (`AuthType GSSAPI`, `GssapiCredStore keytab:...`,
/// `Require valid-user`, only HTTP Negotiate, no Basic fallback) and the authenticated
/// principal goes on to the engine as `X-Remote-User` (set by Apache, whatever the client
/// sent). The engine behind it trusts that header
/// (`TestEngineBuilder::http_auth_remote_user`).
#[derive(Debug, Clone)]
pub struct ApacheGssapi {
    /// The keytab of the `HTTP/<host>` service principal (readable by httpd's children).
    pub keytab: PathBuf,
    /// The `krb5.conf` of the realm, for httpd's `KRB5_CONFIG`.
    pub krb5_conf: PathBuf,
}

impl ApacheGssapi {
    /// The set-up for `kdc`'s realm with the service keys in `keytab`.
    pub fn new(kdc: &Kdc, keytab: impl Into<PathBuf>) -> ApacheGssapi {
        ApacheGssapi {
            keytab: keytab.into(),
            krb5_conf: kdc.krb5_conf(),
        }
    }

    /// Whether mod_auth_gssapi is installed; the error says how to install it.
    pub fn installed(&self) -> Result<(), KdcError> {
        if Path::new(MOD_AUTH_GSSAPI).is_file() {
            Ok(())
        } else {
            Err(error(format!(
                "{MOD_AUTH_GSSAPI} not found (Debian package libapache2-mod-auth-gssapi); \
                 install the Kerberos test dependencies with `{INSTALL_HINT}`"
            )))
        }
    }

    /// The environment of httpd: the realm's configuration, and no replay cache file
    /// (httpd's children, running as nobody, could not write one in the test directory).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "KRB5_CONFIG".to_string(),
                self.krb5_conf.display().to_string(),
            ),
            ("KRB5RCACHETYPE".to_string(), "none".to_string()),
        ]
    }

    /// The configuration lines (module and `<Location>` of the SSO endpoint).
    pub fn config_text(&self, _dir: &Path) -> String {
        format!(
            "# Kerberos single sign-on on the SSO's token-http-auth (mod_auth_gssapi).\n\
             LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so\n\
             LoadModule authz_user_module /usr/lib/apache2/modules/mod_authz_user.so\n\
             LoadModule auth_gssapi_module {MOD_AUTH_GSSAPI}\n\
             <LocationMatch \"^/ovirt-engine/sso/oauth/token-http-auth$\">\n\
             \x20   AuthType GSSAPI\n\
             \x20   AuthName \"Kerberos Login\"\n\
             \x20   GssapiCredStore keytab:{}\n\
             \x20   GssapiAllowedMech krb5\n\
             \x20   GssapiBasicAuth Off\n\
             \x20   Require valid-user\n\
             \x20   RequestHeader set X-Remote-User \"expr=%{{REMOTE_USER}}\"\n\
             </LocationMatch>",
            self.keytab.display()
        )
    }
}
