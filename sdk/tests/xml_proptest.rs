//! Property tests of the generated XML readers of `vm`, `vms`, `host`, `action` and
//! `fault` (the fuzz targets `xml_*` of `fuzz/` run the same checks under cargo-fuzz):
//!
//! * arbitrary bytes, and written documents with random bytes changed, cut or inserted,
//!   never panic a reader; a value a reader accepts is written and read back unchanged;
//! * unknown elements inserted anywhere a child element may stand (and `<link>`s with an
//!   unknown `rel`) are skipped: the document reads to the same value (docs/wire.md R3.5, R3.6).

use std::fmt::Debug;

use ovirt::types::{Action, Fault, Host, Vm};
use ovirt::xml::sample::Sample;
use ovirt::xml::{FromXml, ToXml, XmlType};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Reads `bytes` as a `T` document; if that works, the written value reads back the same.
fn check_document<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: FromXml + ToXml + XmlType + Debug,
{
    let Ok(value) = ovirt::xml::from_slice::<T>(bytes) else {
        return Ok(());
    };
    let text = ovirt::xml::to_string(&value);
    let back: T = ovirt::xml::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("cannot read what was written: {e}\n{text}")))?;
    // Debug text, so that NaN compares equal to itself.
    prop_assert_eq!(format!("{back:?}"), format!("{value:?}"), "\n{}", text);
    Ok(())
}

fn check_list_document<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: FromXml + ToXml + XmlType + Debug,
{
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(());
    };
    let Ok(items) = ovirt::xml::from_str_list::<T>(text) else {
        return Ok(());
    };
    let written = ovirt::xml::to_string_list(&items);
    let back: Vec<T> = ovirt::xml::from_str_list(&written).map_err(|e| {
        TestCaseError::fail(format!("cannot read what was written: {e}\n{written}"))
    })?;
    prop_assert_eq!(format!("{back:?}"), format!("{items:?}"), "\n{}", written);
    Ok(())
}

fn check_all(bytes: &[u8]) -> Result<(), TestCaseError> {
    check_document::<Vm>(bytes)?;
    check_document::<Host>(bytes)?;
    check_document::<Action>(bytes)?;
    check_document::<Fault>(bytes)?;
    check_list_document::<Vm>(bytes)
}

/// Small written documents of the five kinds.
fn seeds() -> Vec<String> {
    let vm = Vm::sample(0);
    vec![
        ovirt::xml::to_string(&vm),
        ovirt::xml::to_string(&Host::sample(0)),
        ovirt::xml::to_string(&Action::sample(0)),
        ovirt::xml::to_string(&Fault::sample(0)),
        ovirt::xml::to_string_list(&[vm.clone(), vm]),
        r#"<vm id="1"><name>a</name><cluster id="2"/><link rel="nics" href="/n"/></vm>"#.into(),
        "<fault><reason>Operation Failed</reason><detail>[x]</detail></fault>".into(),
    ]
}

/// Fragments that steer random bytes towards XML.
fn xml_noise() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"<vm>".to_vec()),
        Just(b"</vm>".to_vec()),
        Just(b"<vms>".to_vec()),
        Just(b"<host id=\"1\">".to_vec()),
        Just(b"<action>".to_vec()),
        Just(b"<fault>".to_vec()),
        Just(b"<name>".to_vec()),
        Just(b"</name>".to_vec()),
        Just(b"<memory>12</memory>".to_vec()),
        Just(b"<status>up</status>".to_vec()),
        Just(b"<creation_time>2016-09-08T09:53:35.138+02:00</creation_time>".to_vec()),
        Just(b"<link rel=\"nics\" href=\"/x\"/>".to_vec()),
        Just(b"<![CDATA[x]]>".to_vec()),
        Just(b"&amp;&#x41;&#0;&bogus;".to_vec()),
        Just(b"<!-- c -->".to_vec()),
        Just(b"<?xml version=\"1.0\"?>".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..16),
    ];
    proptest::collection::vec(piece, 0..20).prop_map(|v| v.concat())
}

#[test]
fn arbitrary_bytes_never_panic_the_readers() {
    runner(1000)
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
            check_all(&bytes)
        })
        .unwrap();
    runner(1500)
        .run(&xml_noise(), |bytes| check_all(&bytes))
        .unwrap();
}

#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

#[test]
fn damaged_documents_never_panic_the_readers() {
    let seeds = seeds();
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (
            any::<usize>(),
            prop_oneof![
                Just(b"<".to_vec()),
                Just(b"</".to_vec()),
                Just(b">".to_vec()),
                Just(b"/>".to_vec()),
                Just(b"\"".to_vec()),
                Just(b"&".to_vec()),
                Just(b"<x>".to_vec()),
                Just(vec![0xff]),
                Just("é".as_bytes().to_vec()),
            ]
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Edit::Remove(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    let strategy = (0..seeds.len(), proptest::collection::vec(edit, 1..6));
    runner(1500)
        .run(&strategy, |(which, edits)| {
            let mut doc = seeds[which].clone().into_bytes();
            for e in edits {
                let len = doc.len().max(1);
                match e {
                    Edit::Replace(i, b) if !doc.is_empty() => doc[i % len] = b,
                    Edit::Replace(..) => {}
                    Edit::Insert(i, b) => {
                        let at = i % (doc.len() + 1);
                        doc.splice(at..at, b);
                    }
                    Edit::Remove(i, n) => {
                        let at = i % len;
                        let end = (at + n).min(doc.len());
                        doc.drain(at.min(end)..end);
                    }
                    Edit::Truncate(i) => doc.truncate(i % len),
                }
            }
            check_all(&doc)
        })
        .unwrap();
}

/// Offsets in a written (compact) document where a child element may stand: right after
/// a start tag whose content is elements, or after an element's end; never after the root.
/// Each with `true` when the parent's children all have one tag: the parent may be a list
/// wrapper, where every child is an item (R3.5) unless it is one of the wrapper's own
/// children (`<actions>`, `<link>`, ...).
fn child_positions(doc: &str) -> Vec<(usize, bool)> {
    let bytes = doc.as_bytes();
    // Pass 1: the child tags of every element, by the offset of its start tag.
    let mut children: std::collections::HashMap<usize, Vec<&[u8]>> = Default::default();
    let mut stack: Vec<usize> = Vec::new();
    let mut tag_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => tag_start = i,
            b'>' => {
                let tag = &bytes[tag_start..=i];
                if tag.starts_with(b"<?") || tag.starts_with(b"<!") {
                    continue;
                }
                if tag.starts_with(b"</") {
                    stack.pop();
                    continue;
                }
                let name_len = tag[1..]
                    .iter()
                    .position(|&c| c == b' ' || c == b'>' || c == b'/')
                    .unwrap_or(tag.len() - 1);
                if let Some(&parent) = stack.last() {
                    children
                        .entry(parent)
                        .or_default()
                        .push(&tag[1..1 + name_len]);
                }
                if !tag.ends_with(b"/>") {
                    stack.push(tag_start);
                }
            }
            _ => {}
        }
    }
    let uniform = |parent: usize| {
        children
            .get(&parent)
            .is_some_and(|c| c.iter().all(|t| *t == c[0]))
    };
    // Pass 2: the places, with their parent.
    let mut positions = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => tag_start = i,
            b'>' => {
                let tag = &bytes[tag_start..=i];
                if tag.starts_with(b"<?") || tag.starts_with(b"<!") {
                    continue;
                }
                let is_end = tag.starts_with(b"</");
                let is_start = !is_end && !tag.ends_with(b"/>");
                if is_end {
                    stack.pop();
                } else if is_start {
                    stack.push(tag_start);
                }
                if i + 1 >= bytes.len() || bytes[i + 1] != b'<' {
                    continue;
                }
                // `<x></x>`: empty content, maybe a scalar; leave it alone.
                if is_start && bytes[i + 1..].starts_with(b"</") {
                    continue;
                }
                if let Some(&parent) = stack.last() {
                    positions.push((i + 1, uniform(parent)));
                }
            }
            _ => {}
        }
    }
    positions
}

/// Unknown children a list wrapper may hold beside its items (R3.5, R3.6).
fn unknown_wrapper_child() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<actions/>".to_string()),
        Just(r#"<actions><link rel="start" href="/x/start"/><zz/></actions>"#.to_string()),
        Just(r#"<link rel="zz_unknown_rel" href="/ovirt-engine/api/x"/>"#.to_string()),
        Just("<!-- a comment -->".to_string()),
    ]
}

fn unknown_element() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<zz_unknown/>".to_string()),
        Just("<zz_unknown>text &amp; more</zz_unknown>".to_string()),
        Just(
            r#"<zz_unknown id="1" href="/x"><name>shadow</name><vm id="9"/></zz_unknown>"#
                .to_string()
        ),
        Just("<zz_unknown><zz_unknown><zz_unknown/></zz_unknown></zz_unknown>".to_string()),
        Just(r#"<link rel="zz_unknown_rel" href="/ovirt-engine/api/x"/>"#.to_string()),
        Just("<zz_unknown><![CDATA[<vm>]]></zz_unknown>".to_string()),
        Just("<!-- a comment -->".to_string()),
    ]
}

fn unknown_elements_are_skipped_in<T>(value: T, list: bool)
where
    T: FromXml + ToXml + XmlType + Debug + Clone + PartialEq,
{
    let doc = if list {
        ovirt::xml::to_string_list(&[value.clone(), value.clone()])
    } else {
        ovirt::xml::to_string(&value)
    };
    let positions = child_positions(&doc);
    assert!(
        positions.len() >= 3,
        "too few places to insert into:\n{doc}"
    );
    let strategy = proptest::collection::vec(
        (any::<usize>(), unknown_element(), unknown_wrapper_child()),
        1..8,
    );
    runner(150)
        .run(&strategy, |inserts| {
            let mut chosen: Vec<(usize, String)> = inserts
                .into_iter()
                .map(|(i, e, w)| match positions[i % positions.len()] {
                    (at, true) => (at, w),
                    (at, false) => (at, e),
                })
                .collect();
            // Insert from the end so earlier offsets stay valid.
            chosen.sort_by_key(|c| std::cmp::Reverse(c.0));
            let mut text = doc.clone();
            for (at, e) in &chosen {
                text.insert_str(*at, e);
            }
            if list {
                let back: Vec<T> = ovirt::xml::from_str_list(&text)
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                prop_assert_eq!(back, vec![value.clone(), value.clone()], "\n{}", text);
            } else {
                let back: T = ovirt::xml::from_str(&text)
                    .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
                prop_assert_eq!(&back, &value, "\n{}", text);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn unknown_elements_anywhere_in_a_vm_are_skipped() {
    unknown_elements_are_skipped_in(Vm::sample(1), false);
}

#[test]
fn unknown_elements_anywhere_in_a_vms_list_are_skipped() {
    unknown_elements_are_skipped_in(Vm::sample(0), true);
}

#[test]
fn unknown_elements_anywhere_in_a_host_are_skipped() {
    unknown_elements_are_skipped_in(Host::sample(1), false);
}

#[test]
fn unknown_elements_anywhere_in_an_action_are_skipped() {
    unknown_elements_are_skipped_in(Action::sample(1), false);
}

#[test]
fn unknown_elements_anywhere_in_a_fault_are_skipped() {
    unknown_elements_are_skipped_in(Fault::sample(1), false);
}

/// Found by the fuzz targets `xml_vm` and `xml_action`: a zone of six bytes that are not
/// all ASCII is sliced at byte offsets inside a character.
#[test]
fn a_time_zone_with_non_ascii_characters_is_an_error_not_a_panic() {
    for zone in ["+0ο00", "+02\u{feff}", "-ο:00", "+-1:00", "+01:+1"] {
        let doc = format!("<vm><start_time>2016-09-08T09:53:35{zone}</start_time></vm>");
        let result = std::panic::catch_unwind(|| ovirt::xml::from_str::<Vm>(&doc));
        match result {
            Ok(r) => assert!(r.is_err(), "{doc} read as {r:?}"),
            Err(_) => panic!("reading {doc} panicked"),
        }
    }
}
