//! The CLI as a user runs it: help and every output format as snapshots (numbers checked by
//! hand once, see the comments), and bad input as one line on stderr with a non-zero exit.

use std::process::Output;

use fleet_planner::units::format_usd;

mod common;
use common::{TestPlanner, cli_on};

/// Runs the CLI in-process on a fresh database of its own, so catalog versions in snapshots
/// are those of a freshly seeded catalog.
fn cli(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    cli_on(&dir, args)
}

fn stdout(args: &[&str]) -> String {
    let out = cli(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("help", stdout(&["--help"]));
    insta::assert_snapshot!("propose_help", stdout(&["propose", "--help"]));
    insta::assert_snapshot!("breakeven_help", stdout(&["breakeven", "--help"]));
    insta::assert_snapshot!("schedule_help", stdout(&["schedule", "--help"]));
    insta::assert_snapshot!("hardware_add_help", stdout(&["hardware", "add", "--help"]));
    insta::assert_snapshot!(
        "catalog_check_help",
        stdout(&["catalog", "check", "--help"])
    );
}

#[test]
fn schedule_business_hours_every_format() {
    let args = [
        "schedule",
        "--demand",
        "1.2B",
        "--profile",
        "business-hours",
        "--local-only",
        "--trust-published",
        "--redact-timings",
    ];
    let table = stdout(&[&args[..], &["--output", "table"]].concat());
    // 1.2B a month, business hours 3/40 of a day each, others 1/40, 30 days: 3M and 1M tokens
    // an hour. dual-rtx-4090 Q4_K_M: (0.75 ÷ 3,210 + 0.25 ÷ 16.8) ÷ 2 instances = 0.0075573 s
    // per token, so 3M tokens = 6.298 busy node-hours: 8 nodes at the 80% cap (6.298 ÷ 0.8 =
    // 7.87), 78.7% busy in the peak hour and 26.2% off-peak.
    for figure in ["8 nodes", "78.7%", "26.2%", "3M", "1M"] {
        assert!(table.contains(figure), "{figure} missing from\n{table}");
    }
    insta::assert_snapshot!("schedule_business_hours_table", table);
    let csv = stdout(&[&args[..], &["--output", "csv"]].concat());
    assert!(csv.starts_with("hour,workload,target,tokens,pool_utilization\n"));
    assert!(
        csv.contains("\n9,default,dual-rtx-4090 Q4_K_M,3000000,0.787"),
        "{csv}"
    );
    insta::assert_snapshot!("schedule_business_hours_csv", csv);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&[&args[..], &["--output", "json"]].concat())).unwrap();
    assert_eq!(json["hours"], 24);
    assert_eq!(json["buckets"], 2);
    assert_eq!(json["hourly"].as_array().unwrap().len(), 24);
}

#[test]
fn propose_default_demand_table() {
    // 1.5B × (0.75 × $0.0265 + 0.25 × $0.0795)/1M = $59.63, all to the API.
    let text = stdout(&["propose", "--demand", "1.5B", "--redact-timings"]);
    assert!(text.contains("$59.63/month"));
    insta::assert_snapshot!("propose_default_table", text);
}

#[test]
fn propose_local_only_every_format() {
    let args = [
        "propose",
        "--demand",
        "1.5B",
        "--local-only",
        "--trust-published",
        "--ttft",
        "2s",
        "--redact-timings",
    ];
    let table = stdout(&[&args[..], &["--output", "table"]].concat());
    // TTFT p95 ≤ 2 s includes the wait for a slot (Erlang C). dual-rtx-4090 Q4_K_M, N = 1:
    // 2 slots a node; prefill 4,096 ÷ 3,210 = 1.276 s leaves 0.724 s; a request holds its slot
    // 1.276 + 1,365.3 output tokens ÷ 16.8 = 82.55 s. P(wait > 0.724 s) = C(2, ρ) ×
    // e^(−2(1−ρ)0.724/82.55) ≤ 5% with C = 2ρ²/(1+ρ) gives ρ ≤ 17.25%. 1.5B × 0.0075573 s
    // per token = 3,148.9 busy node-hours ÷ (0.1725 × 720 h) = 25.4 nodes: 25 × dual-rtx-4090
    // ($145,000) and the rest on 1 × rtx-5090 at N = 2 ($4,500) = $149,500 capex.
    assert!(table.contains("capex $149,500.00"), "{table}");
    insta::assert_snapshot!("propose_local_only_table", table);
    insta::assert_snapshot!(
        "propose_local_only_markdown",
        stdout(&[&args[..], &["--output", "markdown"]].concat())
    );
    let json = stdout(&[&args[..], &["--output", "json"]].concat());
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["cost"]["capex_usd"], 149_500.0);
    insta::assert_snapshot!("propose_local_only_json", json);
}

/// The same request as the physics sees it. With a 2 s TTFT no configuration that holds the
/// model qualifies (exit 3, naming the fastest that does). Without it the plan buys 512 GB Macs
/// on estimated figures: Q4_K_M at N = 2, 26.85 tok/s aggregate and 169.5 prefill tok/s, so
/// 0.75 ÷ 169.5 + 0.25 ÷ 26.85 = 0.013736 s a token, 1.5B tokens = 5,723 busy node-hours ÷
/// (0.8 × 720 h) = 9.94 → 10 nodes, $94,990 capex.
#[test]
fn propose_local_only_plans_only_what_holds_the_model() {
    let out = cli(&[
        "propose",
        "--demand",
        "1.5B",
        "--local-only",
        "--ttft",
        "2s",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the fastest option (mac-studio-m3-ultra-512 Q4_K_M, estimated ±25% (roofline, unified memory)) gives 24.16 s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("configurations that hold the model: epyc-9374f-rtx-pro-6000"),
        "{stderr}"
    );
    let table = stdout(&[
        "propose",
        "--demand",
        "1.5B",
        "--local-only",
        "--redact-timings",
    ]);
    assert!(
        table.contains("10 × mac-studio-m3-ultra-512 Q4_K_M N=2"),
        "{table}"
    );
    assert!(table.contains("capex $94,990.00"), "{table}");
    assert!(
        table.contains("estimated ±25% (roofline, unified memory)"),
        "{table}"
    );
    insta::assert_snapshot!("propose_local_only_physics_table", table);
}

#[test]
fn breakeven_rtx_5090_reproduces_the_hand_arithmetic() {
    // The article's own method, corrected: its figure at face value, the SKU's full power.
    let text = stdout(&["breakeven", "--sku", "rtx-5090", "--as-published"]);
    // $4,500/36 + 510 W × 240 h + 80 W × 480 h at $0.16/kWh = $150.73; 22.4 × 3600 × 8 × 30
    // = 19.35M tokens; $150.73 / 19.3536 = $7.79 per 1M.
    for figure in ["$150.73", "19.35M", "$7.79", "$125.00", "$19.58", "$6.14"] {
        assert!(text.contains(figure), "{figure} missing from\n{text}");
    }
    insta::assert_snapshot!("breakeven_all_table", stdout(&["breakeven"]));
    insta::assert_snapshot!(
        "breakeven_markdown",
        stdout(&["breakeven", "--hours-per-day", "24", "--output", "markdown"])
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&[
        "breakeven",
        "--sku",
        "rtx-5090",
        "--as-published",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(json["rows"][0]["tokens_per_month"], 19_353_600.0);
}

#[test]
fn workload_file_with_several_workloads() {
    let dir = std::env::temp_dir().join(format!("planner-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("workloads.toml");
    std::fs::write(
        &path,
        r#"
[[workload]]
name = "coding"
demand = "1.2B"
input_share = 0.9

[[workload]]
name = "legal"
demand = "300M"
local_only = true
ttft = "60s"
"#,
    )
    .unwrap();
    let json = stdout(&["propose", "--file", path.to_str().unwrap(), "-o", "json"]);
    let plan: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(plan["workloads"].as_array().unwrap().len(), 2);
    assert_eq!(plan["routes"][1]["api_tokens"], 0.0);
    assert!(plan["routes"][0]["api_tokens"].as_f64().unwrap() > 1.19e9);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_exits_non_zero_with_one_clear_line() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["propose", "--demand", "-1"],
            2,
            "token count '-1' is negative",
        ),
        (&["propose", "--demand", "1.5Q"], 2, "unknown suffix 'Q'"),
        (&["propose", "--demand", ""], 2, "empty token count"),
        (
            &["propose", "--demand", "NaN"],
            2,
            "invalid token count 'NaN'",
        ),
        (&["propose", "--demand", "99999999T"], 2, "too large"),
        (
            &["propose", "--demand", "1.5B", "--ttft", "0"],
            2,
            "duration '0' must be greater than zero",
        ),
        (
            &["propose", "--demand", "1.5B", "--ttft", "2"],
            2,
            "missing unit",
        ),
        (
            &["propose", "--demand", "1.5B", "--input-share", "1.5"],
            2,
            "'1.5' must be between 0 and 1",
        ),
        (
            &["propose", "--demand", "1.5B", "--input-share", "nan"],
            2,
            "not a finite number",
        ),
        (
            &["propose", "--demand", "1.5B", "--min-decode", "-3"],
            2,
            "must be zero or more",
        ),
        (
            &["propose", "--demand", "1.5B", "--prompt-tokens", "0"],
            2,
            "must be greater than zero",
        ),
        (
            &["propose", "--demand", "1.5B", "--min-quant", "Q9"],
            2,
            "unknown quantization 'Q9'",
        ),
        (
            &["propose", "--demand", "1.5B", "--max-nodes", "h100=2"],
            2,
            "unknown hardware SKU 'h100'",
        ),
        (
            &["propose", "--demand", "1.5B", "--max-nodes", "rtx-5090"],
            2,
            "is not SKU=N",
        ),
        (
            &["propose", "--demand", "1.5B", "--budget", "-5"],
            2,
            "negative",
        ),
        (
            &["propose", "--demand", "1.5B", "--utilization-cap", "0"],
            2,
            "must be greater than zero",
        ),
        (
            &["propose", "--demand", "1.5B", "--output", "yaml"],
            2,
            "invalid value 'yaml'",
        ),
        (&["propose"], 2, "--demand"),
        (
            &["propose", "--file", "/nonexistent/w.toml"],
            2,
            "cannot read workload file",
        ),
        (&["breakeven", "--hours-per-day", "25"], 2, "at most 24"),
        (
            &["breakeven", "--sku", "gtx-480"],
            2,
            "unknown hardware SKU",
        ),
        (
            &[
                "propose",
                "--demand",
                "1M",
                "--local-only",
                "--ttft",
                "100ms",
            ],
            3,
            "the fastest option (mac-studio-m3-ultra-512 Q4_K_M, estimated ±25% (roofline, unified memory)) gives 24.16 s",
        ),
    ];
    for (args, code, needle) in cases {
        let out = cli(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn plans_are_listed_shown_rerun_and_diffed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = cli_on(&dir, args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let api_plan: serde_json::Value =
        serde_json::from_str(&run(&["propose", "--demand", "1.5B", "-o", "json"])).unwrap();
    let local_plan: serde_json::Value = serde_json::from_str(&run(&[
        "propose",
        "--demand",
        "1.5B",
        "--local-only",
        "--trust-published",
        "--ttft",
        "2s",
        "-o",
        "json",
    ]))
    .unwrap();
    let a = api_plan["id"].as_str().unwrap().to_string();
    let b = local_plan["id"].as_str().unwrap().to_string();

    let list = run(&["plans", "list"]);
    let (first, second) = (list.find(&b).unwrap(), list.find(&a).unwrap());
    assert!(first < second, "newest first:\n{list}");

    // `plans show` prints what `propose` printed.
    let shown: serde_json::Value =
        serde_json::from_str(&run(&["plans", "show", &a, "-o", "json"])).unwrap();
    assert_eq!(shown, api_plan);

    // The diff names the added pools and the cost change: $59.63 → $1,327.65.
    let diff = run(&["plans", "diff", &a, &b]);
    // Every pool of B is added; the total's delta is that of the exact totals, not of the
    // rounded ones.
    let lines: Vec<&str> = diff.lines().map(str::trim).collect();
    let has = |needle: &[&str]| {
        lines
            .iter()
            .any(|line| needle.iter().all(|part| line.contains(part)))
    };
    let pools = local_plan["pools"].as_array().unwrap();
    assert!(!pools.is_empty());
    for pool in pools {
        let label = format!(
            "pool {} {}",
            pool["sku"].as_str().unwrap(),
            pool["quant"].as_str().unwrap()
        );
        let nodes = format!("0 → {}", pool["nodes"].as_u64().unwrap());
        assert!(has(&["+", &label, &nodes]), "{label} {nodes} in\n{diff}");
    }
    let (total_a, total_b) = (
        api_plan["cost"]["total_usd"].as_f64().unwrap(),
        local_plan["cost"]["total_usd"].as_f64().unwrap(),
    );
    assert!((total_a - 59.625).abs() < 1e-9);
    let expected = format!(
        "{} → {} (+{})",
        format_usd(total_a),
        format_usd(total_b),
        format_usd(total_b - total_a)
    );
    assert!(
        has(&["~", "monthly total", &expected]),
        "{expected} in\n{diff}"
    );
    let same = run(&["plans", "diff", &a, &a]);
    assert!(same.contains("No changes"), "{same}");

    // Re-running against an edited catalog: a cheaper RTX 5090 lowers the local plan's cost.
    run(&[
        "hardware",
        "add",
        "--id",
        "rtx-5090",
        "--name",
        "RTX 5090 (discounted)",
        "--accelerators",
        "1",
        "--memory-gb",
        "32",
        "--price",
        "3.5k",
        "--power-full-w",
        "510",
        "--power-idle-w",
        "80",
    ]);
    let rerun: serde_json::Value =
        serde_json::from_str(&run(&["plans", "rerun", &b, "-o", "json"])).unwrap();
    assert_ne!(rerun["id"], local_plan["id"]);
    assert!(
        rerun["cost"]["total_usd"].as_f64().unwrap()
            < local_plan["cost"]["total_usd"].as_f64().unwrap()
    );
    let hardware = run(&["hardware", "list"]);
    assert!(hardware.contains("RTX 5090 (discounted)"), "{hardware}");
    assert!(hardware.contains("$3,500.00"), "{hardware}");

    run(&["hardware", "remove", "rx-7900-xtx"]);
    assert!(!run(&["hardware", "list"]).contains("rx-7900-xtx"));
    let again = cli_on(&dir, &["hardware", "remove", "rx-7900-xtx"]);
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert_eq!(stderr.trim(), "hardware sku \"rx-7900-xtx\" not found");

    let missing = cli_on(&dir, &["plans", "show", "no-such-plan"]);
    assert_eq!(missing.status.code(), Some(2));

    let throughput = run(&["throughput"]);
    assert!(throughput.contains("estimated ±25%"), "{throughput}");
}

fn tls_fixture(name: &str) -> String {
    format!(
        "{}/../planner/tests/fixtures/tls/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn endpoint_prints_the_same_plan_as_the_embedded_run() {
    let planner = TestPlanner::start(None);
    let endpoint = format!("http://{}", planner.address);
    for args in [
        &["propose", "--demand", "1.5B", "--redact-timings"][..],
        &[
            "propose",
            "--demand",
            "1.5B",
            "--local-only",
            "--trust-published",
            "--ttft",
            "2s",
            "--redact-timings",
            "-o",
            "markdown",
        ][..],
    ] {
        let embedded = stdout(args);
        let mut remote_args = vec!["--endpoint", endpoint.as_str()];
        remote_args.extend_from_slice(args);
        let remote = stdout(&remote_args);
        assert_eq!(remote, embedded, "{args:?}");
    }
    let unreachable = cli(&[
        "--endpoint",
        "http://127.0.0.1:9",
        "propose",
        "--demand",
        "1.5B",
    ]);
    assert_eq!(unreachable.status.code(), Some(1));
    let stderr = String::from_utf8(unreachable.stderr).unwrap();
    assert!(
        stderr.starts_with("cannot reach the planner at http://127.0.0.1:9"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    planner.stop();
}

#[test]
fn https_endpoint_with_the_ca_file_prints_the_same_plan_as_the_embedded_run() {
    let identity = fleet_planner::tls::ServerIdentity::load(
        tls_fixture("server.pem").as_ref(),
        tls_fixture("server.key").as_ref(),
    )
    .unwrap();
    let planner = TestPlanner::start(Some(identity));
    let port = planner.address.port();
    let ca = tls_fixture("ca.pem");
    let args = ["propose", "--demand", "1.5B", "--redact-timings"];
    let embedded = stdout(&args);
    let by_name = format!("https://localhost:{port}");
    let by_ip = format!("https://127.0.0.1:{port}");
    for tls in [
        vec!["--endpoint", by_name.as_str(), "--tls-ca-file", ca.as_str()],
        // The name the certificate is checked for, when the address is not in it.
        vec![
            "--endpoint",
            by_ip.as_str(),
            "--tls-ca-file",
            ca.as_str(),
            "--tls-domain",
            "localhost",
        ],
    ] {
        let remote = stdout(&[&tls[..], &args[..]].concat());
        assert_eq!(remote, embedded, "{tls:?}");
    }

    let one_line_failure = |args: &[&str], code: i32| -> String {
        let out = cli(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        stderr
    };
    // No system roots are built in: https without a CA file is bad input, named.
    let stderr = one_line_failure(
        &[
            "--endpoint",
            by_name.as_str(),
            "propose",
            "--demand",
            "1.5B",
        ],
        2,
    );
    assert!(stderr.contains("pass --tls-ca-file"), "{stderr}");
    // A CA that did not sign the planner's certificate: the handshake fails.
    let other_ca = tls_fixture("other-ca.pem");
    let stderr = one_line_failure(
        &[
            "--endpoint",
            by_name.as_str(),
            "--tls-ca-file",
            other_ca.as_str(),
            "propose",
            "--demand",
            "1.5B",
        ],
        1,
    );
    assert!(
        stderr.starts_with(&format!("cannot reach the planner at {by_name}"))
            && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    // Plaintext to the TLS port fails too, and a CA file with a plaintext endpoint is refused
    // rather than silently unused.
    let plain = format!("http://localhost:{port}");
    let out = cli(&["--endpoint", plain.as_str(), "propose", "--demand", "1.5B"]);
    assert!(!out.status.success());
    let stderr = one_line_failure(
        &[
            "--endpoint",
            plain.as_str(),
            "--tls-ca-file",
            ca.as_str(),
            "propose",
            "--demand",
            "1.5B",
        ],
        2,
    );
    assert!(
        stderr.contains("--tls-ca-file needs an https://"),
        "{stderr}"
    );
    planner.stop();
}

/// The rows of the first table in a text report: the lines after its rule (indented, unlike a
/// heading's underline), up to a blank line.
fn table_rows(text: &str) -> Vec<&str> {
    text.lines()
        .skip_while(|line| !line.starts_with("  ─"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .collect()
}

#[test]
fn catalog_check_lists_every_seed_benchmark_with_ceiling_and_verdict() {
    let seed = fleet_planner::Catalog::embedded_default();
    assert!(seed.benchmarks.len() >= 9, "the seed's nine rows");
    let words = ["plausible", "implausible", "impossible"];

    let table = stdout(&["catalog", "check"]);
    let rows = table_rows(&table);
    assert_eq!(rows.len(), seed.benchmarks.len(), "{table}");
    for (line, benchmark) in rows.iter().zip(&seed.benchmarks) {
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cells[0], benchmark.sku, "{line}");
        assert_eq!(cells[1], benchmark.quant, "{line}");
        // ceiling "decode / prefill": two numbers.
        let ceiling = cells[6];
        let (decode, prefill) = ceiling.split_once(" / ").expect(line);
        assert!(decode.parse::<f64>().unwrap() > 0.0, "{line}");
        assert!(prefill.parse::<f64>().is_ok(), "{line}");
        assert!(words.contains(cells.last().unwrap()), "{line}");
    }
    // The figures are physics::check_catalog's (its tests pin ceilings by hand); the snapshot
    // pins the report's layout and will move with the catalog and the physics.
    insta::assert_snapshot!("catalog_check_table", table);

    let json: serde_json::Value =
        serde_json::from_str(&stdout(&["catalog", "check", "-o", "json"])).unwrap();
    let benchmarks = json["benchmarks"].as_array().unwrap();
    assert_eq!(benchmarks.len(), seed.benchmarks.len());
    let mut not_plausible = 0;
    for (row, benchmark) in benchmarks.iter().zip(&seed.benchmarks) {
        assert_eq!(row["sku"], benchmark.sku.as_str());
        assert_eq!(row["quant"], benchmark.quant.as_str());
        assert_eq!(row["claimed"]["decode_tok_s"], benchmark.decode_tok_s);
        assert!(
            row["ceiling"]["decode_tok_s"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert!(row["estimate"]["decode_tok_s"].as_f64().is_some(), "{row}");
        let verdict = row["verdict"].as_str().unwrap();
        assert!(words.contains(&verdict), "{row}");
        assert!(
            row["verdict_text"].as_str().unwrap().starts_with(verdict),
            "{row}"
        );
        not_plausible += usize::from(verdict != "plausible");
    }
    assert_eq!(json["not_plausible"], not_plausible);

    let markdown = stdout(&["catalog", "check", "-o", "markdown"]);
    assert!(markdown.starts_with("# Catalog check"), "{markdown}");

    // A report exits 0; --strict prints the same report, then fails when a row is not plausible.
    let strict = cli(&["catalog", "check", "--strict"]);
    assert_eq!(String::from_utf8(strict.stdout).unwrap(), table);
    let stderr = String::from_utf8(strict.stderr).unwrap();
    if not_plausible > 0 {
        assert_eq!(strict.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!(
                "{not_plausible} of {} benchmarks are not plausible",
                seed.benchmarks.len()
            )
        );
    } else {
        assert_eq!(strict.status.code(), Some(0), "{stderr}");
        assert!(stderr.is_empty(), "{stderr}");
    }
}

#[test]
fn catalog_check_through_an_endpoint_matches_the_embedded_run() {
    let planner = TestPlanner::start(None);
    let endpoint = format!("http://{}", planner.address);
    for output in ["table", "json", "markdown"] {
        let args = ["catalog", "check", "-o", output];
        let embedded = stdout(&args);
        let remote = stdout(&[&["--endpoint", endpoint.as_str()][..], &args[..]].concat());
        assert_eq!(remote, embedded, "{output}");
    }
    planner.stop();
}

#[test]
fn hardware_add_takes_specs_and_names_the_ones_left_assumed() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = cli_on(&dir, args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let base = [
        "hardware",
        "add",
        "--id",
        "w7900",
        "--accelerators",
        "1",
        "--memory-gb",
        "48",
        "--price",
        "4k",
        "--power-full-w",
        "295",
        "--power-idle-w",
        "40",
        "--backend",
        "rocm",
    ];
    let saved = run(&[
        &base[..],
        &[
            "--memory-bandwidth-gb-s",
            "864",
            "--host-ram-gb",
            "128",
            "--disk-read-gb-s",
            "12.4",
        ],
    ]
    .concat());
    assert!(
        saved.starts_with("hardware w7900 saved (catalog version "),
        "{saved}"
    );
    assert!(
        saved.contains("roofline estimate from its specs"),
        "{saved}"
    );
    assert!(!saved.contains("add benchmarks"), "{saved}");
    // Not given: compute, host RAM bandwidth and host link, each with its default and flag.
    for assumed in [
        "compute 60 TFLOPS (--compute-tflops)",
        "host RAM bandwidth 89.6 GB/s (--host-ram-bandwidth-gb-s)",
        "host link 32 GB/s (--host-link-gb-s)",
    ] {
        assert!(saved.contains(assumed), "{assumed} in\n{saved}");
    }
    assert!(!saved.contains("--memory-bandwidth-gb-s"), "{saved}");

    let listed: serde_json::Value =
        serde_json::from_str(&run(&["hardware", "list", "-o", "json"])).unwrap();
    let sku = listed["hardware"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == "w7900")
        .unwrap();
    assert_eq!(sku["memory_bandwidth_gb_s"], 864.0);
    assert_eq!(sku["host_ram_gb"], 128.0);
    assert_eq!(sku["disk_read_gb_s"], 12.4);
    assert!(sku.get("compute_tflops").is_none(), "{sku}");
    assert_eq!(
        sku["assumed_spec_fields"],
        serde_json::json!([
            "compute_tflops",
            "host_ram_bandwidth_gb_s",
            "host_link_gb_s"
        ])
    );
    let table = run(&["hardware", "list"]);
    let line = table.lines().find(|l| l.contains("w7900")).unwrap();
    assert!(
        line.contains("864") && line.contains("60 (assumed)") && line.contains("128"),
        "{line}"
    );

    // Every spec given: nothing assumed.
    let saved = run(&[
        &base[..],
        &[
            "--memory-bandwidth-gb-s=864",
            "--compute-tflops=61.3",
            "--host-ram-gb=0",
            "--host-ram-bandwidth-gb-s=83.2",
            "--host-link-gb-s=32",
            "--disk-read-gb-s=7",
        ],
    ]
    .concat());
    assert!(saved.contains("none assumed"), "{saved}");
}

#[test]
fn trust_published_reaches_the_stored_request_from_the_flag_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trusting.toml");
    std::fs::write(
        &file,
        "trust_published = true\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
    )
    .unwrap();
    let file = file.display().to_string();
    let cases: [(&[&str], bool); 4] = [
        (&["propose", "--demand", "1B"], false),
        (&["propose", "--demand", "1B", "--trust-published"], true),
        (&["propose", "--file", &file], true),
        (&["schedule", "--demand", "1B", "--trust-published"], true),
    ];
    let mut ids = Vec::new();
    for (args, _) in &cases {
        let out = cli_on(&dir, &[args, &["-o", "json"][..]].concat());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if args[0] == "propose" {
            let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            ids.push(Some(plan["id"].as_str().unwrap().to_string()));
        } else {
            ids.push(None);
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}", dir.path().join("cli.db").display());
        let planner = fleet_planner::service::Planner::open(
            fleet_store::Store::connect(&url).await.unwrap(),
            fleet_planner::service::PlannerSettings::default(),
            fleet_planner::metrics::Metrics::new(),
        )
        .await
        .unwrap();
        let mut stored = Vec::new();
        for id in ids.iter().flatten() {
            stored.push(planner.plan_request(id).await.unwrap().trust_published);
        }
        // The schedule's plan is the newest one stored.
        let newest = planner.list_plans(1, "").await.unwrap().plans[0].id.clone();
        stored.push(planner.plan_request(&newest).await.unwrap().trust_published);
        let expected: Vec<bool> = cases.iter().map(|(_, trust)| *trust).collect();
        assert_eq!(stored, expected);
    });
}

/// `planner-cli accuracy` on a database with measured points: five windows on the 512 GB Mac at
/// 70% of the roofline estimate. The estimate was +42.9% too fast (1 ÷ 0.7 − 1), outside its
/// ±25% band; the SKU's MAPE is the same 42.9%; the Mac's other quantizations are re-fit by
/// 0.700, and the next plan says which configuration was off.
#[test]
fn accuracy_shows_assumed_against_measured_per_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = cli_on(&dir, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mac_point = |quant: &str| -> serde_json::Value {
        let model: serde_json::Value = serde_json::from_str(&run(&[
            "throughput",
            "--sku",
            "mac-studio-m3-ultra-512",
            "-o",
            "json",
        ]))
        .unwrap();
        model["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["quant"] == quant && p["concurrency"] == 1)
            .unwrap()
            .clone()
    };
    let prior = mac_point("Q4_K_M");
    let aggregate = prior["aggregate_decode_tok_s"].as_f64().unwrap() * 0.7;
    let prefill = prior["prefill_tok_s"].as_f64().unwrap() * 0.7;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let url = format!("sqlite:{}", dir.path().join("cli.db").display());
        let store = fleet_store::Store::connect(&url).await.unwrap();
        store
            .register_node("mac-1", "mac-studio-m3-ultra-512", "{}", now_ms)
            .await
            .unwrap();
        let rows: Vec<fleet_store::ObservationRow> = (0..5u64)
            .map(|i| {
                let end = now_ms - 60_000 * (5 - i as i64);
                fleet_store::ObservationRow {
                    node_id: "mac-1".into(),
                    seq: i + 1,
                    sku: "mac-studio-m3-ultra-512".into(),
                    model: "deepseek-v4-pro".into(),
                    quant: "Q4_K_M".into(),
                    concurrency: 1,
                    worker_url: "http://127.0.0.1:8080".into(),
                    window_start_unix_ms: end - 30_000,
                    window_end_unix_ms: end,
                    prompt_tokens: 3_000,
                    predicted_tokens: 1_000,
                    prompt_seconds: 3_000.0 / prefill,
                    predicted_seconds: 1_000.0 / aggregate,
                    prefill_tok_s: prefill,
                    decode_tok_s: aggregate,
                    aggregate_decode_tok_s: aggregate,
                    mean_concurrency: 1.0,
                    queue_depth: 0.0,
                    cache_hit_rate: 0.0,
                    power_w: None,
                    kind: "passive".into(),
                    received_at_unix_ms: end,
                }
            })
            .collect();
        assert_eq!(store.insert_observations(&rows).await.unwrap(), 5);
        store.close().await;
    });
    let table = run(&["accuracy"]);
    println!("{table}");
    let row = table
        .lines()
        .find(|l| l.contains("mac-studio-m3-ultra-512") && l.contains("Q4_K_M"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("+42.9% / +42.9% / +42.9% !"), "{row}");
    assert!(row.contains("±25%"), "{row}");
    assert!(row.contains("estimated ±25%"), "{row}");
    let per_sku = table
        .lines()
        .rev()
        .find(|l| l.contains("mac-studio-m3-ultra-512"))
        .unwrap();
    assert!(
        per_sku.contains("42.9%") && per_sku.contains("0.700"),
        "{per_sku}"
    );

    let json: serde_json::Value = serde_json::from_str(&run(&["accuracy", "-o", "json"])).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["windows"], 5);
    assert!(
        (rows[0]["aggregate_error_pct"].as_f64().unwrap() - (1.0 / 0.7 - 1.0) * 100.0).abs() < 1e-6
    );
    assert_eq!(rows[0]["outside_band"], true);

    let q5 = mac_point("Q5_K_M");
    assert!(
        q5["provenance"]
            .as_str()
            .unwrap()
            .contains("re-fit to 1 measured configuration on mac-studio-m3-ultra-512"),
        "{q5}"
    );

    let plan = run(&["propose", "--demand", "1.5B", "--local-only", "-o", "json"]);
    assert!(
        plan.contains(
            "estimates off by more than their band against measurements: mac-studio-m3-ultra-512 deepseek-v4-pro Q4_K_M N=1"
        ),
        "{plan}"
    );
}
