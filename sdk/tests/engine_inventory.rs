//! The generated services through a `Connection` against the test engine: the data the
//! SDK reads is the data the engine holds.

mod connection_common;

use connection_common::connect;
use futures_util::future::join_all;
use ovirt::services::AnyService;
use ovirt::types;
use ovirt_test_engine::{inventory, Rule, TestEngine};

async fn engine(vms: usize) -> TestEngine {
    TestEngine::builder().vms(vms).start().await.unwrap()
}

fn status(s: inventory::VmStatus) -> types::VmStatus {
    match s {
        inventory::VmStatus::Up => types::VmStatus::Up,
        _ => types::VmStatus::Down,
    }
}

#[tokio::test]
async fn pipelined_inventory_reads_exactly_the_engine_inventory() {
    let e = engine(40).await;
    let conn = connect(&e);
    let vms_service = conn.system_service().vms_service();
    let vms = vms_service.list().await.unwrap();
    let expected = e.inventory().vms;
    assert_eq!(vms.len(), expected.len());
    // Every sub-collection request is sent before the first answer is awaited.
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            let s = vms_service.vm_service(vm.id.as_deref().unwrap());
            (
                s.disk_attachments_service().list().send(),
                s.nics_service().list().send(),
                s.permissions_service().list().send(),
            )
        })
        .collect();
    for ((vm, want), (disks, nics, perms)) in vms.iter().zip(&expected).zip(pending) {
        assert_eq!(vm.id.as_deref(), Some(want.id.as_str()));
        assert_eq!(vm.name.as_deref(), Some(want.name.as_str()));
        assert_eq!(vm.status, Some(status(want.status)));
        assert_eq!(vm.memory, Some(want.memory));
        assert_eq!(
            vm.cluster.as_ref().and_then(|c| c.id.as_deref()),
            Some(want.cluster_id.as_str())
        );
        assert_eq!(
            vm.host.as_ref().and_then(|h| h.id.clone()),
            want.host_id.clone()
        );
        let disks = disks.await.unwrap();
        let got: Vec<(Option<String>, Option<bool>)> =
            disks.iter().map(|d| (d.id.clone(), d.bootable)).collect();
        let exp: Vec<(Option<String>, Option<bool>)> = want
            .disk_attachments
            .iter()
            .map(|d| (Some(d.id.clone()), Some(d.bootable)))
            .collect();
        assert_eq!(got, exp);
        let nics = nics.await.unwrap();
        let got: Vec<(Option<String>, Option<String>)> = nics
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.mac.as_ref().and_then(|m| m.address.clone()),
                )
            })
            .collect();
        let exp: Vec<(Option<String>, Option<String>)> = want
            .nics
            .iter()
            .map(|n| (Some(n.name.clone()), Some(n.mac.clone())))
            .collect();
        assert_eq!(got, exp);
        let perms = perms.await.unwrap();
        let got: Vec<Option<String>> = perms
            .iter()
            .map(|p| p.role.as_ref().and_then(|r| r.id.clone()))
            .collect();
        let exp: Vec<Option<String>> = want
            .permissions
            .iter()
            .map(|p| Some(p.role_id.clone()))
            .collect();
        assert_eq!(got, exp);
    }
    assert_eq!(e.logins(), 1);
    assert_eq!(e.api_requests().len(), 1 + 3 * expected.len());
}

#[tokio::test]
async fn search_and_max_reach_the_engine() {
    let e = engine(30).await;
    let conn = connect(&e);
    let vms = conn
        .system_service()
        .vms_service()
        .list()
        .search("name=vm-001*")
        .max(4)
        .await
        .unwrap();
    let names: Vec<String> = vms.iter().filter_map(|v| v.name.clone()).collect();
    assert_eq!(names, ["vm-0010", "vm-0011", "vm-0012", "vm-0013"]);
    let req = e.api_requests().pop().unwrap();
    let query = req.query();
    assert!(query.contains(&("search".to_string(), "name=vm-001*".to_string())));
    assert!(query.contains(&("max".to_string(), "4".to_string())));
}

#[tokio::test]
async fn add_start_stop_and_remove_a_vm() {
    let e = engine(2).await;
    let conn = connect(&e);
    let vms_service = conn.system_service().vms_service();
    let added = vms_service
        .add()
        .vm(types::Vm::new()
            .name("web1")
            .cluster(types::Cluster::new().name("Default")))
        .await
        .unwrap();
    let id = added.id.clone().unwrap();
    assert_eq!(added.name.as_deref(), Some("web1"));
    assert_eq!(e.inventory().vm_by_name("web1").unwrap().id, id);
    let post = e.api_requests().pop().unwrap();
    assert!(
        post.body_text().contains("<name>web1</name>"),
        "{}",
        post.body_text()
    );

    let vm = vms_service.vm_service(&id);
    vm.start().await.unwrap();
    assert_eq!(vm.get().await.unwrap().status, Some(types::VmStatus::Up));
    // Starting a running VM: the action fault comes back as a conflict (R4.2, R4.3).
    let err = vm.start().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        err.engine_fault().and_then(|f| f.reason.as_deref()),
        Some("Operation Failed")
    );
    vm.stop().await.unwrap();
    vm.remove().await.unwrap();
    assert!(vm.get().await.unwrap_err().is_not_found());
    // The same name twice is a conflict with the engine's fault.
    let err = vms_service
        .add()
        .vm(types::Vm::new()
            .name("vm-0000")
            .cluster(types::Cluster::new().name("Default")))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn hosts_clusters_and_data_centers_are_read() {
    let e = engine(1).await;
    let conn = connect(&e);
    let system = conn.system_service();
    let inv = e.inventory();
    let hosts = system.hosts_service().list().await.unwrap();
    assert_eq!(hosts.len(), inv.hosts.len());
    assert_eq!(
        hosts[1].address.as_deref(),
        Some(inv.hosts[1].address.as_str())
    );
    let cluster = system
        .clusters_service()
        .cluster_service(&inv.clusters[0].id)
        .get()
        .await
        .unwrap();
    assert_eq!(cluster.name.as_deref(), Some("Default"));
    let dcs = system.data_centers_service().list().await.unwrap();
    assert_eq!(dcs[0].id.as_deref(), Some(inv.data_centers[0].id.as_str()));
    let api = system.get().await.unwrap();
    assert_eq!(
        api.product_info.and_then(|p| p.name),
        Some("oVirt Engine".to_string())
    );
}

#[tokio::test]
async fn list_links_of_a_vm_are_followed_by_href() {
    let e = engine(3).await;
    let conn = connect(&e);
    let system = conn.system_service();
    let vm = system.vms_service().list().await.unwrap().remove(1);
    let href = vm.nics.as_ref().and_then(|l| l.href.clone()).unwrap();
    let AnyService::VmNics(nics) = system.service_for_href(&href).unwrap() else {
        panic!("{href} is not a VM's NICs service");
    };
    let nics = nics.list().await.unwrap();
    assert_eq!(nics.len(), e.inventory().vms[1].nics.len());
}

#[tokio::test]
async fn tokens_expiring_during_the_inventory_cause_one_new_login() {
    let e = engine(10).await;
    let vms = e.inventory().vms;
    e.program(
        Rule::get(&format!("vms/{}/nics", vms[5].id))
            .expire_tokens()
            .times(1),
    );
    let conn = connect(&e);
    let vms_service = conn.system_service().vms_service();
    let lists = join_all(
        vms.iter()
            .map(|v| vms_service.vm_service(&v.id).nics_service().list().send()),
    )
    .await;
    for (want, got) in vms.iter().zip(lists) {
        assert_eq!(got.unwrap().len(), want.nics.len());
    }
    assert_eq!(e.logins(), 2);
}

#[tokio::test]
async fn engine_faults_become_errors_with_the_fault() {
    let e = engine(1).await;
    e.program(
        Rule::get("hosts")
            .status(500)
            .xml("<fault><reason>Internal</reason><detail>database down</detail></fault>"),
    );
    let conn = connect(&e);
    let err = conn
        .system_service()
        .hosts_service()
        .list()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(500));
    assert_eq!(
        err.engine_fault().and_then(|f| f.detail.as_deref()),
        Some("database down")
    );
    let err = conn
        .system_service()
        .vms_service()
        .vm_service("missing")
        .get()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
