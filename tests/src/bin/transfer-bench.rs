//! Benchmark of disk upload and download through image transfers (`ovirt::transfer`)
//! against the test engine's imageio on loopback (HTTPS with the engine's CA).
//!
//! ```text
//! cargo run --release -p ovirt-tests --bin transfer-bench -- \
//!     [--size-gib 4] [--data-mib 256] [--connections 1,4] [--chunk-mib 4] [--runs 1]
//! ```
//!
//! The image is a sparse raw file of `--size-gib` GiB with `--data-mib` MiB of data in
//! 4 MiB blocks spread evenly (pseudo-random bytes), the rest holes. Each run uploads it
//! to a fresh disk, or downloads that disk into a fresh file, with 1 and 4 connections,
//! with zero ranges skipped (`SEEK_DATA`/`extents`, `PATCH zero`) and without (every byte
//! sent), and the rate is the image's size over the wall time of the whole
//! `upload`/`download` call (transfer creation, phases and finalize included). Every
//! download is compared with the image, byte for byte.
//!
//! The baseline is a plain copy of the same file (holes read as zeros) to a TCP socket on
//! loopback whose other end discards the bytes (no TLS, no HTTP): what the machine can
//! move without the protocol.
//!
//! The engine runs in this process; every run is a child process (this binary
//! re-executed with `--child`), so its peak resident memory (`VmHWM` of
//! `/proc/self/status`) is the client's alone, not the engine's image storage.
//!
//! Output: a markdown table, then one JSON line per row.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ovirt::transfer::{self, TransferOptions};
use ovirt::types::{Disk, DiskFormat, DiskStatus, StorageDomain};
use ovirt::{Connection, WaitUntil};
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};

const USAGE: &str = "usage: transfer-bench [--size-gib 4] [--data-mib 256] [--connections 1,4] [--chunk-mib 4] [--runs 1]";

#[derive(Debug, Clone)]
struct Options {
    size_gib: u64,
    data_mib: u64,
    connections: Vec<usize>,
    chunk_mib: usize,
    runs: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        size_gib: 4,
        data_mib: 256,
        connections: vec![1, 4],
        chunk_mib: 4,
        runs: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|_| format!("bad number {v:?}"));
        match arg.as_str() {
            "--size-gib" => o.size_gib = number(value()?)?,
            "--data-mib" => o.data_mib = number(value()?)?,
            "--chunk-mib" => o.chunk_mib = number(value()?)? as usize,
            "--runs" => o.runs = number(value()?)?.max(1) as usize,
            "--connections" => {
                o.connections = value()?
                    .split(',')
                    .map(|c| c.parse().map_err(|_| format!("bad connections {c:?}")))
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.data_mib > o.size_gib * 1024 {
        return Err("--data-mib is larger than the image".into());
    }
    Ok(o)
}

/// The sparse image: `data_mib` MiB in 4 MiB blocks spread evenly over `size` bytes.
fn make_image(path: &Path, size: u64, data_mib: u64) -> std::io::Result<u64> {
    let mut f = std::fs::File::create(path)?;
    f.set_len(size)?;
    let block = 4u64 << 20;
    let blocks = data_mib / 4;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut buf = vec![0u8; block as usize];
    for i in 0..blocks {
        for w in buf.chunks_exact_mut(8) {
            // xorshift64: bytes that do not compress and are never zero for long.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            w.copy_from_slice(&state.to_le_bytes());
        }
        let at = (size / blocks.max(1)) * i / block * block;
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&buf)?;
    }
    f.sync_all()?;
    Ok(blocks * block)
}

/// Peak resident memory of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The load averages, for the record.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One measured run, as the child prints it.
#[derive(Debug, Clone)]
struct Measured {
    secs: f64,
    data_bytes: u64,
    zero_bytes: u64,
    requests: u64,
    connections: usize,
    peak_rss_kib: u64,
}

fn parse_measured(line: &str) -> Option<Measured> {
    let f: Vec<&str> = line.strip_prefix("RESULT ")?.split_whitespace().collect();
    Some(Measured {
        secs: f.first()?.parse().ok()?,
        data_bytes: f.get(1)?.parse().ok()?,
        zero_bytes: f.get(2)?.parse().ok()?,
        requests: f.get(3)?.parse().ok()?,
        connections: f.get(4)?.parse().ok()?,
        peak_rss_kib: f.get(5)?.parse().ok()?,
    })
}

/// The child: one upload, download or socket copy, then `RESULT secs data zero requests
/// connections peak_rss_kib`.
fn child(args: &[String]) -> Result<(), String> {
    let get = |name: &str| -> Result<&str, String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
            .ok_or(format!("child needs {name}"))
    };
    let mode = get("--child")?;
    let file = PathBuf::from(get("--file")?);
    if mode == "socket" {
        let (secs, bytes) = socket_copy(&file).map_err(|e| e.to_string())?;
        println!("RESULT {secs} {bytes} 0 0 1 {}", peak_rss_kib());
        return Ok(());
    }
    let url = get("--url")?.to_string();
    let ca = get("--ca")?.to_string();
    let disk = get("--disk")?.to_string();
    let connections: usize = get("--connections")?
        .parse()
        .map_err(|_| "bad --connections")?;
    let zero = get("--zero")? == "true";
    let chunk: usize = get("--chunk-mib")?.parse().map_err(|_| "bad --chunk-mib")?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let stats = runtime.block_on(async {
        let connection = Connection::builder()
            .url(url)
            .username(USERNAME)
            .password(PASSWORD)
            .ca_file(ca)
            .build()?;
        connection.test().await?;
        let options = TransferOptions::new()
            .connections(connections)
            .chunk_size(chunk << 20)
            .zero_ranges(zero);
        let stats = match mode {
            "upload" => transfer::upload(&connection, &disk, file.as_path(), &options).await?,
            _ => transfer::download(&connection, &disk, file.as_path(), &options).await?,
        };
        connection.close().await?;
        Ok::<_, ovirt::Error>(stats)
    });
    let stats = stats.map_err(|e| format!("{e:?}"))?;
    println!(
        "RESULT {} {} {} {} {} {}",
        stats.elapsed.as_secs_f64(),
        stats.data_bytes,
        stats.zero_bytes,
        stats.requests,
        stats.connections,
        peak_rss_kib()
    );
    Ok(())
}

/// Copies the whole file (holes read as zeros) to a loopback TCP socket whose reader
/// discards everything; returns the seconds and bytes.
fn socket_copy(file: &Path) -> std::io::Result<(f64, u64)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let sink = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let start = Instant::now();
    let mut out = TcpStream::connect(addr)?;
    let mut f = std::fs::File::open(file)?;
    let mut buf = vec![0u8; 4 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
    }
    drop(out);
    let total = sink
        .join()
        .map_err(|_| std::io::Error::other("sink panicked"))??;
    Ok((start.elapsed().as_secs_f64(), total))
}

/// Runs this binary as a child with `args`; its `RESULT` line.
fn run_child(args: &[String]) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().find_map(parse_measured) {
        Some(m) if out.status.success() => Ok(m),
        _ => Err(format!(
            "child {args:?} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// True if the two files have the same bytes.
fn same_contents(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (a, b) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if a.metadata()?.len() != b.metadata()?.len() {
        return Ok(false);
    }
    let (mut a, mut b) = (
        BufReader::with_capacity(4 << 20, a),
        BufReader::with_capacity(4 << 20, b),
    );
    loop {
        let x = a.fill_buf()?;
        if x.is_empty() {
            return Ok(true);
        }
        let n = x.len();
        let mut y = vec![0u8; n];
        b.read_exact(&mut y)?;
        if x != y.as_slice() {
            return Ok(false);
        }
        a.consume(n);
    }
}

/// A disk of `size` bytes (raw), waited for until `ok`.
async fn new_disk(connection: &Connection, name: &str, size: u64) -> Result<String, ovirt::Error> {
    let disks = connection.system_service().disks_service();
    let disk = disks
        .add()
        .disk(
            Disk::new()
                .name(name)
                .format(DiskFormat::Raw)
                .provisioned_size(size as i64)
                .storage_domains(vec![StorageDomain::new().name("data")]),
        )
        .await?;
    let service = disks.disk_service(&disk);
    service
        .wait_until(
            |d| d.status == Some(DiskStatus::Ok),
            Duration::from_secs(60),
            Duration::from_millis(50),
        )
        .await?;
    Ok(disk.id.unwrap_or_default())
}

struct Row {
    what: String,
    connections: String,
    zero: String,
    m: Measured,
    size: u64,
}

fn bench(o: &Options) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("transfer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = bench_in(o, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench_in(o: &Options, dir: &Path) -> Result<(), String> {
    let size = o.size_gib << 30;
    let image = dir.join("image.raw");
    let data = make_image(&image, size, o.data_mib).map_err(|e| e.to_string())?;
    eprintln!(
        "image: {} GiB, {} MiB of data; load average before: {}",
        o.size_gib,
        data >> 20,
        load_average()
    );
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let engine = runtime
        .block_on(TestEngine::builder().tls(true).start())
        .map_err(|e| e.to_string())?;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, engine.ca_pem().unwrap_or_default()).map_err(|e| e.to_string())?;
    let connection = Connection::builder()
        .url(engine.url())
        .username(USERNAME)
        .password(PASSWORD)
        .ca_file(&ca)
        .build()
        .map_err(|e| e.to_string())?;
    let _guard = runtime.enter();

    let mut rows = Vec::new();
    let socket_copy_row = |rows: &mut Vec<Row>| -> Result<(), String> {
        let m = run_child(&[
            "--child".into(),
            "socket".into(),
            "--file".into(),
            image.display().to_string(),
        ])?;
        eprintln!("socket copy: {:.2} s", m.secs);
        rows.push(Row {
            what: "plain copy to a loopback TCP socket".into(),
            connections: "1".into(),
            zero: "-".into(),
            m,
            size,
        });
        Ok(())
    };
    for run in 0..o.runs {
        for &zero in &[true, false] {
            // The baseline is measured between the groups: the machine's load moves.
            socket_copy_row(&mut rows)?;
            for &connections in &o.connections {
                let name = format!("bench-{run}-{connections}-{zero}");
                let disk = runtime
                    .block_on(new_disk(&connection, &name, size))
                    .map_err(|e| format!("{e:?}"))?;
                let common = |mode: &str, file: &Path| -> Vec<String> {
                    vec![
                        "--child".into(),
                        mode.into(),
                        "--file".into(),
                        file.display().to_string(),
                        "--url".into(),
                        engine.url(),
                        "--ca".into(),
                        ca.display().to_string(),
                        "--disk".into(),
                        disk.clone(),
                        "--connections".into(),
                        connections.to_string(),
                        "--zero".into(),
                        zero.to_string(),
                        "--chunk-mib".into(),
                        o.chunk_mib.to_string(),
                    ]
                };
                let up = run_child(&common("upload", &image))?;
                eprintln!("upload {connections} conn zero={zero}: {:.2} s", up.secs);
                let copy = dir.join("copy.raw");
                let down = run_child(&common("download", &copy))?;
                eprintln!(
                    "download {connections} conn zero={zero}: {:.2} s",
                    down.secs
                );
                if !same_contents(&image, &copy).map_err(|e| e.to_string())? {
                    return Err(format!(
                        "the download ({connections} connections, zero ranges {zero}) differs from the image"
                    ));
                }
                let _ = std::fs::remove_file(&copy);
                let label = if zero { "skipped" } else { "sent" };
                rows.push(Row {
                    what: "upload".into(),
                    connections: connections.to_string(),
                    zero: label.into(),
                    m: up,
                    size,
                });
                rows.push(Row {
                    what: "download".into(),
                    connections: connections.to_string(),
                    zero: label.into(),
                    m: down,
                    size,
                });
                runtime
                    .block_on(
                        connection
                            .system_service()
                            .disks_service()
                            .disk_service(&disk)
                            .remove()
                            .send(),
                    )
                    .map_err(|e| format!("{e:?}"))?;
            }
        }
    }
    socket_copy_row(&mut rows)?;
    // The ratio's base: the median rate of the socket copies of this run.
    let mut copies: Vec<f64> = rows
        .iter()
        .filter(|r| r.zero == "-")
        .map(|r| r.size as f64 / r.m.secs)
        .collect();
    copies.sort_by(f64::total_cmp);
    let baseline = copies[copies.len() / 2];
    println!(
        "\n{} GiB image, {} MiB data, chunk {} MiB; load average after: {}\n",
        o.size_gib,
        data >> 20,
        o.chunk_mib,
        load_average()
    );
    println!(
        "ratios against the median socket copy, {:.0} MiB/s\n",
        baseline / (1u64 << 20) as f64
    );
    println!("| what | connections | zeros | wall s | MiB/s of image | vs socket copy | data MiB sent/fetched | requests | client peak RSS MiB |");
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        let rate = r.size as f64 / r.m.secs;
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2}x | {} | {} | {:.0} |",
            r.what,
            r.connections,
            r.zero,
            r.m.secs,
            rate / (1u64 << 20) as f64,
            rate / baseline,
            r.m.data_bytes >> 20,
            r.m.requests,
            r.m.peak_rss_kib as f64 / 1024.0
        );
    }
    println!();
    for r in &rows {
        println!(
            "{{\"what\":\"{}\",\"connections\":\"{}\",\"zeros\":\"{}\",\"secs\":{:.3},\"size\":{},\"data_bytes\":{},\"zero_bytes\":{},\"requests\":{},\"used_connections\":{},\"peak_rss_kib\":{}}}",
            r.what, r.connections, r.zero, r.m.secs, r.size, r.m.data_bytes, r.m.zero_bytes, r.m.requests, r.m.connections, r.m.peak_rss_kib
        );
    }
    drop(engine);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return match child(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match bench(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
