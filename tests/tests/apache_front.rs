//! The sdk through a real Apache httpd 2.4 in front of the test engine, set up as the
//! engine's packaging sets it up (`ovirt_tests::apache`): mod_proxy, mod_deflate, mod_ssl,
//! `MaxKeepAliveRequests 100`, `KeepAliveTimeout 5`, the event MPM.
//!
//! Needs apache2 (`apt-get install apache2`); without it these tests print why they are
//! skipped, and fail under `CI=true`.

use std::time::Duration;

use ovirt::Connection;
use ovirt_test_engine::{RequestCap, TestEngine, PASSWORD, USERNAME};
use ovirt_tests::apache::{apache_or_skip, Apache, ApacheConfig};
use ovirt_tests::inventory::{expected, pipelined};
use ovirt_tests::latency::LatencyProxy;
use ovirt_tests::raw;

/// Starts Apache off the runtime's worker threads (the start polls a connect).
async fn start_apache(config: ApacheConfig) -> Apache {
    tokio::task::spawn_blocking(move || Apache::start(&config))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("starting Apache: {e}"))
}

/// Stops Apache off the runtime's worker threads.
async fn stop_apache(apache: Apache) {
    tokio::task::spawn_blocking(move || drop(apache))
        .await
        .unwrap();
}

fn sdk(url: &str, ca_pem: Option<&str>, connections: usize, pipeline: usize) -> Connection {
    let mut b = Connection::builder()
        .url(url)
        .username(USERNAME)
        .password(PASSWORD)
        .connections(connections)
        .pipeline(pipeline)
        .timeout(Duration::from_secs(60));
    if let Some(pem) = ca_pem {
        b = b.ca_pem(pem.as_bytes().to_vec());
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_through_apache_fails_no_request_at_5x8_10x40_and_20x64() {
    if !apache_or_skip("the_inventory_through_apache_fails_no_request_at_5x8_10x40_and_20x64") {
        return;
    }
    let engine = TestEngine::builder()
        .vms(300)
        .record(false)
        .start()
        .await
        .unwrap();
    let apache = start_apache(ApacheConfig::new(engine.addr())).await;
    let expected = expected(&engine.inventory());
    for (connections, pipeline) in [(5, 8), (10, 40), (20, 64)] {
        // A pass-through proxy in front of Apache counts the client's connections.
        let proxy = LatencyProxy::start(apache.addr(), Duration::ZERO)
            .await
            .unwrap();
        let conn = sdk(
            &apache.url_via(proxy.addr()),
            apache.ca_pem(),
            connections,
            pipeline,
        );
        // Three rounds of 901 requests on the same connection pool: more than the
        // 101 requests per connection Apache allows times the client's connections, so
        // connections are closed by Apache and replaced in every configuration.
        let mut requests = 1; // the login
        for round in 1..=3 {
            let out = pipelined(&conn.system_service()).await;
            assert_eq!(
                out.failed,
                0,
                "{connections}x{pipeline}, round {round}: {} of {} requests failed: {:?}\n{}",
                out.failed,
                out.requests,
                out.errors,
                apache.logs()
            );
            assert_eq!(out.counts, expected, "{connections}x{pipeline}");
            requests += out.requests;
        }
        let used = proxy.connections_accepted();
        assert!(requests > connections * 101);
        assert!(
            used > connections,
            "{connections}x{pipeline}: {requests} requests on {used} connections: \
             Apache's cap must have closed some"
        );
        let _ = conn.close().await;
    }
    stop_apache(apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_gzips_xml_and_the_sdk_reads_it() {
    if !apache_or_skip("apache_gzips_xml_and_the_sdk_reads_it") {
        return;
    }
    let engine = TestEngine::builder().vms(20).start().await.unwrap();
    let apache = start_apache(ApacheConfig::new(engine.addr())).await;
    // On the wire: a request accepting gzip gets a gzip body from an engine that itself
    // never compresses.
    let client = http1_pipeline::Client::builder(&apache.origin())
        .add_ca_pem(apache.ca_pem().unwrap().as_bytes().to_vec())
        .tls_system_roots(false)
        .gzip(false)
        .build()
        .unwrap();
    let token = engine.issue_token();
    let resp = client
        .send(
            http1_pipeline::Request::get("/ovirt-engine/api/vms")
                .header("Version", "4")
                .header("Accept", "application/xml")
                .header("Accept-Encoding", "gzip")
                .header("Authorization", format!("Bearer {token}")),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("content-encoding"), Some("gzip"));
    let body = resp.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(engine
        .requests()
        .iter()
        .all(|r| r.header("expect").is_none()));
    // The sdk asks for gzip (its default) and reads the same documents.
    let conn = sdk(&apache.url(), apache.ca_pem(), 2, 8);
    let out = pipelined(&conn.system_service()).await;
    assert_eq!(out.failed, 0, "{:?}", out.errors);
    assert_eq!(out.counts, expected(&engine.inventory()));
    assert!(engine.api_requests().iter().any(|r| r
        .header("accept-encoding")
        .is_some_and(|v| v.contains("gzip"))));
    let _ = conn.close().await;
    stop_apache(apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_and_the_engine_announce_and_enforce_the_same_request_budget() {
    if !apache_or_skip("apache_and_the_engine_announce_and_enforce_the_same_request_budget") {
        return;
    }
    // The engine with the cap that matches Apache's `MaxKeepAliveRequests 100`.
    let engine = TestEngine::builder()
        .request_cap(Some(RequestCap::Announced(101)))
        .idle_timeout(Some(Duration::from_secs(5)))
        .start()
        .await
        .unwrap();
    // Apache in plain HTTP, in front of an engine without a cap.
    let backend = TestEngine::builder().start().await.unwrap();
    let apache = start_apache(ApacheConfig::new(backend.addr()).tls(false)).await;
    let requests: Vec<Vec<u8>> = (0..105)
        .map(|_| {
            raw::get(
                "/ovirt-engine/api",
                &["Version: 4", "Connection: keep-alive"],
            )
        })
        .collect();
    let (a, e) = (apache.addr(), engine.addr());
    let r2 = requests.clone();
    let (through_apache, direct) = tokio::task::spawn_blocking(move || {
        (
            raw::pipeline(a, &requests, Duration::from_secs(30)).unwrap(),
            raw::pipeline(e, &r2, Duration::from_secs(30)).unwrap(),
        )
    })
    .await
    .unwrap();
    for (who, x) in [("Apache", &through_apache), ("engine", &direct)] {
        assert!(x.closed, "{who} closes after the last answered request");
        assert_eq!(x.responses.len(), 101, "{who}");
        assert_eq!(
            x.responses[0].header("keep-alive"),
            Some("timeout=5, max=100"),
            "{who}"
        );
        assert_eq!(
            x.responses[99].header("keep-alive"),
            Some("timeout=5, max=1"),
            "{who}"
        );
        assert!(x.responses[100].connection_has("close"), "{who}");
        assert!(x.responses.iter().all(|r| r.status == 401), "{who}");
    }
    // The 4 requests behind the 101st never reached the engine through Apache either.
    assert_eq!(backend.requests().len(), 101);
    assert_eq!(engine.requests().len(), 101);
    stop_apache(apache).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_carries_on_after_apache_closed_its_idle_connections() {
    if !apache_or_skip("the_sdk_carries_on_after_apache_closed_its_idle_connections") {
        return;
    }
    let engine = TestEngine::builder().vms(40).start().await.unwrap();
    let apache =
        start_apache(ApacheConfig::new(engine.addr()).keep_alive_timeout(Duration::from_secs(1)))
            .await;
    let conn = sdk(&apache.url(), apache.ca_pem(), 3, 8);
    let system = conn.system_service();
    let first = pipelined(&system).await;
    assert_eq!(first.failed, 0, "{:?}", first.errors);
    // Idle past KeepAliveTimeout: wait until Apache holds no client connection any more
    // (closed by Apache's timeout, or by the client before it).
    let apache = tokio::task::spawn_blocking(move || {
        apache
            .wait_status(Duration::from_secs(30), |s| s.conns_total == 0)
            .unwrap_or_else(|e| panic!("{e}"));
        apache
    })
    .await
    .unwrap();
    let second = pipelined(&system).await;
    assert_eq!(
        second.failed, 0,
        "after Apache's keep-alive timeout: {:?}",
        second.errors
    );
    assert_eq!(second.counts, expected(&engine.inventory()));
    let _ = conn.close().await;
    stop_apache(apache).await;
}
