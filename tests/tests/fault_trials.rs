//! Randomised, seeded fault trials of the pipelining client (see `ovirt_tests::faults`).
//!
//! The seed defaults to a fixed value; set `FAULT_TRIALS_SEED` (decimal or `0x` hex) to try
//! others. A failure prints the failing trial's seed and the command that re-runs it. The
//! million-request run: `cargo run --release -p ovirt-tests --bin fault-trials -- --requests
//! 1000000`.

use std::time::Duration;

use ovirt_tests::faults::{run_trial, run_trials, Action, FaultRates, TrialConfig, CONFIGS};

fn base_seed() -> u64 {
    match std::env::var("FAULT_TRIALS_SEED") {
        Ok(s) => match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).expect("FAULT_TRIALS_SEED in hex"),
            None => s.parse().expect("FAULT_TRIALS_SEED as a number"),
        },
        Err(_) => 0x0F17_2026_1124,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_requests_survive_random_server_faults() {
    let seed = base_seed();
    eprintln!("fault trials: base seed {seed:#x}");
    // 21 trials of 1000 requests, 3 at a time, over the (connections, depth) configurations.
    let stats = run_trials(seed, 21_000, 1000, 3, |_| {})
        .await
        .unwrap_or_else(|failure| panic!("{failure}"));
    eprintln!("{stats}");
    assert!(stats.requests >= 20_000);
    assert_eq!(stats.trials, 21);
    // The trials exercised the success path and every kind of fault. (About 96% succeed;
    // the bound is loose because a heavily loaded machine adds timeouts.)
    assert!(stats.ok * 2 >= stats.requests, "too few successes: {stats}");
    for action in [
        Action::Respond,
        Action::CloseAfter,
        Action::ConnectionClose,
        Action::Http10Close,
        Action::CloseMidHead,
        Action::CloseMidBody,
        Action::Reset,
        Action::Stall,
        Action::StallMidBody,
        Action::Malformed,
    ] {
        assert!(
            stats.actions.get(&action).copied().unwrap_or(0) > 0,
            "no {action:?} in the trials: {stats}"
        );
    }
    assert!(stats.resent > 0, "no request was retried: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_succeeds_once_when_the_server_injects_no_faults() {
    for (i, &(connections, depth)) in CONFIGS.iter().enumerate() {
        let mut config = TrialConfig::new(base_seed() + i as u64, 500, connections, depth);
        config.rates = FaultRates {
            close_after: 0,
            connection_close: 0,
            http10_close: 0,
            close_mid_head: 0,
            close_mid_body: 0,
            reset: 0,
            stall: 0,
            stall_mid_body: 0,
            malformed: 0,
            ..FaultRates::default()
        };
        // No stalls, so a long timeout costs nothing and no request can time out.
        config.timeout = Duration::from_secs(30);
        let stats = run_trial(config)
            .await
            .unwrap_or_else(|failure| panic!("{failure}"));
        assert_eq!(stats.ok, 500, "{stats}");
        assert_eq!(stats.received, 500, "{stats}");
        assert_eq!(stats.resent, 0, "{stats}");
        assert!(stats.connections <= connections, "{stats}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_catch_a_server_that_answers_with_another_requests_response() {
    let mut config = TrialConfig::new(base_seed(), 300, 3, 4);
    config.rates.wrong_answer = 50;
    let failure = run_trial(config)
        .await
        .expect_err("a wrong answer must fail the trial");
    assert!(
        failure
            .violations
            .iter()
            .any(|v| v.contains("was delivered the response to request")),
        "{failure}"
    );
    let text = failure.to_string();
    assert!(text.contains("seed 0x"), "{text}");
    assert!(text.contains("--trial 0x"), "{text}");
}
