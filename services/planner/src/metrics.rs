//! The planner's Prometheus metrics: RPC counts and latency by method and status code, solve
//! time, plans stored, observations ingested, readiness. Served as Prometheus text at
//! `/metrics` on the metrics listener.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of an RPC: method name and gRPC status code name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    code: String,
}

/// Label of an RPC latency histogram: method name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms … ~65 s.
    Histogram::new(exponential_buckets(0.000_5, 2.0, 18))
}

struct Inner {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    solve_duration: Histogram,
    plans_stored: Counter,
    observations_ingested: Counter,
    observations_duplicate: Counter,
    ready: Gauge,
    solves_running: Gauge,
    solves_waiting: Gauge,
    solves_refused: Counter,
    solves_cancelled: Counter,
}

/// The planner's metrics registry. Cloning is cheap and shares the registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Returns a registry with every planner metric registered at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("fleet_planner");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "gRPC requests handled, by method and status code",
            rpc_requests.clone(),
        );
        let rpc_duration =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "rpc_duration_seconds",
            "gRPC handling time, by method",
            rpc_duration.clone(),
        );
        let solve_duration = latency_histogram();
        registry.register(
            "solve_duration_seconds",
            "time of one Propose's solves (optimum and baselines)",
            solve_duration.clone(),
        );
        let plans_stored = Counter::default();
        registry.register("plans_stored", "plans stored", plans_stored.clone());
        let observations_ingested = Counter::default();
        registry.register(
            "observations_ingested",
            "observations newly stored",
            observations_ingested.clone(),
        );
        let observations_duplicate = Counter::default();
        registry.register(
            "observations_duplicate",
            "observations received again and skipped (already stored)",
            observations_duplicate.clone(),
        );
        let ready = Gauge::default();
        registry.register(
            "ready",
            "1 while the database answers and the planner serves, else 0",
            ready.clone(),
        );
        let solves_running = Gauge::default();
        registry.register(
            "solves_running",
            "Proposes solving now, each holding one of --max-concurrent-solves slots until its solver stops",
            solves_running.clone(),
        );
        let solves_waiting = Gauge::default();
        registry.register(
            "solves_waiting",
            "Proposes waiting for a solve slot",
            solves_waiting.clone(),
        );
        let solves_refused = Counter::default();
        registry.register(
            "solves_refused",
            "Proposes refused with RESOURCE_EXHAUSTED: no solve slot freed within their deadline",
            solves_refused.clone(),
        );
        let solves_cancelled = Counter::default();
        registry.register(
            "solves_cancelled",
            "Proposes whose caller went away before their solve ended; a running solve stops at its next check",
            solves_cancelled.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                rpc_requests,
                rpc_duration,
                solve_duration,
                plans_stored,
                observations_ingested,
                observations_duplicate,
                ready,
                solves_running,
                solves_waiting,
                solves_refused,
                solves_cancelled,
            }),
        }
    }

    /// Records one RPC's outcome and duration.
    pub fn observe_rpc(&self, method: &str, code: tonic::Code, elapsed: Duration) {
        self.inner
            .rpc_requests
            .get_or_create(&RpcLabels {
                method: method.to_string(),
                code: format!("{code:?}"),
            })
            .inc();
        self.inner
            .rpc_duration
            .get_or_create(&MethodLabels {
                method: method.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one Propose's solve time.
    pub fn observe_solve(&self, elapsed: Duration) {
        self.inner.solve_duration.observe(elapsed.as_secs_f64());
    }

    /// Counts a stored plan.
    pub fn plan_stored(&self) {
        self.inner.plans_stored.inc();
    }

    /// Counts observations stored and skipped as duplicates.
    pub fn observations_ingested(&self, inserted: u64, duplicates: u64) {
        self.inner.observations_ingested.inc_by(inserted);
        self.inner.observations_duplicate.inc_by(duplicates);
    }

    /// Adds `delta` to the Proposes solving now.
    pub fn solves_running(&self, delta: i64) {
        self.inner.solves_running.inc_by(delta);
    }

    /// Adds `delta` to the Proposes waiting for a solve slot.
    pub fn solves_waiting(&self, delta: i64) {
        self.inner.solves_waiting.inc_by(delta);
    }

    /// Counts a Propose refused for want of a solve slot.
    pub fn solve_refused(&self) {
        self.inner.solves_refused.inc();
    }

    /// Counts a Propose whose caller went away before its solve ended.
    pub fn solve_cancelled(&self) {
        self.inner.solves_cancelled.inc();
    }

    /// Sets the readiness gauge.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.set(i64::from(ready));
    }

    /// Returns every metric as Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.inner.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counts_by_method_and_code() {
        let metrics = Metrics::new();
        metrics.observe_rpc("Propose", tonic::Code::Ok, Duration::from_millis(3));
        metrics.observe_rpc(
            "Propose",
            tonic::Code::InvalidArgument,
            Duration::from_millis(1),
        );
        metrics.observe_rpc("Propose", tonic::Code::Ok, Duration::from_millis(2));
        metrics.plan_stored();
        metrics.observations_ingested(5, 2);
        let text = metrics.encode();
        assert!(
            text.contains(r#"fleet_planner_rpc_requests_total{method="Propose",code="Ok"} 2"#),
            "{text}"
        );
        assert!(text.contains(
            r#"fleet_planner_rpc_requests_total{method="Propose",code="InvalidArgument"} 1"#
        ));
        assert!(text.contains(r#"fleet_planner_rpc_duration_seconds_count{method="Propose"} 3"#));
        assert!(text.contains("fleet_planner_plans_stored_total 1"));
        assert!(text.contains("fleet_planner_observations_ingested_total 5"));
        assert!(text.contains("fleet_planner_observations_duplicate_total 2"));
    }
}
