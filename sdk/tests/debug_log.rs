//! The debug log users switch on (`ovirt::request`, `ovirt::response`, `ovirt::body`):
//! request lines with full URLs, statuses, timings and, when asked, bodies; never a
//! password, a token or another secret. Against the test engine.

mod connection_common;

use connection_common::options;
use ovirt::types::{Cluster, Initialization, Template, Vm};
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

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A subscriber with the documented filter, writing into the returned capture.
fn subscriber(filter: &str) -> (Capture, impl tracing::Subscriber + Send + Sync) {
    let capture = Capture::default();
    let s = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    (capture, s)
}

const PASSWORD: &str = "very-secret-pw";
const ROOT_PASSWORD: &str = "root-secret-9";

async fn session(log_bodies: bool) -> (TestEngine, String, String) {
    let e = TestEngine::builder()
        .vms(2)
        .user(USERNAME, PASSWORD)
        .start()
        .await
        .unwrap();
    let conn = options(&e)
        .password(PASSWORD)
        .log_bodies(log_bodies)
        .build()
        .unwrap();
    let vms = conn.system_service().vms_service();
    vms.list().search("name=vm-0001").await.unwrap();
    let added = vms
        .add()
        .vm(Vm::new()
            .name("logged")
            .cluster(Cluster::new().name("Default"))
            .template(Template::new().name("Blank"))
            .initialization(Initialization::new().root_password(ROOT_PASSWORD)))
        .await
        .unwrap();
    let token = conn.authenticate().await.unwrap();
    conn.close().await.unwrap();
    (e, token, added.id.unwrap_or_default())
}

#[tokio::test]
async fn the_log_has_request_lines_statuses_and_timings_and_no_secret() {
    let (capture, s) = subscriber("ovirt::request=debug,ovirt::response=debug,ovirt::body=trace");
    // The test runtime is single-threaded, so the thread's default covers every task.
    let _guard = tracing::subscriber::set_default(s);
    let (e, token, _) = session(true).await;
    let log = capture.text();
    let origin = e.origin();
    assert!(
        log.contains(&format!(
            "GET {origin}/ovirt-engine/api/vms?search=name%3Dvm-0001"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("POST {origin}/ovirt-engine/api/vms")),
        "{log}"
    );
    assert!(log.contains("ovirt::request"), "{log}");
    assert!(log.contains("ovirt::response"), "{log}");
    assert!(log.contains("status=200"), "{log}");
    assert!(log.contains("ms="), "{log}");
    assert!(log.contains("(SSO login)"), "{log}");
    assert!(log.contains("Authorization: Bearer ***"), "{log}");
    // Bodies, asked for: the VM sent, the SSO form, with secrets redacted.
    assert!(log.contains("ovirt::body"), "{log}");
    assert!(log.contains("<name>logged</name>"), "{log}");
    assert!(log.contains("<root_password>***</root_password>"), "{log}");
    assert!(log.contains("password=***"), "{log}");
    assert!(log.contains("\"access_token\":\"***\""), "{log}");
    for secret in [PASSWORD, ROOT_PASSWORD, token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} in {log}");
    }
}

#[tokio::test]
async fn without_log_bodies_no_body_is_logged_even_at_trace() {
    let (capture, s) = subscriber("trace");
    let _guard = tracing::subscriber::set_default(s);
    let (_e, token, _) = session(false).await;
    let log = capture.text();
    assert!(log.contains("status=200"), "{log}");
    assert!(!log.contains("ovirt::body"), "{log}");
    assert!(!log.contains("<name>logged</name>"), "{log}");
    for secret in [PASSWORD, ROOT_PASSWORD, token.as_str()] {
        assert!(!log.contains(secret), "{secret:?} in {log}");
    }
}
