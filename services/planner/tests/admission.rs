//! The admission limit (issue 16 §3): at most `max_concurrent_solves` Proposes solve at once;
//! the others wait within their deadline, then fail with RESOURCE_EXHAUSTED; a Propose whose
//! caller goes away stops its solve and frees its slot when the solve stops.

use std::time::{Duration, Instant};

use fleet_planner::demand::{PlanRequest, Workload};
use fleet_planner::grpc::PlannerGrpc;
use fleet_planner::metrics::Metrics;
use fleet_planner::service::{Planner, PlannerSettings, ServiceError};
use fleet_planner::units::TokenCount;
use fleet_proto::v1 as pb;
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_store::Store;
use tonic::Code;

async fn planner(slots: usize) -> Planner {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let settings = PlannerSettings {
        max_concurrent_solves: slots,
        ..PlannerSettings::default()
    };
    Planner::open(store, settings, Metrics::new())
        .await
        .unwrap()
}

fn small_request() -> PlanRequest {
    PlanRequest {
        workloads: vec![Workload::new("chat", TokenCount(1_000_000_000))],
        ..Default::default()
    }
}

/// Returns a metric's value from the Prometheus text.
fn metric(planner: &Planner, name: &str) -> f64 {
    let text = planner.metrics().encode();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..6_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excess_propose_waits_within_its_deadline_then_is_busy() {
    let planner = planner(1).await;
    let slot = planner.solve_slot(Instant::now(), None).await.unwrap();
    assert_eq!(metric(&planner, "fleet_planner_solves_running"), 1.0);

    // No slot frees: refused after three quarters of its 400 ms, naming the limit.
    let deadline = Instant::now() + Duration::from_millis(400);
    match planner
        .propose_within(small_request(), Some(deadline))
        .await
    {
        Err(error @ ServiceError::Busy { slots: 1, .. }) => {
            assert!(
                error.to_string().contains("--max-concurrent-solves"),
                "{error}"
            );
        }
        other => panic!("want Busy, got {other:?}"),
    }
    assert_eq!(metric(&planner, "fleet_planner_solves_refused_total"), 1.0);

    // A slot that frees while it waits admits it.
    let waiting = {
        let planner = planner.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            planner
                .propose_within(small_request(), Some(deadline))
                .await
        })
    };
    wait_for("a waiting propose", || {
        metric(&planner, "fleet_planner_solves_waiting") == 1.0
    })
    .await;
    drop(slot);
    let stored = waiting
        .await
        .unwrap()
        .expect("admitted once the slot freed");
    assert!(stored.plan.cost.total_usd > 0.0);
    assert_eq!(metric(&planner, "fleet_planner_solves_waiting"), 0.0);
    assert_eq!(metric(&planner, "fleet_planner_solves_running"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_bound_the_solves_running_at_once() {
    let planner = planner(2).await;
    let _one = planner.solve_slot(Instant::now(), None).await.unwrap();
    let _two = planner.solve_slot(Instant::now(), None).await.unwrap();
    let third = planner
        .solve_slot(
            Instant::now(),
            Some(Instant::now() + Duration::from_millis(100)),
        )
        .await;
    assert!(
        matches!(third, Err(ServiceError::Busy { slots: 2, .. })),
        "{third:?}"
    );
    assert_eq!(metric(&planner, "fleet_planner_solves_running"), 2.0);
}

/// A caller that goes away: dropping the Propose future sets its cancel flag (the solve
/// checks it where it checks the time limit; `tests/time_limit.rs` shows a set flag stops it)
/// and counts it, and a Propose dropped while it waits leaves no slot taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_propose_whose_caller_goes_away_is_cancelled() {
    let planner = planner(1).await;
    let slot = planner.solve_slot(Instant::now(), None).await.unwrap();
    let task = {
        let planner = planner.clone();
        tokio::spawn(async move { planner.propose_within(small_request(), None).await })
    };
    wait_for("the propose to wait for a slot", || {
        metric(&planner, "fleet_planner_solves_waiting") == 1.0
    })
    .await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(
        metric(&planner, "fleet_planner_solves_cancelled_total"),
        1.0
    );
    assert_eq!(metric(&planner, "fleet_planner_solves_waiting"), 0.0);
    assert_eq!(metric(&planner, "fleet_planner_solves_running"), 1.0);
    drop(slot);
    assert_eq!(metric(&planner, "fleet_planner_solves_running"), 0.0);
    // Nothing was stored, and the slot serves the next Propose, which is not counted.
    assert_eq!(planner.store().count_plans().await.unwrap(), 0);
    planner
        .propose_within(
            small_request(),
            Some(Instant::now() + Duration::from_secs(60)),
        )
        .await
        .expect("the freed slot admits the next propose");
    assert_eq!(
        metric(&planner, "fleet_planner_solves_cancelled_total"),
        1.0
    );
}

/// Over gRPC: the client's `grpc-timeout` is the deadline, and a Propose that finds no slot in
/// time is RESOURCE_EXHAUSTED (before tonic's own deadline would cancel it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_grpc_a_busy_planner_is_resource_exhausted_within_the_callers_deadline() {
    let planner = planner(1).await;
    let mut client = PlannerServiceClient::new(PlannerGrpc::new(planner.clone()).into_server());
    let slot = planner.solve_slot(Instant::now(), None).await.unwrap();
    let mut request = tonic::Request::new(pb::ProposeRequest {
        workloads: vec![pb::Workload {
            name: "chat".into(),
            monthly_tokens: 1_000_000_000,
            ..Default::default()
        }],
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(400));
    let status = client.propose(request).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("solve slots are busy"),
        "{status:?}"
    );
    drop(slot);
    let mut request = tonic::Request::new(pb::ProposeRequest {
        workloads: vec![pb::Workload {
            name: "chat".into(),
            monthly_tokens: 1_000_000_000,
            ..Default::default()
        }],
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(60));
    client
        .propose(request)
        .await
        .expect("a free slot admits it");
}
