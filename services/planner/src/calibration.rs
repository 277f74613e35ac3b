//! Calibration arithmetic: how measured windows become a figure, how far a prior moves toward
//! them, and how wrong the prior was.
//!
//! # Windows
//!
//! Every window the agent reports counts, whatever its wall time (the agent cuts windows when
//! enough generated tokens finished, so fast windows are short: a wall-time cut-off would drop
//! exactly the fastest ones). A window is rejected only on evidence, and every rejection is
//! counted with its reason ([`WindowRejections`]):
//! - **too few tokens**: fewer than [`MIN_WINDOW_PREDICTED_TOKENS`] generated tokens finished
//!   in it, so one request's lump dominates its aggregate rate;
//! - **no rate**: a rate that is not a positive finite number;
//! - **above the physical ceiling**: faster than the configuration's roofline at full bandwidth
//!   (`crate::throughput::QUARANTINE_SLACK`), kept and listed, never used;
//! - **outlier**: with [`MIN_WINDOWS_FOR_OUTLIERS`] or more windows at a level, a window whose
//!   decode or aggregate rate is further from the token-weighted median than
//!   [`OUTLIER_MADS`] robust standard deviations *and* more than [`OUTLIER_MIN_RATIO`]× away.
//!
//! Each window weighs its generated tokens, but no window weighs more than
//! [`WINDOW_WEIGHT_CAP_MEDIANS`] × the median window's tokens, so one window that claims a huge
//! token count cannot outweigh the rest.
//!
//! # Prior and measurement
//!
//! Figures are blended in log space, each side weighted by its precision (1 / sd²):
//! - the prior's sd comes from its basis: a published figure that passed the physics check is a
//!   moderate prior ([`PUBLISHED_PRIOR_SD`], ±10%); a roofline estimate is as weak as its band
//!   (±25% or ±50%);
//! - the measurement's sd is the windows' spread (1.4826 × the token-weighted median absolute
//!   deviation of the log rates, never below [`WINDOW_SD_FLOOR`]; [`FEW_WINDOWS_SD`] with fewer
//!   than [`MIN_WINDOWS_FOR_OUTLIERS`] windows) divided by √(effective windows), where the
//!   effective count is Kish's (Σw)² / Σw².
//!
//! So five real windows that agree within 5% carry 5 / 0.05² = 2,000 of precision against 16 for a
//! ±25% estimate and 100 for a published figure: the figure moves 99% and 95% of the way to the
//! measurement. The blended sd, 1 / √(sum of precisions), is the band the plan shows.

use serde::{Deserialize, Serialize};

/// Windows with fewer generated tokens than this are rejected as too few tokens.
pub const MIN_WINDOW_PREDICTED_TOKENS: u64 = 64;
/// Relative sd of a published figure that passed the physics check, as a prior.
pub const PUBLISHED_PRIOR_SD: f64 = 0.10;
/// Smallest relative sd one window is given: counters are exact, but load and prompt mix vary.
pub const WINDOW_SD_FLOOR: f64 = 0.05;
/// Relative sd one window is given when there are too few windows to measure their spread.
pub const FEW_WINDOWS_SD: f64 = 0.10;
/// Windows at one level needed before spread is measured and outliers are rejected.
pub const MIN_WINDOWS_FOR_OUTLIERS: usize = 3;
/// Robust standard deviations from the median beyond which a window may be an outlier.
pub const OUTLIER_MADS: f64 = 4.0;
/// Ratio to the median within which a window is never an outlier, however tight the rest are.
pub const OUTLIER_MIN_RATIO: f64 = 2.0;
/// Largest weight of one window, in multiples of the median window's tokens.
pub const WINDOW_WEIGHT_CAP_MEDIANS: f64 = 4.0;
/// Normal-consistency factor of the median absolute deviation.
const MAD_TO_SD: f64 = 1.4826;

/// Windows not used, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowRejections {
    /// Fewer than [`MIN_WINDOW_PREDICTED_TOKENS`] generated tokens.
    #[serde(default)]
    pub too_few_tokens: u64,
    /// A rate that is not a positive finite number.
    #[serde(default)]
    pub no_rate: u64,
    /// Far from the other windows of the same configuration and level.
    #[serde(default)]
    pub outliers: u64,
    /// Faster than the configuration's physical ceiling: kept, listed, never used.
    #[serde(default)]
    pub above_ceiling: u64,
}

impl WindowRejections {
    /// Returns the windows rejected for any reason.
    pub fn total(&self) -> u64 {
        self.too_few_tokens + self.no_rate + self.outliers + self.above_ceiling
    }

    /// Adds another set of counts to this one.
    pub fn add(&mut self, other: &WindowRejections) {
        self.too_few_tokens += other.too_few_tokens;
        self.no_rate += other.no_rate;
        self.outliers += other.outliers;
        self.above_ceiling += other.above_ceiling;
    }
}

impl std::fmt::Display for WindowRejections {
    /// Lists the non-zero reasons, e.g. `3 with too few tokens, 1 outlier`; `none` when empty.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural =
            |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.too_few_tokens > 0 {
            parts.push(format!(
                "{} with too few tokens (< {MIN_WINDOW_PREDICTED_TOKENS})",
                self.too_few_tokens
            ));
        }
        if self.no_rate > 0 {
            parts.push(format!("{} with no rate", self.no_rate));
        }
        if self.outliers > 0 {
            parts.push(plural(self.outliers, "outlier", "outliers"));
        }
        if self.above_ceiling > 0 {
            parts.push(format!(
                "{} above the physical ceiling (quarantined)",
                self.above_ceiling
            ));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// One figure summarized over windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The token-weighted median.
    pub value: f64,
    /// Relative sd of one window (log space), floored as the module docs say.
    pub window_sd: f64,
    /// Kish's effective number of windows, (Σw)² / Σw².
    pub effective_windows: f64,
}

impl Summary {
    /// Returns the precision (1 / sd²) of the summary as a measurement of the figure.
    pub fn precision(&self) -> f64 {
        self.effective_windows / (self.window_sd * self.window_sd)
    }
}

/// A token-weighted median of `(value, weight)` pairs: the smallest value at which the
/// cumulative weight reaches half. Non-positive or non-finite values and weights are skipped.
pub fn weighted_median(values: &[(f64, f64)]) -> Option<f64> {
    let mut kept: Vec<(f64, f64)> = values
        .iter()
        .copied()
        .filter(|(v, w)| v.is_finite() && *v > 0.0 && w.is_finite() && *w > 0.0)
        .collect();
    if kept.is_empty() {
        return None;
    }
    kept.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: f64 = kept.iter().map(|v| v.1).sum();
    let mut acc = 0.0;
    for (v, w) in &kept {
        acc += w;
        if acc >= total / 2.0 {
            return Some(*v);
        }
    }
    kept.last().map(|v| v.0)
}

/// Returns the relative sd of windows around their weighted median (log space): 1.4826 × the
/// weighted median absolute deviation of the logs.
fn log_spread(values: &[(f64, f64)], median: f64) -> Option<f64> {
    let deviations: Vec<(f64, f64)> = values
        .iter()
        .filter(|(v, w)| v.is_finite() && *v > 0.0 && w.is_finite() && *w > 0.0)
        // Shifted by a tiny constant so a window exactly at the median still counts.
        .map(|(v, w)| ((v / median).ln().abs() + 1e-300, *w))
        .collect();
    weighted_median(&deviations).map(|mad| MAD_TO_SD * mad)
}

/// Summarizes `(value, weight)` pairs (see the module docs). `None` when nothing is usable.
pub fn summarize(values: &[(f64, f64)]) -> Option<Summary> {
    let value = weighted_median(values)?;
    let usable: Vec<(f64, f64)> = values
        .iter()
        .copied()
        .filter(|(v, w)| v.is_finite() && *v > 0.0 && w.is_finite() && *w > 0.0)
        .collect();
    let sum: f64 = usable.iter().map(|p| p.1).sum();
    let sum_sq: f64 = usable.iter().map(|p| p.1 * p.1).sum();
    let window_sd = if usable.len() < MIN_WINDOWS_FOR_OUTLIERS {
        FEW_WINDOWS_SD
    } else {
        log_spread(&usable, value)
            .unwrap_or(FEW_WINDOWS_SD)
            .max(WINDOW_SD_FLOOR)
    };
    Some(Summary {
        value,
        window_sd,
        effective_windows: sum * sum / sum_sq,
    })
}

/// Caps each weight at [`WINDOW_WEIGHT_CAP_MEDIANS`] × the median weight.
pub fn capped_weights(weights: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = weights
        .iter()
        .copied()
        .filter(|w| w.is_finite() && *w > 0.0)
        .collect();
    if sorted.is_empty() {
        return weights.to_vec();
    }
    sorted.sort_by(f64::total_cmp);
    let median = sorted[(sorted.len() - 1) / 2];
    let cap = median * WINDOW_WEIGHT_CAP_MEDIANS;
    weights.iter().map(|w| w.min(cap)).collect()
}

/// Returns, for each of `values` (`(value, weight)` per window), whether it is an outlier by
/// the rule in the module docs. Nothing is an outlier with fewer than
/// [`MIN_WINDOWS_FOR_OUTLIERS`] windows.
pub fn outliers(values: &[(f64, f64)]) -> Vec<bool> {
    if values.len() < MIN_WINDOWS_FOR_OUTLIERS {
        return vec![false; values.len()];
    }
    let Some(median) = weighted_median(values) else {
        return vec![false; values.len()];
    };
    let sd = log_spread(values, median).unwrap_or(0.0);
    let limit = (OUTLIER_MADS * sd).max(OUTLIER_MIN_RATIO.ln());
    values
        .iter()
        .map(|(v, _)| v.is_finite() && *v > 0.0 && (v / median).ln().abs() > limit)
        .collect()
}

/// A figure after blending: its value and relative sd.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Blended {
    /// The blended figure.
    pub value: f64,
    /// Its relative sd (the band the plan shows).
    pub sd: f64,
    /// Share of the weight the measurement carried, in [0, 1].
    pub measured_share: f64,
}

/// Blends a prior `(value, relative sd)` with a measured summary in log space, each weighted by
/// its precision. Without a prior the measurement stands alone.
pub fn blend(prior: Option<(f64, f64)>, measured: &Summary) -> Blended {
    let measured_precision = measured.precision();
    match prior {
        Some((value, sd)) if value.is_finite() && value > 0.0 && sd.is_finite() && sd > 0.0 => {
            let prior_precision = 1.0 / (sd * sd);
            let total = prior_precision + measured_precision;
            let share = measured_precision / total;
            Blended {
                value: ((1.0 - share) * value.ln() + share * measured.value.ln()).exp(),
                sd: 1.0 / total.sqrt(),
                measured_share: share,
            }
        }
        _ => Blended {
            value: measured.value,
            sd: 1.0 / measured_precision.sqrt(),
            measured_share: 1.0,
        },
    }
}

/// Returns the signed error of an assumed figure against a measured one, in percent of the
/// measured: +20 means the plan assumed 20% more than the hardware did.
pub fn error_pct(assumed: f64, measured: f64) -> f64 {
    (assumed - measured) / measured * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_agreeing_windows_move_an_estimate_most_of_the_way() {
        // Five windows of 1,000 tokens at 100, 102, 98, 101, 99 tok/s: median 100; deviations
        // of the logs ≈ 0, 0.0198, 0.0202, 0.00995, 0.01005 → median 0.01005 → sd 0.0149,
        // floored at 0.05; precision 5 / 0.0025 = 2,000.
        let windows = [
            (100.0, 1000.0),
            (102.0, 1000.0),
            (98.0, 1000.0),
            (101.0, 1000.0),
            (99.0, 1000.0),
        ];
        let summary = summarize(&windows).unwrap();
        assert_eq!(summary.value, 100.0);
        assert_eq!(summary.window_sd, WINDOW_SD_FLOOR);
        assert!((summary.effective_windows - 5.0).abs() < 1e-12);
        // A ±25% estimate of 200: precision 16; the measurement takes 2000 / 2016 of the log.
        let b = blend(Some((200.0, 0.25)), &summary);
        let share = 2000.0 / 2016.0;
        assert!((b.measured_share - share).abs() < 1e-12);
        let expected = (200f64.ln() * (1.0 - share) + 100f64.ln() * share).exp();
        assert!((b.value - expected).abs() < 1e-9, "{}", b.value);
        assert!(b.value < 101.0, "most of the way: {}", b.value);
        assert!((b.sd - 1.0 / 2016f64.sqrt()).abs() < 1e-12);
        // A published prior (±10%, precision 100) yields less, but still most of the way.
        let p = blend(Some((200.0, PUBLISHED_PRIOR_SD)), &summary);
        assert!((p.measured_share - 2000.0 / 2100.0).abs() < 1e-12);
        assert!(p.value < 104.0 && p.value > 100.0, "{}", p.value);
    }

    #[test]
    fn one_window_moves_a_weak_prior_further_than_a_published_one() {
        let one = summarize(&[(26.4, 256.0)]).unwrap();
        assert_eq!(one.window_sd, FEW_WINDOWS_SD);
        let weak = blend(Some((22.4, 0.25)), &one);
        let moderate = blend(Some((22.4, PUBLISHED_PRIOR_SD)), &one);
        // 100 / 116 and 100 / 200 of the way in logs.
        assert!((weak.measured_share - 100.0 / 116.0).abs() < 1e-12);
        assert!((moderate.measured_share - 0.5).abs() < 1e-12);
        assert!(weak.value > moderate.value && moderate.value > 22.4);
    }

    #[test]
    fn a_window_claiming_a_billion_tokens_weighs_no_more_than_four_medians() {
        let mut tokens = vec![1_000.0; 20];
        tokens.push(1e12);
        let capped = capped_weights(&tokens);
        assert_eq!(capped[20], 4_000.0);
        let mut values: Vec<(f64, f64)> = (0..20)
            .map(|i| (30.0 + f64::from(i) * 0.1, capped[i as usize]))
            .collect();
        values.push((1e9, capped[20]));
        assert_eq!(outliers(&values).iter().filter(|o| **o).count(), 1);
        assert!(outliers(&values)[20]);
        let kept: Vec<(f64, f64)> = values.iter().copied().filter(|v| v.0 < 1e6).collect();
        let summary = summarize(&kept).unwrap();
        assert!((summary.value - 30.9).abs() < 1e-9, "{}", summary.value);
    }

    #[test]
    fn spread_within_twice_the_median_is_never_an_outlier() {
        // Tight windows and one at 1.9×: within OUTLIER_MIN_RATIO, kept.
        let values = [
            (10.0, 1.0),
            (10.0, 1.0),
            (10.0, 1.0),
            (10.0, 1.0),
            (19.0, 1.0),
        ];
        assert_eq!(outliers(&values), vec![false; 5]);
        let values = [
            (10.0, 1.0),
            (10.0, 1.0),
            (10.0, 1.0),
            (10.0, 1.0),
            (21.0, 1.0),
        ];
        assert_eq!(outliers(&values), vec![false, false, false, false, true]);
        // Two windows: too few to judge.
        assert_eq!(outliers(&[(1.0, 1.0), (1000.0, 1.0)]), vec![false, false]);
    }

    #[test]
    fn rejections_read_as_words() {
        let r = WindowRejections {
            too_few_tokens: 3,
            no_rate: 0,
            outliers: 1,
            above_ceiling: 2,
        };
        assert_eq!(r.total(), 6);
        assert_eq!(
            r.to_string(),
            "3 with too few tokens (< 64), 1 outlier, 2 above the physical ceiling (quarantined)"
        );
        assert_eq!(WindowRejections::default().to_string(), "none");
        assert_eq!(error_pct(120.0, 100.0), 20.0);
    }
}
