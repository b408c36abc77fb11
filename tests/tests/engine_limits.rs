//! The test engine's connection limits (a request cap announced like Apache's or not
//! announced, an idle timeout, a server time per request), seen on the wire through a raw
//! pipelined connection, and survived by the sdk.

use std::time::Duration;

use ovirt::Connection;
use ovirt_test_engine::{RequestCap, TestEngine, PASSWORD, USERNAME};
use ovirt_tests::inventory::{expected, pipelined};
use ovirt_tests::raw;

/// `n` pipelined `GET`s of the API root (answered 401: no token), asking for keep-alive.
fn gets(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            raw::get(
                "/ovirt-engine/api",
                &["Version: 4", "Connection: keep-alive"],
            )
        })
        .collect()
}

async fn exchange(engine: &TestEngine, n: usize) -> raw::RawExchange {
    let addr = engine.addr();
    tokio::task::spawn_blocking(move || raw::pipeline(addr, &gets(n), Duration::from_secs(20)))
        .await
        .unwrap()
        .unwrap()
}

fn connection(url: &str, connections: usize, pipeline: usize) -> Connection {
    Connection::builder()
        .url(url)
        .username(USERNAME)
        .password(PASSWORD)
        .connections(connections)
        .pipeline(pipeline)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announced_cap_counts_down_in_keep_alive_and_closes_after_the_nth_response() {
    let engine = TestEngine::builder()
        .request_cap(Some(RequestCap::Announced(5)))
        .idle_timeout(Some(Duration::from_secs(5)))
        .start()
        .await
        .unwrap();
    let x = exchange(&engine, 8).await;
    assert!(x.closed, "the engine must close after the 5th response");
    assert!(x.trailing.is_empty(), "{:?}", x.trailing);
    assert_eq!(x.responses.len(), 5, "{:#?}", x.responses);
    for (i, r) in x.responses[..4].iter().enumerate() {
        assert_eq!(r.status, 401);
        let left = 4 - i;
        assert_eq!(
            r.header("keep-alive"),
            Some(format!("timeout=5, max={left}").as_str()),
            "response {}",
            i + 1
        );
        assert!(r.connection_has("keep-alive"), "{r:?}");
        assert!(!r.connection_has("close"), "{r:?}");
    }
    let last = &x.responses[4];
    assert!(last.connection_has("close"), "{last:?}");
    assert_eq!(last.header("keep-alive"), None);
    // The requests pipelined behind the 5th were never read.
    assert_eq!(engine.requests().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_alive_in_the_request_the_cap_is_not_announced_until_the_close() {
    let engine = TestEngine::builder()
        .request_cap(Some(RequestCap::Announced(3)))
        .start()
        .await
        .unwrap();
    let addr = engine.addr();
    let requests: Vec<Vec<u8>> = (0..4)
        .map(|_| raw::get("/ovirt-engine/api", &["Version: 4"]))
        .collect();
    let x = tokio::task::spawn_blocking(move || {
        raw::pipeline(addr, &requests, Duration::from_secs(20))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(x.closed);
    assert_eq!(x.responses.len(), 3);
    assert!(x.responses[..2]
        .iter()
        .all(|r| r.header("keep-alive").is_none() && !r.connection_has("close")));
    assert!(x.responses[2].connection_has("close"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unannounced_cap_closes_after_the_nth_response_without_a_word() {
    let engine = TestEngine::builder()
        .request_cap(Some(RequestCap::Unannounced(5)))
        .start()
        .await
        .unwrap();
    let x = exchange(&engine, 8).await;
    assert!(x.closed, "the engine must close after the 5th response");
    assert_eq!(x.responses.len(), 5, "{:#?}", x.responses);
    for r in &x.responses {
        assert_eq!(r.status, 401);
        assert!(!r.connection_has("close"), "{r:?}");
        assert_eq!(r.header("keep-alive"), None, "{r:?}");
    }
    assert_eq!(engine.requests().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timeout_closes_a_connection_that_sends_nothing_more() {
    let engine = TestEngine::builder()
        .idle_timeout(Some(Duration::from_secs(1)))
        .start()
        .await
        .unwrap();
    // Read until the engine closes: the one response, then the close of the idle
    // connection (the read timeout of 20 s is only a bound).
    let x = exchange(&engine, 1).await;
    assert!(x.closed, "the idle connection must be closed by the engine");
    assert_eq!(x.responses.len(), 1);
    assert_eq!(x.responses[0].header("keep-alive"), Some("timeout=1"));
    tokio::time::timeout(
        Duration::from_secs(20),
        engine.wait_open_connections_at_most(0),
    )
    .await
    .expect("the engine's connection count goes back to 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_server_time_the_requests_of_one_connection_are_handled_one_after_another() {
    let engine = TestEngine::builder()
        .server_time(Some(Duration::from_millis(30)))
        .start()
        .await
        .unwrap();
    let addr = engine.addr();
    let mut requests = gets(5);
    // The last asks the engine to close, which ends the read.
    requests.push(raw::get(
        "/ovirt-engine/api",
        &["Version: 4", "Connection: close"],
    ));
    let x = tokio::task::spawn_blocking(move || {
        raw::pipeline(addr, &requests, Duration::from_secs(20))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(x.closed);
    assert_eq!(x.responses.len(), 6);
    assert_eq!(engine.max_concurrent_requests_per_connection(), 1);
    assert_eq!(engine.requests().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_server_time_a_request_outlasting_the_client_timeout_times_out() {
    let engine = TestEngine::builder()
        .server_time(Some(Duration::from_millis(800)))
        .start()
        .await
        .unwrap();
    let conn = Connection::builder()
        .url(engine.url())
        .username(USERNAME)
        .password(PASSWORD)
        .timeout(Duration::from_millis(50))
        .max_retries(0)
        .build()
        .unwrap();
    let err = conn
        .authenticate()
        .await
        .expect_err("the login must time out");
    assert!(err.is_timeout(), "{err}");
}

/// The inventory of `vms` VMs through the sdk at (connections, pipeline), against an
/// engine built by `builder`; 0 failed requests expected.
async fn inventory_survives(
    engine: TestEngine,
    connections: usize,
    pipeline: usize,
    retries: Option<u32>,
) -> TestEngine {
    let mut b = Connection::builder()
        .url(engine.url())
        .username(USERNAME)
        .password(PASSWORD)
        .connections(connections)
        .pipeline(pipeline)
        .timeout(Duration::from_secs(60));
    if let Some(r) = retries {
        b = b.max_retries(r);
    }
    let conn = b.build().unwrap();
    let out = pipelined(&conn.system_service()).await;
    assert_eq!(out.failed, 0, "failed requests: {:?}", out.errors);
    assert_eq!(out.counts, expected(&engine.inventory()));
    let _ = conn.close().await;
    engine
}

/// Largest number of requests the engine received on one connection.
fn busiest_connection(engine: &TestEngine) -> usize {
    let mut per = std::collections::HashMap::new();
    for r in engine.requests() {
        *per.entry(r.connection).or_insert(0usize) += 1;
    }
    per.values().copied().max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_reads_the_inventory_across_announced_closes() {
    let engine = TestEngine::builder()
        .vms(150)
        .request_cap(Some(RequestCap::Announced(25)))
        .idle_timeout(Some(Duration::from_secs(5)))
        .start()
        .await
        .unwrap();
    let engine = inventory_survives(engine, 4, 16, None).await;
    assert!(busiest_connection(&engine) <= 25);
    // 451 requests and a login, at most 25 per connection.
    assert!(engine.connections() >= 19, "{}", engine.connections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_reads_the_inventory_across_unannounced_closes() {
    let engine = TestEngine::builder()
        .vms(150)
        .request_cap(Some(RequestCap::Unannounced(25)))
        .start()
        .await
        .unwrap();
    // An unannounced close costs the requests written behind the last response an
    // attempt each; give them room.
    let engine = inventory_survives(engine, 4, 8, Some(8)).await;
    assert!(busiest_connection(&engine) <= 25);
    assert!(engine.connections() >= 19, "{}", engine.connections());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_reads_the_inventory_with_a_server_time_per_request() {
    let engine = TestEngine::builder()
        .vms(60)
        .server_time(Some(Duration::from_millis(2)))
        .start()
        .await
        .unwrap();
    let engine = inventory_survives(engine, 5, 8, None).await;
    assert_eq!(engine.max_concurrent_requests_per_connection(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_carries_on_after_the_engine_closed_its_idle_connections() {
    let engine = TestEngine::builder()
        .vms(40)
        .idle_timeout(Some(Duration::from_secs(1)))
        .start()
        .await
        .unwrap();
    let conn = connection(&engine.url(), 3, 8);
    let system = conn.system_service();
    let first = pipelined(&system).await;
    assert_eq!(first.failed, 0, "{:?}", first.errors);
    assert!(engine.open_connections() > 0 || engine.connections() > 0);
    // Idle past the engine's timeout: wait until the engine (or the client) closed them.
    tokio::time::timeout(
        Duration::from_secs(30),
        engine.wait_open_connections_at_most(0),
    )
    .await
    .expect("idle connections are closed");
    let second = pipelined(&system).await;
    assert_eq!(
        second.failed, 0,
        "after the idle close: {:?}",
        second.errors
    );
    assert_eq!(second.counts, expected(&engine.inventory()));
    let _ = conn.close().await;
}
