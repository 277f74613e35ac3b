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

/// A database that accepts and never answers (issue 16 §5): the start fails after
/// `--database-connect-timeout` with one line, where it hung forever.
#[test]
fn a_silent_database_fails_the_start_after_the_connect_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let mut child = planner()
        .args([
            "--database-url",
            &format!("postgres://postgres@{address}/none"),
            "--database-connect-timeout",
            "500ms",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fleet-planner starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("fleet-planner still waits for a silent database after 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "fleet-planner: connecting to the database (postgres://postgres@{address}/none): the database did not answer within 500ms"
        ),
        "{stderr}"
    );
}

/// A second SIGTERM exits at once (issue 16 §5: it was ignored while draining). The first one
/// starts a 60 s drain; the second ends the process with 143 (128 + SIGTERM) long before.
#[cfg(unix)]
#[test]
fn a_second_signal_exits_at_once() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = planner()
        .args([
            "--database-url",
            &format!("sqlite:{}", dir.path().join("p.db").display()),
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--shutdown-drain",
            "60s",
            "--log-format",
            "json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("fleet-planner starts");
    let kill = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    // Wait until it serves, then until the first signal is taken.
    let mut wait_for_line = |needle: &str| {
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains(needle) {
                return;
            }
        }
        panic!("fleet-planner ended before logging {needle:?}");
    };
    wait_for_line("gRPC listening");
    let started = std::time::Instant::now();
    kill(child.id());
    wait_for_line("shutdown signal received");
    kill(child.id());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("a second SIGTERM did not end the drain");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(143));
}
