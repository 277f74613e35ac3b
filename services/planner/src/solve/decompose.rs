//! Large models, solved exactly by pricing options instead of modelling them all.
//!
//! An hourly model with distinct hours has a token column for every (group, option, bucket):
//! tens of thousands of columns, of which the optimum uses a handful, since a plan buys few
//! pools. The planner therefore:
//!
//! 1. **solves the LP relaxation by column generation over options**: the relaxation over a few
//!    options (each group's two cheapest to start), block by block with the interior-point solver
//!    ([`crate::interior_point`]), whose duals price every option left out; options whose node
//!    column has a negative reduced cost join, until none has;
//! 2. **bounds every plan**: from those duals, the Lagrangian
//!    `L = Σ rhs·y + Σ_columns upper·min(0, reduced cost)` is a lower bound on every plan, for
//!    *any* duals (columns get finite bounds that hold in an optimal plan), so an inexact LP
//!    solve can only weaken it. A plan that buys a node of option `o` costs at least
//!    `L + max(0, reduced cost of n_o)`;
//! 3. **solves the MIP over the options that bound cannot rule out**, with the configured
//!    backend, and adds any option whose bound falls below the plan's cost less the gap target
//!    before re-solving (reduced-cost fixing: exact, options are dropped only when no plan that
//!    uses them can be cheaper by more than the gap).
//!
//! The plan's gap is measured against the smaller of the MIP's own bound and the bound of every
//! option left out, so it is a gap to the whole model's optimum.
//!
//! Infeasibility is only ever proved, never inferred from a restricted option set: the model is
//! infeasible where the Lagrangian bound of the relaxation's duals exceeds what any plan within
//! the columns' bounds can cost (the relaxation then needs its elastic columns, unserved demand
//! at a prohibitive price, and no option can take their place). A relaxation that needs them
//! without that proof, one the interior-point solver cannot solve or returns broken (non-finite)
//! numbers for, falls back to the direct solve of the whole model; a MIP over the kept options
//! that has no plan (a group none of them can serve, or fleet limits they cannot meet) widens to
//! every option.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::interior_point::{self, LinearProgram, LpFailure, Sense};
use crate::plan::DecompositionReport;
use crate::units::{format_int, format_usd};

use super::formulation::{Con, Model, Var};
use super::{MIN_SOLVE_S, MipSolution, Problem, SolveFailure, SolveSettings};

/// When a solve decomposes its model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decomposition {
    /// Models with at least 6,000 token columns over at least 6 options (hour-by-hour models
    /// whose hours do not merge).
    #[default]
    Auto,
    /// Always solve the whole model at once.
    Never,
    /// Decompose every model (tests compare both ways).
    Always,
}

/// Token columns from which [`Decomposition::Auto`] decomposes.
pub(crate) const AUTO_LOCAL_COLUMNS: usize = 6_000;
/// Options from which [`Decomposition::Auto`] decomposes: with fewer, the MIP over them all is
/// what the decomposition would solve anyway.
pub(crate) const AUTO_OPTIONS: usize = 6;

/// Options each group brings to the first relaxation: its cheapest per Mtok at the cap.
const FIRST_PER_GROUP: usize = 2;
/// Options that join the relaxation per pricing round, at most.
const JOIN_PER_ROUND: usize = 8;
/// Pricing rounds before the relaxation's bound is taken as it stands.
const MAX_ROUNDS: usize = 40;
/// Nodes above which the relaxation counts an option as used (an interior-point solution leaves
/// every column a hair above zero).
const USED_NODES: f64 = 1e-3;
/// A typical gap between the LP relaxation and the MIP, as a share of the bound.
const FIRST_MIP_SLACK: f64 = 1e-3;

impl DecompositionReport {
    /// The plan's note: how the bound on every plan was found, and the gap to it.
    pub(crate) fn note(&self, objective_usd: f64, mip_variables: usize) -> String {
        format!(
            "solve: decomposed; the LP relaxation of the whole {}-variable model over {} options was solved by pricing options ({} of them priced in {} round{}, {} interior-point iterations) and bounds every plan at {}; an option was left out of the MIP only where that bound plus its reduced cost (the least a node of it adds) reaches this plan's cost less the gap; the MIP over the {} options left ({} variables{}) gives {}, {:.4}% above {}, a lower bound on every plan of the whole model{}",
            format_int(self.variables as f64),
            self.options,
            self.priced_options,
            self.pricing_rounds,
            if self.pricing_rounds == 1 { "" } else { "s" },
            self.interior_point_iterations,
            format_usd(self.lp_bound_usd),
            self.mip_options,
            format_int(mip_variables as f64),
            if self.mip_solves > 1 {
                format!(", solved {} times as options joined", self.mip_solves)
            } else {
                String::new()
            },
            format_usd(objective_usd),
            (objective_usd - self.bound_usd) / objective_usd.abs().max(1e-9) * 100.0,
            format_usd(self.bound_usd),
            match &self.closest_left_out {
                Some((option, reduced)) => format!(
                    "; the closest option left out, {option}, adds at least {} a node: {} + {} = {}",
                    format_usd(*reduced),
                    format_usd(self.lp_bound_usd),
                    format_usd(*reduced),
                    format_usd(self.lp_bound_usd + reduced)
                ),
                None => String::new(),
            }
        )
    }
}

/// Whether `model` is worth decomposing under `mode`.
pub(super) fn worth_it(model: &Model, mode: Decomposition) -> bool {
    let options = model.nodes.iter().flatten().count();
    match mode {
        Decomposition::Never => false,
        Decomposition::Always => options > 0,
        Decomposition::Auto => {
            let local = model
                .columns
                .iter()
                .filter(|c| matches!(c.var, Var::Local { .. }))
                .count();
            options >= AUTO_OPTIONS && local >= AUTO_LOCAL_COLUMNS
        }
    }
}

/// The relaxation over some options, as the interior-point solver takes it.
struct Relaxation {
    lp: LinearProgram,
    /// Full-model row of each LP row.
    rows: Vec<usize>,
    /// Full-model column of each LP column (`None`: an elastic column).
    columns: Vec<Option<usize>>,
}

/// Each column's rows: the model's transpose.
fn column_rows(model: &Model) -> Vec<Vec<(usize, f64)>> {
    let mut rows = vec![Vec::new(); model.columns.len()];
    for (i, row) in model.rows.iter().enumerate() {
        for &(j, a) in &row.terms {
            rows[j].push((i, a));
        }
    }
    rows
}

/// The LP relaxation of `model` over the options in `priced` (and every column that belongs to
/// no option), with an elastic column at `penalty` $/Mtok in each demand row the API cannot
/// serve, so that it is feasible whatever options it lacks.
fn relaxation(model: &Model, priced: &[bool], penalty: f64) -> Relaxation {
    let included = |j: usize| model.option_of(j).is_none_or(|c| priced[c]);
    let mut lp = LinearProgram::default();
    let mut row_of = vec![None; model.rows.len()];
    let mut rows = Vec::new();
    for (i, row) in model.rows.iter().enumerate() {
        if row.terms.iter().any(|&(j, _)| included(j)) || matches!(row.con, Con::Demand { .. }) {
            row_of[i] = Some(lp.add_row(row.sense, row.rhs, row.bucket()));
            rows.push(i);
        }
    }
    let transpose = column_rows(model);
    let mut columns = Vec::new();
    for (j, column) in model.columns.iter().enumerate() {
        if !included(j) {
            continue;
        }
        let entries = transpose[j]
            .iter()
            .filter_map(|&(i, a)| row_of[i].map(|r| (r, a)))
            .collect();
        lp.add_column(column.cost, column.upper, entries);
        columns.push(Some(j));
    }
    for (i, row) in model.rows.iter().enumerate() {
        if let Con::Demand { g, t } = row.con
            && model.api[g][t].is_none()
            && let Some(r) = row_of[i]
        {
            lp.add_column(penalty, f64::INFINITY, vec![(r, 1.0)]);
            columns.push(None);
        }
    }
    Relaxation { lp, rows, columns }
}

/// A price per Mtok above anything serving demand can cost: the dearest token column's busy
/// energy plus a whole node bought for its share of one bucket, or the API, ten times over.
pub(super) fn elastic_penalty(model: &Model) -> f64 {
    let mut most: f64 = 1.0;
    for row in &model.rows {
        let Con::Capacity { c, .. } = row.con else {
            continue;
        };
        let Some(n) = model.nodes[c] else { continue };
        // The node column's coefficient is −node-hours; token columns' are node-hours per Mtok.
        let hours = row
            .terms
            .iter()
            .find(|&&(j, _)| j == n)
            .map_or(1.0, |&(_, a)| -a)
            .max(1e-9);
        for &(j, a) in &row.terms {
            if matches!(model.columns[j].var, Var::Local { .. }) {
                most = most.max(model.columns[j].cost + model.columns[n].cost * a / hours);
            }
        }
    }
    for column in &model.columns {
        if let Var::Api { .. } = column.var {
            most = most.max(column.cost);
        }
    }
    10.0 * most
}

/// One capacity row of an option, for completing its duals: node-hours per node, and per token
/// column its cost net of every dual but the option's own, node-hours per Mtok, and whether it
/// is critical work.
type CapacityRow = (f64, Vec<(f64, f64, bool)>);

/// Sets the capacity and N+1 duals of every option from the other duals (demand, deferral,
/// fleet limits), for the best bound and the largest reduced costs: an interior-point solve
/// leaves capacity prices strictly inside the optimal face, and rows the relaxation left out
/// have none.
///
/// For an option with `N` node-hours in bucket `t`, capacity price `λ_t` and N+1 price `μ`, its
/// token columns price at or above zero when `λ_t ≥ λ_t(μ)`, the largest shortfall of a token's
/// value over its cost per node-hour (`μ` counts for critical work). The option's node column
/// then has reduced cost `F − Σ_t N_t·λ_t` and its spare flag `Σ_t N_t·λ_t − M·μ`, where `F` is
/// its fixed cost net of the fleet-limit duals and `M` its N+1 coefficient. `Λ(μ) = Σ N_t·λ_t(μ)`
/// falls as `μ` rises; the bound is best, and the node's reduced cost largest, where
/// `Λ(μ) = M·μ`, found by bisection (the solver's own `μ` is kept if it bounds better). Every
/// dual gets its row's sign first.
fn complete_duals(model: &Model, transpose: &[Vec<(usize, f64)>], duals: &mut [f64]) {
    for (row, dual) in model.rows.iter().zip(duals.iter_mut()) {
        *dual = match row.sense {
            Sense::AtMost => dual.min(0.0),
            Sense::AtLeast => dual.max(0.0),
            Sense::Equal => *dual,
        };
    }
    let mut capacity_rows: Vec<Vec<usize>> = vec![Vec::new(); model.nodes.len()];
    let mut spare_row: Vec<Option<usize>> = vec![None; model.nodes.len()];
    for (i, row) in model.rows.iter().enumerate() {
        match row.con {
            Con::Capacity { c, .. } => capacity_rows[c].push(i),
            Con::Spare { c } => spare_row[c] = Some(i),
            _ => {}
        }
    }
    for (c, rows) in capacity_rows.iter().enumerate() {
        let Some(n) = model.nodes[c] else { continue };
        let option_row = |k: usize| matches!(model.rows[k].con, Con::Capacity { c: o, .. } | Con::Spare { c: o } if o == c);
        // Per capacity row: node-hours per node, and per token column its cost net of every dual
        // but this option's own, node-hours per Mtok, and whether it is critical work.
        let rows_data: Vec<CapacityRow> = rows
            .iter()
            .map(|&i| {
                let row = &model.rows[i];
                let node_hours = row
                    .terms
                    .iter()
                    .find(|&&(j, _)| j == n)
                    .map_or(0.0, |&(_, a)| -a);
                let tokens = row
                    .terms
                    .iter()
                    .filter(|&&(j, a)| a > 0.0 && matches!(model.columns[j].var, Var::Local { .. }))
                    .map(|&(j, a)| {
                        let others: f64 = transpose[j]
                            .iter()
                            .filter(|&&(k, _)| !option_row(k))
                            .map(|&(k, b)| b * duals[k])
                            .sum();
                        let critical =
                            spare_row[c].is_some_and(|k| transpose[j].iter().any(|&(r, _)| r == k));
                        (model.columns[j].cost - others, a, critical)
                    })
                    .collect();
                (node_hours, tokens)
            })
            .collect();
        let prices = |mu: f64| -> Vec<f64> {
            rows_data
                .iter()
                .map(|(_, tokens)| {
                    tokens
                        .iter()
                        .map(|&(net, a, critical)| -(net + if critical { mu } else { 0.0 }) / a)
                        .fold(0.0, f64::max)
                })
                .collect()
        };
        let worth = |lambdas: &[f64]| -> f64 {
            rows_data
                .iter()
                .zip(lambdas)
                .map(|((hours, _), l)| hours * l)
                .sum()
        };
        let fixed = model.columns[n].cost
            - transpose[n]
                .iter()
                .filter(|&&(k, _)| !option_row(k))
                .map(|&(k, b)| b * duals[k])
                .sum::<f64>();
        let upper = model.columns[n].upper;
        let (mu, lambdas, extra) = match spare_row[c].zip(model.spare[c]) {
            None => (0.0, prices(0.0), 0.0),
            Some((k, s)) => {
                let m = model.rows[k]
                    .terms
                    .iter()
                    .find(|&&(j, _)| j == s)
                    .map_or(0.0, |&(_, a)| -a);
                // The bound's terms of this option for a given μ: node and spare flag.
                let settle = |mu: f64| {
                    let lambdas = prices(mu);
                    let least = worth(&lambdas);
                    let sum = least.max((m * mu).min(fixed));
                    let value = upper * (fixed - sum).min(0.0) + (sum - m * mu).min(0.0);
                    (value, sum, lambdas, sum - least)
                };
                let (mut lo, mut hi) = (0.0, worth(&prices(0.0)) / m.max(1e-300));
                for _ in 0..60 {
                    let mid = 0.5 * (lo + hi);
                    if worth(&prices(mid)) > m * mid {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let balanced = settle(hi);
                let own_mu = -duals[k];
                let own = settle(own_mu);
                if own.0 > balanced.0 + 1e-12 * balanced.0.abs().max(1.0) {
                    (own_mu, own.2, own.3)
                } else {
                    (hi, balanced.2, balanced.3)
                }
            }
        };
        for (index, (&i, lambda)) in rows.iter().zip(&lambdas).enumerate() {
            // Any worth the N+1 row asks for beyond the least prices goes on the first row.
            let top_up = if index == 0 && rows_data[0].0 > 0.0 {
                extra / rows_data[0].0
            } else {
                0.0
            };
            duals[i] = -(lambda + top_up);
        }
        if let Some(k) = spare_row[c] {
            duals[k] = -mu;
        }
    }
}

/// The Lagrangian bound of `duals` (signed as their rows ask) and every column's reduced cost.
fn lagrangian(model: &Model, transpose: &[Vec<(usize, f64)>], duals: &[f64]) -> (f64, Vec<f64>) {
    let mut bound: f64 = model.rows.iter().zip(duals).map(|(r, y)| r.rhs * y).sum();
    let reduced: Vec<f64> = model
        .columns
        .iter()
        .zip(transpose)
        .map(|(column, rows)| column.cost - rows.iter().map(|&(i, a)| a * duals[i]).sum::<f64>())
        .collect();
    for (column, &r) in model.columns.iter().zip(&reduced) {
        if r < 0.0 {
            let upper = if column.upper.is_finite() {
                column.upper
            } else {
                column.implied_upper
            };
            bound += r * upper;
        }
    }
    (bound, reduced)
}

/// What the relaxation's pricing ended with.
struct Priced {
    /// Options the relaxation was solved over.
    priced: Vec<bool>,
    /// Options with nodes in the relaxation's solution.
    used: Vec<bool>,
    bound: f64,
    /// Reduced cost of each option's node column (`f64::INFINITY` for options not modelled).
    option_reduced: Vec<f64>,
    rounds: usize,
    iterations: usize,
}

/// Why the relaxation could not be priced.
enum PricingFailure {
    TimeLimit,
    /// Proved: the Lagrangian bound exceeds [`plan_ceiling`], so the whole model has no plan.
    Infeasible,
    /// The interior-point solver found the relaxation malformed or returned non-finite numbers,
    /// or the relaxation needed its elastic columns without proving infeasibility: the direct
    /// solve of the whole model decides.
    Unsettled,
}

/// The most a plan of `model` within its columns' bounds can cost (some optimal plan, if there
/// is one, lies within them), and the floating-point noise to allow in comparing a Lagrangian
/// bound of `duals` with it.
fn plan_ceiling(model: &Model, transpose: &[Vec<(usize, f64)>], duals: &[f64]) -> (f64, f64) {
    let mut ceiling = 0.0;
    let mut noise: f64 = model
        .rows
        .iter()
        .zip(duals)
        .map(|(r, y)| (r.rhs * y).abs())
        .sum();
    for (column, rows) in model.columns.iter().zip(transpose) {
        let upper = if column.upper.is_finite() {
            column.upper
        } else {
            column.implied_upper
        };
        ceiling += column.cost.max(0.0) * upper;
        noise += upper
            * (column.cost.abs() + rows.iter().map(|&(i, a)| (a * duals[i]).abs()).sum::<f64>());
    }
    (ceiling, 1e-9 * noise)
}

/// Column generation over options: see the module docs, step 1.
fn price(
    problem: &Problem,
    model: &Model,
    transpose: &[Vec<(usize, f64)>],
    deadline: Option<Instant>,
) -> Result<Priced, PricingFailure> {
    let candidates = problem.candidates.len();
    let modelled: Vec<bool> = model.nodes.iter().map(Option::is_some).collect();
    // Start with each group's cheapest options per Mtok on a node busy to its cap.
    let mut priced = vec![false; candidates];
    for group in &problem.groups {
        let mut cheapest: Vec<(usize, f64)> = (0..candidates)
            .filter(|&c| modelled[c])
            .filter_map(|c| {
                problem
                    .local_usd_per_mtok_at_cap(group.rep, c)
                    .map(|usd| (c, usd))
            })
            .collect();
        cheapest.sort_by(|a, b| a.1.total_cmp(&b.1));
        for &(c, _) in cheapest.iter().take(FIRST_PER_GROUP) {
            priced[c] = true;
        }
    }
    let mut penalty = elastic_penalty(model);
    let total_demand: f64 = problem.groups.iter().map(|g| g.total_mtok).sum();
    let mut rounds = 0;
    let mut iterations = 0;
    loop {
        rounds += 1;
        let relaxed = relaxation(model, &priced, penalty);
        let solution = match interior_point::solve(&relaxed.lp, deadline) {
            Ok(solution) => solution,
            Err(LpFailure::TimeLimit) => return Err(PricingFailure::TimeLimit),
            Err(LpFailure::Infeasible(_)) => return Err(PricingFailure::Unsettled),
        };
        // A broken solve would make every comparison below false: a NaN bound keeps no option.
        if !solution
            .x
            .iter()
            .chain(&solution.duals)
            .all(|v| v.is_finite())
        {
            return Err(PricingFailure::Unsettled);
        }
        iterations += solution.iterations;
        let mut duals = vec![0.0; model.rows.len()];
        for (r, &i) in relaxed.rows.iter().enumerate() {
            duals[i] = solution.duals[r];
        }
        complete_duals(model, transpose, &mut duals);
        let (bound, reduced) = lagrangian(model, transpose, &duals);
        if !bound.is_finite() {
            return Err(PricingFailure::Unsettled);
        }
        let elastic: f64 = relaxed
            .columns
            .iter()
            .zip(&solution.x)
            .filter(|(c, _)| c.is_none())
            .map(|(_, x)| x)
            .sum();
        let option_reduced: Vec<f64> = model
            .nodes
            .iter()
            .map(|n| n.map_or(f64::INFINITY, |n| reduced[n]))
            .collect();
        let tolerance = 1e-9 * bound.abs().max(1.0);
        let mut joining: Vec<usize> = (0..candidates)
            .filter(|&c| modelled[c] && !priced[c] && option_reduced[c] < -tolerance)
            .collect();
        joining.sort_by(|&a, &b| option_reduced[a].total_cmp(&option_reduced[b]));
        joining.truncate(JOIN_PER_ROUND);
        if joining.is_empty() || rounds >= MAX_ROUNDS {
            if elastic > 1e-7 * total_demand.max(1.0) {
                // Either no option can serve the demand, or the penalty was too low to say. Only
                // a bound above every plan's cost proves the first; a relaxation over some
                // options that needs its elastic columns proves nothing about the whole model.
                let (ceiling, noise) = plan_ceiling(model, transpose, &duals);
                if bound > ceiling + noise {
                    return Err(PricingFailure::Infeasible);
                }
                if penalty < 1e9 {
                    penalty *= 1e3;
                    continue;
                }
                return Err(PricingFailure::Unsettled);
            }
            let used = (0..candidates)
                .map(|c| {
                    model.nodes[c].is_some_and(|n| {
                        relaxed
                            .columns
                            .iter()
                            .position(|&k| k == Some(n))
                            .is_some_and(|k| solution.x[k] > USED_NODES)
                    })
                })
                .collect();
            return Ok(Priced {
                priced,
                used,
                bound,
                option_reduced,
                rounds,
                iterations,
            });
        }
        for c in joining {
            priced[c] = true;
        }
    }
}

/// Solves `model` decomposed: see the module docs.
pub(super) fn solve(
    problem: &Problem,
    model: &Model,
    api_allowed: bool,
    settings: SolveSettings,
    deadline: Option<Instant>,
) -> Result<MipSolution, SolveFailure> {
    let started = Instant::now();
    // The relaxation runs under the same limit as the MIP: the earlier of the settings' limit
    // and the deadline.
    let limit = settings
        .time_limit_s
        .map(|l| started + std::time::Duration::from_secs_f64(l.max(0.0)));
    let lp_deadline = match (limit, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let transpose = column_rows(model);
    let priced = match price(problem, model, &transpose, lp_deadline) {
        Ok(priced) => priced,
        Err(PricingFailure::TimeLimit) => {
            return Err(SolveFailure::TimeLimit(format!(
                "{} variables, {} integer, {} hour buckets after merging identical hours; its LP relaxation over {} options did not finish",
                model.columns.len(),
                model.integer_variables,
                problem.buckets.len(),
                model.nodes.iter().flatten().count()
            )));
        }
        Err(PricingFailure::Infeasible) => return Err(SolveFailure::Infeasible),
        Err(PricingFailure::Unsettled) => return problem.solve_model(model, settings, deadline),
    };
    let lp_ms = started.elapsed().as_secs_f64() * 1_000.0;
    let gap_target = settings.mip_gap.map_or(0.0, f64::from).max(0.0);
    let bound = priced.bound;
    let modelled: Vec<bool> = model.nodes.iter().map(Option::is_some).collect();
    // The first MIP takes every option whose reduced cost is within the gap target or a
    // typical relaxation gap of the bound, whichever is larger: a plan rarely needs one further
    // out, and the options it leaves out then bound every plan well above the plan's cost.
    let slack = gap_target.max(FIRST_MIP_SLACK) * bound.abs();
    let mut in_mip: Vec<bool> = (0..modelled.len())
        .map(|c| modelled[c] && (priced.used[c] || priced.option_reduced[c] <= slack))
        .collect();
    let mut mip_solves = 0;
    loop {
        mip_solves += 1;
        if deadline.is_some_and(|d| {
            d.saturating_duration_since(Instant::now()).as_secs_f64() < MIN_SOLVE_S
        }) {
            return Err(SolveFailure::TimeLimit(format!(
                "{} variables, {} integer, {} hour buckets after merging identical hours; no time was left for the MIP after its LP relaxation",
                model.columns.len(),
                model.integer_variables,
                problem.buckets.len()
            )));
        }
        let restricted_everything = in_mip.iter().zip(&modelled).all(|(a, b)| a == b);
        // A MIP over fewer options than the model's that has no plan proves nothing about the
        // whole model (a group none of the kept options can serve, fleet limits they cannot
        // meet): widen to every option, whose MIP is the whole model's and decides.
        let restricted = match problem.build_model(&in_mip, api_allowed) {
            Ok(restricted) => restricted,
            Err(SolveFailure::Infeasible) if !restricted_everything => {
                in_mip.clone_from(&modelled);
                continue;
            }
            Err(failure) => return Err(failure),
        };
        let left = limit.map(|l| l.saturating_duration_since(Instant::now()).as_secs_f64());
        let mip_settings = SolveSettings {
            time_limit_s: left,
            ..settings
        };
        let mut solution = match problem.solve_model(&restricted, mip_settings, deadline) {
            Ok(solution) => solution,
            Err(SolveFailure::Infeasible) if !restricted_everything => {
                in_mip.clone_from(&modelled);
                continue;
            }
            Err(failure) => return Err(failure),
        };
        let upper = solution.objective_usd;
        let mip_bound = upper - solution.gap * upper.abs();
        let threshold = upper * (1.0 - gap_target) - 1e-9 * upper.abs().max(1.0);
        let left_out = (0..modelled.len()).filter(|&c| modelled[c] && !in_mip[c]);
        let violators: Vec<usize> = left_out
            .clone()
            .filter(|&c| bound + priced.option_reduced[c].max(0.0) < threshold)
            .collect();
        if !violators.is_empty() && solution.status != "time_limit" {
            for c in violators {
                in_mip[c] = true;
            }
            continue;
        }
        let left_out_bound = left_out
            .map(|c| bound + priced.option_reduced[c].max(0.0))
            .fold(f64::INFINITY, f64::min);
        let whole_bound = mip_bound.min(left_out_bound);
        let gap = ((upper - whole_bound) / upper.abs().max(1e-9)).max(0.0);
        solution.gap = gap;
        if solution.status != "time_limit" {
            solution.status = if gap <= 1e-9 { "optimal" } else { "gap_limit" }.into();
        }
        solution.solve_ms = started.elapsed().as_secs_f64() * 1_000.0;
        solution.options_kept = model.options_kept;
        solution.decomposition = Some(DecompositionReport {
            options: modelled.iter().filter(|m| **m).count(),
            variables: model.columns.len(),
            priced_options: priced.priced.iter().filter(|p| **p).count(),
            pricing_rounds: priced.rounds,
            interior_point_iterations: priced.iterations,
            lp_bound_usd: bound,
            mip_options: in_mip.iter().filter(|m| **m).count(),
            mip_solves,
            bound_usd: whole_bound,
            closest_left_out: (0..modelled.len())
                .filter(|&c| modelled[c] && !in_mip[c])
                .min_by(|&a, &b| priced.option_reduced[a].total_cmp(&priced.option_reduced[b]))
                .map(|c| (problem.option_label(c), priced.option_reduced[c])),
            lp_ms,
        });
        return Ok(solution);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, DEFAULT_CATALOG_TOML};
    use crate::demand::{DemandProfile, HourWindow, PlanRequest, Workload};
    use crate::solve::Backend;
    use crate::{ThroughputModel, TokenCount};

    /// The default catalog with the API 20× dearer, and workloads that use every kind of row:
    /// business hours, local-only and critical work (N+1), deferral into a night window, a TTFT
    /// limit, owned nodes and a node limit.
    fn fixture() -> (Catalog, PlanRequest) {
        let catalog = Catalog::from_toml_str(
            &DEFAULT_CATALOG_TOML
                .replace(
                    "input_usd_per_million = 0.0265",
                    "input_usd_per_million = 0.53",
                )
                .replace(
                    "output_usd_per_million = 0.0795",
                    "output_usd_per_million = 1.59",
                ),
        )
        .unwrap();
        let mut chat = Workload::new("chat", TokenCount(2_000_000_000));
        chat.profile = DemandProfile::BusinessHours;
        chat.ttft_p95_ms = Some(5_000.0);
        let mut private = Workload::new("private", TokenCount(600_000_000));
        private.local_only = true;
        private.critical = true;
        private.profile = DemandProfile::Weights((0..24).map(|h| 1.0 + (h % 5) as f64).collect());
        let mut batch = Workload::new("batch", TokenCount(900_000_000));
        batch.deferrable_share = 0.5;
        batch.defer_window = Some(HourWindow {
            start_hour: 22,
            end_hour: 6,
        });
        batch.profile = DemandProfile::EightHourDay;
        // The seed's figures at face value, so that every SKU is an option.
        let mut request = PlanRequest {
            workloads: vec![chat, private, batch],
            trust_published: true,
            ..Default::default()
        };
        request
            .constraints
            .owned_nodes_per_sku
            .insert("dual-rtx-4090".into(), 2);
        request
            .constraints
            .max_nodes_per_sku
            .insert("rtx-pro-6000".into(), 6);
        (catalog, request)
    }

    /// The LP relaxation's optimum by the simplex, for comparison.
    fn simplex_relaxation(model: &Model) -> f64 {
        let mut relaxed = model.clone();
        for column in &mut relaxed.columns {
            column.integer = false;
        }
        let solved = Backend::Microlp.run(&relaxed, None, None).ok().unwrap();
        relaxed.objective(&solved.values)
    }

    #[test]
    fn any_duals_bound_the_relaxation_from_below_and_the_priced_ones_reach_it() {
        let (catalog, request) = fixture();
        let throughput = ThroughputModel::from_catalog(&catalog);
        let problem = Problem::prepare(&catalog, &throughput, &request).unwrap();
        let kept = problem.kept_options(&|_| true, true);
        let model = problem.build_model(&kept, true).ok().unwrap();
        assert!(
            model
                .rows
                .iter()
                .any(|r| matches!(r.con, Con::Spare { .. }))
        );
        assert!(
            model
                .rows
                .iter()
                .any(|r| matches!(r.con, Con::Deferral { .. }))
        );
        assert!(
            model
                .rows
                .iter()
                .any(|r| matches!(r.con, Con::Owned { .. }))
        );
        let optimum = simplex_relaxation(&model);
        let transpose = column_rows(&model);
        let tolerance = 1e-7 * optimum.abs().max(1.0);
        // Arbitrary duals, completed: never above the optimum.
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let mut duals: Vec<f64> = model.rows.iter().map(|_| next() * 4.0 - 1.0).collect();
            complete_duals(&model, &transpose, &mut duals);
            let (bound, _) = lagrangian(&model, &transpose, &duals);
            assert!(
                bound <= optimum + tolerance,
                "bound {bound} above {optimum}"
            );
        }
        // The priced relaxation's duals reach it.
        let priced = price(&problem, &model, &transpose, None).ok().unwrap();
        assert!(
            (priced.bound - optimum).abs() <= 1e-6 * optimum.abs().max(1.0),
            "priced bound {} vs simplex {optimum}",
            priced.bound
        );
        // And no option it left out could lower the relaxation.
        for (c, &reduced) in priced.option_reduced.iter().enumerate() {
            if model.nodes[c].is_some() && !priced.priced[c] {
                assert!(
                    reduced >= -1e-6 * optimum.abs().max(1.0),
                    "option {c}: {reduced}"
                );
            }
        }
    }

    #[test]
    fn only_a_bound_above_every_plans_cost_proves_the_model_infeasible() {
        let (catalog, mut request) = fixture();
        let throughput = ThroughputModel::from_catalog(&catalog);
        // Feasible: no duals bound it above the most a plan within the columns' bounds costs.
        let problem = Problem::prepare(&catalog, &throughput, &request).unwrap();
        let kept = problem.kept_options(&|_| true, true);
        let model = problem.build_model(&kept, true).ok().unwrap();
        let transpose = column_rows(&model);
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for scale in [1.0, 1e3, 1e9] {
            for _ in 0..50 {
                let mut duals: Vec<f64> = model
                    .rows
                    .iter()
                    .map(|_| scale * (next() * 4.0 - 1.0))
                    .collect();
                complete_duals(&model, &transpose, &mut duals);
                let (bound, _) = lagrangian(&model, &transpose, &duals);
                let (ceiling, noise) = plan_ceiling(&model, &transpose, &duals);
                assert!(bound <= ceiling + noise, "{bound} > {ceiling} + {noise}");
            }
        }
        // Infeasible (the local-only work cannot run under 100 W): the pricing proves it, and
        // the decomposed solve says so.
        request.constraints.site_power_cap_w = Some(100.0);
        let problem = Problem::prepare(&catalog, &throughput, &request).unwrap();
        let model = problem.build_model(&kept, true).ok().unwrap();
        let transpose = column_rows(&model);
        assert!(matches!(
            price(&problem, &model, &transpose, None),
            Err(PricingFailure::Infeasible)
        ));
        let exact = SolveSettings {
            time_limit_s: None,
            ..SolveSettings::default()
        };
        assert!(matches!(
            solve(&problem, &model, true, exact, None),
            Err(SolveFailure::Infeasible)
        ));
    }

    #[test]
    fn the_decomposed_mip_proves_the_whole_models_optimum() {
        let (catalog, request) = fixture();
        let throughput = ThroughputModel::from_catalog(&catalog);
        let problem = Problem::prepare(&catalog, &throughput, &request).unwrap();
        let kept = problem.kept_options(&|_| true, true);
        let model = problem.build_model(&kept, true).ok().unwrap();
        let exact = SolveSettings {
            time_limit_s: None,
            ..SolveSettings::default()
        };
        let whole = problem.solve_model(&model, exact, None).ok().unwrap();
        let split = solve(&problem, &model, true, exact, None).ok().unwrap();
        let tolerance = 1e-6 * whole.objective_usd.abs().max(1.0);
        assert!((split.objective_usd - whole.objective_usd).abs() <= tolerance);
        let summary = split.decomposition.expect("decomposed");
        assert!(summary.bound_usd <= whole.objective_usd + tolerance);
        assert!(summary.lp_bound_usd <= summary.bound_usd + tolerance);
        assert!(summary.mip_options <= summary.options);
        assert_eq!(split.status, "optimal");
    }
}
