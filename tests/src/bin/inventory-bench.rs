//! SDK-level benchmark of the inventory workload: list N VMs, then list the disk
//! attachments, NICs and permissions of every VM (3 requests per VM), all awaited, against
//! the test engine (HTTPS) behind the latency emulator.
//!
//! ```text
//! cargo run --release -p ovirt-tests --bin inventory-bench -- \
//!     [--n 100,1000] [--rtt 0,2,20] [--configs 1x1,5x1,5x5,10x40] [--runs 3] [--plain] \
//!     [--front direct,apache] [--server-time-ms 0] [--no-gzip] [--no-chart]
//! cargo run --release -p ovirt-tests --bin inventory-bench -- --parse [--vms 10000] [--runs 5]
//! ```
//!
//! `1x1` is "one request at a time": every request awaited before the next is sent, on one
//! connection without pipelining. Other configurations are (connections x pipeline): the
//! list of VMs is awaited, then the 3N requests are all sent before the first is awaited.
//! The ideal bound of a configuration is RTT x (2 + 3N / (connections x pipeline)).
//!
//! The engine and the emulators run in a child process (this binary re-executed with
//! `--serve`), so `getrusage(RUSAGE_SELF)` of this process measures the client alone. A run
//! builds a fresh `Connection`, logs in (not timed), then times the workload; every run
//! checks the counts it read against the engine's generated inventory.
//!
//! `--front` says what the client talks to: `direct` is the engine itself (HTTPS, or
//! HTTP with `--plain`), `apache` is a real Apache httpd 2.4 in front of the engine, set up
//! as the engine's packaging sets it up (`ovirt_tests::apache`: mod_proxy to the engine in
//! plain HTTP on loopback, mod_deflate, mod_ssl, `MaxKeepAliveRequests 100`,
//! `KeepAliveTimeout 5`, event MPM). The latency emulator sits between the client and
//! the front (Apache and the engine are on the same host, as in a real installation).
//! Both fronts are measured in the same run, one after the other for each configuration,
//! and the table gives each Apache row's wall time as a ratio to the direct row of the same
//! configuration. Without apache2 installed, `apache` is left out with a note.
//! `--no-chart` leaves docs/inventory.svg alone (it is drawn from the direct rows of the
//! first N otherwise).
//! `--server-time-ms D` makes the engine spend D ms on every request, one request after
//! another per connection (`TestEngineBuilder::server_time`).
//! `--no-gzip` makes the client not ask for gzip (`ConnectionBuilder::compress(false)`),
//! which shows what mod_deflate and the client's decoding cost.
//!
//! Beside the client's CPU, the table gives the CPU the server process (engine and
//! emulators) and Apache (its parent and worker processes, from `/proc`) spent in each run,
//! and all three summed and divided by the machine's cores: no client can finish a run
//! faster than that on this machine, which tells a client's delay from a CPU-bound front.
//!
//! A request that fails is counted (column `failed`, over all runs) instead of ending the
//! benchmark; the counts read are checked against the engine's inventory when none failed.
//!
//! `--parse` measures the generated reader on a list of `--vms` VM documents written by the
//! engine's generator and the sdk's writers: throughput (median of runs) and peak resident
//! memory (`VmHWM`), each reading mode in a fresh child process.
//!
//! Output: a markdown table, then one JSON line per row.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ovirt::services::SystemService;
use ovirt::{types, Connection};
use ovirt_test_engine::inventory::{Inventory, InventorySize};
use ovirt_test_engine::{render, TestEngine, PASSWORD, USERNAME};
use ovirt_tests::apache::{Apache, ApacheConfig};
use ovirt_tests::latency::LatencyProxy;
use ovirt_tests::load::{process_cpu_time, process_tree_cpu_time};

/// Longest a single run may take before the benchmark gives up (never a hang).
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
struct Options {
    ns: Vec<usize>,
    rtts_ms: Vec<u64>,
    configs: Vec<(usize, usize)>,
    runs: usize,
    tls: bool,
    serve: bool,
    parse: bool,
    parse_child: Option<(String, PathBuf)>,
    vms: usize,
    doc: String,
    fronts: Vec<String>,
    server_time_ms: u64,
    chart: bool,
    /// Ask for gzip (the sdk's default); `--no-gzip` turns it off.
    gzip: bool,
}

const USAGE: &str = "usage: inventory-bench [--n 100,1000] [--rtt 0,2,20] [--configs 1x1,5x1,5x5,10x40] [--runs 3] [--plain] [--front direct,apache] [--server-time-ms 0] [--no-gzip] [--no-chart]
       inventory-bench --parse [--vms 10000] [--doc engine|full] [--runs 5]";

fn list<T: std::str::FromStr>(name: &str, text: &str) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| format!("{name}: cannot read {v:?}"))
        })
        .collect()
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        ns: vec![100, 1000],
        rtts_ms: vec![0, 2, 20],
        configs: vec![(1, 1), (5, 1), (5, 5), (10, 40)],
        runs: 3,
        tls: true,
        serve: false,
        parse: false,
        parse_child: None,
        vms: 10_000,
        doc: "engine".to_string(),
        fronts: vec!["direct".to_string(), "apache".to_string()],
        server_time_ms: 0,
        chart: true,
        gzip: true,
    };
    let mut runs_set = false;
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--n" => o.ns = list("--n", &value("--n")?)?,
            "--rtt" => o.rtts_ms = list("--rtt", &value("--rtt")?)?,
            "--configs" => {
                o.configs = value("--configs")?
                    .split(',')
                    .map(|c| {
                        let (a, b) = c
                            .split_once('x')
                            .ok_or(format!("--configs: expected CxP, got {c:?}"))?;
                        match (a.parse::<usize>(), b.parse::<usize>()) {
                            (Ok(a), Ok(b)) if a > 0 && b > 0 => Ok((a, b)),
                            _ => Err(format!("--configs: expected CxP, got {c:?}")),
                        }
                    })
                    .collect::<Result<_, String>>()?
            }
            "--runs" => {
                o.runs = value("--runs")?
                    .parse()
                    .map_err(|_| "--runs needs a whole number".to_string())?;
                runs_set = true;
            }
            "--plain" => o.tls = false,
            "--no-chart" => o.chart = false,
            "--no-gzip" => o.gzip = false,
            "--front" => {
                o.fronts = value("--front")?
                    .split(',')
                    .map(|f| f.trim().to_string())
                    .collect();
                if o.fronts.is_empty() || o.fronts.iter().any(|f| f != "direct" && f != "apache") {
                    return Err("--front is a list of direct and apache".to_string());
                }
            }
            "--server-time-ms" => {
                o.server_time_ms = value("--server-time-ms")?
                    .parse()
                    .map_err(|_| "--server-time-ms needs a whole number".to_string())?
            }
            "--serve" => o.serve = true,
            "--parse" => o.parse = true,
            "--parse-child" => {
                let mode = value("--parse-child")?;
                let file = value("--parse-child")?;
                o.parse_child = Some((mode, PathBuf::from(file)));
            }
            "--vms" => {
                o.vms = value("--vms")?
                    .parse()
                    .map_err(|_| "--vms needs a whole number".to_string())?
            }
            "--doc" => {
                o.doc = value("--doc")?;
                if o.doc != "engine" && o.doc != "full" {
                    return Err("--doc is engine or full".to_string());
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.runs == 0 {
        return Err("--runs must be at least 1".to_string());
    }
    if o.parse && !runs_set {
        o.runs = 5;
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = if o.serve {
        serve(&o)
    } else if let Some((mode, file)) = &o.parse_child {
        parse_child(mode, file, o.runs)
    } else if o.parse {
        parse_bench(&o)
    } else {
        bench(&o)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// The server process.

/// The child process: per N, an engine for each front (with Apache: the engine in plain
/// HTTP behind a real Apache), one emulator per (N, RTT, front), until stdin closes.
fn serve(o: &Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server runtime: {e}"))?;
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = closed_tx.send(());
    });
    let server_time = (o.server_time_ms > 0).then(|| Duration::from_millis(o.server_time_ms));
    runtime.block_on(async {
        let mut keep = Vec::new();
        let mut apaches = Vec::new();
        let mut out = std::io::stdout().lock();
        for &n in &o.ns {
            for front in &o.fronts {
                let apache_front = front == "apache";
                let engine = TestEngine::builder()
                    .vms(n)
                    .tls(o.tls && !apache_front)
                    .record(false)
                    .server_time(server_time)
                    .start()
                    .await
                    .map_err(|e| e.to_string())?;
                let (target, url_of): (
                    std::net::SocketAddr,
                    Box<dyn Fn(std::net::SocketAddr) -> String>,
                ) = if apache_front {
                    let config = ApacheConfig::new(engine.addr()).tls(o.tls);
                    let apache = tokio::task::spawn_blocking(move || Apache::start(&config))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("starting Apache: {e}"))?;
                    if let Some(ca) = apache.ca_file() {
                        let _ = writeln!(out, "ca {n} {front} {}", ca.display());
                    }
                    let _ = writeln!(out, "apache {n} {}", apache.pid());
                    let addr = apache.addr();
                    let scheme = apache.scheme();
                    apaches.push(apache);
                    (
                        addr,
                        Box::new(move |via| format!("{scheme}://{via}/ovirt-engine/api")),
                    )
                } else {
                    if let Some(pem) = engine.ca_pem() {
                        let path = std::env::temp_dir()
                            .join(format!("inventory-bench-{}-{n}-ca.pem", std::process::id()));
                        std::fs::write(&path, pem).map_err(|e| format!("writing the CA: {e}"))?;
                        let _ = writeln!(out, "ca {n} {front} {}", path.display());
                    }
                    let scheme = engine.scheme();
                    (
                        engine.addr(),
                        Box::new(move |via| format!("{scheme}://{via}/ovirt-engine/api")),
                    )
                };
                for &ms in &o.rtts_ms {
                    let proxy = LatencyProxy::start(target, Duration::from_millis(ms))
                        .await
                        .map_err(|e| format!("starting the latency emulator: {e}"))?;
                    let _ = writeln!(out, "proxy {n} {ms} {front} {}", url_of(proxy.addr()));
                    keep.push(proxy);
                }
                keep_engine(engine);
            }
        }
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        drop(out);
        let _ = closed_rx.await;
        drop(keep);
        // Stops every Apache (SIGTERM, then waits for it).
        tokio::task::spawn_blocking(move || drop(apaches))
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    })
}

/// Keeps an engine running until the process exits.
fn keep_engine(engine: TestEngine) {
    std::mem::forget(engine);
}

/// The server child and what it announced.
struct Servers {
    child: Child,
    /// (n, rtt_ms, front, url)
    urls: Vec<(usize, u64, String, String)>,
    /// (n, front, CA file)
    cas: Vec<(usize, String, PathBuf)>,
    /// (n, pid of the Apache parent process)
    apaches: Vec<(usize, u32)>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        // Long enough for the child to stop its Apache instances (SIGTERM and wait).
        for _ in 0..1000 {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for (_, front, ca) in &self.cas {
            if front == "direct" {
                let _ = std::fs::remove_file(ca);
            }
        }
    }
}

fn join<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(",")
}

fn start_servers(o: &Options) -> Result<Servers, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let mut args = vec![
        "--serve".to_string(),
        "--n".to_string(),
        join(&o.ns),
        "--rtt".to_string(),
        join(&o.rtts_ms),
        "--front".to_string(),
        o.fronts.join(","),
        "--server-time-ms".to_string(),
        o.server_time_ms.to_string(),
    ];
    if !o.tls {
        args.push("--plain".to_string());
    }
    let mut child = Command::new(exe)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the server process: {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("no stdout of the server process")?;
    let mut servers = Servers {
        child,
        urls: Vec::new(),
        cas: Vec::new(),
        apaches: Vec::new(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| "the server process did not get ready within 60 s".to_string())?;
        let bad = || format!("unexpected line from the server process: {line:?}");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ca", n, front, path] => servers.cas.push((
                n.parse().map_err(|_| bad())?,
                front.to_string(),
                PathBuf::from(path),
            )),
            ["proxy", n, ms, front, url] => servers.urls.push((
                n.parse().map_err(|_| bad())?,
                ms.parse().map_err(|_| bad())?,
                front.to_string(),
                url.to_string(),
            )),
            ["apache", n, pid] => servers.apaches.push((
                n.parse().map_err(|_| bad())?,
                pid.parse().map_err(|_| bad())?,
            )),
            ["ready"] => return Ok(servers),
            _ => return Err(bad()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The inventory workload.

/// (disk attachments, NICs, permissions) per VM, in list order.
type Counts = Vec<(usize, usize, usize)>;

struct Measured {
    counts: Counts,
    requests: usize,
    /// Requests that failed (0 for the one-at-a-time client, which stops at the first).
    failed: usize,
    first_error: Option<String>,
    /// CPU time of the per-VM phase (after the VM list arrived).
    per_vm_cpu: Duration,
}

/// Lists the VMs, then sends the 3 requests of every VM before awaiting the first; a
/// failed request is counted, not the end of the run.
async fn pipelined(system: &SystemService) -> Result<Measured, ovirt::Error> {
    let vms_service = system.vms_service();
    let vms: Vec<types::Vm> = vms_service.list().await?;
    let cpu0 = process_cpu_time();
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            let vm = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
            (
                vm.disk_attachments_service().list().send(),
                vm.nics_service().list().send(),
                vm.permissions_service().list().send(),
            )
        })
        .collect();
    let mut counts = Vec::with_capacity(vms.len());
    let mut failed = 0;
    let mut first_error = None;
    let mut count = |r: Result<usize, ovirt::Error>| -> usize {
        match r {
            Ok(n) => n,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
                usize::MAX
            }
        }
    };
    for (d, n, p) in pending {
        let d = count(d.await.map(|v| v.len()));
        let n = count(n.await.map(|v| v.len()));
        let p = count(p.await.map(|v| v.len()));
        counts.push((d, n, p));
    }
    Ok(Measured {
        requests: 1 + 3 * counts.len(),
        counts,
        failed,
        first_error,
        per_vm_cpu: process_cpu_time().saturating_sub(cpu0),
    })
}

/// The same workload, each request awaited before the next is sent.
async fn one_at_a_time(system: &SystemService) -> Result<Measured, ovirt::Error> {
    let vms_service = system.vms_service();
    let vms: Vec<types::Vm> = vms_service.list().await?;
    let cpu0 = process_cpu_time();
    let mut counts = Vec::with_capacity(vms.len());
    for vm in &vms {
        let vm = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
        counts.push((
            vm.disk_attachments_service().list().await?.len(),
            vm.nics_service().list().await?.len(),
            vm.permissions_service().list().await?.len(),
        ));
    }
    Ok(Measured {
        requests: 1 + 3 * counts.len(),
        counts,
        failed: 0,
        first_error: None,
        per_vm_cpu: process_cpu_time().saturating_sub(cpu0),
    })
}

/// One row of the table: medians over the runs.
struct Row {
    client: &'static str,
    front: String,
    server_time_ms: u64,
    /// Failed requests over all runs (warm-up included).
    failed: usize,
    n: usize,
    rtt_ms: u64,
    connections: usize,
    pipeline: usize,
    wall_s: f64,
    cpu_s: f64,
    /// CPU of the server process (engine and latency emulator), median over the runs.
    server_cpu_s: Option<f64>,
    /// CPU of Apache (its parent and worker processes), median over the runs.
    apache_cpu_s: Option<f64>,
    per_vm_cpu_us: f64,
    requests: usize,
    bound_s: f64,
    walls: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// RTT x (2 + 3N / (connections x pipeline)), in seconds.
fn ideal_bound(rtt_ms: u64, n: usize, connections: usize, pipeline: usize) -> f64 {
    rtt_ms as f64 / 1000.0 * (2.0 + 3.0 * n as f64 / (connections * pipeline) as f64)
}

async fn one_run(
    url: &str,
    ca: Option<&Path>,
    connections: usize,
    pipeline: usize,
    gzip: bool,
    expected: &Counts,
) -> Result<(f64, f64, f64, usize, usize), String> {
    let mut builder = Connection::builder()
        .url(url)
        .username(USERNAME)
        .password(PASSWORD)
        .connections(connections)
        .pipeline(pipeline)
        .timeout(Duration::from_secs(120))
        .compress(gzip);
    if let Some(ca) = ca {
        builder = builder.ca_file(ca);
    }
    let conn = builder.build().map_err(|e| e.to_string())?;
    conn.authenticate().await.map_err(|e| e.to_string())?;
    let system = conn.system_service();
    let cpu0 = process_cpu_time();
    let start = Instant::now();
    let result = if connections == 1 && pipeline == 1 {
        one_at_a_time(&system).await
    } else {
        pipelined(&system).await
    };
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu_time().saturating_sub(cpu0).as_secs_f64();
    let m = result.map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    if let Some(e) = &m.first_error {
        eprintln!("    {} requests failed at {url}, the first: {e}", m.failed);
    } else if &m.counts != expected {
        return Err(format!(
            "the inventory read at {url} does not match the engine's"
        ));
    }
    let per_vm = m.per_vm_cpu.as_secs_f64() * 1e6 / (m.requests - 1).max(1) as f64;
    Ok((wall, cpu, per_vm, m.requests, m.failed))
}

fn bench(o: &Options) -> Result<(), String> {
    let mut o = o.clone();
    if o.fronts.iter().any(|f| f == "apache") {
        if let Err(e) = ovirt_tests::apache::installed() {
            eprintln!("inventory-bench: the Apache front is left out: {e}");
            o.fronts.retain(|f| f != "apache");
            if o.fronts.is_empty() {
                return Err("no front left to measure".to_string());
            }
        }
    }
    let o = &o;
    let servers = start_servers(o)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the client runtime: {e}"))?;
    eprintln!(
        "inventory-bench: n={:?} rtt_ms={:?} configs={:?} runs={} tls={} fronts={:?} server_time_ms={}",
        o.ns, o.rtts_ms, o.configs, o.runs, o.tls, o.fronts, o.server_time_ms
    );
    let mut rows = Vec::new();
    for &n in &o.ns {
        let inventory = Inventory::generate(InventorySize {
            vms: n,
            ..InventorySize::default()
        });
        let expected: Counts = inventory
            .vms
            .iter()
            .map(|vm| {
                (
                    vm.disk_attachments.len(),
                    vm.nics.len(),
                    vm.permissions.len(),
                )
            })
            .collect();
        for &rtt_ms in &o.rtts_ms {
            for &(c, p) in &o.configs {
                for front in &o.fronts {
                    let ca = servers
                        .cas
                        .iter()
                        .find(|(m, f, _)| *m == n && f == front)
                        .map(|(_, _, p)| p.as_path());
                    let url = &servers
                        .urls
                        .iter()
                        .find(|(m, r, f, _)| *m == n && *r == rtt_ms && f == front)
                        .ok_or("the server process announced no emulator for a case")?
                        .3;
                    // One unmeasured warm-up run (first TLS session, allocator, caches).
                    let mut walls = Vec::new();
                    let mut cpus = Vec::new();
                    let mut per_vm = Vec::new();
                    let mut server_cpus = Vec::new();
                    let mut apache_cpus = Vec::new();
                    let server_pid = servers.child.id();
                    let apache_pid = servers
                        .apaches
                        .iter()
                        .find(|(m, _)| *m == n && front == "apache")
                        .map(|(_, pid)| *pid);
                    let mut requests = 0;
                    let mut failed = 0;
                    for run in 0..=o.runs {
                        if run == 0 && rtt_ms > 2 && c * p == 1 {
                            continue; // a sequential warm-up at 20 ms would take a minute
                        }
                        let server0 = process_tree_cpu_time(server_pid);
                        let apache0 = apache_pid.and_then(process_tree_cpu_time);
                        let r = runtime.block_on(async {
                            tokio::time::timeout(
                                RUN_TIMEOUT,
                                one_run(url, ca, c, p, o.gzip, &expected),
                            )
                            .await
                            .map_err(|_| format!("a run took longer than {RUN_TIMEOUT:?}"))?
                        })?;
                        failed += r.4;
                        if run > 0 {
                            walls.push(r.0);
                            cpus.push(r.1);
                            per_vm.push(r.2);
                            requests = r.3;
                            let spent = |pid: Option<u32>, before: Option<Duration>| {
                                Some(
                                    process_tree_cpu_time(pid?)?
                                        .checked_sub(before?)?
                                        .as_secs_f64(),
                                )
                            };
                            server_cpus.extend(spent(Some(server_pid), server0));
                            apache_cpus.extend(spent(apache_pid, apache0));
                        }
                    }
                    let row = Row {
                        client: if c * p == 1 { "one-at-a-time" } else { "async" },
                        front: front.clone(),
                        server_time_ms: o.server_time_ms,
                        failed,
                        n,
                        rtt_ms,
                        connections: c,
                        pipeline: p,
                        wall_s: median(&walls),
                        cpu_s: median(&cpus),
                        server_cpu_s: (!server_cpus.is_empty()).then(|| median(&server_cpus)),
                        apache_cpu_s: (!apache_cpus.is_empty()).then(|| median(&apache_cpus)),
                        per_vm_cpu_us: median(&per_vm),
                        requests,
                        bound_s: ideal_bound(rtt_ms, n, c, p),
                        walls,
                    };
                    eprintln!(
                    "  n={n} rtt={rtt_ms}ms {c}x{p} {front}: wall {:.3} s (runs {:?}), cpu {:.3} s, {failed} failed",
                    row.wall_s,
                    row.walls
                        .iter()
                        .map(|w| (w * 1000.0).round() / 1000.0)
                        .collect::<Vec<_>>(),
                    row.cpu_s
                );
                    rows.push(row);
                }
            }
        }
    }
    drop(servers);
    print_table(&rows);
    if o.chart {
        write_chart(&rows);
    }
    Ok(())
}

/// Draws the README's chart (`docs/inventory.svg`) from the rows of the first N measured.
fn write_chart(rows: &[Row]) {
    use ovirt_tests::chart::{write_inventory_svg, InventoryRow};
    let Some(n) = rows.iter().find(|r| r.front == "direct").map(|r| r.n) else {
        return;
    };
    let chart: Vec<InventoryRow> = rows
        .iter()
        .filter(|r| r.n == n && r.front == "direct")
        .map(|r| InventoryRow {
            series: match (r.connections, r.pipeline) {
                (1, 1) => "one at a time".to_string(),
                (c, 1) => format!("{c} connections, no pipelining"),
                (c, p) => format!("{c} connections x pipeline {p}"),
            },
            rtt_ms: r.rtt_ms as f64,
            wall_ms: r.wall_s * 1000.0,
            bound_ms: (r.connections * r.pipeline > 1).then_some(r.bound_s * 1000.0),
        })
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/inventory.svg");
    match write_inventory_svg(&chart, path) {
        Ok(()) => eprintln!("inventory-bench: chart of n={n} written to docs/inventory.svg"),
        Err(e) => eprintln!("inventory-bench: chart not written: {e}"),
    }
}

/// The wall time of the direct row of the same case, for the Apache rows' ratio.
fn direct_wall(rows: &[Row], r: &Row) -> Option<f64> {
    rows.iter()
        .find(|d| {
            d.front == "direct"
                && d.n == r.n
                && d.rtt_ms == r.rtt_ms
                && d.connections == r.connections
                && d.pipeline == r.pipeline
        })
        .map(|d| d.wall_s)
}

/// A CPU figure for the table, or "n/a".
fn seconds(s: Option<f64>) -> String {
    s.map_or_else(|| "n/a".to_string(), |s| format!("{s:.3}"))
}

fn print_table(rows: &[Row]) {
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    println!(
        "| client | front | N | RTT ms | server ms/request | connections | pipeline | requests | failed | wall s (median) | ratio to direct | ideal bound s | ratio to bound | client CPU s | CPU µs/request | CPU µs/per-VM request | server CPU s | Apache CPU s | all CPU / cores s |"
    );
    println!(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for r in rows {
        let ratio = if r.bound_s > 0.0 {
            format!("{:.2}", r.wall_s / r.bound_s)
        } else {
            "n/a".to_string()
        };
        let to_direct = match (r.front.as_str(), direct_wall(rows, r)) {
            ("direct", _) => "1".to_string(),
            (_, Some(d)) if d > 0.0 => format!("{:.2}", r.wall_s / d),
            _ => "n/a".to_string(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {:.3} | {} | {:.3} | {:.1} | {:.1} | {} | {} | {} |",
            r.client,
            r.front,
            r.n,
            r.rtt_ms,
            r.server_time_ms,
            r.connections,
            r.pipeline,
            r.requests,
            r.failed,
            r.wall_s,
            to_direct,
            r.bound_s,
            ratio,
            r.cpu_s,
            r.cpu_s * 1e6 / r.requests.max(1) as f64,
            r.per_vm_cpu_us,
            seconds(r.server_cpu_s),
            seconds(r.apache_cpu_s),
            seconds(
                r.server_cpu_s
                    .map(|s| (s + r.cpu_s + r.apache_cpu_s.unwrap_or(0.0)) / cores)
            ),
        );
    }
    println!();
    for r in rows {
        println!(
            "{{\"client\":\"{}\",\"front\":\"{}\",\"n\":{},\"rtt_ms\":{},\"server_time_ms\":{},\"connections\":{},\"pipeline\":{},\"wall_s\":{:.6},\"cpu_s\":{:.6},\"requests\":{},\"failed\":{},\"bound_s\":{:.6},\"per_vm_cpu_us\":{:.2}}}",
            r.client, r.front, r.n, r.rtt_ms, r.server_time_ms, r.connections, r.pipeline, r.wall_s, r.cpu_s, r.requests,
            r.failed, r.bound_s, r.per_vm_cpu_us
        );
    }
}

// ---------------------------------------------------------------------------------------
// Parsing a large list.

/// The list document of `vms` VMs: the engine's VM documents, or (`full`) VMs with every
/// attribute of the model set.
fn vms_document(vms: usize, doc: &str) -> String {
    let inventory = Inventory::generate(InventorySize {
        vms,
        ..InventorySize::default()
    });
    if doc == "full" {
        // Every attribute of the model set one level deep, the engine's id and name.
        let items: Vec<String> = inventory.vms.iter().map(full_vm).collect();
        return render::list("vms", items.iter().map(String::as_str));
    }
    let items: Vec<String> = inventory.vms.iter().map(render::vm).collect();
    render::list("vms", items.iter().map(String::as_str))
}

/// The engine's VM document with every scalar attribute of the model set as well (the
/// sdk's generated sample values, which include escaped and non-ASCII text).
fn full_vm(vm: &ovirt_test_engine::inventory::Vm) -> String {
    use ovirt::xml::sample::Sample;
    let engine: types::Vm = ovirt::xml::from_str(&render::vm(vm)).unwrap_or_default();
    let mut full = types::Vm::sample(0);
    full.id = engine.id;
    full.href = engine.href;
    full.name = engine.name;
    full.status = engine.status;
    full.memory = engine.memory;
    full.cluster = engine.cluster;
    full.host = engine.host;
    full.disk_attachments = engine.disk_attachments;
    full.nics = engine.nics;
    full.permissions = engine.permissions;
    ovirt::xml::to_string(&full)
}

/// Peak resident memory of this process (`VmHWM`), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Current resident memory of this process (`VmRSS`), in bytes.
fn current_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A child measuring one reading mode on the document in `file`; prints one JSON line.
fn parse_child(mode: &str, file: &Path, runs: usize) -> Result<(), String> {
    let base_rss = current_rss().unwrap_or(0);
    let (secs, items, size) = match mode {
        "whole" => {
            // The body kept whole, as the sdk does: all bytes, then the generated reader.
            let mut times = Vec::new();
            let mut items = 0;
            let mut size = 0;
            for _ in 0..runs {
                let body = std::fs::read(file).map_err(|e| format!("reading {file:?}: {e}"))?;
                size = body.len();
                let start = Instant::now();
                let text = std::str::from_utf8(&body).map_err(|e| e.to_string())?;
                let vms: Vec<types::Vm> =
                    ovirt::xml::from_str_list(text).map_err(|e| e.to_string())?;
                times.push(start.elapsed().as_secs_f64());
                items = vms.len();
                drop(vms);
                drop(body);
            }
            (median(&times), items, size)
        }
        "stream" => {
            // Streamed: the body read in 64 KiB chunks, each item read as soon as it is in
            // (`ovirt::xml::ListReader`); the whole body is never in memory.
            let mut times = Vec::new();
            let mut items = 0;
            let mut size = 0;
            for _ in 0..runs {
                let mut f =
                    std::fs::File::open(file).map_err(|e| format!("opening {file:?}: {e}"))?;
                let mut chunk = vec![0u8; 64 * 1024];
                let mut reader = ovirt::xml::ListReader::<types::Vm>::new();
                let mut vms: Vec<types::Vm> = Vec::new();
                let mut elapsed = Duration::ZERO;
                size = 0;
                loop {
                    let n = f
                        .read(&mut chunk)
                        .map_err(|e| format!("reading {file:?}: {e}"))?;
                    if n == 0 {
                        break;
                    }
                    size += n;
                    let start = Instant::now();
                    vms.extend(reader.push(&chunk[..n]).map_err(|e| e.to_string())?);
                    elapsed += start.elapsed();
                }
                reader.finish().map_err(|e| e.to_string())?;
                times.push(elapsed.as_secs_f64());
                items = vms.len();
            }
            (median(&times), items, size)
        }
        "events" => {
            // Lower bound: the XML tokenizer alone (quick-xml events, nothing built).
            let body = std::fs::read(file).map_err(|e| format!("reading {file:?}: {e}"))?;
            let mut times = Vec::new();
            let mut items = 0;
            for _ in 0..runs {
                let start = Instant::now();
                items = count_events(&body)?;
                times.push(start.elapsed().as_secs_f64());
            }
            (median(&times), items, body.len())
        }
        other => return Err(format!("unknown parse mode {other:?}")),
    };
    let peak = peak_rss().unwrap_or(0);
    println!(
        "{{\"mode\":\"{mode}\",\"bytes\":{size},\"items\":{items},\"parse_s\":{secs:.6},\"mb_per_s\":{:.1},\"peak_rss\":{peak},\"base_rss\":{base_rss},\"size_of_vm\":{},\"size_of_cluster\":{},\"size_of_host\":{}}}",
        size as f64 / 1e6 / secs,
        std::mem::size_of::<types::Vm>(),
        std::mem::size_of::<types::Cluster>(),
        std::mem::size_of::<types::Host>(),
    );
    Ok(())
}

fn count_events(body: &[u8]) -> Result<usize, String> {
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut n = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return Ok(n),
            Ok(quick_xml::events::Event::Start(_)) => n += 1,
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Runs `--parse-child mode file --runs runs` (bounded by [`RUN_TIMEOUT`]); its JSON line.
fn run_parse_child(exe: &Path, mode: &str, file: &Path, runs: usize) -> Result<String, String> {
    let mut child = Command::new(exe)
        .args(["--parse-child", mode])
        .arg(file)
        .args(["--runs", &runs.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the parse child: {e}"))?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(status)) => return Err(format!("the {mode} parse child failed: {status}")),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the {mode} parse child did not finish in time"));
            }
        }
    }
    let mut out = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    Ok(out.trim().to_string())
}

fn parse_bench(o: &Options) -> Result<(), String> {
    let doc = vms_document(o.vms, &o.doc);
    let file = std::env::temp_dir().join(format!("inventory-bench-{}.xml", std::process::id()));
    std::fs::write(&file, &doc).map_err(|e| format!("writing {file:?}: {e}"))?;
    let size = doc.len();
    drop(doc);
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let mut lines = Vec::new();
    for mode in ["whole", "stream", "events"] {
        // Throughput: the median of the runs. Memory: a fresh child reading the document
        // once (repeated runs fragment the heap and raise the high-water mark).
        let speed = run_parse_child(&exe, mode, &file, o.runs);
        let memory = run_parse_child(&exe, mode, &file, 1);
        let (speed, memory) = match (speed, memory) {
            (Ok(s), Ok(m)) => (s, m),
            (Err(e), _) | (_, Err(e)) => {
                let _ = std::fs::remove_file(&file);
                return Err(e);
            }
        };
        lines.push((mode, speed, memory));
    }
    let _ = std::fs::remove_file(&file);
    println!(
        "document: {} VMs ({} documents), {:.1} MB",
        o.vms,
        o.doc,
        size as f64 / 1e6
    );
    println!(
        "| reader | MB/s (median of {}) | peak RSS MB | peak RSS / document |",
        o.runs
    );
    println!("| --- | ---: | ---: | ---: |");
    for (mode, line, memory) in &lines {
        let field = |line: &str, name: &str| -> f64 {
            let key = format!("\"{name}\":");
            line.find(&key)
                .map(|i| &line[i + key.len()..])
                .and_then(|rest| {
                    rest.split([',', '}'])
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                })
                .unwrap_or(f64::NAN)
        };
        let peak = field(memory, "peak_rss");
        println!(
            "| {mode} | {:.1} | {:.1} | {:.2} |",
            field(line, "mb_per_s"),
            peak / 1e6,
            peak / size as f64
        );
    }
    println!();
    for (_, line, memory) in &lines {
        println!("{line}");
        println!("{memory}");
    }
    Ok(())
}
