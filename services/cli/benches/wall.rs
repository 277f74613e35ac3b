//! End-to-end wall time of `planner-cli propose --demand 1.5B` as a user runs it: process
//! start, embedded catalog load, every solve and the table render.
//!
//! ```text
//! cargo bench -p planner-cli --bench wall
//! ```

use std::process::Command;
use std::time::Instant;

fn main() {
    let binary = env!("CARGO_BIN_EXE_planner-cli");
    // The in-process planner's database, as a user's would be: created by the first run.
    let dir = std::env::temp_dir().join(format!("planner-cli-wall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database_url = format!("sqlite:{}", dir.join("bench.db").display());
    for args in [
        &["propose", "--demand", "1.5B"][..],
        &[
            "propose",
            "--demand",
            "1.5B",
            "--local-only",
            "--ttft",
            "2s",
        ][..],
        &["breakeven"][..],
    ] {
        let runs = 50;
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let out = Command::new(binary)
                    .args(args)
                    .env("PLANNER_DATABASE_URL", &database_url)
                    .output()
                    .expect("planner-cli runs");
                assert!(out.status.success(), "{args:?} failed");
                started.elapsed().as_secs_f64() * 1_000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "planner-cli {:<45} runs {runs}  median {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
            args.join(" "),
            times[runs / 2],
            times[(runs * 95) / 100],
            times[runs - 1]
        );
    }
}
