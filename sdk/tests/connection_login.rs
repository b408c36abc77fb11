//! Login, re-login and logout of a `Connection` against the test engine (docs/wire.md R4.5,
//! R5.1-R5.3).

mod connection_common;

use connection_common::{connect, engine, get, get_checked, ids_of, options};
use futures_util::future::join_all;
use ovirt::error::ErrorKind;
use ovirt::Connection;
use ovirt_test_engine::{Rule, PASSWORD, USERNAME};
use std::time::Duration;

#[tokio::test]
async fn first_request_logs_in_with_the_password_grant() {
    let e = engine(3).await;
    let conn = connect(&e);
    assert_eq!(e.logins(), 0, "login is lazy");
    let raw = get(&conn, "vms").await.unwrap();
    assert_eq!(raw.status, 200);
    assert_eq!(ids_of(&String::from_utf8_lossy(&raw.body), "vm").len(), 3);
    assert_eq!(e.logins(), 1);
    let reqs = e.requests();
    let login = &reqs[0];
    assert_eq!(login.path(), ovirt_test_engine::SSO_TOKEN_PATH);
    assert_eq!(login.method, "POST");
    // R5.1: form fields, form encoded.
    let form = ovirt_test_engine::form::parse(&login.body_text());
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(field("grant_type"), Some("password"));
    assert_eq!(field("scope"), Some("ovirt-app-api"));
    assert_eq!(field("username"), Some(USERNAME));
    assert_eq!(field("password"), Some(PASSWORD));
    assert!(login.body_text().contains("admin%40internal"));
    assert_eq!(
        login.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(login.header("accept"), Some("application/json"));
}

#[tokio::test]
async fn concurrent_first_requests_cause_exactly_one_login() {
    let e = engine(20).await;
    let conn = connect(&e);
    let ids: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    let calls: Vec<_> = ids
        .iter()
        .map(|id| get(&conn, &format!("vms/{id}")))
        .collect();
    let results = join_all(calls).await;
    for (id, r) in ids.iter().zip(results) {
        let raw = r.unwrap();
        assert_eq!(raw.status, 200);
        assert_eq!(
            ids_of(&String::from_utf8_lossy(&raw.body), "vm"),
            vec![id.clone()]
        );
    }
    assert_eq!(e.logins(), 1);
}

#[tokio::test]
async fn concurrent_first_requests_from_many_tasks_cause_exactly_one_login() {
    let e = engine(5).await;
    let conn = connect(&e);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let conn = conn.clone();
            tokio::spawn(async move { get(&conn, "vms").await.map(|r| r.status) })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), 200);
    }
    assert_eq!(e.logins(), 1);
}

#[tokio::test]
async fn authenticate_returns_a_token_the_engine_accepts() {
    let e = engine(2).await;
    let conn = connect(&e);
    let token = conn.authenticate().await.unwrap();
    assert_eq!(e.logins(), 1);
    // Reuse it in a second connection without credentials: no new login.
    let other = Connection::builder()
        .url(e.url())
        .token(token.clone())
        .build()
        .unwrap();
    assert_eq!(get(&other, "vms").await.unwrap().status, 200);
    assert_eq!(e.logins(), 1);
    let last = e.api_requests().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
    // Asking again returns the same token without logging in.
    assert_eq!(conn.authenticate().await.unwrap(), token);
    assert_eq!(e.logins(), 1);
}

#[tokio::test]
async fn expired_token_causes_one_new_login_and_every_request_succeeds() {
    // R4.5
    let e = engine(12).await;
    let conn = connect(&e);
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    e.expire_tokens();
    let ids: Vec<String> = e.inventory().vms.iter().map(|v| v.id.clone()).collect();
    let results = join_all(ids.iter().map(|id| get(&conn, &format!("vms/{id}")))).await;
    for (id, r) in ids.iter().zip(results) {
        let raw = r.unwrap();
        assert_eq!(raw.status, 200);
        assert_eq!(
            ids_of(&String::from_utf8_lossy(&raw.body), "vm"),
            vec![id.clone()]
        );
    }
    assert_eq!(e.logins(), 2);
    // Every request was answered 401 once, then re-sent once.
    assert_eq!(e.unauthorized(), ids.len());
    assert_eq!(e.api_requests().len(), 1 + 2 * ids.len());
}

#[tokio::test]
async fn token_expiring_between_requests_in_flight_causes_one_new_login() {
    let e = engine(8).await;
    let vms = e.inventory().vms;
    // The third request makes every token expire before it is checked.
    e.program(
        Rule::get(&format!("vms/{}", vms[2].id))
            .expire_tokens()
            .times(1),
    );
    let conn = connect(&e);
    let results = join_all(vms.iter().map(|v| get(&conn, &format!("vms/{}", v.id)))).await;
    for r in results {
        assert_eq!(r.unwrap().status, 200);
    }
    assert_eq!(e.logins(), 2);
}

#[tokio::test]
async fn a_second_401_is_reported_and_not_retried_again() {
    let e = engine(1).await;
    e.program(Rule::get("vms").status(401));
    let conn = connect(&e);
    let err = get_checked(&conn, "vms").await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert_eq!(err.http_status(), Some(401));
    // First login, then one new login after the 401.
    assert_eq!(e.logins(), 2);
    assert_eq!(e.api_requests().len(), 2);
}

#[tokio::test]
async fn wrong_password_is_an_authentication_error_without_the_password() {
    let e = engine(1).await;
    let conn = options(&e).password("not-the-password").build().unwrap();
    let err = get(&conn, "vms").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Authentication), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("access_denied"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
    assert!(!format!("{err:?}").contains("not-the-password"));
    assert_eq!(e.api_requests().len(), 0);
    // A failed login is not remembered: the next request tries again.
    assert!(get(&conn, "vms").await.is_err());
    assert_eq!(e.failed_logins(), 2);
}

#[tokio::test]
async fn sso_page_that_is_not_json_is_an_authentication_error() {
    let e = engine(1).await;
    e.program(
        Rule::post(ovirt_test_engine::SSO_TOKEN_PATH)
            .status(503)
            .html("<html>Service Unavailable</html>"),
    );
    let conn = connect(&e);
    let err = conn.authenticate().await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert!(err.to_string().contains("503"), "{err}");
}

#[tokio::test]
async fn sso_error_with_description_names_code_and_text() {
    // R5.2: other scopes answer `error` + `error_description`.
    let e = engine(1).await;
    e.program(
        Rule::post(ovirt_test_engine::SSO_TOKEN_PATH)
            .status(400)
            .json(r#"{"error":"invalid_grant","error_description":"The grant is invalid"}"#),
    );
    let err = connect(&e).authenticate().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid_grant") && text.contains("The grant is invalid"),
        "{text}"
    );
}

#[tokio::test]
async fn sso_reply_as_array_is_accepted() {
    // R5.2 [py]: a JSON array holds the object first.
    let e = engine(1).await;
    let token = e.issue_token();
    e.program(
        Rule::post(ovirt_test_engine::SSO_TOKEN_PATH)
            .status(200)
            .json(format!(
                r#"[{{"access_token":"{token}","token_type":"bearer"}}]"#
            )),
    );
    let conn = connect(&e);
    assert_eq!(conn.authenticate().await.unwrap(), token);
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
}

#[tokio::test]
async fn given_token_is_used_without_login() {
    let e = engine(1).await;
    let token = e.issue_token();
    let conn = Connection::builder()
        .url(e.url())
        .token(token.clone())
        .build()
        .unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    assert_eq!(e.logins(), 0);
    assert_eq!(
        e.api_requests()[0].header("authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

#[tokio::test]
async fn given_token_that_expired_without_credentials_is_an_authentication_error() {
    let e = engine(1).await;
    let conn = Connection::builder()
        .url(e.url())
        .token(e.issue_token())
        .build()
        .unwrap();
    e.expire_tokens();
    let err = get_checked(&conn, "vms").await.unwrap_err();
    assert!(err.is_authentication(), "{err}");
    assert_eq!(e.logins(), 0);
}

#[tokio::test]
async fn given_token_that_expired_is_replaced_by_a_login_when_credentials_are_set() {
    let e = engine(1).await;
    let conn = options(&e).token(e.issue_token()).build().unwrap();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    assert_eq!(e.logins(), 0);
    e.expire_tokens();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
    assert_eq!(e.logins(), 1);
}

#[tokio::test]
async fn close_revokes_the_token_once_and_later_calls_fail() {
    // R5.3
    let e = engine(1).await;
    let conn = connect(&e);
    let token = conn.authenticate().await.unwrap();
    conn.close().await.unwrap();
    assert!(conn.is_closed());
    assert_eq!(e.revocations(), 1);
    let logout = e
        .requests()
        .into_iter()
        .find(|r| r.path() == ovirt_test_engine::SSO_LOGOUT_PATH)
        .unwrap();
    let form = ovirt_test_engine::form::parse(&logout.body_text());
    assert!(form.contains(&("token".to_string(), token)));
    assert!(form.contains(&("scope".to_string(), "ovirt-app-api".to_string())));
    // Idempotent.
    conn.close().await.unwrap();
    assert_eq!(e.revocations(), 1);
    let err = get(&conn, "vms").await.unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
    assert!(conn.authenticate().await.is_err());
}

#[tokio::test]
async fn close_without_a_token_makes_no_request() {
    let e = engine(1).await;
    let conn = connect(&e);
    conn.close().await.unwrap();
    assert!(e.requests().is_empty());
}

#[tokio::test]
async fn close_without_logout_keeps_the_token_valid() {
    let e = engine(1).await;
    let conn = connect(&e);
    let token = conn.authenticate().await.unwrap();
    conn.close_without_logout().await.unwrap();
    assert_eq!(e.revocations(), 0);
    let other = Connection::builder()
        .url(e.url())
        .token(token)
        .build()
        .unwrap();
    assert_eq!(get(&other, "vms").await.unwrap().status, 200);
}

#[tokio::test]
async fn slow_logout_is_cut_by_the_logout_timeout() {
    let e = engine(1).await;
    e.program(Rule::post(ovirt_test_engine::SSO_LOGOUT_PATH).delay(Duration::from_secs(30)));
    let conn = options(&e)
        .logout_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    conn.authenticate().await.unwrap();
    let err = conn.close().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(conn.is_closed());
}

#[tokio::test]
async fn dropping_a_connection_with_requests_in_flight_neither_blocks_nor_panics() {
    let e = engine(3).await;
    e.program(Rule::get("vms").delay(Duration::from_millis(200)));
    let conn = connect(&e);
    conn.authenticate().await.unwrap();
    let pending = get(&conn, "vms");
    drop(conn);
    drop(pending);
    // The engine still serves a new connection.
    let conn = connect(&e);
    e.clear_rules();
    assert_eq!(get(&conn, "vms").await.unwrap().status, 200);
}

#[tokio::test]
async fn test_checks_the_api_root() {
    let e = engine(1).await;
    let conn = connect(&e);
    conn.test().await.unwrap();
    let api = e.api_requests();
    assert_eq!(api.len(), 1);
    assert_eq!(api[0].path(), "/ovirt-engine/api");
    // A wrong base path: 404.
    let bad = options(&e)
        .url(format!("{}/ovirt-engine/apx", e.origin()))
        .build()
        .unwrap();
    let err = bad.test().await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let wrong = options(&e).password("x").build().unwrap();
    assert!(wrong.test().await.unwrap_err().is_authentication());
}

#[tokio::test]
async fn connection_to_a_stopped_engine_is_a_connection_error() {
    let e = engine(1).await;
    let conn = connect(&e);
    e.shutdown().await;
    let err = conn.test().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Connection | ErrorKind::Timeout),
        "{err:?}"
    );
}

#[tokio::test]
async fn login_errors_reach_every_waiting_request() {
    let e = engine(4).await;
    let conn = options(&e).password("bad").build().unwrap();
    let results = join_all((0..4).map(|_| get(&conn, "vms"))).await;
    assert!(results.iter().all(|r| r
        .as_ref()
        .is_err_and(|e| matches!(e.kind(), ErrorKind::Authentication))));
    assert_eq!(e.api_requests().len(), 0);
}
