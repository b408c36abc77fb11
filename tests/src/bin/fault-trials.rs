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
//! # The share of requests that succeed per fault rate (a benchmark: nothing fails it):
//! cargo run --release -p ovirt-tests --bin fault-trials -- --survey \
//!     [--rates 10,30] [--configs 8x32,4x8] [--attempts 10] [--requests 10000] \
//!     [--per-trial 2500] [--timeout-ms 300] [--seed N]
//! ```
//!
//! `--survey` runs, for every fault rate (percent of answers carrying one of the faults,
//! in the default mix's proportions) and configuration (connections x depth), trials of
//! `--per-trial` requests until `--requests` have been sent, with `--attempts` attempts
//! per idempotent request (`max_retries` = attempts - 1), and prints a markdown table: the
//! share of requests that got their response, and the counts of misdelivered and lost
//! requests, duplicated `POST`s, requests written behind an unanswered `POST` and other
//! broken rules (all of which should be 0).

use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ovirt_tests::faults::{
    run_trial, run_trials, survey_trial, FaultRates, TrialConfig, TrialStats,
};

struct Args {
    requests: usize,
    seed: Option<u64>,
    per_trial: usize,
    parallel: usize,
    trial: Option<TrialConfig>,
    survey: bool,
    rates: Vec<u32>,
    configs: Vec<(usize, usize)>,
    attempts: u32,
    timeout_ms: u64,
    requests_set: bool,
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
        survey: false,
        rates: vec![10, 30],
        configs: vec![(8, 32), (4, 8)],
        attempts: 10,
        timeout_ms: 300,
        requests_set: false,
    };
    let mut per_trial_set = false;
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--requests" => {
                args.requests = number(&value()?)? as usize;
                args.requests_set = true;
            }
            "--survey" => args.survey = true,
            "--rates" => {
                args.rates = value()?
                    .split(',')
                    .map(|r| number(r.trim()).map(|n| n as u32))
                    .collect::<Result<_, _>>()?;
                if args.rates.iter().any(|&r| r > 100) {
                    return Err("--rates are percentages (0 to 100)".into());
                }
            }
            "--configs" => {
                args.configs = value()?
                    .split(',')
                    .map(|c| {
                        let (a, b) = c
                            .split_once('x')
                            .ok_or(format!("--configs: expected CxD, got {c:?}"))?;
                        Ok((number(a)? as usize, number(b)? as usize))
                    })
                    .collect::<Result<_, String>>()?;
                if args.configs.iter().any(|&(c, d)| c == 0 || d == 0) {
                    return Err("--configs: connections and depth are at least 1".into());
                }
            }
            "--attempts" => args.attempts = (number(&value()?)? as u32).max(1),
            "--timeout-ms" => args.timeout_ms = number(&value()?)?.max(1),
            "--seed" => args.seed = Some(number(&value()?)?),
            "--per-trial" => {
                args.per_trial = (number(&value()?)? as usize).max(1);
                per_trial_set = true;
            }
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
                            [--parallel N] | --trial seed:connections:depth:requests\n\
                     \x20      fault-trials --survey [--rates 10,30] [--configs 8x32,4x8] \
                            [--attempts 10] [--requests N] [--per-trial N] [--timeout-ms 300] \
                            [--seed N] [--parallel N]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.survey {
        if !args.requests_set {
            args.requests = 10_000;
        }
        if !per_trial_set {
            args.per_trial = 2500;
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
    if args.survey {
        runtime.block_on(survey(&args));
        return ExitCode::SUCCESS;
    }
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

/// One cell of the survey: every trial of one fault rate and configuration.
async fn survey_cell(
    args: &Args,
    seed: u64,
    rate: u32,
    connections: usize,
    depth: usize,
) -> (TrialStats, Vec<String>) {
    let mut all = TrialStats::default();
    let mut examples = Vec::new();
    let mut set = tokio::task::JoinSet::new();
    let mut started = 0usize;
    let mut next = 0u64;
    loop {
        while set.len() < args.parallel.max(1) && started < args.requests {
            let n = args.per_trial.min(args.requests - started);
            let mut config = TrialConfig::new(
                ovirt_tests::faults::mix(seed.wrapping_add(next)),
                n,
                connections,
                depth,
            );
            config.rates = FaultRates::with_faults_per_mille(rate * 10);
            config.max_retries = args.attempts - 1;
            config.timeout = std::time::Duration::from_millis(args.timeout_ms);
            config.hang_limit = std::time::Duration::from_secs(120);
            set.spawn(survey_trial(config));
            started += n;
            next += 1;
        }
        let Some(done) = set.join_next().await else {
            return (all, examples);
        };
        match done {
            Ok(Ok((stats, violations))) => {
                all.merge(&stats);
                examples.extend(violations.into_iter().take(3));
            }
            Ok(Err(failure)) => examples.push(failure.to_string()),
            Err(e) => examples.push(format!("a trial panicked: {e}")),
        }
    }
}

async fn survey(args: &Args) {
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!(
        "fault survey: seed {seed:#x}, rates {:?} %, configs {:?}, {} attempts, {} requests \
         per cell in trials of {}, request timeout {} ms",
        args.rates, args.configs, args.attempts, args.requests, args.per_trial, args.timeout_ms
    );
    let mut rows = Vec::new();
    for &rate in &args.rates {
        for &(c, d) in &args.configs {
            let t = Instant::now();
            let (stats, examples) = survey_cell(args, seed ^ u64::from(rate), rate, c, d).await;
            eprintln!(
                "  {rate}% faults, {c}x{d}: {:.1}% of {} succeeded in {:.1?}",
                stats.success_percent(),
                stats.requests,
                t.elapsed()
            );
            for e in examples.iter().take(5) {
                eprintln!("    violation: {e}");
            }
            for (kind, texts) in &stats.error_examples {
                for t in texts {
                    eprintln!("    {kind}: {t}");
                }
            }
            rows.push((rate, c, d, stats, t.elapsed()));
        }
    }
    println!(
        "| faults | connections x depth | attempts | requests | succeeded | misdelivered | lost | duplicate POST | written behind unanswered POST | other violations | failed by kind | received by server (re-sent) | connections | time s |"
    );
    println!("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    for (rate, c, d, s, t) in &rows {
        println!(
            "| {rate}% | {c} x {d} | {} | {} | {:.1}% | {} | {} | {} | {} | {} | {:?} | {} ({}) | {} | {:.1} |",
            args.attempts,
            s.requests,
            s.success_percent(),
            s.misdelivered,
            s.lost,
            s.duplicate_posts,
            s.written_behind_post,
            s.other_violations,
            s.errors,
            s.received,
            s.resent,
            s.connections,
            t.as_secs_f64()
        );
    }
    println!();
    for (rate, c, d, s, _) in &rows {
        println!(
            "{{\"faults_percent\":{rate},\"connections\":{c},\"depth\":{d},\"attempts\":{},\"requests\":{},\"ok\":{},\"misdelivered\":{},\"lost\":{},\"duplicate_posts\":{},\"written_behind_post\":{},\"other_violations\":{}}}",
            args.attempts, s.requests, s.ok, s.misdelivered, s.lost, s.duplicate_posts, s.written_behind_post, s.other_violations
        );
    }
}
