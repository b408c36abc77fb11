//! The golden output of model-codegen's fixture spec with names that clash
//! with Rust keywords and std types (`model-codegen/tests/snapshots/clashes.*`)
//! compiles against the runtime and round-trips.

// The generated code refers to `crate::xml` (the runtime), `crate::Link`, `crate::AsId`
// and `crate::types`.
use ovirt::xml;
#[allow(unused_imports)]
use ovirt::{AsId, Link};

#[allow(dead_code, missing_docs, clippy::all)]
mod types {
    include!("../../model-codegen/tests/snapshots/clashes.types.rs");
}

#[allow(dead_code, clippy::all)]
mod xml_impls {
    include!("../../model-codegen/tests/snapshots/clashes.xml.rs");
}

#[allow(dead_code, clippy::all)]
mod sample {
    include!("../../model-codegen/tests/snapshots/clashes.sample.rs");
}

#[test]
fn clashing_names_compile_and_round_trip() {
    for (name, check) in sample::STRUCT_CHECKS {
        check(2).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut values = 0;
    for (_, check) in sample::ENUM_CHECKS {
        values += check().unwrap();
    }
    assert_eq!((sample::STRUCT_CHECKS.len(), values), (8, 5));
}

#[test]
fn clashing_names_use_their_spec_tags() {
    let v = types::Version::new()
        .self_(3)
        .r#type(types::Value::Self_)
        .string("s")
        .clone_("c")
        .files(vec![types::File::new().value("UPPER")]);
    let text = xml::to_string(&v);
    assert_eq!(
        text,
        "<ver><str>s</str><type>self</type><self>3</self><clone>c</clone><files><file value=\"UPPER\"/></files></ver>"
    );
    assert_eq!(xml::from_str::<types::Version>(&text).unwrap(), v);
    assert_eq!(types::Value::from_wire("UPPER"), types::Value::Upper);
    assert_eq!(types::Value::from("Self"), types::Value::Self_);
    assert_eq!(
        types::Value::from("other"),
        types::Value::Unrecognized("other".into())
    );
}
