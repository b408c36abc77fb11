//! The generator's counts of types, enum values, services, methods and
//! locators equal those of the upstream model description.

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

#[test]
fn generator_counts_equal_the_model_counts() {
    let path = common::model_xml();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let c = count_paths(
        &text,
        &[
            "model/types/struct",
            "model/types/enum",
            "model/types/enum/value",
            "model/types/struct/attribute",
            "model/types/struct/link",
            "model/services/service",
            "model/services/service/method",
            "model/services/service/locator",
        ],
    );
    let model = model_codegen::spec::load_dir(&common::spec_dir()).unwrap();
    let got = model.counts();
    assert_eq!(got.structs, c[0], "structs");
    assert_eq!(got.enums, c[1], "enums");
    assert_eq!(got.enum_values, c[2], "enum values");
    assert_eq!(got.attributes, c[3], "attributes (flattened)");
    assert_eq!(got.links, c[4], "links (flattened)");
    assert_eq!(got.services, c[5], "services");
    assert_eq!(got.methods, c[6], "methods (flattened)");
    assert_eq!(got.locators, c[7], "locators (flattened)");
    // The figures of the model's README.
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
