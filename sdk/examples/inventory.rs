//! The seed inventory, async: list every VM; for each VM start listing its disk
//! attachments, NICs and permissions without waiting; then wait for all of them.
//!
//! Without `--url` it runs against the embedded test engine behind the latency emulator
//! and prints the time of the same inventory done one request at a time and pipelined:
//!
//! ```text
//! cargo run --release -p ovirt --example inventory -- [--vms 100] [--rtt-ms 10] [--connections 1] [--pipeline 16]
//! ```
//!
//! With `--url` it runs against a real engine and prints one line per VM and a summary:
//!
//! ```text
//! cargo run --release -p ovirt --example inventory -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] \
//!     [--connections 1] [--pipeline 16]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use ovirt::services::SystemService;

mod inventory_common;
use inventory_common::{
    builder, check, main_with, print_inventory, print_setup, print_times, Options, VmCounts,
};
use ovirt::Error;

/// The inventory with every sub-collection request in flight before the first wait.
async fn pipelined(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().await?;
    // Start all requests: `send` puts each on its way at once.
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            let vm_service = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
            (
                vm_service.disk_attachments_service().list().send(),
                vm_service.nics_service().list().send(),
                vm_service.permissions_service().list().send(),
            )
        })
        .collect();
    let mut counts = Vec::with_capacity(vms.len());
    for (vm, (disks, nics, permissions)) in vms.iter().zip(pending) {
        counts.push(VmCounts {
            name: vm.name.clone().unwrap_or_default(),
            disks: disks.await?.len(),
            nics: nics.await?.len(),
            permissions: permissions.await?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

/// The same inventory, waiting for each answer before sending the next request.
async fn one_at_a_time(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().await?;
    let mut counts = Vec::with_capacity(vms.len());
    for vm in &vms {
        let vm_service = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
        counts.push(VmCounts {
            name: vm.name.clone().unwrap_or_default(),
            disks: vm_service.disk_attachments_service().list().await?.len(),
            nics: vm_service.nics_service().list().await?.len(),
            permissions: vm_service.permissions_service().list().await?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

async fn real_engine(o: &Options) -> Result<(), Error> {
    let conn = builder(o, o.url.clone().unwrap_or_default())
        .username(o.username.clone().unwrap_or_default())
        .password(o.password.clone().unwrap_or_default())
        .build()?;
    conn.authenticate().await?;
    let start = Instant::now();
    let result = pipelined(&conn.system_service()).await;
    let seconds = start.elapsed().as_secs_f64();
    let close = conn.close().await;
    let (counts, requests) = result?;
    print_inventory(&counts, requests, seconds);
    close
}

async fn embedded(o: &Options) -> Result<(), String> {
    use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};
    let engine = TestEngine::builder()
        .vms(o.vms)
        .tls(true)
        .record(false)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let proxy = ovirt_tests::latency::LatencyProxy::start(engine.addr(), o.rtt)
        .await
        .map_err(|e| format!("latency emulator: {e}"))?;
    let conn = builder(o, engine.url_via(proxy.addr()))
        .username(USERNAME)
        .password(PASSWORD)
        .ca_pem(engine.ca_pem().unwrap_or_default().as_bytes().to_vec())
        .build()
        .map_err(|e| e.to_string())?;
    // Log in first, so both runs measure the inventory alone.
    conn.authenticate().await.map_err(|e| e.to_string())?;
    let system = conn.system_service();
    print_setup(o);

    let start = Instant::now();
    let (slow, _) = one_at_a_time(&system).await.map_err(|e| e.to_string())?;
    let sequential = start.elapsed();

    let start = Instant::now();
    let (fast, requests) = pipelined(&system).await.map_err(|e| e.to_string())?;
    print_times(requests, sequential, start.elapsed());

    check(&engine, &slow, &fast)?;
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

fn main() -> ExitCode {
    main_with("inventory", |o| {
        let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            if o.url.is_some() {
                real_engine(o).await.map_err(|e| e.to_string())
            } else {
                embedded(o).await
            }
        })
    })
}
