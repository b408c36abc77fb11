//! Secrets never leak (R5.4): a whole session (login, requests, re-login, errors, logout)
//! traced at TRACE level leaves neither the password nor any token issued by the engine
//! in the log, in any error's Display or Debug text, or in the Debug output of the
//! connection and its builder.

mod connection_common;

use connection_common::{get, get_checked, options};
use ovirt_test_engine::{Rule, TestEngine, USERNAME};
use std::io::Write;
use std::sync::{Arc, Mutex};

const PASSWORD: &str = "pw-that-must-not-leak-7d1";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} leaks a secret: {text}"
        );
    }
    // Every token the engine issues starts like this, including any we did not see.
    assert!(
        !text.contains("test-engine-token-"),
        "{what} leaks a token: {text}"
    );
}

#[tokio::test]
async fn a_traced_session_with_errors_leaks_no_password_or_token() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    // The test runtime is single-threaded, so the thread's default covers every task.
    let _guard = tracing::subscriber::set_default(subscriber);
    let e = TestEngine::builder()
        .vms(2)
        .user(USERNAME, PASSWORD)
        .start()
        .await
        .unwrap();
    // The SSO answers a bad login with the usual error, and the API a 404 with a fault.
    e.program(
        Rule::get("vms/missing")
            .status(404)
            .xml("<fault><reason>Not Found</reason><detail>no such vm</detail></fault>"),
    );
    let mut texts: Vec<(String, String)> = Vec::new();

    let builder = options(&e).password(PASSWORD);
    texts.push(("builder Debug".into(), format!("{builder:?}")));
    let conn = builder.build().unwrap();

    // Login and requests.
    let first = conn.authenticate().await.unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    texts.push(("connection Debug".into(), format!("{conn:?}")));

    // Re-login after the engine forgets the token.
    e.expire_tokens();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    let second = conn.authenticate().await.unwrap();
    assert_ne!(first, second);
    assert_eq!(e.logins(), 2);
    texts.push((
        "connection Debug after re-login".into(),
        format!("{conn:?}"),
    ));

    // An API error.
    let err = get_checked(&conn, "vms/missing").await.unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    texts.push(("404 error Display".into(), err.to_string()));
    texts.push(("404 error Debug".into(), format!("{err:?}")));

    // A login refused: wrong password, then a token the engine does not accept.
    let bad = options(&e)
        .password(format!("{PASSWORD}-wrong"))
        .build()
        .unwrap();
    let err = get(&bad, "vms").await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    texts.push(("bad login error Display".into(), err.to_string()));
    texts.push(("bad login error Debug".into(), format!("{err:?}")));
    texts.push(("bad connection Debug".into(), format!("{bad:?}")));
    let stale = ovirt::Connection::builder()
        .url(e.url())
        .token(first.clone())
        .build()
        .unwrap();
    let err = get_checked(&stale, "vms").await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    texts.push(("stale token error Display".into(), err.to_string()));
    texts.push(("stale token error Debug".into(), format!("{err:?}")));
    texts.push(("stale token connection Debug".into(), format!("{stale:?}")));

    // Logout.
    conn.close().await.unwrap();
    assert_eq!(e.revocations(), 1);
    let err = get(&conn, "vms").await.unwrap_err();
    texts.push(("closed error Display".into(), err.to_string()));
    texts.push(("closed error Debug".into(), format!("{err:?}")));
    texts.push(("closed connection Debug".into(), format!("{conn:?}")));

    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    // The log did record the session (so the check below is not vacuous).
    assert!(log.contains("status=401"), "{log}");
    assert!(log.contains("/ovirt-engine/api/vms"), "{log}");
    texts.push(("log".into(), log));

    let secrets = vec![PASSWORD.to_string(), first, second];
    for (what, text) in &texts {
        assert_clean(what, text, &secrets);
    }
}
