//! The real planner (fleet-planner on SQLite) as a test double's peer: started on its own thread
//! and runtime, in real time, like a separate process, and "killed" by dropping that runtime,
//! which cuts every connection without a graceful drain.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use fleet_planner::auth::AuthPolicy;
use fleet_planner::server::{ServeOptions, serve};
use fleet_store::{ObservationFilter, ObservationRow, Store};
use tokio::net::TcpListener;

/// The bearer token the planner requires for writes.
pub const TOKEN: &str = "e2e-token-3f9a";

/// A planner on its own thread and runtime, as if it were another process.
pub struct PlannerProcess {
    pub addr: SocketAddr,
    tls: bool,
    kill: Option<std_mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PlannerProcess {
    /// Starts a planner on `database` listening on `addr` (127.0.0.1:0 for any port), with
    /// writes protected by [`TOKEN`].
    pub fn start(database: &str, addr: SocketAddr) -> Self {
        Self::start_with(database, addr, None)
    }

    /// As [`PlannerProcess::start`], serving gRPC over TLS with `tls`.
    pub fn start_with(
        database: &str,
        addr: SocketAddr,
        tls: Option<fleet_planner::tls::ServerIdentity>,
    ) -> Self {
        let with_tls = tls.is_some();
        let database = database.to_owned();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (kill_tx, kill_rx) = std_mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let store = Store::connect(&database).await.unwrap();
                let mut listener = None;
                for _ in 0..100 {
                    match TcpListener::bind(addr).await {
                        Ok(bound) => {
                            listener = Some(bound);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                    }
                }
                let listener = listener.expect("the planner's port is free again");
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let options = ServeOptions {
                    readiness_interval: Duration::from_millis(200),
                    // Agents on a paused test clock run ahead of the planner's wall clock (the
                    // feedback loop at about 100×): accept their windows.
                    planner: fleet_planner::service::PlannerSettings {
                        max_clock_skew: Duration::from_secs(30 * 24 * 3_600),
                        ..Default::default()
                    },
                    auth: AuthPolicy {
                        token: Some(fleet_planner::auth::BearerToken::new(TOKEN).unwrap()),
                        protect_reads: false,
                    },
                    tls,
                    ..ServeOptions::default()
                };
                tokio::spawn(serve(
                    listener,
                    None,
                    store,
                    options,
                    std::future::pending(),
                ));
                // Until killed; then dropping the runtime cuts every connection at once.
                let _ = tokio::task::spawn_blocking(move || kill_rx.recv()).await;
            });
            runtime.shutdown_background();
        });
        let addr = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the planner starts");
        Self {
            addr,
            tls: with_tls,
            kill: Some(kill_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Kills the planner without a graceful shutdown and returns its address.
    pub fn kill(mut self) -> SocketAddr {
        let _ = self.kill.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap();
        self.addr
    }
}

impl Drop for PlannerProcess {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Returns the SQLite URL of a planner database in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("planner.db").display())
}

/// Reads `node`'s stored observations (by seq) through a fresh connection on a real-time
/// runtime of its own, whatever runtime the caller is on.
pub fn stored_observations(database: &str, node: &str) -> Vec<ObservationRow> {
    let node = node.to_owned();
    let database = database.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::connect(&database).await.unwrap();
            store
                .list_observations(&ObservationFilter {
                    node_id: Some(node),
                    ..ObservationFilter::default()
                })
                .await
                .unwrap()
        })
    })
    .join()
    .unwrap()
}
