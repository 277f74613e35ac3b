//! `planner-cli`: propose a fleet, print its hourly schedule, print the break-even table. Argument parsing and rendering
//! only; all planning is the `fleet-planner` library's.
//!
//! Errors print one line on stderr and exit non-zero: 2 for bad input, 3 for an infeasible
//! request, 1 for anything else.

mod doc;
mod render;

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use fleet_planner::catalog::Catalog;
use fleet_planner::cost::{CostAssumptions, breakeven_table};
use fleet_planner::demand::{
    CostOverrides, DEFAULT_INPUT_SHARE, DEFAULT_MIN_DECODE_TOK_S, DEFAULT_MIN_QUANT,
    DEFAULT_PROMPT_TOKENS, DemandProfile, FileFormat, FleetConstraints, HourWindow, PlanRequest,
    Workload, parse_workload_file,
};
use fleet_planner::plan::Plan;
use fleet_planner::units::{TokenCount, parse_duration_ms, parse_scaled_decimal};
use fleet_planner::{PlanError, SolveSettings, ThroughputModel, propose_with};

/// Plans local LLM inference fleets against a hosted API: which hardware to own, how many of
/// each, and how much traffic to spill over.
#[derive(Debug, Parser)]
#[command(name = "planner-cli", version, about, long_about = None)]
struct Cli {
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
    #[arg(long, value_parser = parse_tokens, allow_hyphen_values = true, required_unless_present = "file", conflicts_with = "file")]
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
    #[arg(long, default_value = DEFAULT_MIN_QUANT)]
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
    /// Straight-line amortization months [default: catalog's 36].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    amortization_months: Option<f64>,
    /// Several workloads from a TOML or JSON file (see README); replaces the workload flags.
    #[arg(long, value_name = "PATH")]
    file: Option<String>,
    /// Stop the solver after this long and print the best plan found with its gap.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    time_limit: f64,
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
    /// Straight-line amortization months [default: catalog's 36].
    #[arg(long, value_parser = parse_positive, allow_hyphen_values = true)]
    amortization_months: Option<f64>,
    /// Only this SKU.
    #[arg(long)]
    sku: Option<String>,
    /// Lowest quantization a row may use.
    #[arg(long, default_value = DEFAULT_MIN_QUANT)]
    min_quant: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Table, env = "PLANNER_OUTPUT")]
    output: Output,
}

fn parse_tokens(raw: &str) -> Result<TokenCount, String> {
    raw.parse()
        .map_err(|e: fleet_planner::units::UnitError| e.to_string())
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
struct Failure {
    code: u8,
    message: String,
}

impl From<PlanError> for Failure {
    fn from(error: PlanError) -> Self {
        let code = match error {
            PlanError::InvalidRequest { .. } => 2,
            PlanError::Infeasible { .. } => 3,
            PlanError::Catalog(_) | PlanError::Solver(_) => 1,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("{}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: Cli) -> Result<String, Failure> {
    let catalog = Catalog::embedded_default();
    match cli.command {
        Command::Propose(args) => propose(&catalog, args),
        Command::Schedule(args) => schedule(&catalog, args),
        Command::Breakeven(args) => breakeven(&catalog, args),
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
            let demand = args.demand.expect("clap requires --demand without --file");
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
    if args.utilization_cap == Some(0.0) {
        return Err(Failure {
            code: 2,
            message: "invalid value '0' for '--utilization-cap': must be greater than zero".into(),
        });
    }
    Ok(request)
}

/// Makes the plan the flags describe.
fn plan_from_args(catalog: &Catalog, args: &RequestArgs) -> Result<Plan, Failure> {
    let request = request_from_args(args)?;
    let throughput = ThroughputModel::from_catalog(catalog);
    let settings = SolveSettings {
        time_limit_s: Some(args.time_limit / 1_000.0),
        mip_gap: None,
    };
    let mut plan = propose_with(catalog, &throughput, &request, settings)?;
    if args.redact_timings {
        plan.solver.solve_ms = 0.0;
        plan.solver.total_solve_ms = 0.0;
    }
    Ok(plan)
}

fn schedule(catalog: &Catalog, args: ScheduleArgs) -> Result<String, Failure> {
    let plan = plan_from_args(catalog, &args.request)?;
    Ok(match args.output {
        ScheduleOutput::Table => render::schedule_doc(&plan).to_text(),
        ScheduleOutput::Csv => render::schedule_csv(&plan),
        ScheduleOutput::Json => render::schedule_json(&plan),
    })
}

fn propose(catalog: &Catalog, args: ProposeArgs) -> Result<String, Failure> {
    let plan = plan_from_args(catalog, &args.request)?;
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&plan).expect("plans serialize to JSON") + "\n"
        }
        Output::Table => render::plan_doc(&plan).to_text(),
        Output::Markdown => render::plan_doc(&plan).to_markdown(),
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
    let rows = breakeven_table(
        catalog,
        &assumptions,
        args.hours_per_day,
        floor.quality_retained,
        args.sku.as_deref(),
    );
    Ok(match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "assumptions": assumptions,
                "hours_per_day": args.hours_per_day,
                "rows": rows,
            }))
            .expect("rows serialize to JSON")
                + "\n"
        }
        Output::Table => render::breakeven_doc(&rows, &assumptions, args.hours_per_day).to_text(),
        Output::Markdown => {
            render::breakeven_doc(&rows, &assumptions, args.hours_per_day).to_markdown()
        }
    })
}
