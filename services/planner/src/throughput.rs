//! The throughput model: for each (SKU, model, quant, concurrency), how fast one node serves,
//! and how we know.
//!
//! Until a configuration is measured, the prior is the catalog's benchmark with no batching gain
//! (the Universal Scalability Law with σ = 1, κ = 0): a llama-server instance with N slots
//! decodes as many tokens per second in total as with one, and each stream gets 1/N of it. That
//! is conservative: llama.cpp's aggregate decode rate grows with concurrent slots.
//!
//! [`ThroughputModel::calibrate`] blends the priors with measured windows: windows too small to
//! mean anything are dropped, each figure is a token-weighted median (robust to outliers) blended
//! with the catalog prior at that concurrency, and where two or more concurrency levels are
//! measured the USL curve `X(N) = λN / (1 + σ(N−1) + κN(N−1))` is fitted and fills in the
//! levels not measured.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::catalog::{Benchmark, Catalog};
use crate::physics::{self, Placement, PlacementKind};

/// Concurrency levels (slots per llama-server instance) every configuration is offered at.
pub const CONCURRENCY_LEVELS: [u32; 4] = [1, 2, 4, 8];
/// Windows with fewer generated tokens than this are ignored: too small to mean anything.
pub const MIN_WINDOW_PREDICTED_TOKENS: u64 = 256;
/// Windows shorter than this are ignored.
pub const MIN_WINDOW_MS: i64 = 10_000;
/// Weight of a catalog prior in a blend, in tokens: a measured point overtakes it after this many
/// generated tokens.
pub const PRIOR_WEIGHT_TOKENS: f64 = 100_000.0;

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

impl ThroughputProvenance {
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
            } => {
                f.write_str("measured: ")?;
                counts(f, *nodes, *windows, *last_observed_unix_ms)
            }
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
    /// Prompt processing speed of one instance, tokens/s.
    pub prefill_tok_s: f64,
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

    /// Returns the time to first token for a prompt, in milliseconds, on an idle instance.
    pub fn ttft_ms(&self, prompt_tokens: u32) -> f64 {
        f64::from(prompt_tokens) / self.prefill_tok_s * 1_000.0
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
    /// Windows ignored as too small to mean anything.
    #[serde(default)]
    pub ignored_windows: u64,
    /// Windows kept but not used: faster than the configuration's physical ceiling.
    #[serde(default)]
    pub quarantined_windows: u64,
    /// Published points the physics rejected, at face value: plans use them only when the
    /// request trusts published figures.
    #[serde(default)]
    pub trusted_points: Vec<ThroughputPoint>,
    /// Configurations with a published benchmark that no plan can use, and why.
    #[serde(default)]
    pub dropped: Vec<DroppedConfig>,
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

/// A token-weighted median: the smallest value at which the cumulative weight reaches half.
fn weighted_median(values: &mut Vec<(f64, f64)>) -> Option<f64> {
    values.retain(|(v, w)| v.is_finite() && *v > 0.0 && *w > 0.0);
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = values.iter().map(|v| v.1).sum();
    let mut acc = 0.0;
    for (v, w) in values.iter() {
        acc += w;
        if acc >= total / 2.0 {
            return Some(*v);
        }
    }
    values.last().map(|v| v.0)
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

impl ThroughputModel {
    /// Returns the prior model from the catalog's benchmarks at every level of
    /// [`CONCURRENCY_LEVELS`]: no batching gain, so the aggregate decode rate stays the
    /// benchmark's single-stream rate and each of N streams gets 1/N of it.
    pub fn from_catalog(catalog: &Catalog) -> ThroughputModel {
        ThroughputModel::calibrate(catalog, &[])
    }

    /// Returns the catalog priors blended with measured windows (see the module docs). Samples for
    /// a SKU, model or quant the catalog lacks are listed in `unmatched`. The version is
    /// `prior:<catalog version>` with no usable samples, else `tm-<hash of the points>`.
    pub fn calibrate(catalog: &Catalog, samples: &[ObservationSample]) -> ThroughputModel {
        type Key = (String, String, String);
        #[derive(Default)]
        struct Group<'s> {
            samples: Vec<&'s ObservationSample>,
        }
        let mut unmatched: BTreeMap<(String, String, String, u32), (u64, String)> = BTreeMap::new();
        let mut groups: BTreeMap<(Key, u32), Group> = BTreeMap::new();
        let mut ignored_windows = 0;
        let mut quarantined_windows = 0;
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
            let too_small = sample.predicted_tokens < MIN_WINDOW_PREDICTED_TOKENS
                || sample.window_end_unix_ms - sample.window_start_unix_ms < MIN_WINDOW_MS
                || !(sample.decode_tok_s.is_finite() && sample.decode_tok_s > 0.0)
                || !(sample.aggregate_decode_tok_s.is_finite()
                    && sample.aggregate_decode_tok_s > 0.0);
            if too_small {
                ignored_windows += 1;
                continue;
            }
            let quant = catalog
                .quant(&sample.quant)
                .map(|q| q.id.clone())
                .unwrap_or_default();
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
                quarantined_windows += 1;
                continue;
            }
            groups
                .entry((
                    (sample.sku.clone(), sample.model.clone(), quant),
                    sample.concurrency,
                ))
                .or_default()
                .samples
                .push(sample);
        }

        // Priors per (sku, model, quant): published where plausible, else the roofline estimate.
        let Priors {
            configs,
            trusted: trusted_points,
            dropped,
        } = priors(catalog);

        // Measured points, blended with the prior at the same concurrency where there is one.
        // Per level: the point, its nodes, windows, newest window end and tokens.
        type Level = (ThroughputPoint, BTreeSet<String>, u64, i64, f64);
        let mut measured: BTreeMap<Key, BTreeMap<u32, Level>> = BTreeMap::new();
        for ((key, concurrency), group) in &groups {
            let prior_here = configs.get(key).and_then(|c| c.get(concurrency)).cloned();
            let template = configs.get(key).and_then(|c| c.values().next()).cloned();
            let tokens: f64 = group
                .samples
                .iter()
                .map(|s| s.predicted_tokens as f64)
                .sum();
            let median = |f: &dyn Fn(&ObservationSample) -> (f64, f64)| {
                let mut values: Vec<(f64, f64)> = group.samples.iter().map(|s| f(s)).collect();
                weighted_median(&mut values)
            };
            let decode = median(&|s| (s.decode_tok_s, s.predicted_tokens as f64));
            let aggregate = median(&|s| (s.aggregate_decode_tok_s, s.predicted_tokens as f64));
            let prefill = median(&|s| (s.prefill_tok_s, s.prompt_tokens as f64));
            let power = median(&|s| (s.power_w.unwrap_or(f64::NAN), s.predicted_tokens as f64));
            let (Some(decode), Some(aggregate)) = (decode, aggregate) else {
                continue;
            };
            let blend = |measured: f64, prior: Option<f64>| match prior {
                Some(p) => {
                    (p * PRIOR_WEIGHT_TOKENS + measured * tokens) / (PRIOR_WEIGHT_TOKENS + tokens)
                }
                None => measured,
            };
            let instances = template.as_ref().map_or(1, |t| t.instances_per_node);
            let prior_power = template.as_ref().map(|t| t.power_busy_w);
            let point = ThroughputPoint {
                sku: key.0.clone(),
                model: key.1.clone(),
                quant: key.2.clone(),
                concurrency: *concurrency,
                instances_per_node: instances,
                decode_tok_s: blend(decode, prior_here.as_ref().map(|p| p.decode_tok_s)),
                prefill_tok_s: match prefill {
                    Some(m) => blend(m, prior_here.as_ref().map(|p| p.prefill_tok_s)),
                    None => template.as_ref().map_or(decode, |t| t.prefill_tok_s),
                },
                aggregate_decode_tok_s: blend(
                    aggregate,
                    prior_here.as_ref().map(|p| p.aggregate_decode_tok_s),
                ),
                power_busy_w: match power {
                    Some(m) => blend(
                        m * f64::from(instances),
                        prior_here.as_ref().map(|p| p.power_busy_w),
                    ),
                    None => prior_power
                        .unwrap_or_else(|| catalog.sku(&key.0).map_or(0.0, |s| s.power_full_w)),
                },
                vram_used_gb: template.as_ref().map_or(0.0, |t| t.vram_used_gb),
                offload: template.as_ref().is_some_and(|t| t.offload),
                placement: template.as_ref().and_then(|t| t.placement.clone()),
                provenance: ThroughputProvenance::Catalog {
                    source: String::new(),
                },
            };
            let nodes: BTreeSet<String> = group.samples.iter().map(|s| s.node_id.clone()).collect();
            let last = group
                .samples
                .iter()
                .map(|s| s.window_end_unix_ms)
                .max()
                .unwrap_or(0);
            measured.entry(key.clone()).or_default().insert(
                *concurrency,
                (point, nodes, group.samples.len() as u64, last, tokens),
            );
        }

        let mut points = Vec::new();
        let mut curves = Vec::new();
        let keys: BTreeSet<Key> = configs.keys().chain(measured.keys()).cloned().collect();
        for key in keys {
            let priors = configs.get(&key);
            let levels = measured.get(&key);
            let base = priors
                .and_then(|p| p.get(&1).or_else(|| p.values().next()))
                .or_else(|| levels.and_then(|l| l.values().next()).map(|m| &m.0))
                .cloned()
                .expect("a key comes from a prior or a measurement");
            let fit = levels.filter(|l| l.len() >= 2).and_then(|l| {
                let pts: Vec<(u32, f64, f64)> = l
                    .iter()
                    .map(|(n, m)| (*n, m.0.aggregate_decode_tok_s, m.4))
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
                if let Some((point, nodes, windows, last, _)) = levels.and_then(|l| l.get(&n)) {
                    let mut point = point.clone();
                    point.provenance = ThroughputProvenance::Measured {
                        nodes: nodes.len() as u32,
                        windows: *windows,
                        last_observed_unix_ms: *last,
                    };
                    points.push(point);
                    continue;
                }
                if let Some((curve, from_levels)) = &fit {
                    let all = levels.expect("fitted from measurements");
                    let nodes: BTreeSet<&String> = all.values().flat_map(|m| m.1.iter()).collect();
                    let mut point = base.clone();
                    point.concurrency = n;
                    point.aggregate_decode_tok_s = curve.aggregate_tok_s(n);
                    point.decode_tok_s = curve.per_stream_tok_s(n);
                    point.provenance = ThroughputProvenance::Fitted {
                        nodes: nodes.len() as u32,
                        windows: all.values().map(|m| m.2).sum(),
                        last_observed_unix_ms: all.values().map(|m| m.3).max().unwrap_or(0),
                        from_levels: from_levels.clone(),
                    };
                    points.push(point);
                    continue;
                }
                if let Some(prior) = priors.and_then(|p| p.get(&n)) {
                    points.push(prior.clone());
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
            ignored_windows,
            quarantined_windows,
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
        let mut parts = Vec::new();
        if !measured.is_empty() {
            parts.push(format!(
                "{} measured or fitted ({})",
                measured.len(),
                measured.join(", ")
            ));
        }
        parts.push(format!("{published} published and plausible"));
        parts.push(format!(
            "{estimated} estimated from the roofline (physics-checked catalog)"
        ));
        let mut text = format!("{} configurations: {}", self.points.len(), parts.join(", "));
        if self.quarantined_windows > 0 {
            text.push_str(&format!(
                "; {} measured window{} above the physical ceiling quarantined",
                self.quarantined_windows,
                if self.quarantined_windows == 1 {
                    ""
                } else {
                    "s"
                }
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
        // The wild ones are above the 5090's ceiling (~129 tok/s): quarantined, counted. Median
        // 30 of the 200k tokens left, blended with the catalog's 22.4 at 100k prior tokens:
        // (22.4 × 100k + 30 × 200k) / 300k = 27.4666...
        assert_eq!(model.quarantined_windows, 3);
        let expected = (22.4 * 100_000.0 + 30.0 * 200_000.0) / 300_000.0;
        assert!(
            (p.aggregate_decode_tok_s - expected).abs() < 1e-9,
            "{}",
            p.aggregate_decode_tok_s
        );
        assert_eq!(
            p.provenance.to_string(),
            "measured: 3 nodes, 20 windows, last at 2026-11-28 17:00 UTC"
        );
        assert!(
            model
                .describe()
                .contains("rtx-5090 deepseek-v4-pro Q4_K_M N=1")
        );
    }

    #[test]
    fn windows_too_small_to_mean_anything_are_ignored() {
        let catalog = plausible_seed();
        let mut tiny = sample("n1", 1, 30.0, MIN_WINDOW_PREDICTED_TOKENS - 1, T0);
        let mut short = sample("n1", 1, 30.0, 50_000, T0);
        short.window_start_unix_ms = T0 - MIN_WINDOW_MS + 1;
        let model = ThroughputModel::calibrate(&catalog, &[tiny.clone(), short.clone()]);
        assert_eq!(model.ignored_windows, 2);
        assert_eq!(
            model,
            ThroughputModel {
                ignored_windows: 2,
                ..ThroughputModel::from_catalog(&catalog)
            }
        );
        tiny.predicted_tokens = MIN_WINDOW_PREDICTED_TOKENS;
        let model = ThroughputModel::calibrate(&catalog, &[tiny]);
        assert_eq!(model.ignored_windows, 0);
        assert!(matches!(
            point(&model, 1).provenance,
            ThroughputProvenance::Measured { windows: 1, .. }
        ));
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
        // Lots of tokens at N = 2 and 4: a billion per level drowns the roofline prior's 100k.
        let samples: Vec<ObservationSample> = [2u32, 4]
            .iter()
            .flat_map(|&n| {
                (0..10).map(move |i| {
                    sample(
                        "n1",
                        n,
                        truth.aggregate_tok_s(n),
                        100_000_000,
                        T0 - i * 60_000,
                    )
                })
            })
            .collect();
        let model = ThroughputModel::calibrate(&catalog, &samples);
        assert!((point(&model, 2).aggregate_decode_tok_s - truth.aggregate_tok_s(2)).abs() < 1e-2);
        let eight = point(&model, 8);
        assert!(
            (eight.aggregate_decode_tok_s - truth.aggregate_tok_s(8)).abs() < 1e-2,
            "{eight:?}"
        );
        assert!((eight.decode_tok_s - truth.per_stream_tok_s(8)).abs() < 1e-2);
        assert_eq!(
            eight.provenance.to_string(),
            "USL fit to measured N=2,4: 1 node, 20 windows, last at 2026-11-28 17:00 UTC"
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
