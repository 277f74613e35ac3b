//! The agent's footprint (issue goal: < 15 MB RSS and < 1% of a core at 1 Hz over 8 workers).
//!
//! Starts 8 fake llama-servers serving the real captures (one finished request per `/metrics`
//! call, so every scrape closes a window) and an in-memory fake planner in this process, runs the
//! real `fleet-agent` binary (release build) against them at `--interval 1s`, and reads the
//! agent's peak RSS (`VmHWM`) and CPU time (utime + stime) from `/proc` after a warm-up.
//!
//! ```sh
//! cargo bench -p fleet-agent --bench footprint            # 60 s measured
//! FOOTPRINT_SECONDS=300 cargo bench -p fleet-agent --bench footprint
//! ```

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const WARM_UP: Duration = Duration::from_secs(10);

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    out.ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let seconds: u64 = std::env::var("FOOTPRINT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (planner, workers) = runtime.block_on(async {
        let planner = common::FakePlanner::start(common::PlannerStore::default()).await;
        let mut workers = Vec::new();
        for _ in 0..WORKERS {
            let worker = common::FakeLlama::start().await;
            worker.one_request_per_scrape();
            workers.push(worker);
        }
        (planner, workers)
    });
    let spool = tempfile::tempdir().unwrap();
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    let mut agent = Command::new(env!("CARGO_BIN_EXE_fleet-agent"))
        .args(["run", "--planner", &planner.url()])
        .args(["--node-id", "bench-node", "--sku", "rtx-5090"])
        .args(["--worker", &urls.join(",")])
        .args(["--interval", "1s", "--metrics-listen", "127.0.0.1:0"])
        .arg("--spool-dir")
        .arg(spool.path())
        .env("AGENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the fleet-agent binary starts");
    let pid = agent.id();

    std::thread::sleep(WARM_UP);
    let ticks_before = cpu_ticks(pid);
    let stored_before = planner.store.len();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let elapsed = started.elapsed().as_secs_f64();
    let ticks = cpu_ticks(pid) - ticks_before;
    let stored = planner.store.len() - stored_before;
    let rss_kb = proc_status_kb(pid, "VmRSS:");
    let hwm_kb = proc_status_kb(pid, "VmHWM:");
    let _ = agent.kill();
    let _ = agent.wait();

    let cpu_share = ticks as f64 / clock_ticks_per_second() / elapsed;
    println!(
        "fleet-agent, {WORKERS} workers at 1 Hz, {elapsed:.0} s after a {} s warm-up:",
        WARM_UP.as_secs()
    );
    println!(
        "  RSS now {:.1} MB, peak (VmHWM) {:.1} MB            goal < 15 MB",
        rss_kb as f64 / 1024.0,
        hwm_kb as f64 / 1024.0
    );
    println!(
        "  CPU {:.2}% of one core ({ticks} clock ticks)     goal < 1%",
        cpu_share * 100.0
    );
    // One captured request (64 tokens) per scrape; a window needs 256 finished tokens (the
    // default --min-window-tokens), so each worker closes a window every 4 scrapes.
    println!(
        "  {stored} observations acknowledged by the planner ({:.2}/s; expected {WORKERS} workers x 64 / 256 = {:.2}/s)",
        stored as f64 / elapsed,
        WORKERS as f64 * 64.0 / 256.0
    );
    drop(workers);
    drop(planner);
    runtime.shutdown_background();
}
