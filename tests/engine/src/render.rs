//! XML rendering of the inventory (section 3 of WIRE.md).
//!
//! All serialisation of inventory objects goes through this module, so the engine can
//! switch to the SDK's generated writers by changing these functions only.

use crate::inventory::{Cluster, DataCenter, DiskAttachment, Host, Nic, Permission, Vm};
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

fn reference(out: &mut String, tag: &str, collection: &str, id: &str) {
    let _ = write!(
        out,
        "<{tag} href=\"{API_PATH}/{collection}/{id}\" id=\"{id}\"/>"
    );
}

/// `<vm>` element, with list links for its sub-collections (R3.6).
pub fn vm(vm: &Vm) -> String {
    let id = &vm.id;
    let mut out = String::with_capacity(768);
    let _ = write!(out, "<vm href=\"{API_PATH}/vms/{id}\" id=\"{id}\">");
    let _ = write!(
        out,
        "<actions><link href=\"{API_PATH}/vms/{id}/start\" rel=\"start\"/><link href=\"{API_PATH}/vms/{id}/stop\" rel=\"stop\"/></actions>"
    );
    let _ = write!(out, "<name>{}</name>", escape(&vm.name));
    for rel in ["diskattachments", "nics", "permissions"] {
        let _ = write!(
            out,
            "<link href=\"{API_PATH}/vms/{id}/{rel}\" rel=\"{rel}\"/>"
        );
    }
    let _ = write!(out, "<memory>{}</memory>", vm.memory);
    let _ = write!(out, "<status>{}</status>", vm.status.as_str());
    reference(&mut out, "cluster", "clusters", &vm.cluster_id);
    if let Some(host) = &vm.host_id {
        reference(&mut out, "host", "hosts", host);
    }
    out.push_str("</vm>");
    out
}

/// `<disk_attachment>` element.
pub fn disk_attachment(vm_id: &str, d: &DiskAttachment) -> String {
    let id = &d.id;
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "<disk_attachment href=\"{API_PATH}/vms/{vm_id}/diskattachments/{id}\" id=\"{id}\">"
    );
    let _ = write!(
        out,
        "<active>true</active><bootable>{}</bootable>",
        d.bootable
    );
    let _ = write!(out, "<interface>{}</interface>", escape(&d.interface));
    reference(&mut out, "disk", "disks", id);
    reference(&mut out, "vm", "vms", vm_id);
    out.push_str("</disk_attachment>");
    out
}

/// `<nic>` element.
pub fn nic(vm_id: &str, n: &Nic) -> String {
    let id = &n.id;
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "<nic href=\"{API_PATH}/vms/{vm_id}/nics/{id}\" id=\"{id}\">"
    );
    let _ = write!(out, "<name>{}</name>", escape(&n.name));
    let _ = write!(
        out,
        "<interface>virtio</interface><mac><address>{}</address></mac><plugged>true</plugged>",
        n.mac
    );
    reference(&mut out, "vm", "vms", vm_id);
    out.push_str("</nic>");
    out
}

/// `<permission>` element.
pub fn permission(vm_id: &str, p: &Permission) -> String {
    let id = &p.id;
    let mut out = String::with_capacity(320);
    let _ = write!(
        out,
        "<permission href=\"{API_PATH}/vms/{vm_id}/permissions/{id}\" id=\"{id}\">"
    );
    reference(&mut out, "role", "roles", &p.role_id);
    reference(&mut out, "user", "users", &p.user_id);
    reference(&mut out, "vm", "vms", vm_id);
    out.push_str("</permission>");
    out
}

/// `<cluster>` element.
pub fn cluster(c: &Cluster) -> String {
    let id = &c.id;
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<cluster href=\"{API_PATH}/clusters/{id}\" id=\"{id}\">"
    );
    let _ = write!(out, "<name>{}</name>", escape(&c.name));
    reference(&mut out, "data_center", "datacenters", &c.data_center_id);
    out.push_str("</cluster>");
    out
}

/// `<host>` element.
pub fn host(h: &Host) -> String {
    let id = &h.id;
    let mut out = String::with_capacity(256);
    let _ = write!(out, "<host href=\"{API_PATH}/hosts/{id}\" id=\"{id}\">");
    let _ = write!(
        out,
        "<name>{}</name><address>{}</address><status>up</status>",
        escape(&h.name),
        escape(&h.address)
    );
    reference(&mut out, "cluster", "clusters", &h.cluster_id);
    out.push_str("</host>");
    out
}

/// `<data_center>` element.
pub fn data_center(d: &DataCenter) -> String {
    let id = &d.id;
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "<data_center href=\"{API_PATH}/datacenters/{id}\" id=\"{id}\">"
    );
    let _ = write!(
        out,
        "<name>{}</name><local>false</local><status>up</status>",
        escape(&d.name)
    );
    out.push_str("</data_center>");
    out
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
    format!(
        "<api><link href=\"{API_PATH}/vms\" rel=\"vms\"/><link href=\"{API_PATH}/hosts\" rel=\"hosts\"/>\
<link href=\"{API_PATH}/clusters\" rel=\"clusters\"/><link href=\"{API_PATH}/datacenters\" rel=\"datacenters\"/>\
<product_info><name>oVirt Engine</name><vendor>ovirt.org</vendor>\
<version><build>0</build><full_version>4.5.0-test</full_version><major>4</major><minor>5</minor><revision>0</revision></version></product_info>\
<summary><hosts><active>{hosts}</active><total>{hosts}</total></hosts><vms><active>{vms}</active><total>{vms}</total></vms></summary>\
</api>"
    )
}

/// A successful action response (R1.6).
pub fn action_complete() -> String {
    "<action><status>complete</status></action>".to_string()
}

/// A failed action response: `<action>` with `<status>failed</status>` and a fault (R3.10).
pub fn action_failed(reason: &str, detail: &str) -> String {
    format!(
        "<action><status>failed</status><fault><reason>{}</reason><detail>{}</detail></fault></action>",
        escape(reason),
        escape(detail)
    )
}

/// A fault document (R4.1).
pub fn fault(reason: &str, detail: &str) -> String {
    format!(
        "<fault><reason>{}</reason><detail>{}</detail></fault>",
        escape(reason),
        escape(detail)
    )
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
    fn escape_replaces_markup_characters() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
