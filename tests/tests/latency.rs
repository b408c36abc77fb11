//! The latency emulator passes bytes through unchanged, propagates end of stream and
//! resets, and never delivers an answer before the round-trip time has passed.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ovirt_tests::latency::LatencyProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Guards against a hang only; no test asserts how fast anything is.
async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within 60 s"))
}

/// Deterministic pseudo-random bytes (xorshift), different for each seed.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Sends `to_server` from a client and `to_client` from the server at the same time,
/// both through a proxy with the given RTT; each side reads until EOF. Returns what
/// (client received, server received).
async fn exchange(rtt: Duration, to_server: Vec<u8>, to_client: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, rtt).await.unwrap();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let writer = async move {
            write.write_all(&to_client).await.unwrap();
            write.shutdown().await.unwrap();
        };
        let reader = async move {
            let mut got = Vec::new();
            read.read_to_end(&mut got).await.unwrap();
            got
        };
        tokio::join!(writer, reader).1
    });
    let client = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut read, mut write) = client.into_split();
    let writer = async move {
        write.write_all(&to_server).await.unwrap();
        write.shutdown().await.unwrap();
    };
    let reader = async move {
        let mut got = Vec::new();
        read.read_to_end(&mut got).await.unwrap();
        got
    };
    let client_got = bounded("the exchange", async { tokio::join!(writer, reader).1 }).await;
    let server_got = bounded("the server", server).await.unwrap();
    (client_got, server_got)
}

#[tokio::test]
async fn large_random_payloads_pass_through_unchanged_both_ways_with_latency() {
    let up = random_bytes(3 * 1024 * 1024 + 17, 1);
    let down = random_bytes(5 * 1024 * 1024 + 3, 2);
    let (client_got, server_got) =
        exchange(Duration::from_millis(4), up.clone(), down.clone()).await;
    assert!(
        server_got == up,
        "upstream bytes changed ({} of {} bytes)",
        server_got.len(),
        up.len()
    );
    assert!(
        client_got == down,
        "downstream bytes changed ({} of {} bytes)",
        client_got.len(),
        down.len()
    );
}

#[tokio::test]
async fn large_random_payloads_pass_through_unchanged_both_ways_at_rtt_zero() {
    let up = random_bytes(4 * 1024 * 1024 + 1, 3);
    let down = random_bytes(2 * 1024 * 1024 + 5, 4);
    let (client_got, server_got) = exchange(Duration::ZERO, up.clone(), down.clone()).await;
    assert!(
        server_got == up,
        "upstream bytes changed ({} of {} bytes)",
        server_got.len(),
        up.len()
    );
    assert!(
        client_got == down,
        "downstream bytes changed ({} of {} bytes)",
        client_got.len(),
        down.len()
    );
}

#[tokio::test]
async fn many_small_writes_arrive_in_order() {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.set_nodelay(true).unwrap();
    let mut sent = Vec::new();
    for i in 0..2000u32 {
        let piece = format!("{i};");
        client.write_all(piece.as_bytes()).await.unwrap();
        sent.extend_from_slice(piece.as_bytes());
    }
    client.shutdown().await.unwrap();
    let got = bounded("the server", server).await.unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(sent).unwrap()
    );
}

#[tokio::test]
async fn eof_propagates_as_a_half_close_so_the_other_side_can_still_answer() {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        // Ends only if the client's EOF came through.
        stream.read_to_end(&mut got).await.unwrap();
        stream.write_all(b"got ").await.unwrap();
        stream.write_all(&got).await.unwrap();
        stream.shutdown().await.unwrap();
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(b"question").await.unwrap();
    client.shutdown().await.unwrap();
    let mut answer = Vec::new();
    bounded("reading the answer", client.read_to_end(&mut answer))
        .await
        .unwrap();
    assert_eq!(answer, b"got question");
    bounded("the server", server).await.unwrap();
}

#[tokio::test]
async fn server_close_reaches_the_client_as_eof() {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"bye").await.unwrap();
        // Dropping the stream closes it.
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut got = Vec::new();
    bounded("reading until EOF", client.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"bye");
}

#[tokio::test]
async fn client_reset_closes_the_upstream_connection() {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        // Ends (with EOF or an error) only if the reset was passed on as a close.
        let _ = stream.read_to_end(&mut got).await;
        got
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(b"partial").await.unwrap();
    // A zero linger time makes closing the socket send a reset instead of a FIN.
    #[allow(deprecated)] // blocking on drop is no concern with a zero linger time
    client.set_linger(Some(Duration::ZERO)).unwrap();
    drop(client);
    let got = bounded("the upstream side's read", server).await.unwrap();
    assert!(got.len() <= b"partial".len());
}

#[tokio::test]
async fn refused_upstream_closes_the_client_connection() {
    let (listener, upstream) = listener().await;
    drop(listener);
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut got = Vec::new();
    let result = bounded("reading from the proxy", client.read_to_end(&mut got)).await;
    assert!(result.is_err() || got.is_empty(), "got {got:?}");
}

#[tokio::test]
async fn an_answer_never_arrives_before_one_round_trip() {
    let rtt = Duration::from_millis(40);
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, rtt).await.unwrap();
    assert_eq!(proxy.one_way_delay(), Duration::from_millis(20));
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut byte = [0u8; 1];
        // Answer each byte at once, for as long as the client talks.
        while stream.read_exact(&mut byte).await.is_ok() {
            if stream.write_all(&byte).await.is_err() {
                break;
            }
        }
    });
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.set_nodelay(true).unwrap();
    for round in 0..3u8 {
        let start = Instant::now();
        client.write_all(&[round]).await.unwrap();
        let mut answer = [0u8; 1];
        bounded("the answer", client.read_exact(&mut answer))
            .await
            .unwrap();
        let elapsed = start.elapsed();
        assert_eq!(answer, [round]);
        // A lower bound is a correctness property of the emulator: no answer may
        // overtake the emulated wire.
        assert!(
            elapsed >= rtt,
            "round {round} answered after {elapsed:?}, before the RTT {rtt:?}"
        );
    }
    assert_eq!(proxy.connections_accepted(), 1);
}

#[tokio::test]
async fn dropping_the_proxy_closes_the_connections_it_carries() {
    let (listener, upstream) = listener().await;
    let proxy = LatencyProxy::start(upstream, Duration::from_millis(2))
        .await
        .unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let (mut server_side, _) = bounded("accepting", listener.accept()).await.unwrap();
    // The connection works before the drop.
    client.write_all(b"x").await.unwrap();
    let mut byte = [0u8; 1];
    bounded("the first byte", server_side.read_exact(&mut byte))
        .await
        .unwrap();
    drop(proxy);
    let mut rest = Vec::new();
    // Both ends see the connection end (EOF or a reset), none of them hangs.
    let _ = bounded("the client's read", client.read_to_end(&mut rest)).await;
    let _ = bounded("the server's read", server_side.read_to_end(&mut rest)).await;
    assert!(
        rest.is_empty(),
        "no bytes may appear after the drop: {rest:?}"
    );
}

#[tokio::test]
async fn an_http_request_through_the_emulator_is_not_answered_before_one_round_trip() {
    let rtt = Duration::from_millis(30);
    let (server_addr, _server) = ovirt_tests::server::ItemServer::start(1024).await.unwrap();
    let proxy = LatencyProxy::start(server_addr, rtt).await.unwrap();
    let client = reqwest::Client::new();
    for n in 0..3u64 {
        let start = Instant::now();
        let response = bounded(
            "the GET",
            client
                .get(format!("http://{}/items/{n}", proxy.addr()))
                .send(),
        )
        .await
        .unwrap();
        let body = bounded("the body", response.bytes()).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(body, ovirt_tests::server::item_body(n, 1024));
        assert!(
            elapsed >= rtt,
            "GET {n} answered after {elapsed:?}, before the RTT {rtt:?}"
        );
    }
}
