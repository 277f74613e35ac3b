//! The `fleet-planner` server: gRPC (`PlannerService`, `TelemetryService`, `grpc.health.v1`,
//! server reflection v1 and v1alpha) on one listener, Prometheus text at `/metrics` on another.
//!
//! [`serve`] takes bound listeners and a shutdown future, so `main` binds the configured
//! addresses and passes SIGINT|SIGTERM, while tests bind `127.0.0.1:0` and stop the server by
//! resolving the future. Health has two named entries: `liveness` (serving while the process
//! runs) and `readiness` (serving once migrations ran and while the database answers; not
//! serving from the moment shutdown begins).
//!
//! Shutdown, once the future resolves: readiness turns not serving at once while every call is
//! still served for [`ServeOptions::shutdown_drain`] (load balancers and Kubernetes endpoints
//! take a few seconds to stop sending), then the listeners close and calls in flight get
//! [`ServeOptions::shutdown_timeout`] to finish before they are dropped. The two together must
//! stay under the pod's `terminationGracePeriodSeconds`.
//!
//! With [`ServeOptions::tls`] the gRPC listener speaks TLS only; `/metrics` stays plaintext
//! (Prometheus scrapes it inside the cluster, and it carries no secrets).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use fleet_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::AuthPolicy;
use crate::grpc::{PlannerGrpc, TelemetryGrpc};
use crate::metrics::Metrics;
use crate::service::{Planner, PlannerSettings};
use crate::tls::ServerIdentity;

/// Health entry that is serving while the process runs.
pub const LIVENESS: &str = "liveness";
/// Health entry that is serving while the planner can answer: migrations ran, the database answers.
pub const READINESS: &str = "readiness";

/// How the server runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    /// How often readiness checks the database.
    pub readiness_interval: Duration,
    /// The planner's settings.
    pub planner: PlannerSettings,
    /// Who may call what.
    pub auth: AuthPolicy,
    /// The certificate and key gRPC is served with; `None` serves plaintext.
    pub tls: Option<ServerIdentity>,
    /// How long readiness is not serving, while calls are still served, before the listeners
    /// close (the binary's default is 5 s; zero here, so tests stop at once).
    pub shutdown_drain: Duration,
    /// How long calls in flight may take once the listeners closed; then they are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            readiness_interval: Duration::from_secs(2),
            planner: PlannerSettings::default(),
            auth: AuthPolicy::default(),
            tls: None,
            shutdown_drain: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves the planner until `shutdown` resolves, then drains (readiness not serving for
/// [`ServeOptions::shutdown_drain`], then in-flight calls for at most
/// [`ServeOptions::shutdown_timeout`]) and returns.
///
/// The store must be connected (migrations ran in [`Store::connect`]); the default catalog is
/// seeded into an empty database before readiness turns serving.
pub async fn serve(
    grpc_listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    store: Store,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Before anything is spawned, so that an error here leaves nothing running.
    let mut builder = tonic::transport::Server::builder();
    if let Some(identity) = &options.tls {
        tracing::info!(cert = %identity.cert_path().display(), "tls enabled");
        builder = builder
            .tls_config(identity.server_config())
            .context("configuring TLS")?;
    }
    let metrics = Metrics::new();
    let planner = Planner::open(store, options.planner, metrics.clone())
        .await
        .context("opening the planner on its database")?;

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(LIVENESS, ServingStatus::Serving)
        .await;
    health
        .set_service_status(READINESS, ServingStatus::NotServing)
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(fleet_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building reflection v1")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(fleet_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building reflection v1alpha")?;

    // One shutdown signal fans out to the gRPC server, the metrics server and readiness.
    let (stop_sender, stop) = watch::channel(false);
    // Readiness writes happen under this lock, and `true` inside it means shutting down, so a
    // database check that finishes late cannot turn readiness back on during the drain.
    let shutting_down = Arc::new(Mutex::new(false));
    let readiness = {
        let on_shutdown_health = health.clone();
        let on_shutdown_planner = planner.clone();
        let stop_sender = stop_sender.clone();
        let on_shutdown_flag = shutting_down.clone();
        let drain = options.shutdown_drain;
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(drain = ?drain, "shutting down: readiness not serving, still serving calls for the drain");
            let mut flag = on_shutdown_flag.lock().await;
            *flag = true;
            on_shutdown_planner.metrics().set_ready(false);
            on_shutdown_health
                .set_service_status(READINESS, ServingStatus::NotServing)
                .await;
            drop(flag);
            tokio::time::sleep(drain).await;
            tracing::info!("drain over: listeners closing, finishing calls in flight");
            let _ = stop_sender.send(true);
        });
        tokio::spawn(watch_readiness(
            planner.clone(),
            health.clone(),
            options.readiness_interval,
            shutting_down,
            stop.clone(),
        ))
    };

    let metrics_task = match metrics_listener {
        Some(listener) => {
            let address = listener.local_addr().ok();
            tracing::info!(address = ?address, "metrics listening");
            let router = axum::Router::new().route(
                "/metrics",
                axum::routing::get({
                    let metrics = metrics.clone();
                    move || {
                        let metrics = metrics.clone();
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    "text/plain; version=0.0.4; charset=utf-8",
                                )],
                                metrics.encode(),
                            )
                        }
                    }
                }),
            );
            let stop = stop.clone();
            let timeout = options.shutdown_timeout;
            Some(tokio::spawn(async move {
                let server = axum::serve(listener, router)
                    .with_graceful_shutdown(wait_for(stop.clone()))
                    .into_future();
                match bounded_after(stop, timeout, server).await {
                    Some(result) => result,
                    None => Ok(()),
                }
            }))
        }
        None => None,
    };

    let address = grpc_listener.local_addr().ok();
    tracing::info!(address = ?address, backend = ?planner.store().backend(), tls = options.tls.is_some(), "gRPC listening");
    let server = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(PlannerGrpc::with_auth(planner.clone(), options.auth.clone()).into_server())
        .add_service(TelemetryGrpc::with_auth(planner.clone(), options.auth.clone()).into_server())
        .serve_with_incoming_shutdown(
            without_nagle(TcpListenerStream::new(grpc_listener)),
            wait_for(stop.clone()),
        );
    let result = match bounded_after(stop.clone(), options.shutdown_timeout, server).await {
        Some(result) => result.context("gRPC server failed"),
        None => {
            tracing::warn!(
                timeout = ?options.shutdown_timeout,
                "calls still in flight at the shutdown timeout: dropping them"
            );
            Ok(())
        }
    };

    // The gRPC server may also stop on its own error: make sure the rest stops too.
    let _ = stop_sender.send(true);
    if let Some(task) = metrics_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "metrics server failed"),
            Err(error) => tracing::warn!(%error, "metrics server task failed"),
        }
    }
    readiness.abort();
    // A pool waits for connections checked out by calls just dropped; do not wait forever.
    if tokio::time::timeout(Duration::from_secs(2), planner.store().close())
        .await
        .is_err()
    {
        tracing::warn!("database connections still busy at exit");
    }
    tracing::info!("stopped");
    result
}

/// Runs `server` to its end, or until `timeout` after `stop` turned true, whichever comes
/// first; `None` when the timeout cut it short (dropping it drops its connections).
async fn bounded_after<T>(
    stop: watch::Receiver<bool>,
    timeout: Duration,
    server: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        result = server => Some(result),
        () = async {
            wait_for(stop).await;
            tokio::time::sleep(timeout).await;
        } => None,
    }
}

async fn wait_for(mut stop: watch::Receiver<bool>) {
    // An error means every sender is gone, which also means stop.
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// Sets readiness from a database ping every `interval` until stop.
async fn watch_readiness(
    planner: Planner,
    health: HealthReporter,
    interval: Duration,
    shutting_down: Arc<Mutex<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ready = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let now_ready = match tokio::time::timeout(
            interval.max(Duration::from_secs(1)),
            planner.ping(),
        )
        .await
        {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                if ready {
                    tracing::warn!(%error, "database check failed: readiness not serving");
                }
                false
            }
            Err(_) => {
                if ready {
                    tracing::warn!("database check timed out: readiness not serving");
                }
                false
            }
        };
        let flag = shutting_down.lock().await;
        if *flag {
            return;
        }
        if now_ready != ready {
            let status = if now_ready {
                tracing::info!("database answers: readiness serving");
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(READINESS, status).await;
            planner.metrics().set_ready(now_ready);
            ready = now_ready;
        }
        drop(flag);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Returns the accepted connections with `TCP_NODELAY` set. A small RPC is a few short writes;
/// with Nagle's algorithm on, each waits for the client's delayed ACK (~40 ms) before it leaves.
/// (tonic sets it only on listeners it binds itself, not on an injected one.)
fn without_nagle(
    incoming: TcpListenerStream,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    incoming.map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = Box::pin(without_nagle(TcpListenerStream::new(listener)));
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let accepted = incoming.next().await.unwrap().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
