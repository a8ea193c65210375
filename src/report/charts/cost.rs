//! cost.png/svg: monthly cost against fleet size, stacked GPU capacity used by the traffic,
//! GPU capacity left unused (the idle GPU bill: GPU cost x (1 - utilization)) and operations
//! (with safety), each API's monthly spend on the same traffic as a horizontal line, and the
//! cheapest option meeting the SLO marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    color, de, draw_legend, fmt_usd, render, DrawResult, LegendEntry, Rendered, Swatch, FONT,
};
use crate::error::Result;

/// One fleet's monthly cost, USD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostBar {
    /// Replicas.
    pub replicas: u32,
    /// GPU capacity the traffic uses (GPU cost x utilization).
    pub busy_usd: f64,
    /// GPU capacity left unused (GPU cost x (1 - utilization)).
    pub idle_usd: f64,
    /// Operations and safety overhead.
    pub overhead_usd: f64,
    /// Whether this fleet meets the SLO (or no SLO is set).
    pub meets_slo: bool,
    /// Whether this fleet does not keep up with its arrivals (labelled `overloaded`).
    pub overloaded: bool,
}

/// Chart inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct CostChart {
    /// What the bars are (e.g. `h100-sxm / least-outstanding`).
    pub label: String,
    /// One bar per fleet size.
    pub bars: Vec<CostBar>,
    /// (API label, monthly spend, whether it may be the cheapest: its published median
    /// latency does not miss the SLO).
    pub apis: Vec<(String, f64, bool)>,
}

/// Chart title.
pub const TITLE: &str = "Monthly cost against fleet size";

const BUSY: RGBColor = RGBColor(31, 119, 180);
const IDLE: RGBColor = RGBColor(255, 127, 14);
const OPS: RGBColor = RGBColor(150, 150, 150);
const MARK: RGBColor = RGBColor(0, 150, 0);

/// The cheapest option meeting the SLO: `Ok(replicas)` for a fleet, `Err(api index)` for an API.
pub fn cheapest(c: &CostChart) -> Option<std::result::Result<u32, usize>> {
    let fleet = c
        .bars
        .iter()
        .filter(|b| b.meets_slo)
        .map(|b| (b.busy_usd + b.idle_usd + b.overhead_usd, Ok(b.replicas)));
    let apis = c
        .apis
        .iter()
        .enumerate()
        .filter(|(_, a)| a.2)
        .map(|(i, a)| (a.1, Err(i)));
    fleet
        .chain(apis)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|x| x.1)
}

/// Renders the chart.
pub fn chart(c: &CostChart) -> Result<Rendered> {
    render("cost", TITLE, 1200, 560, |root| draw(root, c))
}

/// Draws the chart on any backend. The axis is linear (stacked shares would mislead on a log
/// axis); an API costing more than three times the largest fleet is listed in the legend as
/// above the chart rather than squashing the bars.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CostChart) -> DrawResult {
    let (top, rest) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let (plot, legend_area) = rest.split_horizontally(860);
    let max_bar = c
        .bars
        .iter()
        .map(|b| b.busy_usd + b.idle_usd + b.overhead_usd)
        .fold(0.0, f64::max);
    let cap = if max_bar > 0.0 {
        3.0 * max_bar
    } else {
        f64::INFINITY
    };
    let shown_api = c
        .apis
        .iter()
        .map(|a| a.1)
        .filter(|&u| u <= cap)
        .fold(0.0, f64::max);
    let ymax = max_bar.max(shown_api).max(1.0) * 1.12;
    let xmin = c.bars.iter().map(|b| b.replicas).min().unwrap_or(1) as f64;
    let xmax = c.bars.iter().map(|b| b.replicas).max().unwrap_or(1) as f64;
    let x = (xmin - 0.7)..(xmax + 0.7);
    let best = cheapest(c);
    bars(&plot, c, x, 0.0..ymax, best)?;
    let mut entries = vec![
        LegendEntry {
            color: BUSY,
            swatch: Swatch::Box,
            text: "GPU capacity this traffic uses".into(),
        },
        LegendEntry {
            color: IDLE,
            swatch: Swatch::Box,
            text: "GPU capacity left unused (idle)".into(),
        },
        LegendEntry {
            color: OPS,
            swatch: Swatch::Box,
            text: "operations and safety".into(),
        },
    ];
    for (i, (name, usd, _)) in c.apis.iter().enumerate() {
        let mut text = format!("{name} {}", fmt_usd(*usd));
        if *usd > ymax {
            text.push_str(" (above chart)");
        }
        if best == Some(Err(i)) {
            text.push_str(" cheapest");
        }
        entries.push(LegendEntry {
            color: color(i + 1),
            swatch: Swatch::Dashed,
            text,
        });
    }
    entries.push(LegendEntry {
        color: MARK,
        swatch: Swatch::Point,
        text: "cheapest option meeting the SLO".into(),
    });
    let title = format!("Self-hosted: {}", c.label);
    draw_legend(&legend_area, &title, &entries)
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: &CostChart,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    best: Option<std::result::Result<u32, usize>>,
) -> DrawResult {
    let (x0, x1) = (x.start, x.end);
    let ymax = y.end;
    let span = (x1 - x0) as usize;
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("replicas in the fleet (bars: self-hosted; dashed lines: APIs on the same traffic)")
        .y_desc("USD per month (730 h)")
        .x_labels(span.clamp(2, 14))
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|v| fmt_usd(*v))
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(de)?;
    let w = 0.35;
    for b in &c.bars {
        let xc = b.replicas as f64;
        let mut base = 0.0;
        for (v, col) in [
            (b.busy_usd, BUSY),
            (b.idle_usd, IDLE),
            (b.overhead_usd, OPS),
        ] {
            if v <= 0.0 {
                continue;
            }
            chart
                .draw_series([Rectangle::new(
                    [(xc - w, base), (xc + w, base + v)],
                    col.filled(),
                )])
                .map_err(de)?;
            base += v;
        }
        if !b.meets_slo {
            chart
                .draw_series([Text::new(
                    if b.overloaded {
                        "overloaded"
                    } else {
                        "misses SLO"
                    },
                    (xc - 0.33, base + ymax * 0.035),
                    (FONT, 11).into_font().color(&RED),
                )])
                .map_err(de)?;
        }
    }
    for (i, (_, usd, _)) in c.apis.iter().enumerate() {
        if *usd > ymax {
            continue;
        }
        let style = color(i + 1).stroke_width(if best == Some(Err(i)) { 4 } else { 2 });
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, *usd), (x1, *usd)],
                10,
                6,
                style,
            ))
            .map_err(de)?;
    }
    match best {
        Some(Ok(n)) => {
            if let Some(b) = c.bars.iter().find(|b| b.replicas == n) {
                let total = b.busy_usd + b.idle_usd + b.overhead_usd;
                chart
                    .draw_series([Circle::new(
                        (n as f64, total + ymax * 0.015),
                        8,
                        MARK.filled(),
                    )])
                    .map_err(de)?;
            }
        }
        Some(Err(i)) if c.apis[i].1 <= ymax => {
            chart
                .draw_series([Circle::new((x0 + 0.3, c.apis[i].1), 8, MARK.filled())])
                .map_err(de)?;
        }
        _ => {}
    }
    Ok(())
}
