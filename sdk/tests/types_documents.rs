//! Realistic documents, written from the facts in docs/wire.md, read into the
//! right values; malformed documents give clear errors.

use ovirt::types::{
    Action, Cluster, Disk, DiskFormat, DiskStatus, Event, Fault, Host, HostStatus, LogSeverity,
    Nic, NicInterface, Vm, VmStatus,
};
use ovirt::xml::{self, DateTime};

const VM: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<vm href="/ovirt-engine/api/vms/123" id="123">
  <actions>
    <link href="/ovirt-engine/api/vms/123/start" rel="start"/>
    <link href="/ovirt-engine/api/vms/123/stop" rel="stop"/>
  </actions>
  <name>web1</name>
  <description>front &amp; back &lt;end&gt;</description>
  <comment></comment>
  <link href="/ovirt-engine/api/vms/123/nics" rel="nics"/>
  <link href="/ovirt-engine/api/vms/123/diskattachments" rel="diskattachments"/>
  <link href="/ovirt-engine/api/vms/123/numanodes" rel="numanodes"/>
  <link href="/ovirt-engine/api/vms/123/tags"/>
  <link rel="unknownrel" href="/x"/>
  <bios><boot_menu><enabled>false</enabled></boot_menu><type>q35_secure_boot</type></bios>
  <cpu>
    <architecture>x86_64</architecture>
    <topology><cores>2</cores><sockets>1</sockets><threads>1</threads></topology>
  </cpu>
  <creation_time>2016-09-08T09:53:35.138+02:00</creation_time>
  <start_time>2024-05-01T10:00:00Z</start_time>
  <stop_time>2024-05-01T11:00:00.5</stop_time>
  <memory>4294967296</memory>
  <os><boot><devices><device>hd</device><device>cdrom</device></devices></boot><type>rhel_8x64</type></os>
  <stateless>FALSE</stateless>
  <delete_protected>1</delete_protected>
  <status>up</status>
  <creation_status>complete</creation_status>
  <some_future_element><nested>ignored</nested></some_future_element>
  <cluster href="/ovirt-engine/api/clusters/5" id="5"/>
  <host href="/ovirt-engine/api/hosts/7" id="7"/>
  <template href="/ovirt-engine/api/templates/0" id="0"/>
  <disk_attachments>
    <disk_attachment href="/ovirt-engine/api/vms/123/diskattachments/9" id="9">
      <bootable>true</bootable>
      <interface>virtio_scsi</interface>
      <disk href="/ovirt-engine/api/disks/9" id="9">
        <name>web1_disk</name>
        <provisioned_size>10737418240</provisioned_size>
        <status>ok</status>
        <format>cow</format>
      </disk>
    </disk_attachment>
    <size>1</size>
  </disk_attachments>
  <host_numa_nodes>
    <host_numa_node id="n0"><index>0</index><memory>1024</memory></host_numa_node>
  </host_numa_nodes>
</vm>"#;

#[test]
fn reads_a_vm_with_links_references_and_inlined_follow_lists() {
    let vm: Vm = xml::from_str(VM).unwrap();
    assert_eq!(vm.id.as_deref(), Some("123"));
    assert_eq!(vm.href.as_deref(), Some("/ovirt-engine/api/vms/123"));
    assert_eq!(vm.name.as_deref(), Some("web1"));
    assert_eq!(vm.description.as_deref(), Some("front & back <end>"));
    // R3.5: `<x></x>` is an empty string.
    assert_eq!(vm.comment.as_deref(), Some(""));
    assert_eq!(vm.status, Some(VmStatus::Up));
    assert_eq!(vm.memory, Some(4_294_967_296));
    // R3.7: booleans case-insensitive and 1/0.
    assert_eq!(vm.stateless, Some(false));
    assert_eq!(vm.delete_protected, Some(true));
    // Nested struct values.
    let cpu = vm.cpu.as_deref().unwrap();
    assert_eq!(
        cpu.architecture.as_ref().map(|a| a.as_str()),
        Some("x86_64")
    );
    assert_eq!(cpu.topology.as_ref().unwrap().cores, Some(2));
    let bios = vm.bios.as_deref().unwrap();
    assert_eq!(bios.r#type.as_ref().unwrap().as_str(), "q35_secure_boot");
    assert_eq!(bios.boot_menu.as_ref().unwrap().enabled, Some(false));
    // R3.1: member `os` is `<os>`; R3.2: primitive list items use the singular.
    let os = vm.os.as_deref().unwrap();
    assert_eq!(os.r#type.as_deref(), Some("rhel_8x64"));
    let devices = os.boot.as_ref().unwrap().devices.as_ref().unwrap();
    let devices: Vec<&str> = devices.iter().map(|d| d.as_str()).collect();
    assert_eq!(devices, ["hd", "cdrom"]);
    // R3.8: dates with offset, Z, and no zone.
    let created = vm.creation_time.unwrap();
    assert_eq!(created.offset().unwrap().local_minus_utc(), 7200);
    assert_eq!(created.to_string(), "2016-09-08T09:53:35.138+02:00");
    assert_eq!(
        vm.start_time.unwrap().offset().unwrap().local_minus_utc(),
        0
    );
    assert_eq!(vm.stop_time.unwrap().offset(), None);
    assert_eq!(vm.stop_time.unwrap().to_string(), "2024-05-01T11:00:00.500");
    // References carry id and href only.
    assert_eq!(
        vm.cluster.as_deref(),
        Some(&Cluster::new().id("5").href("/ovirt-engine/api/clusters/5"))
    );
    assert_eq!(vm.host.as_deref().unwrap().id.as_deref(), Some("7"));
    // R3.6: a list link given only as <link rel href>.
    let nics = vm.nics.as_ref().unwrap();
    assert_eq!(nics.href.as_deref(), Some("/ovirt-engine/api/vms/123/nics"));
    assert!(nics.is_empty());
    // Inlined by follow, and also announced by a link: both kept.
    let atts = vm.disk_attachments.as_ref().unwrap();
    assert_eq!(
        atts.href.as_deref(),
        Some("/ovirt-engine/api/vms/123/diskattachments")
    );
    assert_eq!(atts.len(), 1, "the non-item <size> child is skipped (R3.5)");
    let att = &atts[0];
    assert_eq!(att.bootable, Some(true));
    let disk = att.disk.as_deref().unwrap();
    assert_eq!(disk.name.as_deref(), Some("web1_disk"));
    assert_eq!(disk.provisioned_size, Some(10_737_418_240));
    assert_eq!(disk.status, Some(DiskStatus::Ok));
    assert_eq!(disk.format, Some(DiskFormat::Cow));
    // R3.1: vm.numa_nodes travels as <host_numa_nodes> of <host_numa_node>, rel numanodes.
    let numa = vm.numa_nodes.as_ref().unwrap();
    assert_eq!(
        numa.href.as_deref(),
        Some("/ovirt-engine/api/vms/123/numanodes")
    );
    assert_eq!(numa[0].memory, Some(1024));
    // A link without rel, and a link with an unknown rel, are ignored.
    assert_eq!(vm.tags, None);
}

#[test]
fn a_vm_read_then_written_reads_back_equal() {
    let vm: Vm = xml::from_str(VM).unwrap();
    let text = xml::to_string(&vm);
    assert_eq!(xml::from_str::<Vm>(&text).unwrap(), vm);
}

#[test]
fn reads_a_list_of_hosts() {
    let doc = r#"<hosts>
      <host href="/ovirt-engine/api/hosts/7" id="7">
        <name>h1</name><address>h1.example.com</address><status>up</status>
        <memory>270000000000</memory><port>54321</port>
        <version><major>4</major><minor>6</minor><full_version>vdsm-4.50</full_version></version>
        <summary><active>3</active><migrating>0</migrating><total>5</total></summary>
        <transparent_hugepages><enabled>true</enabled></transparent_hugepages>
        <cluster href="/ovirt-engine/api/clusters/5" id="5"/>
        <link href="/ovirt-engine/api/hosts/7/nics" rel="nics"/>
      </host>
      <host id="8"><name>h2</name><status>non_operational</status></host>
      <host id="9"><status>some_new_status</status></host>
    </hosts>"#;
    let hosts: Vec<Host> = xml::from_str_list(doc).unwrap();
    assert_eq!(hosts.len(), 3);
    let h1 = &hosts[0];
    assert_eq!(h1.status, Some(HostStatus::Up));
    assert_eq!(h1.memory, Some(270_000_000_000));
    assert_eq!(h1.version.as_deref().unwrap().minor, Some(6));
    assert_eq!(h1.summary.as_deref().unwrap().total, Some(5));
    // R3.1: host.transparent_huge_pages is <transparent_hugepages>.
    assert_eq!(
        h1.transparent_huge_pages.as_deref().unwrap().enabled,
        Some(true)
    );
    assert_eq!(
        h1.nics.as_ref().unwrap().href.as_deref(),
        Some("/ovirt-engine/api/hosts/7/nics")
    );
    assert_eq!(hosts[1].status, Some(HostStatus::NonOperational));
    // R3.9: an unknown value is kept as text.
    let unknown = hosts[2].status.clone().unwrap();
    assert_eq!(unknown, HostStatus::Unrecognized("some_new_status".into()));
    assert_eq!(unknown.as_str(), "some_new_status");
}

#[test]
fn reads_disks_and_nics() {
    let disks: Vec<Disk> = xml::from_str_list(
        r#"<disks><disk id="d1"><alias>a</alias><sparse>true</sparse>
           <storage_domains><storage_domain id="sd1"/></storage_domains></disk><disk id="d2"/></disks>"#,
    )
    .unwrap();
    assert_eq!(disks.len(), 2);
    assert_eq!(disks[0].sparse, Some(true));
    assert_eq!(
        disks[0].storage_domains.as_ref().unwrap()[0].id.as_deref(),
        Some("sd1")
    );
    assert_eq!(disks[1], Disk::new().id("d2"));

    let nic: Nic = xml::from_str(
        r#"<nic id="n1"><name>eth0</name><interface>virtio</interface><linked>true</linked>
           <mac><address>56:6f:1a:9b:00:01</address></mac>
           <vnic_profile id="p1"/>
           <statistics><statistic id="s1"><name>data.current.rx</name></statistic></statistics></nic>"#,
    )
    .unwrap();
    assert_eq!(nic.interface, Some(NicInterface::Virtio));
    assert_eq!(
        nic.mac.as_deref().unwrap().address.as_deref(),
        Some("56:6f:1a:9b:00:01")
    );
    assert_eq!(
        nic.statistics.as_ref().unwrap()[0].name.as_deref(),
        Some("data.current.rx")
    );
    assert_eq!(nic.statistics.as_ref().unwrap().href, None);
}

#[test]
fn reads_events() {
    let events: Vec<Event> = xml::from_str_list(
        r#"<events>
          <event href="/ovirt-engine/api/events/1001" id="1001">
            <description>VM web1 started</description><code>32</code><severity>normal</severity>
            <time>2024-05-01T10:00:00.123456+01:00</time><correlation_id>abc</correlation_id>
            <origin>oVirt</origin><custom_id>-1</custom_id><flood_rate>30</flood_rate>
            <cluster id="5"/><vm id="123"/>
          </event>
          <event id="1002"><severity>alert</severity></event>
        </events>"#,
    )
    .unwrap();
    assert_eq!(events[0].code, Some(32));
    assert_eq!(events[0].custom_id, Some(-1));
    assert_eq!(events[0].severity, Some(LogSeverity::Normal));
    assert_eq!(
        events[0].time,
        Some(
            DateTime::parse("2024-05-01T09:00:00.123456Z")
                .map(|t| {
                    DateTime::new(
                        t.to_fixed()
                            .unwrap()
                            .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap()),
                    )
                })
                .unwrap()
        )
    );
    assert_eq!(events[0].vm.as_deref().unwrap().id.as_deref(), Some("123"));
    assert_eq!(events[1].severity, Some(LogSeverity::Alert));
}

#[test]
fn reads_a_fault() {
    let doc = "<fault><reason>Incomplete parameters</reason><detail>Vm [name] required for add</detail></fault>";
    assert_eq!(xml::root_tag(doc).unwrap(), "fault");
    let fault: Fault = xml::from_str(doc).unwrap();
    assert_eq!(fault.reason.as_deref(), Some("Incomplete parameters"));
    assert_eq!(fault.detail.as_deref(), Some("Vm [name] required for add"));
}

#[test]
fn reads_action_responses() {
    // R1.6: an action's output parameter is a child of <action>.
    let ok: Action = xml::from_str(
        r#"<action><status>complete</status><job href="/ovirt-engine/api/jobs/77" id="77"/>
           <iscsi_targets><iscsi_target>iqn.2024-01.com.example:t1</iscsi_target><iscsi_target>iqn.2024-01.com.example:t2</iscsi_target></iscsi_targets>
           <is_attached>true</is_attached></action>"#,
    )
    .unwrap();
    assert_eq!(ok.status.as_deref(), Some("complete"));
    assert_eq!(ok.job.as_deref().unwrap().id.as_deref(), Some("77"));
    assert_eq!(ok.iscsi_targets.as_ref().unwrap().len(), 2);
    assert_eq!(ok.is_attached, Some(true));
    assert_eq!(ok.fault, None);
    // R3.10: a failed action carries a fault.
    let failed: Action = xml::from_str(
        "<action><status>failed</status><fault><reason>Operation Failed</reason><detail>[Cannot start VM]</detail></fault></action>",
    )
    .unwrap();
    assert_eq!(
        failed.fault.as_deref().unwrap().reason.as_deref(),
        Some("Operation Failed")
    );
}

#[test]
fn writes_requests_built_with_setters() {
    let vm = Vm::new()
        .name("web1")
        .cluster(Cluster::new().name("Default"))
        .memory(1_073_741_824)
        .status("up");
    assert_eq!(
        xml::to_string(&vm),
        "<vm><status>up</status><memory>1073741824</memory><name>web1</name><cluster><name>Default</name></cluster></vm>"
    );
    let action = Action::new().r#async(true).host(Host::new().id("7"));
    assert_eq!(
        xml::to_string(&action),
        "<action><async>true</async><host id=\"7\"/></action>"
    );
}

#[test]
fn wrong_root_is_a_clear_error() {
    let err = xml::from_str::<Vm>("<host id=\"1\"/>").unwrap_err();
    assert_eq!(err.message(), "expected root element <vm>, found <host>");
    let err = xml::from_str_list::<Vm>("<vm/>").unwrap_err();
    assert!(
        err.message().contains("expected root element <vms>"),
        "{err}"
    );
}

#[test]
fn bad_values_are_errors_naming_the_element() {
    let err = xml::from_str::<Vm>("<vm><memory>lots</memory></vm>").unwrap_err();
    assert!(err.to_string().contains("<memory>"), "{err}");
    assert!(err.to_string().contains("lots"), "{err}");
    let err = xml::from_str::<Vm>("<vm><stateless>maybe</stateless></vm>").unwrap_err();
    assert!(err.message().contains("expected true or false"), "{err}");
    let err = xml::from_str::<Vm>("<vm><creation_time>yesterday</creation_time></vm>").unwrap_err();
    assert!(err.message().contains("date-time"), "{err}");
}

#[test]
fn malformed_documents_are_errors_not_panics() {
    for doc in [
        "",
        "   ",
        "<vm>",
        "<vm><name>x</vm>",
        "<vm></host>",
        "text",
        "<vm/><vm/>",
        "<vm id=\"1></vm>",
        "<vm><name>&bogus;</name></vm>",
        "<vm><cluster><name>x</name></vm>",
        "</vm>",
    ] {
        assert!(xml::from_str::<Vm>(doc).is_err(), "accepted {doc:?}");
    }
    assert!(xml::from_slice::<Vm>(b"<vm><name>\xff</name></vm>").is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // vm -> disk_attachments -> disk_attachment -> vm -> ... (a real cycle of the model)
    let levels = 10_000;
    let mut doc = String::new();
    for _ in 0..levels {
        doc.push_str("<vm><disk_attachments><disk_attachment>");
    }
    for _ in 0..levels {
        doc.push_str("</disk_attachment></disk_attachments></vm>");
    }
    let err = xml::from_str::<Vm>(&doc).unwrap_err();
    assert!(err.message().contains("nested deeper"), "{err}");
    // A realistic depth is fine.
    let shallow = "<vm><disk_attachments><disk_attachment><vm><name>x</name></vm></disk_attachment></disk_attachments></vm>";
    assert!(xml::from_str::<Vm>(shallow).is_ok());
}

#[test]
fn every_truncation_and_byte_flip_of_a_document_is_read_without_panicking() {
    // Truncations must fail (the root is never closed) and never panic.
    for end in 0..VM.len() {
        if VM.is_char_boundary(end) {
            assert!(
                xml::from_str::<Vm>(&VM[..end]).is_err(),
                "accepted a prefix of {end} bytes"
            );
        }
    }
    // Corrupting a byte may or may not leave a valid document; it must not panic.
    let bytes = VM.as_bytes();
    for i in 0..bytes.len() {
        for b in [b'<', b'>', b'&', b'"', b'/', b'x', 0xff] {
            let mut v = bytes.to_vec();
            v[i] = b;
            let _ = xml::from_slice::<Vm>(&v);
        }
    }
}
