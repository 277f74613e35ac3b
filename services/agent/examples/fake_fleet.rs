//! Starts N fake llama-servers (serving the captures in `tests/fixtures/`, one finished request
//! per `/metrics` call) and a fake planner, then prints the flags to point `fleet-agent run` at
//! them. For measuring the agent's footprint: `cargo run -p fleet-agent --example fake_fleet -- 8`.

#![allow(missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(8);
    let planner = common::FakePlanner::start(common::PlannerStore::default()).await;
    let mut workers = Vec::new();
    for _ in 0..count {
        let worker = common::FakeLlama::start().await;
        worker.one_request_per_scrape();
        workers.push(worker);
    }
    let urls: Vec<String> = workers.iter().map(|w| w.url.clone()).collect();
    println!("--planner {} --worker {}", planner.url(), urls.join(","));
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        eprintln!("planner stored {} observations", planner.store.len());
    }
}
