//! A synthetic planning problem at issue-5 size, shared by the schedule benchmark and the
//! time-limit tests: 25 SKUs × 2 quants × 4 concurrency levels (200 options) and 50 workloads
//! in 10 SLO classes, with preset or random hourly profiles.

use fleet_planner::TokenCount;
use fleet_planner::catalog::Catalog;
use fleet_planner::demand::{DemandProfile, HourWindow, Workload};

/// A synthetic catalog: 25 SKUs × 2 quants of one model, each benchmarked at N = 1, 2, 4, 8 with
/// no batching gain (each of N streams gets 1/N of the single-stream rate), so 200 options with
/// the same figures as before the physics check. The SKUs carry H100-class specs and the model
/// is 30B dense, so every row is plausible and fits (the check runs on all 200). The API is 20×
/// the seed article's price, so local pools win part of the day.
pub fn catalog() -> Catalog {
    let mut text = String::from(
        r#"
version = "bench-1"
source = "synthetic"
[cost]
amortization_months = 36
electricity_usd_per_kwh = 0.16
hours_per_month = 720
utilization_cap = 0.8
source = "synthetic"
[[model]]
id = "m"
name = "M"
total_params_b = 30.0
active_params_b = 30.0
max_context_tokens = 131072
kv_cache_bytes_per_token = 40000
source = "synthetic"
[[quant]]
id = "Q4_K_M"
bits_per_param = 4.8
quality_retained = 0.95
source = "synthetic"
[[quant]]
id = "Q5_K_M"
bits_per_param = 5.7
quality_retained = 0.97
source = "synthetic"
[[api]]
id = "api"
name = "API"
model = "m"
input_usd_per_million = 0.53
output_usd_per_million = 1.59
ttft_p50_ms = 200.0
ttft_p95_ms = 500.0
source = "synthetic"
"#,
    );
    for s in 0..25u32 {
        let f = f64::from(s);
        let accelerators = [1, 1, 2, 4, 8][s as usize % 5];
        let price = 3_000.0 + 1_700.0 * f + 900.0 * f64::from(accelerators);
        let full = 300.0 + 40.0 * f + 150.0 * f64::from(accelerators);
        text.push_str(&format!(
            r#"
[[hardware]]
id = "sku{s}"
name = "SKU {s}"
accelerators = {accelerators}
memory_per_device_gb = {mem}
unified_memory = false
price_usd = {price}
power_full_w = {full}
power_idle_w = {idle}
backend = "cuda"
memory_bandwidth_gb_s = 3350.0
compute_tflops = 989.0
host_ram_gb = 512.0
source = "synthetic"
"#,
            mem = 24.0 + 8.0 * f64::from(s % 7),
            idle = 40.0 + 3.0 * f,
        ));
        for (q, quant) in ["Q4_K_M", "Q5_K_M"].iter().enumerate() {
            let decode =
                (12.0 + 2.3 * f + 5.0 * f64::from(s % 3)) * if q == 0 { 1.0 } else { 0.85 };
            let prefill = (1_500.0 + 310.0 * f) * if q == 0 { 1.0 } else { 0.9 };
            for n in [1u32, 2, 4, 8] {
                let per_stream = decode / f64::from(n);
                text.push_str(&format!(
                    r#"
[[benchmark]]
sku = "sku{s}"
model = "m"
quant = "{quant}"
concurrency = {n}
devices_used = 1
vram_used_gb = 20.0
decode_tok_s = {per_stream}
prefill_tok_s = {prefill}
power_w = {full}
offload = false
context_tokens = 1024
source = "synthetic"
"#
                ));
            }
        }
    }
    Catalog::from_toml_str(&text).expect("synthetic catalog is valid")
}

/// A week profile: business hours on weekdays, a quarter of that at weekends.
fn week_profile() -> DemandProfile {
    let day = DemandProfile::BusinessHours.shares();
    DemandProfile::Weights(
        (0..168)
            .map(|h| day[h % 24] * if h >= 120 { 0.25 } else { 1.0 })
            .collect(),
    )
}

/// 50 workloads in 10 SLO classes (split, prompt, TTFT, decode floor, quality floor, privacy,
/// criticality, deferral), with presets or random weights.
pub fn workloads(random_hours: usize) -> Vec<Workload> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..50)
        .map(|i| {
            let class = i % 10;
            let mut w = Workload::new(
                format!("w{i}"),
                TokenCount(((i as u64 * 7919) % 2000 + 50) * 1_000_000),
            );
            w.input_share = [0.5, 0.75, 0.9][class % 3];
            w.prompt_tokens = [1024, 4096, 2048, 8192][class % 4];
            w.ttft_p95_ms = [None, Some(8_000.0), None, Some(20_000.0), None][class % 5];
            w.min_decode_tok_s = [5.0, 10.0][class % 2];
            w.min_quant = ["Q4_K_M", "Q5_K_M"][(class / 5) % 2].to_string();
            w.local_only = class == 3 || class == 7;
            w.critical = class == 7;
            if class == 4 || class == 9 {
                w.deferrable_share = 0.5;
                w.defer_window = Some(HourWindow {
                    start_hour: 22,
                    end_hour: 6,
                });
            }
            w.profile = if random_hours > 0 {
                DemandProfile::Weights((0..random_hours).map(|_| 0.2 + next()).collect())
            } else {
                match i % 4 {
                    0 => DemandProfile::Flat,
                    1 => DemandProfile::BusinessHours,
                    2 => DemandProfile::EightHourDay,
                    _ => week_profile(),
                }
            };
            w
        })
        .collect()
}
