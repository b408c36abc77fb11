//! What the two inventory examples (async and blocking) share: the command line, the
//! connection options, the output and the check against the embedded engine.

use std::process::ExitCode;
use std::time::Duration;

use ovirt::{Connection, ConnectionBuilder};
use ovirt_test_engine::TestEngine;

/// What one VM has.
#[derive(Debug, PartialEq, Eq)]
pub struct VmCounts {
    pub name: String,
    pub disks: usize,
    pub nics: usize,
    pub permissions: usize,
}

/// The command line.
#[derive(Debug)]
pub struct Options {
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<String>,
    pub insecure: bool,
    pub connections: usize,
    pub pipeline: usize,
    pub vms: usize,
    pub rtt: Duration,
}

/// Reads the command line; `Err("")` asks for the usage.
pub fn parse_args() -> Result<Options, String> {
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

/// The usage text of the example named `name`.
pub fn usage(name: &str) -> String {
    format!(
        "usage: {name} [--vms N] [--rtt-ms MS] [--connections C] [--pipeline P]\n       \
         {name} --url URL --username USER --password PASS [--ca-file FILE | --insecure] \
         [--connections C] [--pipeline P]"
    )
}

/// A connection builder for `url` with the options of the command line.
pub fn builder(o: &Options, url: String) -> ConnectionBuilder {
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

/// Prints one line per VM and the summary line (the real-engine output).
pub fn print_inventory(counts: &[VmCounts], requests: usize, seconds: f64) {
    for c in counts {
        println!(
            "{} disks={} nics={} permissions={}",
            c.name, c.disks, c.nics, c.permissions
        );
    }
    println!(
        "vms={} requests={requests} seconds={seconds:.3}",
        counts.len()
    );
}

/// Prints what the embedded run is about to measure.
pub fn print_setup(o: &Options) {
    println!(
        "test engine: {} VMs, RTT {:?}, {} connection(s), pipeline depth {}",
        o.vms, o.rtt, o.connections, o.pipeline
    );
}

/// Prints both times and the speedup.
pub fn print_times(requests: usize, sequential: Duration, pipelined: Duration) {
    println!(
        "one at a time: {requests} requests in {:.3} s",
        sequential.as_secs_f64()
    );
    println!(
        "pipelined:     {requests} requests in {:.3} s",
        pipelined.as_secs_f64()
    );
    println!(
        "speedup: {:.1}x",
        sequential.as_secs_f64() / pipelined.as_secs_f64().max(1e-9)
    );
}

/// Checks that both runs read exactly the engine's inventory.
pub fn check(engine: &TestEngine, slow: &[VmCounts], fast: &[VmCounts]) -> Result<(), String> {
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
    Ok(())
}

/// Parses the command line and runs `run`, turning the outcome into an exit code.
pub fn main_with(name: &str, run: impl FnOnce(&Options) -> Result<(), String>) -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{}", usage(name));
            return ExitCode::from(2);
        }
    };
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
