//! The cost model: amortized capex, busy and idle energy, tokens per month, and the
//! break-even table of the reference article with its arithmetic corrected.
//!
//! `tokens/month = tok/s × 3600 × busy hours/day × 30`. The article prints 19.4B for 22.4 tok/s
//! at 8 h/day; the product is 19.35M. Every figure here is computed from inputs the caller can
//! print, so a reader can redo it by hand.

use serde::{Deserialize, Serialize};

use crate::catalog::{ApiOffer, Catalog, HardwareSku};
use crate::demand::CostOverrides;
use crate::physics;
use crate::throughput::ThroughputModel;

/// Days in the planning month; the article's formula uses 30.
pub const DAYS_PER_MONTH: f64 = 30.0;

/// The cost assumptions a plan or table was made with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostAssumptions {
    /// Straight-line amortization period of capex.
    pub amortization_months: f64,
    /// Electricity price.
    pub electricity_usd_per_kwh: f64,
    /// Hours in the planning month.
    pub hours_per_month: f64,
    /// Largest share of a node's hours the plan may keep it busy.
    pub utilization_cap: f64,
}

impl CostAssumptions {
    /// Returns the catalog's assumptions with a request's overrides applied.
    pub fn resolve(catalog: &Catalog, overrides: &CostOverrides) -> CostAssumptions {
        CostAssumptions {
            amortization_months: overrides
                .amortization_months
                .unwrap_or(catalog.cost.amortization_months),
            electricity_usd_per_kwh: overrides
                .electricity_usd_per_kwh
                .unwrap_or(catalog.cost.electricity_usd_per_kwh),
            hours_per_month: catalog.cost.hours_per_month,
            utilization_cap: overrides
                .utilization_cap
                .unwrap_or(catalog.cost.utilization_cap),
        }
    }

    /// Returns the electricity cost of drawing `watts` for `hours`.
    pub fn energy_usd(&self, watts: f64, hours: f64) -> f64 {
        watts * hours / 1_000.0 * self.electricity_usd_per_kwh
    }

    /// Returns one month of straight-line amortization of `price_usd`.
    pub fn amortization_usd(&self, price_usd: f64) -> f64 {
        price_usd / self.amortization_months
    }
}

/// Returns tokens per month from a rate and busy hours per day.
pub fn tokens_per_month(tok_s: f64, busy_hours_per_day: f64) -> f64 {
    tok_s * 3_600.0 * busy_hours_per_day * DAYS_PER_MONTH
}

/// One row of the break-even table: a node running its best configuration `hours_per_day`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakevenRow {
    /// SKU id.
    pub sku: String,
    /// SKU display name.
    pub name: String,
    /// Quantization of the benchmark used.
    pub quant: String,
    /// All-in node price.
    pub price_usd: f64,
    /// Node power while busy in the configuration used (the SKU's full power as published).
    pub power_full_w: f64,
    /// Idle power.
    pub power_idle_w: f64,
    /// Decode tokens/s of the benchmark used.
    pub tok_s: f64,
    /// Busy hours per day.
    pub hours_per_day: f64,
    /// price ÷ amortization months.
    pub amortization_usd: f64,
    /// full W × hours/day × 30 ÷ 1000 × $/kWh.
    pub busy_energy_usd: f64,
    /// idle W × (24 − hours/day) × 30 ÷ 1000 × $/kWh.
    pub idle_energy_usd: f64,
    /// The three above, added.
    pub total_usd: f64,
    /// tok/s × 3600 × hours/day × 30.
    pub tokens_per_month: f64,
    /// total ÷ tokens × 10⁶.
    pub usd_per_million: f64,
    /// The API's price per million output tokens (the benchmark's tok/s are output tokens).
    pub api_output_usd_per_million: f64,
    /// What the API charges for the same output tokens.
    pub api_usd_for_same_tokens: f64,
    /// Monthly output volume at which the node's monthly cost equals the API's bill:
    /// total ÷ API $/token. Local is cheaper above it, if the node can make that many.
    pub break_even_tokens_per_month: f64,
    /// Whether the node can reach the break-even volume at this duty cycle.
    pub local_can_break_even: bool,
    /// llama-server instances on the node (the node's tok/s is one stream's times this).
    pub instances_per_node: u32,
    /// Where the tok/s and power come from: `published (plausible)`, `estimated ±…`, or
    /// `as published` (the article's method, `--as-published`).
    pub basis: String,
    /// The physics verdict on the configuration's benchmark, or `no benchmark`.
    pub verdict: String,
}

/// A SKU the break-even table has no row for, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakevenExcluded {
    /// SKU id.
    pub sku: String,
    /// Why: no configuration of the model fits at the quality floor, with the verdicts.
    pub reason: String,
}

/// Builds the break-even table the way `propose` prices a node: for every SKU (or one), its
/// fastest single-stream configuration at the quality floor among the throughput model's points
/// (physics-checked: published where plausible, else estimated; with `trust_published` the
/// published figures at face value), at that configuration's busy power and instance count.
/// SKUs with no such configuration are listed with the reason.
pub fn breakeven_table(
    catalog: &Catalog,
    throughput: &ThroughputModel,
    assumptions: &CostAssumptions,
    hours_per_day: f64,
    min_quality: f64,
    only_sku: Option<&str>,
    trust_published: bool,
) -> (Vec<BreakevenRow>, Vec<BreakevenExcluded>) {
    let model = catalog.default_model();
    let Some(api) = catalog.api_for(&model.id) else {
        return (Vec::new(), Vec::new());
    };
    let checks = physics::check_catalog(catalog);
    let points = throughput.points_for(trust_published);
    let mut rows = Vec::new();
    let mut excluded = Vec::new();
    for sku in catalog
        .hardware
        .iter()
        .filter(|h| only_sku.is_none_or(|id| h.id == id))
    {
        let best = points
            .iter()
            .filter(|p| p.sku == sku.id && p.model == model.id && p.concurrency == 1)
            .filter(|p| {
                catalog
                    .quant(&p.quant)
                    .is_some_and(|q| q.quality_retained >= min_quality)
            })
            .max_by(|a, b| {
                (a.decode_tok_s * f64::from(a.instances_per_node))
                    .total_cmp(&(b.decode_tok_s * f64::from(b.instances_per_node)))
            });
        let Some(best) = best else {
            let reasons: Vec<String> = throughput
                .dropped
                .iter()
                .filter(|d| d.sku == sku.id && d.model == model.id)
                .map(|d| format!("{}: {}", d.quant, d.reason))
                .collect();
            excluded.push(BreakevenExcluded {
                sku: sku.id.clone(),
                reason: if reasons.is_empty() {
                    "no configuration at the quality floor fits".into()
                } else {
                    reasons.join("; ")
                },
            });
            continue;
        };
        let verdict = checks
            .iter()
            .find(|c| {
                c.sku == best.sku
                    && c.model == best.model
                    && c.quant == best.quant
                    && c.concurrency == 1
            })
            .map_or_else(|| "no benchmark".to_string(), |c| c.verdict.to_string());
        let mut row = breakeven_row(
            sku,
            &best.quant,
            best.decode_tok_s * f64::from(best.instances_per_node),
            best.power_busy_w,
            api,
            assumptions,
            hours_per_day,
        );
        row.instances_per_node = best.instances_per_node;
        row.basis = best.provenance.to_string();
        row.verdict = verdict;
        rows.push(row);
    }
    (rows, excluded)
}

/// Builds the break-even table by the reference article's own method, to reproduce it: each
/// SKU's fastest benchmark at the quality floor taken as published, one stream, at the SKU's
/// full power; every row still carries its physics verdict.
pub fn breakeven_table_as_published(
    catalog: &Catalog,
    assumptions: &CostAssumptions,
    hours_per_day: f64,
    min_quality: f64,
    only_sku: Option<&str>,
) -> Vec<BreakevenRow> {
    let model = catalog.default_model();
    let Some(api) = catalog.api_for(&model.id) else {
        return Vec::new();
    };
    catalog
        .hardware
        .iter()
        .filter(|h| only_sku.is_none_or(|id| h.id == id))
        .filter_map(|sku| {
            let best = catalog
                .benchmarks
                .iter()
                .filter(|b| b.sku == sku.id && b.model == model.id)
                .filter(|b| {
                    catalog
                        .quant(&b.quant)
                        .is_some_and(|q| q.quality_retained >= min_quality)
                })
                .max_by(|a, b| a.decode_tok_s.total_cmp(&b.decode_tok_s))?;
            let mut row = breakeven_row(
                sku,
                &best.quant,
                best.decode_tok_s,
                sku.power_full_w,
                api,
                assumptions,
                hours_per_day,
            );
            row.basis = "as published".into();
            row.verdict = physics::check_benchmark(catalog, best)
                .map_or_else(|| "unchecked".to_string(), |c| c.verdict.to_string());
            Some(row)
        })
        .collect()
}

/// Computes one break-even row; see [`BreakevenRow`] for each formula.
pub fn breakeven_row(
    sku: &HardwareSku,
    quant: &str,
    tok_s: f64,
    busy_w: f64,
    api: &ApiOffer,
    assumptions: &CostAssumptions,
    hours_per_day: f64,
) -> BreakevenRow {
    let amortization_usd = assumptions.amortization_usd(sku.price_usd);
    let busy_energy_usd = assumptions.energy_usd(busy_w, hours_per_day * DAYS_PER_MONTH);
    let idle_energy_usd =
        assumptions.energy_usd(sku.power_idle_w, (24.0 - hours_per_day) * DAYS_PER_MONTH);
    let total_usd = amortization_usd + busy_energy_usd + idle_energy_usd;
    let tokens = tokens_per_month(tok_s, hours_per_day);
    let api_per_token = api.output_usd_per_million / 1e6;
    let break_even_tokens_per_month = if api_per_token > 0.0 {
        total_usd / api_per_token
    } else {
        f64::INFINITY
    };
    BreakevenRow {
        sku: sku.id.clone(),
        name: sku.name.clone(),
        quant: quant.to_string(),
        price_usd: sku.price_usd,
        power_full_w: busy_w,
        power_idle_w: sku.power_idle_w,
        tok_s,
        hours_per_day,
        amortization_usd,
        busy_energy_usd,
        idle_energy_usd,
        total_usd,
        tokens_per_month: tokens,
        usd_per_million: if tokens > 0.0 {
            total_usd / tokens * 1e6
        } else {
            f64::INFINITY
        },
        api_output_usd_per_million: api.output_usd_per_million,
        api_usd_for_same_tokens: tokens * api_per_token,
        break_even_tokens_per_month,
        local_can_break_even: break_even_tokens_per_month <= tokens,
        instances_per_node: 1,
        basis: String::new(),
        verdict: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn rtx_5090_at_8_hours_matches_the_hand_computation() {
        let catalog = Catalog::embedded_default();
        let assumptions = CostAssumptions::resolve(&catalog, &CostOverrides::default());
        let rows =
            breakeven_table_as_published(&catalog, &assumptions, 8.0, 0.98, Some("rtx-5090"));
        let row = &rows[0];
        assert_eq!(row.quant, "Q4_K_M");
        // 4500 / 36 = 125
        assert_eq!(row.amortization_usd, 125.0);
        // 510 W × 8 h × 30 = 122.4 kWh × $0.16 = $19.584
        assert!(close(row.busy_energy_usd, 19.584, 1e-9));
        // 80 W × 16 h × 30 = 38.4 kWh × $0.16 = $6.144
        assert!(close(row.idle_energy_usd, 6.144, 1e-9));
        assert!(close(row.total_usd, 150.728, 1e-9));
        // 22.4 × 3600 × 8 × 30 = 19,353,600 — not the article's 19.4B
        assert!(close(row.tokens_per_month, 19_353_600.0, 1e-6));
        // 150.728 / 19.3536 = 7.788
        assert!(close(row.usd_per_million, 7.788_111, 1e-6));
        // The API would charge 19.3536 × $0.0795 = $1.54 for the same output tokens.
        assert!(close(row.api_usd_for_same_tokens, 1.538_611, 1e-6));
        assert!(!row.local_can_break_even);
        assert_eq!(row.basis, "as published");
        assert!(row.verdict.starts_with("impossible"), "{}", row.verdict);
    }

    #[test]
    fn the_table_prices_nodes_as_propose_does() {
        let catalog = Catalog::embedded_default();
        let assumptions = CostAssumptions::resolve(&catalog, &CostOverrides::default());
        let throughput = ThroughputModel::from_catalog(&catalog);
        let (rows, excluded) =
            breakeven_table(&catalog, &throughput, &assumptions, 8.0, 0.98, None, false);
        // Only the two configurations that hold the model get a row; the seed's five rigs are
        // listed with their verdicts.
        let skus: Vec<&str> = rows.iter().map(|r| r.sku.as_str()).collect();
        assert_eq!(
            skus,
            vec!["mac-studio-m3-ultra-512", "epyc-9374f-rtx-pro-6000"]
        );
        assert_eq!(excluded.len(), 5);
        assert!(
            excluded[0].reason.contains("impossible"),
            "{:?}",
            excluded[0]
        );
        for row in &rows {
            let point = throughput
                .points
                .iter()
                .find(|p| p.sku == row.sku && p.quant == row.quant && p.concurrency == 1)
                .unwrap();
            // The same tok/s and busy power a plan uses for this configuration.
            assert_eq!(row.tok_s, point.decode_tok_s);
            assert_eq!(row.power_full_w, point.power_busy_w);
            assert_eq!(row.basis, point.provenance.to_string());
            assert_eq!(row.verdict, "no benchmark");
        }
        // Trusting published figures: the RTX PRO 6000's Q4_K_M row at the 380 W its benchmark
        // was run at, the same power propose then plans with (not the SKU's 580 W).
        let (trusted, _) =
            breakeven_table(&catalog, &throughput, &assumptions, 8.0, 0.98, None, true);
        let pro = trusted.iter().find(|r| r.sku == "rtx-pro-6000").unwrap();
        assert_eq!(
            (pro.quant.as_str(), pro.tok_s, pro.power_full_w),
            ("Q4_K_M", 38.4, 380.0)
        );
        assert!(pro.basis.starts_with("published, trusted as asked"));
    }

    #[test]
    fn table_uses_each_skus_fastest_benchmark_at_the_quality_floor() {
        let catalog = Catalog::embedded_default();
        let assumptions = CostAssumptions::resolve(&catalog, &CostOverrides::default());
        let rows = breakeven_table_as_published(&catalog, &assumptions, 8.0, 0.98, None);
        let by_sku: Vec<(&str, &str, f64)> = rows
            .iter()
            .map(|r| (r.sku.as_str(), r.quant.as_str(), r.tok_s))
            .collect();
        assert_eq!(
            by_sku,
            vec![
                ("rtx-5090", "Q4_K_M", 22.4),
                ("dual-rtx-4090", "Q5_K_M", 28.6),
                ("mac-studio-m3-ultra", "Q4_K_M", 14.2),
                ("rx-7900-xtx", "Q4_K_M", 12.1),
                ("rtx-pro-6000", "Q4_K_M", 38.4),
            ]
        );
        // Dual RTX 4090: 5800/36 + 760 W × 240 h + 90 W × 480 h at $0.16/kWh.
        let dual = &rows[1];
        let expected = 5800.0 / 36.0 + 0.760 * 240.0 * 0.16 + 0.090 * 480.0 * 0.16;
        assert!(close(dual.total_usd, expected, 1e-9));
        assert!(close(dual.tokens_per_month, 24_710_400.0, 1e-6));
    }

    #[test]
    fn overrides_change_the_arithmetic() {
        let catalog = Catalog::embedded_default();
        let assumptions = CostAssumptions::resolve(
            &catalog,
            &CostOverrides {
                electricity_usd_per_kwh: Some(0.30),
                amortization_months: Some(24.0),
                utilization_cap: None,
            },
        );
        let row =
            &breakeven_table_as_published(&catalog, &assumptions, 24.0, 0.98, Some("rtx-5090"))[0];
        assert!(close(
            row.total_usd,
            4500.0 / 24.0 + 0.510 * 720.0 * 0.30,
            1e-9
        ));
        assert_eq!(row.idle_energy_usd, 0.0);
    }
}
