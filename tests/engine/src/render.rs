//! XML rendering of the inventory (section 3 of docs/wire.md).
//!
//! Inventory objects are converted to the SDK's generated types (`ovirt::types`) and
//! written by its generated writers (`ovirt::xml`); this module is the only place that
//! does it.

use crate::actions::BLANK;
use crate::inventory::{
    stable_id, Cluster, DataCenter, DiskAttachment, Host, Inventory, Kind, Nic, Permission, Vm,
    VmStatus,
};
use crate::node::Node;
use ovirt::{types, xml, List};
use std::fmt::Write;

/// The path part of the API base URL.
pub const API_PATH: &str = "/ovirt-engine/api";

/// Escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn href(collection: &str, id: &str) -> String {
    format!("{API_PATH}/{collection}/{id}")
}

/// `<vm>` element, with list links for its sub-collections (R3.6).
pub fn vm(vm: &Vm) -> String {
    xml::to_string(&vm_value(vm))
}

/// `<vm>` element with its NICs inline instead of the `nics` link, as a real engine
/// answers `follow=nics` (R3.6).
pub fn vm_with_nics(vm: &Vm) -> String {
    let mut value = vm_value(vm);
    value.nics = Some(List {
        href: Some(format!("{API_PATH}/vms/{}/nics", vm.id)),
        items: vm.nics.iter().map(|n| nic_value(&vm.id, n)).collect(),
    });
    xml::to_string(&value)
}

fn vm_value(vm: &Vm) -> types::Vm {
    let id = &vm.id;
    let mut v = types::Vm::new()
        .id(id.as_str())
        .href(href("vms", id))
        .name(vm.name.as_str())
        .memory(vm.memory)
        .status(vm_status(vm.status))
        .cluster(
            types::Cluster::new()
                .id(vm.cluster_id.as_str())
                .href(href("clusters", &vm.cluster_id)),
        )
        .disk_attachments(List::from_href(format!(
            "{API_PATH}/vms/{id}/diskattachments"
        )))
        .nics(List::from_href(format!("{API_PATH}/vms/{id}/nics")))
        .permissions(List::from_href(format!("{API_PATH}/vms/{id}/permissions")));
    if let Some(host) = &vm.host_id {
        v = v.host(
            types::Host::new()
                .id(host.as_str())
                .href(href("hosts", host)),
        );
    }
    v
}

fn vm_status(s: VmStatus) -> types::VmStatus {
    match s {
        VmStatus::Up => types::VmStatus::Up,
        VmStatus::Down => types::VmStatus::Down,
        VmStatus::WaitForLaunch => types::VmStatus::WaitForLaunch,
        VmStatus::PoweringUp => types::VmStatus::PoweringUp,
        VmStatus::PoweringDown => types::VmStatus::PoweringDown,
        VmStatus::RebootInProgress => types::VmStatus::RebootInProgress,
        VmStatus::SavingState => types::VmStatus::SavingState,
        VmStatus::Suspended => types::VmStatus::Suspended,
        VmStatus::RestoringState => types::VmStatus::RestoringState,
        VmStatus::ImageLocked => types::VmStatus::ImageLocked,
    }
}

fn vm_ref(vm_id: &str) -> types::Vm {
    types::Vm::new().id(vm_id).href(href("vms", vm_id))
}

/// `<disk_attachment>` element.
pub fn disk_attachment(vm_id: &str, d: &DiskAttachment) -> String {
    let id = &d.id;
    let value = types::DiskAttachment::new()
        .id(id.as_str())
        .href(format!("{API_PATH}/vms/{vm_id}/diskattachments/{id}"))
        .active(true)
        .bootable(d.bootable)
        .interface(match d.interface.as_str() {
            "virtio_scsi" => types::DiskInterface::VirtioScsi,
            "virtio" => types::DiskInterface::Virtio,
            "sata" => types::DiskInterface::Sata,
            _ => types::DiskInterface::Ide,
        })
        .disk(types::Disk::new().id(id.as_str()).href(href("disks", id)))
        .vm(vm_ref(vm_id));
    xml::to_string(&value)
}

/// `<nic>` element.
pub fn nic(vm_id: &str, n: &Nic) -> String {
    xml::to_string(&nic_value(vm_id, n))
}

fn nic_value(vm_id: &str, n: &Nic) -> types::Nic {
    let id = &n.id;
    types::Nic::new()
        .id(id.as_str())
        .href(format!("{API_PATH}/vms/{vm_id}/nics/{id}"))
        .name(n.name.as_str())
        .interface(types::NicInterface::Virtio)
        .mac(types::Mac::new().address(n.mac.as_str()))
        .plugged(true)
        .vm(vm_ref(vm_id))
}

/// `<permission>` element.
pub fn permission(vm_id: &str, p: &Permission) -> String {
    let id = &p.id;
    let value = types::Permission::new()
        .id(id.as_str())
        .href(format!("{API_PATH}/vms/{vm_id}/permissions/{id}"))
        .role(
            types::Role::new()
                .id(p.role_id.as_str())
                .href(href("roles", &p.role_id)),
        )
        .user(
            types::User::new()
                .id(p.user_id.as_str())
                .href(href("users", &p.user_id)),
        )
        .vm(vm_ref(vm_id));
    xml::to_string(&value)
}

/// `<cluster>` element.
pub fn cluster(c: &Cluster) -> String {
    let value = types::Cluster::new()
        .id(c.id.as_str())
        .href(href("clusters", &c.id))
        .name(c.name.as_str())
        .data_center(
            types::DataCenter::new()
                .id(c.data_center_id.as_str())
                .href(href("datacenters", &c.data_center_id)),
        );
    xml::to_string(&value)
}

/// `<host>` element.
pub fn host(h: &Host) -> String {
    let value = types::Host::new()
        .id(h.id.as_str())
        .href(href("hosts", &h.id))
        .name(h.name.as_str())
        .address(h.address.as_str())
        .status(types::HostStatus::Up)
        .cluster(
            types::Cluster::new()
                .id(h.cluster_id.as_str())
                .href(href("clusters", &h.cluster_id)),
        );
    xml::to_string(&value)
}

/// `<data_center>` element.
pub fn data_center(d: &DataCenter) -> String {
    let value = types::DataCenter::new()
        .id(d.id.as_str())
        .href(href("datacenters", &d.id))
        .name(d.name.as_str())
        .local(false)
        .status(types::DataCenterStatus::Up);
    xml::to_string(&value)
}

/// A list document: wrapper `tag` around already rendered items (R1.6).
pub fn list<'a>(tag: &str, items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    let _ = write!(out, "<{tag}>");
    let start = out.len();
    for item in items {
        out.push_str(item);
    }
    if out.len() == start {
        // An empty list is `<vms/>` (R1.6).
        out.truncate(start - 1);
        out.push_str("/>");
    } else {
        let _ = write!(out, "</{tag}>");
    }
    out
}

/// The `<api>` document of the root service.
pub fn api(vms: usize, hosts: usize) -> String {
    let item = |n: usize| {
        types::ApiSummaryItem::new()
            .active(n as i64)
            .total(n as i64)
    };
    let value = types::Api::new()
        .product_info(
            types::ProductInfo::new().name("oVirt Engine").version(
                types::Version::new()
                    .major(4)
                    .minor(5)
                    .build(0)
                    .revision(0)
                    .full_version("4.5.0-test"),
            ),
        )
        .summary(types::ApiSummary::new().vms(item(vms)).hosts(item(hosts)));
    xml::to_string(&value)
}

/// A successful action response (R1.6).
pub fn action_complete() -> String {
    xml::to_string(&types::Action::new().status("complete"))
}

fn fault_value(reason: &str, detail: &str) -> types::Fault {
    types::Fault::new().reason(reason).detail(detail)
}

/// A failed action response: `<action>` with `<status>failed</status>` and a fault (R3.10).
pub fn action_failed(reason: &str, detail: &str) -> String {
    xml::to_string(
        &types::Action::new()
            .status("failed")
            .fault(fault_value(reason, detail)),
    )
}

/// A fault document (R4.1).
pub fn fault(reason: &str, detail: &str) -> String {
    xml::to_string(&fault_value(reason, detail))
}

/// A document as a tree of the store.
pub(crate) fn node<T: ovirt::xml::ToXml + ovirt::xml::XmlType>(value: &T) -> Node {
    Node::parse(&xml::to_string(value)).unwrap_or_else(|_| Node::new(T::TAG))
}

/// The CD-ROM every VM has (its id is all zeros, as in a real engine).
pub(crate) fn cdrom_value(vm_id: &str) -> types::Cdrom {
    types::Cdrom::new().id(BLANK).vm(vm_ref(vm_id))
}

/// The SPICE console every VM has.
pub(crate) fn console_value(vm_id: &str) -> types::GraphicsConsole {
    let id = format!("00000013-{}", &vm_id[9.min(vm_id.len())..]);
    types::GraphicsConsole::new()
        .id(id.as_str())
        .protocol(types::GraphicsType::Spice)
        .address("127.0.0.1")
        .port(5900i64)
        .vm(vm_ref(vm_id))
}

/// The `Active VM` snapshot every VM has.
pub(crate) fn active_snapshot_value(vm_id: &str) -> types::Snapshot {
    let id = format!("00000010-{}", &vm_id[9.min(vm_id.len())..]);
    types::Snapshot::new()
        .id(id.as_str())
        .description("Active VM")
        .snapshot_type(types::SnapshotType::Active)
        .snapshot_status(types::SnapshotStatus::Ok)
        .vm(vm_ref(vm_id))
}

/// One object to put in the store at start.
pub(crate) struct Seed {
    /// The concrete collection (`vms`, `vms/ID/nics`).
    pub(crate) collection: String,
    /// Its document.
    pub(crate) document: String,
}

fn seed<T: ovirt::xml::ToXml + ovirt::xml::XmlType>(
    out: &mut Vec<Seed>,
    collection: impl Into<String>,
    value: &T,
) {
    out.push(Seed {
        collection: collection.into(),
        document: xml::to_string(value),
    });
}

/// Everything a new engine holds: the inventory, and the objects each engine has (the
/// `Blank` template, a data storage domain, the `ovirtmgmt` network and its vNIC profile
/// per data center, two users, disks for the disk attachments, a CD-ROM and an
/// `Active VM` snapshot per VM, a few events).
pub(crate) fn seeds(inv: &Inventory) -> Vec<Seed> {
    let mut out = Vec::new();
    let one = |i: u64| i as i64;
    for d in &inv.data_centers {
        out.push(Seed {
            collection: "datacenters".into(),
            document: data_center(d),
        });
    }
    for c in &inv.clusters {
        out.push(Seed {
            collection: "clusters".into(),
            document: cluster(c),
        });
    }
    for h in &inv.hosts {
        out.push(Seed {
            collection: "hosts".into(),
            document: host(h),
        });
    }
    for (i, _) in ["admin", "user1"].iter().enumerate() {
        let name = ["admin", "user1"][i];
        let id = stable_id(Kind::User, i as u64);
        seed(
            &mut out,
            "users",
            &types::User::new()
                .id(id.as_str())
                .name(name)
                .user_name(format!("{name}@internal-authz"))
                .domain(types::Domain::new().name("internal-authz")),
        );
    }
    seed(
        &mut out,
        "templates",
        &types::Template::new()
            .id(BLANK)
            .name("Blank")
            .description("Blank template")
            .status(types::TemplateStatus::Ok)
            .memory(1i64 << 30),
    );
    let sd_id = |i: usize| format!("0000000b-0000-4000-8000-{i:012x}");
    for (i, d) in inv.data_centers.iter().enumerate() {
        let dc_ref = types::DataCenter::new()
            .id(d.id.as_str())
            .href(href("datacenters", &d.id));
        let sd = sd_id(i);
        seed(
            &mut out,
            "storagedomains",
            &types::StorageDomain::new()
                .id(sd.as_str())
                .name(if i == 0 {
                    "data".to_string()
                } else {
                    format!("data{i}")
                })
                .r#type(types::StorageDomainType::Data)
                .master(true)
                .available(one(1 << 40))
                .used(one(100 << 30))
                .committed(0i64)
                .storage(
                    types::HostStorage::new()
                        .r#type(types::StorageType::Nfs)
                        .address("nfs.example.com")
                        .path(format!("/exports/data{i}")),
                )
                .data_centers(List::from(vec![dc_ref.clone()])),
        );
        seed(
            &mut out,
            format!("datacenters/{}/storagedomains", d.id),
            &types::StorageDomain::new()
                .id(sd.as_str())
                .name(if i == 0 {
                    "data".to_string()
                } else {
                    format!("data{i}")
                })
                .r#type(types::StorageDomainType::Data)
                .status(types::StorageDomainStatus::Active)
                .master(true)
                .data_center(dc_ref.clone()),
        );
        let net = format!("0000000c-0000-4000-8000-{i:012x}");
        seed(
            &mut out,
            "networks",
            &types::Network::new()
                .id(net.as_str())
                .name("ovirtmgmt")
                .description("Management Network")
                .data_center(dc_ref)
                .mtu(0i64)
                .usages(vec![
                    types::NetworkUsage::Vm,
                    types::NetworkUsage::Management,
                ]),
        );
        let profile = format!("0000000d-0000-4000-8000-{i:012x}");
        seed(
            &mut out,
            "vnicprofiles",
            &types::VnicProfile::new()
                .id(profile.as_str())
                .name("ovirtmgmt")
                .network(
                    types::Network::new()
                        .id(net.as_str())
                        .href(href("networks", &net)),
                ),
        );
    }
    for vm in &inv.vms {
        for (j, d) in vm.disk_attachments.iter().enumerate() {
            seed(
                &mut out,
                "disks",
                &types::Disk::new()
                    .id(d.id.as_str())
                    .name(format!("{}_Disk{}", vm.name, j + 1))
                    .provisioned_size(one(10 << 30))
                    .actual_size(one(1 << 30))
                    .format(types::DiskFormat::Cow)
                    .status(types::DiskStatus::Ok)
                    .storage_domains(List::from(vec![types::StorageDomain::new()
                        .id(sd_id(0).as_str())
                        .href(href("storagedomains", &sd_id(0)))])),
            );
        }
    }
    for v in &inv.vms {
        let mut value = vm_value(v);
        value.initialization = Some(Box::new(
            types::Initialization::new().host_name(format!("{}.example.com", v.name)),
        ));
        seed(&mut out, "vms", &value);
        let key = |s: &str| format!("vms/{}/{s}", v.id);
        for d in &v.disk_attachments {
            out.push(Seed {
                collection: key("diskattachments"),
                document: disk_attachment(&v.id, d),
            });
        }
        for n in &v.nics {
            out.push(Seed {
                collection: key("nics"),
                document: nic(&v.id, n),
            });
        }
        for p in &v.permissions {
            out.push(Seed {
                collection: key("permissions"),
                document: permission(&v.id, p),
            });
        }
        seed(&mut out, key("cdroms"), &cdrom_value(&v.id));
        seed(&mut out, key("graphicsconsoles"), &console_value(&v.id));
        seed(&mut out, key("snapshots"), &active_snapshot_value(&v.id));
    }
    for (i, h) in inv.hosts.iter().enumerate() {
        seed(
            &mut out,
            "events",
            &types::Event::new()
                .id((i + 1).to_string())
                .description(format!("Status of host {} was set to Up.", h.name))
                .severity(types::LogSeverity::Normal)
                .code(24i64)
                .origin("oVirt")
                .custom_id(-1i64)
                .host(
                    types::Host::new()
                        .id(h.id.as_str())
                        .href(href("hosts", &h.id)),
                ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_list_is_a_self_closing_wrapper() {
        assert_eq!(list("vms", []), "<vms/>");
        assert_eq!(list("vms", ["<vm/>"]), "<vms><vm/></vms>");
    }

    #[test]
    fn documents_read_back_with_the_sdk_readers() {
        use crate::inventory::{Inventory, InventorySize};
        let inv = Inventory::generate(InventorySize {
            vms: 3,
            ..InventorySize::default()
        });
        let src = &inv.vms[2];
        let v: types::Vm = xml::from_str(&vm(src)).unwrap();
        assert_eq!(v.id.as_deref(), Some(src.id.as_str()));
        assert_eq!(v.name.as_deref(), Some(src.name.as_str()));
        assert_eq!(v.status, Some(types::VmStatus::Up));
        assert_eq!(
            v.cluster.unwrap().id.as_deref(),
            Some(src.cluster_id.as_str())
        );
        let link = v.nics.unwrap();
        assert!(link.is_empty());
        assert_eq!(
            link.href.as_deref(),
            Some(format!("{API_PATH}/vms/{}/nics", src.id).as_str())
        );
        let nics: Vec<String> = src.nics.iter().map(|n| nic(&src.id, n)).collect();
        let doc = list("nics", nics.iter().map(String::as_str));
        let read: Vec<types::Nic> = xml::from_str_list(&doc).unwrap();
        assert_eq!(read.len(), src.nics.len());
        assert_eq!(
            read[0].mac.as_ref().unwrap().address.as_deref(),
            Some(src.nics[0].mac.as_str())
        );
        let f: types::Fault = xml::from_str(&fault("R", "D & <x>")).unwrap();
        assert_eq!(f.detail.as_deref(), Some("D & <x>"));
    }

    #[test]
    fn escape_replaces_markup_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
