//! `fleet-agent`: parses flags, sets up logging, and runs the library until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fleet_agent::config::{Cli, Command, LogFormat, check_planner_tls, one_line_error};
use fleet_agent::{AgentConfig, ProbeConfig, ProbeDelivery};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// How long `probe` waits for the planner to acknowledge its results.
const PROBE_REPORT_DEADLINE: Duration = Duration::from_secs(60);

fn init_logging(format: LogFormat) {
    // AGENT_LOG takes target filters like "info,fleet_agent=debug"; the default is info.
    let filter: Targets = std::env::var("AGENT_LOG")
        .ok()
        .and_then(|spec| spec.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler succeeds");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help and --version.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{}", one_line_error(&error));
            return ExitCode::from(2);
        }
    };
    // An https:// planner needs the CA to trust: say so now, not after the first failed connect.
    let planner_tls = match &cli.command {
        Command::Run(args) => check_planner_tls(&args.planner, args.tls_ca.as_ref()),
        Command::Probe(args) => match &args.planner {
            Some(planner) => check_planner_tls(planner, args.tls_ca.as_ref()),
            None => Ok(()),
        },
    };
    if let Err(message) = planner_tls {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                init_logging(args.log_format);
                fleet_agent::run(AgentConfig::from(args), shutdown_signal()).await.map_err(anyhow::Error::from)
            }
            Command::Probe(args) => {
                init_logging(args.log_format);
                let labels = args.labels.iter().cloned().collect();
                let config = ProbeConfig::from(args);
                let report = fleet_agent::probe::run_probe(&config).await?;
                print!("{}", fleet_agent::probe::render_table(&report));
                if let Some(target) = &config.report {
                    match fleet_agent::report_probe(&report, target, labels, PROBE_REPORT_DEADLINE).await? {
                        ProbeDelivery::Sent { seqs, acknowledged: true } => {
                            eprintln!("reported {} probe observations (seq {:?})", seqs.len(), seqs);
                        }
                        ProbeDelivery::Sent { seqs, acknowledged: false } => {
                            eprintln!(
                                "spooled {} probe observations (seq {:?}); the planner has not acknowledged them yet, the next agent run resends them",
                                seqs.len(),
                                seqs
                            );
                        }
                        ProbeDelivery::HandedToAgent { path } => {
                            eprintln!("handed probe observations to the running agent ({})", path.display());
                        }
                    }
                }
                Ok(())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
