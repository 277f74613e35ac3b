//! The hardware, model, quantization, benchmark and API catalog, with the provenance of every
//! figure. The default catalog is `catalog/default.toml`, embedded at build time.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// The default catalog's TOML text, embedded at build time.
pub const DEFAULT_CATALOG_TOML: &str = include_str!("../../../catalog/default.toml");

/// The highest API price per million tokens a catalog accepts (a thousand times the dearest
/// frontier model's list price).
pub const MAX_API_USD_PER_MILLION: f64 = 100_000.0;
/// Most accelerators one node may have: a rack-scale system has 72. Past 2^31 the solver's
/// instance counts overflow, and placement tries every divisor of the count.
pub const MAX_ACCELERATORS_PER_NODE: u32 = 1_024;
/// Most parallel slots (llama-server `--parallel`) one instance may run, in the catalog and in
/// telemetry: the queueing arithmetic ([`crate::queueing`]) is linear in the slots of a node.
pub const MAX_SLOTS_PER_INSTANCE: u32 = 4_096;

/// Returns why a catalog could not be loaded; each variant names the record and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The TOML text could not be parsed into a catalog.
    #[error("catalog is not valid TOML: {0}")]
    Parse(String),
    /// A figure is out of range.
    #[error("catalog {record} '{id}': {field} {reason}")]
    InvalidField {
        /// The kind of record ("hardware", "benchmark", …).
        record: &'static str,
        /// The record's id.
        id: String,
        /// The field name.
        field: &'static str,
        /// Why the value is rejected.
        reason: String,
    },
    /// Two records share an id.
    #[error("catalog {record} '{id}' is defined twice")]
    Duplicate {
        /// The kind of record.
        record: &'static str,
        /// The repeated id.
        id: String,
    },
    /// A record refers to a record that does not exist.
    #[error("catalog {record} '{id}' refers to unknown {target} '{target_id}'")]
    UnknownReference {
        /// The kind of record holding the reference.
        record: &'static str,
        /// The record's id.
        id: String,
        /// The kind of record referred to.
        target: &'static str,
        /// The id that was not found.
        target_id: String,
    },
}

/// Where a record's figures come from. A figure is *published* unless it is listed under
/// `derived` (computed from published figures) or `assumed` (the source is silent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The document and section the figures were read from.
    pub source: String,
    /// Figures computed from published ones: field name → how.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub derived: BTreeMap<String, String>,
    /// Figures the source does not give: field name → what was assumed and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assumed: BTreeMap<String, String>,
}

/// How a single figure is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureKind {
    /// Read straight off the source.
    Published,
    /// Computed from published figures.
    Derived,
    /// Assumed where the source is silent.
    Assumed,
}

impl Provenance {
    /// Returns how the named field of this record is known.
    pub fn kind_of(&self, field: &str) -> FigureKind {
        if self.assumed.contains_key(field) {
            FigureKind::Assumed
        } else if self.derived.contains_key(field) {
            FigureKind::Derived
        } else {
            FigureKind::Published
        }
    }
}

/// Cost assumptions shared by every plan unless a request overrides them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostDefaults {
    /// Straight-line amortization period of hardware capex.
    pub amortization_months: f64,
    /// Electricity price.
    pub electricity_usd_per_kwh: f64,
    /// Hours in the planning month (30 days × 24 h).
    pub hours_per_month: f64,
    /// Largest share of a node's hours the plan may keep it busy.
    pub utilization_cap: f64,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A model that can be served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Stable id, e.g. `deepseek-v4-pro`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Total parameters in billions (all experts of a mixture-of-experts model).
    pub total_params_b: f64,
    /// Parameters active per token in billions.
    pub active_params_b: f64,
    /// Longest context the model accepts.
    pub max_context_tokens: u64,
    /// KV-cache bytes per token of context at FP16.
    pub kv_cache_bytes_per_token: f64,
    /// Parameters every token reads, in billions: attention, dense layers, shared experts,
    /// embeddings and head. Absent: all active parameters (a dense model), marked assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_used_params_b: Option<f64>,
    /// Routed-expert parameters one token reads, in billions (experts per token × one expert's
    /// parameters × MoE layers). Absent: 0 (a dense model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_params_per_token_b: Option<f64>,
    /// Routed experts per MoE layer (0 for a dense model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts: Option<u32>,
    /// Routed experts each token uses per MoE layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts_per_token: Option<u32>,
    /// Transformer layers (blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<u32>,
    /// MoE layers among them (for llama.cpp's `--n-cpu-moe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_layers: Option<u32>,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A model's shape as the physics uses it, with absent fields filled by their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelShape {
    /// Parameters in billions every token reads.
    pub always_used_params_b: f64,
    /// Routed-expert parameters in billions one token reads.
    pub routed_params_per_token_b: f64,
    /// Routed experts per MoE layer (0: dense).
    pub experts: u32,
    /// Routed experts per token per MoE layer.
    pub experts_per_token: u32,
    /// All routed-expert parameters in billions (every expert of every MoE layer).
    pub expert_params_b: f64,
}

impl ModelShape {
    /// Returns whether the model has routed experts that can live in host RAM.
    pub fn is_moe(&self) -> bool {
        self.experts > 0 && self.experts_per_token > 0 && self.routed_params_per_token_b > 0.0
    }
}

impl Model {
    /// Returns the model's shape; absent fields are a dense model's (all active parameters
    /// always used, no experts), and [`Model::assumed_shape_fields`] names them.
    pub fn shape(&self) -> ModelShape {
        let routed = self.routed_params_per_token_b.unwrap_or(0.0);
        let always = self
            .always_used_params_b
            .unwrap_or(self.active_params_b - routed);
        let experts = self.experts.unwrap_or(0);
        let per_token = self.experts_per_token.unwrap_or(0);
        let expert_params_b = if experts > 0 && per_token > 0 {
            (self.total_params_b - always).max(routed)
        } else {
            0.0
        };
        ModelShape {
            always_used_params_b: always,
            routed_params_per_token_b: routed,
            experts,
            experts_per_token: per_token,
            expert_params_b,
        }
    }

    /// Returns the shape fields the record does not give (their defaults are used).
    pub fn assumed_shape_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.always_used_params_b.is_none() {
            out.push("always_used_params_b");
        }
        if self.routed_params_per_token_b.is_none() {
            out.push("routed_params_per_token_b");
        }
        if self.experts.is_none() {
            out.push("experts");
        }
        if self.experts_per_token.is_none() {
            out.push("experts_per_token");
        }
        out
    }

    /// Returns the weight size in GB at a quantization: all parameters, since a mixture-of-experts
    /// model must hold every expert somewhere, not only the active ones.
    pub fn weights_gb(&self, quant: &Quant) -> f64 {
        self.total_params_b * quant.bits_per_param / 8.0
    }
}

/// A weight quantization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quant {
    /// llama.cpp name, e.g. `Q4_K_M`.
    pub id: String,
    /// Average bits per parameter.
    pub bits_per_param: f64,
    /// Share of FP16 benchmark quality it keeps, in (0, 1].
    pub quality_retained: f64,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// A hardware SKU: one node as bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareSku {
    /// Stable id, e.g. `rtx-5090`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Accelerators in one node.
    pub accelerators: u32,
    /// Memory per accelerator in GB.
    pub memory_per_device_gb: f64,
    /// Whether accelerator memory is shared with the CPU (Apple silicon).
    pub unified_memory: bool,
    /// All-in price of one node.
    pub price_usd: f64,
    /// Sustained power at full load.
    pub power_full_w: f64,
    /// Power when idle.
    pub power_idle_w: f64,
    /// llama.cpp backend: cuda, metal or rocm.
    pub backend: String,
    /// Memory bandwidth of one accelerator, GB/s (of the unified memory on Apple silicon).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bandwidth_gb_s: Option<f64>,
    /// Dense FP16 compute of one accelerator, TFLOPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_tflops: Option<f64>,
    /// Host RAM of the node, GB (ignored with unified memory: that is one tier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ram_gb: Option<f64>,
    /// Host RAM bandwidth, GB/s (channels × 8 bytes × MT/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ram_bandwidth_gb_s: Option<f64>,
    /// Link between host and accelerator (PCIe), GB/s per direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_link_gb_s: Option<f64>,
    /// Sequential disk read, GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_read_gb_s: Option<f64>,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Spec defaults for hardware records that do not give a figure (older databases, short
/// catalog files). Each is marked assumed wherever it is used.
pub mod spec_defaults {
    /// Accelerator memory bandwidth, GB/s: between the RX 7900 XTX (960) and RTX 4090 (1,008).
    pub const MEMORY_BANDWIDTH_GB_S: f64 = 960.0;
    /// Unified memory bandwidth, GB/s: the M2/M3 Max class (400).
    pub const UNIFIED_MEMORY_BANDWIDTH_GB_S: f64 = 400.0;
    /// Dense FP16 compute, TFLOPS.
    pub const COMPUTE_TFLOPS: f64 = 60.0;
    /// Host RAM, GB: a desktop's 2 × 32 GB.
    pub const HOST_RAM_GB: f64 = 64.0;
    /// Host RAM bandwidth, GB/s: dual-channel DDR5-5600 (2 × 8 bytes × 5600 MT/s).
    pub const HOST_RAM_BANDWIDTH_GB_S: f64 = 89.6;
    /// Host link, GB/s: PCIe 4.0 x16.
    pub const HOST_LINK_GB_S: f64 = 32.0;
    /// Disk read, GB/s: an NVMe Gen4 SSD.
    pub const DISK_READ_GB_S: f64 = 7.0;
}

/// A node's specs as the physics uses them, with absent fields filled by their defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpecs {
    /// Memory bandwidth per accelerator, GB/s.
    pub memory_bandwidth_gb_s: f64,
    /// Dense FP16 compute per accelerator, TFLOPS.
    pub compute_tflops: f64,
    /// Host RAM, GB (0 with unified memory).
    pub host_ram_gb: f64,
    /// Host RAM bandwidth, GB/s.
    pub host_ram_bandwidth_gb_s: f64,
    /// Host link, GB/s.
    pub host_link_gb_s: f64,
    /// Disk read, GB/s.
    pub disk_read_gb_s: f64,
}

impl HardwareSku {
    /// Returns the node's specs; absent fields take [`spec_defaults`], and
    /// [`HardwareSku::assumed_spec_fields`] names them.
    pub fn specs(&self) -> NodeSpecs {
        use spec_defaults as d;
        NodeSpecs {
            memory_bandwidth_gb_s: self
                .memory_bandwidth_gb_s
                .unwrap_or(if self.unified_memory {
                    d::UNIFIED_MEMORY_BANDWIDTH_GB_S
                } else {
                    d::MEMORY_BANDWIDTH_GB_S
                }),
            compute_tflops: self.compute_tflops.unwrap_or(d::COMPUTE_TFLOPS),
            host_ram_gb: if self.unified_memory {
                0.0
            } else {
                self.host_ram_gb.unwrap_or(d::HOST_RAM_GB)
            },
            host_ram_bandwidth_gb_s: self
                .host_ram_bandwidth_gb_s
                .unwrap_or(d::HOST_RAM_BANDWIDTH_GB_S),
            host_link_gb_s: self.host_link_gb_s.unwrap_or(d::HOST_LINK_GB_S),
            disk_read_gb_s: self.disk_read_gb_s.unwrap_or(d::DISK_READ_GB_S),
        }
    }

    /// Returns the spec fields the record does not give (their defaults are used). Host RAM
    /// fields do not count on unified memory.
    pub fn assumed_spec_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.memory_bandwidth_gb_s.is_none() {
            out.push("memory_bandwidth_gb_s");
        }
        if self.compute_tflops.is_none() {
            out.push("compute_tflops");
        }
        if !self.unified_memory {
            if self.host_ram_gb.is_none() {
                out.push("host_ram_gb");
            }
            if self.host_ram_bandwidth_gb_s.is_none() {
                out.push("host_ram_bandwidth_gb_s");
            }
            if self.host_link_gb_s.is_none() {
                out.push("host_link_gb_s");
            }
        }
        out
    }

    /// Returns how the named field is known: assumed when it is a spec the record does not give.
    pub fn kind_of(&self, field: &str) -> FigureKind {
        if self.assumed_spec_fields().contains(&field) {
            FigureKind::Assumed
        } else {
            self.provenance.kind_of(field)
        }
    }
}

/// A measured throughput point of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Benchmark {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Streams served at once when measured.
    pub concurrency: u32,
    /// Accelerators one llama-server instance spans; a node runs `accelerators / devices_used`
    /// independent instances.
    pub devices_used: u32,
    /// Accelerator memory in use, GB.
    pub vram_used_gb: f64,
    /// Decode speed of one stream, tokens/s.
    pub decode_tok_s: f64,
    /// Prompt processing speed, tokens/s.
    pub prefill_tok_s: f64,
    /// Sustained power of the node while running this configuration.
    pub power_w: f64,
    /// Whether weights spill to CPU RAM.
    pub offload: bool,
    /// Context the run held per stream (prompt + completion tokens); absent: 4,096.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

/// Context assumed for a benchmark that does not say what it ran at.
pub const DEFAULT_BENCHMARK_CONTEXT_TOKENS: u32 = 4_096;

impl Benchmark {
    /// Returns the context the run held per stream.
    pub fn context(&self) -> u32 {
        self.context_tokens
            .unwrap_or(DEFAULT_BENCHMARK_CONTEXT_TOKENS)
    }
}

/// Efficiencies and buffers of the roofline estimate (`crate::physics`), as data: seeded from
/// measured runs, each with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhysicsParams {
    /// Share of accelerator memory bandwidth a memory-bound decode reaches (weights all in
    /// accelerator memory).
    pub decode_efficiency_accelerator: f64,
    /// Share of host RAM bandwidth reached while experts sit in host RAM (the accelerator part
    /// of such a step is read at `decode_efficiency_accelerator`).
    pub decode_efficiency_host: f64,
    /// Share of unified memory bandwidth reached (Apple silicon).
    pub decode_efficiency_unified: f64,
    /// Share of dense compute a compute-bound prefill reaches.
    pub prefill_efficiency_compute: f64,
    /// Share of the host link's bandwidth reached while prefill streams host-resident experts
    /// to the accelerator.
    pub prefill_efficiency_link: f64,
    /// ± band of an estimate with everything in accelerator memory, as a fraction.
    pub band_accelerator: f64,
    /// ± band of an estimate with experts in host RAM.
    pub band_host: f64,
    /// ± band of an estimate on unified memory.
    pub band_unified: f64,
    /// Runtime buffers per llama-server instance (compute graph, CUDA/Metal context), GB.
    pub runtime_overhead_gb: f64,
    /// Tokens one prefill step processes (llama.cpp's `--ubatch-size`).
    pub prefill_batch_tokens: u32,
    /// Context the estimates of planned options assume per stream (prompt + completion).
    pub planning_context_tokens: u32,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl Default for PhysicsParams {
    /// Returns the embedded default catalog's parameters.
    fn default() -> Self {
        embedded_physics_params()
    }
}

/// A hosted API that can take spillover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiOffer {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Model served.
    pub model: String,
    /// Price per million input tokens.
    pub input_usd_per_million: f64,
    /// Price per million output tokens.
    pub output_usd_per_million: f64,
    /// Median time to first token.
    pub ttft_p50_ms: f64,
    /// 95th percentile time to first token.
    pub ttft_p95_ms: f64,
    /// Where these come from.
    #[serde(flatten)]
    pub provenance: Provenance,
}

impl ApiOffer {
    /// Returns the blended price per million tokens for a workload's input share.
    pub fn blended_usd_per_million(&self, input_share: f64) -> f64 {
        input_share * self.input_usd_per_million + (1.0 - input_share) * self.output_usd_per_million
    }
}

/// The whole catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Catalog version, recorded in every plan.
    pub version: String,
    /// The catalog's overall source.
    pub source: String,
    /// Cost assumptions.
    pub cost: CostDefaults,
    /// Models.
    #[serde(rename = "model")]
    pub models: Vec<Model>,
    /// Quantizations.
    #[serde(rename = "quant")]
    pub quants: Vec<Quant>,
    /// Hardware SKUs.
    #[serde(rename = "hardware")]
    pub hardware: Vec<HardwareSku>,
    /// Benchmarks (none: every option is estimated from specs).
    #[serde(rename = "benchmark", default)]
    pub benchmarks: Vec<Benchmark>,
    /// API offers.
    #[serde(rename = "api", default)]
    pub apis: Vec<ApiOffer>,
    /// Efficiencies of the roofline estimate; absent: the embedded default's.
    #[serde(default)]
    pub physics: PhysicsParams,
}

/// Returns the embedded default catalog's physics parameters (parsed once).
fn embedded_physics_params() -> PhysicsParams {
    static PARAMS: std::sync::OnceLock<PhysicsParams> = std::sync::OnceLock::new();
    PARAMS
        .get_or_init(|| {
            #[derive(Deserialize)]
            struct OnlyPhysics {
                physics: PhysicsParams,
            }
            let only: OnlyPhysics = toml::from_str(DEFAULT_CATALOG_TOML)
                .expect("catalog/default.toml has a [physics] table");
            only.physics
        })
        .clone()
}

impl Catalog {
    /// Returns the embedded default catalog.
    pub fn embedded_default() -> Catalog {
        Catalog::from_toml_str(DEFAULT_CATALOG_TOML)
            .expect("catalog/default.toml is validated by the test suite")
    }

    /// Parses and validates a catalog from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// Returns the SKU with this id.
    pub fn sku(&self, id: &str) -> Option<&HardwareSku> {
        self.hardware.iter().find(|h| h.id == id)
    }

    /// Returns the quantization with this id (case-insensitive).
    pub fn quant(&self, id: &str) -> Option<&Quant> {
        self.quants.iter().find(|q| q.id.eq_ignore_ascii_case(id))
    }

    /// Returns the model with this id.
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.id == id)
    }

    /// Returns the API offer for a model, if any.
    pub fn api_for(&self, model: &str) -> Option<&ApiOffer> {
        self.apis.iter().find(|a| a.model == model)
    }

    /// Returns the model plans are made for when a workload names none: the first one listed.
    pub fn default_model(&self) -> &Model {
        &self.models[0]
    }

    /// Checks ranges, unique ids and references.
    pub fn validate(&self) -> Result<(), CatalogError> {
        fn positive(
            record: &'static str,
            id: &str,
            field: &'static str,
            value: f64,
        ) -> Result<(), CatalogError> {
            if value.is_finite() && value > 0.0 {
                Ok(())
            } else {
                Err(CatalogError::InvalidField {
                    record,
                    id: id.to_string(),
                    field,
                    reason: format!("must be a positive number, got {value}"),
                })
            }
        }
        fn non_negative(
            record: &'static str,
            id: &str,
            field: &'static str,
            value: f64,
        ) -> Result<(), CatalogError> {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(CatalogError::InvalidField {
                    record,
                    id: id.to_string(),
                    field,
                    reason: format!("must be zero or more, got {value}"),
                })
            }
        }
        fn unique(
            record: &'static str,
            ids: impl Iterator<Item = String>,
        ) -> Result<(), CatalogError> {
            let mut seen = HashSet::new();
            for id in ids {
                if !seen.insert(id.clone()) {
                    return Err(CatalogError::Duplicate { record, id });
                }
            }
            Ok(())
        }

        let cost = &self.cost;
        positive(
            "cost",
            "defaults",
            "amortization_months",
            cost.amortization_months,
        )?;
        non_negative(
            "cost",
            "defaults",
            "electricity_usd_per_kwh",
            cost.electricity_usd_per_kwh,
        )?;
        positive("cost", "defaults", "hours_per_month", cost.hours_per_month)?;
        if !(cost.utilization_cap > 0.0 && cost.utilization_cap <= 1.0) {
            return Err(CatalogError::InvalidField {
                record: "cost",
                id: "defaults".into(),
                field: "utilization_cap",
                reason: format!("must be in (0, 1], got {}", cost.utilization_cap),
            });
        }
        if self.models.is_empty() {
            return Err(CatalogError::InvalidField {
                record: "model",
                id: "-".into(),
                field: "model",
                reason: "at least one model is required".into(),
            });
        }
        unique("model", self.models.iter().map(|m| m.id.clone()))?;
        unique(
            "quant",
            self.quants.iter().map(|q| q.id.to_ascii_uppercase()),
        )?;
        unique("hardware", self.hardware.iter().map(|h| h.id.clone()))?;
        unique("api", self.apis.iter().map(|a| a.id.clone()))?;
        unique(
            "benchmark",
            self.benchmarks
                .iter()
                .map(|b| format!("{}/{}/{}/{}", b.sku, b.model, b.quant, b.concurrency)),
        )?;
        for m in &self.models {
            positive("model", &m.id, "total_params_b", m.total_params_b)?;
            positive("model", &m.id, "active_params_b", m.active_params_b)?;
            non_negative(
                "model",
                &m.id,
                "kv_cache_bytes_per_token",
                m.kv_cache_bytes_per_token,
            )?;
            let invalid = |field: &'static str, reason: String| CatalogError::InvalidField {
                record: "model",
                id: m.id.clone(),
                field,
                reason,
            };
            if m.active_params_b > m.total_params_b {
                return Err(invalid(
                    "active_params_b",
                    format!(
                        "must not exceed total_params_b ({}), got {}",
                        m.total_params_b, m.active_params_b
                    ),
                ));
            }
            if let Some(v) = m.always_used_params_b {
                positive("model", &m.id, "always_used_params_b", v)?;
                if v > m.total_params_b {
                    return Err(invalid(
                        "always_used_params_b",
                        format!(
                            "must not exceed total_params_b ({}), got {v}",
                            m.total_params_b
                        ),
                    ));
                }
            }
            if let Some(v) = m.routed_params_per_token_b {
                non_negative("model", &m.id, "routed_params_per_token_b", v)?;
            }
            let shape = m.shape();
            if shape.always_used_params_b <= 0.0 {
                return Err(invalid(
                    "routed_params_per_token_b",
                    format!(
                        "leaves no always-used parameters: active_params_b {} minus {} routed",
                        m.active_params_b, shape.routed_params_per_token_b
                    ),
                ));
            }
            if shape.always_used_params_b + shape.routed_params_per_token_b
                > m.total_params_b * (1.0 + 1e-9)
            {
                return Err(invalid(
                    "routed_params_per_token_b",
                    format!(
                        "always-used ({}) plus routed ({}) parameters per token exceed total_params_b ({})",
                        shape.always_used_params_b,
                        shape.routed_params_per_token_b,
                        m.total_params_b
                    ),
                ));
            }
            if shape.experts_per_token > shape.experts {
                return Err(invalid(
                    "experts_per_token",
                    format!(
                        "must not exceed experts ({}), got {}",
                        shape.experts, shape.experts_per_token
                    ),
                ));
            }
            if shape.experts > 0 && shape.experts_per_token == 0 {
                return Err(invalid(
                    "experts_per_token",
                    format!(
                        "must be at least 1 for a model with {} experts",
                        shape.experts
                    ),
                ));
            }
            if shape.routed_params_per_token_b > 0.0 && shape.experts == 0 {
                return Err(invalid(
                    "experts",
                    "must be given (at least 1) when routed_params_per_token_b is above 0".into(),
                ));
            }
            if m.layers == Some(0) {
                return Err(invalid("layers", "must be at least 1".into()));
            }
            if let (Some(moe), Some(layers)) = (m.moe_layers, m.layers)
                && moe > layers
            {
                return Err(invalid(
                    "moe_layers",
                    format!("must not exceed layers ({layers}), got {moe}"),
                ));
            }
        }
        for q in &self.quants {
            positive("quant", &q.id, "bits_per_param", q.bits_per_param)?;
            if !(q.quality_retained > 0.0 && q.quality_retained <= 1.0) {
                return Err(CatalogError::InvalidField {
                    record: "quant",
                    id: q.id.clone(),
                    field: "quality_retained",
                    reason: format!("must be in (0, 1], got {}", q.quality_retained),
                });
            }
        }
        for h in &self.hardware {
            if h.accelerators == 0 || h.accelerators > MAX_ACCELERATORS_PER_NODE {
                return Err(CatalogError::InvalidField {
                    record: "hardware",
                    id: h.id.clone(),
                    field: "accelerators",
                    reason: format!(
                        "must be between 1 and {MAX_ACCELERATORS_PER_NODE}, got {}",
                        h.accelerators
                    ),
                });
            }
            positive(
                "hardware",
                &h.id,
                "memory_per_device_gb",
                h.memory_per_device_gb,
            )?;
            non_negative("hardware", &h.id, "price_usd", h.price_usd)?;
            positive("hardware", &h.id, "power_full_w", h.power_full_w)?;
            non_negative("hardware", &h.id, "power_idle_w", h.power_idle_w)?;
            for (field, value) in [
                ("memory_bandwidth_gb_s", h.memory_bandwidth_gb_s),
                ("compute_tflops", h.compute_tflops),
                ("host_ram_bandwidth_gb_s", h.host_ram_bandwidth_gb_s),
                ("host_link_gb_s", h.host_link_gb_s),
                ("disk_read_gb_s", h.disk_read_gb_s),
            ] {
                if let Some(value) = value {
                    positive("hardware", &h.id, field, value)?;
                }
            }
            if let Some(value) = h.host_ram_gb {
                non_negative("hardware", &h.id, "host_ram_gb", value)?;
            }
            if h.power_idle_w > h.power_full_w {
                // Busy hours are billed as idle power plus the extra of full load.
                return Err(CatalogError::InvalidField {
                    record: "hardware",
                    id: h.id.clone(),
                    field: "power_idle_w",
                    reason: format!(
                        "must not exceed power_full_w ({}), got {}",
                        h.power_full_w, h.power_idle_w
                    ),
                });
            }
        }
        for b in &self.benchmarks {
            let id = format!("{}/{}/{}", b.sku, b.model, b.quant);
            let sku = self
                .sku(&b.sku)
                .ok_or_else(|| CatalogError::UnknownReference {
                    record: "benchmark",
                    id: id.clone(),
                    target: "hardware",
                    target_id: b.sku.clone(),
                })?;
            if self.model(&b.model).is_none() {
                return Err(CatalogError::UnknownReference {
                    record: "benchmark",
                    id,
                    target: "model",
                    target_id: b.model.clone(),
                });
            }
            if self.quant(&b.quant).is_none() {
                return Err(CatalogError::UnknownReference {
                    record: "benchmark",
                    id,
                    target: "quant",
                    target_id: b.quant.clone(),
                });
            }
            if b.concurrency == 0 || b.concurrency > MAX_SLOTS_PER_INSTANCE {
                return Err(CatalogError::InvalidField {
                    record: "benchmark",
                    id,
                    field: "concurrency",
                    reason: format!(
                        "must be between 1 and {MAX_SLOTS_PER_INSTANCE}, got {}",
                        b.concurrency
                    ),
                });
            }
            if b.devices_used == 0 || b.devices_used > sku.accelerators {
                return Err(CatalogError::InvalidField {
                    record: "benchmark",
                    id,
                    field: "devices_used",
                    reason: format!(
                        "must be between 1 and the SKU's {} accelerators, got {}",
                        sku.accelerators, b.devices_used
                    ),
                });
            }
            positive("benchmark", &id, "decode_tok_s", b.decode_tok_s)?;
            positive("benchmark", &id, "prefill_tok_s", b.prefill_tok_s)?;
            positive("benchmark", &id, "power_w", b.power_w)?;
            non_negative("benchmark", &id, "vram_used_gb", b.vram_used_gb)?;
            if b.context_tokens == Some(0) {
                return Err(CatalogError::InvalidField {
                    record: "benchmark",
                    id,
                    field: "context_tokens",
                    reason: "must be at least 1".into(),
                });
            }
        }
        let p = &self.physics;
        for (field, value) in [
            (
                "decode_efficiency_accelerator",
                p.decode_efficiency_accelerator,
            ),
            ("decode_efficiency_host", p.decode_efficiency_host),
            ("decode_efficiency_unified", p.decode_efficiency_unified),
            ("prefill_efficiency_compute", p.prefill_efficiency_compute),
            ("prefill_efficiency_link", p.prefill_efficiency_link),
        ] {
            if !(value > 0.0 && value <= 1.0) {
                return Err(CatalogError::InvalidField {
                    record: "physics",
                    id: "defaults".into(),
                    field,
                    reason: format!("must be in (0, 1], got {value}"),
                });
            }
        }
        for (field, value) in [
            ("band_accelerator", p.band_accelerator),
            ("band_host", p.band_host),
            ("band_unified", p.band_unified),
        ] {
            if !(value.is_finite() && (0.0..1.0).contains(&value)) {
                return Err(CatalogError::InvalidField {
                    record: "physics",
                    id: "defaults".into(),
                    field,
                    reason: format!("must be in [0, 1), got {value}"),
                });
            }
        }
        non_negative(
            "physics",
            "defaults",
            "runtime_overhead_gb",
            p.runtime_overhead_gb,
        )?;
        for (field, value) in [
            ("prefill_batch_tokens", p.prefill_batch_tokens),
            ("planning_context_tokens", p.planning_context_tokens),
        ] {
            if value == 0 {
                return Err(CatalogError::InvalidField {
                    record: "physics",
                    id: "defaults".into(),
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        for a in &self.apis {
            if self.model(&a.model).is_none() {
                return Err(CatalogError::UnknownReference {
                    record: "api",
                    id: a.id.clone(),
                    target: "model",
                    target_id: a.model.clone(),
                });
            }
            non_negative(
                "api",
                &a.id,
                "input_usd_per_million",
                a.input_usd_per_million,
            )?;
            non_negative(
                "api",
                &a.id,
                "output_usd_per_million",
                a.output_usd_per_million,
            )?;
            for (field, value) in [
                ("input_usd_per_million", a.input_usd_per_million),
                ("output_usd_per_million", a.output_usd_per_million),
            ] {
                // Past this a price is a typo, and it would drown every other cost in the MIP.
                if value > MAX_API_USD_PER_MILLION {
                    return Err(CatalogError::InvalidField {
                        record: "api",
                        id: a.id.clone(),
                        field,
                        reason: format!(
                            "must be at most {MAX_API_USD_PER_MILLION} USD per million tokens, got {value}"
                        ),
                    });
                }
            }
            positive("api", &a.id, "ttft_p95_ms", a.ttft_p95_ms)?;
        }
        Ok(())
    }

    /// Returns every figure that is assumed rather than published, as `record field: note`.
    pub fn assumptions(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |record: String, provenance: &Provenance| {
            for (field, note) in &provenance.assumed {
                out.push(format!("{record} {field}: {note}"));
            }
        };
        push("cost".into(), &self.cost.provenance);
        for h in &self.hardware {
            push(format!("hardware {}", h.id), &h.provenance);
        }
        for q in &self.quants {
            push(format!("quant {}", q.id), &q.provenance);
        }
        for b in &self.benchmarks {
            push(format!("benchmark {}/{}", b.sku, b.quant), &b.provenance);
        }
        for a in &self.apis {
            push(format!("api {}", a.id), &a.provenance);
        }
        for h in &self.hardware {
            for field in h.assumed_spec_fields() {
                out.push(format!(
                    "hardware {} {field}: not given, the default of catalog::spec_defaults is used",
                    h.id
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalog_holds_the_article_figures() {
        let catalog = Catalog::embedded_default();
        // The article's five rigs and nine rows, and two configurations that hold its model.
        assert_eq!(catalog.hardware.len(), 7);
        assert_eq!(catalog.benchmarks.len(), 9);
        let mac = catalog.sku("mac-studio-m3-ultra").unwrap();
        // The article's "192GB" M3 Ultra does not exist; its $5,599 buys the 256 GB one.
        assert_eq!((mac.memory_per_device_gb, mac.price_usd), (256.0, 5599.0));
        assert_eq!(mac.kind_of("memory_per_device_gb"), FigureKind::Assumed);
        assert!(mac.name.contains("the article's '192GB'"));
        let rtx = catalog.sku("rtx-5090").unwrap();
        assert_eq!(rtx.memory_bandwidth_gb_s, Some(1792.0));
        assert_eq!(rtx.kind_of("memory_bandwidth_gb_s"), FigureKind::Published);
        assert_eq!(rtx.kind_of("host_ram_gb"), FigureKind::Assumed);
        assert!(rtx.assumed_spec_fields().is_empty());
        let rtx = catalog.sku("rtx-5090").unwrap();
        assert_eq!(
            (rtx.price_usd, rtx.power_full_w, rtx.power_idle_w),
            (4500.0, 510.0, 80.0)
        );
        let api = catalog.api_for("deepseek-v4-pro").unwrap();
        assert_eq!(api.input_usd_per_million, 0.0265);
        assert_eq!(api.output_usd_per_million, 0.0795);
        assert_eq!(catalog.cost.amortization_months, 36.0);
        assert_eq!(catalog.cost.electricity_usd_per_kwh, 0.16);
        let model = catalog.default_model();
        assert_eq!((model.total_params_b, model.active_params_b), (671.0, 37.0));
        assert_eq!(catalog.quant("q4_k_m").unwrap().quality_retained, 0.98);
    }

    #[test]
    fn assumed_figures_are_marked() {
        let catalog = Catalog::embedded_default();
        let xtx = catalog.sku("rx-7900-xtx").unwrap();
        assert_eq!(xtx.price_usd, 4500.0 - 1999.0 + 799.0);
        assert_eq!(xtx.provenance.kind_of("price_usd"), FigureKind::Assumed);
        assert_eq!(xtx.provenance.kind_of("power_idle_w"), FigureKind::Assumed);
        assert_eq!(
            xtx.provenance.kind_of("power_full_w"),
            FigureKind::Published
        );
        let assumptions = catalog.assumptions();
        assert!(
            assumptions
                .iter()
                .any(|a| a.starts_with("hardware rx-7900-xtx price_usd"))
        );
    }

    #[test]
    fn mixture_of_experts_weights_count_every_expert() {
        let catalog = Catalog::embedded_default();
        let q4 = catalog.quant("Q4_K_M").unwrap();
        // 671e9 parameters × 4.6 bits / 8 = 385.8 GB, not the 21 GB of the active path.
        let gb = catalog.default_model().weights_gb(q4);
        assert!((gb - 385.825).abs() < 1e-9, "{gb}");
    }

    #[test]
    fn rejects_bad_catalogs_naming_the_field() {
        let bad_price = DEFAULT_CATALOG_TOML.replacen("price_usd = 4500.0", "price_usd = -1.0", 1);
        let err = Catalog::from_toml_str(&bad_price).unwrap_err().to_string();
        assert_eq!(
            err,
            "catalog hardware 'rtx-5090': price_usd must be zero or more, got -1"
        );
        let idle_above_full =
            DEFAULT_CATALOG_TOML.replacen("power_idle_w = 80.0", "power_idle_w = 600.0", 1);
        let err = Catalog::from_toml_str(&idle_above_full)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "catalog hardware 'rtx-5090': power_idle_w must not exceed power_full_w (510), got 600"
        );
        let bad_ref = DEFAULT_CATALOG_TOML.replacen("sku = \"rtx-5090\"", "sku = \"gtx-480\"", 1);
        let err = Catalog::from_toml_str(&bad_ref).unwrap_err().to_string();
        assert!(err.contains("unknown hardware 'gtx-480'"), "{err}");
        let err = Catalog::from_toml_str("version = 3")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("catalog is not valid TOML"), "{err}");
    }
}
