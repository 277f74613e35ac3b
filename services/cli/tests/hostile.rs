//! Hostile input for every `planner-cli` flag (issue 7, item 2): each row is a command line
//! (and, for `--file`, the file's text) with the exit code it must get — 2 bad input,
//! 3 infeasible, 1 anything else — and the substrings its one stderr line must carry (the
//! flag or input it names and, where sensible, the bad value). No row may panic.

use std::path::Path;
use std::process::{Command, Output};

struct Row {
    args: Vec<String>,
    code: i32,
    needles: Vec<&'static str>,
}

fn row(args: &[&str], code: i32, needles: &[&'static str]) -> Row {
    Row {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        needles: needles.to_vec(),
    }
}

fn cli(db_dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planner-cli"))
        .args(args)
        .env_remove("PLANNER_OUTPUT")
        .env_remove("PLANNER_ENDPOINT")
        .env_remove("PLANNER_TOKEN_FILE")
        .env_remove("PLANNER_TRUST_PUBLISHED")
        .env_remove("PLANNER_CHECK_STRICT")
        .env_remove("RUST_BACKTRACE")
        .env(
            "PLANNER_DATABASE_URL",
            format!("sqlite:{}", db_dir.join("cli.db").display()),
        )
        .output()
        .expect("planner-cli runs")
}

/// Writes `text` to `name` in `dir` and returns its path.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `propose --demand 1B` plus `flag value`.
fn propose_with(flag: &str, value: &str, code: i32, needles: &[&'static str]) -> Row {
    let arg = format!("{flag}={value}");
    row(&["propose", "--demand", "1B", &arg], code, needles)
}

fn table(dir: &Path) -> Vec<Row> {
    let mut rows = Vec::new();

    // ---- --demand (TokenCount parsing).
    for (value, needle) in [
        ("-1B", "-1B"),
        ("0", "0"),
        ("", "--demand"),
        ("NaN", "NaN"),
        ("inf", "inf"),
        ("1.5X", "1.5X"),
        ("99999999999999999999999", "99999999999999999999999"),
        ("20000000000T", "20000000000T"),
        ("1e400", "1e400"),
        ("B", "B"),
    ] {
        rows.push(row(
            &["propose", &format!("--demand={value}")],
            2,
            &["--demand", needle],
        ));
    }
    rows.push(row(&["propose"], 2, &["--demand"]));
    rows.push(row(
        &["propose", "--demand", "11T"],
        2,
        &["--demand", "11T", "10T"],
    ));
    rows.push(row(
        &["propose", "--kwh-price", "1001", "--demand", "1B"],
        2,
        &["electricity_usd_per_kwh", "1001"],
    ));

    // ---- Every numeric flag of propose: negative, NaN, inf, out of range, not a number.
    for flag in ["--input-share", "--deferrable-share", "--utilization-cap"] {
        for value in ["-0.1", "1.5", "NaN", "inf", "-inf", "x", ""] {
            rows.push(propose_with(flag, value, 2, &[flag]));
        }
    }
    rows.push(propose_with(
        "--utilization-cap",
        "0",
        2,
        &["--utilization-cap"],
    ));
    for value in ["0", "-1", "4294967296", "1e3", "NaN", ""] {
        rows.push(propose_with(
            "--prompt-tokens",
            value,
            2,
            &["--prompt-tokens"],
        ));
    }
    rows.push(propose_with(
        "--prompt-tokens",
        "10M",
        2,
        &["prompt_tokens", "10000000"],
    ));
    for value in [
        "-1s",
        "NaN",
        "infs",
        "2 parsecs",
        "",
        "1e400ms",
        "99999999999999999999999h",
    ] {
        rows.push(propose_with("--ttft", value, 2, &["--ttft"]));
    }
    for flag in ["--min-decode", "--kwh-price"] {
        for value in ["-1", "NaN", "inf", "x"] {
            rows.push(propose_with(flag, value, 2, &[flag]));
        }
    }
    for value in [
        "0", "-1", "NaN", "inf", "x", "5e-324", "1e-300", "0.5", "1e9",
    ] {
        rows.push(propose_with(
            "--amortization-months",
            value,
            2,
            &["--amortization-months"],
        ));
    }
    for flag in ["--budget", "--site-power-cap"] {
        for value in ["-1", "NaN", "inf", "$-5", "x", "1e400"] {
            rows.push(propose_with(flag, value, 2, &[flag]));
        }
    }
    rows.push(propose_with(
        "--site-power-cap",
        "0",
        2,
        &["--site-power-cap"],
    ));
    for value in [
        "rtx-5090",
        "rtx-5090=-1",
        "rtx-5090=x",
        "rtx-5090=4294967296",
        "=",
    ] {
        rows.push(propose_with("--max-nodes", value, 2, &["--max-nodes"]));
        rows.push(propose_with("--owned", value, 2, &["--owned"]));
    }
    rows.push(propose_with(
        "--max-nodes",
        "quantum-abacus=4",
        2,
        &["max_nodes", "quantum-abacus"],
    ));
    rows.push(propose_with(
        "--owned",
        "quantum-abacus=1",
        2,
        &["owned", "quantum-abacus"],
    ));
    rows.push(propose_with(
        "--min-quant",
        "Q1_BOGUS",
        2,
        &["min_quant", "Q1_BOGUS"],
    ));
    rows.push(propose_with("--min-quant", "", 2, &["--min-quant"]));
    rows.push(propose_with("--name", "", 2, &["name"]));
    rows.push(propose_with("--time-limit", "-1s", 2, &["--time-limit"]));
    rows.push(propose_with("--time-limit", "NaN", 2, &["--time-limit"]));
    rows.push(propose_with(
        "--solver",
        "cbc",
        2,
        &["--solver", "'cbc'", "auto, microlp or highs"],
    ));
    rows.push(propose_with("--solver", "", 2, &["--solver"]));
    if !fleet_planner::solve::Backend::HIGHS_BUILT {
        rows.push(propose_with(
            "--solver",
            "highs",
            2,
            &["--solver", "--features highs"],
        ));
    }
    rows.push(propose_with("--output", "yaml", 2, &["--output", "yaml"]));
    rows.push(row(
        &["propose", "--demand", "1B", "--bogus-flag"],
        2,
        &["--bogus-flag"],
    ));
    rows.push(row(
        &["propose", "--demand", "1B", "--deferrable-share", "0.3"],
        2,
        &["defer_window"],
    ));

    // ---- --profile and --defer-window (propose and schedule share them).
    for sub in ["propose", "schedule"] {
        for value in [
            "weekends",
            "",
            "1,2,3",
            &vec!["1"; 25].join(","),
            &vec!["0"; 24].join(","),
            &{
                let mut w = vec!["1"; 24];
                w[3] = "-1";
                w.join(",")
            },
            &{
                let mut w = vec!["1"; 24];
                w[3] = "NaN";
                w.join(",")
            },
        ] {
            let arg = format!("--profile={value}");
            rows.push(row(&[sub, "--demand", "1B", &arg], 2, &["--profile"]));
        }
        for value in ["24-6", "22-", "-6", "x-y", "22", "", "-1-5", "4294967296-1"] {
            let arg = format!("--defer-window={value}");
            rows.push(row(
                &[sub, "--demand", "1B", "--deferrable-share", "0.3", &arg],
                2,
                &["--defer-window"],
            ));
        }
        for value in ["-0.1", "1.5", "NaN"] {
            let arg = format!("--deferrable-share={value}");
            rows.push(row(
                &[sub, "--demand", "1B", &arg],
                2,
                &["--deferrable-share"],
            ));
        }
        for value in ["0", "-5", "NaN", "inf"] {
            let arg = format!("--site-power-cap={value}");
            rows.push(row(
                &[sub, "--demand", "1B", &arg],
                2,
                &["--site-power-cap"],
            ));
        }
    }
    rows.push(row(
        &["schedule", "--output", "xml", "--demand", "1B"],
        2,
        &["--output", "xml"],
    ));
    rows.push(row(&["schedule", "no-such-plan"], 2, &["no-such-plan"]));

    // ---- Impossible SLOs: exit 3.
    rows.push(row(
        &["propose", "--demand", "1B", "--local-only", "--ttft", "1ms"],
        3,
        &["infeasible"],
    ));
    rows.push(row(
        &[
            "propose",
            "--demand",
            "1B",
            "--local-only",
            "--min-decode",
            "100000",
        ],
        3,
        &["infeasible"],
    ));
    rows.push(row(
        &["propose", "--demand", "1B", "--local-only", "--budget", "0"],
        3,
        &["infeasible"],
    ));
    rows.push(row(
        &[
            "schedule",
            "--demand",
            "1B",
            "--local-only",
            "--site-power-cap",
            "1",
        ],
        3,
        &["infeasible"],
    ));

    // ---- --file.
    let missing = dir.join("missing.toml").display().to_string();
    rows.push(row(&["propose", "--file", &missing], 2, &["missing.toml"]));
    let directory = dir.display().to_string();
    rows.push(row(
        &["propose", "--file", &directory],
        2,
        &["workload file"],
    ));
    let long_name = format!(
        "[[workload]]\nname = \"{}\"\ndemand = \"1B\"\n",
        "n".repeat(300)
    );
    let files: Vec<(&str, &str, &[&'static str])> = vec![
        ("broken.toml", "[[workload]\nname = \"a\"", &["broken.toml"]),
        ("broken.json", "{\"workloads\": [", &["broken.json"]),
        ("empty.toml", "", &["empty.toml", "workload"]),
        ("empty.json", "{}", &["empty.json", "workload"]),
        (
            "unknown-key.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\ncolour = \"red\"\n",
            &["colour"],
        ),
        (
            "unknown-top.json",
            "{\"workloads\": [{\"name\": \"a\", \"demand\": \"1B\"}], \"speed\": 3}",
            &["speed"],
        ),
        (
            "duplicate.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\n[[workload]]\nname = \"a\"\ndemand = \"2B\"\n",
            &["workloads[1].name", "duplicate"],
        ),
        (
            "duplicate.json",
            "{\"workloads\": [{\"name\": \"a\", \"demand\": \"1B\"}, {\"name\": \"a\", \"demand\": 5}]}",
            &["workloads[1].name", "duplicate"],
        ),
        (
            "negative-demand.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"-1B\"\n",
            &["demand", "-1B"],
        ),
        (
            "float-demand.json",
            "{\"workloads\": [{\"name\": \"a\", \"demand\": -5}]}",
            &["demand"],
        ),
        (
            "bad-share.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\ninput_share = 1.5\n",
            &["input_share", "1.5"],
        ),
        (
            "bad-ttft.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = \"soon\"\n",
            &["ttft", "soon"],
        ),
        (
            "bad-profile.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nprofile = [1, 2, 3]\n",
            &["workload[0].profile", "got 3"],
        ),
        (
            "bad-window.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\ndeferrable_share = 0.5\ndefer_window = \"25-3\"\n",
            &["defer_window"],
        ),
        (
            "bad-budget.toml",
            "budget = \"-$5\"\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
            &["budget"],
        ),
        (
            "bad-sku.toml",
            "[max_nodes]\nquantum-abacus = 3\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
            &["quantum-abacus"],
        ),
        (
            "bad-cap.toml",
            "utilization_cap = 0\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
            &["utilization_cap"],
        ),
        (
            "bad-model.json",
            "{\"workloads\": [{\"name\": \"a\", \"demand\": \"1B\", \"model\": \"gpt-17\"}]}",
            &["model", "gpt-17"],
        ),
        // A duration needs its unit in a file as on the command line (`--ttft 2` is refused).
        (
            "unitless-ttft.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = 2\n",
            &["workload[0].ttft", "'2'", "missing unit"],
        ),
        (
            "unitless-ttft-text.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nttft = \"2\"\n",
            &["workload[0].ttft", "'2'", "missing unit"],
        ),
        (
            "unitless-ttft.json",
            "{\"workloads\": [{\"name\": \"a\", \"demand\": \"1B\", \"ttft\": 800}]}",
            &["workload[0].ttft", "'800'", "missing unit"],
        ),
        (
            "tiny-amortization.toml",
            "amortization_months = 1e-300\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
            &["amortization_months"],
        ),
        (
            "overflowing-weights.toml",
            "[[workload]]\nname = \"a\"\ndemand = \"1B\"\nprofile = [1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e308]\n",
            &["workload[0].profile", "inf"],
        ),
        (
            "long-name.toml",
            &long_name,
            &["workloads[0].name", "300 bytes", "256"],
        ),
        (
            "binary.toml",
            "\u{0}\u{1}\u{2}garbage\u{7f}",
            &["binary.toml"],
        ),
    ];
    for (name, text, needles) in files {
        let path = file(dir, name, text);
        rows.push(row(&["propose", "--file", &path], 2, needles));
    }
    let many: String = (0..10_001)
        .map(|i| format!("[[workload]]\nname = \"w{i}\"\ndemand = \"1M\"\n"))
        .collect();
    let many = file(dir, "many.toml", &many);
    rows.push(row(
        &["propose", "--file", &many],
        2,
        &["workloads", "10001"],
    ));
    let ok = file(
        dir,
        "ok.toml",
        "[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
    );
    rows.push(row(
        &["propose", "--file", &ok, "--demand", "1B"],
        2,
        &["--demand", "--file"],
    ));

    // ---- plans.
    for sub in ["show", "rerun"] {
        rows.push(row(&["plans", sub, "no-such-plan"], 2, &["no-such-plan"]));
        rows.push(row(&["plans", sub, ""], 2, &["id"]));
    }
    rows.push(row(&["plans", "show"], 2, &["<ID>"]));
    rows.push(row(
        &["plans", "diff", "no-such-a", "no-such-b"],
        2,
        &["no-such-a"],
    ));
    rows.push(row(&["plans", "diff", "only-one"], 2, &["<B>"]));
    for value in ["0", "501", "-1", "x"] {
        rows.push(row(&["plans", "list", "--limit", value], 2, &["--limit"]));
    }
    rows.push(row(
        &["plans", "list", "--page-token", "garbage"],
        2,
        &["page_token"],
    ));

    // ---- hardware add / remove.
    let base = [
        ("--id", "hostile"),
        ("--accelerators", "1"),
        ("--memory-gb", "24"),
        ("--price", "1000"),
        ("--power-full-w", "400"),
        ("--power-idle-w", "50"),
    ];
    // `--flag=value` keeps values like "-1" from being read as flags.
    let hw = |flag: &str, value: &str, code: i32, needles: &[&'static str]| {
        let mut pairs: Vec<(String, String)> = base
            .iter()
            .map(|(f, v)| (f.to_string(), v.to_string()))
            .collect();
        match pairs.iter_mut().find(|(f, _)| f == flag) {
            Some(pair) => pair.1 = value.to_string(),
            None => pairs.push((flag.to_string(), value.to_string())),
        }
        let mut args = vec!["hardware".to_string(), "add".to_string()];
        args.extend(pairs.into_iter().map(|(f, v)| format!("{f}={v}")));
        Row {
            args,
            code,
            needles: needles.to_vec(),
        }
    };
    for value in ["0", "-1", "x", "4294967296"] {
        rows.push(hw("--accelerators", value, 2, &["--accelerators"]));
    }
    for value in ["2147483648", "4294967295", "1025"] {
        rows.push(hw("--accelerators", value, 2, &["accelerators", value]));
    }
    for flag in ["--memory-gb", "--power-full-w"] {
        for value in ["0", "-1", "NaN", "inf", "x"] {
            rows.push(hw(flag, value, 2, &[flag]));
        }
    }
    for value in ["-1", "NaN", "inf", "x"] {
        rows.push(hw("--power-idle-w", value, 2, &["--power-idle-w"]));
    }
    // More idle than full power (400 W): busy hours would cost less than idle ones.
    rows.push(hw(
        "--power-idle-w",
        "401",
        2,
        &["power_idle_w", "power_full_w"],
    ));
    for value in ["-1", "NaN", "inf", "$-5", "x"] {
        rows.push(hw("--price", value, 2, &["--price"]));
    }
    // Physics specs: a given one is a finite positive number (host RAM: zero or more).
    for flag in [
        "--memory-bandwidth-gb-s",
        "--compute-tflops",
        "--host-ram-bandwidth-gb-s",
        "--host-link-gb-s",
        "--disk-read-gb-s",
    ] {
        for value in ["0", "-1", "NaN", "inf", "x", ""] {
            rows.push(hw(flag, value, 2, &[flag]));
        }
    }
    for value in ["-1", "-0.5", "NaN", "inf", "-inf", "x", ""] {
        rows.push(hw("--host-ram-gb", value, 2, &["--host-ram-gb"]));
    }
    rows.push(hw("--id", "", 2, &["id"]));
    rows.push(hw("--backend", "", 2, &["backend"]));
    rows.push(row(
        &["hardware", "add", "--id", "x"],
        2,
        &["--accelerators"],
    ));
    rows.push(row(
        &["hardware", "remove", "quantum-abacus"],
        2,
        &["quantum-abacus"],
    ));
    rows.push(row(&["hardware", "remove", ""], 2, &["id"]));

    // ---- breakeven and throughput.
    for value in ["0", "-1", "25", "NaN", "inf", "x"] {
        let arg = format!("--hours-per-day={value}");
        rows.push(row(&["breakeven", &arg], 2, &["--hours-per-day"]));
    }
    for value in ["-1", "NaN"] {
        let arg = format!("--kwh-price={value}");
        rows.push(row(&["breakeven", &arg], 2, &["--kwh-price"]));
    }
    for value in ["0", "5e-324", "1e-300", "601"] {
        let arg = format!("--amortization-months={value}");
        rows.push(row(
            &["breakeven", &arg],
            2,
            &["--amortization-months", value],
        ));
    }
    rows.push(row(
        &["breakeven", "--min-quant", "Q1_BOGUS"],
        2,
        &["Q1_BOGUS"],
    ));
    rows.push(row(
        &["breakeven", "--sku", "quantum-abacus"],
        2,
        &["quantum-abacus"],
    ));
    rows.push(row(&["throughput", "--output", "yaml"], 2, &["--output"]));
    rows.push(row(&["accuracy", "--output", "yaml"], 2, &["--output"]));
    rows.push(row(&["accuracy", "--sku"], 2, &["--sku"]));

    // ---- catalog check and --trust-published.
    rows.push(row(
        &["catalog", "check", "--output", "yaml"],
        2,
        &["--output", "yaml"],
    ));
    rows.push(row(
        &["catalog", "check", "--strict=maybe"],
        2,
        &["--strict"],
    ));
    rows.push(row(&["catalog", "frobnicate"], 2, &["frobnicate"]));
    rows.push(row(&["catalog"], 2, &["catalog"]));
    for sub in ["propose", "schedule"] {
        rows.push(row(
            &[sub, "--demand", "1B", "--trust-published=maybe"],
            2,
            &["--trust-published"],
        ));
    }
    // breakeven: the article's method and trusting face values are two different tables.
    rows.push(row(
        &["breakeven", "--as-published", "--trust-published"],
        2,
        &["--as-published", "--trust-published"],
    ));
    rows.push(row(
        &["breakeven", "--as-published=yes"],
        2,
        &["--as-published"],
    ));
    let trusting_typo = file(
        dir,
        "trusting-typo.toml",
        "trust_published = \"yes\"\n[[workload]]\nname = \"a\"\ndemand = \"1B\"\n",
    );
    rows.push(row(
        &["propose", "--file", &trusting_typo],
        2,
        &["trusting-typo.toml", "trust_published"],
    ));

    // ---- --endpoint, --database-url and --token-file.
    for value in ["not a url", "", "ftp://", "http://[::1"] {
        let arg = format!("--endpoint={value}");
        rows.push(row(&[&arg, "plans", "list"], 2, &["--endpoint"]));
    }
    rows.push(row(
        &["--endpoint", "http://127.0.0.1:1", "plans", "list"],
        1,
        &["127.0.0.1:1"],
    ));
    rows.push(row(
        &["--database-url", "mysql://nope", "plans", "list"],
        1,
        &["mysql://nope"],
    ));
    let missing_token = dir.join("no-token").display().to_string();
    rows.push(row(
        &["--token-file", &missing_token, "plans", "list"],
        2,
        &["no-token"],
    ));
    rows.push(row(&["frobnicate"], 2, &["frobnicate"]));
    rows
}

#[test]
fn every_flag_rejects_hostile_input_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    // A plan, so the database exists and the catalog is seeded before the table runs.
    let seeded = cli(
        dir.path(),
        &["propose".into(), "--demand".into(), "1B".into()],
    );
    assert!(
        seeded.status.success(),
        "a valid propose works: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let hardware_before = cli(
        dir.path(),
        &["hardware".into(), "list".into(), "-o".into(), "json".into()],
    );
    let plans_before = cli(
        dir.path(),
        &["plans".into(), "list".into(), "-o".into(), "json".into()],
    );

    let rows = table(dir.path());
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let out = cli(dir.path(), &row.args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code();
        let lines: Vec<&str> = stderr.lines().collect();
        let mut wrong = Vec::new();
        if code != Some(row.code) {
            wrong.push(format!("exit {code:?}, want {}", row.code));
        }
        if lines.len() != 1 {
            wrong.push(format!("{} stderr lines, want 1", lines.len()));
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            wrong.push("panic text".into());
        }
        for needle in &row.needles {
            if !stderr.contains(needle) {
                wrong.push(format!("no {needle:?}"));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{:?}: {} — stderr {:?}",
                row.args,
                wrong.join(", "),
                stderr
            ));
        }
    }
    eprintln!("{count} rows");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Rejected commands changed nothing: same catalog, same plans.
    let hardware_after = cli(
        dir.path(),
        &["hardware".into(), "list".into(), "-o".into(), "json".into()],
    );
    assert_eq!(hardware_after.stdout, hardware_before.stdout);
    let plans_after = cli(
        dir.path(),
        &["plans".into(), "list".into(), "-o".into(), "json".into()],
    );
    assert_eq!(plans_after.stdout, plans_before.stdout);
}

/// A proposal the time limit cuts short with no fleet in hand exits 1 with one line that names
/// the limit, instead of hanging: 40 workloads with their own prompt lengths and random weekly
/// weights, so no workloads or hours merge, under a 1 ms limit (decomposed, the request takes
/// tens of milliseconds).
#[test]
fn a_time_limit_with_no_fleet_exits_one_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut text = String::new();
    for i in 0..40 {
        let weights: Vec<String> = (0..168)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("{:.3}", 0.2 + (seed >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        text.push_str(&format!(
            "[[workload]]\nname = \"w{i}\"\ndemand = \"{}M\"\nprompt_tokens = {}\nlocal_only = true\nprofile = [{}]\n\n",
            100 + 37 * i,
            1000 + 64 * i,
            weights.join(", ")
        ));
    }
    let path = file(dir.path(), "week.toml", &text);
    let args: Vec<String> = ["propose", "--file", &path, "--time-limit", "1ms"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let output = cli(dir.path(), &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no plan found within the 0.001 s time limit"),
        "{stderr}"
    );
}

/// Env twins set to "" count as unset (issue 16 §4): `PLANNER_ENDPOINT=` was "invalid URI",
/// `PLANNER_OUTPUT=` and `PLANNER_SOLVER=` invalid values, `PLANNER_TOKEN_FILE=` a missing file.
#[test]
fn empty_env_twins_count_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], database_url: &str| {
        Command::new(env!("CARGO_BIN_EXE_planner-cli"))
            .args(args)
            .env("PLANNER_ENDPOINT", "")
            .env("PLANNER_OUTPUT", "")
            .env("PLANNER_TOKEN_FILE", "")
            .env("PLANNER_SOLVER", "")
            .env("PLANNER_TLS_CA_FILE", "")
            .env("PLANNER_TLS_DOMAIN", "")
            .env("PLANNER_TRUST_PUBLISHED", "")
            .env("PLANNER_CHECK_STRICT", "")
            .env("PLANNER_DATABASE_URL", database_url)
            .env("XDG_DATA_HOME", &data)
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("planner-cli runs")
    };
    let url = format!("sqlite:{}", dir.path().join("cli.db").display());
    let proposed = run(&["propose", "--demand", "1B"], &url);
    let stderr = String::from_utf8_lossy(&proposed.stderr);
    assert!(proposed.status.success(), "propose: {stderr}");
    assert!(
        String::from_utf8_lossy(&proposed.stdout).contains("Monthly cost"),
        "the table output, the default: {}",
        String::from_utf8_lossy(&proposed.stdout)
    );
    // An empty database URL is the default database in the data directory.
    let listed = run(&["plans", "list"], "");
    assert!(
        listed.status.success(),
        "plans list: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(data.join("fleetplan").join("fleetplan.db").exists());
}
