//! http1-pipeline with a REST API that has nothing to do with oVirt: a tiny JSON "todo"
//! service on hyper, in this process on 127.0.0.1, and a client that creates todos with
//! `POST`, then pipelines `PUT`s and `GET`s over two connections.
//!
//! ```text
//! cargo run -p http1-pipeline --example rest_api
//! ```
//!
//! The service:
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /todos` with a JSON object | `201`, the object with its new `"id"`, `Location: /todos/{id}` |
//! | `GET /todos/{id}` | `200` and the object, or `404` |
//! | `PUT /todos/{id}` with a JSON object | `200` and the stored object, or `404` |
//! | `GET /todos` | `200` and a JSON array of every object, by id |
//!
//! It treats a todo as an opaque JSON object and only adds its id, so neither side needs a
//! JSON library.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http1_pipeline::{Client, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The server's state: the todos by id, and counters to show what the client did.
#[derive(Default)]
struct Store {
    todos: Mutex<BTreeMap<u64, String>>,
    next_id: AtomicUsize,
    connections: AtomicUsize,
    requests: AtomicUsize,
}

/// `{"title":...}` with id 7 becomes `{"id":7,"title":...}`.
fn with_id(id: u64, object: &str) -> String {
    let rest = object.trim().trim_start_matches('{').trim_start();
    if rest.starts_with('}') {
        format!("{{\"id\":{id}}}")
    } else {
        format!("{{\"id\":{id},{rest}")
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}

async fn handle(
    store: Arc<Store>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    store.requests.fetch_add(1, Ordering::Relaxed);
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let body = match request.into_body().collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
        Err(e) => return Ok(reply(400, format!("{{\"error\":\"{e}\"}}"))),
    };
    let id = path
        .strip_prefix("/todos/")
        .and_then(|id| id.parse::<u64>().ok());
    let is_object = body.trim_start().starts_with('{') && body.trim_end().ends_with('}');
    let mut todos = store.todos.lock().unwrap_or_else(|e| e.into_inner());
    let answer = match (method.as_str(), path.as_str(), id) {
        ("GET", "/todos", _) => {
            let all: Vec<&str> = todos.values().map(String::as_str).collect();
            reply(200, format!("[{}]", all.join(",")))
        }
        ("POST", "/todos", _) if is_object => {
            let id = store.next_id.fetch_add(1, Ordering::Relaxed) as u64 + 1;
            let stored = with_id(id, &body);
            todos.insert(id, stored.clone());
            let mut r = reply(201, stored);
            if let Ok(location) = format!("/todos/{id}").parse() {
                r.headers_mut().insert("Location", location);
            }
            r
        }
        ("GET", _, Some(id)) => match todos.get(&id) {
            Some(t) => reply(200, t.clone()),
            None => reply(404, format!("{{\"error\":\"no todo {id}\"}}")),
        },
        ("PUT", _, Some(id)) if is_object => match todos.get_mut(&id) {
            Some(t) => {
                *t = with_id(id, &body);
                reply(200, t.clone())
            }
            None => reply(404, format!("{{\"error\":\"no todo {id}\"}}")),
        },
        ("POST" | "PUT", _, _) => reply(400, "{\"error\":\"expected a JSON object\"}".into()),
        _ => reply(404, format!("{{\"error\":\"no route {method} {path}\"}}")),
    };
    Ok(answer)
}

/// Starts the todo service on 127.0.0.1 (hyper answers pipelined requests in order).
async fn start_server(store: Arc<Store>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            store.connections.fetch_add(1, Ordering::Relaxed);
            let store = store.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(store.clone(), req));
                let _ = http1::Builder::new()
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

fn json(request: Request) -> Request {
    request.header("Content-Type", "application/json")
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(Store::default());
    let addr = start_server(store.clone()).await?;

    let client = Client::builder(&format!("http://{addr}"))
        .max_connections(2)
        .pipeline_depth(16)
        .default_header("Accept", "application/json")
        .default_header("User-Agent", "http1-pipeline-rest-example/1")
        .build()?;

    // POST is not idempotent: each one goes alone on an idle connection, and nothing is
    // pipelined behind it until it is answered. They can still be sent together; the
    // client orders them.
    let titles = ["write the README", "pipeline the requests", "ship it"];
    let created: Vec<_> = titles
        .iter()
        .map(|t| {
            client.send(json(Request::post(
                "/todos",
                format!("{{\"title\":\"{t}\",\"done\":false}}"),
            )))
        })
        .collect();
    let mut locations = Vec::new();
    for (title, response) in titles.iter().zip(created) {
        let response = response.await?;
        let location = response.headers().get("Location").unwrap_or("").to_string();
        let status = response.status();
        let body = response.text().await?;
        println!("POST /todos -> {status} {location} {body}");
        if status != 201 || !body.contains(title) {
            return Err(format!("creating {title:?} failed: {status} {body}").into());
        }
        locations.push(location);
    }

    // PUT and GET are idempotent: all of these are written before the first answer is
    // read, up to 16 per connection, and the answers are matched in order.
    let puts: Vec<_> = locations
        .iter()
        .zip(titles)
        .map(|(location, t)| {
            let body = format!("{{\"title\":\"{t}\",\"done\":true}}");
            client.send(json(Request::new(Method::Put, location.clone()).body(body)))
        })
        .collect();
    let gets: Vec<_> = (1..=20)
        .map(|id| client.send(Request::get(format!("/todos/{id}"))))
        .collect();
    for (location, put) in locations.iter().zip(puts) {
        let response = put.await?;
        let status = response.status();
        let body = response.text().await?;
        println!("PUT {location} -> {status} {body}");
        if status != 200 || !body.contains("\"done\":true") {
            return Err(format!("updating {location} failed: {status} {body}").into());
        }
    }
    let mut found = 0;
    for (id, get) in (1..=20).zip(gets) {
        let response = get.await?;
        let status = response.status();
        let body = response.text().await?;
        // Each answer belongs to its own request: a found todo carries the id asked for.
        match status {
            200 if body.starts_with(&format!("{{\"id\":{id},")) => found += 1,
            404 if id > titles.len() => {}
            _ => return Err(format!("GET /todos/{id} -> {status} {body}").into()),
        }
    }
    println!(
        "GET /todos/1..20 -> {found} found, {} not found",
        20 - found
    );

    let all = client.send(Request::get("/todos")).await?.text().await?;
    println!("GET /todos -> {all}");
    if all.matches("\"done\":true").count() != titles.len() {
        return Err("the list does not show every todo done".into());
    }
    println!(
        "{} requests over {} connection(s)",
        store.requests.load(Ordering::Relaxed),
        store.connections.load(Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
