//! Errors in a spec name the file, the line and the element that is wrong.

use std::path::PathBuf;

use model_codegen::spec::load_sources;

fn load(text: &str) -> String {
    load_sources(&[(PathBuf::from("spec/types.xml"), text.to_string())])
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_member_type_names_file_line_and_element() {
    let err = load(
        "<api>\n  <primitive name=\"string\" kind=\"string\"/>\n  <struct name=\"vm\" list-tag=\"vms\">\n    <attribute name=\"status\" type=\"vm_statuz\"/>\n  </struct>\n</api>",
    );
    assert_eq!(
        err,
        "spec/types.xml:4: <struct name=\"vm\"> <attribute name=\"status\">: unknown type `vm_statuz` in `type=\"vm_statuz\"`"
    );
}

#[test]
fn missing_required_attribute_is_named() {
    let err = load("<api>\n<struct name=\"vm\"/>\n</api>");
    assert_eq!(
        err,
        "spec/types.xml:2: <struct name=\"vm\">: missing required attribute `list-tag`"
    );
}

#[test]
fn unknown_attribute_is_named() {
    let err = load("<api><struct name=\"vm\" list-tag=\"vms\" colour=\"red\"/></api>");
    assert!(err.contains("<struct name=\"vm\">"), "{err}");
    assert!(err.contains("unknown attribute `colour`"), "{err}");
}

#[test]
fn primitive_list_without_item_tag_is_an_error() {
    let err = load(
        "<api><primitive name=\"string\" kind=\"string\"/><struct name=\"dns\" list-tag=\"dnss\"><attribute name=\"servers\" type=\"string[]\"/></struct></api>",
    );
    assert!(err.contains("<attribute name=\"servers\">"), "{err}");
    assert!(err.contains("needs `item-tag`"), "{err}");
}

#[test]
fn duplicate_type_names_point_at_the_first_definition() {
    let err = load("<api>\n<struct name=\"vm\" list-tag=\"vms\"/>\n<struct name=\"vm\" list-tag=\"vms\"/>\n</api>");
    assert!(err.starts_with("spec/types.xml:3: "), "{err}");
    assert!(err.contains("first defined at spec/types.xml:2"), "{err}");
}

#[test]
fn inheritance_cycles_are_errors() {
    let err = load(
        "<api><struct name=\"a\" base=\"b\" list-tag=\"as\"/><struct name=\"b\" base=\"a\" list-tag=\"bs\"/></api>",
    );
    assert!(err.contains("inheritance cycle"), "{err}");
}

#[test]
fn bad_method_kind_and_parameter_placement_are_named() {
    let err = load(
        "<api><service name=\"vms\"><method name=\"list\" kind=\"fetch\" verb=\"GET\"/></service></api>",
    );
    assert!(
        err.contains("<service name=\"vms\"> <method name=\"list\">: unknown method kind `fetch`"),
        "{err}"
    );
    let err = load(
        "<api><primitive name=\"string\" kind=\"string\"/><service name=\"vms\"><method name=\"list\" kind=\"list\" verb=\"GET\"><parameter name=\"search\" type=\"string\" in=\"url\"/></method></service></api>",
    );
    assert!(
        err.contains("<parameter name=\"search\">: `in` must be query, body or action"),
        "{err}"
    );
}

#[test]
fn locator_to_unknown_service_is_named() {
    let err = load(
        "<api><service name=\"system\"><locator name=\"vms\" service=\"vmz\" segment=\"vms\"/></service></api>",
    );
    assert!(
        err.contains("<locator name=\"vms\">: unknown service `vmz`"),
        "{err}"
    );
}

#[test]
fn malformed_xml_names_file_and_line() {
    let err = load("<api>\n<struct name=\"vm\" list-tag=\"vms\">\n</api>");
    assert!(err.starts_with("spec/types.xml:3: "), "{err}");
}

#[test]
fn envelope_attributes_must_name_structs() {
    let err = load("<api action-type=\"act\"/>");
    assert!(
        err.contains("`action-type` names `act`, which is not a struct"),
        "{err}"
    );
}

#[test]
fn colliding_rust_names_are_generation_errors() {
    let model = load_sources(&[(
        PathBuf::from("spec/types.xml"),
        "<api><struct name=\"vm_pool\" list-tag=\"a\"/><struct name=\"vm__pool\" list-tag=\"b\"/></api>".into(),
    )])
    .unwrap();
    let err = model_codegen::generate(&model).unwrap_err();
    assert_eq!(
        err.to_string(),
        "struct `vm__pool` and `vm_pool` both become Rust type `VmPool`"
    );
}
