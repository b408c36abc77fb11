//! Generated services over real sockets: an in-process hyper 1 server records every request
//! and answers with canned XML; the SDK talks to it through `PlainTransport` on a
//! `http1_pipeline::Client`. Each test checks the wire mapping of docs/wire.md (rule ids cited).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ovirt::error::ErrorKind;
use ovirt::service::{BoxFuture, Call, PlainTransport, RawResponse, ServiceContext, Transport};
use ovirt::services::{AnyService, SystemService};
use ovirt::types;
use tokio::net::TcpListener;

const BASE: &str = "/ovirt-engine/api";

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// Path and query, as sent.
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server answers: status, content type, body; `None` never answers.
type Reply = Option<(u16, &'static str, String)>;

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts a server answering every request with `route(&request)`.
    async fn start(route: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let route = Arc::new(route);
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let seen = seen2.clone();
                let route = route.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: hyper::Request<Incoming>| {
                        let seen = seen.clone();
                        let route = route.clone();
                        async move {
                            let method = req.method().as_str().to_owned();
                            let target = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let s = Seen {
                                method,
                                target,
                                headers,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            };
                            seen.lock().unwrap().push(s.clone());
                            let Some((status, ctype, body)) = route(&s) else {
                                std::future::pending::<()>().await;
                                unreachable!()
                            };
                            let resp = hyper::Response::builder()
                                .status(status)
                                .header("content-type", ctype)
                                .body(Full::new(Bytes::from(body)))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Server { addr, seen }
    }

    fn transport(&self) -> PlainTransport {
        let client = http1_pipeline::Client::builder(&format!("http://{}", self.addr))
            .build()
            .unwrap();
        PlainTransport::new(client, BASE)
    }

    fn system(&self) -> SystemService {
        SystemService::new(ServiceContext::root(Arc::new(self.transport())))
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen.into_iter().next().unwrap()
    }
}

fn xml(status: u16, body: &str) -> Reply {
    Some((status, "application/xml", body.to_owned()))
}

async fn answering(status: u16, body: &'static str) -> Server {
    Server::start(move |_| xml(status, body)).await
}

#[tokio::test]
async fn get_sends_follow_as_query_and_reads_the_object() {
    // R1.1 get, R1.3 query rendering, R1.6 root element = the object.
    let server = answering(200, r#"<vm id="123"><name>web1</name></vm>"#).await;
    let vm = server
        .system()
        .vms_service()
        .vm_service("123")
        .get()
        .follow("nics,disk_attachments.disk")
        .all_content(true)
        .await
        .unwrap();
    assert_eq!(vm.id.as_deref(), Some("123"));
    assert_eq!(vm.name.as_deref(), Some("web1"));
    let seen = server.only();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.target,
        "/ovirt-engine/api/vms/123?follow=nics%2Cdisk_attachments.disk&all_content=true"
    );
    assert_eq!(seen.header("accept"), Some("application/xml"));
    assert_eq!(seen.body, "");
}

#[tokio::test]
async fn list_form_encodes_search_and_reads_every_item() {
    // R1.3: `name=web* sortby name` -> `name%3Dweb%2A+sortby+name`; R1.6 list wrapper.
    let server = answering(
        200,
        r#"<vms><vm id="1"/><vm id="2"><name>b</name></vm></vms>"#,
    )
    .await;
    let vms = server
        .system()
        .vms_service()
        .list()
        .search("name=web* sortby name")
        .max(10)
        .await
        .unwrap();
    assert_eq!(vms.len(), 2);
    assert_eq!(vms[1].name.as_deref(), Some("b"));
    assert_eq!(
        server.only().target,
        "/ovirt-engine/api/vms?search=name%3Dweb%2A+sortby+name&max=10"
    );
}

#[tokio::test]
async fn empty_list_is_an_empty_vec() {
    let server = answering(200, "<vms/>").await;
    let vms = server.system().vms_service().list().await.unwrap();
    assert!(vms.is_empty());
}

#[tokio::test]
async fn add_posts_the_main_parameter_as_the_body() {
    // R1.4: the body's root is T(type of the main parameter); secondary parameters in the query.
    let server = answering(201, r#"<vm id="9"><name>web1</name></vm>"#).await;
    let vm = types::Vm::new().name("web1");
    let created = server
        .system()
        .vms_service()
        .add()
        .vm(&vm)
        .clone(true)
        .await
        .unwrap();
    assert_eq!(created.id.as_deref(), Some("9"));
    let seen = server.only();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.target, "/ovirt-engine/api/vms?clone=true");
    assert_eq!(seen.body, "<vm><name>web1</name></vm>");
    assert_eq!(seen.header("content-type"), Some("application/xml"));
}

#[tokio::test]
async fn add_of_a_permission_sends_a_permission_element() {
    // R1.4: `assigned_permissions`/`add` (main parameter `permission`) sends `<permission>`;
    // `system_permissions` inherits it, reached as `permissions` from the root (R2.1).
    let server = answering(201, r#"<permission id="p1"/>"#).await;
    let p = types::Permission::new().role(types::Role::new().name("UserRole"));
    let created = server
        .system()
        .permissions_service()
        .add()
        .permission(p)
        .await
        .unwrap();
    assert_eq!(created.id.as_deref(), Some("p1"));
    let seen = server.only();
    assert_eq!(seen.target, "/ovirt-engine/api/permissions");
    assert_eq!(
        seen.body,
        "<permission><role><name>UserRole</name></role></permission>"
    );
}

#[tokio::test]
async fn signature_method_is_sent_as_its_base() {
    // R1.8: `vms`/`from_scratch` is exposed as `add_from_scratch` and sent as `add`;
    // `host`/`using_ssh` of `install` is `POST .../install`.
    let server = answering(201, r#"<vm id="1"/>"#).await;
    let system = server.system();
    system
        .vms_service()
        .add_from_scratch()
        .vm(types::Vm::default())
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/ovirt-engine/api/vms")
    );
    assert_eq!(seen.body, "<vm/>");

    let server = answering(200, "<action><status>complete</status></action>").await;
    server
        .system()
        .hosts_service()
        .host_service("7")
        .install_using_ssh()
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/ovirt-engine/api/hosts/7/install")
    );
    assert_eq!(seen.body, "<action/>");
}

#[tokio::test]
async fn update_puts_the_body_with_query_parameters() {
    // R1.1 update: PUT, main parameter as body, secondary parameters in the query.
    let server = answering(200, r#"<vm id="123"><name>new</name></vm>"#).await;
    let updated = server
        .system()
        .vms_service()
        .vm_service("123")
        .update()
        .vm(types::Vm::new().name("new"))
        .next_run(true)
        .r#async(false)
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("new"));
    let seen = server.only();
    assert_eq!(seen.method, "PUT");
    assert_eq!(
        seen.target,
        "/ovirt-engine/api/vms/123?next_run=true&async=false"
    );
    assert_eq!(seen.body, "<vm><name>new</name></vm>");
}

#[tokio::test]
async fn remove_sends_its_parameters_in_the_query_and_ignores_the_body() {
    // R1.7: every remove parameter is a query parameter; R1.6: nothing is read.
    let server = answering(200, "<action><status>complete</status></action>").await;
    server
        .system()
        .vms_service()
        .vm_service("123")
        .remove()
        .detach_only(true)
        .force(true)
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.target,
        "/ovirt-engine/api/vms/123?detach_only=true&force=true"
    );
    assert_eq!(seen.body, "");
}

#[tokio::test]
async fn remove_answered_202_without_body_succeeds() {
    // R1.11 [rec]: an empty body on a 202 remove is fine.
    let server = Server::start(|_| Some((202, "text/plain", String::new()))).await;
    server
        .system()
        .vms_service()
        .vm_service("1")
        .remove()
        .r#async(true)
        .await
        .unwrap();
}

#[tokio::test]
async fn gluster_bricks_remove_sends_the_bricks_in_an_action_body() {
    // R1.7: the structured remove keeps `replica_count` in the query and sends the bricks in
    // an `<action>` body of the DELETE.
    let server = answering(200, "<action><status>complete</status></action>").await;
    let bricks = vec![types::GlusterBrick::new().name("host1:/bricks/b1")];
    server
        .system()
        .clusters_service()
        .cluster_service("1")
        .gluster_volumes_service()
        .volume_service("2")
        .gluster_bricks_service()
        .remove()
        .bricks(&bricks)
        .replica_count(2)
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.target,
        "/ovirt-engine/api/clusters/1/glustervolumes/2/glusterbricks?replica_count=2"
    );
    assert_eq!(
        seen.body,
        "<action><bricks><brick><name>host1:/bricks/b1</name></brick></bricks></action>"
    );
}

#[tokio::test]
async fn action_posts_an_envelope_to_its_segment() {
    // R1.2: segment = name without underscores; R1.5: `<action>` with the set parameters.
    let server = answering(200, "<action><status>complete</status></action>").await;
    let action = server
        .system()
        .vms_service()
        .vm_service("123")
        .reorder_mac_addresses()
        .r#async(true)
        .await
        .unwrap();
    assert_eq!(action.status.as_deref(), Some("complete"));
    let seen = server.only();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/ovirt-engine/api/vms/123/reordermacaddresses")
    );
    assert_eq!(seen.body, "<action><async>true</async></action>");
}

#[tokio::test]
async fn action_struct_parameter_is_named_after_the_parameter() {
    // R1.5: `host`/`copy_host_networks` has `source_host : host` -> `<source_host id="8"/>`.
    let server = answering(200, "<action><status>complete</status></action>").await;
    server
        .system()
        .hosts_service()
        .host_service("7")
        .copy_host_networks()
        .source_host(types::Host::new().id("8"))
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(seen.target, "/ovirt-engine/api/hosts/7/copyhostnetworks");
    assert_eq!(seen.body, r#"<action><source_host id="8"/></action>"#);
}

#[tokio::test]
async fn action_output_parameter_is_returned() {
    // R1.6: `storage_domain`/`is_attached` returns `<is_attached>` of the `<action>`.
    let server = answering(
        200,
        "<action><status>complete</status><is_attached>true</is_attached></action>",
    )
    .await;
    let attached = server
        .system()
        .storage_domains_service()
        .storage_domain_service("9")
        .is_attached()
        .await
        .unwrap();
    assert!(attached);
    assert_eq!(
        server.only().target,
        "/ovirt-engine/api/storagedomains/9/isattached"
    );
}

#[tokio::test]
async fn action_list_output_is_returned() {
    // R1.6: `host`/`iscsi_discover` returns `<iscsi_targets><iscsi_target>...`.
    let server = answering(
        200,
        "<action><iscsi_targets><iscsi_target>iqn.a</iscsi_target><iscsi_target>iqn.b</iscsi_target></iscsi_targets></action>",
    )
    .await;
    let targets = server
        .system()
        .hosts_service()
        .host_service("7")
        .iscsi_discover()
        .await
        .unwrap();
    assert_eq!(targets, vec!["iqn.a".to_owned(), "iqn.b".to_owned()]);
    assert_eq!(
        server.only().target,
        "/ovirt-engine/api/hosts/7/iscsidiscover"
    );
}

#[tokio::test]
async fn action_with_fault_in_a_200_is_an_error() {
    // R4.3: a `<fault>` inside the `<action>` is an error whatever the status.
    let server = answering(
        200,
        "<action><status>failed</status><fault><reason>Operation Failed</reason><detail>[Cannot start VM]</detail></fault></action>",
    )
    .await;
    let err = server
        .system()
        .vms_service()
        .vm_service("123")
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Fault), "{err:?}");
    let fault = err.engine_fault().unwrap();
    assert_eq!(fault.reason.as_deref(), Some("Operation Failed"));
    assert_eq!(fault.detail.as_deref(), Some("[Cannot start VM]"));
    assert_eq!(err.http_status(), Some(200));
    let text = err.to_string();
    assert!(text.contains("POST"), "{text}");
    assert!(text.contains("/ovirt-engine/api/vms/123/start"), "{text}");
    assert!(text.contains("Cannot start VM"), "{text}");
}

#[tokio::test]
async fn not_found_is_its_own_kind() {
    // R4.2: 404 with an empty body when the path names a missing object.
    let server = Server::start(|_| Some((404, "text/plain", String::new()))).await;
    let err = server
        .system()
        .vms_service()
        .vm_service("nope")
        .get()
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.http_status(), Some(404));
    assert!(err.to_string().contains("GET"), "{err}");
    assert!(
        err.to_string().contains("/ovirt-engine/api/vms/nope"),
        "{err}"
    );
}

#[tokio::test]
async fn conflict_keeps_the_fault() {
    // R4.3 [rec]: 409 -> conflict, with the fault.
    let server = answering(
        409,
        "<fault><reason>Operation Failed</reason><detail>[Name already in use]</detail></fault>",
    )
    .await;
    let err = server
        .system()
        .vms_service()
        .add()
        .vm(types::Vm::default())
        .await
        .unwrap_err();
    assert!(err.is_conflict(), "{err:?}");
    assert_eq!(
        err.engine_fault().unwrap().detail.as_deref(),
        Some("[Name already in use]")
    );
}

#[tokio::test]
async fn fault_body_of_a_400_is_reported() {
    // R4.1: the fault document.
    let server = answering(
        400,
        "<fault><reason>Incomplete parameters</reason><detail>Vm [name] required for add</detail></fault>",
    )
    .await;
    let err = server
        .system()
        .vms_service()
        .add()
        .vm(types::Vm::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Fault), "{err:?}");
    assert_eq!(err.http_status(), Some(400));
    assert_eq!(
        err.engine_fault().unwrap().reason.as_deref(),
        Some("Incomplete parameters")
    );
    assert!(
        err.to_string().contains("Vm [name] required for add"),
        "{err}"
    );
}

#[tokio::test]
async fn html_error_page_is_an_unexpected_response_with_an_excerpt() {
    // R4.4: an HTML page from a proxy: status, content type and the start of the body.
    let server = Server::start(|_| {
        Some((
            502,
            "text/html; charset=iso-8859-1",
            "<html><head><title>502 Proxy Error</title></head><body>...</body></html>".into(),
        ))
    })
    .await;
    let err = server.system().vms_service().list().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedResponse),
        "{err:?}"
    );
    assert_eq!(err.http_status(), Some(502));
    assert_eq!(err.content_type(), Some("text/html; charset=iso-8859-1"));
    assert!(err.body_excerpt().unwrap().contains("502 Proxy Error"));
    let text = err.to_string();
    // The full URL: scheme, host, port and path.
    let url = format!("GET http://{}/ovirt-engine/api/vms", server.addr);
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("text/html"), "{text}");
}

#[tokio::test]
async fn html_page_with_200_is_not_taken_for_xml() {
    // R4.4: a 200 whose body is not XML is an unexpected response, not a parse error.
    let server = Server::start(|_| Some((200, "text/html", "<html>login</html>".into()))).await;
    let err = server.system().vms_service().list().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedResponse),
        "{err:?}"
    );
}

#[tokio::test]
async fn wrong_root_element_is_reported() {
    // R1.6 [rec]: read with the expected type, report a mismatching root clearly.
    let server = answering(200, "<host id=\"1\"/>").await;
    let err = server
        .system()
        .vms_service()
        .vm_service("1")
        .get()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Xml), "{err:?}");
    assert!(err.to_string().contains("host"), "{err}");
}

#[tokio::test]
async fn add_accepted_without_body_is_reported_as_accepted() {
    // R1.11 [rec]: 202 and no body: "accepted, no object".
    let server = Server::start(|_| Some((202, "application/xml", String::new()))).await;
    let err = server
        .system()
        .vms_service()
        .add()
        .vm(types::Vm::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Accepted), "{err:?}");
}

#[tokio::test]
async fn per_call_headers_and_query_are_sent_and_model_parameters_win() {
    // R1.9: extra headers and query parameters; a model parameter overrides a caller entry.
    let server = answering(200, "<vms/>").await;
    server
        .system()
        .vms_service()
        .list()
        .header("X-Trace", "abc")
        .query("max", "99")
        .query("extra", "a b&c")
        .max(5)
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!(seen.header("x-trace"), Some("abc"));
    assert_eq!(seen.target, "/ovirt-engine/api/vms?extra=a+b%26c&max=5");
}

#[tokio::test]
async fn per_call_timeout_ends_a_call_the_server_never_answers() {
    let server = Server::start(|s| {
        if s.target.contains("slow") {
            None
        } else {
            xml(200, "<vms/>")
        }
    })
    .await;
    let err = server
        .system()
        .vms_service()
        .vm_service("slow")
        .get()
        .timeout(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("/vms/slow"), "{err}");
}

#[tokio::test]
async fn locator_values_are_percent_encoded_path_segments() {
    // R2.1 [rec]: a locator value is one percent-encoded path segment.
    let server = answering(200, "<nics/>").await;
    server
        .system()
        .vms_service()
        .vm_service("a b/c%")
        .nics_service()
        .list()
        .await
        .unwrap();
    assert_eq!(
        server.only().target,
        "/ovirt-engine/api/vms/a%20b%2Fc%25/nics"
    );
}

#[tokio::test]
async fn navigation_by_path_reaches_the_service_and_sends_to_it() {
    // R2.2: `vms/123/diskattachments/9` -> vms -> vm(123) -> disk_attachments -> (9).
    let server = answering(200, "<nics/>").await;
    let system = server.system();
    let found = system.service("vms/123/nics").unwrap();
    let AnyService::VmNics(nics) = found else {
        panic!("expected the vm_nics service, got {found:?}");
    };
    assert_eq!(nics.context().path(), "vms/123/nics");
    nics.list().await.unwrap();
    assert_eq!(server.only().target, "/ovirt-engine/api/vms/123/nics");

    let found = system.service("vms/123/diskattachments/9").unwrap();
    assert!(matches!(found, AnyService::DiskAttachment(_)), "{found:?}");
    assert_eq!(found.context().path(), "vms/123/diskattachments/9");
    assert!(matches!(system.service("").unwrap(), AnyService::System(_)));
    let found = system.service("vms/a%20b").unwrap();
    assert_eq!(found.context().path(), "vms/a%20b");
}

#[tokio::test]
async fn navigation_by_an_invalid_path_names_the_segment() {
    let server = answering(200, "<vms/>").await;
    let err = server.system().service("vms/123/bogus/1").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPath), "{err:?}");
    assert!(err.to_string().contains("\"bogus\""), "{err}");
    assert!(err.to_string().contains("`vm`"), "{err}");
    let err = server.system().service("vms//nics").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPath), "{err:?}");
    let err = server.system().service("nothing").unwrap_err();
    assert!(err.to_string().contains("\"nothing\""), "{err}");
}

#[tokio::test]
async fn following_an_href_strips_the_base_path() {
    // R2.2: `/ovirt-engine/api/vms/123/nics` -> `vms/123/nics`.
    let server = answering(200, "<vms/>").await;
    let system = server.system();
    let found = system
        .service_for_href("/ovirt-engine/api/vms/123/nics")
        .unwrap();
    assert!(matches!(found, AnyService::VmNics(_)), "{found:?}");
    let err = system.service_for_href("/elsewhere/vms").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPath), "{err:?}");
}

/// A transport that records each call the moment `send` is called, then forwards it.
struct Recording {
    inner: PlainTransport,
    calls: Mutex<Vec<String>>,
}

impl Transport for Recording {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, ovirt::Error>> {
        self.calls.lock().unwrap().push(call.path().to_owned());
        self.inner.send(call)
    }

    fn base_path(&self) -> &str {
        self.inner.base_path()
    }

    fn origin(&self) -> &str {
        self.inner.origin()
    }
}

#[tokio::test]
async fn send_hands_calls_to_the_transport_before_any_await() {
    // The seed pattern: start several calls, then await them all.
    let server = Server::start(|s| {
        let body = if s.target.ends_with("/nics") {
            "<nics/>"
        } else if s.target.ends_with("/permissions") {
            "<permissions/>"
        } else {
            "<disk_attachments/>"
        };
        xml(200, body)
    })
    .await;
    let recording = Arc::new(Recording {
        inner: server.transport(),
        calls: Mutex::new(Vec::new()),
    });
    let system = SystemService::new(ServiceContext::root(recording.clone()));
    let (mut disks, mut nics, mut perms) = (Vec::new(), Vec::new(), Vec::new());
    for id in ["1", "2"] {
        let vm = system.vms_service().vm_service(id);
        disks.push(vm.disk_attachments_service().list().send());
        nics.push(vm.nics_service().list().send());
        perms.push(vm.permissions_service().list().send());
    }
    // Futures are `Send + 'static`, so they can be spawned.
    fn send_static<T: Send + 'static>(_: &T) {}
    send_static(&disks[0]);
    assert_eq!(
        recording.calls.lock().unwrap().clone(),
        [
            "vms/1/diskattachments",
            "vms/1/nics",
            "vms/1/permissions",
            "vms/2/diskattachments",
            "vms/2/nics",
            "vms/2/permissions"
        ]
    );
    for f in disks {
        assert!(f.await.unwrap().is_empty());
    }
    for f in nics {
        assert!(f.await.unwrap().is_empty());
    }
    for f in perms {
        assert!(f.await.unwrap().is_empty());
    }
    assert_eq!(server.seen().len(), 6);
}

#[tokio::test]
async fn response_futures_can_be_spawned() {
    let server = answering(200, r#"<vms><vm id="1"/></vms>"#).await;
    let task = tokio::spawn(server.system().vms_service().list().send());
    let vms = task.await.unwrap().unwrap();
    assert_eq!(vms[0].id.as_deref(), Some("1"));
}

#[tokio::test]
async fn refused_connection_is_a_connection_error_that_was_not_processed() {
    // http1_pipeline errors map into the SDK error kinds.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = http1_pipeline::Client::builder(&format!("http://{addr}"))
        .max_retries(0)
        .build()
        .unwrap();
    let system = SystemService::new(ServiceContext::root(Arc::new(PlainTransport::new(
        client, BASE,
    ))));
    let err = system.vms_service().list().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    assert!(!err.may_have_been_processed(), "{err:?}");
    assert!(err.to_string().contains("/ovirt-engine/api/vms"), "{err}");
    assert!(std::error::Error::source(&err).is_some());
}

#[tokio::test]
async fn missing_mandatory_parameter_or_body_is_refused_before_sending() {
    let server = answering(200, "<action/>").await;
    let host = server.system().hosts_service().host_service("7");
    // The model marks `host`/`fence` `fence_type` mandatory.
    let err = host.fence().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(err.to_string().contains("fence_type"), "{err}");
    let start = format!(
        "POST http://{}/ovirt-engine/api/hosts/7/fence: invalid request",
        server.addr
    );
    assert!(err.to_string().starts_with(&start), "{err}");
    // An add needs its main parameter (R1.4).
    let err = server.system().vms_service().add().await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(err.to_string().contains("vms.add"), "{err}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn action_struct_output_is_read_from_the_action() {
    // R1.6: `host`/`fence` returns `<power_management>` of the `<action>`.
    let server = answering(
        200,
        "<action><power_management><status>on</status></power_management><status>complete</status></action>",
    )
    .await;
    let pm = server
        .system()
        .hosts_service()
        .host_service("7")
        .fence()
        .fence_type("status")
        .await
        .unwrap();
    assert_eq!(pm.status, Some(types::PowerManagementStatus::On));
    let seen = server.only();
    assert_eq!(seen.target, "/ovirt-engine/api/hosts/7/fence");
    assert_eq!(
        seen.body,
        "<action><fence_type>status</fence_type></action>"
    );
}

#[tokio::test]
async fn action_without_its_output_element_is_an_unexpected_response() {
    let server = answering(200, "<action><status>complete</status></action>").await;
    let err = server
        .system()
        .storage_domains_service()
        .storage_domain_service("9")
        .is_attached()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnexpectedResponse),
        "{err:?}"
    );
    assert!(err.to_string().contains("<is_attached>"), "{err}");
}

#[tokio::test]
async fn list_links_and_references_can_be_followed() {
    // R3.6: a list link comes as `<link rel href>`; R2.2: following strips the base path.
    let server = Server::start(|s| match s.target.as_str() {
        "/ovirt-engine/api/vms/1" => xml(
            200,
            r#"<vm id="1"><cluster id="5" href="/ovirt-engine/api/clusters/5"/><link rel="nics" href="/ovirt-engine/api/vms/1/nics"/></vm>"#,
        ),
        "/ovirt-engine/api/vms/1/nics?follow=statistics" => {
            xml(200, r#"<nics><nic id="7"><name>eth0</name></nic></nics>"#)
        }
        "/ovirt-engine/api/clusters/5" => xml(200, r#"<cluster id="5"><name>Default</name></cluster>"#),
        _ => Some((404, "text/plain", String::new())),
    })
    .await;
    let system = server.system();
    let vm = system.vms_service().vm_service("1").get().await.unwrap();
    let nics = system
        .follow_list(vm.nics.as_ref().unwrap())
        .query("follow", "statistics")
        .await
        .unwrap();
    assert_eq!(nics[0].name.as_deref(), Some("eth0"));
    let href = vm.cluster.as_ref().unwrap().href.clone().unwrap();
    let cluster: types::Cluster = system.follow_object(&href).await.unwrap();
    assert_eq!(cluster.name.as_deref(), Some("Default"));
    let err = system
        .follow_object::<types::Cluster>("/elsewhere/clusters/5")
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidPath), "{err:?}");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn action_answered_202_without_body_succeeds_with_an_empty_action() {
    // R1.11: the work continues in the background.
    let server = Server::start(|_| Some((202, "application/xml", String::new()))).await;
    let action = server
        .system()
        .vms_service()
        .vm_service("1")
        .shutdown()
        .await
        .unwrap();
    assert_eq!(action.status, None);
    let err = server
        .system()
        .storage_domains_service()
        .storage_domain_service("9")
        .is_attached()
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Accepted), "{err:?}");
}

#[tokio::test]
async fn structured_remove_without_its_list_sends_no_body() {
    // R1.7: the `<action>` body is sent only when the list parameter is set.
    let server = answering(200, "<action/>").await;
    server
        .system()
        .clusters_service()
        .cluster_service("1")
        .gluster_volumes_service()
        .volume_service("2")
        .gluster_bricks_service()
        .remove()
        .r#async(true)
        .await
        .unwrap();
    let seen = server.only();
    assert_eq!((seen.method.as_str(), seen.body.as_str()), ("DELETE", ""));
    assert!(
        seen.target.ends_with("/glusterbricks?async=true"),
        "{}",
        seen.target
    );
}

#[tokio::test]
async fn operating_systems_are_listed_under_either_root_spelling() {
    // The model's root is `operation_systems`; engines' documentation pages and mocks
    // write `operating_systems`. Both read as the same list.
    for body in [
        "<operation_systems><operating_system id=\"1\"><name>rhel_9x64</name></operating_system></operation_systems>",
        "<operating_systems>\n  <operating_system id=\"1\"><name>rhel_9x64</name></operating_system>\n</operating_systems>",
    ] {
        let server = Server::start(move |_| xml(200, body)).await;
        let oss = server
            .system()
            .operating_systems_service()
            .list()
            .await
            .unwrap();
        assert_eq!(oss.len(), 1, "{body}");
        assert_eq!(oss[0].name.as_deref(), Some("rhel_9x64"));
        assert_eq!(server.only().target, format!("{BASE}/operatingsystems"));
    }
}
