//! Load on a real `fleet-planner`: observation ingest from many streaming agents, and Propose
//! latency under concurrent clients, through real gRPC on loopback.
//!
//! ```text
//! FLEET_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p fleet-planner --bench load
//! ```
//!
//! Without `FLEET_BENCH_DATABASE_URL` (or `FLEET_TEST_DATABASE_URL`) it runs on a temporary
//! SQLite file. The PostgreSQL run uses a fresh schema and drops it afterwards.

use std::str::FromStr;
use std::time::{Duration, Instant};

use fleet_planner::server::{ServeOptions, serve};
use fleet_proto::v1 as pb;
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_proto::v1::telemetry_service_client::TelemetryServiceClient;
use fleet_store::Store;
use tonic::transport::Channel;

const AGENTS: usize = 16;
const BATCHES_PER_AGENT: usize = 40;
const OBSERVATIONS_PER_BATCH: usize = 500;
const PROPOSE_CLIENTS: usize = 16;
const PROPOSES_PER_CLIENT: usize = 25;

fn observation(node: &str, seq: u64) -> pb::Observation {
    pb::Observation {
        node_id: node.to_string(),
        seq,
        sku: "rtx-5090".into(),
        model: "deepseek-v4-pro".into(),
        quant: "Q4_K_M".into(),
        worker_url: "http://127.0.0.1:8080".into(),
        window_start_unix_ms: 1_000 * seq as i64,
        window_end_unix_ms: 1_000 * seq as i64 + 1_000,
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
    }
}

async fn connect(address: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("server accepts connections")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let url = std::env::var("FLEET_BENCH_DATABASE_URL")
        .or_else(|_| std::env::var("FLEET_TEST_DATABASE_URL"))
        .ok()
        .filter(|u| !u.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let (store, schema) = match &url {
        Some(url) => {
            let schema = format!("bench_{}", std::process::id());
            let admin = sqlx::PgPool::connect(url)
                .await
                .expect("PostgreSQL answers");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .unwrap()
                .options([("search_path", schema.as_str())]);
            (
                Store::connect_postgres(options).await.unwrap(),
                Some(schema),
            )
        }
        None => {
            let url = format!("sqlite:{}", dir.path().join("bench.db").display());
            (Store::connect(&url).await.unwrap(), None)
        }
    };
    println!("backend: {:?}", store.backend());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        None,
        store,
        ServeOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));

    // Ingest: AGENTS streams, each sending BATCHES_PER_AGENT batches and waiting for every ack.
    let started = Instant::now();
    let mut agents = Vec::new();
    for agent in 0..AGENTS {
        let channel = connect(address).await;
        agents.push(tokio::spawn(async move {
            let node = format!("bench-node-{agent}");
            let mut client = TelemetryServiceClient::new(channel);
            let batches: Vec<pb::ReportObservationsRequest> = (0..BATCHES_PER_AGENT)
                .map(|b| pb::ReportObservationsRequest {
                    observations: (0..OBSERVATIONS_PER_BATCH)
                        .map(|i| observation(&node, (b * OBSERVATIONS_PER_BATCH + i + 1) as u64))
                        .collect(),
                })
                .collect();
            let mut acks = client
                .report_observations(tokio_stream::iter(batches))
                .await
                .unwrap()
                .into_inner();
            let mut inserted = 0;
            let mut last = 0;
            while let Some(ack) = acks.message().await.unwrap() {
                inserted += ack.inserted;
                last = ack.acked_through_seq;
            }
            (inserted, last)
        }));
    }
    let mut inserted = 0;
    for agent in agents {
        let (n, last) = agent.await.unwrap();
        assert_eq!(last, (BATCHES_PER_AGENT * OBSERVATIONS_PER_BATCH) as u64);
        inserted += n;
    }
    let elapsed = started.elapsed();
    let total = (AGENTS * BATCHES_PER_AGENT * OBSERVATIONS_PER_BATCH) as u64;
    assert_eq!(inserted, total, "every observation stored exactly once");
    println!(
        "ingest: {total} observations from {AGENTS} streaming agents ({OBSERVATIONS_PER_BATCH}/batch) in {:.2} s = {:.0} observations/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );

    // Propose under concurrent clients.
    let started = Instant::now();
    let mut clients = Vec::new();
    for client in 0..PROPOSE_CLIENTS {
        let channel = connect(address).await;
        clients.push(tokio::spawn(async move {
            let mut planner = PlannerServiceClient::new(channel);
            let mut latencies = Vec::new();
            for i in 0..PROPOSES_PER_CLIENT {
                let request = pb::ProposeRequest {
                    workloads: vec![pb::Workload {
                        name: format!("w{client}-{i}"),
                        monthly_tokens: 1_000_000_000 + (client * 1_000 + i) as u64 * 1_000_000,
                        local_only: i % 2 == 0,
                        ttft_p95_ms: 2_000.0,
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                let t = Instant::now();
                planner.propose(request).await.unwrap();
                latencies.push(t.elapsed().as_secs_f64() * 1_000.0);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort_by(f64::total_cmp);
    println!(
        "propose: {} calls from {PROPOSE_CLIENTS} concurrent clients in {:.2} s ({:.0}/s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );

    // Client and server share this process, so its peak RSS bounds the planner's.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    println!(
        "memory: peak RSS (VmHWM) {:.0} MB, now {:.0} MB, for planner and all clients together",
        kb("VmHWM:") / 1024.0,
        kb("VmRSS:") / 1024.0
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
    if let (Some(url), Some(schema)) = (url, schema) {
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
    }
}
