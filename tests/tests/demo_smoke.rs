//! The pipelining demo and the load generators deliver every response to the request
//! that asked for it. No timing is asserted here; speed belongs to the benchmark.

use std::time::Duration;

use ovirt_tests::latency::LatencyProxy;
use ovirt_tests::load::{expected_bodies, run_gets, ClientKind};
use ovirt_tests::server::ItemServer;

#[tokio::test]
async fn demo_delivers_twenty_correct_responses_per_run() {
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        ovirt_tests::demo::run(20, Duration::ZERO, 1024),
    )
    .await
    .expect("the demo did not finish within 60 s")
    .expect("the demo failed");
    assert_eq!(report.requests, 20);
    // Both runs checked every body against the item they asked for.
    assert_eq!(report.served, 40);
}

#[tokio::test]
async fn a_run_fails_when_a_response_does_not_match_its_item() {
    let (addr, _server) = ItemServer::start(64).await.unwrap();
    // Expect other items than the server sends for these paths.
    let mut wrong = expected_bodies(10, 64);
    wrong.swap(3, 4);
    for kind in [
        ClientKind::PipelineCore {
            connections: 2,
            depth: 4,
        },
        ClientKind::Reqwest { connections: 2 },
    ] {
        let err = tokio::time::timeout(Duration::from_secs(60), run_gets(kind, addr, &wrong))
            .await
            .expect("the run did not finish within 60 s")
            .expect_err("a mismatching body must fail the run");
        let message = err.to_string();
        assert!(
            message.contains("/items/3") || message.contains("/items/4"),
            "{}: {message}",
            kind.name()
        );
    }
}

#[tokio::test]
async fn pipelined_runs_through_the_emulator_deliver_every_item() {
    let (addr, server) = ItemServer::start(1024).await.unwrap();
    let proxy = LatencyProxy::start(addr, Duration::from_millis(2))
        .await
        .unwrap();
    let expected = expected_bodies(300, 1024);
    for kind in [
        ClientKind::PipelineCore {
            connections: 3,
            depth: 16,
        },
        ClientKind::Reqwest { connections: 5 },
    ] {
        tokio::time::timeout(
            Duration::from_secs(60),
            run_gets(kind, proxy.addr(), &expected),
        )
        .await
        .expect("the run did not finish within 60 s")
        .unwrap_or_else(|e| panic!("{}: {e}", kind.name()));
    }
    assert_eq!(server.requests(), 600);
}

#[tokio::test]
async fn reqwest_runs_open_at_most_one_connection_per_worker() {
    let (addr, server) = ItemServer::start(1024).await.unwrap();
    let expected = expected_bodies(500, 1024);
    run_gets(ClientKind::Reqwest { connections: 5 }, addr, &expected)
        .await
        .unwrap();
    assert!(
        server.connections() <= 5,
        "reqwest opened {} connections",
        server.connections()
    );
}
