//! End-to-end wall time of `planner-cli propose --demand 1.5B`, `breakeven` and `sweep` as a user
//! runs them: process start, embedded catalog load, every solve and the table render.
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
    // Each command with the exit code it must end with: the 2 s TTFT has no local fleet that can
    // hold the model (exit 3, naming what would fit); --trust-published plans the seed's figures.
    for (args, code) in [
        (&["propose", "--demand", "1.5B"][..], 0),
        (&["propose", "--demand", "1.5B", "--local-only"][..], 0),
        (
            &[
                "propose",
                "--demand",
                "1.5B",
                "--local-only",
                "--ttft",
                "2s",
            ][..],
            3,
        ),
        (
            &[
                "propose",
                "--demand",
                "1.5B",
                "--local-only",
                "--ttft",
                "2s",
                "--trust-published",
            ][..],
            0,
        ),
        (&["breakeven"][..], 0),
        // The sweep behind README's answer: 25 points and their bisections, on every core.
        (&["sweep", "--demand", "10M..20B", "--steps", "25"][..], 0),
        (
            &[
                "sweep",
                "--demand",
                "10M..20B",
                "--steps",
                "25",
                "--api-price-scale",
                "100",
                "--trust-published",
            ][..],
            0,
        ),
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
                assert_eq!(out.status.code(), Some(code), "{args:?}");
                started.elapsed().as_secs_f64() * 1_000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "planner-cli {:<63} runs {runs}  median {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms",
            args.join(" "),
            times[runs / 2],
            times[(runs * 95) / 100],
            times[runs - 1]
        );
    }
}
