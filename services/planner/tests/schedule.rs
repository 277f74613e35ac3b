//! The hourly schedule: a hand-checked business-hours case, deferral, N+1, site power, several
//! models, routing weights, and property tests of the per-hour invariants.

mod synthetic;

use fleet_planner::catalog::{Catalog, DEFAULT_CATALOG_TOML};
use fleet_planner::demand::{CostOverrides, DemandProfile, HourWindow, PlanRequest, Workload};
use fleet_planner::plan::Plan;
use fleet_planner::solve::{BASELINE_TIME_SHARE, Decomposition, SolveSettings};
use fleet_planner::{PlanError, ThroughputModel, TokenCount, propose, propose_with};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError};

/// One SKU, one quant, one model; numbers picked so the arithmetic is easy by hand.
/// A node costs $36,000 (→ $1,000/month over 36 months) and decodes 156.25 tok/s; the API
/// charges $4 per 1M output tokens. Electricity is set to $0 in the requests below.
const TINY_CATALOG: &str = r#"
version = "tiny-1"
source = "test"
[cost]
amortization_months = 36
electricity_usd_per_kwh = 0.16
hours_per_month = 720
utilization_cap = 0.8
source = "test"
[[model]]
id = "m"
name = "M"
total_params_b = 8.0
active_params_b = 8.0
max_context_tokens = 131072
kv_cache_bytes_per_token = 1000
source = "test"
[[quant]]
id = "Q4_K_M"
bits_per_param = 4.8
quality_retained = 0.95
source = "test"
[[hardware]]
id = "box"
name = "Box"
accelerators = 1
memory_per_device_gb = 48.0
unified_memory = false
price_usd = 36000.0
power_full_w = 500.0
power_idle_w = 100.0
backend = "cuda"
source = "test"
[[benchmark]]
sku = "box"
model = "m"
quant = "Q4_K_M"
concurrency = 1
devices_used = 1
vram_used_gb = 6.0
decode_tok_s = 156.25
prefill_tok_s = 5000.0
power_w = 500.0
offload = false
source = "test"
[[api]]
id = "api"
name = "API"
model = "m"
input_usd_per_million = 1.0
output_usd_per_million = 4.0
ttft_p50_ms = 200.0
ttft_p95_ms = 500.0
source = "test"
"#;

fn tiny() -> Catalog {
    Catalog::from_toml_str(TINY_CATALOG).unwrap()
}

/// Plans with the catalog's published figures at face value: these tests check the solver's
/// arithmetic on the seed article's figures (hand-computed), which the physics check would
/// otherwise replace (tests/physics.rs covers that).
fn plan(catalog: &Catalog, request: &PlanRequest) -> Result<Plan, PlanError> {
    let mut request = request.clone();
    request.trust_published = true;
    propose(catalog, &ThroughputModel::from_catalog(catalog), &request)
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

fn free_power() -> CostOverrides {
    CostOverrides {
        electricity_usd_per_kwh: Some(0.0),
        ..Default::default()
    }
}

#[test]
fn business_hours_buys_nodes_for_the_base_and_sends_the_peak_to_the_api() {
    // 1.2B output tokens a month, business-hours profile: 09-17 carry 3/40 of a day each, the
    // other 16 hours 1/40. Per occurrence (30 a month): 1.2e9/40/30 = 1.0M tokens in an
    // off-hour, 3.0M in a business hour.
    let mut w =
        Workload::new("chat", TokenCount(1_200_000_000)).with_profile(DemandProfile::BusinessHours);
    w.input_share = 0.0;
    let request = PlanRequest {
        workloads: vec![w],
        overrides: free_power(),
        ..Default::default()
    };
    let catalog = tiny();
    let plan = plan(&catalog, &request).unwrap();

    // By hand. A node serves 156.25 tok/s × 3600 s × 0.8 cap = 450,000 tokens an hour and
    // costs $36,000 / 36 = $1,000 a month; an API token costs $4 per 1M. The k-th node serves,
    // in each hour, min(450k, what the first k−1 leave) and is worth buying if those tokens
    // cost more than $1,000 at the API:
    //   node 1: 450k × 24 h × 30 = 324M → $1,296 at the API > $1,000: buy
    //   node 2: 450k × 24 h × 30 = 324M → $1,296 > $1,000: buy
    //   node 3: (100k × 16 + 450k × 8) × 30 = 156M → $624 < $1,000: don't
    // So k = 2 nodes carry the base (900k of the 1.0M every hour) and the API takes the rest:
    // 1.2B − 648M = 552M tokens, 46% of the month; cost 2 × $1,000 + 552 × $4 = $4,208.
    let per_node_hour = 156.25 * 3600.0 * 0.8;
    let demand = |h: usize| if (9..17).contains(&h) { 3.0e6 } else { 1.0e6 };
    let mut k = 0;
    loop {
        let served_by_next: f64 = (0..24)
            .map(|h| (demand(h) - f64::from(k) * per_node_hour).clamp(0.0, per_node_hour))
            .sum::<f64>()
            * 30.0;
        if served_by_next / 1e6 * 4.0 < 1_000.0 {
            break;
        }
        k += 1;
    }
    assert_eq!(k, 2);
    let local_share: f64 = (0..24)
        .map(|h| demand(h).min(f64::from(k) * per_node_hour))
        .sum::<f64>()
        / (0..24).map(demand).sum::<f64>();
    let api_share = 1.0 - local_share;
    assert!(close(api_share, 0.46, 1e-12));

    assert_eq!(plan.pools.len(), 1);
    assert_eq!(plan.pools[0].nodes, k);
    assert_eq!(plan.pools[0].concurrency, 1);
    assert!(
        close(plan.routes[0].api_tokens, 552e6, 1.0),
        "{}",
        plan.routes[0].api_tokens
    );
    assert!(
        close(plan.cost.total_usd, 4_208.0, 1e-6),
        "{}",
        plan.cost.total_usd
    );
    assert!(close(plan.cost.tokens_api / 1.2e9, api_share, 1e-9));
    // The schedule: 24 hours in 2 buckets (off-hours, business hours).
    let schedule = &plan.schedule;
    assert_eq!((schedule.hours, schedule.buckets), (24, 2));
    assert!(close(schedule.occurrences_per_month, 30.0, 1e-12));
    for hour in &schedule.hourly {
        let h = hour.hour as usize;
        let w = &hour.workloads[0];
        assert!(close(w.demand_tokens, demand(h), 1e-3));
        assert!(close(w.pool_tokens[0], 900_000.0, 1e-3), "{h}: {:?}", w);
        assert!(
            close(w.api_tokens, demand(h) - 900_000.0, 1e-3),
            "{h}: {:?}",
            w
        );
        // 900k of 2 × 450k/0.8 tokens an hour: 80% busy.
        assert!(close(hour.pool_utilization[0], 0.8, 1e-9));
    }
    // The gateway's weights in a business hour: 0.9M of 3M local.
    let routing = plan.routing_at(10).unwrap();
    let targets = &routing.workloads[0].targets;
    assert_eq!(targets.len(), 2);
    assert!(close(targets[0].weight, 0.3, 1e-9));
    assert_eq!(targets[1].target, "api");
    assert!(close(targets[1].weight, 0.7, 1e-9));
    assert!(plan.routing_at(24).is_err());
}

#[test]
fn a_flat_profile_is_the_monthly_model() {
    // Flat demand: one bucket; 2 nodes carry 2 × 450k × 720 = 648M, the API 552M.
    let mut w = Workload::new("flat", TokenCount(1_200_000_000));
    w.input_share = 0.0;
    let plan = plan(
        &tiny(),
        &PlanRequest {
            workloads: vec![w],
            overrides: free_power(),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(plan.schedule.buckets, 1);
    // 1.2e9/720 = 1.667M an hour: nodes 1 and 2 each save $1,296, node 3 would serve
    // (1.667M − 0.9M, capped 450k) × 720 = 324M → $1,296 too: buy; node 4: 0.2167M × 720 = 156M
    // → $624: don't. So 3 nodes, API (1.6667M − 1.35M) × 720 = 228M.
    assert_eq!(plan.pools[0].nodes, 3);
    assert!(close(plan.routes[0].api_tokens, 228e6, 1.0));
}

#[test]
fn deferrable_work_moves_into_its_window_and_fills_idle_nodes() {
    // 8h-day: all 1.2B arrives 09-17 (5M an hour). Half may run 22-06 instead. Nodes bought
    // for the night then serve deferred work at no extra cost.
    let mut w =
        Workload::new("batch", TokenCount(1_200_000_000)).with_profile(DemandProfile::EightHourDay);
    w.input_share = 0.0;
    w.deferrable_share = 0.5;
    w.defer_window = Some(HourWindow {
        start_hour: 22,
        end_hour: 6,
    });
    let catalog = tiny();
    let request = PlanRequest {
        workloads: vec![w],
        overrides: free_power(),
        ..Default::default()
    };
    let plan = plan(&catalog, &request).unwrap();
    let window = HourWindow {
        start_hour: 22,
        end_hour: 6,
    };
    let mut moved = 0.0;
    for hour in &plan.schedule.hourly {
        let w = &hour.workloads[0];
        if window.contains(hour.hour) {
            moved += w.served_tokens - 0.5 * w.demand_tokens;
        } else {
            assert!(
                close(w.served_tokens, 0.5 * w.demand_tokens, 1e-3),
                "{hour:?}"
            );
        }
    }
    // Half a day's 40M moves: 20M a day.
    assert!(close(moved, 20e6, 1.0), "{moved}");
    // 20M over 8 night hours is 2.5M an hour; whole nodes there each save 450k × 8 × 30 = 108M
    // → $432 a month at the API, less than a node costs. By day each node serves 450k × 8 × 30
    // = 108M more → $864 in total... still < $1,000, so the API takes it all.
    assert!(plan.pools.is_empty());
    // With the API 4× dearer, nodes pay: they serve both day and night.
    let dear = Catalog::from_toml_str(&TINY_CATALOG.replace(
        "output_usd_per_million = 4.0",
        "output_usd_per_million = 16.0",
    ))
    .unwrap();
    let plan = propose(&dear, &ThroughputModel::from_catalog(&dear), &request).unwrap();
    assert!(!plan.pools.is_empty());
    let night: f64 = plan
        .schedule
        .hourly
        .iter()
        .filter(|h| window.contains(h.hour))
        .map(|h| h.local_tokens)
        .sum();
    assert!(night > 0.0);
}

#[test]
fn critical_work_keeps_a_spare_node() {
    let mut w = Workload::new("prod", TokenCount(1_200_000_000));
    w.input_share = 0.0;
    w.local_only = true;
    let catalog = tiny();
    let mut request = PlanRequest {
        workloads: vec![w],
        overrides: free_power(),
        ..Default::default()
    };
    // 1.667M an hour ÷ 450k per node = 3.7 → 4 nodes.
    assert_eq!(plan(&catalog, &request).unwrap().pools[0].nodes, 4);
    request.workloads[0].critical = true;
    let plan = plan(&catalog, &request).unwrap();
    assert_eq!(plan.pools[0].nodes, 5);
    assert_eq!(plan.pools[0].spare_nodes, 1);
}

#[test]
fn site_power_cap_limits_the_fleet() {
    let mut w = Workload::new("prod", TokenCount(1_200_000_000));
    w.input_share = 0.0;
    w.local_only = true;
    let catalog = tiny();
    let mut request = PlanRequest {
        workloads: vec![w],
        overrides: free_power(),
        ..Default::default()
    };
    // 4 nodes × 500 W busy = 2,000 W; 1,999 W cannot hold them.
    request.constraints.site_power_cap_w = Some(2_000.0);
    let ok = plan(&catalog, &request).unwrap();
    assert!(
        ok.solver
            .binding
            .iter()
            .any(|b| b.starts_with("site power")),
        "{:?}",
        ok.solver.binding
    );
    request.constraints.site_power_cap_w = Some(1_999.0);
    let err = plan(&catalog, &request).unwrap_err().to_string();
    assert_eq!(
        err,
        "infeasible: a site power cap of 1,999 W cannot serve the 1.2B tokens/month that must stay local: the fleet that can with the least new hardware and the least busy power needs $144,000.00 of new hardware and 2,000 W at busy power (4 × box Q4_K_M)"
    );
    request.constraints.site_power_cap_w = Some(-1.0);
    assert!(matches!(
        plan(&catalog, &request),
        Err(PlanError::InvalidRequest { ref field, .. }) if field == "constraints.site_power_cap_w"
    ));
}

#[test]
fn several_models_get_their_own_pools() {
    let text = format!(
        "{TINY_CATALOG}\n{}",
        r#"
[[model]]
id = "m2"
name = "M2"
total_params_b = 8.0
active_params_b = 8.0
max_context_tokens = 131072
kv_cache_bytes_per_token = 1000
source = "test"
[[benchmark]]
sku = "box"
model = "m2"
quant = "Q4_K_M"
concurrency = 1
devices_used = 1
vram_used_gb = 6.0
decode_tok_s = 100.0
prefill_tok_s = 5000.0
power_w = 500.0
offload = false
source = "test"
"#
    );
    let catalog = Catalog::from_toml_str(&text).unwrap();
    let mut a = Workload::new("a", TokenCount(500_000_000));
    a.local_only = true;
    let mut b = Workload::new("b", TokenCount(500_000_000));
    b.local_only = true;
    b.model = Some("m2".into());
    let plan = plan(
        &catalog,
        &PlanRequest {
            workloads: vec![a, b],
            ..Default::default()
        },
    )
    .unwrap();
    let models: Vec<&str> = plan.pools.iter().map(|p| p.model.as_str()).collect();
    assert!(
        models.contains(&"m") && models.contains(&"m2"),
        "{models:?}"
    );
    assert_eq!(plan.model, "m, m2");
    // b has no API offer for m2 and is local-only anyway; every b token is on an m2 pool.
    let pools_b: Vec<usize> = plan.schedule.hourly[0].workloads[1]
        .pool_tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| **t > 0.0)
        .map(|(p, _)| p)
        .collect();
    assert!(pools_b.iter().all(|&p| plan.pools[p].model == "m2"));
    let mut c = Workload::new("c", TokenCount(1));
    c.model = Some("nope".into());
    let err = fleet_planner::propose(
        &catalog,
        &ThroughputModel::from_catalog(&catalog),
        &PlanRequest {
            workloads: vec![c],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidRequest { ref field, .. } if field == "workloads[0].model"),
        "{err}"
    );
}

#[test]
fn profile_and_window_errors_name_the_field() {
    let catalog = tiny();
    let mut w = Workload::new("a", TokenCount(1_000_000));
    w.profile = DemandProfile::Weights(vec![1.0; 23]);
    let err = plan(
        &catalog,
        &PlanRequest {
            workloads: vec![w.clone()],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidRequest { ref field, .. } if field == "workloads[0].profile.weights"),
        "{err}"
    );
    w.profile = DemandProfile::Weights(vec![0.0; 24]);
    assert!(
        plan(
            &catalog,
            &PlanRequest {
                workloads: vec![w.clone()],
                ..Default::default()
            }
        )
        .is_err()
    );
    w.profile = DemandProfile::Flat;
    w.deferrable_share = 0.2;
    let err = plan(
        &catalog,
        &PlanRequest {
            workloads: vec![w],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, PlanError::InvalidRequest { ref field, .. } if field == "workloads[0].defer_window"),
        "{err}"
    );
}

#[test]
fn a_ttft_limit_lowers_the_utilization_through_queueing() {
    // Default catalog, local-only, TTFT 2 s: a 4,096-token prompt takes ~1 s of prefill, and a
    // request then holds its slot for ~1 minute of decode, so a node may only be a few percent
    // busy before the p95 wait for a slot eats the remaining second.
    let catalog = Catalog::from_toml_str(DEFAULT_CATALOG_TOML).unwrap();
    let mut w = Workload::new("a", TokenCount(1_500_000_000));
    w.local_only = true;
    let loose = plan(
        &catalog,
        &PlanRequest {
            workloads: vec![w.clone()],
            ..Default::default()
        },
    )
    .unwrap();
    w.ttft_p95_ms = Some(2_000.0);
    let tight = plan(
        &catalog,
        &PlanRequest {
            workloads: vec![w],
            ..Default::default()
        },
    )
    .unwrap();
    let nodes = |p: &Plan| p.pools.iter().map(|p| p.nodes).sum::<u32>();
    assert!(
        nodes(&tight) > 2 * nodes(&loose),
        "{} vs {}",
        nodes(&tight),
        nodes(&loose)
    );
    for pool in &tight.pools {
        assert!(pool.peak_utilization < 0.25, "{pool:?}");
    }
    assert!(
        tight
            .notes
            .iter()
            .any(|n| n.starts_with("queueing: ") && n.contains("Erlang C"))
    );
}

#[test]
fn a_calibrated_model_with_batching_gain_picks_more_slots_and_says_so() {
    use fleet_planner::throughput::{ObservationSample, UslCurve};
    let catalog = tiny();
    // Measured on two nodes: X(N) = 156.25·N / (1 + 0.1(N−1)), a real batching gain.
    let curve = UslCurve {
        lambda_tok_s: 156.25,
        sigma: 0.1,
        kappa: 0.0,
    };
    let samples: Vec<ObservationSample> = [1u32, 2, 4]
        .iter()
        .flat_map(|&n| {
            (0..20).map(move |i| ObservationSample {
                node_id: format!("node-{}", i % 2),
                sku: "box".into(),
                model: "m".into(),
                quant: "Q4_K_M".into(),
                concurrency: n,
                window_start_unix_ms: 1_795_885_140_000 - i64::from(i) * 60_000,
                window_end_unix_ms: 1_795_885_200_000 - i64::from(i) * 60_000,
                prompt_tokens: 1_000_000,
                predicted_tokens: 1_000_000,
                prompt_seconds: 200.0,
                predicted_seconds: 1_000_000.0 / curve.per_stream_tok_s(n),
                prefill_tok_s: 5_000.0,
                decode_tok_s: curve.per_stream_tok_s(n),
                aggregate_decode_tok_s: curve.aggregate_tok_s(n),
                mean_concurrency: f64::from(n),
                queue_depth: 0.0,
                cache_hit_rate: 0.0,
                power_w: Some(500.0),
                probe: false,
            })
        })
        .collect();
    let model = ThroughputModel::calibrate(&catalog, &samples);
    let mut w = Workload::new("prod", TokenCount(1_200_000_000));
    w.input_share = 0.0;
    w.local_only = true;
    let request = PlanRequest {
        workloads: vec![w],
        overrides: free_power(),
        ..Default::default()
    };
    let plan = propose(&catalog, &model, &request).unwrap();
    // N = 8 (fitted) gives the most tokens per node: 156.25 × 8 / 1.7 = 735 tok/s, 92 tok/s a
    // stream (≥ 10), so 1.667M tokens an hour need 1.667M ÷ (735 × 3600 × 0.8) = 0.79 → 1 node.
    assert_eq!(plan.pools.len(), 1, "{:?}", plan.pools);
    assert_eq!(plan.pools[0].concurrency, 8);
    assert_eq!(plan.pools[0].nodes, 1);
    assert_eq!(
        plan.pools[0].throughput_provenance,
        "USL fit to measured N=1,2,4: 2 nodes, 60 windows, last at 2026-11-28 17:00 UTC"
    );
    assert!(
        plan.throughput_source.contains("box m Q4_K_M N=8"),
        "{}",
        plan.throughput_source
    );
    assert_eq!(plan.throughput_version, model.version);
}

#[test]
fn merging_hours_and_workloads_does_not_change_the_optimum() {
    let catalog = dear_api_catalog();
    let model = ThroughputModel::from_catalog(&catalog);
    let mut one =
        Workload::new("a", TokenCount(2_000_000_000)).with_profile(DemandProfile::BusinessHours);
    one.ttft_p95_ms = Some(20_000.0);
    // The same demand as two identical workloads (they merge into one group) …
    let mut half_a = one.clone();
    half_a.monthly_tokens = TokenCount(1_000_000_000);
    let mut half_b = half_a.clone();
    half_b.name = "b".into();
    // … and as a 168-hour week that repeats the business day (its 168 hours merge into 2).
    let day = DemandProfile::BusinessHours.shares();
    let mut weekly = one.clone();
    weekly.profile = DemandProfile::Weights((0..168).map(|h| day[h % 24]).collect());
    let cost = |workloads: Vec<Workload>| {
        let plan = propose(
            &catalog,
            &model,
            &PlanRequest {
                workloads,
                ..Default::default()
            },
        )
        .unwrap();
        (
            plan.cost.total_usd,
            plan.solver.workload_groups,
            plan.solver.hour_buckets,
        )
    };
    let (base, groups, buckets) = cost(vec![one]);
    assert_eq!((groups, buckets), (1, 2));
    let (split, groups, _) = cost(vec![half_a, half_b]);
    assert_eq!(groups, 1);
    assert!(close(split, base, 1e-6 * base), "{split} vs {base}");
    let (week, _, buckets) = cost(vec![weekly]);
    assert_eq!(buckets, 2);
    assert!(close(week, base, 1e-6 * base), "{week} vs {base}");
}

// ---------------------------------------------------------------------------------------------
// Property tests over the schedule.

fn arb_profile() -> impl Strategy<Value = DemandProfile> {
    prop_oneof![
        Just(DemandProfile::Flat),
        Just(DemandProfile::BusinessHours),
        Just(DemandProfile::EightHourDay),
        prop::collection::vec(prop_oneof![Just(0.0), Just(1.0), Just(3.0)], 24)
            .prop_filter("not all zero", |w| w.iter().sum::<f64>() > 0.0)
            .prop_map(DemandProfile::Weights),
        (
            prop::collection::vec(prop_oneof![Just(1.0), Just(2.0)], 24),
            0.1f64..1.0
        )
            .prop_map(|(day, weekend)| DemandProfile::Weights(
                (0..168)
                    .map(|h| day[h % 24] * if h >= 120 { weekend } else { 1.0 })
                    .collect()
            )),
    ]
}

fn arb_workload(index: usize) -> impl Strategy<Value = Workload> {
    (
        10u64..3_000,
        arb_profile(),
        prop_oneof![Just(0.0), Just(0.4)],
        (0u32..24, 1u32..12),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(None), Just(Some(5_000.0))],
    )
        .prop_map(
            move |(mtok, profile, deferrable, (start, len), local_only, critical, ttft)| {
                let mut w = Workload::new(format!("w{index}"), TokenCount(mtok * 1_000_000));
                w.profile = profile;
                w.deferrable_share = deferrable;
                w.defer_window = Some(HourWindow {
                    start_hour: start,
                    end_hour: (start + len) % 24,
                });
                w.local_only = local_only;
                w.critical = critical;
                w.ttft_p95_ms = ttft;
                w
            },
        )
}

fn arb_request() -> impl Strategy<Value = PlanRequest> {
    (1usize..4)
        .prop_flat_map(|n| (0..n).map(arb_workload).collect::<Vec<_>>())
        .prop_map(|workloads| PlanRequest {
            workloads,
            ..Default::default()
        })
}

fn dear_api_catalog() -> Catalog {
    // The API 20× dearer than the seed article's, so local pools win part of the day.
    Catalog::from_toml_str(
        &DEFAULT_CATALOG_TOML
            .replace(
                "input_usd_per_million = 0.0265",
                "input_usd_per_million = 0.53",
            )
            .replace(
                "output_usd_per_million = 0.0795",
                "output_usd_per_million = 1.59",
            ),
    )
    .unwrap()
}

fn check_schedule(plan: &Plan, request: &PlanRequest) {
    let schedule = &plan.schedule;
    assert_eq!(schedule.hourly.len(), schedule.hours as usize);
    assert_eq!(schedule.pools.len(), plan.pools.len());
    let cycle = schedule.hours as usize;
    for (w, workload) in request.workloads.iter().enumerate() {
        let shares = workload.profile.shares_over(cycle);
        let mut served_total = 0.0;
        let mut demand_total = 0.0;
        for hour in &schedule.hourly {
            let hw = &hour.workloads[w];
            let h = hour.hour as usize;
            let expected =
                shares[h] * workload.monthly_tokens.get() as f64 / schedule.occurrences_per_month;
            let tol = 1e-6 * expected.max(1.0) + 1e-3;
            // Each hour's demand is what the profile says, and all of what is served in the hour
            // goes somewhere.
            assert!(close(hw.demand_tokens, expected, tol));
            let placed = hw.pool_tokens.iter().sum::<f64>() + hw.api_tokens;
            assert!(
                close(
                    placed,
                    hw.served_tokens,
                    1e-6 * hw.served_tokens.max(1.0) + 1e-3
                ),
                "{placed} vs {}",
                hw.served_tokens
            );
            // Deferrable work only inside its window: outside it, exactly the non-deferrable
            // part is served; inside, at least that.
            let fixed = (1.0 - workload.deferrable_share) * hw.demand_tokens;
            let in_window = workload.deferrable_share > 0.0
                && workload.defer_window.unwrap().contains(hour.hour % 24);
            if in_window {
                assert!(hw.served_tokens >= fixed - tol);
            } else {
                assert!(
                    close(hw.served_tokens, fixed, tol),
                    "{} hour {h}: {} vs {fixed}",
                    workload.name,
                    hw.served_tokens
                );
            }
            // Local-only work never on the API.
            if workload.local_only {
                assert!(
                    hw.api_tokens <= 1e-6,
                    "{} hour {h} api {}",
                    workload.name,
                    hw.api_tokens
                );
            }
            served_total += hw.served_tokens;
            demand_total += hw.demand_tokens;
        }
        // Over the cycle, every token arriving is served.
        assert!(close(served_total, demand_total, 1e-6 * demand_total + 1.0));
    }
    // Capacity every hour: busy node-hours from the tokens fit under cap × nodes.
    for hour in &schedule.hourly {
        for (p, pool) in plan.pools.iter().enumerate() {
            let busy_hours: f64 = request
                .workloads
                .iter()
                .zip(&hour.workloads)
                .map(|(w, hw)| {
                    hw.pool_tokens[p]
                        * (w.input_share / pool.prefill_tok_s
                            + (1.0 - w.input_share) / pool.aggregate_decode_tok_s)
                        / f64::from(pool.instances_per_node)
                        / 3_600.0
                })
                .sum();
            let limit = plan.assumptions.utilization_cap * f64::from(pool.nodes - pool.spare_nodes);
            assert!(
                busy_hours <= limit * (1.0 + 1e-6) + 1e-9,
                "hour {} pool {p}: {busy_hours} > {limit}",
                hour.hour
            );
            assert!(close(
                hour.pool_utilization[p] * f64::from(pool.nodes),
                busy_hours,
                1e-6 * busy_hours.max(1.0)
            ));
        }
    }
    // Routing weights sum to 1 per workload in every hour.
    for h in 0..schedule.hours {
        let routing = plan.routing_at(h).unwrap();
        for wr in &routing.workloads {
            let sum: f64 = wr.targets.iter().map(|t| t.weight).sum();
            assert!(wr.targets.is_empty() || close(sum, 1.0, 1e-9));
        }
    }
    assert!(close(
        plan.cost.total_usd,
        plan.solver.objective_usd,
        1e-6 * plan.cost.total_usd.max(1.0)
    ));
}

// Each property runs twice: `cases` draws from a fixed seed, the same in every run, so that CI
// never turns red on a new draw; then a few fresh ones from a new seed each run, which over many
// runs still search further. The fresh seed is printed (shown when a case fails) and
// `PROPTEST_RNG_SEED` replays it; `PROPTEST_CASES` sets how many fresh cases to run, for a long
// local search (`PROPTEST_CASES=300 cargo test -p fleet-planner --test schedule fresh`).

/// `cases` draws from `seed`.
fn fixed_seed(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

/// `cases` draws (or `PROPTEST_CASES`) from a new seed (or `PROPTEST_RNG_SEED`), printed.
fn fresh_seed(cases: u32) -> ProptestConfig {
    let from_env = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
    let seed = from_env("PROPTEST_RNG_SEED").unwrap_or_else(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let cases = from_env("PROPTEST_CASES").map_or(cases, |n: u64| n as u32);
    eprintln!("{cases} fresh cases from seed {seed}: PROPTEST_RNG_SEED={seed} replays them");
    fixed_seed(cases, seed)
}

fn every_hour_meets_demand(request: &PlanRequest) {
    let catalog = dear_api_catalog();
    match propose(&catalog, &ThroughputModel::from_catalog(&catalog), request) {
        Ok(plan) => check_schedule(&plan, request),
        Err(PlanError::Infeasible { .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
    }
}

proptest! {
    #![proptest_config(fixed_seed(24, 0x5eed_0001))]

    #[test]
    fn every_hour_meets_demand_within_capacity_and_windows(request in arb_request()) {
        every_hour_meets_demand(&request);
    }
}

proptest! {
    #![proptest_config(fresh_seed(8))]

    #[test]
    fn every_hour_meets_demand_within_capacity_and_windows_fresh(request in arb_request()) {
        every_hour_meets_demand(&request);
    }
}

// ---------------------------------------------------------------------------------------------
// The decomposed solve (options priced from the LP relaxation, reduced-cost fixing, the MIP over
// what is left) against the whole model.

const SKUS: [&str; 5] = [
    "rtx-5090",
    "dual-rtx-4090",
    "mac-studio-m3-ultra",
    "rx-7900-xtx",
    "rtx-pro-6000",
];

/// Requests with fleet limits too: a capex budget, a node limit, owned nodes, a site power cap.
fn arb_limited_request() -> impl Strategy<Value = PlanRequest> {
    (
        arb_request(),
        prop_oneof![Just(None), (20_000.0f64..400_000.0).prop_map(Some)],
        prop_oneof![Just(None), (0usize..5, 1u32..6).prop_map(Some)],
        prop_oneof![Just(None), (0usize..5, 1u32..4).prop_map(Some)],
        prop_oneof![Just(None), (1_500.0f64..20_000.0).prop_map(Some)],
    )
        .prop_map(|(mut request, budget, max, owned, power)| {
            request.constraints.budget_usd = budget;
            if let Some((s, n)) = max {
                request
                    .constraints
                    .max_nodes_per_sku
                    .insert(SKUS[s].into(), n);
            }
            if let Some((s, n)) = owned {
                request
                    .constraints
                    .owned_nodes_per_sku
                    .insert(SKUS[s].into(), n);
            }
            request.constraints.site_power_cap_w = power;
            request
        })
}

/// The time limit of the decomposition comparisons.
const TIME_LIMIT_S: f64 = 120.0;

fn settings(decomposition: Decomposition) -> SolveSettings {
    SolveSettings {
        time_limit_s: Some(TIME_LIMIT_S),
        mip_gap: None,
        decomposition,
        ..SolveSettings::default()
    }
}

/// Solves `request` whole and decomposed and checks they agree: the same cost, a bound that never
/// exceeds the whole model's optimum, the note wherever there is an option to price, and a
/// schedule that meets every hour's demand within capacity.
fn decomposed_matches_whole(catalog: &Catalog, request: &PlanRequest) -> Result<(), TestCaseError> {
    let throughput = ThroughputModel::from_catalog(catalog);
    let whole = propose_with(
        catalog,
        &throughput,
        request,
        settings(Decomposition::Never),
    );
    let split = propose_with(
        catalog,
        &throughput,
        request,
        settings(Decomposition::Always),
    );
    match (whole, split) {
        (Ok(whole), Ok(split)) => {
            let optimum = whole.solver.objective_usd;
            let tolerance = 1e-6 * optimum.abs().max(1.0);
            prop_assert!(
                (split.solver.objective_usd - optimum).abs() <= tolerance,
                "decomposed ${} vs whole ${optimum}",
                split.solver.objective_usd
            );
            prop_assert!(split.solver.gap <= 1e-6, "gap {}", split.solver.gap);
            let bound = split.solver.objective_usd * (1.0 - split.solver.gap);
            prop_assert!(
                bound <= optimum + tolerance,
                "bound ${bound} above ${optimum}"
            );
            prop_assert_eq!(
                split
                    .notes
                    .iter()
                    .any(|n| n.starts_with("solve: decomposed")),
                split.solver.options_kept > 0
            );
            check_schedule(&split, request);
            // The single-SKU baselines are restricted solves of their own: a fleet for the same
            // ones at the same cost, and none only where the whole model has none either. Only
            // where no baseline can have run into its time (an even split of the limit's
            // baseline share), or one could stop early in one way and not the other.
            prop_assert_eq!(whole.baselines.len(), split.baselines.len());
            let slice_ms = 1e3 * TIME_LIMIT_S * BASELINE_TIME_SHARE / whole.baselines.len() as f64;
            let unhurried = whole.solver.total_solve_ms.max(split.solver.total_solve_ms) < slice_ms;
            for (w, s) in whole
                .baselines
                .iter()
                .zip(&split.baselines)
                .filter(|_| unhurried)
            {
                prop_assert_eq!(&w.name, &s.name);
                match (w.monthly_usd, s.monthly_usd) {
                    (Some(a), Some(b)) => prop_assert!(
                        (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                        "{}: whole ${a} vs decomposed ${b}",
                        w.name
                    ),
                    (None, None) => {}
                    (a, b) => prop_assert!(false, "{}: whole {a:?} vs decomposed {b:?}", w.name),
                }
            }
        }
        (Err(PlanError::Infeasible { .. }), Err(PlanError::Infeasible { .. })) => {}
        // microlp's simplex over the whole model sometimes stops at a singular basis (as the
        // issue measured); there is then nothing to compare against.
        (Err(PlanError::Solver(message)), _) if message.contains("Singular matrix") => {}
        (whole, split) => prop_assert!(
            false,
            "whole {:?} vs decomposed {:?}",
            whole.map(|p| p.solver.objective_usd),
            split.map(|p| p.solver.objective_usd)
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(fixed_seed(32, 0x5eed_0002))]

    #[test]
    fn the_decomposed_solve_reaches_the_whole_models_optimum(request in arb_limited_request()) {
        decomposed_matches_whole(&dear_api_catalog(), &request)?;
    }
}

proptest! {
    #![proptest_config(fresh_seed(8))]

    #[test]
    fn the_decomposed_solve_reaches_the_whole_models_optimum_fresh(request in arb_limited_request()) {
        decomposed_matches_whole(&dear_api_catalog(), &request)?;
    }
}

/// Issue 16 §0, proptest's shrink of a failure of the test above: the whole model has a plan at
/// about $6,279/month, and the decomposed solve said it had none. The interior-point solve of the
/// relaxation broke down into NaN (which `f64::max` let pass for a converged iterate), the NaN
/// bound kept no option for the MIP, and a restricted model in which a local-only group had
/// nowhere to go was taken for a proof that the whole model was infeasible.
#[test]
fn a_restricted_option_set_without_a_fleet_does_not_make_the_model_infeasible() {
    let mut w0 = Workload::new("w0", TokenCount(1_477_000_000));
    w0.ttft_p95_ms = Some(5_000.0);
    w0.local_only = true;
    w0.critical = true;
    let mut w1 = Workload::new("w1", TokenCount(1_096_000_000));
    w1.critical = true;
    let mut w2 = Workload::new("w2", TokenCount(195_000_000));
    w2.profile = DemandProfile::BusinessHours;
    w2.local_only = true;
    w2.deferrable_share = 0.4;
    w2.defer_window = Some(HourWindow {
        start_hour: 0,
        end_hour: 11,
    });
    for w in [&mut w0, &mut w1] {
        w.defer_window = Some(HourWindow {
            start_hour: 0,
            end_hour: 1,
        });
    }
    let mut request = PlanRequest {
        workloads: vec![w0, w1, w2],
        ..Default::default()
    };
    request.constraints.budget_usd = Some(344_666.83);
    request.constraints.site_power_cap_w = Some(19_549.21);
    request
        .constraints
        .owned_nodes_per_sku
        .insert("rx-7900-xtx".into(), 2);
    // This catalog's figures as published: the physics check finds them impossible, and
    // `trust_published` keeps them.
    request.trust_published = true;
    // The catalog the failure was found with (the default one then), the API 20× dearer as in
    // the test above: the input is about this catalog's options, not whatever the default is.
    let catalog = Catalog::from_toml_str(
        &include_str!("fixtures/catalog/seed-2026-03.toml")
            .replace(
                "input_usd_per_million = 0.0265",
                "input_usd_per_million = 0.53",
            )
            .replace(
                "output_usd_per_million = 0.0795",
                "output_usd_per_million = 1.59",
            ),
    )
    .unwrap();
    let whole = propose_with(
        &catalog,
        &ThroughputModel::from_catalog(&catalog),
        &request,
        settings(Decomposition::Never),
    )
    .expect("the whole model has a plan");
    assert!(
        (whole.solver.objective_usd - 6_278.96).abs() < 1.0,
        "${}",
        whole.solver.objective_usd
    );
    decomposed_matches_whole(&catalog, &request).unwrap();

    // Too tight a cap or budget: the explanation names the fleets with the least busy power and
    // the least new hardware (not the cheapest fleet's 20,440 W the issue saw), and they are the
    // least: the limit just above what it says they need lets a plan through, just below it none.
    let explain = |request: &PlanRequest| match propose(
        &catalog,
        &ThroughputModel::from_catalog(&catalog),
        request,
    ) {
        Err(PlanError::Infeasible { reason }) => reason,
        other => panic!("{:?}", other.map(|p| p.solver.objective_usd)),
    };
    // The number right after `marker` in `reason`, without its thousands separators.
    let number_after = |reason: &str, marker: &str| -> f64 {
        let at = reason
            .find(marker)
            .unwrap_or_else(|| panic!("{marker:?} in {reason}"))
            + marker.len();
        let digits: String = reason[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
            .filter(|c| *c != ',')
            .collect();
        digits.trim_end_matches('.').parse().unwrap()
    };
    let fits = |request: &PlanRequest| {
        decomposed_matches_whole(&catalog, request).unwrap();
        propose(&catalog, &ThroughputModel::from_catalog(&catalog), request).is_ok()
    };
    request.constraints.budget_usd = None;
    request.constraints.site_power_cap_w = Some(2_000.0);
    let reason = explain(&request);
    let least_w = number_after(&reason, "the least busy power draws ");
    assert!(least_w > 2_000.0 && least_w < 19_549.21, "{reason}");
    request.constraints.site_power_cap_w = Some(least_w + 1.0);
    assert!(fits(&request), "{reason}");
    request.constraints.site_power_cap_w = Some(least_w - 1.0);
    assert!(!fits(&request), "{reason}");

    request.constraints.site_power_cap_w = None;
    request.constraints.budget_usd = Some(1_000.0);
    let reason = explain(&request);
    let least_usd = number_after(&reason, "the least new hardware needs $");
    assert!(least_usd > 1_000.0, "{reason}");
    request.constraints.budget_usd = Some(least_usd + 1.0);
    assert!(fits(&request), "{reason}");
    request.constraints.budget_usd = Some(least_usd - 1.0);
    assert!(!fits(&request), "{reason}");
}

/// Part of the synthetic issue-size request (200 options, 10 SLO classes) with random hourly
/// weights over a day, and fleet limits on its SKUs.
fn arb_synthetic_request() -> impl Strategy<Value = PlanRequest> {
    (
        2usize..9,
        0usize..50,
        prop_oneof![Just(None), (20_000.0f64..300_000.0).prop_map(Some)],
        prop_oneof![Just(None), (0u32..25, 1u32..8).prop_map(Some)],
        prop_oneof![Just(None), (0u32..25, 1u32..4).prop_map(Some)],
        prop_oneof![Just(None), (3_000.0f64..40_000.0).prop_map(Some)],
    )
        .prop_map(|(n, skip, budget, max, owned, power)| {
            let mut workloads = synthetic::workloads(24);
            workloads.rotate_left(skip);
            workloads.truncate(n);
            let mut request = PlanRequest {
                workloads,
                ..Default::default()
            };
            request.constraints.budget_usd = budget;
            if let Some((s, n)) = max {
                request
                    .constraints
                    .max_nodes_per_sku
                    .insert(format!("sku{s}"), n);
            }
            if let Some((s, n)) = owned {
                request
                    .constraints
                    .owned_nodes_per_sku
                    .insert(format!("sku{s}"), n);
            }
            request.constraints.site_power_cap_w = power;
            request
        })
}

proptest! {
    // Each case solves two issue-size models (seconds each): the fixed draws, and one fresh.
    #![proptest_config(fixed_seed(10, 0x5eed))]

    #[test]
    fn the_decomposed_solve_reaches_the_optimum_over_many_options(request in arb_synthetic_request()) {
        decomposed_matches_whole(&synthetic::catalog(), &request)?;
    }
}

proptest! {
    #![proptest_config(fresh_seed(1))]

    #[test]
    fn the_decomposed_solve_reaches_the_optimum_over_many_options_fresh(request in arb_synthetic_request()) {
        decomposed_matches_whole(&synthetic::catalog(), &request)?;
    }
}
