//! XML rendering of the inventory (section 3 of docs/wire.md).
//!
//! Inventory objects are converted to the SDK's generated types (`ovirt::types`) and
//! written by its generated writers (`ovirt::xml`); this module is the only place that
//! does it.

use crate::inventory::{Cluster, DataCenter, DiskAttachment, Host, Nic, Permission, Vm, VmStatus};
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
        .status(match vm.status {
            VmStatus::Up => types::VmStatus::Up,
            VmStatus::Down => types::VmStatus::Down,
        })
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
