//! How a user tests their own code against the test engine: copy this file into the
//! `tests/` folder of your crate, with `ovirt-test-engine` and `tokio` (features `macros`
//! and `rt-multi-thread`) as dev-dependencies (see "Testing your code against the test
//! engine" in the README).
//!
//! The code under test, `start_all`, is an ordinary function of the user's program: it
//! takes a `Connection` and knows nothing about the test engine.

use std::time::Duration;

use ovirt::types::{
    Cluster, Disk, DiskAttachment, DiskFormat, DiskInterface, StorageDomain, Vm, VmStatus,
};
use ovirt::{Connection, Error};
use ovirt_test_engine::{Pace, TestEngine, PASSWORD, USERNAME};

// ---- the user's program ----------------------------------------------------------

/// Starts every stopped VM whose name matches `pattern` and waits until all of them are
/// up, reading each VM again every `poll` (a real engine takes seconds). Returns the
/// names of the VMs it started.
pub async fn start_all(
    conn: &Connection,
    pattern: &str,
    poll: Duration,
) -> Result<Vec<String>, Error> {
    let vms = conn.system_service().vms_service();
    let down = vms
        .list()
        .search(format!("name={pattern} and status=down"))
        .await?;
    let mut started = Vec::new();
    for vm in &down {
        let id = vm.id.as_deref().unwrap_or_default();
        vms.vm_service(id).start().await?;
        started.push(vm.name.clone().unwrap_or_default());
    }
    for vm in &down {
        let service = vms.vm_service(vm.id.as_deref().unwrap_or_default());
        while service.get().await?.status != Some(VmStatus::Up) {
            tokio::time::sleep(poll).await;
        }
    }
    Ok(started)
}

/// Adds a VM with one new disk of `gib` GiB; returns its id.
pub async fn add_vm_with_disk(conn: &Connection, name: &str, gib: i64) -> Result<String, Error> {
    let vms = conn.system_service().vms_service();
    let vm = vms
        .add()
        .vm(Vm::new().name(name).cluster(Cluster::new().name("Default")))
        .await?;
    let id = vm.id.unwrap_or_default();
    vms.vm_service(&id)
        .disk_attachments_service()
        .add()
        .attachment(
            DiskAttachment::new()
                .interface(DiskInterface::VirtioScsi)
                .bootable(true)
                .disk(
                    Disk::new()
                        .name(format!("{name}_boot"))
                        .provisioned_size(gib << 30)
                        .format(DiskFormat::Cow)
                        .storage_domains(vec![StorageDomain::new().name("data")]),
                ),
        )
        .await?;
    Ok(id)
}

// ---- its tests ----------------------------------------------------------------------

/// A connection to the engine with the user it accepts.
fn connect(engine: &TestEngine) -> Connection {
    Connection::builder()
        .url(engine.url())
        .username(USERNAME)
        .password(PASSWORD)
        .build()
        .expect("connection options")
}

#[tokio::test]
async fn start_all_starts_the_stopped_vms_and_waits_for_them() {
    // 20 generated VMs (vm-0000 .. vm-0019, the odd ones down); every status of a
    // starting VM lasts one request, so the waiting loop really waits.
    let engine = TestEngine::builder()
        .vms(20)
        .pace(Pace::Requests(1))
        .start()
        .await
        .unwrap();
    let conn = connect(&engine);

    let started = start_all(&conn, "vm-001*", Duration::ZERO).await.unwrap();

    assert_eq!(
        started,
        ["vm-0011", "vm-0013", "vm-0015", "vm-0017", "vm-0019"]
    );
    let still_down = conn
        .system_service()
        .vms_service()
        .list()
        .search("name=vm-001* and status!=up")
        .await
        .unwrap();
    assert!(still_down.is_empty());
    // The engine recorded what the program sent: one start per stopped VM.
    let starts = engine
        .api_requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path().ends_with("/start"))
        .count();
    assert_eq!(starts, 5);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn add_vm_with_disk_creates_the_vm_and_its_disk() {
    let engine = TestEngine::builder().vms(0).start().await.unwrap();
    let conn = connect(&engine);

    let id = add_vm_with_disk(&conn, "web1", 20).await.unwrap();

    // Read the result back through the engine handle, as the SDK's types.
    let vm: Vm = engine.get(&format!("vms/{id}")).unwrap();
    assert_eq!(vm.name.as_deref(), Some("web1"));
    let disks: Vec<Disk> = engine.list("disks");
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0].provisioned_size, Some(20 << 30));
    // A second VM of the same name is refused as a real engine refuses it.
    let err = add_vm_with_disk(&conn, "web1", 20).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    conn.close().await.unwrap();
}
