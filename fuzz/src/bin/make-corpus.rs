//! Writes seed inputs for the fuzz targets into `corpus/<target>/` and an XML dictionary
//! (`xml.dict`): documents written from the sdk's generated sample values, and pipelined
//! HTTP/1.1 responses in every framing.
//!
//! ```text
//! cd fuzz && cargo run --bin make-corpus
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use ovirt::types::{Action, Fault, Host, Vm};
use ovirt::xml::sample::Sample;

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("corpus").join(dir);
    fs::create_dir_all(&dir).expect("create the corpus directory");
    fs::write(dir.join(name), bytes).expect("write a seed");
}

fn main() {
    let mut tags = BTreeSet::new();
    for depth in 0..2 {
        let docs = [
            ("xml_vm", ovirt::xml::to_string(&Vm::sample(depth))),
            ("xml_host", ovirt::xml::to_string(&Host::sample(depth))),
            ("xml_action", ovirt::xml::to_string(&Action::sample(depth))),
            ("xml_fault", ovirt::xml::to_string(&Fault::sample(depth))),
            (
                "xml_vms",
                ovirt::xml::to_string_list(&[Vm::sample(depth), Vm::sample(depth)]),
            ),
        ];
        for (target, doc) in docs {
            write(target, &format!("sample-{depth}.xml"), doc.as_bytes());
            for t in doc.split('<').skip(1) {
                let name: String = t
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    tags.insert(name);
                }
            }
        }
    }
    write(
        "xml_vm",
        "minimal.xml",
        br#"<vm id="123" href="/ovirt-engine/api/vms/123"><name>web1</name><status>up</status><cluster id="5"/><link rel="nics" href="/ovirt-engine/api/vms/123/nics"/></vm>"#,
    );
    write(
        "xml_fault",
        "minimal.xml",
        b"<fault><reason>Operation Failed</reason><detail>[Cannot run VM]</detail></fault>",
    );
    let mut dict = String::new();
    for t in &tags {
        dict.push_str(&format!("\"<{t}>\"\n\"</{t}>\"\n\"<{t}/>\"\n"));
    }
    for extra in [
        "href=\"",
        "id=\"",
        "rel=\"",
        "<link ",
        "&amp;",
        "&lt;",
        "<![CDATA[",
        "]]>",
        "<?xml version=\"1.0\"?>",
        "<!--",
        "-->",
    ] {
        dict.push_str(&format!("{:?}\n", extra));
    }
    fs::write("xml.dict", dict).expect("write xml.dict");

    let responses: [&[u8]; 6] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nTrailer: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokHTTP/1.0 200 OK\r\n\r\nuntil the end",
        b"\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nX-A: 1\r\nx-a:  2 \r\n\r\nabc",
    ];
    for (i, r) in responses.iter().enumerate() {
        for flags in [0u8, 1, 2] {
            let mut v = vec![flags, 0x35];
            v.extend_from_slice(r);
            write("response_stream", &format!("r{i}-{flags}"), &v);
        }
    }
}
