//! The seed inventory, async: list every VM; for each VM start listing its disk
//! attachments, NICs and permissions without waiting; then wait for all of them.
//!
//! Without `--url` it runs against the embedded test engine behind the latency emulator
//! and prints the time of the same inventory done one request at a time and pipelined:
//!
//! ```text
//! cargo run --release -p ovirt --example inventory -- [--vms 100] [--rtt-ms 10] [--connections 1] [--pipeline 16]
//! ```
//!
//! With `--url` it runs against a real engine and prints one line per VM and a summary:
//!
//! ```text
//! cargo run --release -p ovirt --example inventory -- --url https://engine/ovirt-engine/api \
//!     --username admin@internal --password secret [--ca-file ca.pem | --insecure] \
//!     [--connections 1] [--pipeline 16]
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ovirt::services::SystemService;
use ovirt::{Connection, ConnectionBuilder, Error};

/// What one VM has.
#[derive(Debug, PartialEq, Eq)]
struct VmCounts {
    name: String,
    disks: usize,
    nics: usize,
    permissions: usize,
}

#[derive(Debug)]
struct Options {
    url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    ca_file: Option<String>,
    insecure: bool,
    connections: usize,
    pipeline: usize,
    vms: usize,
    rtt: Duration,
}

const USAGE: &str = "usage: inventory [--vms N] [--rtt-ms MS] [--connections C] [--pipeline P]
       inventory --url URL --username USER --password PASS [--ca-file FILE | --insecure] [--connections C] [--pipeline P]";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        url: None,
        username: None,
        password: None,
        ca_file: None,
        insecure: false,
        connections: 1,
        pipeline: 16,
        vms: 100,
        rtt: Duration::from_millis(10),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, v: String| {
            v.parse::<usize>()
                .map_err(|_| format!("{name} needs a whole number, got {v:?}"))
        };
        match arg.as_str() {
            "--url" => o.url = Some(value("--url")?),
            "--username" => o.username = Some(value("--username")?),
            "--password" => o.password = Some(value("--password")?),
            "--ca-file" => o.ca_file = Some(value("--ca-file")?),
            "--insecure" => o.insecure = true,
            "--connections" => o.connections = number("--connections", value("--connections")?)?,
            "--pipeline" => o.pipeline = number("--pipeline", value("--pipeline")?)?,
            "--vms" => o.vms = number("--vms", value("--vms")?)?,
            "--rtt-ms" => {
                o.rtt = Duration::from_millis(number("--rtt-ms", value("--rtt-ms")?)? as u64)
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.url.is_some() && (o.username.is_none() || o.password.is_none()) {
        return Err("--url needs --username and --password".to_string());
    }
    if o.ca_file.is_some() && o.insecure {
        return Err("--ca-file and --insecure exclude each other".to_string());
    }
    Ok(o)
}

/// The inventory with every sub-collection request in flight before the first wait.
async fn pipelined(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().await?;
    // Start all requests: `send` puts each on its way at once.
    let pending: Vec<_> = vms
        .iter()
        .map(|vm| {
            let vm_service = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
            (
                vm_service.disk_attachments_service().list().send(),
                vm_service.nics_service().list().send(),
                vm_service.permissions_service().list().send(),
            )
        })
        .collect();
    let mut counts = Vec::with_capacity(vms.len());
    for (vm, (disks, nics, permissions)) in vms.iter().zip(pending) {
        counts.push(VmCounts {
            name: vm.name.clone().unwrap_or_default(),
            disks: disks.await?.len(),
            nics: nics.await?.len(),
            permissions: permissions.await?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

/// The same inventory, waiting for each answer before sending the next request.
async fn one_at_a_time(system: &SystemService) -> Result<(Vec<VmCounts>, usize), Error> {
    let vms_service = system.vms_service();
    let vms = vms_service.list().await?;
    let mut counts = Vec::with_capacity(vms.len());
    for vm in &vms {
        let vm_service = vms_service.vm_service(vm.id.as_deref().unwrap_or_default());
        counts.push(VmCounts {
            name: vm.name.clone().unwrap_or_default(),
            disks: vm_service.disk_attachments_service().list().await?.len(),
            nics: vm_service.nics_service().list().await?.len(),
            permissions: vm_service.permissions_service().list().await?.len(),
        });
    }
    Ok((counts, 1 + 3 * vms.len()))
}

fn options(o: &Options, url: String) -> ConnectionBuilder {
    let mut b = Connection::builder()
        .url(url)
        .connections(o.connections)
        .pipeline(o.pipeline)
        .insecure(o.insecure);
    if let Some(f) = &o.ca_file {
        b = b.ca_file(f);
    }
    b
}

async fn real_engine(o: &Options) -> Result<(), Error> {
    let conn = options(o, o.url.clone().unwrap_or_default())
        .username(o.username.clone().unwrap_or_default())
        .password(o.password.clone().unwrap_or_default())
        .build()?;
    conn.authenticate().await?;
    let start = Instant::now();
    let result = pipelined(&conn.system_service()).await;
    let seconds = start.elapsed().as_secs_f64();
    let close = conn.close().await;
    let (counts, requests) = result?;
    for c in &counts {
        println!(
            "{} disks={} nics={} permissions={}",
            c.name, c.disks, c.nics, c.permissions
        );
    }
    println!(
        "vms={} requests={requests} seconds={seconds:.3}",
        counts.len()
    );
    close
}

async fn embedded(o: &Options) -> Result<(), String> {
    use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};
    let engine = TestEngine::builder()
        .vms(o.vms)
        .tls(true)
        .record(false)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let proxy = ovirt_tests::latency::LatencyProxy::start(engine.addr(), o.rtt)
        .await
        .map_err(|e| format!("latency emulator: {e}"))?;
    let conn = options(o, engine.url_via(proxy.addr()))
        .username(USERNAME)
        .password(PASSWORD)
        .ca_pem(engine.ca_pem().unwrap_or_default().as_bytes().to_vec())
        .build()
        .map_err(|e| e.to_string())?;
    // Log in first, so both runs measure the inventory alone.
    conn.authenticate().await.map_err(|e| e.to_string())?;
    let system = conn.system_service();
    println!(
        "test engine: {} VMs, RTT {:?}, {} connection(s), pipeline depth {}",
        o.vms, o.rtt, o.connections, o.pipeline
    );

    let start = Instant::now();
    let (slow, requests) = one_at_a_time(&system).await.map_err(|e| e.to_string())?;
    let sequential = start.elapsed();
    println!(
        "one at a time: {requests} requests in {:.3} s",
        sequential.as_secs_f64()
    );

    let start = Instant::now();
    let (fast, requests) = pipelined(&system).await.map_err(|e| e.to_string())?;
    let pipelined_time = start.elapsed();
    println!(
        "pipelined:     {requests} requests in {:.3} s",
        pipelined_time.as_secs_f64()
    );
    println!(
        "speedup: {:.1}x",
        sequential.as_secs_f64() / pipelined_time.as_secs_f64().max(1e-9)
    );

    // Both runs must see exactly the engine's inventory.
    let expected: Vec<VmCounts> = engine
        .inventory()
        .vms
        .iter()
        .map(|vm| VmCounts {
            name: vm.name.clone(),
            disks: vm.disk_attachments.len(),
            nics: vm.nics.len(),
            permissions: vm.permissions.len(),
        })
        .collect();
    if slow != expected || fast != expected {
        return Err("the inventory read does not match the engine's".to_string());
    }
    conn.close().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
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
    let result = if o.url.is_some() {
        real_engine(&o).await.map_err(|e| e.to_string())
    } else {
        embedded(&o).await
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
