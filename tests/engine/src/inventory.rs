//! The generated inventory: data centers, clusters, hosts and VMs with their disk
//! attachments, NICs and permissions.
//!
//! Everything is derived from indexes, so two engines started with the same options
//! hold exactly the same data (same ids, same names, same counts).

/// Sizes of a generated inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventorySize {
    /// Number of VMs.
    pub vms: usize,
    /// Number of clusters (at least one).
    pub clusters: usize,
    /// Number of hosts (at least one).
    pub hosts: usize,
    /// Number of data centers (at least one).
    pub data_centers: usize,
}

impl Default for InventorySize {
    fn default() -> Self {
        InventorySize {
            vms: 10,
            clusters: 2,
            hosts: 3,
            data_centers: 1,
        }
    }
}

/// The kinds of objects, used to derive distinct ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A data center.
    DataCenter,
    /// A cluster.
    Cluster,
    /// A host.
    Host,
    /// A VM.
    Vm,
    /// A disk attachment (its id equals the attached disk's id, as in the engine).
    DiskAttachment,
    /// A NIC of a VM.
    Nic,
    /// A permission on a VM.
    Permission,
    /// A role.
    Role,
    /// A user.
    User,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::DataCenter => 1,
            Kind::Cluster => 2,
            Kind::Host => 3,
            Kind::Vm => 4,
            Kind::DiskAttachment => 5,
            Kind::Nic => 6,
            Kind::Permission => 7,
            Kind::Role => 8,
            Kind::User => 9,
        }
    }
}

/// A stable UUID-shaped id for object number `index` of `kind`.
///
/// ```
/// use ovirt_test_engine::inventory::{stable_id, Kind};
/// assert_eq!(stable_id(Kind::Vm, 7), "00000004-0000-4000-8000-000000000007");
/// ```
pub fn stable_id(kind: Kind, index: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", kind.code(), index)
}

/// A data center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataCenter {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Id of the data center the cluster belongs to.
    pub data_center_id: String,
}

/// A host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address (a host name).
    pub address: String,
    /// Id of the cluster of the host.
    pub cluster_id: String,
}

/// The status of a VM: the two of a generated VM and those a VM passes through when
/// the engine starts, stops, suspends or reboots it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VmStatus {
    /// Running.
    Up,
    /// Stopped.
    Down,
    /// Starting: the host is launching it.
    WaitForLaunch,
    /// Starting: the guest is booting.
    PoweringUp,
    /// Stopping.
    PoweringDown,
    /// Rebooting.
    RebootInProgress,
    /// Being suspended.
    SavingState,
    /// Suspended.
    Suspended,
    /// Resuming from suspension.
    RestoringState,
    /// Its disks are busy (a snapshot being restored).
    ImageLocked,
}

impl VmStatus {
    const ALL: [(VmStatus, &'static str); 10] = [
        (VmStatus::Up, "up"),
        (VmStatus::Down, "down"),
        (VmStatus::WaitForLaunch, "wait_for_launch"),
        (VmStatus::PoweringUp, "powering_up"),
        (VmStatus::PoweringDown, "powering_down"),
        (VmStatus::RebootInProgress, "reboot_in_progress"),
        (VmStatus::SavingState, "saving_state"),
        (VmStatus::Suspended, "suspended"),
        (VmStatus::RestoringState, "restoring_state"),
        (VmStatus::ImageLocked, "image_locked"),
    ];

    /// The wire name of the status (R3.9).
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("down", |(_, n)| n)
    }

    /// The status with this wire name (`Down` for a name the engine never sets).
    pub fn from_wire(name: &str) -> VmStatus {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map_or(VmStatus::Down, |(s, _)| *s)
    }
}

/// A disk attachment of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskAttachment {
    /// Id (equal to the disk id).
    pub id: String,
    /// Whether the VM boots from this disk.
    pub bootable: bool,
    /// Disk interface (`virtio_scsi` or `virtio`).
    pub interface: String,
}

/// A NIC of a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// Id.
    pub id: String,
    /// Name (`nic1`, `nic2`, ...).
    pub name: String,
    /// MAC address.
    pub mac: String,
}

/// A permission on a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    /// Id.
    pub id: String,
    /// Id of the role granted.
    pub role_id: String,
    /// Id of the user holding the role.
    pub user_id: String,
}

/// A VM with its sub-collections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    /// Id.
    pub id: String,
    /// Name (`vm-0000`, `vm-0001`, ...).
    pub name: String,
    /// Status.
    pub status: VmStatus,
    /// Memory in bytes.
    pub memory: i64,
    /// Id of the cluster.
    pub cluster_id: String,
    /// Id of the host running the VM, if it is up.
    pub host_id: Option<String>,
    /// Disk attachments (1 to 3 per generated VM).
    pub disk_attachments: Vec<DiskAttachment>,
    /// NICs (1 or 2 per generated VM).
    pub nics: Vec<Nic>,
    /// Permissions (1 or 2 per generated VM).
    pub permissions: Vec<Permission>,
}

/// The whole inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// Data centers.
    pub data_centers: Vec<DataCenter>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// VMs, in list order.
    pub vms: Vec<Vm>,
}

impl Inventory {
    /// Generates the inventory of the given size.
    ///
    /// VM `i` has `1 + i % 3` disk attachments, `1 + i % 2` NICs and `1 + (i / 2) % 2`
    /// permissions; even VMs are up (on host `i % hosts`), odd ones are down.
    pub fn generate(size: InventorySize) -> Inventory {
        let dcs = size.data_centers.max(1);
        let clusters = size.clusters.max(1);
        let hosts = size.hosts.max(1);
        let data_centers = (0..dcs)
            .map(|i| DataCenter {
                id: stable_id(Kind::DataCenter, i as u64),
                name: if i == 0 {
                    "Default".to_string()
                } else {
                    format!("dc{i}")
                },
            })
            .collect();
        let cluster_list = (0..clusters)
            .map(|i| Cluster {
                id: stable_id(Kind::Cluster, i as u64),
                name: if i == 0 {
                    "Default".to_string()
                } else {
                    format!("cluster{i}")
                },
                data_center_id: stable_id(Kind::DataCenter, (i % dcs) as u64),
            })
            .collect();
        let host_list = (0..hosts)
            .map(|i| Host {
                id: stable_id(Kind::Host, i as u64),
                name: format!("host{i}"),
                address: format!("host{i}.example.com"),
                cluster_id: stable_id(Kind::Cluster, (i % clusters) as u64),
            })
            .collect();
        let vms = (0..size.vms)
            .map(|i| Vm::generated(i as u64, clusters as u64, hosts as u64))
            .collect();
        Inventory {
            data_centers,
            clusters: cluster_list,
            hosts: host_list,
            vms,
        }
    }

    /// The VM with the given id.
    pub fn vm(&self, id: &str) -> Option<&Vm> {
        self.vms.iter().find(|vm| vm.id == id)
    }

    /// The VM with the given name.
    pub fn vm_by_name(&self, name: &str) -> Option<&Vm> {
        self.vms.iter().find(|vm| vm.name == name)
    }
}

impl Vm {
    /// The generated VM number `i`.
    pub(crate) fn generated(i: u64, clusters: u64, hosts: u64) -> Vm {
        let up = i % 2 == 0;
        let disk_attachments = (0..1 + i % 3)
            .map(|j| DiskAttachment {
                id: stable_id(Kind::DiskAttachment, i * 16 + j),
                bootable: j == 0,
                interface: if j == 0 { "virtio_scsi" } else { "virtio" }.to_string(),
            })
            .collect();
        let nics = (0..1 + i % 2)
            .map(|j| Nic {
                id: stable_id(Kind::Nic, i * 16 + j),
                name: format!("nic{}", j + 1),
                mac: format!(
                    "56:6f:{:02x}:{:02x}:{:02x}:{:02x}",
                    (i >> 16) & 0xff,
                    (i >> 8) & 0xff,
                    i & 0xff,
                    j
                ),
            })
            .collect();
        let permissions = (0..1 + (i / 2) % 2)
            .map(|j| Permission {
                id: stable_id(Kind::Permission, i * 16 + j),
                role_id: stable_id(Kind::Role, j),
                user_id: stable_id(Kind::User, j),
            })
            .collect();
        Vm {
            id: stable_id(Kind::Vm, i),
            name: format!("vm-{i:04}"),
            status: if up { VmStatus::Up } else { VmStatus::Down },
            memory: 1 << 30,
            cluster_id: stable_id(Kind::Cluster, i % clusters),
            host_id: up.then(|| stable_id(Kind::Host, i % hosts)),
            disk_attachments,
            nics,
            permissions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_ids_are_unique() {
        let size = InventorySize {
            vms: 50,
            ..InventorySize::default()
        };
        let a = Inventory::generate(size);
        assert_eq!(a, Inventory::generate(size));
        let mut ids: Vec<&str> = a.vms.iter().map(|v| v.id.as_str()).collect();
        for vm in &a.vms {
            ids.extend(vm.disk_attachments.iter().map(|d| d.id.as_str()));
            ids.extend(vm.nics.iter().map(|d| d.id.as_str()));
            ids.extend(vm.permissions.iter().map(|d| d.id.as_str()));
        }
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn vm_counts_vary_with_the_index() {
        let inv = Inventory::generate(InventorySize {
            vms: 6,
            ..InventorySize::default()
        });
        let disks: Vec<usize> = inv.vms.iter().map(|v| v.disk_attachments.len()).collect();
        assert_eq!(disks, [1, 2, 3, 1, 2, 3]);
        let nics: Vec<usize> = inv.vms.iter().map(|v| v.nics.len()).collect();
        assert_eq!(nics, [1, 2, 1, 2, 1, 2]);
        let perms: Vec<usize> = inv.vms.iter().map(|v| v.permissions.len()).collect();
        assert_eq!(perms, [1, 1, 2, 2, 1, 1]);
    }
}
