//! Proptest-based fuzzing of every text and request parser (issue 7, item 2), bounded so the
//! whole file runs in seconds in CI: `TokenCount` and duration parsing, workload files (TOML and
//! JSON, arbitrary and mutated), and arbitrary `PlanRequest`s through `validate` and `propose`.
//! Each target must never panic, and what it accepts must be consistent; what it rejects must
//! say so in one line naming the input or the field.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fleet_planner::catalog::Catalog;
use fleet_planner::demand::{
    CostOverrides, DemandProfile, FileFormat, FleetConstraints, HourWindow,
    MAX_AMORTIZATION_MONTHS, MAX_ELECTRICITY_USD_PER_KWH, MIN_AMORTIZATION_MONTHS, PlanRequest,
    Workload, parse_workload_file,
};
use fleet_planner::units::{TokenCount, UnitError, parse_duration_ms};
use fleet_planner::{PlanError, SolveSettings, ThroughputModel, propose_with};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A fixed seed for the targets that solve: the solver's numerics are not what these tests
/// fuzz, so CI must not turn red on a new random draw (see `solver_numerics_at_large_demand`).
fn config_fixed(cases: u32) -> ProptestConfig {
    ProptestConfig {
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_f1ee7),
        ..config(cases)
    }
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::embedded_default)
}

fn throughput() -> &'static ThroughputModel {
    static MODEL: OnceLock<ThroughputModel> = OnceLock::new();
    MODEL.get_or_init(|| ThroughputModel::from_catalog(catalog()))
}

/// A unit error must be one line and carry the input (or say the input was empty).
fn check_unit_error(raw: &str, error: &UnitError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(!message.contains('\n'), "multi-line error {message:?}");
    match error {
        UnitError::Empty { .. } => prop_assert!(raw.trim().is_empty()),
        UnitError::Negative { input, .. }
        | UnitError::Zero { input, .. }
        | UnitError::Invalid { input, .. }
        | UnitError::Overflow { input, .. } => {
            prop_assert_eq!(input.as_str(), raw);
            prop_assert!(message.contains(raw), "{message:?} does not name {raw:?}");
        }
    }
    Ok(())
}

/// Near-valid quantity text: digits, dots, underscores, signs, spaces and suffix letters.
fn near_number() -> impl Strategy<Value = String> {
    "[ +\\-]?[0-9_.]{0,30}[ ]?(k|K|m|M|b|B|t|T|ms|s|sec|min|h|e5|x|)[ ]?"
}

const SUFFIXES: [(&str, u128); 9] = [
    ("", 1),
    ("k", 1_000),
    ("K", 1_000),
    ("m", 1_000_000),
    ("M", 1_000_000),
    ("b", 1_000_000_000),
    ("B", 1_000_000_000),
    ("t", 1_000_000_000_000),
    ("T", 1_000_000_000_000),
];

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn token_count_never_panics_on_any_text(raw in any::<String>()) {
        if let Err(error) = raw.parse::<TokenCount>() {
            check_unit_error(&raw, &error)?;
        }
    }

    #[test]
    fn token_count_near_valid_text_is_consistent(raw in near_number()) {
        match raw.parse::<TokenCount>() {
            Ok(tokens) => {
                // Whatever is accepted parses the same with surrounding space and a plus sign.
                prop_assert_eq!(format!(" {raw} ").parse::<TokenCount>(), Ok(tokens));
                prop_assert!(!raw.trim().starts_with('-'));
            }
            Err(error) => check_unit_error(&raw, &error)?,
        }
    }

    #[test]
    fn token_count_suffixes_multiply_exactly(n in any::<u64>(), s in 0..SUFFIXES.len()) {
        let (suffix, multiplier) = SUFFIXES[s];
        let raw = format!("{n}{suffix}");
        let want = u128::from(n) * multiplier;
        match raw.parse::<TokenCount>() {
            Ok(tokens) => prop_assert_eq!(u128::from(tokens.get()), want),
            Err(UnitError::Overflow { .. }) => prop_assert!(want > u128::from(u64::MAX)),
            Err(other) => prop_assert!(false, "{raw:?} rejected: {other}"),
        }
    }

    #[test]
    fn token_count_decimals_are_exact_or_rejected(
        int in 0u64..1_000_000,
        frac in "[0-9]{1,12}",
        s in 0..SUFFIXES.len(),
    ) {
        let (suffix, multiplier) = SUFFIXES[s];
        let raw = format!("{int}.{frac}{suffix}");
        let scale = 10u128.pow(frac.len() as u32);
        let exact = (u128::from(int) * scale + frac.parse::<u128>().unwrap()) * multiplier;
        match raw.parse::<TokenCount>() {
            Ok(tokens) => {
                prop_assert!(exact.is_multiple_of(scale), "{raw:?} accepted though not whole");
                prop_assert_eq!(u128::from(tokens.get()), exact / scale);
            }
            Err(UnitError::Invalid { reason, .. }) => {
                prop_assert!(!exact.is_multiple_of(scale), "{raw:?} rejected: {reason}");
            }
            Err(other) => prop_assert!(false, "{raw:?}: {other}"),
        }
    }

    #[test]
    fn token_count_negatives_are_rejected(n in 1u64.., s in 0..SUFFIXES.len()) {
        let raw = format!("-{n}{}", SUFFIXES[s].0);
        let is_negative = matches!(raw.parse::<TokenCount>(), Err(UnitError::Negative { .. }));
        prop_assert!(is_negative);
    }

    #[test]
    fn token_count_display_reads_back_close(n in 1u64..1_000_000_000_000_000) {
        // Display rounds to a few significant digits; reading it back lands within 1%.
        let shown = TokenCount(n).to_string();
        let back: TokenCount = shown.parse().map_err(|e| TestCaseError::fail(format!("{shown:?}: {e}")))?;
        let error = (back.get() as f64 - n as f64).abs() / n as f64;
        prop_assert!(error < 0.01, "{n} shown as {shown:?} reads back as {}", back.get());
    }

    #[test]
    fn duration_never_panics_on_any_text(raw in any::<String>()) {
        match parse_duration_ms(&raw) {
            Ok(ms) => prop_assert!(ms.is_finite() && ms > 0.0, "{raw:?} gave {ms}"),
            Err(error) => check_unit_error(&raw, &error)?,
        }
    }

    #[test]
    fn duration_near_valid_text_is_positive_and_finite(raw in near_number()) {
        match parse_duration_ms(&raw) {
            Ok(ms) => {
                prop_assert!(ms.is_finite() && ms > 0.0, "{raw:?} gave {ms}");
                prop_assert!(!raw.trim().starts_with('-'));
            }
            Err(error) => check_unit_error(&raw, &error)?,
        }
    }

    #[test]
    fn duration_units_scale(n in 1u64..(1 << 40), unit in 0usize..6) {
        let (suffix, factor) = [("ms", 1.0), ("MS", 1.0), ("s", 1e3), ("sec", 1e3), ("m", 6e4), ("min", 6e4)][unit];
        let ms = parse_duration_ms(&format!("{n}{suffix}")).unwrap();
        prop_assert_eq!(ms, n as f64 * factor);
        // No unit is an error, zero is an error, a negative is an error.
        let bare = n.to_string();
        prop_assert!(parse_duration_ms(&bare).is_err());
        let is_zero = matches!(parse_duration_ms(&format!("0{suffix}")), Err(UnitError::Zero { .. }));
        prop_assert!(is_zero);
        let is_negative = matches!(parse_duration_ms(&format!("-{n}{suffix}")), Err(UnitError::Negative { .. }));
        prop_assert!(is_negative);
    }
}

// ---------------------------------------------------------------------------------------------
// Workload files

const VALID_TOML: &str = r#"budget = "$50k"
site_power_cap_w = 5000
utilization_cap = 0.8
kwh_price = 0.2
amortization_months = 24
[max_nodes]
rtx-5090 = 8
[owned]
dual-rtx-4090 = 2

[[workload]]
name = "coding-agents"
demand = "1.2B"
input_share = 0.85
prompt_tokens = 8192
ttft = "3s"
min_decode = 15
local_only = false
min_quant = "Q4_K_M"
profile = "business-hours"
deferrable_share = 0.3
defer_window = "22-6"

[[workload]]
name = "batch"
demand = 500000000
profile = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
critical = true
"#;

const VALID_JSON: &str = r#"{"budget": 50000, "max_nodes": {"rtx-5090": 8},
 "workloads": [
  {"name": "chat", "demand": "1.5B", "ttft": "2s", "profile": "8h-day"},
  {"name": "batch", "demand": 20000000, "deferrable_share": 0.5, "defer_window": "22-6"}
 ]}"#;

/// A workload-file error must be one line and name a field, the file or a line.
fn check_file_error(error: &PlanError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(!message.contains('\n'), "multi-line error {message:?}");
    match error {
        PlanError::InvalidRequest { field, reason } => {
            prop_assert!(!field.is_empty());
            prop_assert!(!reason.is_empty());
        }
        other => prop_assert!(false, "a file error that is not about input: {other}"),
    }
    Ok(())
}

/// One edit of a text: delete a range, insert a string, or duplicate a range.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, String),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragment = prop_oneof![
        Just("-".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("\"".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("\n".to_string()),
        Just("=".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("1e308".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        "[ -~]{1,6}",
        any::<String>(),
    ];
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(at, len)| Mutation::Delete(at, len)),
        (any::<usize>(), fragment).prop_map(|(at, text)| Mutation::Insert(at, text)),
        (any::<usize>(), 1usize..80).prop_map(|(at, len)| Mutation::Duplicate(at, len)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match m {
            Mutation::Delete(at, len) => {
                let start = at % n;
                let end = (start + len).min(chars.len());
                if start < end {
                    chars.drain(start..end);
                }
            }
            Mutation::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Mutation::Duplicate(at, len) => {
                let start = at % n;
                let end = (start + len).min(chars.len());
                if start < end {
                    let copy: Vec<char> = chars[start..end].to_vec();
                    chars.splice(end..end, copy);
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Parses, and validates what parses; neither may panic, and errors must be clean.
fn check_file(text: &str, format: FileFormat) -> Result<(), TestCaseError> {
    match parse_workload_file(text, format) {
        Ok(request) => {
            if let Err(error) = request.validate(catalog()) {
                check_file_error(&error)?;
            }
        }
        Err(error) => check_file_error(&error)?,
    }
    Ok(())
}

#[test]
fn the_seed_files_are_valid() {
    for (text, format) in [
        (VALID_TOML, FileFormat::Toml),
        (VALID_JSON, FileFormat::Json),
    ] {
        let request = parse_workload_file(text, format).unwrap();
        request.validate(catalog()).unwrap();
        assert_eq!(request.workloads.len(), 2);
    }
}

proptest! {
    #![proptest_config(config(1_000))]

    #[test]
    fn workload_file_never_panics_on_any_text(text in any::<String>(), json in any::<bool>()) {
        check_file(&text, if json { FileFormat::Json } else { FileFormat::Toml })?;
    }

    #[test]
    fn mutated_toml_never_panics(mutations in prop::collection::vec(mutation(), 1..6)) {
        check_file(&apply(VALID_TOML, &mutations), FileFormat::Toml)?;
    }

    #[test]
    fn mutated_json_never_panics(mutations in prop::collection::vec(mutation(), 1..6)) {
        check_file(&apply(VALID_JSON, &mutations), FileFormat::Json)?;
    }

    #[test]
    fn a_bad_value_in_a_valid_file_names_its_key(
        key in prop::sample::select(vec![
            "demand", "input_share", "prompt_tokens", "ttft", "min_decode", "min_quant",
            "profile", "deferrable_share", "defer_window", "model",
        ]),
        value in prop::sample::select(vec![
            "-1", "\"-1\"", "\"\"", "\"NaN\"", "1e999", "99999999999999999999999", "\"soon\"",
            "[]", "[-1]", "\"Q0_BOGUS\"", "1.5", "-0.5",
        ]),
    ) {
        // Replace (or add) `key` in the first workload.
        let mut lines: Vec<String> = Vec::new();
        let mut done = false;
        let mut in_first = false;
        for line in VALID_TOML.lines() {
            if line == "[[workload]]" {
                if in_first && !done {
                    lines.push(format!("{key} = {value}"));
                    done = true;
                }
                in_first = !done;
            }
            if in_first && line.split('=').next().map(str::trim) == Some(key) {
                lines.push(format!("{key} = {value}"));
                done = true;
                continue;
            }
            lines.push(line.to_string());
        }
        let text = lines.join("\n");
        let result = parse_workload_file(&text, FileFormat::Toml)
            .and_then(|request| request.validate(catalog()).map(|()| request));
        if let Err(error) = result {
            check_file_error(&error)?;
            let message = error.to_string();
            // The message points at the key (or the line the parser stopped at).
            let named = message.contains(key)
                || message.contains("line")
                || (key == "demand" && message.contains("monthly_tokens"))
                || (key == "ttft" && message.contains("ttft"))
                || (key == "min_decode" && message.contains("min_decode"));
            prop_assert!(named, "{key} = {value}: {message:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary requests through validate and propose

fn hostile_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(-1.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        0.0..1.0f64,
        0.0..1e6f64,
        any::<f64>(),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("chat".to_string()),
        Just("batch".to_string()),
        "[a-z]{1,8}",
    ]
}

fn sku() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("rtx-5090".to_string()),
        Just("dual-rtx-4090".to_string()),
        Just("mac-studio-m3-ultra".to_string()),
        Just("quantum-abacus".to_string()),
        Just(String::new()),
    ]
}

fn profile() -> impl Strategy<Value = DemandProfile> {
    prop_oneof![
        Just(DemandProfile::Flat),
        Just(DemandProfile::parse("business-hours").unwrap()),
        Just(DemandProfile::parse("8h-day").unwrap()),
        prop::collection::vec(hostile_f64(), 0..30).prop_map(DemandProfile::Weights),
        prop::collection::vec(0.0..10.0f64, 24).prop_map(DemandProfile::Weights),
        prop::collection::vec(0.0..10.0f64, 168).prop_map(DemandProfile::Weights),
    ]
}

prop_compose! {
    fn workload()(
        name in name(),
        tokens in prop_oneof![Just(0u64), 1u64..10_000_000_000, any::<u64>()],
        input_share in hostile_f64(),
        prompt_tokens in prop_oneof![Just(0u32), 1u32..100_000, any::<u32>()],
        ttft in prop::option::of(hostile_f64()),
        min_decode in hostile_f64(),
        local_only in any::<bool>(),
        min_quant in prop::sample::select(vec!["Q4_K_M", "Q8_0", "FP16", "Q2_K", "", "Q1_BOGUS"]),
        profile in profile(),
        deferrable_share in hostile_f64(),
        window in prop::option::of((0u32..30, 0u32..30)),
        critical in any::<bool>(),
        model in prop::option::of(prop::sample::select(vec!["deepseek-v4-pro", "", "gpt-17"])),
    ) -> Workload {
        let mut w = Workload::new(name, TokenCount(tokens));
        w.input_share = input_share;
        w.prompt_tokens = prompt_tokens;
        w.ttft_p95_ms = ttft;
        w.min_decode_tok_s = min_decode;
        w.local_only = local_only;
        w.min_quant = min_quant.to_string();
        w.profile = profile;
        w.deferrable_share = deferrable_share;
        w.defer_window = window.map(|(start_hour, end_hour)| HourWindow { start_hour, end_hour });
        w.critical = critical;
        w.model = model.map(str::to_string);
        w
    }
}

prop_compose! {
    fn request()(
        workloads in prop::collection::vec(workload(), 0..4),
        budget in prop::option::of(hostile_f64()),
        max_nodes in prop::collection::btree_map(sku(), 0u32..20, 0..3),
        owned in prop::collection::btree_map(sku(), 0u32..4, 0..2),
        site_power_cap in prop::option::of(hostile_f64()),
        utilization_cap in prop::option::of(hostile_f64()),
        kwh in prop::option::of(hostile_f64()),
        months in prop::option::of(hostile_f64()),
    ) -> PlanRequest {
        PlanRequest {
            workloads,
            constraints: FleetConstraints {
                budget_usd: budget,
                max_nodes_per_sku: max_nodes.into_iter().collect::<BTreeMap<_, _>>(),
                owned_nodes_per_sku: owned.into_iter().collect(),
                site_power_cap_w: site_power_cap,
            },
            overrides: CostOverrides {
                utilization_cap,
                electricity_usd_per_kwh: kwh,
                amortization_months: months,
            }, trust_published: false,
        }
    }
}

/// `Ok` or a clean error: a field path for bad input, a reason for infeasibility.
fn check_plan_error(error: &PlanError) -> Result<(), TestCaseError> {
    let message = error.to_string();
    prop_assert!(!message.contains('\n'), "multi-line error {message:?}");
    match error {
        PlanError::InvalidRequest { field, .. } => prop_assert!(!field.is_empty()),
        PlanError::Infeasible { reason } => prop_assert!(!reason.is_empty()),
        other => prop_assert!(false, "unexpected error for a request: {other}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn validate_never_panics(request in request()) {
        if let Err(error) = request.validate(catalog()) {
            check_plan_error(&error)?;
        }
    }
}

proptest! {
    // Solving is the slow part: fewer cases, and a time limit on each solve.
    #![proptest_config(config_fixed(48))]

    #[test]
    fn propose_never_panics(request in request()) {
        let settings = SolveSettings { time_limit_s: Some(2.0), ..SolveSettings::default() };
        let valid = request.validate(catalog()).is_ok();
        match propose_with(catalog(), throughput(), &request, settings) {
            Ok(plan) => {
                prop_assert!(valid, "propose accepted a request validate rejects");
                prop_assert!(plan.cost.total_usd.is_finite() && plan.cost.total_usd >= 0.0);
            }
            Err(error) => check_plan_error(&error)?,
        }
    }
}

prop_compose! {
    /// A workload a person could plausibly ask for: every field in range.
    fn plausible_workload()(
        tokens in 1_000_000u64..20_000_000_000,
        input_share in 0.0..=1.0f64,
        prompt_tokens in 1u32..32_768,
        ttft in prop::option::of(50.0..20_000.0f64),
        min_decode in 0.0..60.0f64,
        local_only in any::<bool>(),
        min_quant in prop::sample::select(vec!["Q4_K_M", "Q5_K_M", "Q8_0", "Q2_K"]),
        profile in prop::sample::select(vec!["flat", "business-hours", "8h-day"]),
        defer in prop::option::of((0.0..=1.0f64, 0u32..24, 0u32..24)),
        critical in any::<bool>(),
    ) -> Workload {
        let mut w = Workload::new("w", TokenCount(tokens));
        w.input_share = input_share;
        w.prompt_tokens = prompt_tokens;
        w.ttft_p95_ms = ttft;
        w.min_decode_tok_s = min_decode;
        w.local_only = local_only;
        w.min_quant = min_quant.to_string();
        w.profile = DemandProfile::parse(profile).unwrap();
        if let Some((share, start_hour, end_hour)) = defer {
            w.deferrable_share = share;
            w.defer_window = Some(HourWindow { start_hour, end_hour });
        }
        w.critical = critical;
        w
    }
}

prop_compose! {
    fn plausible_request()(
        mut workloads in prop::collection::vec(plausible_workload(), 1..4),
        budget in prop::option::of(0.0..200_000.0f64),
        max_nodes in prop::collection::btree_map(
            prop::sample::select(vec!["rtx-5090", "dual-rtx-4090", "mac-studio-m3-ultra", "rx-7900-xtx", "rtx-pro-6000"]),
            0u32..16,
            0..3,
        ),
        site_power_cap in prop::option::of(100.0..100_000.0f64),
        utilization_cap in prop::option::of(0.05..=1.0f64),
        kwh in prop::option::of(prop_oneof![0.0..=1.0f64, 0.0..=MAX_ELECTRICITY_USD_PER_KWH]),
        months in prop::option::of(prop_oneof![1.0..120.0f64, MIN_AMORTIZATION_MONTHS..=MAX_AMORTIZATION_MONTHS]),
    ) -> PlanRequest {
        for (i, w) in workloads.iter_mut().enumerate() {
            w.name = format!("w{i}");
        }
        PlanRequest {
            workloads,
            constraints: FleetConstraints {
                budget_usd: budget,
                max_nodes_per_sku: max_nodes.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                owned_nodes_per_sku: BTreeMap::new(),
                site_power_cap_w: site_power_cap,
            },
            overrides: CostOverrides {
                utilization_cap,
                electricity_usd_per_kwh: kwh,
                amortization_months: months,
            }, trust_published: false,
        }
    }
}

proptest! {
    #![proptest_config(config_fixed(48))]

    #[test]
    fn plausible_requests_validate_and_solve_or_say_why_not(request in plausible_request()) {
        request.validate(catalog()).map_err(|e| TestCaseError::fail(format!("plausible request rejected: {e}")))?;
        let settings = SolveSettings { time_limit_s: Some(2.0), ..SolveSettings::default() };
        match propose_with(catalog(), throughput(), &request, settings) {
            Ok(plan) => {
                let demand: f64 = request.workloads.iter().map(|w| w.monthly_tokens.get() as f64).sum();
                let served = plan.cost.tokens_local + plan.cost.tokens_api;
                prop_assert!(plan.cost.total_usd.is_finite() && plan.cost.total_usd >= 0.0);
                prop_assert!(
                    (served - demand).abs() <= demand * 1e-6 + 1.0,
                    "served {served} of {demand} tokens"
                );
            }
            Err(PlanError::Infeasible { reason }) => {
                prop_assert!(!reason.is_empty() && !reason.contains('\n'), "{reason:?}");
            }
            Err(other) => prop_assert!(false, "a valid request failed: {other}"),
        }
    }
}

/// An input this file's fuzzing found on which the solver (microlp) fails ("exactly integral
/// solution failed feasibility validation after slack-basis retry", INTERNAL over gRPC) instead
/// of returning a plan: one workload at MAX_MONTHLY_TOKENS (10T). Other draws at 1e13 also
/// failed with "Singular matrix". (Above the limit, e.g. 1.7e14 tokens local-only, it also failed with "integral
/// candidate became infeasible after slack-basis retry"; validation now rejects those.) Ignored until solve.rs scales its
/// model; run with `cargo test -p fleet-planner --test fuzz -- --ignored`.
#[test]
#[ignore = "solver numerics: microlp fails on some demands of 1e13 tokens and above"]
fn solver_numerics_at_large_demand() {
    let workload = |name: &str, tokens: u64, input_share: f64, prompt_tokens: u32| {
        let mut w = Workload::new(name, TokenCount(tokens));
        w.input_share = input_share;
        w.prompt_tokens = prompt_tokens;
        w
    };
    let mut w0 = workload("w0", 10_000_000_000_000, 0.052_208_739_082_379_975, 15_995);
    w0.ttft_p95_ms = Some(10_641.117_324_555_81);
    w0.min_decode_tok_s = 0.0;
    w0.min_quant = "Q2_K".into();
    w0.profile = DemandProfile::parse("business-hours").unwrap();
    w0.deferrable_share = 0.795_517_859_107_938_5;
    w0.defer_window = Some(HourWindow {
        start_hour: 7,
        end_hour: 17,
    });

    let request = PlanRequest {
        workloads: vec![w0],
        constraints: FleetConstraints::default(),
        overrides: CostOverrides::default(),
        trust_published: false,
    };
    let settings = SolveSettings {
        time_limit_s: Some(2.0),
        ..SolveSettings::default()
    };
    match propose_with(catalog(), throughput(), &request, settings) {
        Ok(_) | Err(PlanError::Infeasible { .. }) => {}
        Err(other) => panic!("{other}"),
    }
}
