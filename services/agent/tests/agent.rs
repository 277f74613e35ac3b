//! The agent in-process against fake llama-servers and a fake planner on loopback, under
//! `tokio::time::pause()`: windows and rates, restarts, broken workers, planner outages and agent
//! restarts.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{FakeLlama, FakePlanner, Mode, PlannerStore, RunningAgent, counters_of, wait_until};
use fleet_agent::AgentConfig;
use fleet_agent::rates::WindowPolicy;
use fleet_agent::scrape::HttpClient;
use fleet_agent::spool::Spool;
use fleet_proto::v1::{Observation, ObservationKind};
use tokio::net::TcpListener;

const NODE: &str = "gpu-node-1";
const SKU: &str = "rtx-5090";
const LIMIT: Duration = Duration::from_secs(600);

/// The configuration of most tests: 1 s scrapes, windows of 64 tokens (one captured request).
fn agent_config(planner: &str, workers: Vec<String>, spool_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig::new(planner, NODE, SKU, workers, spool_dir.to_owned());
    config.interval = Duration::from_secs(1);
    config.window = WindowPolicy {
        min_predicted_tokens: 64,
        max_window_ms: 60_000,
    };
    config.scrape_timeout = Duration::from_secs(2);
    config.backoff_initial = Duration::from_millis(200);
    config.backoff_max = Duration::from_secs(2);
    config.batch_size = 4;
    config
}

async fn start_agent(planner: &str, workers: Vec<String>, spool_dir: &Path) -> RunningAgent {
    RunningAgent::start(agent_config(planner, workers, spool_dir)).await
}

/// Checks what every passive observation of the fake worker must say: the identity from
/// props.json and, for one captured request per window, the captured request's rates.
fn assert_captured_request_window(observation: &Observation, worker_url: &str) {
    assert_eq!(observation.node_id, NODE);
    assert_eq!(observation.sku, SKU);
    assert_eq!(observation.model, "gemma-3-270m");
    assert_eq!(observation.quant, "Q4_K_M");
    assert_eq!(observation.concurrency, 4);
    assert_eq!(observation.worker_url, worker_url);
    assert_eq!(observation.kind, ObservationKind::Passive as i32);
    assert!(observation.window_end_unix_ms > observation.window_start_unix_ms);
    let windows = observation.predicted_tokens / 64;
    assert!(
        windows >= 1 && observation.predicted_tokens.is_multiple_of(64),
        "{observation:?}"
    );
    assert_eq!(observation.prompt_tokens, 10 * windows);
    // (64 − 1) / 28.338327 s, the captured response's own predicted_per_second (2.2231376),
    // and 10 / 1.426905 s, whatever the window length.
    assert!(
        (observation.decode_tok_s - 2.223138).abs() < 1e-5,
        "{}",
        observation.decode_tok_s
    );
    assert!(
        (observation.prefill_tok_s - 7.008175).abs() < 1e-5,
        "{}",
        observation.prefill_tok_s
    );
    let wall_seconds =
        (observation.window_end_unix_ms - observation.window_start_unix_ms) as f64 / 1000.0;
    assert!(
        (observation.aggregate_decode_tok_s - observation.predicted_tokens as f64 / wall_seconds)
            .abs()
            < 1e-9
    );
    assert_eq!(observation.cache_hit_rate, 0.0);
    assert_eq!(observation.power_w, None);
}

fn assert_contiguous(store: &PlannerStore, count: usize) {
    assert_eq!(store.seqs(NODE), (1..=count as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn fake_worker_serves_the_captures_byte_for_byte() {
    assert_eq!(
        common::render_metrics(&counters_of(common::METRICS_AFTER)),
        common::METRICS_AFTER
    );
    assert_eq!(
        common::render_metrics(&counters_of(common::METRICS_IDLE)),
        common::METRICS_IDLE
    );
    let worker = FakeLlama::start().await;
    {
        // The three requests of the capture: the fake's gauge, (192 − 3) / 85.429 at six
        // significant digits, is the captured 2.21236.
        let mut counters = counters_of(common::METRICS_AFTER);
        counters.insert(common::REQUESTS_FINISHED.to_owned(), 3.0);
        worker.state.lock().unwrap().counters = counters;
    }
    let client = HttpClient::new(Duration::from_secs(5));
    for (path, capture) in [
        ("/health", common::HEALTH),
        ("/props", common::PROPS),
        ("/slots", common::SLOTS),
        ("/metrics", common::METRICS_AFTER),
    ] {
        let response = client.get(&format!("{}{path}", worker.url)).await.unwrap();
        assert_eq!(response.body.as_ref(), capture.as_bytes(), "{path}");
    }
}

#[tokio::test(start_paused = true)]
async fn reports_windows_with_the_captured_rates() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() >= 5).await);
    agent.stop().await;
    let observations = planner.store.all();
    assert_contiguous(&planner.store, observations.len());
    for observation in &observations {
        assert_captured_request_window(observation, &worker.url);
    }
    // Scrapes 1 s apart with a request finishing in each: 64 tok/s for the server.
    let first = &observations[0];
    assert_eq!(first.window_end_unix_ms - first.window_start_unix_ms, 1000);
    assert_eq!(
        (first.predicted_tokens, first.aggregate_decode_tok_s),
        (64, 64.0)
    );
    assert_eq!(
        planner
            .store
            .mismatches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_restarted_worker_starts_a_new_baseline() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    let restarted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let restarted = std::sync::Arc::clone(&restarted);
        worker.state.lock().unwrap().on_metrics = Some(Box::new(move |call, counters| {
            if call == 6 {
                // The server restarts: counters start again from the idle capture.
                *counters = counters_of(common::METRICS_IDLE);
                restarted.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            common::one_request(counters);
        }));
    }
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || worker.metrics_calls() >= 14).await);
    assert!(wait_until(LIMIT, || agent.metrics.spool_depth.get() == 0).await);
    let rendered = agent.metrics.render();
    agent.stop().await;
    assert!(restarted.load(std::sync::atomic::Ordering::SeqCst));
    assert!(
        rendered.contains(&format!(
            "fleet_agent_counter_resets_total{{worker=\"{}\"}} 1",
            worker.url
        )),
        "{rendered}"
    );
    let observations = planner.store.all();
    // 14 readings: baseline, 5 windows, the restart (new baseline), then windows again.
    assert!(observations.len() >= 11, "{}", observations.len());
    assert_contiguous(&planner.store, observations.len());
    for observation in &observations {
        // Never a negative or huge rate: every window holds exactly the captured request.
        assert_eq!(observation.predicted_tokens, 64);
        assert_captured_request_window(observation, &worker.url);
    }
}

#[tokio::test(start_paused = true)]
async fn a_changed_process_start_header_is_a_restart() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    let state = std::sync::Arc::clone(&worker.state);
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() >= 2).await);
    // Restart without a visible drop: counters already past their old values.
    {
        let mut state = state.lock().unwrap();
        state.process_start = "77".into();
        for _ in 0..3 {
            common::one_request(&mut state.counters);
        }
    }
    assert!(
        wait_until(LIMIT, || agent
            .metrics
            .render()
            .contains("counter_resets_total{"))
        .await
    );
    let before = planner.store.len();
    assert!(wait_until(LIMIT, || planner.store.len() >= before + 2).await);
    agent.stop().await;
    for observation in planner.store.all() {
        // The 4-request jump across the restart was never reported as one window.
        assert_eq!(observation.predicted_tokens, 64, "{observation:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_metrics_and_a_dead_worker_are_logged_and_the_agent_carries_on() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let healthy = FakeLlama::start().await;
    healthy.one_request_per_scrape();
    let malformed = FakeLlama::start().await;
    malformed.one_request_per_scrape();
    malformed.state.lock().unwrap().mode = Mode::MalformedMetrics;
    let dead = common::dead_worker_url().await;
    let workers = vec![healthy.url.clone(), malformed.url.clone(), dead.clone()];
    let agent = start_agent(&planner.url(), workers, spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() >= 4).await);
    assert!(agent.metrics.scrape_failures(&malformed.url) >= 3);
    assert!(agent.metrics.scrape_failures(&dead) >= 3);
    assert_eq!(agent.metrics.scrape_failures(&healthy.url), 0);
    // The broken worker heals; the agent picks it up without a restart.
    malformed.state.lock().unwrap().mode = Mode::Healthy;
    assert!(
        wait_until(LIMIT, || planner
            .store
            .all()
            .iter()
            .filter(|o| o.worker_url == malformed.url)
            .count()
            >= 2)
        .await
    );
    agent.stop().await;
    let observations = planner.store.all();
    assert_contiguous(&planner.store, observations.len());
    for observation in &observations {
        assert_ne!(observation.worker_url, dead);
        assert_captured_request_window(observation, &observation.worker_url.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn a_planner_outage_loses_nothing_and_doubles_nothing() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() >= 3).await);

    let (addr, store) = planner.stop().await;
    let stored_before_outage = store.len() as u64;
    // The agent keeps measuring and spooling while the planner is away.
    assert!(wait_until(LIMIT, || agent.spooled() >= stored_before_outage + 8).await);
    assert!(agent.metrics.spool_depth.get() >= 8);
    assert_eq!(agent.metrics.planner_connected.get(), 0);

    let planner = FakePlanner::start_at(addr, store).await;
    let spooled_target = agent.spooled() + 3;
    assert!(
        wait_until(LIMIT, || agent.spooled() >= spooled_target
            && agent.metrics.spool_depth.get() == 0)
        .await
    );
    let spooled = agent.spooled();
    agent.stop().await;

    // Exactly once: seqs 1..=N, N = everything the agent ever spooled, resends identical.
    assert_contiguous(&planner.store, spooled as usize);
    assert_eq!(
        planner
            .store
            .mismatches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    for observation in planner.store.all() {
        assert_captured_request_window(&observation, &worker.url);
    }
    assert!(
        planner
            .store
            .registrations
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 2
    );
}

/// A window the planner refuses as invalid (issue 16 §5) is set aside in the spool's
/// `parked.log` and counted, and every later window still flows; it was resent forever, and
/// held back everything behind it.
#[tokio::test(start_paused = true)]
async fn a_window_the_planner_refuses_is_parked_and_the_rest_flow() {
    let spool = tempfile::tempdir().unwrap();
    let store = PlannerStore::default();
    store.refuse.lock().unwrap().push(3);
    let planner = FakePlanner::start(store).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(
        wait_until(LIMIT, || planner.store.len() >= 8
            && agent.metrics.spool_depth.get() == 0)
        .await,
        "stored {}, pending {}, parked {}",
        planner.store.len(),
        agent.metrics.spool_depth.get(),
        agent.metrics.observations_parked.get()
    );
    assert_eq!(agent.metrics.observations_parked.get(), 1);
    let spooled = agent.spooled();
    agent.stop().await;
    let stored = planner.store.seqs(NODE);
    assert!(!stored.contains(&3), "{stored:?}");
    assert_eq!(
        stored.len() as u64,
        spooled - 1,
        "every other window arrived: {stored:?}"
    );
    // Kept for a person to look at, not resent after a restart either.
    let parked = std::fs::read(spool.path().join("parked.log")).unwrap();
    assert!(!parked.is_empty());
    let reopened = fleet_agent::spool::Spool::open(spool.path(), NODE).unwrap();
    assert!(reopened.pending_after(0, 100).iter().all(|o| o.seq != 3));
}

#[tokio::test(start_paused = true)]
async fn an_agent_restart_keeps_the_spool_and_continues_the_seq() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() >= 3).await);
    let (addr, store) = planner.stop().await;
    let acked_before = store.len() as u64;
    assert!(wait_until(LIMIT, || agent.spooled() >= acked_before + 4).await);
    agent.stop().await;

    // What the first run left: unacknowledged observations and the next seq, on disk.
    let (pending, next_seq) = {
        let spool = Spool::open(spool.path(), NODE).unwrap();
        (spool.pending_after(0, usize::MAX), spool.next_seq())
    };
    assert!(pending.len() >= 4);
    assert_eq!(next_seq, pending.last().unwrap().seq + 1);
    // The planner stored the first pending one but its ack was lost: RegisterNode's
    // acked_through_seq prunes it from the spool, so it is not even resent.
    let first_pending = pending[0].clone();
    store
        .observations
        .lock()
        .unwrap()
        .insert((NODE.to_owned(), first_pending.seq), first_pending.clone());

    let planner = FakePlanner::start_at(addr, store).await;
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || planner.store.len() as u64 >= next_seq - 1 + 3).await);
    assert!(wait_until(LIMIT, || agent.metrics.spool_depth.get() == 0).await);
    agent.stop().await;

    let observations = planner.store.all();
    assert_contiguous(&planner.store, observations.len());
    assert_eq!(
        planner
            .store
            .mismatches
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(
        !planner
            .store
            .duplicate_seqs
            .lock()
            .unwrap()
            .contains(&first_pending.seq)
    );
    // The first run's pending observations arrived as they were spooled.
    for spooled in &pending {
        assert_eq!(&observations[spooled.seq as usize - 1], spooled);
    }
    // The second run numbered on from where the first stopped.
    assert!(observations.len() as u64 >= next_seq + 2);
    for observation in &observations {
        assert_captured_request_window(observation, &worker.url);
    }
}

#[tokio::test(start_paused = true)]
async fn the_agent_metrics_endpoint_serves_prometheus_text() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    assert!(wait_until(LIMIT, || agent.metrics.last_ack_seq.get() >= 2).await);
    let body = HttpClient::new(Duration::from_secs(5))
        .get(&agent.metrics_url)
        .await
        .unwrap()
        .body;
    let text = String::from_utf8(body.to_vec()).unwrap();
    agent.stop().await;
    let samples = fleet_agent::scrape::parse_prometheus_text(&text).unwrap();
    let value = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
    assert!(value("fleet_agent_scrapes_total").unwrap() >= 3.0);
    assert!(value("fleet_agent_observations_sent_total").unwrap() >= 2.0);
    assert!(value("fleet_agent_last_ack_seq").unwrap() >= 2.0);
    assert!(value("fleet_agent_last_ack_time_seconds").unwrap() > 1.7e9);
    assert!(value("fleet_agent_spool_depth").is_some());
    assert_eq!(value("fleet_agent_scrape_failures_total"), Some(0.0));
}

#[tokio::test(start_paused = true)]
async fn failure_counters_read_zero_from_the_start() {
    let spool = tempfile::tempdir().unwrap();
    let worker = FakeLlama::start().await;
    let dead = common::dead_worker_url().await;
    // No planner yet: a fresh spool waits for it before scraping anything.
    let planner_addr = common::dead_worker_url().await;
    let config = agent_config(
        &planner_addr,
        vec![worker.url.clone(), dead.clone()],
        spool.path(),
    );
    let agent = RunningAgent::start(config).await;
    let client = HttpClient::new(Duration::from_secs(5));
    // Right after start (the endpoint task may need a few tries to be polled).
    let body = loop {
        if let Ok(response) = client.get(&agent.metrics_url).await {
            break String::from_utf8(response.body.to_vec()).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let samples = fleet_agent::scrape::parse_prometheus_text(&body).unwrap();
    let value = |name: &str, worker: &str| {
        samples
            .iter()
            .find(|s| s.name == name && s.labels == [("worker".to_owned(), worker.to_owned())])
            .map(|s| s.value)
    };
    for url in [&worker.url, &dead] {
        for name in [
            "fleet_agent_scrapes_total",
            "fleet_agent_scrape_failures_total",
            "fleet_agent_counter_resets_total",
        ] {
            assert_eq!(value(name, url), Some(0.0), "{name} {url}: {body}");
        }
    }
    assert_eq!(
        worker.metrics_calls(),
        0,
        "nothing scraped before the planner answered"
    );
    // The counters count once the planner is there.
    let planner = FakePlanner::start_at(
        planner_addr.trim_start_matches("http://").parse().unwrap(),
        PlannerStore::default(),
    )
    .await;
    assert!(wait_until(LIMIT, || agent.metrics.scrape_failures(&dead) >= 2).await);
    assert_eq!(agent.metrics.scrape_failures(&worker.url), 0);
    assert!(agent.metrics.scrapes(&worker.url) >= 2);
    agent.stop().await;
    drop(planner);
}

#[tokio::test(start_paused = true)]
async fn slots_is_read_only_while_requests_are_processing() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    let agent = start_agent(&planner.url(), vec![worker.url.clone()], spool.path()).await;
    // Idle (requests_processing 0, as a sleeping server also reports): /slots, which would reset
    // llama-server's --sleep-idle-seconds timer and wake it, is never asked.
    assert!(wait_until(LIMIT, || worker.metrics_calls() >= 5).await);
    assert_eq!(worker.slots_calls(), 0);
    let set_processing = |requests: f64| {
        let mut state = worker.state.lock().unwrap();
        state
            .counters
            .insert("requests_processing".to_owned(), requests);
    };
    // Busy: /slots gives the busy slots of each reading.
    set_processing(2.0);
    let calls = worker.metrics_calls();
    assert!(wait_until(LIMIT, || worker.metrics_calls() >= calls + 3).await);
    assert!(worker.slots_calls() >= 2, "{}", worker.slots_calls());
    // Idle again: no more /slots.
    set_processing(0.0);
    let calls = worker.metrics_calls();
    assert!(wait_until(LIMIT, || worker.metrics_calls() > calls).await);
    let slots_calls = worker.slots_calls();
    assert!(wait_until(LIMIT, || worker.metrics_calls() >= calls + 5).await);
    assert_eq!(worker.slots_calls(), slots_calls);
    agent.stop().await;
}

/// Real time: the power command is a child process, which paused time cannot wait for.
#[tokio::test]
async fn node_power_is_sampled_and_averaged_into_observations() {
    let spool = tempfile::tempdir().unwrap();
    let planner = FakePlanner::start(PlannerStore::default()).await;
    let worker = FakeLlama::start().await;
    worker.one_request_per_scrape();
    let mut config = agent_config(&planner.url(), vec![worker.url.clone()], spool.path());
    config.interval = Duration::from_millis(200);
    config.window.min_predicted_tokens = 128;
    // Two GPUs: 180 W + 70 W.
    config.power_command = Some("printf '180\\n70\\n'".into());
    let agent = RunningAgent::start(config).await;
    assert!(
        wait_until(Duration::from_secs(30), || planner
            .store
            .all()
            .iter()
            .filter(|o| o.power_w.is_some())
            .count()
            >= 2)
        .await
    );
    agent.stop().await;
    let with_power: Vec<_> = planner
        .store
        .all()
        .into_iter()
        .filter(|o| o.power_w.is_some())
        .collect();
    for observation in with_power {
        assert_eq!(observation.power_w, Some(250.0));
    }
}

#[tokio::test]
async fn a_busy_metrics_address_is_a_clear_error() {
    let spool = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = AgentConfig::new(
        "http://127.0.0.1:9",
        NODE,
        SKU,
        vec!["http://127.0.0.1:9".into()],
        spool.path().to_owned(),
    );
    config.metrics_listen = taken.local_addr().unwrap();
    let error = fleet_agent::run(config, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot listen on --metrics-listen 127.0.0.1:"),
        "{error}"
    );
}
