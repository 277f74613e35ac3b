//! Latency: the TTFT a plan implies, per pool and hour, from the queueing model the MIP plans
//! with (`crate::queueing`), and what share of each workload's requests meet its TTFT limit.
//!
//! Each node of a pool is an M/M/c queue over its `instances × N` slots (per-node routing: a
//! request waits only for the slots of the node it was sent to), busy at the pool's utilization
//! in that hour. A request of workload w holds a slot for `S_w = prompt ÷ prefill + output ÷
//! per-stream decode`; the pool's mean service time mixes the workloads it serves by their
//! requests in the hour (tokens ÷ (prompt + output) tokens per request). With Erlang C's
//! `C = P(wait > 0)` and `θ = c(1 − ρ) / S`:
//! - `P(wait > t) = C e^(−θt)`, mean wait `C / θ`;
//! - a request's TTFT is its prompt time `p_w = prompt ÷ prefill` plus its wait, so the pool's
//!   TTFT distribution is the request-weighted mixture of the shifted waits, and its p50 and p95
//!   are found by bisection on `Σ π_w P(p_w + wait ≤ t)`;
//! - workload w meets its limit `L_w` with probability `1 − C e^(−θ(L_w − p_w))` (0 when its
//!   prompt alone misses it).
//!
//! A workload's SLO attainment is the token-weighted share of its tokens served within its
//! limit, the API's counting as within it (the plan sends work to the API only where its TTFT
//! p95 meets the limit); goodput is its tokens per month times that share.

use serde::{Deserialize, Serialize};

use crate::plan::{Plan, Pool};
use crate::queueing;

/// A p95 TTFT above this, in a pool serving a workload without a TTFT limit, is warned about.
pub const UNLIMITED_TTFT_WARNING_S: f64 = 10.0;

/// One pool in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolHourLatency {
    /// Index into the plan's pools.
    pub pool: usize,
    /// Hour of the cycle.
    pub hour: u32,
    /// Busy fraction of the pool's nodes (the slots' utilization ρ).
    pub utilization: f64,
    /// Mean wait for a slot, seconds; `None` when the queue is unstable (ρ ≥ 1).
    pub mean_wait_s: Option<f64>,
    /// Median time to first token over the hour's requests, seconds.
    pub ttft_p50_s: Option<f64>,
    /// 95th percentile time to first token, seconds.
    pub ttft_p95_s: Option<f64>,
    /// Share of the requests of workloads with a TTFT limit that meet it; `None` when no
    /// workload with a limit is served here this hour.
    pub slo_attainment: Option<f64>,
}

/// One workload over the cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadLatency {
    /// Workload name.
    pub workload: String,
    /// Its TTFT p95 limit, seconds; `None` for no limit.
    pub ttft_limit_s: Option<f64>,
    /// Share of its tokens served within the limit (1 without a limit).
    pub slo_attainment: f64,
    /// Tokens per month served within the limit.
    pub goodput_tokens_per_month: f64,
    /// Tokens per month served.
    pub tokens_per_month: f64,
}

/// What a plan's queues imply for latency, as stored with the plan: per pool its worst hour
/// (every hour is [`hourly`] of the plan, recomputed on demand so plans stay small).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyReport {
    /// The routing model the figures assume, e.g. `per-node`.
    pub routing: String,
    /// Per pool that serves anything, its hour with the largest p95 TTFT.
    pub pools: Vec<PoolHourLatency>,
    /// Per workload.
    pub workloads: Vec<WorkloadLatency>,
    /// Hours whose p95 TTFT exceeds [`UNLIMITED_TTFT_WARNING_S`] for work with no limit.
    pub warnings: Vec<String>,
}

/// The queue of one pool in one hour.
struct Queue {
    servers: u32,
    rho: f64,
    wait_probability: f64,
    /// θ = c(1 − ρ) / S, per second.
    drain_per_s: f64,
}

impl Queue {
    /// Returns P(wait ≤ t).
    fn wait_cdf(&self, t: f64) -> f64 {
        if t < 0.0 || self.rho >= 1.0 {
            0.0
        } else {
            1.0 - self.wait_probability * (-self.drain_per_s * t).exp()
        }
    }
}

/// Prompt time and output tokens of one request of workload `w` on `pool`.
fn request_shape(plan: &Plan, w: usize, pool: &Pool) -> (f64, f64) {
    let workload = &plan.workloads[w];
    let prompt = f64::from(workload.prompt_tokens);
    let output = prompt * (1.0 - workload.input_share) / workload.input_share.max(0.01);
    (prompt / pool.prefill_tok_s, output)
}

/// Returns the smallest t with `Σ π_w P(p_w + wait ≤ t) ≥ q`, by bisection.
fn mixture_quantile(queue: &Queue, mix: &[(f64, f64)], q: f64) -> Option<f64> {
    if queue.rho >= 1.0 {
        return None;
    }
    let cdf = |t: f64| {
        mix.iter()
            .map(|(pi, p)| pi * queue.wait_cdf(t - p))
            .sum::<f64>()
    };
    let longest = mix.iter().map(|m| m.1).fold(0.0, f64::max);
    let tail = (queue.wait_probability / (1.0 - q)).ln().max(0.0) / queue.drain_per_s;
    let (mut lo, mut hi) = (0.0, longest + tail + 1e-9);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if cdf(mid) >= q {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// Returns every pool's latency in every hour it serves anything (see the module docs).
pub fn hourly(plan: &Plan) -> Vec<PoolHourLatency> {
    compute(plan).0
}

/// Returns the latency report of a plan (see the module docs).
pub fn report(plan: &Plan) -> LatencyReport {
    let (hourly, report) = compute(plan);
    let pools = (0..plan.pools.len())
        .filter_map(|p| {
            hourly
                .iter()
                .filter(|h| h.pool == p)
                .max_by(|a, b| {
                    a.ttft_p95_s
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&b.ttft_p95_s.unwrap_or(f64::INFINITY))
                })
                .cloned()
        })
        .collect();
    LatencyReport { pools, ..report }
}

fn compute(plan: &Plan) -> (Vec<PoolHourLatency>, LatencyReport) {
    let schedule = &plan.schedule;
    let mut hourly = Vec::new();
    let mut within = vec![0.0; plan.workloads.len()];
    let mut served = vec![0.0; plan.workloads.len()];
    // Per pool, its worst hour for work with no TTFT limit: (hour, p95, utilization, slots).
    type WorstHour = Option<(u32, Option<f64>, f64, u32)>;
    let mut worst_unlimited: Vec<WorstHour> = vec![None; plan.pools.len()];
    for hour in &schedule.hourly {
        for (w, hw) in hour.workloads.iter().enumerate().take(plan.workloads.len()) {
            served[w] += hw.served_tokens;
            within[w] += hw.api_tokens;
        }
        for (p, pool) in plan.pools.iter().enumerate() {
            let utilization = hour.pool_utilization.get(p).copied().unwrap_or(0.0);
            // Requests per occurrence of the hour, and each one's prompt time and service time.
            let mut requests = Vec::new();
            for (w, hw) in hour.workloads.iter().enumerate().take(plan.workloads.len()) {
                let tokens = hw.pool_tokens.get(p).copied().unwrap_or(0.0);
                if tokens <= 0.0 {
                    continue;
                }
                let (prompt_s, output) = request_shape(plan, w, pool);
                let per_request = f64::from(plan.workloads[w].prompt_tokens) + output;
                let service_s = prompt_s + output / pool.decode_tok_s;
                requests.push((w, tokens / per_request, prompt_s, service_s, tokens));
            }
            let total: f64 = requests.iter().map(|r| r.1).sum();
            if total <= 0.0 || pool.nodes == 0 {
                continue;
            }
            let mean_service_s = requests.iter().map(|r| r.1 * r.3).sum::<f64>() / total;
            let servers = pool.instances_per_node.max(1) * pool.concurrency.max(1);
            let queue = Queue {
                servers,
                rho: utilization,
                wait_probability: queueing::erlang_c(servers, utilization),
                drain_per_s: f64::from(servers) * (1.0 - utilization) / mean_service_s,
            };
            let mix: Vec<(f64, f64)> = requests.iter().map(|r| (r.1 / total, r.2)).collect();
            let stable = queue.rho < 1.0;
            let mut limited_share = 0.0;
            let mut limited_met = 0.0;
            for &(w, n, prompt_s, _, tokens) in &requests {
                match plan.workloads[w].ttft_p95_ms {
                    Some(limit_ms) => {
                        let met = queue.wait_cdf(limit_ms / 1_000.0 - prompt_s);
                        limited_share += n;
                        limited_met += n * met;
                        within[w] += tokens * met;
                    }
                    None => within[w] += tokens,
                }
            }
            let ttft_p95_s = mixture_quantile(&queue, &mix, 0.95);
            let unlimited = requests
                .iter()
                .any(|r| plan.workloads[r.0].ttft_p95_ms.is_none());
            let p95 = ttft_p95_s.unwrap_or(f64::INFINITY);
            let worse =
                worst_unlimited[p].is_none_or(|(_, w, _, _)| p95 > w.unwrap_or(f64::INFINITY));
            if unlimited && p95 > UNLIMITED_TTFT_WARNING_S && worse {
                worst_unlimited[p] = Some((hour.hour, ttft_p95_s, utilization, queue.servers));
            }
            hourly.push(PoolHourLatency {
                pool: p,
                hour: hour.hour,
                utilization,
                mean_wait_s: stable.then(|| queue.wait_probability / queue.drain_per_s),
                ttft_p50_s: mixture_quantile(&queue, &mix, 0.5),
                ttft_p95_s,
                slo_attainment: (limited_share > 0.0).then(|| limited_met / limited_share),
            });
        }
    }
    let warnings = worst_unlimited
        .iter()
        .enumerate()
        .filter_map(|(p, worst)| {
            let (hour, p95, utilization, slots) = (*worst)?;
            Some(format!(
                "{}: TTFT p95 {} in hour {hour} at {:.0}% busy (per-node queues of {slots} slots) for work with no TTFT limit; set a limit (--ttft) to bound it",
                schedule.pools.get(p).cloned().unwrap_or_else(|| plan.pools[p].sku.clone()),
                p95.map_or("unbounded".to_string(), |t| format!("{t:.1} s")),
                utilization * 100.0
            ))
        })
        .collect();
    let occurrences = schedule.occurrences_per_month;
    let workloads = plan
        .workloads
        .iter()
        .enumerate()
        .map(|(w, workload)| {
            let share = if served[w] > 0.0 {
                (within[w] / served[w]).min(1.0)
            } else {
                1.0
            };
            WorkloadLatency {
                workload: workload.name.clone(),
                ttft_limit_s: workload.ttft_p95_ms.map(|ms| ms / 1_000.0),
                slo_attainment: share,
                goodput_tokens_per_month: served[w] * occurrences * share,
                tokens_per_month: served[w] * occurrences,
            }
        })
        .collect();
    (
        hourly,
        LatencyReport {
            routing: "per-node".to_string(),
            pools: Vec::new(),
            workloads,
            warnings,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::demand::{PlanRequest, Workload};
    use crate::throughput::ThroughputModel;
    use crate::units::TokenCount;

    fn local_plan(ttft_ms: Option<f64>) -> Plan {
        let catalog = Catalog::embedded_default();
        let throughput = ThroughputModel::from_catalog(&catalog);
        let mut w = Workload::new("chat", TokenCount(1_500_000_000));
        w.local_only = true;
        w.ttft_p95_ms = ttft_ms;
        let request = PlanRequest {
            workloads: vec![w],
            ..Default::default()
        };
        crate::propose(&catalog, &throughput, &request).unwrap()
    }

    /// The p95 of one workload's TTFT, from the plan's own inputs by hand: prompt time
    /// p = 4,096 ÷ prefill, output = 4,096 × 0.25 ÷ 0.75 tokens at the per-stream decode,
    /// S = p + output ÷ decode, c = instances × N, C = Erlang C(c, ρ), θ = c(1 − ρ) ÷ S, and
    /// p95 = p + ln(C ÷ 0.05) ÷ θ. Without a TTFT limit the plan runs its pool near the 80%
    /// cap, where that p95 is far above 10 s, and the plan warns.
    #[test]
    fn an_80_percent_busy_pool_implies_the_hand_computed_p95_and_a_warning() {
        let plan = local_plan(None);
        let pool = &plan.pools[0];
        let all = hourly(&plan);
        let hour = &all[0];
        assert_eq!(hour.pool, 0);
        let rho = plan.schedule.hourly[hour.hour as usize].pool_utilization[0];
        assert!(rho > 0.7 && rho <= 0.8 + 1e-9, "{rho}");
        let p = 4_096.0 / pool.prefill_tok_s;
        let output = 4_096.0 * 0.25 / 0.75;
        let s = p + output / pool.decode_tok_s;
        let c = pool.instances_per_node * pool.concurrency;
        let big_c = queueing::erlang_c(c, rho);
        let theta = f64::from(c) * (1.0 - rho) / s;
        let p95 = p + (big_c / 0.05).ln() / theta;
        let got = hour.ttft_p95_s.unwrap();
        assert!((got - p95).abs() < 1e-6 * p95, "{got} vs {p95}");
        assert!((hour.mean_wait_s.unwrap() - big_c / theta).abs() < 1e-9);
        assert!(got > UNLIMITED_TTFT_WARNING_S);
        assert_eq!(hour.slo_attainment, None);
        assert_eq!(plan.latency.warnings.len(), plan.pools.len());
        assert!(
            plan.notes
                .iter()
                .any(|n| n.starts_with("latency warning: ") && n.contains("no TTFT limit")),
            "{:#?}",
            plan.notes
        );
        let chat = &plan.latency.workloads[0];
        assert_eq!(chat.slo_attainment, 1.0);
        assert!(
            (chat.goodput_tokens_per_month - 1.5e9).abs() < 1.0,
            "{chat:?}"
        );
    }

    /// With a TTFT limit the MIP caps each pool's utilization so the p95 meets it: every hour's
    /// implied p95 is within the limit, at least 95% of requests meet it, and nothing warns.
    #[test]
    fn a_ttft_limit_holds_in_every_hour_the_plan_reports() {
        let limit_s = 60.0;
        let plan = local_plan(Some(limit_s * 1_000.0));
        let all = hourly(&plan);
        assert!(!all.is_empty());
        assert_eq!(plan.latency.pools.len(), plan.pools.len());
        for hour in all.iter().chain(&plan.latency.pools) {
            let p95 = hour.ttft_p95_s.unwrap();
            assert!(p95 <= limit_s * (1.0 + 1e-6), "{hour:?}");
            assert!(hour.slo_attainment.unwrap() >= 0.95 - 1e-6, "{hour:?}");
            assert!(hour.ttft_p50_s.unwrap() <= p95);
        }
        assert!(
            plan.latency.warnings.is_empty(),
            "{:?}",
            plan.latency.warnings
        );
        let chat = &plan.latency.workloads[0];
        assert!(
            chat.slo_attainment >= 0.95 && chat.slo_attainment <= 1.0,
            "{chat:?}"
        );
        assert!(chat.goodput_tokens_per_month <= chat.tokens_per_month);
    }
}
