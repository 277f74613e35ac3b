//! `planner-cli catalog check`: every benchmark of the planner's catalog with where its weights
//! go, the roofline ceiling and estimate of its configuration, and the verdict on its claimed
//! figures, rendered from the `CheckCatalog` response (the same for an in-process planner and
//! an `--endpoint`).

use fleet_proto::v1 as pb;

use crate::doc::Doc;

/// Returns the verdict's one word.
fn verdict_word(row: &pb::BenchmarkCheck) -> &'static str {
    match pb::VerdictKind::try_from(row.verdict) {
        Ok(pb::VerdictKind::Plausible) => "plausible",
        Ok(pb::VerdictKind::Implausible) => "implausible",
        Ok(pb::VerdictKind::Impossible) => "impossible",
        Ok(pb::VerdictKind::Unspecified) | Err(_) => "unknown",
    }
}

/// Returns the placement kind as the planner's JSON spells it.
fn placement_key(placement: &pb::Placement) -> &'static str {
    match pb::PlacementKind::try_from(placement.kind) {
        Ok(pb::PlacementKind::Accelerator) => "accelerator",
        Ok(pb::PlacementKind::ExpertsInHostRam) => "experts_in_host_ram",
        Ok(pb::PlacementKind::Unified) => "unified",
        Ok(pb::PlacementKind::Unspecified) | Err(_) => "unknown",
    }
}

/// Returns how many rows are not plausible.
pub fn not_plausible(check: &pb::CheckCatalogResponse) -> usize {
    check
        .benchmarks
        .iter()
        .filter(|row| row.verdict != pb::VerdictKind::Plausible as i32)
        .count()
}

/// Returns the one-line summary, e.g. `3 of 9 benchmarks are not plausible`.
pub fn summary(not_plausible: usize, total: usize) -> String {
    let noun = if total == 1 {
        "benchmark"
    } else {
        "benchmarks"
    };
    let verb = if not_plausible == 1 { "is" } else { "are" };
    format!("{not_plausible} of {total} {noun} {verb} not plausible")
}

fn rates(rates: Option<&pb::PhysicsRates>) -> pb::PhysicsRates {
    rates.copied().unwrap_or_default()
}

fn label(row: &pb::BenchmarkCheck) -> String {
    format!("{} {} N={}", row.sku, row.quant, row.concurrency)
}

/// Returns the report: one table row per benchmark, then each row's verdict and placement in
/// words.
pub fn doc(check: &pb::CheckCatalogResponse) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!(
        "Catalog check (catalog version {})",
        check.catalog_version
    ));
    if check.benchmarks.is_empty() {
        doc.para("The catalog has no benchmarks.");
        return doc;
    }
    doc.para(
        "Ceiling: the roofline at full memory bandwidth and compute; nothing runs faster. \
         Estimate: the roofline at the catalog's fitted efficiencies, with its band. \
         Rates in tok/s: decode of one stream / prefill of one instance.",
    );
    let several_models = check
        .benchmarks
        .iter()
        .any(|row| row.model != check.benchmarks[0].model);
    let mut headers = vec!["sku"];
    if several_models {
        headers.push("model");
    }
    headers.extend([
        "quant",
        ">N",
        ">context",
        ">claimed",
        "placement",
        ">ceiling",
        ">estimate decode",
        "verdict",
    ]);
    let rows = check
        .benchmarks
        .iter()
        .map(|row| {
            let ceiling = rates(row.ceiling.as_ref());
            let estimate = rates(row.estimate.as_ref());
            let placement = row.placement.clone().unwrap_or_default();
            let mut cells = vec![row.sku.clone()];
            if several_models {
                cells.push(row.model.clone());
            }
            cells.extend([
                row.quant.clone(),
                row.concurrency.to_string(),
                row.context_tokens.to_string(),
                format!(
                    "{:.1} / {:.0}",
                    row.claimed_decode_tok_s, row.claimed_prefill_tok_s
                ),
                if placement.fits {
                    placement.kind_words.clone()
                } else {
                    format!("{} (does not fit)", placement.kind_words)
                },
                format!("{:.1} / {:.0}", ceiling.decode_tok_s, ceiling.prefill_tok_s),
                format!("{:.1} ±{:.0}%", estimate.decode_tok_s, row.band * 100.0),
                verdict_word(row).to_string(),
            ]);
            cells
        })
        .collect();
    doc.table(&headers, rows);
    doc.para(summary(not_plausible(check), check.benchmarks.len()) + ".");
    doc.heading("Verdicts");
    doc.list(
        check
            .benchmarks
            .iter()
            .map(|row| {
                let placement = row.placement.clone().unwrap_or_default();
                // A shortfall already gives the numbers of a placement that does not fit.
                let mut item = if placement.fits {
                    format!(
                        "{}: {}; {}",
                        label(row),
                        row.verdict_text,
                        placement.description
                    )
                } else {
                    format!("{}: {}", label(row), row.verdict_text)
                };
                if !row.assumed_inputs.is_empty() {
                    item.push_str(&format!("; assumed: {}", row.assumed_inputs.join(", ")));
                }
                item
            })
            .collect(),
    );
    doc
}

fn rates_json(rates: pb::PhysicsRates) -> serde_json::Value {
    serde_json::json!({
        "decode_tok_s": rates.decode_tok_s,
        "prefill_tok_s": rates.prefill_tok_s,
        "aggregate_decode_tok_s": rates.aggregate_decode_tok_s,
    })
}

/// Returns the report as JSON: every field of every row.
pub fn json(check: &pb::CheckCatalogResponse) -> String {
    let benchmarks: Vec<serde_json::Value> = check
        .benchmarks
        .iter()
        .map(|row| {
            let placement = row.placement.clone().unwrap_or_default();
            serde_json::json!({
                "sku": row.sku,
                "model": row.model,
                "quant": row.quant,
                "concurrency": row.concurrency,
                "context_tokens": row.context_tokens,
                "claimed": {
                    "decode_tok_s": row.claimed_decode_tok_s,
                    "prefill_tok_s": row.claimed_prefill_tok_s,
                },
                "placement": {
                    "kind": placement_key(&placement),
                    "description": placement.description,
                    "fits": placement.fits,
                    "devices_per_instance": placement.devices_per_instance,
                    "instances_per_node": placement.instances_per_node,
                    "weights_gb": placement.weights_gb,
                    "kv_gb": placement.kv_gb,
                    "accelerator_needed_gb": placement.accelerator_needed_gb,
                    "accelerator_have_gb": placement.accelerator_have_gb,
                    "host_needed_gb": placement.host_needed_gb,
                    "host_have_gb": placement.host_have_gb,
                },
                "ceiling": rates_json(rates(row.ceiling.as_ref())),
                "estimate": rates_json(rates(row.estimate.as_ref())),
                "band": row.band,
                "verdict": verdict_word(row),
                "verdict_text": row.verdict_text,
                "assumed_inputs": row.assumed_inputs,
                "source": row.source,
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "catalog_version": check.catalog_version,
        "benchmarks": benchmarks,
        "not_plausible": not_plausible(check),
    }))
    .expect("the check serializes to JSON")
        + "\n"
}
