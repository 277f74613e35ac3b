//! Hostile input against the real server (issue 7, item 2): every RPC of
//! `fleet.v1.PlannerService` and `fleet.v1.TelemetryService` gets a table of bad values, one
//! row per field and kind of badness. Each row names the status code it must get and the
//! substrings its message must carry (the field path and, where sensible, the bad value).
//! After the table the server must still serve, and nothing a rejected call touched may have
//! changed: the stored plans, the catalog and the throughput model.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use fleet_planner::server::{ServeOptions, serve};
use fleet_proto::v1 as pb;
use fleet_proto::v1::planner_service_client::PlannerServiceClient;
use fleet_proto::v1::telemetry_service_client::TelemetryServiceClient;
use fleet_store::Store;
use tokio::sync::oneshot;
use tonic::Code;
use tonic::transport::Channel;

/// Longest any single hostile call may take before the test calls it a hang.
const CALL_LIMIT: Duration = Duration::from_secs(60);

struct Running {
    grpc: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &tempfile::TempDir) -> Running {
    let url = format!("sqlite:{}", dir.path().join("hostile.db").display());
    let store = Store::connect(&url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        None,
        store,
        ServeOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    Running { grpc, stop, task }
}

async fn connect(addr: SocketAddr) -> Channel {
    let endpoint = format!("http://{addr}");
    for _ in 0..200 {
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

/// One RPC call with its request.
#[derive(Debug, Clone)]
enum Call {
    Propose(pb::ProposeRequest),
    GetPlan(String),
    RerunPlan(String),
    ListPlans(u32, String),
    GetSchedule(String, u32),
    UpsertHardware(Option<pb::HardwareSku>),
    DeleteHardware(String),
    UpsertBenchmark(Option<pb::Benchmark>),
    DeleteBenchmark(pb::DeleteBenchmarkRequest),
    UpsertApiOffer(Option<pb::ApiOffer>),
    DeleteApiOffer(String),
    RegisterNode(pb::RegisterNodeRequest),
    /// One batch on a fresh ReportObservations stream; the first reply must be the error.
    Report(Vec<pb::Observation>),
}

struct Row {
    what: String,
    call: Call,
    code: Code,
    /// Substrings the status message must contain.
    needles: Vec<String>,
}

fn row(what: impl Into<String>, call: Call, code: Code, needles: &[&str]) -> Row {
    Row {
        what: what.into(),
        call,
        code,
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// Codes tonic may use for a message over the decoding limit; both are clean refusals.
const TOO_LARGE: [Code; 2] = [Code::ResourceExhausted, Code::OutOfRange];

async fn call(
    planner: &mut PlannerServiceClient<Channel>,
    telemetry: &mut TelemetryServiceClient<Channel>,
    call: Call,
) -> Result<(), tonic::Status> {
    match call {
        Call::Propose(r) => planner.propose(r).await.map(drop),
        Call::GetPlan(id) => planner.get_plan(pb::GetPlanRequest { id }).await.map(drop),
        Call::RerunPlan(id) => planner
            .rerun_plan(pb::RerunPlanRequest { id })
            .await
            .map(drop),
        Call::ListPlans(page_size, page_token) => planner
            .list_plans(pb::ListPlansRequest {
                page_size,
                page_token,
            })
            .await
            .map(drop),
        Call::GetSchedule(plan_id, hour) => planner
            .get_schedule(pb::GetScheduleRequest { plan_id, hour })
            .await
            .map(drop),
        Call::UpsertHardware(hardware) => planner
            .upsert_hardware(pb::UpsertHardwareRequest { hardware })
            .await
            .map(drop),
        Call::DeleteHardware(id) => planner
            .delete_hardware(pb::DeleteHardwareRequest { id })
            .await
            .map(drop),
        Call::UpsertBenchmark(benchmark) => planner
            .upsert_benchmark(pb::UpsertBenchmarkRequest { benchmark })
            .await
            .map(drop),
        Call::DeleteBenchmark(r) => planner.delete_benchmark(r).await.map(drop),
        Call::UpsertApiOffer(api_offer) => planner
            .upsert_api_offer(pb::UpsertApiOfferRequest { api_offer })
            .await
            .map(drop),
        Call::DeleteApiOffer(id) => planner
            .delete_api_offer(pb::DeleteApiOfferRequest { id })
            .await
            .map(drop),
        Call::RegisterNode(r) => telemetry.register_node(r).await.map(drop),
        Call::Report(observations) => {
            let batch = pb::ReportObservationsRequest { observations };
            let mut acks = telemetry
                .report_observations(tokio_stream::iter(vec![batch]))
                .await?
                .into_inner();
            match acks.message().await? {
                Some(ack) => Err(tonic::Status::ok(format!("unexpected ack {ack:?}"))),
                None => Err(tonic::Status::ok("stream ended without an error")),
            }
        }
    }
}

fn workload(name: &str) -> pb::Workload {
    pb::Workload {
        name: name.to_string(),
        monthly_tokens: 1_000_000_000,
        ..Default::default()
    }
}

fn valid_propose() -> pb::ProposeRequest {
    pb::ProposeRequest {
        workloads: vec![workload("chat")],
        ..Default::default()
    }
}

/// A valid request with its only workload changed by `edit`.
fn with_workload(edit: impl FnOnce(&mut pb::Workload)) -> Call {
    let mut request = valid_propose();
    edit(&mut request.workloads[0]);
    Call::Propose(request)
}

/// A valid request changed by `edit`.
fn with_request(edit: impl FnOnce(&mut pb::ProposeRequest)) -> Call {
    let mut request = valid_propose();
    edit(&mut request);
    Call::Propose(request)
}

fn observation(seq: u64) -> pb::Observation {
    pb::Observation {
        node_id: "hostile-node".into(),
        seq,
        sku: "rtx-5090".into(),
        model: "deepseek-v4-pro".into(),
        quant: "Q4_K_M".into(),
        worker_url: "http://127.0.0.1:8080".into(),
        window_start_unix_ms: 1_700_000_000_000,
        window_end_unix_ms: 1_700_000_060_000,
        prompt_tokens: 1000,
        predicted_tokens: 500,
        prompt_seconds: 1.0,
        predicted_seconds: 10.0,
        prefill_tok_s: 1000.0,
        decode_tok_s: 50.0,
        aggregate_decode_tok_s: 50.0,
        mean_concurrency: 1.0,
        queue_depth: 0.0,
        cache_hit_rate: 0.5,
        power_w: Some(500.0),
        kind: pb::ObservationKind::Passive as i32,
        concurrency: 1,
    }
}

fn with_observation(edit: impl FnOnce(&mut pb::Observation)) -> Call {
    let mut o = observation(1);
    edit(&mut o);
    Call::Report(vec![o])
}

const BAD_FLOATS: [(&str, f64); 4] = [
    ("NaN", f64::NAN),
    ("inf", f64::INFINITY),
    ("-inf", f64::NEG_INFINITY),
    ("-1", -1.0),
];

fn table(
    plan_id: &str,
    hw: &pb::HardwareSku,
    bench: &pb::Benchmark,
    api: &pb::ApiOffer,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let ia = Code::InvalidArgument;

    // ---- Propose: the request as a whole.
    rows.push(row(
        "no workloads",
        with_request(|r| r.workloads.clear()),
        ia,
        &["workloads", "at least one"],
    ));
    rows.push(row(
        "100,000 workloads",
        with_request(|r| {
            r.workloads = (0..100_000).map(|i| workload(&format!("w{i}"))).collect();
        }),
        ia,
        &["workloads", "100000"],
    ));
    rows.push(row(
        "duplicate workload names",
        with_request(|r| r.workloads.push(workload("chat"))),
        ia,
        &["workloads[1].name", "duplicate", "chat"],
    ));

    // ---- Propose: every workload field.
    rows.push(row(
        "empty name",
        with_workload(|w| w.name.clear()),
        ia,
        &["workloads[0].name", "empty"],
    ));
    rows.push(row(
        "blank name",
        with_workload(|w| w.name = "   ".into()),
        ia,
        &["workloads[0].name"],
    ));
    rows.push(row(
        "monthly_tokens u64::MAX",
        with_workload(|w| w.monthly_tokens = u64::MAX),
        ia,
        &["workloads[0].monthly_tokens", &u64::MAX.to_string()],
    ));
    rows.push(row(
        "electricity_usd_per_kwh 1e308",
        with_request(|r| r.electricity_usd_per_kwh = Some(1e308)),
        ia,
        &["electricity_usd_per_kwh", &format!("{}", 1e308)],
    ));
    rows.push(row(
        "zero monthly_tokens",
        with_workload(|w| w.monthly_tokens = 0),
        ia,
        &["workloads[0].monthly_tokens"],
    ));
    for (label, v) in BAD_FLOATS
        .iter()
        .copied()
        .chain([("1.5", 1.5), ("huge", 1e308)])
    {
        rows.push(row(
            format!("input_share {label}"),
            with_workload(|w| w.input_share = Some(v)),
            ia,
            &["workloads[0].input_share", &format!("{v}")],
        ));
    }
    rows.push(row(
        "prompt_tokens 0",
        with_workload(|w| w.prompt_tokens = Some(0)),
        ia,
        &["workloads[0].prompt_tokens", "got 0"],
    ));
    rows.push(row(
        "prompt_tokens u32::MAX",
        with_workload(|w| w.prompt_tokens = Some(u32::MAX)),
        ia,
        &["workloads[0].prompt_tokens", &u32::MAX.to_string()],
    ));
    for (label, v) in BAD_FLOATS {
        rows.push(row(
            format!("ttft_p95_ms {label}"),
            with_workload(|w| w.ttft_p95_ms = v),
            ia,
            &["workloads[0].ttft_p95_ms", &format!("{v}")],
        ));
        rows.push(row(
            format!("min_decode_tok_s {label}"),
            with_workload(|w| w.min_decode_tok_s = Some(v)),
            ia,
            &["workloads[0].min_decode_tok_s", &format!("{v}")],
        ));
        rows.push(row(
            format!("deferrable_share {label}"),
            with_workload(|w| {
                w.deferrable_share = v;
                w.defer_window_start_hour = Some(22);
                w.defer_window_end_hour = Some(6);
            }),
            ia,
            &["workloads[0].deferrable_share", &format!("{v}")],
        ));
    }
    rows.push(row(
        "deferrable_share 1.5",
        with_workload(|w| {
            w.deferrable_share = 1.5;
            w.defer_window_start_hour = Some(22);
            w.defer_window_end_hour = Some(6);
        }),
        ia,
        &["workloads[0].deferrable_share", "1.5"],
    ));
    rows.push(row(
        "deferrable_share without a window",
        with_workload(|w| w.deferrable_share = 0.3),
        ia,
        &["workloads[0].defer_window"],
    ));
    rows.push(row(
        "defer window start 24",
        with_workload(|w| {
            w.defer_window_start_hour = Some(24);
            w.defer_window_end_hour = Some(6);
        }),
        ia,
        &["workloads[0].defer_window_start_hour", "24"],
    ));
    rows.push(row(
        "defer window end u32::MAX",
        with_workload(|w| {
            w.defer_window_start_hour = Some(22);
            w.defer_window_end_hour = Some(u32::MAX);
        }),
        ia,
        &["workloads[0].defer_window_end_hour", &u32::MAX.to_string()],
    ));
    rows.push(row(
        "defer window start only",
        with_workload(|w| w.defer_window_start_hour = Some(22)),
        ia,
        &["workloads[0].defer_window_end_hour", "required"],
    ));
    rows.push(row(
        "defer window end only",
        with_workload(|w| w.defer_window_end_hour = Some(6)),
        ia,
        &["workloads[0].defer_window_start_hour", "required"],
    ));
    rows.push(row(
        "unknown min_quant",
        with_workload(|w| w.min_quant = "Q1_BOGUS".into()),
        ia,
        &["workloads[0].min_quant", "Q1_BOGUS"],
    ));
    rows.push(row(
        "unknown model",
        with_workload(|w| w.model = "gpt-17".into()),
        ia,
        &["workloads[0].model", "gpt-17"],
    ));
    rows.push(row(
        "unknown profile",
        with_workload(|w| w.profile = "weekends".into()),
        ia,
        &["workloads[0].profile", "weekends"],
    ));
    rows.push(row(
        "profile and hourly_weights both",
        with_workload(|w| {
            w.profile = "flat".into();
            w.hourly_weights = vec![1.0; 24];
        }),
        ia,
        &["workloads[0].hourly_weights", "not both"],
    ));
    for (label, weights) in [
        ("23 weights", vec![1.0; 23]),
        ("25 weights", vec![1.0; 25]),
        ("1 weight", vec![1.0]),
        ("all zero", vec![0.0; 24]),
        ("one negative", {
            let mut w = vec![1.0; 24];
            w[5] = -1.0;
            w
        }),
        ("one NaN", {
            let mut w = vec![1.0; 24];
            w[5] = f64::NAN;
            w
        }),
        ("one inf", {
            let mut w = vec![1.0; 168];
            w[100] = f64::INFINITY;
            w
        }),
    ] {
        rows.push(row(
            format!("hourly_weights {label}"),
            with_workload(|w| w.hourly_weights = weights),
            ia,
            &["workloads[0].hourly_weights"],
        ));
    }

    // ---- Propose: request-level fields.
    for (label, v) in BAD_FLOATS {
        rows.push(row(
            format!("budget_usd {label}"),
            with_request(|r| r.budget_usd = Some(v)),
            ia,
            &["budget_usd", &format!("{v}")],
        ));
        rows.push(row(
            format!("electricity_usd_per_kwh {label}"),
            with_request(|r| r.electricity_usd_per_kwh = Some(v)),
            ia,
            &["electricity_usd_per_kwh", &format!("{v}")],
        ));
    }
    for (label, v) in BAD_FLOATS.iter().copied().chain([("0", 0.0)]) {
        rows.push(row(
            format!("amortization_months {label}"),
            with_request(|r| r.amortization_months = Some(v)),
            ia,
            &["amortization_months", &format!("{v}")],
        ));
        rows.push(row(
            format!("site_power_cap_w {label}"),
            with_request(|r| r.site_power_cap_w = Some(v)),
            ia,
            &["site_power_cap_w", &format!("{v}")],
        ));
    }
    for (label, v) in BAD_FLOATS
        .iter()
        .copied()
        .chain([("0", 0.0), ("1.01", 1.01)])
    {
        rows.push(row(
            format!("utilization_cap {label}"),
            with_request(|r| r.utilization_cap = Some(v)),
            ia,
            &["utilization_cap", &format!("{v}")],
        ));
    }
    rows.push(row(
        "unknown SKU in max_nodes_per_sku",
        with_request(|r| {
            r.max_nodes_per_sku.insert("quantum-abacus".into(), 4);
        }),
        ia,
        &["max_nodes_per_sku", "quantum-abacus"],
    ));
    rows.push(row(
        "empty SKU in owned_nodes_per_sku",
        with_request(|r| {
            r.owned_nodes_per_sku.insert(String::new(), 1);
        }),
        ia,
        &["owned_nodes_per_sku"],
    ));
    rows.push(row(
        "unknown SKU in owned_nodes_per_sku",
        with_request(|r| {
            r.owned_nodes_per_sku.insert("quantum-abacus".into(), 1);
        }),
        ia,
        &["owned_nodes_per_sku", "quantum-abacus"],
    ));
    // ---- Propose: values each finite and typed, but not physical (issue 16 §4).
    for (label, v) in [
        ("5e-324", 5e-324),
        ("1e-300", 1e-300),
        ("0.5", 0.5),
        ("1e9", 1e9),
    ] {
        rows.push(row(
            format!("amortization_months {label}"),
            with_request(|r| r.amortization_months = Some(v)),
            ia,
            &["overrides.amortization_months", &format!("{v}")],
        ));
    }
    rows.push(row(
        "utilization_cap 1e-300",
        with_request(|r| r.utilization_cap = Some(1e-300)),
        ia,
        &["overrides.utilization_cap", &format!("{}", 1e-300)],
    ));
    rows.push(row(
        "budget_usd 1e308",
        with_request(|r| r.budget_usd = Some(1e308)),
        ia,
        &["constraints.budget_usd", &format!("{}", 1e308)],
    ));
    rows.push(row(
        "site_power_cap_w 1e308",
        with_request(|r| r.site_power_cap_w = Some(1e308)),
        ia,
        &["constraints.site_power_cap_w", &format!("{}", 1e308)],
    ));
    for (label, weights) in [
        ("24 × 1e308", vec![1e308; 24]),
        ("168 × f64::MAX", vec![f64::MAX; 168]),
    ] {
        rows.push(row(
            format!("hourly_weights {label}: the sum overflows"),
            with_workload(|w| w.hourly_weights = weights),
            ia,
            &["workloads[0]", "weights", "inf"],
        ));
    }

    rows.push(row(
        "oversized message (9 MiB name)",
        with_workload(|w| w.name = "x".repeat(9 * 1024 * 1024)),
        Code::ResourceExhausted,
        &[],
    ));

    // ---- Propose: impossible SLOs.
    rows.push(row(
        "local-only with a 1 ms TTFT",
        with_workload(|w| {
            w.local_only = true;
            w.ttft_p95_ms = 1.0;
        }),
        Code::FailedPrecondition,
        &["infeasible"],
    ));
    rows.push(row(
        "local-only at 100,000 tok/s per stream",
        with_workload(|w| {
            w.local_only = true;
            w.min_decode_tok_s = Some(100_000.0);
        }),
        Code::FailedPrecondition,
        &["infeasible"],
    ));
    rows.push(row(
        "local-only with a zero budget",
        with_request(|r| {
            r.workloads[0].local_only = true;
            r.budget_usd = Some(0.0);
        }),
        Code::FailedPrecondition,
        &["infeasible"],
    ));
    rows.push(row(
        "local-only with a 1 W site power cap",
        with_request(|r| {
            r.workloads[0].local_only = true;
            r.site_power_cap_w = Some(1.0);
        }),
        Code::FailedPrecondition,
        &["infeasible"],
    ));

    // ---- Plans.
    for (rpc, make) in [
        ("GetPlan", Call::GetPlan as fn(String) -> Call),
        ("RerunPlan", Call::RerunPlan as fn(String) -> Call),
    ] {
        rows.push(row(
            format!("{rpc} empty id"),
            make(String::new()),
            ia,
            &["id", "empty"],
        ));
        rows.push(row(
            format!("{rpc} unknown id"),
            make("no-such-plan".into()),
            Code::NotFound,
            &["no-such-plan"],
        ));
        // A NUL byte was NOT_FOUND on SQLite and UNAVAILABLE on PostgreSQL; bad data is
        // INVALID_ARGUMENT on both.
        rows.push(row(
            format!("{rpc} id with a NUL and quotes"),
            make("a\0b'\"; DROP TABLE plans; --".into()),
            ia,
            &["id", "NUL"],
        ));
        rows.push(row(
            format!("{rpc} id with quotes"),
            make("a'\"; DROP TABLE plans; --".into()),
            Code::NotFound,
            &["DROP TABLE"],
        ));
    }
    // A well-formed cursor the server never issued ("-5:x") is accepted and reads as an
    // empty page; only tokens that do not parse are errors.
    for token in [
        "garbage",
        ":",
        "1:",
        ":x",
        "99999999999999999999999:x",
        "1.5:x",
    ] {
        rows.push(row(
            format!("ListPlans page_token {token:?}"),
            Call::ListPlans(10, token.into()),
            ia,
            &["page_token"],
        ));
    }
    for hour in [24, 167, 168, u32::MAX] {
        rows.push(row(
            format!("GetSchedule hour {hour}"),
            Call::GetSchedule(plan_id.into(), hour),
            ia,
            &["hour", &hour.to_string()],
        ));
    }
    rows.push(row(
        "GetSchedule unknown plan",
        Call::GetSchedule("no-such-plan".into(), 0),
        Code::NotFound,
        &["no-such-plan"],
    ));
    rows.push(row(
        "GetSchedule empty plan_id",
        Call::GetSchedule(String::new(), 0),
        ia,
        &["id"],
    ));

    // ---- Catalog: hardware.
    rows.push(row(
        "UpsertHardware without a body",
        Call::UpsertHardware(None),
        ia,
        &["hardware", "required"],
    ));
    let hw_edit = |edit: &dyn Fn(&mut pb::HardwareSku)| {
        let mut h = hw.clone();
        h.id = "hostile-sku".into();
        edit(&mut h);
        Call::UpsertHardware(Some(h))
    };
    rows.push(row(
        "hardware empty id",
        hw_edit(&|h| h.id.clear()),
        ia,
        &["hardware.id"],
    ));
    rows.push(row(
        "hardware empty backend",
        hw_edit(&|h| h.backend.clear()),
        ia,
        &["hardware.backend"],
    ));
    rows.push(row(
        "hardware zero accelerators",
        hw_edit(&|h| h.accelerators = 0),
        ia,
        &["hardware.accelerators"],
    ));
    for accelerators in [1u32 << 31, u32::MAX, 1_025] {
        rows.push(row(
            format!("hardware {accelerators} accelerators"),
            hw_edit(&|h| h.accelerators = accelerators),
            ia,
            &["hardware.accelerators", &accelerators.to_string(), "1024"],
        ));
    }
    rows.push(row(
        "hardware idle power above full power".to_string(),
        hw_edit(&|h| h.power_idle_w = h.power_full_w + 1.0),
        ia,
        &["power_idle_w", "power_full_w"],
    ));
    for (label, v) in BAD_FLOATS {
        rows.push(row(
            format!("hardware price {label}"),
            hw_edit(&|h| h.price_usd = v),
            ia,
            &["price_usd"],
        ));
        rows.push(row(
            format!("hardware power_full_w {label}"),
            hw_edit(&|h| h.power_full_w = v),
            ia,
            &["power_full_w"],
        ));
        rows.push(row(
            format!("hardware power_idle_w {label}"),
            hw_edit(&|h| h.power_idle_w = v),
            ia,
            &["power_idle_w"],
        ));
        rows.push(row(
            format!("hardware memory_per_device_gb {label}"),
            hw_edit(&|h| h.memory_per_device_gb = v),
            ia,
            &["memory_per_device_gb"],
        ));
    }
    rows.push(row(
        "hardware zero memory",
        hw_edit(&|h| h.memory_per_device_gb = 0.0),
        ia,
        &["memory_per_device_gb"],
    ));
    // Physics specs: optional, but a given one must be a finite positive number (host RAM:
    // zero or more).
    type SpecField = fn(&mut pb::HardwareSku) -> &mut Option<f64>;
    let specs: [(&str, SpecField, bool); 6] = [
        (
            "memory_bandwidth_gb_s",
            |h| &mut h.memory_bandwidth_gb_s,
            false,
        ),
        ("compute_tflops", |h| &mut h.compute_tflops, false),
        ("host_ram_gb", |h| &mut h.host_ram_gb, true),
        (
            "host_ram_bandwidth_gb_s",
            |h| &mut h.host_ram_bandwidth_gb_s,
            false,
        ),
        ("host_link_gb_s", |h| &mut h.host_link_gb_s, false),
        ("disk_read_gb_s", |h| &mut h.disk_read_gb_s, false),
    ];
    for (name, field, zero_allowed) in specs {
        let path = format!("hardware.{name}");
        let zero = (!zero_allowed).then_some(("0", 0.0));
        for (label, v) in BAD_FLOATS.iter().copied().chain(zero) {
            rows.push(row(
                format!("hardware {name} {label}"),
                hw_edit(&|h| *field(h) = Some(v)),
                ia,
                &[&path, label],
            ));
        }
    }
    rows.push(row(
        "DeleteHardware empty id",
        Call::DeleteHardware(String::new()),
        ia,
        &["id"],
    ));
    rows.push(row(
        "DeleteHardware unknown id",
        Call::DeleteHardware("quantum-abacus".into()),
        Code::NotFound,
        &["quantum-abacus"],
    ));

    // ---- Catalog: benchmarks.
    rows.push(row(
        "UpsertBenchmark without a body",
        Call::UpsertBenchmark(None),
        ia,
        &["benchmark", "required"],
    ));
    let bench_edit = |edit: &dyn Fn(&mut pb::Benchmark)| {
        let mut b = bench.clone();
        b.concurrency = 7;
        edit(&mut b);
        Call::UpsertBenchmark(Some(b))
    };
    rows.push(row(
        "benchmark empty sku",
        bench_edit(&|b| b.sku.clear()),
        ia,
        &["benchmark.sku"],
    ));
    rows.push(row(
        "benchmark empty model",
        bench_edit(&|b| b.model.clear()),
        ia,
        &["benchmark.model"],
    ));
    rows.push(row(
        "benchmark empty quant",
        bench_edit(&|b| b.quant.clear()),
        ia,
        &["benchmark.quant"],
    ));
    rows.push(row(
        "benchmark unknown sku",
        bench_edit(&|b| b.sku = "quantum-abacus".into()),
        ia,
        &["benchmark", "quantum-abacus"],
    ));
    rows.push(row(
        "benchmark unknown model",
        bench_edit(&|b| b.model = "gpt-17".into()),
        ia,
        &["benchmark", "gpt-17"],
    ));
    rows.push(row(
        "benchmark unknown quant",
        bench_edit(&|b| b.quant = "Q1_BOGUS".into()),
        ia,
        &["benchmark", "Q1_BOGUS"],
    ));
    for (label, v) in BAD_FLOATS {
        rows.push(row(
            format!("benchmark decode {label}"),
            bench_edit(&|b| b.decode_tok_s = v),
            ia,
            &["decode_tok_s"],
        ));
        rows.push(row(
            format!("benchmark prefill {label}"),
            bench_edit(&|b| b.prefill_tok_s = v),
            ia,
            &["prefill_tok_s"],
        ));
        rows.push(row(
            format!("benchmark power {label}"),
            bench_edit(&|b| b.power_w = v),
            ia,
            &["power_w"],
        ));
    }
    rows.push(row(
        "benchmark context_tokens 0",
        bench_edit(&|b| b.context_tokens = Some(0)),
        ia,
        &["benchmark.context_tokens"],
    ));
    rows.push(row(
        "DeleteBenchmark empty key",
        Call::DeleteBenchmark(pb::DeleteBenchmarkRequest::default()),
        ia,
        &["sku"],
    ));
    rows.push(row(
        "DeleteBenchmark unknown key",
        Call::DeleteBenchmark(pb::DeleteBenchmarkRequest {
            sku: "quantum-abacus".into(),
            model: "gpt-17".into(),
            quant: "Q4_K_M".into(),
            concurrency: 1,
        }),
        Code::NotFound,
        &["quantum-abacus"],
    ));

    // ---- Catalog: API offers.
    rows.push(row(
        "UpsertApiOffer without a body",
        Call::UpsertApiOffer(None),
        ia,
        &["api_offer", "required"],
    ));
    let api_edit = |edit: &dyn Fn(&mut pb::ApiOffer)| {
        let mut a = api.clone();
        a.id = "hostile-api".into();
        edit(&mut a);
        Call::UpsertApiOffer(Some(a))
    };
    rows.push(row(
        "api offer empty id",
        api_edit(&|a| a.id.clear()),
        ia,
        &["api_offer.id"],
    ));
    rows.push(row(
        "api offer empty model",
        api_edit(&|a| a.model.clear()),
        ia,
        &["api_offer.model"],
    ));
    rows.push(row(
        "api offer unknown model",
        api_edit(&|a| a.model = "gpt-17".into()),
        ia,
        &["api_offer", "gpt-17"],
    ));
    for (label, v) in BAD_FLOATS {
        rows.push(row(
            format!("api input price {label}"),
            api_edit(&|a| a.input_usd_per_million = v),
            ia,
            &["input_usd_per_million"],
        ));
        rows.push(row(
            format!("api output price {label}"),
            api_edit(&|a| a.output_usd_per_million = v),
            ia,
            &["output_usd_per_million"],
        ));
        rows.push(row(
            format!("api ttft_p95_ms {label}"),
            api_edit(&|a| a.ttft_p95_ms = v),
            ia,
            &["ttft_p95_ms"],
        ));
    }
    rows.push(row(
        "DeleteApiOffer empty id",
        Call::DeleteApiOffer(String::new()),
        ia,
        &["id"],
    ));
    rows.push(row(
        "DeleteApiOffer unknown id",
        Call::DeleteApiOffer("no-such-api".into()),
        Code::NotFound,
        &["no-such-api"],
    ));

    // ---- Telemetry: RegisterNode.
    rows.push(row(
        "RegisterNode empty node_id",
        Call::RegisterNode(pb::RegisterNodeRequest {
            node_id: String::new(),
            sku: "rtx-5090".into(),
            labels: HashMap::new(),
        }),
        ia,
        &["node_id"],
    ));
    rows.push(row(
        "RegisterNode empty sku",
        Call::RegisterNode(pb::RegisterNodeRequest {
            node_id: "n".into(),
            sku: " ".into(),
            labels: HashMap::new(),
        }),
        ia,
        &["sku"],
    ));

    // ---- Telemetry: observations.
    rows.push(row(
        "observation seq 0",
        with_observation(|o| o.seq = 0),
        ia,
        &["observations[0].seq", "got 0"],
    ));
    rows.push(row(
        "observation seq u64::MAX",
        with_observation(|o| o.seq = u64::MAX),
        ia,
        &["observations[0].seq", &u64::MAX.to_string()],
    ));
    for name in ["node_id", "sku", "model", "quant"] {
        rows.push(row(
            format!("observation empty {name}"),
            with_observation(|o| match name {
                "node_id" => o.node_id.clear(),
                "sku" => o.sku.clear(),
                "model" => o.model.clear(),
                _ => o.quant.clear(),
            }),
            ia,
            &[&format!("observations[0].{name}")],
        ));
    }
    rows.push(row(
        "observation end before start",
        with_observation(|o| o.window_end_unix_ms = o.window_start_unix_ms - 1),
        ia,
        &["observations[0].window_end_unix_ms"],
    ));
    rows.push(row(
        "observation unknown kind 7",
        with_observation(|o| o.kind = 7),
        ia,
        &["observations[0].kind", "7"],
    ));
    rows.push(row(
        "observation kind unspecified",
        with_observation(|o| o.kind = 0),
        ia,
        &["observations[0].kind"],
    ));
    rows.push(row(
        "observation prompt_tokens > i64::MAX",
        with_observation(|o| o.prompt_tokens = u64::MAX),
        ia,
        &["observations[0].prompt_tokens"],
    ));
    rows.push(row(
        "observation cache_hit_rate 1.5",
        with_observation(|o| o.cache_hit_rate = 1.5),
        ia,
        &["observations[0].cache_hit_rate", "1.5"],
    ));
    for (label, v) in BAD_FLOATS {
        for name in [
            "prompt_seconds",
            "predicted_seconds",
            "prefill_tok_s",
            "decode_tok_s",
            "aggregate_decode_tok_s",
            "mean_concurrency",
            "queue_depth",
            "cache_hit_rate",
            "power_w",
        ] {
            rows.push(row(
                format!("observation {name} {label}"),
                with_observation(|o| match name {
                    "prompt_seconds" => o.prompt_seconds = v,
                    "predicted_seconds" => o.predicted_seconds = v,
                    "prefill_tok_s" => o.prefill_tok_s = v,
                    "decode_tok_s" => o.decode_tok_s = v,
                    "aggregate_decode_tok_s" => o.aggregate_decode_tok_s = v,
                    "mean_concurrency" => o.mean_concurrency = v,
                    "queue_depth" => o.queue_depth = v,
                    "cache_hit_rate" => o.cache_hit_rate = v,
                    _ => o.power_w = Some(v),
                }),
                ia,
                &[&format!("observations[0].{name}"), &format!("{v}")],
            ));
        }
    }
    rows.push(row(
        "a bad observation after good ones names its index",
        {
            let mut batch: Vec<_> = (1..=3).map(observation).collect();
            batch[2].cache_hit_rate = f64::NAN;
            Call::Report(batch)
        },
        ia,
        &["observations[2].cache_hit_rate"],
    ));
    // ---- Every string and map is bounded (issue 16 §3): ids and names 256 bytes, free text
    // 4 KiB, maps 64 entries; NUL bytes are refused (PostgreSQL cannot store them).
    let long = "x".repeat(257);
    let two_mb = "x".repeat(2 * 1024 * 1024);
    let text = "x".repeat(4097);
    let many: HashMap<String, String> = (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
    let nul = "a\0b".to_string();
    for (what, call, needles) in [
        (
            "workload name 257 bytes",
            with_workload(|w| w.name = long.clone()),
            vec!["workloads[0].name", "257 bytes", "256"],
        ),
        (
            "workload name 2 MiB (under the message limit)",
            with_workload(|w| w.name = two_mb.clone()),
            vec!["workloads[0].name", "2097152 bytes"],
        ),
        (
            "workload name with a NUL",
            with_workload(|w| w.name = nul.clone()),
            vec!["workloads[0].name", "NUL"],
        ),
        (
            "workload model 257 bytes",
            with_workload(|w| w.model = long.clone()),
            vec!["workloads[0].model", "257 bytes"],
        ),
        (
            "workload min_quant 257 bytes",
            with_workload(|w| w.min_quant = long.clone()),
            vec!["workloads[0].min_quant", "257 bytes"],
        ),
        (
            "workload profile 2 MiB",
            with_workload(|w| w.profile = two_mb.clone()),
            vec!["workloads[0].profile", "2097152 bytes"],
        ),
        (
            "max_nodes_per_sku key 257 bytes",
            with_request(|r| {
                r.max_nodes_per_sku.insert(long.clone(), 1);
            }),
            vec!["max_nodes_per_sku key", "257 bytes"],
        ),
        (
            "owned_nodes_per_sku with 1,001 entries",
            with_request(|r| {
                r.owned_nodes_per_sku = (0..1_001).map(|i| (format!("s{i}"), 1)).collect();
            }),
            vec!["owned_nodes_per_sku", "1001 entries", "1000"],
        ),
        (
            "GetPlan id 2 MiB",
            Call::GetPlan(two_mb.clone()),
            vec!["id", "2097152 bytes"],
        ),
        (
            "RerunPlan id with a NUL",
            Call::RerunPlan(nul.clone()),
            vec!["id", "NUL"],
        ),
        (
            "GetSchedule plan_id 257 bytes",
            Call::GetSchedule(long.clone(), 0),
            vec!["plan_id", "257 bytes"],
        ),
        (
            "ListPlans page_token 4097 bytes",
            Call::ListPlans(10, text.clone()),
            vec!["page_token", "4097 bytes", "4096"],
        ),
        (
            "hardware id 257 bytes",
            hw_edit(&|h| h.id = long.clone()),
            vec!["hardware.id", "257 bytes"],
        ),
        (
            "hardware name 2 MiB",
            hw_edit(&|h| h.name = two_mb.clone()),
            vec!["hardware.name", "2097152 bytes"],
        ),
        (
            "hardware backend with a NUL",
            hw_edit(&|h| h.backend = nul.clone()),
            vec!["hardware.backend", "NUL"],
        ),
        (
            "hardware provenance source 4097 bytes",
            hw_edit(&|h| h.provenance.as_mut().unwrap().source = text.clone()),
            vec!["hardware.provenance.source", "4097 bytes"],
        ),
        (
            "hardware provenance with 65 assumed notes",
            hw_edit(&|h| h.provenance.as_mut().unwrap().assumed = many.clone()),
            vec!["hardware.provenance.assumed", "65 entries", "64"],
        ),
        (
            "DeleteHardware id 257 bytes",
            Call::DeleteHardware(long.clone()),
            vec!["id", "257 bytes"],
        ),
        (
            "benchmark model 257 bytes",
            bench_edit(&|b| b.model = long.clone()),
            vec!["benchmark.model", "257 bytes"],
        ),
        (
            "benchmark provenance derived note 4097 bytes",
            bench_edit(&|b| {
                b.provenance
                    .get_or_insert_with(Default::default)
                    .derived
                    .insert("decode_tok_s".into(), text.clone());
            }),
            vec!["benchmark.provenance.derived[decode_tok_s]", "4097 bytes"],
        ),
        (
            "DeleteBenchmark quant 257 bytes",
            Call::DeleteBenchmark(pb::DeleteBenchmarkRequest {
                sku: "rtx-5090".into(),
                model: "deepseek-v4-pro".into(),
                quant: long.clone(),
                concurrency: 1,
            }),
            vec!["quant", "257 bytes"],
        ),
        (
            "api offer id with a NUL",
            api_edit(&|a| a.id = nul.clone()),
            vec!["api_offer.id", "NUL"],
        ),
        (
            "api offer name 257 bytes",
            api_edit(&|a| a.name = long.clone()),
            vec!["api_offer.name", "257 bytes"],
        ),
        (
            "DeleteApiOffer id 2 MiB",
            Call::DeleteApiOffer(two_mb.clone()),
            vec!["id", "2097152 bytes"],
        ),
        (
            "RegisterNode node_id 257 bytes",
            Call::RegisterNode(pb::RegisterNodeRequest {
                node_id: long.clone(),
                sku: "rtx-5090".into(),
                labels: HashMap::new(),
            }),
            vec!["node_id", "257 bytes"],
        ),
        (
            "RegisterNode sku with a NUL",
            Call::RegisterNode(pb::RegisterNodeRequest {
                node_id: "n".into(),
                sku: nul.clone(),
                labels: HashMap::new(),
            }),
            vec!["sku", "NUL"],
        ),
        (
            "RegisterNode 65 labels",
            Call::RegisterNode(pb::RegisterNodeRequest {
                node_id: "n".into(),
                sku: "rtx-5090".into(),
                labels: many.clone(),
            }),
            vec!["labels", "65 entries"],
        ),
        (
            "RegisterNode label value 4097 bytes",
            Call::RegisterNode(pb::RegisterNodeRequest {
                node_id: "n".into(),
                sku: "rtx-5090".into(),
                labels: [("zone".to_string(), text.clone())].into(),
            }),
            vec!["labels[zone]", "4097 bytes"],
        ),
        (
            "observation node_id 257 bytes",
            with_observation(|o| o.node_id = long.clone()),
            vec!["observations[0].node_id", "257 bytes"],
        ),
        (
            "observation model with a NUL",
            with_observation(|o| o.model = nul.clone()),
            vec!["observations[0].model", "NUL"],
        ),
        (
            "observation worker_url 4097 bytes",
            with_observation(|o| o.worker_url = text.clone()),
            vec!["observations[0].worker_url", "4097 bytes"],
        ),
    ] {
        rows.push(row(what, call, ia, &needles));
    }
    // ---- Telemetry at the edge (issue 16 §2): physical ranges, clock skew, registration.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    type ObservationEdit = Box<dyn Fn(&mut pb::Observation)>;
    let telemetry_rows: Vec<(&str, ObservationEdit, Vec<String>)> = vec![
        (
            "power_w 1e308",
            Box::new(|o| o.power_w = Some(1e308)),
            vec!["observations[0].power_w".into(), "100000".into()],
        ),
        (
            "power_w 100,001 W",
            Box::new(|o| o.power_w = Some(100_001.0)),
            vec!["observations[0].power_w".into(), "100001".into()],
        ),
        (
            "decode 1e9 tok/s",
            Box::new(|o| o.decode_tok_s = 1e9),
            vec!["observations[0].decode_tok_s".into()],
        ),
        (
            "aggregate decode 1e9 tok/s",
            Box::new(|o| o.aggregate_decode_tok_s = 1e9),
            vec!["observations[0].aggregate_decode_tok_s".into()],
        ),
        (
            "prefill 1e308 tok/s",
            Box::new(|o| o.prefill_tok_s = 1e308),
            vec!["observations[0].prefill_tok_s".into()],
        ),
        (
            "1e12 predicted tokens",
            Box::new(|o| o.predicted_tokens = 1_000_000_000_000),
            vec![
                "observations[0].predicted_tokens".into(),
                "1000000000000".into(),
            ],
        ),
        (
            "concurrency 1e8",
            Box::new(|o| o.concurrency = 100_000_000),
            vec!["observations[0].concurrency".into(), "4096".into()],
        ),
        (
            "concurrency 4,097",
            Box::new(|o| o.concurrency = 4_097),
            vec!["observations[0].concurrency".into(), "4097".into()],
        ),
        (
            "mean concurrency 1e9",
            Box::new(|o| o.mean_concurrency = 1e9),
            vec!["observations[0].mean_concurrency".into()],
        ),
        (
            "prompt seconds 1e300",
            Box::new(|o| o.prompt_seconds = 1e300),
            vec!["observations[0].prompt_seconds".into()],
        ),
        (
            "a window in the year 2500",
            Box::new(|o| {
                o.window_start_unix_ms = 16_725_225_600_000;
                o.window_end_unix_ms = 16_725_225_660_000;
            }),
            vec!["observations[0].window_end_unix_ms".into(), "clock".into()],
        ),
        (
            "a window ending 10 minutes from now",
            Box::new(move |o| {
                o.window_start_unix_ms = now_ms;
                o.window_end_unix_ms = now_ms + 600_000;
            }),
            vec!["observations[0].window_end_unix_ms".into()],
        ),
        (
            "a window of zero length",
            Box::new(|o| o.window_end_unix_ms = o.window_start_unix_ms),
            vec!["observations[0].window_end_unix_ms".into()],
        ),
        (
            "a window of two days",
            Box::new(|o| o.window_end_unix_ms = o.window_start_unix_ms + 2 * 86_400_000),
            vec!["observations[0].window_end_unix_ms".into()],
        ),
        (
            "a node that never registered",
            Box::new(|o| o.node_id = "ghost-node".into()),
            vec!["observations[0].node_id".into(), "not registered".into()],
        ),
        (
            "a SKU other than the node registered with",
            Box::new(|o| o.sku = "rx-7900-xtx".into()),
            vec![
                "observations[0].sku".into(),
                "rx-7900-xtx".into(),
                "rtx-5090".into(),
            ],
        ),
    ];
    for (what, edit, needles) in telemetry_rows {
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        rows.push(row(
            format!("observation {what}"),
            with_observation(|o| edit(o)),
            ia,
            &needles,
        ));
    }
    rows.push(row(
        "10,001 observations in one batch",
        Call::Report((1..=10_001).map(observation).collect()),
        ia,
        &["observations", "10001"],
    ));
    rows.push(row(
        "oversized telemetry message (17 MiB)",
        with_observation(|o| o.worker_url = "x".repeat(17 * 1024 * 1024)),
        Code::ResourceExhausted,
        &[],
    ));
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_rejects_hostile_input_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let channel = connect(server.grpc).await;
    let mut planner =
        PlannerServiceClient::new(channel.clone()).max_decoding_message_size(64 * 1024 * 1024);
    let mut telemetry = TelemetryServiceClient::new(channel.clone());

    // A stored plan to read schedules of, and the state rejected calls must not change.
    let plan = planner
        .propose(valid_propose())
        .await
        .expect("a valid Propose works before the table")
        .into_inner()
        .plan
        .unwrap();
    let hardware = planner
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner();
    let benchmarks = planner
        .list_benchmarks(pb::ListBenchmarksRequest::default())
        .await
        .unwrap()
        .into_inner();
    let apis = planner
        .list_api_offers(pb::ListApiOffersRequest {})
        .await
        .unwrap()
        .into_inner();
    // The node the observation rows report for, registered with the SKU they name.
    telemetry
        .register_node(pb::RegisterNodeRequest {
            node_id: "hostile-node".into(),
            sku: "rtx-5090".into(),
            labels: HashMap::new(),
        })
        .await
        .expect("the hostile rows' node registers");
    let throughput = planner
        .get_throughput_model(pb::GetThroughputModelRequest::default())
        .await
        .unwrap()
        .into_inner();
    let plans_before = planner
        .list_plans(pb::ListPlansRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let rows = table(
        &plan.id,
        &hardware.hardware[0],
        &benchmarks.benchmarks[0],
        &apis.api_offers[0],
    );
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let started = std::time::Instant::now();
        let outcome =
            tokio::time::timeout(CALL_LIMIT, call(&mut planner, &mut telemetry, row.call)).await;
        let elapsed = started.elapsed();
        let status = match outcome {
            Err(_) => {
                failures.push(format!("{}: no answer within {CALL_LIMIT:?}", row.what));
                continue;
            }
            Ok(Ok(())) => {
                failures.push(format!("{}: accepted", row.what));
                continue;
            }
            Ok(Err(status)) => status,
        };
        let code_ok = status.code() == row.code
            || (row.code == Code::ResourceExhausted && TOO_LARGE.contains(&status.code()));
        let missing: Vec<&String> = row
            .needles
            .iter()
            .filter(|n| !status.message().contains(n.as_str()))
            .collect();
        if !code_ok || !missing.is_empty() {
            failures.push(format!(
                "{}: got {:?} {:?}, want {:?} containing {:?}",
                row.what,
                status.code(),
                status.message(),
                row.code,
                row.needles
            ));
        }
        if status.message().contains("panicked") || status.message().contains('\n') {
            failures.push(format!(
                "{}: message is not one clean line: {:?}",
                row.what,
                status.message()
            ));
        }
        if elapsed > Duration::from_secs(5) {
            eprintln!("slow row ({elapsed:?}): {}", row.what);
        }
    }
    eprintln!("{count} rows");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The server still serves: a fresh connection, a valid Propose.
    let mut planner = PlannerServiceClient::new(connect(server.grpc).await);
    let again = planner
        .propose(valid_propose())
        .await
        .expect("a valid Propose works after the table");
    let again = again.into_inner().plan.unwrap();
    assert_ne!(again.id, plan.id);

    // Nothing a rejected call touched changed.
    let after_hw = planner
        .list_hardware(pb::ListHardwareRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after_hw, hardware, "hardware changed");
    let after_bench = planner
        .list_benchmarks(pb::ListBenchmarksRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after_bench, benchmarks, "benchmarks changed");
    let after_api = planner
        .list_api_offers(pb::ListApiOffersRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after_api, apis, "API offers changed");
    let after_tp = planner
        .get_throughput_model(pb::GetThroughputModelRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after_tp, throughput, "throughput model changed");
    let plans_after = planner
        .list_plans(pb::ListPlansRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let ids_before: Vec<_> = plans_before.plans.iter().map(|p| p.id.as_str()).collect();
    let ids_after: Vec<_> = plans_after.plans.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids_after.len(),
        ids_before.len() + 1,
        "only the final valid Propose added a plan"
    );
    assert_eq!(ids_after[0], again.id);
    assert_eq!(&ids_after[1..], &ids_before[..]);
    let stored = planner
        .get_plan(pb::GetPlanRequest {
            id: plan.id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    assert_eq!(stored, plan, "the first plan is stored exactly as proposed");

    let _ = server.stop.send(());
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

/// Values at the edge of their types that validation lets through (or should not): each must
/// get a plan with finite figures or a clean INVALID_ARGUMENT / FAILED_PRECONDITION, never an
/// INTERNAL error, a hang or a dead server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_values_get_a_finite_plan_or_a_clean_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let mut planner = PlannerServiceClient::new(connect(server.grpc).await)
        .max_decoding_message_size(64 * 1024 * 1024);
    let cases: Vec<(&str, Call)> = vec![
        (
            "u64::MAX monthly tokens",
            with_workload(|w| w.monthly_tokens = u64::MAX),
        ),
        (
            "u64::MAX monthly tokens, local only",
            with_workload(|w| {
                w.monthly_tokens = u64::MAX;
                w.local_only = true;
            }),
        ),
        (
            "1,000T a month (the limit), local only",
            with_workload(|w| {
                w.monthly_tokens = fleet_planner::demand::MAX_MONTHLY_TOKENS;
                w.local_only = true;
            }),
        ),
        (
            "1,000T a month (the limit)",
            with_workload(|w| w.monthly_tokens = fleet_planner::demand::MAX_MONTHLY_TOKENS),
        ),
        ("1 token a month", with_workload(|w| w.monthly_tokens = 1)),
        (
            "budget at its limit",
            with_request(|r| r.budget_usd = Some(1e12)),
        ),
        (
            "site power cap at its limit",
            with_request(|r| r.site_power_cap_w = Some(1e10)),
        ),
        (
            "amortization 1 month (the shortest)",
            with_request(|r| r.amortization_months = Some(1.0)),
        ),
        (
            "utilization cap 0.01 (the lowest)",
            with_request(|r| r.utilization_cap = Some(0.01)),
        ),
        (
            "hourly weights 1e306 each (the sum is finite)",
            with_workload(|w| w.hourly_weights = vec![1e306; 24]),
        ),
        (
            "electricity 1e308 $/kWh",
            with_request(|r| r.electricity_usd_per_kwh = Some(1e308)),
        ),
        ("ttft 1e-300 ms", with_workload(|w| w.ttft_p95_ms = 1e-300)),
        ("ttft 1e308 ms", with_workload(|w| w.ttft_p95_ms = 1e308)),
        (
            "min decode 1e308 tok/s",
            with_workload(|w| w.min_decode_tok_s = Some(1e308)),
        ),
        (
            "hourly weights 1e-308 each",
            with_workload(|w| w.hourly_weights = vec![1e-308; 168]),
        ),
        (
            "max_nodes u32::MAX, local only",
            with_request(|r| {
                r.workloads[0].local_only = true;
                r.max_nodes_per_sku.insert("rtx-5090".into(), u32::MAX);
            }),
        ),
        (
            "owned u32::MAX",
            with_request(|r| {
                r.owned_nodes_per_sku.insert("rtx-5090".into(), u32::MAX);
            }),
        ),
        (
            "10,000 workloads (the limit)",
            with_request(|r| {
                r.workloads = (0..10_000).map(|i| workload(&format!("w{i}"))).collect();
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (what, call) in cases {
        let Call::Propose(request) = call else {
            unreachable!()
        };
        let demand: f64 = request
            .workloads
            .iter()
            .map(|w| w.monthly_tokens as f64)
            .sum();
        match tokio::time::timeout(CALL_LIMIT, planner.propose(request)).await {
            Err(_) => failures.push(format!("{what}: no answer within {CALL_LIMIT:?}")),
            Ok(Ok(response)) => {
                let plan = response.into_inner().plan.unwrap();
                let cost = plan.cost.unwrap();
                // A plan serves what was asked: 24 × 1e308 weights once stored a $0 plan
                // serving 0 tokens.
                let served = cost.tokens_local + cost.tokens_api;
                if (served - demand).abs() > demand * 1e-6 + 1.0 {
                    failures.push(format!("{what}: plan serves {served} of {demand} tokens"));
                }
                for (name, value) in [
                    ("total_usd", cost.total_usd),
                    ("capex_usd", cost.capex_usd),
                    ("tokens_local", cost.tokens_local),
                    ("tokens_api", cost.tokens_api),
                ] {
                    if !(value.is_finite() && value >= 0.0) {
                        failures.push(format!("{what}: plan with {name} = {value}"));
                    }
                }
            }
            Ok(Err(status)) => {
                let clean = matches!(
                    status.code(),
                    Code::InvalidArgument | Code::FailedPrecondition
                ) && !status.message().is_empty()
                    && !status.message().contains('\n');
                if !clean {
                    failures.push(format!(
                        "{what}: {:?} {:?}",
                        status.code(),
                        status.message()
                    ));
                }
                eprintln!("{what}: {:?} {}", status.code(), status.message());
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    planner
        .propose(valid_propose())
        .await
        .expect("the server still plans after the extreme values");
    let _ = server.stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), server.task).await;
}

/// Catalog figures at the edge of `f64` that the catalog's range checks let through: a later
/// Propose must still answer with a finite plan or a clean refusal, never INTERNAL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extreme_catalog_figures_never_break_propose() {
    type Edit = fn(&mut pb::HardwareSku, &mut pb::ApiOffer);
    let edits: [(&str, Edit); 6] = [
        ("hardware price 1e308", |h, _| h.price_usd = 1e308),
        ("hardware price 1e-308", |h, _| h.price_usd = 1e-308),
        ("hardware power 1e308", |h, _| h.power_full_w = 1e308),
        ("API input price 1e308", |_, a| {
            a.input_usd_per_million = 1e308
        }),
        ("API output price 1e-308", |_, a| {
            a.output_usd_per_million = 1e-308
        }),
        ("API TTFT 1e308 ms", |_, a| a.ttft_p95_ms = 1e308),
    ];
    let mut failures = Vec::new();
    for (what, edit) in edits {
        let dir = tempfile::tempdir().unwrap();
        let server = start(&dir).await;
        let mut planner = PlannerServiceClient::new(connect(server.grpc).await)
            .max_decoding_message_size(64 * 1024 * 1024);
        let mut hardware = planner
            .list_hardware(pb::ListHardwareRequest {})
            .await
            .unwrap()
            .into_inner()
            .hardware
            .remove(0);
        let mut api = planner
            .list_api_offers(pb::ListApiOffersRequest {})
            .await
            .unwrap()
            .into_inner()
            .api_offers
            .remove(0);
        edit(&mut hardware, &mut api);
        let upserts = [
            planner
                .upsert_hardware(pb::UpsertHardwareRequest {
                    hardware: Some(hardware),
                })
                .await
                .map(drop),
            planner
                .upsert_api_offer(pb::UpsertApiOfferRequest {
                    api_offer: Some(api),
                })
                .await
                .map(drop),
        ];
        for status in upserts.into_iter().filter_map(Result::err) {
            if status.code() != Code::InvalidArgument {
                failures.push(format!(
                    "{what}: upsert got {:?} {:?}",
                    status.code(),
                    status.message()
                ));
            }
        }
        for local_only in [false, true] {
            let mut request = valid_propose();
            request.workloads[0].local_only = local_only;
            match tokio::time::timeout(CALL_LIMIT, planner.propose(request)).await {
                Err(_) => failures.push(format!("{what}: Propose hangs")),
                Ok(Ok(response)) => {
                    let cost = response.into_inner().plan.unwrap().cost.unwrap();
                    if !cost.total_usd.is_finite() {
                        failures.push(format!("{what}: plan costs {}", cost.total_usd));
                    }
                }
                Ok(Err(status)) => {
                    if !matches!(
                        status.code(),
                        Code::InvalidArgument | Code::FailedPrecondition
                    ) {
                        failures.push(format!(
                            "{what} (local only {local_only}): Propose got {:?} {:?}",
                            status.code(),
                            status.message()
                        ));
                    }
                }
            }
        }
        let _ = server.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), server.task).await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
