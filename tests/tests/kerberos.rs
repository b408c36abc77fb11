//! Kerberos login (SPNEGO, `ConnectionBuilder::kerberos`) against real parts: an MIT KDC
//! started here with its realm in a temporary directory (tests/src/kdc.rs), a user whose
//! ticket `kinit` put into a credential cache, the service principal `HTTP/localhost` with
//! its keytab, and the test engine checking the SPNEGO tokens with that keytab as a GSSAPI
//! acceptor. The tests share one realm: the Kerberos library reads `KRB5_CONFIG`, a
//! process-wide variable, so it is set once, before the first Kerberos call; each test
//! names its own credential cache (`kerberos_ccache`), so no other variable is needed.
//!
//! Built only with `--features kerberos` (needs libkrb5-dev and libclang-dev); without
//! the KDC installed each test skips with a message saying what to install, and fails
//! instead with `CI=true`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use ovirt::error::ErrorKind;
use ovirt::Connection;
use ovirt_test_engine::{Rule, TestEngine, TOKEN_HTTP_AUTH_PATH};
use ovirt_tests::apache::{Apache, ApacheConfig};
use ovirt_tests::kdc::{kdc_or_skip, ApacheGssapi, Kdc};

const REALM: &str = "OVIRT.TEST";
const USER: &str = "alice";
const PASSWORD: &str = "alice-password";

/// The realm shared by the tests of this binary.
struct Realm {
    kdc: &'static Kdc,
    /// The keytab of `HTTP/localhost`.
    keytab: PathBuf,
    /// The keytab of `HTTP/elsewhere` only (not the service the client asks for).
    other_keytab: PathBuf,
    /// A credential cache holding alice's ticket-granting ticket.
    ccache: PathBuf,
}

fn realm(test: &str) -> Option<&'static Realm> {
    if !kdc_or_skip(test) {
        return None;
    }
    static REALM_: OnceLock<Realm> = OnceLock::new();
    Some(REALM_.get_or_init(|| {
        let kdc = Kdc::start(REALM).expect("starting the KDC");
        kdc.add_user(USER, PASSWORD).expect("adding the user");
        let keytab = kdc.add_service("HTTP/localhost").expect("HTTP/localhost");
        let other_keytab = kdc.add_service("HTTP/elsewhere").expect("HTTP/elsewhere");
        let ccache = kdc.dir().join("alice.ccache");
        kdc.kinit(USER, PASSWORD, &ccache, None).expect("kinit");
        kdc.use_in_this_process();
        Realm {
            kdc: kdc.keep_until_exit(),
            keytab,
            other_keytab,
            ccache,
        }
    }))
}

fn ccache_name(path: &std::path::Path) -> String {
    format!("FILE:{}", path.display())
}

async fn engine(keytab: &std::path::Path) -> TestEngine {
    TestEngine::builder()
        .vms(5)
        .negotiate_keytab(keytab)
        .start()
        .await
        .expect("test engine")
}

fn kerberos_connection(url: &str, ccache: &str) -> Connection {
    Connection::builder()
        .url(url)
        .kerberos(true)
        .kerberos_ccache(ccache)
        .build()
        .expect("build")
}

/// The `Negotiate` tokens the engine received.
fn negotiate_tokens(engine: &TestEngine) -> Vec<String> {
    engine
        .requests()
        .iter()
        .filter_map(|r| r.header("authorization"))
        .filter_map(|a| a.strip_prefix("Negotiate ").map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kerberos_login_gets_a_token_from_the_engines_spnego_check() {
    let Some(realm) = realm("kerberos_login_gets_a_token_from_the_engines_spnego_check") else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    let connection = kerberos_connection(&engine.url_localhost(), &ccache_name(&realm.ccache));
    connection.test().await.expect("login and API root");
    let vms = connection
        .system_service()
        .vms_service()
        .list()
        .await
        .expect("vms");
    assert_eq!(vms.len(), 5);
    assert_eq!(engine.logins(), 1);
    assert_eq!(engine.http_auth_users(), [format!("{USER}@{REALM}")]);

    // The exchange: a POST without credentials, answered 401 Negotiate, then the POST
    // again with the token; API requests carry the bearer token.
    let requests = engine.requests();
    let sso: Vec<_> = requests
        .iter()
        .filter(|r| r.path() == TOKEN_HTTP_AUTH_PATH)
        .collect();
    assert_eq!(sso.len(), 2, "{sso:?}");
    for r in &sso {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.body_text(),
            "grant_type=urn:ovirt:params:oauth:grant-type:http&scope=ovirt-app-api"
        );
        assert_eq!(r.header("accept"), Some("application/json"));
    }
    assert_eq!(sso[0].header("authorization"), None);
    assert!(sso[1]
        .header("authorization")
        .is_some_and(|a| a.starts_with("Negotiate ") && a.len() > 100));
    let api: Vec<_> = requests.iter().filter(|r| r.is_api()).collect();
    assert!(!api.is_empty());
    assert!(api.iter().all(|r| r
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer "))));

    // Neither the token nor the ticket shows in Debug output.
    let token = &negotiate_tokens(&engine)[0];
    assert!(!format!("{connection:?}").contains(token.as_str()));
    connection.close().await.expect("logout");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_requests_in_flight_when_the_token_expires_make_one_kerberos_relogin() {
    let Some(realm) =
        realm("hundred_requests_in_flight_when_the_token_expires_make_one_kerberos_relogin")
    else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    let connection = Connection::builder()
        .url(engine.url_localhost())
        .kerberos(true)
        .kerberos_ccache(ccache_name(&realm.ccache))
        .connections(4)
        .pipeline(16)
        .build()
        .expect("build");
    connection.test().await.expect("first login");
    assert_eq!(engine.logins(), 1);
    // The first of the 100 requests to arrive expires the token: the others are in flight
    // with it.
    engine.program(Rule::get("vms").expire_tokens().times(1));
    let vms = connection.system_service().vms_service();
    let pending: Vec<_> = (0..100).map(|_| vms.list().send()).collect();
    for (i, p) in pending.into_iter().enumerate() {
        let list = p.await.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(list.len(), 5);
    }
    assert_eq!(engine.logins(), 2, "exactly one Kerberos re-login");
    assert_eq!(engine.http_auth_users().len(), 2);
    engine.shutdown().await;
}

#[test]
fn blocking_connection_logs_in_with_kerberos() {
    let Some(realm) = realm("blocking_connection_logs_in_with_kerberos") else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let engine = rt.block_on(engine(&realm.keytab));
    let connection = Connection::builder()
        .url(engine.url_localhost())
        .kerberos(true)
        .kerberos_ccache(ccache_name(&realm.ccache))
        .build_blocking()
        .expect("build");
    connection
        .test()
        .expect("login through the blocking facade");
    assert_eq!(engine.logins(), 1);
    connection.close().expect("logout");
    rt.block_on(engine.shutdown());
}

/// Logs in with `connection` and returns the error's text, checking its kind and that it
/// shows no Negotiate token the engine received.
async fn login_error(engine: &TestEngine, connection: &Connection) -> String {
    let err = connection.test().await.expect_err("the login must fail");
    assert!(matches!(err.kind(), ErrorKind::Authentication), "{err}");
    let text = err.to_string();
    eprintln!("the error: {text}");
    let debug = format!("{err:?}");
    for token in negotiate_tokens(engine) {
        assert!(!text.contains(&token) && !debug.contains(&token), "{text}");
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_say_to_run_kinit() {
    let Some(realm) = realm("no_credentials_say_to_run_kinit") else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    let missing = realm.kdc.dir().join("nobody.ccache");
    let connection = kerberos_connection(&engine.url_localhost(), &ccache_name(&missing));
    let text = login_error(&engine, &connection).await;
    assert!(text.contains("no Kerberos credentials"), "{text}");
    assert!(text.contains("kinit"), "{text}");
    assert_eq!(engine.logins(), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_ticket_says_to_run_kinit_again() {
    let Some(realm) = realm("an_expired_ticket_says_to_run_kinit_again") else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    let ccache = realm.kdc.dir().join("alice-short.ccache");
    realm
        .kdc
        .kinit(USER, PASSWORD, &ccache, Some("2s"))
        .expect("kinit -l 2s");
    // Waits on the ticket's state (klist -s), not for a fixed time.
    realm
        .kdc
        .wait_expired(&ccache, Duration::from_secs(60))
        .expect("the ticket expires");
    let connection = kerberos_connection(&engine.url_localhost(), &ccache_name(&ccache));
    let text = login_error(&engine, &connection).await;
    assert!(text.contains("expired"), "{text}");
    assert!(text.contains("kinit"), "{text}");
    assert_eq!(engine.logins(), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_service_principal_is_named_in_the_error() {
    let Some(realm) = realm("a_host_without_service_principal_is_named_in_the_error") else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    // 127.0.0.1 instead of localhost: the KDC has no HTTP/127.0.0.1.
    let connection = kerberos_connection(&engine.url(), &ccache_name(&realm.ccache));
    let text = login_error(&engine, &connection).await;
    assert!(
        text.contains("no service principal HTTP/127.0.0.1"),
        "{text}"
    );
    assert!(text.contains("host name"), "{text}");
    assert_eq!(engine.logins(), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kdc_says_to_check_krb5_conf() {
    let Some(realm) = realm("an_unreachable_kdc_says_to_check_krb5_conf") else {
        return;
    };
    let engine = engine(&realm.keytab).await;
    // A user of the realm whose KDC nobody runs: the library must ask that KDC for the
    // first ticket (from the client keytab) and cannot reach it.
    let principal = format!("bob@{}", realm.kdc.unreachable_realm());
    let keytab = realm
        .kdc
        .keytab_from_password(&principal, "bob-password")
        .expect("client keytab");
    let connection = Connection::builder()
        .url(engine.url_localhost())
        .kerberos(true)
        .kerberos_ccache("MEMORY:unreachable-kdc-test")
        .kerberos_client_keytab(keytab)
        .build()
        .expect("build");
    let text = login_error(&engine, &connection).await;
    assert!(text.contains("KDC cannot be reached"), "{text}");
    assert!(text.contains("krb5.conf"), "{text}");
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_offer_negotiate_is_named_in_the_error() {
    let Some(realm) = realm("a_server_that_does_not_offer_negotiate_is_named_in_the_error") else {
        return;
    };
    // An engine whose web server authenticates nobody: 401 without a challenge.
    let engine = TestEngine::builder().start().await.expect("engine");
    let connection = kerberos_connection(&engine.url_localhost(), &ccache_name(&realm.ccache));
    let text = login_error(&engine, &connection).await;
    assert!(text.contains("without offering Negotiate"), "{text}");
    assert!(text.contains("no authentication scheme"), "{text}");
    assert!(text.contains("mod_auth_gssapi"), "{text}");
    // One that asks for Basic authentication only.
    engine.program(
        Rule::post(TOKEN_HTTP_AUTH_PATH)
            .status(401)
            .header("WWW-Authenticate", "Basic realm=\"engine\""),
    );
    let text = login_error(&engine, &connection).await;
    assert!(text.contains("(it offered: Basic)"), "{text}");
    assert_eq!(engine.logins(), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_the_server_cannot_read_is_reported_as_rejected() {
    let Some(realm) = realm("a_ticket_the_server_cannot_read_is_reported_as_rejected") else {
        return;
    };
    // The engine holds the keys of HTTP/elsewhere only, not of HTTP/localhost.
    let engine = engine(&realm.other_keytab).await;
    let connection = kerberos_connection(&engine.url_localhost(), &ccache_name(&realm.ccache));
    let text = login_error(&engine, &connection).await;
    assert!(
        text.contains("rejected the Kerberos ticket for HTTP/localhost"),
        "{text}"
    );
    assert!(text.contains("keytab"), "{text}");
    assert_eq!(
        negotiate_tokens(&engine).len(),
        1,
        "one token, no retry loop"
    );
    engine.shutdown().await;
}

#[test]
fn kerberos_needs_no_username_or_password() {
    // (The refusal without the feature is tested in sdk/tests/connection_options.rs.)
    let built = Connection::builder()
        .url("https://localhost/ovirt-engine/api")
        .kerberos(true)
        .build();
    assert!(built.is_ok(), "{built:?}");
}

/// The test engine behind a real Apache httpd with mod_auth_gssapi on the SSO's
/// `token-http-auth`, with TLS (the client trusts Apache's CA through `ca_file`).
struct Front {
    engine: TestEngine,
    apache: Apache,
}

impl Front {
    async fn start(keytab: &std::path::Path, realm: &Realm) -> Option<Front> {
        let engine = TestEngine::builder()
            .vms(5)
            .http_auth_remote_user()
            .start()
            .await
            .expect("test engine");
        let config = ApacheConfig::new(engine.addr()).gssapi(ApacheGssapi::new(realm.kdc, keytab));
        let apache = tokio::task::spawn_blocking(move || Apache::start(&config))
            .await
            .expect("join")
            .expect("Apache with mod_auth_gssapi");
        Some(Front { engine, apache })
    }

    /// The API URL through Apache, with the host written `localhost` (the service
    /// principal is HTTP/localhost).
    fn url(&self) -> String {
        format!(
            "https://localhost:{}/ovirt-engine/api",
            self.apache.addr().port()
        )
    }

    fn connection(&self, realm: &Realm) -> Connection {
        Connection::builder()
            .url(self.url())
            .ca_file(self.apache.ca_file().expect("CA file"))
            .kerberos(true)
            .kerberos_ccache(ccache_name(&realm.ccache))
            .build()
            .expect("build")
    }
}

fn apache_or_skip(test: &str) -> Option<&'static Realm> {
    let realm = realm(test)?;
    if !ovirt_tests::apache::apache_or_skip(test) {
        return None;
    }
    if let Err(e) = ApacheGssapi::new(realm.kdc, &realm.keytab).installed() {
        if std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
            panic!("{test}: {e} (CI=true: Kerberos tests are not skipped)");
        }
        eprintln!("SKIPPED {test}: {e}");
        return None;
    }
    Some(realm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kerberos_login_through_apache_with_mod_auth_gssapi() {
    let Some(realm) = apache_or_skip("kerberos_login_through_apache_with_mod_auth_gssapi") else {
        return;
    };
    let Some(front) = Front::start(&realm.keytab, realm).await else {
        return;
    };
    let connection = front.connection(realm);
    connection
        .test()
        .await
        .unwrap_or_else(|e| panic!("login through Apache: {e}; {}", front.apache.logs()));
    let vms = connection
        .system_service()
        .vms_service()
        .list()
        .await
        .expect("vms");
    assert_eq!(vms.len(), 5);
    // Apache checked the ticket and passed the principal on.
    assert_eq!(front.engine.http_auth_users(), [format!("{USER}@{REALM}")]);
    assert_eq!(front.engine.logins(), 1);
    let sso: Vec<_> = front
        .engine
        .requests()
        .into_iter()
        .filter(|r| r.path() == TOKEN_HTTP_AUTH_PATH)
        .collect();
    assert_eq!(
        sso.len(),
        1,
        "Apache let only the authenticated request through"
    );
    assert_eq!(sso[0].header("x-remote-user"), Some("alice@OVIRT.TEST"));
    connection.close().await.expect("logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_requests_in_flight_through_apache_make_one_kerberos_relogin() {
    let Some(realm) =
        apache_or_skip("hundred_requests_in_flight_through_apache_make_one_kerberos_relogin")
    else {
        return;
    };
    let Some(front) = Front::start(&realm.keytab, realm).await else {
        return;
    };
    let connection = front.connection(realm);
    connection.test().await.expect("first login");
    front
        .engine
        .program(Rule::get("vms").expire_tokens().times(1));
    let vms = connection.system_service().vms_service();
    let pending: Vec<_> = (0..100).map(|_| vms.list().send()).collect();
    for (i, p) in pending.into_iter().enumerate() {
        let list = p.await.unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(list.len(), 5);
    }
    assert_eq!(front.engine.logins(), 2, "exactly one Kerberos re-login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_rejecting_the_ticket_is_reported() {
    let Some(realm) = apache_or_skip("apache_rejecting_the_ticket_is_reported") else {
        return;
    };
    // Apache holds the keys of HTTP/elsewhere only.
    let Some(front) = Front::start(&realm.other_keytab, realm).await else {
        return;
    };
    let connection = front.connection(realm);
    let text = login_error(&front.engine, &connection).await;
    assert!(
        text.contains("rejected the Kerberos ticket for HTTP/localhost"),
        "{text}"
    );
    assert_eq!(front.engine.logins(), 0);
    assert!(front
        .engine
        .requests()
        .iter()
        .all(|r| r.path() != TOKEN_HTTP_AUTH_PATH));
}

/// A writer into a shared buffer, for the log events of one test.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_kerberos_login_logs_neither_the_negotiate_token_nor_the_sso_token() {
    let Some(realm) = realm("a_kerberos_login_logs_neither_the_negotiate_token_nor_the_sso_token")
    else {
        return;
    };
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread runtime: every task of the login runs on this thread, under this
    // subscriber.
    let (negotiate, sso_token) = tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let engine = engine(&realm.keytab).await;
            let connection =
                kerberos_connection(&engine.url_localhost(), &ccache_name(&realm.ccache));
            connection.test().await.expect("login");
            let sso_token = connection.authenticate().await.expect("token");
            let negotiate = negotiate_tokens(&engine);
            connection.close().await.expect("logout");
            engine.shutdown().await;
            (negotiate, sso_token)
        })
    });
    let logs =
        String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(logs.contains("Kerberos login"), "{logs}");
    assert_eq!(negotiate.len(), 1);
    for secret in negotiate.iter().chain([&sso_token]) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the logs: {logs}"
        );
    }
}
