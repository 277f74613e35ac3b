//! Plain records as stored, one struct per table. Field names follow the `fleet.v1` messages;
//! unsigned fields are stored as BIGINT (PostgreSQL has no unsigned types) and checked on the
//! way in and out.

/// A hardware SKU (`hardware_skus`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HardwareRow {
    /// Stable id, e.g. `rtx-5090`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Accelerators in one node.
    #[sqlx(try_from = "i64")]
    pub accelerators: u32,
    /// Memory per accelerator in GB.
    pub memory_per_device_gb: f64,
    /// Whether accelerator memory is shared with the CPU.
    pub unified_memory: bool,
    /// All-in price of one node.
    pub price_usd: f64,
    /// Sustained power at full load.
    pub power_full_w: f64,
    /// Power when idle.
    pub power_idle_w: f64,
    /// llama.cpp backend: cuda, metal or rocm.
    pub backend: String,
    /// Memory bandwidth of one accelerator, GB/s; `None`: not given.
    pub memory_bandwidth_gb_s: Option<f64>,
    /// Dense FP16 compute of one accelerator, TFLOPS; `None`: not given.
    pub compute_tflops: Option<f64>,
    /// Host RAM of the node, GB; `None`: not given.
    pub host_ram_gb: Option<f64>,
    /// Host RAM bandwidth, GB/s; `None`: not given.
    pub host_ram_bandwidth_gb_s: Option<f64>,
    /// Host-to-accelerator link, GB/s per direction; `None`: not given.
    pub host_link_gb_s: Option<f64>,
    /// Sequential disk read, GB/s; `None`: not given.
    pub disk_read_gb_s: Option<f64>,
    /// Where the figures come from, as the planner's provenance JSON.
    pub provenance_json: String,
}

/// A benchmark (`benchmarks`), keyed by (sku, model, quant, concurrency).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BenchmarkRow {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Streams served at once when measured.
    #[sqlx(try_from = "i64")]
    pub concurrency: u32,
    /// Accelerators one llama-server instance spans.
    #[sqlx(try_from = "i64")]
    pub devices_used: u32,
    /// Accelerator memory in use, GB.
    pub vram_used_gb: f64,
    /// Decode speed of one stream, tokens/s.
    pub decode_tok_s: f64,
    /// Prompt processing speed, tokens/s.
    pub prefill_tok_s: f64,
    /// Sustained node power while running this configuration.
    pub power_w: f64,
    /// Whether weights spill to CPU RAM.
    pub offload: bool,
    /// Context per stream the run held, tokens; `None`: not given.
    #[sqlx(try_from = "NullableCount")]
    pub context_tokens: Option<u32>,
    /// Where the figures come from, as the planner's provenance JSON.
    pub provenance_json: String,
}

/// A nullable BIGINT column read into an `Option<u32>` field: sqlx's `try_from` needs a type
/// this crate owns to convert from, and PostgreSQL has no unsigned type to decode directly.
pub(crate) struct NullableCount(Option<i64>);

impl<DB: sqlx::Database> sqlx::Type<DB> for NullableCount
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for NullableCount
where
    Option<i64>: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(NullableCount(
            <Option<i64> as sqlx::Decode<'r, DB>>::decode(value)?,
        ))
    }
}

impl TryFrom<NullableCount> for Option<u32> {
    type Error = std::num::TryFromIntError;

    fn try_from(value: NullableCount) -> Result<Self, Self::Error> {
        value.0.map(u32::try_from).transpose()
    }
}

/// The key of a benchmark.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BenchmarkKey {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Streams served at once.
    pub concurrency: u32,
}

impl BenchmarkKey {
    /// Returns the key as one string for messages, e.g. `rtx-5090/qwen3/Q4_K_M@4`.
    pub fn display_id(&self) -> String {
        format!(
            "{}/{}/{}@{}",
            self.sku, self.model, self.quant, self.concurrency
        )
    }
}

impl BenchmarkRow {
    /// Returns the row's key.
    pub fn key(&self) -> BenchmarkKey {
        BenchmarkKey {
            sku: self.sku.clone(),
            model: self.model.clone(),
            quant: self.quant.clone(),
            concurrency: self.concurrency,
        }
    }
}

/// A hosted API offer (`api_offers`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ApiOfferRow {
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
    /// Where the figures come from, as the planner's provenance JSON.
    pub provenance_json: String,
}

/// A stored plan (`plans`): the request as received and the plan as returned.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PlanRow {
    /// Plan id, unique.
    pub id: String,
    /// When the plan was made, Unix milliseconds.
    pub created_at_unix_ms: i64,
    /// Catalog version the plan was made with.
    pub catalog_version: String,
    /// Throughput model version the plan was made with.
    pub throughput_version: String,
    /// The request, as the planner's JSON.
    pub request_json: String,
    /// The plan, as the planner's JSON.
    pub plan_json: String,
    /// Monthly total cost of the plan, for listings.
    pub total_usd: f64,
}

/// A plan in a listing: everything but the JSON bodies.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PlanSummaryRow {
    /// Plan id.
    pub id: String,
    /// When the plan was made, Unix milliseconds.
    pub created_at_unix_ms: i64,
    /// Catalog version the plan was made with.
    pub catalog_version: String,
    /// Monthly total cost of the plan.
    pub total_usd: f64,
}

impl PlanSummaryRow {
    /// Returns the keyset cursor that asks for the plans after this one in a newest-first listing.
    pub fn cursor(&self) -> PlanCursor {
        PlanCursor {
            created_at_unix_ms: self.created_at_unix_ms,
            id: self.id.clone(),
        }
    }
}

/// Position in a newest-first plan listing: the page continues with plans strictly older than
/// this one (ties on time broken by id, descending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCursor {
    /// Creation time of the last plan seen.
    pub created_at_unix_ms: i64,
    /// Id of the last plan seen.
    pub id: String,
}

/// A registered node (`nodes`).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NodeRow {
    /// Stable node id.
    pub node_id: String,
    /// Hardware SKU id.
    pub sku: String,
    /// Labels as a JSON object of strings.
    pub labels_json: String,
    /// First registration, Unix milliseconds; kept on re-registration.
    pub registered_at_unix_ms: i64,
    /// Latest registration or observation received, Unix milliseconds.
    pub last_seen_unix_ms: i64,
}

/// One observation window of one llama-server (`observations`), keyed by (node_id, seq).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ObservationRow {
    /// Node that measured it.
    pub node_id: String,
    /// Per-node sequence number, from 1.
    #[sqlx(try_from = "i64")]
    pub seq: u64,
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// The llama-server measured.
    pub worker_url: String,
    /// Window start, Unix milliseconds.
    pub window_start_unix_ms: i64,
    /// Window end, Unix milliseconds.
    pub window_end_unix_ms: i64,
    /// Prompt tokens processed in the window.
    #[sqlx(try_from = "i64")]
    pub prompt_tokens: u64,
    /// Tokens generated in the window.
    #[sqlx(try_from = "i64")]
    pub predicted_tokens: u64,
    /// Prompt processing seconds in the window.
    pub prompt_seconds: f64,
    /// Generation seconds in the window, summed over slots.
    pub predicted_seconds: f64,
    /// Prompt tokens per second.
    pub prefill_tok_s: f64,
    /// Decode tokens per second of one stream.
    pub decode_tok_s: f64,
    /// Decode tokens per wall second, all streams.
    pub aggregate_decode_tok_s: f64,
    /// Mean requests in flight.
    pub mean_concurrency: f64,
    /// Requests waiting for a slot.
    pub queue_depth: f64,
    /// Share of prompt tokens served from cache.
    pub cache_hit_rate: f64,
    /// Node power, where readable.
    pub power_w: Option<f64>,
    /// `passive` or `probe`.
    pub kind: String,
    /// Slots configured on the server.
    #[sqlx(try_from = "i64")]
    pub concurrency: u32,
    /// When the planner stored it, Unix milliseconds.
    pub received_at_unix_ms: i64,
}

/// Which observations [`crate::Store::list_observations`] returns; unset fields match all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservationFilter {
    /// Only this node's.
    pub node_id: Option<String>,
    /// Only this SKU's.
    pub sku: Option<String>,
    /// Only this model's.
    pub model: Option<String>,
    /// Only this quantization's.
    pub quant: Option<String>,
    /// Only this concurrency's.
    pub concurrency: Option<u32>,
    /// Only windows that ended at or after this time, Unix milliseconds.
    pub window_end_since_unix_ms: Option<i64>,
    /// At most this many rows; `None` for all.
    pub limit: Option<u32>,
}
