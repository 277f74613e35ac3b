//! fleet-agent: the node agent of fleetplan. It scrapes the llama.cpp servers (llama-server with
//! `--metrics`) on one node, turns their counters into throughput windows, and streams them to
//! the planner as sequence-numbered observations that survive planner outages and agent restarts
//! (spooled on disk until acknowledged; the planner stores them idempotently by (node, seq)).
//!
//! Module map:
//! - [`config`]: clap flags (env twins `AGENT_*`), [`AgentConfig`], [`ProbeConfig`].
//! - [`scrape`]: HTTP client, Prometheus text parser, `/health` `/props` `/metrics` `/slots`.
//! - [`rates`]: counter deltas → windows and rates; the window rule and restart detection.
//! - [`spool`]: the durable, numbered queue of unacknowledged observations.
//! - [`report`]: the gRPC client loop (register, stream, acks, backoff; TLS to an https planner).
//! - [`probe`]: `fleet-agent probe`, a synthetic load at fixed concurrency levels.
//! - [`metrics`]: the agent's own Prometheus metrics and their endpoint.
//!
//! [`run`] runs the agent in-process until a shutdown future resolves; `main.rs` only parses
//! flags, sets up logging and passes a SIGINT|SIGTERM future.

pub mod config;
pub mod metrics;
pub mod probe;
pub mod rates;
pub mod report;
pub mod scrape;
pub mod spool;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleet_proto::v1::{Observation, ObservationKind};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

pub use config::{AgentConfig, ProbeConfig, ProbeReportTarget};
use metrics::AgentMetrics;
use rates::{Reading, WindowEvent, WindowRates, WindowTracker};
use report::{ReporterContext, run_reporter};
use scrape::{HttpClient, ScrapeError, WorkerIdentity};
use spool::{Spool, SpoolError};

/// Errors that stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The metrics address cannot be bound.
    #[error("cannot listen on --metrics-listen {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
    /// The spool cannot be opened or written.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A fresh spool could not register with the planner to number probe results.
    #[error("planner {planner} did not answer within {seconds} s; probe results were not reported")]
    PlannerUnreachable {
        /// The planner endpoint.
        planner: String,
        /// The deadline.
        seconds: u64,
    },
    /// A probe failed.
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
}

/// Returns `error` and its causes (`std::error::Error::source`) on one line, joined by `: `, so
/// that a log says "transport error: ...: Connection refused (os error 111)" and not just
/// "transport error". A cause whose text already ends the line (an error that prints its
/// source itself) is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    for cause in std::iter::successors(error.source(), |cause| cause.source()) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

/// Maps the monotonic clock to Unix milliseconds from one wall-clock reading at start, so window
/// lengths never jump with NTP steps (and follow `tokio::time::pause` in tests).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_unix_ms: i64,
    base: Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// Returns a clock anchored at now.
    pub fn new() -> Self {
        let base_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Self {
            base_unix_ms,
            base: Instant::now(),
        }
    }

    /// Returns the current time in Unix milliseconds.
    pub fn now_unix_ms(&self) -> i64 {
        self.base_unix_ms + i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// What the worker, power and housekeeping tasks share.
struct Shared {
    config: AgentConfig,
    clock: Clock,
    client: HttpClient,
    spool: Arc<Mutex<Spool>>,
    appended: Arc<Notify>,
    metrics: AgentMetrics,
    power: watch::Receiver<Option<f64>>,
}

/// Runs the agent until `shutdown` resolves: binds `config.metrics_listen` and calls
/// [`run_with_listener`].
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let addr = config.metrics_listen;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Bind { addr, source })?;
    run_with_listener(config, listener, AgentMetrics::new(), shutdown).await
}

/// Runs the agent with its `/metrics` on `metrics_listener` until `shutdown` resolves, then
/// stops scraping, closes the planner stream and flushes the spool.
pub async fn run_with_listener(
    config: AgentConfig,
    metrics_listener: TcpListener,
    metrics: AgentMetrics,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    let spool = Spool::open(&config.spool_dir, &config.node_id)?;
    let fresh = spool.is_fresh();
    metrics.spool_depth.set(spool.depth() as i64);
    metrics.register_workers(&config.workers);
    tracing::info!(
        node = %config.node_id,
        sku = %config.sku,
        workers = config.workers.len(),
        interval_ms = config.interval.as_millis() as u64,
        pending = spool.depth(),
        next_seq = spool.next_seq(),
        "fleet-agent starting"
    );
    let spool = Arc::new(Mutex::new(spool));
    let appended = Arc::new(Notify::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();

    {
        let mut stop = stop_rx.clone();
        let metrics = metrics.clone();
        tasks.spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            if let Err(error) = metrics::serve_metrics(metrics_listener, metrics, shutdown).await {
                tracing::error!(%error, "metrics endpoint failed");
            }
        });
    }

    let (registered_tx, mut registered_rx) = watch::channel(false);
    tasks.spawn(run_reporter(
        ReporterContext {
            planner: config.planner.clone(),
            node_id: config.node_id.clone(),
            sku: config.sku.clone(),
            labels: config.labels.clone().into_iter().collect(),
            spool: Arc::clone(&spool),
            appended: Arc::clone(&appended),
            metrics: metrics.clone(),
            backoff_initial: config.backoff_initial,
            backoff_max: config.backoff_max,
            batch_size: config.batch_size.max(1),
            token: config.token.clone(),
            tls_ca: config.tls_ca.clone(),
        },
        registered_tx,
        stop_rx.clone(),
    ));

    let (power_tx, power_rx) = watch::channel(None);
    let shared = Arc::new(Shared {
        clock: Clock::new(),
        client: HttpClient::new(config.scrape_timeout),
        spool: Arc::clone(&spool),
        appended,
        metrics,
        power: power_rx,
        config,
    });

    let scraping = async {
        if fresh {
            // A fresh spool cannot tell which seqs the planner already has (the directory may
            // have been lost): learn it from RegisterNode before numbering anything.
            tracing::info!("new spool: waiting for the planner before numbering observations");
            if registered_rx
                .wait_for(|registered| *registered)
                .await
                .is_err()
            {
                return;
            }
        }
        if let Some(command) = shared.config.power_command.clone() {
            tasks.spawn(power_loop(
                command,
                shared.config.interval,
                power_tx,
                stop_rx.clone(),
            ));
        }
        tasks.spawn(inbox_loop(Arc::clone(&shared), stop_rx.clone()));
        for url in shared.config.workers.clone() {
            tasks.spawn(worker_loop(Arc::clone(&shared), url, stop_rx.clone()));
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = shutdown => {}
        () = scraping => {}
    }
    tracing::info!("fleet-agent stopping");
    stop_tx.send_replace(true);
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "agent task failed");
        }
    }
    let depth = {
        let mut spool = lock(&shared.spool);
        spool.flush()?;
        spool.depth()
    };
    tracing::info!(pending = depth, "spool flushed");
    Ok(())
}

fn lock(spool: &Mutex<Spool>) -> std::sync::MutexGuard<'_, Spool> {
    spool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn append_observation(shared: &Shared, observation: Observation) -> Result<u64, SpoolError> {
    let spool = Arc::clone(&shared.spool);
    let (seq, depth) = tokio::task::spawn_blocking(move || {
        let mut spool = lock(&spool);
        spool.append(observation).map(|seq| (seq, spool.depth()))
    })
    .await
    .expect("spool task does not panic")?;
    shared.metrics.observations_spooled.inc();
    shared.metrics.spool_depth.set(depth as i64);
    shared.appended.notify_one();
    Ok(seq)
}

/// Returns the passive observation of one window (seq and node id are set by the spool).
pub fn window_observation(
    sku: &str,
    worker_url: &str,
    identity: &WorkerIdentity,
    window: &WindowRates,
) -> Observation {
    Observation {
        sku: sku.to_owned(),
        model: identity.model.clone(),
        quant: identity.quant.clone(),
        worker_url: worker_url.to_owned(),
        window_start_unix_ms: window.start_unix_ms,
        window_end_unix_ms: window.end_unix_ms,
        prompt_tokens: window.prompt_tokens,
        predicted_tokens: window.predicted_tokens,
        prompt_seconds: window.prompt_seconds,
        predicted_seconds: window.predicted_seconds,
        prefill_tok_s: window.prefill_tok_s,
        decode_tok_s: window.decode_tok_s,
        aggregate_decode_tok_s: window.aggregate_decode_tok_s,
        mean_concurrency: window.mean_concurrency,
        queue_depth: window.queue_depth,
        cache_hit_rate: window.cache_hit_rate,
        power_w: window.power_w,
        kind: ObservationKind::Passive as i32,
        concurrency: identity.total_slots,
        ..Observation::default()
    }
}

/// Reads one worker: `/health`, `/props` when its identity is unknown, `/metrics`, and `/slots`
/// while it processes requests (optional: servers started with `--no-slots` answer 501).
///
/// `/slots` runs as a task on llama-server's queue, which restarts its `--sleep-idle-seconds`
/// timer and wakes a sleeping server; `/health`, `/props` and `/metrics` do neither (b11434:
/// `/metrics` posts a task exempt from the timer and answers from a cache while asleep). So an
/// idle worker is not asked: its `requests_processing` is 0 (a sleeping one, whose `/props`
/// says `is_sleeping`, reports 0 from its cached metrics) and no request is in flight to count.
async fn read_worker(
    shared: &Shared,
    url: &str,
    identity: &mut Option<WorkerIdentity>,
) -> Result<Reading, ScrapeError> {
    scrape::fetch_health(&shared.client, url).await?;
    if identity.is_none() {
        let mut fetched = scrape::fetch_props(&shared.client, url).await?;
        if let Some(model) = &shared.config.model {
            fetched.model.clone_from(model);
        }
        tracing::info!(worker = %url, model = %fetched.model, quant = %fetched.quant, slots = fetched.total_slots, build = %fetched.build_info, "worker identified");
        *identity = Some(fetched);
    }
    let metrics = scrape::fetch_metrics(&shared.client, url).await?;
    let at_unix_ms = shared.clock.now_unix_ms();
    let processing = metrics.counters.requests_processing;
    let busy = if processing > 0.0 {
        match scrape::fetch_slots(&shared.client, url).await {
            Ok(slots) => f64::from(slots.busy),
            Err(error) => {
                tracing::debug!(worker = %url, %error, "slots unreadable, using requests_processing");
                processing
            }
        }
    } else {
        0.0
    };
    Ok(Reading {
        at_unix_ms,
        counters: metrics.counters,
        restart_marker: metrics.restart_marker,
        busy,
        power_w: *shared.power.borrow(),
    })
}

async fn worker_loop(shared: Arc<Shared>, url: String, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(shared.config.interval);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut tracker = WindowTracker::new(shared.config.window);
    let mut identity: Option<WorkerIdentity> = None;
    let mut consecutive_failures: u64 = 0;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let reading = match read_worker(&shared, &url, &mut identity).await {
            Ok(reading) => reading,
            Err(error) => {
                shared.metrics.record_scrape(&url, true);
                tracker.interrupt();
                consecutive_failures += 1;
                // Log the first failure and then about once a minute, not every interval.
                let every = (60_000 / shared.config.interval.as_millis().max(1) as u64).max(1);
                if consecutive_failures == 1 || consecutive_failures.is_multiple_of(every) {
                    let cause = error_chain(&error);
                    if let ScrapeError::Status {
                        status,
                        url: endpoint,
                    } = &error
                        && status.as_u16() == 501
                        && endpoint.ends_with("/metrics")
                    {
                        tracing::warn!(worker = %url, consecutive_failures, error = %cause, "scrape failed: start llama-server with --metrics");
                    } else {
                        tracing::warn!(worker = %url, consecutive_failures, error = %cause, "scrape failed");
                    }
                }
                continue;
            }
        };
        shared.metrics.record_scrape(&url, false);
        if consecutive_failures > 0 {
            tracing::info!(worker = %url, after_failures = consecutive_failures, "worker answering again");
            consecutive_failures = 0;
        }
        match tracker.push(reading) {
            WindowEvent::Baseline | WindowEvent::Collecting => {}
            WindowEvent::IdleDropped => tracing::debug!(worker = %url, "idle window dropped"),
            WindowEvent::Restarted(reason) => {
                tracing::warn!(worker = %url, %reason, "worker restarted, new baseline");
                shared.metrics.record_counter_reset(&url);
                // The restarted server may serve another model: read /props again.
                identity = None;
            }
            WindowEvent::Window(window) => {
                let Some(identity) = &identity else { continue };
                let observation = window_observation(&shared.config.sku, &url, identity, &window);
                match append_observation(&shared, observation).await {
                    Ok(seq) => tracing::debug!(
                        worker = %url,
                        seq,
                        predicted_tokens = window.predicted_tokens,
                        decode_tok_s = window.decode_tok_s,
                        aggregate_decode_tok_s = window.aggregate_decode_tok_s,
                        "window spooled"
                    ),
                    Err(error) => {
                        tracing::error!(worker = %url, %error, "cannot spool observation, dropping it")
                    }
                }
            }
        }
    }
}

/// Returns the program and arguments of a power command: one with shell syntax (pipes, quotes,
/// `$`, globs, ...) runs under `sh -c`; a plain one is split on whitespace and run directly,
/// because the distroless agent image has no shell.
pub fn power_argv(command: &str) -> Vec<String> {
    const SHELL_SYNTAX: &[char] = &[
        '|', '&', ';', '<', '>', '(', ')', '$', '`', '\\', '"', '\'', '*', '?', '[', '#', '~', '\n',
    ];
    if command.contains(SHELL_SYNTAX) {
        vec!["sh".to_owned(), "-c".to_owned(), command.to_owned()]
    } else {
        command.split_whitespace().map(str::to_owned).collect()
    }
}

/// Runs the power command (see [`power_argv`]) and sums the numbers it prints, one per line
/// (one per GPU for `nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits`).
pub async fn sample_power(command: &str, timeout: Duration) -> Result<f64, String> {
    let argv = power_argv(command);
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".to_owned());
    };
    let child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(timeout, child)
        .await
        .map_err(|_| format!("timed out after {} ms", timeout.as_millis()))?
        .map_err(|error| error.to_string())?;
    if !output.status.success() {
        return Err(format!("exited with {}", output.status));
    }
    parse_power_output(&String::from_utf8_lossy(&output.stdout))
}

/// Sums the numbers of a power command's output, one per line; blank lines are skipped, any
/// other text (`[N/A]`) is an error.
pub fn parse_power_output(text: &str) -> Result<f64, String> {
    let mut total = 0.0;
    let mut count = 0;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let watts: f64 = line
            .parse()
            .map_err(|_| format!("'{line}' is not a number of watts"))?;
        if !watts.is_finite() || watts < 0.0 {
            return Err(format!("'{line}' is not a number of watts"));
        }
        total += watts;
        count += 1;
    }
    if count == 0 {
        Err("printed no number".to_owned())
    } else {
        Ok(total)
    }
}

async fn power_loop(
    command: String,
    interval: Duration,
    power: watch::Sender<Option<f64>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let sample = sample_power(
            &command,
            Duration::from_secs(5).min(interval.max(Duration::from_secs(1))),
        )
        .await;
        match sample {
            Ok(watts) => {
                failing = false;
                power.send_replace(Some(watts));
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%command, %error, "power command failed; observations carry no power");
                }
                failing = true;
                power.send_replace(None);
            }
        }
    }
}

/// Numbers probe observations that `fleet-agent probe` left in the spool's inbox.
async fn inbox_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(shared.config.interval.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
        let spool = Arc::clone(&shared.spool);
        let adopted = tokio::task::spawn_blocking(move || {
            let mut spool = lock(&spool);
            spool.adopt_inbox().map(|adopted| (adopted, spool.depth()))
        })
        .await
        .expect("spool task does not panic");
        match adopted {
            Ok((0, _)) => {}
            Ok((adopted, depth)) => {
                tracing::info!(adopted, "probe observations taken from the spool inbox");
                shared.metrics.observations_spooled.inc_by(adopted as u64);
                shared.metrics.spool_depth.set(depth as i64);
                shared.appended.notify_one();
            }
            Err(error) => tracing::warn!(%error, "cannot read the spool inbox"),
        }
    }
}

/// How probe results reached the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeDelivery {
    /// This process numbered and sent them; `acknowledged` says whether the planner stored all
    /// before the deadline (if not, they stay in the spool for the next agent run).
    Sent {
        /// The seqs given.
        seqs: Vec<u64>,
        /// Whether every one was acknowledged.
        acknowledged: bool,
    },
    /// A running agent owns the spool; the observations were left in its inbox.
    HandedToAgent {
        /// The inbox file.
        path: PathBuf,
    },
}

/// Sends a probe report's levels as `OBSERVATION_KIND_PROBE` observations through the node's
/// spool: directly when no agent runs, via the spool inbox when one does. Waits up to `deadline`
/// for the planner's acknowledgement.
pub async fn report_probe(
    report: &probe::ProbeReport,
    target: &ProbeReportTarget,
    labels: std::collections::BTreeMap<String, String>,
    deadline: Duration,
) -> Result<ProbeDelivery, AgentError> {
    let observations: Vec<Observation> = report
        .levels
        .iter()
        .map(|level| probe::level_observation(report, level, &target.sku))
        .collect();
    let spool = match Spool::open(&target.spool_dir, &target.node_id) {
        Ok(spool) => spool,
        Err(SpoolError::Locked { .. }) => {
            let path = spool::write_inbox(&target.spool_dir, &observations)?;
            return Ok(ProbeDelivery::HandedToAgent { path });
        }
        Err(error) => return Err(error.into()),
    };
    let fresh = spool.is_fresh();
    let spool = Arc::new(Mutex::new(spool));
    let appended = Arc::new(Notify::new());
    let metrics = AgentMetrics::new();
    let (registered_tx, mut registered_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    let reporter = tokio::spawn(run_reporter(
        ReporterContext {
            planner: target.planner.clone(),
            node_id: target.node_id.clone(),
            sku: target.sku.clone(),
            labels: labels.into_iter().collect(),
            spool: Arc::clone(&spool),
            appended: Arc::clone(&appended),
            metrics,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            batch_size: 64,
            token: target.token.clone(),
            tls_ca: target.tls_ca.clone(),
        },
        registered_tx,
        stop_rx,
    ));
    let started = Instant::now();
    let outcome = async {
        if fresh {
            tokio::time::timeout(deadline, registered_rx.wait_for(|registered| *registered))
                .await
                .map_err(|_| None::<SpoolError>)?
                .map_err(|_| None)?;
        }
        let mut seqs = Vec::new();
        for observation in observations {
            seqs.push(lock(&spool).append(observation).map_err(Some)?);
            appended.notify_one();
        }
        let last = seqs.last().copied().unwrap_or(0);
        let mut acknowledged = false;
        while started.elapsed() < deadline {
            let oldest = lock(&spool).pending_after(0, 1);
            if oldest.iter().all(|observation| observation.seq > last) {
                acknowledged = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<_, Option<SpoolError>>((seqs, acknowledged))
    }
    .await;
    stop_tx.send_replace(true);
    let _ = reporter.await;
    lock(&spool).flush()?;
    match outcome {
        Ok((seqs, acknowledged)) => Ok(ProbeDelivery::Sent { seqs, acknowledged }),
        Err(Some(error)) => Err(error.into()),
        Err(None) => Err(AgentError::PlannerUnreachable {
            planner: target.planner.clone(),
            seconds: deadline.as_secs(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_output_is_summed_over_gpus() {
        assert_eq!(parse_power_output("312.45\n298.10\n"), Ok(610.55));
        assert_eq!(parse_power_output(" 75 \n\n"), Ok(75.0));
        assert!(parse_power_output("[N/A]\n").is_err());
        assert!(parse_power_output("").is_err());
    }

    #[test]
    fn plain_power_commands_run_without_a_shell() {
        assert_eq!(
            power_argv("nvidia-smi --query-gpu=power.draw --format=csv,noheader,nounits"),
            vec![
                "nvidia-smi",
                "--query-gpu=power.draw",
                "--format=csv,noheader,nounits"
            ]
        );
        assert_eq!(
            power_argv("cat /sys/x | awk '{print $1}'")[..2],
            ["sh", "-c"]
        );
    }

    #[tokio::test]
    async fn a_refused_worker_is_reported_with_its_cause() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let error = scrape::fetch_health(&HttpClient::new(Duration::from_secs(5)), &url)
            .await
            .unwrap_err();
        let line = error_chain(&error);
        assert!(
            line.starts_with(&format!("request to {url}/health failed: ")),
            "{line}"
        );
        assert!(line.to_lowercase().contains("connection refused"), "{line}");
    }

    #[tokio::test]
    async fn power_command_runs_directly_or_through_the_shell() {
        assert_eq!(
            sample_power("echo 250", Duration::from_secs(5)).await,
            Ok(250.0)
        );
        assert!(
            sample_power("/nonexistent/nvidia-smi", Duration::from_secs(5))
                .await
                .is_err()
        );
        assert_eq!(
            sample_power("printf '100\\n50.5\\n'", Duration::from_secs(5)).await,
            Ok(150.5)
        );
        assert!(
            sample_power("exit 3", Duration::from_secs(5))
                .await
                .is_err()
        );
    }
}
