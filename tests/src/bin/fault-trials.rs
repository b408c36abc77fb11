//! Randomised fault trials of the pipelining client, at scale.
//!
//! Runs trials of `http1_pipeline::Client` against the fault-injecting scripted server of
//! `ovirt_tests::faults` (closes, resets, stalls, malformed and split responses) until the
//! requested number of requests has been sent, and checks every request's outcome (see
//! that module's documentation). Prints the seed first and, on failure, the failing
//! trial's seed, its violations and the command that re-runs it; exits with status 1.
//!
//! ```text
//! # A million requests (a random seed unless given):
//! cargo run --release -p ovirt-tests --bin fault-trials -- --requests 1000000 [--seed N]
//! # Options: --per-trial 2000  --parallel 4
//! # Re-run one trial printed by a failure (seed:connections:depth:requests):
//! cargo run --release -p ovirt-tests --bin fault-trials -- --trial 0x1234:5:8:2000
//! ```

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ovirt_tests::faults::{run_trial, run_trials, TrialConfig};

struct Args {
    requests: usize,
    seed: Option<u64>,
    per_trial: usize,
    parallel: usize,
    trial: Option<TrialConfig>,
}

fn number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("not a number: {s:?}"))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        requests: 1_000_000,
        seed: None,
        per_trial: 2000,
        parallel: 4,
        trial: None,
    };
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => args.requests = number(&value()?)? as usize,
            "--seed" => args.seed = Some(number(&value()?)?),
            "--per-trial" => args.per_trial = (number(&value()?)? as usize).max(1),
            "--parallel" => args.parallel = (number(&value()?)? as usize).max(1),
            "--trial" => {
                let v = value()?;
                let parts: Vec<&str> = v.split(':').collect();
                let [seed, c, d, n] = parts[..] else {
                    return Err(format!(
                        "--trial wants seed:connections:depth:requests, not {v:?}"
                    ));
                };
                args.trial = Some(TrialConfig::new(
                    number(seed)?,
                    number(n)? as usize,
                    number(c)? as usize,
                    number(d)? as usize,
                ));
            }
            "-h" | "--help" => {
                return Err(
                    "usage: fault-trials [--requests N] [--seed N] [--per-trial N] \
                            [--parallel N] | --trial seed:connections:depth:requests"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let result = runtime.block_on(async {
        if let Some(trial) = args.trial {
            println!("one trial: {trial:?}");
            return run_trial(trial).await;
        }
        let seed = args.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
        println!(
            "seed {seed:#x}: {} requests, {} per trial, {} trials at a time",
            args.requests, args.per_trial, args.parallel
        );
        let mut last_print = 0;
        run_trials(seed, args.requests, args.per_trial, args.parallel, |s| {
            if s.requests - last_print >= 50_000 {
                last_print = s.requests;
                println!(
                    "  {} requests ({} ok) in {:.0?}",
                    s.requests,
                    s.ok,
                    started.elapsed()
                );
            }
        })
        .await
    });
    match result {
        Ok(stats) => {
            println!("{stats}");
            println!("all checks passed in {:.1?}", started.elapsed());
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("{failure}");
            ExitCode::from(1)
        }
    }
}
