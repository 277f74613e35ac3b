//! The fleet MIP as data: columns and rows that say what they stand for, built once per solve.
//! A backend ([`crate::backend`]) solves it as a MIP; [`super::decompose`] hands its relaxation,
//! a block per hour bucket, to the interior-point solver and prices it.
//!
//! Columns, in this order (the order microlp sees): per option its node count `n_o` (integer)
//! and, where critical work may run, its spare flag `s_o` (binary); tokens `x_got` per group,
//! option and bucket; API tokens `a_gt`; deferred-in tokens `y_gt`; new nodes per SKU that owns
//! some. Rows: per group its demand in each bucket, then its deferral total; per option its
//! capacity in each bucket, then its N+1 row; site power; owned-node links; node limits; budget.

use crate::interior_point::Sense;

use super::{MipSolution, Problem, SolveFailure};

/// What a column stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// Nodes of option `c`.
    Nodes(usize),
    /// Whether option `c` keeps a spare node (N+1).
    Spare(usize),
    /// New (bought) nodes of SKU `s`, where owned nodes make it differ from the sum of its pools.
    NewNodes(usize),
    /// Mtok of group `g` on option `c` in bucket `t`.
    Local { g: usize, c: usize, t: usize },
    /// Mtok of group `g` to the API in bucket `t`.
    Api { g: usize, t: usize },
    /// Deferred Mtok of group `g` served in bucket `t`.
    Deferred { g: usize, t: usize },
}

/// What a row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Con {
    /// Group `g`'s demand in bucket `t`.
    Demand { g: usize, t: usize },
    /// Group `g`'s deferrable share, served somewhere in its window.
    Deferral { g: usize },
    /// Option `c`'s node-hours in bucket `t`.
    Capacity { c: usize, t: usize },
    /// Critical work on option `c` only with a spare node.
    Spare { c: usize },
    /// Every node at busy power within the site's cap.
    SitePower,
    /// New nodes of SKU `s` beyond the owned ones.
    Owned { s: usize },
    /// At most so many nodes of SKU `s`.
    MaxNodes { s: usize },
    /// Capex within the budget.
    Budget,
}

/// One column: cost per unit, bounds (lower is 0) and integrality.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) var: Var,
    pub(crate) cost: f64,
    /// Upper bound in the model (`f64::INFINITY` for none).
    pub(crate) upper: f64,
    /// A bound that holds in some optimal solution, finite for every column: what a Lagrangian
    /// bound may assume (tokens never exceed the demand they serve).
    pub(crate) implied_upper: f64,
    pub(crate) integer: bool,
}

/// One row: `Σ coefficient × column (sense) rhs`.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) con: Con,
    pub(crate) sense: Sense,
    pub(crate) rhs: f64,
    pub(crate) terms: Vec<(usize, f64)>,
}

impl Row {
    /// The hour bucket a row belongs to, if it belongs to one.
    pub(crate) fn bucket(&self) -> Option<usize> {
        match self.con {
            Con::Demand { t, .. } | Con::Capacity { t, .. } => Some(t),
            _ => None,
        }
    }
}

/// The model of one solve: its columns and rows, and where to find each variable.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Row>,
    /// Per candidate: its node-count column, if modelled.
    pub(crate) nodes: Vec<Option<usize>>,
    /// Per candidate: its spare flag column, if it may serve critical work.
    pub(crate) spare: Vec<Option<usize>>,
    /// [group][candidate]: its token column in each bucket (empty where ineligible).
    pub(crate) local: Vec<Vec<Vec<usize>>>,
    /// [group][bucket]: API tokens.
    pub(crate) api: Vec<Vec<Option<usize>>>,
    /// [group][bucket]: deferred-in tokens.
    pub(crate) deferred: Vec<Vec<Option<usize>>>,
    pub(crate) integer_variables: usize,
    /// Options kept after pruning (before dropping those with no room for a node).
    pub(crate) options_kept: usize,
}

impl Model {
    /// Monthly USD of a point.
    pub(crate) fn objective(&self, values: &[f64]) -> f64 {
        self.columns
            .iter()
            .zip(values)
            .map(|(c, v)| c.cost * v)
            .sum()
    }

    /// The candidate a column belongs to, if it belongs to one.
    pub(crate) fn option_of(&self, column: usize) -> Option<usize> {
        match self.columns[column].var {
            Var::Nodes(c) | Var::Spare(c) | Var::Local { c, .. } => Some(c),
            _ => None,
        }
    }
}

impl Problem<'_> {
    /// Mtok per month of each group in each bucket.
    pub(super) fn bucket_demand(&self) -> Vec<Vec<f64>> {
        self.groups
            .iter()
            .map(|g| {
                self.buckets
                    .iter()
                    .map(|b| b.hours.iter().map(|&h| g.hourly_mtok[h]).sum())
                    .collect()
            })
            .collect()
    }

    /// Whether bucket `t` lies in group `g`'s deferral window.
    pub(super) fn in_window(&self, g: usize, t: usize) -> bool {
        self.groups[g].in_window[self.buckets[t].hours[0]]
    }

    /// Builds the model over the candidates in `kept`; the API only where `api_allowed`.
    /// A group that can go nowhere makes the model infeasible.
    pub(super) fn build_model(
        &self,
        kept: &[bool],
        api_allowed: bool,
    ) -> Result<Model, SolveFailure> {
        let occurrences = self.occurrences();
        let groups = &self.groups;
        let buckets = &self.buckets;
        let demand = self.bucket_demand();
        let node_hours_in = |t: usize| buckets[t].hours.len() as f64 * occurrences;
        // The most Mtok group g can need in bucket t: its own share plus all it may defer.
        let most = |g: usize, t: usize| {
            let group = &groups[g];
            (1.0 - group.deferrable_share) * demand[g][t]
                + if self.in_window(g, t) {
                    group.deferrable_share * group.total_mtok
                } else {
                    0.0
                }
        };
        let mut columns: Vec<Column> = Vec::new();
        let add = |columns: &mut Vec<Column>, var: Var, upper: f64, implied: f64, integer| {
            columns.push(Column {
                var,
                cost: 0.0,
                upper,
                implied_upper: implied,
                integer,
            });
            columns.len() - 1
        };
        let mut integer_variables = 0;

        // Node counts: integer, bounded by what the busiest bucket could need; spare flags where
        // critical work may run.
        let mut nodes = vec![None; self.candidates.len()];
        let mut spare = vec![None; self.candidates.len()];
        for (c, cand) in self.candidates.iter().enumerate() {
            if !kept[c] {
                continue;
            }
            let mut peak_nodes: f64 = 0.0;
            for (t, bucket) in buckets.iter().enumerate() {
                let hours: f64 = groups
                    .iter()
                    .enumerate()
                    .filter_map(|(g, group)| {
                        self.fits[group.rep][c].as_ref().ok().map(|f| {
                            let deferred_in = if self.in_window(g, t) {
                                group.deferrable_share * group.total_mtok
                            } else {
                                0.0
                            };
                            f.capacity_hours_per_mtok() * (demand[g][t] + deferred_in)
                        })
                    })
                    .sum();
                peak_nodes = peak_nodes.max(hours / (bucket.hours.len() as f64 * occurrences));
            }
            let critical = groups
                .iter()
                .any(|g| g.critical && self.fits[g.rep][c].is_ok());
            let mut upper = (peak_nodes * (1.0 + 1e-9)).ceil() + if critical { 1.0 } else { 0.0 };
            if let Some(max) = self.max_nodes(cand.sku) {
                upper = upper.min(f64::from(max));
            }
            if upper < 1.0 {
                continue;
            }
            integer_variables += 1;
            nodes[c] = Some(add(&mut columns, Var::Nodes(c), upper, upper, true));
            if critical {
                integer_variables += 1;
                spare[c] = Some(add(&mut columns, Var::Spare(c), 1.0, 1.0, true));
            }
        }
        // Local tokens x[g][c][t], API tokens a[g][t], deferred-in tokens y[g][t] (Mtok).
        let local: Vec<Vec<Vec<usize>>> = (0..groups.len())
            .map(|g| {
                (0..self.candidates.len())
                    .map(|c| match (&self.fits[groups[g].rep][c], nodes[c]) {
                        (Ok(_), Some(_)) => (0..buckets.len())
                            .map(|t| {
                                add(
                                    &mut columns,
                                    Var::Local { g, c, t },
                                    f64::INFINITY,
                                    most(g, t),
                                    false,
                                )
                            })
                            .collect(),
                        _ => Vec::new(),
                    })
                    .collect()
            })
            .collect();
        let api: Vec<Vec<Option<usize>>> = (0..groups.len())
            .map(|g| match &self.api_price[groups[g].rep] {
                Ok(_) if api_allowed => (0..buckets.len())
                    .map(|t| {
                        Some(add(
                            &mut columns,
                            Var::Api { g, t },
                            f64::INFINITY,
                            most(g, t),
                            false,
                        ))
                    })
                    .collect(),
                _ => vec![None; buckets.len()],
            })
            .collect();
        let deferred: Vec<Vec<Option<usize>>> = (0..groups.len())
            .map(|g| {
                let group = &groups[g];
                (0..buckets.len())
                    .map(|t| {
                        (group.deferrable_share > 0.0 && self.in_window(g, t)).then(|| {
                            add(
                                &mut columns,
                                Var::Deferred { g, t },
                                f64::INFINITY,
                                group.deferrable_share * group.total_mtok,
                                false,
                            )
                        })
                    })
                    .collect()
            })
            .collect();
        // New (bought) nodes per SKU: a column only where owned nodes make it differ from Σ n.
        let mut new_nodes: Vec<Option<usize>> = Vec::with_capacity(self.skus.len());
        for (s, sku) in self.skus.iter().enumerate() {
            if self.owned(sku) == 0 {
                new_nodes.push(None);
                continue;
            }
            let most_nodes: f64 = self
                .candidates
                .iter()
                .enumerate()
                .filter(|(_, c)| c.sku_index == s)
                .filter_map(|(c, _)| nodes[c].map(|n| columns[n].upper))
                .sum();
            integer_variables += 1;
            new_nodes.push(Some(add(
                &mut columns,
                Var::NewNodes(s),
                f64::INFINITY,
                most_nodes,
                true,
            )));
        }

        // Costs: amortization per new node (per node of SKUs that own none), idle energy per
        // node, busy energy per Mtok, API price per Mtok.
        for (c, cand) in self.candidates.iter().enumerate() {
            let Some(n) = nodes[c] else { continue };
            columns[n].cost = self.idle_usd(cand);
            if new_nodes[cand.sku_index].is_none() {
                columns[n].cost += self.assumptions.amortization_usd(cand.sku.price_usd);
            }
        }
        for (s, sku) in self.skus.iter().enumerate() {
            if let Some(new) = new_nodes[s] {
                columns[new].cost = self.assumptions.amortization_usd(sku.price_usd);
            }
        }
        for (g, group) in groups.iter().enumerate() {
            for (c, cand) in self.candidates.iter().enumerate() {
                if let Ok(fit) = &self.fits[group.rep][c] {
                    let busy = self.busy_extra_usd_per_hour(cand) * fit.hours_per_mtok;
                    for &x in &local[g][c] {
                        columns[x].cost = busy;
                    }
                }
            }
            if let Ok(price) = &self.api_price[group.rep] {
                for a in api[g].iter().flatten() {
                    columns[*a].cost = *price;
                }
            }
        }

        let mut rows: Vec<Row> = Vec::new();
        for (g, group) in groups.iter().enumerate() {
            if local[g].iter().all(Vec::is_empty) && api[g].iter().all(Option::is_none) {
                return Err(SolveFailure::Infeasible);
            }
            for t in 0..buckets.len() {
                let mut terms: Vec<(usize, f64)> = local[g]
                    .iter()
                    .filter_map(|xs| xs.get(t).map(|&x| (x, 1.0)))
                    .collect();
                if let Some(a) = api[g][t] {
                    terms.push((a, 1.0));
                }
                if let Some(y) = deferred[g][t] {
                    terms.push((y, -1.0));
                }
                rows.push(Row {
                    con: Con::Demand { g, t },
                    sense: Sense::Equal,
                    rhs: (1.0 - group.deferrable_share) * demand[g][t],
                    terms,
                });
            }
            if group.deferrable_share > 0.0 {
                rows.push(Row {
                    con: Con::Deferral { g },
                    sense: Sense::Equal,
                    rhs: group.deferrable_share * group.total_mtok,
                    terms: deferred[g].iter().flatten().map(|&y| (y, 1.0)).collect(),
                });
            }
        }
        let critical_mtok: f64 = groups
            .iter()
            .filter(|g| g.critical)
            .map(|g| g.total_mtok)
            .sum();
        for (c, n) in nodes.iter().enumerate() {
            let Some(n) = *n else { continue };
            for t in 0..buckets.len() {
                let mut terms: Vec<(usize, f64)> = Vec::new();
                for (g, group) in groups.iter().enumerate() {
                    if let (Some(&x), Ok(fit)) = (local[g][c].get(t), &self.fits[group.rep][c]) {
                        terms.push((x, fit.capacity_hours_per_mtok()));
                    }
                }
                let available = node_hours_in(t);
                terms.push((n, -available));
                if let Some(s) = spare[c] {
                    terms.push((s, available));
                }
                rows.push(Row {
                    con: Con::Capacity { c, t },
                    sense: Sense::AtMost,
                    rhs: 0.0,
                    terms,
                });
            }
            if let Some(s) = spare[c] {
                let mut terms: Vec<(usize, f64)> = groups
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| g.critical)
                    .flat_map(|(g, _)| local[g][c].iter().map(|&x| (x, 1.0)))
                    .collect();
                terms.push((s, -critical_mtok));
                rows.push(Row {
                    con: Con::Spare { c },
                    sense: Sense::AtMost,
                    rhs: 0.0,
                    terms,
                });
            }
        }
        if let Some(cap_w) = self.request.constraints.site_power_cap_w {
            rows.push(Row {
                con: Con::SitePower,
                sense: Sense::AtMost,
                rhs: cap_w,
                terms: self
                    .candidates
                    .iter()
                    .zip(&nodes)
                    .filter_map(|(c, n)| n.map(|n| (n, c.point.power_busy_w)))
                    .collect(),
            });
        }
        let sku_nodes = |s: usize| -> Vec<(usize, f64)> {
            self.candidates
                .iter()
                .zip(&nodes)
                .filter(|(c, _)| c.sku_index == s)
                .filter_map(|(_, n)| n.map(|n| (n, 1.0)))
                .collect()
        };
        for (s, sku) in self.skus.iter().enumerate() {
            if let Some(new) = new_nodes[s] {
                // new ≥ Σ n − owned, as Σ n − new ≤ owned.
                let mut terms = sku_nodes(s);
                terms.push((new, -1.0));
                rows.push(Row {
                    con: Con::Owned { s },
                    sense: Sense::AtMost,
                    rhs: f64::from(self.owned(sku)),
                    terms,
                });
            }
        }
        for (s, sku) in self.skus.iter().enumerate() {
            if let Some(max) = self.max_nodes(sku) {
                rows.push(Row {
                    con: Con::MaxNodes { s },
                    sense: Sense::AtMost,
                    rhs: f64::from(max),
                    terms: sku_nodes(s),
                });
            }
        }
        if let Some(budget) = self.request.constraints.budget_usd {
            let mut terms = Vec::new();
            for (s, sku) in self.skus.iter().enumerate() {
                match new_nodes[s] {
                    Some(new) => terms.push((new, sku.price_usd)),
                    None => terms.extend(sku_nodes(s).into_iter().map(|(n, _)| (n, sku.price_usd))),
                }
            }
            rows.push(Row {
                con: Con::Budget,
                sense: Sense::AtMost,
                rhs: budget,
                terms,
            });
        }
        Ok(Model {
            columns,
            rows,
            nodes,
            spare,
            local,
            api,
            deferred,
            integer_variables,
            options_kept: kept.iter().filter(|k| **k).count(),
        })
    }

    /// Reads a solved model back into plan units: nodes, spares, and each group's tokens split
    /// over its workloads in proportion to each one's need in each bucket (`(1 − δ)·demand` plus
    /// its share of the deferred-in tokens).
    pub(super) fn extract(&self, model: &Model, values: &[f64]) -> Extracted {
        let value = |column: usize| values[column].max(0.0);
        let groups = &self.groups;
        let buckets = &self.buckets;
        let nodes: Vec<u32> = model
            .nodes
            .iter()
            .map(|n| n.map_or(0, |n| value(n).round() as u32))
            .collect();
        let spares: Vec<u32> = model
            .spare
            .iter()
            .zip(&nodes)
            .map(|(s, &nodes)| s.map_or(0, |s| (value(s).round() as u32).min(nodes)))
            .collect();
        let workload_count = self.workloads.len();
        let mut bucket_local = vec![vec![Vec::new(); workload_count]; buckets.len()];
        let mut bucket_api = vec![vec![0.0; workload_count]; buckets.len()];
        let mut bucket_served = vec![vec![0.0; workload_count]; buckets.len()];
        let mut bucket_busy_hours = vec![vec![0.0; self.candidates.len()]; buckets.len()];
        let mut local_mtok = vec![vec![0.0; self.candidates.len()]; workload_count];
        let mut api_mtok = vec![0.0; workload_count];
        for (g, group) in groups.iter().enumerate() {
            for (t, bucket) in buckets.iter().enumerate() {
                let deferred_in = model.deferred[g][t].map_or(0.0, value);
                let need: Vec<f64> = group
                    .members
                    .iter()
                    .map(|&w| {
                        let wl = &self.workloads[w];
                        let own: f64 = bucket
                            .hours
                            .iter()
                            .map(|&h| self.shares[w][h] * wl.monthly_tokens.millions())
                            .sum();
                        (1.0 - group.deferrable_share) * own
                            + deferred_in * wl.monthly_tokens.millions() / group.total_mtok
                    })
                    .collect();
                let total_need: f64 = need.iter().sum();
                let api = model.api[g][t].map_or(0.0, value);
                let local: Vec<(usize, f64)> = (0..self.candidates.len())
                    .filter_map(|c| {
                        model.local[g][c]
                            .get(t)
                            .map(|&x| (c, value(x)))
                            .filter(|(_, m)| *m > 1e-12)
                    })
                    .collect();
                for &(c, mtok) in &local {
                    if let Ok(fit) = &self.fits[group.rep][c] {
                        bucket_busy_hours[t][c] += fit.hours_per_mtok * mtok;
                    }
                }
                for (k, &w) in group.members.iter().enumerate() {
                    let share = if total_need > 0.0 {
                        need[k] / total_need
                    } else {
                        0.0
                    };
                    bucket_served[t][w] = need[k];
                    bucket_api[t][w] = api * share;
                    api_mtok[w] += api * share;
                    bucket_local[t][w] = local
                        .iter()
                        .map(|&(c, mtok)| {
                            local_mtok[w][c] += mtok * share;
                            (c, mtok * share)
                        })
                        .collect();
                }
            }
        }
        Extracted {
            nodes,
            spares,
            local_mtok,
            api_mtok,
            bucket_local,
            bucket_api,
            bucket_served,
            bucket_busy_hours,
            objective_usd: model.objective(values),
        }
    }
}

/// A solved model in plan units, before the solver's report is attached.
pub(super) struct Extracted {
    pub(super) nodes: Vec<u32>,
    pub(super) spares: Vec<u32>,
    pub(super) local_mtok: Vec<Vec<f64>>,
    pub(super) api_mtok: Vec<f64>,
    pub(super) bucket_local: Vec<Vec<Vec<(usize, f64)>>>,
    pub(super) bucket_api: Vec<Vec<f64>>,
    pub(super) bucket_served: Vec<Vec<f64>>,
    pub(super) bucket_busy_hours: Vec<Vec<f64>>,
    pub(super) objective_usd: f64,
}

impl Extracted {
    /// Attaches the solver's report.
    pub(super) fn into_solution(self, report: SolveReport) -> MipSolution {
        MipSolution {
            backend: report.backend,
            nodes: self.nodes,
            spares: self.spares,
            local_mtok: self.local_mtok,
            api_mtok: self.api_mtok,
            bucket_local: self.bucket_local,
            bucket_api: self.bucket_api,
            bucket_served: self.bucket_served,
            bucket_busy_hours: self.bucket_busy_hours,
            options_kept: report.options_kept,
            status: report.status,
            objective_usd: self.objective_usd,
            gap: report.gap,
            solve_ms: report.solve_ms,
            variables: report.variables,
            integer_variables: report.integer_variables,
            constraints: report.constraints,
            decomposition: report.decomposition,
        }
    }
}

/// How a model was solved.
pub(super) struct SolveReport {
    pub(super) backend: String,
    pub(super) status: String,
    pub(super) gap: f64,
    pub(super) solve_ms: f64,
    pub(super) variables: usize,
    pub(super) integer_variables: usize,
    pub(super) constraints: usize,
    pub(super) options_kept: usize,
    pub(super) decomposition: Option<crate::plan::DecompositionReport>,
}
