//! Simultaneous first runs (issue 16 §5): eight `planner-cli` processes started at once on a
//! fresh data directory all create, migrate and seed the same SQLite database; every one must
//! succeed (six of eight failed with "table already exists").

use std::process::{Command, Stdio};

#[test]
fn eight_simultaneous_first_runs_on_a_fresh_data_directory_all_succeed() {
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..8)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_planner-cli"))
                    .args(["hardware", "list", "--output", "json"])
                    .env_remove("PLANNER_ENDPOINT")
                    .env_remove("PLANNER_DATABASE_URL")
                    .env_remove("PLANNER_OUTPUT")
                    .env_remove("PLANNER_TOKEN_FILE")
                    .env("XDG_DATA_HOME", dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("planner-cli starts")
            })
            .collect();
        let mut listings = Vec::new();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            listings.push(output.stdout);
        }
        // Each saw the whole default catalog, seeded once.
        let first: serde_json::Value = serde_json::from_slice(&listings[0]).unwrap();
        for listing in &listings[1..] {
            let other: serde_json::Value = serde_json::from_slice(listing).unwrap();
            assert_eq!(other["hardware"], first["hardware"], "round {round}");
        }
        assert!(
            first["hardware"].as_array().is_some_and(|h| h.len() >= 7),
            "{first}"
        );
    }
}
