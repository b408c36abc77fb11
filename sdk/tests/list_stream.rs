//! `list().stream()`: the items of a list read as the body arrives, against the test engine
//! and scripted servers on real sockets.

mod connection_common;

use std::sync::Arc;
use std::time::Duration;

use connection_common::{connect, engine, get, options};
use ovirt::error::ErrorKind;
use ovirt::service::{
    BoxFuture, Call, PlainTransport, RawResponse, ServiceContext, StreamedResponse, Transport,
};
use ovirt::services::SystemService;
use ovirt::types::Vm;
use ovirt::Error;
use ovirt_test_engine::{Rule, TestEngine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The pipeline hands a response over once it is complete or 256 KiB of its body are in;
/// lists larger than this are read while they arrive.
const HANDOVER: usize = 256 * 1024;

/// A guard against a hang (never a measure of speed): a stream that stopped delivering
/// fails the test instead of blocking it.
const GUARD: Duration = Duration::from_secs(60);

async fn collect<T: ovirt::xml::FromXml>(
    mut stream: ovirt::service::ListStream<T>,
) -> Vec<Result<T, Error>> {
    let mut out = Vec::new();
    while let Some(item) = tokio::time::timeout(GUARD, stream.next())
        .await
        .expect("the stream delivers")
    {
        out.push(item);
    }
    out
}

fn all_ok(items: Vec<Result<Vm, Error>>) -> Vec<Vm> {
    items
        .into_iter()
        .map(|r| r.expect("every item of a good list is read"))
        .collect()
}

/// An engine whose VM list is larger than the hand-over size, so the stream reads it while
/// it arrives; the size is checked, not assumed.
async fn big_engine(gzip: bool) -> TestEngine {
    let e = TestEngine::builder()
        .vms(1500)
        .gzip(gzip)
        .start()
        .await
        .unwrap();
    let conn = options(&e).compress(false).build().unwrap();
    let raw = get(&conn, "vms").await.unwrap();
    assert!(
        raw.body.len() > 4 * HANDOVER,
        "the list is {} bytes",
        raw.body.len()
    );
    e
}

#[test]
fn a_stream_can_move_to_another_task() {
    fn send<T: Send + 'static>() {}
    send::<ovirt::service::ListStream<Vm>>();
    send::<ovirt::blocking::ListIter<Vm>>();
}

#[tokio::test]
async fn stream_yields_the_same_vms_in_the_same_order_as_send() {
    let e = big_engine(false).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let whole = vms.list().await.unwrap();
    let streamed = all_ok(collect(vms.list().stream()).await);
    assert_eq!(whole.len(), 1500);
    assert_eq!(streamed, whole);
}

#[tokio::test]
async fn stream_of_a_gzip_encoded_list_equals_send() {
    let e = big_engine(true).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let whole = vms.list().await.unwrap();
    let streamed = all_ok(collect(vms.list().stream()).await);
    assert_eq!(streamed, whole);
    assert_eq!(
        e.api_requests()
            .last()
            .and_then(|r| r.header("accept-encoding").map(str::to_owned))
            .as_deref(),
        Some("gzip")
    );
}

#[tokio::test]
async fn stream_sends_the_same_query_as_send() {
    let e = engine(40).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let whole = vms
        .list()
        .search("name=vm-001*")
        .max(5)
        .follow("nics")
        .await
        .unwrap();
    let streamed = all_ok(
        collect(
            vms.list()
                .search("name=vm-001*")
                .max(5)
                .follow("nics")
                .stream(),
        )
        .await,
    );
    assert_eq!(whole.len(), 5);
    assert_eq!(streamed, whole);
    let requests = e.api_requests();
    let [.., first, second] = &requests[..] else {
        panic!("two list requests were recorded");
    };
    assert_eq!(first.path(), second.path());
    assert_eq!(first.query(), second.query());
}

#[tokio::test]
async fn stream_of_an_empty_list_ends_at_once() {
    let e = engine(3).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    assert!(vms
        .list()
        .search("name=nothing-like-this")
        .await
        .unwrap()
        .is_empty());
    let items = collect(vms.list().search("name=nothing-like-this").stream()).await;
    assert!(items.is_empty(), "{} items", items.len());
}

#[tokio::test]
async fn stream_of_a_missing_collection_fails_first_with_the_error_send_gives() {
    let e = engine(1).await;
    let conn = connect(&e);
    let nics = conn
        .system_service()
        .vms_service()
        .vm_service("no-such-vm")
        .nics_service();
    let sent = nics.list().await.unwrap_err();
    let items = collect(nics.list().stream()).await;
    assert_eq!(items.len(), 1, "one error item, then the end");
    let streamed = items.into_iter().next().unwrap().unwrap_err();
    assert!(streamed.is_not_found(), "{streamed:?}");
    assert_eq!(streamed.to_string(), sent.to_string());
    assert!(
        streamed
            .url()
            .is_some_and(|u| u.ends_with("/vms/no-such-vm/nics")),
        "{streamed}"
    );
}

#[tokio::test]
async fn stream_of_an_engine_fault_reads_the_fault() {
    let e = engine(1).await;
    e.program(
        Rule::get("vms")
            .status(500)
            .xml("<fault><reason>Boom</reason><detail>the database is away</detail></fault>"),
    );
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let sent = vms.list().await.unwrap_err();
    let items = collect(vms.list().stream()).await;
    assert_eq!(items.len(), 1);
    let streamed = items.into_iter().next().unwrap().unwrap_err();
    assert_eq!(streamed.http_status(), Some(500));
    assert_eq!(
        streamed.engine_fault().and_then(|f| f.detail.as_deref()),
        Some("the database is away")
    );
    assert_eq!(streamed.to_string(), sent.to_string());
}

#[tokio::test]
async fn stream_of_a_page_that_is_not_xml_says_so() {
    let e = engine(1).await;
    e.program(
        Rule::get("vms")
            .status(200)
            .html("<html><body>Proxy says hello</body></html>"),
    );
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let sent = vms.list().await.unwrap_err();
    let items = collect(vms.list().stream()).await;
    assert_eq!(items.len(), 1);
    let streamed = items.into_iter().next().unwrap().unwrap_err();
    assert!(
        matches!(streamed.kind(), ErrorKind::UnexpectedResponse),
        "{streamed:?}"
    );
    assert_eq!(streamed.to_string(), sent.to_string());
    assert!(streamed.to_string().contains("not XML"), "{streamed}");
}

#[tokio::test]
async fn a_malformed_list_yields_the_items_before_the_fault_then_one_clear_error() {
    let e = engine(1).await;
    e.program(Rule::get("vms").status(200).xml(
        "<vms><vm id=\"1\"><name>a</name></vm><vm id=\"2\"><name>b</nom></vm><vm id=\"3\"/></vms>",
    ));
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let items = collect(vms.list().stream()).await;
    assert_eq!(items.len(), 2, "one item, one error, then the end");
    let mut items = items.into_iter();
    assert_eq!(items.next().unwrap().unwrap().id.as_deref(), Some("1"));
    let err = items.next().unwrap().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Xml), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("invalid XML document at byte"), "{text}");
    assert!(text.contains("nom"), "{text}");
    assert!(text.contains("/ovirt-engine/api/vms"), "{text}");
    // `send` rejects the same document.
    assert!(matches!(
        vms.list().await.unwrap_err().kind(),
        ErrorKind::Xml
    ));
}

#[tokio::test]
async fn a_list_without_a_body_is_an_error_like_send() {
    let e = engine(1).await;
    e.program(Rule::get("vms").status(200).xml(""));
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let sent = vms.list().await.unwrap_err();
    let items = collect(vms.list().stream()).await;
    assert_eq!(items.len(), 1);
    let streamed = items.into_iter().next().unwrap().unwrap_err();
    assert_eq!(streamed.to_string(), sent.to_string());
    assert!(streamed.to_string().contains("no body"), "{streamed}");
}

#[tokio::test]
async fn a_stream_dropped_midway_leaves_the_connection_answering_the_right_requests() {
    let e = big_engine(false).await;
    let conn = options(&e).connections(1).pipeline(8).build().unwrap();
    let vms = conn.system_service().vms_service();
    let whole = vms.list().await.unwrap();
    let last = whole.last().unwrap().clone();

    // A list, and behind it on the same connection a get and another list.
    let mut stream = vms.list().stream();
    let behind = vms.vm_service(&last).get().send();
    let again = vms.list().search("name=vm-000*").send();
    for expected in &whole[..3] {
        let vm = tokio::time::timeout(GUARD, stream.next())
            .await
            .expect("the stream delivers")
            .unwrap()
            .unwrap();
        assert_eq!(&vm, expected);
    }
    drop(stream);

    assert_eq!(behind.await.unwrap(), last);
    let names: Vec<_> = again
        .await
        .unwrap()
        .into_iter()
        .map(|vm| vm.name.unwrap())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("vm-000")), "{names:?}");
    // And the connection still reads whole lists.
    assert_eq!(vms.list().await.unwrap(), whole);
    assert_eq!(all_ok(collect(vms.list().stream()).await), whole);
}

#[tokio::test]
async fn stream_logs_in_again_when_the_token_expired() {
    let e = engine(5).await;
    let conn = connect(&e);
    let vms = conn.system_service().vms_service();
    let whole = vms.list().await.unwrap();
    e.expire_tokens();
    let streamed = all_ok(collect(vms.list().stream()).await);
    assert_eq!(streamed, whole);
    assert_eq!(e.logins(), 2);
}

#[test]
fn blocking_stream_is_an_iterator_of_the_same_vms() {
    use ovirt::blocking::Wait;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let e = runtime.block_on(engine(30));
    let conn = options(&e).build_blocking().unwrap();
    let vms = conn.system_service().vms_service();
    let whole = vms.list().wait().unwrap();
    let streamed: Result<Vec<Vm>, Error> = vms.list().stream().wait().collect();
    assert_eq!(streamed.unwrap(), whole);
    let missing: Vec<_> = vms
        .vm_service("no-such-vm")
        .nics_service()
        .list()
        .stream()
        .wait()
        .collect();
    assert_eq!(missing.len(), 1);
    assert!(missing[0].as_ref().unwrap_err().is_not_found());
    conn.close().unwrap();
}

// ---- scripted servers: a body sent in two parts, or cut -------------------------------

/// `<vm>` elements of `count` VMs numbered from `first`, each about 1 KiB.
fn vm_elements(first: usize, count: usize) -> String {
    let pad = "x".repeat(1000);
    (first..first + count)
        .map(|i| format!("<vm id=\"{i}\"><name>vm{i}</name><description>{pad}</description></vm>"))
        .collect()
}

/// What the scripted server does after the head and the first part of the body.
enum Then {
    /// Waits for the signal, then sends the rest.
    WaitThenFinish(tokio::sync::oneshot::Receiver<()>, String),
    /// Closes the connection (the body is cut).
    Close,
}

/// A server on 127.0.0.1 answering one request with `Content-Length: length`, `first`
/// and then what `then` says. Returns the URL of its API base.
async fn scripted(length: usize, first: String, then: Then) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut byte).await.unwrap();
            assert!(n > 0, "the client sent a whole request");
            head.extend_from_slice(&byte[..n]);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {length}\r\n\r\n{first}"
        );
        socket.write_all(response.as_bytes()).await.unwrap();
        match then {
            Then::WaitThenFinish(signal, rest) => {
                let _ = signal.await;
                let _ = socket.write_all(rest.as_bytes()).await;
            }
            Then::Close => {}
        }
        let _ = socket.shutdown().await;
    });
    format!("http://{addr}/ovirt-engine/api")
}

fn plain_system(url: &str) -> SystemService {
    let origin = url.trim_end_matches("/ovirt-engine/api");
    let client = http1_pipeline::Client::builder(origin)
        .max_retries(0)
        .build()
        .unwrap();
    let transport = Arc::new(PlainTransport::new(client, "/ovirt-engine/api"));
    SystemService::new(ServiceContext::root(transport))
}

#[tokio::test]
async fn items_come_out_before_the_rest_of_the_body_is_sent() {
    let count = 2 * HANDOVER / 1000;
    let first = format!("<vms>{}", vm_elements(0, count));
    let rest = format!("{}</vms>", vm_elements(count, 5));
    let (go, signal) = tokio::sync::oneshot::channel();
    let url = scripted(
        first.len() + rest.len(),
        first,
        Then::WaitThenFinish(signal, rest),
    )
    .await;
    let vms = plain_system(&url).vms_service();
    let mut stream = vms.list().stream();
    // Every item of the first part is read while the server holds the rest back.
    for i in 0..count {
        let vm = tokio::time::timeout(GUARD, stream.next())
            .await
            .expect("the items of the first part arrive without the rest")
            .unwrap()
            .unwrap();
        assert_eq!(vm.id, Some(i.to_string()));
    }
    go.send(()).unwrap();
    let rest: Vec<Vm> = all_ok(collect(stream).await);
    let ids: Vec<_> = rest.iter().map(|v| v.id.clone().unwrap()).collect();
    assert_eq!(
        ids,
        (count..count + 5)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_connection_cut_mid_list_ends_the_stream_with_a_clear_error() {
    let count = 2 * HANDOVER / 1000;
    let first = format!("<vms>{}", vm_elements(0, count));
    let url = scripted(first.len() * 2, first, Then::Close).await;
    let vms = plain_system(&url).vms_service();
    let items = collect(vms.list().stream()).await;
    assert_eq!(items.len(), count + 1, "the items sent, then one error");
    let mut items = items.into_iter();
    for (i, item) in items.by_ref().take(count).enumerate() {
        assert_eq!(item.unwrap().id, Some(i.to_string()));
    }
    let err = items.next().unwrap().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("/ovirt-engine/api/vms"), "{text}");
    assert!(text.contains("body"), "{text}");
}

// ---- a transport of its own without `send_streamed` ------------------------------------

/// A transport that implements only `send`: `stream` falls back to reading whole.
struct WholeOnly(PlainTransport);

impl Transport for WholeOnly {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        self.0.send(call)
    }
    fn base_path(&self) -> &str {
        self.0.base_path()
    }
    fn origin(&self) -> &str {
        self.0.origin()
    }
}

#[tokio::test]
async fn a_transport_without_streaming_still_streams_the_whole_list() {
    let e = engine(12).await;
    let conn = connect(&e);
    let token = conn.authenticate().await.unwrap();
    let client = http1_pipeline::Client::builder(&e.origin())
        .default_header("Authorization", format!("Bearer {token}"))
        .default_header("Version", "4")
        .build()
        .unwrap();
    let transport = WholeOnly(PlainTransport::new(client, "/ovirt-engine/api"));
    let streamed: StreamedResponse = transport
        .send_streamed(Call::new(
            ovirt::service::Method::Get,
            "/ovirt-engine/api",
            "vms",
            Vec::new(),
        ))
        .await
        .unwrap();
    assert_eq!(streamed.status, 200);
    let system = SystemService::new(ServiceContext::root(Arc::new(transport)));
    let whole = conn.system_service().vms_service().list().await.unwrap();
    assert_eq!(
        all_ok(collect(system.vms_service().list().stream()).await),
        whole
    );
}
