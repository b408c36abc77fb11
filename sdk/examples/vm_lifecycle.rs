//! A VM's life: add it (cluster and template named), start it, stop it, remove it.
//!
//! ```text
//! cargo run -p ovirt --example vm_lifecycle -- [--name NAME] [--cluster NAME] [--template NAME]
//! cargo run -p ovirt --example vm_lifecycle -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] \
//!     [--name example-vm] [--cluster Default] [--template Blank]
//! ```
//!
//! Without `--url` it runs against the test engine started in-process. A real engine
//! creates, starts and stops a VM in the background, so the example waits for the
//! status it needs before each step.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use ovirt::services::VmService;
use ovirt::types::{Cluster, Template, Vm, VmStatus};

const USAGE: &str = "usage: vm_lifecycle [--url URL --username U --password P [--ca-file F | --insecure]] [--name NAME] [--cluster NAME] [--template NAME]";

/// Reads the VM until it has `status` (a real engine changes it in the background).
async fn wait_for(vm: &VmService, status: VmStatus) -> Result<(), ovirt::Error> {
    for _ in 0..120 {
        if vm.get().await?.status == Some(status.clone()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(ovirt::Error::with_message(
        ovirt::error::ErrorKind::Timeout,
        format!("the VM did not reach status {status:?} within 2 minutes"),
    ))
}

async fn run() -> Result<(), String> {
    let (target, extra) = common::target(&["--name", "--cluster", "--template"]).await?;
    let mut name = "example-vm".to_string();
    let mut cluster = match &target.engine {
        Some(engine) => engine.inventory().clusters[0].name.clone(),
        None => "Default".to_string(),
    };
    let mut template = "Blank".to_string();
    for (arg, value) in extra {
        match arg.as_str() {
            "--name" => name = value,
            "--cluster" => cluster = value,
            _ => template = value,
        }
    }
    let connection = target.connect().map_err(|e| e.to_string())?;
    let result = lifecycle(&connection, &name, &cluster, &template).await;
    let close = connection.close().await;
    result.map_err(|e| e.to_string())?;
    close.map_err(|e| e.to_string())
}

async fn lifecycle(
    connection: &ovirt::Connection,
    name: &str,
    cluster: &str,
    template: &str,
) -> Result<(), ovirt::Error> {
    let vms_service = connection.system_service().vms_service();

    // Add: the cluster and the template are referenced by name.
    let vm = vms_service
        .add()
        .vm(Vm::new()
            .name(name)
            .cluster(Cluster::new().name(cluster))
            .template(Template::new().name(template)))
        .await?;
    let id = vm.id.clone().unwrap_or_default();
    println!("added {name} ({id}) in cluster {cluster} from template {template}");
    let vm_service = vms_service.vm_service(&id);
    wait_for(&vm_service, VmStatus::Down).await?;

    // Actions: `start` and `stop` post an `<action>` and return the engine's answer.
    let action = vm_service.start().await?;
    println!("start: {}", action.status.as_deref().unwrap_or("sent"));
    wait_for(&vm_service, VmStatus::Up).await?;
    println!("{name} is up");

    let action = vm_service.stop().await?;
    println!("stop: {}", action.status.as_deref().unwrap_or("sent"));
    wait_for(&vm_service, VmStatus::Down).await?;
    println!("{name} is down");

    vm_service.remove().await?;
    println!("removed {name}");
    // It is gone: reading it again is "not found".
    match vm_service.get().await {
        Err(e) if e.is_not_found() => println!("{name} no longer exists"),
        Err(e) => return Err(e),
        Ok(_) => println!("{name} is still being removed"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit(USAGE, run().await)
}
