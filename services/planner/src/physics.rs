//! What a configuration can physically do: where its weights live, the roofline of its decode
//! and prefill rates, and a verdict on every benchmark that claims a figure.
//!
//! **Placement.** Weights are `total params × bits ÷ 8` (a mixture-of-experts model holds every
//! expert somewhere), plus the KV cache (`bytes/token × context × slots`) and runtime buffers per
//! llama-server instance. All of it in accelerator memory if it fits; else the routed experts go
//! to host RAM (llama.cpp `--n-cpu-moe`) while always-used weights and the KV cache stay on the
//! accelerator; else the configuration does not fit. Unified memory is one tier.
//!
//! **Roofline.** A decode step of N streams reads the always-used weights once, the union of the
//! experts its N tokens route to (`E × (1 − (1 − k/E)^N)` of `E` experts, `k` per token) and each
//! stream's KV cache; seconds per step are the bytes of each tier over that tier's bandwidth,
//! summed, and never less than the step's FLOPs over compute. A prefill step of `B` tokens
//! (llama.cpp's `--ubatch-size`) is bounded by compute, by reading the weights once, and — with
//! experts in host RAM — by streaming the experts it uses over the host link. Two instances on one
//! node share its host RAM bandwidth.
//!
//! The **ceiling** is the roofline at full bandwidth and compute: nothing runs faster. The
//! **estimate** applies efficiencies ([`PhysicsParams`]) fitted to measured runs and carries the
//! ± band of that fit. A benchmark above its ceiling is *implausible*; one whose weights fit
//! nowhere on its node is *impossible*.

use serde::{Deserialize, Serialize};

use crate::catalog::{Benchmark, Catalog, HardwareSku, Model, PhysicsParams, Quant};

/// Where a configuration's weights live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementKind {
    /// Weights, KV cache and buffers all in accelerator memory.
    Accelerator,
    /// Routed experts in host RAM, the rest in accelerator memory (`--n-cpu-moe`).
    ExpertsInHostRam,
    /// Everything in one unified memory (Apple silicon).
    Unified,
}

impl PlacementKind {
    /// Returns the placement in words, e.g. `experts in host RAM`.
    pub fn words(self) -> &'static str {
        match self {
            PlacementKind::Accelerator => "all in accelerator memory",
            PlacementKind::ExpertsInHostRam => "experts in host RAM",
            PlacementKind::Unified => "unified memory",
        }
    }
}

/// Where one configuration's weights go, and whether they fit, with the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The tier layout.
    pub kind: PlacementKind,
    /// Accelerators one llama-server instance spans.
    pub devices_per_instance: u32,
    /// llama-server instances on one node.
    pub instances_per_node: u32,
    /// All weights of one instance, GB.
    pub weights_gb: f64,
    /// KV cache of one instance at its context and slots, GB.
    pub kv_gb: f64,
    /// Accelerator (or unified) memory one instance needs, GB.
    pub accelerator_needed_gb: f64,
    /// Accelerator (or unified) memory one instance has, GB.
    pub accelerator_have_gb: f64,
    /// Host RAM the node needs for the experts of all its instances, GB.
    pub host_needed_gb: f64,
    /// Host RAM the node has, GB.
    pub host_have_gb: f64,
    /// Whether everything fits.
    pub fits: bool,
    /// MoE layers whose experts sit in host RAM (the `--n-cpu-moe` value), when known.
    pub cpu_moe_layers: Option<u32>,
    /// Share of the routed experts in host RAM (0 unless experts are there): as many stay in
    /// accelerator memory as fit, by whole MoE layers when the layer count is known.
    #[serde(default)]
    pub host_expert_share: f64,
}

impl Placement {
    /// Returns why it does not fit, e.g. `weights 386 GB, memory 32 GB + 64 GB`, or `None`.
    pub fn shortfall(&self) -> Option<String> {
        if self.fits {
            return None;
        }
        let gb = |v: f64| format!("{} GB", trim(v, 1));
        Some(match self.kind {
            PlacementKind::ExpertsInHostRam => format!(
                "weights {}{}, memory {} + {} (needs {} on the accelerator, {} in host RAM)",
                gb(self.weights_gb * f64::from(self.instances_per_node)),
                self.instances_text(),
                gb(self.accelerator_have_gb),
                gb(self.host_have_gb),
                gb(self.accelerator_needed_gb),
                gb(self.host_needed_gb),
            ),
            _ => format!(
                "weights {} + KV {} + buffers, memory {} (needs {})",
                gb(self.weights_gb),
                gb(self.kv_gb),
                gb(self.accelerator_have_gb),
                gb(self.accelerator_needed_gb),
            ),
        })
    }

    fn instances_text(&self) -> String {
        if self.instances_per_node > 1 {
            format!(" for {} instances", self.instances_per_node)
        } else {
            String::new()
        }
    }

    /// Returns the placement with its sizes in words, for plans and reports.
    pub fn describe(&self) -> String {
        let gb = |v: f64| format!("{} GB", trim(v, 1));
        match self.kind {
            PlacementKind::Accelerator => format!(
                "all in accelerator memory: {} of {}",
                gb(self.accelerator_needed_gb),
                gb(self.accelerator_have_gb)
            ),
            PlacementKind::Unified => format!(
                "unified memory: {} of {}",
                gb(self.accelerator_needed_gb),
                gb(self.accelerator_have_gb)
            ),
            PlacementKind::ExpertsInHostRam => format!(
                "experts in host RAM{}: {} of {} on the accelerator, {} of {} host RAM",
                self.cpu_moe_layers
                    .map(|n| format!(" (--n-cpu-moe {n})"))
                    .unwrap_or_default(),
                gb(self.accelerator_needed_gb),
                gb(self.accelerator_have_gb),
                gb(self.host_needed_gb),
                gb(self.host_have_gb)
            ),
        }
    }
}

/// Decode and prefill rates of one llama-server instance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// Decode tokens/s one stream sees at the given slots.
    pub decode_tok_s: f64,
    /// Decode tokens/s of the instance, summed over its streams.
    pub aggregate_decode_tok_s: f64,
    /// Prompt tokens/s of the instance.
    pub prefill_tok_s: f64,
}

/// Efficiencies a roofline is evaluated at: all 1 for the ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Efficiency {
    accelerator: f64,
    host: f64,
    unified: f64,
    compute: f64,
    link: f64,
}

impl Efficiency {
    const CEILING: Efficiency = Efficiency {
        accelerator: 1.0,
        host: 1.0,
        unified: 1.0,
        compute: 1.0,
        link: 1.0,
    };

    fn from_params(p: &PhysicsParams) -> Efficiency {
        Efficiency {
            accelerator: p.decode_efficiency_accelerator,
            host: p.decode_efficiency_host,
            unified: p.decode_efficiency_unified,
            compute: p.prefill_efficiency_compute,
            link: p.prefill_efficiency_link,
        }
    }
}

/// The physics of one configuration: placement, ceiling and estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Physics {
    /// Where the weights go.
    pub placement: Placement,
    /// Rates at full bandwidth and compute.
    pub ceiling: Rates,
    /// Rates at the fitted efficiencies.
    pub estimate: Rates,
    /// ± band of the estimate, as a fraction (0.25: ±25%).
    pub band: f64,
}

impl Physics {
    /// Returns the basis of the estimate in words, e.g. `estimated ±50% (roofline, experts in host RAM)`.
    pub fn estimate_basis(&self) -> String {
        format!(
            "estimated ±{}% (roofline, {})",
            (self.band * 100.0).round(),
            self.placement.kind.words()
        )
    }
}

/// One configuration to evaluate.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// The node.
    pub sku: &'a HardwareSku,
    /// The model.
    pub model: &'a Model,
    /// The quantization.
    pub quant: &'a Quant,
    /// Context per stream (prompt + completion tokens).
    pub context_tokens: u32,
    /// Slots (concurrent streams) per instance.
    pub slots: u32,
    /// Accelerators one instance spans; `None`: the fewest that hold it, else all of them.
    pub devices_per_instance: Option<u32>,
}

/// Bytes of KV cache per token at the cache type llama-server uses by default (FP16).
fn kv_gb(model: &Model, context_tokens: u32, slots: u32) -> f64 {
    model.kv_cache_bytes_per_token * f64::from(context_tokens) * f64::from(slots) / 1e9
}

/// Returns where a configuration's weights go (see the module docs).
pub fn place(config: &Config, params: &PhysicsParams) -> Placement {
    let Config {
        sku,
        model,
        quant,
        context_tokens,
        slots,
        devices_per_instance,
    } = *config;
    let specs = sku.specs();
    let shape = model.shape();
    let bytes_per_param = quant.bits_per_param / 8.0;
    let weights_gb = model.total_params_b * bytes_per_param;
    let kv = kv_gb(model, context_tokens, slots);
    let overhead = params.runtime_overhead_gb;
    let all_in = weights_gb + kv + overhead;
    let accelerators = sku.accelerators.max(1);
    if sku.unified_memory {
        let have = sku.memory_per_device_gb * f64::from(accelerators);
        return Placement {
            kind: PlacementKind::Unified,
            devices_per_instance: accelerators,
            instances_per_node: 1,
            weights_gb,
            kv_gb: kv,
            accelerator_needed_gb: all_in,
            accelerator_have_gb: have,
            host_needed_gb: 0.0,
            host_have_gb: 0.0,
            fits: all_in <= have,
            cpu_moe_layers: None,
            host_expert_share: 0.0,
        };
    }
    let per_device = sku.memory_per_device_gb;
    let devices = devices_per_instance.unwrap_or_else(|| {
        (1..=accelerators)
            .filter(|d| accelerators % d == 0)
            .find(|d| all_in <= per_device * f64::from(*d))
            .unwrap_or(accelerators)
    });
    let devices = devices.clamp(1, accelerators);
    let instances = (accelerators / devices).max(1);
    let have = per_device * f64::from(devices);
    let accelerator_only = Placement {
        kind: PlacementKind::Accelerator,
        devices_per_instance: devices,
        instances_per_node: instances,
        weights_gb,
        kv_gb: kv,
        accelerator_needed_gb: all_in,
        accelerator_have_gb: have,
        host_needed_gb: 0.0,
        host_have_gb: specs.host_ram_gb,
        fits: all_in <= have,
        cpu_moe_layers: None,
        host_expert_share: 0.0,
    };
    if accelerator_only.fits {
        return accelerator_only;
    }
    if shape.is_moe() {
        let experts_gb = shape.expert_params_b * bytes_per_param;
        let base = weights_gb - experts_gb + kv + overhead;
        let room = (have - base).max(0.0);
        let mut host_share = ((experts_gb - room) / experts_gb).clamp(0.0, 1.0);
        let mut cpu_moe_layers = None;
        if let Some(layers) = model.moe_layers.filter(|l| *l > 0) {
            let on_host = (host_share * f64::from(layers) - 1e-9)
                .ceil()
                .clamp(1.0, f64::from(layers));
            host_share = on_host / f64::from(layers);
            cpu_moe_layers = Some(on_host as u32);
        }
        let on_accelerator = base + experts_gb * (1.0 - host_share);
        let host_needed = experts_gb * host_share * f64::from(instances);
        return Placement {
            kind: PlacementKind::ExpertsInHostRam,
            devices_per_instance: devices,
            instances_per_node: instances,
            weights_gb,
            kv_gb: kv,
            accelerator_needed_gb: on_accelerator,
            accelerator_have_gb: have,
            host_needed_gb: host_needed,
            host_have_gb: specs.host_ram_gb,
            fits: on_accelerator <= have && host_needed <= specs.host_ram_gb,
            cpu_moe_layers,
            host_expert_share: host_share,
        };
    }
    // A dense model that does not fit in accelerator memory does not fit.
    accelerator_only
}

/// Returns the share of a layer's experts a batch of `tokens` tokens reads: `1 − (1 − k/E)^N`.
fn expert_union_share(experts: u32, per_token: u32, tokens: u32) -> f64 {
    if experts == 0 || per_token == 0 {
        return 0.0;
    }
    let p = f64::from(per_token) / f64::from(experts);
    1.0 - (1.0 - p).powf(f64::from(tokens))
}

/// Returns the roofline rates of a placed configuration at the given efficiencies.
fn roofline(
    config: &Config,
    placement: &Placement,
    eff: Efficiency,
    params: &PhysicsParams,
) -> Rates {
    let specs = config.sku.specs();
    let shape = config.model.shape();
    let bytes_per_param = config.quant.bits_per_param / 8.0;
    let devices = f64::from(placement.devices_per_instance);
    let instances = f64::from(placement.instances_per_node);
    let n = config.slots.max(1);
    let always_gb = shape.always_used_params_b * bytes_per_param;
    // Experts one batch reads: the whole expert set × the share of experts its tokens route to.
    let experts_read_gb = |tokens: u32| -> f64 {
        if shape.is_moe() {
            shape.expert_params_b
                * bytes_per_param
                * expert_union_share(shape.experts, shape.experts_per_token, tokens)
        } else {
            0.0
        }
    };
    // A dense model's "always used" part is all of its active parameters.
    let kv_step_gb = kv_gb(config.model, config.context_tokens, n);
    let flops_per_token =
        2.0 * (shape.always_used_params_b + shape.routed_params_per_token_b) * 1e9;
    let compute_flops = specs.compute_tflops * 1e12 * devices;
    let (accelerator_bw, host_bw) = match placement.kind {
        PlacementKind::Unified => (specs.memory_bandwidth_gb_s * eff.unified, 0.0),
        _ => (
            specs.memory_bandwidth_gb_s * devices * eff.accelerator,
            // Instances on one node share its host RAM bandwidth.
            specs.host_ram_bandwidth_gb_s * eff.host / instances,
        ),
    };
    let experts_step = experts_read_gb(n);
    let host_share = placement.host_expert_share;
    let memory_s = match placement.kind {
        PlacementKind::ExpertsInHostRam => {
            (always_gb + kv_step_gb + experts_step * (1.0 - host_share)) / accelerator_bw
                + experts_step * host_share / host_bw
        }
        _ => (always_gb + experts_step + kv_step_gb) / accelerator_bw,
    };
    let compute_s = f64::from(n) * flops_per_token / (compute_flops * eff.compute);
    let step_s = memory_s.max(compute_s);
    let aggregate = f64::from(n) / step_s;

    let batch = params.prefill_batch_tokens.max(1);
    let experts_batch = experts_read_gb(batch);
    let prefill_compute_s = f64::from(batch) * flops_per_token / (compute_flops * eff.compute);
    let prefill_memory_s = match placement.kind {
        PlacementKind::ExpertsInHostRam => {
            // The experts a batch uses cross the host link (and are read from host RAM).
            let link = (specs.host_link_gb_s * eff.link)
                .min(specs.host_ram_bandwidth_gb_s * eff.host / instances);
            (always_gb + experts_batch * (1.0 - host_share)) / accelerator_bw
                + experts_batch * host_share / link
        }
        _ => (always_gb + experts_batch) / accelerator_bw,
    };
    let prefill_s = prefill_compute_s.max(prefill_memory_s);
    Rates {
        decode_tok_s: 1.0 / step_s,
        aggregate_decode_tok_s: aggregate,
        prefill_tok_s: f64::from(batch) / prefill_s,
    }
}

/// Returns the placement, ceiling and estimate of one configuration.
pub fn evaluate(config: &Config, params: &PhysicsParams) -> Physics {
    let placement = place(config, params);
    let ceiling = roofline(config, &placement, Efficiency::CEILING, params);
    let estimate = roofline(config, &placement, Efficiency::from_params(params), params);
    let band = match placement.kind {
        PlacementKind::Accelerator => params.band_accelerator,
        PlacementKind::ExpertsInHostRam => params.band_host,
        PlacementKind::Unified => params.band_unified,
    };
    Physics {
        placement,
        ceiling,
        estimate,
        band,
    }
}

/// What the physics says of a published figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every figure is at or below its ceiling and the weights fit.
    Plausible,
    /// A figure is above what the hardware can reach.
    Implausible {
        /// Which figures, with claim and ceiling, in words.
        reason: String,
    },
    /// The weights fit nowhere on the node.
    Impossible {
        /// The numbers, in words.
        reason: String,
    },
}

impl Verdict {
    /// Returns whether plans may use the figure without the user trusting it.
    pub fn is_plausible(&self) -> bool {
        matches!(self, Verdict::Plausible)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Plausible => f.write_str("plausible"),
            Verdict::Implausible { reason } => write!(f, "implausible: {reason}"),
            Verdict::Impossible { reason } => write!(f, "impossible: {reason}"),
        }
    }
}

/// Figures a benchmark claims, for [`judge`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Claim {
    /// Decode tokens/s of one stream.
    pub decode_tok_s: f64,
    /// Prefill tokens/s, if claimed.
    pub prefill_tok_s: Option<f64>,
}

/// Returns the verdict on claimed figures against a configuration's physics.
pub fn judge(physics: &Physics, claim: Claim) -> Verdict {
    if let Some(reason) = physics.placement.shortfall() {
        return Verdict::Impossible { reason };
    }
    let mut over = Vec::new();
    // A hair of slack for rounding in published figures.
    let slack = 1.0 + 1e-6;
    if claim.decode_tok_s > physics.ceiling.decode_tok_s * slack {
        over.push(format!(
            "claims {} tok/s decode, ceiling {} tok/s {}",
            trim(claim.decode_tok_s, 1),
            trim(physics.ceiling.decode_tok_s, 1),
            ceiling_words(&physics.placement)
        ));
    }
    if let Some(prefill) = claim.prefill_tok_s
        && prefill > physics.ceiling.prefill_tok_s * slack
    {
        over.push(format!(
            "claims {} tok/s prefill, ceiling {} tok/s",
            trim(prefill, 0),
            trim(physics.ceiling.prefill_tok_s, 0)
        ));
    }
    if over.is_empty() {
        Verdict::Plausible
    } else {
        Verdict::Implausible {
            reason: over.join("; "),
        }
    }
}

fn ceiling_words(placement: &Placement) -> String {
    match placement.kind {
        PlacementKind::ExpertsInHostRam => "with experts in host RAM".to_string(),
        PlacementKind::Unified => "on unified memory".to_string(),
        PlacementKind::Accelerator => "in accelerator memory".to_string(),
    }
}

/// A benchmark with its physics and verdict, as `catalog check` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkCheck {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Streams at once.
    pub concurrency: u32,
    /// Context per stream the check assumed.
    pub context_tokens: u32,
    /// Claimed decode tok/s of one stream.
    pub claimed_decode_tok_s: f64,
    /// Claimed prefill tok/s.
    pub claimed_prefill_tok_s: f64,
    /// Placement, ceiling and estimate.
    pub physics: Physics,
    /// The verdict.
    pub verdict: Verdict,
    /// Spec fields of the SKU or shape fields of the model the check took defaults for.
    pub assumed_inputs: Vec<String>,
    /// The benchmark's source.
    pub source: String,
}

/// Returns the physics of the configuration a benchmark ran, `None` if a reference is unknown.
pub fn benchmark_physics(catalog: &Catalog, benchmark: &Benchmark) -> Option<Physics> {
    let sku = catalog.sku(&benchmark.sku)?;
    let model = catalog.model(&benchmark.model)?;
    let quant = catalog.quant(&benchmark.quant)?;
    let config = Config {
        sku,
        model,
        quant,
        context_tokens: benchmark.context(),
        slots: benchmark.concurrency,
        devices_per_instance: Some(benchmark.devices_used),
    };
    Some(evaluate(&config, &catalog.physics))
}

/// Returns the verdict on one benchmark, with its physics.
pub fn check_benchmark(catalog: &Catalog, benchmark: &Benchmark) -> Option<BenchmarkCheck> {
    let physics = benchmark_physics(catalog, benchmark)?;
    let verdict = judge(
        &physics,
        Claim {
            decode_tok_s: benchmark.decode_tok_s,
            prefill_tok_s: Some(benchmark.prefill_tok_s),
        },
    );
    let sku = catalog.sku(&benchmark.sku)?;
    let model = catalog.model(&benchmark.model)?;
    let mut assumed_inputs: Vec<String> = sku
        .assumed_spec_fields()
        .into_iter()
        .map(|f| format!("hardware {} {f}", sku.id))
        .collect();
    if model.experts.is_none() && model.total_params_b > model.active_params_b {
        assumed_inputs.extend(
            model
                .assumed_shape_fields()
                .into_iter()
                .map(|f| format!("model {} {f}", model.id)),
        );
    }
    Some(BenchmarkCheck {
        sku: benchmark.sku.clone(),
        model: benchmark.model.clone(),
        quant: benchmark.quant.clone(),
        concurrency: benchmark.concurrency,
        context_tokens: benchmark.context(),
        claimed_decode_tok_s: benchmark.decode_tok_s,
        claimed_prefill_tok_s: benchmark.prefill_tok_s,
        physics,
        verdict,
        assumed_inputs,
        source: benchmark.provenance.source.clone(),
    })
}

/// Returns every catalog benchmark with its verdict, in catalog order.
pub fn check_catalog(catalog: &Catalog) -> Vec<BenchmarkCheck> {
    catalog
        .benchmarks
        .iter()
        .filter_map(|b| check_benchmark(catalog, b))
        .collect()
}

/// Formats a number with at most `decimals` decimals, trailing zeros dropped.
fn trim(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}
