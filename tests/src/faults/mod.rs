//! Randomised, seeded fault trials of `http1_pipeline::Client`.
//!
//! A trial runs a scripted raw TCP server on 127.0.0.1 ([`FaultServer`]) and a client
//! sending a mix of `GET`, `PUT`, `DELETE` and `POST` requests over several pipelined
//! connections. The server answers every request with its identifier (an `X-Id` header and
//! a body derived from the id), and, at random, closes the socket after a response, closes
//! mid-head or mid-body, resets the connection (`SO_LINGER` 0), stalls past the client's
//! request timeout (before or in the body), answers with `Connection: close` or as an
//! HTTP/1.0 close-delimited response, writes its bytes in small random pieces, or sends a
//! malformed response. It parses pipelined requests itself (several per read) and records
//! every request it received.
//!
//! [`run_trial`] then checks, for every request:
//!
//! * a response is delivered only to the request it answers (status, `X-Id`, `X-Method`
//!   and the exact body);
//! * every future resolves (the whole trial runs under a generous timeout);
//! * no `POST` reached the server twice, no request more than `1 + max_retries` times;
//! * an error that says the request was never processed is true to its word: the server
//!   never received that request (so a `POST` that may have been processed says so);
//! * errors are of the kinds these faults can cause (timeout, closed, malformed, header
//!   limit, body decoding);
//! * the client never wrote a request behind a `POST` whose whole response it had not
//!   read (a `POST` whose body stalls holds its connection), nor a `POST` behind another request,
//!   never sent a malformed or truncated request, and closes its connections once dropped.
//!
//! Every random choice comes from the trial's seed: the request mix (from the seed and the
//! request id) and each answer's fault (from the seed, the request id and how many times
//! the server has seen that id). The interleaving of connections is up to the scheduler, so
//! a seed reproduces the same script rather than the exact same run; a failure prints the
//! seed and a command that re-runs that trial.

mod server;
mod trial;

pub use server::{Action, FaultRates, FaultServer, Received};
pub use trial::{
    expected_body, run_trial, run_trials, survey_trial, TrialConfig, TrialFailure, TrialStats,
    CONFIGS,
};

/// A small, fast, seedable PRNG (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for the pair `(a, b)` under `seed` (independent streams).
    pub fn for_key(seed: u64, a: u64, b: u64) -> Rng {
        let mut r = Rng(seed ^ mix(a.wrapping_mul(0x9E37_79B9_7F4A_7C15)));
        r.0 ^= mix(b.wrapping_add(0xD1B5_4A32_D192_ED03));
        Rng(mix(r.0))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }
}

/// The splitmix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
