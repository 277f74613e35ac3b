//! Builds the plan and break-even reports. Every figure printed comes with the inputs that
//! produce it, so a reviewer can redo the arithmetic by hand.

use fleet_planner::cost::{BreakevenRow, CostAssumptions};
use fleet_planner::plan::{BaselineKind, NOT_SOLVED, Plan, Pool};
use fleet_planner::throughput::WindowRejections;
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
    pool_label_parts(&p.sku, &p.quant, p.concurrency)
}

/// Returns the label of a pool given by its parts (see [`pool_label`]).
pub fn pool_label_parts(sku: &str, quant: &str, concurrency: u32) -> String {
    fleet_planner::sweep::pool_label(sku, quant, concurrency)
}

/// Returns the plan as a document.
pub fn plan_doc(plan: &Plan, id: &str) -> Doc {
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
    doc.para(format!(
        "Plan {id} (catalog version {}, throughput model {}){}.",
        plan.catalog_version,
        plan.throughput_version,
        if plan.trust_published {
            "; published figures trusted as asked, even where the physics finds them implausible or impossible (--trust-published)"
        } else {
            ""
        }
    ));
    doc.para(optimum_line(plan));
    for warning in &plan.latency.warnings {
        doc.para(format!("Latency warning: {warning}."));
    }

    doc.heading("Workloads");
    workloads_table(&mut doc, plan);

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
    cost_table(&mut doc, plan);
    doc.para(format!("Break-even: {}", plan.break_even.text));

    doc.heading("Baselines");
    baselines_table(&mut doc, plan);

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

    latency_section(&mut doc, plan);

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

/// Returns the optimum in one sentence: fleet, API tokens, monthly cost, capex, break-even.
pub fn optimum_line(plan: &Plan) -> String {
    let fleet = plan
        .baselines
        .iter()
        .find(|b| b.kind == BaselineKind::Optimum)
        .map_or("-", |b| b.fleet.as_str());
    format!(
        "Optimum: {fleet}, {} to the API. {}/month ({}/1M tokens blended), capex {}. Break-even: {}.",
        format_tokens(plan.cost.tokens_api),
        format_usd(plan.cost.total_usd),
        format_usd(plan.cost.blended_usd_per_million),
        format_usd(plan.cost.capex_usd),
        plan.break_even.text
    )
}

/// Appends the plan's workloads as a table: demand, input share, prompt, SLOs, quality floor,
/// profile, deferral and criticality.
pub fn workloads_table(doc: &mut Doc, plan: &Plan) {
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
}

/// Appends the plan's monthly cost as a table: amortization, energy, API, total, capex, tokens
/// local and to the API, blended price.
pub fn cost_table(doc: &mut Doc, plan: &Plan) {
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
}

/// Appends the baselines (all-API, every single-SKU fleet, the optimum) as a table, and why
/// those without a fleet have none.
pub fn baselines_table(doc: &mut Doc, plan: &Plan) {
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
                    (None, reason) => vec![
                        name,
                        if reason.as_deref().is_some_and(|r| r.starts_with(NOT_SOLVED)) {
                            format!("{NOT_SOLVED} (below)")
                        } else {
                            "not possible (below)".into()
                        },
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
                b.infeasible_reason.as_ref().map(|reason| {
                    if reason.starts_with(NOT_SOLVED) {
                        format!("{} {reason}", b.name)
                    } else {
                        format!("{} not possible: {reason}", b.name)
                    }
                })
            })
            .collect(),
    );
}

/// Returns the break-even table as a document.
/// Which figures a break-even table prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakevenMethod {
    /// The throughput model's physics-checked figures, as propose uses them.
    PhysicsChecked,
    /// Published figures at face value where the physics rejects them (`--trust-published`).
    Trusted,
    /// The reference article's own method (`--as-published`).
    AsPublished,
}

/// Returns the break-even table.
pub fn breakeven_doc(
    rows: &[BreakevenRow],
    excluded: &[fleet_planner::cost::BreakevenExcluded],
    assumptions: &CostAssumptions,
    hours_per_day: f64,
    method: BreakevenMethod,
) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!(
        "Cost per million tokens, {} h/day busy",
        num(hours_per_day)
    ));
    doc.para(match method {
        BreakevenMethod::PhysicsChecked => "Each node at its fastest single-stream configuration among the figures propose uses: published where the physics finds them plausible, else the roofline estimate; its busy power and instances as propose prices them. --as-published reproduces the article's table.".to_string(),
        BreakevenMethod::Trusted => "Published figures at face value where the physics rejects them (--trust-published), at the power each benchmark ran at, as propose --trust-published prices them.".to_string(),
        BreakevenMethod::AsPublished => "The reference article's method: each SKU's fastest benchmark as published, one stream at the SKU's full power. The verdict column says what the physics thinks of each.".to_string(),
    });
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
            "basis",
            "verdict",
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
                    r.basis.clone(),
                    r.verdict.clone(),
                ]
            })
            .collect(),
    );
    if !excluded.is_empty() {
        doc.para("No row: no configuration of the model fits at the quality floor.".to_string());
        doc.list(
            excluded
                .iter()
                .map(|e| format!("{}: {}", e.sku, e.reason))
                .collect(),
        );
    }
    doc.list(vec![
        "tokens/month = tok/s × 3600 × h/day × 30; a node's tok/s is one stream's × its llama-server instances".into(),
        "amortization = hardware ÷ months; busy energy = full W (the configuration's busy power) × h/day × 30 ÷ 1000 × $/kWh; idle energy = idle W × (24 − h/day) × 30 ÷ 1000 × $/kWh".into(),
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
    let hourly_latency = fleet_planner::latency::hourly(plan);
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
        let p95 = hourly_latency
            .iter()
            .filter(|l| l.hour == hour.hour)
            .map(|l| l.ttft_p95_s.unwrap_or(f64::INFINITY))
            .reduce(f64::max);
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
            p95.map_or("-".into(), |p| seconds(p.is_finite().then_some(p))),
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
            ">TTFT p95",
        ],
        rows,
    );
    if !schedule.pools.is_empty() {
        doc.para("Pools, in the order of the utilization column:");
        doc.list(pool_load_lines(plan));
    }
    doc.para(format!(
        "Month: {} local, {} to the API, {}/month.",
        format_tokens(plan.cost.tokens_local),
        format_tokens(plan.cost.tokens_api),
        format_usd(plan.cost.total_usd)
    ));
    doc
}

/// Formats seconds of latency, `unbounded` for an unstable queue.
fn seconds(value: Option<f64>) -> String {
    value.map_or("unbounded".into(), |s| format_ms(s * 1_000.0))
}

/// The TTFT the plan implies: per pool its busiest-p95 hour, per workload SLO attainment and
/// goodput (`fleet_planner::latency`).
fn latency_section(doc: &mut Doc, plan: &Plan) {
    let latency = &plan.latency;
    if latency.pools.is_empty() {
        return;
    }
    doc.heading(format!(
        "Latency ({} queues: Erlang C over each node's slots)",
        latency.routing
    ));
    doc.table(
        &[
            "pool",
            ">worst hour",
            ">utilization",
            ">mean wait",
            ">TTFT p50",
            ">TTFT p95",
            ">within SLO",
        ],
        latency
            .pools
            .iter()
            .filter_map(|h| {
                Some(vec![
                    pool_label(plan.pools.get(h.pool)?),
                    cycle_hour_label(plan.schedule.hours, h.hour),
                    pct(h.utilization),
                    seconds(h.mean_wait_s),
                    seconds(h.ttft_p50_s),
                    seconds(h.ttft_p95_s),
                    h.slo_attainment.map_or("no limit".into(), pct),
                ])
            })
            .collect(),
    );
    doc.table(
        &[
            "workload",
            ">TTFT p95 ≤",
            ">within SLO",
            ">goodput/month",
            ">tokens/month",
        ],
        latency
            .workloads
            .iter()
            .map(|w| {
                vec![
                    w.workload.clone(),
                    w.ttft_limit_s
                        .map_or("any".into(), |s| format_ms(s * 1_000.0)),
                    pct(w.slo_attainment),
                    format_tokens(w.goodput_tokens_per_month),
                    format_tokens(w.tokens_per_month),
                ]
            })
            .collect(),
    );
}

/// Returns one line per pool of the schedule: nodes, spares, its busiest hour's and the month's
/// busy fraction.
pub fn pool_load_lines(plan: &Plan) -> Vec<String> {
    plan.pools
        .iter()
        .zip(&plan.schedule.pools)
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
        .collect()
}

/// Quotes a CSV field when it needs it.
pub fn csv_field(text: &str) -> String {
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

/// Returns the schedule as pretty JSON: the plan's `schedule` field with `latency`, every pool's
/// utilization, mean wait, TTFT p50/p95 and SLO attainment per hour.
pub fn schedule_json(plan: &Plan) -> String {
    let mut value = serde_json::to_value(&plan.schedule).expect("schedules serialize to JSON");
    if let Some(object) = value.as_object_mut() {
        // Per pool and hour: utilization, mean wait, TTFT p50/p95, SLO attainment.
        object.insert(
            "latency".into(),
            serde_json::to_value(fleet_planner::latency::hourly(plan))
                .expect("latency serializes to JSON"),
        );
    }
    serde_json::to_string_pretty(&value).expect("schedules serialize to JSON") + "\n"
}

/// Returns a listing of stored plans.
pub fn plans_doc(page: &fleet_proto::v1::ListPlansResponse) -> Doc {
    let mut doc = Doc::default();
    doc.heading("Stored plans, newest first");
    doc.table(
        &["id", "created (UTC)", "catalog", ">monthly cost", "plan"],
        page.plans
            .iter()
            .map(|p| {
                vec![
                    p.id.clone(),
                    format_utc(p.created_at_unix_ms),
                    p.catalog_version.clone(),
                    format_usd(p.total_usd),
                    p.summary.clone(),
                ]
            })
            .collect(),
    );
    if !page.next_page_token.is_empty() {
        doc.para(format!("More: --page-token {}", page.next_page_token));
    }
    doc
}

/// Returns `YYYY-MM-DD HH:MM` in UTC for Unix milliseconds (civil-from-days, no time zone
/// database needed).
pub fn format_utc(unix_ms: i64) -> String {
    let seconds = unix_ms.div_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        of_day / 3_600,
        of_day % 3_600 / 60
    )
}

/// The spec fields of a SKU: name, label, unit and the `hardware add` flag that gives it.
const SPEC_FIELDS: [(&str, &str, &str, &str); 6] = [
    (
        "memory_bandwidth_gb_s",
        "memory bandwidth",
        "GB/s",
        "--memory-bandwidth-gb-s",
    ),
    ("compute_tflops", "compute", "TFLOPS", "--compute-tflops"),
    ("host_ram_gb", "host RAM", "GB", "--host-ram-gb"),
    (
        "host_ram_bandwidth_gb_s",
        "host RAM bandwidth",
        "GB/s",
        "--host-ram-bandwidth-gb-s",
    ),
    ("host_link_gb_s", "host link", "GB/s", "--host-link-gb-s"),
    ("disk_read_gb_s", "disk read", "GB/s", "--disk-read-gb-s"),
];

/// Returns the value the physics uses for a spec field: given, or its default.
fn spec_value(sku: &fleet_planner::catalog::HardwareSku, field: &str) -> f64 {
    let specs = sku.specs();
    match field {
        "memory_bandwidth_gb_s" => specs.memory_bandwidth_gb_s,
        "compute_tflops" => specs.compute_tflops,
        "host_ram_gb" => specs.host_ram_gb,
        "host_ram_bandwidth_gb_s" => specs.host_ram_bandwidth_gb_s,
        "host_link_gb_s" => specs.host_link_gb_s,
        _ => specs.disk_read_gb_s,
    }
}

/// Returns a spec cell: the value, marked `(assumed)` when the SKU does not give it.
fn spec_cell(sku: &fleet_planner::catalog::HardwareSku, field: &str) -> String {
    let value = num(spec_value(sku, field));
    if sku.assumed_spec_fields().contains(&field) {
        format!("{value} (assumed)")
    } else {
        value
    }
}

/// Returns what `hardware add` prints: the SKU is saved, plans estimate it from its specs, and
/// which specs were left at their defaults, with the flags that give them.
pub fn hardware_saved(sku: &fleet_planner::catalog::HardwareSku, version: &str) -> String {
    let mut out = format!(
        "hardware {} saved (catalog version {version})\n\
         plans use the roofline estimate from its specs until it has benchmarks; \
         `planner-cli catalog check` judges those against the same specs\n",
        sku.id
    );
    let assumed = sku.assumed_spec_fields();
    if assumed.is_empty() {
        out.push_str("every spec given, none assumed\n");
    } else {
        let items: Vec<String> = SPEC_FIELDS
            .iter()
            .filter(|(field, ..)| assumed.contains(field))
            .map(|(field, label, unit, flag)| {
                format!("{label} {} {unit} ({flag})", num(spec_value(sku, field)))
            })
            .collect();
        out.push_str(&format!(
            "assumed, not given: {}; pass the flags to give them\n",
            items.join(", ")
        ));
    }
    out
}

/// Returns the hardware listing.
pub fn hardware_doc(skus: &[fleet_planner::catalog::HardwareSku], version: &str) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!("Hardware (catalog version {version})"));
    doc.table(
        &[
            "id",
            "name",
            "accel",
            "GB/dev",
            "mem GB/s",
            "TFLOPS",
            "host RAM GB",
            "price",
            "full W",
            "idle W",
            "backend",
            "source",
        ],
        skus.iter()
            .map(|h| {
                vec![
                    h.id.clone(),
                    h.name.clone(),
                    h.accelerators.to_string(),
                    format!("{}", h.memory_per_device_gb),
                    spec_cell(h, "memory_bandwidth_gb_s"),
                    spec_cell(h, "compute_tflops"),
                    if h.unified_memory {
                        "unified".to_string()
                    } else {
                        spec_cell(h, "host_ram_gb")
                    },
                    format_usd(h.price_usd),
                    format!("{}", h.power_full_w),
                    format!("{}", h.power_idle_w),
                    h.backend.clone(),
                    h.provenance.source.clone(),
                ]
            })
            .collect(),
    );
    doc.para(
        "(assumed): not given for the SKU; plans use the default shown. \
         `hardware list -o json` carries every spec.",
    );
    doc
}

/// Returns the throughput model listing.
pub fn throughput_doc(model: &fleet_proto::v1::GetThroughputModelResponse) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!("Throughput model {}", model.version));
    doc.table(
        &[
            "sku",
            "model",
            "quant",
            "conc",
            "decode tok/s",
            "aggregate tok/s",
            "prefill tok/s",
            "source",
        ],
        model
            .points
            .iter()
            .map(|p| {
                vec![
                    p.sku.clone(),
                    p.model.clone(),
                    p.quant.clone(),
                    p.concurrency.to_string(),
                    format!("{:.1}", p.decode_tok_s),
                    format!("{:.1}", p.aggregate_decode_tok_s),
                    format!("{:.0}", p.prefill_tok_s),
                    p.provenance.clone(),
                ]
            })
            .collect(),
    );
    let rejections = rejections_from_pb(model.rejections.as_ref());
    if rejections.total() > 0 {
        doc.para(format!(
            "Stored but not used: {rejections} (of every window stored; each measured row says its own)."
        ));
    }
    if !model.unmatched.is_empty() {
        doc.heading("Observed but not in the catalog (stored, not used)");
        doc.table(
            &["sku", "model", "quant", "conc", "windows", "nodes", "why"],
            model
                .unmatched
                .iter()
                .map(|u| {
                    vec![
                        u.sku.clone(),
                        u.model.clone(),
                        u.quant.clone(),
                        u.concurrency.to_string(),
                        u.windows.to_string(),
                        u.nodes.to_string(),
                        u.reason.clone(),
                    ]
                })
                .collect(),
        );
    }
    doc
}

fn rejections_from_pb(r: Option<&fleet_proto::v1::WindowRejections>) -> WindowRejections {
    r.map(|r| WindowRejections {
        too_few_tokens: r.too_few_tokens,
        no_rate: r.no_rate,
        outliers: r.outliers,
        above_ceiling: r.above_ceiling,
    })
    .unwrap_or_default()
}

fn signed_pct(value: f64) -> String {
    format!("{value:+.1}%")
}

/// Renders the accuracy ledger: per measured configuration, assumed against measured, and per
/// SKU the mean absolute percentage error and re-fit factors.
pub fn accuracy_doc(ledger: &fleet_proto::v1::GetAccuracyResponse) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!(
        "Accuracy of assumed figures (throughput model {})",
        ledger.throughput_version
    ));
    if ledger.rows.is_empty() {
        doc.para(
            "No configuration with an assumed figure has been measured yet: run fleet-agent next to llama-server (or `fleet-agent probe`) and check again.",
        );
    } else {
        let rates = |r: &Option<fleet_proto::v1::MeasuredRates>| {
            let r = (*r).unwrap_or_default();
            format!(
                "{:.1} / {:.1} / {}",
                r.decode_tok_s,
                r.aggregate_decode_tok_s,
                r.prefill_tok_s
                    .map(|p| format!("{p:.0}"))
                    .unwrap_or_else(|| "–".into())
            )
        };
        doc.table(
            &[
                "sku",
                "model",
                "quant",
                "conc",
                "assumed dec / agg / prefill",
                "measured dec / agg / prefill",
                "error dec / agg / prefill",
                "band",
                "windows",
                "assumed basis",
            ],
            ledger
                .rows
                .iter()
                .map(|r| {
                    vec![
                        r.sku.clone(),
                        r.model.clone(),
                        r.quant.clone(),
                        r.concurrency.to_string(),
                        rates(&r.assumed),
                        rates(&r.measured),
                        format!(
                            "{} / {} / {}{}",
                            signed_pct(r.decode_error_pct),
                            signed_pct(r.aggregate_error_pct),
                            r.prefill_error_pct
                                .map(signed_pct)
                                .unwrap_or_else(|| "–".into()),
                            if r.outside_band { " !" } else { "" }
                        ),
                        format!("±{:.0}%", r.band * 100.0),
                        r.windows.to_string(),
                        r.assumed_basis.clone(),
                    ]
                })
                .collect(),
        );
        doc.para(
            "Error = (assumed − measured) ÷ measured: + means the plan assumed faster hardware than it is. ! marks a figure off by more than its band. Measured = token-weighted median of the windows used, not blended with the prior.",
        );
        doc.heading("Per SKU");
        doc.table(
            &[
                "sku",
                "configurations",
                "MAPE",
                "re-fit decode ×",
                "re-fit prefill ×",
                "re-fit band",
            ],
            ledger
                .skus
                .iter()
                .map(|a| {
                    let factor =
                        |f: Option<f64>| f.map(|f| format!("{f:.3}")).unwrap_or_else(|| "–".into());
                    vec![
                        a.sku.clone(),
                        a.configurations.to_string(),
                        format!("{:.1}%", a.mape_pct),
                        factor(a.decode_efficiency_factor),
                        factor(a.prefill_efficiency_factor),
                        format!("±{:.0}%", a.refit_band * 100.0),
                    ]
                })
                .collect(),
        );
        doc.para(
            "Estimates of configurations not yet measured on a SKU are the roofline re-fit by its factors (measured ÷ estimated, geometric mean over the configurations whose prior was an estimate).",
        );
    }
    let rejections = rejections_from_pb(ledger.rejections.as_ref());
    if rejections.total() > 0 {
        doc.para(format!("Measured windows not used: {rejections}."));
    }
    doc
}

/// Returns the accuracy ledger as JSON.
pub fn accuracy_json(ledger: &fleet_proto::v1::GetAccuracyResponse) -> serde_json::Value {
    let rates = |r: &Option<fleet_proto::v1::MeasuredRates>| {
        let r = (*r).unwrap_or_default();
        serde_json::json!({
            "decode_tok_s": r.decode_tok_s,
            "aggregate_decode_tok_s": r.aggregate_decode_tok_s,
            "prefill_tok_s": r.prefill_tok_s,
        })
    };
    let rejections = rejections_from_pb(ledger.rejections.as_ref());
    serde_json::json!({
        "throughput_version": ledger.throughput_version,
        "rows": ledger.rows.iter().map(|r| serde_json::json!({
            "sku": r.sku, "model": r.model, "quant": r.quant, "concurrency": r.concurrency,
            "assumed": rates(&r.assumed), "assumed_basis": r.assumed_basis, "band": r.band,
            "measured": rates(&r.measured), "windows": r.windows,
            "decode_error_pct": r.decode_error_pct,
            "aggregate_error_pct": r.aggregate_error_pct,
            "prefill_error_pct": r.prefill_error_pct,
            "outside_band": r.outside_band,
        })).collect::<Vec<_>>(),
        "skus": ledger.skus.iter().map(|a| serde_json::json!({
            "sku": a.sku, "configurations": a.configurations, "mape_pct": a.mape_pct,
            "decode_efficiency_factor": a.decode_efficiency_factor,
            "prefill_efficiency_factor": a.prefill_efficiency_factor,
            "refit_band": a.refit_band,
        })).collect::<Vec<_>>(),
        "rejections": serde_json::to_value(rejections).unwrap_or_default(),
    })
}

/// How one pool changed between two plans.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PoolChange {
    /// `+` added, `-` removed, `~` changed.
    pub change: char,
    /// SKU id.
    pub sku: String,
    /// Quantization.
    pub quant: String,
    /// Streams per llama-server instance (N).
    pub concurrency: u32,
    /// Nodes in plan A (0 when added).
    pub nodes_before: u32,
    /// Nodes in plan B (0 when removed).
    pub nodes_after: u32,
    /// Monthly cost of the pool in A.
    pub monthly_usd_before: f64,
    /// Monthly cost of the pool in B.
    pub monthly_usd_after: f64,
}

/// What changed from plan A to plan B.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanDiff {
    /// Pools added, removed or changed; unchanged pools are left out.
    pub pools: Vec<PoolChange>,
    /// (name, A, B) of every cost line that changed.
    pub cost: Vec<(String, f64, f64)>,
    /// Catalog versions of A and B.
    pub catalog_versions: (String, String),
    /// Inputs that differ: workloads, limits, owned nodes, assumptions, API prices, versions.
    pub inputs: Vec<crate::inputs::InputChange>,
}

impl PlanDiff {
    /// Returns the changes from `a` to `b`. Pools are matched by (sku, quant, N).
    pub fn between(a: &Plan, b: &Plan) -> PlanDiff {
        let pool_cost = |p: &fleet_planner::plan::Pool| p.amortization_usd + p.energy_usd;
        let mut pools = Vec::new();
        for old in &a.pools {
            match b.pools.iter().find(|p| {
                p.sku == old.sku && p.quant == old.quant && p.concurrency == old.concurrency
            }) {
                None => pools.push(PoolChange {
                    change: '-',
                    sku: old.sku.clone(),
                    quant: old.quant.clone(),
                    concurrency: old.concurrency,
                    nodes_before: old.nodes,
                    nodes_after: 0,
                    monthly_usd_before: pool_cost(old),
                    monthly_usd_after: 0.0,
                }),
                Some(new) => {
                    let changed =
                        new.nodes != old.nodes || (pool_cost(new) - pool_cost(old)).abs() >= 0.005;
                    if changed {
                        pools.push(PoolChange {
                            change: '~',
                            sku: old.sku.clone(),
                            quant: old.quant.clone(),
                            concurrency: old.concurrency,
                            nodes_before: old.nodes,
                            nodes_after: new.nodes,
                            monthly_usd_before: pool_cost(old),
                            monthly_usd_after: pool_cost(new),
                        });
                    }
                }
            }
        }
        for new in &b.pools {
            if !a.pools.iter().any(|p| {
                p.sku == new.sku && p.quant == new.quant && p.concurrency == new.concurrency
            }) {
                pools.push(PoolChange {
                    change: '+',
                    sku: new.sku.clone(),
                    quant: new.quant.clone(),
                    concurrency: new.concurrency,
                    nodes_before: 0,
                    nodes_after: new.nodes,
                    monthly_usd_before: 0.0,
                    monthly_usd_after: pool_cost(new),
                });
            }
        }
        let lines = [
            (
                "amortization",
                a.cost.amortization_usd,
                b.cost.amortization_usd,
            ),
            ("energy", a.cost.energy_usd, b.cost.energy_usd),
            ("API", a.cost.api_usd, b.cost.api_usd),
            ("monthly total", a.cost.total_usd, b.cost.total_usd),
            ("capex", a.cost.capex_usd, b.cost.capex_usd),
        ];
        let cost = lines
            .into_iter()
            .filter(|(_, x, y)| (x - y).abs() >= 0.005)
            .map(|(name, x, y)| (name.to_string(), x, y))
            .collect();
        PlanDiff {
            pools,
            cost,
            catalog_versions: (a.catalog_version.clone(), b.catalog_version.clone()),
            inputs: crate::inputs::input_changes(a, b),
        }
    }
}

fn signed_usd(delta: f64) -> String {
    if delta >= 0.0 {
        format!("+{}", format_usd(delta))
    } else {
        format!("-{}", format_usd(-delta))
    }
}

/// Returns the diff as a document, infracost style: `+` added, `-` removed, `~` changed.
pub fn diff_doc(a: &str, b: &str, diff: &PlanDiff) -> Doc {
    let mut doc = Doc::default();
    doc.heading(format!("Plan {a} → {b}"));
    if diff.catalog_versions.0 != diff.catalog_versions.1 {
        doc.para(format!(
            "Catalog version {} → {}.",
            diff.catalog_versions.0, diff.catalog_versions.1
        ));
    }
    diff_sections(&mut doc, diff, ("A", "B"));
    doc
}

/// Appends what changed: the inputs, then pools, node counts and cost; `columns` names the two
/// plans in the inputs table.
pub fn diff_sections(doc: &mut Doc, diff: &PlanDiff, columns: (&str, &str)) {
    if diff.inputs.is_empty() {
        doc.para(
            "Inputs: the same workloads, limits, owned nodes, cost assumptions and API prices.",
        );
    } else {
        doc.para("Inputs:");
        doc.table(
            &["", "input", columns.0, columns.1],
            diff.inputs
                .iter()
                .map(|c| {
                    vec![
                        c.change.to_string(),
                        c.what.clone(),
                        c.before.clone(),
                        c.after.clone(),
                    ]
                })
                .collect(),
        );
    }
    if diff.pools.is_empty() && diff.cost.is_empty() {
        doc.para("No changes in pools, node counts or cost.");
        return;
    }
    let change = |before: f64, after: f64| {
        format!(
            "{} → {} ({})",
            format_usd(before),
            format_usd(after),
            signed_usd(after - before)
        )
    };
    let mut rows: Vec<Vec<String>> = diff
        .pools
        .iter()
        .map(|p| {
            vec![
                p.change.to_string(),
                format!("pool {}", pool_label_parts(&p.sku, &p.quant, p.concurrency)),
                format!("{} → {}", p.nodes_before, p.nodes_after),
                change(p.monthly_usd_before, p.monthly_usd_after),
            ]
        })
        .collect();
    rows.extend(
        diff.cost
            .iter()
            .map(|(name, x, y)| vec!["~".to_string(), name.clone(), String::new(), change(*x, *y)]),
    );
    doc.table(&["", "what", "nodes", "monthly USD (capex: one-off)"], rows);
}

#[cfg(test)]
mod server_render_tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(format_utc(0), "1970-01-01 00:00");
        // 2026-11-28 17:20:44 UTC.
        assert_eq!(format_utc(1_795_886_444_000), "2026-11-28 17:20");
        // Leap day.
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00");
    }
}
