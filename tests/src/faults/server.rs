//! The fault-injecting scripted server of the trials.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::trial::{expected_body, expected_request_body};
use super::Rng;

/// What the server did with one request it received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Action {
    /// A complete, valid response; the connection stays open.
    Respond,
    /// A complete response, then the socket is closed without notice.
    CloseAfter,
    /// A complete response with `Connection: close`, then the socket is closed.
    ConnectionClose,
    /// An HTTP/1.0 response whose body ends with the close of the connection.
    Http10Close,
    /// Part of the response head, then the socket is closed.
    CloseMidHead,
    /// The head and part of the body, then the socket is closed.
    CloseMidBody,
    /// The earlier responses (and maybe part of this one), then a reset (`SO_LINGER` 0).
    Reset,
    /// No answer: the server keeps reading but never writes again.
    Stall,
    /// The head and part of the body, then no more bytes.
    StallMidBody,
    /// A malformed response, then the socket is closed.
    Malformed,
    /// Received on a stalled connection: never answered.
    Unanswered,
    /// A valid response for another request (id + 1): a broken server, which the trial's
    /// checks must catch. Never injected by the default rates.
    WrongAnswer,
}

/// How often (per mille of answers) each fault happens, and how often the valid answers
/// vary their form.
#[derive(Debug, Clone)]
pub struct FaultRates {
    /// [`Action::CloseAfter`].
    pub close_after: u32,
    /// [`Action::ConnectionClose`].
    pub connection_close: u32,
    /// [`Action::Http10Close`].
    pub http10_close: u32,
    /// [`Action::CloseMidHead`].
    pub close_mid_head: u32,
    /// [`Action::CloseMidBody`].
    pub close_mid_body: u32,
    /// [`Action::Reset`].
    pub reset: u32,
    /// [`Action::Stall`].
    pub stall: u32,
    /// [`Action::StallMidBody`].
    pub stall_mid_body: u32,
    /// [`Action::Malformed`].
    pub malformed: u32,
    /// Writes a response in small random pieces.
    pub split: u32,
    /// `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub chunked: u32,
    /// A `100 Continue` before the response.
    pub interim: u32,
    /// [`Action::WrongAnswer`] (0 by default: only to check that the checks can fail).
    pub wrong_answer: u32,
}

impl Default for FaultRates {
    fn default() -> FaultRates {
        FaultRates {
            close_after: 12,
            connection_close: 12,
            http10_close: 5,
            close_mid_head: 5,
            close_mid_body: 8,
            reset: 8,
            stall: 2,
            stall_mid_body: 2,
            malformed: 8,
            split: 150,
            chunked: 300,
            interim: 40,
            wrong_answer: 0,
        }
    }
}

impl FaultRates {
    /// The default mix of faults scaled so that `per_mille` of the answers carry one
    /// (the forms of valid answers, split, chunked and interim, keep their defaults).
    /// The default mix is 62 per mille.
    pub fn with_faults_per_mille(per_mille: u32) -> FaultRates {
        let d = FaultRates::default();
        let total = d.faults_per_mille();
        let mut parts = [
            d.close_after,
            d.connection_close,
            d.http10_close,
            d.close_mid_head,
            d.close_mid_body,
            d.reset,
            d.stall,
            d.stall_mid_body,
            d.malformed,
        ]
        .map(|r| r * per_mille.min(1000) / total);
        // What the rounding down lost goes to the first kinds, one each.
        let short = per_mille.min(1000) - parts.iter().sum::<u32>();
        for p in parts.iter_mut().take(short as usize) {
            *p += 1;
        }
        let [close_after, connection_close, http10_close, close_mid_head, close_mid_body, reset, stall, stall_mid_body, malformed] =
            parts;
        FaultRates {
            close_after,
            connection_close,
            http10_close,
            close_mid_head,
            close_mid_body,
            reset,
            stall,
            stall_mid_body,
            malformed,
            ..d
        }
    }

    /// Per mille of answers that carry a fault.
    pub fn faults_per_mille(&self) -> u32 {
        self.close_after
            + self.connection_close
            + self.http10_close
            + self.close_mid_head
            + self.close_mid_body
            + self.reset
            + self.stall
            + self.stall_mid_body
            + self.malformed
            + self.wrong_answer
    }

    fn pick(&self, rng: &mut Rng) -> Action {
        let table = [
            (self.close_after, Action::CloseAfter),
            (self.connection_close, Action::ConnectionClose),
            (self.http10_close, Action::Http10Close),
            (self.close_mid_head, Action::CloseMidHead),
            (self.close_mid_body, Action::CloseMidBody),
            (self.reset, Action::Reset),
            (self.stall, Action::Stall),
            (self.stall_mid_body, Action::StallMidBody),
            (self.malformed, Action::Malformed),
            (self.wrong_answer, Action::WrongAnswer),
        ];
        let mut roll = rng.below(1000) as u32;
        for (rate, action) in table {
            if roll < rate {
                return action;
            }
            roll -= rate;
        }
        Action::Respond
    }
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request id (from the path `/r/<id>`).
    pub id: u64,
    /// The method.
    pub method: String,
    /// Index of the connection (in accept order).
    pub connection: usize,
    /// How many times the server had already received this id.
    pub attempt: u32,
    /// What the server did with it.
    pub action: Action,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    attempts: HashMap<u64, u32>,
    violations: Vec<String>,
}

struct Shared {
    seed: u64,
    rates: FaultRates,
    log: Mutex<Log>,
    accepted: AtomicUsize,
    live: AtomicUsize,
    closed: Notify,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Shared {
    fn violation(&self, message: String) {
        self.log.lock().unwrap().violations.push(message);
    }
}

/// A scripted server on 127.0.0.1 that answers requests `/r/<id>` and injects faults.
/// Dropping it stops every task it started.
pub struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FaultServer {
    /// Starts a server whose faults follow `seed` and `rates`.
    pub async fn start(seed: u64, rates: FaultRates) -> std::io::Result<FaultServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            seed,
            rates,
            log: Mutex::new(Log::default()),
            accepted: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            closed: Notify::new(),
            tasks: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let index = s.accepted.fetch_add(1, Ordering::SeqCst);
                s.live.fetch_add(1, Ordering::SeqCst);
                let guard = LiveGuard(s.clone());
                let conn = tokio::spawn(serve(stream, index, s.clone(), guard));
                s.tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        shared.tasks.lock().unwrap().push(accept.abort_handle());
        Ok(FaultServer { addr, shared })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Waits until every accepted connection has ended (the client closed it or the server
    /// did).
    pub async fn all_closed(&self) {
        loop {
            let notified = self.shared.closed.notified();
            if self.shared.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Every request received so far, in the order received.
    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().received.clone()
    }

    /// Protocol rules the client broke, as seen by the server (malformed or truncated
    /// requests, requests written behind a `POST`, ...).
    pub fn violations(&self) -> Vec<String> {
        self.shared.log.lock().unwrap().violations.clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        for t in self.shared.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Counts a connection as live until dropped (also when its task is aborted).
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// A request parsed by the server.
struct Req {
    id: u64,
    method: String,
}

enum Parsed {
    Complete(Req, usize),
    Partial,
    Invalid(String),
}

fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Request::new(&mut headers);
    let head_len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(e) => return Parsed::Invalid(format!("unparsable request head: {e}")),
    };
    let method = r.method.unwrap_or("").to_string();
    let path = r.path.unwrap_or("");
    let Some(id) = path.strip_prefix("/r/").and_then(|s| s.parse::<u64>().ok()) else {
        return Parsed::Invalid(format!("unexpected request target {path:?}"));
    };
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    if header("host").is_none() {
        return Parsed::Invalid(format!("request {id} has no Host header"));
    }
    if header("transfer-encoding").is_some() {
        return Parsed::Invalid(format!("request {id} has a Transfer-Encoding"));
    }
    if header("x-request-id").as_deref() != Some(&id.to_string()) {
        return Parsed::Invalid(format!(
            "request {id} carries X-Request-Id {:?}",
            header("x-request-id")
        ));
    }
    let body_len = match header("content-length") {
        None => 0,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) => n,
            Err(_) => return Parsed::Invalid(format!("request {id}: Content-Length {v:?}")),
        },
    };
    if buf.len() < head_len + body_len {
        return Parsed::Partial;
    }
    let body = &buf[head_len..head_len + body_len];
    let expected = match method.as_str() {
        "PUT" | "POST" => expected_request_body(id),
        "GET" | "DELETE" => Vec::new(),
        other => return Parsed::Invalid(format!("request {id}: unexpected method {other}")),
    };
    if body != expected.as_slice() {
        return Parsed::Invalid(format!(
            "request {id} ({method}): body of {} bytes differs from the {} bytes sent",
            body.len(),
            expected.len()
        ));
    }
    Parsed::Complete(Req { id, method }, head_len + body_len)
}

/// Per-connection bookkeeping of the pipelining rules the client must follow: nothing
/// behind a `POST`, a `POST` only on an idle connection.
#[derive(Default)]
struct Order {
    /// Requests received whose responses the client cannot have seen yet.
    unanswered: usize,
    /// One of them is a `POST`.
    post_unanswered: bool,
}

impl Order {
    fn check(&mut self, shared: &Shared, req: &Req, connection: usize) {
        if self.post_unanswered {
            shared.violation(format!(
                "connection {connection}: request {} ({}) written behind an unanswered POST",
                req.id, req.method
            ));
        }
        if req.method == "POST" && self.unanswered > 0 {
            shared.violation(format!(
                "connection {connection}: POST {} written behind {} unanswered requests",
                req.id, self.unanswered
            ));
        }
        self.unanswered += 1;
        self.post_unanswered |= req.method == "POST";
    }
}

async fn serve(mut stream: TcpStream, connection: usize, shared: Arc<Shared>, _guard: LiveGuard) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut order = Order::default();
    let mut tmp = vec![0u8; 16 * 1024];
    loop {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let (req, len) = match parse_request(&buf) {
                Parsed::Partial => break,
                Parsed::Invalid(m) => {
                    shared.violation(format!("connection {connection}: {m}"));
                    return;
                }
                Parsed::Complete(req, len) => (req, len),
            };
            buf.drain(..len);
            order.check(&shared, &req, connection);
            let (attempt, action) = {
                let mut log = shared.log.lock().unwrap();
                let n = log.attempts.entry(req.id).or_insert(0);
                let attempt = *n;
                *n += 1;
                let mut rng = Rng::for_key(shared.seed, req.id, u64::from(attempt));
                let action = shared.rates.pick(&mut rng);
                log.received.push(Received {
                    id: req.id,
                    method: req.method.clone(),
                    connection,
                    attempt,
                    action,
                });
                (attempt, action)
            };
            // A second stream of choices for the form of the answer.
            let mut rng = Rng::for_key(shared.seed ^ 0x5EED, req.id, u64::from(attempt));
            let split = rng.chance(shared.rates.split);
            match action {
                Action::Respond => {
                    out.extend_from_slice(&response(&req, &mut rng, &shared.rates, Form::Normal).0);
                    if split {
                        if write_pieces(&mut stream, &out, &mut rng).await.is_err() {
                            return;
                        }
                        out.clear();
                    }
                }
                Action::CloseAfter | Action::ConnectionClose | Action::Http10Close => {
                    let form = match action {
                        Action::CloseAfter => Form::Normal,
                        Action::ConnectionClose => Form::ConnectionClose,
                        _ => Form::Http10,
                    };
                    out.extend_from_slice(&response(&req, &mut rng, &shared.rates, form).0);
                    let _ = write_maybe_split(&mut stream, &out, split, &mut rng).await;
                    return;
                }
                Action::CloseMidHead | Action::CloseMidBody | Action::StallMidBody => {
                    let (full, head_end) = response(&req, &mut rng, &shared.rates, Form::Normal);
                    let cut = if action == Action::CloseMidHead || head_end == full.len() {
                        rng.range(1, head_end - 1)
                    } else {
                        rng.range(head_end, full.len() - 1)
                    };
                    out.extend_from_slice(&full[..cut]);
                    if write_maybe_split(&mut stream, &out, split, &mut rng)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if action == Action::StallMidBody {
                        // The final head went out but not the whole body: nothing may be
                        // written behind a POST until its whole response has been read.
                        stall(&mut stream, &mut buf, connection, &shared, &mut order).await;
                    }
                    return;
                }
                Action::Reset => {
                    if rng.chance(500) {
                        let (full, _) = response(&req, &mut rng, &shared.rates, Form::Normal);
                        let cut = rng.range(0, full.len() - 1);
                        out.extend_from_slice(&full[..cut]);
                    }
                    let _ = stream.write_all(&out).await;
                    let _ = stream.set_zero_linger();
                    return;
                }
                Action::Stall => {
                    if write_maybe_split(&mut stream, &out, split, &mut rng)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    stall(&mut stream, &mut buf, connection, &shared, &mut order).await;
                    return;
                }
                Action::Malformed => {
                    out.extend_from_slice(&malformed(&req, &mut rng));
                    let _ = write_maybe_split(&mut stream, &out, split, &mut rng).await;
                    return;
                }
                Action::WrongAnswer => {
                    let other = Req {
                        id: req.id + 1,
                        method: req.method.clone(),
                    };
                    out.extend_from_slice(
                        &response(&other, &mut rng, &shared.rates, Form::Normal).0,
                    );
                }
                Action::Unanswered => {
                    shared.violation("the server picked Action::Unanswered".into());
                    return;
                }
            }
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
        if buf.is_empty() {
            order = Order::default();
        }
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => {
                if !buf.is_empty() {
                    shared.violation(format!(
                        "connection {connection}: the client closed the connection with {} \
                         bytes of an incomplete request",
                        buf.len()
                    ));
                }
                return;
            }
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// Keeps reading (and checking) requests without ever answering, until the client closes.
async fn stall(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    connection: usize,
    shared: &Shared,
    order: &mut Order,
) {
    // The stalled request itself stays unanswered.
    order.unanswered = order.unanswered.max(1);
    let mut tmp = vec![0u8; 16 * 1024];
    loop {
        loop {
            match parse_request(buf) {
                Parsed::Partial => break,
                Parsed::Invalid(m) => {
                    shared.violation(format!("connection {connection} (stalled): {m}"));
                    return;
                }
                Parsed::Complete(req, len) => {
                    buf.drain(..len);
                    order.check(shared, &req, connection);
                    let mut log = shared.log.lock().unwrap();
                    let n = log.attempts.entry(req.id).or_insert(0);
                    let attempt = *n;
                    *n += 1;
                    log.received.push(Received {
                        id: req.id,
                        method: req.method,
                        connection,
                        attempt,
                        action: Action::Unanswered,
                    });
                }
            }
        }
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

async fn write_maybe_split(
    stream: &mut TcpStream,
    bytes: &[u8],
    split: bool,
    rng: &mut Rng,
) -> std::io::Result<()> {
    if split {
        write_pieces(stream, bytes, rng).await
    } else {
        stream.write_all(bytes).await
    }
}

/// Writes `bytes` in pieces of 1 to 64 bytes, one write (one segment) each.
async fn write_pieces(stream: &mut TcpStream, bytes: &[u8], rng: &mut Rng) -> std::io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rng.range(1, 64).min(rest.len());
        stream.write_all(&rest[..n]).await?;
        stream.flush().await?;
        rest = &rest[n..];
        tokio::task::yield_now().await;
    }
    Ok(())
}

#[derive(PartialEq, Eq)]
enum Form {
    Normal,
    ConnectionClose,
    Http10,
}

/// A valid response to `req`, identified by `X-Id` and `X-Method` and the body of
/// [`expected_body`]; also returns where its (final) head ends.
fn response(req: &Req, rng: &mut Rng, rates: &FaultRates, form: Form) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let no_content = req.method == "DELETE" && rng.chance(500);
    let status = match req.method.as_str() {
        _ if no_content => "204 No Content",
        "POST" => "201 Created",
        _ => "200 OK",
    };
    if form != Form::Http10 && rng.chance(rates.interim) {
        out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let version = if form == Form::Http10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    };
    let body = if no_content {
        Vec::new()
    } else {
        expected_body(req.id, &req.method)
    };
    let mut head = format!(
        "{version} {status}\r\nX-Id: {}\r\nX-Method: {}\r\nServer: fault-trials\r\n",
        req.id, req.method
    );
    if form == Form::ConnectionClose {
        head.push_str("Connection: close\r\n");
    }
    let chunked = form != Form::Http10 && !no_content && rng.chance(rates.chunked);
    let head_end;
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        out.extend_from_slice(head.as_bytes());
        head_end = out.len();
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = rng.range(1, rest.len().min(3000));
            if rng.chance(100) {
                out.extend_from_slice(format!("{n:X};ext=\"x\"\r\n").as_bytes());
            } else {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            }
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        if rng.chance(100) {
            out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        } else {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    } else {
        if form != Form::Http10 && !no_content {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
        head_end = out.len();
        out.extend_from_slice(&body);
    }
    (out, head_end)
}

/// A response the client must reject as malformed (or as over its header limit).
fn malformed(req: &Req, rng: &mut Rng) -> Vec<u8> {
    let id = req.id;
    match rng.below(8) {
        0 => format!("HTTP/1.1 2x0 OK\r\nX-Id: {id}\r\n\r\n").into_bytes(),
        1 => b"SSH-2.0-OpenSSH_9.6\r\n\r\n".to_vec(),
        2 => format!("HTTP/1.1 200 OK\r\nX-Id: {id}\r\nContent-Length: 12abc\r\n\r\n").into_bytes(),
        3 => format!(
            "HTTP/1.1 200 OK\r\nX-Id: {id}\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello"
        )
        .into_bytes(),
        4 => format!("HTTP/1.1 200 OK\r\nX-Id: {id}\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n")
            .into_bytes(),
        5 => {
            // Over the trial client's 8 KiB head limit.
            let mut v = format!("HTTP/1.1 200 OK\r\nX-Id: {id}\r\nX-Big: ").into_bytes();
            v.extend(std::iter::repeat_n(b'a', 9000));
            v.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            v
        }
        6 => format!("HTTP/1.1 200 OK\r\nX-Id: {id}\r\nbroken header line\r\n\r\n").into_bytes(),
        _ => format!(
            "HTTP/1.1 200 OK\r\nX-Id: {id}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n"
        )
        .into_bytes(),
    }
}
