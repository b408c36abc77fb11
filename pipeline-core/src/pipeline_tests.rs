//! Unit tests of the sans-I/O pipeline: requests and response bytes in (split at every
//! offset), an explicit clock, and what comes out checked.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

use super::*;
use crate::config::Origin;
use crate::proto::testutil::for_every_split;
use crate::upload::BoxError;
use crate::{Headers, Method, StreamBody};

type Answer = oneshot::Receiver<Result<Response, Error>>;

fn config(idle: Option<Duration>, max_retries: u32) -> Arc<Config> {
    Arc::new(Config {
        origin: Origin::parse("http://example.test", "origin URL").unwrap(),
        max_connections: 1,
        pipeline_depth: 8,
        connect_timeout: Duration::from_secs(1),
        request_timeout: None,
        default_headers: Headers::new(),
        gzip: false,
        tls: None,
        proxy: None,
        max_header_bytes: 4096,
        max_headers: 32,
        max_retries,
        idle_timeout: idle,
        max_body_bytes: None,
    })
}

fn pipeline() -> Pipeline {
    Pipeline::new(config(Some(Duration::from_secs(90)), 3), 0, None)
}

/// A job as the pool would make it (`exclusive` for a request that goes alone).
fn job(method: Method, path: &str, deadline: Option<Instant>) -> (Job, Answer) {
    let (tx, rx) = oneshot::channel();
    let permit = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
    let job = Job {
        method,
        path: Arc::from(path),
        shown: Arc::from(path),
        headers: Headers::new(),
        body: if method == Method::Post {
            Bytes::from_static(b"x")
        } else {
            Bytes::new()
        },
        stream: None,
        deadline,
        tx: Some(tx),
        attempts: 0,
        bounces: 0,
        sent_before: false,
        exclusive: !method.is_idempotent(),
        max_body: None,
        _permit: permit,
    };
    (job, rx)
}

fn get(p: &mut Pipeline, path: &str) -> Answer {
    let (j, rx) = job(Method::Get, path, None);
    p.push(j);
    rx
}

/// Encodes what may be written and "writes" all of it; returns the request lines.
fn write_all(p: &mut Pipeline) -> Vec<String> {
    let mut progressed = false;
    p.poll_transmit(&mut progressed);
    let mut bytes = Vec::new();
    for b in p.transmit() {
        bytes.extend_from_slice(b);
    }
    p.on_written(bytes.len());
    String::from_utf8(bytes)
        .unwrap()
        .split("\r\n")
        .filter(|l| l.ends_with(" HTTP/1.1"))
        .map(str::to_string)
        .collect()
}

/// Feeds `pieces` one by one, stopping at the first exit.
fn feed(p: &mut Pipeline, pieces: &[&[u8]]) -> Result<(), Exit> {
    for piece in pieces {
        p.read_buffer().extend_from_slice(piece);
        let mut progressed = false;
        p.handle_input(&mut progressed)?;
    }
    Ok(())
}

/// The body of the answer, if one arrived.
fn answered(rx: &mut Answer) -> Option<Result<String, Error>> {
    let r = rx.try_recv().ok()?;
    Some(r.map(|resp| {
        let bytes = resp.bytes().now_or_never().expect("a whole body").unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }))
}

fn ok(body: &str, headers: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn responses_go_to_their_requests_in_order_at_every_split() {
    let input = format!(
        "HTTP/1.1 100 Continue\r\n\r\n{}HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
         2\r\nbb\r\n0\r\n\r\n{}",
        ok("a", ""),
        ok("c", "Keep-Alive: timeout=5, max=50\r\n")
    );
    for_every_split(input.as_bytes(), |pieces| {
        let mut p = pipeline();
        let mut rxs = [get(&mut p, "/a"), get(&mut p, "/b"), get(&mut p, "/c")];
        assert_eq!(write_all(&mut p).len(), 3, "all three pipelined");
        feed(&mut p, pieces).unwrap();
        for (rx, want) in rxs.iter_mut().zip(["a", "bb", "c"]) {
            assert_eq!(answered(rx).unwrap().unwrap(), want);
        }
        assert!(p.is_idle());
    });
}

#[test]
fn keep_alive_max_stops_the_writing_and_hands_back_the_rest() {
    let input = ok("a", "Keep-Alive: timeout=5, max=1\r\n");
    for_every_split(input.as_bytes(), |pieces| {
        let mut p = pipeline();
        let mut a = get(&mut p, "/a");
        assert_eq!(write_all(&mut p).len(), 1);
        feed(&mut p, pieces).unwrap();
        assert_eq!(answered(&mut a).unwrap().unwrap(), "a");
        let progress = p.take_progress().unwrap();
        assert_eq!(progress.limit, Some(2), "1 answered + max=1");
        assert!(progress.limit_from_header);
        // One more may be written; the other two go back to the pool unwritten.
        let _b = get(&mut p, "/b");
        let _c = get(&mut p, "/c");
        let _d = get(&mut p, "/d");
        assert_eq!(write_all(&mut p), ["GET /b HTTP/1.1"]);
        let progress = p.take_progress().unwrap();
        let back: Vec<_> = progress.handed_back.iter().map(|j| &*j.path).collect();
        assert_eq!(back, ["/c", "/d"]);
        assert!(!p.accepting());
    });
}

#[test]
fn an_announced_close_leaves_the_rest_not_processed() {
    for close in [
        ok("a", "Connection: close\r\n"),
        "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na".to_string(),
    ] {
        for_every_split(close.as_bytes(), |pieces| {
            let mut p = pipeline();
            let mut a = get(&mut p, "/a");
            let _b = get(&mut p, "/b");
            let _c = get(&mut p, "/c");
            assert_eq!(write_all(&mut p).len(), 3);
            let exit = feed(&mut p, pieces).unwrap_err();
            assert!(matches!(exit, Exit::Announced));
            assert_eq!(answered(&mut a).unwrap().unwrap(), "a");
            let progress = p.take_progress().unwrap();
            assert_eq!(progress.limit, Some(1));
            assert!(!progress.limit_from_header);
            let fates = p.finish(exit);
            assert_eq!(fates.len(), 2);
            assert!(fates.iter().all(|(_, f)| matches!(f, Fate::NotProcessed)));
        });
    }
}

#[test]
fn an_unannounced_close_leaves_written_requests_unanswered_and_the_rest_unwritten() {
    let mut p = Pipeline::new(config(None, 3), 0, None);
    let (post, _rx) = job(Method::Post, "/p", None);
    let _a = get(&mut p, "/a");
    p.push(post);
    assert_eq!(write_all(&mut p), ["GET /a HTTP/1.1"]);
    let exit = p.on_eof().unwrap_err();
    let fates = p.finish(exit);
    assert!(matches!(fates[0].1, Fate::Unanswered(_)));
    assert!(matches!(fates[1].1, Fate::Unwritten { fresh: true, .. }));
}

#[test]
fn a_cut_body_is_the_failure_of_its_own_request_and_can_be_re_sent() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    for_every_split(input, |pieces| {
        let mut p = pipeline();
        let mut a = get(&mut p, "/a");
        let _b = get(&mut p, "/b");
        write_all(&mut p);
        feed(&mut p, pieces).unwrap();
        // Held back: the body is not complete.
        assert!(answered(&mut a).is_none());
        let exit = p.on_eof().unwrap_err();
        let fates = p.finish(exit);
        assert!(matches!(
            fates[0].1,
            Fate::Failed {
                resend: true,
                written: true,
                ..
            }
        ));
        assert!(matches!(fates[1].1, Fate::Unanswered(_)));
    });
}

#[test]
fn a_malformed_response_fails_the_front_request_only() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n";
    for_every_split(input, |pieces| {
        let mut p = pipeline();
        let _a = get(&mut p, "/a");
        let _b = get(&mut p, "/b");
        write_all(&mut p);
        let exit = feed(&mut p, pieces).unwrap_err();
        let fates = p.finish(exit);
        assert!(matches!(&fates[0].1, Fate::Failed { err, resend: true, .. }
            if err.kind() == ErrorKind::Malformed));
        assert!(matches!(fates[1].1, Fate::Unanswered(_)));
    });
}

#[test]
fn a_timeout_fails_its_request_and_leaves_its_neighbours_to_the_policy() {
    let t0 = Instant::now();
    let mut p = pipeline();
    let _a = get(&mut p, "/a");
    let (slow, _rx) = job(Method::Get, "/slow", Some(t0 + Duration::from_secs(1)));
    p.push(slow);
    let _c = get(&mut p, "/c");
    write_all(&mut p);
    assert_eq!(p.next_timeout(t0), Some(t0 + Duration::from_secs(1)));
    assert!(p.handle_timeout(t0 + Duration::from_millis(999)).is_ok());
    let exit = p.handle_timeout(t0 + Duration::from_secs(1)).unwrap_err();
    let fates = p.finish(exit);
    assert!(matches!(fates[0].1, Fate::Unanswered(_)));
    assert!(
        matches!(&fates[1].1, Fate::Failed { err, resend: false, .. }
        if err.kind() == ErrorKind::Timeout)
    );
    assert!(matches!(fates[2].1, Fate::Unanswered(_)));
}

#[test]
fn nothing_is_written_behind_a_post_until_its_whole_response_is_read() {
    let head = b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nab".to_vec();
    for_every_split(&head, |pieces| {
        let mut p = pipeline();
        let (post, mut post_rx) = job(Method::Post, "/p", None);
        p.push(post);
        let mut g = get(&mut p, "/g");
        assert_eq!(write_all(&mut p), ["POST /p HTTP/1.1"]);
        feed(&mut p, pieces).unwrap();
        assert!(write_all(&mut p).is_empty(), "written behind the POST");
        feed(&mut p, &[b"cd"]).unwrap();
        assert_eq!(answered(&mut post_rx).unwrap().unwrap(), "abcd");
        assert_eq!(write_all(&mut p), ["GET /g HTTP/1.1"]);
        feed(&mut p, &[ok("g", "").as_bytes()]).unwrap();
        assert_eq!(answered(&mut g).unwrap().unwrap(), "g");
    });
}

#[test]
fn an_idle_connection_closes_a_margin_before_the_servers_keep_alive_timeout() {
    let t0 = Instant::now();
    let mut p = pipeline();
    let _a = get(&mut p, "/a");
    write_all(&mut p);
    feed(
        &mut p,
        &[ok("a", "Keep-Alive: timeout=5, max=99\r\n").as_bytes()],
    )
    .unwrap();
    let at = p.next_timeout(t0).unwrap();
    assert_eq!(at, t0 + Duration::from_secs(4));
    assert!(p.handle_timeout(t0 + Duration::from_millis(3999)).is_ok());
    assert!(matches!(
        p.handle_timeout(t0 + Duration::from_secs(4)),
        Err(Exit::Clean)
    ));
    // Without the header: the configured idle timeout.
    let mut p = pipeline();
    let _a = get(&mut p, "/a");
    write_all(&mut p);
    feed(&mut p, &[ok("a", "").as_bytes()]).unwrap();
    assert_eq!(p.next_timeout(t0), Some(t0 + Duration::from_secs(90)));
    // No idle timeout configured, and none announced: none at all.
    let mut p = Pipeline::new(config(None, 3), 0, None);
    assert_eq!(p.next_timeout(t0), None);
}

#[test]
fn the_margin_before_the_servers_timeout() {
    assert_eq!(
        before_server_timeout(Duration::from_secs(5)),
        Duration::from_secs(4)
    );
    assert_eq!(
        before_server_timeout(Duration::from_secs(60)),
        Duration::from_secs(48)
    );
    assert_eq!(
        before_server_timeout(Duration::from_secs(1)),
        Duration::from_millis(500)
    );
}

#[test]
fn a_known_budget_is_honoured_from_the_first_request() {
    let mut p = Pipeline::new(config(None, 3), 0, Some(2));
    let _rxs: Vec<_> = (0..4).map(|i| get(&mut p, &format!("/r{i}"))).collect();
    assert_eq!(write_all(&mut p).len(), 2);
    assert_eq!(p.take_progress().unwrap().handed_back.len(), 2);
}

#[test]
fn a_response_with_nothing_outstanding_is_an_error() {
    let mut p = pipeline();
    let exit = feed(&mut p, &[ok("x", "").as_bytes()]).unwrap_err();
    assert!(matches!(&exit, Exit::Unannounced(e) if e.kind() == ErrorKind::Malformed));
}

#[test]
fn a_timeout_behind_a_streaming_response_lets_that_response_finish() {
    let t0 = Instant::now();
    let big = "x".repeat(HOLD_BODY_LIMIT + 10);
    let mut p = pipeline();
    let mut a = get(&mut p, "/a");
    let (slow, _rx) = job(Method::Get, "/slow", Some(t0 + Duration::from_secs(1)));
    p.push(slow);
    let _c = get(&mut p, "/c");
    write_all(&mut p);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
        big.len() + 5
    );
    feed(&mut p, &[head.as_bytes(), big.as_bytes()]).unwrap();
    // Handed over as a stream.
    let mut body = a.try_recv().unwrap().unwrap().into_body();
    assert!(p.handle_timeout(t0 + Duration::from_secs(1)).is_ok());
    assert!(write_all(&mut p).is_empty());
    // The caller reads what came; the rest of the body arrives, then the connection ends.
    let mut all = Vec::new();
    while let Some(Ok(Some(chunk))) = body.chunk().now_or_never() {
        all.extend_from_slice(&chunk);
    }
    let exit = feed(&mut p, &[b"tail!"]).unwrap_err();
    while let Some(chunk) = body.chunk().now_or_never().unwrap().unwrap() {
        all.extend_from_slice(&chunk);
    }
    assert_eq!(all.len(), big.len() + 5);
    let fates = p.finish(exit);
    assert!(
        matches!(&fates[0].1, Fate::Failed { err, resend: false, .. }
        if err.kind() == ErrorKind::Timeout)
    );
    assert!(matches!(fates[1].1, Fate::Unanswered(_)));
}

/// A body source the test feeds by hand: it is pending while nothing is fed.
type Item = Option<Result<Bytes, BoxError>>;

/// What the test fed and not yet taken, and how many items were taken.
#[derive(Clone, Default)]
struct Feeder(Arc<Mutex<(VecDeque<Item>, usize)>>);

impl Feeder {
    fn chunk(&self, b: &'static [u8]) {
        self.0
            .lock()
            .unwrap()
            .0
            .push_back(Some(Ok(Bytes::from_static(b))));
    }
    fn fail(&self, why: &str) {
        self.0.lock().unwrap().0.push_back(Some(Err(why.into())));
    }
    fn end(&self) {
        self.0.lock().unwrap().0.push_back(None);
    }
    /// How many items the pipeline took.
    fn pulled(&self) -> usize {
        self.0.lock().unwrap().1
    }
}

impl futures_core::Stream for Feeder {
    type Item = Result<Bytes, BoxError>;
    fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut st = self.0.lock().unwrap();
        match st.0.pop_front() {
            Some(item) => {
                st.1 += 1;
                Poll::Ready(item)
            }
            None => Poll::Pending,
        }
    }
}

/// A streamed request as the pool would make it (it goes alone).
fn streamed(p: &mut Pipeline, method: Method, len: Option<u64>) -> (Answer, Feeder) {
    let (mut j, rx) = job(method, "/up", None);
    let feeder = Feeder::default();
    j.stream = Some(StreamBody::new(len, feeder.clone()));
    j.exclusive = true;
    p.push(j);
    (rx, feeder)
}

/// One pass of the socket loop's writing side with a socket that takes everything:
/// encodes, pulls body chunks, "writes"; returns the bytes written.
fn pump(p: &mut Pipeline) -> Result<Vec<u8>, Exit> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut written = Vec::new();
    loop {
        let mut progressed = false;
        p.poll_transmit(&mut progressed);
        p.poll_request_body(&mut cx, &mut progressed)?;
        let mut n = 0;
        for b in p.transmit() {
            written.extend_from_slice(b);
            n += b.len();
        }
        p.on_written(n);
        if !progressed && n == 0 {
            return Ok(written);
        }
    }
}

fn head_and_body(bytes: &[u8]) -> (String, Vec<u8>) {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    (
        String::from_utf8(bytes[..end].to_vec()).unwrap(),
        bytes[end..].to_vec(),
    )
}

#[test]
fn a_streamed_body_of_known_length_is_written_as_it_comes_one_chunk_at_a_time() {
    let mut p = pipeline();
    let (mut rx, feeder) = streamed(&mut p, Method::Put, Some(7));
    let _behind = get(&mut p, "/behind");
    let (head, body) = head_and_body(&pump(&mut p).unwrap());
    assert!(head.starts_with("PUT /up HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("Content-Length: 7\r\n"), "{head}");
    assert!(!head.contains("Transfer-Encoding"), "{head}");
    assert!(body.is_empty());
    // A chunk is pulled only once the socket took the one before.
    feeder.chunk(b"abc");
    feeder.chunk(b"");
    feeder.chunk(b"defg");
    let mut cx = Context::from_waker(Waker::noop());
    let mut progressed = false;
    p.poll_request_body(&mut cx, &mut progressed).unwrap();
    assert_eq!(
        feeder.pulled(),
        1,
        "pulled before the socket took the first chunk"
    );
    assert_eq!(p.transmit().iter().map(Bytes::len).sum::<usize>(), 3);
    p.on_written(3);
    feeder.end();
    assert_eq!(pump(&mut p).unwrap(), b"defg");
    assert_eq!(feeder.pulled(), 4);
    // Nothing behind it until its whole response is read.
    let response = ok("done", "");
    let (last, first) = response.as_bytes().split_at(response.len() - 2);
    feed(&mut p, &[last]).unwrap();
    assert!(
        pump(&mut p).unwrap().is_empty(),
        "written behind a streamed body"
    );
    feed(&mut p, &[first]).unwrap();
    assert_eq!(answered(&mut rx).unwrap().unwrap(), "done");
    let (head, _) = head_and_body(&pump(&mut p).unwrap());
    assert!(head.starts_with("GET /behind HTTP/1.1\r\n"), "{head}");
}

#[test]
fn a_streamed_body_of_unknown_length_is_sent_chunked() {
    let mut p = pipeline();
    let (_rx, feeder) = streamed(&mut p, Method::Put, None);
    feeder.chunk(b"hello ");
    feeder.chunk(&[b'x'; 300]);
    feeder.end();
    let (head, body) = head_and_body(&pump(&mut p).unwrap());
    assert!(head.contains("Transfer-Encoding: chunked\r\n"), "{head}");
    assert!(!head.contains("Content-Length"), "{head}");
    let mut want = b"6\r\nhello \r\n12c\r\n".to_vec();
    want.extend_from_slice(&[b'x'; 300]);
    want.extend_from_slice(b"\r\n0\r\n\r\n");
    assert_eq!(body, want);
}

#[test]
fn a_final_response_before_the_end_of_the_body_stops_the_writing_and_closes() {
    let input = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 413 Payload Too Large\r\nContent-Length: 3\r\n\r\nbig";
    for_every_split(input.as_bytes(), |pieces| {
        let mut p = pipeline();
        let (mut rx, feeder) = streamed(&mut p, Method::Put, Some(1000));
        let _behind = get(&mut p, "/behind");
        feeder.chunk(b"part");
        pump(&mut p).unwrap();
        let mut exit = None;
        for piece in pieces {
            if let Err(e) = feed(&mut p, &[piece]) {
                exit = Some(e);
                break;
            }
        }
        feeder.chunk(b"more");
        assert!(
            pump(&mut p).unwrap().is_empty(),
            "the body went on after the response"
        );
        assert_eq!(feeder.pulled(), 1);
        let r = rx.try_recv().unwrap().unwrap();
        assert_eq!(r.status(), 413);
        let exit = exit.expect("the connection closes after that response");
        assert!(matches!(exit, Exit::Clean), "{exit:?}");
        // The request behind it was never written: it goes elsewhere.
        let fates = p.finish(exit);
        assert_eq!(fates.len(), 1);
        assert!(matches!(fates[0].1, Fate::Unwritten { .. }));
    });
}

#[test]
fn a_body_source_that_fails_or_miscounts_fails_its_request_and_closes() {
    type Script = fn(&Feeder);
    let cases: [(Option<u64>, Script, &str); 3] = [
        (
            Some(3),
            |f| f.fail("disk on fire"),
            "the request body source failed",
        ),
        (
            Some(3),
            |f| f.chunk(b"abcd"),
            "produced more than the 3 bytes",
        ),
        (
            Some(3),
            |f| {
                f.chunk(b"ab");
                f.end()
            },
            "ended after 2 of the 3 bytes",
        ),
    ];
    for (len, script, want) in cases {
        let mut p = pipeline();
        let (_rx, feeder) = streamed(&mut p, Method::Put, len);
        pump(&mut p).unwrap();
        script(&feeder);
        let exit = pump(&mut p).unwrap_err();
        let fates = p.finish(exit);
        let Fate::Failed {
            err,
            resend: false,
            written: true,
        } = &fates[0].1
        else {
            panic!("{:?}", fates[0].1);
        };
        assert_eq!(err.kind(), ErrorKind::RequestBody);
        assert!(
            format!("{err}").contains(want),
            "{err} does not contain {want}"
        );
    }
}

#[test]
fn a_one_shot_body_already_taken_by_a_clone_fails_without_being_written() {
    let mut p = pipeline();
    let feeder = Feeder::default();
    let body = StreamBody::new(None, feeder);
    assert!(body.clone().start().is_some());
    let (mut j, mut rx) = job(Method::Put, "/up", None);
    j.stream = Some(body);
    j.exclusive = true;
    p.push(j);
    let _g = get(&mut p, "/g");
    let (head, _) = head_and_body(&pump(&mut p).unwrap());
    assert!(head.starts_with("GET /g "), "{head}");
    let e = answered(&mut rx).unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert!(!e.may_have_been_processed());
}

#[test]
fn a_tls_record_on_a_plain_connection_fails_every_request_as_not_processed() {
    // A TLS alert record (protocol version), as a TLS server sends to plain text.
    let alert: &[u8] = b"\x15\x03\x03\x00\x02\x02\x46";
    for_every_split(alert, |pieces| {
        let mut p = pipeline();
        let _a = get(&mut p, "/a");
        let _b = get(&mut p, "/b");
        write_all(&mut p);
        let exit = feed(&mut p, pieces).unwrap_err();
        let fates = p.finish(exit);
        assert_eq!(fates.len(), 2);
        for (_, fate) in &fates {
            let Fate::Failed {
                err,
                resend: false,
                written: false,
            } = fate
            else {
                panic!("{fate:?}");
            };
            assert_eq!(err.kind(), ErrorKind::ServerSpeaksTls);
            assert!(err.to_string().contains("use https://"), "{err}");
        }
    });
    // A handshake record too; but not after a first HTTP response.
    let mut p = pipeline();
    let _a = get(&mut p, "/a");
    write_all(&mut p);
    assert!(matches!(
        feed(&mut p, &[b"\x16\x03\x01\x00"]),
        Err(Exit::NotHttp(_))
    ));
    let mut p = pipeline();
    let _a = get(&mut p, "/a");
    let _b = get(&mut p, "/b");
    write_all(&mut p);
    feed(&mut p, &[ok("a", "").as_bytes()]).unwrap();
    let exit = feed(&mut p, &[b"\x15\x03\x03\x00\x02\x02\x46"]).unwrap_err();
    assert!(
        matches!(&exit, Exit::Culprit { err, .. } if err.kind() == ErrorKind::Malformed),
        "{exit:?}"
    );
}

#[test]
fn a_streamed_request_dropped_during_its_body_closes_the_connection() {
    let mut p = pipeline();
    let (rx, feeder) = streamed(&mut p, Method::Put, None);
    let _behind = get(&mut p, "/behind");
    feeder.chunk(b"part");
    pump(&mut p).unwrap();
    assert_eq!(feeder.pulled(), 1);
    drop(rx);
    feeder.chunk(b"more");
    let exit = pump(&mut p).unwrap_err();
    assert_eq!(feeder.pulled(), 1, "pulled after the request was dropped");
    let fates = p.finish(exit);
    // The dropped one is gone; the one behind it was never written.
    assert_eq!(fates.len(), 1);
    assert!(matches!(fates[0].1, Fate::Unwritten { .. }));
}
