//! latency.png/svg: p50 and p99 TTFT and TPOT against fleet size, SLO targets as dashed lines,
//! the smallest fleet meeting the SLO ringed in its group's colour. One colour per group; lines
//! join only neighbouring fleet sizes (nothing is drawn through sizes not simulated); overloaded
//! fleets are hollow.

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    color, de, draw_legend, fmt_seconds, log_ticks, padded, render, wants_log, DrawResult,
    LegendEntry, Rendered, Swatch, FONT,
};
use crate::error::Result;
use crate::metrics::SloSpec;

/// One fleet size's latencies, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyPoint {
    /// Replicas.
    pub replicas: u32,
    /// Median TTFT.
    pub ttft_p50: f64,
    /// 99th percentile TTFT.
    pub ttft_p99: f64,
    /// Median TPOT.
    pub tpot_p50: f64,
    /// 99th percentile TPOT.
    pub tpot_p99: f64,
    /// The fleet does not keep up with its arrivals (drawn hollow).
    pub overloaded: bool,
}

/// A line of fleets (same GPU, router, limits and traffic).
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyGroup {
    /// Legend label.
    pub label: String,
    /// Points by replica count.
    pub points: Vec<LatencyPoint>,
    /// The smallest replica count meeting the SLO.
    pub smallest: Option<u32>,
}

/// Chart title.
pub const TITLE: &str = "Latency against fleet size";

/// Renders the chart.
pub fn chart(groups: &[LatencyGroup], slo: Option<&SloSpec>) -> Result<Rendered> {
    render("latency", TITLE, 1200, 540, |root| draw(root, groups, slo))
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    groups: &[LatencyGroup],
    slo: Option<&SloSpec>,
) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let (plots, legend_area) = body.split_horizontally(950);
    let panels = plots.split_evenly((1, 2));
    let ttft_target = slo.and_then(|s| s.ttft_s);
    let tpot_target = slo.and_then(|s| s.tpot_s);
    panel(
        &panels[0],
        "Time to first token",
        "TTFT (p50 dashed, p99 solid)",
        groups,
        |p| (p.ttft_p50, p.ttft_p99),
        ttft_target,
    )?;
    panel(
        &panels[1],
        "Time per output token",
        "TPOT (p50 dashed, p99 solid)",
        groups,
        |p| (p.tpot_p50, p.tpot_p99),
        tpot_target,
    )?;
    let mut entries = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        entries.push(LegendEntry {
            color: color(i),
            swatch: Swatch::Line,
            text: g.label.clone(),
        });
    }
    entries.push(LegendEntry {
        color: RGBColor(80, 80, 80),
        swatch: Swatch::Line,
        text: "solid: p99".into(),
    });
    entries.push(LegendEntry {
        color: RGBColor(80, 80, 80),
        swatch: Swatch::Dashed,
        text: "dashed: p50".into(),
    });
    if let Some(s) = slo {
        entries.push(LegendEntry {
            color: BLACK,
            swatch: Swatch::Dashed,
            text: format!("SLO target ({}% of requests)", s.percentile),
        });
    }
    if groups.iter().any(|g| g.points.iter().any(|p| p.overloaded)) {
        entries.push(LegendEntry {
            color: RGBColor(80, 80, 80),
            swatch: Swatch::Ring,
            text: "hollow: overloaded (does not keep up)".into(),
        });
    }
    if groups.iter().any(|g| g.smallest.is_some()) {
        entries.push(LegendEntry {
            color: RGBColor(80, 80, 80),
            swatch: Swatch::Point,
            text: "ringed: smallest fleet meeting the SLO".into(),
        });
    }
    draw_legend(&legend_area, "Legend", &entries)
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    groups: &[LatencyGroup],
    pick: impl Fn(&LatencyPoint) -> (f64, f64) + Copy,
    target: Option<f64>,
) -> DrawResult {
    let xs: Vec<u32> = groups
        .iter()
        .flat_map(|g| g.points.iter().map(|p| p.replicas))
        .collect();
    let (xmin, xmax) = (
        xs.iter().copied().min().unwrap_or(1) as f64,
        xs.iter().copied().max().unwrap_or(1) as f64,
    );
    let mut ys: Vec<f64> = groups
        .iter()
        .flat_map(|g| {
            g.points.iter().flat_map(move |p| {
                let (a, b) = pick(p);
                [a, b]
            })
        })
        .filter(|y| *y > 0.0)
        .collect();
    ys.extend(target);
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ys.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = if ys.is_empty() {
        (0.001, 1.0)
    } else {
        (lo, hi)
    };
    let log = wants_log(lo, hi);
    let x = (xmin - 0.5)..(xmax + 0.5);
    if log {
        let (a, b) = padded(lo, hi, true);
        body(
            area,
            caption,
            y_desc,
            x,
            (a..b).log_scale().with_key_points(log_ticks(a, b)),
            groups,
            pick,
            target,
            xmax - xmin,
        )
    } else {
        let (a, b) = padded(0.0, hi, false);
        body(
            area,
            caption,
            y_desc,
            x,
            a.max(0.0)..b,
            groups,
            pick,
            target,
            xmax - xmin,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn body<DB: DrawingBackend, Y>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    x: std::ops::Range<f64>,
    y: Y,
    groups: &[LatencyGroup],
    pick: impl Fn(&LatencyPoint) -> (f64, f64),
    target: Option<f64>,
    x_span: f64,
) -> DrawResult
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let (x0, x1) = (x.start, x.end);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)
        .map_err(de)?;
    let ticks = (x_span as usize + 1).clamp(2, 12);
    chart
        .configure_mesh()
        .x_desc("replicas in the fleet")
        .y_desc(y_desc)
        .x_labels(ticks)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| fmt_seconds(*v))
        .axis_desc_style((FONT, 14))
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(de)?;
    if let Some(t) = target {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x0, t), (x1, t)],
                8,
                6,
                BLACK.stroke_width(2),
            ))
            .map_err(de)?;
    }
    for (i, g) in groups.iter().enumerate() {
        let c = color(i);
        let mut pts = g.points.clone();
        pts.sort_by_key(|p| p.replicas);
        // Runs of neighbouring fleet sizes: a line never spans sizes that were not simulated.
        let mut runs: Vec<Vec<LatencyPoint>> = Vec::new();
        for p in pts {
            match runs.last_mut() {
                Some(r) if r.last().is_some_and(|q| q.replicas + 1 == p.replicas) => r.push(p),
                _ => runs.push(vec![p]),
            }
        }
        for run in &runs {
            let p50: Vec<(f64, f64)> = run
                .iter()
                .map(|p| (p.replicas as f64, pick(p).0))
                .filter(|q| q.1 > 0.0)
                .collect();
            let p99: Vec<(f64, f64)> = run
                .iter()
                .map(|p| (p.replicas as f64, pick(p).1))
                .filter(|q| q.1 > 0.0)
                .collect();
            chart
                .draw_series(DashedLineSeries::new(p50, 6, 4, c.stroke_width(2)))
                .map_err(de)?;
            chart
                .draw_series(LineSeries::new(p99, c.stroke_width(3)))
                .map_err(de)?;
        }
        for p in &g.points {
            let y = pick(p).1;
            if y <= 0.0 {
                continue;
            }
            let at = (p.replicas as f64, y);
            if p.overloaded {
                chart
                    .draw_series([Circle::new(at, 5, WHITE.filled())])
                    .map_err(de)?;
                chart
                    .draw_series([Circle::new(at, 5, c.stroke_width(2))])
                    .map_err(de)?;
            } else {
                chart
                    .draw_series([Circle::new(at, 4, c.filled())])
                    .map_err(de)?;
            }
            if g.smallest == Some(p.replicas) {
                chart
                    .draw_series([Circle::new(at, 10, c.stroke_width(3))])
                    .map_err(de)?;
            }
        }
    }
    Ok(())
}
