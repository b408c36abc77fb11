//! Golden snapshot of the services generated for `tests/fixtures/services.xml`, and checks
//! that the HTTP mapping in the generated code is the spec's data (never derived from names).
//! Run with `UPDATE_SNAPSHOTS=1` to rewrite the snapshot after an intended change.

use std::path::PathBuf;

use model_codegen::ir::{LocatorPath, Model, Verb};

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

fn fixture() -> Model {
    model_codegen::spec::load_file(&dir("fixtures").join("services.xml")).unwrap()
}

/// The generated services of `model` without whitespace (so line breaks do not matter).
fn services(model: &Model) -> String {
    let text = model_codegen::render(model_codegen::emit::services::emit(model)).unwrap();
    text.split_whitespace().collect()
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect()
}

#[test]
fn services_of_the_fixture_spec_match_the_snapshot() {
    let model = fixture();
    let files = model_codegen::generate(&model).unwrap();
    let text = &files.get("services.rs").unwrap().contents;
    let path = dir("snapshots").join("services.services.rs");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        &expected == text,
        "generated services differ from {path:?}; if intended, re-run with UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn fixture_services_cover_every_kind_and_clash() {
    let text = services(&fixture());
    for needle in [
        // R1.8: a signature is exposed as `<base>_<name>` and sent as its base.
        "pub fn add_from_scratch(&self) -> VmsAddFromScratchRequest",
        // Each method's request has its own type (and doc page) holding its setters.
        "pub type VmsAddFromScratchRequest = crate::service::Request<VmsAddFromScratch>;",
        // Keywords and runtime names: `async` -> `r#async` (and its plain spelling
        // `async_`), `timeout` -> `timeout_`.
        "pub fn r#async(self, value: bool) -> Self",
        "pub fn async_(self, value: bool) -> Self",
        "pub fn timeout_(self, value: i64) -> Self",
        // R1.6: an action output read from the `<action>` document.
        "const OUTPUT_TAG: &'static str = \"is_attached\";",
        "const ITEM_TAG: &'static str = \"target\";",
        // R1.7: the structured remove puts its list parameter in the action envelope.
        "crate::service::write_list_element(value.as_ref(), \"bricks\", \"brick\")",
        // R1.6: a list method names its item type and root tag once, so its items can also
        // be streamed (`Request::stream`), and its whole read uses the same root tag.
        "impl crate::service::ListMethod for VmsList { type Item = crate::types::Vm; \
         const LIST_TAG: &'static str = \"vms\"; }",
        "crate::service::read_list::<Self>(body)",
        // R2.2: navigation, with the invalid-segment error naming the service.
        "crate::service::invalid_segment(\"vm\", other, full)",
        // Fully qualified std paths.
        "::std::result::Result<Self::Output, crate::Error>",
    ] {
        assert!(text.contains(&squeeze(needle)), "missing `{needle}`");
    }
    let raw = model_codegen::render(model_codegen::emit::services::emit(&fixture())).unwrap();
    assert!(
        !raw.contains(" Option<"),
        "unqualified Option in generated services"
    );
    assert!(
        !raw.contains(" Result<"),
        "unqualified Result in generated services"
    );
}

#[test]
fn verbs_segments_and_tags_come_from_the_spec() {
    // Change the wire facts in the IR: the generated code must follow them.
    let mut model = fixture();
    let vm = model.services.iter_mut().find(|s| s.name == "vm").unwrap();
    let attached = vm
        .methods
        .iter_mut()
        .find(|m| m.name == "is_attached")
        .unwrap();
    attached.segment = Some("custom-segment".into());
    attached.verb = Verb::Put;
    attached.parameters[0].tag = "custom_tag".into();
    let bricks = vm
        .locators
        .iter_mut()
        .find(|l| l.name == "gluster_bricks")
        .unwrap();
    bricks.path = LocatorPath::Segment("custom-bricks".into());
    let vm_struct = model.structs.iter_mut().find(|s| s.name == "vm").unwrap();
    vm_struct.tag = "custom_vm".into();
    vm_struct.list_tag = "custom_vms".into();
    let text = services(&model);
    for needle in [
        "::std::option::Option::Some(\"custom-segment\"",
        "const METHOD: crate::service::Method = crate::service::Method::Put;",
        "const OUTPUT_TAG: &'static str = \"custom_tag\";",
        "self.0.child(\"custom-bricks\")",
        "\"custom-bricks\" => self.gluster_bricks_service().locate(rest, full)",
        "crate::service::read_body(body, \"custom_vm\")",
        "crate::service::write_body(value.borrow(), \"custom_vm\")",
        "const LIST_TAG: &'static str = \"custom_vms\";",
        "const ITEM_TAG: &'static str = \"custom_vm\";",
    ] {
        assert!(text.contains(&squeeze(needle)), "missing `{needle}`");
    }
    assert!(!text.contains("\"isattached\""));
    assert!(!text.contains("\"glusterbricks\""));
}
