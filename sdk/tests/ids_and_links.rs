//! Ids and links without noise, against the test engine: a locator takes anything that
//! names an id (`&str`, `String`, `&String`, `&Option<String>`, `Option<&str>`, a returned
//! object), and `follow_link` takes the `Option` fields of returned objects as they are.

mod connection_common;

use connection_common::connect;
use ovirt::error::ErrorKind;
use ovirt::types;
use ovirt_test_engine::TestEngine;

async fn engine() -> TestEngine {
    TestEngine::builder().vms(3).start().await.unwrap()
}

#[tokio::test]
async fn a_locator_takes_strings_options_and_objects_alike() {
    let e = engine().await;
    let conn = connect(&e);
    let vms_service = conn.system_service().vms_service();
    let vms = vms_service.list().await.unwrap();
    let vm: &types::Vm = &vms[1];
    let id: String = vm.id.clone().unwrap();
    let paths = [
        vms_service
            .vm_service(id.as_str())
            .context()
            .path()
            .to_owned(),
        vms_service
            .vm_service(id.clone())
            .context()
            .path()
            .to_owned(),
        vms_service.vm_service(&id).context().path().to_owned(),
        vms_service.vm_service(&vm.id).context().path().to_owned(),
        vms_service
            .vm_service(vm.id.as_deref())
            .context()
            .path()
            .to_owned(),
        vms_service.vm_service(vm).context().path().to_owned(),
    ];
    for p in &paths {
        assert_eq!(p, &format!("vms/{id}"));
    }
    // Through the engine: the same VM.
    let got = vms_service.vm_service(vm).get().await.unwrap();
    assert_eq!(got.id.as_deref(), Some(id.as_str()));
    // A reference inside an object names its id too (`Option<Box<Cluster>>`).
    let cluster = conn
        .system_service()
        .clusters_service()
        .cluster_service(&got.cluster)
        .get()
        .await
        .unwrap();
    assert_eq!(
        cluster.id,
        got.cluster.as_ref().and_then(|c| c.id.clone()),
        "{cluster:?}"
    );
}

#[tokio::test]
async fn a_locator_given_no_id_fails_when_sent_and_sends_nothing() {
    let e = engine().await;
    let conn = connect(&e);
    conn.authenticate().await.unwrap();
    let none: Option<String> = None;
    let err = conn
        .system_service()
        .vms_service()
        .vm_service(&none)
        .nics_service()
        .list()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(
        err.to_string().contains("vm_service was given no id"),
        "{err}"
    );
    let bare = types::Vm::new().name("no id");
    let err = conn
        .system_service()
        .vms_service()
        .vm_service(&bare)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(e.api_requests().is_empty(), "{:?}", e.api_requests());
}

#[tokio::test]
async fn follow_link_takes_the_option_fields_of_lists_and_references() {
    let e = engine().await;
    let conn = connect(&e);
    let want = e.inventory().vms[0].clone();
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .get()
        .await
        .unwrap();
    // `vm.nics` is `Option<List<Nic>>`: the list's items.
    let nics: Vec<types::Nic> = conn.follow_link(&vm.nics).await.unwrap();
    let expected: Vec<String> = want.nics.iter().map(|n| n.id.clone()).collect();
    assert_eq!(
        nics.iter().filter_map(|n| n.id.clone()).collect::<Vec<_>>(),
        expected
    );
    // `vm.cluster` is `Option<Box<Cluster>>`: the whole cluster.
    let cluster: types::Cluster = conn.follow_link(&vm.cluster).await.unwrap();
    assert!(cluster.name.is_some(), "{cluster:?}");
    // A list or a reference taken out of its `Option` works the same.
    let same = conn.follow_link(vm.nics.as_ref().unwrap()).await.unwrap();
    assert_eq!(same.len(), nics.len());
    let same = conn
        .follow_link(&**vm.cluster.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(same.id, cluster.id);
    // A field that is not set fails when sent, naming why.
    let unset = types::Vm::new();
    let err = conn.follow_link(&unset.nics).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(err.to_string().contains("not set"), "{err}");
    let err = conn.follow_link(&unset.cluster).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
}

#[test]
fn follow_link_on_the_blocking_connection_takes_the_fields_too() {
    use ovirt::blocking::Wait;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(engine());
    let conn = connection_common::options(&e).build_blocking().unwrap();
    let vms = conn.system_service().vms_service().list().wait().unwrap();
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&vms[0])
        .get()
        .wait()
        .unwrap();
    let nics = conn.follow_link(&vm.nics).wait().unwrap();
    assert!(!nics.is_empty());
    let cluster = conn.follow_link(&vm.cluster).wait().unwrap();
    assert!(cluster.id.is_some());
    conn.close().unwrap();
}
