//! fleet-agent against a real llama-server (llama.cpp b11434 built by `.ci/llama.sh`, Gemma 3
//! 270M Q4_K_M, 4 slots) under four concurrent clients, with the real planner (SQLite) in
//! process: the server is killed under load and started again on the same port, and the planner
//! is taken down for a while, yet every generated token lands in exactly one stored window and
//! every window's rates match the server's own figures within 5%.
//!
//! Runs when `LLAMA_SERVER_BIN` and `LLAMA_MODEL` are set (`source
//! /var/cache/fleetplan/llama/env` after `bash .ci/llama.sh`); otherwise it prints a notice and
//! passes, unless `FLEET_REQUIRE_LLAMA_SERVER=1`, when it fails. Real time: about a minute and a
//! half on an idle 2-core machine, longer on a busy one; it stops by itself (every wait has a
//! limit, the whole run one of 8 minutes).
//!
//! # What the server's "own figures" are, exactly
//!
//! The test must not read the server's `/metrics` itself while the agent runs: every call resets
//! the `predicted_tokens_seconds` gauge the agent counts requests with. So the agent scrapes the
//! server through a relay ([`MetricsTap`]) that forwards every request unchanged and records each
//! `/metrics` answer with the time it arrived: the server's counters at the very instants the
//! agent read them. Each stored window is matched to the two recorded readings at its ends
//! (nearest in time; they are 2 s apart, the agent's clock and the relay's differ by
//! milliseconds), and then:
//! - tokens: the window's generated and prompt tokens equal the counters' deltas exactly, and per
//!   server lifetime the windows add up to everything the server counted, which equals the sum
//!   of `predicted_n` over the `/completion` responses (the requests cut by the kill never
//!   finish, so never count);
//! - aggregate: Δ`tokens_predicted_total` / Δtime between the two recorded readings;
//! - per-stream decode: Σ(`predicted_n` − 1) / Σ`predicted_ms` over the responses received
//!   between the two readings, i.e. the token-weighted `timings.predicted_per_second` of the
//!   requests that finished in the window, computed by the server per request.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::RunningAgent;
use common::planner::{PlannerProcess, TOKEN, sqlite_url, stored_observations};
use fleet_agent::AgentConfig;
use fleet_agent::config::BearerToken;
use fleet_agent::rates::WindowPolicy;
use fleet_agent::scrape::{self, HttpClient, LlamaCounters, PROCESS_START_HEADER};
use fleet_store::ObservationRow;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

const NODE: &str = "cpu-node-e2e";
const SKU: &str = "rtx-5090";
const INTERVAL: Duration = Duration::from_secs(2);
const WINDOW: WindowPolicy = WindowPolicy {
    min_predicted_tokens: 64,
    max_window_ms: 6_000,
};
const CLIENTS: usize = 4;
const N_PREDICT: u32 = 48;
/// Each load phase runs at least this long and until every client finished this many requests.
const LOAD_AT_LEAST: Duration = Duration::from_secs(15);
const ROUNDS_PER_PHASE: usize = 2;
/// What "within 5%" allows.
const TOLERANCE: f64 = 0.05;
/// Limit on any single wait; the whole run has [`RUN_LIMIT`].
const WAIT_LIMIT: Duration = Duration::from_secs(150);
const RUN_LIMIT: Duration = Duration::from_secs(480);
const PROMPTS: [&str; 4] = [
    "Write a short poem about GPUs and tokens.",
    "List three facts about the moon.",
    "Explain what a cache is in one paragraph.",
    "Describe a sunrise over the sea.",
];

/// Writes to stderr past the test harness's capture (which takes `print!`/`eprint!` only), so
/// CI logs show the figures of a passing run too.
fn show(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Waits until `condition` holds, checking every 100 ms; panics naming `what` after
/// [`WAIT_LIMIT`].
async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT_LIMIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// llama-server
// ---------------------------------------------------------------------------------------------

/// A llama-server child process on a fixed loopback port; killed when dropped.
struct LlamaServer {
    child: Child,
    url: String,
}

impl LlamaServer {
    /// Starts `llama-server` on `port` and waits until `/health` answers 200.
    async fn start(binary: &Path, model: &Path, port: u16, log: &Path) -> Self {
        let url = format!("http://127.0.0.1:{port}");
        let client = HttpClient::new(Duration::from_secs(2));
        // The port may still be held for a moment after a kill: retry the start a few times.
        for attempt in 1..=5 {
            let log_file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap();
            let mut child = Command::new(binary)
                .args(["-m"])
                .arg(model)
                .args(["--metrics", "-np", "4", "-c", "4096", "--host", "127.0.0.1"])
                .args(["--port", &port.to_string(), "-t", "2"])
                .stdin(Stdio::null())
                .stdout(Stdio::from(log_file.try_clone().unwrap()))
                .stderr(Stdio::from(log_file))
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|error| panic!("cannot run {}: {error}", binary.display()));
            let deadline = Instant::now() + WAIT_LIMIT;
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("llama-server exited with {status} (attempt {attempt})");
                    break;
                }
                if client.get(&format!("{url}/health")).await.is_ok() {
                    return Self { child, url };
                }
                assert!(
                    Instant::now() < deadline,
                    "llama-server not healthy after {WAIT_LIMIT:?}; log:\n{}",
                    log_tail(log)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("llama-server did not start; log:\n{}", log_tail(log));
    }

    /// Kills the process at once (SIGKILL), like a crash.
    async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }

    /// Returns the slots processing a request (`/slots`, which the test may read: it resets only
    /// the sleep timer, not the gauge).
    async fn busy_slots(&self, client: &HttpClient) -> u32 {
        match client.get(&format!("{}/slots", self.url)).await {
            Ok(response) => scrape::parse_slots(&response.body).map_or(0, |slots| slots.busy),
            Err(_) => 0,
        }
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// The relay that records the server's counters at the agent's reads
// ---------------------------------------------------------------------------------------------

/// One `/metrics` answer the agent received.
#[derive(Debug, Clone)]
struct TapRecord {
    /// When the relay had the server's answer, Unix ms.
    at_unix_ms: i64,
    counters: LlamaCounters,
    /// Which server process answered (0, 1, ...), from its `Process-Start-Time-Unix` header.
    lifetime: usize,
}

#[derive(Clone, Default)]
struct TapState {
    upstream: String,
    records: Arc<Mutex<Vec<TapRecord>>>,
    markers: Arc<Mutex<Vec<String>>>,
}

/// Forwards every request to the server unchanged (status, body, the restart header) and
/// records each `/metrics` answer.
struct MetricsTap {
    url: String,
    state: TapState,
    task: JoinHandle<()>,
}

impl Drop for MetricsTap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(State(state): State<TapState>, uri: Uri) -> Response {
    let client = HttpClient::new(Duration::from_secs(10));
    let response = match client
        .get(&format!("{}{}", state.upstream, uri.path()))
        .await
    {
        Ok(response) => response,
        Err(scrape::ScrapeError::Status { status, .. }) => return status.into_response(),
        Err(_) => return StatusCode::BAD_GATEWAY.into_response(),
    };
    let at_unix_ms = unix_ms();
    let marker = response
        .headers
        .get(PROCESS_START_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if uri.path() == "/metrics"
        && let Some(marker) = &marker
        && let Ok(text) = std::str::from_utf8(&response.body)
        && let Ok(samples) = scrape::parse_prometheus_text(text)
        && let Ok(counters) = LlamaCounters::from_samples(&samples)
    {
        let lifetime = {
            let mut markers = state.markers.lock().unwrap();
            markers.iter().position(|m| m == marker).unwrap_or_else(|| {
                markers.push(marker.clone());
                markers.len() - 1
            })
        };
        state.records.lock().unwrap().push(TapRecord {
            at_unix_ms,
            counters,
            lifetime,
        });
    }
    let mut headers = HeaderMap::new();
    for name in [
        axum::http::header::CONTENT_TYPE.as_str(),
        PROCESS_START_HEADER,
    ] {
        if let Some(value) = response.headers.get(name) {
            headers.insert(name, value.clone());
        }
    }
    (headers, response.body).into_response()
}

impl MetricsTap {
    async fn start(upstream: &str) -> Self {
        let state = TapState {
            upstream: upstream.to_owned(),
            ..TapState::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new().fallback(relay).with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, state, task }
    }

    fn records(&self) -> Vec<TapRecord> {
        self.state.records.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------------------

/// What one `/completion` response said.
#[derive(Debug, Clone, Copy)]
struct Completion {
    received_unix_ms: i64,
    lifetime: usize,
    predicted_n: u64,
    predicted_ms: f64,
}

#[derive(Default)]
struct Load {
    running: AtomicBool,
    lifetime: AtomicUsize,
    completions: Mutex<Vec<Completion>>,
    failures: Mutex<Vec<String>>,
}

fn completion_body(prompt: &str, n_predict: u32) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "prompt": prompt,
        "n_predict": n_predict,
        "ignore_eos": true,
        "cache_prompt": false,
        "temperature": 0.0,
    }))
    .unwrap()
}

/// Sends one request; returns the response's (predicted_n, predicted_ms).
async fn complete(
    client: &HttpClient,
    server: &str,
    prompt: &str,
    n_predict: u32,
) -> Result<(u64, f64), String> {
    let response = client
        .post_json(
            &format!("{server}/completion"),
            completion_body(prompt, n_predict),
            Duration::from_secs(120),
        )
        .await
        .map_err(|error| fleet_agent::error_chain(&error))?;
    let body: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|error| error.to_string())?;
    let timings = &body["timings"];
    match (
        timings["predicted_n"].as_u64(),
        timings["predicted_ms"].as_f64(),
    ) {
        (Some(n), Some(ms)) => Ok((n, ms)),
        _ => Err(format!("no timings in {body}")),
    }
}

/// A client sending requests back to back while `load.running`.
async fn client_loop(load: Arc<Load>, server: String, index: usize) {
    let client = HttpClient::new(Duration::from_secs(120));
    let mut round = index;
    while load.running.load(Ordering::SeqCst) {
        let prompt = PROMPTS[round % PROMPTS.len()];
        round += 1;
        match complete(&client, &server, prompt, N_PREDICT).await {
            Ok((predicted_n, predicted_ms)) => load.completions.lock().unwrap().push(Completion {
                received_unix_ms: unix_ms(),
                lifetime: load.lifetime.load(Ordering::SeqCst),
                predicted_n,
                predicted_ms,
            }),
            Err(error) => {
                load.failures.lock().unwrap().push(error);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Runs [`CLIENTS`] clients for [`ROUNDS_PER_PHASE`] rounds of requests and at least
/// [`LOAD_AT_LEAST`]; `during` runs meanwhile. Returns once every client finished its last
/// request.
async fn run_load<F: std::future::Future<Output = ()>>(load: &Arc<Load>, server: &str, during: F) {
    let completed_before = load.completions.lock().unwrap().len();
    load.running.store(true, Ordering::SeqCst);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|index| tokio::spawn(client_loop(Arc::clone(load), server.to_owned(), index)))
        .collect();
    let started = Instant::now();
    during.await;
    wait_for("rounds of requests", || {
        started.elapsed() >= LOAD_AT_LEAST
            && load.completions.lock().unwrap().len()
                >= completed_before + ROUNDS_PER_PHASE * CLIENTS
    })
    .await;
    load.running.store(false, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Agent
// ---------------------------------------------------------------------------------------------

/// Starts the agent on `worker` (the relay) with 2 s scrapes and windows of 64 tokens, at most
/// 6 s.
async fn start_agent(planner: &str, worker: &str, spool_dir: &Path) -> RunningAgent {
    let mut config = AgentConfig::new(planner, NODE, SKU, vec![worker.into()], spool_dir.into());
    config.interval = INTERVAL;
    config.window = WINDOW;
    config.scrape_timeout = Duration::from_secs(10);
    config.backoff_initial = Duration::from_millis(200);
    config.backoff_max = Duration::from_secs(2);
    config.token = Some(BearerToken::new(TOKEN).unwrap());
    RunningAgent::start(config).await
}

/// Successful reads of `worker` so far.
fn good_scrapes(agent: &RunningAgent, worker: &str) -> u64 {
    agent.metrics.scrapes(worker) - agent.metrics.scrape_failures(worker)
}

/// Waits until every token the server counted is in a window: after the load stopped, the open
/// window is emitted at its maximum age, so two good reads later than that suffice.
async fn flush(agent: &RunningAgent, worker: &str) {
    tokio::time::sleep(Duration::from_millis(WINDOW.max_window_ms as u64)).await;
    let scrapes = good_scrapes(agent, worker);
    wait_for("two reads after the last window's maximum age", || {
        good_scrapes(agent, worker) >= scrapes + 2
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

struct Setup {
    server_bin: PathBuf,
    model: PathBuf,
}

fn setup() -> Option<Setup> {
    let required = std::env::var("FLEET_REQUIRE_LLAMA_SERVER").as_deref() == Ok("1");
    let paths = (
        std::env::var_os("LLAMA_SERVER_BIN").map(PathBuf::from),
        std::env::var_os("LLAMA_MODEL").map(PathBuf::from),
    );
    match paths {
        (Some(server_bin), Some(model)) => {
            for path in [&server_bin, &model] {
                assert!(path.is_file(), "{} does not exist", path.display());
            }
            Some(Setup { server_bin, model })
        }
        _ => {
            assert!(
                !required,
                "FLEET_REQUIRE_LLAMA_SERVER=1 but LLAMA_SERVER_BIN or LLAMA_MODEL is not set \
                 (bash .ci/llama.sh, then source its env file)"
            );
            show(
                "real_llama_server: skipped, LLAMA_SERVER_BIN and LLAMA_MODEL are not set \
                 (bash .ci/llama.sh; source /var/cache/fleetplan/llama/env)",
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_llama_server_under_load_restarted_with_a_planner_outage() {
    let Some(setup) = setup() else { return };
    tokio::time::timeout(RUN_LIMIT, run(setup))
        .await
        .unwrap_or_else(|_| panic!("the run took longer than {RUN_LIMIT:?}"));
}

async fn run(setup: Setup) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("llama-server.log");
    let port = free_port();
    let mut server = LlamaServer::start(&setup.server_bin, &setup.model, port, &log).await;
    let tap = MetricsTap::start(&server.url).await;
    let database = sqlite_url(dir.path());
    let planner = PlannerProcess::start(&database, "127.0.0.1:0".parse().unwrap());
    let spool = dir.path().join("spool");
    let agent = start_agent(&planner.url(), &tap.url, &spool).await;
    let mut planner = Some(planner);
    // The agent's baseline comes before any load, so every generated token is after it.
    wait_for("the agent's first read", || {
        good_scrapes(&agent, &tap.url) >= 1
    })
    .await;
    let load = Arc::new(Load::default());

    // Lifetime 0, with the planner down for a while in the middle.
    let mut outage = None;
    run_load(&load, &server.url, async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let addr = planner.take().unwrap().kill();
        let spooled = agent.metrics.observations_spooled.get();
        let down_since = Instant::now();
        wait_for("windows spooled while the planner is down", || {
            agent.metrics.observations_spooled.get() >= spooled + 2
        })
        .await;
        let held_back = agent.metrics.spool_depth.get();
        planner = Some(PlannerProcess::start(&database, addr));
        outage = Some((down_since.elapsed(), held_back));
    })
    .await;
    flush(&agent, &tap.url).await;

    // Killed with requests in flight (long ones, cut by the kill: never counted), then started
    // again on the same port.
    let victims: Vec<_> = (0..CLIENTS)
        .map(|index| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let client = HttpClient::new(Duration::from_secs(120));
                complete(&client, &url, PROMPTS[index], 512).await
            })
        })
        .collect();
    let probe = HttpClient::new(Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.busy_slots(&probe).await == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().await;
    for victim in victims {
        assert!(
            victim.await.unwrap().is_err(),
            "a request in flight survived the kill"
        );
    }
    load.lifetime.store(1, Ordering::SeqCst);
    server = LlamaServer::start(&setup.server_bin, &setup.model, port, &log).await;
    wait_for("the agent to see the restart", || {
        agent.metrics.counter_resets(&tap.url) >= 1
    })
    .await;

    // Lifetime 1.
    run_load(&load, &server.url, async {}).await;
    flush(&agent, &tap.url).await;
    wait_for("every window acknowledged", || {
        agent.metrics.spool_depth.get() == 0
    })
    .await;
    let spooled = agent.metrics.observations_spooled.get();
    let scrape_failures = agent.metrics.scrape_failures(&tap.url);
    agent.stop().await;
    server.kill().await;
    let stored = stored_observations(&database, NODE);
    drop(planner);

    let completions = load.completions.lock().unwrap().clone();
    let failures = load.failures.lock().unwrap().clone();
    let (outage_time, held_back) = outage.expect("the planner outage ran");
    show(&format!(
        "real_llama_server: {} windows stored, {spooled} spooled; {} requests completed, {} \
         failed (the kill's victims aside); planner down {:.1} s with {held_back} windows held \
         back; {scrape_failures} failed scrapes (the restart); run took {:.1} s",
        stored.len(),
        completions.len(),
        failures.len(),
        outage_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    ));
    assert_eq!(stored.len() as u64, spooled, "stored vs spooled windows");
    check(&stored, &tap.records(), &completions);
    assert!(
        held_back >= 2,
        "the outage held back {held_back} windows: it tested nothing"
    );
    assert!(failures.is_empty(), "client requests failed: {failures:?}");
}

/// Returns the record nearest to `at_unix_ms`.
fn nearest(records: &[TapRecord], at_unix_ms: i64) -> &TapRecord {
    let record = records
        .iter()
        .min_by_key(|record| (record.at_unix_ms - at_unix_ms).abs())
        .expect("the relay recorded reads");
    assert!(
        (record.at_unix_ms - at_unix_ms).abs() < 1_000,
        "no recorded read within 1 s of {at_unix_ms} (nearest {})",
        record.at_unix_ms
    );
    record
}

fn error_percent(agent: f64, server: f64) -> f64 {
    100.0 * (agent - server) / server
}

/// One server lifetime: its first recorded read and its completed requests in the order
/// received. Every request generates exactly [`N_PREDICT`] tokens (`ignore_eos`), so a read
/// whose counter says k × N_PREDICT tokens more than the first counted exactly the first k.
struct Lifetime<'a> {
    first: &'a TapRecord,
    last: &'a TapRecord,
    completions: Vec<&'a Completion>,
}

impl Lifetime<'_> {
    /// Requests the server counted as finished at `read`.
    fn finished_at(&self, read: &TapRecord) -> usize {
        let tokens = (read.counters.tokens_predicted_total
            - self.first.counters.tokens_predicted_total)
            .round() as u64;
        assert_eq!(
            tokens % u64::from(N_PREDICT),
            0,
            "the server counted {tokens} tokens: not whole requests"
        );
        (tokens / u64::from(N_PREDICT)) as usize
    }
}

/// Checks the stored windows against the server's counters and responses (see the module docs)
/// and shows the figures.
fn check(stored: &[ObservationRow], records: &[TapRecord], completions: &[Completion]) {
    let seqs: Vec<u64> = stored.iter().map(|row| row.seq).collect();
    assert_eq!(
        seqs,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "stored seqs have gaps or duplicates"
    );
    assert!(
        completions
            .iter()
            .all(|c| c.predicted_n == u64::from(N_PREDICT)),
        "a request generated other than {N_PREDICT} tokens"
    );
    let lifetimes: Vec<Lifetime> = (0..=1)
        .map(|lifetime| {
            let reads: Vec<&TapRecord> =
                records.iter().filter(|r| r.lifetime == lifetime).collect();
            let mut completed: Vec<&Completion> = completions
                .iter()
                .filter(|c| c.lifetime == lifetime)
                .collect();
            completed.sort_by_key(|c| c.received_unix_ms);
            Lifetime {
                first: reads.first().expect("reads of both server lifetimes"),
                last: reads.last().unwrap(),
                completions: completed,
            }
        })
        .collect();
    let mut table = format!(
        "{:>4} {:>4} {:>6} {:>6} {:>4} {:>8} {:>8} {:>6} {:>8} {:>8} {:>6}\n",
        "seq",
        "life",
        "span_s",
        "tokens",
        "reqs",
        "agg",
        "agg_srv",
        "err_%",
        "decode",
        "dec_srv",
        "err_%"
    );
    let mut worst = (0.0_f64, 0.0_f64);
    let mut compared = 0;
    let mut in_windows = [0_u64; 2];
    for row in stored {
        let start = nearest(records, row.window_start_unix_ms);
        let end = nearest(records, row.window_end_unix_ms);
        assert_eq!(
            start.lifetime, end.lifetime,
            "window {} spans a server restart",
            row.seq
        );
        let lifetime = &lifetimes[end.lifetime];
        // Exactly the counters' deltas between the two reads.
        let delta = |counter: fn(&LlamaCounters) -> f64| {
            (counter(&end.counters) - counter(&start.counters)).round() as u64
        };
        assert_eq!(
            (row.predicted_tokens, row.prompt_tokens),
            (
                delta(|c| c.tokens_predicted_total),
                delta(|c| c.prompt_tokens_total)
            ),
            "window {}: generated and prompt tokens against the server's counters",
            row.seq
        );
        in_windows[end.lifetime] += row.predicted_tokens;
        let span_s = (end.at_unix_ms - start.at_unix_ms) as f64 / 1000.0;
        let aggregate_server = row.predicted_tokens as f64 / span_s;
        let (before, after) = (lifetime.finished_at(start), lifetime.finished_at(end));
        let finished = lifetime.completions.get(before..after).unwrap_or_else(|| {
            panic!(
                "window {}: the server counted requests {before}..{after} as finished, only {} \
                 responses came back",
                row.seq,
                lifetime.completions.len()
            )
        });
        let line = format!(
            "{:>4} {:>4} {:>6.2} {:>6} {:>4}",
            row.seq,
            end.lifetime,
            span_s,
            row.predicted_tokens,
            finished.len()
        );
        if finished.is_empty() {
            // Prompts were processed but no request finished before the window's maximum age:
            // a window for prefill only, no generation rate to compare.
            assert_eq!(
                (row.aggregate_decode_tok_s, row.decode_tok_s),
                (0.0, 0.0),
                "window {}",
                row.seq
            );
            table.push_str(&format!("{line}   (no request finished: prefill only)\n"));
            continue;
        }
        let steps: u64 = finished.iter().map(|c| c.predicted_n - 1).sum();
        let seconds: f64 = finished.iter().map(|c| c.predicted_ms / 1000.0).sum();
        let decode_server = steps as f64 / seconds;
        let aggregate_error = error_percent(row.aggregate_decode_tok_s, aggregate_server);
        let decode_error = error_percent(row.decode_tok_s, decode_server);
        worst.0 = worst.0.max(aggregate_error.abs());
        worst.1 = worst.1.max(decode_error.abs());
        compared += 1;
        table.push_str(&format!(
            "{line} {:>8.3} {:>8.3} {:>6.2} {:>8.3} {:>8.3} {:>6.2}\n",
            row.aggregate_decode_tok_s,
            aggregate_server,
            aggregate_error,
            row.decode_tok_s,
            decode_server,
            decode_error
        ));
    }
    // Per server lifetime: the windows hold every token the server counted between the agent's
    // first and last read, and that is every completed request's tokens.
    for (index, lifetime) in lifetimes.iter().enumerate() {
        let counted = lifetime.finished_at(lifetime.last) as u64 * u64::from(N_PREDICT);
        let completed: u64 = lifetime.completions.iter().map(|c| c.predicted_n).sum();
        table.push_str(&format!(
            "lifetime {index}: {} tokens in windows, {counted} counted by the server, \
             {completed} in completed responses\n",
            in_windows[index]
        ));
    }
    table.push_str(&format!(
        "{compared} windows with finished requests; largest error: aggregate {:.2}%, per-stream \
         decode {:.2}%",
        worst.0, worst.1
    ));
    show(&table);
    for (index, lifetime) in lifetimes.iter().enumerate() {
        let counted = lifetime.finished_at(lifetime.last) as u64 * u64::from(N_PREDICT);
        let completed: u64 = lifetime.completions.iter().map(|c| c.predicted_n).sum();
        assert!(counted > 0, "lifetime {index} generated nothing");
        assert_eq!(
            counted, completed,
            "lifetime {index}: counters vs responses"
        );
        assert_eq!(
            in_windows[index], counted,
            "lifetime {index}: windows vs counters"
        );
    }
    assert!(
        compared >= 2,
        "only {compared} windows had finished requests"
    );
    assert!(
        worst.0 <= 100.0 * TOLERANCE && worst.1 <= 100.0 * TOLERANCE,
        "a window's rates are off by more than {}%",
        100.0 * TOLERANCE
    );
}
