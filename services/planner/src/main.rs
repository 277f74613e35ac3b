//! `fleet-planner`: the planner's gRPC server. Binds the listeners, connects the database
//! (running migrations), and serves until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use fleet_planner::auth::{AuthPolicy, BearerToken};
use fleet_planner::server::{ServeOptions, serve};
use fleet_planner::service::{
    PlannerSettings, default_database_url, default_max_concurrent_solves,
};
use fleet_planner::solve::{Backend, SolveSettings};
use fleet_planner::tls::ServerIdentity;
use fleet_store::Store;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// fleetplan's planner server: proposes fleets of local LLM inference hardware with API
/// spillover, stores plans, catalog and observations, and serves them over gRPC.
#[derive(Debug, Parser)]
#[command(name = "fleet-planner", version, about)]
struct Args {
    /// gRPC listen address.
    #[arg(long, env = "PLANNER_LISTEN", default_value = "0.0.0.0:50051")]
    listen: SocketAddr,
    /// Prometheus metrics listen address (text at /metrics).
    #[arg(long, env = "PLANNER_METRICS_LISTEN", default_value = "0.0.0.0:9090")]
    metrics_listen: SocketAddr,
    /// Database URL: sqlite:PATH or postgres://USER@HOST/DB [default: a SQLite file in the
    /// user's data directory]
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// How long the start waits for the database's first answer, e.g. `10s`; a database (or a
    /// proxy) that accepts and never answers fails the start with one line.
    #[arg(long, env = "PLANNER_DATABASE_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    database_connect_timeout: Duration,
    /// Log format.
    #[arg(long, env = "PLANNER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    /// Log level or per-target filter, e.g. `info` or `info,fleet_planner=debug`.
    #[arg(long, env = "PLANNER_LOG", default_value = "info")]
    log_level: Targets,
    /// Wall-clock limit of one proposal (the optimum and its baselines together), e.g. `30s`; a
    /// solve it stops returns the best plan found, marked with its gap.
    #[arg(long, env = "PLANNER_SOLVE_TIME_LIMIT", default_value = "30s", value_parser = parse_duration)]
    solve_time_limit: Duration,
    /// Most Proposes solving at once [default: the core count]; the others wait for a slot
    /// within three quarters of their time (the solve time limit, or the client's deadline if
    /// sooner), then fail with RESOURCE_EXHAUSTED. The wait counts in the solve's time limit.
    #[arg(long, env = "PLANNER_MAX_CONCURRENT_SOLVES", value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent_solves: Option<u16>,
    /// MIP backend: auto (microlp for small models, HiGHS for large ones in builds with the
    /// `highs` feature), microlp or highs.
    #[arg(long, env = "PLANNER_SOLVER", default_value = "auto", value_parser = parse_solver)]
    solver: Backend,
    /// File holding the bearer token that telemetry and catalog writes must present (a mounted
    /// Secret); without it every call is open.
    #[arg(long, env = "PLANNER_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Require the token for reads (plans, catalog listings, Propose) too.
    #[arg(long, env = "PLANNER_PROTECT_READS", requires = "token_file")]
    protect_reads: bool,
    /// On SIGTERM or SIGINT, how long readiness reports not serving while calls are still
    /// served, so load balancers stop sending before the listeners close, e.g. `5s`.
    #[arg(long, env = "PLANNER_SHUTDOWN_DRAIN", default_value = "5s", value_parser = parse_duration_or_zero)]
    shutdown_drain: Duration,
    /// After the drain, how long calls in flight may take before they are dropped, e.g.
    /// `20s`. Drain plus timeout (plus a second or two to exit) must stay under the pod's
    /// terminationGracePeriodSeconds (30 s in deploy/). A second signal exits at once.
    #[arg(long, env = "PLANNER_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// How far past its arrival an observation's window may end (a node's clock ahead of the
    /// planner's), e.g. `5m`; later windows are refused with INVALID_ARGUMENT.
    #[arg(long, env = "PLANNER_MAX_CLOCK_SKEW", default_value = "5m", value_parser = parse_duration)]
    max_clock_skew: Duration,
    /// How often readiness checks the database, e.g. `2s`.
    #[arg(long, env = "PLANNER_READINESS_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    readiness_interval: Duration,
    /// PEM certificate chain (leaf first) to serve gRPC over TLS, with --tls-key; without both,
    /// gRPC is plaintext. The metrics listener is always plaintext.
    #[arg(
        long,
        env = "PLANNER_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    tls_cert: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "PLANNER_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    tls_key: Option<std::path::PathBuf>,
}

/// Parses `--solver`: a backend this build has.
fn parse_solver(text: &str) -> Result<Backend, String> {
    text.parse::<Backend>()?.check_available()
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let ms = fleet_planner::units::parse_duration_ms(raw).map_err(|e| e.to_string())?;
    Ok(Duration::from_secs_f64(ms / 1_000.0))
}

/// Parses a duration that may be zero: `0` or `0s` turns the drain off.
fn parse_duration_or_zero(raw: &str) -> Result<Duration, String> {
    if raw.trim().trim_end_matches(['s', 'm']).trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(raw)
}

fn init_tracing(format: LogFormat, filter: Targets) {
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

/// The process's shutdown: the first SIGINT or SIGTERM resolves `first` (the server drains);
/// a second one exits at once, without draining (128 + the signal number, as a shell would).
async fn watch_signals(first: tokio::sync::oneshot::Sender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Both listeners live for the whole process, so a second signal that comes right
        // after the first is not lost between them.
        let (mut interrupt, mut terminate) = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(interrupt), Ok(terminate)) => (interrupt, terminate),
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot listen for SIGINT and SIGTERM");
                return;
            }
        };
        let mut next = async || {
            tokio::select! {
                _ = interrupt.recv() => ("SIGINT", 130),
                _ = terminate.recv() => ("SIGTERM", 143),
            }
        };
        let (name, _) = next().await;
        tracing::info!(
            signal = name,
            "shutdown signal received; a second one exits at once"
        );
        let _ = first.send(());
        let (name, code) = next().await;
        tracing::warn!(
            signal = name,
            "second shutdown signal: exiting without draining"
        );
        eprintln!("fleet-planner: second {name}: exiting without draining");
        std::process::exit(code);
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = first.send(());
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Read before anything else, so a bad file fails the start with the flag and file named.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ServerIdentity::load(cert, key)?),
        _ => None,
    };
    let token = match &args.token_file {
        Some(path) => Some(BearerToken::from_file(path).map_err(anyhow::Error::msg)?),
        None => {
            tracing::warn!(
                "no --token-file: telemetry and catalog writes are open to every caller"
            );
            None
        }
    };
    let database_url = match args.database_url {
        Some(url) => url,
        None => default_database_url()?,
    };
    let store = Store::connect_with_timeout(&database_url, args.database_connect_timeout)
        .await
        .with_context(|| format!("connecting to the database ({})", redact_url(&database_url)))?;
    let grpc = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding --listen {}", args.listen))?;
    let metrics = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .with_context(|| format!("binding --metrics-listen {}", args.metrics_listen))?;
    let options = ServeOptions {
        readiness_interval: args.readiness_interval,
        planner: PlannerSettings {
            solve: SolveSettings {
                time_limit_s: Some(args.solve_time_limit.as_secs_f64()),
                backend: args.solver,
                ..SolveSettings::default()
            },
            max_concurrent_solves: args
                .max_concurrent_solves
                .map_or_else(default_max_concurrent_solves, usize::from),
            max_clock_skew: args.max_clock_skew,
        },
        auth: AuthPolicy {
            token,
            protect_reads: args.protect_reads,
        },
        tls,
        shutdown_drain: args.shutdown_drain,
        shutdown_timeout: args.shutdown_timeout,
    };
    let (first_signal, first_signal_received) = tokio::sync::oneshot::channel();
    tokio::spawn(watch_signals(first_signal));
    let shutdown = async move {
        // An error means the signal watcher is gone (it could not listen): serve on.
        if first_signal_received.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    serve(grpc, Some(metrics), store, options, shutdown).await
}

/// Hides a password in a database URL for logs and errors.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn main() -> ExitCode {
    // An env twin set to "" (PLANNER_SOLVER=) counts as unset, not as an empty value.
    let args = fleet_planner::env::ignore_empty_env(Args::command())
        .try_get_matches()
        .and_then(|matches| Args::from_arg_matches(&matches))
        .unwrap_or_else(|error| error.exit());
    init_tracing(args.log_format, args.log_level.clone());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("fleet-planner: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "fleet-planner failed");
            eprintln!("fleet-planner: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[test]
    fn flags_parse_with_defaults() {
        let args = Args::try_parse_from(["fleet-planner"]).unwrap();
        assert_eq!(args.listen.port(), 50051);
        assert_eq!(args.metrics_listen.port(), 9090);
        assert!(Args::try_parse_from(["fleet-planner", "--log-format", "xml"]).is_err());
        assert!(Args::try_parse_from(["fleet-planner", "--solve-time-limit", "-1s"]).is_err());
    }

    #[test]
    fn tls_cert_and_key_go_together() {
        let both =
            Args::try_parse_from(["fleet-planner", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
                .unwrap();
        assert_eq!(both.tls_key.as_deref(), Some(std::path::Path::new("k.pem")));
        for alone in [["--tls-cert", "c.pem"], ["--tls-key", "k.pem"]] {
            let error = Args::try_parse_from(std::iter::once("fleet-planner").chain(alone))
                .unwrap_err()
                .to_string();
            let other = if alone[0] == "--tls-cert" {
                "--tls-key"
            } else {
                "--tls-cert"
            };
            assert!(error.contains(other), "{error}");
        }
    }
}
