//! The pipelining demo: 1000 GETs through a 10 ms round-trip latency emulator,
//! first with 5 connections and no pipelining, then with 5 connections and
//! pipeline depth 8, and the speedup.
//!
//! ```text
//! cargo run --release -p ovirt-tests --bin pipeline-demo -- [-m 1000] [--rtt-ms 10] [--body 1024]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use ovirt_tests::demo::{self, CONNECTIONS, PIPELINED_DEPTH};

/// The whole demo gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(50);

fn parse_args() -> Result<(usize, u64, usize), String> {
    let (mut m, mut rtt_ms, mut body) = (1000usize, 10u64, 1024usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let text = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            text.parse()
                .map_err(|_| format!("{name}: {text:?} is not a whole number"))
        };
        match flag.as_str() {
            "-m" => m = number("-m")? as usize,
            "--rtt-ms" => rtt_ms = number("--rtt-ms")?,
            "--body" => body = number("--body")? as usize,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: pipeline-demo [-m N] [--rtt-ms MS] [--body BYTES]"
                ))
            }
        }
    }
    if m == 0 {
        return Err("-m must be at least 1".into());
    }
    Ok((m, rtt_ms, body))
}

fn main() -> ExitCode {
    let (m, rtt_ms, body) = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("pipeline-demo: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pipeline-demo: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "pipeline-demo: {m} GETs of {body}-byte items through a latency emulator with a {rtt_ms} ms round trip"
    );
    let rtt = Duration::from_millis(rtt_ms);
    let result =
        runtime.block_on(async { tokio::time::timeout(TIMEOUT, demo::run(m, rtt, body)).await });
    let report = match result {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            eprintln!("pipeline-demo: failed: {e}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("pipeline-demo: gave up after {} s", TIMEOUT.as_secs());
            return ExitCode::FAILURE;
        }
    };
    println!(
        "  {CONNECTIONS} connections, no pipelining (depth 1): {:8.1} ms",
        report.unpipelined.as_secs_f64() * 1000.0
    );
    println!(
        "  {CONNECTIONS} connections, pipeline depth {PIPELINED_DEPTH}:        {:8.1} ms",
        report.pipelined.as_secs_f64() * 1000.0
    );
    println!(
        "  speedup: {:.1}x; every one of the {} responses matched the item it asked for",
        report.speedup(),
        report.served
    );
    ExitCode::SUCCESS
}
