//! `sweep`, `report` and the reviewer's small things (`schedule` naming its plan, `plans list`
//! summaries, `plans diff` inputs, the catalog's version label) as a user runs them. Numbers
//! are checked by hand in the comments; every output format is exercised.

mod common;
use common::{TestPlanner, cli_on};

fn ok_on(dir: &tempfile::TempDir, args: &[&str]) -> String {
    let out = cli_on(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs on a fresh database of its own.
fn ok(args: &[&str]) -> String {
    ok_on(&tempfile::tempdir().unwrap(), args)
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("sweep_help", ok(&["sweep", "--help"]));
    insta::assert_snapshot!("report_help", ok(&["report", "--help"]));
}

#[test]
fn demand_sweep_at_the_reference_prices_finds_no_tier_that_beats_the_api() {
    let text = ok(&[
        "sweep",
        "--demand",
        "10M..20B",
        "--steps",
        "5",
        "--redact-timings",
    ]);
    // All-API at 10M: 10 × (0.75 × $0.0265 + 0.25 × $0.0795) = 10 × $0.03975 = $0.3975.
    assert!(text.contains("$0.3975"), "{text}");
    // One 512 GB Mac (Q4_K_M, N = 2, estimated: 0.75 ÷ 169.5 + 0.25 ÷ 26.85 = 0.013736 s a
    // token) at 10M: $9,499 ÷ 36 = $263.86 + idle 15 W × 720 h × $0.16/kWh = $1.73 + busy
    // 10M × 0.013736 s = 38.16 h × 275 W × $0.16/kWh = $1.68: $267.27.
    assert!(text.contains("$267.27"), "{text}");
    // At 20B: 76,311 busy hours ÷ (0.8 × 720 h) = 133 Macs: 133 × $265.59 + 76,311 h × 275 W
    // × $0.16/kWh = $38,681; the API $795: 48.66× — the Mac's best ratio in the range.
    assert!(text.contains("at best 48.66× the API's cost"), "{text}");
    assert!(text.contains("Nowhere in the range: all to the API throughout."));
    insta::assert_snapshot!("sweep_demand_table", text);
}

#[test]
fn price_sweep_finds_where_the_mac_beats_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let price_sweep = |format: &str| {
        let args = [
            "sweep",
            "--demand",
            "1.5B",
            "--api-price-scale",
            "1..1000",
            "--steps",
            "7",
            "-o",
            format,
        ];
        ok_on(&dir, &args)
    };
    let json = price_sweep("json");
    let sweep: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(sweep["axis"], "api_price_scale");
    assert_eq!(sweep["points"].as_array().unwrap().len(), 7);
    // 1.5B on 512 GB Macs costs $2,907.72 a month (10 nodes, tests/cli.rs); the API $59.625 at
    // ×1. The Mac alone beats the API from 2,907.72 ÷ 59.625 = ×48.767.
    let mac = sweep["versus_api"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == "mac-studio-m3-ultra-512")
        .unwrap();
    assert_eq!(mac["outcome"]["outcome"], "first_beats_api", "{mac}");
    let at = mac["outcome"]["crossing"]["at"].as_f64().unwrap();
    let expected = 2_907.72 / 59.625;
    assert!(
        (at - expected).abs() <= expected * 0.001,
        "{at} vs {expected}"
    );

    let csv = price_sweep("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("demand_tokens,api_price_scale,strategy,monthly_usd,capex_usd,fleet,reason")
    );
    // 7 points × (optimum, all-API and the two SKUs that hold the model); figures unrounded.
    assert_eq!(lines.clone().count(), 7 * 4, "{csv}");
    assert!(
        lines.any(|l| l == "1500000000,1,all-api,59.625,0,no local nodes,"),
        "{csv}"
    );
}

#[test]
fn svg_output_is_a_chart_with_data() {
    let svg = ok(&[
        "sweep",
        "--demand",
        "10M..20B",
        "--steps",
        "6",
        "--api-price-scale",
        "100",
        "-o",
        "svg",
    ]);
    assert!(svg.starts_with("<svg "), "{}", &svg[..80]);
    assert!(svg.contains("<title>Cost per month against monthly demand, API prices ×100</title>"));
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "no lines"
    );
    assert!(svg.contains("monthly demand, tokens (log scale)"));
    assert!(svg.contains("cost, USD per month (log scale)"));
    // At ×100 the 512 GB Mac beats the API somewhere in the range: its dot is drawn.
    assert!(svg.contains("<circle"), "no break-even marker");
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn bad_sweep_input_exits_2_with_one_line_naming_the_flag() {
    for (args, words) in [
        (&["sweep", "--demand", "20B..10M"][..], "--demand"),
        (&["sweep", "--demand", "10M..x"][..], "--demand"),
        (
            &["sweep", "--demand", "10M..20B", "--steps", "1"][..],
            "--steps",
        ),
        (
            &["sweep", "--demand", "10M..20B", "--steps", "201"][..],
            "--steps",
        ),
        (
            &["sweep", "--demand", "10M..20B", "--api-price-scale", "0..2"][..],
            "--api-price-scale",
        ),
        (
            &[
                "sweep",
                "--demand",
                "10M..20B",
                "--api-price-scale",
                "1..nan",
            ][..],
            "--api-price-scale",
        ),
        (&["sweep", "--demand", "1.5B"][..], "--demand"),
        (&["sweep", "--steps", "5"][..], "--demand"),
    ] {
        let out = cli_on(&tempfile::tempdir().unwrap(), args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(words), "{args:?}: {stderr}");
    }
}

/// Two plans on one database: the second changes the demand, adds owned nodes and a budget.
fn two_plans(dir: &tempfile::TempDir) -> (String, String) {
    let id = |text: &str| {
        text.lines()
            .next()
            .and_then(|l| l.strip_prefix("Plan "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no plan id in {text}"))
            .to_string()
    };
    let first = ok_on(
        dir,
        &[
            "schedule",
            "--demand",
            "1.2B",
            "--local-only",
            "--profile",
            "business-hours",
        ],
    );
    let second = ok_on(
        dir,
        &[
            "schedule",
            "--demand",
            "1.5B",
            "--local-only",
            "--profile",
            "business-hours",
            "--owned",
            "mac-studio-m3-ultra-512=2",
            "--budget",
            "200k",
        ],
    );
    (id(&first), id(&second))
}

#[test]
fn plans_name_themselves_and_diffs_show_inputs_and_n() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_plans(&dir);
    // `schedule` printed the ids it stored; `plans show` reads them back.
    assert!(ok_on(&dir, &["plans", "show", &a]).contains("1.2B tokens/month"));

    // The catalog a fresh database was seeded with names itself: the embedded catalog's
    // version and the store's revision (7 SKUs + 9 benchmarks + 1 API offer + the seed record).
    let list = ok_on(&dir, &["plans", "list"]);
    assert!(list.contains("seed-2026-12 (rev 1)"), "{list}");
    // Local-only on 512 GB Macs at N = 2, 0.013736 s a token. Business hours carry 3/40 of a
    // day each: 1.5B ÷ 30 days × 3/40 = 3.75M tokens × 0.013736 s = 14.31 node-hours in the
    // hour ÷ 0.8 cap = 17.9 → 18 nodes (2 owned); 1.2B: 3M → 11.45 ÷ 0.8 = 14.3 → 15 nodes.
    assert!(
        list.contains(
            "1.5B tokens/month, 1 workload (default): 18 × mac-studio-m3-ultra-512 Q4_K_M N=2"
        ),
        "{list}"
    );
    assert!(
        list.contains("1.2B tokens/month, 1 workload (default): 15 ×"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok_on(&dir, &["plans", "list", "-o", "json"])).unwrap();
    assert!(
        json["plans"][0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("1.5B")
    );

    let diff = ok_on(&dir, &["plans", "diff", &a, &b]);
    for parts in [
        &["~", "workload default: tokens/month", "1.2B", "1.5B"][..],
        &["~", "capex budget", "none", "$200,000.00"][..],
        &["+", "owned nodes mac-studio-m3-ultra-512", "-", "2"][..],
        &["~", "pool mac-studio-m3-ultra-512 Q4_K_M N=2", "15 → 18"][..],
    ] {
        assert!(
            diff.lines()
                .any(|line| parts.iter().all(|p| line.contains(p))),
            "{parts:?} missing from\n{diff}"
        );
    }
    let diff: serde_json::Value =
        serde_json::from_str(&ok_on(&dir, &["plans", "diff", &a, &b, "-o", "json"])).unwrap();
    assert_eq!(diff["inputs"].as_array().unwrap().len(), 3, "{diff}");
    assert_eq!(diff["pools"][0]["concurrency"], 2);

    // Machine formats keep stdout to the data and name the stored plan on stderr.
    let csv = cli_on(&dir, &["schedule", "--demand", "1B", "-o", "csv"]);
    assert!(String::from_utf8(csv.stdout).unwrap().starts_with("hour,"));
    assert!(String::from_utf8(csv.stderr).unwrap().starts_with("plan "));
}

#[test]
fn report_markdown_reads_well_in_a_pull_request() {
    let dir = tempfile::tempdir().unwrap();
    two_plans(&dir);
    let markdown = ok_on(
        &dir,
        &["report", "--format", "markdown", "--redact-timings"],
    );
    // The newest plan against the one before it.
    assert!(markdown.starts_with(
        "# Capacity review: 1.5B tokens/month, 1 workload (default): 18 × mac-studio-m3-ultra-512 Q4_K_M N=2\n"
    ));
    for line in [
        "| ~ | workload default: tokens/month | 1.2B | 1.5B |",
        "| + | owned nodes mac-studio-m3-ultra-512 | - | 2 |",
        "| owned nodes (no capex, energy only) | 2 × Mac Studio M3 Ultra 512GB",
        "estimated ±25% (roofline, unified memory)",
        "- source: seed-article:",
        "*Chart in the HTML report:",
    ] {
        assert!(markdown.contains(line), "{line} missing from\n{markdown}");
    }
    assert!(!markdown.contains("<svg"), "markdown carries no SVG");
    insta::assert_snapshot!("report_markdown", markdown);
}

#[test]
fn report_html_is_one_self_contained_file_with_charts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_plans(&dir);
    let out_dir = tempfile::tempdir().unwrap();
    let html = ok_on(
        &dir,
        &[
            "report",
            &b,
            "--previous",
            &a,
            "--copy-to",
            out_dir.path().to_str().unwrap(),
        ],
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Three charts: the cost split, the sweep and the schedule, each with its data.
    assert_eq!(html.matches("<svg ").count(), 3, "charts");
    assert_eq!(html.matches("<figure>").count(), 3);
    assert!(html.matches("<rect").count() > 3);
    // Nothing fetched: no script, no external reference (the SVG namespace is a name, not a fetch).
    assert!(!html.contains("<script"));
    for attribute in ["src=", "href=", "url("] {
        assert!(!html.contains(attribute), "{attribute} in the report");
    }
    let copy =
        std::fs::read_to_string(out_dir.path().join(format!("capacity-review-{b}.html"))).unwrap();
    assert_eq!(copy, html);

    let none = cli_on(&tempfile::tempdir().unwrap(), &["report"]);
    assert_eq!(none.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(none.stderr).unwrap().trim(),
        "no stored plans to review: run planner-cli propose first"
    );
}

#[test]
fn sweep_over_an_endpoint_matches_the_embedded_run() {
    let planner = TestPlanner::start(None);
    let endpoint = format!("http://{}", planner.address);
    let args = [
        "sweep",
        "--demand",
        "10M..20B",
        "--steps",
        "8",
        "--api-price-scale",
        "100",
        "--redact-timings",
    ];
    let embedded = ok(&args);
    let mut remote_args = vec!["--endpoint", endpoint.as_str()];
    remote_args.extend_from_slice(&args);
    assert_eq!(ok(&remote_args), embedded);
    // A bad field comes back as INVALID_ARGUMENT naming it, in one line.
    let out = cli_on(
        &tempfile::tempdir().unwrap(),
        &[
            "--endpoint",
            &endpoint,
            "sweep",
            "--demand",
            "1.5B",
            "--steps",
            "3",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    planner.stop();
}

#[test]
fn a_demand_by_price_grid_is_one_sweep_per_factor_and_refuses_what_it_cannot_do() {
    let args = [
        "sweep",
        "--demand",
        "10M..20B",
        "--api-price-scale",
        "1..100",
        "--steps",
        "3",
        "--redact-timings",
        "-o",
        "csv",
    ];
    let csv = ok(&args);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("demand_tokens,api_price_scale,strategy,monthly_usd,capex_usd,fleet,reason")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.splitn(4, ',').collect()).collect();
    // Strategies as the CSV defines rows: optimum, all-API, and one per single-SKU fleet.
    let mut strategies: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    strategies.sort();
    strategies.dedup();
    assert!(strategies.contains(&"optimum") && strategies.contains(&"all-api"));
    assert!(strategies.len() > 2, "{strategies:?}");
    // 3 demand steps × 3 price steps (×1, ×10, ×100) × every strategy, each pair once.
    assert_eq!(rows.len(), 3 * 3 * strategies.len(), "{csv}");
    let mut cells: Vec<(&str, &str, &str)> = rows.iter().map(|r| (r[0], r[1], r[2])).collect();
    cells.sort();
    cells.dedup();
    assert_eq!(cells.len(), rows.len(), "a point and strategy twice: {csv}");
    let mut demands: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    demands.sort();
    demands.dedup();
    assert_eq!(demands, ["10000000", "20000000000", "447213595"]);
    let mut factors: Vec<f64> = rows.iter().map(|r| r[1].parse().unwrap()).collect();
    factors.dedup();
    assert_eq!(
        factors.len(),
        3,
        "factors in order, one block each: {factors:?}"
    );
    for (found, expected) in factors.iter().zip([1.0, 10.0, 100.0]) {
        assert!((found - expected).abs() < 1e-9, "{factors:?}");
    }
    // The same grid over --endpoint, through the Sweep RPC's price_sweeps.
    let planner = TestPlanner::start(None);
    let endpoint = format!("http://{}", planner.address);
    let mut remote = vec!["--endpoint", endpoint.as_str()];
    remote.extend_from_slice(&args);
    assert_eq!(ok(&remote), csv);
    planner.stop();
    // The table has each factor's own break-even sections.
    let table = ok(&args[..8]);
    for factor in ["×1", "×10", "×100"] {
        assert!(
            table.contains(&format!(
                "API prices {factor}: where each SKU beats the API"
            )),
            "{table}"
        );
    }
    // Too large a grid, and an SVG of one: exit 2 with one line naming the flag.
    for (refused, words) in [
        (
            &[
                "sweep",
                "--demand",
                "10M..20B",
                "--api-price-scale",
                "1..100",
                "--steps",
                "51",
            ][..],
            "--steps",
        ),
        (
            &[
                "sweep",
                "--demand",
                "10M..20B",
                "--api-price-scale",
                "1..100",
                "-o",
                "svg",
            ][..],
            "--output",
        ),
    ] {
        let out = cli_on(&tempfile::tempdir().unwrap(), refused);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{refused:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{refused:?}: {stderr}");
        assert!(stderr.contains(words), "{refused:?}: {stderr}");
    }
}
