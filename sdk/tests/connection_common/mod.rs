//! Helpers shared by the connection tests: an engine, a connection to it, raw calls.
#![allow(dead_code)]

use bytes::Bytes;
use ovirt::service::{
    BoxFuture, Call, Method, MethodWire, RawResponse, ResponseKind, ServiceContext, Transport,
};
use ovirt::{Connection, ConnectionBuilder, Error};
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};

pub async fn engine(vms: usize) -> TestEngine {
    TestEngine::builder().vms(vms).start().await.unwrap()
}

pub async fn tls_engine(vms: usize) -> TestEngine {
    TestEngine::builder()
        .vms(vms)
        .tls(true)
        .start()
        .await
        .unwrap()
}

/// Options for a connection to `engine` with the default user (trusting its CA).
pub fn options(engine: &TestEngine) -> ConnectionBuilder {
    let mut b = Connection::builder()
        .url(engine.url())
        .username(USERNAME)
        .password(PASSWORD);
    if let Some(pem) = engine.ca_pem() {
        b = b.ca_pem(pem.as_bytes().to_vec());
    }
    b
}

pub fn connect(engine: &TestEngine) -> Connection {
    options(engine).build().unwrap()
}

/// A call of `method` to `path` (below the API base of `conn`) with `query`.
pub fn call_with(conn: &Connection, method: Method, path: &str, query: &[(&str, &str)]) -> Call {
    let query = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Call::new(method, conn.base_path(), path, query)
}

/// A call of `method` to `path` (below the API base of `conn`).
pub fn call(conn: &Connection, method: Method, path: &str) -> Call {
    call_with(conn, method, path, &[])
}

/// Sends a GET of `path` (relative to the API base) through the connection's transport;
/// the request is on its way when this returns.
pub fn get(conn: &Connection, path: &str) -> BoxFuture<Result<RawResponse, Error>> {
    conn.transport().send(call(conn, Method::Get, path))
}

/// A stand-in "get" method returning the body, to exercise the services' response checks
/// (status classification, faults) through a connection.
pub struct GetBody;

impl MethodWire for GetBody {
    type Output = Bytes;
    const NAME: &'static str = "test/get";
    const METHOD: Method = Method::Get;
    const SEGMENT: Option<&'static str> = None;
    const RESPONSE: ResponseKind = ResponseKind::Get;
    fn read(body: &[u8]) -> Result<Bytes, Error> {
        Ok(Bytes::copy_from_slice(body))
    }
}

/// GET `path` as a service method would.
pub async fn get_checked(conn: &Connection, path: &str) -> Result<Bytes, Error> {
    let mut ctx = ServiceContext::root(conn.transport());
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        ctx = ctx.child(seg);
    }
    ctx.request::<GetBody>().send().await
}

/// The `id` attributes of the elements named `tag`, in document order.
pub fn ids_of(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag} ");
    let mut ids = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let elem = &rest[at..];
        let end = elem.find('>').unwrap();
        let head = &elem[..end];
        if let Some(i) = head.find(" id=\"") {
            let v = &head[i + 5..];
            ids.push(v[..v.find('"').unwrap()].to_string());
        }
        rest = &elem[end..];
    }
    ids
}
