//! What a plan says: pools, routing, cost, baselines, break-even and how the solver did.
//! Plain data, serialized as the CLI's JSON output and stored as the plan record.

use serde::{Deserialize, Serialize};

use crate::cost::CostAssumptions;
use crate::demand::{FleetConstraints, Workload};
use crate::schedule::Schedule;

/// A complete plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Catalog version the plan was made with.
    pub catalog_version: String,
    /// Throughput model version the plan was made with.
    pub throughput_version: String,
    /// Where the throughput figures come from, in words.
    pub throughput_source: String,
    /// Model served.
    pub model: String,
    /// Cost assumptions used.
    pub assumptions: CostAssumptions,
    /// The API offer spillover goes to, if the catalog has one.
    pub api: Option<ApiTerms>,
    /// The workloads as planned (defaults filled in).
    pub workloads: Vec<Workload>,
    /// Fleet-wide limits as requested.
    pub constraints: FleetConstraints,
    /// Local pools: one SKU running one quantization.
    pub pools: Vec<Pool>,
    /// Where each workload's tokens go, and why.
    pub routes: Vec<Route>,
    /// Monthly cost of the optimum.
    pub cost: CostBreakdown,
    /// When the new hardware pays for itself against sending everything to the API.
    pub break_even: BreakEven,
    /// All-API, single-SKU fleets and the optimum, side by side.
    pub baselines: Vec<Baseline>,
    /// How the solve went.
    pub solver: SolverReport,
    /// Assumptions and caveats a reviewer should see.
    pub notes: Vec<String>,
    /// Per hour of the planning day or week: tokens per workload on each pool and to the API.
    #[serde(default)]
    pub schedule: Schedule,
    /// Whether the request trusted published figures the physics rejects.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_published: bool,
    /// The TTFT the plan's queues imply per pool and hour, SLO attainment and goodput per
    /// workload (empty in plans made before it was reported).
    #[serde(default)]
    pub latency: crate::latency::LatencyReport,
}

/// The API offer's terms as used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiTerms {
    /// Offer id.
    pub id: String,
    /// Price per million input tokens.
    pub input_usd_per_million: f64,
    /// Price per million output tokens.
    pub output_usd_per_million: f64,
    /// TTFT p95 the SLO is checked against.
    pub ttft_p95_ms: f64,
}

/// Nodes of one SKU running one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    /// SKU id.
    pub sku: String,
    /// SKU display name.
    pub sku_name: String,
    /// Quantization.
    pub quant: String,
    /// Streams per llama-server instance.
    pub concurrency: u32,
    /// llama-server instances per node.
    pub instances_per_node: u32,
    /// Model the pool serves.
    #[serde(default)]
    pub model: String,
    /// Nodes in the pool (spares included).
    pub nodes: u32,
    /// Spare nodes kept for critical workloads (N+1), included in `nodes`.
    #[serde(default)]
    pub spare_nodes: u32,
    /// Busy fraction in the pool's busiest hour.
    #[serde(default)]
    pub peak_utilization: f64,
    /// Largest busy fraction allowed in any hour: the plan's cap, or lower where a workload it
    /// serves has a TTFT limit (Erlang C); the lowest of those if they differ.
    #[serde(default)]
    pub utilization_cap: f64,
    /// Aggregate decode tok/s of one instance at this concurrency.
    #[serde(default)]
    pub aggregate_decode_tok_s: f64,
    /// Nodes to buy.
    pub new_nodes: u32,
    /// Nodes already owned (no capex).
    pub owned_nodes: u32,
    /// Tokens served per month, input and output.
    pub tokens_per_month: f64,
    /// Busy node-hours per month.
    pub busy_hours: f64,
    /// busy hours ÷ (nodes × hours per month).
    pub utilization: f64,
    /// new nodes × price.
    pub capex_usd: f64,
    /// capex ÷ amortization months.
    pub amortization_usd: f64,
    /// (busy W × busy h + idle W × (nodes × hours − busy h)) ÷ 1000 × $/kWh.
    pub energy_usd: f64,
    /// One stream's decode speed.
    pub decode_tok_s: f64,
    /// One instance's prefill speed.
    pub prefill_tok_s: f64,
    /// Node power while busy.
    pub power_busy_w: f64,
    /// Node power while idle.
    pub power_idle_w: f64,
    /// Node price.
    pub price_usd: f64,
    /// The figures' basis: `measured: …`, `published (plausible)`, `estimated ±25% (…)`, or
    /// `catalog` in plans made before the physics check.
    pub throughput_provenance: String,
    /// Where the weights live when not all in accelerator memory (experts in host RAM, with the
    /// numbers), or that the figures were trusted as published against the physics.
    pub offload_note: Option<String>,
}

/// A workload's share on one pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteShare {
    /// SKU id of the pool.
    pub sku: String,
    /// Quantization of the pool.
    pub quant: String,
    /// Concurrency of the pool.
    #[serde(default)]
    pub concurrency: u32,
    /// Tokens per month.
    pub tokens: f64,
}

/// Where one workload's tokens go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Workload name.
    pub workload: String,
    /// Tokens on local pools.
    pub local: Vec<RouteShare>,
    /// Tokens sent to the API.
    pub api_tokens: f64,
    /// Why the split is what it is.
    pub why: String,
}

/// Monthly cost, split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Amortization of new hardware.
    pub amortization_usd: f64,
    /// Electricity, busy and idle.
    pub energy_usd: f64,
    /// API bill.
    pub api_usd: f64,
    /// The three above.
    pub total_usd: f64,
    /// New hardware spend (one-off).
    pub capex_usd: f64,
    /// Tokens served locally.
    pub tokens_local: f64,
    /// Tokens sent to the API.
    pub tokens_api: f64,
    /// total ÷ all tokens × 10⁶.
    pub blended_usd_per_million: f64,
}

/// When the capex pays back against the all-API baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakEven {
    /// Month in which cumulative savings cover the capex, if they ever do.
    pub month: Option<u32>,
    /// all-API cost − (energy + API) of the optimum: what owning saves each month before capex.
    pub monthly_operating_savings_usd: Option<f64>,
    /// The answer in words, with its arithmetic.
    pub text: String,
}

/// Starts a baseline's reason when the time limit, not infeasibility, left it without a fleet.
pub const NOT_SOLVED: &str = "not solved";

/// One comparison point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// "all-API", "single-SKU rtx-5090", "optimum".
    pub name: String,
    /// Kind of baseline.
    pub kind: BaselineKind,
    /// Monthly cost, if feasible.
    pub monthly_usd: Option<f64>,
    /// New hardware spend, if feasible.
    pub capex_usd: Option<f64>,
    /// Fleet in words, e.g. "9 × rtx-5090 Q4_K_M".
    pub fleet: String,
    /// baseline − optimum monthly cost.
    pub savings_vs_baseline_usd: Option<f64>,
    /// Why the baseline is not possible.
    pub infeasible_reason: Option<String>,
    /// Whether this is the cheapest single-SKU fleet.
    pub best_single_sku: bool,
    /// The SKU id of a single-SKU baseline (absent in plans made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// Kinds of baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    /// Every token to the API.
    AllApi,
    /// Every token local, on one SKU.
    SingleSku,
    /// The optimum.
    Optimum,
}

/// How the solver did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolverReport {
    /// Solver backend.
    pub backend: String,
    /// optimal, time_limit or gap_limit.
    pub status: String,
    /// Objective value (monthly USD).
    pub objective_usd: f64,
    /// Relative gap to the best bound.
    pub gap: f64,
    /// Time of the optimum's solve.
    pub solve_ms: f64,
    /// Time of every solve, baselines included.
    pub total_solve_ms: f64,
    /// Variables in the optimum's model (integer ones counted too).
    pub variables: usize,
    /// Integer variables.
    pub integer_variables: usize,
    /// Constraints in the optimum's model.
    pub constraints: usize,
    /// Constraints that bind at the optimum, in words.
    pub binding: Vec<String>,
    /// Options (SKU × model × quant × concurrency) the optimum's model kept after pruning
    /// dominated ones.
    #[serde(default)]
    pub options_kept: usize,
    /// Workload groups after merging workloads the model cannot tell apart.
    #[serde(default)]
    pub workload_groups: usize,
    /// Hour buckets after merging hours with identical demand.
    #[serde(default)]
    pub hour_buckets: usize,
    /// How the model was decomposed, when it was (see [`crate::solve`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decomposition: Option<DecompositionReport>,
}

/// A decomposed solve: the LP relaxation priced over options, and the MIP over the options its
/// bound could not rule out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecompositionReport {
    /// Options in the whole model.
    pub options: usize,
    /// Variables of the whole model.
    pub variables: usize,
    /// Options the LP relaxation was solved over at the end.
    pub priced_options: usize,
    /// Pricing rounds.
    pub pricing_rounds: usize,
    /// Interior-point iterations over all rounds.
    pub interior_point_iterations: usize,
    /// The relaxation's Lagrangian bound on every plan (monthly USD).
    pub lp_bound_usd: f64,
    /// Options the MIP was solved over.
    pub mip_options: usize,
    /// MIP solves (more than one when options joined after the first).
    pub mip_solves: usize,
    /// The lower bound on every plan of the whole model the gap is measured against.
    pub bound_usd: f64,
    /// The option left out of the MIP whose bound came closest, and its reduced cost (the
    /// least a node of it adds to the relaxation's bound), if any was left out.
    #[serde(default)]
    pub closest_left_out: Option<(String, f64)>,
    /// Time in the relaxation and pricing.
    pub lp_ms: f64,
}

impl Plan {
    /// Returns the plan in one line: demand, workloads and fleet, e.g. `1.5B tokens/month, 1
    /// workload (default): 10 × mac-studio-m3-ultra-512 Q4_K_M N=2`.
    pub fn summary(&self) -> String {
        summary_line(&self.workloads, &self.baselines, &self.cost)
    }
}

/// Returns [`Plan::summary`] from the fields it reads (a listing parses only those).
pub fn summary_line(
    workloads: &[Workload],
    baselines: &[Baseline],
    cost: &CostBreakdown,
) -> String {
    let tokens: f64 = workloads
        .iter()
        .map(|w| w.monthly_tokens.get() as f64)
        .sum();
    const NAMES_SHOWN: usize = 3;
    let names: Vec<&str> = workloads
        .iter()
        .take(NAMES_SHOWN)
        .map(|w| w.name.as_str())
        .collect();
    let more = workloads.len().saturating_sub(NAMES_SHOWN);
    let more = if more > 0 {
        format!(" +{more} more")
    } else {
        String::new()
    };
    let fleet = baselines
        .iter()
        .find(|b| b.kind == BaselineKind::Optimum)
        .map_or("-", |b| b.fleet.as_str());
    let api = if cost.tokens_api > 0.5 {
        if cost.tokens_local > 0.5 {
            format!(
                ", {} to the API",
                crate::units::format_tokens(cost.tokens_api)
            )
        } else {
            ", all to the API".to_string()
        }
    } else {
        String::new()
    };
    format!(
        "{} tokens/month, {} workload{} ({}{more}): {fleet}{api}",
        crate::units::format_tokens(tokens),
        workloads.len(),
        if workloads.len() == 1 { "" } else { "s" },
        names.join(", "),
    )
}
