//! One conformance suite for every backend: each behaviour below runs on SQLite (a temp file,
//! always) and on PostgreSQL when `FLEET_TEST_DATABASE_URL` (or a `postgres://` `DATABASE_URL`)
//! is set. Every PostgreSQL test runs in a fresh schema that it drops afterwards, so runs and
//! parallel tests never see each other's rows.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fleet_store::{
    ApiOfferRow, Backend, BenchmarkRow, HardwareRow, OBSERVATIONS_PER_STATEMENT, ObservationFilter,
    ObservationRow, PlanRow, Store, StoreError,
};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

// ---------------------------------------------------------------------------------------------
// Harness

/// Where a test's database lives, so it can be reopened and cleaned up.
#[derive(Clone)]
enum Location {
    Sqlite { url: String },
    Postgres { url: String, schema: String },
}

#[derive(Clone)]
struct Harness {
    store: Store,
    location: Location,
}

impl Harness {
    /// Closes the pool and connects again to the same database, as a restarted server would.
    async fn reopen(&self) -> Harness {
        self.store.close().await;
        let store = match &self.location {
            Location::Sqlite { url } => Store::connect(url).await.expect("reopen sqlite"),
            Location::Postgres { url, schema } => Store::connect_postgres(pg_options(url, schema))
                .await
                .expect("reopen postgres"),
        };
        Harness {
            store,
            location: self.location.clone(),
        }
    }
}

fn postgres_url() -> Option<String> {
    std::env::var("FLEET_TEST_DATABASE_URL")
        .ok()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn pg_options(url: &str, schema: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url)
        .expect("postgres url parses")
        .options([("search_path", schema)])
}

/// Runs `body` against a fresh SQLite file.
async fn run_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let path: PathBuf = dir.path().join("fleet.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.expect("connect sqlite");
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(path.exists(), "the sqlite file is created on connect");
    let outcome = tokio::spawn(body(Harness {
        store,
        location: Location::Sqlite { url },
    }))
    .await;
    drop(dir);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Runs `body` against a fresh schema of the PostgreSQL database, then drops the schema, even
/// when the body panics.
async fn run_postgres<F, Fut>(body: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = postgres_url() else {
        eprintln!("skipping postgres conformance: FLEET_TEST_DATABASE_URL not set");
        return;
    };
    let schema = format!("t_{}", unique_suffix());
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("FLEET_TEST_DATABASE_URL is set but the database is unreachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create test schema");
    let connected = Store::connect_postgres(pg_options(&url, &schema)).await;
    let outcome = match connected {
        Ok(store) => {
            assert_eq!(store.backend(), Backend::Postgres);
            let harness = Harness {
                store: store.clone(),
                location: Location::Postgres {
                    url: url.clone(),
                    schema: schema.clone(),
                },
            };
            let outcome = tokio::spawn(body(harness)).await;
            store.close().await;
            outcome.map_err(|error| error.into_panic())
        }
        Err(error) => Err(Box::new(format!("connect postgres: {error}")) as Box<_>),
    };
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .expect("drop test schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Expands each named behaviour into a `sqlite` and a `postgres` test.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::run_sqlite(super::$name).await;
                }

                #[tokio::test]
                async fn postgres() {
                    super::run_postgres(super::$name).await;
                }
            }
        )*
    };
}

conformance!(
    fresh_database_is_migrated_and_empty,
    hardware_upsert_replaces_and_delete_unknown_is_not_found,
    benchmarks_are_keyed_by_configuration,
    deleting_hardware_removes_its_benchmarks,
    api_offers_round_trip,
    catalog_meta_is_versioned,
    plans_round_trip_and_ids_are_unique,
    plans_page_newest_first,
    nodes_keep_first_registration,
    observations_are_idempotent_by_node_and_seq,
    observations_batch_past_one_statement,
    contiguous_seq_stops_at_the_first_gap,
    observations_filter_and_round_trip,
    observations_reject_unstorable_values,
    values_the_database_refuses_are_invalid_data,
    the_catalog_is_seeded_once_and_whole,
    data_survives_reopening,
    physics_specs_round_trip_given_and_not_given,
);

// ---------------------------------------------------------------------------------------------
// Fixtures

fn hardware(id: &str, price_usd: f64) -> HardwareRow {
    HardwareRow {
        id: id.to_string(),
        name: format!("{id} node"),
        accelerators: 2,
        memory_per_device_gb: 32.0,
        unified_memory: false,
        price_usd,
        power_full_w: 1_150.5,
        power_idle_w: 95.25,
        backend: "cuda".to_string(),
        memory_bandwidth_gb_s: Some(1_792.0),
        compute_tflops: Some(104.8),
        host_ram_gb: Some(128.0),
        host_ram_bandwidth_gb_s: Some(89.6),
        host_link_gb_s: Some(63.0),
        disk_read_gb_s: Some(14.5),
        provenance_json: r#"{"source":"test"}"#.to_string(),
    }
}

fn benchmark(sku: &str, quant: &str, concurrency: u32) -> BenchmarkRow {
    BenchmarkRow {
        sku: sku.to_string(),
        model: "qwen3-32b".to_string(),
        quant: quant.to_string(),
        concurrency,
        devices_used: 1,
        vram_used_gb: 21.5,
        decode_tok_s: 61.25,
        prefill_tok_s: 2_900.0,
        power_w: 540.0,
        offload: false,
        context_tokens: Some(8_192),
        provenance_json: "{}".to_string(),
    }
}

fn api_offer(id: &str) -> ApiOfferRow {
    ApiOfferRow {
        id: id.to_string(),
        name: "Hosted".to_string(),
        model: "qwen3-32b".to_string(),
        input_usd_per_million: 0.4,
        output_usd_per_million: 1.2,
        ttft_p50_ms: 350.0,
        ttft_p95_ms: 900.0,
        provenance_json: "{}".to_string(),
    }
}

fn plan(id: &str, created_at_unix_ms: i64) -> PlanRow {
    PlanRow {
        id: id.to_string(),
        created_at_unix_ms,
        catalog_version: "2026-05+3".to_string(),
        throughput_version: "catalog".to_string(),
        request_json: r#"{"workloads":[{"name":"chat","monthly_tokens":1500000000}]}"#.to_string(),
        plan_json: format!(
            r#"{{"id":"{id}","cost":{{"total_usd":1234.5}},"notes":["ünïcode ✓"]}}"#
        ),
        total_usd: 1_234.5,
    }
}

fn observation(node_id: &str, seq: u64) -> ObservationRow {
    ObservationRow {
        node_id: node_id.to_string(),
        seq,
        sku: "rtx-5090".to_string(),
        model: "qwen3-32b".to_string(),
        quant: "Q4_K_M".to_string(),
        worker_url: "http://127.0.0.1:8080".to_string(),
        window_start_unix_ms: 1_700_000_000_000 + (seq as i64) * 60_000,
        window_end_unix_ms: 1_700_000_060_000 + (seq as i64) * 60_000,
        prompt_tokens: 120_000,
        predicted_tokens: 9_000,
        prompt_seconds: 41.5,
        predicted_seconds: 150.0,
        prefill_tok_s: 2_891.566,
        decode_tok_s: 60.0,
        aggregate_decode_tok_s: 150.0,
        mean_concurrency: 2.5,
        queue_depth: 0.0,
        cache_hit_rate: 0.25,
        power_w: Some(512.5),
        kind: "passive".to_string(),
        concurrency: 4,
        received_at_unix_ms: 1_700_000_100_000 + seq as i64,
    }
}

fn is_not_found(result: &Result<u64, StoreError>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

// ---------------------------------------------------------------------------------------------
// Behaviours

async fn fresh_database_is_migrated_and_empty(h: Harness) {
    let store = &h.store;
    store.ping().await.expect("ping");
    assert!(store.catalog_is_empty().await.unwrap());
    assert_eq!(store.catalog_version().await.unwrap(), 0);
    assert!(store.list_hardware().await.unwrap().is_empty());
    assert!(store.list_plans(10, None).await.unwrap().is_empty());
    assert_eq!(store.count_observations(None).await.unwrap(), 0);
    assert_eq!(store.max_acked_seq("nobody").await.unwrap(), 0);
    // Connecting again runs the migrator over an up-to-date schema: nothing to do, no error.
    let again = h.reopen().await;
    again.store.ping().await.expect("ping after reopen");
    assert_eq!(again.store.catalog_version().await.unwrap(), 0);
}

async fn hardware_upsert_replaces_and_delete_unknown_is_not_found(h: Harness) {
    let store = &h.store;
    assert_eq!(
        store
            .upsert_hardware(&hardware("rtx-5090", 3_999.0))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .upsert_hardware(&hardware("m3-ultra", 9_499.0))
            .await
            .unwrap(),
        2
    );
    assert!(!store.catalog_is_empty().await.unwrap());

    let mut replaced = hardware("rtx-5090", 4_299.99);
    replaced.unified_memory = true;
    replaced.accelerators = 4;
    assert_eq!(store.upsert_hardware(&replaced).await.unwrap(), 3);

    let listed = store.list_hardware().await.unwrap();
    assert_eq!(listed.len(), 2, "upsert replaces instead of adding");
    assert_eq!(listed[0], hardware("m3-ultra", 9_499.0), "ordered by id");
    assert_eq!(listed[1], replaced);

    assert_eq!(store.delete_hardware("m3-ultra").await.unwrap(), 4);
    let missing = store.delete_hardware("m3-ultra").await;
    assert!(is_not_found(&missing), "{missing:?}");
    assert_eq!(
        store.catalog_version().await.unwrap(),
        4,
        "a failed delete does not bump"
    );
    assert_eq!(store.list_hardware().await.unwrap(), vec![replaced]);

    let empty_id = store.upsert_hardware(&hardware("  ", 1.0)).await;
    assert!(
        matches!(empty_id, Err(StoreError::Invalid { field: "id", .. })),
        "{empty_id:?}"
    );
}

async fn benchmarks_are_keyed_by_configuration(h: Harness) {
    let store = &h.store;
    store
        .upsert_hardware(&hardware("rtx-5090", 3_999.0))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("rtx-5090", "Q4_K_M", 1))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("rtx-5090", "Q4_K_M", 4))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("rtx-5090", "Q8_0", 1))
        .await
        .unwrap();
    let mut faster = benchmark("rtx-5090", "Q4_K_M", 4);
    faster.decode_tok_s = 48.0;
    faster.offload = true;
    let version = store.upsert_benchmark(&faster).await.unwrap();
    assert_eq!(version, 5);

    let listed = store.list_benchmarks().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[1], faster, "same key replaces");
    assert_eq!(listed[0].concurrency, 1);
    assert_eq!(listed[2].quant, "Q8_0");

    assert_eq!(store.delete_benchmark(&faster.key()).await.unwrap(), 6);
    let missing = store.delete_benchmark(&faster.key()).await;
    match missing {
        Err(StoreError::NotFound { what, id }) => {
            assert_eq!(what, "benchmark");
            assert_eq!(id, "rtx-5090/qwen3-32b/Q4_K_M@4");
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(store.list_benchmarks().await.unwrap().len(), 2);
}

async fn deleting_hardware_removes_its_benchmarks(h: Harness) {
    let store = &h.store;
    store.upsert_hardware(&hardware("a", 1.0)).await.unwrap();
    store.upsert_hardware(&hardware("b", 1.0)).await.unwrap();
    store
        .upsert_benchmark(&benchmark("a", "Q4_K_M", 1))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("b", "Q4_K_M", 1))
        .await
        .unwrap();
    store.delete_hardware("a").await.unwrap();
    let left = store.list_benchmarks().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].sku, "b");
}

async fn api_offers_round_trip(h: Harness) {
    let store = &h.store;
    let offer = api_offer("hosted-qwen");
    assert_eq!(store.upsert_api_offer(&offer).await.unwrap(), 1);
    let mut cheaper = offer.clone();
    cheaper.output_usd_per_million = 0.95;
    cheaper.provenance_json = r#"{"source":"price page 2026-05"}"#.to_string();
    assert_eq!(store.upsert_api_offer(&cheaper).await.unwrap(), 2);
    assert_eq!(store.list_api_offers().await.unwrap(), vec![cheaper]);
    assert!(!store.catalog_is_empty().await.unwrap());
    assert_eq!(store.delete_api_offer("hosted-qwen").await.unwrap(), 3);
    assert!(is_not_found(&store.delete_api_offer("hosted-qwen").await));
    assert!(store.catalog_is_empty().await.unwrap());
}

async fn catalog_meta_is_versioned(h: Harness) {
    let store = &h.store;
    assert_eq!(store.get_meta("seeded_from").await.unwrap(), None);
    assert_eq!(store.set_meta("seeded_from", "2026-05").await.unwrap(), 1);
    assert_eq!(store.set_meta("seeded_from", "2026-06").await.unwrap(), 2);
    assert_eq!(
        store.get_meta("seeded_from").await.unwrap().as_deref(),
        Some("2026-06")
    );
    let counter = store.set_meta("catalog_version", "99").await;
    assert!(
        matches!(counter, Err(StoreError::Invalid { field: "key", .. })),
        "{counter:?}"
    );
    assert_eq!(store.catalog_version().await.unwrap(), 2);
    assert_eq!(
        store.get_meta("catalog_version").await.unwrap().as_deref(),
        Some("2")
    );
}

async fn plans_round_trip_and_ids_are_unique(h: Harness) {
    let store = &h.store;
    let stored = plan("p-1", 1_700_000_000_123);
    store.insert_plan(&stored).await.unwrap();
    assert_eq!(store.get_plan("p-1").await.unwrap(), Some(stored.clone()));
    assert_eq!(store.get_plan("p-unknown").await.unwrap(), None);

    let mut again = stored.clone();
    again.total_usd = 1.0;
    let duplicate = store.insert_plan(&again).await;
    assert!(
        matches!(&duplicate, Err(StoreError::AlreadyExists { what: "plan", id }) if id == "p-1"),
        "{duplicate:?}"
    );
    assert_eq!(
        store.get_plan("p-1").await.unwrap(),
        Some(stored),
        "plans are immutable"
    );
    assert_eq!(store.count_plans().await.unwrap(), 1);
}

async fn plans_page_newest_first(h: Harness) {
    let store = &h.store;
    // Inserted out of order, with two plans sharing a timestamp (ties break by id, descending).
    for (id, at) in [("c", 300), ("a", 100), ("e", 500), ("d", 300), ("b", 200)] {
        store.insert_plan(&plan(id, at)).await.unwrap();
    }
    let first = store.list_plans(2, None).await.unwrap();
    let ids: Vec<&str> = first.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["e", "d"]);
    assert_eq!(first[0].created_at_unix_ms, 500);
    assert_eq!(first[0].total_usd, 1_234.5);
    assert_eq!(first[0].catalog_version, "2026-05+3");

    let second = store.list_plans(2, Some(&first[1].cursor())).await.unwrap();
    let ids: Vec<&str> = second.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        ["c", "b"],
        "the tie at 300 continues with the smaller id"
    );

    let third = store
        .list_plans(2, Some(&second[1].cursor()))
        .await
        .unwrap();
    let ids: Vec<&str> = third.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a"]);
    assert!(
        store
            .list_plans(2, Some(&third[0].cursor()))
            .await
            .unwrap()
            .is_empty()
    );

    let all = store.list_plans(100, None).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["e", "d", "c", "b", "a"]);
}

async fn nodes_keep_first_registration(h: Harness) {
    let store = &h.store;
    let first = store
        .register_node("gpu-01", "rtx-5090", r#"{"zone":"a"}"#, 1_000)
        .await
        .unwrap();
    assert_eq!(first.registered_at_unix_ms, 1_000);
    assert_eq!(first.last_seen_unix_ms, 1_000);

    let again = store
        .register_node("gpu-01", "rtx-5090", r#"{"zone":"b"}"#, 5_000)
        .await
        .unwrap();
    assert_eq!(
        again.registered_at_unix_ms, 1_000,
        "first registration is kept"
    );
    assert_eq!(again.last_seen_unix_ms, 5_000);
    assert_eq!(again.labels_json, r#"{"zone":"b"}"#);
    assert_eq!(store.get_node("gpu-01").await.unwrap(), Some(again));
    assert_eq!(store.get_node("gpu-02").await.unwrap(), None);

    // An observation received later moves last_seen forward; an older one does not move it back.
    let mut newer = observation("gpu-01", 1);
    newer.received_at_unix_ms = 9_000;
    let mut older = observation("gpu-01", 2);
    older.received_at_unix_ms = 2_000;
    store.insert_observations(&[newer, older]).await.unwrap();
    let seen = store.get_node("gpu-01").await.unwrap().unwrap();
    assert_eq!(seen.last_seen_unix_ms, 9_000);
    assert_eq!(store.list_nodes().await.unwrap().len(), 1);

    let empty = store.register_node("", "rtx-5090", "{}", 1).await;
    assert!(
        matches!(
            empty,
            Err(StoreError::Invalid {
                field: "node_id",
                ..
            })
        ),
        "{empty:?}"
    );
}

async fn observations_are_idempotent_by_node_and_seq(h: Harness) {
    let store = &h.store;
    let batch: Vec<ObservationRow> = (1..=10).map(|seq| observation("gpu-01", seq)).collect();
    assert_eq!(store.insert_observations(&batch).await.unwrap(), 10);
    assert_eq!(
        store.insert_observations(&batch).await.unwrap(),
        0,
        "a resend stores nothing"
    );
    assert_eq!(store.count_observations(Some("gpu-01")).await.unwrap(), 10);

    // A resend that overlaps the stored range stores only the new tail; the stored rows keep
    // their first contents.
    let mut overlap: Vec<ObservationRow> = (8..=15).map(|seq| observation("gpu-01", seq)).collect();
    overlap[0].decode_tok_s = 1.0;
    assert_eq!(store.insert_observations(&overlap).await.unwrap(), 5);
    assert_eq!(store.count_observations(None).await.unwrap(), 15);
    let eighth = store
        .list_observations(&ObservationFilter {
            node_id: Some("gpu-01".to_string()),
            limit: Some(8),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(eighth[7].seq, 8);
    assert_eq!(
        eighth[7].decode_tok_s, 60.0,
        "a duplicate does not overwrite"
    );

    // Duplicates inside one batch count once; the same seq on another node is a different row.
    let within = vec![
        observation("gpu-02", 1),
        observation("gpu-02", 1),
        observation("gpu-01", 16),
    ];
    assert_eq!(store.insert_observations(&within).await.unwrap(), 2);
    assert_eq!(store.count_observations(None).await.unwrap(), 17);
    assert_eq!(store.max_acked_seq("gpu-01").await.unwrap(), 16);
    assert_eq!(store.max_acked_seq("gpu-02").await.unwrap(), 1);
    assert_eq!(store.insert_observations(&[]).await.unwrap(), 0);
}

async fn observations_batch_past_one_statement(h: Harness) {
    let store = &h.store;
    let count = OBSERVATIONS_PER_STATEMENT as u64 * 3 + 7;
    let batch: Vec<ObservationRow> = (1..=count).map(|seq| observation("gpu-01", seq)).collect();
    assert_eq!(store.insert_observations(&batch).await.unwrap(), count);
    assert_eq!(
        store.count_observations(Some("gpu-01")).await.unwrap(),
        count
    );
    assert_eq!(store.max_acked_seq("gpu-01").await.unwrap(), count);
    assert_eq!(store.insert_observations(&batch).await.unwrap(), 0);
    assert_eq!(store.count_observations(None).await.unwrap(), count);
}

async fn contiguous_seq_stops_at_the_first_gap(h: Harness) {
    let store = &h.store;
    assert_eq!(store.contiguous_seq_through("gpu-01", 0).await.unwrap(), 0);
    // 2..=5 without 1: nothing is contiguous from the start.
    let batch: Vec<ObservationRow> = (2..=5).map(|seq| observation("gpu-01", seq)).collect();
    store.insert_observations(&batch).await.unwrap();
    assert_eq!(store.contiguous_seq_through("gpu-01", 0).await.unwrap(), 0);
    store
        .insert_observations(&[observation("gpu-01", 1), observation("gpu-01", 7)])
        .await
        .unwrap();
    assert_eq!(store.contiguous_seq_through("gpu-01", 0).await.unwrap(), 5);
    // Starting from a known point gives the same answer; another node is separate.
    assert_eq!(store.contiguous_seq_through("gpu-01", 3).await.unwrap(), 5);
    assert_eq!(store.contiguous_seq_through("gpu-02", 0).await.unwrap(), 0);
    // Past one page of 4,096: the walk continues across pages.
    let long: Vec<ObservationRow> = (6..=9_000).map(|seq| observation("gpu-01", seq)).collect();
    store.insert_observations(&long).await.unwrap();
    assert_eq!(
        store.contiguous_seq_through("gpu-01", 0).await.unwrap(),
        9_000
    );
}

async fn observations_filter_and_round_trip(h: Harness) {
    let store = &h.store;
    let mut probe = observation("gpu-01", 1);
    probe.kind = "probe".to_string();
    probe.power_w = None;
    probe.prompt_tokens = u64::try_from(i64::MAX).unwrap();
    let mut q8 = observation("gpu-01", 2);
    q8.quant = "Q8_0".to_string();
    let mut other_node = observation("gpu-02", 1);
    other_node.concurrency = 8;
    store
        .insert_observations(&[probe.clone(), q8.clone(), other_node.clone()])
        .await
        .unwrap();

    let all = store
        .list_observations(&ObservationFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![probe.clone(), q8.clone(), other_node.clone()],
        "round trip, by node and seq"
    );

    let by_quant = store
        .list_observations(&ObservationFilter {
            quant: Some("Q8_0".to_string()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_quant, vec![q8.clone()]);

    let by_config = store
        .list_observations(&ObservationFilter {
            sku: Some("rtx-5090".to_string()),
            model: Some("qwen3-32b".to_string()),
            quant: Some("Q4_K_M".to_string()),
            concurrency: Some(8),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_config, vec![other_node]);

    let recent = store
        .list_observations(&ObservationFilter {
            window_end_since_unix_ms: Some(q8.window_end_unix_ms),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        recent,
        vec![q8],
        "only windows ending at or after the bound"
    );
}

async fn observations_reject_unstorable_values(h: Harness) {
    let store = &h.store;
    let zero = store.insert_observations(&[observation("gpu-01", 0)]).await;
    assert!(
        matches!(zero, Err(StoreError::Invalid { field: "seq", .. })),
        "{zero:?}"
    );
    let huge = store
        .insert_observations(&[observation("gpu-01", u64::MAX)])
        .await;
    assert!(
        matches!(huge, Err(StoreError::Invalid { field: "seq", .. })),
        "{huge:?}"
    );
    // A bad row anywhere in the batch stores nothing from it.
    let mixed = vec![observation("gpu-01", 1), observation("", 2)];
    let rejected = store.insert_observations(&mixed).await;
    assert!(
        matches!(
            rejected,
            Err(StoreError::Invalid {
                field: "node_id",
                ..
            })
        ),
        "{rejected:?}"
    );
    assert_eq!(store.count_observations(None).await.unwrap(), 0);
}

/// Seeders that run at once (several processes on a fresh database) take turns: exactly one
/// inserts the rows, the version moves once, and a catalog that has rows but no seed key keeps
/// its rows (a database from before the key) and only gets the key.
async fn the_catalog_is_seeded_once_and_whole(h: Harness) {
    let store = &h.store;
    let hardware_rows = [hardware("a", 1.0), hardware("b", 2.0)];
    let benchmarks = [benchmark("a", "Q4_K_M", 1)];
    let apis = [api_offer("api")];
    let version_before = store.catalog_version().await.unwrap();
    let mut seeders = Vec::new();
    for _ in 0..4 {
        let store = h.store.clone();
        let (hardware_rows, benchmarks, apis) =
            (hardware_rows.clone(), benchmarks.clone(), apis.clone());
        seeders.push(tokio::spawn(async move {
            store
                .seed_catalog("seeded_from", "v1", &hardware_rows, &benchmarks, &apis)
                .await
        }));
    }
    let mut inserted = Vec::new();
    for seeder in seeders {
        inserted.push(seeder.await.unwrap().unwrap());
    }
    assert_eq!(inserted.iter().filter(|i| **i).count(), 1, "{inserted:?}");
    assert_eq!(store.list_hardware().await.unwrap().len(), 2);
    assert_eq!(store.list_benchmarks().await.unwrap().len(), 1);
    assert_eq!(store.list_api_offers().await.unwrap().len(), 1);
    assert_eq!(store.catalog_version().await.unwrap(), version_before + 1);
    assert_eq!(
        store.get_meta("seeded_from").await.unwrap().as_deref(),
        Some("v1")
    );

    // A catalog with rows and no key: rows kept as they are, key set.
    let reopened = h.reopen().await;
    let other = reopened.store.clone();
    other.upsert_hardware(&hardware("c", 3.0)).await.unwrap();
    let fresh = !other
        .seed_catalog("seeded_again", "v2", &hardware_rows, &[], &[])
        .await
        .unwrap();
    assert!(fresh, "a non-empty catalog is not seeded");
    assert_eq!(other.list_hardware().await.unwrap().len(), 3);
    assert_eq!(
        other.get_meta("seeded_again").await.unwrap().as_deref(),
        Some("v2")
    );
}

/// A value the backend cannot store is the caller's fault, never an outage (issue 16 §5): on
/// PostgreSQL a NUL byte in TEXT (SQLSTATE 22021) and a 1 MB key past the index's size limit
/// (54000) are [`StoreError::InvalidData`], where they were database errors (UNAVAILABLE);
/// SQLite stores both.
async fn values_the_database_refuses_are_invalid_data(h: Harness) {
    let store = &h.store;
    // Incompressible, so PostgreSQL cannot squeeze it under the index limit.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let huge_id: String = (0..1_000_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    let outcomes = [
        (
            "a NUL in a hardware id",
            store
                .upsert_hardware(&hardware("a\0b", 1.0))
                .await
                .map(drop),
        ),
        (
            "a NUL in a plan id",
            store.insert_plan(&plan("p\0q", 1)).await,
        ),
        (
            "a 1 MB plan id",
            store.insert_plan(&plan(&huge_id, 2)).await,
        ),
        (
            "a NUL in a looked-up id",
            store.get_plan("p\0x").await.map(drop),
        ),
    ];
    for (what, outcome) in outcomes {
        match (store.backend(), outcome) {
            (Backend::Postgres, Err(StoreError::InvalidData { reason })) => {
                assert!(!reason.is_empty(), "{what}");
            }
            (Backend::Sqlite, Ok(())) => {}
            (backend, other) => panic!("{what} on {backend:?}: {other:?}"),
        }
    }
    // The store still works.
    store.insert_plan(&plan("after", 3)).await.unwrap();
}

/// Specs and the benchmark context are nullable: `None` (not given) and `Some` both survive a
/// write and a read, and an upsert can take a given spec back to not given.
async fn physics_specs_round_trip_given_and_not_given(h: Harness) {
    let store = &h.store;
    let mut bare = hardware("bare", 1_000.0);
    bare.memory_bandwidth_gb_s = None;
    bare.compute_tflops = None;
    bare.host_ram_gb = None;
    bare.host_ram_bandwidth_gb_s = None;
    bare.host_link_gb_s = None;
    bare.disk_read_gb_s = None;
    let mut mixed = hardware("mixed", 2_000.0);
    mixed.compute_tflops = None;
    mixed.host_ram_gb = Some(0.0);
    mixed.disk_read_gb_s = None;
    let full = hardware("full", 3_000.0);
    for row in [&bare, &mixed, &full] {
        store.upsert_hardware(row).await.unwrap();
    }
    assert_eq!(
        store.list_hardware().await.unwrap(),
        vec![bare.clone(), full.clone(), mixed.clone()]
    );
    // Replacing a given spec with not given clears it.
    let mut cleared = full.clone();
    cleared.memory_bandwidth_gb_s = None;
    cleared.host_link_gb_s = None;
    store.upsert_hardware(&cleared).await.unwrap();
    let listed = store.list_hardware().await.unwrap();
    assert_eq!(listed[1], cleared);

    let mut no_context = benchmark("full", "Q4_K_M", 1);
    no_context.context_tokens = None;
    let mut long_context = benchmark("full", "Q4_K_M", 2);
    long_context.context_tokens = Some(u32::MAX);
    store.upsert_benchmark(&no_context).await.unwrap();
    store.upsert_benchmark(&long_context).await.unwrap();
    assert_eq!(
        store.list_benchmarks().await.unwrap(),
        vec![no_context.clone(), long_context.clone()]
    );
    let mut given = no_context.clone();
    given.context_tokens = Some(32_768);
    store.upsert_benchmark(&given).await.unwrap();
    let mut none_again = long_context.clone();
    none_again.context_tokens = None;
    store.upsert_benchmark(&none_again).await.unwrap();
    assert_eq!(
        store.list_benchmarks().await.unwrap(),
        vec![given, none_again]
    );
}

async fn data_survives_reopening(h: Harness) {
    let store = &h.store;
    store
        .upsert_hardware(&hardware("rtx-5090", 3_999.0))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("rtx-5090", "Q4_K_M", 1))
        .await
        .unwrap();
    store.upsert_api_offer(&api_offer("hosted")).await.unwrap();
    store.insert_plan(&plan("p-1", 42)).await.unwrap();
    store
        .register_node("gpu-01", "rtx-5090", "{}", 7)
        .await
        .unwrap();
    let batch: Vec<ObservationRow> = (1..=3).map(|seq| observation("gpu-01", seq)).collect();
    store.insert_observations(&batch).await.unwrap();

    let reopened = h.reopen().await;
    let store = &reopened.store;
    assert_eq!(store.catalog_version().await.unwrap(), 3);
    assert_eq!(
        store.list_hardware().await.unwrap(),
        vec![hardware("rtx-5090", 3_999.0)]
    );
    assert_eq!(
        store.list_benchmarks().await.unwrap(),
        vec![benchmark("rtx-5090", "Q4_K_M", 1)]
    );
    assert_eq!(
        store.list_api_offers().await.unwrap(),
        vec![api_offer("hosted")]
    );
    assert_eq!(store.get_plan("p-1").await.unwrap(), Some(plan("p-1", 42)));
    assert_eq!(store.max_acked_seq("gpu-01").await.unwrap(), 3);
    assert_eq!(
        store.insert_observations(&batch).await.unwrap(),
        0,
        "still idempotent after reopening"
    );
    assert!(store.get_node("gpu-01").await.unwrap().is_some());
    store.close().await;
}

// ---------------------------------------------------------------------------------------------
// Upgrades: a database an older build created, migrated forward by today's store

/// The last migration before the physics specs (0004) existed.
const LAST_MIGRATION_BEFORE_SPECS: u32 = 3;

/// Copies the backend's migrations up to and including `through` into a fresh directory and
/// returns the migrator over them: what an older build embedded.
async fn migrator_through(
    backend: &str,
    through: u32,
) -> (tempfile::TempDir, sqlx::migrate::Migrator) {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut copied = 0;
    for entry in std::fs::read_dir(&source).expect("migrations directory") {
        let path = entry.expect("migration entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: u32 = name
            .split('_')
            .next()
            .unwrap()
            .parse()
            .expect("NNNN_ prefix");
        if version <= through {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy migration");
            copied += 1;
        }
    }
    assert_eq!(copied, through, "migrations 0001..={through:04} exist");
    let migrator = sqlx::migrate::Migrator::new(dir.path())
        .await
        .expect("older migrations load");
    (dir, migrator)
}

/// Rows as a build before 0004 wrote them: no spec or context columns exist yet.
const PRE_SPECS_HARDWARE_SQL: &str = "INSERT INTO hardware_skus (id, name, accelerators, \
     memory_per_device_gb, unified_memory, price_usd, power_full_w, power_idle_w, backend, \
     provenance_json) VALUES ('old-rig', 'old-rig node', 2, 32.0, FALSE, 3999.0, 1150.5, 95.25, \
     'cuda', '{\"source\":\"test\"}')";
const PRE_SPECS_BENCHMARK_SQL: &str = "INSERT INTO benchmarks (sku, model, quant, concurrency, \
     devices_used, vram_used_gb, decode_tok_s, prefill_tok_s, power_w, offload, provenance_json) \
     VALUES ('old-rig', 'qwen3-32b', 'Q4_K_M', 1, 1, 21.5, 61.25, 2900.0, 540.0, FALSE, '{}')";
const PRE_SPECS_VERSION_SQL: &str =
    "UPDATE catalog_meta SET value = '2' WHERE key = 'catalog_version'";

/// What the pre-0004 rows read as after the upgrade: every spec and the context not given.
async fn pre_specs_rows_read_as_not_given(store: &Store) {
    let mut expected_hardware = hardware("old-rig", 3_999.0);
    expected_hardware.memory_bandwidth_gb_s = None;
    expected_hardware.compute_tflops = None;
    expected_hardware.host_ram_gb = None;
    expected_hardware.host_ram_bandwidth_gb_s = None;
    expected_hardware.host_link_gb_s = None;
    expected_hardware.disk_read_gb_s = None;
    assert_eq!(
        store.list_hardware().await.unwrap(),
        vec![expected_hardware]
    );
    let mut expected_benchmark = benchmark("old-rig", "Q4_K_M", 1);
    expected_benchmark.context_tokens = None;
    assert_eq!(
        store.list_benchmarks().await.unwrap(),
        vec![expected_benchmark]
    );
    assert_eq!(
        store.catalog_version().await.unwrap(),
        2,
        "the counter is kept"
    );
    // The upgraded tables take given specs too.
    store
        .upsert_hardware(&hardware("old-rig", 3_999.0))
        .await
        .unwrap();
    store
        .upsert_benchmark(&benchmark("old-rig", "Q4_K_M", 1))
        .await
        .unwrap();
    assert_eq!(
        store.list_hardware().await.unwrap(),
        vec![hardware("old-rig", 3_999.0)]
    );
    assert_eq!(
        store.list_benchmarks().await.unwrap(),
        vec![benchmark("old-rig", "Q4_K_M", 1)]
    );
}

async fn upgrade_sqlite() {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let (_migrations, older) = migrator_through("sqlite", LAST_MIGRATION_BEFORE_SPECS).await;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true),
        )
        .await
        .expect("open the old database");
    older.run(&pool).await.expect("older migrations run");
    for sql in [
        PRE_SPECS_HARDWARE_SQL,
        PRE_SPECS_BENCHMARK_SQL,
        PRE_SPECS_VERSION_SQL,
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;

    let store = Store::connect(&url)
        .await
        .expect("today's store upgrades it");
    pre_specs_rows_read_as_not_given(&store).await;
    store.close().await;
}

async fn upgrade_postgres() {
    use sqlx::postgres::PgPoolOptions;
    let Some(url) = postgres_url() else {
        eprintln!("skipping postgres upgrade: FLEET_TEST_DATABASE_URL not set");
        return;
    };
    let schema = format!("t_{}", unique_suffix());
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("FLEET_TEST_DATABASE_URL is set but the database is unreachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create test schema");
    let body = {
        let (url, schema) = (url.clone(), schema.clone());
        async move {
            let (_migrations, older) =
                migrator_through("postgres", LAST_MIGRATION_BEFORE_SPECS).await;
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(pg_options(&url, &schema))
                .await
                .expect("open the old schema");
            older.run(&pool).await.expect("older migrations run");
            for sql in [
                PRE_SPECS_HARDWARE_SQL,
                PRE_SPECS_BENCHMARK_SQL,
                PRE_SPECS_VERSION_SQL,
            ] {
                sqlx::query(sql).execute(&pool).await.expect(sql);
            }
            pool.close().await;
            let store = Store::connect_postgres(pg_options(&url, &schema))
                .await
                .expect("today's store upgrades it");
            pre_specs_rows_read_as_not_given(&store).await;
            store.close().await;
        }
    };
    let outcome = tokio::spawn(body).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await
        .expect("drop test schema");
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

mod a_database_from_before_the_specs_upgrades_with_specs_not_given {
    #[tokio::test]
    async fn sqlite() {
        super::upgrade_sqlite().await;
    }

    #[tokio::test]
    async fn postgres() {
        super::upgrade_postgres().await;
    }
}
