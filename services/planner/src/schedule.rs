//! The schedule of a plan: per hour of the planning day (24) or week (168), each workload's
//! tokens on each pool and to the API, and each pool's utilization; and the routing weights a
//! gateway applies in one hour ([`Plan::routing_at`]).
//!
//! Token figures are for one occurrence of the hour (one day's 14:00, say); a month holds
//! `occurrences_per_month` of them: hours per month ÷ hours in the cycle, 720 ÷ 24 = 30 for a day
//! and 720 ÷ 168 ≈ 4.29 for a week.

use serde::{Deserialize, Serialize};

use crate::error::PlanError;
use crate::plan::Plan;

/// A plan's schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Hours in the planning cycle: 24 (a day) or 168 (a week, Monday 00:00 first); 0 in plans
    /// made before schedules existed.
    pub hours: u32,
    /// How often each hour of the cycle occurs in a month: hours per month ÷ `hours`.
    pub occurrences_per_month: f64,
    /// Distinct hour buckets the solver saw after merging hours with identical demand.
    pub buckets: u32,
    /// Pool labels, `sku quant N=… model`, in the order of the plan's pools.
    pub pools: Vec<String>,
    /// One entry per hour of the cycle.
    pub hourly: Vec<ScheduleHour>,
}

/// One hour of the cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleHour {
    /// Hour of the cycle, 0-based.
    pub hour: u32,
    /// Per workload, in the plan's workload order.
    pub workloads: Vec<HourWorkload>,
    /// Busy fraction of each pool in this hour (busy node-hours ÷ node-hours), pool order.
    pub pool_utilization: Vec<f64>,
    /// Tokens served locally in this hour, all workloads.
    pub local_tokens: f64,
    /// Tokens sent to the API in this hour, all workloads.
    pub api_tokens: f64,
}

/// One workload in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourWorkload {
    /// Workload name.
    pub workload: String,
    /// Tokens arriving in this hour per the profile (before deferral).
    pub demand_tokens: f64,
    /// Tokens served in this hour: arriving minus deferred away plus deferred in.
    pub served_tokens: f64,
    /// Tokens on each pool, pool order.
    pub pool_tokens: Vec<f64>,
    /// Tokens sent to the API.
    pub api_tokens: f64,
}

/// Routing weights for one hour, for a gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourRouting {
    /// Hour of the cycle.
    pub hour: u32,
    /// Hours in the cycle (24 or 168).
    pub cycle_hours: u32,
    /// One entry per workload.
    pub workloads: Vec<WorkloadRouting>,
}

/// Where one workload's requests go in one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadRouting {
    /// Workload name.
    pub workload: String,
    /// Targets with weights summing to 1.
    pub targets: Vec<RoutingTarget>,
    /// Whether the weights come from this hour's tokens (false: the hour has none, so the
    /// monthly split is used).
    pub from_this_hour: bool,
}

/// One routing target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingTarget {
    /// Pool label, or `api`.
    pub target: String,
    /// Index into the plan's pools; `None` for the API.
    pub pool: Option<usize>,
    /// Share of the workload's requests, in [0, 1].
    pub weight: f64,
}

impl Plan {
    /// Returns the routing weights a gateway applies in `hour` of the plan's cycle: per
    /// workload, the share of its tokens each pool and the API take in that hour (summing to 1).
    /// An hour in which a workload has no tokens gets the workload's monthly split.
    pub fn routing_at(&self, hour: u32) -> Result<HourRouting, PlanError> {
        let schedule = &self.schedule;
        if schedule.hours == 0 {
            return Err(PlanError::invalid(
                "plan.schedule",
                "this plan was made before schedules existed; propose it again",
            ));
        }
        let Some(slot) = schedule.hourly.get(hour as usize) else {
            return Err(PlanError::invalid(
                "hour",
                format!(
                    "must be 0-{} for this plan's cycle, got {hour}",
                    schedule.hours - 1
                ),
            ));
        };
        let workloads = slot
            .workloads
            .iter()
            .map(|hw| {
                let served = hw.pool_tokens.iter().sum::<f64>() + hw.api_tokens;
                let (pool_tokens, api_tokens, from_this_hour) = if served > 0.0 {
                    (hw.pool_tokens.clone(), hw.api_tokens, true)
                } else {
                    let mut pool_tokens = vec![0.0; schedule.pools.len()];
                    let mut api = 0.0;
                    for other in &schedule.hourly {
                        if let Some(o) = other.workloads.iter().find(|o| o.workload == hw.workload)
                        {
                            for (sum, t) in pool_tokens.iter_mut().zip(&o.pool_tokens) {
                                *sum += t;
                            }
                            api += o.api_tokens;
                        }
                    }
                    (pool_tokens, api, false)
                };
                let total = pool_tokens.iter().sum::<f64>() + api_tokens;
                let mut targets: Vec<RoutingTarget> = pool_tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| **t > 0.0)
                    .map(|(p, t)| RoutingTarget {
                        target: schedule.pools[p].clone(),
                        pool: Some(p),
                        weight: t / total,
                    })
                    .collect();
                if api_tokens > 0.0 {
                    targets.push(RoutingTarget {
                        target: "api".into(),
                        pool: None,
                        weight: api_tokens / total,
                    });
                }
                WorkloadRouting {
                    workload: hw.workload.clone(),
                    targets,
                    from_this_hour,
                }
            })
            .collect();
        Ok(HourRouting {
            hour,
            cycle_hours: schedule.hours,
            workloads,
        })
    }
}
