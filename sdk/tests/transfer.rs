//! Disk upload and download (`ovirt::transfer`) end to end against the test engine's
//! imageio (HTTPS with the engine's CA on loopback): the bytes stored and read back are
//! the file's, zeros are not sent, the proxy is used when the host's URL fails, broken
//! connections are survived, an expired ticket ends in a clear error and a cancelled
//! transfer.

mod connection_common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use connection_common::connect;
use ovirt::error::ErrorKind;
use ovirt::transfer::{self, Destination, Progress, Source, TransferOptions, UrlChoice};
use ovirt::types::{
    Disk, DiskFormat, DiskStatus, ImageTransfer, ImageTransferPhase, StorageDomain,
};
use ovirt::{Connection, WaitUntil};
use ovirt_test_engine::{ImageioFault, ImageioOp, ImageioOptions, TestEngine, TransferUrl};

const KIB: u64 = 1024;
const MIB: u64 = 1 << 20;

async fn engine_with(imageio: ImageioOptions) -> TestEngine {
    TestEngine::builder()
        .vms(1)
        .tls(true)
        .imageio(imageio)
        .start()
        .await
        .unwrap()
}

async fn engine() -> TestEngine {
    engine_with(ImageioOptions::default()).await
}

/// A temporary directory, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("ovirt-transfer-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Bytes that are never zero and differ with the seed.
fn pattern(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + u64::from(seed) * 7) % 251) as u8 + 1)
        .collect()
}

/// A sparse file of `size` bytes (`set_len`) with `blocks` written at their offsets.
fn sparse_file(path: &Path, size: u64, blocks: &[(u64, Vec<u8>)]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    for (at, data) in blocks {
        f.seek(SeekFrom::Start(*at)).unwrap();
        f.write_all(data).unwrap();
    }
}

fn read_all(path: &Path) -> Vec<u8> {
    let mut v = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// A new disk of `size` bytes, waited for until `ok`.
async fn new_disk(conn: &Connection, format: DiskFormat, size: u64) -> String {
    let disks = conn.system_service().disks_service();
    let disk = disks
        .add()
        .disk(
            Disk::new()
                .name("uploaded")
                .format(format)
                .provisioned_size(size as i64)
                .initial_size(size as i64)
                .storage_domains(vec![StorageDomain::new().name("data")]),
        )
        .await
        .unwrap();
    disks
        .disk_service(&disk)
        .wait_until(
            |d| d.status == Some(DiskStatus::Ok),
            std::time::Duration::from_secs(30),
            std::time::Duration::from_millis(10),
        )
        .await
        .unwrap();
    disk.id.unwrap()
}

/// The 8 MiB test image: data at 0 (1 MiB), at 5 MiB (1 MiB), a zero chunk written
/// explicitly at 3 MiB, holes elsewhere.
fn test_image(path: &Path) -> Vec<u8> {
    sparse_file(
        path,
        8 * MIB,
        &[
            (0, pattern(MIB, 1)),
            (3 * MIB, vec![0u8; MIB as usize]),
            (5 * MIB, pattern(MIB, 2)),
        ],
    );
    read_all(path)
}

fn options() -> TransferOptions {
    TransferOptions::new().chunk_size(256 * KIB as usize)
}

#[tokio::test]
async fn an_uploaded_sparse_file_is_stored_byte_for_byte_and_its_zeros_are_not_sent() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("up");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;

    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(4))
        .await
        .unwrap();
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
    assert_eq!(stats.size, 8 * MIB);
    assert_eq!(stats.data_bytes, 2 * MIB, "{stats:?}");
    assert_eq!(stats.zero_bytes, 6 * MIB, "{stats:?}");
    assert!(!stats.via_proxy);
    assert_eq!(stats.connections, 4);
    let t = e.transfer_stats(&stats.transfer_id).unwrap();
    assert_eq!(t.bytes_written, 2 * MIB, "{t:?}");
    assert_eq!(t.bytes_zeroed, 6 * MIB, "{t:?}");
    assert_eq!(t.puts, 8, "{t:?}");
    // Holes and the zero chunk between them merge: [1, 5) and [6, 8) MiB.
    assert_eq!(t.zeros, 2, "{t:?}");
    assert!(!t.unflushed, "flushed once at the end: {t:?}");
    assert!(t.connections <= 5, "{t:?}");
    // Finalized: the disk is ok again and the transfer finished.
    let transfer: ImageTransfer = e
        .get(&format!("imagetransfers/{}", stats.transfer_id))
        .unwrap();
    assert_eq!(transfer.phase, Some(ImageTransferPhase::FinishedSuccess));
}

#[tokio::test]
async fn writes_cover_the_image_once_unflushed_and_one_flush_ends_the_upload() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("flush");
    let image = dir.path("image.raw");
    test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(3))
        .await
        .unwrap();
    let requests: Vec<_> = e
        .imageio_requests()
        .into_iter()
        .filter(|r| r.transfer_id.as_deref() == Some(stats.transfer_id.as_str()))
        .collect();
    assert!(requests.iter().all(|r| r.status < 300), "{requests:?}");
    let last = requests.last().unwrap();
    assert_eq!(last.op, Some(ImageioOp::Flush), "{requests:?}");
    let flushes = requests
        .iter()
        .filter(|r| r.op == Some(ImageioOp::Flush))
        .count();
    assert_eq!(flushes, 1, "{requests:?}");
    let mut ranges: Vec<(u64, u64)> = requests
        .iter()
        .filter(|r| matches!(r.op, Some(ImageioOp::Write | ImageioOp::Zero)))
        .map(|r| {
            assert_eq!(r.flush, Some(false), "{r:?}");
            (r.offset.unwrap(), r.length.unwrap())
        })
        .collect();
    ranges.sort();
    let mut next = 0;
    for (offset, length) in ranges {
        assert_eq!(offset, next, "a gap or an overlap at {offset}");
        next = offset + length;
    }
    assert_eq!(next, 8 * MIB);
}

#[tokio::test]
async fn a_failed_finalize_is_an_error_naming_the_phase() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("finalize");
    let image = dir.path("image.raw");
    test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    e.fail_next_finalize();
    let err = transfer::upload(&conn, &disk, image.as_path(), &options())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.kind(), ErrorKind::Fault), "{err:?}");
    assert!(text.contains("waiting for finished_success"), "{text}");
    assert!(
        text.contains("phase is finalizing_failure") || text.contains("phase is finished_failure"),
        "{text}"
    );
}

#[tokio::test]
async fn without_zero_ranges_every_byte_is_sent() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("nozero");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().zero_ranges(false))
        .await
        .unwrap();
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
    assert_eq!((stats.data_bytes, stats.zero_bytes), (8 * MIB, 0));
    let t = e.transfer_stats(&stats.transfer_id).unwrap();
    assert_eq!((t.bytes_written, t.zeros), (8 * MIB, 0), "{t:?}");
}

#[tokio::test]
async fn a_download_fetches_only_the_data_extents_and_leaves_holes() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("down");
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    e.write_disk(&disk, 2 * MIB, &pattern(MIB, 3));
    e.write_disk(&disk, 7 * MIB, &pattern(512 * KIB, 4));
    let out = dir.path("copy.raw");
    let stats = transfer::download(&conn, &disk, out.as_path(), &options().connections(3))
        .await
        .unwrap();
    let got = read_all(&out);
    assert_eq!(got.len() as u64, 8 * MIB);
    assert_eq!(got, e.read_disk(&disk, 0, 8 * MIB as usize));
    assert_eq!(stats.data_bytes, MIB + 512 * KIB, "{stats:?}");
    assert_eq!(stats.zero_bytes, 8 * MIB - stats.data_bytes);
    let t = e.transfer_stats(&stats.transfer_id).unwrap();
    assert_eq!(t.bytes_read, MIB + 512 * KIB, "{t:?}");
    assert_eq!(t.extents, 1, "{t:?}");
    // Without zero ranges everything is fetched; the result is the same.
    let out2 = dir.path("copy2.raw");
    let stats = transfer::download(&conn, &disk, out2.as_path(), &options().zero_ranges(false))
        .await
        .unwrap();
    assert_eq!(stats.data_bytes, 8 * MIB);
    assert_eq!(read_all(&out2), got);
}

#[tokio::test]
async fn a_reader_uploads_and_a_writer_receives_the_zeros_written_out() {
    let e = engine().await;
    let conn = connect(&e);
    let mut bytes = vec![0u8; 3 * MIB as usize];
    bytes[..MIB as usize].copy_from_slice(&pattern(MIB, 5));
    bytes[2 * MIB as usize + 10] = 9;
    let disk = new_disk(&conn, DiskFormat::Raw, 4 * MIB).await;
    let source = Source::reader(std::io::Cursor::new(bytes.clone()), bytes.len() as u64);
    let stats = transfer::upload(&conn, &disk, source, &options())
        .await
        .unwrap();
    // The all-zero chunks read from the reader are zeroed, not sent.
    assert_eq!(stats.data_bytes, MIB + 256 * KIB, "{stats:?}");

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Shared::default();
    transfer::download(&conn, &disk, Destination::writer(sink.clone()), &options())
        .await
        .unwrap();
    let got = sink.0.lock().unwrap().clone();
    assert_eq!(
        got.len() as u64,
        4 * MIB,
        "the disk's whole size, zeros written"
    );
    assert_eq!(&got[..bytes.len()], &bytes[..]);
    assert!(got[bytes.len()..].iter().all(|&b| b == 0));
}

#[tokio::test]
async fn progress_counts_up_to_the_total() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("progress");
    let image = dir.path("image.raw");
    test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let s = seen.clone();
    let options = options().progress(move |p| s.lock().unwrap().push(p));
    transfer::upload(&conn, &disk, image.as_path(), &options)
        .await
        .unwrap();
    let up = std::mem::take(&mut *seen.lock().unwrap());
    assert!(up.windows(2).all(|w| w[0].done < w[1].done), "{up:?}");
    assert!(up.iter().all(|p| p.total == 8 * MIB));
    assert_eq!(up.last().unwrap().done, 8 * MIB);
    // 8 data chunks and 2 zero ranges.
    assert_eq!(up.len(), 10, "{up:?}");
    transfer::download(&conn, &disk, dir.path("copy.raw").as_path(), &options)
        .await
        .unwrap();
    let down = seen.lock().unwrap().clone();
    assert!(down.windows(2).all(|w| w[0].done < w[1].done), "{down:?}");
    assert_eq!(down.last().unwrap().done, 8 * MIB);
}

#[tokio::test]
async fn an_unreachable_transfer_url_falls_back_to_the_proxy() {
    for url in [TransferUrl::Unreachable, TransferUrl::Omitted] {
        let e = engine_with(ImageioOptions::default().transfer_url(url)).await;
        let conn = connect(&e);
        let dir = Dir::new("proxy");
        let image = dir.path("image.raw");
        let bytes = test_image(&image);
        let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
        let stats = transfer::upload(&conn, &disk, image.as_path(), &options())
            .await
            .unwrap();
        assert!(stats.via_proxy, "{url:?}");
        assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
        let io = e.imageio_stats();
        assert_eq!(io.connections, 0, "{url:?}: {io:?}");
        assert!(io.proxy_connections >= 1, "{io:?}");
        // Asking for the host's URL only fails, naming it.
        let err = transfer::download(
            &conn,
            &disk,
            dir.path("copy.raw").as_path(),
            &options().url(UrlChoice::TransferUrl),
        )
        .await
        .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
        assert!(err.to_string().contains("transfer_url"), "{err}");
        assert!(err.to_string().contains("cancelled"), "{err}");
    }
}

#[tokio::test]
async fn max_writers_caps_the_connections() {
    let e = engine_with(ImageioOptions::default().max_writers(2)).await;
    let conn = connect(&e);
    let dir = Dir::new("writers");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(8))
        .await
        .unwrap();
    assert_eq!(stats.connections, 2);
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
    let t = e.transfer_stats(&stats.transfer_id).unwrap();
    // The data connections, plus the one that asked OPTIONS.
    assert!(t.connections <= 3, "{t:?}");
}

#[tokio::test]
async fn a_connection_closed_in_the_middle_of_a_put_is_survived() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("cutput");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    e.imageio_fault(ImageioFault::ClosePutAfter(100 * KIB));
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(2))
        .await
        .unwrap();
    assert_eq!(e.imageio_stats().aborted, 1);
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
    let t = e.transfer_stats(&stats.transfer_id).unwrap();
    // The cut chunk was sent again: one PUT more than there are chunks.
    assert_eq!(t.puts, 9, "{t:?}");
}

#[tokio::test]
async fn a_connection_closed_in_the_middle_of_a_get_is_survived() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("cutget");
    let disk = new_disk(&conn, DiskFormat::Raw, 4 * MIB).await;
    e.write_disk(&disk, 0, &pattern(4 * MIB, 6));
    // Past the 256 KiB the HTTP client holds back, so the SDK fetches the chunk again;
    // then a short one that the HTTP client re-sends itself.
    e.imageio_fault(ImageioFault::CloseGetAfter(700 * KIB));
    e.imageio_fault(ImageioFault::CloseGetAfter(10 * KIB));
    let out = dir.path("copy.raw");
    transfer::download(
        &conn,
        &disk,
        out.as_path(),
        &options().chunk_size(MIB as usize),
    )
    .await
    .unwrap();
    assert_eq!(e.imageio_stats().aborted, 2);
    assert_eq!(read_all(&out), pattern(4 * MIB, 6));
}

#[tokio::test]
async fn an_expired_ticket_ends_in_a_clear_error_and_a_cancelled_transfer() {
    let e = Arc::new(engine().await);
    let conn = connect(&e);
    let dir = Dir::new("expired");
    let image = dir.path("image.raw");
    sparse_file(&image, 2 * MIB, &[(0, pattern(2 * MIB, 7))]);
    let disk = new_disk(&conn, DiskFormat::Raw, 2 * MIB).await;
    // After the first chunk, the ticket expires (as after its inactivity timeout).
    let ticket = Arc::new(Mutex::new(String::new()));
    let (engine, t) = (e.clone(), ticket.clone());
    let options = TransferOptions::new()
        .chunk_size(64 * KIB as usize)
        .connections(1)
        .pipeline(1)
        .progress(move |_| {
            let mut t = t.lock().unwrap();
            if t.is_empty() {
                let transfers: Vec<ImageTransfer> = engine.list("imagetransfers");
                let url = transfers[0].transfer_url.clone().unwrap();
                *t = url.rsplit('/').next().unwrap().to_string();
                assert_eq!(engine.expire_tickets(), 1);
            }
        });
    let err = transfer::upload(&conn, &disk, image.as_path(), &options)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err.kind(), ErrorKind::Authentication), "{err:?}");
    assert_eq!(err.http_status(), Some(403), "{err:?}");
    assert!(text.contains(&format!("upload to disk {disk}")), "{text}");
    assert!(text.contains("PUT at offset 65536 (65536 bytes)"), "{text}");
    assert!(text.contains("cancelled"), "{text}");
    let ticket = ticket.lock().unwrap().clone();
    assert!(ticket.len() > 8);
    assert!(!text.contains(&ticket), "the ticket leaked: {text}");
    assert!(!format!("{err:?}").contains(&ticket));
    // The transfer was cancelled: it ends in failure (and the engine drops the disk).
    let transfers: Vec<ImageTransfer> = e.list("imagetransfers");
    let service = conn
        .system_service()
        .image_transfers_service()
        .image_transfer_service(transfers[0].id.as_deref().unwrap());
    let done = service
        .wait_until(
            |t| t.phase == Some(ImageTransferPhase::FinishedFailure),
            std::time::Duration::from_secs(30),
            std::time::Duration::from_millis(10),
        )
        .await
        .unwrap();
    assert_eq!(done.phase, Some(ImageTransferPhase::FinishedFailure));
}

#[tokio::test]
async fn an_imageio_error_status_cancels_and_names_the_offset() {
    let e = Arc::new(engine().await);
    let conn = connect(&e);
    let disk = new_disk(&conn, DiskFormat::Raw, 4 * MIB).await;
    e.write_disk(&disk, 0, &pattern(4 * MIB, 8));
    // After the first chunk, the next imageio request is answered 500.
    let engine = e.clone();
    let once = std::sync::Once::new();
    let options = TransferOptions::new()
        .chunk_size(MIB as usize)
        .connections(1)
        .pipeline(1)
        .progress(move |_| once.call_once(|| engine.imageio_fault(ImageioFault::Status(500))));
    let err = transfer::download(&conn, &disk, Destination::writer(std::io::sink()), &options)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert_eq!(err.http_status(), Some(500), "{err:?}");
    assert!(text.contains(&format!("download of disk {disk}")), "{text}");
    assert!(
        text.contains("GET at offset 1048576 (1048576 bytes)"),
        "{text}"
    );
    assert!(text.contains("cancelled"), "{text}");
    let transfers: Vec<ImageTransfer> = e.list("imagetransfers");
    assert_eq!(transfers.len(), 1);
    assert_ne!(transfers[0].phase, Some(ImageTransferPhase::Transferring));
}

#[tokio::test]
async fn a_failing_options_of_the_transfer_url_falls_back_to_the_proxy() {
    let e = engine().await;
    let conn = connect(&e);
    let disk = new_disk(&conn, DiskFormat::Raw, MIB).await;
    e.write_disk(&disk, 0, &pattern(MIB, 11));
    // The first request on the ticket, the host's OPTIONS, gets a 500.
    e.imageio_fault(ImageioFault::Status(500));
    let sink = Destination::writer(std::io::sink());
    let stats = transfer::download(&conn, &disk, sink, &options())
        .await
        .unwrap();
    assert!(stats.via_proxy);
    assert_eq!(stats.data_bytes, MIB);
}

#[tokio::test]
async fn a_qcow2_file_sent_as_raw_is_refused_before_any_transfer() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("qcow2");
    let image = dir.path("image.qcow2");
    let mut header = b"QFI\xfb".to_vec();
    header.extend_from_slice(&pattern(64 * KIB, 9));
    std::fs::write(&image, &header).unwrap();
    let disk = new_disk(&conn, DiskFormat::Raw, MIB).await;
    let err = transfer::upload(
        &conn,
        &disk,
        image.as_path(),
        &options().format(DiskFormat::Raw),
    )
    .await
    .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidRequest), "{err:?}");
    assert!(err.to_string().contains("qcow2"), "{err}");
    // Without a format, a qcow2 file into a raw disk is refused too.
    let err = transfer::upload(&conn, &disk, image.as_path(), &options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("raw disk"), "{err}");
    assert!(e.list::<ImageTransfer>("imagetransfers").is_empty());
}

#[tokio::test]
async fn a_qcow2_file_goes_to_a_cow_disk_as_it_is() {
    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("cow");
    let image = dir.path("image.qcow2");
    let mut bytes = b"QFI\xfb".to_vec();
    bytes.extend_from_slice(&pattern(MIB - 4, 10));
    std::fs::write(&image, &bytes).unwrap();
    let disk = new_disk(&conn, DiskFormat::Cow, MIB).await;
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(4))
        .await
        .unwrap();
    // imageio allows one writer to a qcow2 image.
    assert_eq!(stats.connections, 1);
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);
}

#[test]
fn the_blocking_facade_uploads_and_downloads() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let e = runtime.block_on(engine());
    let conn = connection_common::options(&e).build_blocking().unwrap();
    let dir = Dir::new("blocking");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = {
        let async_conn = connect(&e);
        runtime.block_on(new_disk(&async_conn, DiskFormat::Raw, 8 * MIB))
    };
    let stats = conn.upload(&disk, image.as_path(), &options()).unwrap();
    assert_eq!(stats.data_bytes, 2 * MIB);
    let out = dir.path("copy.raw");
    conn.download(&disk, out.as_path(), &options()).unwrap();
    assert_eq!(read_all(&out), bytes);
    conn.close().unwrap();
}

/// Collects what a `tracing_subscriber::fmt` subscriber writes.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn no_log_event_of_the_sdk_or_the_http_client_shows_the_ticket() {
    let capture = LogCapture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "http1_pipeline=trace,ovirt=trace",
        ))
        .with_ansi(false)
        .with_writer(capture.clone())
        .finish();
    // The test's runtime has one thread: the connections' tasks log through it too.
    let _guard = tracing::subscriber::set_default(subscriber);

    let e = engine().await;
    let conn = connect(&e);
    let dir = Dir::new("log");
    let image = dir.path("image.raw");
    let bytes = test_image(&image);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    // A cut PUT makes the HTTP client log a failure and a re-send as well.
    e.imageio_fault(ImageioFault::ClosePutAfter(100 * KIB));
    let stats = transfer::upload(&conn, &disk, image.as_path(), &options().connections(2))
        .await
        .unwrap();
    assert_eq!(e.read_disk(&disk, 0, bytes.len()), bytes);

    let transfer: ImageTransfer = e
        .get(&format!("imagetransfers/{}", stats.transfer_id))
        .unwrap();
    let url = transfer
        .transfer_url
        .expect("the transfer has a transfer_url");
    let ticket = url.rsplit('/').next().unwrap().to_string();
    assert!(ticket.len() > 8, "{url}");
    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/images/***"),
        "the HTTP client's request lines are in the log:\n{text}"
    );
    assert!(
        !text.contains(&ticket),
        "the ticket is in the log:\n{}",
        text.replace(&ticket, "<TICKET>")
    );
}

/// Gives 1 MiB of data, then blocks until its sender is dropped (an upload stuck on a
/// slow source).
struct Stalling {
    given: u64,
    release: std::sync::mpsc::Receiver<()>,
}

impl Read for Stalling {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.given < MIB {
            let n = buf.len().min((MIB - self.given) as usize);
            buf[..n].fill(7);
            self.given += n as u64;
            return Ok(n);
        }
        let _ = self.release.recv();
        Err(std::io::Error::other("stopped by the test"))
    }
}

#[tokio::test]
async fn a_dropped_upload_cancels_its_transfer() {
    let e = engine().await;
    let conn = connect(&e);
    let disk = new_disk(&conn, DiskFormat::Raw, 8 * MIB).await;
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let source = Source::reader(
        Stalling {
            given: 0,
            release: wait,
        },
        8 * MIB,
    );
    let upload = tokio::spawn({
        let (conn, disk) = (conn.clone(), disk.clone());
        async move { transfer::upload(&conn, &disk, source, &options()).await }
    });
    // Data arrived, so the transfer exists and is transferring; then the source stalls.
    e.wait_imageio_bytes_written(256 * KIB).await;
    upload.abort();
    assert!(upload.await.unwrap_err().is_cancelled());

    let transfers = conn.system_service().image_transfers_service();
    let all: Vec<ImageTransfer> = transfers.list().await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let id = all[0].id.clone().unwrap();
    let done = transfers
        .image_transfer_service(&id)
        .wait_until(
            |t| t.phase == Some(ImageTransferPhase::FinishedFailure),
            std::time::Duration::from_secs(30),
            std::time::Duration::from_millis(10),
        )
        .await;
    drop(release);
    let done = done.expect("the dropped upload's transfer ends in finished_failure");
    assert_eq!(done.phase, Some(ImageTransferPhase::FinishedFailure));
}
