//! The hourly MIP at issue-5 size: 50 workloads × 200 options (25 SKUs × 2 quants × 4
//! concurrency levels) × 168 hours, solved by each backend of the build side by side: microlp,
//! and HiGHS with the `highs` feature.
//!
//! ```text
//! cargo bench -p fleet-planner --bench schedule                     # microlp
//! cargo bench -p fleet-planner --bench schedule --features highs    # microlp and HiGHS
//! ```
//!
//! Two demand mixes: the presets (flat, business-hours, 8h-day and a week profile with quiet
//! weekends), where merging hours with identical demand leaves few buckets, and a worst case
//! where every workload has its own random 168-hour weights, so no two hours merge. Prints the
//! model size after merging and pruning, the optimum's solve time, status and gap, and the whole
//! propose (optimum + one single-SKU baseline per SKU). Results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use fleet_planner::demand::PlanRequest;
use fleet_planner::solve::{Backend, SolveSettings};
use fleet_planner::{ThroughputModel, propose_with};

#[path = "../tests/synthetic/mod.rs"]
mod synthetic;
use synthetic::{catalog, workloads};

fn main() {
    let catalog = catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    println!(
        "catalog: {} options (SKU × quant × concurrency)",
        throughput.points.len()
    );
    let backends: &[Backend] = if Backend::HIGHS_BUILT {
        &[Backend::Microlp, Backend::Highs]
    } else {
        &[Backend::Microlp]
    };
    for (mix, random_hours) in [
        ("presets", 0),
        ("random 24-h weights", 24),
        ("random 168-h weights", 168),
    ] {
        for &backend in backends {
            let label = format!("{mix} [{}]", backend.describe());
            let random = random_hours > 0;
            let settings = SolveSettings {
                time_limit_s: Some(if random { 20.0 } else { 60.0 }),
                mip_gap: Some(0.001),
                backend,
            };
            let request = PlanRequest {
                workloads: workloads(random_hours),
                ..Default::default()
            };
            let runs = if random { 1 } else { 5 };
            let mut solve_ms = Vec::new();
            let mut total_ms = Vec::new();
            let mut last = None;
            for _ in 0..runs {
                let started = Instant::now();
                match propose_with(&catalog, &throughput, &request, settings) {
                    Ok(plan) => {
                        total_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
                        solve_ms.push(plan.solver.solve_ms);
                        last = Some(black_box(plan));
                    }
                    Err(error) => {
                        println!(
                            "{label}: no plan after {:.1} s: {error}",
                            started.elapsed().as_secs_f64()
                        );
                        break;
                    }
                }
            }
            let Some(plan) = last else { continue };
            solve_ms.sort_by(f64::total_cmp);
            total_ms.sort_by(f64::total_cmp);
            let s = &plan.solver;
            println!(
                "{label}: 50 workloads → {} groups, 200 options → {} kept, {} hours → {} buckets; {} vars ({} int), {} constraints",
                s.workload_groups,
                s.options_kept,
                plan.schedule.hours,
                s.hour_buckets,
                s.variables,
                s.integer_variables,
                s.constraints
            );
            println!(
                "  optimum: {} gap {:.4}%, solve median {:.1} ms (runs {runs}); propose incl. {} baselines median {:.1} ms; ${:.2}/month, {} pools",
                s.status,
                s.gap * 100.0,
                solve_ms[solve_ms.len() / 2],
                plan.baselines.len(),
                total_ms[total_ms.len() / 2],
                s.objective_usd,
                plan.pools.len()
            );
        }
    }
}
