//! Tests of the fake engine over real sockets.

mod common;

use common::{connect, ids_of, json_field};
use ovirt_test_engine::{Rule, TestEngine, PASSWORD, USERNAME};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn engine(vms: usize) -> TestEngine {
    TestEngine::builder().vms(vms).start().await.unwrap()
}

#[tokio::test]
async fn password_grant_returns_a_bearer_token_json_reply() {
    // R5.1, R5.2
    let e = engine(2).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let r = c.sso_login(USERNAME, PASSWORD).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let text = r.text();
    assert!(json_field(&text, "access_token").is_some_and(|t| !t.is_empty()));
    assert_eq!(json_field(&text, "token_type").as_deref(), Some("bearer"));
    assert_eq!(json_field(&text, "scope").as_deref(), Some("ovirt-app-api"));
    assert!(json_field(&text, "exp").is_some_and(|x| x.parse::<u64>().is_ok()));
    assert_eq!(e.logins(), 1);
}

#[tokio::test]
async fn wrong_password_gets_400_with_error_code_and_error() {
    // R5.2
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let r = c.sso_login(USERNAME, "wrong").await;
    assert_eq!(r.status, 400);
    let text = r.text();
    assert_eq!(
        json_field(&text, "error_code").as_deref(),
        Some("access_denied")
    );
    assert!(json_field(&text, "error")
        .unwrap()
        .contains("admin@internal"));
    assert!(!text.contains("wrong"), "the password must not be echoed");
    assert_eq!((e.logins(), e.failed_logins()), (0, 1));
}

#[tokio::test]
async fn login_without_the_api_scope_is_rejected() {
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let r = c
        .send(
            "POST",
            ovirt_test_engine::SSO_TOKEN_PATH,
            &[],
            "grant_type=password&username=admin%40internal&password=secret",
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        json_field(&r.text(), "error_code").as_deref(),
        Some("invalid_scope")
    );
}

#[tokio::test]
async fn extra_users_can_log_in() {
    let e = TestEngine::builder()
        .user("bob@internal", "pw")
        .start()
        .await
        .unwrap();
    let mut c = connect(&e, "127.0.0.1").await;
    assert_eq!(c.sso_login("bob@internal", "pw").await.status, 200);
    assert_eq!(c.sso_login(USERNAME, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn api_needs_a_valid_bearer_token() {
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let r = c
        .send("GET", "/ovirt-engine/api/vms", &[("version", "4")], "")
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(c.api_get("not-a-token", "vms").await.status, 401);
    let token = c.login().await;
    assert_eq!(c.api_get(&token, "vms").await.status, 200);
    assert_eq!(e.unauthorized(), 2);
}

#[tokio::test]
async fn api_needs_the_version_4_header() {
    // R5.4
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let auth = format!("Bearer {token}");
    let r = c
        .send(
            "GET",
            "/ovirt-engine/api/vms",
            &[("authorization", &auth)],
            "",
        )
        .await;
    assert_eq!(r.status, 400);
    let r = c
        .send(
            "GET",
            "/ovirt-engine/api/vms",
            &[("authorization", &auth), ("version", "3")],
            "",
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn vm_list_has_every_generated_vm_in_order() {
    let e = engine(25).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c.api_get(&token, "vms").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    let text = r.text();
    assert!(text.starts_with("<vms>") && text.ends_with("</vms>"));
    let expected: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    assert_eq!(ids_of(&text, "vm"), expected);
    assert!(text.contains("<name>vm-0024</name>"));
    assert!(text.contains("rel=\"diskattachments\""));
}

#[tokio::test]
async fn empty_inventory_lists_an_empty_wrapper() {
    let e = engine(0).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    assert_eq!(c.api_get(&token, "vms").await.text(), "<vms/>");
}

#[tokio::test]
async fn search_filters_by_name_pattern_and_max_truncates() {
    let e = engine(30).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let names = |text: String| -> usize { text.matches("<vm ").count() };
    // vm-0010 .. vm-0019
    let r = c.api_get(&token, "vms?search=name%3Dvm-001%2A").await;
    assert_eq!(names(r.text()), 10);
    assert!(r.text().contains("<name>vm-0013</name>"));
    let r = c.api_get(&token, "vms?search=name%3Dvm-0007").await;
    assert_eq!(
        ids_of(&r.text(), "vm"),
        vec![e.inventory().vms[7].id.clone()]
    );
    let r = c.api_get(&token, "vms?search=name%3Dvm-001%2A&max=3").await;
    assert_eq!(names(r.text()), 3);
    let r = c.api_get(&token, "vms?max=4").await;
    assert_eq!(names(r.text()), 4);
    let r = c.api_get(&token, "vms?search=name%3Dnothing%2A").await;
    assert_eq!(r.text(), "<vms/>");
    let r = c
        .api_get(&token, "vms?search=name%3Dvm%2A+and+status%3Dup")
        .await;
    assert_eq!(names(r.text()), 15);
    let r = c.api_get(&token, "vms?search=cpu%3D4").await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("<fault>"));
}

#[tokio::test]
async fn vm_sub_collections_match_the_inventory() {
    let e = engine(6).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    for vm in e.inventory().vms {
        let r = c.api_get(&token, &format!("vms/{}", vm.id)).await;
        assert_eq!(ids_of(&r.text(), "vm"), vec![vm.id.clone()]);
        let r = c
            .api_get(&token, &format!("vms/{}/diskattachments", vm.id))
            .await;
        let ids: Vec<String> = vm.disk_attachments.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids_of(&r.text(), "disk_attachment"), ids);
        let r = c.api_get(&token, &format!("vms/{}/nics", vm.id)).await;
        let ids: Vec<String> = vm.nics.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids_of(&r.text(), "nic"), ids);
        let r = c
            .api_get(&token, &format!("vms/{}/permissions", vm.id))
            .await;
        let ids: Vec<String> = vm.permissions.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids_of(&r.text(), "permission"), ids);
        // Each item is also served at its own href.
        let nic = &vm.nics[0];
        let r = c
            .api_get(&token, &format!("vms/{}/nics/{}", vm.id, nic.id))
            .await;
        assert_eq!(ids_of(&r.text(), "nic"), vec![nic.id.clone()]);
        let da = &vm.disk_attachments[0];
        let r = c
            .api_get(&token, &format!("vms/{}/diskattachments/{}", vm.id, da.id))
            .await;
        assert_eq!(ids_of(&r.text(), "disk_attachment"), vec![da.id.clone()]);
        let p = &vm.permissions[0];
        let r = c
            .api_get(&token, &format!("vms/{}/permissions/{}", vm.id, p.id))
            .await;
        assert_eq!(ids_of(&r.text(), "permission"), vec![p.id.clone()]);
        let r = c.api_get(&token, &format!("vms/{}/nics/nope", vm.id)).await;
        assert_eq!(r.status, 404);
    }
}

#[tokio::test]
async fn clusters_hosts_and_data_centers_are_served() {
    let e = TestEngine::builder()
        .clusters(3)
        .hosts(4)
        .data_centers(2)
        .start()
        .await
        .unwrap();
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let inv = e.inventory();
    let r = c.api_get(&token, "clusters").await;
    assert_eq!(ids_of(&r.text(), "cluster").len(), 3);
    let r = c.api_get(&token, "hosts").await;
    assert_eq!(ids_of(&r.text(), "host").len(), 4);
    let r = c.api_get(&token, "datacenters").await;
    assert!(r.text().starts_with("<data_centers>"));
    assert_eq!(ids_of(&r.text(), "data_center").len(), 2);
    let r = c
        .api_get(&token, &format!("hosts/{}", inv.hosts[1].id))
        .await;
    assert!(r.text().contains("<name>host1</name>"));
    let r = c
        .api_get(&token, &format!("clusters/{}", inv.clusters[0].id))
        .await;
    assert!(r.text().contains("<name>Default</name>"));
    let r = c
        .api_get(&token, &format!("datacenters/{}", inv.data_centers[1].id))
        .await;
    assert_eq!(r.status, 200);
    let r = c.api_get(&token, "").await;
    assert!(r.text().starts_with("<api>"));
    assert!(r.text().contains("<product_info>"));
}

#[tokio::test]
async fn unknown_paths_and_objects_get_404_with_empty_body() {
    let e = engine(2).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    for rel in [
        "nothing",
        "vms/nope",
        "vms/nope/nics",
        "hosts/nope",
        "vms/x/y/z",
    ] {
        let r = c.api_get(&token, rel).await;
        assert_eq!((r.status, r.body.len()), (404, 0), "{rel}");
    }
    let r = c.send("GET", "/elsewhere", &[], "").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn expired_tokens_get_401_and_a_new_login_works() {
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let old = c.login().await;
    e.expire_tokens();
    assert_eq!(c.api_get(&old, "vms").await.status, 401);
    let new = c.login().await;
    assert_ne!(old, new);
    assert_eq!(c.api_get(&new, "vms").await.status, 200);
    assert_eq!(e.logins(), 2);
}

#[tokio::test]
async fn logout_revokes_the_token() {
    // R5.3
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c
        .send(
            "POST",
            ovirt_test_engine::SSO_LOGOUT_PATH,
            &[("content-type", "application/x-www-form-urlencoded")],
            &format!("scope=ovirt-app-api&token={token}"),
        )
        .await;
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    assert_eq!(e.revocations(), 1);
    assert_eq!(c.api_get(&token, "vms").await.status, 401);
}

#[tokio::test]
async fn issued_tokens_are_accepted_without_a_login() {
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = e.issue_token();
    assert_eq!(c.api_get(&token, "vms").await.status, 200);
    assert_eq!(e.logins(), 0);
}

#[tokio::test]
async fn rules_program_status_body_headers_and_count() {
    let e = engine(3).await;
    e.program(
        Rule::get("vms")
            .status(500)
            .xml("<fault><reason>Boom</reason><detail>d</detail></fault>")
            .header("x-test", "1")
            .times(1),
    );
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c.api_get(&token, "vms").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert_eq!(r.header("x-test"), Some("1"));
    assert!(r.text().contains("Boom"));
    // Used up: the next request is handled normally.
    assert_eq!(c.api_get(&token, "vms").await.status, 200);
}

#[tokio::test]
async fn rules_match_prefixes_and_can_answer_the_sso_endpoint() {
    let e = engine(3).await;
    e.program(
        Rule::any("/ovirt-engine/sso/*")
            .status(503)
            .html("<html>down</html>"),
    );
    let mut c = connect(&e, "127.0.0.1").await;
    let r = c.sso_login(USERNAME, PASSWORD).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    e.clear_rules();
    assert_eq!(c.sso_login(USERNAME, PASSWORD).await.status, 200);
}

#[tokio::test]
async fn rule_can_expire_tokens_when_a_request_matches() {
    let e = engine(3).await;
    let vm = e.inventory().vms[1].id.clone();
    e.program(
        Rule::get(&format!("vms/{vm}/nics"))
            .expire_tokens()
            .times(1),
    );
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    assert_eq!(c.api_get(&token, "vms").await.status, 200);
    assert_eq!(
        c.api_get(&token, &format!("vms/{vm}/nics")).await.status,
        401
    );
    let token = c.login().await;
    assert_eq!(
        c.api_get(&token, &format!("vms/{vm}/nics")).await.status,
        200
    );
}

#[tokio::test]
async fn delay_only_rule_still_handles_the_request() {
    let e = engine(3).await;
    e.program(Rule::get("vms").delay(Duration::from_millis(20)));
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c.api_get(&token, "vms").await;
    assert_eq!(r.status, 200);
    assert_eq!(ids_of(&r.text(), "vm").len(), 3);
}

#[tokio::test]
async fn requests_are_recorded_with_headers_body_and_connection() {
    let e = engine(2).await;
    let mut c1 = connect(&e, "127.0.0.1").await;
    let token = c1.login().await;
    let mut c2 = connect(&e, "127.0.0.1").await;
    c2.api(
        "POST",
        &token,
        "vms?clone=false",
        "<vm><name>new</name><cluster><name>Default</name></cluster></vm>",
    )
    .await;
    let reqs = e.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path(), ovirt_test_engine::SSO_TOKEN_PATH);
    assert!(!reqs[0].is_api());
    assert!(reqs[0].body_text().contains("grant_type=password"));
    let add = &reqs[1];
    assert!(add.is_api());
    assert_eq!(add.target, "/ovirt-engine/api/vms?clone=false");
    assert_eq!(
        add.query(),
        vec![("clone".to_string(), "false".to_string())]
    );
    assert_eq!(add.header("Version"), Some("4"));
    assert_eq!(
        add.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    assert!(add.body_text().starts_with("<vm>"));
    assert_ne!(reqs[0].connection, add.connection);
    assert_eq!(e.api_requests().len(), 1);
    e.clear_requests();
    assert!(e.requests().is_empty());
}

#[tokio::test]
async fn adding_a_vm_answers_201_with_location_and_lists_it() {
    let e = engine(2).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c
        .api(
            "POST",
            &token,
            "vms",
            "<vm><name>web1</name><cluster><name>Default</name></cluster></vm>",
        )
        .await;
    assert_eq!(r.status, 201);
    let id = ids_of(&r.text(), "vm").pop().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/ovirt-engine/api/vms/{id}").as_str())
    );
    assert!(r.text().contains("<status>down</status>"));
    let list = c.api_get(&token, "vms").await.text();
    assert_eq!(ids_of(&list, "vm").len(), 3);
    assert_eq!(e.inventory().vm_by_name("web1").unwrap().id, id);
    // Same name again: conflict with a fault (R4.2).
    let r = c
        .api(
            "POST",
            &token,
            "vms",
            "<vm><name>web1</name><cluster><name>Default</name></cluster></vm>",
        )
        .await;
    assert_eq!(r.status, 409);
    assert!(r
        .text()
        .starts_with("<fault><reason>Operation Failed</reason>"));
    // No name: incomplete parameters.
    let r = c
        .api(
            "POST",
            &token,
            "vms",
            "<vm><cluster><name>Default</name></cluster></vm>",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Incomplete parameters"));
    // Not XML.
    let r = c.api("POST", &token, "vms", "<vm><name>x</vm>").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn start_and_stop_change_status_and_a_repeated_start_fails_with_an_action_fault() {
    let e = engine(2).await;
    let down = e.inventory().vms[1].clone();
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let start = format!("vms/{}/start", down.id);
    let r = c.api("POST", &token, &start, "<action/>").await;
    assert_eq!(r.status, 200);
    assert!(r
        .text()
        .starts_with("<action><status>complete</status><job href="));
    assert!(c
        .api_get(&token, &format!("vms/{}", down.id))
        .await
        .text()
        .contains("<status>up</status>"));
    let r = c.api("POST", &token, &start, "<action/>").await;
    assert_eq!(r.status, 409);
    assert!(r
        .text()
        .starts_with("<action><status>failed</status><fault>"));
    let r = c
        .api(
            "POST",
            &token,
            &format!("vms/{}/stop", down.id),
            "<action/>",
        )
        .await;
    assert_eq!(r.status, 200);
    let list = c.api_get(&token, "vms?search=status%3Ddown").await.text();
    assert!(ids_of(&list, "vm").contains(&down.id));
    let r = c.api("POST", &token, "vms/nope/start", "<action/>").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn removing_a_vm_makes_it_disappear() {
    let e = engine(3).await;
    // VM 1 is down (a running VM cannot be removed).
    let vm = e.inventory().vms[1].id.clone();
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c.api("DELETE", &token, &format!("vms/{vm}"), "").await;
    assert_eq!(r.status, 200);
    assert_eq!(c.api_get(&token, &format!("vms/{vm}")).await.status, 404);
    assert_eq!(
        c.api("DELETE", &token, &format!("vms/{vm}"), "")
            .await
            .status,
        404
    );
    assert_eq!(
        ids_of(&c.api_get(&token, "vms").await.text(), "vm").len(),
        2
    );
    assert_eq!(e.inventory().vms.len(), 2);
}

#[tokio::test]
async fn tls_works_with_the_generated_ca_for_ip_and_localhost() {
    let e = TestEngine::builder()
        .tls(true)
        .vms(2)
        .start()
        .await
        .unwrap();
    assert!(e.url().starts_with("https://127.0.0.1:"));
    assert!(e.url_localhost().starts_with("https://localhost:"));
    assert_eq!(e.url_via(e.addr()), e.url());
    assert!(e
        .ca_pem()
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    for name in ["127.0.0.1", "localhost"] {
        let mut c = connect(&e, name).await;
        let token = c.login().await;
        assert_eq!(
            ids_of(&c.api_get(&token, "vms").await.text(), "vm").len(),
            2
        );
    }
}

#[tokio::test]
async fn gzip_option_compresses_when_the_client_accepts_it() {
    let e = TestEngine::builder()
        .gzip(true)
        .vms(5)
        .start()
        .await
        .unwrap();
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let auth = format!("Bearer {token}");
    let r = c
        .send(
            "GET",
            "/ovirt-engine/api/vms",
            &[
                ("version", "4"),
                ("authorization", &auth),
                ("accept-encoding", "gzip"),
            ],
            "",
        )
        .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut text)
        .unwrap();
    assert_eq!(ids_of(&text, "vm").len(), 5);
    let r = c.api_get(&token, "vms").await;
    assert_eq!(r.header("content-encoding"), None);
}

/// Reads `n` responses with `Content-Length` bodies from a raw stream.
async fn read_responses(stream: &mut tokio::net::TcpStream, n: usize) -> Vec<(u16, String)> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 8192];
    while out.len() < n {
        // Parse what we have.
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head[9..12].parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                buf.drain(..end + 4 + len);
                out.push((status, body));
                continue;
            }
        }
        let got = stream.read(&mut chunk).await.unwrap();
        assert!(got > 0, "connection closed after {} responses", out.len());
        buf.extend_from_slice(&chunk[..got]);
    }
    out
}

#[tokio::test]
async fn pipelined_requests_on_one_connection_are_answered_in_order() {
    let e = engine(5).await;
    let token = e.issue_token();
    let vms = e.inventory().vms;
    let mut stream = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    let mut batch = String::new();
    // A slow first request must not let later answers overtake it.
    e.program(Rule::get(&format!("vms/{}", vms[0].id)).delay(Duration::from_millis(30)));
    for vm in &vms {
        batch.push_str(&format!(
            "GET /ovirt-engine/api/vms/{} HTTP/1.1\r\nHost: x\r\nVersion: 4\r\nAuthorization: Bearer {token}\r\n\r\n",
            vm.id
        ));
    }
    stream.write_all(batch.as_bytes()).await.unwrap();
    let responses = read_responses(&mut stream, vms.len()).await;
    for (vm, (status, body)) in vms.iter().zip(responses) {
        assert_eq!(status, 200);
        assert_eq!(ids_of(&body, "vm"), vec![vm.id.clone()]);
    }
    let conns: Vec<u64> = e.requests().iter().map(|r| r.connection).collect();
    assert!(conns.iter().all(|c| *c == conns[0]));
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let e = engine(1).await;
    let mut stream = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    // Make sure the connection was accepted before shutting down.
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_responses(&mut stream, 1).await[0].0, 404);
    let addr = e.addr();
    e.shutdown().await;
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn idle_timeout_closes_a_connection_that_sends_no_request() {
    let e = TestEngine::builder()
        .idle_timeout(Some(Duration::from_millis(50)))
        .start()
        .await
        .unwrap();
    let mut stream = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    stream
        .write_all(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_responses(&mut stream, 1).await[0].0, 404);
    // Now idle: the engine closes the connection.
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).await.unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn adds_answer_201_with_location_and_asynchronous_work_202() {
    // R1.11
    let e = engine(2).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    let r = c
        .api(
            "POST",
            &token,
            "disks",
            "<disk><name>d</name><provisioned_size>1024</provisioned_size><format>raw</format>\
             <storage_domains><storage_domain><name>data</name></storage_domain></storage_domains></disk>",
        )
        .await;
    assert_eq!(r.status, 201);
    let id = ids_of(&r.text(), "disk").remove(0);
    assert_eq!(
        r.header("location"),
        Some(format!("/ovirt-engine/api/disks/{id}").as_str())
    );
    assert!(r.text().contains("<status>locked</status>"));
    // An action asked to be asynchronous answers 202 with a pending action.
    let vm = e.inventory().vms[1].id.clone();
    let auth = format!("Bearer {token}");
    let r = c
        .send(
            "POST",
            &format!("/ovirt-engine/api/vms/{vm}/start"),
            &[
                ("version", "4"),
                ("authorization", &auth),
                ("expect", "202-accepted"),
            ],
            "<action/>",
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(
        r.text().contains("<status>pending</status>"),
        "{}",
        r.text()
    );
    // A remove with async=true answers 202 with no body.
    let r = c
        .api("DELETE", &token, &format!("disks/{id}?async=true"), "")
        .await;
    assert_eq!((r.status, r.body.len()), (202, 0));
    // Removing for real answers 200 with a completed action.
    let r = c.api("DELETE", &token, "tags/none", "").await;
    assert_eq!((r.status, r.body.len()), (404, 0));
}

#[tokio::test]
async fn bodies_that_are_not_the_collections_type_get_400_with_a_fault() {
    let e = engine(1).await;
    let mut c = connect(&e, "127.0.0.1").await;
    let token = c.login().await;
    for (rel, body) in [
        ("vms", "<host><name>x</name></host>"),
        ("clusters", "not xml"),
        ("tags", "<tag><name>x</tag>"),
    ] {
        let r = c.api("POST", &token, rel, body).await;
        assert_eq!(r.status, 400, "{rel}");
        assert!(
            r.text()
                .starts_with("<fault><reason>Invalid request body</reason>"),
            "{}",
            r.text()
        );
    }
    // Secrets sent on add are not kept or echoed.
    let r = c
        .api(
            "POST",
            &token,
            "hosts",
            "<host><name>h9</name><address>h9.example.com</address><root_password>pw-123</root_password></host>",
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(!r.text().contains("pw-123"));
}
