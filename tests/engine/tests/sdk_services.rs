//! The engine's collections, actions, search and views, driven through the SDK's
//! generated services over real sockets (the SDK's own client, no mocks).

use ovirt::types::{self, VmStatus};
use ovirt::{Connection, Error, Link};
use ovirt_test_engine::{Pace, TestEngine, PASSWORD, USERNAME};

async fn engine(vms: usize, pace: Pace) -> TestEngine {
    TestEngine::builder()
        .vms(vms)
        .pace(pace)
        .start()
        .await
        .unwrap()
}

fn connect(e: &TestEngine) -> Connection {
    Connection::builder()
        .url(e.url())
        .username(USERNAME)
        .password(PASSWORD)
        .build()
        .unwrap()
}

/// The fault's reason and detail of an error.
fn fault(e: &Error) -> (String, String) {
    let f = e
        .engine_fault()
        .expect("the error carries the engine's fault");
    (
        f.reason.clone().unwrap_or_default(),
        f.detail.clone().unwrap_or_default(),
    )
}

/// add, get, list, update, get, remove, get (404) on one collection.
macro_rules! crud {
    ($coll:expr, $locate:ident, $add:ident($new:expr), $upd:ident($change:expr), |$x:ident| $check:expr) => {{
        let coll = $coll;
        let created = coll.add().$add($new).await.expect("add");
        let id = created.id.clone().expect("the created object has an id");
        assert!(
            created.href.as_deref().is_some_and(|h| h.ends_with(&id)),
            "{:?}",
            created.href
        );
        let one = coll.$locate(&id);
        assert_eq!(one.get().await.unwrap().id.as_deref(), Some(id.as_str()));
        let all = coll.list().await.unwrap();
        assert!(all.iter().any(|x| x.id.as_deref() == Some(id.as_str())));
        let $x = one.update().$upd($change).await.expect("update");
        assert!($check, "the update answer shows the change");
        let $x = one.get().await.unwrap();
        assert!($check, "the change is stored");
        one.remove().await.expect("remove");
        assert!(one.get().await.unwrap_err().is_not_found());
        id
    }};
}

#[tokio::test]
async fn top_level_collections_add_get_list_update_and_remove() {
    let e = engine(2, Pace::Instant).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let dc = e.inventory().data_centers[0].id.clone();

    crud!(
        sys.data_centers_service(),
        data_center_service,
        data_center(types::DataCenter::new().name("dc-new").local(false)),
        data_center(types::DataCenter::new().description("changed")),
        |x| x.description.as_deref() == Some("changed") && x.name.as_deref() == Some("dc-new")
    );
    crud!(
        sys.clusters_service(),
        cluster_service,
        cluster(
            types::Cluster::new()
                .name("cl-new")
                .data_center(types::DataCenter::new().name("Default"))
        ),
        cluster(types::Cluster::new().name("cl-renamed")),
        |x| x.name.as_deref() == Some("cl-renamed")
            && x.data_center.as_ref().and_then(|d| d.id.as_deref()) == Some(dc.as_str())
    );
    crud!(
        sys.vms_service(),
        vm_service,
        vm(types::Vm::new()
            .name("vm-new")
            .cluster(types::Cluster::new().name("Default"))
            .template(types::Template::new().name("Blank"))),
        vm(types::Vm::new().memory(2i64 << 30)),
        |x| x.memory == Some(2 << 30) && x.status == Some(VmStatus::Down)
    );
    let vm = e.inventory().vms[1].id.clone();
    crud!(
        sys.templates_service(),
        template_service,
        template(
            types::Template::new()
                .name("tpl")
                .vm(types::Vm::new().id(vm.as_str()))
        ),
        template(types::Template::new().description("golden")),
        |x| x.description.as_deref() == Some("golden")
    );
    crud!(
        sys.disks_service(),
        disk_service,
        disk(
            types::Disk::new()
                .name("scratch")
                .provisioned_size(1i64 << 30)
                .format(types::DiskFormat::Cow)
                .storage_domains(vec![types::StorageDomain::new().name("data")])
        ),
        disk(types::Disk::new().provisioned_size(2i64 << 30)),
        |x| x.provisioned_size == Some(2 << 30)
    );
    let host = e.inventory().hosts[0].id.clone();
    crud!(
        sys.storage_domains_service(),
        storage_domain_service,
        storage_domain(
            types::StorageDomain::new()
                .name("iso")
                .r#type(types::StorageDomainType::Iso)
                .host(types::Host::new().id(host.as_str()))
                .storage(
                    types::HostStorage::new()
                        .r#type(types::StorageType::Nfs)
                        .address("nfs.example.com")
                        .path("/iso")
                )
        ),
        storage_domain(types::StorageDomain::new().description("images")),
        |x| x.description.as_deref() == Some("images")
    );
    let net = crud!(
        sys.networks_service(),
        network_service,
        network(
            types::Network::new()
                .name("storage")
                .data_center(types::DataCenter::new().id(dc.as_str()))
        ),
        network(types::Network::new().mtu(9000i64)),
        |x| x.mtu == Some(9000)
    );
    assert!(!net.is_empty());
    let mgmt = sys.networks_service().list().await.unwrap()[0]
        .id
        .clone()
        .unwrap();
    crud!(
        sys.vnic_profiles_service(),
        profile_service,
        profile(
            types::VnicProfile::new()
                .name("mirror")
                .network(types::Network::new().id(mgmt.as_str()))
        ),
        profile(types::VnicProfile::new().port_mirroring(true)),
        |x| x.port_mirroring == Some(true)
    );
    crud!(
        sys.users_service(),
        user_service,
        user(
            types::User::new()
                .user_name("bob@internal-authz")
                .domain(types::Domain::new().name("internal-authz"))
        ),
        user(types::User::new().email("bob@example.com")),
        |x| x.email.as_deref() == Some("bob@example.com")
    );
    crud!(
        sys.tags_service(),
        tag_service,
        tag(types::Tag::new().name("prod")),
        tag(types::Tag::new().description("production")),
        |x| x.description.as_deref() == Some("production")
    );
}

#[tokio::test]
async fn a_vms_nics_disk_attachments_snapshots_cdroms_and_permissions() {
    let e = engine(2, Pace::Instant).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let vm_id = e.inventory().vms[1].id.clone();
    let vm = sys.vms_service().vm_service(&vm_id);

    crud!(
        vm.nics_service(),
        nic_service,
        nic(types::Nic::new().name("nic9")),
        nic(types::Nic::new().interface(types::NicInterface::E1000)),
        |x| x.interface == Some(types::NicInterface::E1000)
            && x.mac.as_ref().and_then(|m| m.address.as_ref()).is_some()
    );
    // A disk attachment with a new disk creates the disk, with the attachment's id.
    let id = crud!(
        vm.disk_attachments_service(),
        attachment_service,
        attachment(
            types::DiskAttachment::new()
                .interface(types::DiskInterface::Virtio)
                .bootable(false)
                .disk(
                    types::Disk::new()
                        .name("extra")
                        .provisioned_size(1i64 << 30)
                        .format(types::DiskFormat::Raw)
                        .storage_domains(vec![types::StorageDomain::new().name("data")])
                )
        ),
        disk_attachment(types::DiskAttachment::new().bootable(true)),
        |x| x.bootable == Some(true)
    );
    let disk = sys.disks_service().disk_service(&id).get().await.unwrap();
    assert_eq!(disk.name.as_deref(), Some("extra"));

    // Snapshots: the `Active VM` one exists; a new one is added and removed.
    let snaps = vm.snapshots_service();
    let all = snaps.list().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].snapshot_type, Some(types::SnapshotType::Active));
    let s = snaps
        .add()
        .snapshot(types::Snapshot::new().description("before upgrade"))
        .await
        .unwrap();
    let sid = s.id.clone().unwrap();
    assert_eq!(snaps.list().await.unwrap().len(), 2);
    snaps.snapshot_service(&sid).remove().await.unwrap();
    assert_eq!(snaps.list().await.unwrap().len(), 1);

    // The CD-ROM: change the inserted file.
    let cdroms = vm.cdroms_service();
    let cd = cdroms.list().await.unwrap().remove(0);
    let cd_service = cdroms.cdrom_service(cd.id.as_deref().unwrap());
    let changed = cd_service
        .update()
        .cdrom(types::Cdrom::new().file(types::File::new().id("centos.iso")))
        .await
        .unwrap();
    assert_eq!(
        changed.file.and_then(|f| f.id).as_deref(),
        Some("centos.iso")
    );

    // Permissions: grant a role to a user, then take it back.
    let perms = vm.permissions_service();
    let before = perms.list().await.unwrap().len();
    let user = sys.users_service().list().await.unwrap().remove(1);
    let p = perms
        .add()
        .permission(
            types::Permission::new()
                .role(types::Role::new().name("UserRole"))
                .user(types::User::new().id(user.id.as_deref().unwrap())),
        )
        .await
        .unwrap();
    assert_eq!(perms.list().await.unwrap().len(), before + 1);
    let pid = p.id.unwrap();
    perms.permission_service(&pid).remove().await.unwrap();
    assert_eq!(perms.list().await.unwrap().len(), before);
}

#[tokio::test]
async fn events_jobs_and_steps() {
    let e = engine(1, Pace::Instant).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let events = sys.events_service();
    let last = events
        .list()
        .await
        .unwrap()
        .last()
        .unwrap()
        .id
        .clone()
        .unwrap();
    let added = events
        .add()
        .event(
            types::Event::new()
                .description("backup done")
                .severity(types::LogSeverity::Normal)
                .origin("backup")
                .custom_id(7i64),
        )
        .await
        .unwrap();
    // Event ids are numbers; `from` lists the newer ones.
    let newer = events
        .list()
        .from(last.parse::<i64>().unwrap())
        .await
        .unwrap();
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].id, added.id);
    let found = events.list().search("origin=backup").await.unwrap();
    assert_eq!(found[0].description.as_deref(), Some("backup done"));
    events
        .event_service(added.id.as_deref().unwrap())
        .remove()
        .await
        .unwrap();

    // An external job with a step, ended by the client.
    let jobs = sys.jobs_service();
    let job = jobs
        .add()
        .job(types::Job::new().description("nightly backup"))
        .query("correlation_id", "nightly-1")
        .await
        .unwrap();
    assert_eq!(job.status, Some(types::JobStatus::Started));
    let job_service = jobs.job_service(job.id.as_deref().unwrap());
    let step = job_service
        .steps_service()
        .add()
        .step(
            types::Step::new()
                .description("copy")
                .r#type(types::StepEnum::Executing),
        )
        .await
        .unwrap();
    assert_eq!(step.number, Some(1));
    let found = jobs
        .list()
        .search("correlation_id=nightly-1")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    job_service.end().succeeded(true).await.unwrap();
    assert_eq!(
        job_service.get().await.unwrap().status,
        Some(types::JobStatus::Finished)
    );
    let err = job_service.end().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn faults_name_missing_values_names_in_use_and_missing_references() {
    let e = engine(2, Pace::Instant).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();

    let err = vms
        .add()
        .vm(types::Vm::new().name("no-cluster"))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(
        fault(&err),
        (
            "Incomplete parameters".to_string(),
            "Vm [cluster.id|name] required for add".to_string()
        )
    );

    let err = vms
        .add()
        .vm(types::Vm::new()
            .name("vm-0000")
            .cluster(types::Cluster::new().name("Default")))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(fault(&err).1.contains("'vm-0000' is already in use"));

    let err = vms
        .add()
        .vm(types::Vm::new()
            .name("x")
            .cluster(types::Cluster::new().name("Nowhere")))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(fault(&err).1, "Entity not found: Cluster: name=Nowhere");

    // Renaming onto another VM's name is a conflict as well.
    let vm1 = vms.vm_service(&e.inventory().vms[1].id);
    let err = vm1
        .update()
        .vm(types::Vm::new().name("vm-0000"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");

    // A running VM cannot be removed.
    let vm0 = vms.vm_service(&e.inventory().vms[0].id);
    let err = vm0.remove().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(fault(&err).1.contains("VM is running"));

    // Objects that do not exist.
    let missing = vms.vm_service("00000000-0000-0000-0000-00000000dead");
    assert!(missing.get().await.unwrap_err().is_not_found());
    assert!(missing.start().await.unwrap_err().is_not_found());
    assert!(missing
        .nics_service()
        .list()
        .await
        .unwrap_err()
        .is_not_found());

    // Disks need a size, a format and a storage domain.
    let err = conn
        .system_service()
        .disks_service()
        .add()
        .disk(types::Disk::new().name("d"))
        .await
        .unwrap_err();
    assert_eq!(
        fault(&err).1,
        "Disk [provisioned_size, format, storage_domains.storage_domain.id|name] required for add"
    );
}

/// The status of a VM as the API sends it.
async fn status(vm: &ovirt::services::VmService) -> VmStatus {
    vm.get().await.unwrap().status.unwrap()
}

#[tokio::test]
async fn a_starting_vm_passes_through_its_statuses_one_request_each() {
    let e = engine(2, Pace::Requests(1)).await;
    let conn = connect(&e);
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(&e.inventory().vms[1].id);
    assert_eq!(status(&vm).await, VmStatus::Down);
    let action = vm.start().query("correlation_id", "start-1").await.unwrap();
    assert_eq!(action.status.as_deref(), Some("complete"));
    let seen = [status(&vm).await, status(&vm).await, status(&vm).await];
    assert_eq!(
        seen,
        [VmStatus::WaitForLaunch, VmStatus::PoweringUp, VmStatus::Up]
    );
    // The job of the action is found by its correlation id, finished now.
    let jobs = conn
        .system_service()
        .jobs_service()
        .list()
        .search("correlation_id=start-1")
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].status, Some(types::JobStatus::Finished));
    assert_eq!(
        action.job.as_ref().and_then(|j| j.id.as_deref()),
        jobs[0].id.as_deref()
    );
    let steps = conn
        .system_service()
        .jobs_service()
        .job_service(jobs[0].id.as_deref().unwrap())
        .steps_service()
        .list()
        .await
        .unwrap();
    assert_eq!(steps[0].status, Some(types::StepStatus::Finished));
    // Running now, on a host.
    assert!(vm.get().await.unwrap().host.is_some());
}

#[tokio::test]
async fn with_a_manual_clock_statuses_move_only_when_the_test_advances_it() {
    let e = engine(2, Pace::Manual).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let vm = sys.vms_service().vm_service(&e.inventory().vms[0].id);
    assert_eq!(status(&vm).await, VmStatus::Up);

    vm.shutdown().await.unwrap();
    for _ in 0..3 {
        assert_eq!(status(&vm).await, VmStatus::PoweringDown);
    }
    // A job is running meanwhile.
    let running = sys
        .jobs_service()
        .list()
        .search("status=started")
        .await
        .unwrap();
    assert_eq!(running.len(), 1);
    e.advance(1);
    assert_eq!(status(&vm).await, VmStatus::Down);
    assert!(vm.get().await.unwrap().host.is_none());
    assert_eq!(e.pending(), 0);

    vm.start().await.unwrap();
    assert_eq!(status(&vm).await, VmStatus::WaitForLaunch);
    e.advance(1);
    assert_eq!(status(&vm).await, VmStatus::PoweringUp);
    e.settle();
    assert_eq!(status(&vm).await, VmStatus::Up);

    vm.suspend().await.unwrap();
    assert_eq!(status(&vm).await, VmStatus::SavingState);
    e.advance(1);
    assert_eq!(status(&vm).await, VmStatus::Suspended);
    vm.start().await.unwrap();
    assert_eq!(status(&vm).await, VmStatus::RestoringState);
    e.advance(1);
    assert_eq!(status(&vm).await, VmStatus::Up);

    vm.stop().await.unwrap();
    e.settle();
    assert_eq!(status(&vm).await, VmStatus::Down);
    let err = vm.stop().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        fault(&err),
        (
            "Operation Failed".to_string(),
            "[Cannot stop VM. VM is not running.]".to_string()
        )
    );
}

#[tokio::test]
async fn new_disks_and_snapshots_are_locked_until_created() {
    let e = engine(2, Pace::Manual).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let disks = sys.disks_service();
    let disk = disks
        .add()
        .disk(
            types::Disk::new()
                .name("big")
                .provisioned_size(100i64 << 30)
                .format(types::DiskFormat::Cow)
                .storage_domains(vec![types::StorageDomain::new().name("data")]),
        )
        .await
        .unwrap();
    assert_eq!(disk.status, Some(types::DiskStatus::Locked));
    let disk = disks.disk_service(disk.id.as_deref().unwrap());
    assert_eq!(
        disk.get().await.unwrap().status,
        Some(types::DiskStatus::Locked)
    );
    e.advance(1);
    assert_eq!(
        disk.get().await.unwrap().status,
        Some(types::DiskStatus::Ok)
    );

    let snaps = sys
        .vms_service()
        .vm_service(&e.inventory().vms[1].id)
        .snapshots_service();
    let s = snaps
        .add()
        .snapshot(types::Snapshot::new().description("s1"))
        .await
        .unwrap();
    assert_eq!(s.snapshot_status, Some(types::SnapshotStatus::Locked));
    let s = snaps.snapshot_service(s.id.as_deref().unwrap());
    e.advance(1);
    assert_eq!(
        s.get().await.unwrap().snapshot_status,
        Some(types::SnapshotStatus::Ok)
    );
}

#[tokio::test]
async fn hosts_go_to_maintenance_and_back_and_discover_iscsi_targets() {
    let e = engine(0, Pace::Requests(1)).await;
    let conn = connect(&e);
    let host = conn
        .system_service()
        .hosts_service()
        .host_service(&e.inventory().hosts[0].id);
    let st = |h: types::Host| h.status.unwrap();
    host.deactivate().await.unwrap();
    assert_eq!(
        st(host.get().await.unwrap()),
        types::HostStatus::PreparingForMaintenance
    );
    assert_eq!(
        st(host.get().await.unwrap()),
        types::HostStatus::Maintenance
    );
    assert!(host.deactivate().await.unwrap_err().is_conflict());
    host.activate().await.unwrap();
    assert_eq!(st(host.get().await.unwrap()), types::HostStatus::Connecting);
    assert_eq!(st(host.get().await.unwrap()), types::HostStatus::Up);

    // An action that returns a value.
    let targets = host
        .iscsi_discover()
        .iscsi(types::IscsiDetails::new().address("san.example.com"))
        .await
        .unwrap();
    assert_eq!(targets.len(), 2);
    assert!(targets[0].starts_with("iqn.") && targets[0].contains("san.example.com"));
    let err = host.iscsi_discover().await.unwrap_err();
    assert_eq!(err.http_status(), Some(400));
    assert!(fault(&err).1.contains("iscsi.address"));
}

#[tokio::test]
async fn a_running_vm_gives_a_console_ticket_a_stopped_one_a_conflict() {
    let e = engine(2, Pace::Instant).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let ticket = vms
        .vm_service(&e.inventory().vms[0].id)
        .ticket()
        .ticket(types::Ticket::new().expiry(120i64))
        .await
        .unwrap();
    assert!(ticket.value.is_some_and(|v| !v.is_empty()));
    assert_eq!(ticket.expiry, Some(120));
    let err = vms
        .vm_service(&e.inventory().vms[1].id)
        .ticket()
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
}

#[tokio::test]
async fn asynchronous_requests_are_answered_202() {
    let e = engine(3, Pace::Manual).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let vm = vms.vm_service(&e.inventory().vms[1].id);
    let action = vm.start().r#async(true).await.unwrap();
    assert_eq!(action.status.as_deref(), Some("pending"));
    assert!(action.job.is_some());
    e.settle();
    let action = vm.stop().header("Expect", "202-accepted").await.unwrap();
    assert_eq!(action.r#async, Some(true));
    e.settle();
    vms.vm_service(&e.inventory().vms[1].id)
        .remove()
        .query("async", "true")
        .await
        .unwrap();
    assert!(vm.get().await.unwrap_err().is_not_found());
}

/// The names a VM search returns.
async fn names(vms: &ovirt::services::VmsService, search: &str) -> Vec<String> {
    vms.list()
        .search(search)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|v| v.name)
        .collect()
}

#[tokio::test]
async fn searches_as_users_write_them() {
    let e = engine(12, Pace::Instant).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    assert_eq!(names(&vms, "name=vm-0003").await, ["vm-0003"]);
    assert_eq!(names(&vms, "name=vm-001*").await, ["vm-0010", "vm-0011"]);
    assert_eq!(names(&vms, "name=*1").await, ["vm-0001", "vm-0011"]);
    assert_eq!(names(&vms, "name=vm-001* and status=up").await, ["vm-0010"]);
    assert_eq!(
        names(&vms, "name=vm-0001 or name=vm-0002").await,
        ["vm-0001", "vm-0002"]
    );
    assert_eq!(
        names(&vms, "(name=vm-0001 or name=vm-0002) and status=down").await,
        ["vm-0001"]
    );
    assert_eq!(names(&vms, "status!=up and name=vm-000*").await.len(), 5);
    // A reference field matches the referenced object's name.
    assert_eq!(names(&vms, "cluster=Default").await.len(), 6);
    // Sorting and pages.
    let desc = names(&vms, "name=vm-000* sortby name desc").await;
    assert_eq!(desc.first().map(String::as_str), Some("vm-0009"));
    let page = vms
        .list()
        .search("sortby name asc page 2")
        .max(5)
        .await
        .unwrap();
    let page: Vec<_> = page.into_iter().filter_map(|v| v.name).collect();
    assert_eq!(
        page,
        ["vm-0005", "vm-0006", "vm-0007", "vm-0008", "vm-0009"]
    );
    // Case.
    let upper = vms.list().search("name=VM-0003").case_sensitive(false);
    assert_eq!(upper.await.unwrap().len(), 1);
    let upper = vms.list().search("name=VM-0003").case_sensitive(true);
    assert!(upper.await.unwrap().is_empty());
    // Other collections.
    let hosts = conn.system_service().hosts_service();
    let up = hosts
        .list()
        .search("status=up sortby name desc")
        .await
        .unwrap();
    assert_eq!(up[0].name.as_deref(), Some("host2"));
    let sds = conn.system_service().storage_domains_service();
    assert_eq!(sds.list().search("name=data").await.unwrap().len(), 1);
    // What the engine does not understand is a 400 fault saying what.
    for (bad, says) in [
        ("cpu=4", "unknown search field 'cpu'"),
        ("name=a status=up", "unexpected 'status'"),
        ("page x", "'page' needs a whole number"),
    ] {
        let err = vms.list().search(bad).await.unwrap_err();
        assert_eq!(err.http_status(), Some(400), "{bad}");
        assert!(fault(&err).1.contains(says), "{bad}: {:?}", fault(&err));
    }
}

#[tokio::test]
async fn follow_inlines_lists_and_references_and_all_content_adds_details() {
    let e = engine(3, Pace::Instant).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let want = e.inventory().vms[2].clone();
    let vm = vms
        .vm_service(&want.id)
        .get()
        .follow("nics,disk_attachments.disk,cluster")
        .await
        .unwrap();
    let nics = vm.nics.unwrap();
    assert!(!nics.is_link());
    assert_eq!(nics.len(), want.nics.len());
    let das = vm.disk_attachments.unwrap();
    assert_eq!(das.len(), want.disk_attachments.len());
    let disk = das.iter().next().unwrap().disk.as_ref().unwrap();
    assert_eq!(disk.name.as_deref(), Some("vm-0002_Disk1"));
    assert_eq!(vm.cluster.unwrap().name.as_deref(), Some("Default"));
    // Not followed: links only.
    let plain = vms.vm_service(&want.id).get().await.unwrap();
    assert!(plain.nics.unwrap().is_link());
    assert!(plain.cluster.unwrap().name.is_none());
    // follow on a list.
    let listed = vms.list().follow("nics").await.unwrap();
    assert!(listed
        .iter()
        .all(|v| v.nics.as_ref().is_some_and(|n| !n.is_link())));
    // all_content: the details sent only on request.
    assert!(plain.initialization.is_none());
    let full = vms
        .vm_service(&want.id)
        .get()
        .all_content(true)
        .await
        .unwrap();
    assert_eq!(
        full.initialization.and_then(|i| i.host_name).as_deref(),
        Some("vm-0002.example.com")
    );
    let listed = vms.list().all_content(true).await.unwrap();
    assert!(listed.iter().all(|v| v.initialization.is_some()));
}

#[tokio::test]
async fn the_engine_handle_reads_and_prepares_data_for_a_test() {
    let e = engine(1, Pace::Instant).await;
    let added: types::Vm = e
        .add(
            "vms",
            &types::Vm::new()
                .name("prepared")
                .cluster(types::Cluster::new().name("Default")),
        )
        .unwrap();
    let id = added.id.unwrap();
    let vm: types::Vm = e.get(&format!("vms/{id}")).unwrap();
    assert_eq!(vm.name.as_deref(), Some("prepared"));
    let nics: Vec<types::Nic> = e.list(&format!("vms/{}/nics", e.inventory().vms[0].id));
    assert_eq!(nics.len(), 1);
    let err = e
        .add("vms", &types::Vm::new().name("prepared"))
        .unwrap_err();
    assert!(err.starts_with("400"), "{err}");
    // What the API sends is what the handle reads.
    let conn = connect(&e);
    let listed = conn.system_service().vms_service().list().await.unwrap();
    assert_eq!(listed.len(), 2);
    // With Pace::Instant the handle, like the next request, sees the work done.
    let vm0 = e.inventory().vms[0].id.clone();
    let vms = conn.system_service().vms_service();
    vms.vm_service(&vm0).stop().await.unwrap();
    let vm: types::Vm = e.get(&format!("vms/{vm0}")).unwrap();
    assert_eq!(vm.status, Some(VmStatus::Down));
}

#[tokio::test]
async fn a_data_center_attaches_a_storage_domain_and_puts_it_in_maintenance() {
    let e = engine(0, Pace::Requests(1)).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let inv = e.inventory();
    let iso = sys
        .storage_domains_service()
        .add()
        .storage_domain(
            types::StorageDomain::new()
                .name("iso")
                .r#type(types::StorageDomainType::Iso)
                .host(types::Host::new().name("host0"))
                .storage(
                    types::HostStorage::new()
                        .r#type(types::StorageType::Nfs)
                        .address("nfs.example.com")
                        .path("/iso"),
                ),
        )
        .await
        .unwrap();
    assert_eq!(iso.status, Some(types::StorageDomainStatus::Unattached));
    let attached = sys
        .data_centers_service()
        .data_center_service(&inv.data_centers[0].id)
        .storage_domains_service();
    assert_eq!(attached.list().await.unwrap().len(), 1);
    let sd = attached
        .add()
        .storage_domain(types::StorageDomain::new().id(iso.id.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(sd.id, iso.id);
    assert_eq!(sd.status, Some(types::StorageDomainStatus::Active));
    assert_eq!(attached.list().await.unwrap().len(), 2);
    let err = attached
        .add()
        .storage_domain(types::StorageDomain::new().name("iso"))
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let one = attached.storage_domain_service(iso.id.as_deref().unwrap());
    one.deactivate().await.unwrap();
    let seen = [
        one.get().await.unwrap().status,
        one.get().await.unwrap().status,
    ];
    assert_eq!(
        seen,
        [
            Some(types::StorageDomainStatus::Locked),
            Some(types::StorageDomainStatus::Maintenance)
        ]
    );
    one.remove().await.unwrap();
    assert_eq!(attached.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_running_vms_console_gives_a_ticket() {
    let e = engine(2, Pace::Instant).await;
    let conn = connect(&e);
    let consoles = conn
        .system_service()
        .vms_service()
        .vm_service(&e.inventory().vms[0].id)
        .graphics_consoles_service();
    let console = consoles.list().await.unwrap().remove(0);
    assert_eq!(console.protocol, Some(types::GraphicsType::Spice));
    let ticket = consoles
        .console_service(console.id.as_deref().unwrap())
        .ticket()
        .await
        .unwrap();
    assert_eq!(ticket.expiry, Some(7200));
    assert!(ticket.value.is_some());
}

#[tokio::test]
async fn a_tag_is_assigned_to_a_vm_and_taken_off_again() {
    let e = engine(1, Pace::Instant).await;
    let conn = connect(&e);
    let sys = conn.system_service();
    let tag = sys
        .tags_service()
        .add()
        .tag(types::Tag::new().name("web"))
        .await
        .unwrap();
    let assigned = sys
        .vms_service()
        .vm_service(&e.inventory().vms[0].id)
        .tags_service();
    let t = assigned
        .add()
        .tag(types::Tag::new().name("web"))
        .await
        .unwrap();
    assert_eq!(t.id, tag.id);
    assert_eq!(assigned.list().await.unwrap().len(), 1);
    let err = assigned
        .add()
        .tag(types::Tag::new().name("nope"))
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assigned
        .tag_service(t.id.as_deref().unwrap())
        .remove()
        .await
        .unwrap();
    assert!(assigned.list().await.unwrap().is_empty());
    // The tag itself remains.
    assert_eq!(sys.tags_service().list().await.unwrap().len(), 1);
}
