//! The gRPC client loop: register the node, stream every pending spooled observation, apply the
//! planner's acknowledgements, and on any failure reconnect with exponential backoff and jitter,
//! resending everything still unacknowledged (the planner stores by (node, seq), so a resend
//! duplicates nothing).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleet_proto::v1::telemetry_service_client::TelemetryServiceClient;
use fleet_proto::v1::{RegisterNodeRequest, ReportObservationsRequest, ReportObservationsResponse};
use tokio::sync::{Notify, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::config::{BearerToken, CaCertificate};
use crate::metrics::AgentMetrics;
use crate::spool::{Spool, SpoolError};

/// Batches sent but not yet answered before the sender waits for acks.
const MAX_BATCHES_IN_FLIGHT: usize = 8;
/// Limit on RegisterNode, which should answer at once.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of one reporting session; all of them lead to a reconnect.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The planner URL is not a valid endpoint.
    #[error("invalid planner url {url}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Connecting failed.
    #[error("cannot connect to planner: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// An RPC failed.
    #[error("planner rpc failed: {0}")]
    Rpc(#[from] tonic::Status),
    /// RegisterNode did not answer in time.
    #[error("register node timed out")]
    RegisterTimeout,
    /// The planner closed the stream.
    #[error("planner closed the report stream")]
    StreamClosed,
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Shared state of the reporter.
#[derive(Debug, Clone)]
pub struct ReporterContext {
    /// Planner endpoint.
    pub planner: String,
    /// Node id.
    pub node_id: String,
    /// SKU.
    pub sku: String,
    /// Labels for RegisterNode.
    pub labels: HashMap<String, String>,
    /// The spool; the scrape side appends, the reporter acknowledges.
    pub spool: Arc<Mutex<Spool>>,
    /// Woken after each append.
    pub appended: Arc<Notify>,
    /// Metrics.
    pub metrics: AgentMetrics,
    /// First reconnect delay.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Most observations per message.
    pub batch_size: usize,
    /// Bearer token sent with every RPC.
    pub token: Option<BearerToken>,
    /// The CA the planner's certificate must chain to, for an `https://` planner.
    pub tls_ca: Option<CaCertificate>,
}

/// Exponential backoff with "equal jitter": each delay is uniformly drawn from [d/2, d], with
/// d doubling from `initial` up to `max`, so that a fleet of agents does not reconnect in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Returns a backoff starting at `initial`, capped at `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            current: initial,
        }
    }

    /// Returns the next delay and doubles the base.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Starts over from the initial delay (after a session made progress).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

fn lock(spool: &Mutex<Spool>) -> std::sync::MutexGuard<'_, Spool> {
    // A panic while holding the lock leaves the in-memory spool consistent (every mutation is a
    // single step after its I/O), so a poisoned lock is safe to keep using.
    spool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Returns a channel to the planner, over TLS trusting exactly `tls_ca` for an `https://` URL;
/// bearer auth is added per request by [`session`].
pub fn planner_endpoint(
    url: &str,
    tls_ca: Option<&CaCertificate>,
) -> Result<Endpoint, ReportError> {
    let invalid = |reason: String| ReportError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    crate::config::check_planner_tls(url, tls_ca).map_err(invalid)?;
    let mut endpoint =
        Endpoint::from_shared(url.to_owned()).map_err(|error| invalid(error.to_string()))?;
    if let Some(ca) = tls_ca {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca.pem())))
            .map_err(|error| invalid(format!("--tls-ca-file: {error}")))?;
    }
    Ok(endpoint
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true))
}

fn unix_seconds_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs the reporter until `shutdown` turns true: sessions with backoff in between. Sets
/// `registered` to true after the first successful RegisterNode.
pub async fn run_reporter(
    context: ReporterContext,
    registered: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(context.backoff_initial, context.backoff_max);
    let mut attempt: u32 = 0;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let mut progressed = false;
        let outcome = tokio::select! {
            outcome = session(&context, &registered, &mut progressed) => outcome,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        context.metrics.planner_connected.set(0);
        if progressed {
            backoff.reset();
            attempt = 0;
        }
        attempt += 1;
        let delay = backoff.next_delay();
        match outcome {
            Ok(()) => {}
            Err(error) => tracing::warn!(
                planner = %context.planner,
                attempt,
                retry_in_ms = delay.as_millis() as u64,
                pending = lock(&context.spool).depth(),
                error = %crate::error_chain(&error),
                "planner session ended"
            ),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
        }
    }
    context.metrics.planner_connected.set(0);
}

async fn session(
    context: &ReporterContext,
    registered: &watch::Sender<bool>,
    progressed: &mut bool,
) -> Result<(), ReportError> {
    let channel: Channel = planner_endpoint(&context.planner, context.tls_ca.as_ref())?
        .connect()
        .await?;
    let authorization = context.token.as_ref().map(BearerToken::header_value);
    let mut client =
        TelemetryServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
            if let Some(value) = &authorization {
                request
                    .metadata_mut()
                    .insert("authorization", value.clone());
            }
            Ok(request)
        });
    let request = RegisterNodeRequest {
        node_id: context.node_id.clone(),
        sku: context.sku.clone(),
        labels: context.labels.clone(),
    };
    let response = tokio::time::timeout(REGISTER_TIMEOUT, client.register_node(request))
        .await
        .map_err(|_| ReportError::RegisterTimeout)??
        .into_inner();
    let planner_acked = response.acked_through_seq;
    {
        let spool = Arc::clone(&context.spool);
        let depth = tokio::task::spawn_blocking(move || {
            let mut spool = lock(&spool);
            spool.reconcile(planner_acked).map(|()| spool.depth())
        })
        .await
        .expect("spool task does not panic")?;
        context.metrics.spool_depth.set(depth as i64);
        context.metrics.last_ack_seq.set(planner_acked as i64);
    }
    registered.send_replace(true);
    *progressed = true;
    tracing::info!(planner = %context.planner, node = %context.node_id, acked_through_seq = planner_acked, "registered with planner");

    let (sender, receiver) = mpsc::channel::<ReportObservationsRequest>(MAX_BATCHES_IN_FLIGHT);
    let mut inbound = client
        .report_observations(ReceiverStream::new(receiver))
        .await?
        .into_inner();
    context.metrics.planner_connected.set(1);
    let mut last_sent_seq = 0u64;
    let mut batches_in_flight = 0usize;
    loop {
        // Register interest before looking at the spool so an append in between is not missed.
        let appended = context.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        if batches_in_flight < MAX_BATCHES_IN_FLIGHT {
            let batch = lock(&context.spool).pending_after(last_sent_seq, context.batch_size);
            if let Some(last) = batch.last() {
                last_sent_seq = last.seq;
                let count = batch.len() as u64;
                sender
                    .send(ReportObservationsRequest {
                        observations: batch,
                    })
                    .await
                    .map_err(|_| ReportError::StreamClosed)?;
                batches_in_flight += 1;
                context.metrics.observations_sent.inc_by(count);
                continue;
            }
        }
        tokio::select! {
            () = &mut appended => {}
            message = inbound.message() => {
                let ack = match message {
                    Ok(Some(ack)) => ack,
                    Ok(None) => return Err(ReportError::StreamClosed),
                    Err(status) => {
                        // The next session resends the rest at once, without this one.
                        *progressed |= park_refused(context, &status).await?;
                        return Err(status.into());
                    }
                };
                batches_in_flight = batches_in_flight.saturating_sub(1);
                apply_ack(context, ack).await?;
            }
        }
    }
}

/// Sets aside the observation a refused batch names ([`fleet_proto::REJECTED_SEQ_METADATA`])
/// when the refusal is about its data (INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION):
/// resending it would fail forever and hold back every later one. Any other refusal, or one that
/// names no observation, leaves the spool as it is (the session retries). Returns whether it
/// parked one.
async fn park_refused(
    context: &ReporterContext,
    status: &tonic::Status,
) -> Result<bool, ReportError> {
    use tonic::Code;
    if !matches!(
        status.code(),
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition
    ) {
        return Ok(false);
    }
    let Some(seq) = status
        .metadata()
        .get(fleet_proto::REJECTED_SEQ_METADATA)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok())
    else {
        return Ok(false);
    };
    let spool = Arc::clone(&context.spool);
    let (parked, depth) = tokio::task::spawn_blocking(move || {
        let mut spool = lock(&spool);
        spool.park(seq).map(|parked| (parked, spool.depth()))
    })
    .await
    .expect("spool task does not panic")?;
    if parked {
        context.metrics.observations_parked.inc();
        context.metrics.spool_depth.set(depth as i64);
        tracing::warn!(
            seq,
            code = ?status.code(),
            reason = status.message(),
            "planner refused an observation as invalid: set aside in parked.log, not resent"
        );
    }
    Ok(parked)
}

async fn apply_ack(
    context: &ReporterContext,
    ack: ReportObservationsResponse,
) -> Result<(), ReportError> {
    if ack.node_id != context.node_id && !ack.node_id.is_empty() {
        tracing::warn!(expected = %context.node_id, got = %ack.node_id, "ack for another node ignored");
        return Ok(());
    }
    let spool = Arc::clone(&context.spool);
    let (dropped, depth, acked_through) = tokio::task::spawn_blocking(move || {
        let mut spool = lock(&spool);
        spool
            .acknowledge(ack.acked_through_seq, &ack.acked_seqs)
            .map(|dropped| (dropped, spool.depth(), spool.acked_through_seq()))
    })
    .await
    .expect("spool task does not panic")?;
    context.metrics.observations_acked.inc_by(dropped as u64);
    context.metrics.spool_depth.set(depth as i64);
    context.metrics.last_ack_seq.set(acked_through as i64);
    context
        .metrics
        .last_ack_time_seconds
        .set(unix_seconds_now());
    tracing::debug!(
        acked_through_seq = acked_through,
        dropped,
        pending = depth,
        "planner acknowledged"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let expected_bases = [100, 200, 400, 800, 1000, 1000];
        for base in expected_bases {
            let delay = backoff.next_delay().as_millis() as u64;
            assert!(
                (base / 2..=base).contains(&delay),
                "{delay} not in [{}, {base}]",
                base / 2
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    fn context(planner: &str, spool_dir: &std::path::Path) -> ReporterContext {
        ReporterContext {
            planner: planner.into(),
            node_id: "n".into(),
            sku: "s".into(),
            labels: HashMap::new(),
            spool: Arc::new(Mutex::new(Spool::open(spool_dir, "n").unwrap())),
            appended: Arc::new(Notify::new()),
            metrics: AgentMetrics::new(),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
            batch_size: 8,
            token: None,
            tls_ca: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reporter_backs_off_while_the_planner_is_unreachable() {
        let dir = tempfile::tempdir().unwrap();
        // Port 9 on loopback: nothing listens, connects are refused at once.
        let context = context("http://127.0.0.1:9", dir.path());
        let (registered, registered_rx) = watch::channel(false);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run_reporter(context, registered, stop_rx));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!*registered_rx.borrow());
        stop.send_replace(true);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let planner = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let (registered, _) = watch::channel(false);
        let error = session(&context(&planner, dir.path()), &registered, &mut false)
            .await
            .unwrap_err();
        assert!(matches!(error, ReportError::Connect(_)), "{error:?}");
        // Not just "cannot connect to planner: transport error".
        let line = crate::error_chain(&error);
        assert!(
            line.starts_with("cannot connect to planner: transport error: "),
            "{line}"
        );
        assert!(line.to_lowercase().contains("connection refused"), "{line}");
        assert_eq!(line.matches("transport error").count(), 1, "{line}");
    }
}
