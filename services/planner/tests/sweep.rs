//! Sweeps on a catalog small enough to check by hand: one SKU, one API offer. The break-even
//! volume is `fixed monthly cost ÷ (API $/token − local marginal $/token)`, and the sweep must
//! find it by bisection between its grid points.

use fleet_planner::catalog::Catalog;
use fleet_planner::demand::{PlanRequest, Workload};
use fleet_planner::sweep::{
    BREAK_EVEN_TOLERANCE, CostOutcome, PointOptimum, SweepAxis, SweepRange, SweepSettings,
    SweepSpec, VersusApi, sweep, sweep_grid,
};
use fleet_planner::{PlanError, ThroughputModel, TokenCount};

/// One SKU and one API offer. A node costs $36,000 over 36 months = $1,000/month; it idles at
/// 100 W and runs at 500 W; it decodes 156.25 tok/s. The API charges $4 per 1M output tokens.
/// Electricity $0.16/kWh, 720 h a month, nodes at most 80% busy.
const ONE_SKU: &str = include_str!("fixtures/catalog/one-sku.toml");

// The arithmetic, for every test below (all tokens are output tokens: input share 0).
//
// Fixed monthly cost of one node: $36,000 ÷ 36 = $1,000 amortization + idle energy
// 100 W × 720 h = 72 kWh × $0.16 = $11.52, so $1,011.52.
// Local marginal cost: a token keeps the node busy 1 ÷ 156.25 = 0.0064 s at 400 W above idle:
// 2.56 J = 7.111e-7 kWh × $0.16 = $1.1378e-7 a token, $0.113778 per 1M.
// API: $4 per 1M = $4e-6 a token.
// One node carries at most 156.25 × 3,600 × 720 × 0.8 = 324M tokens a month.
//
// Break-even demand, one node: $1,011.52 ÷ ($4 − $0.113778) per 1M = 260.2836M tokens/month.
// Below it the optimum sends everything to the API, above it (up to 324M) one node serves it
// all; the single-SKU fleet (1 node, all local) beats the API at the same volume.
const FIXED_USD: f64 = 1_011.52;
const MARGINAL_USD_PER_MILLION: f64 = 0.113_777_777_777_777_78;
const API_USD_PER_MILLION: f64 = 4.0;

fn break_even_tokens() -> f64 {
    FIXED_USD / (API_USD_PER_MILLION - MARGINAL_USD_PER_MILLION) * 1e6
}

fn catalog() -> Catalog {
    Catalog::from_toml_str(ONE_SKU).unwrap()
}

fn request(demand: u64) -> PlanRequest {
    let mut workload = Workload::new("chat", TokenCount(demand));
    workload.input_share = 0.0;
    PlanRequest {
        workloads: vec![workload],
        // The published figure as it stands: this test checks the sweep's arithmetic, not the
        // physics (tests/physics.rs does).
        trust_published: true,
        ..Default::default()
    }
}

fn run(request: &PlanRequest, spec: &SweepSpec) -> Result<fleet_planner::sweep::Sweep, PlanError> {
    let catalog = catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    sweep(
        &catalog,
        &throughput,
        request,
        spec,
        SweepSettings::default(),
        &|_| {},
    )
}

fn within_tolerance(found: f64, expected: f64) -> bool {
    (found - expected).abs() <= expected * BREAK_EVEN_TOLERANCE
}

#[test]
fn demand_sweep_finds_the_hand_computed_break_even() {
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 100e6,
            max: 1e9,
        }),
        api_price_scale: None,
        steps: 11,
    };
    let swept = run(&request(1_000_000), &spec).unwrap();
    assert_eq!(swept.axis, SweepAxis::Demand);
    assert_eq!(swept.options, vec!["box".to_string()]);
    // 11 points log-spaced over a decade: ×10^0.1 = ×1.2589 apart.
    let demands: Vec<u64> = swept.points.iter().map(|p| p.demand_tokens).collect();
    assert_eq!(demands.len(), 11);
    assert_eq!(demands[0], 100_000_000);
    assert_eq!(demands[1], 125_892_541);
    assert_eq!(demands[10], 1_000_000_000);

    // At 100M: API 100 × $4 = $400.00; one node all local $1,011.52 + 100 × $0.113778 =
    // $1,022.90; the optimum is the API.
    let first = &swept.points[0];
    assert!((first.all_api.monthly_usd().unwrap() - 400.0).abs() < 0.005);
    assert!((first.options[0].monthly_usd().unwrap() - 1_022.897_8).abs() < 0.005);
    let PointOptimum::Planned(optimum) = &first.optimum else {
        panic!("no optimum at 100M: {:?}", first.optimum);
    };
    assert!((optimum.total_usd - 400.0).abs() < 0.005);
    assert!(optimum.composition.is_empty(), "{optimum:?}");

    // At 1B: 3 nodes carry 3 × 324M = 972M, the API the other 28M:
    // 3 × $1,011.52 + 972 × $0.113778 + 28 × $4 = $3,257.15. All local needs 4 nodes:
    // 4 × $1,011.52 + 1,000 × $0.113778 = $4,159.86, more than the API's $4,000.
    let last = &swept.points[10];
    let last_optimum = last.optimum.planned().unwrap();
    assert!(
        (last_optimum.total_usd - 3_257.152).abs() < 0.005,
        "{last_optimum:?}"
    );
    assert_eq!(last_optimum.composition, vec!["box Q4_K_M".to_string()]);
    assert!((last.options[0].monthly_usd().unwrap() - 4_159.857_8).abs() < 0.005);
    assert!((last.all_api.monthly_usd().unwrap() - 4_000.0).abs() < 0.005);

    // The optimum changes once, from the API to one box, at 260.28M (between the grid points
    // 251.19M and 316.23M), found to within the tolerance.
    let expected = break_even_tokens();
    assert!((expected - 260_283_623.0).abs() < 1.0, "{expected}");
    assert_eq!(
        swept.composition_changes.len(),
        1,
        "{:?}",
        swept.composition_changes
    );
    let change = &swept.composition_changes[0];
    assert!(change.from.is_empty());
    assert_eq!(change.to, vec!["box Q4_K_M".to_string()]);
    assert!(
        change.crossing.low < expected && expected <= change.crossing.high,
        "{change:?}"
    );
    assert!(within_tolerance(change.crossing.at, expected), "{change:?}");
    assert!(change.crossing.high <= change.crossing.low * (1.0 + BREAK_EVEN_TOLERANCE) + 1.0);

    // The single-SKU fleet first beats the API at the same volume (one node, all local).
    assert_eq!(swept.versus_api.len(), 1);
    let VersusApi::FirstBeatsApi { crossing } = &swept.versus_api[0].outcome else {
        panic!("{:?}", swept.versus_api[0]);
    };
    assert!(within_tolerance(crossing.at, expected), "{crossing:?}");
    // Grid plus bisections: more plans than points.
    assert!(swept.plans > swept.points.len(), "{}", swept.plans);
}

#[test]
fn price_sweep_finds_the_hand_computed_price_factor() {
    // 300M tokens a month on one node: $1,011.52 + 300 × $0.113778 = $1,045.65. The API at
    // factor s: 300 × $4 × s = $1,200 s. Break-even s = 1,045.65 ÷ 1,200 = 0.871378.
    let spec = SweepSpec {
        demand_tokens: None,
        api_price_scale: Some(SweepRange { min: 0.5, max: 2.0 }),
        steps: 5,
    };
    let swept = run(&request(300_000_000), &spec).unwrap();
    assert_eq!(swept.axis, SweepAxis::ApiPriceScale);
    assert!(swept.points.iter().all(|p| p.demand_tokens == 300_000_000));
    let local = FIXED_USD + 300.0 * MARGINAL_USD_PER_MILLION;
    let expected = local / (300.0 * API_USD_PER_MILLION);
    assert!((expected - 0.871_378).abs() < 1e-6, "{expected}");
    // At ×0.5 the API costs $600, the optimum too; at ×2, $2,400 against one node's $1,045.65.
    assert!((swept.points[0].all_api.monthly_usd().unwrap() - 600.0).abs() < 0.005);
    let at_two = swept.points[4].optimum.planned().unwrap();
    assert!((at_two.total_usd - local).abs() < 0.005, "{at_two:?}");
    let VersusApi::FirstBeatsApi { crossing } = &swept.versus_api[0].outcome else {
        panic!("{:?}", swept.versus_api[0]);
    };
    assert!(within_tolerance(crossing.at, expected), "{crossing:?}");
    assert_eq!(swept.composition_changes.len(), 1);
    assert!(within_tolerance(
        swept.composition_changes[0].crossing.at,
        expected
    ));
}

#[test]
fn grid_finds_the_hand_computed_break_even_at_every_price_factor() {
    // Both ranges: one demand sweep per API price factor, ×1 to ×2 in 5 log-spaced steps
    // (×2^(i/4)). At factor s the API charges $4 s per 1M, so the break-even demand is
    // $1,011.52 ÷ ($4 s − $0.113778) per 1M: 260.28M at ×1 and, at ×2,
    // 1,011.52 ÷ 7.886222 = 128.2642M, each inside 100M..1B and under one node's 324M.
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 100e6,
            max: 1e9,
        }),
        api_price_scale: Some(SweepRange { min: 1.0, max: 2.0 }),
        steps: 5,
    };
    assert!(spec.is_grid());
    let catalog = catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let sweeps = sweep_grid(
        &catalog,
        &throughput,
        &request(1_000_000),
        &spec,
        SweepSettings::default(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(sweeps.len(), 5);
    let at_two = FIXED_USD / (API_USD_PER_MILLION * 2.0 - MARGINAL_USD_PER_MILLION) * 1e6;
    assert!((at_two - 128_264_202.0).abs() < 1.0, "{at_two}");
    let mut previous = f64::INFINITY;
    for (i, swept) in sweeps.iter().enumerate() {
        let factor = 2f64.powf(i as f64 / 4.0);
        assert_eq!(swept.axis, SweepAxis::Demand);
        assert_eq!(swept.points.len(), 5);
        assert!(
            swept
                .points
                .iter()
                .all(|p| (p.api_price_scale - factor).abs() < 1e-12),
            "{factor}: {:?}",
            swept.points
        );
        let expected = FIXED_USD / (API_USD_PER_MILLION * factor - MARGINAL_USD_PER_MILLION) * 1e6;
        // Each factor's own break-even: the optimum goes from the API to one box ...
        assert_eq!(
            swept.composition_changes.len(),
            1,
            "×{factor}: {:?}",
            swept.composition_changes
        );
        let change = &swept.composition_changes[0];
        assert!(change.from.is_empty(), "×{factor}: {change:?}");
        assert_eq!(change.to, vec!["box Q4_K_M".to_string()]);
        assert!(
            within_tolerance(change.crossing.at, expected),
            "×{factor}: {change:?}, expected {expected}"
        );
        // ... and the single-SKU fleet first beats the API at the same volume.
        let VersusApi::FirstBeatsApi { crossing } = &swept.versus_api[0].outcome else {
            panic!("×{factor}: {:?}", swept.versus_api[0]);
        };
        assert!(
            within_tolerance(crossing.at, expected),
            "×{factor}: {crossing:?}"
        );
        // A dearer API pays off at less volume.
        assert!(change.crossing.at < previous);
        previous = change.crossing.at;
    }
    assert!(within_tolerance(
        sweeps[0].composition_changes[0].crossing.at,
        break_even_tokens()
    ));
    assert!(within_tolerance(
        sweeps[4].composition_changes[0].crossing.at,
        at_two
    ));
    // One sweep does not take a grid.
    let error = run(&request(1_000_000), &spec).unwrap_err();
    assert!(error.to_string().contains("sweep_grid"), "{error}");
}

#[test]
fn an_oversized_grid_is_refused_naming_steps() {
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 100e6,
            max: 1e9,
        }),
        api_price_scale: Some(SweepRange { min: 1.0, max: 2.0 }),
        steps: 51,
    };
    let error = spec.validate().unwrap_err();
    let PlanError::InvalidRequest { field, reason } = &error else {
        panic!("{error}");
    };
    assert_eq!(field, "steps");
    assert!(
        reason.contains("51 × 51 = 2601 points is over 2500"),
        "{reason}"
    );
    // 50 × 50 = 2,500 is the largest grid.
    assert_eq!(
        SweepSpec { steps: 50, ..spec }.validate().unwrap(),
        SweepAxis::Demand
    );
}

#[test]
fn a_node_that_never_pays_is_never_and_says_how_far_off() {
    // Up to 200M the node never pays: at 200M it costs $1,011.52 + 200 × $0.113778 = $1,034.28
    // against the API's $800, 1.2929× the API (its best ratio: the ratio falls with volume).
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 10e6,
            max: 200e6,
        }),
        api_price_scale: None,
        steps: 4,
    };
    let swept = run(&request(1_000_000), &spec).unwrap();
    assert!(swept.composition_changes.is_empty());
    let VersusApi::NeverBeatsApi {
        best_ratio: Some(ratio),
    } = swept.versus_api[0].outcome
    else {
        panic!("{:?}", swept.versus_api[0]);
    };
    let expected = (FIXED_USD + 200.0 * MARGINAL_USD_PER_MILLION) / 800.0;
    assert!((ratio - expected).abs() < 1e-6, "{ratio} vs {expected}");
    // No bisection: the grid alone.
    assert_eq!(swept.plans, 4);
}

#[test]
fn local_only_work_has_no_api_to_beat() {
    let mut request = request(1_000_000);
    request.workloads[0].local_only = true;
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 10e6,
            max: 100e6,
        }),
        api_price_scale: None,
        steps: 3,
    };
    let swept = run(&request, &spec).unwrap();
    assert!(matches!(
        swept.points[0].all_api,
        CostOutcome::Infeasible { .. }
    ));
    let VersusApi::NoApi { reason } = &swept.versus_api[0].outcome else {
        panic!("{:?}", swept.versus_api[0]);
    };
    assert!(reason.contains("local-only"), "{reason}");
}

#[test]
fn bad_specs_name_the_field() {
    let demand = |min: f64, max: f64| SweepSpec {
        demand_tokens: Some(SweepRange { min, max }),
        api_price_scale: None,
        steps: 10,
    };
    let cases: Vec<(SweepSpec, &str, &str)> = vec![
        (
            SweepSpec {
                steps: 1,
                ..demand(1e6, 1e9)
            },
            "steps",
            "2 to 200, got 1",
        ),
        (
            SweepSpec {
                steps: 201,
                ..demand(1e6, 1e9)
            },
            "steps",
            "got 201",
        ),
        (demand(1e9, 1e6), "demand_tokens", "reversed"),
        (demand(0.0, 1e6), "demand_tokens", "outside"),
        (
            demand(f64::NAN, 1e6),
            "demand_tokens",
            "not a finite number",
        ),
        (demand(1e6, 1e15), "demand_tokens", "outside"),
        (demand(1e6, 1e6), "demand_tokens", "nothing to sweep"),
        (
            SweepSpec {
                api_price_scale: Some(SweepRange {
                    min: 1.0,
                    max: 10.0,
                }),
                steps: 51,
                ..demand(1e6, 1e9)
            },
            "steps",
            "grid of 51 × 51 = 2601 points",
        ),
        (
            SweepSpec {
                demand_tokens: None,
                api_price_scale: Some(SweepRange {
                    min: -1.0,
                    max: 10.0,
                }),
                steps: 10,
            },
            "api_price_scale",
            "greater than zero",
        ),
        (
            SweepSpec {
                demand_tokens: None,
                api_price_scale: Some(SweepRange {
                    min: 1.0,
                    max: f64::INFINITY,
                }),
                steps: 10,
            },
            "api_price_scale",
            "not a finite number",
        ),
    ];
    for (spec, field, words) in cases {
        let error = run(&request(1_000_000), &spec).unwrap_err();
        let PlanError::InvalidRequest {
            field: named,
            reason,
        } = &error
        else {
            panic!("{spec:?}: {error}");
        };
        assert_eq!(named, field, "{spec:?}: {error}");
        assert!(reason.contains(words), "{spec:?}: {error}");
    }
}

#[test]
fn ranges_parse_as_people_write_them() {
    assert_eq!(
        SweepRange::parse_demand("10M..20B").unwrap(),
        SweepRange {
            min: 10e6,
            max: 20e9
        }
    );
    assert_eq!(
        SweepRange::parse_demand("1.5B").unwrap(),
        SweepRange::fixed(1.5e9)
    );
    assert_eq!(
        SweepRange::parse_scale("0.1..100").unwrap(),
        SweepRange {
            min: 0.1,
            max: 100.0
        }
    );
    for (bad, words) in [
        ("20B..10M", "reversed"),
        ("..20B", "both ends"),
        ("10M..", "both ends"),
        ("", "empty"),
        ("10X..20B", "10X"),
        ("0..1B", "outside"),
    ] {
        let error = SweepRange::parse_demand(bad).unwrap_err();
        assert!(error.contains(words), "{bad:?}: {error}");
    }
    for (bad, words) in [
        ("0..10", "greater than zero"),
        ("1..inf", "finite"),
        ("abc", "not a number"),
        ("10..1", "reversed"),
        ("1..1e9", "outside"),
    ] {
        let error = SweepRange::parse_scale(bad).unwrap_err();
        assert!(error.contains(words), "{bad:?}: {error}");
    }
}

#[test]
fn the_result_does_not_depend_on_the_number_of_threads() {
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: 100e6,
            max: 1e9,
        }),
        api_price_scale: None,
        steps: 6,
    };
    let catalog = catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let with = |workers: usize| {
        let mut swept = sweep(
            &catalog,
            &throughput,
            &request(1_000_000),
            &spec,
            SweepSettings {
                workers,
                ..SweepSettings::default()
            },
            &|_| {},
        )
        .unwrap();
        swept.elapsed_ms = 0.0;
        swept
    };
    assert_eq!(with(1), with(3));
}
