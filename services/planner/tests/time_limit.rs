//! The solver time limit covers the whole proposal: a solve it stops returns the best fleet found,
//! marked `time_limit` with a gap that holds against the true optimum; baselines it cuts short are
//! marked not solved; with no fleet in hand it is an error that names the limit. Never a hang.

mod synthetic;

use std::time::{Duration, Instant};

use fleet_planner::catalog::Catalog;
use fleet_planner::demand::{DemandProfile, PlanRequest};
use fleet_planner::plan::{BaselineKind, NOT_SOLVED, Plan};
use fleet_planner::solve::{Backend, Decomposition, SolveSettings};
use fleet_planner::{PlanError, ThroughputModel, propose_with};

/// The first `n` synthetic workloads, all local-only with a flat profile: one hour bucket and 67
/// integer node counts, a covering problem branch and bound takes a few tenths of a second to
/// prove (microlp is optimized in test builds too) while its first fleets come within a few
/// hundredths.
fn local_only_flat(n: usize) -> PlanRequest {
    let mut workloads = synthetic::workloads(0);
    workloads.truncate(n);
    for w in &mut workloads {
        w.local_only = true;
        w.profile = DemandProfile::Flat;
        w.deferrable_share = 0.0;
        w.defer_window = None;
        w.critical = false;
    }
    PlanRequest {
        workloads,
        ..Default::default()
    }
}

fn limited(seconds: f64) -> SolveSettings {
    SolveSettings {
        time_limit_s: Some(seconds),
        ..SolveSettings::default()
    }
}

/// Runs one proposal and checks it ended within its limit plus a margin for building the model.
fn timed_propose(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    limit_s: f64,
) -> Result<Plan, PlanError> {
    timed_propose_with(catalog, throughput, request, limited(limit_s))
}

fn timed_propose_with(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    settings: SolveSettings,
) -> Result<Plan, PlanError> {
    let limit_s = settings.time_limit_s.expect("a limit");
    let started = Instant::now();
    let result = propose_with(catalog, throughput, request, settings);
    let elapsed = started.elapsed();
    let allowed = Duration::from_secs_f64(limit_s * 1.5 + 3.0);
    assert!(
        elapsed <= allowed,
        "a {limit_s} s limit took {elapsed:?} (allowed {allowed:?})"
    );
    result
}

fn best_single_sku(plan: &Plan) -> Option<f64> {
    plan.baselines
        .iter()
        .filter(|b| b.kind == BaselineKind::SingleSku)
        .filter_map(|b| b.monthly_usd)
        .min_by(f64::total_cmp)
}

#[test]
fn a_stopped_solve_returns_its_best_fleet_marked_with_a_gap_that_holds() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let request = local_only_flat(20);
    let proven = propose_with(&catalog, &throughput, &request, limited(300.0))
        .expect("the problem is feasible");
    assert_eq!(proven.solver.status, "optimal");
    assert!(!proven.notes.iter().any(|n| n.starts_with("time limit")));
    let optimum = proven.solver.objective_usd;

    let mut stopped = 0;
    for limit_s in [0.05, 0.1, 0.2, 0.4, 0.8] {
        let plan = match timed_propose(&catalog, &throughput, &request, limit_s) {
            Ok(plan) => plan,
            Err(PlanError::TimeLimit { limit_s: named, .. }) => {
                assert_eq!(named, limit_s);
                continue;
            }
            Err(other) => panic!("limit {limit_s}: unexpected error {other}"),
        };
        let s = &plan.solver;
        let tolerance = 1e-6 * optimum.abs().max(1.0);
        assert!(
            s.objective_usd >= optimum - tolerance,
            "limit {limit_s}: a stopped fleet ${} cannot beat the proven optimum ${optimum}",
            s.objective_usd
        );
        if s.status == "optimal" {
            assert!((s.objective_usd - optimum).abs() <= 1e-4 * optimum);
            continue;
        }
        assert_eq!(s.status, "time_limit", "limit {limit_s}");
        stopped += 1;
        assert!(s.gap >= 0.0 && s.gap.is_finite());
        // The gap is against a valid bound: the proven optimum lies between bound and incumbent.
        let bound = s.objective_usd * (1.0 - s.gap);
        assert!(
            bound <= optimum + tolerance,
            "limit {limit_s}: bound ${bound} above the optimum ${optimum} (gap {})",
            s.gap
        );
        assert!(
            plan.notes[0].starts_with(&format!(
                "time limit: the solver stopped at the {limit_s} s limit"
            )),
            "first note: {}",
            plan.notes[0]
        );
        assert!(plan.notes[0].contains(&format!("{:.2}%", s.gap * 100.0)));
        // Never worse than a single-SKU fleet already in hand.
        if let Some(single) = best_single_sku(&plan) {
            assert!(
                plan.cost.total_usd <= single + 1e-6 * single,
                "limit {limit_s}: plan ${} above the best single-SKU fleet ${single}",
                plan.cost.total_usd
            );
        }
        // Still a whole plan: every token of the month is served, locally here.
        let demand: f64 = request
            .workloads
            .iter()
            .map(|w| w.monthly_tokens.0 as f64)
            .sum();
        assert!(
            (plan.cost.tokens_local - demand).abs() <= 1e-6 * demand,
            "limit {limit_s}: {} of {demand} tokens served",
            plan.cost.tokens_local
        );
    }
    assert!(
        stopped > 0,
        "no limit in the ladder stopped the solve with a fleet in hand"
    );
}

#[test]
fn no_fleet_within_the_limit_is_an_error_that_names_the_limit() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    // Random weekly weights: no two hours merge, 68,736 variables. Solved whole, microlp finds no
    // fleet for it in 20 s even in a release build (BENCHMARKS.md); decomposed, it needs more
    // than the 0.05 s that are left in a debug build.
    let request = PlanRequest {
        workloads: synthetic::workloads(168),
        ..Default::default()
    };
    for (limit_s, decomposition) in [(0.5, Decomposition::Never), (0.05, Decomposition::Always)] {
        let settings = SolveSettings {
            decomposition,
            // microlp in every build: HiGHS (auto's choice for the whole model in builds that
            // have it) finds a first fleet within 0.5 s.
            backend: Backend::Microlp,
            ..limited(limit_s)
        };
        match timed_propose_with(&catalog, &throughput, &request, settings) {
            Err(error @ PlanError::TimeLimit { .. }) => {
                let PlanError::TimeLimit { limit_s: named, .. } = &error else {
                    unreachable!()
                };
                assert_eq!(*named, limit_s);
                let message = error.to_string();
                assert!(
                    message.starts_with(&format!(
                        "no plan found within the {limit_s} s time limit ("
                    )),
                    "{message}"
                );
                assert!(message.contains("variables"), "{message}");
                assert!(!message.contains('\n'));
            }
            Ok(plan) => panic!(
                "{decomposition:?}: expected no plan within {limit_s} s, got status {}",
                plan.solver.status
            ),
            Err(other) => panic!("{decomposition:?}: expected a time-limit error, got {other}"),
        }
    }
}

#[test]
fn baselines_the_limit_cuts_short_are_marked_not_solved() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    // Three workloads solve in milliseconds; a 0.08 s limit leaves the 25 single-SKU baselines
    // 0.02 s together, under a millisecond each, too little to start a solve.
    let request = local_only_flat(3);
    let plan = timed_propose(&catalog, &throughput, &request, 0.08).expect("the optimum solves");
    assert_eq!(plan.solver.status, "optimal");
    let singles: Vec<_> = plan
        .baselines
        .iter()
        .filter(|b| b.kind == BaselineKind::SingleSku)
        .collect();
    assert_eq!(singles.len(), 25);
    // The unused part of the baselines' share rolls over to the next, so the first baselines
    // get under a millisecond and are not started, the last may be solved.
    assert!(singles[0].infeasible_reason.is_some());
    let mut not_solved = 0;
    for b in singles {
        match (b.monthly_usd, b.infeasible_reason.as_deref()) {
            (Some(_), None) => {}
            (None, Some(reason)) => {
                assert!(
                    reason.starts_with(&format!("{NOT_SOLVED}: the 0.08 s time limit")),
                    "{}: {reason}",
                    b.name
                );
                assert!(!b.best_single_sku);
                not_solved += 1;
            }
            other => panic!("{}: {other:?}", b.name),
        }
    }
    assert!(not_solved > 0);
    // With time to spare the same baselines are solved.
    let plan = timed_propose(&catalog, &throughput, &request, 30.0).expect("the optimum solves");
    assert!(
        plan.baselines
            .iter()
            .filter(|b| b.kind == BaselineKind::SingleSku)
            .all(|b| !b
                .infeasible_reason
                .as_deref()
                .unwrap_or_default()
                .starts_with(NOT_SOLVED))
    );
    assert!(best_single_sku(&plan).is_some());
}

#[test]
fn an_infinite_limit_is_none_and_a_nan_zero_or_negative_one_is_refused() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let request = local_only_flat(3);
    let plan = propose_with(&catalog, &throughput, &request, limited(f64::INFINITY))
        .expect("no limit solves");
    assert_eq!(plan.solver.status, "optimal");
    for bad in [f64::NAN, 0.0, -1.0, f64::NEG_INFINITY] {
        match propose_with(&catalog, &throughput, &request, limited(bad)) {
            Err(PlanError::InvalidRequest { field, .. }) => assert_eq!(field, "time_limit"),
            other => panic!("{bad}: expected an invalid time_limit, got {other:?}"),
        }
    }
}

/// A proposal whose caller went away (issue 16 §3): with the cancel flag set, every check of
/// the limit reads it as run out, so no solve runs and no plan comes back; the same request
/// without the flag has a plan.
#[test]
fn a_cancelled_proposal_solves_nothing() {
    let catalog = synthetic::catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let request = local_only_flat(10);
    let settings = limited(60.0);
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let result =
        fleet_planner::propose_cancellable(&catalog, &throughput, &request, settings, &cancel);
    assert!(
        matches!(result, Err(PlanError::TimeLimit { .. })),
        "{result:?}"
    );
    cancel.store(false, std::sync::atomic::Ordering::Relaxed);
    fleet_planner::propose_cancellable(&catalog, &throughput, &request, settings, &cancel)
        .expect("not cancelled, it plans");
}
