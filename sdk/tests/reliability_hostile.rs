//! Hostile or broken servers: every bad answer is a clear error naming the request, nothing
//! panics, and a good request in flight at the same time on another connection succeeds.

mod connection_common;

use connection_common::{connect, engine};
use ovirt::error::ErrorKind;
use ovirt::{Connection, Error};
use ovirt_test_engine::Rule;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The answer to `GET .../vms/<id>`: a well-formed `<vm>` document.
fn vm_response(id: &str) -> Vec<u8> {
    let body = format!("<vm id=\"{id}\"><name>{id}</name></vm>");
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads one request head (these are all GETs without a body); `None` at end of stream.
async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut tmp = [0u8; 4096];
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A raw HTTP server on 127.0.0.1. `GET .../vms/<id>` is answered according to `<id>`:
/// * `big-head`: a response head of 1 MiB;
/// * `slow`: a good answer written one byte at a time;
/// * `first`: a good answer followed by a second response that answers no request;
/// * `endless`: a chunked body that never ends;
/// * anything else: a good answer.
async fn hostile_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            stream.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(head) = read_head(&mut stream, &mut buf).await {
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let id = path.rsplit('/').next().unwrap_or("").to_string();
                    let ok = match id.as_str() {
                        "big-head" => {
                            let mut out = b"HTTP/1.1 200 OK\r\nX-Filler: ".to_vec();
                            out.extend(std::iter::repeat_n(b'a', 1 << 20));
                            out.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
                            stream.write_all(&out).await.is_ok()
                        }
                        "slow" => {
                            let mut ok = true;
                            for byte in vm_response("slow") {
                                if stream.write_all(&[byte]).await.is_err() {
                                    ok = false;
                                    break;
                                }
                                let _ = stream.flush().await;
                            }
                            ok
                        }
                        "first" => {
                            let mut out = vm_response("first");
                            out.extend(vm_response("unsolicited"));
                            stream.write_all(&out).await.is_ok()
                        }
                        "endless" => {
                            // A chunked body that never ends, paced so that the client's
                            // memory stays small until its request timeout.
                            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\
                                        Transfer-Encoding: chunked\r\n\r\n5\r\n<vms>\r\n";
                            let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
                            let chunk = "10\r\n<vm id=\"x\"></vm>\r\n";
                            while ok {
                                ok = stream.write_all(chunk.as_bytes()).await.is_ok();
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            }
                            ok
                        }
                        other => stream.write_all(&vm_response(other)).await.is_ok(),
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A connection with a given token (no login), several sockets and one request per socket,
/// so that requests in flight together are on different connections.
fn raw_connection(addr: SocketAddr) -> Connection {
    Connection::builder()
        .url(format!("http://{addr}/ovirt-engine/api"))
        .token("raw-test-token")
        .connections(4)
        .pipeline(1)
        .build()
        .unwrap()
}

async fn get_vm(conn: &Connection, id: &str) -> Result<String, Error> {
    let vm = conn
        .system_service()
        .vms_service()
        .vm_service(id)
        .get()
        .await?;
    Ok(vm.id.unwrap_or_default())
}

fn assert_names_the_request(err: &Error, path: &str) {
    let text = err.to_string();
    assert_eq!(err.method(), Some("GET"), "{err:?}");
    assert!(text.contains("GET"), "{text}");
    assert!(text.contains(path), "{text}");
}

#[tokio::test]
async fn oversized_response_head_is_a_protocol_error_and_spares_other_requests() {
    let addr = hostile_server().await;
    let conn = raw_connection(addr);
    let (bad, good) = tokio::join!(get_vm(&conn, "big-head"), get_vm(&conn, "good"));
    let err = bad.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Protocol), "{err:?}");
    assert_names_the_request(&err, "/ovirt-engine/api/vms/big-head");
    assert_eq!(good.unwrap(), "good");
}

#[tokio::test]
async fn response_written_one_byte_at_a_time_is_read_whole() {
    let addr = hostile_server().await;
    let conn = raw_connection(addr);
    let (slow, good) = tokio::join!(get_vm(&conn, "slow"), get_vm(&conn, "good"));
    assert_eq!(slow.unwrap(), "slow");
    assert_eq!(good.unwrap(), "good");
}

#[tokio::test]
async fn response_that_answers_no_request_is_never_handed_to_the_next_one() {
    let addr = hostile_server().await;
    // One socket: the next request would be written where the extra response waits.
    let conn = Connection::builder()
        .url(format!("http://{addr}/ovirt-engine/api"))
        .token("raw-test-token")
        .connections(1)
        .pipeline(1)
        .build()
        .unwrap();
    assert_eq!(get_vm(&conn, "first").await.unwrap(), "first");
    for id in ["second", "third"] {
        match get_vm(&conn, id).await {
            Ok(got) => assert_eq!(got, id),
            Err(err) => assert_names_the_request(&err, &format!("/ovirt-engine/api/vms/{id}")),
        }
    }
}

#[tokio::test]
async fn html_page_where_xml_is_expected_is_an_unexpected_response_naming_the_request() {
    // R4.4
    let e = engine(2).await;
    e.program(
        Rule::get("vms")
            .status(200)
            .html("<html><body>Please log in</body></html>"),
    );
    let conn = connect(&e);
    let vm = e.inventory().vms[0].id.clone();
    let vms = conn.system_service().vms_service();
    let (bad, good) = tokio::join!(vms.list().send(), vms.vm_service(&vm).get().send());
    let err = bad.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedResponse),
        "{err:?}"
    );
    assert_names_the_request(&err, "/ovirt-engine/api/vms");
    assert!(
        err.body_excerpt().unwrap().contains("Please log in"),
        "{err:?}"
    );
    assert_eq!(good.unwrap().id.as_deref(), Some(vm.as_str()));
}

#[tokio::test]
async fn truncated_xml_document_is_an_xml_error_naming_the_request() {
    let e = engine(2).await;
    e.program(
        Rule::get("vms")
            .status(200)
            .xml("<vms><vm id=\"1\" href=\"/ovirt-engine/api/vms/1\"><name>half</na"),
    );
    let conn = connect(&e);
    let vm = e.inventory().vms[1].id.clone();
    let vms = conn.system_service().vms_service();
    let (bad, good) = tokio::join!(vms.list().send(), vms.vm_service(&vm).get().send());
    let err = bad.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Xml), "{err:?}");
    assert_names_the_request(&err, "/ovirt-engine/api/vms");
    assert_eq!(good.unwrap().id.as_deref(), Some(vm.as_str()));
}

#[tokio::test]
async fn endless_chunked_body_ends_at_the_request_timeout_and_spares_other_requests() {
    // Without a response size limit (`max_body_bytes`, off by default) the request timeout
    // is what ends a body that never ends.
    let addr = hostile_server().await;
    let conn = Connection::builder()
        .url(format!("http://{addr}/ovirt-engine/api"))
        .token("raw-test-token")
        .connections(4)
        .pipeline(1)
        .timeout(std::time::Duration::from_millis(500))
        .build()
        .unwrap();
    let (bad, good) = tokio::join!(get_vm(&conn, "endless"), get_vm(&conn, "good"));
    let err = bad.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_names_the_request(&err, "/ovirt-engine/api/vms/endless");
    assert_eq!(good.unwrap(), "good");
}

#[tokio::test]
async fn endless_chunked_body_fails_at_the_size_limit_and_spares_other_requests() {
    // No timeout: the size limit alone ends the body that never ends.
    let addr = hostile_server().await;
    let conn = Connection::builder()
        .url(format!("http://{addr}/ovirt-engine/api"))
        .token("raw-test-token")
        .connections(4)
        .pipeline(1)
        .max_body_bytes(Some(1024))
        .build()
        .unwrap();
    let (bad, good) = tokio::join!(get_vm(&conn, "endless"), get_vm(&conn, "good"));
    let err = bad.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ResponseTooLarge), "{err:?}");
    assert!(err.may_have_been_processed(), "{err:?}");
    assert_names_the_request(&err, "/ovirt-engine/api/vms/endless");
    assert!(err.to_string().contains("1024"), "{err}");
    assert_eq!(good.unwrap(), "good");
}
