//! `planner-cli report`: a capacity review of one stored plan, as one self-contained HTML file
//! (charts inline as SVG, styles inline, no script, nothing fetched) or as Markdown for a pull
//! request comment. It shows the inputs (workloads, owned nodes, limits, budget, API prices and
//! where they come from), the plan with the basis of every throughput figure, the baselines, a
//! sweep around the requested demand, the schedule, and what changed since the previous plan.

use std::path::PathBuf;

use clap::ValueEnum;
use fleet_planner::Plan;
use fleet_planner::demand::{CostOverrides, PlanRequest};
use fleet_planner::grpc::sweep::sweep_request_to_pb;
use fleet_planner::sweep::{DEFAULT_TIME_LIMIT_S, SweepRange, SweepSpec};
use fleet_planner::units::{format_int, format_ms, format_tokens, format_usd};
use fleet_proto::v1 as pb;

use crate::client::Client;
use crate::doc::Doc;
use crate::render::{self, PlanDiff, format_utc, pool_label_parts};
use crate::{Failure, chart, sweep};

/// Formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// One self-contained HTML file with inline SVG charts.
    Html,
    /// Markdown for a pull request comment (charts named, not drawn).
    Markdown,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Plan id [default: the newest stored plan].
    #[arg(value_name = "PLAN_ID")]
    plan: Option<String>,
    /// Plan to compare with [default: the stored plan made just before it].
    #[arg(long, value_name = "PLAN_ID")]
    previous: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    format: ReportFormat,
    /// Also write the report to DIR/capacity-review-<plan id>.html (or .md).
    #[arg(long, value_name = "DIR")]
    copy_to: Option<PathBuf>,
    /// Points of the sweep around the plan's demand (a tenth of it to ten times it).
    #[arg(long, default_value_t = 9, value_parser = clap::value_parser!(u32).range(2..=200))]
    sweep_steps: u32,
    /// Print ids, times and solve times as placeholders (for reproducible snapshots).
    #[arg(long, hide = true)]
    redact_timings: bool,
}

/// Pages of the plan listing searched for the plan before the reviewed one.
const MAX_LISTING_PAGES: usize = 20;

/// A stored plan as the report reads it.
struct Stored {
    id: String,
    created_at_unix_ms: i64,
    plan: Plan,
}

async fn get(client: &mut Client, id: &str) -> Result<Stored, Failure> {
    let response = crate::rpc!(client, get_plan, pb::GetPlanRequest { id: id.to_string() })?;
    let wire = response.plan.ok_or_else(|| Failure {
        code: 1,
        message: "the planner answered without a plan".into(),
    })?;
    let plan =
        fleet_planner::grpc::plan_from_pb(&wire).map_err(|message| Failure { code: 1, message })?;
    Ok(Stored {
        id: wire.id,
        created_at_unix_ms: wire.created_at_unix_ms,
        plan,
    })
}

/// Returns the newest stored plan's id, and the id of the plan stored just before `id` (or
/// before the newest, without one).
async fn neighbours(
    client: &mut Client,
    id: Option<&str>,
) -> Result<(Option<String>, Option<String>), Failure> {
    let mut page_token = String::new();
    let mut seen_target = false;
    let mut newest = None;
    for _ in 0..MAX_LISTING_PAGES {
        let page = crate::rpc!(
            client,
            list_plans,
            pb::ListPlansRequest {
                page_size: 100,
                page_token: page_token.clone(),
            }
        )?;
        for summary in &page.plans {
            if newest.is_none() {
                newest = Some(summary.id.clone());
            }
            if seen_target {
                return Ok((newest, Some(summary.id.clone())));
            }
            if id.is_none_or(|id| id == summary.id) {
                seen_target = true;
            }
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    Ok((newest, None))
}

/// Returns the request a plan was made from, as far as the plan records it: its workloads,
/// fleet limits, the cost assumptions it used and whether it trusted published figures.
fn request_of(plan: &Plan) -> PlanRequest {
    PlanRequest {
        workloads: plan.workloads.clone(),
        constraints: plan.constraints.clone(),
        overrides: CostOverrides {
            utilization_cap: Some(plan.assumptions.utilization_cap),
            electricity_usd_per_kwh: Some(plan.assumptions.electricity_usd_per_kwh),
            amortization_months: Some(plan.assumptions.amortization_months),
        },
        trust_published: plan.trust_published,
    }
}

/// Runs `planner-cli report`.
pub async fn run(client: &mut Client, args: ReportArgs) -> Result<String, Failure> {
    let (newest, before_newest) = neighbours(client, None).await?;
    let id = match (&args.plan, newest) {
        (Some(id), _) => id.clone(),
        (None, Some(newest)) => newest,
        (None, None) => {
            return Err(Failure {
                code: 2,
                message: "no stored plans to review: run planner-cli propose first".into(),
            });
        }
    };
    let current = get(client, &id).await?;
    let previous_id = match (&args.previous, &args.plan) {
        (Some(previous), _) => Some(previous.clone()),
        (None, None) => before_newest,
        (None, Some(id)) => neighbours(client, Some(id)).await?.1,
    };
    let previous = match previous_id {
        Some(previous) => Some(get(client, &previous).await?),
        None => None,
    };
    let apis = crate::rpc!(client, list_api_offers, pb::ListApiOffersRequest {})?;
    let hardware = crate::rpc!(client, list_hardware, pb::ListHardwareRequest {})?;

    // The sweep: a tenth of the plan's demand to ten times it, all else as planned.
    let demand: f64 = current
        .plan
        .workloads
        .iter()
        .map(|w| w.monthly_tokens.get() as f64)
        .sum();
    let max_tokens = fleet_planner::demand::MAX_MONTHLY_TOKENS as f64;
    let spec = SweepSpec {
        demand_tokens: Some(SweepRange {
            min: (demand / 10.0).round().clamp(1.0, max_tokens),
            max: (demand * 10.0).round().clamp(1.0, max_tokens),
        }),
        api_price_scale: None,
        steps: args.sweep_steps,
    };
    let swept = if spec.validate().is_ok() {
        let request = sweep_request_to_pb(&request_of(&current.plan), &spec, DEFAULT_TIME_LIMIT_S);
        sweep::call(client, request, true).await.map(|mut s| {
            if args.redact_timings {
                s.elapsed_ms = 0.0;
            }
            s
        })
    } else {
        Err(Failure {
            code: 2,
            message: "the plan's demand leaves no range to sweep".into(),
        })
    };

    let mut report = Review {
        current,
        previous,
        apis: apis.api_offers,
        hardware: hardware.hardware,
        sweep: swept,
        charts: args.format == ReportFormat::Html,
        redacted: false,
    };
    if args.redact_timings {
        report.redact();
    }
    let doc = report.doc();
    let text = match args.format {
        ReportFormat::Html => html_page(&report.title(), &doc),
        ReportFormat::Markdown => doc.to_markdown(),
    };
    if let Some(dir) = &args.copy_to {
        let extension = match args.format {
            ReportFormat::Html => "html",
            ReportFormat::Markdown => "md",
        };
        let path = dir.join(format!("capacity-review-{id}.{extension}"));
        write_atomically(&path, &text).map_err(|error| Failure {
            code: 1,
            message: format!("cannot write the report to {}: {error}", path.display()),
        })?;
        eprintln!("report written to {}", path.display());
    }
    Ok(text)
}

/// Writes `text` to `path` through a temporary file in the same directory, so a reader never
/// sees half a report.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// Everything the review shows.
struct Review {
    current: Stored,
    previous: Option<Stored>,
    apis: Vec<pb::ApiOffer>,
    hardware: Vec<pb::HardwareSku>,
    sweep: Result<fleet_planner::sweep::Sweep, Failure>,
    charts: bool,
    /// Times print as placeholders.
    redacted: bool,
}

impl Review {
    /// Replaces ids, times and solve times with placeholders.
    fn redact(&mut self) {
        self.redacted = true;
        self.current.id = "<plan-id>".into();
        self.current.created_at_unix_ms = 0;
        self.current.plan.solver.solve_ms = 0.0;
        self.current.plan.solver.total_solve_ms = 0.0;
        if let Some(previous) = &mut self.previous {
            previous.id = "<previous-plan-id>".into();
            previous.created_at_unix_ms = 0;
        }
    }

    /// Returns a chart's SVG for HTML; Markdown names the chart only.
    fn chart(&self, draw: impl FnOnce() -> String) -> String {
        if self.charts { draw() } else { String::new() }
    }

    /// Returns when a plan was made, in UTC.
    fn when(&self, unix_ms: i64) -> String {
        if self.redacted {
            "<time>".into()
        } else {
            format_utc(unix_ms)
        }
    }

    fn title(&self) -> String {
        format!("Capacity review: {}", self.current.plan.summary())
    }

    fn doc(&self) -> Doc {
        let mut doc = Doc::default();
        let plan = &self.current.plan;
        doc.heading(self.title());
        doc.para(format!(
            "Plan {}, made {} UTC with catalog version {}, throughput model {}, model {}{}.",
            self.current.id,
            self.when(self.current.created_at_unix_ms),
            plan.catalog_version,
            plan.throughput_version,
            plan.model,
            match &self.previous {
                Some(previous) => format!(
                    "; compared with plan {} of {} UTC",
                    previous.id,
                    self.when(previous.created_at_unix_ms)
                ),
                None => "; no earlier stored plan to compare with".into(),
            }
        ));
        doc.para(render::optimum_line(plan));
        self.inputs(&mut doc);
        self.pools(&mut doc);
        self.baselines(&mut doc);
        self.sweep(&mut doc);
        self.schedule(&mut doc);
        self.changes(&mut doc);
        self.solver(&mut doc);
        doc
    }

    fn inputs(&self, doc: &mut Doc) {
        let plan = &self.current.plan;
        doc.heading("Inputs: workloads");
        render::workloads_table(doc, plan);

        doc.heading("Inputs: fleet, limits and cost assumptions");
        let sku_words = |id: &str| {
            self.hardware.iter().find(|h| h.id == id).map_or_else(
                || format!("{id} (no longer in the catalog)"),
                |h| format!("{} ({id}, {} a node)", h.name, format_usd(h.price_usd)),
            )
        };
        let c = &plan.constraints;
        let a = &plan.assumptions;
        let mut rows = Vec::new();
        if c.owned_nodes_per_sku.is_empty() {
            rows.push(vec!["owned nodes".into(), "none".into()]);
        }
        for (sku, count) in &c.owned_nodes_per_sku {
            rows.push(vec![
                "owned nodes (no capex, energy only)".into(),
                format!("{count} × {}", sku_words(sku)),
            ]);
        }
        if c.max_nodes_per_sku.is_empty() {
            rows.push(vec!["max nodes".into(), "no limit".into()]);
        }
        for (sku, count) in &c.max_nodes_per_sku {
            rows.push(vec![
                "max nodes".into(),
                format!("{count} × {}", sku_words(sku)),
            ]);
        }
        rows.push(vec![
            "capex budget".into(),
            c.budget_usd.map_or("none".into(), format_usd),
        ]);
        rows.push(vec![
            "site power cap".into(),
            c.site_power_cap_w
                .map_or("none".into(), |w| format!("{} W", format_int(w))),
        ]);
        rows.push(vec![
            "utilization cap".into(),
            format!("{:.1}%", a.utilization_cap * 100.0),
        ]);
        rows.push(vec![
            "amortization".into(),
            format!("{} months, straight line", trim(a.amortization_months)),
        ]);
        rows.push(vec![
            "electricity".into(),
            format!("{}/kWh", format_usd(a.electricity_usd_per_kwh)),
        ]);
        rows.push(vec!["hours per month".into(), trim(a.hours_per_month)]);
        rows.push(vec![
            "published figures".into(),
            if plan.trust_published {
                "trusted as published, even where the physics rejects them (--trust-published)"
            } else {
                "used where the physics finds them plausible; the roofline estimate elsewhere"
            }
            .into(),
        ]);
        doc.table(&["input", "value"], rows);

        doc.heading("Inputs: API prices and where they come from");
        match &plan.api {
            None => doc.para("No API offer for the model: everything is planned locally."),
            Some(api) => {
                let offer = self.apis.iter().find(|o| o.id == api.id);
                doc.para(format!(
                    "{}{}: {}/1M input, {}/1M output tokens, TTFT p95 {} (the prices the plan used).",
                    api.id,
                    offer.map_or(String::new(), |o| format!(" ({})", o.name)),
                    format_usd(api.input_usd_per_million),
                    format_usd(api.output_usd_per_million),
                    format_ms(api.ttft_p95_ms)
                ));
                match offer.and_then(|o| o.provenance.as_ref()) {
                    Some(provenance) => {
                        // The wire's maps have no order; the report's lines do.
                        let sorted = |map: &std::collections::HashMap<String, String>| {
                            let mut pairs: Vec<(String, String)> =
                                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                            pairs.sort();
                            pairs
                        };
                        let mut items = vec![format!("source: {}", provenance.source)];
                        items.extend(
                            sorted(&provenance.derived)
                                .into_iter()
                                .map(|(field, how)| format!("{field} derived: {how}")),
                        );
                        items.extend(
                            sorted(&provenance.assumed)
                                .into_iter()
                                .map(|(field, why)| format!("{field} assumed: {why}")),
                        );
                        doc.list(items);
                    }
                    None => doc.para(
                        "The offer is no longer in the catalog, so its source cannot be shown.",
                    ),
                }
            }
        }
    }

    fn pools(&self, doc: &mut Doc) {
        let plan = &self.current.plan;
        doc.heading("Plan: pools and the basis of every figure");
        if plan.pools.is_empty() {
            doc.para("No local nodes: every token goes to the API.");
        } else {
            doc.table(
                &[
                    "pool",
                    ">nodes",
                    ">new",
                    ">owned",
                    ">agg tok/s",
                    ">prefill tok/s",
                    ">busy W",
                    ">price",
                    ">tokens/month",
                    ">utilization",
                    "throughput basis",
                ],
                plan.pools
                    .iter()
                    .map(|p| {
                        vec![
                            pool_label_parts(&p.sku, &p.quant, p.concurrency),
                            p.nodes.to_string(),
                            p.new_nodes.to_string(),
                            p.owned_nodes.to_string(),
                            trim(p.aggregate_decode_tok_s),
                            format_int(p.prefill_tok_s),
                            format_int(p.power_busy_w),
                            format_usd(p.price_usd),
                            format_tokens(p.tokens_per_month),
                            format!("{:.1}%", p.utilization * 100.0),
                            p.throughput_provenance.clone(),
                        ]
                    })
                    .collect(),
            );
            doc.list(
                plan.pools
                    .iter()
                    .filter_map(|p| {
                        p.offload_note.as_ref().map(|note| {
                            format!(
                                "{}: {note}",
                                pool_label_parts(&p.sku, &p.quant, p.concurrency)
                            )
                        })
                    })
                    .collect(),
            );
        }
        render::cost_table(doc, plan);
        doc.figure(
            "The optimum's monthly cost, split",
            self.chart(|| chart::cost_split_svg(plan)),
        );
    }

    fn baselines(&self, doc: &mut Doc) {
        let plan = &self.current.plan;
        doc.heading("Baselines");
        render::baselines_table(doc, plan);
    }

    fn sweep(&self, doc: &mut Doc) {
        match &self.sweep {
            Ok(swept) => {
                doc.heading("Sweep around the requested demand");
                doc.para(
                    "The same request from a tenth of its demand to ten times it (every workload keeps its share), everything else as planned.",
                );
                sweep::sweep_sections(doc, swept, "Sweep");
                doc.figure(
                    "Cost per month of each strategy against monthly demand",
                    self.chart(|| chart::sweep_svg(swept)),
                );
            }
            Err(failure) => {
                doc.heading("Sweep around the requested demand");
                doc.para(format!("No sweep: {}.", failure.message));
            }
        }
    }

    fn schedule(&self, doc: &mut Doc) {
        let plan = &self.current.plan;
        let schedule = &plan.schedule;
        doc.heading("Schedule");
        if schedule.hours == 0 {
            doc.para("This plan has no schedule (made before schedules existed).");
            return;
        }
        doc.para(format!(
            "Tokens in one occurrence of each hour of the {} (each occurs {} times a month).",
            if schedule.hours == 24 { "day" } else { "week" },
            trim(schedule.occurrences_per_month)
        ));
        doc.figure(
            "Tokens per hour on each local pool and to the API, stacked",
            self.chart(|| chart::schedule_svg(plan)),
        );
        if schedule.hours == 24 {
            doc.table(
                &["hour", ">local", ">API", ">API share", ">pool utilization"],
                schedule
                    .hourly
                    .iter()
                    .map(|h| {
                        let total = h.local_tokens + h.api_tokens;
                        vec![
                            format!("{:02}:00", h.hour),
                            format_tokens(h.local_tokens),
                            format_tokens(h.api_tokens),
                            if total > 0.0 {
                                format!("{:.1}%", h.api_tokens / total * 100.0)
                            } else {
                                "-".into()
                            },
                            if h.pool_utilization.is_empty() {
                                "-".into()
                            } else {
                                h.pool_utilization
                                    .iter()
                                    .map(|u| format!("{:.1}%", u * 100.0))
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            },
                        ]
                    })
                    .collect(),
            );
        }
        doc.list(render::pool_load_lines(plan));
    }

    fn changes(&self, doc: &mut Doc) {
        let Some(previous) = &self.previous else {
            doc.heading("Changes since the previous plan");
            doc.para("No earlier stored plan.");
            return;
        };
        doc.heading(format!("Changes since plan {}", previous.id));
        let diff = PlanDiff::between(&previous.plan, &self.current.plan);
        render::diff_sections(doc, &diff, ("before", "now"));
    }

    fn solver(&self, doc: &mut Doc) {
        let plan = &self.current.plan;
        let s = &plan.solver;
        doc.heading("Solver and notes");
        doc.para(format!(
            "{}: {}, objective {}, gap {:.2}%, solve {:.1} ms (all {} solves {:.1} ms).",
            s.backend,
            s.status,
            format_usd(s.objective_usd),
            s.gap * 100.0,
            s.solve_ms,
            plan.baselines.len().saturating_sub(1),
            s.total_solve_ms
        ));
        let mut items: Vec<String> = s.binding.iter().map(|b| format!("binding: {b}")).collect();
        items.extend(plan.notes.iter().cloned());
        doc.list(items);
    }
}

/// Formats a number without trailing zeros, to two decimals.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Styles of the HTML report: system fonts, readable tables, charts as wide as the page.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#111;background:#fff;max-width:1200px;margin:2rem auto;padding:0 1.5rem;line-height:1.45}\
h1{font-size:1.5rem;margin-bottom:.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.25rem}\
.table{overflow-x:auto}table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0 1rem}\
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}\
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
figure{margin:1rem 0}figure svg{display:block;max-width:100%;height:auto;border:1px solid #eee}\
figcaption{font-size:.85rem;color:#555;margin-top:.25rem}ul{padding-left:1.25rem}li{margin:.15rem 0}\
footer{margin-top:3rem;font-size:.8rem;color:#666}";

/// Returns a self-contained HTML page: styles inline, no script, nothing fetched.
pub fn html_page(title: &str, doc: &Doc) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"planner-cli report\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{}</main>\n<footer>Generated by planner-cli report. Every figure comes from the inputs shown; charts are inline SVG.</footer>\n</body>\n</html>\n",
        chart::escape(title),
        doc.to_html()
    )
}
