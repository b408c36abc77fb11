//! Runs the fake engine until interrupted, for trying clients by hand.
//!
//! ```text
//! ovirt-test-engine [--vms N] [--tls] [--ca-file FILE] [--gzip] [--pace PACE]
//! ```
//!
//! `PACE` is how fast background work (a VM starting, a disk being created) moves:
//! `instant` (the default), `requests:N` (each stage lasts N API requests), `manual`
//! (never, in this program) or `ms:N` (each stage lasts N milliseconds).
//!
//! Prints the API URL, the addresses of the imageio daemon and proxy (image transfers),
//! the user and password, and (with `--tls`) writes the generated CA
//! to `--ca-file` (default `ovirt-test-engine-ca.pem` in the temporary directory).

use ovirt_test_engine::{Pace, TestEngine, PASSWORD, USERNAME};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str =
    "usage: ovirt-test-engine [--vms N] [--tls] [--ca-file FILE] [--gzip] [--pace instant|requests:N|manual|ms:N]";

fn pace(text: &str) -> Option<Pace> {
    let number = |v: &str| v.parse::<u64>().ok();
    match text.split_once(':') {
        None if text == "instant" => Some(Pace::Instant),
        None if text == "manual" => Some(Pace::Manual),
        Some(("requests", n)) => Some(Pace::Requests(u32::try_from(number(n)?).ok()?)),
        Some(("ms", n)) => Some(Pace::Timed(Duration::from_millis(number(n)?))),
        _ => None,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut builder = TestEngine::builder().record(false);
    let mut tls = false;
    let mut ca_file = std::env::temp_dir().join("ovirt-test-engine-ca.pem");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--vms" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) => builder = builder.vms(n),
                None => {
                    eprintln!("error: --vms needs a whole number");
                    return ExitCode::from(2);
                }
            },
            "--tls" => tls = true,
            "--gzip" => builder = builder.gzip(true),
            "--pace" => match args.next().as_deref().and_then(pace) {
                Some(p) => builder = builder.pace(p),
                None => {
                    eprintln!("error: --pace needs instant, requests:N, manual or ms:N");
                    return ExitCode::from(2);
                }
            },
            "--ca-file" => match args.next() {
                Some(f) => ca_file = f.into(),
                None => {
                    eprintln!("error: --ca-file needs a file name");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("error: unknown argument {other:?}");
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let engine = match builder.tls(tls).start().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("url={}", engine.url());
    println!(
        "imageio={} imageio_proxy={}",
        engine.imageio_addr(),
        engine.imageio_proxy_addr()
    );
    println!("username={USERNAME} password={PASSWORD}");
    if let Some(pem) = engine.ca_pem() {
        if let Err(e) = std::fs::write(&ca_file, pem) {
            eprintln!("error: writing {}: {e}", ca_file.display());
            return ExitCode::FAILURE;
        }
        println!("ca_file={}", ca_file.display());
    }
    let _ = tokio::signal::ctrl_c().await;
    engine.shutdown().await;
    ExitCode::SUCCESS
}
