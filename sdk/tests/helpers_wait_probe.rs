//! Helpers beyond the official SDKs, against the test engine: waiting for a VM's status
//! (`WaitUntil`) and probing which API versions an engine serves (`ovirt::probe`).

mod connection_common;

use std::time::Duration;

use connection_common::{connect, engine, options};
use ovirt::error::ErrorKind;
use ovirt::types::VmStatus;
use ovirt::WaitUntil;

#[tokio::test]
async fn wait_until_returns_the_vm_once_it_is_up() {
    let e = engine(2).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let down = vms
        .list()
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.status == Some(VmStatus::Down))
        .expect("the test engine has a VM that is down");
    let vm_service = vms.vm_service(&down);
    vm_service.start().await.unwrap();
    let vm = vm_service
        .wait_until(
            |vm| vm.status == Some(VmStatus::Up),
            Duration::from_secs(30),
            Duration::from_millis(10),
        )
        .await
        .unwrap();
    assert_eq!(vm.status, Some(VmStatus::Up));
    assert_eq!(vm.id, down.id);
}

#[tokio::test]
async fn wait_until_a_condition_that_never_holds_times_out_naming_the_method() {
    let e = engine(1).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service().list().await.unwrap();
    let vm_service = conn.system_service().vms_service().vm_service(&vms[0]);
    let err = vm_service
        .wait_until(
            |_| false,
            Duration::from_millis(50),
            Duration::from_millis(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Timeout), "{err:?}");
    assert!(err.to_string().contains("vm.get"), "{err}");
    // It looked more than once before giving up.
    let gets = e
        .api_requests()
        .iter()
        .filter(|r| r.path().ends_with(vms[0].id.as_deref().unwrap()))
        .count();
    assert!(gets >= 2, "{gets} gets");
}

#[tokio::test]
async fn wait_until_ends_with_the_error_of_a_failed_get() {
    let e = engine(1).await;
    let conn = connect(&e);
    let err = conn
        .system_service()
        .vms_service()
        .vm_service("missing")
        .wait_until(|_| true, Duration::from_secs(30), Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
}

#[tokio::test]
async fn probe_says_the_test_engine_serves_version_4_and_what_it_is() {
    let e = engine(1).await;
    let found = ovirt::probe(options(&e)).await.unwrap();
    // The test engine answers `Version: 3` with an error page: only 4 is served.
    assert_eq!(found.versions, vec![4]);
    assert_eq!(found.product_name.as_deref(), Some("oVirt Engine"));
    assert_eq!(found.product_version.as_deref(), Some("4.5.0-test"));
    // It logged in and out again.
    assert_eq!(e.logins(), 1);
    assert_eq!(e.revocations(), 1);
}

#[tokio::test]
async fn probe_of_a_wrong_path_says_so() {
    let e = engine(1).await;
    let err = ovirt::probe(options(&e).url(format!("{}/ovirt-engine/apii", e.origin())))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert!(
        err.to_string()
            .contains("is /ovirt-engine/apii the right path"),
        "{err}"
    );
}
