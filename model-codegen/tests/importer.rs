//! The importer, on the small upstream-format model in `tests/fixtures/import/` (written
//! for these tests, with one instance of each construct the importer handles): what it
//! writes, that it is deterministic, that naming exceptions are data, and its errors.
//!
//! That the committed `spec/` is what the importer writes for the whole upstream model is
//! checked by `.ci/run` (`import-model ... --check`), since the upstream model is not part
//! of the repository.

mod common;

use std::path::{Path, PathBuf};

use model_codegen::import::{self, ImportedFiles, Names};

fn fixture_dir() -> PathBuf {
    common::tests_path("fixtures/import")
}

fn import_fixture() -> ImportedFiles {
    let dir = fixture_dir();
    import::import_paths(&dir.join("model.xml"), &dir).unwrap()
}

fn file<'f>(files: &'f ImportedFiles, name: &str) -> &'f str {
    &files.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn the_fixture_model_imports_to_the_committed_snapshots() {
    let files = import_fixture();
    assert_eq!(
        files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["types.xml", "services.xml"]
    );
    for (name, contents) in &files {
        assert!(
            common::snapshot_matches(&format!("import.{name}"), contents),
            "the import of tests/fixtures/import/model.xml differs from tests/snapshots/import.{name}; \
             if intended, re-run with UPDATE_SNAPSHOTS=1\n{contents}"
        );
    }
}

#[test]
fn importing_twice_gives_identical_files() {
    assert_eq!(import_fixture(), import_fixture());
}

#[test]
fn the_imported_fixture_loads_as_a_spec_and_generates() {
    let files = import_fixture();
    let sources: Vec<(PathBuf, String)> = files
        .iter()
        .map(|(n, c)| (PathBuf::from(n), c.clone()))
        .collect();
    let model = model_codegen::spec::load_sources(&sources).unwrap();
    let generated = model_codegen::generate(&model).unwrap();
    let services = &generated.get("services.rs").unwrap().contents;
    assert!(services.contains("pub struct VmService"), "{services}");
}

#[test]
fn inherited_members_methods_and_locators_are_written_only_where_declared() {
    let files = import_fixture();
    let (types, services) = (file(&files, "types.xml"), file(&files, "services.xml"));
    // `cluster` declares nothing itself: its `id` and `name` come from `identified`.
    assert!(
        types.contains(r#"<struct name="cluster" base="identified" list-tag="clusters"/>"#),
        "{types}"
    );
    assert_eq!(
        types.matches(r#"<attribute name="id""#).count(),
        1,
        "{types}"
    );
    // `vm` gets `statistics` from `measurable` and lists only its own locator.
    assert!(services.contains(r#"<service name="vm" base="measurable" since="4.0">"#));
    assert_eq!(services.matches(r#"<locator name="statistics""#).count(), 1);
    assert!(services.contains(r#"<service name="follow"/>"#));
}

#[test]
fn method_kind_verb_and_parameter_places_follow_the_base_chain() {
    let files = import_fixture();
    let services = file(&files, "services.xml");
    for expected in [
        r#"<method name="get" kind="get" verb="GET">"#,
        r#"<method name="list" kind="list" verb="GET">"#,
        r#"<method name="update" kind="update" verb="PUT">"#,
        r#"<method name="remove" kind="remove" verb="DELETE">"#,
        // R1.8: a signature is sent as its base, an action signature under its base's segment.
        r#"<method name="from_scratch" base="add" kind="add" verb="POST">"#,
        r#"<method name="using_ssh" base="install" kind="action" verb="POST" segment="install">"#,
        r#"<method name="reorder_mac_addresses" kind="action" verb="POST" segment="reordermacaddresses" deprecated="true">"#,
        // R1.3, R1.4: main parameter in the body, the others in the query.
        r#"<parameter name="vm" type="vm" in="body" out="body"/>"#,
        r#"<parameter name="clone" type="boolean" in="query"/>"#,
        r#"<parameter name="vms" type="vm[]" out="body"/>"#,
        // R1.7: a structured input of a remove goes in an action document.
        r#"<parameter name="hosts" type="host[]" in="action"/>"#,
        // R1.5, R1.6: action inputs and outputs travel in the action document.
        r#"<parameter name="source_host" type="host" in="action" tag="origin_host"/>"#,
        r#"<parameter name="is_attached" type="boolean" out="action"/>"#,
        r#"<parameter name="iscsi_targets" type="string[]" out="action" item-tag="target_iqn"/>"#,
        r#"<parameter name="resolution" type="string" in="action" mandatory="true"/>"#,
        r#"<parameter name="search" type="string" in="query" since="4.4"/>"#,
        // R2.1: locator segments.
        r#"<locator name="disk_attachments" service="follow" segment="diskattachments"/>"#,
        r#"<locator name="operating_systems" service="follow" segment="operatingsystems" deprecated="true"/>"#,
        "<locator name=\"vm\" service=\"vm\">\n      <parameter name=\"id\" type=\"string\"/>\n    </locator>",
        r#"<api root-service="system">"#,
    ] {
        assert!(services.contains(expected), "missing {expected}\n{services}");
    }
}

#[test]
fn tags_plurals_item_tags_and_annotations_end_up_in_the_types() {
    let files = import_fixture();
    let types = file(&files, "types.xml");
    for expected in [
        r#"<api action-type="action" fault-type="fault">"#,
        r#"<primitive name="decimal" kind="decimal"/>"#,
        // R3.1, R3.3: tag exceptions, `y` -> `ies`, an irregular plural.
        r#"<struct name="operating_system" tag="os" list-tag="oss">"#,
        r#"<struct name="api_summary" list-tag="api_summaries">"#,
        r#"<struct name="katello_erratum" base="identified" list-tag="katello_errata">"#,
        r#"<struct name="numa_node" list-tag="host_numa_nodes">"#,
        r#"<struct name="empty_thing" list-tag="empty_things"/>"#,
        r#"<struct name="host_like" base="identified" list-tag="host_likes" deprecated="true">"#,
        // R3.2: item tags of primitive and enum lists, none for struct lists.
        r#"<attribute name="name_servers" type="string[]" item-tag="name_server"/>"#,
        r#"<attribute name="errata" type="string[]" item-tag="erratum"/>"#,
        r#"<attribute name="policies" type="vm_status[]" item-tag="policy"/>"#,
        r#"<attribute name="numa_nodes" type="numa_node[]" tag="host_numa_nodes"/>"#,
        // R3.4, R3.6, R3.9.
        r#"<attribute name="id" type="string" xml="attribute"/>"#,
        r#"<link name="disk_attachments" type="katello_erratum[]" rel="diskattachments"/>"#,
        r#"<link name="tags" type="string[]" item-tag="tag" rel="tags"/>"#,
        r#"<link name="host" type="host"/>"#,
        r#"<attribute name="ratio" type="decimal" deprecated="true" since="4.1"/>"#,
        r#"<enum name="vm_status" since="4.2">"#,
        r#"<value name="powering_down" deprecated="true"/>"#,
    ] {
        assert!(types.contains(expected), "missing {expected}\n{types}");
    }
    // Annotations other than `deprecated` and `since` are dropped.
    assert!(
        !types.contains("author") && !types.contains("area"),
        "{types}"
    );
}

#[test]
fn differences_name_the_spec_files_that_are_missing_or_changed() {
    let files = import_fixture();
    let dir = std::env::temp_dir().join(format!("model-codegen-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveOnDrop(dir.clone());
    assert_eq!(
        import::differences(&dir, &files),
        [dir.join("types.xml"), dir.join("services.xml")]
    );
    for (name, contents) in &files {
        std::fs::write(dir.join(name), contents).unwrap();
    }
    assert!(import::differences(&dir, &files).is_empty());
    std::fs::write(dir.join("services.xml"), "<api/>").unwrap();
    assert_eq!(
        import::differences(&dir, &files),
        [dir.join("services.xml")]
    );
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import_error(model: &str) -> String {
    let names = Names::parse("names.xml".as_ref(), "<import-names/>").unwrap();
    import::import(Path::new("m.xml"), model, &names)
        .unwrap_err()
        .to_string()
}

const PRIMITIVES: &str = "<primitive><name>string</name></primitive>";

#[test]
fn a_model_that_cannot_be_imported_is_an_error_naming_what_is_wrong() {
    let cases = [
        ("<types/>".to_string(), "m.xml: expected root <model>, found <types>"),
        ("<model><services/></model>".to_string(), "m.xml: no <types>"),
        ("<model><types/></model>".to_string(), "m.xml: no <services>"),
        ("<model><types>".to_string(), "m.xml: line "),
        (
            "<model><types><primitive><name>float</name></primitive></types><services/></model>".to_string(),
            "m.xml: line 1: primitive `float` is not one of boolean, integer, decimal, date, string",
        ),
        (
            "<model><types>\n<union><name>u</name></union></types><services/></model>".to_string(),
            "m.xml: line 2: unknown type element <union>",
        ),
        (
            format!("<model><types>{PRIMITIVES}</types><services><service><name>s</name>\
             <method><name>using_ssh</name><base>install</base></method></service></services></model>"),
            "m.xml: service `s` method `using_ssh`: base method `install` not found",
        ),
        (
            format!("<model><types>{PRIMITIVES}</types><services><service><name>s</name><locator><name>l</name><service>s</service>\
             <parameter><name>a</name><type>string</type></parameter><parameter><name>b</name><type>string</type></parameter>\
             </locator></service></services></model>"),
            "m.xml: service `s` locator `l`: more than one parameter",
        ),
        (
            // The model lists an inherited member whose declaring struct does not have it.
            format!("<model><types>{PRIMITIVES}<struct><name>base</name></struct><struct><name>s</name><base>base</base>\
             <attribute declared_in=\"base\"><name>id</name><type>string</type></attribute></struct></types>\
             <services/></model>"),
            "m.xml: struct `s`: flattened members [] differ from the model's [\"id\"]",
        ),
        (
            format!("<model><types>{PRIMITIVES}</types><services><service><name>a</name></service><service><name>s</name><base>a</base>\
             <locator declared_in=\"a\"><name>l</name><service>a</service></locator></service></services></model>"),
            "m.xml: service `s`: flattened methods/locators differ from the model's",
        ),
    ];
    for (model, expected) in cases {
        let err = import_error(&model);
        assert!(
            err.starts_with(expected),
            "{model}\n  gave: {err}\n  expected: {expected}"
        );
    }
}

#[test]
fn a_names_file_with_a_missing_attribute_or_wrong_root_is_an_error() {
    let err = Names::parse(
        "n.xml".as_ref(),
        "<import-names>\n<tag name=\"x\"/></import-names>",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "n.xml: line 2: <tag> needs attribute `tag`"
    );
    let err = Names::parse("n.xml".as_ref(), "<names/>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "n.xml: expected root <import-names>, found <names>"
    );
}

#[test]
fn plural_and_singular_change_only_the_last_word() {
    let names = Names::parse(
        "n.xml".as_ref(),
        r#"<import-names><plural word="erratum" plural="errata"/><singular word="errata" singular="erratum"/><tag name="vms" tag="machines"/></import-names>"#,
    )
    .unwrap();
    assert_eq!(names.plural("api_summary"), "api_summaries");
    assert_eq!(names.plural("qos"), "qoss");
    assert_eq!(names.plural("katello_erratum"), "katello_errata");
    assert_eq!(names.singular("katello_errata"), "katello_erratum");
    assert_eq!(names.singular("custom_properties"), "custom_property");
    assert_eq!(names.singular("name_servers"), "name_server");
    assert_eq!(names.singular("data"), "data");
    assert_eq!(names.tag("vms"), "machines");
    assert_eq!(names.tag("vm"), "vm");
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
