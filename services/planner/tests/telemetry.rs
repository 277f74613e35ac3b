//! Telemetry that cannot be trusted blindly (issue 16 §2): the edge refuses impossible windows
//! and names the one at fault by its seq, so an agent can set it aside and send the rest; and
//! impossible windows stored before the edge checked them are never used.

use std::time::Duration;

use fleet_planner::grpc::{REJECTED_SEQ_METADATA, TelemetryGrpc};
use fleet_planner::metrics::Metrics;
use fleet_planner::service::{Planner, PlannerSettings};
use fleet_planner::{PlanRequest, TokenCount, Workload};
use fleet_proto::v1 as pb;
use fleet_proto::v1::telemetry_service_client::TelemetryServiceClient;
use fleet_store::{ObservationRow, Store};
use tonic::Code;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn observation(seq: u64) -> pb::Observation {
    let end = now_ms() - 60_000;
    pb::Observation {
        node_id: "gpu-1".into(),
        seq,
        sku: "rtx-5090".into(),
        model: "deepseek-v4-pro".into(),
        quant: "Q4_K_M".into(),
        worker_url: "http://127.0.0.1:8080".into(),
        window_start_unix_ms: end - 30_000,
        window_end_unix_ms: end,
        prompt_tokens: 4_000,
        predicted_tokens: 300,
        prompt_seconds: 1.0,
        predicted_seconds: 12.0,
        prefill_tok_s: 4_000.0,
        decode_tok_s: 25.0,
        aggregate_decode_tok_s: 30.0,
        mean_concurrency: 1.2,
        queue_depth: 0.0,
        cache_hit_rate: 0.5,
        power_w: Some(450.0),
        kind: pb::ObservationKind::Passive as i32,
        concurrency: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_window_is_named_by_its_seq_and_the_rest_still_flow() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let planner = Planner::open(store, PlannerSettings::default(), Metrics::new())
        .await
        .unwrap();
    let mut client = TelemetryServiceClient::new(TelemetryGrpc::new(planner.clone()).into_server());
    client
        .register_node(pb::RegisterNodeRequest {
            node_id: "gpu-1".into(),
            sku: "rtx-5090".into(),
            labels: Default::default(),
        })
        .await
        .unwrap();
    let report = |observations: Vec<pb::Observation>| {
        let mut client = client.clone();
        async move {
            let batch = pb::ReportObservationsRequest { observations };
            let mut acks = client
                .report_observations(tokio_stream::iter(vec![batch]))
                .await?
                .into_inner();
            acks.message().await
        }
    };

    let mut bad = observation(2);
    bad.power_w = Some(1e308);
    let status = report(vec![observation(1), bad, observation(3)])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("observations[1].power_w"),
        "{status:?}"
    );
    assert_eq!(
        status
            .metadata()
            .get(REJECTED_SEQ_METADATA)
            .and_then(|v| v.to_str().ok()),
        Some("2"),
        "{status:?}"
    );
    assert_eq!(planner.store().count_observations(None).await.unwrap(), 0);

    // Without it, the others are stored; the gap at 2 is acked beyond.
    let ack = report(vec![observation(1), observation(3)])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ack.acked_through_seq, 1);
    assert_eq!(ack.acked_seqs, vec![3]);

    // A node that never registered is named the same way.
    let mut ghost = observation(7);
    ghost.node_id = "ghost".into();
    let status = report(vec![ghost]).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("not registered"), "{status:?}");
    assert_eq!(
        status
            .metadata()
            .get(REJECTED_SEQ_METADATA)
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
}

/// Windows stored before the edge checked them (power 1e308, a year-2500 end that never ages
/// out, 1e8 slots) made every Propose fail with INTERNAL, across restarts; they calibrated the
/// model until the physics check, and now they are not used at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_windows_already_stored_are_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let store = Store::connect(&url).await.unwrap();
    let received = now_ms();
    let row = |seq: u64| ObservationRow {
        node_id: "gpu-1".into(),
        seq,
        // A configuration the catalog knows and the model fits: the windows would be used.
        sku: "mac-studio-m3-ultra-512".into(),
        model: "deepseek-v4-pro".into(),
        quant: "Q4_K_M".into(),
        worker_url: String::new(),
        window_start_unix_ms: received - 90_000,
        window_end_unix_ms: received - 60_000,
        // The Mac at 4 slots, busy the whole window, below its ceiling: a usable window.
        prompt_tokens: 4_180,
        predicted_tokens: 1_440,
        prompt_seconds: 20.0,
        predicted_seconds: 120.0,
        prefill_tok_s: 209.0,
        decode_tok_s: 12.0,
        aggregate_decode_tok_s: 48.0,
        mean_concurrency: 4.0,
        queue_depth: 0.0,
        cache_hit_rate: 0.5,
        power_w: Some(450.0),
        kind: "passive".into(),
        concurrency: 4,
        received_at_unix_ms: received,
    };
    let mut power = row(1);
    power.power_w = Some(1e308);
    let mut future = row(2);
    future.window_start_unix_ms = 16_725_225_600_000;
    future.window_end_unix_ms = 16_725_225_660_000;
    let mut slots = row(3);
    slots.concurrency = 100_000_000;
    store
        .insert_observations(&[power, future, slots])
        .await
        .unwrap();
    let planner = Planner::open(store, PlannerSettings::default(), Metrics::new())
        .await
        .unwrap();
    let view = planner.throughput().await.unwrap();
    assert!(
        view.model.points.iter().all(
            |p| p.power_busy_w.is_finite() && !p.provenance.to_string().starts_with("measured")
        ),
        "no point is measured from the impossible windows"
    );
    for local_only in [false, true] {
        let mut workload = Workload::new("chat", TokenCount(1_500_000_000));
        workload.local_only = local_only;
        workload.ttft_p95_ms = Some(120_000.0);
        let request = PlanRequest {
            workloads: vec![workload],
            ..Default::default()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let stored = planner
            .propose_within(request, Some(deadline))
            .await
            .expect("the impossible windows do not break Propose");
        assert!(stored.plan.cost.total_usd.is_finite());
    }
}
