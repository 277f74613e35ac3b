//! The `fleet-planner` binary's start (issue 16 §4 and §5): flags and their env twins, the
//! database connect timeout.

use std::process::Command;

fn planner() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fleet-planner"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("PLANNER_") || name == "DATABASE_URL" {
            command.env_remove(name);
        }
    }
    command.env_remove("RUST_BACKTRACE");
    command
}

/// Env twins set to "" count as unset: `PLANNER_SOLVER=` was "invalid value '' for
/// '--solver'". The run stops at the database (an unsupported scheme), after parsing.
#[test]
fn empty_env_twins_count_as_unset() {
    let mut command = planner();
    for name in [
        "PLANNER_LISTEN",
        "PLANNER_METRICS_LISTEN",
        "PLANNER_LOG_FORMAT",
        "PLANNER_LOG",
        "PLANNER_SOLVE_TIME_LIMIT",
        "PLANNER_SOLVER",
        "PLANNER_TOKEN_FILE",
        "PLANNER_PROTECT_READS",
        "PLANNER_READINESS_INTERVAL",
        "PLANNER_TLS_CERT",
        "PLANNER_TLS_KEY",
    ] {
        command.env(name, "");
    }
    let output = command
        .args(["--database-url", "mysql://nope"])
        .output()
        .expect("fleet-planner runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unsupported scheme \"mysql\""),
        "parsing passed and the run reached the database: {stderr}"
    );
}
