//! Runs the fake engine until interrupted, for trying clients by hand.
//!
//! ```text
//! ovirt-test-engine [--vms N] [--tls] [--ca-file FILE] [--gzip]
//! ```
//!
//! Prints the API URL, the user and password, and (with `--tls`) writes the generated CA
//! to `--ca-file` (default `ovirt-test-engine-ca.pem` in the temporary directory).

use ovirt_test_engine::{TestEngine, PASSWORD, USERNAME};
use std::process::ExitCode;

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
            "--ca-file" => match args.next() {
                Some(f) => ca_file = f.into(),
                None => {
                    eprintln!("error: --ca-file needs a file name");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("error: unknown argument {other:?}");
                eprintln!("usage: ovirt-test-engine [--vms N] [--tls] [--ca-file FILE] [--gzip]");
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
