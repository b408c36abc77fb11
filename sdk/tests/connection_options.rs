//! Options of a `Connection` that the test engine can observe: headers (docs/wire.md R5.4, R1.9,
//! R1.10), TLS trust, compression, SSO URLs, time limits, connection count, and the
//! configuration errors.

mod connection_common;

use connection_common::{
    call, call_with, connect, engine, get, get_checked, ids_of, options, tls_engine,
};
use futures_util::future::join_all;
use ovirt::error::ErrorKind;
use ovirt::service::Method;
use ovirt::Connection;
use ovirt_test_engine::{Rule, TestEngine, PASSWORD, USERNAME};
use std::time::Duration;

#[tokio::test]
async fn every_api_request_carries_the_fixed_headers() {
    // R5.4
    let e = engine(2).await;
    let conn = connect(&e);
    get(&conn, "vms").await.unwrap();
    let token = conn.authenticate().await.unwrap();
    let req = &e.api_requests()[0];
    assert_eq!(req.header("version"), Some("4"));
    assert_eq!(req.header("accept"), Some("application/xml"));
    assert_eq!(req.header("content-type"), Some("application/xml"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    let ua = req.header("user-agent").unwrap();
    assert!(
        ua.starts_with("ovirt-rs/") && ua.ends_with(env!("CARGO_PKG_VERSION")),
        "{ua}"
    );
    assert_eq!(req.header("all-content"), None);
    // The login carries the user agent too.
    assert_eq!(e.requests()[0].header("user-agent"), Some(ua));
}

#[tokio::test]
async fn all_content_parameter_is_also_sent_as_a_header() {
    // R1.10
    let e = engine(2).await;
    let conn = connect(&e);
    let c = call_with(&conn, Method::Get, "vms", &[("all_content", "true")]);
    conn.transport().send(c).await.unwrap();
    let req = &e.api_requests()[0];
    assert_eq!(req.header("all-content"), Some("true"));
    assert_eq!(req.target, "/ovirt-engine/api/vms?all_content=true");
}

#[tokio::test]
async fn connection_headers_are_sent_and_call_headers_override_them() {
    // R1.9
    let e = engine(1).await;
    let conn = options(&e)
        .header("X-Site", "lab")
        .header("X-Mode", "connection")
        .build()
        .unwrap();
    let mut c = call_with(&conn, Method::Get, "vms", &[("search", "name=vm-0000")]);
    c.headers.push(("X-Mode".into(), "call".into()));
    let raw = conn.transport().send(c).await.unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 1);
    let req = &e.api_requests()[0];
    assert_eq!(req.header("x-site"), Some("lab"));
    assert_eq!(req.header_all("x-mode"), vec!["call"]);
    assert_eq!(req.target, "/ovirt-engine/api/vms?search=name%3Dvm-0000");
    // Plain requests without call headers carry the connection's.
    get(&conn, "vms").await.unwrap();
    assert_eq!(e.api_requests()[1].header("x-mode"), Some("connection"));
}

#[tokio::test]
async fn caller_headers_cannot_replace_the_fixed_ones() {
    // R1.9: fixed headers are added last, in addition to a caller's header.
    let e = engine(1).await;
    let conn = options(&e).header("Version", "3").build().unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    assert_eq!(e.api_requests()[0].header_all("version"), vec!["4"]);
}

#[tokio::test]
async fn compressed_responses_are_asked_for_and_decoded_by_default() {
    let e = TestEngine::builder()
        .vms(4)
        .gzip(true)
        .start()
        .await
        .unwrap();
    let conn = connect(&e);
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 4);
    let accept = e.api_requests()[0]
        .header("accept-encoding")
        .map(str::to_owned);
    assert!(accept.is_some_and(|a| a.contains("gzip")));
}

#[tokio::test]
async fn compress_false_asks_for_plain_responses() {
    let e = TestEngine::builder()
        .vms(4)
        .gzip(true)
        .start()
        .await
        .unwrap();
    let conn = options(&e).compress(false).build().unwrap();
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 4);
    let accept = e.api_requests()[0]
        .header("accept-encoding")
        .map(str::to_owned);
    assert!(!accept.is_some_and(|a| a.contains("gzip")));
}

#[tokio::test]
async fn tls_with_the_engine_ca_pem_works() {
    let e = tls_engine(3).await;
    let conn = connect(&e);
    conn.test().await.unwrap();
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 3);
}

#[tokio::test]
async fn tls_with_the_engine_ca_file_works_for_localhost() {
    let e = tls_engine(1).await;
    let path = std::env::temp_dir().join(format!(
        "ovirt-connection-test-ca-{}-{}.pem",
        std::process::id(),
        e.addr().port()
    ));
    std::fs::write(&path, e.ca_pem().unwrap()).unwrap();
    let conn = Connection::builder()
        .url(e.url_localhost())
        .username(USERNAME)
        .password(PASSWORD)
        .ca_file(&path)
        .build();
    let result = match conn {
        Ok(conn) => conn.test().await,
        Err(err) => Err(err),
    };
    let _ = std::fs::remove_file(&path);
    result.unwrap();
}

#[tokio::test]
async fn tls_without_trusting_the_ca_fails_with_a_connection_error() {
    let e = tls_engine(1).await;
    let conn = Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(PASSWORD)
        .system_roots(true)
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    assert_eq!(e.logins(), 0);
}

#[tokio::test]
async fn insecure_skips_certificate_checks() {
    let e = tls_engine(1).await;
    let conn = Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(PASSWORD)
        .insecure(true)
        .build()
        .unwrap();
    conn.test().await.unwrap();
}

#[tokio::test]
async fn missing_ca_file_is_a_configuration_error() {
    let e = tls_engine(1).await;
    let result = options(&e)
        .ca_file("/nonexistent/ovirt-test-ca.pem")
        .build();
    let err = match result {
        Err(err) => err,
        Ok(conn) => conn.test().await.unwrap_err(),
    };
    assert!(err.to_string().contains("ovirt-test-ca.pem"), "{err}");
}

#[tokio::test]
async fn sso_url_and_token_name_options_are_used() {
    let e = engine(1).await;
    let token = e.issue_token();
    e.program(
        Rule::post("/custom/sso/token")
            .status(200)
            .json(format!(r#"{{"my_token":"{token}"}}"#)),
    );
    let conn = options(&e)
        .sso_url(format!("{}/custom/sso/token", e.origin()))
        .sso_token_name("my_token")
        .build()
        .unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    let reqs = e.requests();
    assert_eq!(reqs[0].path(), "/custom/sso/token");
    assert!(reqs[0].body_text().contains("grant_type=password"));
    assert_eq!(
        reqs[1].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

#[tokio::test]
async fn sso_revoke_url_option_is_used_by_close() {
    let e = engine(1).await;
    e.program(Rule::post("/custom/logout").status(200).json("{}"));
    let conn = options(&e)
        .sso_revoke_url(format!("{}/custom/logout", e.origin()))
        .build()
        .unwrap();
    let token = conn.authenticate().await.unwrap();
    conn.close().await.unwrap();
    let logout = e.requests().pop().unwrap();
    assert_eq!(logout.path(), "/custom/logout");
    assert!(logout.body_text().contains(&format!("token={token}")));
}

#[tokio::test]
async fn revoke_error_reply_is_reported() {
    let e = engine(1).await;
    e.program(
        Rule::post(ovirt_test_engine::SSO_LOGOUT_PATH)
            .status(200)
            .json(r#"{"error":"server_error","error_description":"Revoke failed"}"#),
    );
    let conn = connect(&e);
    conn.authenticate().await.unwrap();
    let err = conn.close().await.unwrap_err();
    assert!(err.to_string().contains("Revoke failed"), "{err}");
}

#[tokio::test]
async fn request_timeout_ends_a_slow_request() {
    let e = engine(1).await;
    e.program(Rule::get("vms").delay(Duration::from_secs(30)));
    let conn = options(&e)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    conn.authenticate().await.unwrap();
    let err = get(&conn, "vms").await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn call_timeout_overrides_the_connection_timeout() {
    let e = engine(1).await;
    e.program(Rule::get("vms").delay(Duration::from_secs(30)));
    let conn = connect(&e);
    conn.authenticate().await.unwrap();
    let mut c = call(&conn, Method::Get, "vms");
    c.timeout = Some(Duration::from_millis(200));
    let err = conn.transport().send(c).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}

#[tokio::test]
async fn one_connection_without_pipelining_carries_everything_on_one_socket() {
    let e = engine(6).await;
    let conn = options(&e).connections(1).pipeline(1).build().unwrap();
    let ids: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    let results = join_all(ids.iter().map(|id| get(&conn, &format!("vms/{id}")))).await;
    assert!(results.into_iter().all(|r| r.unwrap().status == 200));
    assert_eq!(e.connections(), 1);
    assert!(e.requests().iter().all(|r| r.connection == 0));
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_get_their_own_answers() {
    let e = engine(30).await;
    let conn = options(&e).connections(1).pipeline(16).build().unwrap();
    conn.authenticate().await.unwrap();
    let ids: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    let results = join_all(ids.iter().map(|id| get(&conn, &format!("vms/{id}/nics")))).await;
    for (vm, r) in e.inventory().vms.iter().zip(results) {
        let body = String::from_utf8_lossy(&r.unwrap().body).into_owned();
        let expected: Vec<String> = vm.nics.iter().map(|n| n.id.clone()).collect();
        assert_eq!(ids_of(&body, "nic"), expected);
    }
    assert_eq!(e.connections(), 1);
}

#[tokio::test]
async fn unreachable_proxy_is_a_connection_error() {
    let e = engine(1).await;
    // A port that was just free: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let conn = options(&e)
        .proxy_url(format!("http://127.0.0.1:{port}"))
        .proxy_username("proxyuser")
        .proxy_password("proxy-secret")
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?} {conn:?}").contains("proxy-secret"));
    assert!(e.requests().is_empty());
}

#[tokio::test]
async fn errors_are_classified_by_status_with_the_fault() {
    // R4.2, R4.3
    let e = engine(1).await;
    let conn = connect(&e);
    let err = get_checked(&conn, "vms/no-such-vm").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    e.program(
        Rule::get("clusters")
            .status(409)
            .xml("<fault><reason>Operation Failed</reason><detail>[Name in use]</detail></fault>"),
    );
    let err = get_checked(&conn, "clusters").await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let fault = err.engine_fault().unwrap();
    assert_eq!(fault.reason.as_deref(), Some("Operation Failed"));
    assert_eq!(fault.detail.as_deref(), Some("[Name in use]"));
    e.program(
        Rule::get("hosts")
            .status(502)
            .html("<html><body>Proxy Error</body></html>"),
    );
    let err = get_checked(&conn, "hosts").await.unwrap_err();
    assert_eq!(err.http_status(), Some(502));
    assert!(err.to_string().contains("Proxy Error"), "{err}");
}

#[tokio::test]
async fn kerberos_is_a_clear_configuration_error() {
    let err = Connection::builder()
        .url("https://engine.example.com/ovirt-engine/api")
        .kerberos(true)
        .build()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config));
    assert!(err.to_string().contains("Kerberos"), "{err}");
}

#[test]
fn bad_options_are_configuration_errors_naming_the_option() {
    let base = || Connection::builder().username("u@internal").password("p");
    let cases: Vec<(Result<Connection, ovirt::Error>, &str)> = vec![
        (base().build(), "url"),
        (base().url("engine.example.com/api").build(), "url"),
        (base().url("ftp://engine/api").build(), "scheme"),
        (
            base().url("https://u:p@engine/api").build(),
            "user information",
        ),
        (
            Connection::builder().url("https://engine/api").build(),
            "username and password",
        ),
        (
            Connection::builder()
                .url("https://engine/api")
                .username("u")
                .build(),
            "password",
        ),
        (
            base().url("https://engine/api").connections(0).build(),
            "connections",
        ),
        (
            base()
                .url("https://engine/api")
                .sso_url("not a url")
                .build(),
            "sso_url",
        ),
        (
            base()
                .url("https://engine/api")
                .proxy_url("https://proxy:3128")
                .build(),
            "proxy",
        ),
    ];
    for (result, needle) in cases {
        let err = result.unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Config), "{err:?}");
        assert!(
            err.to_string().contains(needle),
            "{err} should name {needle}"
        );
        assert!(!err.to_string().contains("u:p@"), "{err}");
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let builder = Connection::builder()
        .url("https://engine.example.com/ovirt-engine/api")
        .username("admin@internal")
        .password("pass-word-1")
        .token("tok-en-2")
        .proxy_url("http://proxy:3128")
        .proxy_username("p")
        .proxy_password("proxy-pass-3");
    let text = format!("{builder:?}");
    for secret in ["pass-word-1", "tok-en-2", "proxy-pass-3"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("admin@internal"));
    let conn = builder.build().unwrap();
    let text = format!("{conn:?}");
    for secret in ["pass-word-1", "tok-en-2", "proxy-pass-3"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn url_with_trailing_slash_is_the_same_base() {
    let e = engine(1).await;
    let conn = options(&e).url(format!("{}/", e.url())).build().unwrap();
    assert_eq!(conn.url(), e.url());
    conn.test().await.unwrap();
    assert_eq!(e.api_requests()[0].path(), "/ovirt-engine/api");
}

#[test]
fn async_connection_outside_a_runtime_is_an_error_not_a_panic() {
    let conn = Connection::builder()
        .url("http://127.0.0.1:9/ovirt-engine/api")
        .token("t")
        .build()
        .unwrap();
    let pending = conn.transport().send(call(&conn, Method::Get, "vms"));
    let err = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(pending)
        .unwrap_err();
    assert!(err.to_string().contains("build_blocking"), "{err}");
}

#[tokio::test]
async fn sso_on_another_origin_gets_its_own_client() {
    let api = engine(2).await;
    let sso = engine(0).await;
    let token = api.issue_token();
    sso.program(
        Rule::post(ovirt_test_engine::SSO_TOKEN_PATH)
            .status(200)
            .json(format!(
                r#"{{"access_token":"{token}","token_type":"bearer"}}"#
            )),
    );
    sso.program(
        Rule::post(ovirt_test_engine::SSO_LOGOUT_PATH)
            .status(200)
            .json("{}"),
    );
    let conn = options(&api)
        .sso_url(format!(
            "{}{}",
            sso.origin(),
            ovirt_test_engine::SSO_TOKEN_PATH
        ))
        .sso_revoke_url(format!(
            "{}{}",
            sso.origin(),
            ovirt_test_engine::SSO_LOGOUT_PATH
        ))
        .build()
        .unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    conn.close().await.unwrap();
    let sso_paths: Vec<String> = sso
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(
        sso_paths,
        vec![
            ovirt_test_engine::SSO_TOKEN_PATH.to_string(),
            ovirt_test_engine::SSO_LOGOUT_PATH.to_string()
        ]
    );
    let api_paths: Vec<String> = api
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    assert_eq!(api_paths, vec!["/ovirt-engine/api/vms".to_string()]);
}

#[tokio::test]
async fn requests_beyond_the_pipeline_capacity_move_without_being_awaited() {
    // Transport contract: a sent call is on its way even if the caller awaits other
    // answers first. 1 connection x depth 2 holds 2 requests; 10 are sent.
    let e = engine(10).await;
    let conn = options(&e).connections(1).pipeline(2).build().unwrap();
    conn.authenticate().await.unwrap();
    let vms = e.inventory().vms;
    let mut pending: Vec<_> = vms
        .iter()
        .map(|vm| get(&conn, &format!("vms/{}", vm.id)))
        .collect();
    let last = pending.pop().unwrap().await.unwrap();
    assert_eq!(
        ids_of(&String::from_utf8_lossy(&last.body), "vm"),
        vec![vms[9].id.clone()]
    );
    // One connection answers in order: every earlier request has reached the engine.
    assert_eq!(e.api_requests().len(), 10);
    for (vm, p) in vms.iter().zip(pending) {
        let raw = p.await.unwrap();
        assert_eq!(
            ids_of(&String::from_utf8_lossy(&raw.body), "vm"),
            vec![vm.id.clone()]
        );
    }
}

#[tokio::test]
async fn connect_timeout_ends_a_tls_handshake_that_never_happens() {
    // A server that accepts connections and never says anything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let conn = Connection::builder()
        .url(format!("https://{addr}/ovirt-engine/api"))
        .token("t")
        .connect_timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .unwrap();
    let err = conn.test().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    assert!(err.to_string().contains("connect timeout"), "{err}");
    holder.abort();
}

/// A minimal CONNECT proxy on 127.0.0.1; returns its address and the request heads it saw.
async fn connect_proxy() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                seen.lock().unwrap().push(head.clone());
                let target = head.split(' ').nth(1).unwrap_or("").to_string();
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn proxy_options_tunnel_the_requests_with_basic_auth() {
    let e = tls_engine(2).await;
    let (proxy, heads) = connect_proxy().await;
    let conn = options(&e)
        .proxy_url(format!("http://{proxy}"))
        .proxy_username("puser")
        .proxy_password("ppass")
        .build()
        .unwrap();
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 2);
    let heads = heads.lock().unwrap().clone();
    assert!(!heads.is_empty());
    let head = &heads[0];
    assert!(
        head.starts_with(&format!("CONNECT {} HTTP/1.1", e.addr())),
        "{head}"
    );
    // base64("puser:ppass")
    assert!(
        head.to_ascii_lowercase()
            .contains("proxy-authorization: basic chvzzxi6chbhc3m="),
        "{head}"
    );
}

#[test]
fn credentials_in_a_proxy_url_are_rejected_without_being_repeated() {
    let result = Connection::builder()
        .url("https://engine.example.com/ovirt-engine/api")
        .token("t")
        .proxy_url("http://puser:psecret@proxy.example.com:3128")
        .build();
    let err = result.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("psecret"), "{err}");
}
