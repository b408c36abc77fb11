//! The pipelining benchmark.
//!
//! Sends M GETs of 1 KiB items through the latency emulator to the in-process item
//! server at several round-trip times, with http1-pipeline at several
//! (connections, depth) configurations and with reqwest (no pipelining), and prints a
//! markdown table plus one JSON line per row.
//!
//! The server and the emulators run in a child process (this binary re-executed with
//! `--serve`), so the CPU time this process reads with `getrusage(RUSAGE_SELF)` is the
//! client's alone. The child exits when its standard input closes, i.e. when this
//! process ends for whatever reason.
//!
//! ```text
//! cargo run --release -p ovirt-tests --bin pipeline-bench -- [-m 3000] [--runs 5]
//!     [--rtt 0,2,20] [--configs 5x1,5x8,10x32|none] [--reqwest-connections 5] [--no-reqwest]
//!     [--body 1024] [--client-threads 2] [--timeout-secs 1200]
//! ```

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ovirt_tests::latency::LatencyProxy;
use ovirt_tests::load::{expected_bodies, process_cpu_time, run_gets, server_stats, ClientKind};
use ovirt_tests::server::ItemServer;

/// Longest time one run (M requests) may take before the benchmark gives up.
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

struct Options {
    m: usize,
    runs: usize,
    rtts_ms: Vec<u64>,
    configs: Vec<(usize, usize)>,
    reqwest_connections: Option<usize>,
    body: usize,
    client_threads: usize,
    timeout: Duration,
    serve: bool,
}

fn usage() -> &'static str {
    "usage: pipeline-bench [-m N] [--runs N] [--rtt MS,MS,..] [--configs CxD,CxD,..] \
     [--reqwest-connections N] [--no-reqwest] [--body BYTES] [--client-threads N] [--timeout-secs S]"
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        m: 3000,
        runs: 5,
        rtts_ms: vec![0, 2, 20],
        configs: vec![(5, 1), (5, 8), (10, 32)],
        reqwest_connections: Some(5),
        body: 1024,
        client_threads: 2,
        timeout: Duration::from_secs(1200),
        serve: false,
    };
    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value; {}", usage()))
        };
        let number = |name: &str, text: String| -> Result<usize, String> {
            text.trim()
                .parse::<usize>()
                .map_err(|_| format!("{name}: {text:?} is not a whole number"))
        };
        match flag.as_str() {
            "-m" => options.m = number("-m", value("-m")?)?,
            "--runs" => options.runs = number("--runs", value("--runs")?)?,
            "--rtt" => {
                options.rtts_ms = value("--rtt")?
                    .split(',')
                    .map(|ms| number("--rtt", ms.to_string()).map(|ms| ms as u64))
                    .collect::<Result<_, _>>()?
            }
            "--configs" => {
                let text = value("--configs")?;
                options.configs = text
                    .split(',')
                    .filter(|config| *config != "none")
                    .map(|config| {
                        let (c, d) = config.split_once('x').ok_or_else(|| {
                            format!("--configs: {config:?} is not CONNECTIONSxDEPTH, e.g. 5x8")
                        })?;
                        Ok((
                            number("--configs", c.to_string())?,
                            number("--configs", d.to_string())?,
                        ))
                    })
                    .collect::<Result<_, String>>()?
            }
            "--reqwest-connections" => {
                options.reqwest_connections = Some(number(
                    "--reqwest-connections",
                    value("--reqwest-connections")?,
                )?)
            }
            "--no-reqwest" => options.reqwest_connections = None,
            "--body" => options.body = number("--body", value("--body")?)?,
            "--client-threads" => {
                options.client_threads = number("--client-threads", value("--client-threads")?)?
            }
            "--timeout-secs" => {
                options.timeout =
                    Duration::from_secs(number("--timeout-secs", value("--timeout-secs")?)? as u64)
            }
            "--serve" => options.serve = true,
            "-h" | "--help" => return Err(usage().to_string()),
            other => return Err(format!("unknown argument {other:?}; {}", usage())),
        }
    }
    if options.m == 0 || options.runs == 0 {
        return Err("-m and --runs must be at least 1".into());
    }
    if options.configs.iter().any(|&(c, d)| c == 0 || d == 0)
        || options.reqwest_connections == Some(0)
    {
        return Err("connections and depths must be at least 1".into());
    }
    if options.rtts_ms.is_empty() {
        return Err("--rtt needs at least one round-trip time".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("pipeline-bench: {message}");
            return ExitCode::from(2);
        }
    };
    let result = if options.serve {
        serve(&options)
    } else {
        // Whatever happens, the benchmark ends: a watchdog thread exits the process
        // (the child follows when its standard input closes).
        let limit = options.timeout;
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "pipeline-bench: gave up after {} s (--timeout-secs)",
                limit.as_secs()
            );
            std::process::exit(3);
        });
        bench(&options)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pipeline-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The child process: the item server and one latency emulator per RTT, until
/// standard input closes.
fn serve(options: &Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("starting the server runtime: {e}"))?;
    let (stdin_closed_tx, stdin_closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        let _ = stdin_closed_tx.send(());
    });
    runtime.block_on(async {
        let (server_addr, _server) = ItemServer::start(options.body)
            .await
            .map_err(|e| format!("starting the item server: {e}"))?;
        println!("server {server_addr}");
        let mut proxies = Vec::new();
        for &ms in &options.rtts_ms {
            let proxy = LatencyProxy::start(server_addr, Duration::from_millis(ms))
                .await
                .map_err(|e| format!("starting the latency emulator: {e}"))?;
            println!("proxy {ms} {}", proxy.addr());
            proxies.push(proxy);
        }
        println!("ready");
        // Stdout is line-buffered only on a terminal; the parent reads a pipe.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = stdin_closed_rx.await;
        Ok(())
    })
}

/// The child process and the addresses it announced.
struct Servers {
    child: Child,
    server: SocketAddr,
    proxies: Vec<(u64, SocketAddr)>,
}

impl Drop for Servers {
    fn drop(&mut self) {
        // Closing stdin asks the child to exit; kill it if it has not.
        drop(self.child.stdin.take());
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_servers(options: &Options) -> Result<Servers, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this executable: {e}"))?;
    let rtts: Vec<String> = options.rtts_ms.iter().map(u64::to_string).collect();
    let mut child = Command::new(exe)
        .args([
            "--serve",
            "--rtt",
            &rtts.join(","),
            "--body",
            &options.body.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the server process: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut servers = Servers {
        child,
        server: SocketAddr::from(([127, 0, 0, 1], 0)),
        proxies: Vec::new(),
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| "the server process did not get ready within 30 s".to_string())?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let addr = |text: &str| {
            text.parse::<SocketAddr>()
                .map_err(|_| format!("the server process announced a bad address: {line:?}"))
        };
        match words.as_slice() {
            ["server", a] => servers.server = addr(a)?,
            ["proxy", ms, a] => {
                let ms = ms
                    .parse()
                    .map_err(|_| format!("the server process announced a bad RTT: {line:?}"))?;
                servers.proxies.push((ms, addr(a)?));
            }
            ["ready"] => return Ok(servers),
            _ => return Err(format!("unexpected line from the server process: {line:?}")),
        }
    }
}

/// One row of the result table.
struct Row {
    client: &'static str,
    rtt_ms: u64,
    connections: usize,
    depth: usize,
    wall: Duration,
    cpu_us_per_req: f64,
    conns_opened: Vec<u64>,
    walls: Vec<Duration>,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn bench(options: &Options) -> Result<(), String> {
    let servers = start_servers(options)?;
    let mut builder = if options.client_threads == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(options.client_threads);
        builder
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("starting the client runtime: {e}"))?;
    let expected = expected_bodies(options.m, options.body);

    let mut kinds: Vec<ClientKind> = options
        .configs
        .iter()
        .map(|&(connections, depth)| ClientKind::PipelineCore { connections, depth })
        .collect();
    if let Some(connections) = options.reqwest_connections {
        kinds.push(ClientKind::Reqwest { connections });
    }

    let mut rows = Vec::new();
    for &(rtt_ms, proxy) in &servers.proxies {
        for &kind in &kinds {
            // One short warm-up run, not counted.
            let warm = &expected[..(options.m / 10).max(1)];
            runtime.block_on(timed_run(kind, proxy, warm))?;
            let mut walls = Vec::new();
            let mut cpus = Vec::new();
            let mut conns_opened = Vec::new();
            for _ in 0..options.runs {
                let (c0, r0) = server_stats(servers.server).map_err(|e| e.to_string())?;
                let cpu0 = process_cpu_time();
                let wall = runtime.block_on(timed_run(kind, proxy, &expected))?;
                let cpu = process_cpu_time().saturating_sub(cpu0);
                let (c1, r1) = server_stats(servers.server).map_err(|e| e.to_string())?;
                if r1.saturating_sub(r0) != options.m as u64 {
                    return Err(format!(
                        "{} sent {} requests instead of {} (server count)",
                        kind.name(),
                        r1.saturating_sub(r0),
                        options.m
                    ));
                }
                // The later stats request is a connection of its own.
                conns_opened.push(c1.saturating_sub(c0 + 1));
                walls.push(wall);
                cpus.push(cpu.as_secs_f64() * 1e6 / options.m as f64);
            }
            let mut wall_secs: Vec<f64> = walls.iter().map(Duration::as_secs_f64).collect();
            let row = Row {
                client: kind.name(),
                rtt_ms,
                connections: kind.connections(),
                depth: kind.depth(),
                wall: Duration::from_secs_f64(median(&mut wall_secs)),
                cpu_us_per_req: median(&mut cpus),
                conns_opened,
                walls,
            };
            eprintln!("done: {}", json(&row, options.m));
            rows.push(row);
        }
    }
    drop(servers);
    print_table(&rows, options);
    Ok(())
}

async fn timed_run(
    kind: ClientKind,
    proxy: SocketAddr,
    expected: &[bytes::Bytes],
) -> Result<Duration, String> {
    match tokio::time::timeout(RUN_TIMEOUT, run_gets(kind, proxy, expected)).await {
        Ok(Ok(wall)) => Ok(wall),
        Ok(Err(e)) => Err(format!("{} run failed: {e}", kind.name())),
        Err(_) => Err(format!(
            "{} run of {} requests did not finish within {} s",
            kind.name(),
            expected.len(),
            RUN_TIMEOUT.as_secs()
        )),
    }
}

/// The ideal time: one RTT to connect plus one RTT per round of
/// connections x depth requests.
fn bound(row: &Row, m: usize) -> Duration {
    let rounds = m as f64 / (row.connections * row.depth) as f64;
    Duration::from_secs_f64(row.rtt_ms as f64 / 1000.0 * (1.0 + rounds))
}

fn ratio(row: &Row, m: usize) -> Option<f64> {
    (row.rtt_ms > 0).then(|| row.wall.as_secs_f64() / bound(row, m).as_secs_f64())
}

fn json(row: &Row, m: usize) -> String {
    let walls: Vec<String> = row
        .walls
        .iter()
        .map(|w| format!("{:.3}", w.as_secs_f64() * 1000.0))
        .collect();
    format!(
        "{{\"client\":\"{}\",\"rtt_ms\":{},\"connections\":{},\"depth\":{},\"requests\":{},\
         \"wall_ms_median\":{:.3},\"wall_ms_runs\":[{}],\"req_per_s\":{:.1},\"bound_ms\":{},\
         \"ratio_to_bound\":{},\"cpu_us_per_req\":{:.2},\"connections_opened_runs\":{:?}}}",
        row.client,
        row.rtt_ms,
        row.connections,
        row.depth,
        m,
        row.wall.as_secs_f64() * 1000.0,
        walls.join(","),
        m as f64 / row.wall.as_secs_f64(),
        if row.rtt_ms > 0 {
            format!("{:.3}", bound(row, m).as_secs_f64() * 1000.0)
        } else {
            "null".to_string()
        },
        ratio(row, m).map_or("null".to_string(), |r| format!("{r:.3}")),
        row.cpu_us_per_req,
        row.conns_opened,
    )
}

/// The most connections a client opened in one run, as a table cell.
fn max_opened(row: &Row) -> u64 {
    row.conns_opened.iter().copied().max().unwrap_or(0)
}

fn print_table(rows: &[Row], options: &Options) {
    let m = options.m;
    println!(
        "{m} GETs of {}-byte bodies per run; wall time is the median of {} runs; \
         bound = RTT x (1 + M / (connections x depth)).",
        options.body, options.runs
    );
    println!();
    println!("| client | rtt_ms | connections | depth | wall ms (median) | requests/s | ratio to bound | client CPU µs/request | connections opened (max of runs) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.0} | {} | {:.1} | {} |",
            row.client,
            row.rtt_ms,
            row.connections,
            row.depth,
            row.wall.as_secs_f64() * 1000.0,
            m as f64 / row.wall.as_secs_f64(),
            ratio(row, m).map_or("n/a".to_string(), |r| format!("{r:.2}")),
            row.cpu_us_per_req,
            max_opened(row),
        );
    }
    println!();
    for row in rows {
        println!("{}", json(row, m));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn defaults_match_the_documented_benchmark() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.m, 3000);
        assert_eq!(options.runs, 5);
        assert_eq!(options.rtts_ms, vec![0, 2, 20]);
        assert_eq!(options.configs, vec![(5, 1), (5, 8), (10, 32)]);
        assert_eq!(options.reqwest_connections, Some(5));
        assert!(!options.serve);
    }

    #[test]
    fn flags_override_the_defaults() {
        let options = parse(&[
            "-m",
            "10",
            "--runs",
            "3",
            "--rtt",
            "1,7",
            "--configs",
            "2x4",
            "--no-reqwest",
        ])
        .unwrap();
        assert_eq!((options.m, options.runs), (10, 3));
        assert_eq!(options.rtts_ms, vec![1, 7]);
        assert_eq!(options.configs, vec![(2, 4)]);
        assert_eq!(options.reqwest_connections, None);
        assert!(parse(&["--configs", "none"]).unwrap().configs.is_empty());
    }

    #[test]
    fn bad_arguments_are_named_in_the_error() {
        let err = |args: &[&str]| parse(args).err().expect("must be rejected");
        assert!(err(&["--configs", "5by8"]).contains("5by8"));
        assert!(err(&["--configs", "0x8"]).contains("at least 1"));
        assert!(err(&["-m", "lots"]).contains("lots"));
        assert!(err(&["--runs"]).contains("--runs needs a value"));
        assert!(err(&["--frobnicate"]).contains("--frobnicate"));
        assert!(err(&["-m", "0"]).contains("at least 1"));
    }

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn bound_is_one_round_trip_plus_one_per_round_of_requests() {
        let row = Row {
            client: "http1-pipeline",
            rtt_ms: 20,
            connections: 5,
            depth: 8,
            wall: Duration::from_millis(1600),
            cpu_us_per_req: 1.0,
            conns_opened: vec![5],
            walls: vec![Duration::from_millis(1600)],
        };
        // 3000 / 40 = 75 rounds, plus one: 76 x 20 ms.
        assert_eq!(bound(&row, 3000), Duration::from_millis(1520));
        let ratio = ratio(&row, 3000).unwrap();
        assert!((ratio - 1600.0 / 1520.0).abs() < 1e-9);
        assert_eq!(super::ratio(&Row { rtt_ms: 0, ..row }, 3000), None);
    }
}
