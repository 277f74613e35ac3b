//! What changed in a plan's inputs between two plans: workloads, fleet limits, owned nodes,
//! cost assumptions, API prices, catalog and throughput versions. `plans diff` and the capacity
//! review print these before the pools, since a changed fleet is usually a changed input.

use std::collections::BTreeMap;

use fleet_planner::Plan;
use fleet_planner::demand::Workload;
use fleet_planner::units::{format_int, format_ms, format_usd};

/// One input that differs between plan A and plan B.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputChange {
    /// `+` added, `-` removed, `~` changed.
    pub change: char,
    /// What the input is, e.g. `workload chat: tokens/month` or `owned nodes rtx-5090`.
    pub what: String,
    /// Its value in A (`-` when added).
    pub before: String,
    /// Its value in B (`-` when removed).
    pub after: String,
}

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn num(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Returns a workload's inputs as (label, value) pairs, in the order people read them.
fn workload_fields(w: &Workload) -> Vec<(&'static str, String)> {
    vec![
        ("tokens/month", w.monthly_tokens.to_string()),
        ("input share", pct(w.input_share)),
        ("prompt tokens", format_int(f64::from(w.prompt_tokens))),
        (
            "TTFT p95 limit",
            w.ttft_p95_ms.map_or("none".into(), format_ms),
        ),
        ("min decode", format!("{} tok/s", num(w.min_decode_tok_s))),
        ("local-only", w.local_only.to_string()),
        ("quality floor", w.min_quant.clone()),
        ("profile", w.profile.label()),
        (
            "deferrable",
            match w.defer_window {
                Some(window) if w.deferrable_share > 0.0 => {
                    format!("{} in {window}", pct(w.deferrable_share))
                }
                _ => "none".into(),
            },
        ),
        ("critical (N+1)", w.critical.to_string()),
        ("model", w.model.clone().unwrap_or_else(|| "default".into())),
    ]
}

/// Returns every input that differs from plan `a` to plan `b`, workloads matched by name.
pub fn input_changes(a: &Plan, b: &Plan) -> Vec<InputChange> {
    let mut changes = Vec::new();
    let mut changed = |what: String, before: String, after: String| {
        if before != after {
            changes.push(InputChange {
                change: match (before.as_str(), after.as_str()) {
                    ("-", _) => '+',
                    (_, "-") => '-',
                    _ => '~',
                },
                what,
                before,
                after,
            });
        }
    };
    changed(
        "catalog version".into(),
        a.catalog_version.clone(),
        b.catalog_version.clone(),
    );
    changed(
        "throughput model".into(),
        a.throughput_version.clone(),
        b.throughput_version.clone(),
    );
    changed(
        "published figures trusted".into(),
        a.trust_published.to_string(),
        b.trust_published.to_string(),
    );

    let workloads = |plan: &Plan| -> BTreeMap<String, Vec<(&'static str, String)>> {
        plan.workloads
            .iter()
            .map(|w| (w.name.clone(), workload_fields(w)))
            .collect()
    };
    let (before, after) = (workloads(a), workloads(b));
    for (name, fields) in &before {
        match after.get(name) {
            None => changed(
                format!("workload {name}"),
                fields[0].1.clone() + " tokens/month",
                "-".into(),
            ),
            Some(new) => {
                for ((label, old), (_, new)) in fields.iter().zip(new) {
                    changed(
                        format!("workload {name}: {label}"),
                        old.clone(),
                        new.clone(),
                    );
                }
            }
        }
    }
    for (name, fields) in &after {
        if !before.contains_key(name) {
            changed(
                format!("workload {name}"),
                "-".into(),
                fields[0].1.clone() + " tokens/month",
            );
        }
    }

    let (ca, cb) = (&a.constraints, &b.constraints);
    let usd = |v: Option<f64>| v.map_or("none".to_string(), format_usd);
    changed(
        "capex budget".into(),
        usd(ca.budget_usd),
        usd(cb.budget_usd),
    );
    let watts = |v: Option<f64>| v.map_or("none".to_string(), |w| format!("{} W", format_int(w)));
    changed(
        "site power cap".into(),
        watts(ca.site_power_cap_w),
        watts(cb.site_power_cap_w),
    );
    for (label, old, new) in [
        (
            "owned nodes",
            &ca.owned_nodes_per_sku,
            &cb.owned_nodes_per_sku,
        ),
        ("max nodes", &ca.max_nodes_per_sku, &cb.max_nodes_per_sku),
    ] {
        let skus: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        let show = |map: &BTreeMap<String, u32>, sku: &str| {
            map.get(sku).map_or("-".to_string(), u32::to_string)
        };
        for sku in skus {
            changed(format!("{label} {sku}"), show(old, sku), show(new, sku));
        }
    }

    let (xa, xb) = (&a.assumptions, &b.assumptions);
    changed(
        "amortization".into(),
        format!("{} months", num(xa.amortization_months)),
        format!("{} months", num(xb.amortization_months)),
    );
    changed(
        "electricity".into(),
        format!("{}/kWh", format_usd(xa.electricity_usd_per_kwh)),
        format!("{}/kWh", format_usd(xb.electricity_usd_per_kwh)),
    );
    changed(
        "utilization cap".into(),
        pct(xa.utilization_cap),
        pct(xb.utilization_cap),
    );
    changed(
        "hours per month".into(),
        num(xa.hours_per_month),
        num(xb.hours_per_month),
    );
    let api = |plan: &Plan| {
        plan.api.as_ref().map_or("none".to_string(), |api| {
            format!(
                "{}: {}/1M in, {}/1M out, TTFT p95 {}",
                api.id,
                format_usd(api.input_usd_per_million),
                format_usd(api.output_usd_per_million),
                format_ms(api.ttft_p95_ms)
            )
        })
    };
    changed("API".into(), api(a), api(b));
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleet_planner::catalog::Catalog;
    use fleet_planner::demand::PlanRequest;
    use fleet_planner::{ThroughputModel, TokenCount};

    fn plan(request: &PlanRequest) -> Plan {
        let catalog = Catalog::embedded_default();
        fleet_planner::propose(&catalog, &ThroughputModel::from_catalog(&catalog), request).unwrap()
    }

    #[test]
    fn changed_inputs_are_named_with_both_values() {
        let mut first = PlanRequest {
            workloads: vec![
                Workload::new("chat", TokenCount(1_500_000_000)),
                Workload::new("batch", TokenCount(100_000_000)),
            ],
            ..Default::default()
        };
        let a = plan(&first);
        first.workloads[0].monthly_tokens = TokenCount(2_000_000_000);
        first.workloads.remove(1);
        first
            .workloads
            .push(Workload::new("legal", TokenCount(5_000_000)));
        first.constraints.budget_usd = Some(50_000.0);
        first
            .constraints
            .owned_nodes_per_sku
            .insert("mac-studio-m3-ultra-512".into(), 2);
        first.overrides.electricity_usd_per_kwh = Some(0.2);
        let b = plan(&first);
        let changes = input_changes(&a, &b);
        let find = |what: &str| {
            changes
                .iter()
                .find(|c| c.what == what)
                .unwrap_or_else(|| panic!("{what} missing from {changes:#?}"))
        };
        let tokens = find("workload chat: tokens/month");
        assert_eq!(
            (tokens.change, tokens.before.as_str(), tokens.after.as_str()),
            ('~', "1.5B", "2B")
        );
        assert_eq!(find("workload batch").change, '-');
        assert_eq!(find("workload legal").change, '+');
        assert_eq!(find("capex budget").after, "$50,000.00");
        let owned = find("owned nodes mac-studio-m3-ultra-512");
        assert_eq!((owned.change, owned.after.as_str()), ('+', "2"));
        assert_eq!(find("electricity").after, "$0.20/kWh");
        // Nothing else changed.
        assert_eq!(changes.len(), 6, "{changes:#?}");
        assert!(input_changes(&a, &a).is_empty());
    }
}
