//! Test doubles: a fake llama-server that serves the real captures in `tests/fixtures/` byte for
//! byte (only counter values are substituted), an in-memory fake TelemetryService, the agent
//! in-process ([`RunningAgent`]) and the real planner as if it were another process
//! ([`planner::PlannerProcess`]).

#![allow(dead_code, missing_docs)]

pub mod planner;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fleet_agent::metrics::AgentMetrics;
use fleet_agent::{AgentConfig, AgentError};
use fleet_proto::v1::telemetry_service_server::{TelemetryService, TelemetryServiceServer};
use fleet_proto::v1::{
    Observation, RegisterNodeRequest, RegisterNodeResponse, ReportObservationsRequest,
    ReportObservationsResponse,
};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Status, Streaming};

pub const HEALTH: &str = include_str!("../fixtures/health.json");
pub const PROPS: &str = include_str!("../fixtures/props.json");
pub const SLOTS: &str = include_str!("../fixtures/slots.json");
pub const METRICS_AFTER: &str = include_str!("../fixtures/metrics-after.txt");
pub const METRICS_IDLE: &str = include_str!("../fixtures/metrics-idle.txt");
pub const COMPLETION: &str = include_str!("../fixtures/completion-response.json");

/// Values of the `llamacpp:*` metrics the fake serves, keyed by the name after `llamacpp:`.
pub type Counters = BTreeMap<String, f64>;

/// Counter values of a capture.
pub fn counters_of(capture: &str) -> Counters {
    capture
        .lines()
        .filter_map(|line| line.strip_prefix("llamacpp:"))
        .filter_map(|rest| rest.split_once(' '))
        .map(|(name, value)| (name.to_owned(), value.parse().unwrap()))
        .collect()
}

/// Renders `metrics-after.txt` with the counter values replaced by `counters`; every other
/// byte (HELP/TYPE lines, order, newlines) is the capture's.
pub fn render_metrics(counters: &Counters) -> String {
    let mut out = String::with_capacity(METRICS_AFTER.len());
    for line in METRICS_AFTER.split_inclusive('\n') {
        let replaced = line
            .strip_prefix("llamacpp:")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(name, _)| {
                counters
                    .get(name)
                    .map(|value| format!("llamacpp:{name} {value}\n"))
            });
        out.push_str(replaced.as_deref().unwrap_or(line));
    }
    out
}

/// The fake's count of finished requests, kept among its counters but never rendered
/// (llama-server exports none): the `predicted_tokens_seconds` gauge is derived from it.
pub const REQUESTS_FINISHED: &str = "fake:requests_finished_total";

/// Adds `value` to the counter `name` (created at 0).
pub fn add(counters: &mut Counters, name: &str, value: f64) {
    *counters.entry(name.to_owned()).or_default() += value;
}

/// One captured request's worth of counter increments: 10 prompt tokens in 1.426905 s, 64
/// generated tokens in 28.338327 s (from completion-response.json's timings).
pub fn one_request(counters: &mut Counters) {
    add(counters, "prompt_tokens_total", 10.0);
    add(counters, "prompt_seconds_total", 1.426905);
    add(counters, "tokens_predicted_total", 64.0);
    add(counters, "tokens_predicted_seconds_total", 28.338327);
    add(counters, REQUESTS_FINISHED, 1.0);
}

/// Returns `value` with six significant digits, as llama-server prints it (C++ stream default).
pub fn six_significant_digits(value: f64) -> f64 {
    format!("{value:.5e}").parse().unwrap()
}

/// Sets the `predicted_tokens_seconds` gauge as llama-server does at a `/metrics` call: decode
/// steps (generated tokens less one per request) over generation seconds of the requests that
/// finished since the previous call (`previous`; all of them after a restart).
fn set_predicted_gauge(counters: &mut Counters, previous: &Counters) {
    let value = |counters: &Counters, name: &str| counters.get(name).copied().unwrap_or(0.0);
    let restarted = value(counters, "tokens_predicted_total")
        < value(previous, "tokens_predicted_total")
        || value(counters, REQUESTS_FINISHED) < value(previous, REQUESTS_FINISHED);
    let since = |name: &str| {
        value(counters, name)
            - if restarted {
                0.0
            } else {
                value(previous, name)
            }
    };
    let steps = since("tokens_predicted_total") - since(REQUESTS_FINISHED);
    let seconds = since("tokens_predicted_seconds_total");
    let gauge = if seconds > 0.0 { steps / seconds } else { 0.0 };
    counters.insert(
        "predicted_tokens_seconds".to_owned(),
        six_significant_digits(gauge),
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    MalformedMetrics,
}

type MetricsHook = Box<dyn FnMut(u64, &mut Counters) + Send>;

pub struct FakeLlamaState {
    pub counters: Counters,
    /// The counters at the previous `/metrics` call, for the gauge.
    pub counters_at_previous_call: Counters,
    /// `/slots` requests served.
    pub slots_calls: u64,
    pub process_start: String,
    pub mode: Mode,
    pub metrics_calls: u64,
    pub completions: u64,
    /// Called before each /metrics answer with the call index (0-based): the counter script.
    pub on_metrics: Option<MetricsHook>,
    /// How long a completion takes once it has a slot: prompt_ms + predicted_ms of the capture.
    pub completion_service_time: Duration,
}

#[derive(Clone)]
struct App {
    state: Arc<Mutex<FakeLlamaState>>,
    slots: Arc<Semaphore>,
}

pub struct FakeLlama {
    pub url: String,
    pub state: Arc<Mutex<FakeLlamaState>>,
    task: JoinHandle<()>,
}

impl Drop for FakeLlama {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn json(body: &'static str) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn metrics(State(app): State<App>) -> Response {
    let mut state = app.state.lock().unwrap();
    let call = state.metrics_calls;
    state.metrics_calls += 1;
    if let Some(mut hook) = state.on_metrics.take() {
        hook(call, &mut state.counters);
        state.on_metrics = Some(hook);
    }
    let previous = std::mem::take(&mut state.counters_at_previous_call);
    set_predicted_gauge(&mut state.counters, &previous);
    state.counters_at_previous_call = state.counters.clone();
    if state.mode == Mode::MalformedMetrics {
        return "llamacpp:prompt_tokens_total 1\nthis is not prometheus\n".into_response();
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        "Process-Start-Time-Unix",
        HeaderValue::from_str(&state.process_start).unwrap(),
    );
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    (headers, render_metrics(&state.counters)).into_response()
}

async fn slots(State(app): State<App>) -> Response {
    app.state.lock().unwrap().slots_calls += 1;
    json(SLOTS)
}

async fn completion(State(app): State<App>) -> Response {
    // Like llama-server: a request waits for a free slot, then takes its service time.
    let permit = app.slots.acquire().await.unwrap();
    let service = app.state.lock().unwrap().completion_service_time;
    tokio::time::sleep(service).await;
    drop(permit);
    app.state.lock().unwrap().completions += 1;
    json(COMPLETION)
}

impl FakeLlama {
    /// Starts a fake with the idle capture's counters and 4 slots (as props.json says).
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeLlamaState {
            counters: counters_of(METRICS_IDLE),
            counters_at_previous_call: counters_of(METRICS_IDLE),
            slots_calls: 0,
            process_start: "5123456".into(),
            mode: Mode::Healthy,
            metrics_calls: 0,
            completions: 0,
            on_metrics: None,
            completion_service_time: Duration::from_micros(1_426_905 + 28_338_327),
        }));
        let app = App {
            state: Arc::clone(&state),
            slots: Arc::new(Semaphore::new(4)),
        };
        let router = Router::new()
            .route("/health", get(|| async { json(HEALTH) }))
            .route("/props", get(|| async { json(PROPS) }))
            .route("/slots", get(slots))
            .route("/metrics", get(metrics))
            .route("/completion", post(completion))
            .with_state(app);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { url, state, task }
    }

    /// Makes every /metrics call add one finished captured request to the counters.
    pub fn one_request_per_scrape(&self) {
        self.state.lock().unwrap().on_metrics = Some(Box::new(|_, counters| one_request(counters)));
    }

    pub fn metrics_calls(&self) -> u64 {
        self.state.lock().unwrap().metrics_calls
    }

    pub fn slots_calls(&self) -> u64 {
        self.state.lock().unwrap().slots_calls
    }
}

/// fleet-agent in-process: `fleet_agent::run` with its metrics listener injected on an ephemeral
/// loopback port, so the test holds the metrics handle and the endpoint's URL.
pub struct RunningAgent {
    task: JoinHandle<Result<(), AgentError>>,
    stop: oneshot::Sender<()>,
    pub metrics: AgentMetrics,
    /// The agent's own `/metrics` endpoint.
    pub metrics_url: String,
}

impl RunningAgent {
    pub async fn start(config: AgentConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let metrics = AgentMetrics::new();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(fleet_agent::run_with_listener(
            config,
            listener,
            metrics.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            task,
            stop,
            metrics,
            metrics_url,
        }
    }

    pub fn spooled(&self) -> u64 {
        self.metrics.observations_spooled.get()
    }

    pub fn depth(&self) -> i64 {
        self.metrics.spool_depth.get()
    }

    /// Asks the agent to stop; returns its task, which ends once the spool is flushed.
    pub fn shutdown(self) -> JoinHandle<Result<(), AgentError>> {
        let _ = self.stop.send(());
        self.task
    }

    /// Stops the agent and checks that it stopped cleanly.
    pub async fn stop(self) {
        self.shutdown().await.unwrap().unwrap();
    }
}

/// Returns a loopback URL where nothing listens.
pub async fn dead_worker_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

// ---------------------------------------------------------------------------------------------
// Fake planner
// ---------------------------------------------------------------------------------------------

/// The planner's storage, shared across fake server restarts.
#[derive(Default, Clone)]
pub struct PlannerStore {
    pub observations: Arc<Mutex<BTreeMap<(String, u64), Observation>>>,
    /// Resends of an already stored (node, seq).
    pub duplicates: Arc<AtomicU64>,
    /// Resends whose content differed from the stored observation (must stay 0).
    pub mismatches: Arc<AtomicU64>,
    /// The seqs that were resent.
    pub duplicate_seqs: Arc<Mutex<Vec<u64>>>,
    pub registrations: Arc<AtomicU64>,
    /// Seqs refused as the real planner refuses bad data: the whole batch INVALID_ARGUMENT,
    /// naming the seq in the `fleet-rejected-seq` trailer.
    pub refuse: Arc<Mutex<Vec<u64>>>,
}

impl PlannerStore {
    fn acked_through(observations: &BTreeMap<(String, u64), Observation>, node: &str) -> u64 {
        let mut through = 0;
        while observations.contains_key(&(node.to_owned(), through + 1)) {
            through += 1;
        }
        through
    }

    pub fn seqs(&self, node: &str) -> Vec<u64> {
        self.observations
            .lock()
            .unwrap()
            .keys()
            .filter(|(n, _)| n == node)
            .map(|(_, seq)| *seq)
            .collect()
    }

    pub fn all(&self) -> Vec<Observation> {
        self.observations
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.observations.lock().unwrap().len()
    }
}

#[derive(Clone)]
struct FakeTelemetry {
    store: PlannerStore,
    stopping: watch::Receiver<bool>,
}

#[tonic::async_trait]
impl TelemetryService for FakeTelemetry {
    async fn register_node(
        &self,
        request: Request<RegisterNodeRequest>,
    ) -> Result<tonic::Response<RegisterNodeResponse>, Status> {
        let request = request.into_inner();
        self.store.registrations.fetch_add(1, Ordering::SeqCst);
        let acked =
            PlannerStore::acked_through(&self.store.observations.lock().unwrap(), &request.node_id);
        Ok(tonic::Response::new(RegisterNodeResponse {
            node_id: request.node_id,
            acked_through_seq: acked,
            registered_at_unix_ms: 0,
        }))
    }

    type ReportObservationsStream = ReceiverStream<Result<ReportObservationsResponse, Status>>;

    async fn report_observations(
        &self,
        request: Request<Streaming<ReportObservationsRequest>>,
    ) -> Result<tonic::Response<Self::ReportObservationsStream>, Status> {
        let mut inbound = request.into_inner();
        let (sender, receiver) = mpsc::channel(16);
        let store = self.store.clone();
        let mut stopping = self.stopping.clone();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    message = inbound.message() => message,
                    () = async { let _ = stopping.wait_for(|stop| *stop).await; } => {
                        let _ = sender.send(Err(Status::unavailable("shutting down"))).await;
                        return;
                    }
                };
                let Ok(Some(batch)) = message else { return };
                let refused = {
                    let refuse = store.refuse.lock().unwrap();
                    batch
                        .observations
                        .iter()
                        .position(|o| refuse.contains(&o.seq))
                        .map(|index| (index, batch.observations[index].seq))
                };
                if let Some((index, seq)) = refused {
                    let mut status = Status::invalid_argument(format!(
                        "invalid observations[{index}].power_w: must be between 0 and 100000"
                    ));
                    status
                        .metadata_mut()
                        .insert(fleet_proto::REJECTED_SEQ_METADATA, seq.into());
                    let _ = sender.send(Err(status)).await;
                    return;
                }
                let mut node = String::new();
                let mut inserted = 0;
                let mut stored_seqs = Vec::new();
                let acked = {
                    let mut observations = store.observations.lock().unwrap();
                    for observation in batch.observations {
                        node.clone_from(&observation.node_id);
                        let key = (observation.node_id.clone(), observation.seq);
                        stored_seqs.push(observation.seq);
                        match observations.get(&key) {
                            Some(existing) => {
                                store.duplicates.fetch_add(1, Ordering::SeqCst);
                                store.duplicate_seqs.lock().unwrap().push(observation.seq);
                                if existing != &observation {
                                    store.mismatches.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                            None => {
                                observations.insert(key, observation);
                                inserted += 1;
                            }
                        }
                    }
                    PlannerStore::acked_through(&observations, &node)
                };
                let response = ReportObservationsResponse {
                    node_id: node,
                    acked_through_seq: acked,
                    acked_seqs: stored_seqs.into_iter().filter(|seq| *seq > acked).collect(),
                    inserted,
                };
                if sender.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(ReceiverStream::new(receiver)))
    }
}

/// A running fake planner; [`FakePlanner::stop`] takes it down (ending open streams), and
/// [`FakePlanner::start_at`] brings it back on the same address with the same store.
pub struct FakePlanner {
    pub addr: SocketAddr,
    pub store: PlannerStore,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakePlanner {
    pub async fn start(store: PlannerStore) -> Self {
        Self::start_at("127.0.0.1:0".parse().unwrap(), store).await
    }

    pub async fn start_at(addr: SocketAddr, store: PlannerStore) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopping) = watch::channel(false);
        let service = FakeTelemetry {
            store: store.clone(),
            stopping: stopping.clone(),
        };
        let mut shutdown = stopping;
        let task = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(TelemetryServiceServer::new(service))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
                    let _ = shutdown.wait_for(|stop| *stop).await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            store,
            stop,
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(mut self) -> (SocketAddr, PlannerStore) {
        self.stop.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
        }
        (self.addr, self.store.clone())
    }
}

impl Drop for FakePlanner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `condition` every 100 ms (of tokio time) until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    condition()
}
