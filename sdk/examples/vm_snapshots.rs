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
    let found = vms_service.list().search(format!("name={vm_name}")).await?;
    let Some(vm) = found.first() else {
        return Err(ovirt::Error::with_message(
            ovirt::error::ErrorKind::NotFound,
            format!("no VM is named {vm_name:?}"),
        ));
    };
    let snapshots = vms_service.vm_service(vm).snapshots_service();
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
    let (target, extra) = match common::target(&["--vm"]).await {
        Ok(x) => x,
        Err(e) => return common::exit(USAGE, Err(e)),
    };
    let vm = extra
        .into_iter()
        .next()
        .map_or_else(|| "vm-0001".to_owned(), |(_, v)| v);
    common::exit(USAGE, run(&target, &vm).await.map_err(|e| format!("{e:?}")))
}
