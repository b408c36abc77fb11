//! Closing a connection with requests in flight (R5.3): they finish before the token is
//! revoked, or, held past the close timeout, end with a clear error of their own while
//! the close still revokes the token.

mod connection_common;

use connection_common::{get, ids_of, options};
use futures_util::future::join_all;
use ovirt_test_engine::{Rule, TestEngine};
use std::time::Duration;

async fn engine(vms: usize) -> TestEngine {
    TestEngine::builder().vms(vms).start().await.unwrap()
}

#[tokio::test]
async fn close_lets_requests_in_flight_finish_then_revokes_the_token() {
    // The engine holds each request 200 ms; the close timeout is far longer.
    let e = engine(3).await;
    e.program(Rule::get("vms").delay(Duration::from_millis(200)));
    let conn = options(&e)
        .logout_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    conn.authenticate().await.unwrap();
    let pending: Vec<_> = (0..5).map(|_| get(&conn, "vms")).collect();
    conn.close().await.unwrap();
    assert_eq!(e.revocations(), 1);
    for r in join_all(pending).await {
        let raw = r.unwrap();
        assert_eq!(raw.status, 200);
        assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 3);
    }
    // No request was refused for a revoked token, and none logged in again.
    assert_eq!(e.unauthorized(), 0);
    assert_eq!(e.logins(), 1);
    // Calls after the close fail at once and clearly.
    let err = get(&conn, "vms").await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

#[tokio::test]
async fn close_gives_up_waiting_at_its_timeout_and_still_revokes_the_token() {
    // The engine holds the requests far longer than the close timeout; they end at their
    // own request timeout with a clear error naming them.
    let e = engine(1).await;
    e.program(Rule::get("vms").delay(Duration::from_secs(20)));
    let conn = options(&e)
        .logout_timeout(Duration::from_millis(100))
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    conn.authenticate().await.unwrap();
    // The token is at hand, so the requests are sent before `get` returns.
    let pending: Vec<_> = (0..3).map(|_| get(&conn, "vms")).collect();
    conn.close().await.unwrap();
    assert_eq!(e.revocations(), 1);
    for r in join_all(pending).await {
        let err = r.unwrap_err();
        let text = err.to_string();
        assert!(err.is_timeout() || text.contains("closed"), "{err:?}");
        assert!(text.contains("GET"), "{text}");
        assert!(text.contains("/ovirt-engine/api/vms"), "{text}");
    }
}
