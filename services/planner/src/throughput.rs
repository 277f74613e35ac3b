//! The throughput model: for each (SKU, model, quant, concurrency), how fast one node serves,
//! and how we know. Until a configuration is measured, the prior is the catalog's benchmark at
//! concurrency 1 with no batching gain, which is conservative: llama.cpp's aggregate decode
//! rate grows with concurrent slots.

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;

/// How a throughput point is known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ThroughputProvenance {
    /// A catalog benchmark.
    Catalog {
        /// The benchmark's source.
        source: String,
    },
    /// Measured on the team's own nodes.
    Measured {
        /// Distinct nodes that contributed.
        nodes: u32,
        /// Measurement windows used.
        windows: u64,
        /// When the newest window ended, Unix milliseconds.
        last_unix_ms: i64,
    },
}

impl std::fmt::Display for ThroughputProvenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ThroughputProvenance::Catalog { .. } => f.write_str("catalog"),
            ThroughputProvenance::Measured { nodes, windows, .. } => {
                write!(
                    f,
                    "measured: {nodes} node{}, {} windows",
                    if *nodes == 1 { "" } else { "s" },
                    crate::units::format_int(*windows as f64)
                )
            }
        }
    }
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

/// The set of throughput points plans are made with, and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThroughputModel {
    /// Version recorded in every plan.
    pub version: String,
    /// The points.
    pub points: Vec<ThroughputPoint>,
}

impl ThroughputModel {
    /// Returns the prior model from the catalog's benchmarks: concurrency as benchmarked, no
    /// batching gain (aggregate decode = one stream's decode × concurrency 1).
    pub fn from_catalog(catalog: &Catalog) -> ThroughputModel {
        let points = catalog
            .benchmarks
            .iter()
            .filter_map(|b| {
                let sku = catalog.sku(&b.sku)?;
                let instances = (sku.accelerators / b.devices_used).max(1);
                Some(ThroughputPoint {
                    sku: b.sku.clone(),
                    model: b.model.clone(),
                    quant: catalog.quant(&b.quant)?.id.clone(),
                    concurrency: b.concurrency,
                    instances_per_node: instances,
                    decode_tok_s: b.decode_tok_s,
                    prefill_tok_s: b.prefill_tok_s,
                    // No batching gain until measured: one instance serves one stream's worth.
                    aggregate_decode_tok_s: b.decode_tok_s,
                    power_busy_w: b.power_w * f64::from(instances),
                    vram_used_gb: b.vram_used_gb,
                    offload: b.offload,
                    provenance: ThroughputProvenance::Catalog {
                        source: b.provenance.source.clone(),
                    },
                })
            })
            .collect();
        ThroughputModel {
            version: format!("prior:{}", catalog.version),
            points,
        }
    }

    /// Returns a short description for plans: "catalog priors" or how many points are measured.
    pub fn describe(&self) -> String {
        let measured = self
            .points
            .iter()
            .filter(|p| matches!(p.provenance, ThroughputProvenance::Measured { .. }))
            .count();
        if measured == 0 {
            "catalog priors (concurrency 1, no batching gain assumed)".to_string()
        } else {
            format!(
                "{measured} of {} configurations measured, the rest catalog priors",
                self.points.len()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_has_no_batching_gain_and_counts_instances() {
        let catalog = Catalog::embedded_default();
        let model = ThroughputModel::from_catalog(&catalog);
        assert_eq!(model.points.len(), 9);
        for p in &model.points {
            assert_eq!(p.aggregate_decode_tok_s, p.decode_tok_s);
        }
        let dual_q4 = model
            .points
            .iter()
            .find(|p| p.sku == "dual-rtx-4090" && p.quant == "Q4_K_M")
            .unwrap();
        assert_eq!(dual_q4.instances_per_node, 2);
        assert_eq!(dual_q4.power_busy_w, 760.0);
        // 0.75 / 3210 + 0.25 / 16.8 seconds per token on one card, halved by two cards.
        let expected = (0.75 / 3210.0 + 0.25 / 16.8) / 2.0;
        assert!((dual_q4.node_seconds_per_token(0.75) - expected).abs() < 1e-15);
        let rtx = model
            .points
            .iter()
            .find(|p| p.sku == "rtx-5090" && p.quant == "Q4_K_M")
            .unwrap();
        // 4096 tokens at 4180 tok/s = 979.9 ms.
        assert!((rtx.ttft_ms(4096) - 979.904_306).abs() < 1e-3);
        assert_eq!(rtx.provenance.to_string(), "catalog");
    }
}
