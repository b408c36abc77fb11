//! Errors a user can act on: `Debug` reads like `Display` with the kind, every error names
//! the full URL, the reason phrase is kept, and the usual mistakes (an untrusted CA, an
//! `http://` URL of a TLS port, a wrong API path, a wrong password) say what to do. Against
//! the test engine, a closed port, or a TLS server.

mod connection_common;

use connection_common::{connect, engine, options, tls_engine};
use ovirt::error::ErrorKind;
use ovirt::Connection;
use ovirt_test_engine::{TestEngine, USERNAME};

fn show(e: &ovirt::Error) -> (String, String) {
    (e.to_string(), format!("{e:?}"))
}

#[tokio::test]
async fn debug_reads_like_display_after_the_kind_with_the_full_url_and_reason() {
    let e = engine(1).await;
    let conn = connect(&e);
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service("no-such-vm")
        .get()
        .await
        .unwrap_err();
    let (text, debug) = show(&vm);
    let url = format!("{}/ovirt-engine/api/vms/no-such-vm", e.origin());
    assert_eq!(
        text,
        format!("GET {url}: not found (HTTP 404 Not Found)"),
        "{debug}"
    );
    assert_eq!(debug, format!("NotFound: {text}"));
    assert_eq!(vm.http_reason(), Some("Not Found"));
    // The README's pattern: `main` returning the error prints its `Debug`.
    assert!(!debug.contains("Error {"), "{debug}");
}

#[tokio::test]
async fn a_refused_connection_names_the_url_and_keeps_its_cause() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let conn = Connection::builder()
        .url(format!("http://{addr}/ovirt-engine/api"))
        .token("t")
        .max_retries(0)
        .build()
        .unwrap();
    let err = conn
        .system_service()
        .vms_service()
        .list()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    let (text, debug) = show(&err);
    assert!(
        text.starts_with(&format!(
            "GET http://{addr}/ovirt-engine/api/vms: connection failed"
        )),
        "{text}"
    );
    assert!(
        text.contains("was not sent") || text.contains("not processed"),
        "{text}"
    );
    assert!(debug.starts_with("Connection: GET http://"), "{debug}");
    // The operating system's reason is in the message or in the causes listed.
    assert!(debug.to_lowercase().contains("refused"), "{debug}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn an_untrusted_ca_says_to_pass_ca_file() {
    let e = tls_engine(1).await;
    // Trusting only a CA that did not sign the engine's certificate.
    let other = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let other = other
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let conn = Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(ovirt_test_engine::PASSWORD)
        .ca_pem(other.pem().into_bytes())
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ca_file"), "{text}");
    assert!(text.contains(&e.origin()), "{text}");
    assert!(err.hint_text().is_some_and(|h| h.contains("ca_file")));
}

#[tokio::test]
async fn plain_http_to_a_tls_port_says_to_use_https_and_not_that_the_login_may_have_run() {
    let e = tls_engine(1).await;
    let url = e.url().replacen("https://", "http://", 1);
    let conn = Connection::builder()
        .url(url)
        .username(USERNAME)
        .password(ovirt_test_engine::PASSWORD)
        .max_retries(0)
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    let (text, debug) = show(&err);
    assert!(text.contains("https://"), "{debug}");
    assert!(text.contains("/ovirt-engine/sso/oauth/token"), "{debug}");
    assert!(!text.contains("may have been processed"), "{debug}");
    assert!(text.contains("the request was not processed"), "{debug}");
    assert!(!err.may_have_been_processed(), "{debug}");
    assert_eq!(e.logins(), 0);
}

#[tokio::test]
async fn a_404_of_the_api_root_asks_whether_the_path_is_right() {
    let e = engine(1).await;
    let conn = options(&e)
        .url(format!("{}/ovirt-engine/apii", e.origin()))
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("is /ovirt-engine/apii the right path"),
        "{text}"
    );
    assert!(
        text.contains(&format!("GET {}/ovirt-engine/apii", e.origin())),
        "{text}"
    );
    // A list of the wrong path says the same.
    let err = conn
        .system_service()
        .vms_service()
        .list()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is /ovirt-engine/apii the right path"),
        "{err}"
    );
    // A missing object of the right path does not.
    let right = connect(&e);
    let err = right
        .system_service()
        .vms_service()
        .vm_service("missing")
        .get()
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("right path"), "{err}");
}

#[tokio::test]
async fn a_wrong_password_shows_the_sso_services_own_words_once() {
    let e = engine(1).await;
    let conn = options(&e).password("wrong").build().unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(err.is_authentication(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("The username or password is incorrect."),
        "{text}"
    );
    assert_eq!(text.matches("authentication failed").count(), 1, "{text}");
    assert!(!text.contains("SSO authentication failed"), "{text}");
    assert!(
        text.starts_with(&format!("POST {}/ovirt-engine/sso/oauth/token", e.origin())),
        "{text}"
    );
    assert!(text.contains("HTTP 400 Bad Request"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password is never shown: {text}"
    );
}

#[tokio::test]
async fn no_debug_shows_a_successful_body() {
    // A 2xx answer that is not the document expected: its body is not quoted.
    let e: TestEngine = engine(1).await;
    e.program(
        ovirt_test_engine::Rule::get("vms")
            .status(200)
            .xml("<vms><vm id=\"1\"><name>secret-name</name></vm"),
    );
    let conn = connect(&e);
    let err = conn
        .system_service()
        .vms_service()
        .list()
        .await
        .unwrap_err();
    let (text, debug) = show(&err);
    assert!(!text.contains("secret-name"), "{text}");
    assert!(!debug.contains("secret-name"), "{debug}");
    // The raw response's `Debug` shows the body's length only.
    let raw = connection_common::get(&conn, "vms").await.unwrap();
    let debug = format!("{raw:?}");
    assert!(!debug.contains("secret-name"), "{debug}");
    assert!(debug.contains("body_len"), "{debug}");
}
