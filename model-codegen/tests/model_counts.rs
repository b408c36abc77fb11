//! The generator's counts of types, enum values, services, methods and
//! locators equal those of the upstream model description: the model's own counts on the
//! fixture model of `tests/fixtures/import/`, the figures of the upstream model's README
//! for `spec/`, and the counts of the upstream `model.xml` itself when `OVIRT_API_MODEL`
//! names it (it is not part of the repository; the test says that it was skipped
//! otherwise).

mod common;

use quick_xml::events::Event;
use quick_xml::Reader;

/// Counts elements of `model.xml` by their path (`model/types/struct`, ...).
fn count_paths(text: &str, paths: &[&str]) -> Vec<usize> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut counts = vec![0; paths.len()];
    let mut bump = |stack: &[String], name: &str| {
        let path = if stack.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", stack.join("/"))
        };
        for (i, p) in paths.iter().enumerate() {
            if path == *p {
                counts[i] += 1;
            }
        }
    };
    loop {
        match reader.read_event().expect("model.xml is well-formed") {
            Event::Start(e) => {
                let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                bump(&stack, &n);
                stack.push(n);
            }
            Event::Empty(e) => {
                let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                bump(&stack, &n);
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    counts
}

const PATHS: [&str; 8] = [
    "model/types/struct",
    "model/types/enum",
    "model/types/enum/value",
    "model/types/struct/attribute",
    "model/types/struct/link",
    "model/services/service",
    "model/services/service/method",
    "model/services/service/locator",
];

/// Asserts that the counts of `model` equal those of the upstream-format `model_xml`.
fn assert_counts_equal(model: &model_codegen::ir::Model, model_xml: &str) {
    let c = count_paths(model_xml, &PATHS);
    let got = model.counts();
    assert_eq!(got.structs, c[0], "structs");
    assert_eq!(got.enums, c[1], "enums");
    assert_eq!(got.enum_values, c[2], "enum values");
    assert_eq!(got.attributes, c[3], "attributes (flattened)");
    assert_eq!(got.links, c[4], "links (flattened)");
    assert_eq!(got.services, c[5], "services");
    assert_eq!(got.methods, c[6], "methods (flattened)");
    assert_eq!(got.locators, c[7], "locators (flattened)");
}

#[test]
fn counts_of_the_imported_fixture_equal_the_fixture_model_counts() {
    let dir = common::tests_path("fixtures/import");
    let model_xml = dir.join("model.xml");
    let files = model_codegen::import::import_paths(&model_xml, &dir).unwrap();
    let sources: Vec<(std::path::PathBuf, String)> =
        files.into_iter().map(|(n, c)| (n.into(), c)).collect();
    let model = model_codegen::spec::load_sources(&sources).unwrap();
    assert_counts_equal(&model, &std::fs::read_to_string(&model_xml).unwrap());
    let got = model.counts();
    // Inherited members count where they are inherited too (flattened), as upstream writes them.
    assert_eq!((got.structs, got.services, got.locators), (12, 5, 6));
}

#[test]
fn spec_counts_are_the_figures_of_the_upstream_model_readme() {
    let got = model_codegen::spec::load_dir(&common::spec_dir())
        .unwrap()
        .counts();
    assert_eq!(
        (
            got.structs,
            got.enums,
            got.enum_values,
            got.services,
            got.methods,
            got.locators
        ),
        (220, 115, 598, 290, 706, 336)
    );
    assert_eq!((got.attributes, got.links), (1702, 445));
}

#[test]
fn spec_counts_equal_the_upstream_model_counts() {
    let Some(path) = common::upstream_model("spec_counts_equal_the_upstream_model_counts") else {
        return;
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let model = model_codegen::spec::load_dir(&common::spec_dir()).unwrap();
    assert_counts_equal(&model, &text);
}

#[test]
fn generated_code_has_an_item_per_struct_and_enum() {
    let model = model_codegen::spec::load_dir(&common::spec_dir()).unwrap();
    let files = model_codegen::generate(&model).unwrap();
    let types = &files.get("types.rs").unwrap().contents;
    assert_eq!(types.matches("\npub struct ").count(), 220);
    assert_eq!(types.matches("\npub enum ").count(), 115);
    let xml = &files.get("xml.rs").unwrap().contents;
    assert_eq!(
        xml.matches("impl crate::xml::FromXml for crate::types::")
            .count(),
        220
    );
    assert_eq!(
        xml.matches("impl crate::xml::ToXml for crate::types::")
            .count(),
        220
    );
}
