//! The fleet optimization: a mixed-integer program over (SKU × model × quant × concurrency)
//! options and the hours of a day (24) or week (168), with API spillover as a decision variable,
//! solved with good_lp's pure-Rust microlp backend.
//!
//! Units are scaled so the solver sees numbers near 1: tokens in millions (Mtok), time in
//! node-hours, money in USD. Only node counts (and the N+1 spare flags) are integer.
//!
//! ```text
//! minimise  Σ_s amort_s·new_s + Σ_o idle_o·n_o + Σ_{g,o,t} busy_o·h_go·x_got + Σ_{g,t} api_g·a_gt
//! s.t.      Σ_o x_got + a_gt = (1−δ_g)·D_gt + y_gt         every group, bucket (demand met)
//!           Σ_{t∈window_g} y_gt = δ_g·D_g                   deferrable groups
//!           Σ_g (h_go/u_go)·x_got ≤ k_t·(H/L)·(n_o − s_o)    every option, bucket (capacity)
//!           Σ_{g critical, t} x_got ≤ M·s_o                  s_o ∈ {0,1}: N+1 spare
//!           Σ_o P_busy_o·n_o ≤ site power cap               optional
//!           new_s ≥ Σ_{o∈s} n_o − owned_s,  Σ_{o∈s} n_o ≤ max_s,  Σ_s price_s·new_s ≤ budget
//! ```
//! `h_go` is node-hours per Mtok of g's input/output mix on o, `u_go` the utilization cap (the
//! plan's cap, lowered by Erlang C where g has a TTFT limit, see [`crate::queueing`]), `idle_o`
//! a node's idle energy for the month, `busy_o` the extra energy per busy hour, `H/L` how often
//! each hour of the L-hour cycle occurs in a month and `k_t` how many hours bucket t merges.
//!
//! The optimum stays exact while the model shrinks: workloads with identical eligibility,
//! per-token figures, API price, criticality and deferral merge into one group `g` (their
//! hourly demands add; the solution splits back in proportion to each one's need in each hour);
//! hours with identical demand vectors merge into one bucket weighted by their count (an
//! optimum that treats them alike exists, as the LP is convex in the continuous variables);
//! options dominated for every group (no cheaper to own, power, or buy, and no slower or
//! costlier per token for anything they serve) are pruned, their nodes replaceable one for one;
//! so are options that cost more per token, even kept busy to their cap all month, than the API
//! charges every group they could serve.
//!
//! The model is built once as data (`formulation`). Small models go to the backend whole.
//! Large ones, where distinct hours leave tens of thousands of token columns, are decomposed
//! (`decompose`): the LP relaxation is solved by pricing options (an interior-point solve per
//! round, [`crate::interior_point`]), its duals bound every plan, options whose bound plus
//! reduced cost cannot beat the plan within the gap are left out, and the MIP is solved over the
//! handful left. The gap a plan reports is to the whole model's optimum either way. A proposal's
//! solves (the optimum and one single-SKU baseline per SKU) are independent and run on every
//! core when the model is large.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use crate::backend::Backend;
pub use decompose::Decomposition;
use formulation::{Model, SolveReport};

mod decompose;
pub(crate) mod formulation;
use crate::backend::BackendFailure;
use crate::catalog::{ApiOffer, Catalog, HardwareSku};
use crate::cost::CostAssumptions;
use crate::demand::{HOURS_PER_DAY, HOURS_PER_WEEK, PlanRequest, Workload};
use crate::error::PlanError;
use crate::physics;
use crate::plan::{
    ApiTerms, Baseline, BaselineKind, BreakEven, CostBreakdown, NOT_SOLVED, Plan, Pool, Route,
    RouteShare, SolverReport,
};
use crate::queueing;
use crate::schedule::{HourWorkload, Schedule, ScheduleHour};
use crate::throughput::{ThroughputModel, ThroughputPoint, ThroughputProvenance};
use crate::units::{format_int, format_ms, format_tokens, format_usd};

/// Solver limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveSettings {
    /// Stop after this many seconds and return the best plan found, marked with its gap.
    pub time_limit_s: Option<f64>,
    /// Stop once the relative gap is at most this.
    pub mip_gap: Option<f32>,
    /// The MIP backend.
    pub backend: Backend,
    /// When to decompose a large model (see [`Decomposition`]).
    pub decomposition: Decomposition,
}

impl Default for SolveSettings {
    fn default() -> Self {
        SolveSettings {
            time_limit_s: Some(30.0),
            mip_gap: None,
            backend: Backend::default(),
            decomposition: Decomposition::default(),
        }
    }
}

/// Utilization below which a TTFT limit makes an option useless: the queue would need the node
/// almost idle.
const MIN_QUEUEING_UTILIZATION: f64 = 0.01;

/// Returns a plan for the request: validates it, solves the optimum and the baselines, and
/// explains the result.
pub fn propose(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
) -> Result<Plan, PlanError> {
    propose_with(catalog, throughput, request, SolveSettings::default())
}

/// [`propose`] with explicit solver limits.
///
/// The time limit covers the whole proposal, not each solve: the single-SKU baselines are solved
/// first within [`BASELINE_TIME_SHARE`] of it, and the optimum gets whatever is left. A solve
/// stopped by the limit with a feasible fleet in hand returns that fleet, marked `time_limit`
/// with its gap and a note; a baseline the limit cut short is marked not solved; an optimum with
/// no feasible fleet when the time ran out is [`PlanError::TimeLimit`].
pub fn propose_with(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    settings: SolveSettings,
) -> Result<Plan, PlanError> {
    propose_cancellable(
        catalog,
        throughput,
        request,
        settings,
        &std::sync::atomic::AtomicBool::new(false),
    )
}

/// [`propose_with`] that gives up once `cancel` is set (its caller went away): where the time
/// limit is checked, before each solve, a set flag reads as the limit run out. A solver call
/// already running finishes within its own limit; nothing after it starts.
pub fn propose_cancellable(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    settings: SolveSettings,
    cancel: &std::sync::atomic::AtomicBool,
) -> Result<Plan, PlanError> {
    // An infinite limit is no limit; NaN, zero and negative ones are refused.
    let settings = match settings.time_limit_s {
        Some(l) if l.is_nan() || l <= 0.0 => {
            return Err(PlanError::invalid(
                "time_limit",
                format!("{l} s is not a positive number of seconds"),
            ));
        }
        Some(l) if l.is_infinite() => SolveSettings {
            time_limit_s: None,
            ..settings
        },
        _ => settings,
    };
    let budget = Budget::new(settings.time_limit_s);
    settings
        .backend
        .check_available()
        .map_err(|reason| PlanError::invalid("solver", reason))?;
    request.validate(catalog)?;
    let mut problem = Problem::prepare(catalog, throughput, request)?;
    problem.cancel = Some(cancel);
    problem.check_each_workload_is_servable()?;

    let started = Instant::now();
    let sku_count = problem.skus.len();
    let limit_s = budget.limit_s.unwrap_or(0.0);
    // One single-SKU baseline: its line in the plan, and its solution if it has a fleet.
    let baseline = |sku_index: usize, deadline: Option<Instant>| {
        let name = format!("single-SKU {}", problem.skus[sku_index].id);
        // A single-SKU baseline without a fleet, and why.
        let without_fleet = |reason: String| Baseline {
            name: name.clone(),
            kind: BaselineKind::SingleSku,
            monthly_usd: None,
            capex_usd: None,
            fleet: "-".into(),
            savings_vs_baseline_usd: None,
            infeasible_reason: Some(reason),
            best_single_sku: false,
            sku: Some(problem.skus[sku_index].id.clone()),
        };
        match problem.solve(Restriction::SingleSku(sku_index), settings, deadline) {
            Ok(solution) => Ok((
                Baseline {
                    sku: Some(problem.skus[sku_index].id.clone()),
                    ..problem.baseline_from(&name, BaselineKind::SingleSku, &solution)
                },
                Some(solution),
            )),
            Err(SolveFailure::Infeasible) => Ok((
                without_fleet(problem.explain_single_sku_infeasible(sku_index)),
                None,
            )),
            Err(SolveFailure::TimeLimit(_)) => Ok((
                without_fleet(format!(
                    "{NOT_SOLVED}: the {} s time limit of the whole proposal ran out before this baseline had a feasible fleet",
                    trim_float(limit_s)
                )),
                None,
            )),
            Err(SolveFailure::Solver(message)) => Err(PlanError::Solver(message)),
        }
    };
    // The baselines and the optimum are independent. Large ones are solved on every core, the
    // optimum first, then each worker takes the next SKU not yet started, with an even split of
    // what is left of the baselines' share of the limit; small ones one after another, the
    // baselines first.
    let workers = if problem.buckets.len() * problem.candidates.len() >= PARALLEL_SIZE {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(sku_count + 1)
            .max(1)
    } else {
        1
    };
    let optimum_job = if workers > 1 { 0 } else { sku_count };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::with_capacity(sku_count));
    let optimum_result = std::sync::Mutex::new(None);
    let work = || {
        loop {
            let job = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if job > sku_count {
                break;
            }
            if job == optimum_job {
                let solved = problem.solve(Restriction::Full, settings, budget.deadline());
                *optimum_result
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(solved);
                continue;
            }
            let sku_index = if job > optimum_job { job - 1 } else { job };
            let baseline_workers = if workers > 1 { workers - 1 } else { 1 }.max(1);
            let deadline =
                budget.baseline_deadline((sku_count - sku_index).div_ceil(baseline_workers));
            let result = baseline(sku_index, deadline);
            results
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((sku_index, result));
        }
    };
    if workers > 1 {
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(work);
            }
        });
    } else {
        work();
    }
    let mut results = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    results.sort_by_key(|(sku_index, _)| *sku_index);
    let mut single_sku = Vec::with_capacity(sku_count);
    // The cheapest single-SKU solution: a feasible fleet for the full model too.
    let mut best_single: Option<MipSolution> = None;
    for (_, result) in results {
        let (line, solution) = result?;
        if let Some(solution) = solution
            && best_single
                .as_ref()
                .is_none_or(|b: &MipSolution| solution.objective_usd < b.objective_usd)
        {
            best_single = Some(solution);
        }
        single_sku.push(line);
    }
    let solved_optimum = optimum_result
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .expect("the optimum was solved");
    let mut optimum = match solved_optimum {
        Ok(solution) => solution,
        Err(SolveFailure::Infeasible) => {
            // The explanation re-solves without the fleet limits: within what is left of the
            // limit, but never less than a twentieth of it.
            let floor = budget
                .limit_s
                .map(|l| Instant::now() + Duration::from_secs_f64(l / 20.0));
            let deadline = budget.deadline().zip(floor).map(|(d, f)| d.max(f));
            return Err(problem.explain_infeasible(settings, deadline));
        }
        Err(SolveFailure::TimeLimit(detail)) => {
            return Err(PlanError::TimeLimit { limit_s, detail });
        }
        Err(SolveFailure::Solver(message)) => return Err(PlanError::Solver(message)),
    };
    // A stopped solve's incumbent can be worse than a single-SKU fleet already in hand; the
    // plan is then that fleet, with the gap measured against the stopped solve's bound.
    let mut adopted = false;
    if optimum.status == "time_limit"
        && let Some(single) = best_single.filter(|b| b.objective_usd < optimum.objective_usd)
    {
        let bound = optimum.objective_usd - optimum.gap * optimum.objective_usd.abs();
        optimum = MipSolution {
            status: optimum.status,
            gap: ((single.objective_usd - bound) / single.objective_usd.abs().max(1e-9)).max(0.0),
            solve_ms: optimum.solve_ms,
            variables: optimum.variables,
            integer_variables: optimum.integer_variables,
            constraints: optimum.constraints,
            options_kept: optimum.options_kept,
            ..single
        };
        adopted = true;
    }
    let total_solve_ms = started.elapsed().as_secs_f64() * 1_000.0;
    if let Some(best) = single_sku
        .iter_mut()
        .filter(|b| b.monthly_usd.is_some())
        .min_by(|a, b| a.monthly_usd.unwrap().total_cmp(&b.monthly_usd.unwrap()))
    {
        best.best_single_sku = true;
    }
    let mut baselines = vec![problem.all_api_baseline()];
    baselines.extend(single_sku);
    baselines.push(problem.baseline_from("optimum", BaselineKind::Optimum, &optimum));
    let stopped = optimum.status == "time_limit";
    let gap = optimum.gap;
    let mut plan = problem.into_plan(optimum, baselines, total_solve_ms);
    if stopped {
        plan.notes.insert(
            0,
            format!(
                "time limit: the solver stopped at the {} s limit of the whole proposal with the best fleet it had found; it is not proven optimal and may cost up to {:.2}% more than the optimum (the gap to the best bound)",
                trim_float(limit_s),
                gap * 100.0
            ),
        );
        if adopted {
            plan.notes.insert(
                1,
                "time limit: the cheapest single-SKU baseline beat the stopped solve's best fleet, so the plan is that baseline's fleet".into(),
            );
        }
    }
    Ok(plan)
}

/// Share of a proposal's time limit the single-SKU baselines may use together; the optimum gets
/// the rest, plus whatever they leave.
pub const BASELINE_TIME_SHARE: f64 = 0.25;

/// Buckets × options from which a proposal's solves run on every core (smaller ones take well
/// under a millisecond each, less than starting a thread).
const PARALLEL_SIZE: usize = 2_000;

/// Shortest solve worth starting, in seconds.
const MIN_SOLVE_S: f64 = 0.001;

/// The time limit of one proposal, shared by its solves.
struct Budget {
    limit_s: Option<f64>,
    started: Instant,
}

impl Budget {
    fn new(limit_s: Option<f64>) -> Self {
        Budget {
            limit_s,
            started: Instant::now(),
        }
    }

    /// When the whole proposal must be done, if limited.
    fn deadline(&self) -> Option<Instant> {
        self.limit_s
            .map(|l| self.started + Duration::from_secs_f64(l.max(0.0)))
    }

    /// When the next baseline must be done when `left` baselines (it included) remain for its
    /// worker: an even split of what is left of the baselines' share, so time one leaves over
    /// goes to the next.
    fn baseline_deadline(&self, left: usize) -> Option<Instant> {
        self.limit_s.map(|l| {
            let share_end =
                self.started + Duration::from_secs_f64((l * BASELINE_TIME_SHARE).max(0.0));
            let now = Instant::now();
            now + share_end.saturating_duration_since(now) / left.max(1) as u32
        })
    }
}

/// A local option: one throughput point (SKU, model, quant, concurrency) on its SKU.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    point: &'a ThroughputPoint,
    sku: &'a HardwareSku,
    sku_index: usize,
    quality: f64,
}

/// Why an option cannot serve a workload.
#[derive(Debug, Clone, PartialEq)]
enum Rejection {
    Model,
    Memory { needed_gb: f64, have_gb: f64 },
    Queueing { max_utilization: f64 },
    Quality { retained: f64, floor: f64 },
    Ttft { ttft_ms: f64, limit_ms: f64 },
    Decode { tok_s: f64, min_tok_s: f64 },
}

impl Rejection {
    /// Returns the rejection in words with its numbers; `None` for a different model (not a
    /// reason anyone needs to read).
    fn words(&self) -> Option<String> {
        Some(match self {
            Rejection::Model => return None,
            Rejection::Memory { needed_gb, have_gb } => {
                format!("needs {needed_gb:.1} GB of memory at its context, has {have_gb:.1} GB")
            }
            Rejection::Queueing { max_utilization } => format!(
                "waiting for a slot allows only {:.1}% busy under its TTFT limit (Erlang C)",
                max_utilization * 100.0
            ),
            Rejection::Quality { retained, floor } => format!(
                "quality {:.1}% is below its floor of {:.1}%",
                retained * 100.0,
                floor * 100.0
            ),
            Rejection::Ttft { ttft_ms, limit_ms } => format!(
                "TTFT {} exceeds its {} limit by {}",
                format_ms(*ttft_ms),
                format_ms(*limit_ms),
                format_ms(ttft_ms - limit_ms)
            ),
            Rejection::Decode { tok_s, min_tok_s } => format!(
                "{} tok/s per stream is below its {} tok/s minimum by {}",
                trim_float(*tok_s),
                trim_float(*min_tok_s),
                trim_float(min_tok_s - tok_s)
            ),
        })
    }
}

/// Per (workload, option) figures of an eligible pair.
#[derive(Debug, Clone, Copy)]
struct Fit {
    /// Node-hours per million tokens of the workload's mix.
    hours_per_mtok: f64,
    /// Largest busy fraction the node may run at for this workload: the plan's cap, lowered by
    /// the TTFT p95 limit through Erlang C.
    util_cap: f64,
}

impl Fit {
    /// Node-hours of capacity one Mtok uses up: busy hours ÷ the utilization cap.
    fn capacity_hours_per_mtok(&self) -> f64 {
        self.hours_per_mtok / self.util_cap
    }
}

/// Workloads the MIP treats as one: same model, eligibility, per-token figures, API price,
/// criticality and deferral.
#[derive(Debug, Clone)]
struct Group {
    members: Vec<usize>,
    rep: usize,
    deferrable_share: f64,
    critical: bool,
    /// Mtok per month in each hour of the cycle.
    hourly_mtok: Vec<f64>,
    total_mtok: f64,
    /// Whether each hour of the cycle is in the deferral window (all false without deferral).
    in_window: Vec<bool>,
}

/// Hours of the cycle with identical demand vectors, solved as one.
#[derive(Debug, Clone)]
struct Bucket {
    hours: Vec<usize>,
}

/// Which part of the option space a solve may use.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Restriction {
    Full,
    SingleSku(usize),
}

enum SolveFailure {
    Infeasible,
    /// The time limit ran out before a feasible fleet was found; says how big the model was.
    TimeLimit(String),
    Solver(String),
}

/// A solved model, in plan units.
struct MipSolution {
    /// The backend that solved it, in words.
    backend: String,
    nodes: Vec<u32>,
    /// Spare nodes (N+1) per candidate, included in `nodes`.
    spares: Vec<u32>,
    /// Mtok per [workload][candidate], month.
    local_mtok: Vec<Vec<f64>>,
    api_mtok: Vec<f64>,
    /// Mtok per month over each bucket's hours: [bucket][workload] → (candidate, Mtok).
    bucket_local: Vec<Vec<Vec<(usize, f64)>>>,
    /// [bucket][workload] API Mtok.
    bucket_api: Vec<Vec<f64>>,
    /// [bucket][workload] Mtok served (after deferral).
    bucket_served: Vec<Vec<f64>>,
    /// [bucket][candidate] busy node-hours.
    bucket_busy_hours: Vec<Vec<f64>>,
    /// Options left after pruning.
    options_kept: usize,
    status: String,
    objective_usd: f64,
    gap: f64,
    solve_ms: f64,
    variables: usize,
    integer_variables: usize,
    constraints: usize,
    /// How the model was decomposed, if it was.
    decomposition: Option<crate::plan::DecompositionReport>,
}

struct Problem<'a> {
    catalog: &'a Catalog,
    throughput: &'a ThroughputModel,
    request: &'a PlanRequest,
    assumptions: CostAssumptions,
    workloads: &'a [Workload],
    candidates: Vec<Candidate<'a>>,
    skus: Vec<&'a HardwareSku>,
    /// [workload][candidate]: the fit if eligible, else why not.
    fits: Vec<Vec<Result<Fit, Vec<Rejection>>>>,
    api: Option<&'a ApiOffer>,
    /// [workload]: API price per Mtok if the API may take it, else why not.
    api_price: Vec<Result<f64, String>>,
    /// [workload]: model id.
    models: Vec<&'a str>,
    /// Hours in the cycle: 24, or 168 when any profile is a week.
    cycle_hours: usize,
    /// [workload][hour]: share of the month's tokens arriving in that hour of the cycle.
    shares: Vec<Vec<f64>>,
    groups: Vec<Group>,
    buckets: Vec<Bucket>,
    /// Set when the caller went away: the time-limit checks read it as the limit run out.
    cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

impl<'a> Problem<'a> {
    /// Returns whether the caller gave up on this proposal.
    fn cancelled(&self) -> bool {
        self.cancel
            .is_some_and(|flag| flag.load(std::sync::atomic::Ordering::Relaxed))
    }

    fn prepare(
        catalog: &'a Catalog,
        throughput: &'a ThroughputModel,
        request: &'a PlanRequest,
    ) -> Result<Problem<'a>, PlanError> {
        let assumptions = CostAssumptions::resolve(catalog, &request.overrides);
        let workloads = request.workloads.as_slice();
        let models: Vec<&str> = workloads.iter().map(|w| w.model_id(catalog)).collect();
        let mut skus: Vec<&HardwareSku> = Vec::new();
        let mut candidates = Vec::new();
        for point in throughput
            .points_for(request.trust_published)
            .into_iter()
            .filter(|p| models.contains(&p.model.as_str()))
        {
            let (Some(sku), Some(quant)) = (catalog.sku(&point.sku), catalog.quant(&point.quant))
            else {
                // Measured configurations the catalog lacks are listed by the throughput model
                // but cannot be priced, so they are not options.
                continue;
            };
            let sku_index = match skus.iter().position(|s| s.id == sku.id) {
                Some(i) => i,
                None => {
                    skus.push(sku);
                    skus.len() - 1
                }
            };
            candidates.push(Candidate {
                point,
                sku,
                sku_index,
                quality: quant.quality_retained,
            });
        }
        if candidates.is_empty() {
            let mut wanted = models.clone();
            wanted.sort_unstable();
            wanted.dedup();
            let dropped: Vec<String> = throughput
                .dropped
                .iter()
                .filter(|d| wanted.contains(&d.model.as_str()))
                .map(|d| format!("{} {}: {}", d.sku, d.quant, d.reason))
                .collect();
            return Err(PlanError::Infeasible {
                reason: if dropped.is_empty() {
                    format!(
                        "no catalog hardware can hold model '{}' (no configuration fits)",
                        wanted.join("', '")
                    )
                } else {
                    format!(
                        "no catalog hardware can hold model '{}': {}{}",
                        wanted.join("', '"),
                        dropped.join("; "),
                        if request.trust_published {
                            ""
                        } else {
                            " (--trust-published plans on the published figures anyway)"
                        }
                    )
                },
            });
        }
        let fits = workloads
            .iter()
            .zip(&models)
            .map(|(w, model_id)| {
                let floor = catalog
                    .quant(&w.min_quant)
                    .map(|q| q.quality_retained)
                    .unwrap_or(0.0);
                let model = catalog.model(model_id);
                candidates
                    .iter()
                    .map(|c| {
                        if c.point.model != *model_id {
                            return Err(vec![Rejection::Model]);
                        }
                        let mut why = Vec::new();
                        if c.quality + 1e-12 < floor {
                            why.push(Rejection::Quality {
                                retained: c.quality,
                                floor,
                            });
                        }
                        let prompt = f64::from(w.prompt_tokens);
                        let output_tokens =
                            prompt * (1.0 - w.input_share) / w.input_share.max(0.01);
                        // Every slot holds its own KV cache for a whole request: a placed
                        // configuration is placed again at this workload's context.
                        // Figures read off a benchmark keep its measured memory use.
                        let pure_estimate = matches!(
                            c.point.provenance,
                            ThroughputProvenance::Estimated { anchor: None, .. }
                        );
                        if let (true, Some(model), Some(placed), Some(quant)) = (
                            pure_estimate,
                            model,
                            c.point.placement.as_ref(),
                            catalog.quant(&c.point.quant),
                        ) {
                            let config = physics::Config {
                                sku: c.sku,
                                model,
                                quant,
                                context_tokens: (prompt + output_tokens).ceil() as u32,
                                slots: c.point.concurrency,
                                devices_per_instance: Some(placed.devices_per_instance),
                            };
                            let here = physics::place(&config, &catalog.physics);
                            if !here.fits {
                                let (needed_gb, have_gb) =
                                    if here.accelerator_needed_gb > here.accelerator_have_gb {
                                        (here.accelerator_needed_gb, here.accelerator_have_gb)
                                    } else {
                                        (here.host_needed_gb, here.host_have_gb)
                                    };
                                why.push(Rejection::Memory { needed_gb, have_gb });
                            }
                        } else if let Some(model) = model
                            && !c.point.offload
                            && c.point.concurrency > 1
                        {
                            let devices = (c.sku.accelerators / c.point.instances_per_node).max(1);
                            let have_gb = f64::from(devices) * c.sku.memory_per_device_gb;
                            let needed_gb = c.point.vram_used_gb
                                + f64::from(c.point.concurrency - 1)
                                    * model.kv_cache_bytes_per_token
                                    * (prompt + output_tokens)
                                    / 1e9;
                            if needed_gb > have_gb {
                                why.push(Rejection::Memory { needed_gb, have_gb });
                            }
                        }
                        let ttft_ms = c.point.ttft_ms(w.prompt_tokens);
                        if let Some(limit_ms) = w.ttft_p95_ms
                            && ttft_ms > limit_ms
                        {
                            why.push(Rejection::Ttft { ttft_ms, limit_ms });
                        }
                        if c.point.decode_tok_s < w.min_decode_tok_s {
                            why.push(Rejection::Decode {
                                tok_s: c.point.decode_tok_s,
                                min_tok_s: w.min_decode_tok_s,
                            });
                        }
                        let util_cap = match w.ttft_p95_ms {
                            Some(limit_ms) if why.is_empty() => {
                                let prefill_s = ttft_ms / 1_000.0;
                                let service_s = prefill_s + output_tokens / c.point.decode_tok_s;
                                let servers = c.point.instances_per_node * c.point.concurrency;
                                queueing::max_utilization_for_ttft(
                                    servers,
                                    service_s,
                                    prefill_s,
                                    limit_ms / 1_000.0,
                                )
                                .min(assumptions.utilization_cap)
                            }
                            _ => assumptions.utilization_cap,
                        };
                        if why.is_empty() && util_cap < MIN_QUEUEING_UTILIZATION {
                            why.push(Rejection::Queueing {
                                max_utilization: util_cap,
                            });
                        }
                        if why.is_empty() {
                            Ok(Fit {
                                hours_per_mtok: c.point.node_seconds_per_token(w.input_share) * 1e6
                                    / 3_600.0,
                                util_cap,
                            })
                        } else {
                            Err(why)
                        }
                    })
                    .collect()
            })
            .collect();
        let api = catalog.api_for(&catalog.default_model().id);
        let api_price = workloads
            .iter()
            .zip(&models)
            .map(|(w, model_id)| match catalog.api_for(model_id) {
                None => Err(format!("the catalog has no API offer for '{model_id}'")),
                Some(_) if w.local_only => Err("it is local-only".to_string()),
                Some(api) => match w.ttft_p95_ms {
                    Some(limit) if api.ttft_p95_ms > limit => Err(format!(
                        "the API's TTFT p95 of {} exceeds its {} limit",
                        format_ms(api.ttft_p95_ms),
                        format_ms(limit)
                    )),
                    _ => Ok(api.blended_usd_per_million(w.input_share)),
                },
            })
            .collect();
        let cycle_hours = if workloads
            .iter()
            .any(|w| w.profile.len_hours() == HOURS_PER_WEEK)
        {
            HOURS_PER_WEEK
        } else {
            HOURS_PER_DAY
        };
        let shares: Vec<Vec<f64>> = workloads
            .iter()
            .map(|w| w.profile.shares_over(cycle_hours))
            .collect();
        let mut problem = Problem {
            catalog,
            throughput,
            request,
            assumptions,
            workloads,
            candidates,
            skus,
            fits,
            api,
            api_price,
            models,
            cycle_hours,
            shares,
            groups: Vec::new(),
            buckets: Vec::new(),
            cancel: None,
        };
        problem.groups = problem.group_workloads();
        problem.buckets = problem.merge_hours();
        Ok(problem)
    }

    /// Merges workloads the MIP cannot tell apart: same model, eligibility and per-token figures
    /// on every option, API price, criticality and deferral.
    fn group_workloads(&self) -> Vec<Group> {
        let mut keys: HashMap<Vec<u64>, usize> = HashMap::new();
        let mut groups: Vec<Group> = Vec::new();
        for (w, workload) in self.workloads.iter().enumerate() {
            let deferrable = workload.deferrable_share > 0.0;
            let mut key: Vec<u64> = Vec::with_capacity(2 * self.candidates.len() + 8);
            for fit in &self.fits[w] {
                match fit {
                    Ok(f) => {
                        key.push(f.hours_per_mtok.to_bits());
                        key.push(f.util_cap.to_bits());
                    }
                    Err(_) => key.extend([u64::MAX, u64::MAX]),
                }
            }
            key.push(match &self.api_price[w] {
                Ok(price) => price.to_bits(),
                Err(_) => u64::MAX,
            });
            key.push(u64::from(workload.critical));
            key.push(workload.deferrable_share.to_bits());
            let window = workload.defer_window.filter(|_| deferrable);
            key.push(window.map_or(u64::MAX, |win| {
                u64::from(win.start_hour) << 8 | u64::from(win.end_hour)
            }));
            let hourly: Vec<f64> = self.shares[w]
                .iter()
                .map(|s| s * workload.monthly_tokens.millions())
                .collect();
            match keys.get(&key) {
                Some(&g) => {
                    let group = &mut groups[g];
                    group.members.push(w);
                    for (sum, h) in group.hourly_mtok.iter_mut().zip(&hourly) {
                        *sum += h;
                    }
                    group.total_mtok += workload.monthly_tokens.millions();
                }
                None => {
                    keys.insert(key, groups.len());
                    groups.push(Group {
                        members: vec![w],
                        rep: w,
                        deferrable_share: workload.deferrable_share,
                        critical: workload.critical,
                        hourly_mtok: hourly,
                        total_mtok: workload.monthly_tokens.millions(),
                        in_window: (0..self.cycle_hours)
                            .map(|h| window.is_some_and(|win| win.contains((h % 24) as u32)))
                            .collect(),
                    });
                }
            }
        }
        groups
    }

    /// Merges hours whose demand (and window membership) is the same for every group.
    fn merge_hours(&self) -> Vec<Bucket> {
        let mut keys: HashMap<Vec<u64>, usize> = HashMap::new();
        let mut buckets: Vec<Bucket> = Vec::new();
        for h in 0..self.cycle_hours {
            let key: Vec<u64> = self
                .groups
                .iter()
                .flat_map(|g| [g.hourly_mtok[h].to_bits(), u64::from(g.in_window[h])])
                .collect();
            match keys.get(&key) {
                Some(&b) => buckets[b].hours.push(h),
                None => {
                    keys.insert(key, buckets.len());
                    buckets.push(Bucket { hours: vec![h] });
                }
            }
        }
        buckets
    }

    /// How many times each hour of the cycle occurs in a month.
    fn occurrences(&self) -> f64 {
        self.hours() / self.cycle_hours as f64
    }

    fn hours(&self) -> f64 {
        self.assumptions.hours_per_month
    }

    fn owned(&self, sku: &HardwareSku) -> u32 {
        self.request
            .constraints
            .owned_nodes_per_sku
            .get(&sku.id)
            .copied()
            .unwrap_or(0)
    }

    fn max_nodes(&self, sku: &HardwareSku) -> Option<u32> {
        self.request
            .constraints
            .max_nodes_per_sku
            .get(&sku.id)
            .copied()
    }

    /// Idle energy of one node for the whole month.
    fn idle_usd(&self, c: &Candidate) -> f64 {
        self.assumptions
            .energy_usd(c.sku.power_idle_w, self.hours())
    }

    /// Extra energy of one busy node-hour over idling.
    fn busy_extra_usd_per_hour(&self, c: &Candidate) -> f64 {
        self.assumptions
            .energy_usd(c.point.power_busy_w - c.sku.power_idle_w, 1.0)
    }

    /// $ per million tokens of workload `w` on a new node of candidate `c` kept busy up to the
    /// utilization cap: (amortization + idle energy + busy energy) ÷ tokens it can serve.
    fn local_usd_per_mtok_at_cap(&self, w: usize, c: usize) -> Option<f64> {
        let fit = self.fits[w][c].as_ref().ok()?;
        let cand = &self.candidates[c];
        let cap_hours = fit.util_cap * self.hours();
        let monthly = self.assumptions.amortization_usd(cand.sku.price_usd)
            + self.idle_usd(cand)
            + cap_hours * self.busy_extra_usd_per_hour(cand);
        Some(monthly / (cap_hours / fit.hours_per_mtok))
    }

    fn option_label(&self, c: usize) -> String {
        let cand = &self.candidates[c];
        let model = if self.several_models() {
            format!(" {}", cand.point.model)
        } else {
            String::new()
        };
        if cand.point.concurrency == 1 {
            format!("{} {}{model}", cand.sku.id, cand.point.quant)
        } else {
            format!(
                "{} {} N={}{model}",
                cand.sku.id, cand.point.quant, cand.point.concurrency
            )
        }
    }

    fn several_models(&self) -> bool {
        self.models.iter().any(|m| *m != self.models[0])
    }

    /// Returns the per-hour schedule of a solution over the pools it buys.
    fn schedule(&self, solution: &MipSolution) -> Schedule {
        let pool_candidates: Vec<usize> = (0..self.candidates.len())
            .filter(|&c| solution.nodes[c] > 0)
            .collect();
        let occurrences = self.occurrences();
        let mut hourly: Vec<Option<ScheduleHour>> = vec![None; self.cycle_hours];
        for (t, bucket) in self.buckets.iter().enumerate() {
            // Bucket totals are Mtok per month over all its hours: one occurrence of one hour
            // is 1 / (hours in bucket × occurrences per month) of that.
            let per_hour = 1e6 / (bucket.hours.len() as f64 * occurrences);
            for &h in &bucket.hours {
                let workloads: Vec<HourWorkload> = self
                    .workloads
                    .iter()
                    .enumerate()
                    .map(|(w, wl)| {
                        let pool_tokens: Vec<f64> = pool_candidates
                            .iter()
                            .map(|&c| {
                                solution.bucket_local[t][w]
                                    .iter()
                                    .filter(|(cc, _)| *cc == c)
                                    .map(|(_, m)| m * per_hour)
                                    .sum()
                            })
                            .collect();
                        HourWorkload {
                            workload: wl.name.clone(),
                            demand_tokens: self.shares[w][h] * wl.monthly_tokens.get() as f64
                                / occurrences,
                            served_tokens: solution.bucket_served[t][w] * per_hour,
                            pool_tokens,
                            api_tokens: solution.bucket_api[t][w] * per_hour,
                        }
                    })
                    .collect();
                let pool_utilization = pool_candidates
                    .iter()
                    .map(|&c| {
                        solution.bucket_busy_hours[t][c]
                            / (bucket.hours.len() as f64
                                * occurrences
                                * f64::from(solution.nodes[c]))
                    })
                    .collect();
                let local_tokens = workloads.iter().flat_map(|w| &w.pool_tokens).sum();
                let api_tokens = workloads.iter().map(|w| w.api_tokens).sum();
                hourly[h] = Some(ScheduleHour {
                    hour: h as u32,
                    workloads,
                    pool_utilization,
                    local_tokens,
                    api_tokens,
                });
            }
        }
        Schedule {
            hours: self.cycle_hours as u32,
            occurrences_per_month: occurrences,
            buckets: self.buckets.len() as u32,
            pools: pool_candidates
                .iter()
                .map(|&c| self.option_label(c))
                .collect(),
            hourly: hourly.into_iter().flatten().collect(),
        }
    }

    /// Fails early, with the requirement and the closest option, when a workload has no
    /// eligible local option and may not use the API.
    fn check_each_workload_is_servable(&self) -> Result<(), PlanError> {
        for (w, workload) in self.workloads.iter().enumerate() {
            let any_local = self.fits[w].iter().any(Result::is_ok);
            if let Err(api_reason) = &self.api_price[w]
                && !any_local
            {
                return Err(PlanError::Infeasible {
                    reason: format!(
                        "workload '{}' cannot go to the API ({api_reason}) and {}",
                        workload.name,
                        self.why_no_local(w, None)
                    ),
                });
            }
        }
        Ok(())
    }

    /// Explains why no option (of one SKU, or any) can serve workload `w`.
    /// Returns a note for each measured configuration the plan does not use, saying which SLO
    /// of which workload it fails and by how much, or that it qualifies but costs more.
    fn measured_not_used(&self, pools: &[Pool]) -> Vec<String> {
        let mut notes = Vec::new();
        for (c, cand) in self.candidates.iter().enumerate() {
            if !matches!(cand.point.provenance, ThroughputProvenance::Measured { .. }) {
                continue;
            }
            let used = pools.iter().any(|p| {
                p.sku == cand.sku.id
                    && p.model == cand.point.model
                    && p.quant == cand.point.quant
                    && p.concurrency == cand.point.concurrency
            });
            if used {
                continue;
            }
            let mut failures = Vec::new();
            let mut qualifies = Vec::new();
            for (w, workload) in self.workloads.iter().enumerate() {
                if self.models[w] != cand.point.model {
                    continue;
                }
                match &self.fits[w][c] {
                    Ok(_) => qualifies.push(workload.name.clone()),
                    Err(reasons) => {
                        let words: Vec<String> =
                            reasons.iter().filter_map(Rejection::words).collect();
                        if !words.is_empty() {
                            failures.push(format!("{}: {}", workload.name, words.join(", ")));
                        }
                    }
                }
            }
            if failures.is_empty() && qualifies.is_empty() {
                continue;
            }
            let mut text = format!("measured {} not used", self.option_label(c));
            if !failures.is_empty() {
                text.push_str(&format!(": fails {}", failures.join("; ")));
            }
            if !qualifies.is_empty() {
                text.push_str(&format!(
                    "{}qualifies for {} but the plan's choice costs less",
                    if failures.is_empty() { ": " } else { "; " },
                    qualifies.join(", ")
                ));
            }
            notes.push(text);
        }
        notes
    }

    fn why_no_local(&self, w: usize, only_sku: Option<usize>) -> String {
        let workload = &self.workloads[w];
        let floor_quant = &workload.min_quant;
        let in_scope: Vec<usize> = (0..self.candidates.len())
            .filter(|&c| only_sku.is_none_or(|s| self.candidates[c].sku_index == s))
            .filter(|&c| self.candidates[c].point.model == self.models[w])
            .collect();
        let scope = match only_sku {
            Some(s) => format!("no {} option", self.skus[s].id),
            None => "no local option".to_string(),
        };
        if in_scope.is_empty() {
            return format!("{scope} runs model '{}'", self.models[w]);
        }
        let quality_ok: Vec<usize> = in_scope
            .iter()
            .copied()
            .filter(|&c| {
                !self.fits[w][c]
                    .as_ref()
                    .err()
                    .is_some_and(|r| r.iter().any(|r| matches!(r, Rejection::Quality { .. })))
            })
            .collect();
        if quality_ok.is_empty() {
            let best = in_scope
                .iter()
                .copied()
                .max_by(|&a, &b| {
                    self.candidates[a]
                        .quality
                        .total_cmp(&self.candidates[b].quality)
                })
                .map(|c| {
                    format!(
                        "; the best is {} at {:.1}%",
                        self.option_label(c),
                        self.candidates[c].quality * 100.0
                    )
                })
                .unwrap_or_default();
            return format!("{scope} keeps quality ≥ {floor_quant}{best}");
        }
        let mut clauses = Vec::new();
        if let Some(limit) = workload.ttft_p95_ms {
            let fastest = quality_ok
                .iter()
                .copied()
                .min_by(|&a, &b| {
                    self.candidates[a]
                        .point
                        .ttft_ms(workload.prompt_tokens)
                        .total_cmp(&self.candidates[b].point.ttft_ms(workload.prompt_tokens))
                })
                .expect("non-empty");
            let best_ttft = self.candidates[fastest]
                .point
                .ttft_ms(workload.prompt_tokens);
            if best_ttft > limit {
                // What would hold the model, by SKU, so the reader sees what there is to buy.
                let mut holds: Vec<(String, Vec<String>)> = Vec::new();
                for &c in &quality_ok {
                    let cand = &self.candidates[c];
                    match holds.iter_mut().find(|(sku, _)| *sku == cand.sku.id) {
                        Some((_, quants)) => {
                            if !quants.contains(&cand.point.quant) {
                                quants.push(cand.point.quant.clone());
                            }
                        }
                        None => holds.push((cand.sku.id.clone(), vec![cand.point.quant.clone()])),
                    }
                }
                let holds: Vec<String> = holds
                    .into_iter()
                    .map(|(sku, quants)| format!("{sku} {}", quants.join(", ")))
                    .collect();
                clauses.push(format!(
                    "it needs TTFT ≤ {} for {}-token prompts; the fastest option ({}, {}) gives {}{}",
                    format_ms(limit),
                    format_int(f64::from(workload.prompt_tokens)),
                    self.option_label(fastest),
                    self.candidates[fastest].point.provenance,
                    format_ms(best_ttft),
                    if self.request.trust_published {
                        String::new()
                    } else {
                        format!(" (configurations that hold the model: {})", holds.join("; "))
                    }
                ));
            }
        }
        let fastest_decode = quality_ok
            .iter()
            .copied()
            .max_by(|&a, &b| {
                self.candidates[a]
                    .point
                    .decode_tok_s
                    .total_cmp(&self.candidates[b].point.decode_tok_s)
            })
            .expect("non-empty");
        let best_decode = self.candidates[fastest_decode].point.decode_tok_s;
        if best_decode < workload.min_decode_tok_s {
            clauses.push(format!(
                "it needs ≥ {} tok/s per stream; the fastest option ({}) gives {} tok/s",
                trim_float(workload.min_decode_tok_s),
                self.option_label(fastest_decode),
                trim_float(best_decode)
            ));
        }
        let queueing_only = quality_ok.iter().all(|&c| {
            self.fits[w][c].as_ref().err().is_some_and(|r| {
                r.iter()
                    .all(|r| matches!(r, Rejection::Queueing { .. } | Rejection::Memory { .. }))
            })
        });
        if clauses.is_empty() && queueing_only {
            clauses.push(format!(
                "waiting for a slot (Erlang C over each node's slots) would push TTFT p95 past {} at any useful utilization (≥ {:.0}%), or extra slots do not fit in memory",
                workload
                    .ttft_p95_ms
                    .map(format_ms)
                    .unwrap_or_else(|| "any".into()),
                MIN_QUEUEING_UTILIZATION * 100.0
            ));
        }
        if clauses.is_empty() {
            clauses.push(format!(
                "{scope} meets TTFT ≤ {} and ≥ {} tok/s per stream at once",
                workload
                    .ttft_p95_ms
                    .map(format_ms)
                    .unwrap_or_else(|| "any".into()),
                trim_float(workload.min_decode_tok_s)
            ));
        } else {
            clauses[0] = format!("{scope} qualifies: {}", clauses[0]);
        }
        clauses.join("; ")
    }

    fn explain_single_sku_infeasible(&self, sku_index: usize) -> String {
        for w in 0..self.workloads.len() {
            let any = (0..self.candidates.len())
                .any(|c| self.candidates[c].sku_index == sku_index && self.fits[w][c].is_ok());
            if !any {
                return format!(
                    "workload '{}': {}",
                    self.workloads[w].name,
                    self.why_no_local(w, Some(sku_index))
                );
            }
        }
        let sku = self.skus[sku_index];
        let mut limits = Vec::new();
        if let Some(max) = self.max_nodes(sku) {
            limits.push(format!("at most {max} {} nodes", sku.id));
        }
        if let Some(budget) = self.request.constraints.budget_usd {
            limits.push(format!("a {} budget", format_usd(budget)));
        }
        format!(
            "{} cannot serve all demand within {}",
            sku.id,
            if limits.is_empty() {
                "the limits".to_string()
            } else {
                limits.join(" and ")
            }
        )
    }

    /// Explains an infeasible optimum: re-solves without the fleet limits (owned nodes kept) for
    /// the least new hardware and, apart, the least busy power any fleet that serves the demand
    /// needs, and names the fleets that do with them.
    fn explain_infeasible(&self, settings: SolveSettings, deadline: Option<Instant>) -> PlanError {
        let local_mtok: f64 = self
            .workloads
            .iter()
            .zip(&self.api_price)
            .filter(|(_, api)| api.is_err())
            .map(|(w, _)| w.monthly_tokens.millions())
            .sum();
        let unlimited_request = PlanRequest {
            constraints: crate::demand::FleetConstraints {
                budget_usd: None,
                max_nodes_per_sku: Default::default(),
                owned_nodes_per_sku: self.request.constraints.owned_nodes_per_sku.clone(),
                site_power_cap_w: None,
            },
            ..self.request.clone()
        };
        let unlimited = Problem {
            request: &unlimited_request,
            fits: self.fits.clone(),
            api_price: self.api_price.clone(),
            candidates: self.candidates.clone(),
            skus: self.skus.clone(),
            models: self.models.clone(),
            shares: self.shares.clone(),
            groups: self.groups.clone(),
            buckets: self.buckets.clone(),
            ..*self
        };
        let mut limits = Vec::new();
        if let Some(budget) = self.request.constraints.budget_usd {
            limits.push(format!("a capex budget of {}", format_usd(budget)));
        }
        for (sku, max) in &self.request.constraints.max_nodes_per_sku {
            limits.push(format!("at most {max} {sku} nodes"));
        }
        if let Some(cap_w) = self.request.constraints.site_power_cap_w {
            limits.push(format!("a site power cap of {} W", format_int(cap_w)));
        }
        let demand = format!(
            "{} tokens/month that must stay local",
            format_tokens(local_mtok * 1e6)
        );
        // The least new hardware, or the least busy power, as the only cost of the unlimited
        // model: the budget's and the site-power row's coefficients (SKUs with owned nodes pay
        // for their new ones only). Solved whole and to a zero gap, so the least is the least.
        let least = |power: bool| -> Result<MipSolution, SolveFailure> {
            let kept = unlimited.kept_options(&|_| true, true);
            let mut model = unlimited.build_model(&kept, true)?;
            let buys_new: Vec<bool> = (0..unlimited.skus.len())
                .map(|s| {
                    model
                        .columns
                        .iter()
                        .any(|c| c.var == formulation::Var::NewNodes(s))
                })
                .collect();
            for column in &mut model.columns {
                column.cost = match column.var {
                    formulation::Var::Nodes(c) if power => {
                        unlimited.candidates[c].point.power_busy_w
                    }
                    formulation::Var::Nodes(c) if !buys_new[unlimited.candidates[c].sku_index] => {
                        unlimited.candidates[c].sku.price_usd
                    }
                    formulation::Var::NewNodes(s) if !power => unlimited.skus[s].price_usd,
                    _ => 0.0,
                };
            }
            let exact = SolveSettings {
                mip_gap: Some(0.0),
                ..settings
            };
            unlimited.solve_model(&model, exact, deadline)
        };
        // "needs $X", and the bound where the solve stopped short of proving it the least.
        let at_least = |solution: &MipSolution, value: f64, format: &dyn Fn(f64) -> String| {
            if solution.gap > 1e-9 {
                format!(
                    "{} (none needs less than {})",
                    format(value),
                    format(solution.objective_usd * (1.0 - solution.gap))
                )
            } else {
                format(value)
            }
        };
        let watts = |solution: &MipSolution| -> f64 {
            solution
                .nodes
                .iter()
                .zip(&unlimited.candidates)
                .map(|(&n, c)| f64::from(n) * c.point.power_busy_w)
                .sum()
        };
        let w = |v: f64| format!("{} W", format_int(v));
        match least(false).and_then(|capex| least(true).map(|power| (capex, power))) {
            Ok((by_capex, by_power)) => {
                let capex = at_least(&by_capex, unlimited.pool_capex(&by_capex), &format_usd);
                let power = at_least(&by_power, watts(&by_power), &w);
                let reason = if by_capex.nodes == by_power.nodes {
                    format!(
                        "{} cannot serve the {demand}: the fleet that can with the least new hardware and the least busy power needs {capex} of new hardware and {power} at busy power ({})",
                        limits.join(" and "),
                        unlimited.fleet_words(&by_capex),
                    )
                } else {
                    format!(
                        "{} cannot serve the {demand}: the fleet that can with the least new hardware needs {capex} of it ({}), the one with the least busy power draws {power} ({})",
                        limits.join(" and "),
                        unlimited.fleet_words(&by_capex),
                        unlimited.fleet_words(&by_power),
                    )
                };
                PlanError::Infeasible { reason }
            }
            Err(SolveFailure::TimeLimit(_)) if !limits.is_empty() => PlanError::Infeasible {
                reason: format!(
                    "{} leave no fleet that can serve the {demand} (how far they fall short was not found within the time limit)",
                    limits.join(" and ")
                ),
            },
            Err(_) => PlanError::Infeasible {
                reason: format!("no fleet can serve the {demand}"),
            },
        }
    }

    /// Returns which candidates a solve keeps: allowed, eligible for some group, and not
    /// dominated by another allowed candidate (see the module docs). Dominance is exact: a node
    /// of a dominated option can be swapped for a node of its dominator at no extra cost, with
    /// every constraint still met.
    fn kept_options(&self, allowed: &dyn Fn(usize) -> bool, api_allowed: bool) -> Vec<bool> {
        let constrained = |c: &Candidate| self.owned(c.sku) > 0 || self.max_nodes(c.sku).is_some();
        let fixed =
            |c: &Candidate| self.assumptions.amortization_usd(c.sku.price_usd) + self.idle_usd(c);
        // An option no group would rather use than the API is dropped too: if every group it
        // serves may go to the API at no more than the option's cost per Mtok on a node kept
        // busy to its cap all month (fixed cost spread over the node's capacity, plus busy
        // energy), sending its tokens to the API instead never costs more.
        let beaten_by_api = |c: usize| -> bool {
            if !api_allowed {
                return false;
            }
            let cand = &self.candidates[c];
            let fixed_usd = if self.owned(cand.sku) > 0 {
                self.idle_usd(cand)
            } else {
                fixed(cand)
            };
            let busy = self.busy_extra_usd_per_hour(cand);
            self.groups
                .iter()
                .all(|g| match (&self.fits[g.rep][c], &self.api_price[g.rep]) {
                    (Err(_), _) => true,
                    (Ok(_), Err(_)) => false,
                    (Ok(fit), Ok(price)) => {
                        let local = fixed_usd * fit.capacity_hours_per_mtok() / self.hours()
                            + busy * fit.hours_per_mtok;
                        *price <= local
                    }
                })
        };
        let useful: Vec<bool> = (0..self.candidates.len())
            .map(|c| {
                allowed(c)
                    && self.groups.iter().any(|g| self.fits[g.rep][c].is_ok())
                    && !beaten_by_api(c)
            })
            .collect();
        let dominates = |a: usize, b: usize| -> bool {
            let (ca, cb) = (&self.candidates[a], &self.candidates[b]);
            if ca.point.model != cb.point.model {
                return false;
            }
            if ca.sku_index != cb.sku_index && (constrained(ca) || constrained(cb)) {
                return false;
            }
            let mut strict = false;
            let mut le = |x: f64, y: f64| {
                if x < y * (1.0 - 1e-12) {
                    strict = true;
                }
                x <= y * (1.0 + 1e-12)
            };
            if !(le(ca.sku.price_usd, cb.sku.price_usd)
                && le(fixed(ca), fixed(cb))
                && le(ca.point.power_busy_w, cb.point.power_busy_w))
            {
                return false;
            }
            let (busy_a, busy_b) = (
                self.busy_extra_usd_per_hour(ca),
                self.busy_extra_usd_per_hour(cb),
            );
            for g in &self.groups {
                let Ok(fb) = &self.fits[g.rep][b] else {
                    continue;
                };
                let Ok(fa) = &self.fits[g.rep][a] else {
                    return false;
                };
                if !(le(fa.capacity_hours_per_mtok(), fb.capacity_hours_per_mtok())
                    && le(busy_a * fa.hours_per_mtok, busy_b * fb.hours_per_mtok))
                {
                    return false;
                }
            }
            strict || a < b
        };
        (0..self.candidates.len())
            .map(|b| {
                useful[b]
                    && !(0..self.candidates.len()).any(|a| a != b && useful[a] && dominates(a, b))
            })
            .collect()
    }

    /// Builds and solves the MIP; the solve stops at the settings' time limit or at
    /// `deadline`, whichever comes first, counted from when the model is built. Large models are
    /// decomposed (see [`decompose`]).
    fn solve(
        &self,
        restriction: Restriction,
        settings: SolveSettings,
        deadline: Option<Instant>,
    ) -> Result<MipSolution, SolveFailure> {
        if self.cancelled()
            || deadline.is_some_and(|d| {
                d.saturating_duration_since(Instant::now()).as_secs_f64() < MIN_SOLVE_S
            })
        {
            return Err(SolveFailure::TimeLimit(
                "no time was left to build the model".into(),
            ));
        }
        let allowed = |c: usize| match restriction {
            Restriction::Full => true,
            Restriction::SingleSku(s) => self.candidates[c].sku_index == s,
        };
        let api_allowed = restriction == Restriction::Full;
        let kept = self.kept_options(&allowed, api_allowed);
        let model = self.build_model(&kept, api_allowed)?;
        if decompose::worth_it(&model, settings.decomposition) {
            return decompose::solve(self, &model, api_allowed, settings, deadline);
        }
        self.solve_model(&model, settings, deadline)
    }

    /// Solves `model` with the settings' backend, within the settings' time limit and
    /// `deadline`.
    fn solve_model(
        &self,
        model: &Model,
        settings: SolveSettings,
        deadline: Option<Instant>,
    ) -> Result<MipSolution, SolveFailure> {
        let variables = model.columns.len();
        let size = || {
            format!(
                "{variables} variables, {} integer, {} hour buckets after merging identical hours",
                model.integer_variables,
                self.buckets.len()
            )
        };
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()).as_secs_f64());
        let limit = match (settings.time_limit_s, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if self.cancelled() || limit.is_some_and(|l| l < MIN_SOLVE_S) {
            return Err(SolveFailure::TimeLimit(format!(
                "no time was left to solve the model: {}",
                size()
            )));
        }
        let backend = settings.backend.resolve(variables);
        let started = Instant::now();
        let solved = match backend.run(model, limit, settings.mip_gap) {
            Ok(solved) => solved,
            Err(BackendFailure::Infeasible) => return Err(SolveFailure::Infeasible),
            Err(BackendFailure::TimeLimit) => return Err(SolveFailure::TimeLimit(size())),
            Err(BackendFailure::Other(message)) => return Err(SolveFailure::Solver(message)),
        };
        let solve_ms = started.elapsed().as_secs_f64() * 1_000.0;
        Ok(self
            .extract(model, &solved.values)
            .into_solution(SolveReport {
                backend: backend.describe(),
                status: solved.status.to_string(),
                gap: solved.gap,
                solve_ms,
                variables,
                integer_variables: model.integer_variables,
                constraints: model.rows.len(),
                options_kept: model.options_kept,
                decomposition: None,
            }))
    }

    /// New and owned nodes per candidate: owned nodes of a SKU go to its pools in option order.
    fn split_owned(&self, solution: &MipSolution) -> Vec<(u32, u32)> {
        let mut owned_left: Vec<u32> = self.skus.iter().map(|s| self.owned(s)).collect();
        solution
            .nodes
            .iter()
            .zip(&self.candidates)
            .map(|(&nodes, cand)| {
                let owned = nodes.min(owned_left[cand.sku_index]);
                owned_left[cand.sku_index] -= owned;
                (nodes - owned, owned)
            })
            .collect()
    }

    fn pool_capex(&self, solution: &MipSolution) -> f64 {
        self.split_owned(solution)
            .iter()
            .zip(&self.candidates)
            .map(|(&(new, _), c)| f64::from(new) * c.sku.price_usd)
            .sum()
    }

    fn fleet_words(&self, solution: &MipSolution) -> String {
        let parts: Vec<String> = solution
            .nodes
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(c, &n)| format!("{n} × {}", self.option_label(c)))
            .collect();
        if parts.is_empty() {
            "no local nodes".into()
        } else {
            parts.join(" + ")
        }
    }

    fn pools(&self, solution: &MipSolution) -> Vec<Pool> {
        let split = self.split_owned(solution);
        self.candidates
            .iter()
            .enumerate()
            .filter(|&(c, _)| solution.nodes[c] > 0)
            .map(|(c, cand)| {
                let nodes = solution.nodes[c];
                let (new_nodes, owned_nodes) = split[c];
                let mut tokens_mtok = 0.0;
                let mut busy_hours = 0.0;
                for w in 0..self.workloads.len() {
                    if let Ok(fit) = &self.fits[w][c] {
                        let mtok = solution.local_mtok[w][c];
                        tokens_mtok += mtok;
                        busy_hours += mtok * fit.hours_per_mtok;
                    }
                }
                let node_hours = f64::from(nodes) * self.hours();
                let busy_hours = busy_hours.min(node_hours);
                let capex_usd = f64::from(new_nodes) * cand.sku.price_usd;
                let energy_usd = self
                    .assumptions
                    .energy_usd(cand.point.power_busy_w, busy_hours)
                    + self
                        .assumptions
                        .energy_usd(cand.sku.power_idle_w, node_hours - busy_hours);

                let peak_utilization = self
                    .buckets
                    .iter()
                    .enumerate()
                    .map(|(t, b)| {
                        solution.bucket_busy_hours[t][c]
                            / (b.hours.len() as f64 * self.occurrences() * f64::from(nodes))
                    })
                    .fold(0.0, f64::max);
                let offload_note = match (&cand.point.placement, &cand.point.provenance) {
                    (_, ThroughputProvenance::Trusted { verdict, .. }) => Some(format!(
                        "trusted as published although the physics says {verdict}"
                    )),
                    (Some(placed), _)
                        if placed.kind == physics::PlacementKind::ExpertsInHostRam =>
                    {
                        Some(placed.describe())
                    }
                    _ => None,
                };
                Pool {
                    sku: cand.sku.id.clone(),
                    sku_name: cand.sku.name.clone(),
                    quant: cand.point.quant.clone(),
                    concurrency: cand.point.concurrency,
                    instances_per_node: cand.point.instances_per_node,
                    model: cand.point.model.clone(),
                    nodes,
                    spare_nodes: solution.spares[c],
                    peak_utilization,
                    utilization_cap: (0..self.workloads.len())
                        .filter(|&w| solution.local_mtok[w][c] > 1e-12)
                        .filter_map(|w| self.fits[w][c].as_ref().ok().map(|f| f.util_cap))
                        .fold(self.assumptions.utilization_cap, f64::min),
                    aggregate_decode_tok_s: cand.point.aggregate_decode_tok_s,
                    new_nodes,
                    owned_nodes,
                    tokens_per_month: tokens_mtok * 1e6,
                    busy_hours,
                    utilization: if node_hours > 0.0 {
                        busy_hours / node_hours
                    } else {
                        0.0
                    },
                    capex_usd,
                    amortization_usd: self.assumptions.amortization_usd(capex_usd),
                    energy_usd,
                    decode_tok_s: cand.point.decode_tok_s,
                    prefill_tok_s: cand.point.prefill_tok_s,
                    power_busy_w: cand.point.power_busy_w,
                    power_idle_w: cand.sku.power_idle_w,
                    price_usd: cand.sku.price_usd,
                    throughput_provenance: cand.point.provenance.to_string(),
                    offload_note,
                }
            })
            .collect()
    }

    fn cost(&self, pools: &[Pool], solution: &MipSolution) -> CostBreakdown {
        let amortization_usd: f64 = pools.iter().map(|p| p.amortization_usd).sum();
        let energy_usd: f64 = pools.iter().map(|p| p.energy_usd).sum();
        let api_usd: f64 = solution
            .api_mtok
            .iter()
            .zip(&self.api_price)
            .map(|(mtok, price)| mtok * price.as_ref().copied().unwrap_or(0.0))
            .sum();
        let tokens_local: f64 = pools.iter().map(|p| p.tokens_per_month).sum();
        let tokens_api: f64 = solution.api_mtok.iter().sum::<f64>() * 1e6;
        let total_usd = amortization_usd + energy_usd + api_usd;
        let tokens = tokens_local + tokens_api;
        CostBreakdown {
            amortization_usd,
            energy_usd,
            api_usd,
            total_usd,
            capex_usd: pools.iter().map(|p| p.capex_usd).sum(),
            tokens_local,
            tokens_api,
            blended_usd_per_million: if tokens > 0.0 {
                total_usd / tokens * 1e6
            } else {
                0.0
            },
        }
    }

    fn all_api_baseline(&self) -> Baseline {
        let blocked = self
            .workloads
            .iter()
            .zip(&self.api_price)
            .find_map(|(w, p)| {
                p.as_ref()
                    .err()
                    .map(|why| format!("workload '{}': {why}", w.name))
            });
        let monthly = self
            .workloads
            .iter()
            .zip(&self.api_price)
            .map(|(w, p)| {
                p.as_ref()
                    .ok()
                    .map(|price| price * w.monthly_tokens.millions())
            })
            .sum::<Option<f64>>();
        Baseline {
            name: "all-API".into(),
            kind: BaselineKind::AllApi,
            monthly_usd: if blocked.is_some() { None } else { monthly },
            capex_usd: if blocked.is_some() { None } else { Some(0.0) },
            fleet: "no local nodes".into(),
            savings_vs_baseline_usd: None,
            infeasible_reason: blocked,
            best_single_sku: false,
            sku: None,
        }
    }

    fn baseline_from(&self, name: &str, kind: BaselineKind, solution: &MipSolution) -> Baseline {
        let pools = self.pools(solution);
        let cost = self.cost(&pools, solution);
        Baseline {
            name: name.to_string(),
            kind,
            monthly_usd: Some(cost.total_usd),
            capex_usd: Some(cost.capex_usd),
            fleet: self.fleet_words(solution),
            savings_vs_baseline_usd: None,
            infeasible_reason: None,
            best_single_sku: false,
            sku: None,
        }
    }

    /// Says why workload `w`'s tokens went where they did.
    fn route_why(&self, w: usize, solution: &MipSolution, binding: &[String]) -> String {
        let workload = &self.workloads[w];
        let local: f64 = solution.local_mtok[w].iter().sum();
        let api = solution.api_mtok[w];
        let any_local = self.fits[w].iter().any(Result::is_ok);
        let cheapest_local = (0..self.candidates.len())
            .filter_map(|c| self.local_usd_per_mtok_at_cap(w, c).map(|usd| (c, usd)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let api_words = |price: f64| {
            format!(
                "the API at {}/1M ({:.0}% input × {} + {:.0}% output × {})",
                format_usd(price),
                workload.input_share * 100.0,
                format_usd(self.api.map_or(0.0, |a| a.input_usd_per_million)),
                (1.0 - workload.input_share) * 100.0,
                format_usd(self.api.map_or(0.0, |a| a.output_usd_per_million)),
            )
        };
        let local_words = |(c, usd): (usize, f64)| {
            format!(
                "the cheapest local option, {}, at {}/1M on a new node {:.1}% busy",
                self.option_label(c),
                format_usd(usd),
                self.fits[w][c].as_ref().map_or(0.0, |f| f.util_cap) * 100.0
            )
        };
        match (&self.api_price[w], local > 1e-9, api > 1e-9) {
            (Ok(price), false, true) if !any_local => format!(
                "all to the API: {}; {} meets the SLO",
                self.why_no_local(w, None),
                api_words(*price)
            ),
            (Ok(price), false, true) => format!(
                "all to the API: {} costs less than {}",
                api_words(*price),
                cheapest_local.map(local_words).unwrap_or_default()
            ),
            (Ok(price), true, true) => {
                let limits: Vec<&String> = binding
                    .iter()
                    .filter(|b| b.starts_with("budget") || b.starts_with("max nodes"))
                    .collect();
                if limits.is_empty() && self.buckets.len() > 1 {
                    format!(
                        "whole nodes run the base load; the peak hours above it would leave another node idle too long to pay for itself, so they go to {}",
                        api_words(*price)
                    )
                } else if limits.is_empty() {
                    format!(
                        "whole nodes run the base; the remainder would not fill another node, so it goes to {}",
                        api_words(*price)
                    )
                } else {
                    format!(
                        "local up to the binding limit ({}); the rest to {}",
                        limits
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        api_words(*price)
                    )
                }
            }
            (Err(reason), _, _) => format!("all local: the API is not allowed ({reason})"),
            (Ok(price), _, false) => format!(
                "all local: {} is cheaper than {}",
                cheapest_local.map(local_words).unwrap_or_default(),
                api_words(*price)
            ),
        }
    }

    fn binding(&self, solution: &MipSolution, pools: &[Pool]) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(budget) = self.request.constraints.budget_usd {
            let capex = self.pool_capex(solution);
            let cheapest_node = self
                .skus
                .iter()
                .map(|s| s.price_usd)
                .fold(f64::INFINITY, f64::min);
            if budget - capex < cheapest_node {
                out.push(format!(
                    "budget: capex {} of {} (no room for another node)",
                    format_usd(capex),
                    format_usd(budget)
                ));
            }
        }
        for sku in &self.skus {
            if let Some(max) = self.max_nodes(sku) {
                let used: u32 = self
                    .candidates
                    .iter()
                    .zip(&solution.nodes)
                    .filter(|(c, _)| c.sku.id == sku.id)
                    .map(|(_, n)| *n)
                    .sum();
                if used >= max {
                    out.push(format!("max nodes {}: {used} of {max}", sku.id));
                }
            }
        }
        if let Some(cap_w) = self.request.constraints.site_power_cap_w {
            let drawn: f64 = pools
                .iter()
                .map(|p| p.power_busy_w * f64::from(p.nodes))
                .sum();
            let smallest = self
                .candidates
                .iter()
                .map(|c| c.point.power_busy_w)
                .fold(f64::INFINITY, f64::min);
            if cap_w - drawn < smallest {
                out.push(format!(
                    "site power: {} W of {} W (no room for another node)",
                    format_int(drawn),
                    format_int(cap_w)
                ));
            }
        }
        let flat = self.buckets.len() == 1;
        for (c, pool) in (0..self.candidates.len())
            .filter(|&c| solution.nodes[c] > 0)
            .zip(pools)
        {
            let cap = pool.utilization_cap;
            let busy = if flat {
                pool.utilization
            } else {
                pool.peak_utilization
            };
            if busy * f64::from(pool.nodes) >= cap * f64::from(pool.nodes - pool.spare_nodes) - 1e-6
            {
                out.push(format!(
                    "capacity {}: {:.1}% busy{} = utilization cap",
                    self.option_label(c),
                    busy * 100.0,
                    if flat { "" } else { " in the peak hour" }
                ));
            }
        }
        for (w, workload) in self.workloads.iter().enumerate() {
            if workload.local_only
                && self.api.is_some()
                && solution.local_mtok[w].iter().sum::<f64>() > 1e-9
            {
                out.push(format!(
                    "local-only: workload '{}' may not use the API",
                    workload.name
                ));
            }
        }
        out
    }

    fn into_plan(
        self,
        optimum: MipSolution,
        mut baselines: Vec<Baseline>,
        total_solve_ms: f64,
    ) -> Plan {
        let pools = self.pools(&optimum);
        let cost = self.cost(&pools, &optimum);
        let binding = self.binding(&optimum, &pools);
        let schedule = self.schedule(&optimum);
        let routes = self
            .workloads
            .iter()
            .enumerate()
            .map(|(w, workload)| Route {
                workload: workload.name.clone(),
                local: self
                    .candidates
                    .iter()
                    .enumerate()
                    .filter(|&(c, _)| optimum.local_mtok[w][c] > 1e-9)
                    .map(|(c, cand)| RouteShare {
                        sku: cand.sku.id.clone(),
                        quant: cand.point.quant.clone(),
                        concurrency: cand.point.concurrency,
                        tokens: optimum.local_mtok[w][c] * 1e6,
                    })
                    .collect(),
                api_tokens: optimum.api_mtok[w] * 1e6,
                why: self.route_why(w, &optimum, &binding),
            })
            .collect();
        for baseline in &mut baselines {
            baseline.savings_vs_baseline_usd = baseline.monthly_usd.map(|m| m - cost.total_usd);
        }
        let all_api = baselines
            .iter()
            .find(|b| b.kind == BaselineKind::AllApi)
            .and_then(|b| b.monthly_usd);
        let break_even = break_even(&cost, all_api);
        let mut notes = vec![
            format!("throughput: {}", self.throughput.describe()),
            format!(
                "queueing: TTFT p95 = prompt ÷ prefill tok/s + the p95 wait for a slot; the latency table shows the TTFT p50/p95 each pool's busiest hour implies and each workload's SLO attainment; each node is an M/M/c queue over its instances × N slots (Erlang C), service time = prompt ÷ prefill + output tokens ÷ per-stream decode (output = prompt × output share ÷ input share); a workload with a TTFT limit caps the node's busy fraction at the largest utilization that keeps the p95 within it, never above the {:.0}% plan cap",
                self.assumptions.utilization_cap * 100.0
            ),
            format!(
                "schedule: {} hours per cycle ({}), each occurring {} times a month; demand, capacity and routing are per hour ({} distinct hour bucket{} after merging identical hours)",
                self.cycle_hours,
                if self.cycle_hours == HOURS_PER_DAY {
                    "a day"
                } else {
                    "a week from Monday 00:00"
                },
                trim_float(self.occurrences()),
                self.buckets.len(),
                if self.buckets.len() == 1 { "" } else { "s" }
            ),
        ];
        notes.extend(self.measured_not_used(&pools));
        if let Some(d) = &optimum.decomposition {
            notes.push(d.note(optimum.objective_usd, optimum.variables));
        }
        if self.workloads.iter().any(|w| w.deferrable_share > 0.0) {
            notes.push("deferral: a workload's deferrable share of its whole cycle's tokens may be served at any hour of its window; the rest is served in the hour it arrives".into());
        }
        if self.workloads.iter().any(|w| w.critical) {
            notes.push("N+1: a pool serving critical work carries its busiest hour on one node fewer than it has".into());
        }
        if let Some(cap_w) = self.request.constraints.site_power_cap_w {
            let drawn: f64 = pools
                .iter()
                .map(|p| p.power_busy_w * f64::from(p.nodes))
                .sum();
            notes.push(format!(
                "site power: every node at busy power at once must fit under {} W; this fleet draws at most {} W",
                format_int(cap_w),
                format_int(drawn)
            ));
        }
        notes.push(format!(
            "energy: busy W × busy h + idle W × idle h, at {}/kWh over {} h/month; amortization: price ÷ {} months; owned nodes carry no capex",
            format_usd(self.assumptions.electricity_usd_per_kwh),
            trim_float(self.assumptions.hours_per_month),
            trim_float(self.assumptions.amortization_months)
        ));
        for pool in &pools {
            if let Some(note) = &pool.offload_note {
                notes.push(format!("{} {}: {note}", pool.sku, pool.quant));
            }
        }
        if self.request.trust_published {
            notes.push("trust published: benchmark figures the physics finds implausible or impossible are planned on as published (--trust-published)".into());
        } else {
            for dropped in self
                .throughput
                .dropped
                .iter()
                .filter(|d| self.models.contains(&d.model.as_str()))
            {
                notes.push(format!(
                    "physics: {} {} {}: {}",
                    dropped.sku, dropped.model, dropped.quant, dropped.reason
                ));
            }
        }
        let used_skus: Vec<&str> = pools.iter().map(|p| p.sku.as_str()).collect();
        for assumption in self.catalog.assumptions() {
            let relevant = used_skus.iter().any(|sku| {
                assumption.contains(&format!(" {sku} ")) || assumption.contains(&format!(" {sku}/"))
            });
            if relevant {
                notes.push(format!("assumed: {assumption}"));
            }
        }
        let mut plan = Plan {
            catalog_version: self.catalog.version.clone(),
            throughput_version: self.throughput.version.clone(),
            throughput_source: self.throughput.describe(),
            model: {
                let mut models: Vec<&str> = self.models.clone();
                models.sort_unstable();
                models.dedup();
                models.join(", ")
            },
            assumptions: self.assumptions,
            api: self.api.map(|a| ApiTerms {
                id: a.id.clone(),
                input_usd_per_million: a.input_usd_per_million,
                output_usd_per_million: a.output_usd_per_million,
                ttft_p95_ms: a.ttft_p95_ms,
            }),
            workloads: self.workloads.to_vec(),
            constraints: self.request.constraints.clone(),
            pools,
            routes,
            cost,
            break_even,
            baselines,
            solver: SolverReport {
                backend: optimum.backend.clone(),
                status: optimum.status,
                objective_usd: optimum.objective_usd,
                gap: optimum.gap,
                solve_ms: optimum.solve_ms,
                total_solve_ms,
                variables: optimum.variables,
                integer_variables: optimum.integer_variables,
                constraints: optimum.constraints,
                binding,
                options_kept: optimum.options_kept,
                workload_groups: self.groups.len(),
                hour_buckets: self.buckets.len(),
                decomposition: optimum.decomposition.clone(),
            },
            notes,
            schedule,
            trust_published: self.request.trust_published,
            latency: Default::default(),
        };
        plan.latency = crate::latency::report(&plan);
        for warning in &plan.latency.warnings {
            plan.notes.push(format!("latency warning: {warning}"));
        }
        plan
    }
}

/// Returns when the optimum's capex pays back against sending everything to the API.
fn break_even(cost: &CostBreakdown, all_api_usd: Option<f64>) -> BreakEven {
    let Some(all_api) = all_api_usd else {
        return BreakEven {
            month: None,
            monthly_operating_savings_usd: None,
            text: "n/a: all-API is not an option (local-only work)".into(),
        };
    };
    if cost.capex_usd <= 0.0 {
        return BreakEven {
            month: None,
            monthly_operating_savings_usd: None,
            text: "n/a: no new hardware".into(),
        };
    }
    let savings = all_api - (cost.energy_usd + cost.api_usd);
    if savings <= 0.0 {
        return BreakEven {
            month: None,
            monthly_operating_savings_usd: Some(savings),
            text: format!(
                "never: energy + API ({}) already exceed all-API ({})",
                format_usd(cost.energy_usd + cost.api_usd),
                format_usd(all_api)
            ),
        };
    }
    let months = cost.capex_usd / savings;
    let month = months.ceil().max(1.0) as u32;
    BreakEven {
        month: Some(month),
        monthly_operating_savings_usd: Some(savings),
        text: format!(
            "month {month}: capex {} ÷ ({} all-API − {} energy and API) = {:.1} months",
            format_usd(cost.capex_usd),
            format_usd(all_api),
            format_usd(cost.energy_usd + cost.api_usd),
            months
        ),
    }
}

/// Formats a float without trailing zeros: `12.0` → `12`, `12.50` → `12.5`.
pub(crate) fn trim_float(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
