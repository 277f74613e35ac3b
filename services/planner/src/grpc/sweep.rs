//! `Sweep`: the request and its range from the wire, checked field by field; progress and then
//! the result streamed back. The sweep itself is [`crate::sweep`].

use std::pin::Pin;
use std::time::Instant;

use fleet_proto::v1 as pb;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{PlannerGrpc, invalid, plan_request_from_pb, plan_request_to_pb};
use crate::auth::Access;
use crate::demand::PlanRequest;
use crate::sweep::{
    CostOutcome, Crossing, DEFAULT_TIME_LIMIT_S, MAX_TIME_LIMIT_S, PointOptimum, Sweep, SweepAxis,
    SweepPhase, SweepProgress, SweepRange, SweepSpec, VersusApi,
};

/// The stream a Sweep call answers with: progress messages, then the result.
pub type SweepStream = Pin<Box<dyn Stream<Item = Result<pb::SweepResponse, Status>> + Send>>;

/// Progress messages the stream buffers; more are dropped (the result never is).
const PROGRESS_BUFFER: usize = 64;

fn range_from_pb(range: Option<pb::SweepRange>) -> Option<SweepRange> {
    range.map(|r| SweepRange {
        min: r.min,
        max: r.max,
    })
}

fn range_to_pb(range: Option<SweepRange>) -> Option<pb::SweepRange> {
    range.map(|r| pb::SweepRange {
        min: r.min,
        max: r.max,
    })
}

/// Returns the domain request, range and whole-sweep time limit (seconds) of a Sweep request.
/// A bad field is `INVALID_ARGUMENT` naming it: `request.workloads[0].input_share`,
/// `demand_tokens`, `api_price_scale`, `steps`, `time_limit_ms`.
pub fn sweep_request_from_pb(
    request: pb::SweepRequest,
) -> Result<(PlanRequest, SweepSpec, f64), Status> {
    let spec = SweepSpec {
        demand_tokens: range_from_pb(request.demand_tokens),
        api_price_scale: range_from_pb(request.api_price_scale),
        steps: request.steps,
    };
    spec.validate()
        .map_err(|error| Status::invalid_argument(error.to_string()))?;
    let limit_ms = request.time_limit_ms;
    let time_limit_s = if limit_ms == 0.0 {
        DEFAULT_TIME_LIMIT_S
    } else if limit_ms.is_finite() && limit_ms > 0.0 {
        (limit_ms / 1_000.0).min(MAX_TIME_LIMIT_S)
    } else {
        return Err(invalid(
            "time_limit_ms",
            format!("must be a positive number of milliseconds (0: the default), got {limit_ms}"),
        ));
    };
    let propose = request
        .request
        .ok_or_else(|| invalid("request", "is required: the workloads to plan"))?;
    let plan_request = plan_request_from_pb(propose).map_err(|status| {
        // Name the field from the Sweep request's root.
        match status.message().strip_prefix("invalid ") {
            Some(rest) => Status::invalid_argument(format!("invalid request.{rest}")),
            None => status,
        }
    })?;
    Ok((plan_request, spec, time_limit_s))
}

/// Returns the wire Sweep request (the CLI's client side).
pub fn sweep_request_to_pb(
    request: &PlanRequest,
    spec: &SweepSpec,
    time_limit_s: f64,
) -> pb::SweepRequest {
    pb::SweepRequest {
        request: Some(plan_request_to_pb(request)),
        demand_tokens: range_to_pb(spec.demand_tokens),
        api_price_scale: range_to_pb(spec.api_price_scale),
        steps: spec.steps,
        time_limit_ms: time_limit_s * 1_000.0,
    }
}

fn cost_to_pb(outcome: &CostOutcome) -> pb::SweepCost {
    match outcome {
        CostOutcome::Solved {
            monthly_usd,
            capex_usd,
            fleet,
        } => pb::SweepCost {
            monthly_usd: Some(*monthly_usd),
            capex_usd: Some(*capex_usd),
            fleet: fleet.clone(),
            reason: String::new(),
        },
        CostOutcome::Infeasible { reason } | CostOutcome::NotSolved { reason } => pb::SweepCost {
            monthly_usd: None,
            capex_usd: None,
            fleet: String::new(),
            reason: reason.clone(),
        },
    }
}

fn crossing_to_pb(crossing: &Crossing) -> pb::SweepCrossing {
    pb::SweepCrossing {
        at: crossing.at,
        low: crossing.low,
        high: crossing.high,
    }
}

/// Returns the wire form of a sweep; `sweep_json` carries it exactly.
pub fn sweep_to_pb(sweep: &Sweep) -> Result<pb::SweepResult, Status> {
    let sweep_json = serde_json::to_string(sweep)
        .map_err(|error| Status::internal(format!("sweep not serializable: {error}")))?;
    let points = sweep
        .points
        .iter()
        .map(|point| {
            let mut wire = pb::SweepPoint {
                demand_tokens: point.demand_tokens,
                api_price_scale: point.api_price_scale,
                all_api: Some(cost_to_pb(&point.all_api)),
                options: point.options.iter().map(cost_to_pb).collect(),
                ..Default::default()
            };
            match &point.optimum {
                PointOptimum::Planned(planned) => {
                    wire.optimum = Some(pb::SweepCost {
                        monthly_usd: Some(planned.total_usd),
                        capex_usd: Some(planned.capex_usd),
                        fleet: planned.fleet.clone(),
                        reason: String::new(),
                    });
                    wire.optimum_amortization_usd = planned.amortization_usd;
                    wire.optimum_energy_usd = planned.energy_usd;
                    wire.optimum_api_usd = planned.api_usd;
                    wire.optimum_tokens_api = planned.tokens_api;
                    wire.optimum_composition = planned.composition.clone();
                }
                PointOptimum::Infeasible { reason } | PointOptimum::NotSolved { reason } => {
                    wire.optimum = Some(pb::SweepCost {
                        reason: reason.clone(),
                        ..Default::default()
                    });
                }
            }
            wire
        })
        .collect();
    let versus_api = sweep
        .versus_api
        .iter()
        .map(|v| {
            let mut wire = pb::OptionVersusApi {
                sku: v.sku.clone(),
                ..Default::default()
            };
            match &v.outcome {
                VersusApi::FirstBeatsApi { crossing } => {
                    wire.kind = pb::VersusApiKind::FirstBeatsApi as i32;
                    wire.crossing = Some(crossing_to_pb(crossing));
                }
                VersusApi::BeatsApiFromStart => {
                    wire.kind = pb::VersusApiKind::BeatsApiFromStart as i32;
                }
                VersusApi::NeverBeatsApi { best_ratio } => {
                    wire.kind = pb::VersusApiKind::NeverBeatsApi as i32;
                    wire.best_ratio = *best_ratio;
                }
                VersusApi::NoApi { reason } => {
                    wire.kind = pb::VersusApiKind::NoApi as i32;
                    wire.reason = reason.clone();
                }
            }
            wire
        })
        .collect();
    Ok(pb::SweepResult {
        axis: match sweep.axis {
            SweepAxis::Demand => pb::SweepAxis::Demand,
            SweepAxis::ApiPriceScale => pb::SweepAxis::ApiPriceScale,
        } as i32,
        catalog_version: sweep.catalog_version.clone(),
        throughput_version: sweep.throughput_version.clone(),
        options: sweep.options.clone(),
        points,
        composition_changes: sweep
            .composition_changes
            .iter()
            .map(|c| pb::CompositionChange {
                crossing: Some(crossing_to_pb(&c.crossing)),
                from: c.from.clone(),
                to: c.to.clone(),
            })
            .collect(),
        versus_api,
        plans: u32::try_from(sweep.plans).unwrap_or(u32::MAX),
        elapsed_ms: sweep.elapsed_ms,
        notes: sweep.notes.clone(),
        sweep_json,
        price_sweeps: Vec::new(),
    })
}

/// Returns the wire form of a sweep's result: one sweep as [`sweep_to_pb`], a grid's sweeps in
/// `price_sweeps` with the first's fields at the top.
pub fn sweeps_to_pb(sweeps: &[Sweep]) -> Result<pb::SweepResult, Status> {
    let Some(first) = sweeps.first() else {
        return Err(Status::internal("the sweep returned no result"));
    };
    let mut result = sweep_to_pb(first)?;
    if sweeps.len() > 1 {
        result.price_sweeps = sweeps.iter().map(sweep_to_pb).collect::<Result<_, _>>()?;
    }
    Ok(result)
}

/// Returns every sweep a wire result carries: a grid's `price_sweeps`, or the one sweep.
pub fn sweeps_from_pb(result: &pb::SweepResult) -> Result<Vec<Sweep>, String> {
    if result.price_sweeps.is_empty() {
        sweep_from_pb(result).map(|s| vec![s])
    } else {
        result.price_sweeps.iter().map(sweep_from_pb).collect()
    }
}

/// Returns the domain sweep a wire result carries (from its exact JSON).
pub fn sweep_from_pb(result: &pb::SweepResult) -> Result<Sweep, String> {
    serde_json::from_str(&result.sweep_json)
        .map_err(|error| format!("the sweep carries unreadable sweep_json: {error}"))
}

fn progress_to_pb(progress: SweepProgress) -> pb::SweepResponse {
    pb::SweepResponse {
        update: Some(pb::sweep_response::Update::Progress(pb::SweepProgress {
            phase: match progress.phase {
                SweepPhase::Grid => "grid",
                SweepPhase::BreakEvens => "break_evens",
            }
            .into(),
            done: u32::try_from(progress.done).unwrap_or(u32::MAX),
            total: u32::try_from(progress.total).unwrap_or(u32::MAX),
        })),
    }
}

/// Serves one Sweep call: checks the caller and the request, then runs the sweep in the
/// background and streams its progress and result.
pub(super) async fn handle(
    service: &PlannerGrpc,
    request: Request<pb::SweepRequest>,
) -> Result<Response<SweepStream>, Status> {
    let started = Instant::now();
    let checked = service
        .auth
        .check(request.metadata(), Access::Read)
        .and_then(|()| sweep_request_from_pb(request.into_inner()));
    let (plan_request, spec, time_limit_s) = match checked {
        Ok(parts) => parts,
        Err(status) => {
            service
                .planner
                .metrics()
                .observe_rpc("Sweep", status.code(), started.elapsed());
            return Err(status);
        }
    };
    let planner = service.planner.clone();
    let (sender, receiver) = tokio::sync::mpsc::channel(PROGRESS_BUFFER);
    let progress_sender = sender.clone();
    tokio::spawn(async move {
        let swept = planner
            .sweep(plan_request, spec, time_limit_s, move |progress| {
                // Progress is advisory: a slow reader misses some, never the result.
                let _ = progress_sender.try_send(Ok(progress_to_pb(progress)));
            })
            .await;
        let message = match swept {
            Ok(sweeps) => sweeps_to_pb(&sweeps).map(|result| pb::SweepResponse {
                update: Some(pb::sweep_response::Update::Result(result)),
            }),
            Err(error) => Err(Status::from(error)),
        };
        let code = match &message {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        planner
            .metrics()
            .observe_rpc("Sweep", code, started.elapsed());
        let _ = sender.send(message).await;
    });
    Ok(Response::new(Box::pin(
        tokio_stream::wrappers::ReceiverStream::new(receiver),
    )))
}
