//! Bounded fuzzing of the agent's Prometheus text parser (issue 7, item 2): arbitrary bytes,
//! mutated real `/metrics` bodies, and generated expositions that must parse back to what was
//! written. Seeded `fastrand` (already an agent dependency) instead of proptest, so the crate's
//! manifest is untouched; each target runs a fixed number of cases in well under a second, and a
//! failure prints its seed and input.

use fleet_agent::scrape::{LlamaCounters, PromSample, parse_prometheus_text};

const CASES: usize = 3_000;

const FIXTURES: [&str; 2] = [
    include_str!("fixtures/metrics-after.txt"),
    include_str!("fixtures/metrics-idle.txt"),
];

/// Parses `body`; a rejection must name a real line, in one line of text.
fn check(body: &str) -> Option<Vec<PromSample>> {
    match parse_prometheus_text(body) {
        Ok(samples) => {
            // What is accepted can be read by the llama-server view without panicking.
            let _ = LlamaCounters::from_samples(&samples);
            Some(samples)
        }
        Err(error) => {
            let lines = body.lines().count();
            assert!(
                (1..=lines).contains(&error.line_number),
                "line {} of {lines} in {body:?}",
                error.line_number
            );
            assert!(error.line.chars().count() <= 120, "{error}");
            assert!(
                !error.to_string().contains('\n'),
                "multi-line error {error}"
            );
            assert!(!error.reason.is_empty());
            None
        }
    }
}

fn random_text(rng: &mut fastrand::Rng) -> String {
    let len = rng.usize(0..200);
    (0..len)
        .map(|_| match rng.u8(0..10) {
            0 => rng.char(..),
            1 => ['{', '}', '"', '\\', '=', ',', ' ', '\n', '\t', '#'][rng.usize(0..10)],
            2..=4 => rng.alphanumeric(),
            5 => ':',
            _ => char::from(rng.u8(0x20..0x7f)),
        })
        .collect()
}

#[test]
fn arbitrary_text_never_panics() {
    let mut rng = fastrand::Rng::with_seed(7);
    for case in 0..CASES {
        let body = random_text(&mut rng);
        let result = std::panic::catch_unwind(|| check(&body));
        assert!(result.is_ok(), "case {case} panicked on {body:?}");
    }
}

#[test]
fn mutated_metrics_bodies_never_panic() {
    let mut rng = fastrand::Rng::with_seed(11);
    let fragments = [
        "{",
        "}",
        "\"",
        "\\",
        "=",
        ",",
        " ",
        "\n",
        "NaN",
        "+Inf",
        "-Inf",
        "inf",
        "1e999",
        "é",
        "\u{0}",
        "#",
        "{a=\"b\"}",
        "\\x",
        "\r",
    ];
    let mut rejected = 0;
    for case in 0..CASES {
        let mut chars: Vec<char> = FIXTURES[case % FIXTURES.len()].chars().collect();
        for _ in 0..rng.usize(1..5) {
            let at = rng.usize(0..=chars.len());
            match rng.u8(0..3) {
                0 => {
                    let end = (at + rng.usize(1..10)).min(chars.len());
                    chars.drain(at..end);
                }
                1 => {
                    let fragment = fragments[rng.usize(0..fragments.len())];
                    chars.splice(at..at, fragment.chars());
                }
                _ => chars.insert(at, rng.char(..)),
            }
        }
        let body: String = chars.into_iter().collect();
        let result = std::panic::catch_unwind(|| check(&body));
        assert!(result.is_ok(), "case {case} panicked on {body:?}");
        rejected += usize::from(result.unwrap().is_none());
    }
    // The mutations do break lines: the parser must be rejecting some of them.
    assert!(
        rejected > CASES / 10,
        "only {rejected} of {CASES} mutated bodies rejected"
    );
}

fn random_name(rng: &mut fastrand::Rng) -> String {
    let first = ['a', 'z', '_', ':', 'L'][rng.usize(0..5)];
    let rest: String = (0..rng.usize(0..20))
        .map(|_| match rng.u8(0..4) {
            0 => ':',
            1 => '_',
            _ => rng.alphanumeric(),
        })
        .collect();
    format!("{first}{rest}")
}

fn random_label_value(rng: &mut fastrand::Rng) -> String {
    (0..rng.usize(0..12))
        .map(|_| match rng.u8(0..6) {
            0 => '"',
            1 => '\\',
            2 => '\n',
            3 => rng.char(..),
            _ => rng.alphanumeric(),
        })
        .collect()
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn random_value(rng: &mut fastrand::Rng) -> (f64, String) {
    match rng.u8(0..8) {
        0 => (f64::NAN, "NaN".into()),
        1 => (f64::INFINITY, "+Inf".into()),
        2 => (f64::NEG_INFINITY, "-Inf".into()),
        3 => {
            let v = rng.u64(..) as f64;
            (v, format!("{v:e}"))
        }
        4 => {
            let v = -(rng.f64() * 1e6);
            (v, format!("{v}"))
        }
        _ => {
            let v = rng.f64() * 10f64.powi(rng.i32(-10..20));
            (v, format!("{v}"))
        }
    }
}

#[test]
fn generated_expositions_parse_back_exactly() {
    let mut rng = fastrand::Rng::with_seed(13);
    for case in 0..CASES / 3 {
        let mut body = String::new();
        let mut want = Vec::new();
        for _ in 0..rng.usize(0..8) {
            let name = random_name(&mut rng);
            if rng.bool() {
                body.push_str(&format!("# HELP {name} some help with \"quotes\" {{}}\n"));
                body.push_str(&format!("# TYPE {name} counter\n"));
            }
            if rng.u8(0..4) == 0 {
                body.push_str("\n   \n");
            }
            let labels: Vec<(String, String)> = (0..rng.usize(0..4))
                .map(|i| {
                    let key = format!("{}{i}", ["l", "_", "slot", "Le"][rng.usize(0..4)]);
                    (key, random_label_value(&mut rng))
                })
                .collect();
            let (value, value_text) = random_value(&mut rng);
            body.push_str(&name);
            if !labels.is_empty() || rng.bool() {
                let pairs: Vec<String> = labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                let trailing = if rng.bool() && !pairs.is_empty() {
                    ","
                } else {
                    ""
                };
                body.push_str(&format!("{{{}{trailing}}}", pairs.join(",")));
            }
            body.push_str(if rng.bool() { " " } else { "\t" });
            body.push_str(&value_text);
            if rng.bool() {
                body.push_str(&format!(" {}", rng.i64(..)));
            }
            body.push_str(if rng.bool() { "\n" } else { "\r\n" });
            want.push(PromSample {
                name,
                labels,
                value,
            });
        }
        let got = parse_prometheus_text(&body)
            .unwrap_or_else(|e| panic!("case {case}: {e} in valid exposition {body:?}"));
        assert_eq!(got.len(), want.len(), "case {case}: {body:?}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g.name, w.name, "case {case}: {body:?}");
            assert_eq!(g.labels, w.labels, "case {case}: {body:?}");
            assert!(
                g.value == w.value || (g.value.is_nan() && w.value.is_nan()),
                "case {case}: {} read as {} in {body:?}",
                w.value,
                g.value
            );
        }
    }
}

#[test]
fn lowercase_inf_and_nan_are_rejected_as_prometheus_does() {
    for value in ["inf", "nan", "Infinity", "-inf", "0x10", "1,5", ""] {
        let body = format!("llamacpp:prompt_tokens_total {value}\n");
        assert!(
            parse_prometheus_text(&body).is_err(),
            "{value:?} accepted as a sample value"
        );
    }
}
