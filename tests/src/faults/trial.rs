//! One fault trial: a client against a [`FaultServer`], and the checks of its outcome.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use http1_pipeline::{Client, ErrorKind, Request};

use super::server::{Action, FaultRates, FaultServer};
use super::{mix, Rng};

/// The (connections, pipeline depth) configurations the trials cycle through.
pub const CONFIGS: [(usize, usize); 4] = [(1, 1), (3, 4), (5, 8), (2, 16)];

/// One trial's parameters.
#[derive(Debug, Clone)]
pub struct TrialConfig {
    /// Seed of every random choice (request mix, faults, forms of the answers).
    pub seed: u64,
    /// Requests sent in this trial.
    pub requests: usize,
    /// `max_connections` of the client.
    pub connections: usize,
    /// `pipeline_depth` of the client.
    pub depth: usize,
    /// The client's request timeout (stalls cost this much).
    pub timeout: Duration,
    /// `max_retries` of the client.
    pub max_retries: u32,
    /// The server's faults.
    pub rates: FaultRates,
    /// The whole trial must finish within this (else: a hang, reported as a failure).
    pub hang_limit: Duration,
}

impl TrialConfig {
    /// A trial with the default faults, a 300 ms request timeout and 3 retries.
    pub fn new(seed: u64, requests: usize, connections: usize, depth: usize) -> TrialConfig {
        TrialConfig {
            seed,
            requests,
            connections,
            depth,
            timeout: Duration::from_millis(300),
            max_retries: 3,
            rates: FaultRates::default(),
            hang_limit: Duration::from_secs(60),
        }
    }
}

/// What a trial (or several) did.
#[derive(Debug, Clone, Default)]
pub struct TrialStats {
    /// Trials run.
    pub trials: usize,
    /// Requests sent by the client.
    pub requests: usize,
    /// Requests that got their (correct) response.
    pub ok: usize,
    /// Failed requests by error kind.
    pub errors: BTreeMap<String, usize>,
    /// The text of the first few errors of each kind (at most 3 per kind).
    pub error_examples: BTreeMap<String, Vec<String>>,
    /// Requests the server received (retries included).
    pub received: usize,
    /// Requests the server received more than once, beyond the first time.
    pub resent: usize,
    /// What the server did, by action.
    pub actions: BTreeMap<Action, usize>,
    /// Connections the server accepted.
    pub connections: usize,
    /// Requests delivered a response that is not theirs (another request's, or a body
    /// that is not their response's).
    pub misdelivered: usize,
    /// Requests whose future did not resolve within the trial's hang limit.
    pub lost: usize,
    /// `POST`s the server received more than once.
    pub duplicate_posts: usize,
    /// Requests the client wrote behind a `POST` whose response it had not read whole
    /// (as the server saw it), or a `POST` written behind other requests.
    pub written_behind_post: usize,
    /// Every other broken rule (see the [module docs](super)).
    pub other_violations: usize,
}

impl TrialStats {
    /// Adds another trial's figures to these.
    pub fn merge(&mut self, other: &TrialStats) {
        self.trials += other.trials;
        self.requests += other.requests;
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.error_examples {
            let mine = self.error_examples.entry(k.clone()).or_default();
            for e in v {
                if mine.len() < 3 {
                    mine.push(e.clone());
                }
            }
        }
        self.received += other.received;
        self.resent += other.resent;
        for (k, v) in &other.actions {
            *self.actions.entry(*k).or_default() += v;
        }
        self.connections += other.connections;
        self.misdelivered += other.misdelivered;
        self.lost += other.lost;
        self.duplicate_posts += other.duplicate_posts;
        self.written_behind_post += other.written_behind_post;
        self.other_violations += other.other_violations;
    }

    /// The share of requests that got their response, in percent.
    pub fn success_percent(&self) -> f64 {
        if self.requests == 0 {
            return f64::NAN;
        }
        self.ok as f64 * 100.0 / self.requests as f64
    }
}

impl fmt::Display for TrialStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} trials, {} requests: {} ok, {} failed {:?}",
            self.trials,
            self.requests,
            self.ok,
            self.requests - self.ok,
            self.errors
        )?;
        writeln!(
            f,
            "server: {} requests received ({} re-sent), {} connections",
            self.received, self.resent, self.connections
        )?;
        writeln!(f, "server actions: {:?}", self.actions)?;
        write!(
            f,
            "misdelivered {}, lost {}, duplicate POST {}, written behind an unanswered POST {}, \
             other violations {}",
            self.misdelivered,
            self.lost,
            self.duplicate_posts,
            self.written_behind_post,
            self.other_violations
        )
    }
}

/// A trial whose checks failed (or that hung).
#[derive(Debug, Clone)]
pub struct TrialFailure {
    /// The trial's parameters (its seed first).
    pub config: TrialConfig,
    /// Every broken rule found.
    pub violations: Vec<String>,
}

impl fmt::Display for TrialFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        writeln!(
            f,
            "fault trial failed: seed {:#x}, {} requests, {} connections x depth {}, \
             timeout {:?}, max_retries {}",
            c.seed, c.requests, c.connections, c.depth, c.timeout, c.max_retries
        )?;
        writeln!(
            f,
            "re-run it: cargo run --release -p ovirt-tests --bin fault-trials -- \
             --trial {:#x}:{}:{}:{}",
            c.seed, c.connections, c.depth, c.requests
        )?;
        let shown = self.violations.len().min(30);
        for v in &self.violations[..shown] {
            writeln!(f, "  - {v}")?;
        }
        if self.violations.len() > shown {
            writeln!(f, "  ... and {} more", self.violations.len() - shown)?;
        }
        Ok(())
    }
}

impl std::error::Error for TrialFailure {}

/// The padding of a body: `len` letters that depend on `id`.
fn padding(out: &mut Vec<u8>, id: u64, len: usize) {
    out.extend((0..len).map(|i| b'a' + ((id as usize).wrapping_add(i * 7) % 26) as u8));
}

/// A body length: mostly small, sometimes a few KiB, rarely tens of KiB.
fn body_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=69 => rng.range(0, 64),
        70..=94 => rng.range(64, 2048),
        _ => rng.range(2048, 40_000),
    }
}

/// The body of the response to request `id` (made with `method`).
pub fn expected_body(id: u64, method: &str) -> Vec<u8> {
    let mut rng = Rng::for_key(0xB0D1, id, 0);
    let mut out = format!("{id}:{method}:").into_bytes();
    let len = body_len(&mut rng);
    padding(&mut out, id, len);
    out
}

/// The body the client sends with `PUT` or `POST` request `id`.
pub fn expected_request_body(id: u64) -> Vec<u8> {
    let mut rng = Rng::for_key(0x0E0B, id, 0);
    let mut out = format!("request {id}:").into_bytes();
    let len = body_len(&mut rng) / 2;
    padding(&mut out, id, len);
    out
}

fn method_of(seed: u64, id: u64) -> &'static str {
    match Rng::for_key(seed ^ 0x3E7, id, 0).below(100) {
        0..=49 => "GET",
        50..=64 => "PUT",
        65..=74 => "DELETE",
        _ => "POST",
    }
}

/// How one request ended, from the client's side.
enum Outcome {
    Ok {
        status: u16,
        x_id: Option<String>,
        x_method: Option<String>,
        body: bytes::Bytes,
    },
    Failed {
        error: http1_pipeline::Error,
        in_body: bool,
    },
    /// Not resolved within the hang limit.
    Lost,
}

async fn one(client: &Client, id: u64, method: &'static str) -> Outcome {
    let path = format!("/r/{id}");
    let request = match method {
        "GET" => Request::get(path),
        "PUT" => Request::put(path, expected_request_body(id)),
        "DELETE" => Request::delete(path),
        _ => Request::post(path, expected_request_body(id)),
    }
    .header("X-Request-Id", id.to_string());
    let response = match client.send(request).await {
        Ok(r) => r,
        Err(error) => {
            return Outcome::Failed {
                error,
                in_body: false,
            }
        }
    };
    let status = response.status();
    let x_id = response.headers().get("x-id").map(str::to_string);
    let x_method = response.headers().get("x-method").map(str::to_string);
    match response.bytes().await {
        Ok(body) => Outcome::Ok {
            status,
            x_id,
            x_method,
            body,
        },
        Err(error) => Outcome::Failed {
            error,
            in_body: true,
        },
    }
}

/// Runs one trial and checks every request's outcome (see the [module docs](super)).
pub async fn run_trial(config: TrialConfig) -> Result<TrialStats, TrialFailure> {
    let (stats, violations) = survey_trial(config.clone()).await?;
    if violations.is_empty() {
        Ok(stats)
    } else {
        Err(TrialFailure { config, violations })
    }
}

/// Runs one trial and counts what went wrong instead of failing on it: the statistics
/// (with the counts of misdelivered, lost and duplicated requests and of requests written
/// behind a `POST`) and every broken rule. Fails only if the trial could not run.
pub async fn survey_trial(config: TrialConfig) -> Result<(TrialStats, Vec<String>), TrialFailure> {
    let fail = |violations: Vec<String>| TrialFailure {
        config: config.clone(),
        violations,
    };
    let server = FaultServer::start(config.seed, config.rates.clone())
        .await
        .map_err(|e| fail(vec![format!("cannot start the server: {e}")]))?;
    let client = Client::builder(&server.url())
        .max_connections(config.connections)
        .pipeline_depth(config.depth)
        .request_timeout(Some(config.timeout))
        .max_retries(config.max_retries)
        .max_header_bytes(8 * 1024)
        .build()
        .map_err(|e| fail(vec![format!("cannot build the client: {e}")]))?;
    // Keep about two rounds of the client's capacity outstanding, so requests do not wait
    // in its queue long enough to time out there.
    let window = config.connections * config.depth * 2 + 2;
    let seed = config.seed;
    let hang_limit = config.hang_limit;
    let run = stream::iter(0..config.requests as u64)
        .map(|id| {
            let client = &client;
            async move {
                let method = method_of(seed, id);
                let outcome = tokio::time::timeout(hang_limit, one(client, id, method))
                    .await
                    .unwrap_or(Outcome::Lost);
                (id, method, outcome)
            }
        })
        .buffer_unordered(window)
        .collect::<Vec<_>>();
    // Each request is bounded by the hang limit; this bound only catches a stuck stream.
    let overall = config.hang_limit * 2 + Duration::from_secs(30);
    let outcomes = match tokio::time::timeout(overall, run).await {
        Ok(o) => o,
        Err(_) => {
            return Err(fail(vec![format!(
                "hang: the requests did not all resolve within {overall:?}"
            )]))
        }
    };
    let mut violations = Vec::new();
    drop(client);
    // Once every request has resolved and the client is gone, its connections close; only
    // then is the server's record complete.
    if tokio::time::timeout(Duration::from_secs(10), server.all_closed())
        .await
        .is_err()
    {
        violations.push("connections still open 10 s after the client was dropped".into());
    }
    let server_violations = server.violations();
    let behind_post = server_violations
        .iter()
        .filter(|v| v.contains("behind an unanswered POST") || v.contains("written behind"))
        .count();
    let other_server = server_violations.len() - behind_post;
    violations.extend(server_violations);
    let received = server.received();
    let mut stats = TrialStats {
        trials: 1,
        requests: config.requests,
        received: received.len(),
        connections: server.connections(),
        written_behind_post: behind_post,
        other_violations: other_server,
        ..TrialStats::default()
    };
    let mut seen: HashMap<u64, Vec<Action>> = HashMap::new();
    for r in &received {
        *stats.actions.entry(r.action).or_default() += 1;
        seen.entry(r.id).or_default().push(r.action);
        if r.id >= config.requests as u64 {
            stats.other_violations += 1;
            violations.push(format!("the server received unknown request id {}", r.id));
        }
    }
    stats.resent = received.len() - seen.len();
    for (id, method, outcome) in &outcomes {
        let (id, method) = (*id, *method);
        let actions = seen.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let times = actions.len();
        let what = format!("request {id} ({method})");
        if method == "POST" && times > 1 {
            stats.duplicate_posts += 1;
            violations.push(format!(
                "{what} reached the server {times} times: {actions:?}"
            ));
        }
        if times > 1 + config.max_retries as usize {
            stats.other_violations += 1;
            violations.push(format!(
                "{what} reached the server {times} times, more than 1 + max_retries: {actions:?}"
            ));
        }
        match outcome {
            Outcome::Ok {
                status,
                x_id,
                x_method,
                body,
            } => {
                stats.ok += 1;
                let id_text = id.to_string();
                if x_id.as_deref() != Some(id_text.as_str()) || x_method.as_deref() != Some(method)
                {
                    stats.misdelivered += 1;
                    violations.push(format!(
                        "{what} was delivered the response to request {x_id:?} ({x_method:?})"
                    ));
                    continue;
                }
                let expected_status: &[u16] = match method {
                    "POST" => &[201],
                    "DELETE" => &[200, 204],
                    _ => &[200],
                };
                if !expected_status.contains(status) {
                    stats.other_violations += 1;
                    violations.push(format!("{what} got status {status}"));
                }
                let expected = if *status == 204 {
                    Vec::new()
                } else {
                    expected_body(id, method)
                };
                if body[..] != expected[..] {
                    stats.misdelivered += 1;
                    violations.push(format!(
                        "{what} got a body of {} bytes that is not its response ({} bytes){}",
                        body.len(),
                        expected.len(),
                        if body.len() < expected.len() && expected.starts_with(body) {
                            ": truncated"
                        } else {
                            ""
                        }
                    ));
                }
                let answered = actions.iter().any(|a| {
                    matches!(
                        a,
                        Action::Respond
                            | Action::CloseAfter
                            | Action::ConnectionClose
                            | Action::Http10Close
                    )
                });
                if !answered {
                    stats.misdelivered += 1;
                    violations.push(format!(
                        "{what} got a response although the server never answered it \
                         completely: {actions:?}"
                    ));
                }
            }
            Outcome::Lost => {
                stats.lost += 1;
                violations.push(format!(
                    "{what} is lost: its future did not resolve within {:?}",
                    config.hang_limit
                ));
            }
            Outcome::Failed { error, in_body } => {
                let kind = format!("{:?}", error.kind());
                let examples = stats.error_examples.entry(kind.clone()).or_default();
                if examples.len() < 3 {
                    examples.push(format!(
                        "{what}{}: {error}",
                        if *in_body { " (in the body)" } else { "" }
                    ));
                }
                *stats.errors.entry(kind).or_default() += 1;
                let where_ = if *in_body { " (reading the body)" } else { "" };
                if !matches!(
                    error.kind(),
                    ErrorKind::Timeout
                        | ErrorKind::Closed
                        | ErrorKind::Malformed
                        | ErrorKind::HeaderLimit
                        | ErrorKind::BodyDecode
                ) {
                    stats.other_violations += 1;
                    violations.push(format!(
                        "{what} failed with an unexpected error{where_}: {error}"
                    ));
                }
                if times > 0 && !error.may_have_been_processed() {
                    stats.other_violations += 1;
                    violations.push(format!(
                        "{what} failed{where_} with an error saying it was never processed, \
                         but the server received it {times} times ({actions:?}): {error}"
                    ));
                }
                if *in_body && !error.may_have_been_processed() {
                    stats.other_violations += 1;
                    violations.push(format!(
                        "{what}: an error while reading its body says the request was never \
                         processed: {error}"
                    ));
                }
                let url_ok = error
                    .url()
                    .is_some_and(|u| u.ends_with(&format!("/r/{id}")));
                if error.method().map(|m| m.to_string()).as_deref() != Some(method) || !url_ok {
                    stats.other_violations += 1;
                    violations.push(format!(
                        "{what}: its error names another request: {:?} {:?}",
                        error.method(),
                        error.url()
                    ));
                }
            }
        }
    }
    if !violations.is_empty() && std::env::var_os("FAULT_TRIALS_DUMP").is_some() {
        for r in &received {
            eprintln!("{r:?}");
        }
    }
    Ok((stats, violations))
}

/// Runs trials of `per_trial` requests until `total` requests have been sent, `parallel`
/// at a time, cycling through [`CONFIGS`]. Trial `i` uses seed `mix(base_seed + i)`.
/// Stops at the first failing trial. `progress` is called after each trial.
pub async fn run_trials(
    base_seed: u64,
    total: usize,
    per_trial: usize,
    parallel: usize,
    mut progress: impl FnMut(&TrialStats),
) -> Result<TrialStats, TrialFailure> {
    let mut all = TrialStats::default();
    let mut set = tokio::task::JoinSet::new();
    let mut configs = HashMap::new();
    let mut started = 0usize;
    let mut next = 0u64;
    loop {
        while set.len() < parallel.max(1) && started < total {
            let n = per_trial.min(total - started);
            let (connections, depth) = CONFIGS[next as usize % CONFIGS.len()];
            let config = TrialConfig::new(mix(base_seed.wrapping_add(next)), n, connections, depth);
            let task = set.spawn(run_trial(config.clone()));
            configs.insert(task.id(), config);
            started += n;
            next += 1;
        }
        let Some(done) = set.join_next_with_id().await else {
            return Ok(all);
        };
        match done {
            Ok((_, Ok(stats))) => {
                all.merge(&stats);
                progress(&all);
            }
            Ok((_, Err(failure))) => return Err(failure),
            Err(e) => {
                let config = configs
                    .remove(&e.id())
                    .unwrap_or_else(|| TrialConfig::new(base_seed, 0, 0, 0));
                return Err(TrialFailure {
                    config,
                    violations: vec![format!("the trial panicked: {e}")],
                });
            }
        }
    }
}
