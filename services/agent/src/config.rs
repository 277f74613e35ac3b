//! Command line and configuration: clap definitions (every flag has an `AGENT_` env twin), value
//! parsers, and the validated [`AgentConfig`] / [`ProbeConfig`] the library runs on.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::rates::WindowPolicy;

/// fleet-agent: measures llama.cpp workers on this node and reports throughput to the planner.
#[derive(Debug, Parser)]
#[command(name = "fleet-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scrapes workers continuously and streams observations to the planner.
    Run(RunArgs),
    /// Drives one worker at fixed concurrency levels and prints its throughput.
    Probe(ProbeArgs),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Flags of `fleet-agent run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Planner gRPC endpoint, e.g. http://fleet-planner:50051 (https:// with --tls-ca-file).
    #[arg(long, env = "AGENT_PLANNER", value_parser = parse_planner_url)]
    pub planner: String,
    /// PEM file of the CA that signed the planner's certificate, for an https:// --planner (no
    /// system roots are built in).
    #[arg(long = "tls-ca-file", env = "AGENT_TLS_CA_FILE", value_name = "PATH", value_parser = parse_ca_file)]
    pub tls_ca: Option<CaCertificate>,
    /// Stable node id, e.g. the Kubernetes node name.
    #[arg(long, env = "AGENT_NODE_ID", value_parser = parse_non_empty)]
    pub node_id: String,
    /// Hardware SKU id from the planner's catalog.
    #[arg(long, env = "AGENT_SKU", value_parser = parse_non_empty)]
    pub sku: String,
    /// llama-server base URL; repeat the flag, or comma-separate in AGENT_WORKERS.
    #[arg(long = "worker", env = "AGENT_WORKERS", value_delimiter = ',', required = true, value_parser = parse_http_url)]
    pub workers: Vec<String>,
    /// Scrape interval: 800ms, 10s, 1m.
    #[arg(long, env = "AGENT_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub interval: Duration,
    /// File holding the planner's bearer token (e.g. a mounted Secret); needed when the planner
    /// runs with --token-file.
    #[arg(long = "token-file", env = "AGENT_TOKEN_FILE", value_name = "PATH", value_parser = parse_token_file)]
    pub token: Option<BearerToken>,
    /// Model id to report instead of the one derived from the worker's /props model_path (use the
    /// planner catalog's model id, e.g. deepseek-v4-pro).
    #[arg(long, env = "AGENT_MODEL", value_parser = parse_non_empty)]
    pub model: Option<String>,
    /// Directory of the durable observation spool (keep it across restarts).
    #[arg(long, env = "AGENT_SPOOL_DIR")]
    pub spool_dir: PathBuf,
    /// Address of the agent's own Prometheus /metrics endpoint.
    #[arg(long, env = "AGENT_METRICS_LISTEN", default_value = "0.0.0.0:9091")]
    pub metrics_listen: SocketAddr,
    /// Command printing node power in watts, one number per line (summed), run once per scrape
    /// interval; plain commands run directly, ones with shell syntax via `sh -c`.
    #[arg(long, env = "AGENT_POWER_COMMAND")]
    pub power_command: Option<String>,
    /// Node labels sent at registration: zone=a,rack=r12.
    #[arg(long, env = "AGENT_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Finished generated tokens a window needs before it is reported.
    #[arg(long, env = "AGENT_MIN_WINDOW_TOKENS", default_value_t = 256)]
    pub min_window_tokens: u64,
    /// Longest window: reported at this age if it saw any token, dropped if idle.
    #[arg(long, env = "AGENT_MAX_WINDOW", default_value = "5m", value_parser = parse_duration)]
    pub max_window: Duration,
    /// Timeout of each request to a worker.
    #[arg(long, env = "AGENT_SCRAPE_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub scrape_timeout: Duration,
    /// Log format.
    #[arg(long, env = "AGENT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// Flags of `fleet-agent probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// llama-server base URL to probe.
    #[arg(long, env = "AGENT_PROBE_WORKER", value_parser = parse_http_url)]
    pub worker: String,
    /// Concurrency levels, comma-separated.
    #[arg(long, env = "AGENT_PROBE_CONCURRENCY", value_delimiter = ',', default_value = "1,2,4,8", value_parser = parse_level)]
    pub concurrency: Vec<u32>,
    /// Prompt length of every request, in tokens.
    #[arg(long, env = "AGENT_PROBE_PROMPT_TOKENS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub prompt_tokens: u32,
    /// Tokens generated by every request.
    #[arg(long, env = "AGENT_PROBE_MAX_TOKENS", default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Requests per level (at least the level's concurrency are sent).
    #[arg(long, env = "AGENT_PROBE_REQUESTS_PER_LEVEL", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_level: u32,
    /// Timeout of each completion request.
    #[arg(long, env = "AGENT_PROBE_REQUEST_TIMEOUT", default_value = "10m", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Planner endpoint; with --node-id, --sku and --spool-dir, results are reported as probe
    /// observations (https:// with --tls-ca-file).
    #[arg(long, env = "AGENT_PLANNER", value_parser = parse_planner_url, requires_all = ["node_id", "sku", "spool_dir"])]
    pub planner: Option<String>,
    /// PEM file of the CA that signed the planner's certificate, for an https:// --planner (no
    /// system roots are built in).
    #[arg(long = "tls-ca-file", env = "AGENT_TLS_CA_FILE", value_name = "PATH", value_parser = parse_ca_file, requires = "planner")]
    pub tls_ca: Option<CaCertificate>,
    /// Node id for reported results.
    #[arg(long, env = "AGENT_NODE_ID", value_parser = parse_non_empty)]
    pub node_id: Option<String>,
    /// SKU for reported results.
    #[arg(long, env = "AGENT_SKU", value_parser = parse_non_empty)]
    pub sku: Option<String>,
    /// File holding the planner's bearer token (e.g. a mounted Secret); needed when the planner
    /// runs with --token-file.
    #[arg(long = "token-file", env = "AGENT_TOKEN_FILE", value_name = "PATH", value_parser = parse_token_file)]
    pub token: Option<BearerToken>,
    /// Model id to report instead of the one derived from the worker's /props model_path (use the
    /// planner catalog's model id, e.g. deepseek-v4-pro).
    #[arg(long, env = "AGENT_MODEL", value_parser = parse_non_empty)]
    pub model: Option<String>,
    /// Spool directory (the same one `run` uses on this node).
    #[arg(long, env = "AGENT_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Node labels sent at registration (as for `run`).
    #[arg(long, env = "AGENT_LABELS", value_delimiter = ',', value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Log format.
    #[arg(long, env = "AGENT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// Parses `800ms`, `10s`, `1m`, `2h` (a positive integer and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let usage = || format!("'{text}' is not a duration like 800ms, 10s or 1m");
    let value: u64 = number.parse().map_err(|_| usage())?;
    let duration = match unit {
        "ms" => Duration::from_millis(value),
        "s" => Duration::from_secs(value),
        "m" => Duration::from_secs(value.checked_mul(60).ok_or_else(usage)?),
        "h" => Duration::from_secs(value.checked_mul(3600).ok_or_else(usage)?),
        _ => return Err(usage()),
    };
    if duration.is_zero() {
        return Err(format!("'{text}' must be longer than zero"));
    }
    Ok(duration)
}

/// Parses `key=value` with a non-empty key.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("'{text}' is not key=value")),
    }
}

/// Accepts a worker's `http://host[:port][/prefix]` URL (llama-server is scraped in plaintext,
/// on the node itself).
pub fn parse_http_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let uri: hyper::Uri = text.parse().map_err(|_| format!("'{text}' is not a URL"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some_and(|host| !host.is_empty()) => Ok(text.to_owned()),
        Some("https") => Err(format!("'{text}': https is not supported, use http://")),
        _ => Err(format!("'{text}' is not an http://host:port URL")),
    }
}

/// Accepts the planner's `http://host:port` or `https://host:port` URL (https needs
/// `--tls-ca-file`, see [`check_planner_tls`]).
pub fn parse_planner_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let uri: hyper::Uri = text.parse().map_err(|_| format!("'{text}' is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some_and(|host| !host.is_empty()) => {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "'{text}' is not an http://host:port or https://host:port URL"
        )),
    }
}

/// The CA certificate(s) the agent trusts for an `https://` planner, read from `--tls-ca-file`.
#[derive(Clone, PartialEq, Eq)]
pub struct CaCertificate {
    path: Arc<str>,
    pem: Arc<[u8]>,
}

impl std::fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CaCertificate").field(&self.path).finish()
    }
}

impl CaCertificate {
    /// Returns the PEM text, for tonic's TLS configuration.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// Reads a PEM file with at least one certificate; the error names the file.
pub fn parse_ca_file(path: &str) -> Result<CaCertificate, String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let pem = std::fs::read(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{path}: not a PEM certificate file: {error}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "{path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in the file"
        ));
    }
    Ok(CaCertificate {
        path: path.into(),
        pem: pem.into(),
    })
}

/// Checks that an `https://` planner comes with a CA to trust, and that a CA is not given for a
/// plaintext planner (where it would silently go unused). The error is one line for stderr.
pub fn check_planner_tls(planner: &str, tls_ca: Option<&CaCertificate>) -> Result<(), String> {
    let https = planner
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    match (https, tls_ca) {
        (true, None) => Err(format!(
            "--planner {planner} is https: pass --tls-ca-file with the CA that signed the \
             planner's certificate (no system roots are built in)"
        )),
        (false, Some(_)) => Err(format!(
            "--tls-ca-file needs an https:// --planner, got {planner}"
        )),
        _ => Ok(()),
    }
}

/// A bearer token read from `--token-file`. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(Arc<str>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl BearerToken {
    /// Returns a token from its text; surrounding whitespace (a file's final newline) is
    /// dropped. Empty tokens and ones that cannot travel in a header are rejected.
    pub fn new(text: &str) -> Result<Self, String> {
        let token = text.trim();
        if token.is_empty() {
            return Err("the token is empty".to_owned());
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the token must be visible ASCII without spaces".to_owned());
        }
        Ok(Self(token.into()))
    }

    /// Returns the `authorization` metadata value, `Bearer <token>`.
    pub fn header_value(&self) -> tonic::metadata::AsciiMetadataValue {
        format!("Bearer {}", self.0)
            .parse()
            .expect("visible ASCII is a valid metadata value")
    }
}

/// Reads a bearer token from a file; the error names the file, never the content.
pub fn parse_token_file(path: &str) -> Result<BearerToken, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read token file {path}: {error}"))?;
    BearerToken::new(&text).map_err(|reason| format!("token file {path}: {reason}"))
}

fn parse_non_empty(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

fn parse_level(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(level) if (1..=1024).contains(&level) => Ok(level),
        _ => Err(format!(
            "'{text}' is not a concurrency level between 1 and 1024"
        )),
    }
}

/// Everything `crate::run` needs. Built from [`RunArgs`] by `main`; tests build it directly.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Planner gRPC endpoint.
    pub planner: String,
    /// Node id.
    pub node_id: String,
    /// SKU id.
    pub sku: String,
    /// llama-server base URLs.
    pub workers: Vec<String>,
    /// Scrape interval.
    pub interval: Duration,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Listen address of the agent's `/metrics` (used by `crate::run`).
    pub metrics_listen: SocketAddr,
    /// Power command (see `crate::power_argv`).
    pub power_command: Option<String>,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// How windows are cut.
    pub window: WindowPolicy,
    /// Timeout of each worker request.
    pub scrape_timeout: Duration,
    /// First reconnect delay after a planner failure.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Most observations per request message.
    pub batch_size: usize,
    /// Bearer token for the planner.
    pub token: Option<BearerToken>,
    /// Model id reported instead of the one derived from `/props`.
    pub model: Option<String>,
    /// The CA the planner's certificate must chain to; required for an `https://` planner.
    pub tls_ca: Option<CaCertificate>,
}

impl AgentConfig {
    /// Returns a configuration with the defaults of `fleet-agent run`.
    pub fn new(
        planner: impl Into<String>,
        node_id: impl Into<String>,
        sku: impl Into<String>,
        workers: Vec<String>,
        spool_dir: PathBuf,
    ) -> Self {
        Self {
            planner: planner.into(),
            node_id: node_id.into(),
            sku: sku.into(),
            workers,
            interval: Duration::from_secs(10),
            spool_dir,
            metrics_listen: SocketAddr::from(([0, 0, 0, 0], 9091)),
            power_command: None,
            labels: BTreeMap::new(),
            window: WindowPolicy::default(),
            scrape_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            batch_size: 64,
            token: None,
            model: None,
            tls_ca: None,
        }
    }
}

impl From<RunArgs> for AgentConfig {
    fn from(args: RunArgs) -> Self {
        let mut config = Self::new(
            args.planner,
            args.node_id,
            args.sku,
            args.workers,
            args.spool_dir,
        );
        config.interval = args.interval;
        config.metrics_listen = args.metrics_listen;
        config.power_command = args
            .power_command
            .filter(|command| !command.trim().is_empty());
        config.labels = args.labels.into_iter().collect();
        config.window = WindowPolicy {
            min_predicted_tokens: args.min_window_tokens,
            max_window_ms: i64::try_from(args.max_window.as_millis()).unwrap_or(i64::MAX),
        };
        config.scrape_timeout = args.scrape_timeout;
        config.token = args.token;
        config.model = args.model;
        config.tls_ca = args.tls_ca;
        config
    }
}

/// Where probe results go besides the table.
#[derive(Debug, Clone)]
pub struct ProbeReportTarget {
    /// Planner endpoint.
    pub planner: String,
    /// Node id.
    pub node_id: String,
    /// SKU id.
    pub sku: String,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Bearer token for the planner.
    pub token: Option<BearerToken>,
    /// The CA the planner's certificate must chain to; required for an `https://` planner.
    pub tls_ca: Option<CaCertificate>,
}

/// Everything `crate::probe::run_probe` needs.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// llama-server base URL.
    pub worker: String,
    /// Concurrency levels, in order.
    pub concurrency_levels: Vec<u32>,
    /// Prompt tokens per request.
    pub prompt_tokens: u32,
    /// Generated tokens per request.
    pub max_tokens: u32,
    /// Requests per level (at least the level).
    pub requests_per_level: u32,
    /// Timeout of each completion request.
    pub request_timeout: Duration,
    /// Whether to draw a progress line on stderr.
    pub show_progress: bool,
    /// Reporting target, if results go to the planner.
    pub report: Option<ProbeReportTarget>,
    /// Model id reported instead of the one derived from `/props`.
    pub model: Option<String>,
}

impl From<ProbeArgs> for ProbeConfig {
    fn from(args: ProbeArgs) -> Self {
        let report = match (args.planner, args.node_id, args.sku, args.spool_dir) {
            (Some(planner), Some(node_id), Some(sku), Some(spool_dir)) => Some(ProbeReportTarget {
                planner,
                node_id,
                sku,
                spool_dir,
                token: args.token,
                tls_ca: args.tls_ca,
            }),
            _ => None,
        };
        Self {
            worker: args.worker,
            concurrency_levels: args.concurrency,
            prompt_tokens: args.prompt_tokens,
            max_tokens: args.max_tokens,
            requests_per_level: args.requests_per_level,
            request_timeout: args.request_timeout,
            show_progress: true,
            report,
            model: args.model,
        }
    }
}

/// Returns the first paragraph of a clap error on one line; it names the flag (`error: invalid value '10x'
/// for '--interval <INTERVAL>': ...`), for a one-line message on stderr.
pub fn one_line_error(error: &clap::Error) -> String {
    // "required arguments were not provided" lists the flags on the following lines.
    let rendered = error.render().to_string();
    let head: Vec<&str> = rendered
        .lines()
        .skip_while(|line| line.trim().is_empty())
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    if head.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        head.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("fleet-agent").chain(args.iter().copied()))
    }

    const RUN: &[&str] = &[
        "run",
        "--planner",
        "http://planner:50051",
        "--node-id",
        "n1",
        "--sku",
        "rtx-5090",
        "--spool-dir",
        "/tmp/s",
    ];

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["", "10", "s", "1.5s", "-1s", "10x", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_a_full_run_command_line() {
        let mut args = RUN.to_vec();
        args.extend([
            "--worker",
            "http://127.0.0.1:8080",
            "--worker",
            "http://127.0.0.1:8081/",
            "--interval",
            "800ms",
            "--labels",
            "zone=a,rack=r1",
            "--log-format",
            "json",
        ]);
        let Command::Run(run) = parse(&args).unwrap().command else {
            panic!()
        };
        assert_eq!(
            run.workers,
            vec!["http://127.0.0.1:8080", "http://127.0.0.1:8081/"]
        );
        assert_eq!(run.log_format, LogFormat::Json);
        let config = AgentConfig::from(run);
        assert_eq!(config.interval, Duration::from_millis(800));
        assert_eq!(config.labels.get("rack").map(String::as_str), Some("r1"));
        assert_eq!(config.metrics_listen.port(), 9091);
        assert_eq!(config.window.min_predicted_tokens, 256);
    }

    #[test]
    fn bad_flags_give_one_line_errors_naming_the_flag() {
        for (extra, flag) in [
            (
                &["--worker", "http://w:1", "--interval", "10x"][..],
                "--interval",
            ),
            (&["--worker", "ftp://w:1"][..], "--worker"),
            (&["--worker", "https://w:1"][..], "--worker"),
            (
                &["--worker", "http://w:1", "--labels", "novalue"][..],
                "--labels",
            ),
            (
                &["--worker", "http://w:1", "--metrics-listen", "nowhere"][..],
                "--metrics-listen",
            ),
            (
                &["--worker", "http://w:1", "--log-format", "xml"][..],
                "--log-format",
            ),
            (&[][..], "--worker"),
        ] {
            let mut args = RUN.to_vec();
            args.extend(extra);
            let error = parse(&args).unwrap_err();
            let line = one_line_error(&error);
            assert!(line.contains(flag), "{line}");
            assert!(!line.contains('\n'));
        }
    }

    #[test]
    fn probe_defaults_and_reporting_flags_go_together() {
        let Command::Probe(probe) = parse(&["probe", "--worker", "http://w:8080"])
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(probe.concurrency, vec![1, 2, 4, 8]);
        let config = ProbeConfig::from(probe);
        assert!(config.report.is_none());
        let error = parse(&[
            "probe",
            "--worker",
            "http://w:8080",
            "--planner",
            "http://p:1",
        ])
        .unwrap_err();
        assert!(
            one_line_error(&error).contains("--node-id"),
            "{}",
            one_line_error(&error)
        );
        let error =
            parse(&["probe", "--worker", "http://w:8080", "--concurrency", "1,0"]).unwrap_err();
        assert!(one_line_error(&error).contains("--concurrency"));
    }

    #[test]
    fn token_file_and_model_are_read_and_the_token_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-token\n").unwrap();
        let mut args = RUN.to_vec();
        let path_text = path.to_str().unwrap();
        args.extend([
            "--worker",
            "http://127.0.0.1:8080",
            "--token-file",
            path_text,
            "--model",
            "deepseek-v4-pro",
        ]);
        let Command::Run(run) = parse(&args).unwrap().command else {
            panic!("not run")
        };
        let config = AgentConfig::from(run);
        assert_eq!(config.model.as_deref(), Some("deepseek-v4-pro"));
        let token = config.token.clone().unwrap();
        assert_eq!(
            token.header_value().to_str().unwrap(),
            "Bearer s3cret-token"
        );
        assert!(!format!("{config:?}").contains("s3cret"));

        std::fs::write(&path, " \n").unwrap();
        let error = parse(&args).unwrap_err().to_string();
        assert!(
            error.contains("--token-file") && error.contains("empty"),
            "{error}"
        );
        let missing = dir.path().join("missing");
        let missing_text = missing.to_str().unwrap();
        for arg in &mut args {
            if *arg == path_text {
                *arg = missing_text;
            }
        }
        let error = parse(&args).unwrap_err().to_string();
        assert!(error.contains("cannot read token file"), "{error}");
    }

    #[test]
    fn an_https_planner_needs_the_ca_file_and_the_ca_file_needs_https() {
        let ca = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../planner/tests/fixtures/tls/ca.pem"
        );
        let worker = ["--worker", "http://127.0.0.1:8080"];
        let mut args: Vec<&str> = RUN
            .iter()
            .map(|arg| match *arg {
                "http://planner:50051" => "https://planner:50051",
                other => other,
            })
            .collect();
        args.extend(worker);
        args.extend(["--tls-ca-file", ca]);
        let Command::Run(run) = parse(&args).unwrap().command else {
            panic!("not run")
        };
        let config = AgentConfig::from(run);
        assert_eq!(config.planner, "https://planner:50051");
        let tls_ca = config.tls_ca.as_ref().unwrap();
        assert!(tls_ca.pem().starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(check_planner_tls(&config.planner, Some(tls_ca)).is_ok());
        assert!(!format!("{config:?}").contains("BEGIN"));

        let error = check_planner_tls("https://planner:50051", None).unwrap_err();
        assert!(error.contains("pass --tls-ca-file"), "{error}");
        let error = check_planner_tls("http://planner:50051", Some(tls_ca)).unwrap_err();
        assert!(
            error.starts_with("--tls-ca-file needs an https://"),
            "{error}"
        );
        assert!(check_planner_tls("http://planner:50051", None).is_ok());

        // Files that are not a CA certificate are refused at parse time, naming the flag.
        let key = ca.replace("ca.pem", "server.key");
        let mut bad = RUN.to_vec();
        bad.extend(worker);
        bad.extend(["--tls-ca-file", key.as_str()]);
        let line = one_line_error(&parse(&bad).unwrap_err());
        assert!(
            line.contains("--tls-ca-file") && line.contains("no PEM certificate"),
            "{line}"
        );
        // Probe takes it only with a planner to report to.
        let line = one_line_error(
            &parse(&["probe", "--worker", "http://w:8080", "--tls-ca-file", ca]).unwrap_err(),
        );
        assert!(line.contains("--planner"), "{line}");
    }
}
