//! Uploads a disk image to a new disk with a progress bar, then downloads it back and
//! checks that the copy is the same, byte for byte.
//!
//! ```text
//! cargo run -p ovirt --example upload_disk -- [--file IMAGE] [--connections 4]
//! cargo run -p ovirt --example upload_disk -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] \
//!     --file disk.raw [--storage-domain data] [--connections 4]
//! ```
//!
//! Without `--file` it makes a sparse 256 MiB raw image (a few MiB of data, the rest
//! holes) in a temporary directory. The disk gets the image's format (qcow2 files go to a
//! `cow` disk as they are, anything else is uploaded as raw); no conversion is done. The
//! bar is drawn on stderr; the holes and all-zero chunks are not sent (`PATCH zero`).

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ovirt::transfer::{self, Progress, TransferOptions};
use ovirt::types::{Disk, DiskFormat, DiskStatus, StorageDomain};
use ovirt::WaitUntil;

const USAGE: &str =
    "usage: upload_disk [--url URL --username U --password P [--ca-file F | --insecure]] \
                     [--file IMAGE] [--storage-domain NAME] [--connections N]";

/// A progress bar on stderr, redrawn at most ten times a second.
fn progress_bar(label: &'static str) -> impl Fn(Progress) + Send + Sync + 'static {
    let state = Mutex::new((Instant::now(), None::<Instant>));
    move |p: Progress| {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let (start, last) = &mut *state;
        let done = p.done >= p.total;
        if !done && last.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        *last = Some(Instant::now());
        let width = 40;
        let filled = (p.done as u128 * width as u128)
            .checked_div(p.total as u128)
            .map_or(width, |f| (f as usize).min(width));
        let secs = start.elapsed().as_secs_f64().max(1e-6);
        eprint!(
            "\r{label} [{}{}] {:>3}% {:>8.1} MiB/s",
            "#".repeat(filled),
            "-".repeat(width - filled),
            (p.done * 100).checked_div(p.total).unwrap_or(100),
            p.done as f64 / secs / (1 << 20) as f64
        );
        if done {
            eprintln!();
        }
    }
}

/// A sparse raw image: `size` bytes, data at a few places.
fn demo_image(path: &Path, size: u64) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.set_len(size)?;
    for (i, at) in [0, size / 3, size - (3 << 20)].into_iter().enumerate() {
        f.seek(SeekFrom::Start(at))?;
        let block: Vec<u8> = (0..(1u32 << 20))
            .map(|n| (n.wrapping_mul(31) as u8) ^ (i as u8 + 1))
            .collect();
        f.write_all(&block)?;
    }
    Ok(())
}

/// True if the two files hold the same bytes.
fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut a, mut b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if a.metadata()?.len() != b.metadata()?.len() {
        return Ok(false);
    }
    let (mut x, mut y) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = a.read(&mut x)?;
        if n == 0 {
            return Ok(true);
        }
        b.read_exact(&mut y[..n])?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
    }
}

async fn run(
    target: &common::Target,
    file: Option<PathBuf>,
    storage_domain: &str,
    connections: usize,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("ovirt-upload-disk-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = match file {
        Some(f) => f,
        None => {
            let f = dir.join("demo.raw");
            demo_image(&f, 256 << 20).map_err(|e| format!("cannot write {}: {e}", f.display()))?;
            f
        }
    };
    let size = std::fs::metadata(&file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    let mut head = [0u8; 4];
    let qcow2 = std::fs::File::open(&file)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == b"QFI\xfb";

    let connection = target.connect().map_err(|e| format!("{e:?}"))?;
    let disks_service = connection.system_service().disks_service();
    // A qcow2 file needs a cow disk; its virtual size is in its header (bytes 24..32).
    let (format, provisioned) = if qcow2 {
        let mut header = [0u8; 32];
        std::fs::File::open(&file)
            .and_then(|mut f| f.read_exact(&mut header))
            .map_err(|e| e.to_string())?;
        let virtual_size = u64::from_be_bytes(header[24..32].try_into().unwrap());
        (DiskFormat::Cow, virtual_size)
    } else {
        (DiskFormat::Raw, size)
    };
    let name = format!("upload-{}", std::process::id());
    let disk = disks_service
        .add()
        .disk(
            Disk::new()
                .name(name.clone())
                .format(format)
                .provisioned_size(provisioned as i64)
                .initial_size(size as i64)
                .storage_domains(vec![StorageDomain::new().name(storage_domain)]),
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    let disk_service = disks_service.disk_service(&disk);
    disk_service
        .wait_until(
            |d| d.status == Some(DiskStatus::Ok),
            Duration::from_secs(300),
            Duration::from_secs(1),
        )
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "disk {name} ({}) created: {size} bytes to upload from {}",
        disk.id.as_deref().unwrap_or("?"),
        file.display()
    );

    let options = TransferOptions::new()
        .connections(connections)
        .progress(progress_bar("upload  "));
    let up = transfer::upload(&connection, &disk, file.as_path(), &options)
        .await
        .map_err(|e| format!("{e:?}"))?;
    println!(
        "uploaded in {:.2} s over {} connection(s){}: {} bytes of data, {} bytes of zeros not sent, {} requests",
        up.elapsed.as_secs_f64(),
        up.connections,
        if up.via_proxy { " (through the proxy)" } else { "" },
        up.data_bytes,
        up.zero_bytes,
        up.requests
    );

    // Back again: the same bytes (as raw guest data for a raw image).
    if !qcow2 {
        let copy = dir.join("copy.raw");
        let options = options.progress(progress_bar("download"));
        let down = transfer::download(&connection, &disk, copy.as_path(), &options)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let same = same_contents(&file, &copy).map_err(|e| e.to_string())?;
        println!(
            "downloaded in {:.2} s: {} bytes of data fetched, {} bytes of zeros skipped; the copy is {}",
            down.elapsed.as_secs_f64(),
            down.data_bytes,
            down.zero_bytes,
            if same { "identical" } else { "DIFFERENT" }
        );
        if !same {
            return Err("the downloaded copy differs from the uploaded image".into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if target.is_embedded() {
        disk_service.remove().await.map_err(|e| format!("{e:?}"))?;
    }
    connection.close().await.map_err(|e| format!("{e:?}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (target, extra) =
        match common::target(&["--file", "--storage-domain", "--connections"]).await {
            Ok(x) => x,
            Err(e) => return common::exit(USAGE, Err(e)),
        };
    let mut file = None;
    let mut storage_domain = "data".to_string();
    let mut connections = 4;
    for (name, value) in extra {
        match name.as_str() {
            "--file" => file = Some(PathBuf::from(value)),
            "--storage-domain" => storage_domain = value,
            _ => match value.parse() {
                Ok(n) if n > 0 => connections = n,
                _ => return common::exit(USAGE, Err(format!("bad --connections {value:?}"))),
            },
        }
    }
    common::exit(
        USAGE,
        run(&target, file, &storage_domain, connections).await,
    )
}
