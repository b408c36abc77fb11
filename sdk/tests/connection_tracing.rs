//! Tracing at debug level shows requests and responses, never secrets (docs/wire.md R5.4).

mod connection_common;

use connection_common::{get, options};
use ovirt_test_engine::{TestEngine, USERNAME};
use std::io::Write;
use std::sync::{Arc, Mutex};

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

#[tokio::test]
async fn debug_log_shows_requests_and_responses_but_no_secrets() {
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
        .user(USERNAME, "very-secret-pw")
        .start()
        .await
        .unwrap();
    let conn = options(&e).password("very-secret-pw").build().unwrap();
    let vm = e.inventory().vms[1].id.clone();
    assert_eq!(get(&conn, &format!("vms/{vm}")).await.unwrap().status, 200);
    e.expire_tokens();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    let token = conn.authenticate().await.unwrap();
    conn.close().await.unwrap();
    let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("GET"), "{log}");
    assert!(
        log.contains(&format!("/ovirt-engine/api/vms/{vm}")),
        "{log}"
    );
    assert!(log.contains("status=200"), "{log}");
    assert!(log.contains("status=401"), "{log}");
    assert!(!log.contains("very-secret-pw"), "{log}");
    assert!(!log.contains(&token), "{log}");
    assert!(!log.contains("test-engine-token-"), "{log}");
}
