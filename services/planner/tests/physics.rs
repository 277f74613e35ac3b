//! The physics check against hand arithmetic and against measured runs
//! (`shared/reference/hardware-facts.md`), and what plans do with its verdicts.

use fleet_planner::TokenCount;
use fleet_planner::catalog::{Catalog, DEFAULT_CATALOG_TOML};
use fleet_planner::demand::{PlanRequest, Workload};
use fleet_planner::physics::{self, PlacementKind, Verdict};
use fleet_planner::solve::propose;
use fleet_planner::throughput::{ThroughputModel, ThroughputProvenance};

fn close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0),
        "{what}: {actual} != {expected}"
    );
}

fn check(catalog: &Catalog, sku: &str, quant: &str) -> physics::BenchmarkCheck {
    physics::check_catalog(catalog)
        .into_iter()
        .find(|c| c.sku == sku && c.quant == quant)
        .unwrap_or_else(|| panic!("no benchmark {sku} {quant}"))
}

// The seed model at Q4_K_M (4.6 bits = 0.575 bytes/param), as every seed row runs it:
//   weights   = 671e9 × 0.575                 = 385.825 GB
//   always    = 16e9 × 0.575                  = 9.2 GB read by every token
//   experts   = (671 − 16)e9 × 0.575          = 376.625 GB, of which one token reads 8/256
//                                              = 11.76953125 GB
//   KV        = 70,272 B × 33,792 tokens      = 2.374631424 GB (32K prompt + 1K completion)
//   buffers   = 1.5 GB
// On the accelerator stay always + KV + buffers = 13.074631424 GB, and as many whole MoE layers
// of experts (376.625 / 58 GB each) as still fit; the rest go to host RAM.
const ALWAYS_GB: f64 = 9.2;
const EXPERTS_GB: f64 = 376.625;
const EXPERTS_PER_TOKEN_GB: f64 = 376.625 * 8.0 / 256.0;
const KV_GB: f64 = 70_272.0 * 33_792.0 / 1e9;

#[test]
fn the_rtx_5090_row_ceiling_is_the_hand_computed_one() {
    let catalog = Catalog::embedded_default();
    let c = check(&catalog, "rtx-5090", "Q4_K_M");
    // 32 GB − 13.0746 GB leave 18.9254 GB for experts: (376.625 − 18.9254) / 376.625 × 58 =
    // 55.09 layers must go to host RAM → 56 (--n-cpu-moe 56).
    assert_eq!(c.physics.placement.kind, PlacementKind::ExpertsInHostRam);
    assert_eq!(c.physics.placement.cpu_moe_layers, Some(56));
    // Host RAM needs 376.625 × 56/58 = 363.64 GB; the rig has 64 GB.
    close(
        c.physics.placement.host_needed_gb,
        EXPERTS_GB * 56.0 / 58.0,
        "host GB",
    );
    // A step reads 9.2 + 2.3746 + 11.7695 × 2/58 GB at 1,792 GB/s and 11.7695 × 56/58 GB at
    // 96 GB/s (dual-channel DDR5-6000): 6.686 ms + 118.372 ms = 125.06 ms → 8.00 tok/s.
    let step_s = (ALWAYS_GB + KV_GB + EXPERTS_PER_TOKEN_GB * 2.0 / 58.0) / 1_792.0
        + EXPERTS_PER_TOKEN_GB * 56.0 / 58.0 / 96.0;
    close(c.physics.ceiling.decode_tok_s, 1.0 / step_s, "ceiling");
    assert!((c.physics.ceiling.decode_tok_s - 7.996).abs() < 0.001);
    // The article claims 22.4 tok/s on 386 GB of weights in 32 GB + 64 GB.
    let verdict = c.verdict.to_string();
    assert!(
        verdict.starts_with("impossible: weights 385.8 GB, memory 32 GB + 64 GB"),
        "{verdict}"
    );
}

#[test]
fn the_mac_studio_row_ceiling_is_the_hand_computed_one() {
    let catalog = Catalog::embedded_default();
    let c = check(&catalog, "mac-studio-m3-ultra", "Q4_K_M");
    assert_eq!(c.physics.placement.kind, PlacementKind::Unified);
    // Unified memory is one tier: 9.2 + 11.7695 + 2.3746 = 23.344 GB a token at 819 GB/s
    // → 35.08 tok/s; the article claims 14.2, below the ceiling, on a Mac whose 256 GB cannot
    // hold the 385.8 + 2.4 + 1.5 GB.
    let bytes_gb = ALWAYS_GB + EXPERTS_PER_TOKEN_GB + KV_GB;
    close(c.physics.ceiling.decode_tok_s, 819.0 / bytes_gb, "ceiling");
    assert!((c.physics.ceiling.decode_tok_s - 35.084).abs() < 0.001);
    // Prefill: 512 tokens × 2 × 36.4 GFLOP over 21.5 TFLOPS = 1.7337 s a batch (reading all
    // 385.8 GB once takes 0.471 s) → 295.3 tok/s.
    close(
        c.physics.ceiling.prefill_tok_s,
        512.0 / (512.0 * 2.0 * 36.4e9 / 21.5e12),
        "prefill ceiling",
    );
    let verdict = c.verdict.to_string();
    assert!(
        verdict.starts_with("impossible: weights 385.8 GB + KV 2.4 GB + buffers, memory 256 GB"),
        "{verdict}"
    );
}

#[test]
fn the_rx_7900_xtx_row_ceiling_is_the_hand_computed_one() {
    let catalog = Catalog::embedded_default();
    let c = check(&catalog, "rx-7900-xtx", "Q4_K_M");
    // 24 − 13.0746 = 10.9254 GB for experts: (376.625 − 10.9254) / 376.625 × 58 = 56.32 → 57
    // layers on the host. 9.2 + 2.3746 + 11.7695/58 GB at 960 GB/s = 12.268 ms, 11.7695 × 57/58
    // GB at 96 GB/s = 120.486 ms → 7.53 tok/s.
    assert_eq!(c.physics.placement.cpu_moe_layers, Some(57));
    let step_s = (ALWAYS_GB + KV_GB + EXPERTS_PER_TOKEN_GB / 58.0) / 960.0
        + EXPERTS_PER_TOKEN_GB * 57.0 / 58.0 / 96.0;
    close(c.physics.ceiling.decode_tok_s, 1.0 / step_s, "ceiling");
    assert!((c.physics.ceiling.decode_tok_s - 7.533).abs() < 0.001);
}

#[test]
fn every_seed_row_gets_a_verdict_and_none_survives() {
    let catalog = Catalog::embedded_default();
    let checks = physics::check_catalog(&catalog);
    assert_eq!(checks.len(), 9);
    for c in &checks {
        assert!(c.physics.ceiling.decode_tok_s > 0.0, "{c:?}");
        assert!(
            matches!(c.verdict, Verdict::Impossible { .. }),
            "{} {}: {}",
            c.sku,
            c.quant,
            c.verdict
        );
        // Every claimed decode rate is above what the rig could reach even with enough RAM,
        // except on the Mac, whose unified memory is fast but too small.
        if c.sku != "mac-studio-m3-ultra" {
            assert!(
                c.claimed_decode_tok_s > c.physics.ceiling.decode_tok_s,
                "{} {}",
                c.sku,
                c.quant
            );
        }
    }
}

/// The DeepSeek-V3 shape of hardware-facts at a quantization whose bits per parameter come from
/// a real GGUF's size (`GiB × 2^30 × 8 ÷ 671e9`), on one node.
fn run_catalog(bits_per_param: f64, hardware: &str) -> Catalog {
    let text = format!(
        r#"
version = "runs"
source = "hardware-facts"
[cost]
amortization_months = 36
electricity_usd_per_kwh = 0.16
hours_per_month = 720
utilization_cap = 0.8
source = "test"
[[model]]
id = "deepseek-v3"
name = "DeepSeek V3 shape"
total_params_b = 671.0
active_params_b = 37.0
max_context_tokens = 131072
kv_cache_bytes_per_token = 70272
always_used_params_b = 16.0
routed_params_per_token_b = 20.4
experts = 256
experts_per_token = 8
layers = 61
moe_layers = 58
source = "hardware-facts"
[[quant]]
id = "RUN"
bits_per_param = {bits_per_param}
quality_retained = 0.98
source = "the run's GGUF size"
{hardware}
source = "hardware-facts"
"#
    );
    Catalog::from_toml_str(&text).expect("run catalog is valid")
}

fn run_physics(catalog: &Catalog, context_tokens: u32) -> physics::Physics {
    let config = physics::Config {
        sku: &catalog.hardware[0],
        model: &catalog.models[0],
        quant: &catalog.quants[0],
        context_tokens,
        slots: 1,
        devices_per_instance: None,
    };
    // The efficiencies are the default catalog's, fitted to these runs.
    physics::evaluate(&config, &Catalog::embedded_default().physics)
}

fn within_band(physics: &physics::Physics, estimate: f64, measured: f64, what: &str) {
    let band = physics.band;
    assert!(
        measured >= estimate * (1.0 - band) && measured <= estimate * (1.0 + band),
        "{what}: measured {measured} outside {estimate} ±{}%",
        band * 100.0
    );
}

fn gib_bits(gib: f64) -> f64 {
    gib * 1_073_741_824.0 * 8.0 / 671e9
}

#[test]
fn the_mac_studio_512_run_is_within_the_estimates_band() {
    // DeepSeek-R1 671B Q4_K_M (376.65 GiB) on a Mac Studio M3 Ultra 512 GB: pp512 168.9,
    // tg128 20.21 (geerlingguy/beowulf-ai-cluster issue 17).
    let catalog = run_catalog(
        gib_bits(376.65),
        r#"[[hardware]]
id = "mac-512"
name = "Mac Studio M3 Ultra 512GB"
accelerators = 1
memory_per_device_gb = 512.0
unified_memory = true
price_usd = 9499.0
power_full_w = 290.0
power_idle_w = 15.0
backend = "metal"
memory_bandwidth_gb_s = 819.0
compute_tflops = 28.7"#,
    );
    let p = run_physics(&catalog, 128);
    assert_eq!(p.placement.kind, PlacementKind::Unified);
    assert!(p.placement.fits);
    within_band(&p, p.estimate.decode_tok_s, 20.21, "tg128");
    within_band(&p, p.estimate.prefill_tok_s, 168.9, "pp512");
    assert!(20.21 < p.ceiling.decode_tok_s && 168.9 < p.ceiling.prefill_tok_s);
}

#[test]
fn the_epyc_server_run_is_within_the_estimates_band() {
    // DeepSeek-V3.2 Q8_0 (678.56 GiB) on an EPYC 9374F with 12 × DDR5-4800 and an RTX PRO 6000
    // Max-Q, experts in RAM: pp512 22.17, tg32 10.91 (llama.cpp pull 23346).
    let catalog = run_catalog(
        gib_bits(678.56),
        r#"[[hardware]]
id = "epyc"
name = "EPYC 9374F + RTX PRO 6000 Max-Q"
accelerators = 1
memory_per_device_gb = 96.0
unified_memory = false
price_usd = 19500.0
power_full_w = 720.0
power_idle_w = 160.0
backend = "cuda"
memory_bandwidth_gb_s = 1792.0
compute_tflops = 439.0
host_ram_gb = 768.0
host_ram_bandwidth_gb_s = 460.8
host_link_gb_s = 64.0"#,
    );
    let p = run_physics(&catalog, 32);
    assert_eq!(p.placement.kind, PlacementKind::ExpertsInHostRam);
    assert!(p.placement.fits, "{:?}", p.placement);
    within_band(&p, p.estimate.decode_tok_s, 10.91, "tg32");
    within_band(&p, p.estimate.prefill_tok_s, 22.17, "pp512");
    assert!(10.91 < p.ceiling.decode_tok_s && 22.17 < p.ceiling.prefill_tok_s);
}

/// Two Xeon Gold 6454S with 8 × DDR5-4800 each and an RTX 4090D (ktransformers' tutorial).
/// llama.cpp without `--numa` reads the weights from the socket that loaded them, so the host
/// bandwidth a step sees is one socket's: 8 × 8 bytes × 4800 MT/s = 307.2 GB/s.
fn xeon_catalog() -> Catalog {
    run_catalog(
        gib_bits(376.65),
        r#"[[hardware]]
id = "xeon"
name = "2 x Xeon Gold 6454S + RTX 4090D"
accelerators = 1
memory_per_device_gb = 24.0
unified_memory = false
price_usd = 15000.0
power_full_w = 1000.0
power_idle_w = 200.0
backend = "cuda"
memory_bandwidth_gb_s = 1008.0
compute_tflops = 73.5
host_ram_gb = 1024.0
host_ram_bandwidth_gb_s = 307.2
host_link_gb_s = 32.0"#,
    )
}

#[test]
fn the_dual_xeon_llama_cpp_run_is_within_the_estimates_band() {
    // DeepSeek-V3 Q4_K_M with llama.cpp: prefill 10.31, decode 4.51.
    let p = run_physics(&xeon_catalog(), 512);
    assert!(p.placement.fits, "{:?}", p.placement);
    within_band(&p, p.estimate.decode_tok_s, 4.51, "decode");
    within_band(&p, p.estimate.prefill_tok_s, 10.31, "prefill");
}

#[test]
fn the_dual_xeon_ktransformers_run_decodes_within_the_band_and_prefills_off_llama_cpps_path() {
    // Same machine with ktransformers on one socket: decode 8.73 is within the band. Its
    // prefill of 54.21 tok/s runs the experts on the CPU's AMX units instead of streaming them
    // over PCIe as llama.cpp does, so it beats llama.cpp's link-bound ceiling: the estimate is
    // llama.cpp's, and says nothing of another engine's prefill.
    let p = run_physics(&xeon_catalog(), 512);
    within_band(&p, p.estimate.decode_tok_s, 8.73, "decode");
    assert!(54.21 > p.ceiling.prefill_tok_s, "{:?}", p.ceiling);
}

#[test]
fn bad_specs_are_refused_naming_the_field() {
    let cases = [
        (
            DEFAULT_CATALOG_TOML.replacen(
                "memory_bandwidth_gb_s = 1792.0",
                "memory_bandwidth_gb_s = 0.0",
                1,
            ),
            "catalog hardware 'rtx-5090': memory_bandwidth_gb_s must be a positive number, got 0",
        ),
        (
            DEFAULT_CATALOG_TOML.replacen("host_ram_gb = 64.0", "host_ram_gb = -64.0", 1),
            "catalog hardware 'rtx-5090': host_ram_gb must be zero or more, got -64",
        ),
        (
            DEFAULT_CATALOG_TOML.replacen("experts_per_token = 8", "experts_per_token = 300", 1),
            "catalog model 'deepseek-v4-pro': experts_per_token must not exceed experts (256), got 300",
        ),
        (
            DEFAULT_CATALOG_TOML.replacen(
                "decode_efficiency_host = 0.40",
                "decode_efficiency_host = 1.5",
                1,
            ),
            "catalog physics 'defaults': decode_efficiency_host must be in (0, 1], got 1.5",
        ),
    ];
    for (text, expected) in cases {
        let error = Catalog::from_toml_str(&text).unwrap_err().to_string();
        assert_eq!(error, expected);
    }
}

fn local_request(ttft_ms: Option<f64>, trust_published: bool) -> PlanRequest {
    let mut w = Workload::new("w", TokenCount(1_500_000_000));
    w.local_only = true;
    w.ttft_p95_ms = ttft_ms;
    PlanRequest {
        workloads: vec![w],
        trust_published,
        ..Default::default()
    }
}

#[test]
fn a_local_fleet_holds_the_model_and_says_the_basis_of_its_figures() {
    let catalog = Catalog::embedded_default();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let plan = propose(&catalog, &throughput, &local_request(None, false)).unwrap();
    assert!(!plan.pools.is_empty());
    for pool in &plan.pools {
        let sku = catalog.sku(&pool.sku).unwrap();
        let model = catalog.model(&pool.model).unwrap();
        let quant = catalog.quant(&pool.quant).unwrap();
        let placed = physics::place(
            &physics::Config {
                sku,
                model,
                quant,
                context_tokens: 4_096,
                slots: pool.concurrency,
                devices_per_instance: None,
            },
            &catalog.physics,
        );
        assert!(
            placed.fits,
            "{} {} does not hold the model",
            pool.sku, pool.quant
        );
        assert!(
            pool.throughput_provenance.starts_with("estimated ±"),
            "{}",
            pool.throughput_provenance
        );
    }
    assert!(
        plan.notes
            .iter()
            .any(|n| n.starts_with("physics: rtx-5090 deepseek-v4-pro Q4_K_M: N=1: impossible")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn a_two_second_ttft_has_no_honest_local_fleet_and_says_what_would_fit() {
    let catalog = Catalog::embedded_default();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let error = propose(&catalog, &throughput, &local_request(Some(2_000.0), false))
        .unwrap_err()
        .to_string();
    // The fastest prefill that holds the model is the 512 GB Mac's: 4,096 ÷ 169.5 tok/s.
    assert!(error.contains("mac-studio-m3-ultra-512"), "{error}");
    assert!(error.contains("TTFT"), "{error}");
}

#[test]
fn trusting_published_figures_restores_the_seed_plan_and_says_so() {
    let catalog = Catalog::embedded_default();
    let throughput = ThroughputModel::from_catalog(&catalog);
    let plan = propose(&catalog, &throughput, &local_request(Some(2_000.0), true)).unwrap();
    assert!(plan.trust_published);
    assert!(plan.pools.iter().any(|p| p.sku == "dual-rtx-4090"));
    for pool in &plan.pools {
        assert!(
            pool.throughput_provenance
                .starts_with("published, trusted as asked (impossible"),
            "{}",
            pool.throughput_provenance
        );
    }
    assert!(plan.notes.iter().any(|n| n.starts_with("trust published")));
}

#[test]
fn a_model_with_no_benchmark_is_estimated_and_planned() {
    let text = r#"
version = "team-1"
source = "a team's own catalog"
[cost]
amortization_months = 36
electricity_usd_per_kwh = 0.16
hours_per_month = 720
utilization_cap = 0.8
source = "team"
[[model]]
id = "llama-3.3-70b"
name = "Llama 3.3 70B"
total_params_b = 70.6
active_params_b = 70.6
max_context_tokens = 131072
kv_cache_bytes_per_token = 327680
layers = 80
source = "model card: 80 layers, 8 KV heads x 128 dims: 2 x 80 x 8 x 128 x 2 bytes"
[[quant]]
id = "Q4_K_M"
bits_per_param = 4.85
quality_retained = 0.98
source = "team"
[[hardware]]
id = "h100-pcie"
name = "H100 PCIe 80GB server"
accelerators = 1
memory_per_device_gb = 80.0
unified_memory = false
price_usd = 32000.0
power_full_w = 700.0
power_idle_w = 120.0
backend = "cuda"
memory_bandwidth_gb_s = 2000.0
compute_tflops = 756.0
host_ram_gb = 512.0
host_ram_bandwidth_gb_s = 307.2
host_link_gb_s = 64.0
source = "NVIDIA H100 PCIe spec sheet"
"#;
    let catalog = Catalog::from_toml_str(text).unwrap();
    assert!(catalog.benchmarks.is_empty());
    let throughput = ThroughputModel::from_catalog(&catalog);
    assert_eq!(throughput.points.len(), 4, "{:?}", throughput.points);
    for point in &throughput.points {
        assert!(matches!(
            point.provenance,
            ThroughputProvenance::Estimated { .. }
        ));
    }
    let mut w = Workload::new("w", TokenCount(300_000_000));
    w.local_only = true;
    let request = PlanRequest {
        workloads: vec![w],
        ..Default::default()
    };
    let plan = propose(&catalog, &throughput, &request).unwrap();
    assert_eq!(plan.pools.len(), 1);
    let pool = &plan.pools[0];
    assert_eq!(pool.sku, "h100-pcie");
    assert_eq!(
        pool.throughput_provenance,
        "estimated ±25% (roofline, all in accelerator memory)"
    );
    // 42.8 GB of weights at 0.65 × 2,000 GB/s: one stream near 30 tok/s.
    let single = throughput
        .points
        .iter()
        .find(|p| p.concurrency == 1)
        .unwrap();
    let weights_gb = 70.6 * 4.85 / 8.0;
    let kv_gb = 327_680.0 * 4_096.0 / 1e9;
    close(
        single.decode_tok_s,
        0.65 * 2_000.0 / (weights_gb + kv_gb),
        "estimated decode",
    );
}

/// A configuration measured too slow for a workload's TTFT limit is not used, and the plan says
/// which SLO it fails and by how much (issue 14): five windows on the 512 GB Mac with a prefill
/// of 50 tok/s make a 4,096-token prompt take about 80 s against a 60 s limit.
#[test]
fn a_measured_configuration_the_slo_rules_out_is_named_with_the_slo_and_the_margin() {
    use fleet_planner::throughput::ObservationSample;
    let catalog = Catalog::embedded_default();
    let samples: Vec<ObservationSample> = (0..5)
        .map(|i| ObservationSample {
            node_id: "mac-1".into(),
            sku: "mac-studio-m3-ultra-512".into(),
            model: "deepseek-v4-pro".into(),
            quant: "Q4_K_M".into(),
            concurrency: 1,
            window_start_unix_ms: 1_000_000 + i * 60_000,
            window_end_unix_ms: 1_030_000 + i * 60_000,
            prompt_tokens: 1_500,
            predicted_tokens: 300,
            prompt_seconds: 30.0,
            predicted_seconds: 20.0,
            prefill_tok_s: 50.0,
            decode_tok_s: 15.0,
            aggregate_decode_tok_s: 15.0,
            mean_concurrency: 1.0,
            queue_depth: 0.0,
            cache_hit_rate: 0.0,
            power_w: None,
            probe: false,
        })
        .collect();
    let throughput = ThroughputModel::calibrate(&catalog, &samples);
    let mut w = Workload::new("chat", TokenCount(1_500_000_000));
    w.ttft_p95_ms = Some(60_000.0);
    let request = PlanRequest {
        workloads: vec![w],
        ..Default::default()
    };
    let plan = propose(&catalog, &throughput, &request).unwrap();
    let note = plan
        .notes
        .iter()
        .find(|n| n.starts_with("measured mac-studio-m3-ultra-512 Q4_K_M not used"))
        .unwrap_or_else(|| panic!("{:#?}", plan.notes));
    println!("{note}");
    assert!(
        note.contains(": fails chat: TTFT ") && note.contains("exceeds its 60 s limit by"),
        "{note}"
    );
}
