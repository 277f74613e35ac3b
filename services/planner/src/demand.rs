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
        }
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
            if !names.insert(w.name.as_str()) {
                return Err(PlanError::invalid(
                    field("name"),
                    format!("duplicate workload name '{}'", w.name),
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
            && !(budget.is_finite() && budget >= 0.0)
        {
            return Err(PlanError::invalid(
                "constraints.budget_usd",
                format!("must be zero or more, got {budget}"),
            ));
        }
        for (label, map) in [
            ("constraints.max_nodes_per_sku", &c.max_nodes_per_sku),
            ("constraints.owned_nodes_per_sku", &c.owned_nodes_per_sku),
        ] {
            for sku in map.keys() {
                if catalog.sku(sku).is_none() {
                    let known: Vec<&str> = catalog.hardware.iter().map(|h| h.id.as_str()).collect();
                    return Err(PlanError::invalid(
                        format!("{label}[{sku}]"),
                        format!("unknown hardware SKU '{sku}' (known: {})", known.join(", ")),
                    ));
                }
            }
        }
        let o = &self.overrides;
        if let Some(cap) = o.utilization_cap
            && !(cap.is_finite() && cap > 0.0 && cap <= 1.0)
        {
            return Err(PlanError::invalid(
                "overrides.utilization_cap",
                format!("must be in (0, 1], got {cap}"),
            ));
        }
        if let Some(price) = o.electricity_usd_per_kwh
            && !(price.is_finite() && price >= 0.0)
        {
            return Err(PlanError::invalid(
                "overrides.electricity_usd_per_kwh",
                format!("must be zero or more, got {price}"),
            ));
        }
        if let Some(months) = o.amortization_months
            && !(months.is_finite() && months > 0.0)
        {
            return Err(PlanError::invalid(
                "overrides.amortization_months",
                format!("must be greater than zero, got {months}"),
            ));
        }
        Ok(())
    }
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
/// ttft = "3s"
/// local_only = true
/// ```
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
        w.ttft_p95_ms =
            match entry.ttft {
                None => None,
                Some(NumberOrText::Number(ms)) => Some(ms),
                Some(NumberOrText::Text(text)) => Some(parse_duration_ms(&text).map_err(|e| {
                    PlanError::invalid(format!("workload[{i}].ttft"), e.to_string())
                })?),
            };
        if let Some(min) = entry.min_decode {
            w.min_decode_tok_s = min;
        }
        w.local_only = entry.local_only;
        if let Some(quant) = entry.min_quant {
            w.min_quant = quant;
        }
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
        },
        overrides: CostOverrides {
            utilization_cap: file.utilization_cap,
            electricity_usd_per_kwh: file.kwh_price,
            amortization_months: file.amortization_months,
        },
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
        let text = r#"{"workloads": [{"name": "a", "demand": "20k", "ttft": 800}]}"#;
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
}
