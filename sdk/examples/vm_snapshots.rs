//! Takes a snapshot of a VM, then lists the VM's snapshots with their status.
//!
//! ```text
//! cargo run -p ovirt --example vm_snapshots -- [--vm vm-0001]
//! cargo run -p ovirt --example vm_snapshots -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] --vm NAME
//! ```
//!
//! Against the embedded test engine this needs its support of snapshots.

mod common;

use std::process::ExitCode;

use ovirt::types::Snapshot;

const USAGE: &str = "usage: vm_snapshots [--url URL --username U --password P [--ca-file F | --insecure]] [--vm NAME]";

async fn run(target: &common::Target, vm_name: &str) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let vms_service = connection.system_service().vms_service();
    let vm = common::vm_named(&vms_service, vm_name).await?;
    let snapshots = vms_service.vm_service(&vm).snapshots_service();
    let taken = snapshots
        .add()
        .snapshot(Snapshot::new().description("before the upgrade"))
        .await?;
    println!(
        "took snapshot {} of {vm_name}",
        taken.id.as_deref().unwrap_or("?")
    );
    for s in snapshots.list().await? {
        println!(
            "  {} {:?} ({})",
            s.id.as_deref().unwrap_or("?"),
            s.description.as_deref().unwrap_or(""),
            s.snapshot_status.as_ref().map_or("?", |st| st.as_str())
        );
    }
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_on_vm(USAGE, |target, vm| async move { run(&target, &vm).await }).await
}
