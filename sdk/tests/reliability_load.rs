//! Reliability under load: tokens expiring with many requests in flight (R4.5).

mod connection_common;

use connection_common::{connect, engine, get, ids_of};
use futures_util::future::join_all;
use ovirt_test_engine::Rule;

#[tokio::test]
async fn token_expiring_with_a_hundred_requests_in_flight_causes_exactly_one_new_login() {
    // R4.5
    let e = engine(100).await;
    let conn = connect(&e);
    conn.authenticate().await.unwrap();
    assert_eq!(e.logins(), 1);
    // The first request the engine handles makes every token expire, so every request
    // it handles from then on (on any connection) is answered 401.
    e.program(Rule::get("vms/*").expire_tokens().times(1));
    let ids: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    assert_eq!(ids.len(), 100);
    // The token is at hand, so all 100 requests are on their way before any is awaited.
    let pending: Vec<_> = ids
        .iter()
        .map(|id| get(&conn, &format!("vms/{id}")))
        .collect();
    let results = join_all(pending).await;
    for (id, r) in ids.iter().zip(results) {
        let raw = r.unwrap_or_else(|err| panic!("vms/{id}: {err}"));
        assert_eq!(raw.status, 200, "vms/{id}");
        assert_eq!(
            ids_of(&String::from_utf8_lossy(&raw.body), "vm"),
            vec![id.clone()]
        );
    }
    // The first login plus exactly one new login for all the 401s.
    assert_eq!(e.logins(), 2);
    let unauthorized = e.unauthorized();
    assert!(unauthorized >= 1);
    // Each 401 was re-sent exactly once.
    assert_eq!(e.api_requests().len(), 100 + unauthorized);
}
