//! The agent's own Prometheus metrics and the `/metrics` HTTP endpoint that serves them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

type WorkerLabel = Vec<(&'static str, String)>;

/// Counters and gauges the agent exports; cheap to clone (all handles are shared).
///
/// Counters are registered under their base name (`scrapes`) and rendered with the `_total`
/// suffix (`fleet_agent_scrapes_total`): prometheus-client's OpenMetrics encoder adds it to every
/// counter, so a name must not carry it already.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    registry: Arc<Registry>,
    scrapes: Family<WorkerLabel, Counter>,
    scrape_failures: Family<WorkerLabel, Counter>,
    counter_resets: Family<WorkerLabel, Counter>,
    /// Observations numbered and written to the spool.
    pub observations_spooled: Counter,
    /// Observations sent to the planner (resends included).
    pub observations_sent: Counter,
    /// Observations the planner acknowledged.
    pub observations_acked: Counter,
    /// Observations the planner refused as invalid, set aside in `parked.log` and not resent.
    pub observations_parked: Counter,
    /// Observations in the spool awaiting an acknowledgement.
    pub spool_depth: Gauge,
    /// Highest seq acknowledged with every seq below it.
    pub last_ack_seq: Gauge,
    /// Unix time of the last acknowledgement, seconds.
    pub last_ack_time_seconds: Gauge<f64, AtomicU64>,
    /// 1 while a stream to the planner is open.
    pub planner_connected: Gauge,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentMetrics {
    /// Returns a fresh set of metrics registered under the `fleet_agent_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fleet_agent");
        let scrapes = Family::<WorkerLabel, Counter>::default();
        let scrape_failures = Family::<WorkerLabel, Counter>::default();
        let counter_resets = Family::<WorkerLabel, Counter>::default();
        let observations_spooled = Counter::default();
        let observations_sent = Counter::default();
        let observations_acked = Counter::default();
        let observations_parked = Counter::default();
        let spool_depth = Gauge::default();
        let last_ack_seq = Gauge::default();
        let last_ack_time_seconds = Gauge::<f64, AtomicU64>::default();
        let planner_connected = Gauge::default();
        registry.register("scrapes", "Worker scrapes attempted", scrapes.clone());
        registry.register(
            "scrape_failures",
            "Worker scrapes that failed",
            scrape_failures.clone(),
        );
        registry.register(
            "counter_resets",
            "Worker counter resets (server restarts) seen",
            counter_resets.clone(),
        );
        registry.register(
            "observations_spooled",
            "Observations numbered and written to the spool",
            observations_spooled.clone(),
        );
        registry.register(
            "observations_sent",
            "Observations sent to the planner, resends included",
            observations_sent.clone(),
        );
        registry.register(
            "observations_acked",
            "Observations acknowledged by the planner",
            observations_acked.clone(),
        );
        registry.register(
            "observations_parked",
            "Observations the planner refused as invalid, set aside in the spool's parked.log",
            observations_parked.clone(),
        );
        registry.register(
            "spool_depth",
            "Observations awaiting acknowledgement",
            spool_depth.clone(),
        );
        registry.register(
            "last_ack_seq",
            "Highest contiguously acknowledged seq",
            last_ack_seq.clone(),
        );
        registry.register(
            "last_ack_time_seconds",
            "Unix time of the last acknowledgement",
            last_ack_time_seconds.clone(),
        );
        registry.register(
            "planner_connected",
            "1 while a report stream to the planner is open",
            planner_connected.clone(),
        );
        Self {
            registry: Arc::new(registry),
            scrapes,
            scrape_failures,
            counter_resets,
            observations_spooled,
            observations_sent,
            observations_acked,
            observations_parked,
            spool_depth,
            last_ack_seq,
            last_ack_time_seconds,
            planner_connected,
        }
    }

    /// Creates the per-worker series of `workers` at 0, so that a dashboard or alert sees
    /// `fleet_agent_scrape_failures_total{worker=...} 0` from the start rather than no series
    /// until the first failure.
    pub fn register_workers(&self, workers: &[String]) {
        for worker in workers {
            let label = vec![("worker", worker.clone())];
            let _ = self.scrapes.get_or_create(&label);
            let _ = self.scrape_failures.get_or_create(&label);
            let _ = self.counter_resets.get_or_create(&label);
        }
    }

    /// Counts a scrape of `worker`, failed or not.
    pub fn record_scrape(&self, worker: &str, failed: bool) {
        let label = vec![("worker", worker.to_owned())];
        self.scrapes.get_or_create(&label).inc();
        if failed {
            self.scrape_failures.get_or_create(&label).inc();
        }
    }

    /// Counts a counter reset (restart) of `worker`.
    pub fn record_counter_reset(&self, worker: &str) {
        self.counter_resets
            .get_or_create(&vec![("worker", worker.to_owned())])
            .inc();
    }

    /// Returns the scrapes (failed or not) counted for `worker`.
    pub fn scrapes(&self, worker: &str) -> u64 {
        self.scrapes
            .get_or_create(&vec![("worker", worker.to_owned())])
            .get()
    }

    /// Returns the counter resets (restarts) seen on `worker`.
    pub fn counter_resets(&self, worker: &str) -> u64 {
        self.counter_resets
            .get_or_create(&vec![("worker", worker.to_owned())])
            .get()
    }

    /// Returns the scrape failures counted for `worker`.
    pub fn scrape_failures(&self, worker: &str) -> u64 {
        self.scrape_failures
            .get_or_create(&vec![("worker", worker.to_owned())])
            .get()
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

async fn metrics_handler(State(metrics): State<AgentMetrics>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
}

/// Serves `/metrics` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: AgentMetrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .with_state(metrics);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
