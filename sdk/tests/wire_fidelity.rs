//! Documents as real engines and their mocks write them, read into the values they mean:
//! blanks around enum values, list items under another tag than the model's, older
//! document shapes, zones without a colon, decimals beyond the plain range, and the
//! other spelling of the operating systems list.

use ovirt::types::{
    Architecture, Cluster, OperatingSystemInfo, QuotaClusterLimit, RngSource, Vm, VmStatus,
};
use ovirt::xml::{self, DateTime, ListReader, Scalar};

#[test]
fn enum_values_are_read_as_tokens_without_the_blanks_around_them() {
    let vm: Vm = xml::from_str(
        "<vm><status>\n    up\n  </status><cpu><architecture> x86_64\t</architecture></cpu></vm>",
    )
    .unwrap();
    assert_eq!(vm.status, Some(VmStatus::Up));
    // The variant keeps the `_` between the two numbers; the wire text is unchanged.
    assert_eq!(vm.cpu.unwrap().architecture, Some(Architecture::X86_64));
    assert_eq!(Architecture::X86_64.as_str(), "x86_64");
    // Inner runs of blanks collapse to one space (`xs:token`); an unknown value keeps
    // that collapsed text.
    let vm: Vm = xml::from_str("<vm><status> not \n  known </status></vm>").unwrap();
    assert_eq!(vm.status, Some(VmStatus::Unrecognized("not known".into())));
    // Strings keep their blanks: only tokens are collapsed.
    let vm: Vm = xml::from_str("<vm><name> a  b </name></vm>").unwrap();
    assert_eq!(vm.name.as_deref(), Some(" a  b "));
}

#[test]
fn list_items_under_another_tag_than_the_models_are_read() {
    // The model names the items `<required_rng_source>`; engines write `<source>`.
    let cluster: Cluster = xml::from_str(
        "<cluster><required_rng_sources>\n  <source>random</source>\n  \
         <required_rng_source>hwrng</required_rng_source>\n</required_rng_sources></cluster>",
    )
    .unwrap();
    assert_eq!(
        cluster.required_rng_sources,
        Some(vec![RngSource::Random, RngSource::Hwrng])
    );
    // The same for lists of structs, and for the items of a list document.
    let vm: Vm =
        xml::from_str("<vm><nics><nic id=\"a\"/><network_interface id=\"b\"/></nics></vm>")
            .unwrap();
    let ids: Vec<_> = vm
        .nics
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.id.unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let vms: Vec<Vm> = xml::from_str_list("<vms><vm id=\"1\"/><item id=\"2\"/></vms>").unwrap();
    assert_eq!(vms.len(), 2);
}

#[test]
fn actions_links_and_counts_inside_a_list_are_not_items() {
    let doc = "<vms><actions><link rel=\"x\" href=\"/x\"/></actions><link rel=\"y\" href=\"/y\"/>\
               <vm id=\"1\"/><size>1</size><total>1</total><active>0</active></vms>";
    let vms: Vec<Vm> = xml::from_str_list(doc).unwrap();
    assert_eq!(vms.len(), 1);
    assert_eq!(vms[0].id.as_deref(), Some("1"));
    // The streaming reader agrees with the whole-document reader.
    let mut reader = ListReader::<Vm>::new();
    let mut streamed = Vec::new();
    for chunk in doc.as_bytes().chunks(5) {
        streamed.extend(reader.push(chunk).unwrap());
    }
    reader.finish().unwrap();
    assert_eq!(streamed, vms);
}

#[test]
fn an_enum_element_holding_child_elements_is_not_a_value_made_of_its_indentation() {
    // The older shape of a status: `<status><state>up</state></status>`.
    let vm: Vm = xml::from_str(
        "<vm><name>a</name><status>\n    <state>up</state>\n  </status><memory>1</memory></vm>",
    )
    .unwrap();
    assert_eq!(vm.status, None);
    assert_eq!(vm.name.as_deref(), Some("a"));
    assert_eq!(vm.memory, Some(1));
    // Nor does a string or a number take the indentation, nor a list item.
    let vm: Vm =
        xml::from_str("<vm><name>\n  <x/>\n</name><memory> <y>2</y> </memory></vm>").unwrap();
    assert_eq!((vm.name, vm.memory), (None, None));
    let cluster: Cluster = xml::from_str(
        "<cluster><required_rng_sources><source> <kind>random</kind> </source>\
         <source>hwrng</source></required_rng_sources></cluster>",
    )
    .unwrap();
    assert_eq!(cluster.required_rng_sources, Some(vec![RngSource::Hwrng]));
}

#[test]
fn time_zones_without_a_colon_are_accepted() {
    for (text, shown) in [
        (
            "2024-05-01T10:00:00.000+0100",
            "2024-05-01T10:00:00.000+01:00",
        ),
        ("2024-05-01T10:00:00-0530", "2024-05-01T10:00:00.000-05:30"),
        ("2024-05-01T10:00:00+02", "2024-05-01T10:00:00.000+02:00"),
        ("2024-05-01T10:00:00+01:00", "2024-05-01T10:00:00.000+01:00"),
    ] {
        assert_eq!(DateTime::parse(text).unwrap().to_string(), shown, "{text}");
    }
    let vm: Vm =
        xml::from_str("<vm><start_time>2024-05-01T10:00:00+0100</start_time></vm>").unwrap();
    assert_eq!(
        vm.start_time.unwrap().offset().unwrap().local_minus_utc(),
        3600
    );
    for bad in [
        "2024-05-01T10:00:00+1",
        "2024-05-01T10:00:00+01:0",
        "2024-05-01T10:00:00+2400",
        "2024-05-01T10:00:00+0160",
        "2024-05-01T10:00:00+01-00",
        "2024-05-01T10:00:00+ab",
    ] {
        assert!(DateTime::parse(bad).is_err(), "{bad}");
    }
}

fn decimal_text(v: f64) -> String {
    let mut out = String::new();
    v.write_xml(&mut out);
    out
}

#[test]
fn decimals_are_written_as_xs_double_specials_and_compact_exponents() {
    assert_eq!(decimal_text(f64::INFINITY), "INF");
    assert_eq!(decimal_text(f64::NEG_INFINITY), "-INF");
    assert_eq!(decimal_text(f64::NAN), "NaN");
    assert_eq!(decimal_text(1e300), "1e300");
    assert_eq!(decimal_text(-2.5e-7), "-2.5e-7");
    assert_eq!(decimal_text(0.5), "0.5");
    assert_eq!(decimal_text(100.0), "100");
    assert_eq!(decimal_text(0.0), "0");
    assert_eq!(decimal_text(123456789012345.6), "123456789012345.6");
    assert_eq!(decimal_text(f64::MAX), "1.7976931348623157e308");
    assert_eq!(decimal_text(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    // What is written reads back to the same value.
    for v in [
        1e300,
        -1e-300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        1e16,
        9.999999999999998e15,
        1e-5,
        9.99e-6,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        assert_eq!(f64::parse_xml(&decimal_text(v)), Ok(v), "{v:e}");
    }
    assert!(f64::parse_xml("NaN").unwrap().is_nan());
    // The reader takes every `xs:double` form.
    for (text, v) in [
        ("INF", f64::INFINITY),
        ("+INF", f64::INFINITY),
        ("-INF", f64::NEG_INFINITY),
        ("1E300", 1e300),
        ("1e+300", 1e300),
        (" 2.5e-7 ", 2.5e-7),
    ] {
        assert_eq!(f64::parse_xml(text), Ok(v), "{text}");
    }
    let limit = QuotaClusterLimit::new().memory_limit(f64::INFINITY);
    let text = xml::to_string(&limit);
    assert!(text.contains("<memory_limit>INF</memory_limit>"), "{text}");
    assert_eq!(xml::from_str::<QuotaClusterLimit>(&text).unwrap(), limit);
}

#[test]
fn the_operating_systems_list_is_read_under_both_spellings() {
    let items = "<operating_system id=\"1\"><name>rhel_9x64</name></operating_system>\
                 <operating_system id=\"2\"><name>other</name></operating_system>";
    for root in ["operation_systems", "operating_systems"] {
        let doc = format!("<{root}>{items}</{root}>");
        let oss: Vec<OperatingSystemInfo> = xml::from_str_list(&doc).unwrap();
        assert_eq!(oss.len(), 2, "{root}");
        assert_eq!(oss[0].name.as_deref(), Some("rhel_9x64"));
        let mut reader = ListReader::<OperatingSystemInfo>::new();
        assert_eq!(reader.push(doc.as_bytes()).unwrap(), oss);
        reader.finish().unwrap();
    }
    // The model's spelling is the one written; other roots are still refused.
    assert!(xml::to_string_list(&[OperatingSystemInfo::new()]).starts_with("<operation_systems>"));
    let e = xml::from_str_list::<OperatingSystemInfo>("<oses/>").unwrap_err();
    assert!(
        e.message()
            .contains("expected root element <operation_systems>"),
        "{e}"
    );
    let mut reader = ListReader::<OperatingSystemInfo>::new();
    assert!(reader
        .push(b"<operating_systems></operation_systems>")
        .is_err());
    // Other lists do not take that spelling.
    assert!(xml::from_str_list::<Vm>("<operating_systems/>").is_err());
}
