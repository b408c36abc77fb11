//! Peak memory of reading one long list through the generated service: `list().stream()`
//! (items read as the body arrives) against `list().await` (the body and every item in
//! memory at once), for a list of `--vms` VMs served by the test engine.
//!
//! ```text
//! cargo run --release -p ovirt-tests --bin list-rss-bench -- [--vms 100000] [--runs 3]
//! ```
//!
//! This process runs the test engine (plain HTTP on 127.0.0.1) and renders the list once
//! (the engine keeps it), then starts itself again (`--child MODE URL`) once per mode and
//! run: the child logs in (the connection's own SSO login), reads the list once and counts
//! the items, and reports its own peak resident memory (`VmHWM` of `/proc/self/status`),
//! its resident memory before the request (`VmRSS`), the items read and the seconds the
//! reading took. The engine's memory is in the parent, so it is not counted. Modes:
//!
//! * `stream`: `vms_service.list().stream()`, each item counted and dropped;
//! * `whole`: `vms_service.list().await`, then the `Vec`'s length;
//! * `blocking`: the blocking facade's `list().stream().wait()` iterator.
//!
//! Output: a markdown table (medians over the runs; peak as the largest run), then one JSON
//! line per child run.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use ovirt::service::{Call, Method};
use ovirt::Connection;
use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};

const USAGE: &str = "usage: list-rss-bench [--vms N] [--runs R]";
const MODES: [&str; 3] = ["stream", "whole", "blocking"];
/// Time allowed for the one list request of a child (never a hang).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// A `/proc/self/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return match (args.get(1), args.get(2)) {
            (Some(mode), Some(url)) => match child(mode, url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {mode}: {e}");
                    ExitCode::FAILURE
                }
            },
            _ => {
                eprintln!("error: --child needs a mode and a URL");
                ExitCode::from(2)
            }
        };
    }
    let (mut vms, mut runs) = (100_000usize, 3usize);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let number = |v: Option<&String>| v.and_then(|v| v.parse::<usize>().ok());
        match arg.as_str() {
            "--vms" => match number(it.next()) {
                Some(n) => vms = n,
                None => return usage("--vms needs a whole number"),
            },
            "--runs" => match number(it.next()) {
                Some(n) if n > 0 => runs = n,
                _ => return usage("--runs needs a positive whole number"),
            },
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    match parent(vms, runs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("error: {why}\n{USAGE}");
    ExitCode::from(2)
}

fn connection(url: &str) -> ovirt::ConnectionBuilder {
    Connection::builder()
        .url(url)
        .username(USERNAME)
        .password(PASSWORD)
        .timeout(REQUEST_TIMEOUT)
}

/// One child's report.
struct Report {
    mode: String,
    items: u64,
    seconds: f64,
    before_kib: u64,
    peak_kib: u64,
}

fn parent(vms: usize, runs: usize) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let engine = runtime
        .block_on(TestEngine::builder().vms(vms).record(false).start())
        .map_err(|e| format!("starting the engine: {e}"))?;
    let url = engine.url();
    // The list document once (the engine renders and keeps it), for its size.
    let bytes = runtime.block_on(async {
        let conn = connection(&url).build()?;
        let call = Call::new(Method::Get, "/ovirt-engine/api", "vms", Vec::new());
        let raw = conn.transport().send(call).await?;
        conn.close().await?;
        Ok::<_, ovirt::Error>(raw.body.len())
    });
    let bytes = bytes.map_err(|e| format!("reading the list once: {e}"))?;
    eprintln!(
        "engine with {vms} VMs ready in {:.1} s; the list is {:.1} MiB",
        started.elapsed().as_secs_f64(),
        bytes as f64 / 1048576.0
    );
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut reports = Vec::new();
    let load_before = load_average();
    for run in 0..runs {
        for mode in MODES {
            let out = Command::new(&exe)
                .args(["--child", mode, &url])
                .output()
                .map_err(|e| format!("starting the {mode} child: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                return Err(format!(
                    "the {mode} child failed: {}{}",
                    text,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let report = parse_report(&text).ok_or_else(|| format!("bad child output {text:?}"))?;
            if report.items != vms as u64 {
                return Err(format!(
                    "the {mode} child read {} items, the engine has {vms}",
                    report.items
                ));
            }
            eprintln!("run {}: {}", run + 1, text.trim());
            reports.push((text.trim().to_owned(), report));
        }
    }
    let load_after = load_average();
    runtime.block_on(engine.shutdown());
    println!(
        "{vms} VMs, list document {:.1} MiB; {runs} runs per mode, each in a fresh process; \
         load average {load_before} before, {load_after} after",
        bytes as f64 / 1048576.0
    );
    println!();
    println!("| mode | items | peak RSS MiB (largest run) | RSS before the request MiB | peak - before MiB | seconds (median) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for mode in MODES {
        let of: Vec<&Report> = reports
            .iter()
            .map(|(_, r)| r)
            .filter(|r| r.mode == mode)
            .collect();
        let peak = of.iter().map(|r| r.peak_kib).max().unwrap_or(0);
        let before = of.iter().map(|r| r.before_kib).max().unwrap_or(0);
        let mut secs: Vec<f64> = of.iter().map(|r| r.seconds).collect();
        secs.sort_by(f64::total_cmp);
        let median = secs.get(secs.len() / 2).copied().unwrap_or(0.0);
        println!(
            "| {mode} | {} | {:.1} | {:.1} | {:.1} | {median:.2} |",
            of.first().map_or(0, |r| r.items),
            mib(peak),
            mib(before),
            mib(peak.saturating_sub(before)),
        );
    }
    println!();
    for (line, _) in &reports {
        println!("{line}");
    }
    Ok(())
}

fn parse_report(text: &str) -> Option<Report> {
    let field = |name: &str| -> Option<&str> {
        let at = text.find(&format!("\"{name}\":"))? + name.len() + 3;
        let rest = text[at..].trim_start_matches('"');
        let end = rest.find([',', '"', '}'])?;
        Some(&rest[..end])
    };
    Some(Report {
        mode: field("mode")?.to_owned(),
        items: field("items")?.parse().ok()?,
        seconds: field("seconds")?.parse().ok()?,
        before_kib: field("rss_before_kib")?.parse().ok()?,
        peak_kib: field("peak_kib")?.parse().ok()?,
    })
}

/// Reads the list once in `mode`; prints one JSON line.
fn child(mode: &str, url: &str) -> Result<(), String> {
    let (items, seconds, before_kib) = match mode {
        "blocking" => {
            use ovirt::blocking::Wait;
            let conn = connection(url)
                .build_blocking()
                .map_err(|e| e.to_string())?;
            conn.authenticate().map_err(|e| e.to_string())?;
            let vms = conn.system_service().vms_service();
            let before = status_kib("VmRSS:").unwrap_or(0);
            let started = Instant::now();
            let mut items = 0u64;
            for vm in vms.list().stream().wait() {
                vm.map_err(|e| e.to_string())?;
                items += 1;
            }
            let seconds = started.elapsed().as_secs_f64();
            conn.close().map_err(|e| e.to_string())?;
            (items, seconds, before)
        }
        "stream" | "whole" => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(async {
                    let conn = connection(url).build()?;
                    conn.authenticate().await?;
                    let vms = conn.system_service().vms_service();
                    let before = status_kib("VmRSS:").unwrap_or(0);
                    let started = Instant::now();
                    let mut items = 0u64;
                    if mode == "stream" {
                        let mut stream = vms.list().stream();
                        while let Some(vm) = stream.next().await {
                            vm?;
                            items += 1;
                        }
                    } else {
                        items = vms.list().await?.len() as u64;
                    }
                    let seconds = started.elapsed().as_secs_f64();
                    conn.close().await?;
                    Ok::<_, ovirt::Error>((items, seconds, before))
                })
                .map_err(|e| e.to_string())?
        }
        other => return Err(format!("unknown mode {other:?}")),
    };
    let peak = status_kib("VmHWM:").ok_or("no VmHWM in /proc/self/status")?;
    println!(
        "{{\"mode\":\"{mode}\",\"items\":{items},\"seconds\":{seconds:.3},\"rss_before_kib\":{before_kib},\"peak_kib\":{peak}}}"
    );
    Ok(())
}
