//! Builds the plan and break-even reports. Every figure printed comes with the inputs that
//! produce it, so a reviewer can redo the arithmetic by hand.

use fleet_planner::cost::{BreakevenRow, CostAssumptions};
use fleet_planner::plan::{BaselineKind, Plan, Pool};
use fleet_planner::units::{format_int, format_ms, format_tokens, format_usd};

use crate::doc::Doc;

fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn num(value: f64) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// Returns a pool's label: `sku quant`, with ` N=…` when it runs several slots per instance.
fn pool_label(p: &Pool) -> String {
    if p.concurrency > 1 {
        format!("{} {} N={}", p.sku, p.quant, p.concurrency)
    } else {
        format!("{} {}", p.sku, p.quant)
    }
}

/// Returns the plan as a document.
pub fn plan_doc(plan: &Plan) -> Doc {
    let mut doc = Doc::default();
    let total_tokens: f64 = plan
        .workloads
        .iter()
        .map(|w| w.monthly_tokens.get() as f64)
        .sum();
    doc.heading(format!(
        "fleetplan: {} tokens/month, {} workload{}",
        format_tokens(total_tokens),
        plan.workloads.len(),
        if plan.workloads.len() == 1 { "" } else { "s" }
    ));
    let fleet = plan
        .baselines
        .iter()
        .find(|b| b.kind == BaselineKind::Optimum)
        .map_or("-", |b| b.fleet.as_str());
    doc.para(format!(
        "Optimum: {fleet}, {} to the API. {}/month ({}/1M tokens blended), capex {}. Break-even: {}.",
        format_tokens(plan.cost.tokens_api),
        format_usd(plan.cost.total_usd),
        format_usd(plan.cost.blended_usd_per_million),
        format_usd(plan.cost.capex_usd),
        plan.break_even.text
    ));

    doc.heading("Workloads");
    doc.table(
        &[
            "workload",
            ">tokens/month",
            ">input",
            ">prompt",
            ">TTFT p95 ≤",
            ">decode ≥",
            "local-only",
            "quality ≥",
            "profile",
            ">deferrable",
            "critical",
        ],
        plan.workloads
            .iter()
            .map(|w| {
                vec![
                    w.name.clone(),
                    w.monthly_tokens.to_string(),
                    pct(w.input_share),
                    format_int(f64::from(w.prompt_tokens)),
                    w.ttft_p95_ms.map_or("any".into(), format_ms),
                    format!("{} tok/s", num(w.min_decode_tok_s)),
                    if w.local_only { "yes" } else { "no" }.into(),
                    w.min_quant.clone(),
                    w.profile.label(),
                    match w.defer_window {
                        Some(window) if w.deferrable_share > 0.0 => {
                            format!("{} in {window}", pct(w.deferrable_share))
                        }
                        _ => "-".into(),
                    },
                    if w.critical { "N+1" } else { "no" }.into(),
                ]
            })
            .collect(),
    );

    doc.heading("Pools");
    if plan.pools.is_empty() {
        doc.para("No local nodes.");
    } else {
        doc.table(
            &[
                "pool",
                ">nodes",
                ">new",
                ">owned",
                ">inst/node",
                ">slots N",
                ">decode tok/s",
                ">agg tok/s",
                ">prefill tok/s",
                ">busy W",
                ">idle W",
                ">price",
                "throughput",
            ],
            plan.pools
                .iter()
                .map(|p| {
                    vec![
                        pool_label(p),
                        p.nodes.to_string(),
                        p.new_nodes.to_string(),
                        p.owned_nodes.to_string(),
                        p.instances_per_node.to_string(),
                        p.concurrency.to_string(),
                        num(p.decode_tok_s),
                        num(p.aggregate_decode_tok_s),
                        format_int(p.prefill_tok_s),
                        format_int(p.power_busy_w),
                        format_int(p.power_idle_w),
                        format_usd(p.price_usd),
                        p.throughput_provenance.clone(),
                    ]
                })
                .collect(),
        );
        doc.table(
            &[
                "pool",
                ">tokens/month",
                ">busy h",
                ">utilization",
                ">peak hour",
                ">cap",
                ">spare",
                ">capex",
                ">amortization",
                ">energy",
            ],
            plan.pools
                .iter()
                .map(|p| {
                    vec![
                        pool_label(p),
                        format_tokens(p.tokens_per_month),
                        num(p.busy_hours),
                        pct(p.utilization),
                        pct(p.peak_utilization),
                        pct(p.utilization_cap),
                        p.spare_nodes.to_string(),
                        format_usd(p.capex_usd),
                        format_usd(p.amortization_usd),
                        format_usd(p.energy_usd),
                    ]
                })
                .collect(),
        );
    }

    doc.heading("Routing");
    doc.table(
        &["workload", "local", ">API tokens"],
        plan.routes
            .iter()
            .map(|r| {
                let local = if r.local.is_empty() {
                    "-".to_string()
                } else {
                    r.local
                        .iter()
                        .map(|s| {
                            let n = if s.concurrency > 1 {
                                format!(" N={}", s.concurrency)
                            } else {
                                String::new()
                            };
                            format!("{} {}{n}: {}", s.sku, s.quant, format_tokens(s.tokens))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                vec![r.workload.clone(), local, format_tokens(r.api_tokens)]
            })
            .collect(),
    );
    doc.list(
        plan.routes
            .iter()
            .map(|r| format!("{}: {}", r.workload, r.why))
            .collect(),
    );

    doc.heading("Monthly cost");
    let c = &plan.cost;
    doc.table(
        &["item", ">value"],
        vec![
            vec!["amortization".into(), format_usd(c.amortization_usd)],
            vec!["energy".into(), format_usd(c.energy_usd)],
            vec!["API".into(), format_usd(c.api_usd)],
            vec!["total".into(), format_usd(c.total_usd)],
            vec!["capex (one-off)".into(), format_usd(c.capex_usd)],
            vec!["tokens local".into(), format_tokens(c.tokens_local)],
            vec!["tokens API".into(), format_tokens(c.tokens_api)],
            vec![
                "blended $/1M tokens".into(),
                format_usd(c.blended_usd_per_million),
            ],
        ],
    );
    doc.para(format!("Break-even: {}", plan.break_even.text));

    doc.heading("Baselines");
    doc.table(
        &[
            "baseline",
            "fleet",
            ">monthly",
            ">capex",
            ">costs more than optimum by",
        ],
        plan.baselines
            .iter()
            .map(|b| {
                let name = if b.best_single_sku {
                    format!("{} (best single SKU)", b.name)
                } else {
                    b.name.clone()
                };
                match (b.monthly_usd, &b.infeasible_reason) {
                    (Some(monthly), _) => vec![
                        name,
                        b.fleet.clone(),
                        format_usd(monthly),
                        format_usd(b.capex_usd.unwrap_or(0.0)),
                        if b.kind == BaselineKind::Optimum {
                            "-".into()
                        } else {
                            format_usd(b.savings_vs_baseline_usd.unwrap_or(0.0))
                        },
                    ],
                    (None, _) => vec![
                        name,
                        "not possible (below)".into(),
                        "-".into(),
                        "-".into(),
                        "-".into(),
                    ],
                }
            })
            .collect(),
    );
    doc.list(
        plan.baselines
            .iter()
            .filter_map(|b| {
                b.infeasible_reason
                    .as_ref()
                    .map(|reason| format!("{} not possible: {reason}", b.name))
            })
            .collect(),
    );

    doc.heading("Solver");
    let s = &plan.solver;
    doc.para(format!(
        "{}: {}, objective {}, gap {:.2}%, solve {:.1} ms (all {} solves {:.1} ms), {} variables ({} integer), {} constraints.",
        s.backend,
        s.status,
        format_usd(s.objective_usd),
        s.gap * 100.0,
        s.solve_ms,
        plan.baselines.len() - 1,
        s.total_solve_ms,
        s.variables,
        s.integer_variables,
        s.constraints
    ));
    if s.binding.is_empty() {
        doc.para("Binding: only demand (no fleet limit or capacity cap binds).");
    } else {
        doc.para("Binding:");
        doc.list(s.binding.clone());
    }

    doc.heading("Inputs and notes");
    let a = &plan.assumptions;
    let mut notes = vec![format!(
        "catalog {}, throughput model {}, model {}",
        plan.catalog_version, plan.throughput_version, plan.model
    )];
    notes.push(format!(
        "amortization {} months, electricity {}/kWh, {} h/month, utilization cap {}",
        num(a.amortization_months),
        format_usd(a.electricity_usd_per_kwh),
        num(a.hours_per_month),
        pct(a.utilization_cap)
    ));
    if let Some(api) = &plan.api {
        notes.push(format!(
            "API {}: {}/1M input, {}/1M output, TTFT p95 {}",
            api.id,
            format_usd(api.input_usd_per_million),
            format_usd(api.output_usd_per_million),
            format_ms(api.ttft_p95_ms)
        ));
    }
    notes.push(
        "busy h = Σ tokens × (input share ÷ prefill tok/s + output share ÷ agg tok/s) ÷ instances per node ÷ 3600; agg tok/s is one instance's decode summed over its N slots, decode tok/s what one stream sees"
            .into(),
    );
    notes.extend(plan.notes.iter().cloned());
    doc.list(notes);
    doc
}

/// Returns the break-even table as a document.
pub fn breakeven_doc(
    rows: &[BreakevenRow],
    assumptions: &CostAssumptions,
    hours_per_day: f64,
) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!(
        "Cost per million tokens, {} h/day busy",
        num(hours_per_day)
    ));
    doc.para(format!(
        "Amortization {} months straight-line, electricity {}/kWh, idle power for the other {} h/day, 30-day month.",
        num(assumptions.amortization_months),
        format_usd(assumptions.electricity_usd_per_kwh),
        num(24.0 - hours_per_day)
    ));
    doc.table(
        &[
            "setup",
            "quant",
            ">hardware",
            ">full W",
            ">idle W",
            ">tok/s",
            ">tokens/month",
            ">amortization",
            ">busy energy",
            ">idle energy",
            ">$/month",
            ">$/1M local",
            ">API $/1M out",
            ">API for same tokens",
            "local cheaper at",
        ],
        rows.iter()
            .map(|r| {
                vec![
                    r.sku.clone(),
                    r.quant.clone(),
                    format_usd(r.price_usd),
                    format_int(r.power_full_w),
                    format_int(r.power_idle_w),
                    num(r.tok_s),
                    format_tokens(r.tokens_per_month),
                    format_usd(r.amortization_usd),
                    format_usd(r.busy_energy_usd),
                    format_usd(r.idle_energy_usd),
                    format_usd(r.total_usd),
                    format_usd(r.usd_per_million),
                    format_usd(r.api_output_usd_per_million),
                    format_usd(r.api_usd_for_same_tokens),
                    if r.local_can_break_even {
                        format!(
                            "> {} tok/month",
                            format_tokens(r.break_even_tokens_per_month)
                        )
                    } else {
                        format!(
                            "never (needs {} tok/month, makes {})",
                            format_tokens(r.break_even_tokens_per_month),
                            format_tokens(r.tokens_per_month)
                        )
                    },
                ]
            })
            .collect(),
    );
    doc.list(vec![
        "tokens/month = tok/s × 3600 × h/day × 30".into(),
        "amortization = hardware ÷ months; busy energy = full W × h/day × 30 ÷ 1000 × $/kWh; idle energy = idle W × (24 − h/day) × 30 ÷ 1000 × $/kWh".into(),
        "$/1M local = $/month ÷ tokens/month × 1,000,000; tok/s are decode (output) tokens, so they are priced against the API's output rate".into(),
        "local cheaper at = $/month ÷ API $ per output token: the monthly volume above which owning costs less, if the node can make that many".into(),
        "the reference article prints 19.4B tokens/month for 22.4 tok/s at 8 h/day; the product is 19.35M, so its $/100M column is 1000× too low".into(),
    ]);
    doc
}

/// Width of the day chart's bars, in characters.
const CHART_WIDTH: usize = 40;

fn cycle_hour_label(hours: u32, hour: u32) -> String {
    if hours == 24 {
        format!("{hour:02}:00")
    } else {
        let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(hour / 24) as usize % 7];
        format!("{day} {:02}:00", hour % 24)
    }
}

/// Returns the schedule as a document: a text chart of each hour (█ local, ░ API, one bar per
/// hour scaled to the busiest hour) with the figures behind it, and per-pool utilization.
pub fn schedule_doc(plan: &Plan) -> Doc {
    let mut doc = Doc::default();
    let schedule = &plan.schedule;
    doc.heading(format!(
        "fleetplan schedule: {} hours ({}), {} pool{}",
        schedule.hours,
        if schedule.hours == 24 {
            "a day"
        } else {
            "a week"
        },
        schedule.pools.len(),
        if schedule.pools.len() == 1 { "" } else { "s" }
    ));
    if schedule.hours == 0 {
        doc.para("This plan has no schedule (made before schedules existed).");
        return doc;
    }
    doc.para(format!(
        "Tokens in one occurrence of each hour; each occurs {} times a month. █ local, ░ API, scaled to the busiest hour.",
        num(schedule.occurrences_per_month)
    ));
    let peak = schedule
        .hourly
        .iter()
        .map(|h| h.local_tokens + h.api_tokens)
        .fold(0.0, f64::max);
    let mut rows = Vec::new();
    for hour in &schedule.hourly {
        let total = hour.local_tokens + hour.api_tokens;
        let (local_chars, api_chars) = if peak > 0.0 {
            let total_chars = (total / peak * CHART_WIDTH as f64).round() as usize;
            let local_chars = (hour.local_tokens / peak * CHART_WIDTH as f64).round() as usize;
            let local_chars = local_chars.min(total_chars);
            (local_chars, total_chars - local_chars)
        } else {
            (0, 0)
        };
        let bar = format!(
            "{}{}{}",
            "█".repeat(local_chars),
            "░".repeat(api_chars),
            " ".repeat(CHART_WIDTH - local_chars - api_chars)
        );
        let utilization = hour
            .pool_utilization
            .iter()
            .map(|u| pct(*u))
            .collect::<Vec<_>>()
            .join(" ");
        rows.push(vec![
            cycle_hour_label(schedule.hours, hour.hour),
            bar,
            format_tokens(hour.local_tokens),
            format_tokens(hour.api_tokens),
            if total > 0.0 {
                pct(hour.api_tokens / total)
            } else {
                "-".into()
            },
            if utilization.is_empty() {
                "-".into()
            } else {
                utilization
            },
        ]);
    }
    doc.table(
        &[
            "hour",
            "local █ / API ░",
            ">local",
            ">API",
            ">API share",
            ">pool utilization",
        ],
        rows,
    );
    if !schedule.pools.is_empty() {
        doc.para("Pools, in the order of the utilization column:");
        doc.list(
            plan.pools
                .iter()
                .zip(&schedule.pools)
                .map(|(p, label)| {
                    format!(
                        "{label}: {} node{}{}, peak hour {} busy, month {} busy",
                        p.nodes,
                        if p.nodes == 1 { "" } else { "s" },
                        if p.spare_nodes > 0 {
                            format!(" ({} spare)", p.spare_nodes)
                        } else {
                            String::new()
                        },
                        pct(p.peak_utilization),
                        pct(p.utilization)
                    )
                })
                .collect(),
        );
    }
    doc.para(format!(
        "Month: {} local, {} to the API, {}/month.",
        format_tokens(plan.cost.tokens_local),
        format_tokens(plan.cost.tokens_api),
        format_usd(plan.cost.total_usd)
    ));
    doc
}

/// Quotes a CSV field when it needs it.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Returns the schedule as CSV, one row per (hour, workload, target) with tokens:
/// `hour,workload,target,tokens,pool_utilization`; `target` is a pool label or `api`, and
/// `pool_utilization` that pool's busy fraction in the hour (empty for the API). Rows with no
/// tokens are left out.
pub fn schedule_csv(plan: &Plan) -> String {
    let schedule = &plan.schedule;
    let mut out = String::from("hour,workload,target,tokens,pool_utilization\n");
    for hour in &schedule.hourly {
        for w in &hour.workloads {
            for (p, tokens) in w.pool_tokens.iter().enumerate() {
                if *tokens > 0.0 {
                    out.push_str(&format!(
                        "{},{},{},{:.0},{:.6}\n",
                        hour.hour,
                        csv_field(&w.workload),
                        csv_field(&schedule.pools[p]),
                        tokens,
                        hour.pool_utilization[p]
                    ));
                }
            }
            if w.api_tokens > 0.0 {
                out.push_str(&format!(
                    "{},{},api,{:.0},\n",
                    hour.hour,
                    csv_field(&w.workload),
                    w.api_tokens
                ));
            }
        }
    }
    out
}

/// Returns the schedule as pretty JSON (the plan's `schedule` field).
pub fn schedule_json(plan: &Plan) -> String {
    serde_json::to_string_pretty(&plan.schedule).expect("schedules serialize to JSON") + "\n"
}
