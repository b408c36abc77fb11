//! The blocking facade: waiting calls and handles whose requests are already on their way.

mod connection_common;

use connection_common::{ids_of, GetBody};
use ovirt::blocking::{Connection, Wait};
use ovirt::service::ServiceContext;
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};

/// An engine on a runtime of its own (the test itself has none).
fn engine(vms: usize) -> (tokio::runtime::Runtime, TestEngine) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(TestEngine::builder().vms(vms).start()).unwrap();
    (rt, e)
}

fn connect(e: &TestEngine, connections: usize) -> Connection {
    Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(PASSWORD)
        .connections(connections)
        .build_blocking()
        .unwrap()
}

fn at(root: &ServiceContext, path: &str) -> ServiceContext {
    path.split('/').fold(root.clone(), |c, s| c.child(s))
}

#[test]
fn wait_gives_the_result_of_a_call() {
    let (_rt, e) = engine(4);
    let conn = connect(&e, 1);
    let body = at(&conn.root_context(), "vms")
        .request::<GetBody>()
        .wait()
        .unwrap();
    assert_eq!(ids_of(&String::from_utf8_lossy(&body), "vm").len(), 4);
    assert_eq!(e.logins(), 1);
    let err = at(&conn.root_context(), "vms/missing")
        .request::<GetBody>()
        .wait()
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn handles_are_returned_at_once_and_waited_for_in_any_order() {
    let (_rt, e) = engine(5);
    let conn = connect(&e, 1);
    conn.authenticate().unwrap();
    let vms = e.inventory().vms;
    let root = conn.root_context();
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            at(&root, &format!("vms/{}/diskattachments", vm.id))
                .request::<GetBody>()
                .send()
        })
        .collect();
    let mut results: Vec<_> = pending.into_iter().rev().map(|p| p.wait()).collect();
    results.reverse();
    for (vm, r) in vms.iter().zip(results) {
        let body = String::from_utf8_lossy(&r.unwrap()).into_owned();
        let expected: Vec<String> = vm.disk_attachments.iter().map(|d| d.id.clone()).collect();
        assert_eq!(ids_of(&body, "disk_attachment"), expected);
    }
}

#[test]
fn requests_are_on_their_way_before_anyone_waits() {
    let (_rt, e) = engine(5);
    let conn = connect(&e, 1);
    conn.authenticate().unwrap();
    let vms = e.inventory().vms;
    let root = conn.root_context();
    let mut pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            at(&root, &format!("vms/{}", vm.id))
                .request::<GetBody>()
                .send()
        })
        .collect();
    // One connection answers in order: once the last answer is in, the engine has
    // received every earlier request although nobody waited for them.
    pending.pop().unwrap().wait().unwrap();
    assert_eq!(e.api_requests().len(), vms.len());
    for p in pending {
        p.wait().unwrap();
    }
}

#[test]
fn threads_sharing_a_connection_log_in_once() {
    let (_rt, e) = engine(3);
    let conn = connect(&e, 2);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let conn = conn.clone();
            std::thread::spawn(move || {
                at(&conn.root_context(), "vms")
                    .request::<GetBody>()
                    .wait()
                    .map(|b| b.len())
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().unwrap() > 0);
    }
    assert_eq!(e.logins(), 1);
}

#[test]
fn test_and_close_work_and_close_revokes() {
    let (_rt, e) = engine(1);
    let conn = connect(&e, 1);
    conn.test().unwrap();
    conn.close().unwrap();
    assert_eq!(e.revocations(), 1);
    conn.close().unwrap();
    let err = at(&conn.root_context(), "vms")
        .request::<GetBody>()
        .wait()
        .unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

#[test]
fn dropping_a_blocking_connection_with_a_pending_call_does_not_block() {
    let (_rt, e) = engine(1);
    let conn = connect(&e, 1);
    let pending = at(&conn.root_context(), "vms").request::<GetBody>().send();
    drop(conn);
    // The handle keeps the background thread alive until it has its answer.
    assert!(pending.wait().is_ok());
}

#[test]
fn generated_services_work_through_the_blocking_connection() {
    let (_rt, e) = engine(6);
    let conn = connect(&e, 2);
    let vms_service = conn.system_service().vms_service();
    let vms = vms_service
        .list()
        .search("name=vm-000*")
        .max(4)
        .wait()
        .unwrap();
    assert_eq!(vms.len(), 4);
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            vms_service
                .vm_service(vm.id.as_deref().unwrap())
                .disk_attachments_service()
                .list()
                .send()
        })
        .collect();
    for (want, got) in e.inventory().vms.iter().zip(pending) {
        let got: Vec<Option<String>> = got.wait().unwrap().into_iter().map(|d| d.id).collect();
        let want: Vec<Option<String>> = want
            .disk_attachments
            .iter()
            .map(|d| Some(d.id.clone()))
            .collect();
        assert_eq!(got, want);
    }
    let err = vms_service.vm_service("missing").get().wait().unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
