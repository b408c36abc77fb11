//! Unit tests of the sans-I/O pipeline: requests and response bytes in (split at every
//! offset), an explicit clock, and what comes out checked.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Instant;

use super::*;
use crate::config::Origin;
use crate::proto::testutil::for_every_split;
use crate::{Headers, Method};

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
        headers: Headers::new(),
        body: if method == Method::Post {
            Bytes::from_static(b"x")
        } else {
            Bytes::new()
        },
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
