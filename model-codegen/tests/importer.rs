//! The importer: `spec/` is what it writes for the upstream model, it is
//! deterministic, and naming exceptions are data.

mod common;

use model_codegen::import::{self, Names};

#[test]
fn committed_spec_is_what_the_importer_writes() {
    let files = import::import_paths(&common::model_xml(), &common::spec_dir()).unwrap();
    let diff = import::differences(&common::spec_dir(), &files);
    assert!(
        diff.is_empty(),
        "spec/ is out of date with model.xml; re-run the importer: {diff:?}"
    );
}

#[test]
fn importing_twice_gives_identical_files() {
    let a = import::import_paths(&common::model_xml(), &common::spec_dir()).unwrap();
    let b = import::import_paths(&common::model_xml(), &common::spec_dir()).unwrap();
    assert_eq!(a, b);
}

const MODEL: &str = r#"<model><root>system</root><types>
  <primitive><name>string</name></primitive>
  <struct><name>operating_system</name><attribute><name>type</name><type>string</type></attribute></struct>
  <struct><name>vm</name>
    <attribute><name>id</name><type>string</type></attribute>
    <attribute><name>os</name><type>operating_system</type></attribute>
    <attribute><name>name_servers</name><type>string[]</type></attribute>
    <link><name>disk_attachments</name><type>vm[]</type></link>
  </struct>
</types><services>
  <service><name>system</name>
    <locator><name>vms</name><service>vms</service></locator>
  </service>
  <service><name>vms</name>
    <method><name>add</name>
      <parameter><name>vm</name><in>true</in><out>true</out><type>vm</type></parameter>
      <parameter><name>clone</name><in>true</in><out>false</out><type>string</type></parameter>
    </method>
    <method><name>from_scratch</name><base>add</base>
      <parameter><name>vm</name><in>true</in><out>true</out><type>vm</type></parameter>
    </method>
    <method><name>reorder_things</name>
      <parameter><name>async</name><in>true</in><out>false</out><type>string</type></parameter>
      <parameter><name>targets</name><in>false</in><out>true</out><type>string[]</type></parameter>
    </method>
    <locator><name>vm</name><service>system</service>
      <parameter><name>id</name><in>false</in><out>false</out><type>string</type></parameter>
    </locator>
  </service>
</services></model>"#;

const NAMES: &str = r#"<import-names>
  <envelopes action="vm" fault="vm"/>
  <xml-attribute member="id"/>
  <tag name="operating_system" tag="os_tag"/>
  <plural word="vm" plural="vmz"/>
</import-names>"#;

fn run(names: &str) -> (String, String) {
    let names = Names::parse("names.xml".as_ref(), names).unwrap();
    let files = import::import("model.xml".as_ref(), MODEL, &names).unwrap();
    (files[0].1.clone(), files[1].1.clone())
}

#[test]
fn naming_rules_from_names_xml_end_up_in_the_spec() {
    let (types, services) = run(NAMES);
    assert!(
        types.contains(
            r#"<struct name="operating_system" tag="os_tag" list-tag="operating_systems">"#
        ),
        "{types}"
    );
    assert!(
        types.contains(r#"<struct name="vm" list-tag="vmz">"#),
        "{types}"
    );
    assert!(types.contains(r#"<attribute name="id" type="string" xml="attribute"/>"#));
    assert!(types
        .contains(r#"<attribute name="name_servers" type="string[]" item-tag="name_server"/>"#));
    assert!(types.contains(r#"<link name="disk_attachments" type="vm[]" rel="diskattachments"/>"#));
    assert!(
        services.contains(r#"<method name="add" kind="add" verb="POST">"#),
        "{services}"
    );
    assert!(services.contains(r#"<parameter name="vm" type="vm" in="body" out="body"/>"#));
    assert!(services.contains(r#"<parameter name="clone" type="string" in="query"/>"#));
    assert!(services.contains(r#"<method name="from_scratch" base="add" kind="add" verb="POST">"#));
    assert!(services.contains(
        r#"<method name="reorder_things" kind="action" verb="POST" segment="reorderthings">"#
    ));
    assert!(services
        .contains(r#"<parameter name="targets" type="string[]" out="action" item-tag="target"/>"#));
    assert!(services.contains(r#"<locator name="vms" service="vms" segment="vms"/>"#));
}

#[test]
fn a_new_tag_exception_is_only_a_names_xml_change() {
    let (before, _) = run(NAMES);
    let (after, _) = run(&NAMES.replace(
        "</import-names>",
        r#"<tag name="name_servers" tag="dns_servers"/></import-names>"#,
    ));
    assert!(!before.contains("dns_servers"));
    assert!(after.contains(r#"<attribute name="name_servers" type="string[]" tag="dns_servers" item-tag="name_server"/>"#), "{after}");
}

#[test]
fn unknown_names_xml_element_is_an_error_naming_it() {
    let err = Names::parse(
        "spec/names.xml".as_ref(),
        "<import-names><tagg/></import-names>",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("spec/names.xml: line 1: unknown element <tagg>"),
        "{err}"
    );
}
