//! Creates a VM from the `Blank` template in the first cluster, adds a NIC to it, lists
//! its NICs, and removes the VM again. The created VM is used as it came back: its
//! service is `vm_service(&vm)`.
//!
//! ```text
//! cargo run -p ovirt --example add_vm_and_nic -- [--name example-vm]
//! cargo run -p ovirt --example add_vm_and_nic -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] [--name N]
//! ```
//!
//! Against the embedded test engine the NIC step needs its support of adding NICs.

mod common;

use std::process::ExitCode;

use ovirt::types::{Cluster, Nic, Template, Vm};

const USAGE: &str = "usage: add_vm_and_nic [--url URL --username U --password P [--ca-file F | --insecure]] [--name NAME]";

async fn run(target: &common::Target, name: &str) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let system = connection.system_service();
    let clusters = system.clusters_service().list().max(1).await?;
    let cluster_name = clusters
        .first()
        .and_then(|c| c.name.clone())
        .unwrap_or_else(|| "Default".to_owned());
    let vms_service = system.vms_service();
    let vm: Vm = vms_service
        .add()
        .vm(Vm::new()
            .name(name)
            .cluster(Cluster::new().name(cluster_name.as_str()))
            .template(Template::new().name("Blank")))
        .await?;
    println!("added VM {} ({})", name, vm.id.as_deref().unwrap_or("?"));
    let vm_service = vms_service.vm_service(&vm);
    let nic = vm_service
        .nics_service()
        .add()
        .nic(Nic::new().name("nic1"))
        .await?;
    println!("added NIC {}", nic.name.as_deref().unwrap_or("?"));
    for nic in vm_service.nics_service().list().await? {
        println!("  NIC {}", nic.name.as_deref().unwrap_or("?"));
    }
    vm_service.remove().await?;
    println!("removed VM {name}");
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    let (target, extra) = match common::target(&["--name"]).await {
        Ok(x) => x,
        Err(e) => return common::exit(USAGE, Err(e)),
    };
    let name = extra
        .into_iter()
        .next()
        .map_or_else(|| "example-vm".to_owned(), |(_, v)| v);
    common::exit(
        USAGE,
        run(&target, &name).await.map_err(|e| format!("{e:?}")),
    )
}
