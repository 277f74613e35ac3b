//! The gRPC services: thin mappings between `fleet.v1` messages and the domain, onto
//! [`Planner`]. Every request field is checked here or by the domain's validation; a bad one
//! is `INVALID_ARGUMENT` naming the field and the value.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet_proto::v1 as pb;
use fleet_store::{BenchmarkKey, ObservationRow};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Access, AuthPolicy};
use crate::catalog::{ApiOffer, Benchmark, HardwareSku, Provenance};
use crate::demand::{
    CostOverrides, DemandProfile, FleetConstraints, HourWindow, PlanRequest, Workload,
};
use crate::error::PlanError;
use crate::physics::{BenchmarkCheck, PlacementKind, Rates, Verdict};
use crate::plan::{BaselineKind, Plan};
use crate::service::{Planner, ServiceError, StoredPlan, now_unix_ms};
use crate::throughput::{
    AccuracyRow, ConfigRates, SkuAccuracy, ThroughputPoint, ThroughputProvenance, WindowRejections,
};
use crate::units::TokenCount;

pub mod sweep;

/// Most observations one ReportObservations message may carry.
pub const MAX_OBSERVATIONS_PER_BATCH: usize = 10_000;
/// Largest request the planner service decodes.
pub const MAX_PLANNER_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Largest message the telemetry service decodes.
pub const MAX_TELEMETRY_REQUEST_BYTES: usize = 16 * 1024 * 1024;
pub use fleet_proto::REJECTED_SEQ_METADATA;
/// Largest response either service encodes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Longest id or name in any request, in bytes (workload names, SKU, model, quant, plan and
/// node ids, filters): a 2 MB workload name once became a 52 MB stored plan.
pub const MAX_ID_BYTES: usize = crate::demand::MAX_NAME_BYTES;
/// Longest free text in any request, in bytes: provenance sources and notes, label values,
/// worker URLs, page tokens.
pub const MAX_TEXT_BYTES: usize = 4_096;
/// Most entries of a map in any request: provenance notes, node labels.
pub const MAX_MAP_ENTRIES: usize = 64;

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match &error {
            ServiceError::Invalid { .. } => Status::invalid_argument(error.to_string()),
            ServiceError::InvalidObservation { seq, .. } => {
                naming_seq(Status::invalid_argument(error.to_string()), *seq)
            }
            ServiceError::NotFound { .. } => Status::not_found(error.to_string()),
            ServiceError::AlreadyExists { .. } => Status::already_exists(error.to_string()),
            ServiceError::Busy { .. } => {
                tracing::warn!(%error, "propose refused: no solve slot");
                Status::resource_exhausted(error.to_string())
            }
            ServiceError::Plan(plan_error) => match plan_error {
                PlanError::InvalidRequest { .. } => Status::invalid_argument(error.to_string()),
                PlanError::Infeasible { .. } | PlanError::Catalog(_) => {
                    Status::failed_precondition(error.to_string())
                }
                PlanError::TimeLimit { .. } => {
                    tracing::warn!(%error, "solver time limit");
                    Status::deadline_exceeded(error.to_string())
                }
                PlanError::Solver(_) => {
                    tracing::error!(%error, "solver failure");
                    Status::internal(error.to_string())
                }
            },
            ServiceError::Store(_) => {
                tracing::error!(%error, "store failure");
                Status::unavailable("the planner's database is unavailable")
            }
            ServiceError::Corrupt { .. } => {
                tracing::error!(%error, "unreadable record");
                Status::data_loss(error.to_string())
            }
        }
    }
}

/// Returns `status` naming the observation at fault ([`REJECTED_SEQ_METADATA`]).
fn naming_seq(mut status: Status, seq: u64) -> Status {
    status
        .metadata_mut()
        .insert(REJECTED_SEQ_METADATA, seq.into());
    status
}

fn invalid(field: impl std::fmt::Display, reason: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("invalid {field}: {reason}"))
}

/// Checks a string field: at most `max_bytes`, and no NUL byte (PostgreSQL cannot store one in
/// TEXT, and would answer with an error that reads as an outage).
fn bounded(field: &str, value: &str, max_bytes: usize) -> Result<(), Status> {
    if value.len() > max_bytes {
        return Err(invalid(
            field,
            format!(
                "{} bytes is longer than the {max_bytes} allowed",
                value.len()
            ),
        ));
    }
    if value.contains('\0') {
        return Err(invalid(field, "must not contain a NUL byte"));
    }
    Ok(())
}

/// Checks an id or name field: [`bounded`] by [`MAX_ID_BYTES`]; it may be empty.
fn id_field(field: &str, value: &str) -> Result<(), Status> {
    bounded(field, value, MAX_ID_BYTES)
}

/// Checks a map of free text: at most [`MAX_MAP_ENTRIES`], ids as keys, text as values.
fn bounded_map<'a>(
    field: &str,
    entries: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> Result<(), Status> {
    if entries.len() > MAX_MAP_ENTRIES {
        return Err(invalid(
            field,
            format!(
                "{} entries is more than the {MAX_MAP_ENTRIES} allowed",
                entries.len()
            ),
        ));
    }
    for (key, value) in entries {
        id_field(&format!("{field} key"), key)?;
        bounded(&format!("{field}[{key}]"), value, MAX_TEXT_BYTES)?;
    }
    Ok(())
}

/// Returns when the caller stops waiting: now plus its `grpc-timeout` header (`1-8 digits` and
/// a unit H, M, S, m, u or n), if it sent one that parses.
fn caller_deadline(metadata: &tonic::metadata::MetadataMap) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(amount.checked_mul(3_600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    };
    Instant::now().checked_add(timeout)
}

/// Runs a handler and records its outcome and latency.
async fn instrumented<T>(
    planner: &Planner,
    method: &'static str,
    handler: impl Future<Output = Result<T, Status>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = handler.await;
    let code = match &result {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    planner
        .metrics()
        .observe_rpc(method, code, started.elapsed());
    if let Err(status) = &result {
        tracing::debug!(method, code = ?status.code(), message = status.message(), "rpc failed");
    }
    result.map(Response::new)
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Returns the domain workload for a wire workload; `index` places it in errors.
pub fn workload_from_pb(index: usize, pb: pb::Workload) -> Result<Workload, Status> {
    let field = |name: &str| format!("workloads[{index}].{name}");
    for (name, value) in [
        ("name", &pb.name),
        ("model", &pb.model),
        ("min_quant", &pb.min_quant),
        ("profile", &pb.profile),
    ] {
        id_field(&field(name), value)?;
    }
    let mut workload = Workload::new(pb.name, TokenCount(pb.monthly_tokens));
    if let Some(input_share) = pb.input_share {
        workload.input_share = input_share;
    }
    if let Some(prompt_tokens) = pb.prompt_tokens {
        workload.prompt_tokens = prompt_tokens;
    }
    if !pb.ttft_p95_ms.is_finite() || pb.ttft_p95_ms < 0.0 {
        return Err(invalid(
            field("ttft_p95_ms"),
            format!(
                "must be 0 (no limit) or a positive number of ms, got {}",
                pb.ttft_p95_ms
            ),
        ));
    }
    workload.ttft_p95_ms = (pb.ttft_p95_ms > 0.0).then_some(pb.ttft_p95_ms);
    if let Some(min_decode) = pb.min_decode_tok_s {
        workload.min_decode_tok_s = min_decode;
    }
    workload.local_only = pb.local_only;
    if !pb.min_quant.is_empty() {
        workload.min_quant = pb.min_quant;
    }
    let reason_of = |error: PlanError| match error {
        PlanError::InvalidRequest { reason, .. } => reason,
        other => other.to_string(),
    };
    if !pb.hourly_weights.is_empty() {
        if !pb.profile.is_empty() {
            return Err(invalid(
                field("hourly_weights"),
                format!(
                    "set either profile ({:?}) or hourly_weights, not both",
                    pb.profile
                ),
            ));
        }
        let profile = DemandProfile::Weights(pb.hourly_weights);
        profile
            .validate("weights")
            .map_err(|e| invalid(field("hourly_weights"), reason_of(e)))?;
        workload.profile = profile;
    } else if !pb.profile.is_empty() {
        workload.profile = match pb.profile.trim().to_ascii_lowercase().as_str() {
            "flat" | "business-hours" | "8h-day" => DemandProfile::parse(&pb.profile)
                .map_err(|e| invalid(field("profile"), reason_of(e)))?,
            _ => {
                return Err(invalid(
                    field("profile"),
                    format!(
                        "{:?} is not flat, business-hours or 8h-day (explicit weights go in hourly_weights)",
                        pb.profile
                    ),
                ));
            }
        };
    }
    workload.deferrable_share = pb.deferrable_share;
    workload.defer_window = match (pb.defer_window_start_hour, pb.defer_window_end_hour) {
        (None, None) => None,
        (Some(start_hour), Some(end_hour)) => {
            for (name, hour) in [
                ("defer_window_start_hour", start_hour),
                ("defer_window_end_hour", end_hour),
            ] {
                if hour > 23 {
                    return Err(invalid(
                        field(name),
                        format!("must be an hour 0..23, got {hour}"),
                    ));
                }
            }
            Some(HourWindow {
                start_hour,
                end_hour,
            })
        }
        (Some(_), None) => {
            return Err(invalid(
                field("defer_window_end_hour"),
                "is required with defer_window_start_hour",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                field("defer_window_start_hour"),
                "is required with defer_window_end_hour",
            ));
        }
    };
    workload.critical = pb.critical;
    workload.model = (!pb.model.trim().is_empty()).then_some(pb.model);
    Ok(workload)
}

/// Returns the wire form of a domain workload.
pub fn workload_to_pb(workload: &Workload) -> pb::Workload {
    pb::Workload {
        name: workload.name.clone(),
        monthly_tokens: workload.monthly_tokens.get(),
        input_share: Some(workload.input_share),
        prompt_tokens: Some(workload.prompt_tokens),
        ttft_p95_ms: workload.ttft_p95_ms.unwrap_or(0.0),
        min_decode_tok_s: Some(workload.min_decode_tok_s),
        local_only: workload.local_only,
        min_quant: workload.min_quant.clone(),
        profile: match &workload.profile {
            DemandProfile::Weights(_) => String::new(),
            preset => preset.label(),
        },
        hourly_weights: match &workload.profile {
            DemandProfile::Weights(weights) => weights.clone(),
            _ => Vec::new(),
        },
        deferrable_share: workload.deferrable_share,
        defer_window_start_hour: workload.defer_window.map(|w| w.start_hour),
        defer_window_end_hour: workload.defer_window.map(|w| w.end_hour),
        critical: workload.critical,
        model: workload.model.clone().unwrap_or_default(),
    }
}

/// Returns the domain request for a Propose request.
pub fn plan_request_from_pb(request: pb::ProposeRequest) -> Result<PlanRequest, Status> {
    if request.workloads.len() > crate::demand::MAX_WORKLOADS {
        return Err(invalid(
            "workloads",
            format!(
                "{} workloads is more than the {} one request may carry",
                request.workloads.len(),
                crate::demand::MAX_WORKLOADS
            ),
        ));
    }
    for (name, map) in [
        ("max_nodes_per_sku", &request.max_nodes_per_sku),
        ("owned_nodes_per_sku", &request.owned_nodes_per_sku),
    ] {
        if map.len() > crate::demand::MAX_SKU_ENTRIES {
            return Err(invalid(
                name,
                format!(
                    "{} entries is more than the {} allowed",
                    map.len(),
                    crate::demand::MAX_SKU_ENTRIES
                ),
            ));
        }
        for sku in map.keys() {
            id_field(&format!("{name} key"), sku)?;
        }
    }
    let workloads = request
        .workloads
        .into_iter()
        .enumerate()
        .map(|(i, w)| workload_from_pb(i, w))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PlanRequest {
        workloads,
        constraints: FleetConstraints {
            budget_usd: request.budget_usd,
            max_nodes_per_sku: request.max_nodes_per_sku.into_iter().collect(),
            owned_nodes_per_sku: request.owned_nodes_per_sku.into_iter().collect(),
            site_power_cap_w: request.site_power_cap_w,
        },
        overrides: CostOverrides {
            utilization_cap: request.utilization_cap,
            electricity_usd_per_kwh: request.electricity_usd_per_kwh,
            amortization_months: request.amortization_months,
        },
        trust_published: request.trust_published,
    })
}

/// Returns the wire Propose request for a domain request (the CLI's client side).
pub fn plan_request_to_pb(request: &PlanRequest) -> pb::ProposeRequest {
    pb::ProposeRequest {
        workloads: request.workloads.iter().map(workload_to_pb).collect(),
        budget_usd: request.constraints.budget_usd,
        max_nodes_per_sku: request
            .constraints
            .max_nodes_per_sku
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        owned_nodes_per_sku: request
            .constraints
            .owned_nodes_per_sku
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        utilization_cap: request.overrides.utilization_cap,
        electricity_usd_per_kwh: request.overrides.electricity_usd_per_kwh,
        amortization_months: request.overrides.amortization_months,
        site_power_cap_w: request.constraints.site_power_cap_w,
        trust_published: request.trust_published,
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

/// Returns the wire form of a stored plan; `plan_json` carries the plan exactly.
pub fn plan_to_pb(stored: &StoredPlan) -> Result<pb::Plan, Status> {
    let plan = &stored.plan;
    let plan_json = serde_json::to_string(plan)
        .map_err(|error| Status::internal(format!("plan not serializable: {error}")))?;
    Ok(pb::Plan {
        id: stored.id.clone(),
        created_at_unix_ms: stored.created_at_unix_ms,
        catalog_version: plan.catalog_version.clone(),
        throughput_source: plan.throughput_source.clone(),
        assumptions: Some(pb::CostAssumptions {
            amortization_months: plan.assumptions.amortization_months,
            electricity_usd_per_kwh: plan.assumptions.electricity_usd_per_kwh,
            hours_per_month: plan.assumptions.hours_per_month,
            utilization_cap: plan.assumptions.utilization_cap,
        }),
        workloads: plan.workloads.iter().map(workload_to_pb).collect(),
        pools: plan
            .pools
            .iter()
            .map(|p| pb::Pool {
                sku: p.sku.clone(),
                sku_name: p.sku_name.clone(),
                quant: p.quant.clone(),
                concurrency: p.concurrency,
                instances_per_node: p.instances_per_node,
                nodes: p.nodes,
                new_nodes: p.new_nodes,
                owned_nodes: p.owned_nodes,
                tokens_per_month: p.tokens_per_month,
                busy_hours: p.busy_hours,
                utilization: p.utilization,
                capex_usd: p.capex_usd,
                amortization_usd: p.amortization_usd,
                energy_usd: p.energy_usd,
                decode_tok_s: p.decode_tok_s,
                prefill_tok_s: p.prefill_tok_s,
                power_busy_w: p.power_busy_w,
                power_idle_w: p.power_idle_w,
                throughput_provenance: p.throughput_provenance.clone(),
                price_usd: p.price_usd,
                offload_note: p.offload_note.clone(),
                model: p.model.clone(),
            })
            .collect(),
        routes: plan
            .routes
            .iter()
            .map(|r| pb::Route {
                workload: r.workload.clone(),
                local: r
                    .local
                    .iter()
                    .map(|s| pb::RouteShare {
                        sku: s.sku.clone(),
                        quant: s.quant.clone(),
                        tokens: s.tokens,
                    })
                    .collect(),
                api_tokens: r.api_tokens,
                why: r.why.clone(),
            })
            .collect(),
        cost: Some(pb::CostBreakdown {
            amortization_usd: plan.cost.amortization_usd,
            energy_usd: plan.cost.energy_usd,
            api_usd: plan.cost.api_usd,
            total_usd: plan.cost.total_usd,
            capex_usd: plan.cost.capex_usd,
            tokens_local: plan.cost.tokens_local,
            tokens_api: plan.cost.tokens_api,
            blended_usd_per_million: plan.cost.blended_usd_per_million,
        }),
        break_even: Some(pb::BreakEven {
            month: plan.break_even.month,
            monthly_savings_usd: plan.break_even.monthly_operating_savings_usd,
            text: plan.break_even.text.clone(),
        }),
        baselines: plan
            .baselines
            .iter()
            .map(|b| pb::Baseline {
                name: b.name.clone(),
                monthly_usd: b.monthly_usd,
                savings_usd: b.savings_vs_baseline_usd,
                infeasible_reason: b.infeasible_reason.clone().unwrap_or_default(),
                kind: match b.kind {
                    BaselineKind::AllApi => pb::BaselineKind::AllApi,
                    BaselineKind::SingleSku => pb::BaselineKind::SingleSku,
                    BaselineKind::Optimum => pb::BaselineKind::Optimum,
                } as i32,
                capex_usd: b.capex_usd,
                fleet: b.fleet.clone(),
                best_single_sku: b.best_single_sku,
            })
            .collect(),
        solver: Some(pb::SolverReport {
            backend: plan.solver.backend.clone(),
            status: plan.solver.status.clone(),
            objective_usd: plan.solver.objective_usd,
            gap: plan.solver.gap,
            solve_ms: plan.solver.solve_ms,
            binding: plan.solver.binding.clone(),
            total_solve_ms: plan.solver.total_solve_ms,
        }),
        notes: plan.notes.clone(),
        plan_json,
        throughput_version: plan.throughput_version.clone(),
        model: plan.model.clone(),
    })
}

/// Returns the domain plan a wire plan carries (from its exact JSON).
pub fn plan_from_pb(plan: &pb::Plan) -> Result<Plan, String> {
    serde_json::from_str(&plan.plan_json)
        .map_err(|error| format!("plan {} carries unreadable plan_json: {error}", plan.id))
}

// ---------------------------------------------------------------------------------------------
// Catalog

fn provenance_from_pb(
    field: &str,
    provenance: Option<pb::Provenance>,
) -> Result<Provenance, Status> {
    if let Some(p) = &provenance {
        bounded(&format!("{field}.source"), &p.source, MAX_TEXT_BYTES)?;
        bounded_map(&format!("{field}.derived"), p.derived.iter())?;
        bounded_map(&format!("{field}.assumed"), p.assumed.iter())?;
    }
    Ok(match provenance {
        Some(p) => Provenance {
            source: if p.source.trim().is_empty() {
                "entered through the planner API".to_string()
            } else {
                p.source
            },
            derived: p.derived.into_iter().collect(),
            assumed: p.assumed.into_iter().collect(),
        },
        None => Provenance {
            source: "entered through the planner API".to_string(),
            derived: BTreeMap::new(),
            assumed: BTreeMap::new(),
        },
    })
}

fn provenance_to_pb(provenance: &Provenance) -> pb::Provenance {
    pb::Provenance {
        source: provenance.source.clone(),
        derived: provenance.derived.clone().into_iter().collect(),
        assumed: provenance.assumed.clone().into_iter().collect(),
    }
}

/// Checks a required id: not blank, and [`id_field`].
fn require(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    id_field(field, value)
}

/// Returns the domain SKU for a wire SKU; range checks happen against the whole catalog.
pub fn hardware_from_pb(pb: pb::HardwareSku) -> Result<HardwareSku, Status> {
    require("hardware.id", &pb.id)?;
    require("hardware.backend", &pb.backend)?;
    id_field("hardware.name", &pb.name)?;
    let provenance = provenance_from_pb("hardware.provenance", pb.provenance)?;
    Ok(HardwareSku {
        name: if pb.name.trim().is_empty() {
            pb.id.clone()
        } else {
            pb.name
        },
        id: pb.id,
        accelerators: pb.accelerators,
        memory_per_device_gb: pb.memory_per_device_gb,
        unified_memory: pb.unified_memory,
        price_usd: pb.price_usd,
        power_full_w: pb.power_full_w,
        power_idle_w: pb.power_idle_w,
        backend: pb.backend,
        memory_bandwidth_gb_s: pb.memory_bandwidth_gb_s,
        compute_tflops: pb.compute_tflops,
        host_ram_gb: pb.host_ram_gb,
        host_ram_bandwidth_gb_s: pb.host_ram_bandwidth_gb_s,
        host_link_gb_s: pb.host_link_gb_s,
        disk_read_gb_s: pb.disk_read_gb_s,
        provenance,
    })
}

/// Returns the wire form of a SKU.
pub fn hardware_to_pb(sku: &HardwareSku) -> pb::HardwareSku {
    pb::HardwareSku {
        id: sku.id.clone(),
        name: sku.name.clone(),
        accelerators: sku.accelerators,
        memory_per_device_gb: sku.memory_per_device_gb,
        unified_memory: sku.unified_memory,
        price_usd: sku.price_usd,
        power_full_w: sku.power_full_w,
        power_idle_w: sku.power_idle_w,
        backend: sku.backend.clone(),
        provenance: Some(provenance_to_pb(&sku.provenance)),
        memory_bandwidth_gb_s: sku.memory_bandwidth_gb_s,
        compute_tflops: sku.compute_tflops,
        host_ram_gb: sku.host_ram_gb,
        host_ram_bandwidth_gb_s: sku.host_ram_bandwidth_gb_s,
        host_link_gb_s: sku.host_link_gb_s,
        disk_read_gb_s: sku.disk_read_gb_s,
    }
}

/// Returns the domain benchmark for a wire benchmark.
pub fn benchmark_from_pb(pb: pb::Benchmark) -> Result<Benchmark, Status> {
    require("benchmark.sku", &pb.sku)?;
    require("benchmark.model", &pb.model)?;
    require("benchmark.quant", &pb.quant)?;
    let provenance = provenance_from_pb("benchmark.provenance", pb.provenance)?;
    Ok(Benchmark {
        sku: pb.sku,
        model: pb.model,
        quant: pb.quant,
        concurrency: pb.concurrency.max(1),
        devices_used: pb.devices_used,
        vram_used_gb: pb.vram_used_gb,
        decode_tok_s: pb.decode_tok_s,
        prefill_tok_s: pb.prefill_tok_s,
        power_w: pb.power_w,
        offload: pb.offload,
        context_tokens: pb.context_tokens,
        provenance,
    })
}

/// Returns the wire form of a benchmark.
pub fn benchmark_to_pb(b: &Benchmark) -> pb::Benchmark {
    pb::Benchmark {
        sku: b.sku.clone(),
        model: b.model.clone(),
        quant: b.quant.clone(),
        concurrency: b.concurrency,
        devices_used: b.devices_used,
        vram_used_gb: b.vram_used_gb,
        decode_tok_s: b.decode_tok_s,
        prefill_tok_s: b.prefill_tok_s,
        power_w: b.power_w,
        offload: b.offload,
        provenance: Some(provenance_to_pb(&b.provenance)),
        context_tokens: b.context_tokens,
    }
}

/// Returns the domain API offer for a wire offer.
pub fn api_offer_from_pb(pb: pb::ApiOffer) -> Result<ApiOffer, Status> {
    require("api_offer.id", &pb.id)?;
    require("api_offer.model", &pb.model)?;
    id_field("api_offer.name", &pb.name)?;
    let provenance = provenance_from_pb("api_offer.provenance", pb.provenance)?;
    Ok(ApiOffer {
        name: if pb.name.trim().is_empty() {
            pb.id.clone()
        } else {
            pb.name
        },
        id: pb.id,
        model: pb.model,
        input_usd_per_million: pb.input_usd_per_million,
        output_usd_per_million: pb.output_usd_per_million,
        ttft_p50_ms: pb.ttft_p50_ms,
        ttft_p95_ms: pb.ttft_p95_ms,
        provenance,
    })
}

/// Returns the wire form of an API offer.
pub fn api_offer_to_pb(a: &ApiOffer) -> pb::ApiOffer {
    pb::ApiOffer {
        id: a.id.clone(),
        name: a.name.clone(),
        model: a.model.clone(),
        input_usd_per_million: a.input_usd_per_million,
        output_usd_per_million: a.output_usd_per_million,
        ttft_p50_ms: a.ttft_p50_ms,
        ttft_p95_ms: a.ttft_p95_ms,
        provenance: Some(provenance_to_pb(&a.provenance)),
    }
}

fn rates_to_pb(rates: &Rates) -> pb::PhysicsRates {
    pb::PhysicsRates {
        decode_tok_s: rates.decode_tok_s,
        prefill_tok_s: rates.prefill_tok_s,
        aggregate_decode_tok_s: rates.aggregate_decode_tok_s,
    }
}

/// Returns the wire form of one benchmark's check: placement, ceiling, estimate and verdict.
pub fn benchmark_check_to_pb(check: &BenchmarkCheck) -> pb::BenchmarkCheck {
    let placement = &check.physics.placement;
    let kind = match placement.kind {
        PlacementKind::Accelerator => pb::PlacementKind::Accelerator,
        PlacementKind::ExpertsInHostRam => pb::PlacementKind::ExpertsInHostRam,
        PlacementKind::Unified => pb::PlacementKind::Unified,
    };
    let verdict = match check.verdict {
        Verdict::Plausible => pb::VerdictKind::Plausible,
        Verdict::Implausible { .. } => pb::VerdictKind::Implausible,
        Verdict::Impossible { .. } => pb::VerdictKind::Impossible,
    };
    pb::BenchmarkCheck {
        sku: check.sku.clone(),
        model: check.model.clone(),
        quant: check.quant.clone(),
        concurrency: check.concurrency,
        context_tokens: check.context_tokens,
        claimed_decode_tok_s: check.claimed_decode_tok_s,
        claimed_prefill_tok_s: check.claimed_prefill_tok_s,
        placement: Some(pb::Placement {
            kind: kind as i32,
            kind_words: placement.kind.words().to_string(),
            description: placement.describe(),
            fits: placement.fits,
            devices_per_instance: placement.devices_per_instance,
            instances_per_node: placement.instances_per_node,
            weights_gb: placement.weights_gb,
            kv_gb: placement.kv_gb,
            accelerator_needed_gb: placement.accelerator_needed_gb,
            accelerator_have_gb: placement.accelerator_have_gb,
            host_needed_gb: placement.host_needed_gb,
            host_have_gb: placement.host_have_gb,
        }),
        ceiling: Some(rates_to_pb(&check.physics.ceiling)),
        estimate: Some(rates_to_pb(&check.physics.estimate)),
        band: check.physics.band,
        verdict: verdict as i32,
        verdict_text: check.verdict.to_string(),
        assumed_inputs: check.assumed_inputs.clone(),
        source: check.source.clone(),
    }
}

fn throughput_point_to_pb(p: &ThroughputPoint) -> pb::ThroughputPoint {
    let (source, nodes, windows, last) = match &p.provenance {
        // The basis in words is `provenance`; the enum tells measured from catalog-derived.
        ThroughputProvenance::Catalog { .. }
        | ThroughputProvenance::Published { .. }
        | ThroughputProvenance::Trusted { .. }
        | ThroughputProvenance::Estimated { .. }
        | ThroughputProvenance::Refit { .. } => (pb::ThroughputSource::Catalog, 0, 0, 0),
        ThroughputProvenance::Measured {
            nodes,
            windows,
            last_observed_unix_ms,
            ..
        }
        | ThroughputProvenance::Fitted {
            nodes,
            windows,
            last_observed_unix_ms,
            ..
        } => (
            pb::ThroughputSource::Measured,
            *nodes,
            *windows,
            *last_observed_unix_ms,
        ),
    };
    pb::ThroughputPoint {
        sku: p.sku.clone(),
        model: p.model.clone(),
        quant: p.quant.clone(),
        concurrency: p.concurrency,
        decode_tok_s: p.decode_tok_s,
        prefill_tok_s: p.prefill_tok_s,
        aggregate_decode_tok_s: p.aggregate_decode_tok_s,
        provenance: p.provenance.to_string(),
        nodes,
        windows,
        last_observed_unix_ms: last,
        source: source as i32,
        instances_per_node: p.instances_per_node,
        power_busy_w: p.power_busy_w,
        band: match &p.provenance {
            ThroughputProvenance::Estimated { band, .. }
            | ThroughputProvenance::Refit { band, .. } => Some(*band),
            ThroughputProvenance::Measured { band, .. } => *band,
            _ => None,
        },
        request_prefill_tok_s: p.request_prefill_tok_s,
    }
}

/// Returns whether a row of `sku` and `model` passes a request's optional SKU and model filters
/// (an empty filter passes everything).
fn matches_filter(want_sku: &str, want_model: &str, sku: &str, model: &str) -> bool {
    (want_sku.is_empty() || sku == want_sku) && (want_model.is_empty() || model == want_model)
}

fn rejections_to_pb(r: &WindowRejections) -> pb::WindowRejections {
    pb::WindowRejections {
        too_few_tokens: r.too_few_tokens,
        no_rate: r.no_rate,
        outliers: r.outliers,
        above_ceiling: r.above_ceiling,
    }
}

fn config_rates_to_pb(r: &ConfigRates) -> pb::MeasuredRates {
    pb::MeasuredRates {
        decode_tok_s: r.decode_tok_s,
        aggregate_decode_tok_s: r.aggregate_decode_tok_s,
        prefill_tok_s: r.prefill_tok_s,
    }
}

fn accuracy_row_to_pb(r: &AccuracyRow) -> pb::AccuracyRow {
    pb::AccuracyRow {
        sku: r.sku.clone(),
        model: r.model.clone(),
        quant: r.quant.clone(),
        concurrency: r.concurrency,
        assumed: Some(config_rates_to_pb(&r.assumed)),
        assumed_basis: r.assumed_basis.clone(),
        band: r.band,
        measured: Some(config_rates_to_pb(&r.measured)),
        windows: r.windows,
        decode_error_pct: r.decode_error_pct,
        aggregate_error_pct: r.aggregate_error_pct,
        prefill_error_pct: r.prefill_error_pct,
        outside_band: r.outside_band,
    }
}

fn sku_accuracy_to_pb(a: &SkuAccuracy) -> pb::SkuAccuracy {
    pb::SkuAccuracy {
        sku: a.sku.clone(),
        configurations: a.configurations,
        mape_pct: a.mape_pct,
        decode_efficiency_factor: a.decode_efficiency_factor,
        prefill_efficiency_factor: a.prefill_efficiency_factor,
        refit_band: a.refit_band,
    }
}

// ---------------------------------------------------------------------------------------------
// PlannerService

/// `fleet.v1.PlannerService` over a [`Planner`].
#[derive(Debug, Clone)]
pub struct PlannerGrpc {
    planner: Planner,
    auth: Arc<AuthPolicy>,
}

impl PlannerGrpc {
    /// Returns the service over a planner, open to every caller.
    pub fn new(planner: Planner) -> Self {
        PlannerGrpc::with_auth(planner, AuthPolicy::default())
    }

    /// Returns the service over a planner, enforcing `auth`.
    pub fn with_auth(planner: Planner, auth: AuthPolicy) -> Self {
        PlannerGrpc {
            planner,
            auth: Arc::new(auth),
        }
    }

    /// Returns the tonic server for this service, with message size limits set.
    pub fn into_server(self) -> pb::planner_service_server::PlannerServiceServer<PlannerGrpc> {
        pb::planner_service_server::PlannerServiceServer::new(self)
            .max_decoding_message_size(MAX_PLANNER_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
    }
}

#[tonic::async_trait]
impl pb::planner_service_server::PlannerService for PlannerGrpc {
    async fn propose(
        &self,
        request: Request<pb::ProposeRequest>,
    ) -> Result<Response<pb::ProposeResponse>, Status> {
        instrumented(&self.planner, "Propose", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let deadline = caller_deadline(request.metadata());
            let request = plan_request_from_pb(request.into_inner())?;
            let stored = self.planner.propose_within(request, deadline).await?;
            Ok(pb::ProposeResponse {
                plan: Some(plan_to_pb(&stored)?),
            })
        })
        .await
    }

    async fn get_plan(
        &self,
        request: Request<pb::GetPlanRequest>,
    ) -> Result<Response<pb::GetPlanResponse>, Status> {
        instrumented(&self.planner, "GetPlan", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let id = request.into_inner().id;
            id_field("id", &id)?;
            let stored = self.planner.get_plan(&id).await?;
            Ok(pb::GetPlanResponse {
                plan: Some(plan_to_pb(&stored)?),
            })
        })
        .await
    }

    async fn rerun_plan(
        &self,
        request: Request<pb::RerunPlanRequest>,
    ) -> Result<Response<pb::RerunPlanResponse>, Status> {
        instrumented(&self.planner, "RerunPlan", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let deadline = caller_deadline(request.metadata());
            let id = request.into_inner().id;
            id_field("id", &id)?;
            let stored = self.planner.rerun_plan(&id, deadline).await?;
            Ok(pb::RerunPlanResponse {
                plan: Some(plan_to_pb(&stored)?),
                previous_id: id,
            })
        })
        .await
    }

    async fn list_plans(
        &self,
        request: Request<pb::ListPlansRequest>,
    ) -> Result<Response<pb::ListPlansResponse>, Status> {
        instrumented(&self.planner, "ListPlans", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let request = request.into_inner();
            bounded("page_token", &request.page_token, MAX_TEXT_BYTES)?;
            let page = self
                .planner
                .list_plans(request.page_size, &request.page_token)
                .await?;
            Ok(pb::ListPlansResponse {
                plans: page
                    .plans
                    .into_iter()
                    .zip(page.summaries)
                    .map(|(p, summary)| pb::PlanSummary {
                        id: p.id,
                        created_at_unix_ms: p.created_at_unix_ms,
                        catalog_version: p.catalog_version,
                        total_usd: p.total_usd,
                        summary,
                    })
                    .collect(),
                next_page_token: page.next_page_token,
            })
        })
        .await
    }

    async fn get_schedule(
        &self,
        request: Request<pb::GetScheduleRequest>,
    ) -> Result<Response<pb::GetScheduleResponse>, Status> {
        instrumented(&self.planner, "GetSchedule", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let request = request.into_inner();
            id_field("plan_id", &request.plan_id)?;
            let stored = self.planner.get_plan(&request.plan_id).await?;
            schedule_to_pb(&stored, request.hour)
        })
        .await
    }

    async fn list_hardware(
        &self,
        request: Request<pb::ListHardwareRequest>,
    ) -> Result<Response<pb::ListHardwareResponse>, Status> {
        instrumented(&self.planner, "ListHardware", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let catalog = self.planner.catalog().await?;
            Ok(pb::ListHardwareResponse {
                hardware: catalog.hardware.iter().map(hardware_to_pb).collect(),
                catalog_version: catalog.version.clone(),
            })
        })
        .await
    }

    async fn upsert_hardware(
        &self,
        request: Request<pb::UpsertHardwareRequest>,
    ) -> Result<Response<pb::UpsertHardwareResponse>, Status> {
        instrumented(&self.planner, "UpsertHardware", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let sku = request
                .into_inner()
                .hardware
                .ok_or_else(|| invalid("hardware", "is required"))?;
            let sku = hardware_from_pb(sku)?;
            let catalog_version = self.planner.upsert_hardware(sku.clone()).await?;
            Ok(pb::UpsertHardwareResponse {
                hardware: Some(hardware_to_pb(&sku)),
                catalog_version,
            })
        })
        .await
    }

    async fn delete_hardware(
        &self,
        request: Request<pb::DeleteHardwareRequest>,
    ) -> Result<Response<pb::DeleteHardwareResponse>, Status> {
        instrumented(&self.planner, "DeleteHardware", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let id = request.into_inner().id;
            id_field("id", &id)?;
            let catalog_version = self.planner.delete_hardware(&id).await?;
            Ok(pb::DeleteHardwareResponse { catalog_version })
        })
        .await
    }

    async fn list_benchmarks(
        &self,
        request: Request<pb::ListBenchmarksRequest>,
    ) -> Result<Response<pb::ListBenchmarksResponse>, Status> {
        instrumented(&self.planner, "ListBenchmarks", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let request = request.into_inner();
            id_field("sku", &request.sku)?;
            id_field("model", &request.model)?;
            let catalog = self.planner.catalog().await?;
            Ok(pb::ListBenchmarksResponse {
                benchmarks: catalog
                    .benchmarks
                    .iter()
                    .filter(|b| request.sku.is_empty() || b.sku == request.sku)
                    .filter(|b| request.model.is_empty() || b.model == request.model)
                    .map(benchmark_to_pb)
                    .collect(),
                catalog_version: catalog.version.clone(),
            })
        })
        .await
    }

    async fn upsert_benchmark(
        &self,
        request: Request<pb::UpsertBenchmarkRequest>,
    ) -> Result<Response<pb::UpsertBenchmarkResponse>, Status> {
        instrumented(&self.planner, "UpsertBenchmark", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let benchmark = request
                .into_inner()
                .benchmark
                .ok_or_else(|| invalid("benchmark", "is required"))?;
            let benchmark = benchmark_from_pb(benchmark)?;
            let catalog_version = self.planner.upsert_benchmark(benchmark.clone()).await?;
            Ok(pb::UpsertBenchmarkResponse {
                benchmark: Some(benchmark_to_pb(&benchmark)),
                catalog_version,
            })
        })
        .await
    }

    async fn delete_benchmark(
        &self,
        request: Request<pb::DeleteBenchmarkRequest>,
    ) -> Result<Response<pb::DeleteBenchmarkResponse>, Status> {
        instrumented(&self.planner, "DeleteBenchmark", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let request = request.into_inner();
            require("sku", &request.sku)?;
            require("model", &request.model)?;
            require("quant", &request.quant)?;
            let catalog_version = self
                .planner
                .delete_benchmark(BenchmarkKey {
                    sku: request.sku,
                    model: request.model,
                    quant: request.quant,
                    concurrency: request.concurrency.max(1),
                })
                .await?;
            Ok(pb::DeleteBenchmarkResponse { catalog_version })
        })
        .await
    }

    async fn list_api_offers(
        &self,
        request: Request<pb::ListApiOffersRequest>,
    ) -> Result<Response<pb::ListApiOffersResponse>, Status> {
        instrumented(&self.planner, "ListApiOffers", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let catalog = self.planner.catalog().await?;
            Ok(pb::ListApiOffersResponse {
                api_offers: catalog.apis.iter().map(api_offer_to_pb).collect(),
                catalog_version: catalog.version.clone(),
            })
        })
        .await
    }

    async fn upsert_api_offer(
        &self,
        request: Request<pb::UpsertApiOfferRequest>,
    ) -> Result<Response<pb::UpsertApiOfferResponse>, Status> {
        instrumented(&self.planner, "UpsertApiOffer", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let offer = request
                .into_inner()
                .api_offer
                .ok_or_else(|| invalid("api_offer", "is required"))?;
            let offer = api_offer_from_pb(offer)?;
            let catalog_version = self.planner.upsert_api_offer(offer.clone()).await?;
            Ok(pb::UpsertApiOfferResponse {
                api_offer: Some(api_offer_to_pb(&offer)),
                catalog_version,
            })
        })
        .await
    }

    async fn delete_api_offer(
        &self,
        request: Request<pb::DeleteApiOfferRequest>,
    ) -> Result<Response<pb::DeleteApiOfferResponse>, Status> {
        instrumented(&self.planner, "DeleteApiOffer", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let id = request.into_inner().id;
            id_field("id", &id)?;
            let catalog_version = self.planner.delete_api_offer(&id).await?;
            Ok(pb::DeleteApiOfferResponse { catalog_version })
        })
        .await
    }

    async fn get_throughput_model(
        &self,
        request: Request<pb::GetThroughputModelRequest>,
    ) -> Result<Response<pb::GetThroughputModelResponse>, Status> {
        instrumented(&self.planner, "GetThroughputModel", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let request = request.into_inner();
            id_field("sku", &request.sku)?;
            id_field("model", &request.model)?;
            let view = self.planner.throughput().await?;
            let keep =
                |sku: &str, model: &str| matches_filter(&request.sku, &request.model, sku, model);
            Ok(pb::GetThroughputModelResponse {
                version: view.model.version.clone(),
                points: view
                    .model
                    .points
                    .iter()
                    .filter(|p| keep(&p.sku, &p.model))
                    .map(throughput_point_to_pb)
                    .collect(),
                unmatched: view
                    .unmatched
                    .iter()
                    .filter(|u| keep(&u.sku, &u.model))
                    .map(|u| pb::UnmatchedObservations {
                        sku: u.sku.clone(),
                        model: u.model.clone(),
                        quant: u.quant.clone(),
                        concurrency: u.concurrency,
                        windows: u.windows,
                        nodes: u.nodes,
                        reason: u.reason.clone(),
                    })
                    .collect(),
                ignored_windows: view.model.ignored_windows,
                quarantined_windows: view.model.quarantined_windows,
                rejections: Some(rejections_to_pb(&view.model.rejections)),
            })
        })
        .await
    }

    async fn get_accuracy(
        &self,
        request: Request<pb::GetAccuracyRequest>,
    ) -> Result<Response<pb::GetAccuracyResponse>, Status> {
        instrumented(&self.planner, "GetAccuracy", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let request = request.into_inner();
            let view = self.planner.throughput().await?;
            let keep =
                |sku: &str, model: &str| matches_filter(&request.sku, &request.model, sku, model);
            Ok(pb::GetAccuracyResponse {
                throughput_version: view.model.version.clone(),
                rows: view
                    .model
                    .ledger
                    .iter()
                    .filter(|r| keep(&r.sku, &r.model))
                    .map(accuracy_row_to_pb)
                    .collect(),
                skus: view
                    .model
                    .sku_accuracy
                    .iter()
                    .filter(|a| matches_filter(&request.sku, "", &a.sku, ""))
                    .map(sku_accuracy_to_pb)
                    .collect(),
                rejections: Some(rejections_to_pb(&view.model.rejections)),
            })
        })
        .await
    }

    async fn check_catalog(
        &self,
        request: Request<pb::CheckCatalogRequest>,
    ) -> Result<Response<pb::CheckCatalogResponse>, Status> {
        instrumented(&self.planner, "CheckCatalog", async {
            self.auth.check(request.metadata(), Access::Read)?;
            let check = self.planner.check_catalog().await?;
            Ok(pb::CheckCatalogResponse {
                benchmarks: check.rows.iter().map(benchmark_check_to_pb).collect(),
                catalog_version: check.catalog_version,
            })
        })
        .await
    }

    type SweepStream = sweep::SweepStream;

    async fn sweep(
        &self,
        request: Request<pb::SweepRequest>,
    ) -> Result<Response<Self::SweepStream>, Status> {
        sweep::handle(self, request).await
    }
}

/// Returns a plan's routing in one hour of its cycle: tokens per pool and to the API, and the
/// weights a gateway applies (summing to 1 per workload).
fn schedule_to_pb(stored: &StoredPlan, hour: u32) -> Result<pb::GetScheduleResponse, Status> {
    let plan = &stored.plan;
    let routing = plan.routing_at(hour).map_err(ServiceError::from)?;
    let slot = &plan.schedule.hourly[hour as usize];
    let routes = routing
        .workloads
        .iter()
        .map(|w| {
            let tokens = slot.workloads.iter().find(|hw| hw.workload == w.workload);
            let mut route = pb::ScheduledRoute {
                workload: w.workload.clone(),
                api_tokens: tokens.map_or(0.0, |t| t.api_tokens),
                ..Default::default()
            };
            for target in &w.targets {
                match target.pool {
                    Some(p) => {
                        let pool = &plan.pools[p];
                        route.local.push(pb::RouteShare {
                            sku: pool.sku.clone(),
                            quant: pool.quant.clone(),
                            tokens: tokens
                                .and_then(|t| t.pool_tokens.get(p).copied())
                                .unwrap_or(0.0),
                        });
                        route.local_weights.push(target.weight);
                    }
                    None => route.api_weight = target.weight,
                }
            }
            route
        })
        .collect();
    let pools = plan
        .pools
        .iter()
        .zip(&slot.pool_utilization)
        .map(|(p, utilization)| pb::PoolLoad {
            sku: p.sku.clone(),
            quant: p.quant.clone(),
            busy_nodes: utilization * f64::from(p.nodes),
            utilization: *utilization,
        })
        .collect();
    Ok(pb::GetScheduleResponse {
        plan_id: stored.id.clone(),
        hour,
        routes,
        pools,
    })
}

// ---------------------------------------------------------------------------------------------
// TelemetryService

/// `fleet.v1.TelemetryService` over a [`Planner`].
#[derive(Debug, Clone)]
pub struct TelemetryGrpc {
    planner: Planner,
    auth: Arc<AuthPolicy>,
}

impl TelemetryGrpc {
    /// Returns the service over a planner, open to every caller.
    pub fn new(planner: Planner) -> Self {
        TelemetryGrpc::with_auth(planner, AuthPolicy::default())
    }

    /// Returns the service over a planner, enforcing `auth` (every telemetry call is a write).
    pub fn with_auth(planner: Planner, auth: AuthPolicy) -> Self {
        TelemetryGrpc {
            planner,
            auth: Arc::new(auth),
        }
    }

    /// Returns the tonic server for this service, with message size limits set.
    pub fn into_server(
        self,
    ) -> pb::telemetry_service_server::TelemetryServiceServer<TelemetryGrpc> {
        pb::telemetry_service_server::TelemetryServiceServer::new(self)
            .max_decoding_message_size(MAX_TELEMETRY_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES)
    }
}

fn non_negative(field: &str, value: f64) -> Result<f64, Status> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("must be a finite number ≥ 0, got {value}"),
        ))
    }
}

/// Returns the stored form of a wire observation; `index` places it in errors.
pub fn observation_from_pb(
    index: usize,
    o: pb::Observation,
    received_at_unix_ms: i64,
    max_clock_skew: Duration,
) -> Result<ObservationRow, Status> {
    let field = |name: &str| format!("observations[{index}].{name}");
    require(&field("node_id"), &o.node_id)?;
    require(&field("sku"), &o.sku)?;
    require(&field("model"), &o.model)?;
    require(&field("quant"), &o.quant)?;
    bounded(&field("worker_url"), &o.worker_url, MAX_TEXT_BYTES)?;
    if o.seq == 0 || o.seq > i64::MAX as u64 {
        return Err(invalid(
            field("seq"),
            format!("must be in 1..={}, got {}", i64::MAX, o.seq),
        ));
    }
    if o.window_end_unix_ms <= o.window_start_unix_ms {
        return Err(invalid(
            field("window_end_unix_ms"),
            format!(
                "{} is not after window_start_unix_ms {}",
                o.window_end_unix_ms, o.window_start_unix_ms
            ),
        ));
    }
    for (name, value) in [
        ("prompt_tokens", o.prompt_tokens),
        ("predicted_tokens", o.predicted_tokens),
    ] {
        if value > i64::MAX as u64 {
            return Err(invalid(field(name), format!("{value} is too large")));
        }
    }
    let kind = match pb::ObservationKind::try_from(o.kind) {
        Ok(pb::ObservationKind::Passive) => "passive",
        Ok(pb::ObservationKind::Probe) => "probe",
        _ => {
            return Err(invalid(
                field("kind"),
                format!("{} is not PASSIVE (1) or PROBE (2)", o.kind),
            ));
        }
    };
    let cache_hit_rate = non_negative(&field("cache_hit_rate"), o.cache_hit_rate)?;
    if cache_hit_rate > 1.0 {
        return Err(invalid(
            field("cache_hit_rate"),
            format!("must be at most 1, got {cache_hit_rate}"),
        ));
    }
    let power_w = match o.power_w {
        Some(w) => Some(non_negative(&field("power_w"), w)?),
        None => None,
    };
    let row = ObservationRow {
        prompt_seconds: non_negative(&field("prompt_seconds"), o.prompt_seconds)?,
        predicted_seconds: non_negative(&field("predicted_seconds"), o.predicted_seconds)?,
        prefill_tok_s: non_negative(&field("prefill_tok_s"), o.prefill_tok_s)?,
        decode_tok_s: non_negative(&field("decode_tok_s"), o.decode_tok_s)?,
        aggregate_decode_tok_s: non_negative(
            &field("aggregate_decode_tok_s"),
            o.aggregate_decode_tok_s,
        )?,
        mean_concurrency: non_negative(&field("mean_concurrency"), o.mean_concurrency)?,
        queue_depth: non_negative(&field("queue_depth"), o.queue_depth)?,
        cache_hit_rate,
        power_w,
        node_id: o.node_id,
        seq: o.seq,
        sku: o.sku,
        model: o.model,
        quant: o.quant,
        worker_url: o.worker_url,
        window_start_unix_ms: o.window_start_unix_ms,
        window_end_unix_ms: o.window_end_unix_ms,
        prompt_tokens: o.prompt_tokens,
        predicted_tokens: o.predicted_tokens,
        kind: kind.to_string(),
        concurrency: o.concurrency.max(1),
        received_at_unix_ms,
    };
    crate::service::check_observation(&row, max_clock_skew)
        .map_err(|(name, reason)| invalid(field(name), reason))?;
    Ok(row)
}

type AckStream = Pin<Box<dyn Stream<Item = Result<pb::ReportObservationsResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::telemetry_service_server::TelemetryService for TelemetryGrpc {
    async fn register_node(
        &self,
        request: Request<pb::RegisterNodeRequest>,
    ) -> Result<Response<pb::RegisterNodeResponse>, Status> {
        instrumented(&self.planner, "RegisterNode", async {
            self.auth.check(request.metadata(), Access::Write)?;
            let request = request.into_inner();
            require("node_id", &request.node_id)?;
            require("sku", &request.sku)?;
            bounded_map("labels", request.labels.iter())?;
            let labels: BTreeMap<_, _> = request.labels.into_iter().collect();
            let labels_json = serde_json::to_string(&labels)
                .map_err(|error| Status::internal(format!("labels: {error}")))?;
            let (node, acked) = self
                .planner
                .register_node(&request.node_id, &request.sku, &labels_json)
                .await?;
            tracing::info!(node = %node.node_id, sku = %node.sku, acked, "node registered");
            Ok(pb::RegisterNodeResponse {
                node_id: node.node_id,
                acked_through_seq: acked,
                registered_at_unix_ms: node.registered_at_unix_ms,
            })
        })
        .await
    }

    type ReportObservationsStream = AckStream;

    async fn report_observations(
        &self,
        request: Request<Streaming<pb::ReportObservationsRequest>>,
    ) -> Result<Response<Self::ReportObservationsStream>, Status> {
        if let Err(status) = self.auth.check(request.metadata(), Access::Write) {
            self.planner
                .metrics()
                .observe_rpc("ReportObservations", status.code(), Duration::ZERO);
            return Err(status);
        }
        let mut inbound = request.into_inner();
        let planner = self.planner.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(message) = inbound.next().await {
                let started = Instant::now();
                let result = match message {
                    Ok(batch) => ingest_batch(&planner, batch).await,
                    Err(status) => {
                        // A message the server cannot decode (over the size limit, malformed)
                        // or a client that went away: tell the client why, so an agent does not
                        // read a clean end of stream and resend the same batch forever.
                        tracing::debug!(code = ?status.code(), message = status.message(), "telemetry stream failed");
                        planner.metrics().observe_rpc(
                            "ReportObservations",
                            status.code(),
                            started.elapsed(),
                        );
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                };
                let code = match &result {
                    Ok(_) => tonic::Code::Ok,
                    Err(status) => status.code(),
                };
                planner
                    .metrics()
                    .observe_rpc("ReportObservations", code, started.elapsed());
                match result {
                    Ok(acks) => {
                        for ack in acks {
                            if sender.send(Ok(ack)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(status) => {
                        tracing::warn!(code = ?status.code(), message = status.message(), "telemetry batch rejected");
                        let _ = sender.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }
}

async fn ingest_batch(
    planner: &Planner,
    batch: pb::ReportObservationsRequest,
) -> Result<Vec<pb::ReportObservationsResponse>, Status> {
    if batch.observations.len() > MAX_OBSERVATIONS_PER_BATCH {
        return Err(invalid(
            "observations",
            format!(
                "{} observations in one message is more than {MAX_OBSERVATIONS_PER_BATCH}",
                batch.observations.len()
            ),
        ));
    }
    let received = now_unix_ms();
    let rows = batch
        .observations
        .into_iter()
        .enumerate()
        .map(|(i, o)| {
            let seq = o.seq;
            observation_from_pb(i, o, received, planner.settings().max_clock_skew)
                .map_err(|status| naming_seq(status, seq))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let acks = planner.ingest(rows).await?;
    Ok(acks
        .into_iter()
        .map(|ack| pb::ReportObservationsResponse {
            node_id: ack.node_id,
            acked_through_seq: ack.acked_through_seq,
            acked_seqs: ack.acked_seqs,
            inserted: ack.inserted,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_garbage_is_no_deadline() {
        let deadline_in = |value: &str| {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("grpc-timeout", value.parse().unwrap());
            let before = Instant::now();
            caller_deadline(&metadata).map(|d| d.duration_since(before))
        };
        let close = |got: Option<Duration>, want: Duration| {
            got.is_some_and(|got| got >= want && got < want + Duration::from_secs(1))
        };
        assert!(close(deadline_in("2H"), Duration::from_secs(7_200)));
        assert!(close(deadline_in("3M"), Duration::from_secs(180)));
        assert!(close(deadline_in("5S"), Duration::from_secs(5)));
        assert!(close(deadline_in("250m"), Duration::from_millis(250)));
        assert!(close(
            deadline_in("99999999u"),
            Duration::from_micros(99_999_999)
        ));
        assert!(close(deadline_in("7n"), Duration::from_nanos(7)));
        for garbage in ["", "S", "5", "5s", "123456789S", "-1S", "1.5S", "xS"] {
            assert_eq!(deadline_in(garbage), None, "{garbage:?}");
        }
        assert_eq!(caller_deadline(&tonic::metadata::MetadataMap::new()), None);
    }

    #[test]
    fn busy_is_resource_exhausted_and_store_data_errors_are_not_unavailable() {
        let status = Status::from(ServiceError::Busy {
            slots: 2,
            waited_ms: 750,
        });
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("all 2 solve slots are busy"));
        let status = Status::from(ServiceError::from(fleet_store::StoreError::AlreadyExists {
            what: "plan",
            id: "p".into(),
        }));
        assert_eq!(status.code(), tonic::Code::AlreadyExists);
        let status = Status::from(ServiceError::from(fleet_store::StoreError::InvalidData {
            reason: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
        }));
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("0x00"), "{status:?}");
    }

    #[test]
    fn a_time_limit_without_a_fleet_is_deadline_exceeded_naming_the_limit() {
        let status = Status::from(ServiceError::Plan(PlanError::TimeLimit {
            limit_s: 0.5,
            detail: "68736 variables".into(),
        }));
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);
        assert!(
            status
                .message()
                .contains("no plan found within the 0.5 s time limit"),
            "{}",
            status.message()
        );
        let status = Status::from(ServiceError::Plan(PlanError::Solver("boom".into())));
        assert_eq!(status.code(), tonic::Code::Internal);
    }
}
