//! The MIP backends agree: every request solved by microlp and by HiGHS (in builds with the
//! `highs` feature) reaches the same monthly cost, and each plan meets its demand. Without the
//! feature, asking for HiGHS is a clear error naming the feature.

mod synthetic;

#[cfg(not(feature = "highs"))]
use fleet_planner::PlanError;
use fleet_planner::catalog::{Catalog, DEFAULT_CATALOG_TOML};
use fleet_planner::demand::{DemandProfile, PlanRequest, Workload};
use fleet_planner::plan::Plan;
use fleet_planner::solve::{Backend, SolveSettings};
use fleet_planner::{ThroughputModel, TokenCount, propose_with};

fn settings(backend: Backend) -> SolveSettings {
    SolveSettings {
        time_limit_s: Some(120.0),
        mip_gap: None,
        backend,
        ..SolveSettings::default()
    }
}

fn served_tokens(plan: &Plan) -> f64 {
    plan.cost.tokens_local + plan.cost.tokens_api
}

/// Requests of different shapes: the default catalog's hand-sized cases and the synthetic
/// 200-option catalog with preset profiles.
fn cases() -> Vec<(&'static str, Catalog, PlanRequest)> {
    let default = Catalog::from_toml_str(DEFAULT_CATALOG_TOML).unwrap();
    let mut local = Workload::new("private", TokenCount(1_500_000_000));
    local.local_only = true;
    local.ttft_p95_ms = Some(2_000.0);
    let mut peaky = Workload::new("chat", TokenCount(3_000_000_000));
    peaky.profile = DemandProfile::BusinessHours;
    let mut presets = synthetic::workloads(0);
    presets.truncate(12);
    vec![
        (
            "1.5B default",
            default.clone(),
            PlanRequest {
                workloads: vec![Workload::new("default", TokenCount(1_500_000_000))],
                ..Default::default()
            },
        ),
        (
            "local-only and business hours",
            default,
            // The seed's figures at face value: no honest local fleet meets a 2 s TTFT.
            PlanRequest {
                workloads: vec![local, peaky],
                trust_published: true,
                ..Default::default()
            },
        ),
        (
            "synthetic presets",
            synthetic::catalog(),
            PlanRequest {
                workloads: presets,
                ..Default::default()
            },
        ),
    ]
}

#[test]
fn microlp_solves_every_case_and_meets_demand() {
    for (name, catalog, request) in cases() {
        let throughput = ThroughputModel::from_catalog(&catalog);
        let plan = propose_with(&catalog, &throughput, &request, settings(Backend::Microlp))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plan.solver.backend, "microlp (good_lp)");
        assert_eq!(plan.solver.status, "optimal", "{name}");
        let demand: f64 = request
            .workloads
            .iter()
            .map(|w| w.monthly_tokens.0 as f64)
            .sum();
        assert!(
            (served_tokens(&plan) - demand).abs() <= 1e-6 * demand,
            "{name}"
        );
    }
}

#[cfg(feature = "highs")]
#[test]
fn highs_reaches_the_same_cost_as_microlp() {
    for (name, catalog, request) in cases() {
        let throughput = ThroughputModel::from_catalog(&catalog);
        let micro = propose_with(&catalog, &throughput, &request, settings(Backend::Microlp))
            .unwrap_or_else(|e| panic!("{name} microlp: {e}"));
        let highs = propose_with(&catalog, &throughput, &request, settings(Backend::Highs))
            .unwrap_or_else(|e| panic!("{name} HiGHS: {e}"));
        assert_eq!(highs.solver.backend, "HiGHS (good_lp)");
        assert!(
            ["optimal", "gap_limit"].contains(&highs.solver.status.as_str()),
            "{name}: {}",
            highs.solver.status
        );
        // HiGHS stops at its default relative gap of 1e-4; microlp proves optimality.
        let (a, b) = (micro.cost.total_usd, highs.cost.total_usd);
        assert!(
            (a - b).abs() <= 2e-4 * a.max(b),
            "{name}: microlp ${a} vs HiGHS ${b}"
        );
        assert!(
            b >= a * (1.0 - 1e-6),
            "{name}: HiGHS ${b} below the optimum ${a}"
        );
        assert!(
            (served_tokens(&highs) - served_tokens(&micro)).abs() <= 1e-6 * served_tokens(&micro),
            "{name}"
        );
    }
}

#[cfg(feature = "highs")]
#[test]
fn highs_over_the_whole_random_week_agrees_with_the_decomposition() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let request = PlanRequest {
        workloads: synthetic::workloads(168),
        ..Default::default()
    };
    let whole = propose_with(
        &catalog,
        &throughput,
        &request,
        SolveSettings {
            time_limit_s: Some(300.0),
            mip_gap: Some(0.001),
            backend: Backend::Highs,
            // The whole model, as HiGHS solves it without the decomposition.
            decomposition: fleet_planner::solve::Decomposition::Never,
        },
    )
    .expect("HiGHS finds a plan");
    assert_eq!(whole.solver.backend, "HiGHS (good_lp)");
    assert_ne!(whole.solver.status, "time_limit");
    assert!(whole.solver.gap <= 0.001 + 1e-9, "gap {}", whole.solver.gap);
    let demand: f64 = request
        .workloads
        .iter()
        .map(|w| w.monthly_tokens.0 as f64)
        .sum();
    assert!((served_tokens(&whole) - demand).abs() <= 1e-6 * demand);
    // microlp over the options the decomposition keeps: the two plans lie within each other's
    // bounds.
    let split = propose_with(
        &catalog,
        &throughput,
        &request,
        SolveSettings {
            time_limit_s: Some(300.0),
            mip_gap: Some(0.001),
            backend: Backend::Microlp,
            ..SolveSettings::default()
        },
    )
    .expect("the decomposition finds a plan");
    let (a, b) = (whole.solver.objective_usd, split.solver.objective_usd);
    assert!(
        a >= b * (1.0 - split.solver.gap) - 1e-6 * b,
        "HiGHS ${a} below the bound of ${b}"
    );
    assert!(
        b >= a * (1.0 - whole.solver.gap) - 1e-6 * a,
        "${b} below HiGHS's bound of ${a}"
    );
}

#[cfg(not(feature = "highs"))]
#[test]
fn asking_for_highs_without_the_feature_names_it() {
    let catalog = Catalog::from_toml_str(DEFAULT_CATALOG_TOML).unwrap();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let request = PlanRequest {
        workloads: vec![Workload::new("default", TokenCount(1_500_000_000))],
        ..Default::default()
    };
    match propose_with(&catalog, &throughput, &request, settings(Backend::Highs)) {
        Err(PlanError::InvalidRequest { field, reason }) => {
            assert_eq!(field, "solver");
            assert!(reason.contains("--features highs"), "{reason}");
        }
        other => panic!("expected an invalid solver, got {other:?}"),
    }
}
