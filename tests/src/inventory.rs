//! The inventory workload through the sdk, for tests: list the VMs, then the disk
//! attachments, NICs and permissions of every VM, all sent before the first is awaited.

use ovirt::services::SystemService;
use ovirt::types;
use ovirt_test_engine::Inventory;

/// (disk attachments, NICs, permissions) per VM, in list order.
pub type Counts = Vec<(usize, usize, usize)>;

/// What the engine's inventory holds, in the form [`pipelined`] reads it.
pub fn expected(inventory: &Inventory) -> Counts {
    inventory
        .vms
        .iter()
        .map(|vm| {
            (
                vm.disk_attachments.len(),
                vm.nics.len(),
                vm.permissions.len(),
            )
        })
        .collect()
}

/// What a run did: the counts read and how many requests failed (with the first error).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Counts read (a failed request counts as `usize::MAX` in its slot).
    pub counts: Counts,
    /// Requests sent.
    pub requests: usize,
    /// Requests that failed.
    pub failed: usize,
    /// The first few errors, as text.
    pub errors: Vec<String>,
}

/// Lists the VMs, then sends the 3 requests of every VM before awaiting the first; every
/// request is awaited, failures are counted rather than stopping the run.
pub async fn pipelined(system: &SystemService) -> Outcome {
    let mut out = Outcome::default();
    let vms_service = system.vms_service();
    out.requests = 1;
    let vms: Vec<types::Vm> = match vms_service.list().await {
        Ok(v) => v,
        Err(e) => {
            out.failed = 1;
            out.errors.push(e.to_string());
            return out;
        }
    };
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            let vm = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
            (
                vm.disk_attachments_service().list().send(),
                vm.nics_service().list().send(),
                vm.permissions_service().list().send(),
            )
        })
        .collect();
    out.requests += 3 * pending.len();
    let note = |out: &mut Outcome, e: ovirt::Error| {
        out.failed += 1;
        if out.errors.len() < 5 {
            out.errors.push(e.to_string());
        }
        usize::MAX
    };
    for (d, n, p) in pending {
        let d = match d.await {
            Ok(v) => v.len(),
            Err(e) => note(&mut out, e),
        };
        let n = match n.await {
            Ok(v) => v.len(),
            Err(e) => note(&mut out, e),
        };
        let p = match p.await {
            Ok(v) => v.len(),
            Err(e) => note(&mut out, e),
        };
        out.counts.push((d, n, p));
    }
    out
}
