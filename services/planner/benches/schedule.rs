//! The hourly MIP at issue-5 size: 50 workloads × 200 options (25 SKUs × 2 quants × 4
//! concurrency levels) × 168 hours, solved decomposed (the default: options priced from the LP
//! relaxation, reduced-cost fixing, the MIP over the options left) and whole, by each backend of
//! the build: microlp, and HiGHS with the `highs` feature.
//!
//! ```text
//! cargo bench -p fleet-planner --bench schedule                     # microlp
//! cargo bench -p fleet-planner --bench schedule --features highs    # microlp and HiGHS
//! cargo bench -p fleet-planner --bench schedule -- "168-h weights [microlp"   # rows whose label has this
//! ```
//!
//! Three demand mixes: the presets (flat, business-hours, 8h-day and a week profile with quiet
//! weekends), where merging hours with identical demand leaves few buckets, and random weights
//! per workload over a day and over a week, where no two hours merge. Prints the model size, the
//! optimum's solve time, status and gap, the relaxation's share and the options the MIP kept,
//! and the whole propose (optimum + one single-SKU baseline per SKU, on every core). Results are
//! recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use fleet_planner::demand::PlanRequest;
use fleet_planner::solve::{Backend, Decomposition, SolveSettings};
use fleet_planner::{ThroughputModel, propose_with};

#[path = "../tests/synthetic/mod.rs"]
mod synthetic;
use synthetic::{catalog, workloads};

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; the first other argument keeps only the rows whose label
    // contains it.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let catalog = catalog();
    let throughput = ThroughputModel::from_catalog(&catalog);
    println!(
        "catalog: {} options (SKU × quant × concurrency); {} core(s)",
        throughput.points.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut backends = vec![Backend::Microlp];
    if Backend::HIGHS_BUILT {
        backends.push(Backend::Highs);
    }
    for (mix, random_hours, gap) in [
        ("presets", 0, Some(0.001)),
        ("random 24-h weights", 24, Some(0.001)),
        ("random 168-h weights", 168, Some(0.001)),
        ("random 168-h weights, no gap target", 168, None),
    ] {
        for &backend in &backends {
            for decomposition in [Decomposition::Auto, Decomposition::Never] {
                if gap.is_none()
                    && (backend != Backend::Microlp || decomposition != Decomposition::Auto)
                {
                    continue;
                }
                let way = match decomposition {
                    Decomposition::Never => "whole",
                    _ => "auto",
                };
                let label = format!("{mix} [{}, {way}]", backend.describe());
                if filter.as_ref().is_some_and(|f| !label.contains(f.as_str())) {
                    continue;
                }
                let random = random_hours > 0;
                let settings = SolveSettings {
                    time_limit_s: Some(if random { 20.0 } else { 60.0 }),
                    mip_gap: gap,
                    backend,
                    decomposition,
                };
                let request = PlanRequest {
                    workloads: workloads(random_hours),
                    ..Default::default()
                };
                let runs = if random { 3 } else { 5 };
                let mut solve_ms = Vec::new();
                let mut total_ms = Vec::new();
                let mut lp_ms = Vec::new();
                let mut last = None;
                for _ in 0..runs {
                    let started = Instant::now();
                    match propose_with(&catalog, &throughput, &request, settings) {
                        Ok(plan) => {
                            total_ms.push(started.elapsed().as_secs_f64() * 1_000.0);
                            solve_ms.push(plan.solver.solve_ms);
                            if let Some(d) = &plan.solver.decomposition {
                                lp_ms.push(d.lp_ms);
                            }
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
                let s = &plan.solver;
                println!(
                    "{label}: 50 workloads → {} groups, 200 options → {} kept, {} hours → {} buckets; MIP {} vars ({} int), {} constraints",
                    s.workload_groups,
                    s.options_kept,
                    plan.schedule.hours,
                    s.hour_buckets,
                    s.variables,
                    s.integer_variables,
                    s.constraints
                );
                let decomposed = match &s.decomposition {
                    Some(d) => format!(
                        "; decomposed: LP {:.1} ms (pricing rounds {}, {} of {} options priced), MIP over {} options",
                        median(lp_ms.clone()),
                        d.pricing_rounds,
                        d.priced_options,
                        d.options,
                        d.mip_options
                    ),
                    None => String::new(),
                };
                println!(
                    "  optimum: {} gap {:.4}%, solve median {:.1} ms (runs {}){decomposed}; propose incl. {} baselines median {:.1} ms; ${:.2}/month, {} pools",
                    s.status,
                    s.gap * 100.0,
                    median(solve_ms.clone()),
                    solve_ms.len(),
                    plan.baselines.len(),
                    median(total_ms.clone()),
                    s.objective_usd,
                    plan.pools.len()
                );
            }
        }
    }
}
