//! Changes a VM's description and memory with one update, then reads it back.
//!
//! ```text
//! cargo run -p ovirt --example update_vm -- [--vm vm-0001]
//! cargo run -p ovirt --example update_vm -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] --vm NAME
//! ```
//!
//! Against the embedded test engine this needs its support of updates.

mod common;

use std::process::ExitCode;

use ovirt::types::Vm;

const USAGE: &str =
    "usage: update_vm [--url URL --username U --password P [--ca-file F | --insecure]] [--vm NAME]";

async fn run(target: &common::Target, vm_name: &str) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let vms_service = connection.system_service().vms_service();
    let vm = common::vm_named(&vms_service, vm_name).await?;
    let vm_service = vms_service.vm_service(&vm);
    // Only the fields set are sent: the rest of the VM stays as it is.
    let updated = vm_service
        .update()
        .vm(Vm::new()
            .description("updated by the update_vm example")
            .memory(2i64 << 30))
        .await?;
    println!(
        "{vm_name}: description {:?}, memory {} MiB",
        updated.description.as_deref().unwrap_or(""),
        updated.memory.unwrap_or(0) >> 20
    );
    let again = vm_service.get().await?;
    println!(
        "read back: {:?}",
        again.description.as_deref().unwrap_or("")
    );
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_on_vm(USAGE, |target, vm| async move { run(&target, &vm).await }).await
}
