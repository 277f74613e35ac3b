//! `planner-cli sweep`: one request over a range of demand or API prices, or a grid of both (one
//! demand sweep per price factor), through the planner's `Sweep` RPC (in-process or
//! `--endpoint`), printed as a table, Markdown, CSV, JSON or an SVG chart; progress on stderr
//! while it runs long.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::{ArgMatches, FromArgMatches, ValueEnum};
use fleet_planner::grpc::sweep::{sweep_request_to_pb, sweeps_from_pb};
use fleet_planner::sweep::{
    CostOutcome, PointOptimum, Sweep, SweepAxis, SweepRange, SweepSpec, VersusApi,
    composition_words,
};
use fleet_planner::units::{TokenCount, format_tokens, format_usd};
use fleet_proto::v1 as pb;

use crate::client::Client;
use crate::doc::Doc;
use crate::render::csv_field;
use crate::{Failure, RequestArgs, chart, request_from_args};

/// Output formats of `sweep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SweepOutput {
    /// Aligned columns.
    Table,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// One row per point and strategy.
    Csv,
    /// The sweep as the planner returns it (a grid: an array, one sweep per price factor).
    Json,
    /// Cost per month against the swept axis, one line per strategy (not for a grid).
    Svg,
}

/// Arguments of `sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    #[command(flatten)]
    request: SweepRequestArgs,
    /// Factor on the API's input and output prices: a range to sweep, MIN..MAX (e.g.
    /// 0.1..100), or one factor [default: 1]. With a --demand range too, one demand sweep per
    /// factor (a grid).
    #[arg(long, value_name = "FACTOR[..FACTOR]", value_parser = SweepRange::parse_scale, allow_hyphen_values = true)]
    api_price_scale: Option<SweepRange>,
    /// Points on each swept axis, log-spaced from its minimum to its maximum; a grid has
    /// --steps × --steps points, at most 2,500.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(2..=200), allow_hyphen_values = true)]
    steps: u32,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = SweepOutput::Table)]
    output: SweepOutput,
}

/// The workload flags of `propose`, with `--demand` taking a range and `--time-limit` covering
/// the whole sweep.
#[derive(Debug)]
pub struct SweepRequestArgs {
    request: RequestArgs,
    demand: Option<SweepRange>,
}

impl FromArgMatches for SweepRequestArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Self::from_arg_matches_mut(&mut matches.clone())
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        // Taken out first, so the workload flags' own parser never sees a range.
        let demand = matches.remove_one::<SweepRange>("demand");
        let request = RequestArgs::from_arg_matches_mut(matches)?;
        Ok(SweepRequestArgs { request, demand })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for SweepRequestArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        RequestArgs::augment_args(command)
            .mut_arg("demand", |arg| {
                arg.value_parser(SweepRange::parse_demand)
                    .value_name("TOKENS[..TOKENS]")
                    .help("Monthly tokens of all workloads together: a range to sweep, MIN..MAX (e.g. 10M..20B), or one total for a price sweep [default: the request's]")
                    // With --file the range scales the file's workloads.
                    .conflicts_with(clap::builder::Resettable::<clap::Id>::Reset)
            })
            .mut_arg("time_limit", |arg| {
                arg.default_value("300s")
                    .help("Time limit of the whole sweep; points not started within it are marked not solved")
            })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl SweepArgs {
    /// Returns the per-plan solver settings flags of the in-process planner.
    pub fn request_args(&self) -> &RequestArgs {
        &self.request.request
    }
}

/// Shows progress on stderr once a sweep has run for a while: a line that rewrites itself on a
/// terminal, one line every few seconds otherwise.
struct ProgressLine {
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
    shown: bool,
}

/// How long a sweep runs before it shows progress.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

impl ProgressLine {
    fn new() -> Self {
        ProgressLine {
            started: Instant::now(),
            last: None,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn update(&mut self, progress: &pb::SweepProgress) {
        let now = Instant::now();
        if now.duration_since(self.started) < PROGRESS_AFTER {
            return;
        }
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(5)
        };
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < every)
        {
            return;
        }
        self.last = Some(now);
        let phase = if progress.phase == "grid" {
            "points"
        } else {
            "break-even plans"
        };
        let line = format!(
            "sweep: {phase} {}/{} ({:.0} s)",
            progress.done,
            progress.total,
            now.duration_since(self.started).as_secs_f64()
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(stderr, "\r{line}\x1b[K")
        } else {
            writeln!(stderr, "{line}")
        };
        self.shown = true;
    }

    fn finish(&self) {
        if self.shown && self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// Calls the Sweep RPC and returns the sweep (the first of a grid), showing progress on stderr
/// for long sweeps.
pub async fn call(
    client: &mut Client,
    request: pb::SweepRequest,
    show_progress: bool,
) -> Result<Sweep, Failure> {
    let mut sweeps = call_all(client, request, show_progress).await?;
    Ok(sweeps.swap_remove(0))
}

/// Calls the Sweep RPC and returns every sweep: one, or one per API price factor of a grid.
pub async fn call_all(
    client: &mut Client,
    request: pb::SweepRequest,
    show_progress: bool,
) -> Result<Vec<Sweep>, Failure> {
    let mut stream = crate::rpc!(client, sweep, request)?;
    let mut progress = ProgressLine::new();
    let result = loop {
        match stream.message().await {
            Ok(Some(pb::SweepResponse {
                update: Some(pb::sweep_response::Update::Progress(step)),
            })) => {
                if show_progress {
                    progress.update(&step);
                }
            }
            Ok(Some(pb::SweepResponse {
                update: Some(pb::sweep_response::Update::Result(result)),
            })) => break result,
            Ok(Some(pb::SweepResponse { update: None })) => {}
            Ok(None) => {
                progress.finish();
                return Err(Failure {
                    code: 1,
                    message: "the planner ended the sweep without a result".into(),
                });
            }
            Err(status) => {
                progress.finish();
                return Err(crate::client::failure_from_status(status));
            }
        }
    };
    progress.finish();
    match sweeps_from_pb(&result) {
        Ok(sweeps) if !sweeps.is_empty() => Ok(sweeps),
        Ok(_) => Err(Failure {
            code: 1,
            message: "the planner returned a sweep result without a sweep".into(),
        }),
        Err(message) => Err(Failure { code: 1, message }),
    }
}

/// Runs `planner-cli sweep`.
pub async fn run(client: &mut Client, args: SweepArgs) -> Result<String, Failure> {
    let mut request_args = args.request.request;
    // The request needs a demand of its own; a range's minimum stands in (the sweep sets each
    // point's), and a file brings its own.
    if request_args.file.is_none() {
        let demand = args.request.demand.ok_or_else(|| Failure {
            code: 2,
            message: "one of --demand or --file is required (e.g. --demand 10M..20B)".into(),
        })?;
        request_args.demand = Some(TokenCount(demand.min.round() as u64));
    }
    let request = request_from_args(&request_args)?;
    let spec = SweepSpec {
        demand_tokens: args.request.demand,
        api_price_scale: args.api_price_scale,
        steps: args.steps,
    };
    if let Err(error) = spec.validate() {
        return Err(Failure {
            code: 2,
            message: flag_message(&error.to_string()),
        });
    }
    if spec.is_grid() && args.output == SweepOutput::Svg {
        return Err(Failure {
            code: 2,
            message: "invalid value for '--output': svg draws one sweep; with both --demand and --api-price-scale as ranges use table, markdown, csv or json".into(),
        });
    }
    let wire = sweep_request_to_pb(&request, &spec, request_args.time_limit / 1_000.0);
    let mut sweeps = call_all(client, wire, true).await?;
    if request_args.redact_timings {
        for sweep in &mut sweeps {
            sweep.elapsed_ms = 0.0;
        }
    }
    if spec.is_grid() {
        return Ok(match args.output {
            SweepOutput::Table => grid_doc(&sweeps).to_text(),
            SweepOutput::Markdown => grid_doc(&sweeps).to_markdown(),
            SweepOutput::Csv => sweeps_csv(&sweeps),
            SweepOutput::Json | SweepOutput::Svg => {
                serde_json::to_string_pretty(&sweeps).expect("sweeps serialize to JSON") + "\n"
            }
        });
    }
    let sweep = &sweeps[0];
    Ok(match args.output {
        SweepOutput::Table => sweep_doc(sweep).to_text(),
        SweepOutput::Markdown => sweep_doc(sweep).to_markdown(),
        SweepOutput::Csv => sweep_csv(sweep),
        SweepOutput::Json => {
            serde_json::to_string_pretty(sweep).expect("sweeps serialize to JSON") + "\n"
        }
        SweepOutput::Svg => chart::sweep_svg(sweep),
    })
}

/// Rewrites a planner message about a request field into the flag that sets it.
fn flag_message(message: &str) -> String {
    message
        .replace("invalid demand_tokens:", "invalid value for '--demand':")
        .replace(
            "invalid api_price_scale:",
            "invalid value for '--api-price-scale':",
        )
        .replace("invalid steps:", "invalid value for '--steps':")
        .replace("demand_tokens", "--demand")
        .replace("api_price_scale", "--api-price-scale")
}

fn cost_cell(outcome: &CostOutcome) -> String {
    match outcome {
        CostOutcome::Solved { monthly_usd, .. } => format_usd(*monthly_usd),
        CostOutcome::Infeasible { .. } => "not possible".into(),
        CostOutcome::NotSolved { .. } => "not solved".into(),
    }
}

/// Returns the axis range as asked, e.g. `10M..20B tokens/month`.
fn range_words(sweep: &Sweep) -> String {
    let axis = sweep.axis;
    let (first, last) = match (sweep.points.first(), sweep.points.last()) {
        (Some(a), Some(b)) => (a.value(axis), b.value(axis)),
        _ => (0.0, 0.0),
    };
    match axis {
        SweepAxis::Demand => format!(
            "demand {}..{} tokens/month",
            format_tokens(first),
            format_tokens(last)
        ),
        SweepAxis::ApiPriceScale => format!(
            "API prices {}..{} of the catalog's",
            axis.format_value(first),
            axis.format_value(last)
        ),
    }
}

/// Returns the sweep as a document: the points, the break-evens and the notes.
pub fn sweep_doc(sweep: &Sweep) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!(
        "fleetplan sweep: {}, {} points",
        range_words(sweep),
        sweep.points.len()
    ));
    sweep_sections(&mut doc, sweep, "");
    doc
}

/// Returns a grid as a document: per API price factor, its demand sweep's sections.
pub fn grid_doc(sweeps: &[Sweep]) -> Doc {
    let factors: Vec<f64> = sweeps
        .iter()
        .map(|s| s.points.first().map_or(1.0, |p| p.api_price_scale))
        .collect();
    let price = SweepAxis::ApiPriceScale;
    let mut doc = Doc::default();
    doc.heading(format!(
        "fleetplan sweep: {} × API prices {}..{}, {} × {} points",
        sweeps.first().map_or_else(String::new, range_words),
        price.format_value(factors.first().copied().unwrap_or(1.0)),
        price.format_value(factors.last().copied().unwrap_or(1.0)),
        sweeps.first().map_or(0, |s| s.points.len()),
        sweeps.len()
    ));
    doc.para("One demand sweep per API price factor, each with its own break-evens.".to_string());
    for (sweep, factor) in sweeps.iter().zip(factors) {
        sweep_sections(
            &mut doc,
            sweep,
            &format!("API prices {}", price.format_value(factor)),
        );
    }
    doc
}

/// Appends a sweep's sections to `doc`, each heading after `prefix`: what was held fixed, where
/// each SKU beats the API, where the optimum changes, the points and the notes.
pub fn sweep_sections(doc: &mut Doc, sweep: &Sweep, prefix: &str) {
    let axis = sweep.axis;
    let heading = |text: &str| {
        if prefix.is_empty() {
            let mut chars = text.chars();
            chars
                .next()
                .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
        } else {
            format!("{prefix}: {text}")
        }
    };
    let fixed = match axis {
        SweepAxis::Demand => format!(
            "API prices {}",
            SweepAxis::ApiPriceScale
                .format_value(sweep.points.first().map_or(1.0, |p| p.api_price_scale))
        ),
        SweepAxis::ApiPriceScale => format!(
            "demand {} tokens/month",
            format_tokens(sweep.points.first().map_or(0.0, |p| p.demand_tokens as f64))
        ),
    };
    doc.para(format!(
        "{}, {} points; catalog version {}, throughput model {}; {fixed}. {} plans ({} points and the bisections) in {:.1} ms.",
        range_words(sweep),
        sweep.points.len(),
        sweep.catalog_version,
        sweep.throughput_version,
        sweep.plans,
        sweep.points.len(),
        sweep.elapsed_ms
    ));
    doc.heading(heading("where each SKU beats the API"));
    doc.table(
        &["SKU (single-SKU fleet)", "costs less than the API"],
        sweep
            .versus_api
            .iter()
            .map(|v| vec![v.sku.clone(), versus_words(axis, &v.outcome)])
            .collect(),
    );
    doc.heading(heading("where the optimum changes"));
    if sweep.composition_changes.is_empty() {
        let same = sweep
            .points
            .iter()
            .find_map(|p| p.optimum.planned())
            .map_or_else(
                || "no point has a plan".to_string(),
                |p| composition_words(&p.composition),
            );
        doc.para(format!("Nowhere in the range: {same} throughout."));
    } else {
        doc.list(
            sweep
                .composition_changes
                .iter()
                .map(|c| {
                    format!(
                        "at ≈ {} (between {} and {}): {} → {}",
                        axis.format_value(c.crossing.at),
                        axis.format_value(c.crossing.low),
                        axis.format_value(c.crossing.high),
                        composition_words(&c.from),
                        composition_words(&c.to)
                    )
                })
                .collect(),
        );
    }
    doc.heading(heading("points (monthly cost)"));
    let mut headers: Vec<String> = vec![
        format!(
            ">{}",
            match axis {
                SweepAxis::Demand => "tokens/month",
                SweepAxis::ApiPriceScale => "API price",
            }
        ),
        ">optimum".into(),
        "optimum fleet".into(),
        ">to API".into(),
        ">all-API".into(),
    ];
    headers.extend(sweep.options.iter().map(|sku| format!(">{sku}")));
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows = sweep
        .points
        .iter()
        .map(|p| {
            let mut row = vec![axis.format_value(p.value(axis))];
            match &p.optimum {
                PointOptimum::Planned(planned) => {
                    row.push(format_usd(planned.total_usd));
                    row.push(planned.fleet.clone());
                    row.push(format_tokens(planned.tokens_api));
                }
                PointOptimum::Infeasible { .. } => {
                    row.extend(["not possible".into(), "-".into(), "-".into()]);
                }
                PointOptimum::NotSolved { .. } => {
                    row.extend(["not solved".into(), "-".into(), "-".into()]);
                }
            }
            row.push(cost_cell(&p.all_api));
            row.extend(p.options.iter().map(cost_cell));
            row
        })
        .collect();
    doc.table(&header_refs, rows);
    let reasons: Vec<String> = sweep
        .points
        .iter()
        .filter_map(|p| {
            p.optimum
                .reason()
                .map(|reason| format!("{}: {reason}", axis.format_value(p.value(axis))))
        })
        .collect();
    doc.list(reasons);
    let mut notes = vec![
        "single-SKU fleet: every token local on that SKU (no API), as a plan's baselines; all-API: every token to the API".to_string(),
    ];
    notes.extend(sweep.notes.iter().cloned());
    doc.list(notes);
}

/// Returns how one SKU fares against the API, in words.
pub fn versus_words(axis: SweepAxis, outcome: &VersusApi) -> String {
    match outcome {
        VersusApi::FirstBeatsApi { crossing } => format!(
            "from ≈ {} (between {} and {})",
            axis.format_value(crossing.at),
            axis.format_value(crossing.low),
            axis.format_value(crossing.high)
        ),
        VersusApi::BeatsApiFromStart => "already at the start of the range".into(),
        VersusApi::NeverBeatsApi {
            best_ratio: Some(ratio),
        } => format!("never in the range (at best {ratio:.2}× the API's cost)"),
        VersusApi::NeverBeatsApi { best_ratio: None } => {
            "never in the range (no fleet at any point)".into()
        }
        VersusApi::NoApi { reason } => format!("no API to beat: {reason}"),
    }
}

/// Returns the sweep as CSV: one row per point and strategy,
/// `demand_tokens,api_price_scale,strategy,monthly_usd,capex_usd,fleet,reason`; the strategy is
/// `optimum`, `all-api` or `single-sku:<sku>`, figures are unrounded, and `monthly_usd` is empty
/// where there is no fleet.
pub fn sweep_csv(sweep: &Sweep) -> String {
    sweeps_csv(std::slice::from_ref(sweep))
}

/// Returns several sweeps (a grid's) as one CSV, as [`sweep_csv`]: one header, then each
/// sweep's rows in order.
pub fn sweeps_csv(sweeps: &[Sweep]) -> String {
    let mut out =
        String::from("demand_tokens,api_price_scale,strategy,monthly_usd,capex_usd,fleet,reason\n");
    for sweep in sweeps {
        sweep_csv_rows(&mut out, sweep);
    }
    out
}

fn sweep_csv_rows(out: &mut String, sweep: &Sweep) {
    let mut row = |point: &fleet_planner::sweep::SweepPoint, strategy: &str, cost: &CostOutcome| {
        let (monthly, capex, fleet, reason) = match cost {
            CostOutcome::Solved {
                monthly_usd,
                capex_usd,
                fleet,
            } => (
                // Unrounded, and never "-0".
                format!("{}", monthly_usd + 0.0),
                format!("{}", capex_usd + 0.0),
                fleet.as_str(),
                "",
            ),
            CostOutcome::Infeasible { reason } | CostOutcome::NotSolved { reason } => {
                (String::new(), String::new(), "", reason.as_str())
            }
        };
        out.push_str(&format!(
            "{},{},{},{monthly},{capex},{},{}\n",
            point.demand_tokens,
            point.api_price_scale,
            csv_field(strategy),
            csv_field(fleet),
            csv_field(reason)
        ));
    };
    for point in &sweep.points {
        let optimum = match &point.optimum {
            PointOptimum::Planned(p) => CostOutcome::Solved {
                monthly_usd: p.total_usd,
                capex_usd: p.capex_usd,
                fleet: p.fleet.clone(),
            },
            PointOptimum::Infeasible { reason } => CostOutcome::Infeasible {
                reason: reason.clone(),
            },
            PointOptimum::NotSolved { reason } => CostOutcome::NotSolved {
                reason: reason.clone(),
            },
        };
        row(point, "optimum", &optimum);
        row(point, "all-api", &point.all_api);
        for (sku, cost) in sweep.options.iter().zip(&point.options) {
            row(point, &format!("single-sku:{sku}"), cost);
        }
    }
}
