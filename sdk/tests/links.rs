//! Links against the test engine over real sockets: list links and references in a VM
//! (docs/wire.md R3.6), following them, the `follow` parameter's inlined data, and navigation
//! by path (R2.2).

mod connection_common;

use connection_common::connect;
use ovirt::error::ErrorKind;
use ovirt::services::AnyService;
use ovirt::{types, Link, List};
use ovirt_test_engine::{render, Rule, TestEngine, API_PATH};

async fn engine() -> TestEngine {
    TestEngine::builder().vms(3).start().await.unwrap()
}

fn nic_ids(nics: &[types::Nic]) -> Vec<String> {
    nics.iter().filter_map(|n| n.id.clone()).collect()
}

#[tokio::test]
async fn vm_from_the_engine_has_links_that_follow_to_the_same_nics_as_the_path() {
    let e = engine().await;
    let conn = connect(&e);
    let want = e.inventory().vms[1].clone();
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .get()
        .await
        .unwrap();

    let nics_link = vm.nics.as_ref().expect("the engine sends a nics link");
    assert!(nics_link.is_link());
    assert!(vm.nics.is_link());
    assert_eq!(
        nics_link.href(),
        Some(format!("{API_PATH}/vms/{}/nics", want.id).as_str())
    );
    let followed = conn.follow_link(nics_link).await.unwrap();
    let expected: Vec<String> = want.nics.iter().map(|n| n.id.clone()).collect();
    assert!(!expected.is_empty());
    assert_eq!(nic_ids(&followed), expected);

    // The same NICs through the generated locators and by navigation by path.
    let by_locator = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .nics_service()
        .list()
        .await
        .unwrap();
    assert_eq!(nic_ids(&by_locator), expected);
    let by_path = match conn
        .system_service()
        .service(&format!("vms/{}/nics", want.id))
        .unwrap()
    {
        AnyService::VmNics(s) => s.list().await.unwrap(),
        _ => panic!("vms/{{id}}/nics is not the VM NICs service"),
    };
    assert_eq!(nic_ids(&by_path), expected);
    // Read data, not a link.
    assert!(!followed[0].is_link());
}

#[tokio::test]
async fn cluster_reference_is_a_link_that_follows_to_the_cluster() {
    let e = engine().await;
    let conn = connect(&e);
    let inventory = e.inventory();
    let want = &inventory.vms[0];
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .get()
        .await
        .unwrap();
    let reference = vm.cluster.as_ref().expect("the VM names its cluster");
    assert!(reference.is_link());
    assert_eq!(reference.name, None);
    let cluster = conn.follow_link_object(reference.as_ref()).await.unwrap();
    let expected = inventory
        .clusters
        .iter()
        .find(|c| c.id == want.cluster_id)
        .unwrap();
    assert_eq!(cluster.id.as_deref(), Some(expected.id.as_str()));
    assert_eq!(cluster.name.as_deref(), Some(expected.name.as_str()));
    assert!(!cluster.is_link(), "a full cluster is data, not a link");
    // The VM itself has more than id and href.
    assert!(!vm.is_link());
}

#[tokio::test]
async fn follow_parameter_inlines_nics_that_read_as_data_not_a_link() {
    let e = engine().await;
    let conn = connect(&e);
    let want = e.inventory().vms[2].clone();
    // The engine does not implement `follow`; the document a real engine sends for
    // `follow=nics` is programmed: the NICs inline in `<nics>` (R3.6).
    let nics: Vec<String> = want.nics.iter().map(|n| render::nic(&want.id, n)).collect();
    let doc = format!(
        "<vm id=\"{id}\" href=\"{API_PATH}/vms/{id}\"><name>{name}</name>{nics}</vm>",
        id = want.id,
        name = want.name,
        nics = render::list("nics", nics.iter().map(String::as_str)),
    );
    e.program(Rule::get(&format!("vms/{}", want.id)).status(200).xml(doc));

    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .get()
        .follow("nics")
        .await
        .unwrap();
    let request = e.api_requests().pop().unwrap();
    assert!(request
        .query()
        .contains(&("follow".to_string(), "nics".to_string())));
    let nics = vm.nics.as_ref().expect("inlined nics");
    assert!(!nics.is_link());
    assert!(!vm.nics.is_link());
    let expected: Vec<String> = want.nics.iter().map(|n| n.id.clone()).collect();
    assert_eq!(nic_ids(nics), expected);
}

#[tokio::test]
async fn engine_answers_follow_nics_with_the_nics_inline() {
    let e = engine().await;
    let conn = connect(&e);
    let want = e.inventory().vms[0].clone();
    let vm_service = conn.system_service().vms_service().vm_service(&want.id);
    let linked = vm_service.get().await.unwrap();
    let inlined = vm_service.get().follow("nics").await.unwrap();
    assert!(linked.nics.is_link());
    assert!(!inlined.nics.is_link());
    let followed = conn
        .follow_link(linked.nics.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(inlined.nics.as_ref().unwrap().items, followed);
    assert_eq!(inlined.name, linked.name);
}

#[tokio::test]
async fn following_a_link_without_href_is_an_invalid_request_sent_nowhere() {
    let e = engine().await;
    let conn = connect(&e);
    let list: List<types::Nic> = List::new(Vec::new());
    assert!(!list.is_link());
    let err = conn.follow_link(&list).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err}");
    assert!(err.to_string().contains("without href"), "{err}");
    let err = conn
        .follow_link_object(&types::Cluster::new().id("1"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err}");
    assert!(e.api_requests().is_empty());
}

#[tokio::test]
async fn following_a_link_outside_the_api_is_an_invalid_path() {
    let e = engine().await;
    let conn = connect(&e);
    let err = conn
        .follow_link(&List::<types::Nic>::from_href("/elsewhere/nics"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPath), "{err}");
    assert!(e.api_requests().is_empty());
}

#[test]
fn blocking_connection_follows_links_too() {
    use ovirt::blocking::Wait;
    use ovirt_test_engine::{PASSWORD, USERNAME};
    // The engine on a runtime of its own (the blocking facade needs none).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let e = rt.block_on(engine());
    let conn = ovirt::blocking::Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(PASSWORD)
        .build_blocking()
        .unwrap();
    let want = e.inventory().vms[0].clone();
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&want.id)
        .get()
        .wait()
        .unwrap();
    let nics = conn.follow_link(vm.nics.as_ref().unwrap()).wait().unwrap();
    let expected: Vec<String> = want.nics.iter().map(|n| n.id.clone()).collect();
    assert_eq!(nic_ids(&nics), expected);
    let cluster = conn
        .follow_link_object(vm.cluster.as_deref().unwrap())
        .wait()
        .unwrap();
    assert_eq!(cluster.id.as_deref(), Some(want.cluster_id.as_str()));
    assert!(cluster.name.is_some());
    conn.close().unwrap();
}
