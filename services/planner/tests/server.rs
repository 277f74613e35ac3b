//! The planner server end to end: started on 127.0.0.1:0, every RPC through a real tonic
//! client, health and reflection clients, `/metrics`, and a restart on the same database.
//! SQLite always; PostgreSQL as well when `FLEET_TEST_DATABASE_URL` is set (CI sets it).

use std::net::SocketAddr;
use std::time::Duration;

use fleet_planner::server::{ServeOptions, serve};
use fleet_proto::v1 as pb;
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_proto::v1::telemetry_service_client::TelemetryServiceClient;
use fleet_store::Store;
use sqlx::postgres::PgConnectOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::Code;
use tonic::transport::Channel;

struct Running {
    grpc: SocketAddr,
    metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn start(store: Store) -> Running {
        Running::start_with(
            store,
            ServeOptions {
                readiness_interval: Duration::from_millis(100),
                ..ServeOptions::default()
            },
        )
        .await
    }

    async fn start_with(store: Store, options: ServeOptions) -> Running {
        let grpc_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = grpc_listener.local_addr().unwrap();
        let metrics = metrics_listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(
            grpc_listener,
            Some(metrics_listener),
            store,
            options,
            async move {
                let _ = stopped.await;
            },
        ));
        Running {
            grpc,
            metrics,
            stop: Some(stop),
            task,
        }
    }

    async fn channel(&self) -> Channel {
        let endpoint = format!("http://{}", self.grpc);
        for _ in 0..100 {
            if let Ok(channel) = Channel::from_shared(endpoint.clone())
                .unwrap()
                .connect()
                .await
            {
                return channel;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("server at {endpoint} never accepted a connection");
    }

    async fn planner(&self) -> PlannerServiceClient<Channel> {
        PlannerServiceClient::new(self.channel().await)
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s of the shutdown signal")
            .unwrap()
            .unwrap();
    }
}

fn workload(name: &str, monthly_tokens: u64) -> pb::Workload {
    pb::Workload {
        name: name.to_string(),
        monthly_tokens,
        ..Default::default()
    }
}

fn propose_request(monthly_tokens: u64) -> pb::ProposeRequest {
    pb::ProposeRequest {
        workloads: vec![workload("chat", monthly_tokens)],
        ..Default::default()
    }
}

async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite:{}", dir.path().join("planner.db").display());
    Store::connect(&url).await.unwrap()
}

fn postgres_url() -> Option<String> {
    match std::env::var("FLEET_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipping the PostgreSQL variant: FLEET_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A fresh schema of the PostgreSQL test database, dropped by [`drop_schema`].
async fn postgres_schema(url: &str) -> (String, PgConnectOptions) {
    use std::str::FromStr;
    let schema = format!("planner_{}_{:08x}", std::process::id(), fastrand_u32());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("FLEET_TEST_DATABASE_URL is set but PostgreSQL is unreachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(url)
        .unwrap()
        .options([("search_path", schema.as_str())]);
    (schema, options)
}

async fn drop_schema(url: &str, schema: &str) {
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    nanos ^ (std::process::id().rotate_left(16))
}

fn assert_invalid(status: tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains(field),
        "message {:?} should name {field}",
        status.message()
    );
}

async fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

async fn wait_ready(channel: Channel) {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for _ in 0..200 {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: "readiness".to_string(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("readiness never became SERVING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_planner_rpc_through_a_real_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(sqlite_store(&dir).await).await;
    wait_ready(server.channel().await).await;
    let mut client = server.planner().await;

    // Propose, then GetPlan returns exactly what Propose returned.
    let proposed = client
        .propose(propose_request(1_500_000_000))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!(!proposed.id.is_empty());
    assert_eq!(proposed.workloads.len(), 1);
    let fetched = client
        .get_plan(pb::GetPlanRequest {
            id: proposed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(fetched, proposed);
    let total = proposed.cost.as_ref().unwrap().total_usd;
    // 1.5B tokens at 75 % input: 1,125 M × $0.0265 + 375 M × $0.0795 = $59.625 on the API.
    assert!((total - 59.625).abs() < 1e-9, "total {total}");

    // Unknown plan: NOT_FOUND; empty id: INVALID_ARGUMENT.
    let missing = client
        .get_plan(pb::GetPlanRequest {
            id: "no-such-plan".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_invalid(
        client
            .get_plan(pb::GetPlanRequest { id: String::new() })
            .await
            .unwrap_err(),
        "id",
    );

    // Bad requests name the field.
    let mut bad = propose_request(1_000);
    bad.workloads[0].input_share = Some(1.5);
    assert_invalid(
        client.propose(bad).await.unwrap_err(),
        "workloads[0].input_share",
    );
    assert_invalid(
        client
            .propose(pb::ProposeRequest::default())
            .await
            .unwrap_err(),
        "workloads",
    );
    let mut bad = propose_request(1_000);
    bad.workloads[0].ttft_p95_ms = f64::NAN;
    assert_invalid(
        client.propose(bad).await.unwrap_err(),
        "workloads[0].ttft_p95_ms",
    );
    let mut bad = propose_request(1_000);
    bad.workloads[0].min_quant = "Q9_Z".into();
    assert_invalid(
        client.propose(bad).await.unwrap_err(),
        "workloads[0].min_quant",
    );
    // An SLO nothing meets: FAILED_PRECONDITION with the reason.
    let mut impossible = propose_request(1_000_000_000);
    impossible.workloads[0].local_only = true;
    impossible.workloads[0].ttft_p95_ms = 1.0;
    let status = client.propose(impossible).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("infeasible"),
        "{}",
        status.message()
    );

    // RerunPlan stores a new plan from the old request.
    let rerun = client
        .rerun_plan(pb::RerunPlanRequest {
            id: proposed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rerun.previous_id, proposed.id);
    let rerun_plan = rerun.plan.unwrap();
    assert_ne!(rerun_plan.id, proposed.id);
    assert_eq!(rerun_plan.workloads, proposed.workloads);

    // ListPlans: newest first, paged.
    client
        .propose(propose_request(2_000_000_000))
        .await
        .unwrap();
    let first = client
        .list_plans(pb::ListPlansRequest {
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.plans.len(), 2);
    assert!(!first.next_page_token.is_empty());
    assert!(first.plans[0].created_at_unix_ms >= first.plans[1].created_at_unix_ms);
    let second = client
        .list_plans(pb::ListPlansRequest {
            page_size: 2,
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.plans.len(), 1);
    assert!(second.next_page_token.is_empty());
    assert_eq!(second.plans[0].id, proposed.id);
    assert_invalid(
        client
            .list_plans(pb::ListPlansRequest {
                page_size: 2,
                page_token: "garbage".into(),
            })
            .await
            .unwrap_err(),
        "page_token",
    );

    // GetSchedule: routing weights for one hour; an hour outside the day is named.
    let schedule = client
        .get_schedule(pb::GetScheduleRequest {
            plan_id: proposed.id.clone(),
            hour: 9,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(schedule.routes.len(), 1);
    let route = &schedule.routes[0];
    let weights: f64 = route.local_weights.iter().sum::<f64>() + route.api_weight;
    assert!((weights - 1.0).abs() < 1e-9, "weights sum to {weights}");
    assert_invalid(
        client
            .get_schedule(pb::GetScheduleRequest {
                plan_id: proposed.id.clone(),
                hour: 1_000,
            })
            .await
            .unwrap_err(),
        "hour",
    );

    // Hardware: list, upsert (new and bad), delete, delete again.
    let hardware = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hardware.hardware.len(), 7);
    let mut sku = hardware
        .hardware
        .iter()
        .find(|h| h.id == "rtx-5090")
        .unwrap()
        .clone();
    sku.id = "rtx-5090-cheap".into();
    sku.price_usd = 3_900.0;
    let upserted = client
        .upsert_hardware(pb::UpsertHardwareRequest {
            hardware: Some(sku.clone()),
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(upserted.catalog_version, hardware.catalog_version);
    let mut bad_sku = sku.clone();
    bad_sku.price_usd = -1.0;
    assert_invalid(
        client
            .upsert_hardware(pb::UpsertHardwareRequest {
                hardware: Some(bad_sku),
            })
            .await
            .unwrap_err(),
        "hardware.price_usd",
    );
    assert_invalid(
        client
            .upsert_hardware(pb::UpsertHardwareRequest { hardware: None })
            .await
            .unwrap_err(),
        "hardware",
    );

    // Benchmarks: a benchmark of the new SKU, one of an unknown SKU (rejected), filters.
    let benchmarks = client
        .list_benchmarks(pb::ListBenchmarksRequest {
            sku: "rtx-5090".into(),
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!benchmarks.benchmarks.is_empty());
    assert!(benchmarks.benchmarks.iter().all(|b| b.sku == "rtx-5090"));
    let mut benchmark = benchmarks.benchmarks[0].clone();
    benchmark.sku = "rtx-5090-cheap".into();
    client
        .upsert_benchmark(pb::UpsertBenchmarkRequest {
            benchmark: Some(benchmark.clone()),
        })
        .await
        .unwrap();
    let mut orphan = benchmark.clone();
    orphan.sku = "no-such-sku".into();
    assert_invalid(
        client
            .upsert_benchmark(pb::UpsertBenchmarkRequest {
                benchmark: Some(orphan),
            })
            .await
            .unwrap_err(),
        "benchmark",
    );
    client
        .delete_benchmark(pb::DeleteBenchmarkRequest {
            sku: benchmark.sku.clone(),
            model: benchmark.model.clone(),
            quant: benchmark.quant.clone(),
            concurrency: benchmark.concurrency,
        })
        .await
        .unwrap();
    let again = client
        .delete_benchmark(pb::DeleteBenchmarkRequest {
            sku: benchmark.sku.clone(),
            model: benchmark.model.clone(),
            quant: benchmark.quant.clone(),
            concurrency: benchmark.concurrency,
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    client
        .delete_hardware(pb::DeleteHardwareRequest {
            id: "rtx-5090-cheap".into(),
        })
        .await
        .unwrap();
    let gone = client
        .delete_hardware(pb::DeleteHardwareRequest {
            id: "rtx-5090-cheap".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // API offers: a cheaper offer changes the all-API plan's cost.
    let offers = client
        .list_api_offers(pb::ListApiOffersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(offers.api_offers.len(), 1);
    let mut offer = offers.api_offers[0].clone();
    offer.input_usd_per_million /= 2.0;
    offer.output_usd_per_million /= 2.0;
    client
        .upsert_api_offer(pb::UpsertApiOfferRequest {
            api_offer: Some(offer.clone()),
        })
        .await
        .unwrap();
    let cheaper = client
        .propose(propose_request(1_500_000_000))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert!((cheaper.cost.unwrap().total_usd - 59.625 / 2.0).abs() < 1e-9);
    let mut bad_offer = offer.clone();
    bad_offer.model = "unknown-model".into();
    assert_invalid(
        client
            .upsert_api_offer(pb::UpsertApiOfferRequest {
                api_offer: Some(bad_offer),
            })
            .await
            .unwrap_err(),
        "api_offer",
    );
    let extra = pb::ApiOffer {
        id: "extra".into(),
        ..offer.clone()
    };
    client
        .upsert_api_offer(pb::UpsertApiOfferRequest {
            api_offer: Some(extra),
        })
        .await
        .unwrap();
    client
        .delete_api_offer(pb::DeleteApiOfferRequest { id: "extra".into() })
        .await
        .unwrap();
    assert_eq!(
        client
            .delete_api_offer(pb::DeleteApiOfferRequest { id: "extra".into() })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // Throughput model: the catalog priors.
    let model = client
        .get_throughput_model(pb::GetThroughputModelRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(!model.version.is_empty());
    // None of the 9 catalog benchmarks fits its rig; the two configurations that hold the model
    // are estimated at every quantization that fits (4 on the 512 GB Mac, 6 on the EPYC server),
    // each at concurrency 1, 2, 4 and 8.
    assert_eq!(model.points.len(), 40);
    assert!(
        model
            .points
            .iter()
            .all(|p| p.provenance.starts_with("estimated ±"))
    );
    assert!(
        model
            .points
            .iter()
            .all(|p| p.source == pb::ThroughputSource::Catalog as i32)
    );

    // Metrics count what happened.
    let metrics = http_get(server.metrics, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.0 200") || metrics.starts_with("HTTP/1.1 200"));
    assert!(
        metrics.contains(r#"fleet_planner_rpc_requests_total{method="Propose",code="Ok"} 3"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"fleet_planner_rpc_requests_total{method="GetPlan",code="NotFound"} 1"#)
    );
    assert!(metrics.contains("fleet_planner_plans_stored_total 4"));
    assert!(metrics.contains("fleet_planner_solve_duration_seconds_count"));
    assert!(metrics.contains("fleet_planner_ready 1"));

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_is_stored_once_and_acked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(sqlite_store(&dir).await).await;
    let channel = server.channel().await;
    let mut telemetry = TelemetryServiceClient::new(channel);
    let registered = telemetry
        .register_node(pb::RegisterNodeRequest {
            node_id: "gpu-1".into(),
            sku: "rtx-5090".into(),
            labels: [("zone".to_string(), "a".to_string())].into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(registered.acked_through_seq, 0);
    assert_invalid(
        telemetry
            .register_node(pb::RegisterNodeRequest::default())
            .await
            .unwrap_err(),
        "node_id",
    );

    let observation = |seq: u64| pb::Observation {
        node_id: "gpu-1".into(),
        seq,
        sku: "rtx-5090".into(),
        model: "deepseek-v4-pro".into(),
        quant: "Q4_K_M".into(),
        worker_url: "http://127.0.0.1:8080".into(),
        window_start_unix_ms: 1_000 * seq as i64,
        window_end_unix_ms: 1_000 * seq as i64 + 10_000,
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
        power_w: Some(480.0),
        kind: pb::ObservationKind::Passive as i32,
        concurrency: 4,
    };
    // Batches 1..=3, then a resend of 2..=4 (only 4 is new), then 6 beyond a gap.
    let batches = vec![
        pb::ReportObservationsRequest {
            observations: (1..=3).map(observation).collect(),
        },
        pb::ReportObservationsRequest {
            observations: (2..=4).map(observation).collect(),
        },
        pb::ReportObservationsRequest {
            observations: vec![observation(6)],
        },
    ];
    let mut acks = telemetry
        .report_observations(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let mut received = Vec::new();
    while let Some(ack) = acks.message().await.unwrap() {
        received.push(ack);
    }
    assert_eq!(received.len(), 3);
    assert_eq!(
        (received[0].acked_through_seq, received[0].inserted),
        (3, 3)
    );
    assert_eq!(
        (received[1].acked_through_seq, received[1].inserted),
        (4, 1)
    );
    assert_eq!(received[2].acked_through_seq, 4);
    assert_eq!(received[2].acked_seqs, vec![6]);
    assert_eq!(received[2].inserted, 1);

    // Re-registering reports how far the node is acked.
    let again = telemetry
        .register_node(pb::RegisterNodeRequest {
            node_id: "gpu-1".into(),
            sku: "rtx-5090".into(),
            labels: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.acked_through_seq, 4);

    // A bad observation ends the stream with INVALID_ARGUMENT naming it.
    let mut bad = observation(7);
    bad.decode_tok_s = f64::NAN;
    let mut stream = telemetry
        .report_observations(tokio_stream::iter(vec![pb::ReportObservationsRequest {
            observations: vec![observation(5), bad],
        }]))
        .await
        .unwrap()
        .into_inner();
    let status = stream.message().await.unwrap_err();
    assert_invalid(status, "observations[1].decode_tok_s");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(sqlite_store(&dir).await).await;
    let channel = server.channel().await;
    wait_ready(channel.clone()).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let liveness = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "liveness".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        liveness.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel.clone());
    let request = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("expected a service list, got {response:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"fleet.v1.PlannerService"), "{names:?}");
    assert!(names.contains(&"fleet.v1.TelemetryService"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    // v1alpha answers too.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as AlphaClient;
    let mut alpha = AlphaClient::new(channel);
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    assert!(responses.message().await.unwrap().is_some());
    server.stop().await;
}

/// Propose, stop, start again on the same database: the plan and a catalog edit survive.
async fn restart_keeps_plans_and_catalog_edits(
    connect: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Store>>>,
) {
    let server = Running::start(connect().await).await;
    let mut client = server.planner().await;
    let plan = client
        .propose(propose_request(1_500_000_000))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    let mut sku = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner()
        .hardware
        .into_iter()
        .find(|h| h.id == "rtx-pro-6000")
        .unwrap();
    sku.price_usd = 11_111.0;
    client
        .upsert_hardware(pb::UpsertHardwareRequest {
            hardware: Some(sku),
        })
        .await
        .unwrap();
    client
        .delete_hardware(pb::DeleteHardwareRequest {
            id: "rx-7900-xtx".into(),
        })
        .await
        .unwrap();
    drop(client);
    server.stop().await;

    let server = Running::start(connect().await).await;
    let mut client = server.planner().await;
    let fetched = client
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(fetched, plan);
    let hardware = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner()
        .hardware;
    assert_eq!(hardware.len(), 6, "the deleted SKU is not seeded back");
    let edited = hardware.iter().find(|h| h.id == "rtx-pro-6000").unwrap();
    assert_eq!(edited.price_usd, 11_111.0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("planner.db").display());
    restart_keeps_plans_and_catalog_edits(move || {
        let url = url.clone();
        Box::pin(async move { Store::connect(&url).await.unwrap() })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (schema, options) = postgres_schema(&url).await;
    restart_keeps_plans_and_catalog_edits(move || {
        let options = options.clone();
        Box::pin(async move { Store::connect_postgres(options).await.unwrap() })
    })
    .await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_bearer_token() {
    use fleet_planner::auth::{AuthPolicy, BearerToken};
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        auth: AuthPolicy {
            token: Some(BearerToken::new("s3cret").unwrap()),
            protect_reads: false,
        },
        ..ServeOptions::default()
    };
    let server = Running::start_with(sqlite_store(&dir).await, options).await;
    let channel = server.channel().await;
    let mut client = PlannerServiceClient::new(channel.clone());
    // Reads and proposals are open.
    client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap();
    client.propose(propose_request(1_000_000)).await.unwrap();
    // A catalog write without the token, or with a wrong one, is refused and changes nothing.
    let delete = || pb::DeleteHardwareRequest {
        id: "rtx-5090".into(),
    };
    let refused = client.delete_hardware(delete()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let mut wrong = tonic::Request::new(delete());
    wrong
        .metadata_mut()
        .insert("authorization", "Bearer guess".parse().unwrap());
    assert_eq!(
        client.delete_hardware(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        client
            .list_hardware(pb::ListHardwareRequest {})
            .await
            .unwrap()
            .into_inner()
            .hardware
            .len(),
        7
    );
    let mut right = tonic::Request::new(delete());
    right
        .metadata_mut()
        .insert("authorization", "Bearer s3cret".parse().unwrap());
    client.delete_hardware(right).await.unwrap();
    // Telemetry is a write.
    let mut telemetry = TelemetryServiceClient::new(channel);
    let status = telemetry
        .register_node(pb::RegisterNodeRequest {
            node_id: "n".into(),
            sku: "rtx-5090".into(),
            labels: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = telemetry
        .report_observations(tokio_stream::iter(
            Vec::<pb::ReportObservationsRequest>::new(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    server.stop().await;
}

/// A TCP proxy to PostgreSQL that a test can cut (every connection dropped, new ones refused)
/// and restore: a database outage without touching the shared server other tests use.
struct FlakyProxy {
    address: SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    task: JoinHandle<()>,
}

impl FlakyProxy {
    async fn start(upstream: SocketAddr) -> FlakyProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = {
            let up = up.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        return;
                    };
                    if !up.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let handle = tokio::spawn(async move {
                        if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(handle.abort_handle());
                }
            })
        };
        FlakyProxy {
            address,
            up,
            connections,
            task,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn readiness_of(channel: Channel) -> i32 {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "readiness".to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_turns_readiness_off_and_back_on() {
    use std::str::FromStr;
    use tonic_health::pb::health_check_response::ServingStatus;
    let Some(url) = postgres_url() else { return };
    let (schema, options) = postgres_schema(&url).await;
    let upstream_options = PgConnectOptions::from_str(&url).unwrap();
    let upstream: SocketAddr =
        tokio::net::lookup_host((upstream_options.get_host(), upstream_options.get_port()))
            .await
            .unwrap()
            .next()
            .unwrap();
    let proxy = FlakyProxy::start(upstream).await;
    let options = options
        .host(&proxy.address.ip().to_string())
        .port(proxy.address.port());
    let store = Store::connect_postgres(options).await.unwrap();
    let server = Running::start(store).await;
    let channel = server.channel().await;
    wait_ready(channel.clone()).await;
    let mut client = server.planner().await;
    let plan = client
        .propose(propose_request(1_500_000_000))
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();

    proxy.cut();
    let mut saw_not_serving = false;
    for _ in 0..100 {
        if readiness_of(channel.clone()).await == ServingStatus::NotServing as i32 {
            saw_not_serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        saw_not_serving,
        "readiness stays SERVING while the database is gone"
    );
    // Calls fail cleanly while the database is away, and nothing panics.
    let status = client
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    proxy.restore();
    wait_ready(channel.clone()).await;
    // The same server process serves again, with nothing lost.
    let fetched = client
        .get_plan(pb::GetPlanRequest { id: plan.id })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(fetched.cost, plan.cost);
    server.stop().await;
    proxy.task.abort();
    drop_schema(&url, &schema).await;
}

/// The physics plumbing end to end: specs and a benchmark's context survive UpsertHardware /
/// UpsertBenchmark and the listings, bad specs are INVALID_ARGUMENT naming the field, and
/// CheckCatalog is a read (no token) with one row per benchmark, the seed's first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn specs_round_trip_and_check_catalog_reports_every_benchmark() {
    use fleet_planner::auth::{AuthPolicy, BearerToken};
    let dir = tempfile::tempdir().unwrap();
    let options = ServeOptions {
        auth: AuthPolicy {
            token: Some(BearerToken::new("s3cret").unwrap()),
            protect_reads: false,
        },
        ..ServeOptions::default()
    };
    let server = Running::start_with(sqlite_store(&dir).await, options).await;
    let mut client = server.planner().await;
    fn authorized<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", "Bearer s3cret".parse().unwrap());
        request
    }

    // CheckCatalog needs no token; the seed's benchmarks come first, in the seed's order.
    let check = client
        .check_catalog(pb::CheckCatalogRequest {})
        .await
        .unwrap()
        .into_inner();
    let seed = fleet_planner::Catalog::embedded_default();
    assert!(seed.benchmarks.len() >= 9);
    assert_eq!(check.benchmarks.len(), seed.benchmarks.len());
    for (row, benchmark) in check.benchmarks.iter().zip(&seed.benchmarks) {
        assert_eq!(
            (&row.sku, &row.model, &row.quant, row.concurrency),
            (
                &benchmark.sku,
                &benchmark.model,
                &benchmark.quant,
                benchmark.concurrency
            )
        );
        assert_eq!(row.claimed_decode_tok_s, benchmark.decode_tok_s);
        assert_eq!(row.context_tokens, benchmark.context());
        let ceiling = row.ceiling.unwrap();
        assert!(ceiling.decode_tok_s.is_finite() && ceiling.decode_tok_s > 0.0);
        assert!(row.estimate.unwrap().decode_tok_s <= ceiling.decode_tok_s);
        let placement = row.placement.as_ref().unwrap();
        assert_ne!(placement.kind, pb::PlacementKind::Unspecified as i32);
        assert!(!placement.description.is_empty());
        let word = match pb::VerdictKind::try_from(row.verdict).unwrap() {
            pb::VerdictKind::Plausible => "plausible",
            pb::VerdictKind::Implausible => "implausible: ",
            pb::VerdictKind::Impossible => "impossible: ",
            pb::VerdictKind::Unspecified => panic!("{row:?} has no verdict"),
        };
        assert!(row.verdict_text.starts_with(word), "{row:?}");
        assert_eq!(
            placement.fits,
            row.verdict != pb::VerdictKind::Impossible as i32,
            "{row:?}"
        );
    }
    assert_eq!(check.catalog_version, {
        client
            .list_hardware(pb::ListHardwareRequest {})
            .await
            .unwrap()
            .into_inner()
            .catalog_version
    });

    // A SKU with some specs given and some not: what was sent is what is listed.
    let mut sku = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner()
        .hardware
        .into_iter()
        .find(|h| h.id == "rtx-5090")
        .unwrap();
    sku.id = "rtx-5090-specs".into();
    sku.memory_bandwidth_gb_s = Some(1_792.0);
    sku.compute_tflops = None;
    sku.host_ram_gb = Some(0.0);
    sku.host_ram_bandwidth_gb_s = Some(89.6);
    sku.host_link_gb_s = None;
    sku.disk_read_gb_s = Some(14.5);
    let upserted = client
        .upsert_hardware(authorized(pb::UpsertHardwareRequest {
            hardware: Some(sku.clone()),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upserted.hardware.as_ref(), Some(&sku));
    let listed = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner()
        .hardware
        .into_iter()
        .find(|h| h.id == sku.id)
        .unwrap();
    assert_eq!(listed, sku);

    // Bad specs name the field and change nothing.
    type Edit = fn(&mut pb::HardwareSku);
    let cases: [(&str, Edit); 7] = [
        ("hardware.memory_bandwidth_gb_s", |h| {
            h.memory_bandwidth_gb_s = Some(0.0)
        }),
        ("hardware.memory_bandwidth_gb_s", |h| {
            h.memory_bandwidth_gb_s = Some(f64::NAN)
        }),
        ("hardware.compute_tflops", |h| {
            h.compute_tflops = Some(f64::INFINITY)
        }),
        ("hardware.host_ram_gb", |h| h.host_ram_gb = Some(-1.0)),
        ("hardware.host_ram_bandwidth_gb_s", |h| {
            h.host_ram_bandwidth_gb_s = Some(-0.5)
        }),
        ("hardware.host_link_gb_s", |h| {
            h.host_link_gb_s = Some(f64::NEG_INFINITY)
        }),
        ("hardware.disk_read_gb_s", |h| h.disk_read_gb_s = Some(0.0)),
    ];
    for (field, edit) in cases {
        let mut bad = sku.clone();
        edit(&mut bad);
        assert_invalid(
            client
                .upsert_hardware(authorized(pb::UpsertHardwareRequest {
                    hardware: Some(bad),
                }))
                .await
                .unwrap_err(),
            field,
        );
    }
    let after = client
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.catalog_version, upserted.catalog_version);

    // A benchmark's context round-trips and shows in the check; 0 is refused.
    let mut benchmark = client
        .list_benchmarks(pb::ListBenchmarksRequest {
            sku: "rtx-5090".into(),
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .benchmarks
        .remove(0);
    benchmark.sku = sku.id.clone();
    benchmark.context_tokens = Some(16_384);
    client
        .upsert_benchmark(authorized(pb::UpsertBenchmarkRequest {
            benchmark: Some(benchmark.clone()),
        }))
        .await
        .unwrap();
    let listed = client
        .list_benchmarks(pb::ListBenchmarksRequest {
            sku: sku.id.clone(),
            model: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .benchmarks;
    assert_eq!(listed, vec![benchmark.clone()]);
    let check = client
        .check_catalog(pb::CheckCatalogRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(check.benchmarks.len(), seed.benchmarks.len() + 1);
    let added = check.benchmarks.last().unwrap();
    assert_eq!(added.sku, sku.id, "added benchmarks follow the seed's");
    assert_eq!(added.context_tokens, 16_384);
    // The SKU does not give compute or host link: the check says so.
    for field in ["compute_tflops", "host_link_gb_s"] {
        let needle = format!("hardware {} {field}", sku.id);
        assert!(added.assumed_inputs.contains(&needle), "{added:?}");
    }
    assert!(
        !added
            .assumed_inputs
            .iter()
            .any(|i| i.ends_with("memory_bandwidth_gb_s")),
        "{added:?}"
    );
    let mut zero = benchmark.clone();
    zero.context_tokens = Some(0);
    assert_invalid(
        client
            .upsert_benchmark(authorized(pb::UpsertBenchmarkRequest {
                benchmark: Some(zero),
            }))
            .await
            .unwrap_err(),
        "benchmark.context_tokens",
    );
    server.stop().await;
}

/// `trust_published` travels from the wire into the stored request, and RerunPlan solves the
/// stored request again with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_published_is_stored_with_the_request_and_kept_by_rerun() {
    use fleet_planner::grpc::{plan_request_from_pb, plan_request_to_pb};
    use fleet_planner::service::{Planner, PlannerSettings};
    let dir = tempfile::tempdir().unwrap();
    let planner = Planner::open(
        sqlite_store(&dir).await,
        PlannerSettings::default(),
        fleet_planner::metrics::Metrics::new(),
    )
    .await
    .unwrap();
    for trust_published in [false, true] {
        let wire = pb::ProposeRequest {
            trust_published,
            ..propose_request(1_500_000_000)
        };
        let request = plan_request_from_pb(wire).unwrap();
        assert_eq!(request.trust_published, trust_published);
        assert_eq!(
            plan_request_to_pb(&request).trust_published,
            trust_published
        );
        let stored = planner.propose(request).await.unwrap();
        assert_eq!(
            planner
                .plan_request(&stored.id)
                .await
                .unwrap()
                .trust_published,
            trust_published
        );
        let rerun = planner.rerun_plan(&stored.id, None).await.unwrap();
        assert_ne!(rerun.id, stored.id);
        assert_eq!(
            planner
                .plan_request(&rerun.id)
                .await
                .unwrap()
                .trust_published,
            trust_published,
            "rerun keeps the stored request's flag"
        );
    }
}

/// Bad data is INVALID_ARGUMENT on every backend (issue 16 §5): on PostgreSQL a NUL byte or a
/// 1 MB id came back UNAVAILABLE, which clients retry forever.
async fn bad_data_is_invalid_argument(store: Store) {
    let server = Running::start(store).await;
    let mut planner = server.planner().await;
    let mut telemetry = TelemetryServiceClient::new(server.channel().await);
    let huge = "p".repeat(1_000_000);
    for (what, status) in [
        (
            "GetPlan with a NUL",
            planner
                .get_plan(pb::GetPlanRequest { id: "a\0b".into() })
                .await
                .unwrap_err(),
        ),
        (
            "GetPlan with a 1 MB id",
            planner
                .get_plan(pb::GetPlanRequest { id: huge.clone() })
                .await
                .unwrap_err(),
        ),
        (
            "DeleteHardware with a NUL",
            planner
                .delete_hardware(pb::DeleteHardwareRequest { id: "a\0b".into() })
                .await
                .unwrap_err(),
        ),
        (
            "RegisterNode with a 1 MB id",
            telemetry
                .register_node(pb::RegisterNodeRequest {
                    node_id: huge.clone(),
                    sku: "rtx-5090".into(),
                    labels: Default::default(),
                })
                .await
                .unwrap_err(),
        ),
        (
            "RegisterNode with a NUL label",
            telemetry
                .register_node(pb::RegisterNodeRequest {
                    node_id: "n".into(),
                    sku: "rtx-5090".into(),
                    labels: [("zone".to_string(), "a\0".to_string())].into(),
                })
                .await
                .unwrap_err(),
        ),
    ] {
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
    }
    // And the server still serves.
    planner
        .propose(propose_request(1_000_000_000))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_data_is_invalid_argument_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    bad_data_is_invalid_argument(sqlite_store(&dir).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_data_is_invalid_argument_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (schema, options) = postgres_schema(&url).await;
    bad_data_is_invalid_argument(Store::connect_postgres(options).await.unwrap()).await;
    drop_schema(&url, &schema).await;
}

/// Shutdown (issue 16 §5): readiness turns NOT_SERVING at once while calls are still served
/// for the whole drain (it was 21 ms before the port closed), and a call that never ends (an
/// open telemetry stream) cannot hold the server past the shutdown timeout (draining had no
/// deadline and ran past the pod's 30 s grace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_with_readiness_off_then_stops_within_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let drain = Duration::from_millis(1_500);
    let mut server = Running::start_with(
        sqlite_store(&dir).await,
        ServeOptions {
            readiness_interval: Duration::from_millis(100),
            shutdown_drain: drain,
            shutdown_timeout: Duration::from_millis(500),
            ..ServeOptions::default()
        },
    )
    .await;
    let channel = server.channel().await;
    wait_ready(channel.clone()).await;
    // A call in flight that never ends: a telemetry stream the client keeps open.
    let mut telemetry = TelemetryServiceClient::new(channel.clone());
    let (_keep_open, outbound) = tokio::sync::mpsc::channel::<pb::ReportObservationsRequest>(1);
    let _stream = telemetry
        .report_observations(tokio_stream::wrappers::ReceiverStream::new(outbound))
        .await
        .unwrap();

    let stop_sent = std::time::Instant::now();
    let _ = server.stop.take().unwrap().send(());
    let mut planner = PlannerServiceClient::new(channel.clone());
    let mut not_serving = false;
    for _ in 0..100 {
        if readiness_of(channel.clone()).await
            == tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
        {
            not_serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(not_serving, "readiness turns NOT_SERVING at once");
    // Still served during the drain, on the open connection and on a new one.
    planner
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .expect("served during the drain");
    PlannerServiceClient::new(server.channel().await)
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .expect("a new connection is accepted during the drain");
    assert!(
        stop_sent.elapsed() < drain,
        "the checks above ran within the drain"
    );
    assert!(!server.task.is_finished(), "serving until the drain ends");
    // The open stream does not hold the server past drain + timeout (+ margin).
    tokio::time::timeout(Duration::from_secs(30), &mut server.task)
        .await
        .expect("the server stops despite a call that never ends")
        .unwrap()
        .unwrap();
    assert!(stop_sent.elapsed() >= drain, "not before the drain ended");
}
