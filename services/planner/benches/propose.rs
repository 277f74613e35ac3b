//! Planner timing: catalog load, the `propose --demand 1.5B` path, and solve time against
//! problem size. A plain bench binary (no criterion) to keep the dependency tree lean:
//!
//! ```text
//! cargo bench -p fleet-planner --bench propose
//! ```
//!
//! Prints median and p95 over repeated runs; results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Instant;

use fleet_planner::catalog::{Catalog, DEFAULT_CATALOG_TOML};
use fleet_planner::demand::{PlanRequest, Workload};
use fleet_planner::{ThroughputModel, TokenCount, propose};

fn measure<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            black_box(f());
            started.elapsed().as_secs_f64() * 1_000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p95 = times[((times.len() as f64 * 0.95) as usize).min(times.len() - 1)];
    (median, p95)
}

fn report(name: &str, runs: usize, (median, p95): (f64, f64)) {
    println!("{name:<58} runs {runs:>4}  median {median:>9.3} ms  p95 {p95:>9.3} ms");
}

/// A deterministic mix of workloads: varied size, split, SLO, privacy and quality floor.
fn workloads(count: usize) -> Vec<Workload> {
    (0..count)
        .map(|i| {
            let mut w = Workload::new(
                format!("w{i}"),
                TokenCount(((i as u64 * 7919) % 2000 + 50) * 1_000_000),
            );
            w.input_share = 0.5 + (i % 5) as f64 * 0.1;
            w.prompt_tokens = [1024, 4096, 8192][i % 3];
            w.ttft_p95_ms = [None, Some(2_500.0), Some(6_000.0)][i % 3];
            w.min_decode_tok_s = [5.0, 10.0, 12.0][i % 3];
            w.local_only = i % 4 == 0;
            w.min_quant = ["Q4_K_M", "Q3_K_M", "Q5_K_M"][i % 3].to_string();
            w
        })
        .collect()
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let catalog = Catalog::embedded_default();
    let throughput = ThroughputModel::from_catalog(&catalog);

    report(
        "catalog load (parse + validate embedded TOML)",
        200,
        measure(200, || {
            Catalog::from_toml_str(DEFAULT_CATALOG_TOML).unwrap()
        }),
    );

    let default_request = PlanRequest {
        workloads: vec![Workload::new("default", TokenCount(1_500_000_000))],
        ..Default::default()
    };
    report(
        "propose --demand 1.5B (load + physics + 3 solves + JSON render)",
        200,
        measure(200, || {
            let catalog = Catalog::from_toml_str(DEFAULT_CATALOG_TOML).unwrap();
            let throughput = ThroughputModel::from_catalog(&catalog);
            let plan = propose(&catalog, &throughput, &default_request).unwrap();
            serde_json::to_string(&plan).unwrap()
        }),
    );

    let mut local = Workload::new("default", TokenCount(1_500_000_000));
    local.local_only = true;
    local.ttft_p95_ms = Some(2_000.0);
    // Nothing that holds the model meets 2 s: the answer is the infeasibility and what fits.
    let local_request = PlanRequest {
        workloads: vec![local.clone()],
        ..Default::default()
    };
    report(
        "propose --demand 1.5B --local-only --ttft 2s (infeasible)",
        200,
        measure(200, || {
            propose(&catalog, &throughput, &local_request).unwrap_err()
        }),
    );
    let trusted_request = PlanRequest {
        workloads: vec![local.clone()],
        trust_published: true,
        ..Default::default()
    };
    report(
        "propose --demand 1.5B --local-only --ttft 2s --trust-published",
        200,
        measure(200, || {
            propose(&catalog, &throughput, &trusted_request).unwrap()
        }),
    );
    local.ttft_p95_ms = None;
    let honest_request = PlanRequest {
        workloads: vec![local],
        ..Default::default()
    };
    report(
        "propose --demand 1.5B --local-only",
        200,
        measure(200, || {
            propose(&catalog, &throughput, &honest_request).unwrap()
        }),
    );
    report(
        "throughput model from the catalog (physics of every option)",
        200,
        measure(200, || ThroughputModel::from_catalog(&catalog)),
    );

    println!();
    println!(
        "solve time vs problem size (optimum + one solve per single-SKU baseline; seed figures trusted as published):"
    );
    for count in [1usize, 5, 10, 25, 50, 100] {
        // The seed's figures at face value, as this sweep measured before the physics check
        // (its local-only workloads have TTFT limits no configuration that holds the model meets).
        let request = PlanRequest {
            workloads: workloads(count),
            trust_published: true,
            ..Default::default()
        };
        let plan = propose(&catalog, &throughput, &request).unwrap();
        let runs = if count >= 50 { 10 } else { 40 };
        let timing = measure(runs, || propose(&catalog, &throughput, &request).unwrap());
        report(
            &format!(
                "{count:>3} workloads: {} vars ({} int), {} constraints, {}",
                plan.solver.variables,
                plan.solver.integer_variables,
                plan.solver.constraints,
                plan.solver.status
            ),
            runs,
            timing,
        );
    }
}
