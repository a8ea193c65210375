//! breakeven.png/svg: monthly cost against monthly tokens, self-hosting (the cheapest fleet
//! meeting the SLO at each volume) as a step line per GPU, each API as a line, break-even
//! volumes marked. Log-log: volumes and costs span decades.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{
    api_color, color20, de, draw_legend, fmt_count, fmt_usd, log_ticks, render, DrawResult,
    LegendEntry, Rendered, Swatch, FONT,
};
use crate::error::Result;

/// Chart inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct BreakevenChart {
    /// Per GPU: (label, points (monthly tokens, monthly cost) of the smallest SLO-meeting fleet).
    pub fleets: Vec<(String, Vec<(f64, f64)>)>,
    /// Per API: (name, points (monthly tokens, monthly cost)).
    pub apis: Vec<(String, Vec<(f64, f64)>)>,
    /// Break-even points against each API (same order as `apis`), for the fleet they are
    /// computed for: (monthly tokens, monthly cost).
    pub marks: Vec<Option<(f64, f64)>>,
    /// Which fleet the marks are for.
    pub marks_for: String,
    /// The workload's own volume (rate x1), tokens per month: marked with a vertical line.
    pub own_volume: Option<f64>,
}

/// Chart title.
pub const TITLE: &str = "Self-hosting against APIs: monthly cost by traffic volume";

/// Renders the chart.
pub fn chart(c: &BreakevenChart) -> Result<Rendered> {
    render("breakeven", TITLE, 1200, 600, |root| draw(root, c))
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &BreakevenChart) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 22)).map_err(de)?;
    let (plot, legend_area) = body.split_horizontally(860);
    let all: Vec<(f64, f64)> = c
        .fleets
        .iter()
        .chain(c.apis.iter())
        .flat_map(|(_, p)| p.iter().copied())
        .chain(c.marks.iter().flatten().copied())
        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
        .collect();
    let (xlo, xhi) = all
        .iter()
        .fold((f64::INFINITY, 0.0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (xlo, xhi) = if all.is_empty() {
        (1.0, 10.0)
    } else {
        (xlo / 1.3, xhi * 1.3)
    };
    // API lines extended to the left edge fall in proportion to volume.
    let api_left: Vec<f64> = c
        .apis
        .iter()
        .filter_map(|(_, p)| p.first().map(|&(x0, y0)| y0 * (xlo / x0).min(1.0)))
        .collect();
    let (ylo, yhi) = all
        .iter()
        .map(|p| p.1)
        .chain(api_left.iter().copied())
        .filter(|y| *y > 0.0)
        .fold((f64::INFINITY, 0.0f64), |a, y| (a.0.min(y), a.1.max(y)));
    let (ylo, yhi) = if all.is_empty() {
        (1.0, 10.0)
    } else {
        (ylo / 1.5, yhi * 1.5)
    };
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (xlo..xhi).log_scale().with_key_points(log_ticks(xlo, xhi)),
            (ylo..yhi).log_scale().with_key_points(log_ticks(ylo, yhi)),
        )
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("tokens per month (input + output)")
        .x_labels(24)
        .y_labels(24)
        .y_desc("USD per month")
        .x_label_formatter(&|v| fmt_count(*v))
        .y_label_formatter(&|v| fmt_usd(*v))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 14))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(de)?;
    let mut entries = Vec::new();
    if let Some(v) = c.own_volume.filter(|v| *v > xlo && *v < xhi) {
        chart
            .draw_series(DashedLineSeries::new(
                vec![(v, ylo), (v, yhi)],
                3,
                5,
                BLACK.stroke_width(2),
            ))
            .map_err(de)?;
        entries.push(LegendEntry {
            color: BLACK,
            swatch: Swatch::Dashed,
            text: format!("this workload's volume ({} tokens/month)", fmt_count(v)),
        });
    }
    // Below the smallest planned volume, an API's cost falls in proportion to traffic and a
    // fleet needs at most the smallest planned one: extend the lines to the left edge.
    let x_left = xlo;
    for (i, (label, pts)) in c.fleets.iter().enumerate() {
        let col = color20(i);
        if let Some(&(x0, y0)) = pts.first() {
            if x_left < x0 {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x_left, y0), (x0, y0)],
                        4,
                        4,
                        col.stroke_width(2),
                    ))
                    .map_err(de)?;
            }
        }
        // Step line: a fleet's cost holds until the next volume needs a bigger one.
        let mut step = Vec::new();
        for (k, p) in pts.iter().enumerate() {
            if k > 0 {
                step.push((p.0, pts[k - 1].1));
            }
            step.push(*p);
        }
        chart
            .draw_series(LineSeries::new(step, col.stroke_width(3)))
            .map_err(de)?;
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, col.filled())))
            .map_err(de)?;
        entries.push(LegendEntry {
            color: col,
            swatch: Swatch::Line,
            text: format!("self-hosted {label}"),
        });
    }
    for (i, (name, pts)) in c.apis.iter().enumerate() {
        let col = api_color(i);
        let mut line = pts.clone();
        if let Some(&(x0, y0)) = pts.first() {
            if x_left < x0 {
                line.insert(0, (x_left, y0 * x_left / x0));
            }
        }
        chart
            .draw_series(DashedLineSeries::new(line, 10, 6, col.stroke_width(2)))
            .map_err(de)?;
        let be = match c.marks.get(i).copied().flatten() {
            Some((x, _)) => format!(": even at {}", fmt_count(x)),
            None => String::new(),
        };
        entries.push(LegendEntry {
            color: col,
            swatch: Swatch::Dashed,
            text: format!("{name}{be}"),
        });
    }
    for (i, m) in c.marks.iter().enumerate() {
        if let Some((x, y)) = m {
            chart
                .draw_series([Circle::new((*x, *y), 7, api_color(i).stroke_width(3))])
                .map_err(de)?;
        }
    }
    if c.marks.iter().any(|m| m.is_some()) {
        entries.push(LegendEntry {
            color: BLACK,
            swatch: Swatch::Point,
            text: format!("break-even with {} (rings)", c.marks_for),
        });
    }
    draw_legend(&legend_area, "Legend", &entries)
}
