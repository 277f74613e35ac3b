//! `planner-cli`: propose a fleet, print its hourly schedule, print the break-even table. Argument parsing and rendering
//! only; all planning is the `fleet-planner` library's.
//!
//! Errors print one line on stderr and exit non-zero: 2 for bad input, 3 for an infeasible
//! request, 4 when the planner refuses the token, 1 for anything else (and for a report that
//! `--strict` turns into a failure: it prints the report first).

mod catalog_check;
mod chart;
mod client;
mod doc;
mod inputs;
mod render;
mod report;
mod sweep;

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use fleet_planner::catalog::Catalog;
use fleet_planner::cost::{CostAssumptions, breakeven_table, breakeven_table_as_published};
use fleet_planner::demand::{
    CostOverrides, DEFAULT_INPUT_SHARE, DEFAULT_MIN_DECODE_TOK_S, DEFAULT_MIN_QUANT,
    DEFAULT_PROMPT_TOKENS, DemandProfile, FileFormat, FleetConstraints, HourWindow, PlanRequest,
    Workload, parse_workload_file,
};
use fleet_planner::grpc::{
    api_offer_from_pb, benchmark_from_pb, hardware_from_pb, hardware_to_pb, plan_from_pb,
    plan_request_to_pb,
};
use fleet_planner::service::PlannerSettings;
use fleet_planner::solve::Backend;
use fleet_planner::units::{TokenCount, parse_duration_ms, parse_scaled_decimal};
use fleet_planner::{PlanError, SolveSettings, ThroughputModel};
use fleet_proto::v1 as pb;

use crate::client::{Client, TlsOptions};

/// Plans local LLM inference fleets against a hosted API: which hardware to own, how many of
/// each, and how much traffic to spill over.
#[derive(Debug, Parser)]
#[command(name = "planner-cli", version, about, long_about = None)]
struct Cli {
    /// Planner gRPC endpoint, e.g. http://fleet-planner:50051 [default: run the planner in
    /// this process on its own database]
    #[arg(long, global = true, env = "PLANNER_ENDPOINT")]
    endpoint: Option<String>,
    /// Database of the in-process planner (without --endpoint): sqlite:PATH or
    /// postgres://USER@HOST/DB [default: fleetplan/fleetplan.db in the user's data directory]
    #[arg(
        long,
        global = true,
        env = "PLANNER_DATABASE_URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// File holding the bearer token the planner wants for catalog edits (and reads, if it
    /// protects them).
    #[arg(long, global = true, env = "PLANNER_TOKEN_FILE")]
    token_file: Option<std::path::PathBuf>,
    /// PEM file of the CA that signed the planner's certificate, for an https:// --endpoint (no
    /// system roots are built in).
    #[arg(long, global = true, env = "PLANNER_TLS_CA_FILE", value_name = "PATH")]
    tls_ca_file: Option<std::path::PathBuf>,
    /// Name to check the planner's certificate for, instead of the --endpoint host.
    #[arg(long, global = true, env = "PLANNER_TLS_DOMAIN", value_name = "NAME")]
    tls_domain: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Proposes the cheapest fleet that meets the workloads' demand and SLOs.
    Propose(ProposeArgs),
    /// Proposes a plan and prints its hourly schedule: local vs API per hour, pool utilization.
    Schedule(ScheduleArgs),
    /// Prints cost per million tokens and break-even against the API for each hardware SKU.
    Breakeven(BreakevenArgs),
    /// Lists, shows, re-runs and compares stored plans.
    #[command(subcommand)]
    Plans(PlansCommand),
    /// Lists, adds and removes hardware SKUs in the planner's catalog.
    #[command(subcommand)]
    Hardware(HardwareCommand),
    /// Checks the catalog's benchmarks against what their hardware can physically do.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Shows the throughput model the next plan uses: catalog priors and measured points.
    Throughput(ThroughputArgs),
    /// Shows how wrong the assumed figures were: per measured configuration, what a plan
    /// assumed (published or estimated) against what the agents measured, and per SKU the mean
    /// absolute percentage error.
    Accuracy(ThroughputArgs),
    /// Plans one request over a range of monthly demand or API prices (log-spaced): the
    /// optimum, all-API and every single-SKU fleet per point, and where each SKU first beats
    /// the API.
    Sweep(sweep::SweepArgs),
    /// Writes a capacity review of a stored plan: inputs, the plan and the basis of its figures,
    /// baselines, a sweep around its demand, the schedule and the changes since the previous
    /// plan, as one self-contained HTML file (inline SVG charts) or Markdown.
    Report(report::ReportArgs),
}

#[derive(Debug, Subcommand)]
enum PlansCommand {
    /// Lists stored plans, newest first.
    List {
        /// Most plans to list.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=500), allow_hyphen_values = true)]
        limit: u32,
        /// Continue after a previous listing (its "next page" token).
        #[arg(long, default_value = "")]
        page_token: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
        output: Output,
    },
    /// Prints a stored plan exactly as it was proposed.
    Show {
        /// Plan id (from `plans list` or `propose`).
        id: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
        output: Output,
    },
    /// Solves a stored plan's request again against today's catalog and stores the result.
    Rerun {
        /// Plan id to re-run.
        id: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
        output: Output,
    },
    /// Shows what changed from plan A to plan B: inputs (workloads, limits, owned nodes, prices),
    /// pools, node counts and cost (+ added, - removed, ~ changed).
    Diff {
        /// The older plan.
        a: String,
        /// The newer plan.
        b: String,
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
enum HardwareCommand {
    /// Lists the hardware SKUs in the catalog.
    List {
        /// Output format.
        #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
        output: Output,
    },
    /// Adds a hardware SKU, or replaces the one with its id.
    ///
    /// The spec flags (--memory-bandwidth-gb-s to --disk-read-gb-s) are optional: a spec not
    /// given takes the planner's default and is reported as assumed. Plans estimate a SKU
    /// without benchmarks from its specs (roofline), and `catalog check` judges its benchmarks
    /// against them.
    Add(Box<HardwareAddArgs>),
    /// Removes a hardware SKU and its benchmarks.
    Remove {
        /// SKU id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Prints every benchmark with where its weights go, the roofline ceiling and estimate of
    /// its configuration, and the verdict on its figures (plausible, implausible, impossible).
    /// A report: exits 0 even when rows are not plausible, unless --strict.
    Check(CatalogCheckArgs),
}

#[derive(Debug, clap::Args)]
struct CatalogCheckArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
    output: Output,
    /// Exit 1 when any benchmark is not plausible (for CI); the report is printed first.
    #[arg(long, env = "PLANNER_CHECK_STRICT")]
    strict: bool,
}

#[derive(Debug, clap::Args)]
struct HardwareAddArgs {
    /// Stable id, e.g. rtx-5090.
    #[arg(long)]
    id: String,
    /// Display name [default: the id].
    #[arg(long, default_value = "")]
    name: String,
    /// Accelerators in one node.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    accelerators: u32,
    /// Memory per accelerator in GB.
    #[arg(long, value_parser = parse_positive)]
    memory_gb: f64,
    /// Accelerator memory is shared with the CPU (Apple silicon).
    #[arg(long)]
    unified_memory: bool,
    /// All-in price of one node, e.g. 4500 or 4.5k.
    #[arg(long, value_parser = parse_budget)]
    price: f64,
    /// Sustained power at full load, W.
    #[arg(long, value_parser = parse_positive)]
    power_full_w: f64,
    /// Power when idle, W.
    #[arg(long, value_parser = parse_non_negative)]
    power_idle_w: f64,
    /// llama.cpp backend: cuda, metal or rocm.
    #[arg(long, default_value = "cuda")]
    backend: String,
    /// Memory bandwidth of one accelerator, GB/s (of the unified memory with --unified-memory)
    /// [default: assumed].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    memory_bandwidth_gb_s: Option<f64>,
    /// Dense FP16 compute of one accelerator, TFLOPS [default: assumed].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    compute_tflops: Option<f64>,
    /// Host RAM of the node, GB; unused with --unified-memory [default: assumed].
    #[arg(long, value_parser = parse_non_negative, allow_hyphen_values = true)]
    host_ram_gb: Option<f64>,
    /// Host RAM bandwidth, GB/s: channels × 8 bytes × MT/s [default: assumed].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    host_ram_bandwidth_gb_s: Option<f64>,
    /// Host-to-accelerator link (PCIe), GB/s per direction [default: assumed].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    host_link_gb_s: Option<f64>,
    /// Sequential disk read, GB/s [default: assumed].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    disk_read_gb_s: Option<f64>,
    /// Where the figures come from.
    #[arg(long, default_value = "entered with planner-cli hardware add")]
    source: String,
}

#[derive(Debug, clap::Args)]
struct ThroughputArgs {
    /// Only this SKU.
    #[arg(long, default_value = "")]
    sku: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ScheduleOutput {
    Table,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
struct ProposeArgs {
    #[command(flatten)]
    request: RequestArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
    output: Output,
}

#[derive(Debug, clap::Args)]
struct ScheduleArgs {
    /// A stored plan's id; without it, the plan the workload flags describe is proposed (and
    /// stored) first.
    #[arg(value_name = "PLAN", conflicts_with_all = ["demand", "file"])]
    plan: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
    /// Output format: a text chart of the day, CSV rows or JSON.
    #[arg(long, short, value_enum, default_value_t = ScheduleOutput::Table)]
    output: ScheduleOutput,
}

/// The workload, limits and solver flags `propose` and `schedule` share.
#[derive(Debug, clap::Args)]
struct RequestArgs {
    /// Monthly tokens, input and output together: 1.5B, 500M, 20k, 2T or a plain integer.
    #[arg(long, value_parser = parse_demand, allow_hyphen_values = true, conflicts_with = "file")]
    demand: Option<TokenCount>,
    /// Workload name used in the plan.
    #[arg(long, default_value = "default")]
    name: String,
    /// Share of tokens that are input (prompt) tokens, 0 to 1.
    #[arg(long, default_value_t = DEFAULT_INPUT_SHARE, value_parser = parse_share, allow_hyphen_values = true)]
    input_share: f64,
    /// Typical prompt length in tokens; TTFT is computed for it.
    #[arg(long, default_value_t = DEFAULT_PROMPT_TOKENS, value_parser = parse_prompt_tokens, allow_hyphen_values = true)]
    prompt_tokens: u32,
    /// TTFT p95 limit, e.g. 800ms or 2s [default: no limit].
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    ttft: Option<f64>,
    /// Minimum decode tokens/s one stream must see.
    #[arg(long, default_value_t = DEFAULT_MIN_DECODE_TOK_S, value_parser = parse_non_negative, allow_hyphen_values = true)]
    min_decode: f64,
    /// Privacy: never send this workload to the API.
    #[arg(long)]
    local_only: bool,
    /// Lowest quantization allowed (by quality retained), e.g. Q4_K_M, Q5_K_M, FP16.
    #[arg(long, default_value = DEFAULT_MIN_QUANT, value_parser = parse_non_empty)]
    min_quant: String,
    /// Hourly demand profile: flat, business-hours (09-17 at 3x), 8h-day (09-17 only), or 24
    /// (a day) or 168 (a week from Monday 00:00) comma-separated weights.
    #[arg(long, default_value = "flat", value_parser = parse_profile)]
    profile: DemandProfile,
    /// Share of the tokens, 0 to 1, that may run at any hour of --defer-window.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share, allow_hyphen_values = true)]
    deferrable_share: f64,
    /// Hours deferrable work may run in, START-END, e.g. 22-6.
    #[arg(long, value_parser = parse_window)]
    defer_window: Option<HourWindow>,
    /// Critical: pools serving this workload keep one spare node (N+1).
    #[arg(long)]
    critical: bool,
    /// Site power limit in watts (every node at busy power at once), e.g. 5000 or 12k.
    #[arg(long, value_parser = parse_watts, allow_hyphen_values = true)]
    site_power_cap: Option<f64>,
    /// Capex budget for new hardware, e.g. 50k or $12000.
    #[arg(long, value_parser = parse_budget, allow_hyphen_values = true)]
    budget: Option<f64>,
    /// Largest node count of a SKU, as SKU=N (repeatable).
    #[arg(long = "max-nodes", value_name = "SKU=N", value_parser = parse_sku_count)]
    max_nodes: Vec<(String, u32)>,
    /// Nodes already owned, as SKU=N (repeatable): no capex, energy only.
    #[arg(long = "owned", value_name = "SKU=N", value_parser = parse_sku_count)]
    owned: Vec<(String, u32)>,
    /// Largest share of a node's hours it may be kept busy, (0, 1] [default: catalog's 0.8].
    #[arg(long, value_parser = parse_share, allow_hyphen_values = true)]
    utilization_cap: Option<f64>,
    /// Electricity price in USD per kWh [default: catalog's 0.16].
    #[arg(long, value_parser = parse_non_negative, allow_hyphen_values = true)]
    kwh_price: Option<f64>,
    /// Straight-line amortization months, 1 to 600 [default: catalog's 36].
    #[arg(long, value_parser = parse_amortization_months, allow_hyphen_values = true)]
    amortization_months: Option<f64>,
    /// Plan on published benchmark figures even where the physics finds them implausible or
    /// impossible (the plan says so); without it such figures give way to the roofline
    /// estimate of a configuration that fits.
    #[arg(long, env = "PLANNER_TRUST_PUBLISHED")]
    trust_published: bool,
    /// Several workloads from a TOML or JSON file (see README); replaces the workload flags.
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
    /// Time limit of the whole proposal (optimum and baselines); a stopped solve prints the best
    /// plan found, marked with its gap.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    time_limit: f64,
    /// MIP backend of an in-process run (a server uses its own --solver): auto (microlp for
    /// small models, HiGHS for large ones in builds with the `highs` feature), microlp or highs.
    #[arg(long, env = "PLANNER_SOLVER", default_value = "auto", value_parser = parse_solver)]
    solver: Backend,
    /// Print solve times as 0 (for reproducible snapshots).
    #[arg(long, hide = true)]
    redact_timings: bool,
}

#[derive(Debug, clap::Args)]
struct BreakevenArgs {
    /// Hours per day the node runs the workload at full draw; idle the rest.
    #[arg(long, default_value_t = 8.0, value_parser = parse_hours_per_day, allow_hyphen_values = true)]
    hours_per_day: f64,
    /// Electricity price in USD per kWh [default: catalog's 0.16].
    #[arg(long, value_parser = parse_non_negative, allow_hyphen_values = true)]
    kwh_price: Option<f64>,
    /// Straight-line amortization months, 1 to 600 [default: catalog's 36].
    #[arg(long, value_parser = parse_amortization_months, allow_hyphen_values = true)]
    amortization_months: Option<f64>,
    /// Only this SKU.
    #[arg(long)]
    sku: Option<String>,
    /// Lowest quantization a row may use.
    #[arg(long, default_value = DEFAULT_MIN_QUANT)]
    min_quant: String,
    /// Reproduce the reference article's table by its own method: each SKU's fastest benchmark
    /// as published, at the SKU's full power (each row still shows its physics verdict).
    #[arg(long, conflicts_with = "trust_published")]
    as_published: bool,
    /// Price published figures at face value where the physics rejects them, as propose
    /// --trust-published does.
    #[arg(long)]
    trust_published: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
    output: Output,
}

fn parse_tokens(raw: &str) -> Result<TokenCount, String> {
    raw.parse()
        .map_err(|e: fleet_planner::units::UnitError| e.to_string())
}

fn parse_demand(raw: &str) -> Result<TokenCount, String> {
    let tokens = parse_tokens(raw)?;
    if tokens.get() == 0 {
        return Err(format!("'{raw}' must be greater than zero"));
    }
    if tokens.get() > fleet_planner::demand::MAX_MONTHLY_TOKENS {
        return Err(format!(
            "'{raw}' is more than the {} tokens a month one workload may ask for",
            TokenCount(fleet_planner::demand::MAX_MONTHLY_TOKENS)
        ));
    }
    Ok(tokens)
}

fn parse_non_empty(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(raw.to_string())
}

/// Parses `--solver`: a backend this build has.
fn parse_solver(text: &str) -> Result<Backend, String> {
    text.parse::<Backend>()?.check_available()
}

fn parse_duration(raw: &str) -> Result<f64, String> {
    parse_duration_ms(raw).map_err(|e| e.to_string())
}

fn parse_budget(raw: &str) -> Result<f64, String> {
    parse_scaled_decimal("budget", raw).map_err(|e| e.to_string())
}

fn parse_float(raw: &str) -> Result<f64, String> {
    let value: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}' is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("'{raw}' is not a finite number"))
    }
}

fn parse_share(raw: &str) -> Result<f64, String> {
    let value = parse_float(raw)?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("'{raw}' must be between 0 and 1"))
    }
}

fn parse_non_negative(raw: &str) -> Result<f64, String> {
    let value = parse_float(raw)?;
    if value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("'{raw}' must be zero or more"))
    }
}

fn parse_positive(raw: &str) -> Result<f64, String> {
    let value = parse_float(raw)?;
    if value > 0.0 {
        Ok(value)
    } else {
        Err(format!("'{raw}' must be greater than zero"))
    }
}

fn parse_amortization_months(raw: &str) -> Result<f64, String> {
    use fleet_planner::demand::{MAX_AMORTIZATION_MONTHS, MIN_AMORTIZATION_MONTHS};
    let value = parse_float(raw)?;
    if (MIN_AMORTIZATION_MONTHS..=MAX_AMORTIZATION_MONTHS).contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "'{raw}' must be between {MIN_AMORTIZATION_MONTHS} and {MAX_AMORTIZATION_MONTHS} months"
        ))
    }
}

fn parse_hours_per_day(raw: &str) -> Result<f64, String> {
    let value = parse_float(raw)?;
    if value > 0.0 && value <= 24.0 {
        Ok(value)
    } else {
        Err(format!("'{raw}' must be more than 0 and at most 24"))
    }
}

fn parse_prompt_tokens(raw: &str) -> Result<u32, String> {
    let tokens = parse_tokens(raw)?.get();
    match u32::try_from(tokens) {
        Ok(0) => Err(format!("'{raw}' must be greater than zero")),
        Ok(v) => Ok(v),
        Err(_) => Err(format!("'{raw}' is too large")),
    }
}

fn parse_profile(raw: &str) -> Result<DemandProfile, String> {
    DemandProfile::parse(raw).map_err(|e| match e {
        PlanError::InvalidRequest { reason, .. } => reason,
        other => other.to_string(),
    })
}

fn parse_window(raw: &str) -> Result<HourWindow, String> {
    HourWindow::parse(raw).map_err(|e| match e {
        PlanError::InvalidRequest { reason, .. } => reason,
        other => other.to_string(),
    })
}

fn parse_watts(raw: &str) -> Result<f64, String> {
    let watts = parse_scaled_decimal("site power cap", raw).map_err(|e| e.to_string())?;
    if watts > 0.0 {
        Ok(watts)
    } else {
        Err(format!("'{raw}' must be greater than zero"))
    }
}

fn parse_sku_count(raw: &str) -> Result<(String, u32), String> {
    let (sku, count) = raw
        .split_once('=')
        .ok_or_else(|| format!("'{raw}' is not SKU=N, e.g. rtx-5090=4"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("'{raw}': node count '{count}' is not a whole number"))?;
    Ok((sku.trim().to_string(), count))
}

/// An error for the user: one line and an exit code.
pub struct Failure {
    /// Exit code: 2 bad input, 3 infeasible, 1 anything else.
    pub code: u8,
    /// The one line printed on stderr.
    pub message: String,
}

impl From<PlanError> for Failure {
    fn from(error: PlanError) -> Self {
        let code = match error {
            PlanError::InvalidRequest { .. } => 2,
            PlanError::Infeasible { .. } => 3,
            PlanError::Catalog(_) | PlanError::Solver(_) | PlanError::TimeLimit { .. } => 1,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

fn main() -> ExitCode {
    // An env twin set to "" (PLANNER_ENDPOINT=) counts as unset, not as an empty value.
    let parsed = fleet_planner::env::ignore_empty_env(Cli::command())
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = error.print();
                return if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // clap's message spans several lines; the first one names the flag and the reason.
            let rendered = error.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut message = lines
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ")
                .to_string();
            if message.ends_with(':')
                && let Some(next) = lines.next()
            {
                message = format!("{message} {next}");
            }
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(Printout { text, failure }) => {
            // A reader that stops early (`| head`) is not an error of ours.
            let mut stdout = std::io::stdout().lock();
            let written = match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("cannot write the output: {error}");
                    return ExitCode::from(1);
                }
            };
            match failure {
                Some(failure) => {
                    eprintln!("{}", failure.message);
                    ExitCode::from(failure.code)
                }
                None => written,
            }
        }
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// What a command prints on stdout, and the failure it still ends with, if any: a report under
/// `--strict` prints in full and then fails.
struct Printout {
    text: String,
    failure: Option<Failure>,
}

fn run(cli: Cli) -> Result<Printout, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure {
            code: 1,
            message: format!("cannot start the runtime: {error}"),
        })?;
    runtime.block_on(run_async(cli))
}

async fn run_async(cli: Cli) -> Result<Printout, Failure> {
    let mut settings = PlannerSettings::default();
    let request_args = match &cli.command {
        Command::Propose(args) => Some(&args.request),
        Command::Schedule(args) => Some(&args.request),
        _ => None,
    };
    if let Command::Sweep(args) = &cli.command {
        // Each point's plan keeps the default limit; --time-limit covers the whole sweep.
        settings.solve.backend = args.request_args().solver;
    }
    if let Some(args) = request_args {
        settings.solve = SolveSettings {
            time_limit_s: Some(args.time_limit / 1_000.0),
            mip_gap: None,
            backend: args.solver,
            ..SolveSettings::default()
        };
    }
    let mut client = Client::open(
        cli.endpoint.as_deref(),
        cli.database_url.as_deref(),
        cli.token_file.as_deref(),
        TlsOptions {
            ca_file: cli.tls_ca_file.as_deref(),
            domain: cli.tls_domain.as_deref(),
        },
        settings,
    )
    .await?;
    let text = match cli.command {
        Command::Propose(args) => propose(&mut client, args).await,
        Command::Schedule(args) => schedule(&mut client, args).await,
        Command::Breakeven(args) => {
            let catalog = remote_catalog(&mut client).await?;
            breakeven(&catalog, args)
        }
        Command::Plans(command) => plans(&mut client, command).await,
        Command::Hardware(command) => hardware(&mut client, command).await,
        Command::Catalog(CatalogCommand::Check(args)) => {
            return catalog_check(&mut client, args).await;
        }
        Command::Throughput(args) => throughput(&mut client, args).await,
        Command::Accuracy(args) => accuracy(&mut client, args).await,
        Command::Sweep(args) => sweep::run(&mut client, args).await,
        Command::Report(args) => report::run(&mut client, args).await,
    }?;
    Ok(Printout {
        text,
        failure: None,
    })
}

/// `catalog check`: the report in the chosen format; under `--strict`, a failure (exit 1) with
/// a one-line summary when any row is not plausible.
async fn catalog_check(client: &mut Client, args: CatalogCheckArgs) -> Result<Printout, Failure> {
    let check = rpc!(client, check_catalog, pb::CheckCatalogRequest {})?;
    let text = match args.output {
        Output::Json => catalog_check::json(&check),
        Output::Table => catalog_check::doc(&check).to_text(),
        Output::Markdown => catalog_check::doc(&check).to_markdown(),
    };
    let not_plausible = catalog_check::not_plausible(&check);
    let failure = (args.strict && not_plausible > 0).then(|| Failure {
        code: 1,
        message: catalog_check::summary(not_plausible, check.benchmarks.len()),
    });
    Ok(Printout { text, failure })
}

/// Returns the planner's catalog: its hardware, benchmarks and API offers over the embedded
/// models, quantizations and cost defaults.
async fn remote_catalog(client: &mut Client) -> Result<Catalog, Failure> {
    let hardware = rpc!(client, list_hardware, pb::ListHardwareRequest {})?;
    let benchmarks = rpc!(
        client,
        list_benchmarks,
        pb::ListBenchmarksRequest::default()
    )?;
    let apis = rpc!(client, list_api_offers, pb::ListApiOffersRequest {})?;
    let bad = |status: tonic::Status| Failure {
        code: 1,
        message: format!(
            "the planner sent an unreadable catalog: {}",
            status.message()
        ),
    };
    let mut catalog = Catalog::embedded_default();
    catalog.version = hardware.catalog_version;
    catalog.hardware = hardware
        .hardware
        .into_iter()
        .map(hardware_from_pb)
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    catalog.benchmarks = benchmarks
        .benchmarks
        .into_iter()
        .map(benchmark_from_pb)
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    catalog.apis = apis
        .api_offers
        .into_iter()
        .map(api_offer_from_pb)
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    Ok(catalog)
}

/// A plan as the CLI prints it: the domain plan plus its record id and time.
struct Printed {
    id: String,
    created_at_unix_ms: i64,
    plan: fleet_planner::Plan,
}

fn printed_from_pb(plan: Option<pb::Plan>, redact: bool) -> Result<Printed, Failure> {
    let plan = plan.ok_or_else(|| Failure {
        code: 1,
        message: "the planner answered without a plan".into(),
    })?;
    let mut domain = plan_from_pb(&plan).map_err(|message| Failure { code: 1, message })?;
    let mut printed = Printed {
        id: plan.id,
        created_at_unix_ms: plan.created_at_unix_ms,
        plan: domain.clone(),
    };
    if redact {
        domain.solver.solve_ms = 0.0;
        domain.solver.total_solve_ms = 0.0;
        printed.plan = domain;
        printed.id = "<plan-id>".into();
        printed.created_at_unix_ms = 0;
    }
    Ok(printed)
}

fn render_plan(printed: &Printed, output: Output) -> String {
    match output {
        Output::Json => {
            /// The plan's own fields, after its record id and time.
            #[derive(serde::Serialize)]
            struct PlanRecord<'a> {
                id: &'a str,
                created_at_unix_ms: i64,
                #[serde(flatten)]
                plan: &'a fleet_planner::Plan,
            }
            let record = PlanRecord {
                id: &printed.id,
                created_at_unix_ms: printed.created_at_unix_ms,
                plan: &printed.plan,
            };
            serde_json::to_string_pretty(&record).expect("plans serialize to JSON") + "\n"
        }
        Output::Table => render::plan_doc(&printed.plan, &printed.id).to_text(),
        Output::Markdown => render::plan_doc(&printed.plan, &printed.id).to_markdown(),
    }
}

fn request_from_args(args: &RequestArgs) -> Result<PlanRequest, Failure> {
    let mut request = match &args.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Failure {
                code: 2,
                message: format!("cannot read workload file '{path}': {e}"),
            })?;
            parse_workload_file(&text, FileFormat::from_path(path)).map_err(|e| Failure {
                code: 2,
                message: format!("{path}: {e}"),
            })?
        }
        None => {
            let demand = args.demand.ok_or_else(|| Failure {
                code: 2,
                message: "one of --demand or --file is required (e.g. --demand 1.5B)".into(),
            })?;
            let mut workload = Workload::new(args.name.clone(), demand);
            workload.input_share = args.input_share;
            workload.prompt_tokens = args.prompt_tokens;
            workload.ttft_p95_ms = args.ttft;
            workload.min_decode_tok_s = args.min_decode;
            workload.local_only = args.local_only;
            workload.min_quant = args.min_quant.clone();
            workload.profile = args.profile.clone();
            workload.deferrable_share = args.deferrable_share;
            workload.defer_window = args.defer_window;
            workload.critical = args.critical;
            PlanRequest {
                workloads: vec![workload],
                constraints: FleetConstraints::default(),
                overrides: CostOverrides::default(),
                trust_published: false,
            }
        }
    };
    // Flags add to (and override) what a file says.
    let c = &mut request.constraints;
    if args.budget.is_some() {
        c.budget_usd = args.budget;
    }
    let to_map = |pairs: &[(String, u32)]| pairs.iter().cloned().collect::<BTreeMap<_, _>>();
    c.max_nodes_per_sku.extend(to_map(&args.max_nodes));
    c.owned_nodes_per_sku.extend(to_map(&args.owned));
    if args.site_power_cap.is_some() {
        c.site_power_cap_w = args.site_power_cap;
    }
    let o = &mut request.overrides;
    o.utilization_cap = args.utilization_cap.or(o.utilization_cap);
    o.electricity_usd_per_kwh = args.kwh_price.or(o.electricity_usd_per_kwh);
    o.amortization_months = args.amortization_months.or(o.amortization_months);
    request.trust_published |= args.trust_published;
    if args.utilization_cap == Some(0.0) {
        return Err(Failure {
            code: 2,
            message: "invalid value '0' for '--utilization-cap': must be greater than zero".into(),
        });
    }
    Ok(request)
}

/// Proposes the plan the flags describe and returns it as printed.
async fn propose_printed(client: &mut Client, args: &RequestArgs) -> Result<Printed, Failure> {
    let request = request_from_args(args)?;
    let response = rpc!(client, propose, plan_request_to_pb(&request))?;
    printed_from_pb(response.plan, args.redact_timings)
}

async fn schedule(client: &mut Client, args: ScheduleArgs) -> Result<String, Failure> {
    let (plan, stored) = match &args.plan {
        Some(id) => (fetch_plan(client, id).await?.plan, None),
        None => {
            let printed = propose_printed(client, &args.request).await?;
            (printed.plan, Some(printed.id))
        }
    };
    if let (Some(id), ScheduleOutput::Csv | ScheduleOutput::Json) = (&stored, args.output) {
        // Machine formats keep stdout to the data; the stored plan's id goes to stderr.
        eprintln!("plan {id} stored");
    }
    Ok(match args.output {
        ScheduleOutput::Table => {
            let text = render::schedule_doc(&plan).to_text();
            match &stored {
                Some(id) => format!("Plan {id} stored (planner-cli plans show {id}).\n\n{text}"),
                None => text,
            }
        }
        ScheduleOutput::Csv => render::schedule_csv(&plan),
        ScheduleOutput::Json => render::schedule_json(&plan),
    })
}

async fn propose(client: &mut Client, args: ProposeArgs) -> Result<String, Failure> {
    let request = request_from_args(&args.request)?;
    let response = rpc!(client, propose, plan_request_to_pb(&request))?;
    let printed = printed_from_pb(response.plan, args.request.redact_timings)?;
    Ok(render_plan(&printed, args.output))
}

async fn fetch_plan(client: &mut Client, id: &str) -> Result<Printed, Failure> {
    let response = rpc!(client, get_plan, pb::GetPlanRequest { id: id.to_string() })?;
    printed_from_pb(response.plan, false)
}

async fn plans(client: &mut Client, command: PlansCommand) -> Result<String, Failure> {
    match command {
        PlansCommand::List {
            limit,
            page_token,
            output,
        } => {
            let page = rpc!(
                client,
                list_plans,
                pb::ListPlansRequest {
                    page_size: limit,
                    page_token,
                }
            )?;
            Ok(match output {
                Output::Json => {
                    let plans: Vec<_> = page
                        .plans
                        .iter()
                        .map(|p| {
                            serde_json::json!({
                                "id": p.id,
                                "created_at_unix_ms": p.created_at_unix_ms,
                                "catalog_version": p.catalog_version,
                                "total_usd": p.total_usd,
                                "summary": p.summary,
                            })
                        })
                        .collect();
                    serde_json::to_string_pretty(&serde_json::json!({
                        "plans": plans,
                        "next_page_token": page.next_page_token,
                    }))
                    .expect("listings serialize to JSON")
                        + "\n"
                }
                Output::Table => render::plans_doc(&page).to_text(),
                Output::Markdown => render::plans_doc(&page).to_markdown(),
            })
        }
        PlansCommand::Show { id, output } => {
            let printed = fetch_plan(client, &id).await?;
            Ok(render_plan(&printed, output))
        }
        PlansCommand::Rerun { id, output } => {
            let response = rpc!(client, rerun_plan, pb::RerunPlanRequest { id })?;
            let printed = printed_from_pb(response.plan, false)?;
            Ok(render_plan(&printed, output))
        }
        PlansCommand::Diff { a, b, output } => {
            let old = fetch_plan(client, &a).await?;
            let new = fetch_plan(client, &b).await?;
            let diff = render::PlanDiff::between(&old.plan, &new.plan);
            Ok(match output {
                Output::Json => {
                    serde_json::to_string_pretty(&diff).expect("diffs serialize to JSON") + "\n"
                }
                Output::Table => render::diff_doc(&a, &b, &diff).to_text(),
                Output::Markdown => render::diff_doc(&a, &b, &diff).to_markdown(),
            })
        }
    }
}

async fn hardware(client: &mut Client, command: HardwareCommand) -> Result<String, Failure> {
    match command {
        HardwareCommand::List { output } => {
            let list = rpc!(client, list_hardware, pb::ListHardwareRequest {})?;
            let skus = list
                .hardware
                .into_iter()
                .map(hardware_from_pb)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|status| Failure {
                    code: 1,
                    message: status.message().to_string(),
                })?;
            Ok(match output {
                Output::Json => {
                    // Specs not given are absent from a SKU; name them, as plans assume them.
                    let hardware: Vec<serde_json::Value> = skus
                        .iter()
                        .map(|sku| {
                            let mut value =
                                serde_json::to_value(sku).expect("hardware serializes to JSON");
                            value["assumed_spec_fields"] =
                                serde_json::json!(sku.assumed_spec_fields());
                            value
                        })
                        .collect();
                    serde_json::to_string_pretty(&serde_json::json!({
                        "catalog_version": list.catalog_version,
                        "hardware": hardware,
                    }))
                    .expect("hardware serializes to JSON")
                        + "\n"
                }
                Output::Table => render::hardware_doc(&skus, &list.catalog_version).to_text(),
                Output::Markdown => {
                    render::hardware_doc(&skus, &list.catalog_version).to_markdown()
                }
            })
        }
        HardwareCommand::Add(args) => {
            let sku = fleet_planner::catalog::HardwareSku {
                name: if args.name.is_empty() {
                    args.id.clone()
                } else {
                    args.name
                },
                id: args.id,
                accelerators: args.accelerators,
                memory_per_device_gb: args.memory_gb,
                unified_memory: args.unified_memory,
                price_usd: args.price,
                power_full_w: args.power_full_w,
                power_idle_w: args.power_idle_w,
                backend: args.backend,
                memory_bandwidth_gb_s: args.memory_bandwidth_gb_s,
                compute_tflops: args.compute_tflops,
                host_ram_gb: args.host_ram_gb,
                host_ram_bandwidth_gb_s: args.host_ram_bandwidth_gb_s,
                host_link_gb_s: args.host_link_gb_s,
                disk_read_gb_s: args.disk_read_gb_s,
                provenance: fleet_planner::catalog::Provenance {
                    source: args.source,
                    ..Default::default()
                },
            };
            let response = rpc!(
                client,
                upsert_hardware,
                pb::UpsertHardwareRequest {
                    hardware: Some(hardware_to_pb(&sku)),
                }
            )?;
            Ok(render::hardware_saved(&sku, &response.catalog_version))
        }
        HardwareCommand::Remove { id } => {
            let response = rpc!(
                client,
                delete_hardware,
                pb::DeleteHardwareRequest { id: id.clone() }
            )?;
            Ok(format!(
                "hardware {id} removed with its benchmarks (catalog version {})\n",
                response.catalog_version
            ))
        }
    }
}

async fn throughput(client: &mut Client, args: ThroughputArgs) -> Result<String, Failure> {
    let model = rpc!(
        client,
        get_throughput_model,
        pb::GetThroughputModelRequest {
            sku: args.sku,
            model: String::new(),
        }
    )?;
    Ok(match args.output {
        Output::Json => {
            let points: Vec<_> = model
                .points
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "sku": p.sku, "model": p.model, "quant": p.quant,
                        "concurrency": p.concurrency,
                        "decode_tok_s": p.decode_tok_s,
                        "aggregate_decode_tok_s": p.aggregate_decode_tok_s,
                        "prefill_tok_s": p.prefill_tok_s,
                        "request_prefill_tok_s": p.request_prefill_tok_s,
                        "band": p.band,
                        "provenance": p.provenance,
                    })
                })
                .collect();
            let unmatched: Vec<_> = model
                .unmatched
                .iter()
                .map(|u| {
                    serde_json::json!({
                        "sku": u.sku, "model": u.model, "quant": u.quant,
                        "concurrency": u.concurrency, "windows": u.windows,
                        "nodes": u.nodes, "reason": u.reason,
                    })
                })
                .collect();
            let rejections = model.rejections.unwrap_or_default();
            serde_json::to_string_pretty(&serde_json::json!({
                "version": model.version,
                "points": points,
                "unmatched": unmatched,
                "ignored_windows": model.ignored_windows,
                "quarantined_windows": model.quarantined_windows,
                "rejections": {
                    "too_few_tokens": rejections.too_few_tokens,
                    "no_rate": rejections.no_rate,
                    "outliers": rejections.outliers,
                    "above_ceiling": rejections.above_ceiling,
                },
            }))
            .expect("throughput serializes to JSON")
                + "\n"
        }
        Output::Table => render::throughput_doc(&model).to_text(),
        Output::Markdown => render::throughput_doc(&model).to_markdown(),
    })
}

async fn accuracy(client: &mut Client, args: ThroughputArgs) -> Result<String, Failure> {
    let ledger = rpc!(
        client,
        get_accuracy,
        pb::GetAccuracyRequest {
            sku: args.sku,
            model: String::new(),
        }
    )?;
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&render::accuracy_json(&ledger))
                .expect("the ledger serializes to JSON")
                + "\n"
        }
        Output::Table => render::accuracy_doc(&ledger).to_text(),
        Output::Markdown => render::accuracy_doc(&ledger).to_markdown(),
    })
}

fn breakeven(catalog: &Catalog, args: BreakevenArgs) -> Result<String, Failure> {
    let overrides = CostOverrides {
        utilization_cap: None,
        electricity_usd_per_kwh: args.kwh_price,
        amortization_months: args.amortization_months,
    };
    let assumptions = CostAssumptions::resolve(catalog, &overrides);
    let floor = catalog.quant(&args.min_quant).ok_or_else(|| Failure {
        code: 2,
        message: format!(
            "invalid value '{}' for '--min-quant': unknown quantization",
            args.min_quant
        ),
    })?;
    if let Some(sku) = &args.sku
        && catalog.sku(sku).is_none()
    {
        let known: Vec<&str> = catalog.hardware.iter().map(|h| h.id.as_str()).collect();
        return Err(Failure {
            code: 2,
            message: format!(
                "invalid value '{sku}' for '--sku': unknown hardware SKU (known: {})",
                known.join(", ")
            ),
        });
    }
    let (rows, excluded) = if args.as_published {
        let rows = breakeven_table_as_published(
            catalog,
            &assumptions,
            args.hours_per_day,
            floor.quality_retained,
            args.sku.as_deref(),
        );
        (rows, Vec::new())
    } else {
        // The catalog's priors: the figures propose uses where nothing is measured.
        let throughput = ThroughputModel::from_catalog(catalog);
        breakeven_table(
            catalog,
            &throughput,
            &assumptions,
            args.hours_per_day,
            floor.quality_retained,
            args.sku.as_deref(),
            args.trust_published,
        )
    };
    let method = if args.as_published {
        render::BreakevenMethod::AsPublished
    } else if args.trust_published {
        render::BreakevenMethod::Trusted
    } else {
        render::BreakevenMethod::PhysicsChecked
    };
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "assumptions": assumptions,
                "hours_per_day": args.hours_per_day,
                "as_published": args.as_published,
                "trust_published": args.trust_published,
                "rows": rows,
                "excluded": excluded,
            }))
            .expect("rows serialize to JSON")
                + "\n"
        }
        Output::Table => {
            render::breakeven_doc(&rows, &excluded, &assumptions, args.hours_per_day, method)
                .to_text()
        }
        Output::Markdown => {
            render::breakeven_doc(&rows, &excluded, &assumptions, args.hours_per_day, method)
                .to_markdown()
        }
    })
}
