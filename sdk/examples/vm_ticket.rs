//! Asks the engine for a console ticket of a running VM (the `ticket` action, whose
//! output is the ticket: its value and how long it is valid). The ticket's value is a
//! secret: this example prints its length only.
//!
//! ```text
//! cargo run -p ovirt --example vm_ticket -- [--vm vm-0001]
//! cargo run -p ovirt --example vm_ticket -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] --vm NAME
//! ```
//!
//! Against the embedded test engine this needs its support of the ticket action.

mod common;

use std::process::ExitCode;

use ovirt::types::Ticket;

const USAGE: &str =
    "usage: vm_ticket [--url URL --username U --password P [--ca-file F | --insecure]] [--vm NAME]";

async fn run(target: &common::Target, vm_name: &str) -> Result<(), ovirt::Error> {
    let connection = target.connect()?;
    let vms_service = connection.system_service().vms_service();
    let vm = common::vm_named(&vms_service, vm_name).await?;
    let vm_service = vms_service.vm_service(&vm);
    vm_service.start().await?;
    // Valid for 120 seconds; the action returns the ticket itself.
    let ticket = vm_service
        .ticket()
        .ticket(Ticket::new().expiry(120))
        .await?;
    println!(
        "ticket for {vm_name}: {} characters, valid for {} s",
        ticket.value.as_deref().map_or(0, str::len),
        ticket.expiry.unwrap_or(0)
    );
    connection.close().await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::run_on_vm(USAGE, |target, vm| async move { run(&target, &vm).await }).await
}
