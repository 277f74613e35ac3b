//! Workloads and plan requests: what a team asks the planner for, read from flags or from a
//! TOML/JSON file, validated field by field.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::PlanError;
use crate::units::{TokenCount, parse_duration_ms, parse_scaled_decimal};

/// Default share of a workload's tokens that are input (prompt) tokens.
pub const DEFAULT_INPUT_SHARE: f64 = 0.75;
/// Default prompt length used for TTFT.
pub const DEFAULT_PROMPT_TOKENS: u32 = 4096;
/// Default minimum per-stream decode speed.
pub const DEFAULT_MIN_DECODE_TOK_S: f64 = 10.0;
/// Default quality floor: the article's advice, "don't run below Q4 in production".
pub const DEFAULT_MIN_QUANT: &str = "Q4_K_M";
/// Largest number of workloads one request may carry.
pub const MAX_WORKLOADS: usize = 10_000;
/// Most tokens per month one workload may ask for (10T, thousands of times a large team's
/// demand): far beyond it node counts leave the solver's integer range (u64::MAX was an
/// INTERNAL error). The solver's numerics still fail on some inputs near it; see
/// `solver_numerics_at_large_demand` in tests/fuzz.rs.
pub const MAX_MONTHLY_TOKENS: u64 = 10_000_000_000_000;
/// Highest electricity price accepted, USD per kWh; beyond it costs lose their precision.
pub const MAX_ELECTRICITY_USD_PER_KWH: f64 = 1_000.0;
/// Shortest amortization period accepted, months: hardware paid off in under a month is not a
/// purchase, and a period near zero divides every price into an infinite monthly cost.
pub const MIN_AMORTIZATION_MONTHS: f64 = 1.0;
/// Longest amortization period accepted, months (50 years).
pub const MAX_AMORTIZATION_MONTHS: f64 = 600.0;
/// Largest capex budget accepted, USD; past it a budget is no limit, and the MIP's arithmetic
/// loses the fleet's cost in its rounding.
pub const MAX_BUDGET_USD: f64 = 1e12;
/// Largest site power cap accepted, W (10 GW, a large power plant).
pub const MAX_SITE_POWER_CAP_W: f64 = 1e10;
/// Smallest utilization cap accepted: below 1% a node is never worth buying.
pub const MIN_UTILIZATION_CAP: f64 = 0.01;
/// Longest bytes of a workload's name (and of any other name or id in a request).
pub const MAX_NAME_BYTES: usize = 256;
/// Most SKUs `max_nodes_per_sku` or `owned_nodes_per_sku` may list.
pub const MAX_SKU_ENTRIES: usize = 1_000;

/// One workload: a team's monthly demand and its service level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Unique name within the request.
    pub name: String,
    /// Tokens per month, input and output together.
    pub monthly_tokens: TokenCount,
    /// Share of tokens that are input (prompt) tokens, in [0, 1].
    pub input_share: f64,
    /// Typical prompt length in tokens; TTFT is computed for it.
    pub prompt_tokens: u32,
    /// Time-to-first-token p95 limit; `None` means no limit.
    pub ttft_p95_ms: Option<f64>,
    /// Minimum decode speed one stream must see.
    pub min_decode_tok_s: f64,
    /// Privacy: the workload must never go to the API.
    pub local_only: bool,
    /// Lowest quantization (by quality retained) allowed.
    pub min_quant: String,
    /// How the demand spreads over the hours of a day or a week.
    #[serde(default)]
    pub profile: DemandProfile,
    /// Share of the tokens, in [0, 1], that may be served at any hour of `defer_window`
    /// instead of when they arrive (batch work that can run at night).
    #[serde(default)]
    pub deferrable_share: f64,
    /// Hours of the day in which deferrable work may run; required when `deferrable_share > 0`.
    #[serde(default)]
    pub defer_window: Option<HourWindow>,
    /// Pools serving this workload keep one spare node (N+1).
    #[serde(default)]
    pub critical: bool,
    /// Model id; `None` means the catalog's default model. A pool serves one model.
    #[serde(default)]
    pub model: Option<String>,
}

/// Hours in a day profile.
pub const HOURS_PER_DAY: usize = 24;
/// Hours in a week profile (hour 0 is Monday 00:00).
pub const HOURS_PER_WEEK: usize = 168;

/// How a workload's demand spreads over the hours of a day (24 buckets) or a week (168).
///
/// Hours are the site's clock hours. Presets are days; a day profile repeats every day of a week.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DemandProfile {
    /// The same demand every hour.
    #[default]
    Flat,
    /// 09:00–17:00 at 3× the rate of the other 16 hours: each business hour carries 3/40 of
    /// the day, each other hour 1/40.
    BusinessHours,
    /// The article's duty cycle: all demand in 09:00–17:00, 1/8 of the day each hour.
    #[serde(rename = "8h-day", alias = "eight-hour-day")]
    EightHourDay,
    /// Explicit relative weights, 24 (a day) or 168 (a week, Monday 00:00 first); they need not
    /// sum to 1.
    Weights(Vec<f64>),
}

impl DemandProfile {
    /// Returns the profile's weights normalised to sum to 1, 24 or 168 of them.
    pub fn shares(&self) -> Vec<f64> {
        let weights: Vec<f64> = match self {
            DemandProfile::Flat => vec![1.0; HOURS_PER_DAY],
            DemandProfile::BusinessHours => (0..HOURS_PER_DAY)
                .map(|h| if (9..17).contains(&h) { 3.0 } else { 1.0 })
                .collect(),
            DemandProfile::EightHourDay => (0..HOURS_PER_DAY)
                .map(|h| if (9..17).contains(&h) { 1.0 } else { 0.0 })
                .collect(),
            DemandProfile::Weights(w) => w.clone(),
        };
        let sum: f64 = weights.iter().sum();
        weights.iter().map(|w| w / sum).collect()
    }

    /// Returns the profile's length: 24 or 168 hours (before validation, whatever was given).
    pub fn len_hours(&self) -> usize {
        match self {
            DemandProfile::Weights(w) => w.len(),
            _ => HOURS_PER_DAY,
        }
    }

    /// Returns the shares over `hours` (24 or 168): a day profile repeats over a week.
    pub fn shares_over(&self, hours: usize) -> Vec<f64> {
        let shares = self.shares();
        if shares.len() == hours {
            return shares;
        }
        let repeats = (hours / shares.len()) as f64;
        (0..hours)
            .map(|h| shares[h % shares.len()] / repeats)
            .collect()
    }

    /// Parses `flat`, `business-hours`, `8h-day` or comma-separated weights `w0,w1,…`.
    pub fn parse(text: &str) -> Result<DemandProfile, PlanError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "flat" => Ok(DemandProfile::Flat),
            "business-hours" | "business" => Ok(DemandProfile::BusinessHours),
            "8h-day" | "8h" | "eight-hour-day" => Ok(DemandProfile::EightHourDay),
            other => {
                let weights = other
                    .split(',')
                    .map(|w| {
                        w.trim().parse::<f64>().map_err(|_| {
                            PlanError::invalid(
                                "profile",
                                format!(
                                    "'{text}' is not flat, business-hours, 8h-day or 24/168 comma-separated weights ('{}' is not a number)",
                                    w.trim()
                                ),
                            )
                        })
                    })
                    .collect::<Result<Vec<f64>, _>>()?;
                let profile = DemandProfile::Weights(weights);
                profile.validate("profile")?;
                Ok(profile)
            }
        }
    }

    /// Checks a profile: 24 or 168 finite, non-negative weights with a positive sum.
    pub fn validate(&self, field: &str) -> Result<(), PlanError> {
        let DemandProfile::Weights(weights) = self else {
            return Ok(());
        };
        let field = format!("{field}.weights");
        if weights.len() != HOURS_PER_DAY && weights.len() != HOURS_PER_WEEK {
            return Err(PlanError::invalid(
                field,
                format!(
                    "needs 24 (a day) or 168 (a week) weights, got {}",
                    weights.len()
                ),
            ));
        }
        if let Some((hour, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(PlanError::invalid(
                field,
                format!("weight of hour {hour} must be a finite number ≥ 0, got {w}"),
            ));
        }
        let sum = weights.iter().sum::<f64>();
        if sum <= 0.0 {
            return Err(PlanError::invalid(field, "weights must not all be zero"));
        }
        // Each weight is finite, but their sum may not be (24 × 1e308): the shares would all be
        // 0 and the workload would vanish from the plan.
        if !sum.is_finite() {
            return Err(PlanError::invalid(
                field,
                format!(
                    "weights sum to {sum}, past the largest number; they are relative, so scale them down"
                ),
            ));
        }
        Ok(())
    }

    /// Returns the profile's name for tables: `flat`, `business-hours`, `8h-day`, `weights(24)`.
    pub fn label(&self) -> String {
        match self {
            DemandProfile::Flat => "flat".into(),
            DemandProfile::BusinessHours => "business-hours".into(),
            DemandProfile::EightHourDay => "8h-day".into(),
            DemandProfile::Weights(w) => format!("weights({})", w.len()),
        }
    }
}

/// Hours of the day `[start_hour, end_hour)`, wrapping past midnight: `22-6` is 22:00–06:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourWindow {
    /// First hour inside the window, 0–23.
    pub start_hour: u32,
    /// First hour after the window, 0–23; equal to `start_hour` means the whole day.
    pub end_hour: u32,
}

impl HourWindow {
    /// Returns whether hour-of-day `hour` (0–23) is inside the window.
    pub fn contains(&self, hour: u32) -> bool {
        let hour = hour % 24;
        if self.start_hour == self.end_hour {
            true
        } else if self.start_hour < self.end_hour {
            (self.start_hour..self.end_hour).contains(&hour)
        } else {
            hour >= self.start_hour || hour < self.end_hour
        }
    }

    /// Parses `22-6` (22:00 to 06:00).
    pub fn parse(text: &str) -> Result<HourWindow, PlanError> {
        let bad = || {
            PlanError::invalid(
                "defer_window",
                format!("'{text}' is not START-END in whole hours 0-23, e.g. 22-6"),
            )
        };
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let start_hour: u32 = start.trim().parse().map_err(|_| bad())?;
        let end_hour: u32 = end.trim().parse().map_err(|_| bad())?;
        if start_hour > 23 || end_hour > 23 {
            return Err(bad());
        }
        Ok(HourWindow {
            start_hour,
            end_hour,
        })
    }
}

impl std::fmt::Display for HourWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:00-{:02}:00", self.start_hour, self.end_hour)
    }
}

impl Default for Workload {
    /// Returns a workload named `default` with no tokens and every default: fill in at least
    /// `monthly_tokens` (validation rejects 0), e.g. `Workload { monthly_tokens, ..Default::default() }`.
    fn default() -> Self {
        Workload::new("default", TokenCount(0))
    }
}

impl Workload {
    /// Returns a workload with the default split, prompt length, SLO and quality floor.
    pub fn new(name: impl Into<String>, monthly_tokens: TokenCount) -> Self {
        Workload {
            name: name.into(),
            monthly_tokens,
            input_share: DEFAULT_INPUT_SHARE,
            prompt_tokens: DEFAULT_PROMPT_TOKENS,
            ttft_p95_ms: None,
            min_decode_tok_s: DEFAULT_MIN_DECODE_TOK_S,
            local_only: false,
            min_quant: DEFAULT_MIN_QUANT.to_string(),
            profile: DemandProfile::Flat,
            deferrable_share: 0.0,
            defer_window: None,
            critical: false,
            model: None,
        }
    }

    /// Returns the workload with a demand profile (builder style).
    pub fn with_profile(mut self, profile: DemandProfile) -> Self {
        self.profile = profile;
        self
    }

    /// Returns the model id this workload runs: its own or the catalog's default.
    pub fn model_id<'a>(&'a self, catalog: &'a Catalog) -> &'a str {
        self.model
            .as_deref()
            .unwrap_or(catalog.default_model().id.as_str())
    }
}

/// Limits on the fleet that are not about a workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FleetConstraints {
    /// Largest new-hardware spend allowed.
    pub budget_usd: Option<f64>,
    /// Largest node count per SKU id.
    #[serde(default)]
    pub max_nodes_per_sku: BTreeMap<String, u32>,
    /// Nodes already owned per SKU id: their capex is sunk, so they cost only energy.
    #[serde(default)]
    pub owned_nodes_per_sku: BTreeMap<String, u32>,
    /// Site power limit: every node drawing its busy power at once must fit under it.
    #[serde(default)]
    pub site_power_cap_w: Option<f64>,
}

/// Overrides of the catalog's cost assumptions for one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostOverrides {
    /// Largest share of a node's hours the plan may keep it busy, in (0, 1].
    pub utilization_cap: Option<f64>,
    /// Electricity price.
    pub electricity_usd_per_kwh: Option<f64>,
    /// Amortization period.
    pub amortization_months: Option<f64>,
}

/// A request for a plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// The workloads to serve.
    pub workloads: Vec<Workload>,
    /// Fleet-wide limits.
    #[serde(default)]
    pub constraints: FleetConstraints,
    /// Cost assumption overrides.
    #[serde(default)]
    pub overrides: CostOverrides,
    /// Plan on published benchmark figures even where the physics finds them implausible or
    /// impossible (the plan says so in its summary); without it such figures are replaced by
    /// the roofline estimate of a configuration that fits, or dropped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub trust_published: bool,
}

impl PlanRequest {
    /// Checks every field against the catalog; errors name the field and the bad value.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), PlanError> {
        if self.workloads.is_empty() {
            return Err(PlanError::invalid(
                "workloads",
                "at least one workload is required",
            ));
        }
        if self.workloads.len() > MAX_WORKLOADS {
            return Err(PlanError::invalid(
                "workloads",
                format!(
                    "{} workloads is more than the {MAX_WORKLOADS} one request may carry",
                    self.workloads.len()
                ),
            ));
        }
        let mut names = HashSet::new();
        for (i, w) in self.workloads.iter().enumerate() {
            let field = |name: &str| format!("workloads[{i}].{name}");
            if w.name.trim().is_empty() {
                return Err(PlanError::invalid(field("name"), "must not be empty"));
            }
            check_text(&field("name"), &w.name)?;
            check_text(&field("min_quant"), &w.min_quant)?;
            if let Some(model) = &w.model {
                check_text(&field("model"), model)?;
            }
            if !names.insert(w.name.as_str()) {
                return Err(PlanError::invalid(
                    field("name"),
                    format!("duplicate workload name '{}'", w.name),
                ));
            }
            if w.monthly_tokens.get() > MAX_MONTHLY_TOKENS {
                return Err(PlanError::invalid(
                    field("monthly_tokens"),
                    format!(
                        "{} tokens per month is more than the {} one workload may ask for",
                        w.monthly_tokens.get(),
                        MAX_MONTHLY_TOKENS
                    ),
                ));
            }
            if w.monthly_tokens.get() == 0 {
                return Err(PlanError::invalid(
                    field("monthly_tokens"),
                    format!(
                        "workload '{}' must have more than 0 tokens per month",
                        w.name
                    ),
                ));
            }
            if !(w.input_share.is_finite() && (0.0..=1.0).contains(&w.input_share)) {
                return Err(PlanError::invalid(
                    field("input_share"),
                    format!("must be between 0 and 1, got {}", w.input_share),
                ));
            }
            let max_context = catalog.default_model().max_context_tokens;
            if w.prompt_tokens == 0 || u64::from(w.prompt_tokens) > max_context {
                return Err(PlanError::invalid(
                    field("prompt_tokens"),
                    format!(
                        "must be between 1 and the model's {max_context}-token context, got {}",
                        w.prompt_tokens
                    ),
                ));
            }
            if let Some(ttft) = w.ttft_p95_ms
                && !(ttft.is_finite() && ttft > 0.0)
            {
                return Err(PlanError::invalid(
                    field("ttft_p95_ms"),
                    format!("must be a positive number of milliseconds, got {ttft}"),
                ));
            }
            if !(w.min_decode_tok_s.is_finite() && w.min_decode_tok_s >= 0.0) {
                return Err(PlanError::invalid(
                    field("min_decode_tok_s"),
                    format!("must be zero or more, got {}", w.min_decode_tok_s),
                ));
            }
            w.profile.validate(&field("profile"))?;
            if !(w.deferrable_share.is_finite() && (0.0..=1.0).contains(&w.deferrable_share)) {
                return Err(PlanError::invalid(
                    field("deferrable_share"),
                    format!("must be between 0 and 1, got {}", w.deferrable_share),
                ));
            }
            if let Some(window) = w.defer_window
                && (window.start_hour > 23 || window.end_hour > 23)
            {
                return Err(PlanError::invalid(
                    field("defer_window"),
                    format!(
                        "hours must be 0-23, got {}-{}",
                        window.start_hour, window.end_hour
                    ),
                ));
            }
            if w.deferrable_share > 0.0 && w.defer_window.is_none() {
                return Err(PlanError::invalid(
                    field("defer_window"),
                    format!(
                        "workload '{}' has a deferrable share of {} but no window to defer into (e.g. 22-6)",
                        w.name, w.deferrable_share
                    ),
                ));
            }
            if let Some(model) = &w.model
                && catalog.model(model).is_none()
            {
                let known: Vec<&str> = catalog.models.iter().map(|m| m.id.as_str()).collect();
                return Err(PlanError::invalid(
                    field("model"),
                    format!("unknown model '{model}' (known: {})", known.join(", ")),
                ));
            }
            if catalog.quant(&w.min_quant).is_none() {
                let known: Vec<&str> = catalog.quants.iter().map(|q| q.id.as_str()).collect();
                return Err(PlanError::invalid(
                    field("min_quant"),
                    format!(
                        "unknown quantization '{}' (known: {})",
                        w.min_quant,
                        known.join(", ")
                    ),
                ));
            }
        }
        let c = &self.constraints;
        if let Some(budget) = c.budget_usd
            && !(budget.is_finite() && (0.0..=MAX_BUDGET_USD).contains(&budget))
        {
            return Err(PlanError::invalid(
                "constraints.budget_usd",
                format!("must be between 0 and {MAX_BUDGET_USD}, got {budget}"),
            ));
        }
        for (label, map) in [
            ("constraints.max_nodes_per_sku", &c.max_nodes_per_sku),
            ("constraints.owned_nodes_per_sku", &c.owned_nodes_per_sku),
        ] {
            if map.len() > MAX_SKU_ENTRIES {
                return Err(PlanError::invalid(
                    label,
                    format!(
                        "{} entries is more than the {MAX_SKU_ENTRIES} allowed",
                        map.len()
                    ),
                ));
            }
            for sku in map.keys() {
                check_text(&format!("{label} key"), sku)?;
                if catalog.sku(sku).is_none() {
                    let known: Vec<&str> = catalog.hardware.iter().map(|h| h.id.as_str()).collect();
                    return Err(PlanError::invalid(
                        format!("{label}[{sku}]"),
                        format!("unknown hardware SKU '{sku}' (known: {})", known.join(", ")),
                    ));
                }
            }
        }
        if let Some(cap) = c.site_power_cap_w
            && !(cap.is_finite() && cap > 0.0 && cap <= MAX_SITE_POWER_CAP_W)
        {
            return Err(PlanError::invalid(
                "constraints.site_power_cap_w",
                format!(
                    "must be a positive number of watts up to {MAX_SITE_POWER_CAP_W}, got {cap}"
                ),
            ));
        }
        let o = &self.overrides;
        if let Some(cap) = o.utilization_cap
            && !(cap.is_finite() && (MIN_UTILIZATION_CAP..=1.0).contains(&cap))
        {
            return Err(PlanError::invalid(
                "overrides.utilization_cap",
                format!("must be in [{MIN_UTILIZATION_CAP}, 1], got {cap}"),
            ));
        }
        if let Some(price) = o.electricity_usd_per_kwh
            && !(price.is_finite() && (0.0..=MAX_ELECTRICITY_USD_PER_KWH).contains(&price))
        {
            return Err(PlanError::invalid(
                "overrides.electricity_usd_per_kwh",
                format!("must be between 0 and {MAX_ELECTRICITY_USD_PER_KWH}, got {price}"),
            ));
        }
        if let Some(months) = o.amortization_months
            && !(months.is_finite()
                && (MIN_AMORTIZATION_MONTHS..=MAX_AMORTIZATION_MONTHS).contains(&months))
        {
            return Err(PlanError::invalid(
                "overrides.amortization_months",
                format!(
                    "must be between {MIN_AMORTIZATION_MONTHS} and {MAX_AMORTIZATION_MONTHS} months, got {months}"
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a name or id: at most [`MAX_NAME_BYTES`] bytes and no NUL (which PostgreSQL cannot
/// store in TEXT).
pub fn check_text(field: &str, value: &str) -> Result<(), PlanError> {
    if value.len() > MAX_NAME_BYTES {
        return Err(PlanError::invalid(
            field,
            format!(
                "{} bytes is longer than the {MAX_NAME_BYTES} allowed",
                value.len()
            ),
        ));
    }
    if value.contains('\0') {
        return Err(PlanError::invalid(field, "must not contain a NUL byte"));
    }
    Ok(())
}

/// The on-disk shape of a workload file (TOML or JSON): quantities may be written as people
/// say them (`"1.5B"`, `"2s"`, `"$50k"`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadFile {
    #[serde(default, rename = "workload", alias = "workloads")]
    workloads: Vec<WorkloadEntry>,
    #[serde(default)]
    budget: Option<NumberOrText>,
    #[serde(default)]
    max_nodes: BTreeMap<String, u32>,
    #[serde(default)]
    owned: BTreeMap<String, u32>,
    #[serde(default)]
    utilization_cap: Option<f64>,
    #[serde(default)]
    kwh_price: Option<f64>,
    #[serde(default)]
    amortization_months: Option<f64>,
    #[serde(default)]
    site_power_cap_w: Option<f64>,
    #[serde(default)]
    trust_published: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadEntry {
    name: String,
    demand: TokenCount,
    #[serde(default)]
    input_share: Option<f64>,
    #[serde(default)]
    prompt_tokens: Option<u32>,
    #[serde(default)]
    ttft: Option<NumberOrText>,
    #[serde(default)]
    min_decode: Option<f64>,
    #[serde(default)]
    local_only: bool,
    #[serde(default)]
    min_quant: Option<String>,
    #[serde(default)]
    profile: Option<ProfileEntry>,
    #[serde(default)]
    deferrable_share: Option<f64>,
    #[serde(default)]
    defer_window: Option<String>,
    #[serde(default)]
    critical: bool,
    #[serde(default)]
    model: Option<String>,
}

/// A profile in a file: a preset name or an array of 24/168 weights.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ProfileEntry {
    Name(String),
    Weights(Vec<f64>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(f64),
    Text(String),
}

/// The format of a workload file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// TOML: `[[workload]]` tables.
    Toml,
    /// JSON: `{"workloads": [...]}`.
    Json,
}

impl FileFormat {
    /// Returns the format a file name's extension implies; TOML unless it ends in `.json`.
    pub fn from_path(path: &str) -> FileFormat {
        if path.to_ascii_lowercase().ends_with(".json") {
            FileFormat::Json
        } else {
            FileFormat::Toml
        }
    }
}

/// Parses a workload file into a request. Errors name the workload and field.
///
/// ```toml
/// budget = "$50k"
/// [max_nodes]
/// rtx-5090 = 8
/// [[workload]]
/// name = "coding-agents"
/// demand = "1.2B"
/// input_share = 0.85
/// ttft = "3s"                  # a unit is required: "800ms", "3s" (a bare 3 is refused)
/// local_only = true
/// profile = "business-hours"    # flat | business-hours | 8h-day | [24 or 168 weights]
/// deferrable_share = 0.3        # may run at any hour of defer_window
/// defer_window = "22-6"
/// critical = true               # its pools keep one spare node
/// model = "deepseek-v4-pro"     # default: the catalog's default model
/// ```
///
/// Top level also accepts `site_power_cap_w = 5000` and `trust_published = true` (plan on
/// published figures the physics finds implausible; see [`PlanRequest::trust_published`]).
pub fn parse_workload_file(text: &str, format: FileFormat) -> Result<PlanRequest, PlanError> {
    let file: WorkloadFile = match format {
        FileFormat::Toml => toml::from_str(text)
            .map_err(|e| PlanError::invalid("file", one_line(&e.to_string())))?,
        FileFormat::Json => {
            serde_json::from_str(text).map_err(|e| PlanError::invalid("file", e.to_string()))?
        }
    };
    if file.workloads.is_empty() {
        return Err(PlanError::invalid(
            "file",
            "no workloads: add at least one [[workload]] table (TOML) or a \"workloads\" array (JSON)",
        ));
    }
    let mut workloads = Vec::with_capacity(file.workloads.len());
    for (i, entry) in file.workloads.into_iter().enumerate() {
        let mut w = Workload::new(entry.name, entry.demand);
        if let Some(share) = entry.input_share {
            w.input_share = share;
        }
        if let Some(prompt) = entry.prompt_tokens {
            w.prompt_tokens = prompt;
        }
        // A bare number is refused as `--ttft 2` is: it could mean seconds or milliseconds.
        let ttft_text = match entry.ttft {
            None => None,
            Some(NumberOrText::Number(number)) => Some(number.to_string()),
            Some(NumberOrText::Text(text)) => Some(text),
        };
        w.ttft_p95_ms = ttft_text
            .map(|text| {
                parse_duration_ms(&text)
                    .map_err(|e| PlanError::invalid(format!("workload[{i}].ttft"), e.to_string()))
            })
            .transpose()?;
        if let Some(min) = entry.min_decode {
            w.min_decode_tok_s = min;
        }
        w.local_only = entry.local_only;
        if let Some(quant) = entry.min_quant {
            w.min_quant = quant;
        }
        w.profile = match entry.profile {
            None => DemandProfile::Flat,
            Some(ProfileEntry::Weights(weights)) => {
                let profile = DemandProfile::Weights(weights);
                profile.validate(&format!("workload[{i}].profile"))?;
                profile
            }
            Some(ProfileEntry::Name(name)) => DemandProfile::parse(&name).map_err(|e| match e {
                PlanError::InvalidRequest { reason, .. } => {
                    PlanError::invalid(format!("workload[{i}].profile"), reason)
                }
                other => other,
            })?,
        };
        if let Some(share) = entry.deferrable_share {
            w.deferrable_share = share;
        }
        if let Some(window) = entry.defer_window {
            w.defer_window = Some(HourWindow::parse(&window).map_err(|e| match e {
                PlanError::InvalidRequest { reason, .. } => {
                    PlanError::invalid(format!("workload[{i}].defer_window"), reason)
                }
                other => other,
            })?);
        }
        w.critical = entry.critical;
        w.model = entry.model;
        workloads.push(w);
    }
    let budget_usd = match file.budget {
        None => None,
        Some(NumberOrText::Number(usd)) => Some(usd),
        Some(NumberOrText::Text(text)) => Some(
            parse_scaled_decimal("budget", &text)
                .map_err(|e| PlanError::invalid("budget", e.to_string()))?,
        ),
    };
    Ok(PlanRequest {
        workloads,
        constraints: FleetConstraints {
            budget_usd,
            max_nodes_per_sku: file.max_nodes,
            owned_nodes_per_sku: file.owned,
            site_power_cap_w: file.site_power_cap_w,
        },
        overrides: CostOverrides {
            utilization_cap: file.utilization_cap,
            electricity_usd_per_kwh: file.kwh_price,
            amortization_months: file.amortization_months,
        },
        trust_published: file.trust_published,
    })
}

/// Folds a multi-line parser message into one line, as the CLI prints one line per error.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::embedded_default()
    }

    #[test]
    fn reads_a_toml_workload_file() {
        let text = r#"
budget = "$50k"
utilization_cap = 0.7
[max_nodes]
rtx-5090 = 8
[[workload]]
name = "coding"
demand = "1.2B"
input_share = 0.85
ttft = "3s"
local_only = true
[[workload]]
name = "batch"
demand = 500000000
min_quant = "Q5_K_M"
"#;
        let request = parse_workload_file(text, FileFormat::Toml).unwrap();
        request.validate(&catalog()).unwrap();
        assert_eq!(request.workloads.len(), 2);
        assert_eq!(request.workloads[0].monthly_tokens.get(), 1_200_000_000);
        assert_eq!(request.workloads[0].ttft_p95_ms, Some(3000.0));
        assert!(request.workloads[0].local_only);
        assert_eq!(request.workloads[1].monthly_tokens.get(), 500_000_000);
        assert_eq!(request.workloads[1].input_share, DEFAULT_INPUT_SHARE);
        assert_eq!(request.constraints.budget_usd, Some(50_000.0));
        assert_eq!(request.constraints.max_nodes_per_sku["rtx-5090"], 8);
        assert_eq!(request.overrides.utilization_cap, Some(0.7));
    }

    #[test]
    fn reads_a_json_workload_file() {
        let text = r#"{"workloads": [{"name": "a", "demand": "20k", "ttft": "800ms"}]}"#;
        let request = parse_workload_file(text, FileFormat::Json).unwrap();
        assert_eq!(request.workloads[0].monthly_tokens.get(), 20_000);
        assert_eq!(request.workloads[0].ttft_p95_ms, Some(800.0));
    }

    #[test]
    fn file_errors_name_the_field() {
        let err = parse_workload_file(
            "[[workload]]\nname = \"a\"\ndemand = \"1.5Q\"\n",
            FileFormat::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown suffix 'Q'"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = parse_workload_file(
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = \"0s\"\n",
            FileFormat::Toml,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "invalid workload[0].ttft: duration '0s' must be greater than zero"
        );
        let err = parse_workload_file(
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\ncolour = 3\n",
            FileFormat::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `colour`"), "{err}");
        let err = parse_workload_file("", FileFormat::Toml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no workloads"), "{err}");
    }

    #[test]
    fn a_duration_without_a_unit_is_refused_in_files_as_on_the_command_line() {
        for (text, format) in [
            (
                "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = 2\n",
                FileFormat::Toml,
            ),
            (
                "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = \"2\"\n",
                FileFormat::Toml,
            ),
            (
                r#"{"workloads": [{"name": "a", "demand": "1B", "ttft": 800}]}"#,
                FileFormat::Json,
            ),
        ] {
            let err = parse_workload_file(text, format).unwrap_err().to_string();
            assert!(err.starts_with("invalid workload[0].ttft: "), "{err}");
            assert!(err.contains("missing unit"), "{err}");
            assert_eq!(
                err.trim_start_matches("invalid workload[0].ttft: "),
                parse_duration_ms(if text.contains("800") { "800" } else { "2" })
                    .unwrap_err()
                    .to_string(),
                "the same words as --ttft"
            );
        }
    }

    #[test]
    fn non_physical_cost_inputs_and_overflowing_weights_are_refused_naming_the_field() {
        let catalog = catalog();
        let base = PlanRequest {
            workloads: vec![Workload::new("a", TokenCount(1_000_000))],
            ..Default::default()
        };
        base.validate(&catalog).unwrap();
        type Edit = fn(&mut PlanRequest);
        let cases: Vec<(&str, Edit)> = vec![
            ("workloads[0].profile.weights", |r| {
                r.workloads[0].profile = DemandProfile::Weights(vec![1e308; 24])
            }),
            ("overrides.amortization_months", |r| {
                r.overrides.amortization_months = Some(5e-324)
            }),
            ("overrides.amortization_months", |r| {
                r.overrides.amortization_months = Some(1e-300)
            }),
            ("overrides.amortization_months", |r| {
                r.overrides.amortization_months = Some(1e9)
            }),
            ("overrides.utilization_cap", |r| {
                r.overrides.utilization_cap = Some(1e-300)
            }),
            ("constraints.budget_usd", |r| {
                r.constraints.budget_usd = Some(1e308)
            }),
            ("constraints.site_power_cap_w", |r| {
                r.constraints.site_power_cap_w = Some(1e308)
            }),
            ("workloads[0].name", |r| {
                r.workloads[0].name = "x".repeat(MAX_NAME_BYTES + 1)
            }),
            ("workloads[0].name", |r| r.workloads[0].name = "a\0b".into()),
        ];
        for (field, edit) in cases {
            let mut request = base.clone();
            edit(&mut request);
            match request.validate(&catalog) {
                Err(PlanError::InvalidRequest { field: got, .. }) => assert_eq!(got, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        // The edges themselves are accepted.
        let mut request = base.clone();
        request.overrides.amortization_months = Some(MIN_AMORTIZATION_MONTHS);
        request.overrides.utilization_cap = Some(MIN_UTILIZATION_CAP);
        request.constraints.budget_usd = Some(MAX_BUDGET_USD);
        request.workloads[0].name = "x".repeat(MAX_NAME_BYTES);
        request.workloads[0].profile = DemandProfile::Weights(vec![1e300; 24]);
        request.validate(&catalog).unwrap();
    }

    #[test]
    fn validation_names_the_field_and_value() {
        let catalog = catalog();
        let mut request = PlanRequest {
            workloads: vec![
                Workload::new("a", TokenCount(1)),
                Workload::new("a", TokenCount(1)),
            ],
            ..Default::default()
        };
        assert_eq!(
            request.validate(&catalog).unwrap_err().to_string(),
            "invalid workloads[1].name: duplicate workload name 'a'"
        );
        request.workloads.pop();
        request.workloads[0].input_share = f64::NAN;
        assert_eq!(
            request.validate(&catalog).unwrap_err().to_string(),
            "invalid workloads[0].input_share: must be between 0 and 1, got NaN"
        );
        request.workloads[0].input_share = 0.5;
        request.workloads[0].min_quant = "Q9".into();
        assert!(
            request
                .validate(&catalog)
                .unwrap_err()
                .to_string()
                .starts_with("invalid workloads[0].min_quant: unknown quantization 'Q9'")
        );
        request.workloads[0].min_quant = "q4_k_m".into();
        request
            .constraints
            .max_nodes_per_sku
            .insert("h100".into(), 1);
        assert!(
            request
                .validate(&catalog)
                .unwrap_err()
                .to_string()
                .starts_with("invalid constraints.max_nodes_per_sku[h100]: unknown hardware SKU")
        );
        request.constraints.max_nodes_per_sku.clear();
        request.workloads[0].monthly_tokens = TokenCount(0);
        assert!(request.validate(&catalog).is_err());
        request.workloads[0].monthly_tokens = TokenCount(5);
        request.validate(&catalog).unwrap();
        request.workloads.clear();
        assert!(request.validate(&catalog).is_err());
    }

    #[test]
    fn reads_profiles_deferral_and_site_power_from_a_file() {
        let text = r#"
site_power_cap_w = 5000
[[workload]]
name = "batch"
demand = "1B"
profile = "8h-day"
deferrable_share = 0.3
defer_window = "22-6"
critical = true
model = "deepseek-v4-pro"
[[workload]]
name = "week"
demand = "1B"
profile = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]
"#;
        let request = parse_workload_file(text, FileFormat::Toml).unwrap();
        request.validate(&catalog()).unwrap();
        let batch = &request.workloads[0];
        assert_eq!(batch.profile, DemandProfile::EightHourDay);
        assert_eq!(batch.deferrable_share, 0.3);
        assert_eq!(
            batch.defer_window,
            Some(HourWindow {
                start_hour: 22,
                end_hour: 6
            })
        );
        assert!(batch.critical);
        assert_eq!(batch.model.as_deref(), Some("deepseek-v4-pro"));
        assert_eq!(request.workloads[1].profile.len_hours(), 24);
        assert_eq!(request.constraints.site_power_cap_w, Some(5_000.0));
        let err = parse_workload_file(
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nprofile = \"weekly\"\n",
            FileFormat::Toml,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("invalid workload[0].profile: 'weekly' is not flat"),
            "{err}"
        );
        // Older plan JSON without the new fields still reads.
        let old = r#"{"name":"a","monthly_tokens":5,"input_share":0.5,"prompt_tokens":10,"ttft_p95_ms":null,"min_decode_tok_s":1.0,"local_only":false,"min_quant":"Q4_K_M"}"#;
        let w: Workload = serde_json::from_str(old).unwrap();
        assert_eq!(w.profile, DemandProfile::Flat);
        assert_eq!(w.defer_window, None);
    }

    #[test]
    fn profiles_and_windows_by_hand() {
        // business-hours: 8 hours at 3, 16 at 1 → 3/40 and 1/40.
        let shares = DemandProfile::BusinessHours.shares();
        assert!((shares[10] - 3.0 / 40.0).abs() < 1e-15 && (shares[3] - 1.0 / 40.0).abs() < 1e-15);
        let eight = DemandProfile::EightHourDay.shares();
        assert_eq!(eight.iter().filter(|s| **s > 0.0).count(), 8);
        // A day profile over a week: each day carries a seventh.
        let week = DemandProfile::Flat.shares_over(HOURS_PER_WEEK);
        assert!((week.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((week[0] - 1.0 / 168.0).abs() < 1e-15);
        assert_eq!(
            DemandProfile::parse("business-hours").unwrap(),
            DemandProfile::BusinessHours
        );
        let weights = DemandProfile::parse(&vec!["1"; 168].join(",")).unwrap();
        assert_eq!(weights.len_hours(), 168);
        assert!(DemandProfile::parse("1,2,3").is_err());
        let night = HourWindow::parse("22-6").unwrap();
        assert!(night.contains(22) && night.contains(0) && night.contains(5));
        assert!(!night.contains(6) && !night.contains(21));
        assert!(HourWindow::parse("3-3").unwrap().contains(17));
        assert!(HourWindow::parse("24-1").is_err());
        assert!(HourWindow::parse("night").is_err());
    }

    #[test]
    fn a_workload_file_may_trust_published_figures() {
        let workload = "[[workload]]\nname = \"a\"\ndemand = \"1B\"\n";
        let plain = parse_workload_file(workload, FileFormat::Toml).unwrap();
        assert!(!plain.trust_published);
        let trusting = parse_workload_file(
            &format!("trust_published = true\n{workload}"),
            FileFormat::Toml,
        )
        .unwrap();
        assert!(trusting.trust_published);
        let json = r#"{"trust_published": true, "workloads": [{"name": "a", "demand": "1B"}]}"#;
        assert!(
            parse_workload_file(json, FileFormat::Json)
                .unwrap()
                .trust_published
        );
        let wrong = parse_workload_file(
            &format!("trust_published = 1\n{workload}"),
            FileFormat::Toml,
        )
        .unwrap_err();
        assert!(wrong.to_string().contains("trust_published"), "{wrong}");
    }
}
