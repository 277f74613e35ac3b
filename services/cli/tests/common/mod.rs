//! What the CLI test binaries share: the CLI run on a database of the test's, and a
//! `fleet-planner` served in the test process.

use std::process::{Command, Output};

/// Runs the CLI in-process on the database in `dir`.
pub fn cli_on(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planner-cli"))
        .args(args)
        .env_remove("PLANNER_OUTPUT")
        .env_remove("PLANNER_ENDPOINT")
        .env_remove("PLANNER_TLS_CA_FILE")
        .env_remove("PLANNER_TLS_DOMAIN")
        .env_remove("PLANNER_TRUST_PUBLISHED")
        .env_remove("PLANNER_CHECK_STRICT")
        .env(
            "PLANNER_DATABASE_URL",
            format!("sqlite:{}", dir.path().join("cli.db").display()),
        )
        .output()
        .expect("planner-cli runs")
}

/// A `fleet-planner` served in this test process on 127.0.0.1:0 (over TLS with `tls`).
pub struct TestPlanner {
    runtime: tokio::runtime::Runtime,
    /// Where it listens.
    pub address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl TestPlanner {
    /// Starts it on a database of its own.
    pub fn start(tls: Option<fleet_planner::tls::ServerIdentity>) -> TestPlanner {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("server.db").display());
        let (address, stop, server) = runtime.block_on(async {
            let store = fleet_store::Store::connect(&url).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(fleet_planner::server::serve(
                listener,
                None,
                store,
                fleet_planner::server::ServeOptions {
                    tls,
                    ..fleet_planner::server::ServeOptions::default()
                },
                async move {
                    let _ = stopped.await;
                },
            ));
            (address, stop, server)
        });
        TestPlanner {
            runtime,
            address,
            stop,
            server,
            _dir: dir,
        }
    }

    /// Stops it through its shutdown future and waits for it.
    pub fn stop(self) {
        let _ = self.stop.send(());
        self.runtime.block_on(self.server).unwrap().unwrap();
    }
}
