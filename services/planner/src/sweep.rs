//! Sweeps: one request planned over a range of monthly demand (log-spaced) or of API price
//! factors, to answer "at what volume (or price) does each hardware tier beat the API".
//!
//! Every point is one [`propose_with`]: the optimum, the all-API cost and every single-SKU
//! fleet, as a plan has them. Between two neighbouring points where the optimum's composition
//! (its set of pools) changes, or where a single-SKU fleet goes from costing more than the API
//! to costing less, the crossing is narrowed by bisection — more plans at the geometric mean of
//! the bracket — until the bracket is within [`BREAK_EVEN_TOLERANCE`] of its lower end. Points
//! and bisections are independent plans and run on every core.
//!
//! With both ranges the sweep is a grid ([`sweep_grid`]): one demand sweep per API price
//! factor, each with its own break-evens.
//!
//! Demand is scaled as a whole: every workload keeps its share of the request's total. API
//! prices are scaled on every API offer of the catalog, input and output alike.

use std::borrow::Cow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::demand::{MAX_MONTHLY_TOKENS, PlanRequest};
use crate::error::PlanError;
use crate::plan::{BaselineKind, NOT_SOLVED, Plan};
use crate::solve::{SolveSettings, propose_with};
use crate::throughput::ThroughputModel;
use crate::units::{TokenCount, format_tokens, format_usd};

/// Fewest points a sweep may have.
pub const MIN_STEPS: u32 = 2;
/// Most points a sweep may have.
pub const MAX_STEPS: u32 = 200;
/// Time limit of a whole sweep when the caller does not set one, in seconds.
pub const DEFAULT_TIME_LIMIT_S: f64 = 300.0;
/// Most points a demand × API price grid may have (`steps` on each axis, so `steps²`).
pub const MAX_GRID_POINTS: u32 = 2_500;
/// Largest time limit a sweep may ask for, in seconds.
pub const MAX_TIME_LIMIT_S: f64 = 3_600.0;
/// Largest API price factor: beyond it every figure is an artefact of the factor.
pub const MAX_API_PRICE_SCALE: f64 = 1e6;
/// A break-even bracket is narrowed until `high ≤ low × (1 + this)`.
pub const BREAK_EVEN_TOLERANCE: f64 = 0.001;

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepAxis {
    /// Total monthly tokens of the request.
    Demand,
    /// A factor on every API offer's prices.
    ApiPriceScale,
}

impl SweepAxis {
    /// Returns a value on this axis as people read it: `1.5B` tokens or `×2.5`.
    pub fn format_value(self, value: f64) -> String {
        match self {
            SweepAxis::Demand => format_tokens(value),
            SweepAxis::ApiPriceScale => format!("×{}", trim(value)),
        }
    }

    /// Returns the axis in words, with its unit.
    pub fn label(self) -> &'static str {
        match self {
            SweepAxis::Demand => "demand (tokens/month)",
            SweepAxis::ApiPriceScale => "API price (× the catalog's)",
        }
    }
}

/// Formats a factor without trailing zeros, to at most 4 significant decimals.
fn trim(value: f64) -> String {
    let text = if value >= 100.0 {
        format!("{value:.1}")
    } else if value >= 1.0 {
        format!("{value:.3}")
    } else {
        format!("{value:.4}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// A closed range `min..=max`; `min == max` fixes the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepRange {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl SweepRange {
    /// Returns the range holding one value.
    pub fn fixed(value: f64) -> Self {
        SweepRange {
            min: value,
            max: value,
        }
    }

    /// Returns whether the range spans more than one value.
    pub fn is_range(&self) -> bool {
        self.max > self.min
    }

    /// Checks both ends are finite, within `[lowest, highest]`, and in order; the reason names
    /// the bad value, not the field.
    fn check(&self, lowest: f64, highest: f64, show: impl Fn(f64) -> String) -> Result<(), String> {
        for value in [self.min, self.max] {
            if !value.is_finite() {
                return Err(format!("{value} is not a finite number"));
            }
            if value < lowest || value > highest {
                return Err(format!(
                    "{} is outside {}..{}",
                    show(value),
                    show(lowest),
                    show(highest)
                ));
            }
        }
        if self.min > self.max {
            return Err(format!(
                "the range {}..{} is reversed: the first value must be the smaller",
                show(self.min),
                show(self.max)
            ));
        }
        Ok(())
    }

    /// Parses a demand range as people write it, `10M..20B`, or one value, `1.5B`; each end a
    /// token quantity from 1 to [`MAX_MONTHLY_TOKENS`].
    pub fn parse_demand(text: &str) -> Result<SweepRange, String> {
        let range = parse_range(text, |part| {
            part.parse::<TokenCount>()
                .map(|tokens| tokens.get() as f64)
                .map_err(|error| error.to_string())
        })?;
        range.check_demand()?;
        Ok(range)
    }

    /// Parses an API price factor range, `0.1..100`, or one factor, `100`; each end positive
    /// and at most [`MAX_API_PRICE_SCALE`].
    pub fn parse_scale(text: &str) -> Result<SweepRange, String> {
        let range = parse_range(text, |part| {
            part.parse::<f64>()
                .map_err(|_| format!("'{part}' is not a number"))
        })?;
        range.check_scale()?;
        Ok(range)
    }

    fn check_demand(&self) -> Result<(), String> {
        self.check(1.0, MAX_MONTHLY_TOKENS as f64, format_tokens)
    }

    fn check_scale(&self) -> Result<(), String> {
        if self.min <= 0.0 || self.max <= 0.0 {
            return Err(format!(
                "{} must be greater than zero",
                if self.min <= 0.0 { self.min } else { self.max }
            ));
        }
        self.check(f64::MIN_POSITIVE, MAX_API_PRICE_SCALE, trim)
    }
}

fn parse_range(
    text: &str,
    one: impl Fn(&str) -> Result<f64, String>,
) -> Result<SweepRange, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    match text.split_once("..") {
        Some((min, max)) => {
            let (min, max) = (min.trim(), max.trim());
            if min.is_empty() || max.is_empty() {
                return Err(format!("'{text}' needs both ends, e.g. 10M..20B"));
            }
            Ok(SweepRange {
                min: one(min)?,
                max: one(max)?,
            })
        }
        None => Ok(SweepRange::fixed(one(text)?)),
    }
}

/// What to sweep: one axis as a range, the other fixed, or both as ranges (a grid).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SweepSpec {
    /// Total monthly tokens; `None`: the request's own total.
    pub demand_tokens: Option<SweepRange>,
    /// Factor on the API offers' prices; `None`: 1.
    pub api_price_scale: Option<SweepRange>,
    /// Points on each swept axis, log-spaced from its minimum to its maximum.
    pub steps: u32,
}

impl SweepSpec {
    /// Checks the spec and returns the axis it sweeps (a grid sweeps demand at each API price
    /// factor); errors name the field (`demand_tokens`, `api_price_scale`, `steps`) and the bad
    /// value.
    pub fn validate(&self) -> Result<SweepAxis, PlanError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&self.steps) {
            return Err(PlanError::invalid(
                "steps",
                format!("must be {MIN_STEPS} to {MAX_STEPS}, got {}", self.steps),
            ));
        }
        if let Some(range) = &self.demand_tokens {
            range
                .check_demand()
                .map_err(|reason| PlanError::invalid("demand_tokens", reason))?;
        }
        if let Some(range) = &self.api_price_scale {
            range
                .check_scale()
                .map_err(|reason| PlanError::invalid("api_price_scale", reason))?;
        }
        let demand = self.demand_tokens.is_some_and(|r| r.is_range());
        let price = self.api_price_scale.is_some_and(|r| r.is_range());
        match (demand, price) {
            (true, false) => Ok(SweepAxis::Demand),
            (false, true) => Ok(SweepAxis::ApiPriceScale),
            (true, true) => {
                let points = self.steps * self.steps;
                if points > MAX_GRID_POINTS {
                    return Err(PlanError::invalid(
                        "steps",
                        format!(
                            "a demand_tokens × api_price_scale grid of {0} × {0} = {points} points is over {MAX_GRID_POINTS}: lower steps or give one of the two a single value",
                            self.steps
                        ),
                    ));
                }
                Ok(SweepAxis::Demand)
            }
            (false, false) => Err(PlanError::invalid(
                "demand_tokens",
                "nothing to sweep: give demand_tokens or api_price_scale as a range with min below max",
            )),
        }
    }

    /// Returns whether both axes are ranges: one demand sweep per API price factor.
    pub fn is_grid(&self) -> bool {
        self.demand_tokens.is_some_and(|r| r.is_range())
            && self.api_price_scale.is_some_and(|r| r.is_range())
    }

    /// Returns the swept axis's values: `steps` points, log-spaced from its minimum to its
    /// maximum (demand rounded to whole tokens).
    pub fn values(&self, axis: SweepAxis) -> Vec<f64> {
        let range = match axis {
            SweepAxis::Demand => self.demand_tokens,
            SweepAxis::ApiPriceScale => self.api_price_scale,
        }
        .unwrap_or(SweepRange::fixed(1.0));
        let steps = self.steps.max(2);
        let ratio = range.max / range.min;
        (0..steps)
            .map(|i| {
                let value = if i + 1 == steps {
                    range.max
                } else {
                    range.min * ratio.powf(f64::from(i) / f64::from(steps - 1))
                };
                match axis {
                    SweepAxis::Demand => value.round(),
                    SweepAxis::ApiPriceScale => value,
                }
            })
            .collect()
    }
}

/// Limits of one sweep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepSettings {
    /// Limits of each point's plan.
    pub solve: SolveSettings,
    /// Time limit of the whole sweep, in seconds; points not started within it are not solved.
    pub time_limit_s: f64,
    /// Threads to plan on; 0: every core.
    pub workers: usize,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            solve: SolveSettings::default(),
            time_limit_s: DEFAULT_TIME_LIMIT_S,
            workers: 0,
        }
    }
}

/// Which part of a sweep is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepPhase {
    /// The points of the grid.
    Grid,
    /// Bisections narrowing each break-even.
    BreakEvens,
}

/// How far a sweep has come: plans done of the phase's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepProgress {
    /// The running phase.
    pub phase: SweepPhase,
    /// Plans done in this phase.
    pub done: usize,
    /// Plans this phase will make at most.
    pub total: usize,
}

/// A cost the sweep compares: a baseline's outcome at one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CostOutcome {
    /// A fleet (or the API) that serves the request.
    Solved {
        /// Monthly cost.
        monthly_usd: f64,
        /// New hardware spend.
        capex_usd: f64,
        /// The fleet in words.
        fleet: String,
    },
    /// No such fleet can serve the request.
    Infeasible {
        /// Why.
        reason: String,
    },
    /// The time limit ran out first.
    NotSolved {
        /// Why.
        reason: String,
    },
}

impl CostOutcome {
    /// Returns the monthly cost, if solved.
    pub fn monthly_usd(&self) -> Option<f64> {
        match self {
            CostOutcome::Solved { monthly_usd, .. } => Some(*monthly_usd),
            _ => None,
        }
    }
}

/// The optimum at one point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedPoint {
    /// Monthly cost.
    pub total_usd: f64,
    /// Amortization of new hardware.
    pub amortization_usd: f64,
    /// Electricity.
    pub energy_usd: f64,
    /// API bill.
    pub api_usd: f64,
    /// New hardware spend.
    pub capex_usd: f64,
    /// Tokens sent to the API.
    pub tokens_api: f64,
    /// Its pools, `sku quant` (` N=…` with several slots), sorted; empty: everything to the API.
    pub composition: Vec<String>,
    /// The fleet in words.
    pub fleet: String,
}

/// The optimum at one point, or why there is none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PointOptimum {
    /// A plan.
    Planned(PlannedPoint),
    /// No fleet can serve the request.
    Infeasible {
        /// Why.
        reason: String,
    },
    /// The time limit ran out first.
    NotSolved {
        /// Why.
        reason: String,
    },
}

impl PointOptimum {
    /// Returns the plan, if there is one.
    pub fn planned(&self) -> Option<&PlannedPoint> {
        match self {
            PointOptimum::Planned(point) => Some(point),
            _ => None,
        }
    }

    /// Returns why there is no plan, if there is none.
    pub fn reason(&self) -> Option<&str> {
        match self {
            PointOptimum::Planned(_) => None,
            PointOptimum::Infeasible { reason } | PointOptimum::NotSolved { reason } => {
                Some(reason)
            }
        }
    }

    fn from_failure(outcome: CostOutcome) -> Self {
        match outcome {
            CostOutcome::NotSolved { reason } => PointOptimum::NotSolved { reason },
            CostOutcome::Infeasible { reason } => PointOptimum::Infeasible { reason },
            CostOutcome::Solved { fleet, .. } => PointOptimum::Infeasible { reason: fleet },
        }
    }
}

/// One point of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Total monthly tokens planned.
    pub demand_tokens: u64,
    /// Factor on the API prices.
    pub api_price_scale: f64,
    /// The optimum, or why there is none.
    pub optimum: PointOptimum,
    /// Every token to the API.
    pub all_api: CostOutcome,
    /// One per [`Sweep::options`], in order: every token on that SKU alone.
    pub options: Vec<CostOutcome>,
}

impl SweepPoint {
    /// Returns the point's value on `axis`.
    pub fn value(&self, axis: SweepAxis) -> f64 {
        match axis {
            SweepAxis::Demand => self.demand_tokens as f64,
            SweepAxis::ApiPriceScale => self.api_price_scale,
        }
    }

    fn composition(&self) -> Option<&[String]> {
        self.optimum.planned().map(|p| p.composition.as_slice())
    }

    /// Whether option `k` costs less than the API here; `None` when either has no cost.
    fn option_beats_api(&self, k: usize) -> Option<bool> {
        let option = self.options.get(k)?.monthly_usd()?;
        Some(option < self.all_api.monthly_usd()?)
    }
}

/// Where on the axis something changes: between `low` and `high`, best estimate `at` (their
/// geometric mean).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    /// Best estimate.
    pub at: f64,
    /// Largest value known to be before the change.
    pub low: f64,
    /// Smallest value known to be after it.
    pub high: f64,
}

/// The optimum changes which pools it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompositionChange {
    /// Where.
    pub crossing: Crossing,
    /// Pools before (empty: all to the API).
    pub from: Vec<String>,
    /// Pools after.
    pub to: Vec<String>,
}

/// How one single-SKU fleet compares with the API over the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VersusApi {
    /// It costs more than the API at the range's start and less from the crossing on.
    FirstBeatsApi {
        /// Where.
        crossing: Crossing,
    },
    /// It already costs less than the API at the range's start.
    BeatsApiFromStart,
    /// It costs more than the API at every point (or has no fleet).
    NeverBeatsApi {
        /// Its lowest cost as a multiple of the API's, where both have one.
        best_ratio: Option<f64>,
    },
    /// The API may not take the request (e.g. local-only work), so there is nothing to beat.
    NoApi {
        /// Why.
        reason: String,
    },
}

/// One single-SKU fleet against the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionVersusApi {
    /// SKU id.
    pub sku: String,
    /// The comparison.
    pub outcome: VersusApi,
}

/// A whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// What was varied.
    pub axis: SweepAxis,
    /// The spec as asked.
    pub spec: SweepSpec,
    /// Catalog version the plans were made with.
    pub catalog_version: String,
    /// Throughput model version the plans were made with.
    pub throughput_version: String,
    /// API prices at factor 1, per 1M input and output tokens, if the catalog has an offer for
    /// the request's model.
    pub api_usd_per_million: Option<(f64, f64)>,
    /// SKU ids of the single-SKU fleets, in the order of each point's `options`.
    pub options: Vec<String>,
    /// The grid, in axis order.
    pub points: Vec<SweepPoint>,
    /// Where the optimum changes composition, in axis order.
    pub composition_changes: Vec<CompositionChange>,
    /// Each single-SKU fleet against the API.
    pub versus_api: Vec<OptionVersusApi>,
    /// Plans made: grid and bisections.
    pub plans: usize,
    /// Wall time of the sweep.
    pub elapsed_ms: f64,
    /// How the figures were made, for a reviewer.
    pub notes: Vec<String>,
}

/// Returns the composition label of a pool: `sku quant`, with ` N=…` for several slots.
pub fn pool_label(sku: &str, quant: &str, concurrency: u32) -> String {
    if concurrency > 1 {
        format!("{sku} {quant} N={concurrency}")
    } else {
        format!("{sku} {quant}")
    }
}

/// Returns a composition in words: its pools joined by ` + `, or `all to the API`.
pub fn composition_words(composition: &[String]) -> String {
    if composition.is_empty() {
        "all to the API".into()
    } else {
        composition.join(" + ")
    }
}

/// Plans `request` at every point of `spec` and finds the break-evens; `progress` hears about
/// each plan done. Errors: a bad spec or request (naming the field), or a solver failure.
pub fn sweep(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    spec: &SweepSpec,
    settings: SweepSettings,
    progress: &(dyn Fn(SweepProgress) + Sync),
) -> Result<Sweep, PlanError> {
    let started = Instant::now();
    let axis = spec.validate()?;
    if spec.is_grid() {
        return Err(PlanError::invalid(
            "api_price_scale",
            "a range on both axes is a grid: sweep_grid plans one demand sweep per factor",
        ));
    }
    check_time_limit(settings.time_limit_s)?;
    request.validate(catalog)?;
    let base_total: u64 = request
        .workloads
        .iter()
        .map(|w| w.monthly_tokens.get())
        .sum();
    let sweeper = Sweeper {
        catalog,
        throughput,
        request,
        axis,
        base_total,
        fixed_demand: spec
            .demand_tokens
            .map_or(base_total, |r| r.min.round() as u64),
        fixed_scale: spec.api_price_scale.map_or(1.0, |r| r.min),
        settings: settings.solve,
        deadline: started + Duration::from_secs_f64(settings.time_limit_s.min(MAX_TIME_LIMIT_S)),
        limit_s: settings.time_limit_s.min(MAX_TIME_LIMIT_S),
        plans: AtomicUsize::new(0),
    };
    // Both ends must be valid requests (the scaled demand within every limit).
    let values = spec.values(axis);
    for value in [values[0], values[values.len() - 1]] {
        let (demand, _) = sweeper.coordinates(value);
        sweeper.request_at(demand).validate(catalog)?;
    }
    let workers = match settings.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };

    let done = AtomicUsize::new(0);
    let grid_total = values.len();
    let points = parallel_map(values.len(), workers, |i| {
        let point = sweeper.point(values[i]);
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(SweepProgress {
            phase: SweepPhase::Grid,
            done,
            total: grid_total,
        });
        point
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;

    let mut options: Vec<String> = Vec::new();
    for point in &points {
        for (sku, _) in &point.1 {
            if !options.contains(sku) {
                options.push(sku.clone());
            }
        }
    }
    let points: Vec<SweepPoint> = points
        .into_iter()
        .map(|(point, by_sku)| sweeper.align(point, by_sku, &options))
        .collect();

    // The brackets to narrow: composition changes, then each option's first win over the API.
    let mut jobs: Vec<Bisection> = Vec::new();
    for pair in points.windows(2) {
        if let (Some(a), Some(b)) = (pair[0].composition(), pair[1].composition())
            && a != b
        {
            jobs.push(Bisection {
                low: pair[0].value(axis),
                high: pair[1].value(axis),
                target: Target::Composition(a.to_vec()),
                after: b.to_vec(),
            });
        }
    }
    let mut versus_api: Vec<Option<VersusApi>> = Vec::with_capacity(options.len());
    for (k, sku) in options.iter().enumerate() {
        let no_api = points.iter().all(|p| p.all_api.monthly_usd().is_none());
        if no_api {
            let reason = points
                .iter()
                .find_map(|p| match &p.all_api {
                    CostOutcome::Infeasible { reason } | CostOutcome::NotSolved { reason } => {
                        Some(reason.clone())
                    }
                    CostOutcome::Solved { .. } => None,
                })
                .unwrap_or_else(|| "no point has an all-API cost".into());
            versus_api.push(Some(VersusApi::NoApi { reason }));
            continue;
        }
        match points
            .iter()
            .position(|p| p.option_beats_api(k) == Some(true))
        {
            Some(0) => versus_api.push(Some(VersusApi::BeatsApiFromStart)),
            Some(i) => {
                versus_api.push(None);
                jobs.push(Bisection {
                    low: points[i - 1].value(axis),
                    high: points[i].value(axis),
                    target: Target::BeatsApi(sku.clone()),
                    after: Vec::new(),
                });
            }
            None => {
                let best_ratio = points
                    .iter()
                    .filter_map(|p| {
                        Some(p.options.get(k)?.monthly_usd()? / p.all_api.monthly_usd()?)
                    })
                    .filter(|ratio| ratio.is_finite())
                    .min_by(f64::total_cmp);
                versus_api.push(Some(VersusApi::NeverBeatsApi { best_ratio }));
            }
        }
    }

    let bisection_total: usize = jobs
        .iter()
        .map(|j| bisection_steps(axis, j.low, j.high))
        .sum();
    let done = AtomicUsize::new(0);
    let tick = || {
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(SweepProgress {
            phase: SweepPhase::BreakEvens,
            done,
            total: bisection_total,
        });
    };
    let narrowed = parallel_map(jobs.len(), workers, |j| sweeper.narrow(&jobs[j], &tick))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;

    let mut composition_changes = Vec::new();
    for (job, (crossing, after)) in jobs.iter().zip(narrowed) {
        match &job.target {
            Target::Composition(from) => composition_changes.push(CompositionChange {
                crossing,
                from: from.clone(),
                to: after,
            }),
            Target::BeatsApi(sku) => {
                if let Some(k) = options.iter().position(|o| o == sku) {
                    versus_api[k] = Some(VersusApi::FirstBeatsApi { crossing });
                }
            }
        }
    }
    let versus_api = options
        .iter()
        .zip(versus_api)
        .map(|(sku, outcome)| OptionVersusApi {
            sku: sku.clone(),
            outcome: outcome.expect("every option was compared"),
        })
        .collect();

    let model = request
        .workloads
        .first()
        .map(|w| w.model_id(catalog).to_string())
        .unwrap_or_default();
    let api_usd_per_million = catalog
        .api_for(&model)
        .map(|api| (api.input_usd_per_million, api.output_usd_per_million));
    let mut notes = Vec::new();
    if request.workloads.len() > 1 && axis == SweepAxis::Demand {
        notes.push(format!(
            "demand: every workload keeps its share of the request's {} tokens/month",
            format_tokens(base_total as f64)
        ));
    }
    if let Some((input, output)) = api_usd_per_million {
        notes.push(format!(
            "API prices at ×1: {}/1M input, {}/1M output; a factor scales both",
            format_usd(input),
            format_usd(output)
        ));
    }
    notes.push(format!(
        "break-evens: narrowed by bisection between neighbouring points to within {}% (at = geometric mean of the bracket)",
        BREAK_EVEN_TOLERANCE * 100.0
    ));
    notes.push(
        "composition: the optimum's set of local pools (sku quant N); API spill is not part of it"
            .into(),
    );
    if request.trust_published {
        notes.push("published figures trusted as asked (--trust-published), even where the physics finds them implausible or impossible".into());
    }
    Ok(Sweep {
        axis,
        spec: *spec,
        catalog_version: catalog.version.clone(),
        throughput_version: throughput.version.clone(),
        api_usd_per_million,
        options,
        points,
        composition_changes,
        versus_api,
        plans: sweeper.plans.load(Ordering::Relaxed),
        elapsed_ms: started.elapsed().as_secs_f64() * 1_000.0,
        notes,
    })
}

/// Plans a sweep ([`sweep`]), or with both axes ranges a grid: one demand sweep per API price
/// factor (`spec.steps` of them, log-spaced), in order, each with its own break-evens, all
/// within `settings.time_limit_s` together. A one-axis spec returns one sweep.
pub fn sweep_grid(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    request: &PlanRequest,
    spec: &SweepSpec,
    settings: SweepSettings,
    progress: &(dyn Fn(SweepProgress) + Sync),
) -> Result<Vec<Sweep>, PlanError> {
    spec.validate()?;
    if !spec.is_grid() {
        return sweep(catalog, throughput, request, spec, settings, progress).map(|s| vec![s]);
    }
    check_time_limit(settings.time_limit_s)?;
    let started = Instant::now();
    let limit_s = settings.time_limit_s.min(MAX_TIME_LIMIT_S);
    spec.values(SweepAxis::ApiPriceScale)
        .into_iter()
        .map(|factor| {
            let one = SweepSpec {
                api_price_scale: Some(SweepRange::fixed(factor)),
                ..*spec
            };
            // Once the time is spent, what is left runs with a sliver and is marked not solved.
            let left = (limit_s - started.elapsed().as_secs_f64()).max(1e-3);
            sweep(
                catalog,
                throughput,
                request,
                &one,
                SweepSettings {
                    time_limit_s: left,
                    ..settings
                },
                progress,
            )
        })
        .collect()
}

fn check_time_limit(time_limit_s: f64) -> Result<(), PlanError> {
    if time_limit_s.is_nan() || time_limit_s <= 0.0 {
        return Err(PlanError::invalid(
            "time_limit",
            format!("{time_limit_s} s is not a positive number of seconds"),
        ));
    }
    Ok(())
}

/// Returns how many bisection plans narrow `low..high` to the tolerance at most.
fn bisection_steps(axis: SweepAxis, low: f64, high: f64) -> usize {
    let mut steps = 0;
    let (mut low, high) = (low, high);
    while !narrow_enough(axis, low, high) && steps < 64 {
        low = midpoint(axis, low, high).unwrap_or(high);
        steps += 1;
    }
    steps
}

fn narrow_enough(axis: SweepAxis, low: f64, high: f64) -> bool {
    high <= low * (1.0 + BREAK_EVEN_TOLERANCE) || (axis == SweepAxis::Demand && high - low <= 1.0)
}

/// Returns the geometric mean of a bracket (whole tokens on the demand axis), if strictly
/// inside it.
fn midpoint(axis: SweepAxis, low: f64, high: f64) -> Option<f64> {
    let mid = (low * high).sqrt();
    let mid = match axis {
        SweepAxis::Demand => mid.round(),
        SweepAxis::ApiPriceScale => mid,
    };
    (mid > low && mid < high).then_some(mid)
}

/// What a bisection looks for.
enum Target {
    /// The first value whose optimum's composition differs from this one.
    Composition(Vec<String>),
    /// The first value where this SKU's single-SKU fleet costs less than the API.
    BeatsApi(String),
}

/// A bracket to narrow.
struct Bisection {
    low: f64,
    high: f64,
    target: Target,
    /// The composition at `high` (composition changes).
    after: Vec<String>,
}

/// A point's cost outcomes per SKU, before they are aligned to the sweep's option order.
type BySku = Vec<(String, CostOutcome)>;

struct Sweeper<'a> {
    catalog: &'a Catalog,
    throughput: &'a ThroughputModel,
    request: &'a PlanRequest,
    axis: SweepAxis,
    base_total: u64,
    fixed_demand: u64,
    fixed_scale: f64,
    settings: SolveSettings,
    deadline: Instant,
    limit_s: f64,
    plans: AtomicUsize,
}

impl Sweeper<'_> {
    /// Returns (demand, price factor) of a value on the axis.
    fn coordinates(&self, value: f64) -> (u64, f64) {
        match self.axis {
            SweepAxis::Demand => (value.round() as u64, self.fixed_scale),
            SweepAxis::ApiPriceScale => (self.fixed_demand, value),
        }
    }

    /// Returns the request with its demand scaled to `demand` tokens a month in all.
    fn request_at(&self, demand: u64) -> PlanRequest {
        let mut request = self.request.clone();
        if demand == self.base_total {
            return request;
        }
        let factor = demand as f64 / self.base_total.max(1) as f64;
        for workload in &mut request.workloads {
            let scaled = (workload.monthly_tokens.get() as f64 * factor)
                .round()
                .max(1.0);
            workload.monthly_tokens = TokenCount(scaled as u64);
        }
        request
    }

    /// Plans the request at a value of the axis.
    fn plan_at(&self, value: f64) -> Result<Result<Plan, CostOutcome>, PlanError> {
        let (demand, scale) = self.coordinates(value);
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.as_secs_f64() < 0.001 {
            return Ok(Err(CostOutcome::NotSolved {
                reason: format!(
                    "{NOT_SOLVED}: the sweep's {} s time limit ran out before this point",
                    self.limit_s
                ),
            }));
        }
        let catalog = if scale == 1.0 {
            Cow::Borrowed(self.catalog)
        } else {
            let mut scaled = self.catalog.clone();
            for api in &mut scaled.apis {
                api.input_usd_per_million *= scale;
                api.output_usd_per_million *= scale;
            }
            Cow::Owned(scaled)
        };
        let settings = SolveSettings {
            time_limit_s: Some(
                self.settings
                    .time_limit_s
                    .map_or(left.as_secs_f64(), |l| l.min(left.as_secs_f64())),
            ),
            ..self.settings
        };
        self.plans.fetch_add(1, Ordering::Relaxed);
        match propose_with(
            &catalog,
            self.throughput,
            &self.request_at(demand),
            settings,
        ) {
            Ok(plan) => Ok(Ok(plan)),
            Err(PlanError::Infeasible { reason }) => Ok(Err(CostOutcome::Infeasible { reason })),
            Err(error @ PlanError::TimeLimit { .. }) => Ok(Err(CostOutcome::NotSolved {
                reason: format!("{NOT_SOLVED}: {error}"),
            })),
            Err(other) => Err(other),
        }
    }

    /// Returns one grid point, with its single-SKU costs by SKU id.
    fn point(&self, value: f64) -> Result<(SweepPoint, BySku), PlanError> {
        let (demand_tokens, api_price_scale) = self.coordinates(value);
        let planned = self.plan_at(value)?;
        let (optimum, all_api, by_sku) = match planned {
            Ok(plan) => {
                let mut all_api = None;
                let mut by_sku = Vec::new();
                for baseline in &plan.baselines {
                    let outcome = match (baseline.monthly_usd, &baseline.infeasible_reason) {
                        (Some(monthly_usd), _) => CostOutcome::Solved {
                            monthly_usd,
                            capex_usd: baseline.capex_usd.unwrap_or(0.0),
                            fleet: baseline.fleet.clone(),
                        },
                        (None, Some(reason)) if reason.starts_with(NOT_SOLVED) => {
                            CostOutcome::NotSolved {
                                reason: reason.clone(),
                            }
                        }
                        (None, reason) => CostOutcome::Infeasible {
                            reason: reason.clone().unwrap_or_default(),
                        },
                    };
                    match baseline.kind {
                        BaselineKind::AllApi => all_api = Some(outcome),
                        BaselineKind::SingleSku => {
                            if let Some(sku) = &baseline.sku {
                                by_sku.push((sku.clone(), outcome));
                            }
                        }
                        BaselineKind::Optimum => {}
                    }
                }
                let all_api = all_api.unwrap_or(CostOutcome::Infeasible {
                    reason: "the plan has no all-API baseline".into(),
                });
                (PointOptimum::Planned(planned_point(&plan)), all_api, by_sku)
            }
            Err(outcome) => (
                PointOptimum::from_failure(outcome.clone()),
                outcome,
                Vec::new(),
            ),
        };
        Ok((
            SweepPoint {
                demand_tokens,
                api_price_scale,
                optimum,
                all_api,
                options: Vec::new(),
            },
            by_sku,
        ))
    }

    /// Orders a point's single-SKU costs as the sweep's options.
    fn align(&self, mut point: SweepPoint, by_sku: BySku, options: &[String]) -> SweepPoint {
        point.options = options
            .iter()
            .map(|sku| {
                by_sku
                    .iter()
                    .find(|(s, _)| s == sku)
                    .map(|(_, outcome)| outcome.clone())
                    .unwrap_or_else(|| match &point.optimum {
                        PointOptimum::NotSolved { reason } => CostOutcome::NotSolved {
                            reason: reason.clone(),
                        },
                        PointOptimum::Infeasible { reason } => CostOutcome::Infeasible {
                            reason: reason.clone(),
                        },
                        PointOptimum::Planned(_) => CostOutcome::Infeasible {
                            reason: format!("no single-SKU baseline for {sku} at this point"),
                        },
                    })
            })
            .collect();
        point
    }

    /// Narrows a bracket; returns the crossing and the composition just after it. A plan in
    /// the bracket without the figures to decide (infeasible, not solved) ends the narrowing.
    fn narrow(
        &self,
        job: &Bisection,
        tick: &(dyn Fn() + Sync),
    ) -> Result<(Crossing, Vec<String>), PlanError> {
        let (mut low, mut high) = (job.low, job.high);
        let mut after = job.after.clone();
        while !narrow_enough(self.axis, low, high) {
            let Some(mid) = midpoint(self.axis, low, high) else {
                break;
            };
            let (point, by_sku) = self.point(mid)?;
            tick();
            let past = match &job.target {
                Target::Composition(from) => point.composition().map(|composition| {
                    let changed = composition != from.as_slice();
                    if changed {
                        after = composition.to_vec();
                    }
                    changed
                }),
                Target::BeatsApi(sku) => by_sku
                    .iter()
                    .find(|(s, _)| s == sku)
                    .and_then(|(_, option)| option.monthly_usd())
                    .zip(point.all_api.monthly_usd())
                    .map(|(option, api)| option < api),
            };
            match past {
                Some(true) => high = mid,
                Some(false) => low = mid,
                None => break,
            }
        }
        Ok((
            Crossing {
                at: match self.axis {
                    SweepAxis::Demand => (low * high).sqrt().round(),
                    SweepAxis::ApiPriceScale => (low * high).sqrt(),
                },
                low,
                high,
            },
            after,
        ))
    }
}

/// Returns the optimum of a plan as a sweep point sees it.
fn planned_point(plan: &Plan) -> PlannedPoint {
    let mut composition: Vec<String> = plan
        .pools
        .iter()
        .map(|p| pool_label(&p.sku, &p.quant, p.concurrency))
        .collect();
    composition.sort();
    composition.dedup();
    let fleet = plan
        .baselines
        .iter()
        .find(|b| b.kind == BaselineKind::Optimum)
        .map_or_else(|| composition_words(&composition), |b| b.fleet.clone());
    PlannedPoint {
        total_usd: plan.cost.total_usd,
        amortization_usd: plan.cost.amortization_usd,
        energy_usd: plan.cost.energy_usd,
        api_usd: plan.cost.api_usd,
        capex_usd: plan.cost.capex_usd,
        tokens_api: plan.cost.tokens_api,
        composition,
        fleet,
    }
}

/// Runs `job(i)` for every `i < count` on `workers` threads; results in index order.
fn parallel_map<R: Send>(count: usize, workers: usize, job: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let workers = workers.clamp(1, count.max(1));
    if workers == 1 {
        return (0..count).map(job).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let result = job(i);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
