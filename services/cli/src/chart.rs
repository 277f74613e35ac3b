//! SVG charts (plotters' SVG backend, no fonts loaded: the viewer lays out the text): cost per
//! month against the swept axis, the hourly schedule as stacked areas, and the monthly cost
//! split. Colours are the Okabe–Ito palette, which stays distinct for the common forms of
//! colour blindness; lines also differ in width and dash, so a grey print still reads.

use plotters::coord::Shift;
use plotters::prelude::*;

use fleet_planner::Plan;
use fleet_planner::sweep::{PointOptimum, Sweep, SweepAxis, VersusApi};
use fleet_planner::units::{format_tokens, format_usd};

/// Okabe–Ito colours for series, in the order they are handed out (yellow last: it is the
/// faintest on white).
/// Blue is the API's alone.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0xF0, 0xE4, 0x42), // yellow
];
/// The API, in every chart (Okabe–Ito blue).
const API_COLOUR: RGBColor = RGBColor(0x00, 0x72, 0xB2);
/// The optimum.
const OPTIMUM_COLOUR: RGBColor = RGBColor(0, 0, 0);
/// Marker lines and secondary text.
const GREY: RGBColor = RGBColor(0x66, 0x66, 0x66);
/// The API's area in the schedule: light grey, set apart from every palette colour by lightness.
const API_AREA: RGBColor = RGBColor(0xBB, 0xBB, 0xBB);

const WIDTH: u32 = 960;
const HEIGHT: u32 = 540;
const FONT: &str = "sans-serif";

/// Returns a short money label for an axis: `$900`, `$12k`, `$3.5M`.
fn usd_short(usd: f64) -> String {
    let (value, suffix) = if usd >= 1e6 {
        (usd / 1e6, "M")
    } else if usd >= 1e3 {
        (usd / 1e3, "k")
    } else {
        (usd, "")
    };
    let text = if value >= 10.0 || value == value.round() {
        format!("{value:.0}")
    } else if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    format!("${text}{suffix}")
}

/// Adds a title and an accessible name to plotters' SVG, and lets it scale to its container.
fn finish_svg(svg: String, title: &str, (width, height): (u32, u32)) -> String {
    let title = escape(title);
    let svg = svg.replacen(
        &format!("<svg width=\"{width}\" height=\"{height}\""),
        &format!(
            "<svg width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"{title}\" style=\"max-width:100%;height:auto\""
        ),
        1,
    );
    match svg.find('>') {
        Some(end) => format!(
            "{}<title>{title}</title>{}\n",
            &svg[..=end],
            svg[end + 1..].trim_end()
        ),
        None => svg,
    }
}

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws a chart that has nothing to show: its title and why.
fn empty_chart(root: &DrawingArea<SVGBackend<'_>, Shift>, title: &str, why: &str) {
    let _ = root.fill(&WHITE);
    let _ = root.draw(&Text::new(
        title.to_string(),
        (20, 20),
        (FONT, 22).into_font().color(&BLACK),
    ));
    let _ = root.draw(&Text::new(
        why.to_string(),
        (20, 60),
        (FONT, 16).into_font().color(&GREY),
    ));
}

/// Returns the cost per month of every strategy against the swept axis (both axes log), with
/// the optimum's composition changes as dashed vertical lines and each SKU's first win over the
/// API as a dot on its line.
pub fn sweep_svg(sweep: &Sweep) -> String {
    let axis = sweep.axis;
    // The value held fixed belongs in the title: the chart is read without its command.
    let first = sweep.points.first();
    let title = match axis {
        SweepAxis::Demand => match first.map(|p| p.api_price_scale) {
            Some(scale) if scale != 1.0 => format!(
                "Cost per month against monthly demand, API prices {}",
                SweepAxis::ApiPriceScale.format_value(scale)
            ),
            _ => "Cost per month against monthly demand".to_string(),
        },
        SweepAxis::ApiPriceScale => format!(
            "Cost per month against the API's price, {} tokens/month",
            format_tokens(first.map_or(0.0, |p| p.demand_tokens as f64))
        ),
    };
    let title = title.as_str();
    // Below the plot, one line per composition change (numbered on the plot).
    let key_lines = sweep.composition_changes.len().min(MAX_KEY_LINES + 1) as u32;
    let size = (
        WIDTH,
        HEIGHT + key_lines * KEY_LINE + if key_lines > 0 { 16 } else { 0 },
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_sweep(&root, sweep, title);
        let _ = root.present();
    }
    finish_svg(svg, title, size)
}

/// Composition changes listed under the sweep chart; more are summarized in one line.
const MAX_KEY_LINES: usize = 12;
/// Height of one line of the key, px.
const KEY_LINE: u32 = 18;
/// Width of the legend panel right of the plot, px.
const LEGEND_WIDTH: u32 = 250;

/// Width of the optimum's band, px.
const OPTIMUM_WIDTH: u32 = 8;

/// Returns the style of a series: the optimum's band translucent, the others solid.
fn line_style(colour: RGBColor, width: u32) -> ShapeStyle {
    if width == OPTIMUM_WIDTH {
        colour.mix(0.3).stroke_width(width)
    } else {
        colour.stroke_width(width)
    }
}

/// One line of the sweep chart.
struct Series {
    name: String,
    colour: RGBColor,
    width: u32,
    dashed: bool,
    points: Vec<Option<(f64, f64)>>,
}

fn draw_sweep(root: &DrawingArea<SVGBackend<'_>, Shift>, sweep: &Sweep, title: &str) {
    let axis = sweep.axis;
    let x_of = |p: &fleet_planner::sweep::SweepPoint| p.value(axis);
    // The optimum is a wide translucent band under the other lines, so a strategy that is the
    // optimum shows as its own line inside the band rather than hiding it.
    let mut series = vec![Series {
        name: "optimum".into(),
        colour: OPTIMUM_COLOUR,
        width: OPTIMUM_WIDTH,
        dashed: false,
        points: sweep
            .points
            .iter()
            .map(|p| match &p.optimum {
                PointOptimum::Planned(planned) => Some((x_of(p), planned.total_usd)),
                _ => None,
            })
            .collect(),
    }];
    series.push(Series {
        name: "all to the API".into(),
        colour: API_COLOUR,
        width: 2,
        dashed: true,
        points: sweep
            .points
            .iter()
            .map(|p| p.all_api.monthly_usd().map(|usd| (x_of(p), usd)))
            .collect(),
    });
    for (k, sku) in sweep.options.iter().enumerate() {
        series.push(Series {
            name: format!("all on {sku}"),
            colour: PALETTE[k % PALETTE.len()],
            width: 2,
            dashed: k >= PALETTE.len(),
            points: sweep
                .points
                .iter()
                .map(|p| {
                    p.options
                        .get(k)
                        .and_then(|o| o.monthly_usd())
                        .map(|usd| (x_of(p), usd))
                })
                .collect(),
        });
    }
    let costs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().flatten().map(|&(_, y)| y))
        .filter(|y| *y > 0.0 && y.is_finite())
        .collect();
    let (Some(x_min), Some(x_max)) = (
        sweep.points.first().map(x_of),
        sweep.points.last().map(x_of),
    ) else {
        empty_chart(root, title, "The sweep has no points.");
        return;
    };
    if costs.is_empty() || x_min <= 0.0 || x_max <= x_min {
        empty_chart(root, title, "No point has a cost to draw.");
        return;
    }
    let y_min = costs.iter().copied().fold(f64::INFINITY, f64::min) * 0.7;
    let y_max = costs.iter().copied().fold(0.0, f64::max) * 1.6;
    let _ = root.fill(&WHITE);
    let (top, key) = root.split_vertically(HEIGHT);
    let (plot, legend) = top.split_horizontally(WIDTH - LEGEND_WIDTH);
    let Ok(mut chart) = ChartBuilder::on(&plot)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())
    else {
        return;
    };
    let x_desc = match axis {
        SweepAxis::Demand => "monthly demand, tokens (log scale)",
        SweepAxis::ApiPriceScale => "API price, × the catalog's (log scale)",
    };
    let _ = chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("cost, USD per month (log scale)")
        .x_labels(12)
        .y_labels(12)
        .x_label_formatter(&|v| axis.format_value(*v))
        .y_label_formatter(&|v| usd_short(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
        .draw();

    // Composition changes: dashed verticals, numbered at the top (alternating heights, so
    // neighbours stay legible) and listed under the plot.
    for (i, change) in sweep.composition_changes.iter().enumerate() {
        let x = change.crossing.at;
        let _ = chart.draw_series(DashedLineSeries::new(
            [(x, y_min), (x, y_max)],
            6,
            4,
            GREY.stroke_width(1),
        ));
        let y = y_max / if i % 2 == 0 { 1.12 } else { 1.35 };
        let _ = chart.draw_series(std::iter::once(Text::new(
            format!("{}", i + 1),
            (x, y),
            (FONT, 13).into_font().color(&BLACK),
        )));
    }

    for line in &series {
        let style = line_style(line.colour, line.width);
        let mut segment: Vec<(f64, f64)> = Vec::new();
        let mut segments = Vec::new();
        for point in &line.points {
            match point {
                Some(p) => segment.push(*p),
                None if !segment.is_empty() => segments.push(std::mem::take(&mut segment)),
                None => {}
            }
        }
        if !segment.is_empty() {
            segments.push(segment);
        }
        for segment in segments {
            let _ = if line.dashed {
                chart.draw_series(DashedLineSeries::new(segment, 8, 5, style))
            } else {
                chart.draw_series(LineSeries::new(segment, style))
            };
        }
    }

    // Each SKU's first win over the API: a dot where its line crosses the API's.
    let api: Vec<(f64, f64)> = series[1].points.iter().flatten().copied().collect();
    for versus in &sweep.versus_api {
        if let VersusApi::FirstBeatsApi { crossing } = &versus.outcome
            && let Some(k) = sweep.options.iter().position(|sku| *sku == versus.sku)
            && let Some(y) = log_interpolate(&api, crossing.at)
        {
            let colour = PALETTE[k % PALETTE.len()];
            let _ = chart.draw_series([
                Circle::new((crossing.at, y), 6, colour.filled()),
                Circle::new((crossing.at, y), 6, BLACK.stroke_width(1)),
            ]);
        }
    }

    // The legend, right of the plot: every line, then the two markers.
    let row = 22;
    let mut y = 60;
    for line in series
        .iter()
        .filter(|s| s.points.iter().any(Option::is_some))
    {
        let style = line_style(line.colour, line.width);
        let sample = [(8, y), (40, y)];
        let _ = if line.dashed {
            legend
                .draw(&PathElement::new(vec![sample[0], (18, y)], style))
                .and_then(|()| legend.draw(&PathElement::new(vec![(26, y), sample[1]], style)))
        } else {
            legend.draw(&PathElement::new(sample.to_vec(), style))
        };
        let _ = legend.draw(&Text::new(
            line.name.clone(),
            (48, y - 8),
            (FONT, 14).into_font().color(&BLACK),
        ));
        y += row;
    }
    y += 8;
    let _ = legend.draw(&Circle::new((24, y), 6, WHITE.filled()));
    let _ = legend.draw(&Circle::new((24, y), 6, BLACK.stroke_width(1)));
    let _ = legend.draw(&Text::new(
        "a SKU alone first costs",
        (48, y - 8),
        (FONT, 13).into_font().color(&GREY),
    ));
    let _ = legend.draw(&Text::new(
        "less than the API",
        (48, y + 8),
        (FONT, 13).into_font().color(&GREY),
    ));
    y += row + 14;
    let _ = legend.draw(&PathElement::new(
        vec![(24, y - 10), (24, y + 10)],
        GREY.stroke_width(1),
    ));
    let _ = legend.draw(&Text::new(
        "the optimum changes",
        (48, y - 8),
        (FONT, 13).into_font().color(&GREY),
    ));
    let _ = legend.draw(&Text::new(
        "(numbered, listed below)",
        (48, y + 8),
        (FONT, 13).into_font().color(&GREY),
    ));

    // The key under the plot.
    let changes = &sweep.composition_changes;
    for (i, change) in changes.iter().take(MAX_KEY_LINES).enumerate() {
        let _ = key.draw(&Text::new(
            format!(
                "{}. at ≈ {}: {} → {}",
                i + 1,
                axis.format_value(change.crossing.at),
                fleet_planner::sweep::composition_words(&change.from),
                fleet_planner::sweep::composition_words(&change.to)
            ),
            (100, 4 + (i as u32 * KEY_LINE) as i32),
            (FONT, 13).into_font().color(&BLACK),
        ));
    }
    if changes.len() > MAX_KEY_LINES {
        let _ = key.draw(&Text::new(
            format!(
                "… and {} more changes (the sweep's table lists them all)",
                changes.len() - MAX_KEY_LINES
            ),
            (100, 4 + (MAX_KEY_LINES as u32 * KEY_LINE) as i32),
            (FONT, 13).into_font().color(&GREY),
        ));
    }
}

/// Returns y at x on a polyline, interpolated in log-log space.
fn log_interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let pair = points.windows(2).find(|w| w[0].0 <= x && x <= w[1].0)?;
    let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
    if x1 <= x0 || y0 <= 0.0 || y1 <= 0.0 {
        return Some(y0);
    }
    let t = (x.ln() - x0.ln()) / (x1.ln() - x0.ln());
    Some((y0.ln() + t * (y1.ln() - y0.ln())).exp())
}

/// Returns the plan's hourly schedule as stacked areas: each pool's local tokens, then the
/// API's, per hour of the cycle; with the worst pool's TTFT p95 per hour as a line on a second
/// axis (`fleet_planner::latency`; hours whose queue is unstable are left out of the line).
pub fn schedule_svg(plan: &Plan) -> String {
    let title = "Tokens per hour: local pools and the API";
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_schedule(&root, plan, title);
        let _ = root.present();
    }
    finish_svg(svg, title, (WIDTH, HEIGHT))
}

fn draw_schedule(root: &DrawingArea<SVGBackend<'_>, Shift>, plan: &Plan, title: &str) {
    let schedule = &plan.schedule;
    if schedule.hours == 0 || schedule.hourly.is_empty() {
        empty_chart(
            root,
            title,
            "This plan has no schedule (made before schedules existed).",
        );
        return;
    }
    let pools = schedule.pools.len();
    // Per hour: tokens on each pool, then the API.
    let layers: Vec<Vec<f64>> = schedule
        .hourly
        .iter()
        .map(|hour| {
            let mut layer = vec![0.0; pools + 1];
            for workload in &hour.workloads {
                for (p, tokens) in workload.pool_tokens.iter().enumerate() {
                    if p < pools {
                        layer[p] += tokens;
                    }
                }
                layer[pools] += workload.api_tokens;
            }
            layer
        })
        .collect();
    let peak = layers
        .iter()
        .map(|l| l.iter().sum::<f64>())
        .fold(0.0, f64::max);
    if peak <= 0.0 {
        empty_chart(root, title, "No tokens in any hour.");
        return;
    }
    let hours = schedule.hours as f64;
    // The worst pool's TTFT p95 in each hour, seconds.
    let latency = fleet_planner::latency::hourly(plan);
    let p95: Vec<(f64, f64)> = schedule
        .hourly
        .iter()
        .filter_map(|hour| {
            latency
                .iter()
                .filter(|l| l.hour == hour.hour)
                .filter_map(|l| l.ttft_p95_s)
                .reduce(f64::max)
                .map(|p| (f64::from(hour.hour) + 0.5, p))
        })
        .collect();
    let p95_top = p95.iter().map(|p| p.1).fold(0.0, f64::max);
    let _ = root.fill(&WHITE);
    let Ok(chart) = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(84)
        .right_y_label_area_size(if p95.is_empty() { 0 } else { 84 })
        .build_cartesian_2d(0.0..hours, 0.0..peak * 1.15)
    else {
        return;
    };
    let mut chart = chart.set_secondary_coord(0.0..hours, 0.0..(p95_top * 1.15).max(1.0));
    let week = schedule.hours != 24;
    let _ = chart
        .configure_mesh()
        .x_desc(if week {
            "hour of the week (Monday 00:00 = 0)"
        } else {
            "hour of the day"
        })
        .y_desc("tokens in the hour")
        .x_labels(if week { 15 } else { 13 })
        .x_label_formatter(&|v| {
            let h = v.round() as u32;
            if week {
                let day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][(h / 24) as usize % 7];
                format!("{day} {:02}", h % 24)
            } else {
                format!("{h:02}:00")
            }
        })
        .y_label_formatter(&|v| format_tokens(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
        .draw();
    // Stacked from the top layer down, so each lower layer paints over the one above it;
    // each hour is a step one hour wide.
    for layer in (0..=pools).rev() {
        let mut outline = Vec::with_capacity(layers.len() * 2);
        for (h, values) in layers.iter().enumerate() {
            let top: f64 = values[..=layer].iter().sum();
            outline.push((h as f64, top));
            outline.push((h as f64 + 1.0, top));
        }
        let (colour, name) = if layer == pools {
            (API_AREA, "API".to_string())
        } else {
            (
                PALETTE[layer % PALETTE.len()],
                format!("local: {}", schedule.pools[layer]),
            )
        };
        if let Ok(drawn) = chart.draw_series(
            AreaSeries::new(outline, 0.0, colour.mix(1.0)).border_style(colour.stroke_width(1)),
        ) {
            drawn.label(name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 16, y + 6)], colour.filled())
            });
        }
    }
    if !p95.is_empty() {
        let _ = chart
            .configure_secondary_axes()
            .y_desc("TTFT p95, seconds (line)")
            .y_label_formatter(&|v| format!("{v:.0} s"))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw();
        let line = RGBColor(0x00, 0x00, 0x00);
        if let Ok(drawn) =
            chart.draw_secondary_series(LineSeries::new(p95.clone(), line.stroke_width(2)))
        {
            drawn
                .label("TTFT p95, worst pool (right axis)")
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 16, y)], line.stroke_width(2))
                });
        }
    }
    let _ = chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(0xCC, 0xCC, 0xCC))
        .label_font((FONT, 14))
        .draw();
}

/// Returns the optimum's monthly cost split (amortization, energy, API) as labelled bars.
pub fn cost_split_svg(plan: &Plan) -> String {
    let title = format!(
        "Monthly cost: {} (amortization + energy + API)",
        format_usd(plan.cost.total_usd)
    );
    // Three bars need less height than the other charts.
    let size = (WIDTH, 300);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw_cost_split(&root, plan, &title);
        let _ = root.present();
    }
    finish_svg(svg, &title, size)
}

fn draw_cost_split(root: &DrawingArea<SVGBackend<'_>, Shift>, plan: &Plan, title: &str) {
    let c = &plan.cost;
    let items = [
        ("amortization", c.amortization_usd, PALETTE[0]),
        ("energy", c.energy_usd, PALETTE[1]),
        ("API", c.api_usd, API_COLOUR),
    ];
    let largest = items.iter().map(|i| i.1).fold(0.0, f64::max);
    let _ = root.fill(&WHITE);
    let Ok(mut chart) = ChartBuilder::on(root)
        .caption(title, (FONT, 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(110)
        .build_cartesian_2d(0.0..(largest.max(1.0) * 1.3), 0.0..3.0)
    else {
        return;
    };
    let _ = chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("USD per month")
        .x_label_formatter(&|v| usd_short(*v))
        // Each bar carries its own name and value.
        .y_labels(0)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .light_line_style(RGBColor(0xEE, 0xEE, 0xEE))
        .bold_line_style(RGBColor(0xDD, 0xDD, 0xDD))
        .draw();
    for (i, (name, usd, colour)) in items.iter().enumerate() {
        let top = 3.0 - i as f64 - 0.2;
        let bottom = 3.0 - i as f64 - 0.8;
        let _ = chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, bottom), (*usd, top)],
            colour.filled(),
        )));
        let share = if c.total_usd > 0.0 {
            format!(" ({:.1}%)", usd / c.total_usd * 100.0)
        } else {
            String::new()
        };
        let _ = chart.draw_series(std::iter::once(Text::new(
            format!("{name} {}{share}", format_usd(*usd)),
            (*usd + largest.max(1.0) * 0.01, (top + bottom) / 2.0 + 0.12),
            (FONT, 14).into_font().color(&BLACK),
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schedule chart carries the TTFT p95 line on its own axis when the plan has local
    /// pools, and none for an all-API plan.
    #[test]
    fn the_schedule_chart_draws_the_ttft_p95_line_of_local_pools() {
        let catalog = fleet_planner::Catalog::embedded_default();
        let throughput = fleet_planner::ThroughputModel::from_catalog(&catalog);
        let plan_for = |local_only: bool| {
            let mut w =
                fleet_planner::Workload::new("chat", fleet_planner::TokenCount(1_500_000_000));
            w.local_only = local_only;
            let request = fleet_planner::PlanRequest {
                workloads: vec![w],
                ..Default::default()
            };
            fleet_planner::propose(&catalog, &throughput, &request).unwrap()
        };
        let local = schedule_svg(&plan_for(true));
        assert!(local.contains("TTFT p95, seconds (line)"), "{local}");
        assert!(local.contains("TTFT p95, worst pool (right axis)"));
        let api = schedule_svg(&plan_for(false));
        assert!(!api.contains("TTFT p95"));
    }

    #[test]
    fn money_labels_are_short() {
        assert_eq!(usd_short(900.0), "$900");
        assert_eq!(usd_short(1_000.0), "$1k");
        assert_eq!(usd_short(12_345.0), "$12k");
        assert_eq!(usd_short(3_500_000.0), "$3.5M");
        assert_eq!(usd_short(0.5), "$0.50");
    }

    #[test]
    fn interpolation_is_exact_on_a_power_law() {
        // y = x² through two points: log-log interpolation is exact.
        let points = [(10.0, 100.0), (1_000.0, 1_000_000.0)];
        let y = log_interpolate(&points, 100.0).unwrap();
        assert!((y - 10_000.0).abs() < 1e-6, "{y}");
        assert_eq!(log_interpolate(&points, 5.0), None);
    }

    #[test]
    fn svg_gets_a_title_and_scales() {
        let svg = format!(
            "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\">\n<rect/>\n</svg>\n"
        );
        let done = finish_svg(svg, "A & B", (WIDTH, HEIGHT));
        assert!(done.contains("aria-label=\"A &amp; B\""), "{done}");
        assert!(done.contains("<title>A &amp; B</title>"), "{done}");
        assert!(done.contains("max-width:100%"), "{done}");
    }
}
