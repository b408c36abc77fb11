//! Every struct of the model: a populated value (generated test data) is
//! written and read back equal; every enum value reads back as itself.

#[test]
fn every_struct_reads_back_what_its_writer_wrote() {
    let mut failures = Vec::new();
    for (name, check) in ovirt::sample::STRUCT_CHECKS {
        if let Err(e) = check(2) {
            failures.push(format!("{name}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} structs failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert_eq!(ovirt::sample::STRUCT_CHECKS.len(), 220);
}

#[test]
fn every_enum_value_reads_back_as_itself() {
    let mut total = 0;
    for (name, check) in ovirt::sample::ENUM_CHECKS {
        match check() {
            Ok(n) => total += n,
            Err(e) => panic!("enum {name}: {e}"),
        }
    }
    assert_eq!(ovirt::sample::ENUM_CHECKS.len(), 115);
    assert_eq!(total, 598);
}
