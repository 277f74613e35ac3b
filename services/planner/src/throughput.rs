//! The throughput model: for each (SKU, model, quant, concurrency), how fast one node serves,
//! and how we know.
//!
//! Until a configuration is measured, its prior is the catalog's published figure where the
//! physics finds it plausible, else the roofline estimate with its ± band (`crate::physics`).
//!
//! [`ThroughputModel::calibrate`] blends the priors with measured windows by the rules in
//! `crate::calibration`: every window counts unless there is evidence against it (each rejection
//! counted by reason), the prior's strength comes from its basis, windows are keyed by the
//! concurrency they actually ran at, prefill under load and prefill per request (what TTFT
//! needs) are kept apart, and where two or more concurrency levels are measured the USL curve
//! `X(N) = λN / (1 + σ(N−1) + κN(N−1))` is fitted and fills in the levels not measured. The
//! model also keeps the accuracy ledger: what the prior assumed against what was measured, per
//! configuration, and re-fits the estimates of configurations not yet measured on a SKU to the
//! efficiency measured on it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::calibration;
use crate::catalog::{Benchmark, Catalog};
use crate::physics::{self, Placement, PlacementKind};

/// Concurrency levels (slots per llama-server instance) every configuration is offered at.
pub const CONCURRENCY_LEVELS: [u32; 4] = [1, 2, 4, 8];
pub use crate::calibration::{MIN_WINDOW_PREDICTED_TOKENS, WindowRejections};
/// Smallest relative sd of an estimate re-fit to measurements on the same SKU: other
/// quantizations and levels differ in efficiency by about this much.
pub const REFIT_SD_FLOOR: f64 = 0.15;

/// How a throughput point is known: its basis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThroughputProvenance {
    /// A catalog benchmark taken as published, unchecked (plans made before the physics
    /// check; kept so stored plans still read).
    Catalog {
        /// The benchmark's source.
        source: String,
    },
    /// A published benchmark that passed the physics check.
    Published {
        /// The benchmark's source.
        source: String,
        /// How the figure was derived from the published one, if it was (e.g. two instances of
        /// a single-card row).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        derived: Option<String>,
    },
    /// A published benchmark the physics finds implausible or impossible, used because the
    /// request trusts published figures.
    Trusted {
        /// The benchmark's source.
        source: String,
        /// The physics verdict it failed, in words.
        verdict: String,
    },
    /// The roofline estimate (`crate::physics`), with its ± band.
    Estimated {
        /// ± band as a fraction.
        band: f64,
        /// Where the weights live, in words.
        placement: String,
        /// A published point the estimate is scaled from (other concurrency levels of a
        /// plausible benchmark), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        anchor: Option<String>,
    },
    /// Measured on the team's own nodes.
    Measured {
        /// Distinct nodes that contributed.
        nodes: u32,
        /// Measurement windows used.
        windows: u64,
        /// When the newest window ended, Unix milliseconds.
        #[serde(alias = "last_unix_ms")]
        last_observed_unix_ms: i64,
        /// Relative sd of the blended aggregate decode rate (prior and windows together);
        /// absent in plans made before the band was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        band: Option<f64>,
        /// Windows of this configuration and level not used, by reason.
        #[serde(default, skip_serializing_if = "is_default")]
        rejected: WindowRejections,
    },
    /// The roofline estimate scaled by the efficiency measured on the same hardware: the
    /// physics model re-fit to the team's own measurements.
    Refit {
        /// ± band as a fraction.
        band: f64,
        /// Where the weights live, in words.
        placement: String,
        /// What it was re-fit to, e.g. `measured N=4 of this configuration`.
        from: String,
    },
    /// Not measured at this concurrency: read off the USL curve fitted to the measured levels.
    Fitted {
        /// Distinct nodes that contributed to the fit.
        nodes: u32,
        /// Measurement windows behind the fit.
        windows: u64,
        /// When the newest window ended, Unix milliseconds.
        last_observed_unix_ms: i64,
        /// Concurrency levels the curve was fitted to.
        from_levels: Vec<u32>,
    },
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl ThroughputProvenance {
    /// Returns the relative sd this basis carries as a prior: a roofline estimate is as weak as
    /// its band, anything published is a moderate prior
    /// ([`crate::calibration::PUBLISHED_PRIOR_SD`]).
    pub fn prior_sd(&self) -> f64 {
        let published = crate::calibration::PUBLISHED_PRIOR_SD;
        match self {
            ThroughputProvenance::Estimated { band, .. }
            | ThroughputProvenance::Refit { band, .. } => band.max(published),
            ThroughputProvenance::Measured { band, .. } => band.unwrap_or(published),
            _ => published,
        }
    }

    /// Returns whether the figures come from the team's own measurements.
    pub fn is_measured(&self) -> bool {
        matches!(
            self,
            ThroughputProvenance::Measured { .. } | ThroughputProvenance::Fitted { .. }
        )
    }
}

impl std::fmt::Display for ThroughputProvenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts = |f: &mut std::fmt::Formatter<'_>, nodes: u32, windows: u64, last: i64| {
            write!(
                f,
                "{nodes} node{}, {} window{}, last at {}",
                if nodes == 1 { "" } else { "s" },
                crate::units::format_int(windows as f64),
                if windows == 1 { "" } else { "s" },
                format_utc_minute(last)
            )
        };
        match self {
            ThroughputProvenance::Catalog { .. } => f.write_str("catalog"),
            ThroughputProvenance::Published { derived: None, .. } => {
                f.write_str("published (plausible)")
            }
            ThroughputProvenance::Published {
                derived: Some(how), ..
            } => write!(f, "derived from published: {how} (plausible)"),
            ThroughputProvenance::Trusted { verdict, .. } => {
                write!(f, "published, trusted as asked ({verdict})")
            }
            ThroughputProvenance::Estimated {
                band,
                placement,
                anchor,
            } => {
                write!(f, "estimated ±{}% (", (band * 100.0).round())?;
                if let Some(anchor) = anchor {
                    write!(f, "{anchor} scaled by the roofline, ")?;
                } else {
                    f.write_str("roofline, ")?;
                }
                write!(f, "{placement})")
            }
            ThroughputProvenance::Measured {
                nodes,
                windows,
                last_observed_unix_ms,
                band,
                rejected,
            } => {
                f.write_str("measured: ")?;
                counts(f, *nodes, *windows, *last_observed_unix_ms)?;
                let mut extra = Vec::new();
                if let Some(band) = band {
                    extra.push(format!("±{}%", trim_pct(*band)));
                }
                if rejected.total() > 0 {
                    extra.push(format!("not used: {rejected}"));
                }
                if !extra.is_empty() {
                    write!(f, " ({})", extra.join("; "))?;
                }
                Ok(())
            }
            ThroughputProvenance::Refit {
                band,
                placement,
                from,
            } => write!(
                f,
                "estimated ±{}% (roofline re-fit to {from}, {placement})",
                (band * 100.0).round()
            ),
            ThroughputProvenance::Fitted {
                nodes,
                windows,
                last_observed_unix_ms,
                from_levels,
            } => {
                let levels: Vec<String> = from_levels.iter().map(u32::to_string).collect();
                write!(f, "USL fit to measured N={}: ", levels.join(","))?;
                counts(f, *nodes, *windows, *last_observed_unix_ms)
            }
        }
    }
}

/// Formats a relative sd as a percentage: one decimal below 10%, whole above.
fn trim_pct(sd: f64) -> String {
    let pct = sd * 100.0;
    if pct < 9.95 {
        format!("{pct:.1}")
    } else {
        format!("{pct:.0}")
    }
}

/// Formats Unix milliseconds as `2026-11-28 17:00 UTC` (proleptic Gregorian, no leap seconds).
pub fn format_utc_minute(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3_600,
        of_day % 3_600 / 60
    )
}

/// One configuration's throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputPoint {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Streams each llama-server instance serves at once.
    pub concurrency: u32,
    /// Independent llama-server instances on one node.
    pub instances_per_node: u32,
    /// Decode speed one stream sees, tokens/s.
    pub decode_tok_s: f64,
    /// Prompt processing speed of one instance under load, tokens/s: what busy time is
    /// computed with.
    pub prefill_tok_s: f64,
    /// Prompt processing speed one request sees, tokens/s, where it was measured apart from the
    /// throughput under load (the agent's probe); TTFT is computed with it. Absent: the same as
    /// `prefill_tok_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_prefill_tok_s: Option<f64>,
    /// Decode tokens/s of one instance summed over its concurrent streams.
    pub aggregate_decode_tok_s: f64,
    /// Node power while busy in this configuration, all instances together.
    pub power_busy_w: f64,
    /// Accelerator memory in use per instance, GB.
    pub vram_used_gb: f64,
    /// Whether weights spill to CPU RAM.
    pub offload: bool,
    /// Where the weights live at the planning context, with the numbers (absent in plans made
    /// before the physics check, and for measured configurations the catalog cannot place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::physics::Placement>,
    /// How this point is known.
    pub provenance: ThroughputProvenance,
}

impl ThroughputPoint {
    /// Returns node-seconds of busy time per token for a workload's input share: prefill and
    /// decode share the same accelerator, so their times add.
    pub fn node_seconds_per_token(&self, input_share: f64) -> f64 {
        let instances = f64::from(self.instances_per_node);
        (input_share / self.prefill_tok_s + (1.0 - input_share) / self.aggregate_decode_tok_s)
            / instances
    }

    /// Returns the prompt speed one request sees, tokens/s: the per-request figure where it was
    /// measured, else the instance's prefill rate.
    pub fn ttft_prefill_tok_s(&self) -> f64 {
        self.request_prefill_tok_s.unwrap_or(self.prefill_tok_s)
    }

    /// Returns the time to first token for a prompt, in milliseconds, on an idle instance.
    pub fn ttft_ms(&self, prompt_tokens: u32) -> f64 {
        f64::from(prompt_tokens) / self.ttft_prefill_tok_s() * 1_000.0
    }
}

/// The Universal Scalability Law curve of one configuration:
/// `X(N) = λN / (1 + σ(N−1) + κN(N−1))` aggregate decode tokens/s of one instance at N slots.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UslCurve {
    /// Single-stream rate λ, tokens/s.
    pub lambda_tok_s: f64,
    /// Contention σ ≥ 0 (σ = 1, κ = 0 is no batching gain).
    pub sigma: f64,
    /// Coherency κ ≥ 0.
    pub kappa: f64,
}

impl UslCurve {
    /// Returns the conservative prior: no batching gain, X(N) = λ.
    pub fn no_batching_gain(lambda_tok_s: f64) -> UslCurve {
        UslCurve {
            lambda_tok_s,
            sigma: 1.0,
            kappa: 0.0,
        }
    }

    /// Returns aggregate decode tokens/s at `n` slots.
    pub fn aggregate_tok_s(&self, n: u32) -> f64 {
        let n = f64::from(n.max(1));
        self.lambda_tok_s * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }

    /// Returns the decode speed one of `n` streams sees: X(N)/N.
    pub fn per_stream_tok_s(&self, n: u32) -> f64 {
        self.aggregate_tok_s(n) / f64::from(n.max(1))
    }

    /// Fits the curve to weighted `(N, X(N), weight)` points by weighted least squares on the
    /// linear form `N/X = a + b(N−1) + cN(N−1)` with λ = 1/a, σ = b/a, κ = c/a. Two levels fit
    /// σ with κ = 0; σ or κ that come out negative are pinned to 0 and the rest refitted.
    /// Returns `None` with fewer than two distinct levels or a degenerate fit.
    pub fn fit(points: &[(u32, f64, f64)]) -> Option<UslCurve> {
        let levels: BTreeSet<u32> = points.iter().map(|p| p.0).collect();
        if levels.len() < 2
            || points
                .iter()
                .any(|p| !(p.1.is_finite() && p.1 > 0.0 && p.2 > 0.0))
        {
            return None;
        }
        let rows: Vec<([f64; 3], f64, f64)> = points
            .iter()
            .map(|&(n, x, w)| {
                let n = f64::from(n);
                ([1.0, n - 1.0, n * (n - 1.0)], n / x, w)
            })
            .collect();
        let mut free = vec![0usize, 1];
        if levels.len() >= 3 {
            free.push(2);
        }
        loop {
            let coef = weighted_least_squares(&rows, &free)?;
            let mut full = [0.0; 3];
            for (k, &i) in free.iter().enumerate() {
                full[i] = coef[k];
            }
            if full[0] <= 0.0 {
                return None;
            }
            if let Some(k) = (1..3).find(|&i| free.contains(&i) && full[i] < 0.0) {
                free.retain(|&i| i != k);
                continue;
            }
            return Some(UslCurve {
                lambda_tok_s: 1.0 / full[0],
                sigma: full[1] / full[0],
                kappa: full[2] / full[0],
            });
        }
    }
}

/// Solves the weighted normal equations for the `free` columns; `None` if singular.
fn weighted_least_squares(rows: &[([f64; 3], f64, f64)], free: &[usize]) -> Option<Vec<f64>> {
    let k = free.len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (features, y, w) in rows {
        for (r, &i) in free.iter().enumerate() {
            for (c, &j) in free.iter().enumerate() {
                a[r][c] += w * features[i] * features[j];
            }
            a[r][k] += w * features[i] * y;
        }
    }
    // Gauss-Jordan with partial pivoting on a ≤ 3×3 system.
    for col in 0..k {
        let pivot = (col..k).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col].clone();
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let factor = values[col] / pivot_row[col];
                for (value, p) in values.iter_mut().zip(&pivot_row).skip(col) {
                    *value -= factor * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

/// One measurement window from a node, as the agent reports it (the wire `Observation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservationSample {
    /// Node that measured it.
    pub node_id: String,
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Slots the llama-server instance runs (`--parallel`).
    pub concurrency: u32,
    /// Window start, Unix milliseconds.
    pub window_start_unix_ms: i64,
    /// Window end, Unix milliseconds.
    pub window_end_unix_ms: i64,
    /// Prompt tokens processed in the window.
    pub prompt_tokens: u64,
    /// Tokens generated in the window.
    pub predicted_tokens: u64,
    /// Seconds spent on prompts.
    pub prompt_seconds: f64,
    /// Seconds spent generating, summed over slots.
    pub predicted_seconds: f64,
    /// Prompt processing rate, tokens/s.
    pub prefill_tok_s: f64,
    /// Per-stream decode rate, tokens/s.
    pub decode_tok_s: f64,
    /// Decode tokens/s summed over streams (generated tokens ÷ wall time).
    pub aggregate_decode_tok_s: f64,
    /// Mean busy slots.
    pub mean_concurrency: f64,
    /// Mean requests waiting for a slot.
    pub queue_depth: f64,
    /// Prompt cache hit rate.
    pub cache_hit_rate: f64,
    /// Node power, where readable.
    pub power_w: Option<f64>,
    /// Whether the window came from a synthetic probe rather than real traffic.
    pub probe: bool,
}

/// Measured samples for a configuration the catalog lacks: listed so they can be shown, not
/// dropped silently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnmatchedKey {
    /// Hardware SKU id as reported.
    pub sku: String,
    /// Model id as reported.
    pub model: String,
    /// Quantization id as reported.
    pub quant: String,
    /// Concurrency as reported.
    pub concurrency: u32,
    /// Windows with this key.
    pub windows: u64,
    /// What the catalog lacks.
    pub reason: String,
}

/// The set of throughput points plans are made with, and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputModel {
    /// Version recorded in every plan; the same inputs give the same version.
    pub version: String,
    /// The points, at every concurrency level offered.
    pub points: Vec<ThroughputPoint>,
    /// USL curves fitted from measurements, per (sku, model, quant).
    #[serde(default)]
    pub curves: Vec<FittedCurve>,
    /// Samples whose configuration the catalog lacks.
    #[serde(default)]
    pub unmatched: Vec<UnmatchedKey>,
    /// Windows not used for a reason other than the physical ceiling (too few tokens, no rate,
    /// outliers).
    #[serde(default)]
    pub ignored_windows: u64,
    /// Windows kept but not used: faster than the configuration's physical ceiling.
    #[serde(default)]
    pub quarantined_windows: u64,
    /// Every window not used, by reason.
    #[serde(default)]
    pub rejections: WindowRejections,
    /// What the priors assumed against what was measured, per measured configuration and level.
    #[serde(default)]
    pub ledger: Vec<AccuracyRow>,
    /// Per SKU, how far off the priors were on average.
    #[serde(default)]
    pub sku_accuracy: Vec<SkuAccuracy>,
    /// Published points the physics rejected, at face value: plans use them only when the
    /// request trusts published figures.
    #[serde(default)]
    pub trusted_points: Vec<ThroughputPoint>,
    /// Configurations with a published benchmark that no plan can use, and why.
    #[serde(default)]
    pub dropped: Vec<DroppedConfig>,
}

/// Three rates of one configuration at one level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfigRates {
    /// Decode tokens/s one stream sees.
    pub decode_tok_s: f64,
    /// Decode tokens/s of one instance summed over its streams.
    pub aggregate_decode_tok_s: f64,
    /// Prompt tokens/s of one instance (absent when no window measured it).
    pub prefill_tok_s: Option<f64>,
}

/// One line of the accuracy ledger: what a plan would have assumed for a configuration before it
/// was measured, against what was measured (the windows alone, not blended).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyRow {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Concurrency level the windows ran at.
    pub concurrency: u32,
    /// The prior's figures.
    pub assumed: ConfigRates,
    /// The prior's basis, in words (`published (plausible)`, `estimated ±25% (…)`).
    pub assumed_basis: String,
    /// The prior's relative sd: its band.
    pub band: f64,
    /// Whether the prior was a roofline estimate (the rows estimates are re-fit from).
    #[serde(default)]
    pub estimated: bool,
    /// The measured figures (token-weighted medians of the windows used).
    pub measured: ConfigRates,
    /// Windows used.
    pub windows: u64,
    /// Signed errors of the assumed figures, percent of the measured (decode, aggregate,
    /// prefill): +20 means the prior promised 20% more than the hardware did.
    pub decode_error_pct: f64,
    /// See `decode_error_pct`.
    pub aggregate_error_pct: f64,
    /// See `decode_error_pct`; absent when prefill was not measured.
    pub prefill_error_pct: Option<f64>,
    /// Whether any figure was off by more than the band.
    pub outside_band: bool,
}

/// How far off the priors of one SKU were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuAccuracy {
    /// Hardware SKU id.
    pub sku: String,
    /// Configurations (with levels) measured.
    pub configurations: u32,
    /// Mean absolute percentage error over every figure of every ledger row of the SKU.
    pub mape_pct: f64,
    /// Measured ÷ estimated decode rate, the factor estimates on this SKU are re-fit with
    /// (geometric mean over the rows whose prior was a roofline estimate; absent without one).
    pub decode_efficiency_factor: Option<f64>,
    /// The same for prefill.
    pub prefill_efficiency_factor: Option<f64>,
    /// Relative sd of estimates re-fit with these factors: the factors' spread across the
    /// SKU's configurations, at least [`REFIT_SD_FLOOR`].
    pub refit_band: f64,
}

/// A configuration a benchmark names that the physics rules out, with the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DroppedConfig {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// Why: the benchmark's verdict, and that no placement fits.
    pub reason: String,
}

/// A USL curve fitted to one configuration's measured levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedCurve {
    /// Hardware SKU id.
    pub sku: String,
    /// Model id.
    pub model: String,
    /// Quantization id.
    pub quant: String,
    /// The curve.
    pub curve: UslCurve,
    /// Levels it was fitted to.
    pub from_levels: Vec<u32>,
}

/// FNV-1a 64: a stable hash for versions (the std hasher is not stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A measured window above its configuration's ceiling by more than this factor is quarantined:
/// kept and counted, never used (counters and clocks can be off by a few percent).
pub const QUARANTINE_SLACK: f64 = 1.05;

/// Returns the ceiling a measured window is checked against: the configuration's roofline at
/// full bandwidth with the smallest context (so the check never rejects a real window).
fn measured_ceiling(catalog: &Catalog, sample: &ObservationSample) -> Option<physics::Rates> {
    let config = physics::Config {
        sku: catalog.sku(&sample.sku)?,
        model: catalog.model(&sample.model)?,
        quant: catalog.quant(&sample.quant)?,
        context_tokens: 1,
        slots: sample.concurrency,
        devices_per_instance: None,
    };
    Some(physics::evaluate(&config, &catalog.physics).ceiling)
}

type PriorKey = (String, String, String);

/// The priors of every configuration, before measurements.
struct Priors {
    configs: BTreeMap<PriorKey, BTreeMap<u32, ThroughputPoint>>,
    trusted: Vec<ThroughputPoint>,
    dropped: Vec<DroppedConfig>,
}

/// Returns a catalog benchmark's figures as a point at its own concurrency.
fn published_point(
    catalog: &Catalog,
    b: &Benchmark,
    quant_id: &str,
    provenance: ThroughputProvenance,
    placement: Option<Placement>,
) -> ThroughputPoint {
    let accelerators = catalog.sku(&b.sku).map_or(1, |s| s.accelerators);
    let instances = (accelerators / b.devices_used.max(1)).max(1);
    ThroughputPoint {
        sku: b.sku.clone(),
        model: b.model.clone(),
        quant: quant_id.to_string(),
        concurrency: b.concurrency,
        instances_per_node: instances,
        decode_tok_s: b.decode_tok_s,
        prefill_tok_s: b.prefill_tok_s,
        request_prefill_tok_s: None,
        // The benchmark measured one stream's rate at its concurrency.
        aggregate_decode_tok_s: b.decode_tok_s * f64::from(b.concurrency),
        power_busy_w: b.power_w * f64::from(instances),
        vram_used_gb: b.vram_used_gb,
        offload: b.offload,
        placement,
        provenance,
    }
}

/// Returns the point at concurrency `n` with no batching gain from `from`: `X(N) = λ`, each
/// stream `λ/N` (what trusted published figures are planned with at levels nobody measured).
fn no_batching_gain(from: &ThroughputPoint, n: u32) -> ThroughputPoint {
    let curve = UslCurve::no_batching_gain(from.aggregate_decode_tok_s);
    let mut point = from.clone();
    point.concurrency = n;
    point.aggregate_decode_tok_s = curve.aggregate_tok_s(n);
    point.decode_tok_s = curve.per_stream_tok_s(n);
    point
}

/// Builds the priors (see [`ThroughputModel::calibrate`]): for each (sku, model, quant) with a
/// benchmark, or on a (sku, model) pair no benchmark names at all, every level of
/// [`CONCURRENCY_LEVELS`] where a placement fits: the published figure where the physics finds it
/// plausible, the roofline estimate scaled from the lowest plausible published level at the
/// others, and the plain roofline estimate where nothing plausible is published.
fn priors(catalog: &Catalog) -> Priors {
    let params = &catalog.physics;
    let mut benched: BTreeMap<PriorKey, Vec<&Benchmark>> = BTreeMap::new();
    let mut benched_pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for b in &catalog.benchmarks {
        let Some(quant) = catalog.quant(&b.quant) else {
            continue;
        };
        benched
            .entry((b.sku.clone(), b.model.clone(), quant.id.clone()))
            .or_default()
            .push(b);
        benched_pairs.insert((b.sku.clone(), b.model.clone()));
    }
    let mut configs: BTreeMap<PriorKey, BTreeMap<u32, ThroughputPoint>> = BTreeMap::new();
    let mut trusted = Vec::new();
    let mut dropped = Vec::new();
    for sku in &catalog.hardware {
        for model in &catalog.models {
            for quant in &catalog.quants {
                let key = (sku.id.clone(), model.id.clone(), quant.id.clone());
                let benches = benched.get(&key);
                if benches.is_none() && benched_pairs.contains(&(sku.id.clone(), model.id.clone()))
                {
                    // The team benchmarks this pair at other quantizations: those are its options.
                    continue;
                }
                let checks: Vec<(&Benchmark, physics::BenchmarkCheck)> = benches
                    .into_iter()
                    .flatten()
                    .filter_map(|b| physics::check_benchmark(catalog, b).map(|c| (*b, c)))
                    .collect();
                let anchor = checks
                    .iter()
                    .filter(|(_, c)| c.verdict.is_plausible())
                    .min_by_key(|(b, _)| b.concurrency);
                let levels: BTreeSet<u32> = CONCURRENCY_LEVELS
                    .iter()
                    .copied()
                    .chain(checks.iter().map(|(b, _)| b.concurrency))
                    .collect();
                let mut points = BTreeMap::new();
                for n in levels {
                    if let Some((b, c)) = checks
                        .iter()
                        .find(|(b, c)| b.concurrency == n && c.verdict.is_plausible())
                    {
                        let derived = b.provenance.derived.get("devices_used").cloned();
                        let provenance = ThroughputProvenance::Published {
                            source: b.provenance.source.clone(),
                            derived,
                        };
                        let placement = Some(c.physics.placement.clone());
                        points.insert(
                            n,
                            published_point(catalog, b, &quant.id, provenance, placement),
                        );
                        continue;
                    }
                    let config = |context_tokens: u32, slots: u32| physics::Config {
                        sku,
                        model,
                        quant,
                        context_tokens,
                        slots,
                        devices_per_instance: anchor.map(|(b, _)| b.devices_used),
                    };
                    let here =
                        physics::evaluate(&config(params.planning_context_tokens, n), params);
                    if !here.placement.fits {
                        continue;
                    }
                    let placement_words = here.placement.kind.words().to_string();
                    let point = if let Some((b, _)) = anchor {
                        // The published level, moved along the roofline's batching curve.
                        let at_b = physics::evaluate(&config(b.context(), b.concurrency), params);
                        let at_n = physics::evaluate(&config(b.context(), n), params);
                        let mut p = published_point(
                            catalog,
                            b,
                            &quant.id,
                            ThroughputProvenance::Estimated {
                                band: here.band,
                                placement: placement_words,
                                anchor: Some(format!("published N={}", b.concurrency)),
                            },
                            Some(here.placement.clone()),
                        );
                        p.concurrency = n;
                        p.decode_tok_s = b.decode_tok_s * at_n.estimate.decode_tok_s
                            / at_b.estimate.decode_tok_s;
                        p.aggregate_decode_tok_s = b.decode_tok_s
                            * f64::from(b.concurrency)
                            * at_n.estimate.aggregate_decode_tok_s
                            / at_b.estimate.aggregate_decode_tok_s;
                        p
                    } else {
                        ThroughputPoint {
                            sku: sku.id.clone(),
                            model: model.id.clone(),
                            quant: quant.id.clone(),
                            concurrency: n,
                            instances_per_node: here.placement.instances_per_node,
                            decode_tok_s: here.estimate.decode_tok_s,
                            prefill_tok_s: here.estimate.prefill_tok_s,
                            request_prefill_tok_s: None,
                            aggregate_decode_tok_s: here.estimate.aggregate_decode_tok_s,
                            power_busy_w: sku.power_full_w,
                            vram_used_gb: here.placement.accelerator_needed_gb,
                            offload: here.placement.kind == PlacementKind::ExpertsInHostRam,
                            placement: Some(here.placement.clone()),
                            provenance: ThroughputProvenance::Estimated {
                                band: here.band,
                                placement: placement_words,
                                anchor: None,
                            },
                        }
                    };
                    points.insert(n, point);
                }
                let rejected: Vec<&(&Benchmark, physics::BenchmarkCheck)> = checks
                    .iter()
                    .filter(|(_, c)| !c.verdict.is_plausible())
                    .collect();
                if !rejected.is_empty() {
                    // At face value, as before the physics check: published levels as given,
                    // the others with no batching gain from the lowest one.
                    let mut face: BTreeMap<u32, ThroughputPoint> = BTreeMap::new();
                    for (b, c) in &checks {
                        let provenance = if c.verdict.is_plausible() {
                            ThroughputProvenance::Published {
                                source: b.provenance.source.clone(),
                                derived: b.provenance.derived.get("devices_used").cloned(),
                            }
                        } else {
                            ThroughputProvenance::Trusted {
                                source: b.provenance.source.clone(),
                                verdict: c.verdict.to_string(),
                            }
                        };
                        face.insert(
                            b.concurrency,
                            published_point(catalog, b, &quant.id, provenance, None),
                        );
                    }
                    let lowest = face.values().next().cloned();
                    if let Some(lowest) = lowest {
                        for n in CONCURRENCY_LEVELS {
                            face.entry(n)
                                .or_insert_with(|| no_batching_gain(&lowest, n));
                        }
                    }
                    trusted.extend(face.into_values());
                    for (b, c) in rejected {
                        let instead = if points.is_empty() {
                            "no placement fits, so it is no option".to_string()
                        } else {
                            format!(
                                "planned on the roofline estimate instead ({})",
                                points
                                    .values()
                                    .next()
                                    .map(|p| p.provenance.to_string())
                                    .unwrap_or_default()
                            )
                        };
                        dropped.push(DroppedConfig {
                            sku: b.sku.clone(),
                            model: b.model.clone(),
                            quant: quant.id.clone(),
                            reason: format!("N={}: {}; {instead}", b.concurrency, c.verdict),
                        });
                    }
                }
                if !points.is_empty() {
                    configs.insert(key, points);
                }
            }
        }
    }
    Priors {
        configs,
        trusted,
        dropped,
    }
}

/// One measured level of a configuration, as calibrated.
struct MeasuredLevel {
    point: ThroughputPoint,
    nodes: BTreeSet<String>,
    windows: u64,
    last_unix_ms: i64,
    tokens: f64,
}

/// What the windows of one configuration and level say, before any prior.
struct LevelMeasurement {
    decode: calibration::Summary,
    aggregate: calibration::Summary,
    /// Prompt throughput under load: the server's passive windows.
    prefill_under_load: Option<calibration::Summary>,
    /// Prompt speed per request: the agent's probe windows.
    prefill_per_request: Option<calibration::Summary>,
    power_w: Option<f64>,
    outliers: u64,
    windows: u64,
    nodes: u32,
    node_ids: BTreeSet<String>,
    last_unix_ms: i64,
    tokens: f64,
}

/// Returns the concurrency level a window ran at: of the offered levels up to its slots (and
/// its slot count itself), the one nearest its mean busy slots on a log scale. A window that
/// does not say its mean concurrency is taken at its slot count.
pub fn measured_level(sample: &ObservationSample) -> u32 {
    let slots = sample.concurrency.max(1);
    let mean = sample.mean_concurrency;
    if !(mean.is_finite() && mean > 0.0) {
        return slots;
    }
    CONCURRENCY_LEVELS
        .iter()
        .copied()
        .filter(|&n| n <= slots)
        .chain([slots])
        .min_by(|a, b| {
            (f64::from(*a).ln() - mean.ln())
                .abs()
                .total_cmp(&(f64::from(*b).ln() - mean.ln()).abs())
        })
        .unwrap_or(slots)
}

/// Returns a window's aggregate decode rate at `level` streams: its tokens over wall time,
/// scaled from the mean busy slots it ran at to the level (idle gaps are not capacity), never
/// above `level` streams at its measured per-stream rate.
fn aggregate_at_level(sample: &ObservationSample, level: u32) -> f64 {
    let mean = sample.mean_concurrency;
    if !(mean.is_finite() && mean > 0.0) {
        return sample.aggregate_decode_tok_s;
    }
    let level = f64::from(level);
    (sample.aggregate_decode_tok_s * level / mean).min(sample.decode_tok_s * level)
}

/// Summarizes the windows of one configuration at one level: weights capped, outliers out
/// (see `crate::calibration`). `None` when no window is left.
fn measure_level(group: &[&ObservationSample], level: u32) -> Option<LevelMeasurement> {
    let tokens: Vec<f64> = group.iter().map(|s| s.predicted_tokens as f64).collect();
    let weights = calibration::capped_weights(&tokens);
    let decode: Vec<(f64, f64)> = group
        .iter()
        .zip(&weights)
        .map(|(s, w)| (s.decode_tok_s, *w))
        .collect();
    let aggregate: Vec<(f64, f64)> = group
        .iter()
        .zip(&weights)
        .map(|(s, w)| (aggregate_at_level(s, level), *w))
        .collect();
    let out_decode = calibration::outliers(&decode);
    let out_aggregate = calibration::outliers(&aggregate);
    let keep: Vec<bool> = out_decode
        .iter()
        .zip(&out_aggregate)
        .map(|(d, a)| !(*d || *a))
        .collect();
    let kept = |values: &[(f64, f64)]| -> Vec<(f64, f64)> {
        values
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect()
    };
    let used: Vec<&ObservationSample> = group
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| *s)
        .collect();
    let prompt_weights = calibration::capped_weights(
        &used
            .iter()
            .map(|s| s.prompt_tokens as f64)
            .collect::<Vec<_>>(),
    );
    let prefill = |probe: bool| {
        let values: Vec<(f64, f64)> = used
            .iter()
            .zip(&prompt_weights)
            .filter(|(s, _)| s.probe == probe)
            .map(|(s, w)| (s.prefill_tok_s, *w))
            .collect();
        calibration::summarize(&values)
    };
    let power: Vec<(f64, f64)> = used
        .iter()
        .zip(kept(&decode))
        .filter_map(|(s, (_, w))| s.power_w.map(|p| (p, w)))
        .collect();
    let node_ids: BTreeSet<String> = used.iter().map(|s| s.node_id.clone()).collect();
    Some(LevelMeasurement {
        decode: calibration::summarize(&kept(&decode))?,
        aggregate: calibration::summarize(&kept(&aggregate))?,
        prefill_under_load: prefill(false),
        prefill_per_request: prefill(true),
        power_w: calibration::weighted_median(&power),
        outliers: keep.iter().filter(|k| !**k).count() as u64,
        windows: used.len() as u64,
        nodes: u32::try_from(node_ids.len()).unwrap_or(u32::MAX),
        node_ids,
        last_unix_ms: used.iter().map(|s| s.window_end_unix_ms).max().unwrap_or(0),
        tokens: kept(&decode).iter().map(|(_, w)| w).sum(),
    })
}

/// Returns the ledger line of a measured level against the prior at that level.
fn ledger_row(prior: &ThroughputPoint, m: &LevelMeasurement) -> AccuracyRow {
    let measured_prefill = m
        .prefill_under_load
        .or(m.prefill_per_request)
        .map(|s| s.value);
    let band = prior.provenance.prior_sd();
    let decode_error_pct = calibration::error_pct(prior.decode_tok_s, m.decode.value);
    let aggregate_error_pct =
        calibration::error_pct(prior.aggregate_decode_tok_s, m.aggregate.value);
    let prefill_error_pct =
        measured_prefill.map(|v| calibration::error_pct(prior.prefill_tok_s, v));
    let outside_band = [
        Some(decode_error_pct),
        Some(aggregate_error_pct),
        prefill_error_pct,
    ]
    .into_iter()
    .flatten()
    .any(|e| e.abs() > band * 100.0);
    AccuracyRow {
        sku: prior.sku.clone(),
        model: prior.model.clone(),
        quant: prior.quant.clone(),
        concurrency: prior.concurrency,
        assumed: ConfigRates {
            decode_tok_s: prior.decode_tok_s,
            aggregate_decode_tok_s: prior.aggregate_decode_tok_s,
            prefill_tok_s: Some(prior.prefill_tok_s),
        },
        assumed_basis: prior.provenance.to_string(),
        estimated: matches!(prior.provenance, ThroughputProvenance::Estimated { .. }),
        band,
        measured: ConfigRates {
            decode_tok_s: m.decode.value,
            aggregate_decode_tok_s: m.aggregate.value,
            prefill_tok_s: measured_prefill,
        },
        windows: m.windows,
        decode_error_pct,
        aggregate_error_pct,
        prefill_error_pct,
        outside_band,
    }
}

/// Per SKU: the ledger's mean absolute percentage error, and the efficiency factors estimates
/// on that SKU are re-fit with.
fn sku_accuracy(
    ledger: &[AccuracyRow],
    _configs: &BTreeMap<PriorKey, BTreeMap<u32, ThroughputPoint>>,
) -> Vec<SkuAccuracy> {
    let mut by_sku: BTreeMap<&str, Vec<&AccuracyRow>> = BTreeMap::new();
    for row in ledger {
        by_sku.entry(row.sku.as_str()).or_default().push(row);
    }
    by_sku
        .into_iter()
        .map(|(sku, rows)| {
            let errors: Vec<f64> = rows
                .iter()
                .flat_map(|r| {
                    [
                        Some(r.decode_error_pct),
                        Some(r.aggregate_error_pct),
                        r.prefill_error_pct,
                    ]
                })
                .flatten()
                .map(f64::abs)
                .collect();
            let mape_pct = errors.iter().sum::<f64>() / errors.len().max(1) as f64;
            let log_ratios = |f: &dyn Fn(&AccuracyRow) -> Option<(f64, f64)>| -> Vec<f64> {
                rows.iter()
                    .filter(|r| r.estimated)
                    .filter_map(|r| f(r))
                    .filter(|(m, a)| m.is_finite() && *m > 0.0 && a.is_finite() && *a > 0.0)
                    .map(|(m, a)| (m / a).ln())
                    .collect()
            };
            let decode = log_ratios(&|r| {
                Some((
                    r.measured.aggregate_decode_tok_s,
                    r.assumed.aggregate_decode_tok_s,
                ))
            });
            let prefill = log_ratios(&|r| r.measured.prefill_tok_s.zip(r.assumed.prefill_tok_s));
            let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            let spread = |v: &[f64]| match mean(v) {
                Some(m) if v.len() >= 2 => {
                    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
                }
                _ => 0.0,
            };
            SkuAccuracy {
                sku: sku.to_string(),
                configurations: rows.len() as u32,
                mape_pct,
                decode_efficiency_factor: mean(&decode).map(f64::exp),
                prefill_efficiency_factor: mean(&prefill).map(f64::exp),
                refit_band: REFIT_SD_FLOOR.max(spread(&decode)).max(spread(&prefill)),
            }
        })
        .collect()
}

/// Returns a prior point re-fit to measurements where there are any (see the module docs): a
/// roofline estimate of a configuration measured at another level is scaled by what that level
/// measured against its own prior; one on a SKU with measured configurations by the SKU's
/// efficiency factors. Published figures and configurations with nothing measured on their SKU
/// keep the prior.
fn refit(
    prior: &ThroughputPoint,
    levels: Option<&BTreeMap<u32, MeasuredLevel>>,
    priors: Option<&BTreeMap<u32, ThroughputPoint>>,
    sku_accuracy: &[SkuAccuracy],
) -> ThroughputPoint {
    let ThroughputProvenance::Estimated {
        band, placement, ..
    } = &prior.provenance
    else {
        return prior.clone();
    };
    let scaled = |decode: f64, prefill: f64, refit_band: f64, from: String| {
        let mut point = prior.clone();
        point.decode_tok_s *= decode;
        point.aggregate_decode_tok_s *= decode;
        point.prefill_tok_s *= prefill;
        point.provenance = ThroughputProvenance::Refit {
            band: refit_band.min(*band),
            placement: placement.clone(),
            from,
        };
        point
    };
    let measured_level = levels.and_then(|levels| {
        levels.iter().find_map(|(n, m)| {
            priors
                .and_then(|p| p.get(n))
                .map(|prior_there| (*n, m, prior_there))
        })
    });
    if let Some((n, m, prior_there)) = measured_level {
        return scaled(
            m.point.aggregate_decode_tok_s / prior_there.aggregate_decode_tok_s,
            m.point.prefill_tok_s / prior_there.prefill_tok_s,
            REFIT_SD_FLOOR,
            format!("measured N={n} of this configuration"),
        );
    }
    match sku_accuracy.iter().find(|a| a.sku == prior.sku) {
        Some(accuracy) if accuracy.decode_efficiency_factor.is_some() => scaled(
            accuracy.decode_efficiency_factor.unwrap_or(1.0),
            accuracy.prefill_efficiency_factor.unwrap_or(1.0),
            accuracy.refit_band,
            format!(
                "{} measured configuration{} on {}",
                accuracy.configurations,
                if accuracy.configurations == 1 {
                    ""
                } else {
                    "s"
                },
                prior.sku
            ),
        ),
        _ => prior.clone(),
    }
}

impl ThroughputModel {
    /// Returns the prior model from the catalog's benchmarks at every level of
    /// [`CONCURRENCY_LEVELS`]: no batching gain, so the aggregate decode rate stays the
    /// benchmark's single-stream rate and each of N streams gets 1/N of it.
    pub fn from_catalog(catalog: &Catalog) -> ThroughputModel {
        ThroughputModel::calibrate(catalog, &[])
    }

    /// Returns the catalog priors blended with measured windows (see the module docs and
    /// `crate::calibration`). Samples for a SKU, model or quant the catalog lacks are listed in
    /// `unmatched`. The version is `prior:<catalog version>` with no usable samples, else
    /// `tm-<hash of the points>`.
    pub fn calibrate(catalog: &Catalog, samples: &[ObservationSample]) -> ThroughputModel {
        type Key = (String, String, String);
        let mut unmatched: BTreeMap<(String, String, String, u32), (u64, String)> = BTreeMap::new();
        let mut groups: BTreeMap<(Key, u32), Vec<&ObservationSample>> = BTreeMap::new();
        let mut rejections = WindowRejections::default();
        let mut rejected_at: BTreeMap<(Key, u32), WindowRejections> = BTreeMap::new();
        let mut ceilings: BTreeMap<(String, String, String, u32), Option<physics::Rates>> =
            BTreeMap::new();
        for sample in samples {
            let reason = if catalog.sku(&sample.sku).is_none() {
                Some(format!("unknown hardware SKU '{}'", sample.sku))
            } else if catalog.model(&sample.model).is_none() {
                Some(format!("unknown model '{}'", sample.model))
            } else if catalog.quant(&sample.quant).is_none() {
                Some(format!("unknown quantization '{}'", sample.quant))
            } else if sample.concurrency == 0 {
                Some("concurrency 0".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                let entry = unmatched
                    .entry((
                        sample.sku.clone(),
                        sample.model.clone(),
                        sample.quant.clone(),
                        sample.concurrency,
                    ))
                    .or_insert((0, reason));
                entry.0 += 1;
                continue;
            }
            let quant = catalog
                .quant(&sample.quant)
                .map(|q| q.id.clone())
                .unwrap_or_default();
            let level = measured_level(sample);
            let key = (sample.sku.clone(), sample.model.clone(), quant.clone());
            let mut reject = |r: &mut WindowRejections, what: fn(&mut WindowRejections)| {
                what(r);
                what(rejected_at.entry((key.clone(), level)).or_default());
            };
            let positive = |v: f64| v.is_finite() && v > 0.0;
            if !(positive(sample.decode_tok_s) && positive(sample.aggregate_decode_tok_s)) {
                reject(&mut rejections, |r| r.no_rate += 1);
                continue;
            }
            if sample.predicted_tokens < MIN_WINDOW_PREDICTED_TOKENS {
                reject(&mut rejections, |r| r.too_few_tokens += 1);
                continue;
            }
            let ceiling = *ceilings
                .entry((
                    sample.sku.clone(),
                    sample.model.clone(),
                    quant.clone(),
                    sample.concurrency,
                ))
                .or_insert_with(|| measured_ceiling(catalog, sample));
            if let Some(ceiling) = ceiling
                && (sample.decode_tok_s > ceiling.decode_tok_s * QUARANTINE_SLACK
                    || sample.aggregate_decode_tok_s
                        > ceiling.aggregate_decode_tok_s * QUARANTINE_SLACK)
            {
                reject(&mut rejections, |r| r.above_ceiling += 1);
                continue;
            }
            groups.entry((key, level)).or_default().push(sample);
        }

        // Priors per (sku, model, quant): published where plausible, else the roofline estimate.
        let Priors {
            configs,
            trusted: trusted_points,
            dropped,
        } = priors(catalog);

        let mut measured: BTreeMap<Key, BTreeMap<u32, MeasuredLevel>> = BTreeMap::new();
        let mut ledger = Vec::new();
        for ((key, level), group) in &groups {
            let prior_here = configs.get(key).and_then(|c| c.get(level)).cloned();
            let template = configs.get(key).and_then(|c| c.values().next()).cloned();
            let Some(m) = measure_level(group, *level) else {
                continue;
            };
            let rejected = rejected_at.entry((key.clone(), *level)).or_default();
            rejected.outliers += m.outliers;
            rejections.outliers += m.outliers;
            let rejected = *rejected;
            let prior_sd = prior_here.as_ref().map(|p| p.provenance.prior_sd());
            let with_prior = |prior: Option<f64>| prior.zip(prior_sd);
            let decode = calibration::blend(
                with_prior(prior_here.as_ref().map(|p| p.decode_tok_s)),
                &m.decode,
            );
            let aggregate = calibration::blend(
                with_prior(prior_here.as_ref().map(|p| p.aggregate_decode_tok_s)),
                &m.aggregate,
            );
            let prior_prefill = prior_here.as_ref().map(|p| p.prefill_tok_s);
            let passive = m
                .prefill_under_load
                .map(|s| calibration::blend(with_prior(prior_prefill), &s).value);
            let per_request = m.prefill_per_request.map(|s| {
                let prior = prior_here.as_ref().map(|p| p.ttft_prefill_tok_s());
                calibration::blend(with_prior(prior), &s).value
            });
            let prefill_tok_s = passive
                .or(per_request)
                .or(prior_prefill)
                .or_else(|| template.as_ref().map(|t| t.prefill_tok_s))
                .unwrap_or(decode.value);
            let instances = template.as_ref().map_or(1, |t| t.instances_per_node);
            let power_busy_w = match (m.power_w, prior_here.as_ref()) {
                (Some(w), Some(p)) => {
                    // Power has no band of its own: the measurement's share of the decode blend.
                    let node = w * f64::from(instances);
                    (p.power_busy_w.ln() * (1.0 - decode.measured_share)
                        + node.ln() * decode.measured_share)
                        .exp()
                }
                (Some(w), None) => w * f64::from(instances),
                (None, _) => template
                    .as_ref()
                    .map(|t| t.power_busy_w)
                    .unwrap_or_else(|| catalog.sku(&key.0).map_or(0.0, |s| s.power_full_w)),
            };
            let point = ThroughputPoint {
                sku: key.0.clone(),
                model: key.1.clone(),
                quant: key.2.clone(),
                concurrency: *level,
                instances_per_node: instances,
                decode_tok_s: decode.value,
                prefill_tok_s,
                request_prefill_tok_s: per_request.filter(|_| passive.is_some()),
                aggregate_decode_tok_s: aggregate.value,
                power_busy_w,
                vram_used_gb: template.as_ref().map_or(0.0, |t| t.vram_used_gb),
                offload: template.as_ref().is_some_and(|t| t.offload),
                placement: template.as_ref().and_then(|t| t.placement.clone()),
                provenance: ThroughputProvenance::Measured {
                    nodes: m.nodes,
                    windows: m.windows,
                    last_observed_unix_ms: m.last_unix_ms,
                    band: Some(aggregate.sd),
                    rejected,
                },
            };
            if let Some(prior) = &prior_here {
                ledger.push(ledger_row(prior, &m));
            }
            measured.entry(key.clone()).or_default().insert(
                *level,
                MeasuredLevel {
                    point,
                    nodes: m.node_ids.clone(),
                    windows: m.windows,
                    last_unix_ms: m.last_unix_ms,
                    tokens: m.tokens,
                },
            );
        }
        let sku_accuracy = sku_accuracy(&ledger, &configs);

        let mut points = Vec::new();
        let mut curves = Vec::new();
        let keys: BTreeSet<Key> = configs.keys().chain(measured.keys()).cloned().collect();
        for key in keys {
            let priors = configs.get(&key);
            let levels = measured.get(&key);
            let base = priors
                .and_then(|p| p.get(&1).or_else(|| p.values().next()))
                .or_else(|| levels.and_then(|l| l.values().next()).map(|m| &m.point))
                .cloned()
                .expect("a key comes from a prior or a measurement");
            let fit = levels.filter(|l| l.len() >= 2).and_then(|l| {
                let pts: Vec<(u32, f64, f64)> = l
                    .iter()
                    .map(|(n, m)| (*n, m.point.aggregate_decode_tok_s, m.tokens))
                    .collect();
                UslCurve::fit(&pts).map(|curve| (curve, l.keys().copied().collect::<Vec<u32>>()))
            });
            if let Some((curve, from_levels)) = &fit {
                curves.push(FittedCurve {
                    sku: key.0.clone(),
                    model: key.1.clone(),
                    quant: key.2.clone(),
                    curve: *curve,
                    from_levels: from_levels.clone(),
                });
            }
            let all_levels: BTreeSet<u32> = CONCURRENCY_LEVELS
                .iter()
                .copied()
                .chain(levels.into_iter().flat_map(|l| l.keys().copied()))
                .collect();
            for n in all_levels {
                if let Some(m) = levels.and_then(|l| l.get(&n)) {
                    points.push(m.point.clone());
                    continue;
                }
                if let Some((curve, from_levels)) = &fit {
                    let all = levels.expect("fitted from measurements");
                    let nodes: BTreeSet<&String> =
                        all.values().flat_map(|m| m.nodes.iter()).collect();
                    let measured_base = all.values().next().map(|m| &m.point).unwrap_or(&base);
                    let mut point = priors
                        .and_then(|p| p.get(&n))
                        .unwrap_or(measured_base)
                        .clone();
                    point.concurrency = n;
                    point.aggregate_decode_tok_s = curve.aggregate_tok_s(n);
                    point.decode_tok_s = curve.per_stream_tok_s(n);
                    point.prefill_tok_s = measured_base.prefill_tok_s;
                    point.request_prefill_tok_s = measured_base.request_prefill_tok_s;
                    point.provenance = ThroughputProvenance::Fitted {
                        nodes: nodes.len() as u32,
                        windows: all.values().map(|m| m.windows).sum(),
                        last_observed_unix_ms: all
                            .values()
                            .map(|m| m.last_unix_ms)
                            .max()
                            .unwrap_or(0),
                        from_levels: from_levels.clone(),
                    };
                    points.push(point);
                    continue;
                }
                if let Some(prior) = priors.and_then(|p| p.get(&n)) {
                    points.push(refit(prior, levels, priors, &sku_accuracy));
                    continue;
                }
                // No batching gain from the single-stream figure: X(N) = λ, each stream λ/N.
                let prior = priors
                    .and_then(|p| p.get(&1).or_else(|| p.values().next()))
                    .unwrap_or(&base);
                let curve = UslCurve::no_batching_gain(prior.aggregate_decode_tok_s);
                let mut point = prior.clone();
                point.concurrency = n;
                point.aggregate_decode_tok_s = curve.aggregate_tok_s(n);
                point.decode_tok_s = curve.per_stream_tok_s(n);
                points.push(point);
            }
        }
        let unmatched: Vec<UnmatchedKey> = unmatched
            .into_iter()
            .map(
                |((sku, model, quant, concurrency), (windows, reason))| UnmatchedKey {
                    sku,
                    model,
                    quant,
                    concurrency,
                    windows,
                    reason,
                },
            )
            .collect();
        let any_measured = !measured.is_empty();
        let version = if any_measured {
            let content =
                serde_json::to_string(&(&catalog.version, &points, &curves)).unwrap_or_default();
            format!("tm-{:016x}", fnv1a(content.as_bytes()))
        } else {
            format!("prior:{}", catalog.version)
        };
        ThroughputModel {
            version,
            points,
            curves,
            unmatched,
            ignored_windows: rejections.total() - rejections.above_ceiling,
            quarantined_windows: rejections.above_ceiling,
            rejections,
            ledger,
            sku_accuracy,
            trusted_points,
            dropped,
        }
    }

    /// Returns a short description for plans: how many points are measured, published and
    /// estimated.
    pub fn describe(&self) -> String {
        let measured: Vec<String> = self
            .points
            .iter()
            .filter(|p| p.provenance.is_measured())
            .map(|p| format!("{} {} {} N={}", p.sku, p.model, p.quant, p.concurrency))
            .collect();
        let published = self
            .points
            .iter()
            .filter(|p| matches!(p.provenance, ThroughputProvenance::Published { .. }))
            .count();
        let estimated = self
            .points
            .iter()
            .filter(|p| matches!(p.provenance, ThroughputProvenance::Estimated { .. }))
            .count();
        let refit = self
            .points
            .iter()
            .filter(|p| matches!(p.provenance, ThroughputProvenance::Refit { .. }))
            .count();
        let mut parts = Vec::new();
        if !measured.is_empty() {
            parts.push(format!(
                "{} measured or fitted ({})",
                measured.len(),
                measured.join(", ")
            ));
        }
        parts.push(format!("{published} published and plausible"));
        if refit > 0 {
            parts.push(format!(
                "{refit} estimated from the roofline re-fit to measurements on the same hardware"
            ));
        }
        parts.push(format!(
            "{estimated} estimated from the roofline (physics-checked catalog)"
        ));
        let mut text = format!("{} configurations: {}", self.points.len(), parts.join(", "));
        if self.rejections.total() > 0 {
            text.push_str(&format!("; measured windows not used: {}", self.rejections));
        } else if self.quarantined_windows > 0 || self.ignored_windows > 0 {
            // A model stored before rejections were kept by reason.
            text.push_str(&format!(
                "; measured windows not used: {} ignored, {} above the physical ceiling (quarantined)",
                self.ignored_windows, self.quarantined_windows
            ));
        }
        let off: Vec<String> = self
            .ledger
            .iter()
            .filter(|r| r.outside_band)
            .map(|r| {
                format!(
                    "{} {} {} N={} (aggregate {:+.0}%, decode {:+.0}%{}, band ±{:.0}%)",
                    r.sku,
                    r.model,
                    r.quant,
                    r.concurrency,
                    r.aggregate_error_pct,
                    r.decode_error_pct,
                    r.prefill_error_pct
                        .map(|e| format!(", prefill {e:+.0}%"))
                        .unwrap_or_default(),
                    r.band * 100.0
                )
            })
            .collect();
        if !off.is_empty() {
            text.push_str(&format!(
                "; estimates off by more than their band against measurements: {}",
                off.join(", ")
            ));
        }
        text
    }

    /// Returns the points a plan may use: the physics-checked ones, or with `trust_published`
    /// the published figures at face value wherever the physics rejected them.
    pub fn points_for(&self, trust_published: bool) -> Vec<&ThroughputPoint> {
        if !trust_published || self.trusted_points.is_empty() {
            return self.points.iter().collect();
        }
        let key = |p: &ThroughputPoint| (p.sku.clone(), p.model.clone(), p.quant.clone());
        let trusted_keys: BTreeSet<(String, String, String)> =
            self.trusted_points.iter().map(key).collect();
        self.points
            .iter()
            // Measured configurations keep their measurements.
            .filter(|p| p.provenance.is_measured() || !trusted_keys.contains(&key(p)))
            .chain(self.trusted_points.iter().filter(|t| {
                !self.points.iter().any(|p| {
                    p.provenance.is_measured() && key(p) == key(t) && p.concurrency == t.concurrency
                })
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed catalog with its model made a 20B dense one, so that the RTX 5090 row (22.4 tok/s
    /// decode, 4,180 prefill) is plausible: 11.5 GB of Q4_K_M weights read at 1,792 GB/s allow
    /// ~129 tok/s, 209.5 TFLOPS allow 5,237 prefill tok/s. Rows that are still implausible (the
    /// RTX 4090's 3,210 prefill over 82.6 TFLOPS' 2,065) are kept for `--trust-published`.
    fn plausible_seed() -> Catalog {
        let text = crate::catalog::DEFAULT_CATALOG_TOML
            .replace("total_params_b = 671.0", "total_params_b = 20.0")
            .replace("active_params_b = 37.0", "active_params_b = 20.0")
            .replace("always_used_params_b = 16.0\n", "")
            .replace("routed_params_per_token_b = 20.4\n", "")
            .replace("experts = 256\n", "")
            .replace("experts_per_token = 8\n", "")
            .replace("moe_layers = 58\n", "");
        Catalog::from_toml_str(&text).expect("a valid catalog")
    }

    #[test]
    fn a_plausible_row_is_published_and_other_levels_follow_the_roofline() {
        let catalog = plausible_seed();
        let model = ThroughputModel::from_catalog(&catalog);
        let rtx = point(&model, 1);
        assert_eq!(rtx.provenance.to_string(), "published (plausible)");
        // 4096 tokens at 4180 tok/s = 979.9 ms.
        assert!((rtx.ttft_ms(4096) - 979.904_306).abs() < 1e-3);
        // N = 2 is the published 22.4 tok/s moved along the roofline: two streams read the
        // weights once, so the aggregate grows, but less than twice (each reads its KV cache).
        let two = point(&model, 2);
        assert!(
            two.aggregate_decode_tok_s > 22.4 && two.aggregate_decode_tok_s < 44.8,
            "{two:?}"
        );
        assert_eq!(
            two.provenance.to_string(),
            "estimated ±25% (published N=1 scaled by the roofline, all in accelerator memory)"
        );
        // The dual RTX 4090's 3,210 prefill tok/s is above 82.6 TFLOPS' ceiling: the plan
        // estimates it, and keeps the published figure for --trust-published.
        assert!(
            model
                .dropped
                .iter()
                .any(|d| d.sku == "dual-rtx-4090" && d.reason.contains("implausible")),
            "{:?}",
            model.dropped
        );
        let dual_q4 = model
            .trusted_points
            .iter()
            .find(|p| p.sku == "dual-rtx-4090" && p.quant == "Q4_K_M" && p.concurrency == 1)
            .unwrap();
        assert_eq!(dual_q4.instances_per_node, 2);
        assert_eq!(dual_q4.power_busy_w, 760.0);
        // 0.75 / 3210 + 0.25 / 16.8 seconds per token on one card, halved by two cards.
        let expected = (0.75 / 3210.0 + 0.25 / 16.8) / 2.0;
        assert!((dual_q4.node_seconds_per_token(0.75) - expected).abs() < 1e-15);
        // Trusted levels beyond the published one have no batching gain: X(N) = λ.
        let dual_q4_8 = model
            .trusted_points
            .iter()
            .find(|p| p.sku == "dual-rtx-4090" && p.quant == "Q4_K_M" && p.concurrency == 8)
            .unwrap();
        assert_eq!(dual_q4_8.aggregate_decode_tok_s, 16.8);
        let trusted = model.points_for(true);
        assert!(trusted.iter().any(|p| std::ptr::eq(*p, dual_q4)));
        assert!(
            !model
                .points_for(false)
                .iter()
                .any(|p| std::ptr::eq(*p, dual_q4))
        );
    }

    fn sample(
        node: &str,
        concurrency: u32,
        aggregate: f64,
        tokens: u64,
        end_ms: i64,
    ) -> ObservationSample {
        ObservationSample {
            node_id: node.into(),
            sku: "rtx-5090".into(),
            model: "deepseek-v4-pro".into(),
            quant: "Q4_K_M".into(),
            concurrency,
            window_start_unix_ms: end_ms - 60_000,
            window_end_unix_ms: end_ms,
            prompt_tokens: tokens * 3,
            predicted_tokens: tokens,
            prompt_seconds: tokens as f64 * 3.0 / 4_000.0,
            predicted_seconds: tokens as f64 / (aggregate / f64::from(concurrency)),
            prefill_tok_s: 4_000.0,
            decode_tok_s: aggregate / f64::from(concurrency),
            aggregate_decode_tok_s: aggregate,
            mean_concurrency: f64::from(concurrency),
            queue_depth: 0.0,
            cache_hit_rate: 0.0,
            power_w: Some(500.0),
            probe: false,
        }
    }

    fn point(model: &ThroughputModel, concurrency: u32) -> &ThroughputPoint {
        model
            .points
            .iter()
            .find(|p| p.sku == "rtx-5090" && p.quant == "Q4_K_M" && p.concurrency == concurrency)
            .unwrap()
    }

    // 2026-11-28 17:00 UTC.
    const T0: i64 = 1_795_885_200_000;

    #[test]
    fn formats_utc_times_by_hand() {
        assert_eq!(format_utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc_minute(T0), "2026-11-28 17:00 UTC");
        // 2024-02-29 23:59 UTC, a leap day.
        assert_eq!(format_utc_minute(1_709_251_140_000), "2024-02-29 23:59 UTC");
    }

    #[test]
    fn a_token_weighted_median_rejects_outliers_and_blends_with_the_prior() {
        let catalog = plausible_seed();
        // 20 windows at 30 tok/s with 10k tokens each, 3 wild ones at 3,000 tok/s.
        let mut samples: Vec<ObservationSample> = (0..20)
            .map(|i| sample(&format!("n{}", i % 3), 1, 30.0, 10_000, T0 - i * 60_000))
            .collect();
        for i in 0..3 {
            samples.push(sample("n9", 1, 3_000.0, 10_000, T0 - 1_000_000 - i));
        }
        let model = ThroughputModel::calibrate(&catalog, &samples);
        let p = point(&model, 1);
        // The wild ones are above the 5090's ceiling (~129 tok/s): quarantined, counted. The 20
        // left agree exactly, so each window gets the 5% floor: precision 20 / 0.05² = 8,000
        // against the published 22.4's 1 / 0.10² = 100, blended in logs.
        assert_eq!(model.quarantined_windows, 3);
        assert_eq!(model.rejections.above_ceiling, 3);
        let share = 8_000.0 / 8_100.0;
        let expected = ((1.0 - share) * 22.4f64.ln() + share * 30f64.ln()).exp();
        assert!(
            (p.aggregate_decode_tok_s - expected).abs() < 1e-9,
            "{} vs {expected}",
            p.aggregate_decode_tok_s
        );
        // The band is 1 / √8,100 = 1.1%.
        assert_eq!(
            p.provenance.to_string(),
            "measured: 3 nodes, 20 windows, last at 2026-11-28 17:00 UTC (±1.1%; not used: 3 \
             above the physical ceiling (quarantined))"
        );
        assert!(
            model
                .describe()
                .contains("rtx-5090 deepseek-v4-pro Q4_K_M N=1")
        );
        assert!(
            model
                .describe()
                .contains("measured windows not used: 3 above the physical ceiling"),
            "{}",
            model.describe()
        );
    }

    #[test]
    fn windows_with_too_few_tokens_are_rejected_and_short_ones_count() {
        let catalog = plausible_seed();
        let mut tiny = sample("n1", 1, 30.0, MIN_WINDOW_PREDICTED_TOKENS - 1, T0);
        let mut short = sample("n1", 1, 30.0, 256, T0);
        short.window_start_unix_ms = T0 - 4_000;
        let model = ThroughputModel::calibrate(&catalog, &[tiny.clone(), short.clone()]);
        assert_eq!(model.ignored_windows, 1);
        assert_eq!(model.rejections.too_few_tokens, 1);
        assert!(matches!(
            point(&model, 1).provenance,
            ThroughputProvenance::Measured { windows: 1, .. }
        ));
        let mut rates = sample("n1", 1, f64::NAN, 5_000, T0);
        rates.decode_tok_s = 0.0;
        let model = ThroughputModel::calibrate(&catalog, &[rates]);
        assert_eq!(model.rejections.no_rate, 1);
        assert_eq!(
            model,
            ThroughputModel {
                ignored_windows: 1,
                rejections: WindowRejections {
                    no_rate: 1,
                    ..WindowRejections::default()
                },
                ..ThroughputModel::from_catalog(&catalog)
            }
        );
        tiny.predicted_tokens = MIN_WINDOW_PREDICTED_TOKENS;
        let model = ThroughputModel::calibrate(&catalog, &[tiny]);
        assert_eq!(model.ignored_windows, 0);
    }

    /// The agent cuts a window when 256 tokens finished, so with `--interval 2s` windows last
    /// 4–10 s and the fastest are the shortest: every one counts, and the aggregate is the
    /// token-weighted median of all 30 (the run dropped the 15 fastest).
    #[test]
    fn thirty_windows_of_four_to_ten_seconds_all_count() {
        let catalog = plausible_seed();
        let samples: Vec<ObservationSample> = (0..30)
            .map(|i| {
                let wall_ms = 4_000 + (i % 7) * 1_000;
                let aggregate = 256.0 / (wall_ms as f64 / 1_000.0);
                let mut s = sample("n1", 1, aggregate, 256, T0 - i * 20_000);
                s.window_start_unix_ms = s.window_end_unix_ms - wall_ms;
                // One stream decodes at 64 tok/s whatever the wall time (below the ceiling).
                s.decode_tok_s = 64.0;
                s
            })
            .collect();
        let model = ThroughputModel::calibrate(&catalog, &samples);
        assert_eq!(model.rejections.total(), 0, "{:?}", model.rejections);
        let p = point(&model, 1);
        let ThroughputProvenance::Measured { windows, .. } = p.provenance else {
            panic!("{:?}", p.provenance)
        };
        assert_eq!(windows, 30);
        // Wall times 4..10 s cycle 0..6: counts 5,5,4,4,4,4,4 of 64, 51.2, 42.67, 36.57, 32,
        // 28.44, 25.6 tok/s; equal weights, so the median is the 15th of 30 from the bottom:
        // 4 + 4 + 4 + 4 = 16 windows at 25.6–36.57 → the 15th is 36.57 (256 / 7).
        let all = calibration::summarize(
            &samples
                .iter()
                .map(|s| (s.aggregate_decode_tok_s, 256.0))
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!((all.value - 256.0 / 7.0).abs() < 1e-9, "{}", all.value);
    }

    /// Five windows of a real size (1,000 tokens) against a ±25% roofline estimate: the figure
    /// moves more than 95% of the way (in logs), and the band shrinks with more windows.
    #[test]
    fn five_real_windows_move_an_estimate_most_of_the_way() {
        let catalog = Catalog::embedded_default();
        let prior_model = ThroughputModel::from_catalog(&catalog);
        let find = |m: &ThroughputModel| {
            m.points
                .iter()
                .find(|p| {
                    p.sku == "mac-studio-m3-ultra-512" && p.quant == "Q4_K_M" && p.concurrency == 1
                })
                .cloned()
                .unwrap()
        };
        let prior = find(&prior_model);
        let ThroughputProvenance::Estimated { band, .. } = prior.provenance else {
            panic!("{:?}", prior.provenance)
        };
        let truth = prior.aggregate_decode_tok_s * 0.7;
        let windows = |n: i64| -> Vec<ObservationSample> {
            (0..n)
                .map(|i| {
                    let mut s = sample(
                        "mac-1",
                        1,
                        truth * (1.0 + 0.01 * (i % 3) as f64),
                        1_000,
                        T0 - i * 30_000,
                    );
                    s.sku = "mac-studio-m3-ultra-512".into();
                    s.prefill_tok_s = prior.prefill_tok_s * 0.5;
                    s
                })
                .collect()
        };
        let five = find(&ThroughputModel::calibrate(&catalog, &windows(5)));
        let moved = (five.aggregate_decode_tok_s / prior.aggregate_decode_tok_s).ln()
            / (truth / prior.aggregate_decode_tok_s).ln();
        assert!(
            moved > 0.95,
            "moved {moved}: {}",
            five.aggregate_decode_tok_s
        );
        let ThroughputProvenance::Measured { band: Some(b5), .. } = five.provenance else {
            panic!()
        };
        assert!(b5 < band / 5.0, "{b5} vs {band}");
        let twenty = find(&ThroughputModel::calibrate(&catalog, &windows(20)));
        let ThroughputProvenance::Measured {
            band: Some(b20), ..
        } = twenty.provenance
        else {
            panic!()
        };
        assert!(b20 < b5, "{b20} vs {b5}");
        // Prefill under load moved too (no probe windows: TTFT uses it as well).
        assert!(five.prefill_tok_s < prior.prefill_tok_s * 0.55);
        assert_eq!(five.request_prefill_tok_s, None);
    }

    #[test]
    fn probe_prefill_is_per_request_and_passive_prefill_is_under_load() {
        let catalog = plausible_seed();
        let mut samples: Vec<ObservationSample> = (0..5)
            .map(|i| {
                let mut s = sample("n1", 4, 60.0, 2_000, T0 - i * 30_000);
                s.prefill_tok_s = 200.0;
                s
            })
            .collect();
        for i in 0..3 {
            let mut s = sample("n1", 4, 60.0, 2_000, T0 - 500_000 - i * 30_000);
            s.prefill_tok_s = 50.0;
            s.probe = true;
            samples.push(s);
        }
        let model = ThroughputModel::calibrate(&catalog, &samples);
        let p = point(&model, 4);
        assert!(p.prefill_tok_s > 150.0, "{}", p.prefill_tok_s);
        let per_request = p.request_prefill_tok_s.expect("probe measured it");
        assert!(per_request < 80.0, "{per_request}");
        // TTFT uses the per-request figure.
        assert!((p.ttft_ms(1_000) - 1_000.0 / per_request * 1_000.0).abs() < 1e-9);
    }

    #[test]
    fn windows_are_keyed_by_the_concurrency_they_ran_at() {
        let mk = |mean: f64| {
            let mut s = sample("n1", 4, 40.0, 2_000, T0);
            s.mean_concurrency = mean;
            s
        };
        assert_eq!(measured_level(&mk(1.2)), 1);
        assert_eq!(measured_level(&mk(1.9)), 2);
        assert_eq!(measured_level(&mk(3.7)), 4);
        assert_eq!(measured_level(&mk(0.0)), 4);
        assert_eq!(measured_level(&mk(f64::NAN)), 4);
        // Never above the slots the server ran.
        assert_eq!(measured_level(&mk(7.5)), 4);
        // A server with 3 slots: its own count is a level.
        let mut three = mk(2.9);
        three.concurrency = 3;
        assert_eq!(measured_level(&three), 3);
        // A 4-slot server with one busy stream on average is measured at N=1: its wall-time
        // aggregate (40 tok/s over a window busy 1.2 streams on average) is scaled to one
        // stream: 40 / 1.2 = 33.3, below 1 × the per-stream 10 tok/s? No: capped there.
        let catalog = plausible_seed();
        let model = ThroughputModel::calibrate(&catalog, &[mk(1.2)]);
        let ThroughputProvenance::Measured { windows: 1, .. } = point(&model, 1).provenance else {
            panic!("{:?}", point(&model, 1).provenance)
        };
        assert_eq!(aggregate_at_level(&mk(1.2), 1), 10.0);
        assert!((aggregate_at_level(&mk(3.7), 4) - 40.0).abs() < 1e-12);
    }

    /// The ledger: the estimate of the Mac at N=1 against five windows at 70% of it; its error
    /// is +42.9% (1 / 0.7 − 1), outside the ±25% band, the SKU's MAPE, and the other
    /// quantizations on the Mac are re-fit by the factor 0.7 and say so.
    #[test]
    fn the_ledger_compares_assumed_with_measured_and_refits_the_sku() {
        let catalog = Catalog::embedded_default();
        let prior_model = ThroughputModel::from_catalog(&catalog);
        let prior = |m: &ThroughputModel, quant: &str, n: u32| {
            m.points
                .iter()
                .find(|p| {
                    p.sku == "mac-studio-m3-ultra-512" && p.quant == quant && p.concurrency == n
                })
                .cloned()
                .unwrap()
        };
        let mac = prior(&prior_model, "Q4_K_M", 1);
        let samples: Vec<ObservationSample> = (0..5)
            .map(|i| {
                let mut s = sample("mac-1", 1, mac.aggregate_decode_tok_s * 0.7, 1_000, T0 - i);
                s.sku = "mac-studio-m3-ultra-512".into();
                s.decode_tok_s = mac.decode_tok_s * 0.7;
                s.prefill_tok_s = mac.prefill_tok_s * 0.7;
                s
            })
            .collect();
        let model = ThroughputModel::calibrate(&catalog, &samples);
        assert_eq!(model.ledger.len(), 1);
        let row = &model.ledger[0];
        let expected = (1.0 / 0.7 - 1.0) * 100.0;
        assert!((row.aggregate_error_pct - expected).abs() < 1e-9, "{row:?}");
        assert!((row.decode_error_pct - expected).abs() < 1e-9);
        assert!((row.prefill_error_pct.unwrap() - expected).abs() < 1e-9);
        assert!(row.outside_band && row.estimated);
        assert!(
            row.assumed_basis.starts_with("estimated ±25%"),
            "{}",
            row.assumed_basis
        );
        let sku = &model.sku_accuracy[0];
        assert!((sku.mape_pct - expected).abs() < 1e-9);
        assert!((sku.decode_efficiency_factor.unwrap() - 0.7).abs() < 1e-12);
        // Q5_K_M on the same Mac, never measured, is re-fit by 0.7.
        let before = prior(&prior_model, "Q5_K_M", 1);
        let after = prior(&model, "Q5_K_M", 1);
        assert!((after.aggregate_decode_tok_s - before.aggregate_decode_tok_s * 0.7).abs() < 1e-9);
        assert!((after.prefill_tok_s - before.prefill_tok_s * 0.7).abs() < 1e-9);
        assert_eq!(
            after.provenance.to_string(),
            format!(
                "estimated ±15% (roofline re-fit to 1 measured configuration on \
                 mac-studio-m3-ultra-512, {})",
                match &before.provenance {
                    ThroughputProvenance::Estimated { placement, .. } => placement.clone(),
                    other => panic!("{other:?}"),
                }
            )
        );
        // Q4_K_M at N=2 (measured at N=1 only) follows the measured level.
        let two = prior(&model, "Q4_K_M", 2);
        let two_before = prior(&prior_model, "Q4_K_M", 2);
        let ratio = prior(&model, "Q4_K_M", 1).aggregate_decode_tok_s / mac.aggregate_decode_tok_s;
        assert!(
            (two.aggregate_decode_tok_s - two_before.aggregate_decode_tok_s * ratio).abs() < 1e-9
        );
        assert!(
            two.provenance
                .to_string()
                .contains("re-fit to measured N=1 of this configuration")
        );
        // The plan's throughput line names the configuration that was off.
        assert!(
            model.describe().contains(
                "estimates off by more than their band against measurements: \
                 mac-studio-m3-ultra-512 deepseek-v4-pro Q4_K_M N=1 (aggregate +43%"
            ),
            "{}",
            model.describe()
        );
    }

    /// One window claiming a huge rate below the ceiling and a trillion tokens cannot outweigh
    /// twenty honest ones: its weight is capped and it is rejected as an outlier.
    #[test]
    fn one_poisoned_window_is_an_outlier_with_a_bounded_weight() {
        let catalog = plausible_seed();
        let mut samples: Vec<ObservationSample> = (0..20)
            .map(|i| sample("n1", 1, 20.0, 1_000, T0 - i * 30_000))
            .collect();
        samples.push(sample("evil", 1, 120.0, 1_000_000_000_000, T0));
        let model = ThroughputModel::calibrate(&catalog, &samples);
        assert_eq!(model.rejections.outliers, 1);
        let p = point(&model, 1);
        assert!(
            p.aggregate_decode_tok_s < 21.0,
            "{}",
            p.aggregate_decode_tok_s
        );
    }

    #[test]
    fn the_usl_fit_recovers_known_parameters() {
        let truth = UslCurve {
            lambda_tok_s: 20.0,
            sigma: 0.08,
            kappa: 0.002,
        };
        let points: Vec<(u32, f64, f64)> = [1, 2, 4, 8, 16]
            .iter()
            .map(|&n| (n, truth.aggregate_tok_s(n), 1.0))
            .collect();
        let fit = UslCurve::fit(&points).unwrap();
        assert!((fit.lambda_tok_s - 20.0).abs() < 1e-9, "{fit:?}");
        assert!((fit.sigma - 0.08).abs() < 1e-9, "{fit:?}");
        assert!((fit.kappa - 0.002).abs() < 1e-9, "{fit:?}");
        // Two levels: κ pinned to 0, σ exact for an Amdahl curve.
        let amdahl = UslCurve {
            lambda_tok_s: 10.0,
            sigma: 0.25,
            kappa: 0.0,
        };
        let fit = UslCurve::fit(&[
            (1, amdahl.aggregate_tok_s(1), 1.0),
            (4, amdahl.aggregate_tok_s(4), 1.0),
        ])
        .unwrap();
        assert!(
            (fit.sigma - 0.25).abs() < 1e-9 && fit.kappa == 0.0,
            "{fit:?}"
        );
        assert!(UslCurve::fit(&[(2, 10.0, 1.0)]).is_none());
        // The no-batching-gain prior is the USL with σ = 1, κ = 0.
        let prior = UslCurve::no_batching_gain(22.4);
        assert_eq!(prior.aggregate_tok_s(8), 22.4);
        assert!((prior.per_stream_tok_s(4) - 5.6).abs() < 1e-12);
    }

    #[test]
    fn calibration_fits_the_curve_and_fills_unmeasured_levels() {
        let catalog = plausible_seed();
        let truth = UslCurve {
            lambda_tok_s: 22.4,
            sigma: 0.1,
            kappa: 0.0,
        };
        // 200 windows at N = 2 and 4 that agree exactly: a precision of 200 / 0.05² = 80,000
        // per level against the prior's 1 / 0.25² = 16, so the levels sit within 0.02% (in logs)
        // of the measurement and the fit recovers the curve.
        let samples: Vec<ObservationSample> = [2u32, 4]
            .iter()
            .flat_map(|&n| {
                (0..200)
                    .map(move |i| sample("n1", n, truth.aggregate_tok_s(n), 1_000, T0 - i * 60_000))
            })
            .collect();
        let model = ThroughputModel::calibrate(&catalog, &samples);
        let close = |a: f64, b: f64| (a / b - 1.0).abs() < 1e-3;
        assert!(close(
            point(&model, 2).aggregate_decode_tok_s,
            truth.aggregate_tok_s(2)
        ));
        let eight = point(&model, 8);
        assert!(
            close(eight.aggregate_decode_tok_s, truth.aggregate_tok_s(8)),
            "{eight:?}"
        );
        assert!(close(eight.decode_tok_s, truth.per_stream_tok_s(8)));
        assert_eq!(
            eight.provenance.to_string(),
            "USL fit to measured N=2,4: 1 node, 400 windows, last at 2026-11-28 17:00 UTC"
        );
        assert_eq!(model.curves.len(), 1);
        // N = 1 keeps its catalog prior (it was not measured, but the fit covers it).
        assert!(matches!(
            point(&model, 1).provenance,
            ThroughputProvenance::Fitted { .. }
        ));
    }

    #[test]
    fn the_version_is_deterministic_and_follows_the_content() {
        let catalog = plausible_seed();
        let samples = vec![
            sample("n1", 1, 30.0, 10_000, T0),
            sample("n2", 1, 31.0, 10_000, T0),
        ];
        let a = ThroughputModel::calibrate(&catalog, &samples);
        let b = ThroughputModel::calibrate(&catalog, &samples);
        assert_eq!(a.version, b.version);
        assert!(a.version.starts_with("tm-"), "{}", a.version);
        let mut changed = samples.clone();
        // The median of two equal-weight windows is the lower one: change that.
        changed[0].aggregate_decode_tok_s = 25.0;
        changed[0].decode_tok_s = 25.0;
        assert_ne!(
            ThroughputModel::calibrate(&catalog, &changed).version,
            a.version
        );
        assert_eq!(
            ThroughputModel::from_catalog(&catalog).version,
            "prior:seed-2026-12"
        );
    }

    #[test]
    fn samples_the_catalog_lacks_are_listed_not_dropped() {
        let catalog = plausible_seed();
        let mut unknown_sku = sample("n1", 1, 30.0, 10_000, T0);
        unknown_sku.sku = "h200".into();
        let mut unknown_quant = sample("n1", 2, 30.0, 10_000, T0);
        unknown_quant.quant = "IQ1_S".into();
        let model = ThroughputModel::calibrate(
            &catalog,
            &[unknown_sku.clone(), unknown_sku, unknown_quant],
        );
        assert_eq!(model.unmatched.len(), 2);
        assert_eq!(model.unmatched[0].sku, "h200");
        assert_eq!(model.unmatched[0].windows, 2);
        assert!(
            model.unmatched[0]
                .reason
                .contains("unknown hardware SKU 'h200'")
        );
        assert!(
            model.unmatched[1]
                .reason
                .contains("unknown quantization 'IQ1_S'")
        );
        // A measured point at a concurrency the catalog has no benchmark for, on a known
        // SKU/quant (and even a SKU × quant without a benchmark for this model), is a point.
        let mut q8 = sample("n1", 3, 12.0, 10_000, T0);
        q8.quant = "Q8_0".into();
        let model = ThroughputModel::calibrate(&catalog, &[q8]);
        assert!(model.points.iter().any(|p| p.quant == "Q8_0"
            && p.concurrency == 3
            && matches!(p.provenance, ThroughputProvenance::Measured { .. })));
        assert!(model.unmatched.is_empty());
    }
}
