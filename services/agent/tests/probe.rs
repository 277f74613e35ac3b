//! `fleet-agent probe` against the fake llama-server (4 slots, each request taking the captured
//! completion's 1.426905 s + 28.338327 s), under paused time so the figures are exact.

mod common;

use std::time::Duration;

use common::{FakeLlama, FakePlanner, PlannerStore};
use fleet_agent::probe::{render_table, run_probe};
use fleet_agent::spool::Spool;
use fleet_agent::{ProbeConfig, ProbeDelivery, ProbeReportTarget};
use fleet_proto::v1::ObservationKind;

/// Prompt + generation time of the captured request, seconds.
const SERVICE_S: f64 = 29.765232;

fn config(worker: &str) -> ProbeConfig {
    ProbeConfig {
        worker: worker.to_owned(),
        concurrency_levels: vec![1, 2, 4, 8],
        prompt_tokens: 10,
        max_tokens: 64,
        requests_per_level: 8,
        request_timeout: Duration::from_secs(600),
        show_progress: false,
        report: None,
        model: None,
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-3 * expected.abs().max(1.0)
}

#[tokio::test(start_paused = true)]
async fn probe_measures_each_level_checked_by_hand() {
    let worker = FakeLlama::start().await;
    let report = run_probe(&config(&worker.url)).await.unwrap();
    assert_eq!(worker.state.lock().unwrap().completions, 32);
    assert_eq!(
        (
            report.identity.model.as_str(),
            report.identity.quant.as_str()
        ),
        ("gemma-3-270m", "Q4_K_M")
    );
    let levels = &report.levels;
    assert_eq!(
        levels.iter().map(|l| l.concurrency).collect::<Vec<_>>(),
        vec![1, 2, 4, 8]
    );
    for level in levels {
        assert_eq!(
            (
                level.requests,
                level.failures,
                level.predicted_tokens,
                level.prompt_tokens
            ),
            (8, 0, 512, 80)
        );
        // 8 × 63 decode steps over 8 × 28.338327 s of generation: the captured response's
        // predicted_per_second.
        assert!(
            close(level.decode_tok_s, 2.223138),
            "{}",
            level.decode_tok_s
        );
        assert!(
            close(level.prefill_tok_s, 7.008175),
            "{}",
            level.prefill_tok_s
        );
    }
    // 8 requests in 8, 4, 2 and 2 rounds (4 slots: level 8 queues half of them).
    for (level, rounds) in levels.iter().zip([8.0, 4.0, 2.0, 2.0]) {
        assert!(
            close(level.wall_seconds, rounds * SERVICE_S),
            "{} {}",
            level.concurrency,
            level.wall_seconds
        );
        assert!(
            close(level.aggregate_decode_tok_s, 512.0 / (rounds * SERVICE_S)),
            "{}",
            level.aggregate_decode_tok_s
        );
    }
    // Without queueing TTFT is the prompt time; at 8 streams on 4 slots, half the requests
    // wait a whole service time for a slot: 59.530464 s − 28.338327 s = 31.192137 s.
    assert!(close(levels[0].ttft_p95_ms, 1426.905));
    assert!(close(levels[2].ttft_p95_ms, 1426.905));
    assert!(close(levels[3].ttft_p50_ms, 1426.905));
    assert!(
        close(levels[3].ttft_p95_ms, 31192.137),
        "{}",
        levels[3].ttft_p95_ms
    );
    // Level 8 keeps all 4 slots busy: 8 × 29.765 s of service in 59.53 s.
    assert!(close(levels[3].mean_concurrency, 4.0));

    let table = render_table(&report);
    assert!(table.contains("gemma-3-270m Q4_K_M (4 slots"), "{table}");
    assert!(table.lines().count() == 6, "{table}");
    // Tokio timers tick in whole milliseconds, so the fake's 29.765232 s sleeps end up to 1 ms
    // late: compare the table's rounded columns, not the TTFT digits.
    assert!(
        table
            .lines()
            .last()
            .unwrap()
            .trim_end()
            .ends_with("2.22            8.60"),
        "{table}"
    );
}

#[tokio::test(start_paused = true)]
async fn probe_results_are_reported_as_probe_observations() {
    let worker = FakeLlama::start().await;
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let spool_dir = tempfile::tempdir().unwrap();
    let mut config = config(&worker.url);
    config.concurrency_levels = vec![2, 8];
    config.model = Some("deepseek-v4-pro".into());
    let report = run_probe(&config).await.unwrap();
    let target = ProbeReportTarget {
        planner: planner.url(),
        node_id: "gpu-node-1".into(),
        sku: "rtx-5090".into(),
        spool_dir: spool_dir.path().to_owned(),
        token: None,
        tls_ca: None,
    };
    let delivery = fleet_agent::report_probe(
        &report,
        &target,
        Default::default(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(
        delivery,
        ProbeDelivery::Sent {
            seqs: vec![1, 2],
            acknowledged: true
        }
    );
    let observations = planner.store.all();
    assert_eq!(observations.len(), 2);
    for observation in &observations {
        assert_eq!(observation.kind, ObservationKind::Probe as i32);
        assert_eq!(
            (observation.node_id.as_str(), observation.sku.as_str()),
            ("gpu-node-1", "rtx-5090")
        );
        // --model replaces the id derived from the capture's model_path (gemma-3-270m).
        assert_eq!(
            (observation.model.as_str(), observation.quant.as_str()),
            ("deepseek-v4-pro", "Q4_K_M")
        );
        assert_eq!(observation.predicted_tokens, 512);
        assert!(close(observation.decode_tok_s, 2.223138));
    }
    // Level 2 ran 2 streams; level 8 ran 4 (the slots) with 4 more queued.
    assert_eq!(
        (observations[0].concurrency, observations[0].queue_depth),
        (2, 0.0)
    );
    assert_eq!(
        (observations[1].concurrency, observations[1].queue_depth),
        (4, 4.0)
    );
    assert!(close(
        observations[1].aggregate_decode_tok_s,
        512.0 / (2.0 * SERVICE_S)
    ));
    assert_eq!(
        Spool::open(spool_dir.path(), "gpu-node-1").unwrap().depth(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn probe_hands_results_to_a_running_agent_through_the_inbox() {
    let worker = FakeLlama::start().await;
    let spool_dir = tempfile::tempdir().unwrap();
    // A running agent owns the spool.
    let mut owner = Spool::open(spool_dir.path(), "gpu-node-1").unwrap();
    let mut config = config(&worker.url);
    config.concurrency_levels = vec![1];
    config.requests_per_level = 1;
    let report = run_probe(&config).await.unwrap();
    let target = ProbeReportTarget {
        planner: "http://127.0.0.1:9".into(),
        node_id: "gpu-node-1".into(),
        sku: "rtx-5090".into(),
        spool_dir: spool_dir.path().to_owned(),
        token: None,
        tls_ca: None,
    };
    let delivery =
        fleet_agent::report_probe(&report, &target, Default::default(), Duration::from_secs(5))
            .await
            .unwrap();
    assert!(
        matches!(delivery, ProbeDelivery::HandedToAgent { .. }),
        "{delivery:?}"
    );
    assert_eq!(owner.adopt_inbox().unwrap(), 1);
    let pending = owner.pending_after(0, 10);
    assert_eq!(pending[0].kind, ObservationKind::Probe as i32);
    assert_eq!(pending[0].seq, 1);
}

#[tokio::test]
async fn probe_of_a_dead_worker_fails_cleanly() {
    let url = common::dead_worker_url().await;
    let error = run_probe(&config(&url)).await.unwrap_err();
    assert!(error.to_string().contains(&url), "{error}");
}
