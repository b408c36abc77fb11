//! The engine's imageio service over real sockets: the phases of image transfers, the
//! imageio HTTP protocol (OPTIONS, PUT, GET, PATCH, extents), its errors, ticket expiry
//! and faults. The client is hyper's, independent of the SDK.

mod common;

use bytes::Bytes;
use common::{connect, connect_to, Conn, Reply};
use ovirt::types::{self, DiskStatus, ImageTransferPhase as Phase};
use ovirt_test_engine::{ImageioFault, ImageioOp, ImageioOptions, Pace, TestEngine, TransferUrl};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: u64 = 1 << 20;
const KIB64: u64 = 64 * 1024;

/// Bytes that are never all zero and differ with the seed.
fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + u64::from(seed) * 7) % 251) as u8 + 1)
        .collect()
}

struct Api {
    c: Conn,
    token: String,
}

impl Api {
    async fn new(e: &TestEngine) -> Api {
        let mut c = connect(e, "127.0.0.1").await;
        let token = c.login().await;
        Api { c, token }
    }

    async fn call(&mut self, method: &str, rel: &str, body: &str) -> Reply {
        self.c.api(method, &self.token, rel, body).await
    }

    async fn add_disk(&mut self, size: u64, format: &str, extra: &str) -> String {
        let body = format!(
            "<disk><name>upload</name><format>{format}</format>\
             <provisioned_size>{size}</provisioned_size>{extra}\
             <storage_domains><storage_domain><name>data</name></storage_domain></storage_domains></disk>"
        );
        let r = self.call("POST", "disks", &body).await;
        assert_eq!(r.status, 201, "{}", r.text());
        let disk: types::Disk = ovirt::xml::from_str(&r.text()).unwrap();
        assert_eq!(disk.status, Some(DiskStatus::Locked));
        disk.id.unwrap()
    }

    async fn disk(&mut self, id: &str) -> Option<types::Disk> {
        let r = self.call("GET", &format!("disks/{id}"), "").await;
        (r.status == 200).then(|| ovirt::xml::from_str(&r.text()).unwrap())
    }

    async fn add_transfer(
        &mut self,
        disk: &str,
        direction: &str,
        extra: &str,
    ) -> types::ImageTransfer {
        let body = format!(
            "<image_transfer><disk id=\"{disk}\"/><direction>{direction}</direction>{extra}</image_transfer>"
        );
        let r = self.call("POST", "imagetransfers", &body).await;
        assert_eq!(r.status, 201, "{}", r.text());
        ovirt::xml::from_str(&r.text()).unwrap()
    }

    async fn transfer(&mut self, id: &str) -> types::ImageTransfer {
        let r = self.call("GET", &format!("imagetransfers/{id}"), "").await;
        assert_eq!(r.status, 200, "{}", r.text());
        ovirt::xml::from_str(&r.text()).unwrap()
    }

    async fn action(&mut self, id: &str, name: &str) -> Reply {
        self.call("POST", &format!("imagetransfers/{id}/{name}"), "<action/>")
            .await
    }
}

/// A transfer in phase `transferring` (engine at `Pace::Instant`): (transfer id, disk
/// id, the transfer).
async fn ready(
    api: &mut Api,
    size: u64,
    direction: &str,
    extra: &str,
) -> (String, String, types::ImageTransfer) {
    let disk = api.add_disk(size, "raw", "").await;
    assert_eq!(api.disk(&disk).await.unwrap().status, Some(DiskStatus::Ok));
    let t = api.add_transfer(&disk, direction, extra).await;
    assert_eq!(t.phase, Some(Phase::Initializing));
    let id = t.id.clone().unwrap();
    let t = api.transfer(&id).await;
    assert_eq!(t.phase, Some(Phase::Transferring));
    (id, disk, t)
}

/// `https://127.0.0.1:PORT/images/TICKET` -> (address, path).
fn split(url: &str) -> (SocketAddr, String) {
    let rest = url.split_once("://").unwrap().1;
    let (authority, path) = rest.split_once('/').unwrap();
    (authority.parse().unwrap(), format!("/{path}"))
}

/// A connection to an imageio listener, for one ticket's URL.
struct Image {
    c: Conn,
    path: String,
}

async fn open(e: &TestEngine, url: &str) -> Image {
    let (addr, path) = split(url);
    Image {
        c: connect_to(addr, e.ca_pem(), "127.0.0.1").await,
        path,
    }
}

impl Image {
    async fn try_req(
        &mut self,
        method: &str,
        suffix: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Reply, hyper::Error> {
        let target = format!("{}{suffix}", self.path);
        self.c.try_send(method, &target, headers, body.into()).await
    }

    async fn req(
        &mut self,
        method: &str,
        suffix: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        self.try_req(method, suffix, headers, body).await.unwrap()
    }

    async fn options(&mut self) -> Reply {
        self.req("OPTIONS", "", &[], Bytes::new()).await
    }

    async fn put(&mut self, offset: u64, data: &[u8]) -> Reply {
        let range = format!("bytes {offset}-{}/*", offset + data.len() as u64 - 1);
        self.req(
            "PUT",
            "?flush=n",
            &[("content-range", &range)],
            Bytes::copy_from_slice(data),
        )
        .await
    }

    async fn get(&mut self, first: u64, last: u64) -> Reply {
        let range = format!("bytes={first}-{last}");
        self.req("GET", "", &[("range", &range)], Bytes::new())
            .await
    }

    async fn patch(&mut self, json: &str) -> Reply {
        self.req(
            "PATCH",
            "",
            &[("content-type", "application/json")],
            json.to_string(),
        )
        .await
    }

    async fn extents(&mut self, query: &str) -> Reply {
        self.req("GET", &format!("/extents{query}"), &[], Bytes::new())
            .await
    }
}

fn json(r: &Reply) -> serde_json::Value {
    assert_eq!(r.header("content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap()
}

/// Extents as (start, length, zero), checking that `hole` is false.
fn extents(r: &Reply) -> Vec<(u64, u64, bool)> {
    assert_eq!(r.status, 200, "{}", r.text());
    json(r)
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            assert_eq!(x["hole"], false);
            (
                x["start"].as_u64().unwrap(),
                x["length"].as_u64().unwrap(),
                x["zero"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn tls_engine() -> TestEngine {
    TestEngine::builder().tls(true).start().await.unwrap()
}

#[tokio::test]
async fn an_upload_goes_through_its_phases_and_unlocks_its_disk() {
    let e = TestEngine::builder()
        .tls(true)
        .pace(Pace::Manual)
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let disk = api.add_disk(8 * MIB, "raw", "").await;
    e.advance(1);
    assert_eq!(api.disk(&disk).await.unwrap().status, Some(DiskStatus::Ok));

    let t = api
        .add_transfer(
            &disk,
            "upload",
            "<format>raw</format><inactivity_timeout>120</inactivity_timeout>",
        )
        .await;
    let id = t.id.clone().unwrap();
    assert_eq!(t.phase, Some(Phase::Initializing));
    assert_eq!(t.direction, Some(types::ImageTransferDirection::Upload));
    assert_eq!(t.inactivity_timeout, Some(120));
    assert!(t.transfer_url.is_none() && t.proxy_url.is_none());
    assert_eq!(
        api.disk(&disk).await.unwrap().status,
        Some(DiskStatus::Locked)
    );
    // A locked disk can be neither transferred again nor removed.
    let r = api
        .call(
            "POST",
            "imagetransfers",
            &format!("<image_transfer><disk id=\"{disk}\"/></image_transfer>"),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.text().contains("locked"));
    assert_eq!(
        api.call("DELETE", &format!("disks/{disk}"), "")
            .await
            .status,
        409
    );

    e.advance(1);
    let t = api.transfer(&id).await;
    assert_eq!(t.phase, Some(Phase::Transferring));
    assert_eq!(t.active, Some(true));
    assert!(t.host.is_some());
    let url = t.transfer_url.unwrap();
    let proxy = t.proxy_url.unwrap();
    assert!(
        url.starts_with(&format!("https://{}/images/", e.imageio_addr())),
        "{url}"
    );
    assert!(
        proxy.starts_with(&format!("https://{}/images/", e.imageio_proxy_addr())),
        "{proxy}"
    );
    assert_eq!(url.rsplit('/').next(), proxy.rsplit('/').next());

    let mut img = open(&e, &url).await;
    let data = pattern(3 * MIB, 1);
    assert_eq!(img.put(MIB, &data).await.status, 200);
    assert_eq!(img.patch(r#"{"op": "flush"}"#).await.status, 200);

    let r = api.action(&id, "finalize").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("<status>complete</status>"));
    let t = api.transfer(&id).await;
    assert_eq!(t.phase, Some(Phase::FinalizingSuccess));
    assert_eq!(t.transferred, Some(3 * MIB as i64));
    // The ticket is closed once finalizing.
    let mut late = open(&e, &url).await;
    assert_eq!(late.options().await.status, 403);
    assert_eq!(
        api.disk(&disk).await.unwrap().status,
        Some(DiskStatus::Locked)
    );

    e.advance(1);
    let t = api.transfer(&id).await;
    assert_eq!(t.phase, Some(Phase::FinishedSuccess));
    let d = api.disk(&disk).await.unwrap();
    assert_eq!(d.status, Some(DiskStatus::Ok));
    assert_eq!(d.actual_size, Some(3 * MIB as i64));
    assert_eq!(e.read_disk(&disk, MIB, data.len()), data);
    assert_eq!(e.read_disk(&disk, 0, 10), vec![0; 10]);
    // A finished transfer cannot be finalized again.
    assert_eq!(api.action(&id, "finalize").await.status, 409);
}

#[tokio::test]
async fn options_report_features_and_connection_limits() {
    let e = TestEngine::builder()
        .tls(true)
        .imageio(ImageioOptions::default().max_readers(6).max_writers(4))
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let (_, _, t) = ready(&mut api, 4 * MIB, "upload", "").await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    let r = img.options().await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("allow"), Some("OPTIONS,GET,PUT,PATCH"));
    let v = json(&r);
    assert_eq!(
        v["features"],
        serde_json::json!(["extents", "zero", "flush"])
    );
    assert_eq!(
        (v["max_readers"].as_u64(), v["max_writers"].as_u64()),
        (Some(6), Some(4))
    );

    // A download's ticket reads only.
    let (_, _, t) = ready(&mut api, 4 * MIB, "download", "").await;
    let mut img = open(&e, t.proxy_url.as_deref().unwrap()).await;
    let r = img.options().await;
    assert_eq!(r.header("allow"), Some("OPTIONS,GET"));
    assert_eq!(json(&r)["features"], serde_json::json!(["extents"]));

    // The special ticket `*` lists what the server can do.
    let mut any = Image {
        c: connect_to(e.imageio_addr(), e.ca_pem(), "127.0.0.1").await,
        path: "/images/*".to_string(),
    };
    let v = json(&any.options().await);
    assert_eq!(
        v["features"],
        serde_json::json!(["extents", "zero", "flush"])
    );
    assert!(v.get("max_writers").is_none());

    // A qcow2 (cow) upload is written by one writer, up to the disk's initial size.
    let disk = api
        .add_disk(8 * MIB, "cow", "<initial_size>1048576</initial_size>")
        .await;
    api.disk(&disk).await;
    let t = api
        .add_transfer(&disk, "upload", "<format>cow</format>")
        .await;
    let t = api.transfer(t.id.as_deref().unwrap()).await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    assert_eq!(json(&img.options().await)["max_writers"], 1);
    assert_eq!(img.put(MIB - 10, &[1; 10]).await.status, 200);
    assert_eq!(img.put(MIB - 10, &[1; 11]).await.status, 416);
}

#[tokio::test]
async fn put_and_get_ranges_read_back_byte_for_byte() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let size = 4 * MIB + 100;
    let (_, disk, t) = ready(&mut api, size, "upload", "").await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;

    // The whole image in one PUT without Content-Range (flushed: flush=y by default).
    let mut expected = pattern(size, 7);
    let r = img.req("PUT", "", &[], expected.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Pieces at odd offsets.
    for (offset, len, seed) in [(123_457u64, 70_001u64, 9u8), (size - 5, 5, 3), (0, 1, 4)] {
        let piece = pattern(len, seed);
        assert_eq!(img.put(offset, &piece).await.status, 200);
        expected[offset as usize..(offset + len) as usize].copy_from_slice(&piece);
    }
    for (first, last) in [
        (0, 0),
        (123_000, 200_000),
        (size - 1, size - 1),
        (KIB64 - 1, 3 * KIB64),
    ] {
        let r = img.get(first, last).await;
        assert_eq!(r.status, 206);
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {first}-{last}/{size}").as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert!(
            r.body[..] == expected[first as usize..=last as usize],
            "{first}-{last}"
        );
    }
    // An open-ended range goes to the end.
    let r = img
        .req("GET", "", &[("range", "bytes=4194300-")], Bytes::new())
        .await;
    assert_eq!(r.status, 206);
    assert!(r.body[..] == expected[4_194_300..]);
    // No Range: the whole image, 200.
    let r = img.req("GET", "", &[], Bytes::new()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    assert!(r.body[..] == expected[..]);
    // The proxy serves the same ticket.
    let mut via_proxy = open(&e, t.proxy_url.as_deref().unwrap()).await;
    let r = via_proxy.get(1000, 99_999).await;
    assert!(r.body[..] == expected[1000..100_000]);
    assert!(e.read_disk(&disk, 0, size as usize) == expected);
    let stats = e.imageio_stats();
    assert_eq!(stats.bytes_written, size + 70_001 + 5 + 1);
    assert_eq!(stats.puts, 4);
}

#[tokio::test]
async fn zero_and_flush_and_extents_follow_the_data() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let size = 16 * MIB;
    let (id, disk, t) = ready(&mut api, size, "upload", "").await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    assert_eq!(extents(&img.extents("").await), [(0, size, true)]);

    let data = pattern(MIB, 2);
    assert_eq!(img.put(2 * MIB, &data).await.status, 200);
    assert_eq!(img.put(size - KIB64, &pattern(KIB64, 5)).await.status, 200);
    assert!(e.transfer_stats(&id).unwrap().unflushed);
    let expect = [
        (0, 2 * MIB, true),
        (2 * MIB, MIB, false),
        (3 * MIB, size - 3 * MIB - KIB64, true),
        (size - KIB64, KIB64, false),
    ];
    assert_eq!(extents(&img.extents("?context=zero").await), expect);
    assert_eq!(e.disk_extents(&disk).len(), 4);

    // Zeroing a range drops its data; the rest stays.
    let r = img
        .patch(&format!(
            r#"{{"op": "zero", "offset": {}, "size": {}, "flush": false}}"#,
            2 * MIB + 256 * 1024,
            256 * 1024
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = img.get(2 * MIB, 3 * MIB - 1).await;
    let mut want = data.clone();
    want[256 * 1024..512 * 1024].fill(0);
    assert!(r.body[..] == want[..]);
    assert_eq!(
        extents(&img.extents("").await)[1..4],
        [
            (2 * MIB, 256 * 1024, false),
            (2 * MIB + 256 * 1024, 256 * 1024, true),
            (2 * MIB + 512 * 1024, 512 * 1024, false),
        ]
    );
    // Zero without an offset starts at 0.
    assert_eq!(
        img.patch(r#"{"op": "zero", "size": 65536}"#).await.status,
        200
    );
    assert_eq!(img.patch(r#"{"op": "flush"}"#).await.status, 200);
    let stats = e.transfer_stats(&id).unwrap();
    assert!(!stats.unflushed);
    assert_eq!((stats.zeros, stats.flushes), (2, 1));
    assert_eq!(stats.bytes_zeroed, 256 * 1024 + 65536);
    assert_eq!(e.disk_stored_bytes(&disk), MIB - 256 * 1024 + KIB64);
    // The requests as recorded: what, where, how much, flushed or not.
    let log = e.imageio_requests();
    let summary: Vec<_> = log
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.op,
                r.offset,
                r.length,
                r.flush,
                r.status,
            )
        })
        .collect();
    assert_eq!(
        summary[..4],
        [
            ("GET", Some(ImageioOp::Extents), None, None, None, 200),
            (
                "PUT",
                Some(ImageioOp::Write),
                Some(2 * MIB),
                Some(MIB),
                Some(false),
                200
            ),
            (
                "PUT",
                Some(ImageioOp::Write),
                Some(size - KIB64),
                Some(KIB64),
                Some(false),
                200
            ),
            ("GET", Some(ImageioOp::Extents), None, None, None, 200),
        ]
    );
    let zero = log.iter().find(|r| r.op == Some(ImageioOp::Zero)).unwrap();
    assert_eq!(
        (zero.offset, zero.length, zero.flush),
        (Some(2 * MIB + 256 * 1024), Some(256 * 1024), Some(false))
    );
    assert_eq!(log.last().unwrap().op, Some(ImageioOp::Flush));
    assert!(log
        .iter()
        .all(|r| r.transfer_id.as_deref() == Some(id.as_str()) && !r.proxy));
    assert!(!format!("{log:?}").contains(
        t.transfer_url
            .as_deref()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
    ));

    // Dirty extents exist only for backups; other contexts are wrong.
    let r = img.extents("?context=dirty").await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("dirty"));
    assert_eq!(img.extents("?context=all").await.status, 400);
}

#[tokio::test]
async fn bad_requests_get_imageio_s_answers() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let size = 2 * MIB;
    let (_, _, t) = ready(&mut api, size, "upload", "").await;
    let url = t.transfer_url.unwrap();
    let mut img = open(&e, &url).await;

    for range in ["bytes=0-1,4-5", "bytes=-5", "bytes=9-1", "items=0-1"] {
        let r = img.req("GET", "", &[("range", range)], Bytes::new()).await;
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    }
    let r = img.get(size - 1, size).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    // Writes beyond the disk's size are refused, whole.
    let r = img.put(size - 10, &[7; 20]).await;
    assert_eq!(r.status, 416);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes */{size}").as_str())
    );
    let mut img = open(&e, &url).await;
    let r = img
        .patch(&format!(r#"{{"op": "zero", "offset": {size}, "size": 1}}"#))
        .await;
    assert_eq!(r.status, 416);
    assert_eq!(e.imageio_stats().bytes_written, 0);

    // (A new connection for each: these bodies are left unread.)
    for (query, content_range) in [
        ("", "bytes x-y/*"),
        ("", "bytes 0-9/*"), // longer than the body
        ("?flush=maybe", "bytes 0-3/*"),
        ("", "bytes 18446744073709551615-18446744073709551615/*"),
    ] {
        let mut img = open(&e, &url).await;
        let r = img
            .req(
                "PUT",
                query,
                &[("content-range", content_range)],
                vec![1u8; 4],
            )
            .await;
        assert_eq!(r.status, 400, "{query} {content_range}");
    }
    let mut img = open(&e, &url).await;
    for (body, what) in [
        ("{not json", "Invalid JSON"),
        (r#"{"op": "zero"}"#, "size"),
        (r#"{"op": "trim", "size": 1}"#, "op"),
        (r#"{"op": "zero", "size": -1}"#, "-1"),
        (r#"{"op": "zero", "size": 1, "flush": "yes"}"#, "Boolean"),
    ] {
        let r = img.patch(body).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(r.text().contains(what), "{body}: {}", r.text());
    }
    let r = img.req("DELETE", "", &[], Bytes::new()).await;
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());

    // No such ticket: 403, the connection closes, and the ticket is not echoed.
    let (addr, _) = split(&url);
    let mut other = Image {
        c: connect_to(addr, e.ca_pem(), "127.0.0.1").await,
        path: "/images/0ddba11-not-a-ticket".to_string(),
    };
    let r = other.options().await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(r.text().contains("No such ticket"));
    assert!(!r.text().contains("0ddba11"));
    let mut other = Image {
        c: connect_to(addr, e.ca_pem(), "127.0.0.1").await,
        path: "/images/".to_string(),
    };
    assert_eq!(other.options().await.status, 400);
    other.path = "/elsewhere".to_string();
    assert_eq!(other.options().await.status, 404);

    // A download's ticket forbids writing.
    let (_, _, t) = ready(&mut api, size, "download", "").await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    let r = img.put(0, &[1; 4]).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("forbids write"));
    assert!(e.imageio_stats().errors >= 15);
}

/// A request body fed through a channel, one frame per message.
struct ChannelBody(tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|b| b.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test]
async fn a_put_body_is_written_as_it_arrives() {
    let e = TestEngine::builder().start().await.unwrap();
    let mut api = Api::new(&e).await;
    let size = 4 * MIB;
    let (_, disk, t) = ready(&mut api, size, "upload", "").await;
    let (addr, path) = split(t.transfer_url.as_deref().unwrap());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let req = http::Request::put(path)
        .header("host", "127.0.0.1")
        .header("content-length", size.to_string())
        .header("content-range", format!("bytes 0-{}/*", size - 1))
        .body(ChannelBody(rx))
        .unwrap();
    let answer = tokio::spawn(sender.send_request(req));
    let data = pattern(size, 8);
    tx.send(Bytes::copy_from_slice(&data[..MIB as usize]))
        .await
        .unwrap();
    // The first MiB is on the disk while the rest of the body has not been sent.
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        e.wait_imageio_bytes_written(MIB),
    )
    .await
    .expect("the first MiB should be written before the body ends");
    assert!(e.read_disk(&disk, 0, MIB as usize) == data[..MIB as usize]);
    assert_eq!(e.read_disk(&disk, MIB, 16), vec![0; 16]);
    for piece in data[MIB as usize..].chunks(MIB as usize) {
        tx.send(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    drop(tx);
    let resp = answer.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(e.read_disk(&disk, 0, size as usize) == data);
}

#[tokio::test]
async fn a_put_without_content_length_is_refused() {
    // Plain HTTP, to send a chunked body by hand.
    let e = TestEngine::builder().start().await.unwrap();
    let mut api = Api::new(&e).await;
    let (_, _, t) = ready(&mut api, MIB, "upload", "").await;
    let url = t.transfer_url.unwrap();
    assert!(url.starts_with("http://"));
    let (addr, path) = split(&url);
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before an answer");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
}

#[tokio::test]
async fn an_idle_ticket_expires_on_the_manual_clock() {
    let e = TestEngine::builder()
        .tls(true)
        .pace(Pace::Manual)
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let disk = api.add_disk(MIB, "raw", "").await;
    e.advance(1);
    let t = api
        .add_transfer(
            &disk,
            "upload",
            "<inactivity_timeout>30</inactivity_timeout>",
        )
        .await;
    let id = t.id.unwrap();
    e.advance(1);
    let url = api.transfer(&id).await.transfer_url.unwrap();
    let mut img = open(&e, &url).await;
    assert_eq!(img.options().await.status, 200);
    e.advance(29);
    assert_eq!(
        img.options().await.status,
        200,
        "each request restarts the timeout"
    );
    e.advance(30);
    let r = img.options().await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("expired"), "{}", r.text());
    // An upload whose ticket expired pauses (timeout_policy legacy), disk still locked.
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::PausedSystem));
    assert_eq!(
        api.disk(&disk).await.unwrap().status,
        Some(DiskStatus::Locked)
    );
    // Resuming opens the ticket again.
    assert_eq!(api.action(&id, "resume").await.status, 200);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::Resuming));
    e.advance(1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::Transferring));
    let mut img = open(&e, &url).await;
    assert_eq!(img.options().await.status, 200);

    // A download whose ticket expires is cancelled and ends in failure; its disk is ok.
    let disk = api.add_disk(MIB, "raw", "").await;
    e.advance(1);
    let t = api
        .add_transfer(
            &disk,
            "download",
            "<inactivity_timeout>5</inactivity_timeout>",
        )
        .await;
    let id = t.id.unwrap();
    e.advance(1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::Transferring));
    e.advance(5);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::CancelledSystem));
    e.advance(1);
    assert_eq!(
        api.transfer(&id).await.phase,
        Some(Phase::FinalizingFailure)
    );
    e.advance(1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::FinishedFailure));
    assert_eq!(api.disk(&disk).await.unwrap().status, Some(DiskStatus::Ok));
}

#[tokio::test]
async fn a_test_can_expire_a_ticket_and_cancel_transfers() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let (id, disk, t) = ready(&mut api, MIB, "upload", "").await;
    let url = t.transfer_url.unwrap();
    assert!(e.expire_ticket(&id));
    assert!(!e.expire_ticket(&id), "already expired");
    let mut img = open(&e, &url).await;
    let r = img.options().await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("expired"));
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::PausedSystem));
    assert_eq!(
        api.disk(&disk).await.unwrap().status,
        Some(DiskStatus::Locked)
    );

    // Cancelling an upload ends in failure and removes its disk and data.
    e.write_disk(&disk, 0, b"partial");
    let r = api.action(&id, "cancel").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::FinishedFailure));
    assert!(api.disk(&disk).await.is_none());
    assert_eq!(e.read_disk(&disk, 0, 7), vec![0; 7]);
    assert_eq!(api.action(&id, "cancel").await.status, 409);

    // timeout_policy cancel: an expired upload fails instead of pausing.
    let (id, disk, _) = ready(
        &mut api,
        MIB,
        "upload",
        "<timeout_policy>cancel</timeout_policy>",
    )
    .await;
    assert_eq!(e.expire_tickets(), 1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::FinishedFailure));
    assert!(api.disk(&disk).await.is_none());

    // Cancelling a download leaves its disk ok; pause and resume work on it.
    let (id, disk, _) = ready(&mut api, MIB, "download", "").await;
    assert_eq!(api.action(&id, "pause").await.status, 200);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::PausedUser));
    assert_eq!(api.action(&id, "cancel").await.status, 200);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::FinishedFailure));
    assert_eq!(api.disk(&disk).await.unwrap().status, Some(DiskStatus::Ok));
}

#[tokio::test]
async fn a_finalize_can_be_made_to_fail() {
    let e = TestEngine::builder()
        .pace(Pace::Manual)
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let disk = api.add_disk(MIB, "raw", "").await;
    e.advance(1);
    let t = api.add_transfer(&disk, "upload", "").await;
    let id = t.id.unwrap();
    e.advance(1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::Transferring));
    e.fail_next_finalize();
    assert_eq!(api.action(&id, "finalize").await.status, 200);
    let phases = [
        Phase::FinalizingSuccess,
        Phase::FinalizingFailure,
        Phase::FinishedFailure,
    ];
    for want in phases {
        assert_eq!(api.transfer(&id).await.phase, Some(want));
        e.advance(1);
    }
    assert!(api.disk(&disk).await.is_none());
    // Only one finalize fails.
    let (id, disk, _) = {
        let disk = api.add_disk(MIB, "raw", "").await;
        e.advance(1);
        let t = api.add_transfer(&disk, "upload", "").await;
        e.advance(1);
        (t.id.unwrap(), disk, ())
    };
    assert_eq!(api.action(&id, "finalize").await.status, 200);
    e.advance(1);
    assert_eq!(api.transfer(&id).await.phase, Some(Phase::FinishedSuccess));
    assert_eq!(api.disk(&disk).await.unwrap().status, Some(DiskStatus::Ok));
}

#[tokio::test]
async fn connections_closed_mid_transfer_by_faults() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let (id, disk, t) = ready(&mut api, 4 * MIB, "upload", "").await;
    let url = t.transfer_url.unwrap();
    let data = pattern(MIB, 3);

    e.imageio_fault(ImageioFault::ClosePutAfter(100_000));
    let mut img = open(&e, &url).await;
    let range = format!("bytes 0-{}/*", MIB - 1);
    let r = img
        .try_req("PUT", "", &[("content-range", &range)], data.clone())
        .await;
    assert!(r.is_err(), "the connection should have been closed");
    assert_eq!(e.transfer_stats(&id).unwrap().bytes_written, 100_000);
    assert!(e.read_disk(&disk, 0, 100_000) == data[..100_000]);
    assert_eq!(e.read_disk(&disk, 100_000, 10), vec![0; 10]);
    // The fault is played once: sending again on a new connection works.
    let mut img = open(&e, &url).await;
    assert_eq!(img.put(0, &data).await.status, 200);

    e.imageio_fault(ImageioFault::CloseGetAfter(300_000));
    let r = img
        .try_req("GET", "", &[("range", "bytes=0-1048575")], Bytes::new())
        .await;
    assert!(r.is_err(), "the answer should have been cut");
    let mut img = open(&e, &url).await;
    assert!(img.get(0, MIB - 1).await.body[..] == data[..]);

    e.imageio_fault(ImageioFault::Status(500));
    assert_eq!(img.options().await.status, 500);
    assert_eq!(img.options().await.status, 200);
    assert_eq!(e.imageio_stats().aborted, 2);
}

#[tokio::test]
async fn counters_count_bytes_requests_and_connections_per_ticket() {
    let e = TestEngine::builder()
        .tls(true)
        .imageio(ImageioOptions::default().max_writers(4))
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let (id, disk, t) = ready(&mut api, 8 * MIB, "upload", "").await;
    let url = t.transfer_url.unwrap();
    let mut writers = Vec::new();
    for _ in 0..3 {
        writers.push(open(&e, &url).await);
    }
    writers.push(open(&e, t.proxy_url.as_deref().unwrap()).await);
    let pieces: Vec<Vec<u8>> = (0..4).map(|i| pattern(2 * MIB, i)).collect();
    // Four writers at once, each its own part of the disk.
    let mut tasks = Vec::new();
    for (i, (mut w, p)) in writers.into_iter().zip(pieces.clone()).enumerate() {
        tasks.push(tokio::spawn(async move {
            let r = w.put(i as u64 * 2 * MIB, &p).await;
            (r.status, w)
        }));
    }
    let mut writers = Vec::new();
    for t in tasks {
        let (status, w) = t.await.unwrap();
        assert_eq!(status, 200);
        writers.push(w);
    }
    let stats = e.transfer_stats(&id).unwrap();
    assert_eq!(stats.connections, 4);
    assert_eq!(stats.puts, 4);
    assert_eq!(stats.bytes_written, 8 * MIB);
    assert!(stats.max_in_flight >= 1);
    let all = e.imageio_stats();
    assert_eq!((all.connections, all.proxy_connections), (3, 1));
    let r = writers[0].get(0, 8 * MIB - 1).await;
    assert!(r.body[..] == pieces.concat()[..]);
    let stats = e.transfer_stats(&id).unwrap();
    assert_eq!((stats.gets, stats.bytes_read), (1, 8 * MIB));
    assert_eq!(api.transfer(&id).await.transferred, Some(8 * MIB as i64));
    assert!(e.transfer_stats("no-such-transfer").is_none());
    let _ = disk;
}

#[tokio::test]
async fn the_transfer_url_can_be_left_out_or_unreachable() {
    let e = TestEngine::builder()
        .tls(true)
        .imageio(ImageioOptions::default().transfer_url(TransferUrl::Omitted))
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let (_, _, t) = ready(&mut api, MIB, "download", "").await;
    assert!(t.transfer_url.is_none());
    let mut img = open(&e, t.proxy_url.as_deref().unwrap()).await;
    assert_eq!(img.options().await.status, 200);

    let e = TestEngine::builder()
        .tls(true)
        .imageio(ImageioOptions::default().transfer_url(TransferUrl::Unreachable))
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let (_, _, t) = ready(&mut api, MIB, "upload", "").await;
    let (addr, _) = split(t.transfer_url.as_deref().unwrap());
    assert!(addr.ip().is_loopback());
    let err = tokio::net::TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut img = open(&e, t.proxy_url.as_deref().unwrap()).await;
    assert_eq!(img.put(0, b"via the proxy").await.status, 200);

    let e = TestEngine::builder()
        .imageio(ImageioOptions::default().proxy_url(false))
        .start()
        .await
        .unwrap();
    let mut api = Api::new(&e).await;
    let (_, _, t) = ready(&mut api, MIB, "upload", "").await;
    assert!(t.proxy_url.is_none() && t.transfer_url.is_some());
}

#[tokio::test]
async fn a_4_gib_disk_with_little_data_is_held_sparsely() {
    let e = tls_engine().await;
    let mut api = Api::new(&e).await;
    let size = 4 << 30;
    let (id, disk, t) = ready(&mut api, size, "upload", "").await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    let data = pattern(MIB, 11);
    assert_eq!(img.put(3 << 30, &data).await.status, 200);
    assert_eq!(
        extents(&img.extents("").await),
        [
            (0, 3 << 30, true),
            (3 << 30, MIB, false),
            ((3 << 30) + MIB, size - (3 << 30) - MIB, true)
        ]
    );
    assert_eq!(e.disk_stored_bytes(&disk), MIB);
    assert!(img.get(3 << 30, (3 << 30) + MIB - 1).await.body[..] == data[..]);
    assert_eq!(img.get(size - 4, size - 1).await.body[..], [0; 4]);
    // A GET of the whole 4 GiB is streamed: its first bytes come before the rest is read.
    let (addr, path) = split(t.transfer_url.as_deref().unwrap());
    let mut c = connect_to(addr, e.ca_pem(), "127.0.0.1").await;
    let resp = c.start("GET", &path).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], size.to_string().as_str());
    let mut body = resp.into_body();
    let mut got = 0;
    while got < 2 * MIB {
        let frame = http_body_util::BodyExt::frame(&mut body)
            .await
            .unwrap()
            .unwrap();
        let data = frame.into_data().unwrap();
        assert!(data.iter().all(|&b| b == 0));
        got += data.len() as u64;
    }
    drop(body);
    assert_eq!(api.action(&id, "finalize").await.status, 200);
    assert_eq!(api.disk(&disk).await.unwrap().actual_size, Some(MIB as i64));
    // What was uploaded is downloaded by a later transfer.
    let t = api.add_transfer(&disk, "download", "").await;
    let t = api.transfer(t.id.as_deref().unwrap()).await;
    let mut img = open(&e, t.transfer_url.as_deref().unwrap()).await;
    assert!(img.get(3 << 30, (3 << 30) + MIB - 1).await.body[..] == data[..]);
}

#[tokio::test]
async fn transfers_need_a_disk_that_exists() {
    let e = TestEngine::builder().start().await.unwrap();
    let mut api = Api::new(&e).await;
    let r = api
        .call(
            "POST",
            "imagetransfers",
            "<image_transfer><direction>upload</direction></image_transfer>",
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("disk"), "{}", r.text());
    let r = api
        .call(
            "POST",
            "imagetransfers",
            "<image_transfer><disk id=\"nope\"/></image_transfer>",
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("Disk"), "{}", r.text());
    // The seeded disks can be downloaded (they read as zeros).
    let disk = e.inventory().vms[0].disk_attachments[0].id.clone();
    let t = api.add_transfer(&disk, "download", "").await;
    assert_eq!(t.format, Some(types::DiskFormat::Cow));
    let list = api.call("GET", "imagetransfers", "").await;
    assert_eq!(list.status, 200);
    let all: Vec<types::ImageTransfer> = ovirt::xml::from_str_list(&list.text()).unwrap();
    assert_eq!(all.len(), 1);
}
