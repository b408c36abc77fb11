//! A scripted raw TCP server for tests: each accepted connection runs a test-provided async
//! script that reads requests and writes exactly the bytes the test wants.
#![allow(dead_code)]

pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Guards a test against hanging: a hang becomes a failure (not a timing assertion).
pub async fn within<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("the test did not finish (hang)")
}

/// A server on 127.0.0.1 that runs `script(connection_index, conn)` for each connection.
pub struct Server {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start<F, Fut>(script: F) -> Server
    where
        F: Fn(usize, Conn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let i = count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(script(
                    i,
                    Conn {
                        stream,
                        buf: BytesMut::new(),
                    },
                ));
            }
        });
        Server {
            addr,
            accepted,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One accepted connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    /// Reads one whole request (head and `Content-Length` body); `None` at end of stream.
    pub async fn read_request(&mut self) -> Option<Req> {
        loop {
            if let Some(req) = self.parse_buffered() {
                return Some(req);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Reads up to `n` bytes of whatever comes (slow reading).
    pub async fn read_some(&mut self, n: usize) -> usize {
        let mut tmp = vec![0u8; n];
        match self.stream.read(&mut tmp).await {
            Ok(k) => {
                self.buf.extend_from_slice(&tmp[..k]);
                k
            }
            Err(_) => 0,
        }
    }

    /// A complete request already buffered, if any.
    pub fn parse_buffered(&mut self) -> Option<Req> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Request::new(&mut headers);
        let len = match r.parse(&self.buf) {
            Ok(httparse::Status::Complete(len)) => len,
            _ => return None,
        };
        let headers: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let (body, used) = if chunked {
            decode_chunked(&self.buf[len..])?
        } else {
            let body_len: usize = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().parse().unwrap())
                .unwrap_or(0);
            if self.buf.len() < len + body_len {
                return None;
            }
            (self.buf[len..len + body_len].to_vec(), body_len)
        };
        let req = Req {
            method: r.method.unwrap().to_string(),
            target: r.path.unwrap().to_string(),
            headers,
            body,
        };
        let _ = self.buf.split_to(len + used);
        Some(req)
    }

    /// Reads one request head only (the body, if any, stays unread); `None` at end of
    /// stream.
    pub async fn read_head(&mut self) -> Option<Req> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = self.buf.split_to(end + 4);
                let mut headers = [httparse::EMPTY_HEADER; 64];
                let mut r = httparse::Request::new(&mut headers);
                r.parse(&head).unwrap();
                return Some(Req {
                    method: r.method.unwrap().to_string(),
                    target: r.path.unwrap().to_string(),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: Vec::new(),
                });
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// True if more request bytes are already here (buffered or readable right now),
    /// without waiting.
    pub fn more_bytes_now(&mut self) -> bool {
        if !self.buf.is_empty() {
            return true;
        }
        let mut tmp = [0u8; 4096];
        match self.stream.try_read(&mut tmp) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                true
            }
            Err(_) => false,
        }
    }

    pub async fn write(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = self.stream.write_all(bytes.as_ref()).await;
    }

    /// Writes `HTTP/1.1 200 OK` with this body and a `Content-Length`.
    pub async fn ok(&mut self, body: &str) {
        let r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        self.write(r).await;
    }

    /// Writes `HTTP/1.1 200 OK` with these extra header lines (each ending in CRLF), this
    /// body and a `Content-Length`.
    pub async fn ok_with(&mut self, headers: &str, body: &str) {
        let r = format!(
            "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        self.write(r).await;
    }

    /// Bytes received and not yet parsed as a request.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Closes as a careful server does: no more writing (FIN), then reads until the client
    /// closes too, so that requests still arriving do not turn the close into a reset.
    pub async fn linger_close(mut self) {
        let _ = self.stream.shutdown().await;
        self.wait_closed().await;
    }

    /// Closes with a TCP reset (SO_LINGER 0).
    pub fn reset(self) {
        #[allow(deprecated)] // linger 0 does not block: it resets at once
        let _ = self.stream.set_linger(Some(Duration::from_secs(0)));
        drop(self.stream);
    }

    /// Waits until the client closes the connection (returns the bytes read meanwhile).
    pub async fn wait_closed(&mut self) {
        let mut tmp = [0u8; 4096];
        loop {
            match self.stream.read(&mut tmp).await {
                Ok(0) | Err(_) => return,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }
}

/// Decodes a whole chunked body (no trailers) at the start of `buf`: the body and the
/// bytes it took, or `None` if it is not complete yet. Panics on invalid framing (the
/// client under test wrote it).
pub fn decode_chunked(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + buf[at..].windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&buf[at..line_end]).unwrap();
        let size = usize::from_str_radix(size_text, 16).expect("chunk size in hex");
        let data = line_end + 2;
        if buf.len() < data + size + 2 {
            return None;
        }
        assert_eq!(
            &buf[data + size..data + size + 2],
            b"\r\n",
            "chunk without CRLF"
        );
        body.extend_from_slice(&buf[data..data + size]);
        at = data + size + 2;
        if size == 0 {
            return Some((body, at));
        }
    }
}
