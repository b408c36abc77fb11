//! The seed inventory with the blocking facade: list every VM; for each VM start listing
//! its disk attachments, NICs and permissions without waiting (`send` returns a handle
//! with the request already on its way); then wait for all of them.
//!
//! Same arguments and output as the `inventory` example:
//!
//! ```text
//! cargo run --release -p ovirt --example inventory_blocking -- [--vms 100] [--rtt-ms 10] [--connections 1] [--pipeline 16]
//! cargo run --release -p ovirt --example inventory_blocking -- --url URL --username USER --password PASS \
//!     [--ca-file FILE | --insecure] [--connections C] [--pipeline P]
//! ```

use std::process::ExitCode;
use std::time::Instant;

use ovirt::blocking::Wait;
use ovirt::services::SystemService;

mod inventory_common;
use inventory_common::{
    builder, check, main_with, print_inventory, print_setup, print_times, Options, VmCounts,
};
use ovirt::Error;

/// The inventory with every sub-collection request on its way before the first wait.
fn pipelined(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().wait()?;
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
            disks: disks.wait()?.len(),
            nics: nics.wait()?.len(),
            permissions: permissions.wait()?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

/// The same inventory, waiting for each answer before sending the next request.
fn one_at_a_time(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().wait()?;
    let mut counts = Vec::with_capacity(vms.len());
    for vm in &vms {
        let vm_service = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
        counts.push(VmCounts {
            name: vm.name.clone().unwrap_or_default(),
            disks: vm_service.disk_attachments_service().list().wait()?.len(),
            nics: vm_service.nics_service().list().wait()?.len(),
            permissions: vm_service.permissions_service().list().wait()?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

fn real_engine(o: &Options) -> Result<(), Error> {
    let conn = builder(o, o.url.clone().unwrap_or_default())
        .username(o.username.clone().unwrap_or_default())
        .password(o.password.clone().unwrap_or_default())
        .build_blocking()?;
    conn.authenticate()?;
    let start = Instant::now();
    let result = pipelined(&conn.system_service());
    let seconds = start.elapsed().as_secs_f64();
    let close = conn.close();
    let (counts, requests) = result?;
    print_inventory(&counts, requests, seconds);
    close
}

fn embedded(o: &Options) -> Result<(), String> {
    use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};
    // The engine and the latency emulator run on a runtime of their own; the SDK side
    // below is blocking.
    let servers = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let (engine, proxy) = servers.block_on(async {
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
        Ok::<_, String>((engine, proxy))
    })?;
    let conn = builder(o, engine.url_via(proxy.addr()))
        .username(USERNAME)
        .password(PASSWORD)
        .ca_pem(engine.ca_pem().unwrap_or_default().as_bytes().to_vec())
        .build_blocking()
        .map_err(|e| e.to_string())?;
    conn.authenticate().map_err(|e| e.to_string())?;
    let system = conn.system_service();
    print_setup(o);

    let start = Instant::now();
    let (slow, _) = one_at_a_time(&system).map_err(|e| e.to_string())?;
    let sequential = start.elapsed();

    let start = Instant::now();
    let (fast, requests) = pipelined(&system).map_err(|e| e.to_string())?;
    print_times(requests, sequential, start.elapsed());

    check(&engine, &slow, &fast)?;
    conn.close().map_err(|e| e.to_string())?;
    drop(conn);
    servers.block_on(async move {
        drop(proxy);
        engine.shutdown().await;
    });
    Ok(())
}

fn main() -> ExitCode {
    main_with("inventory_blocking", |o| {
        if o.url.is_some() {
            real_engine(o).map_err(|e| e.to_string())
        } else {
            embedded(o)
        }
    })
}
