//! pools.png/svg (elastic fleets): offered load and spills on top; below, per pool, replicas
//! provisioned (dashed: paid, loading included) and serving (solid), with each cold start
//! marked. What an autoscaled fleet did with the traffic's peaks.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, de, render, DrawResult, Rendered, FONT};
use crate::error::Result;
use crate::metrics::PoolTimeline;

/// Chart title.
pub const TITLE: &str = "Pools: offered load, spills, replicas provisioned and serving";

/// Renders the chart.
pub fn chart(t: &PoolTimeline) -> Result<Rendered> {
    render("pools", TITLE, 1200, 760, |root| draw(root, t))
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, t: &PoolTimeline) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let (load, pools) = body.split_vertically(280);
    let n = t.offered_per_s.len();
    let span = t.bin_s * n as f64;
    let (div, name) = if span > 3.0 * 3600.0 {
        (3600.0, "h")
    } else if span > 180.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    };
    let x = |k: usize| (k as f64 + 0.5) * t.bin_s / div;
    let xmax = (span / div).max(1e-9);
    let top_max = t
        .offered_per_s
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.08;
    let mut c = ChartBuilder::on(&load)
        .margin(8)
        .x_label_area_size(18)
        .y_label_area_size(70)
        .caption(
            "requests per second: offered (blue), spilled to the API (purple)",
            (FONT, 15),
        )
        .build_cartesian_2d(0.0..xmax, 0.0..top_max)
        .map_err(de)?;
    c.configure_mesh()
        .y_labels(4)
        .label_style((FONT, 12))
        .light_line_style(WHITE.mix(0.0))
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| super::fmt_count(*v))
        .draw()
        .map_err(de)?;
    let offered: Vec<(f64, f64)> = (0..n).map(|k| (x(k), t.offered_per_s[k])).collect();
    let blue = color(0);
    c.draw_series(AreaSeries::new(offered, 0.0, blue.mix(0.25)).border_style(blue.stroke_width(2)))
        .map_err(de)?;
    if t.spilled_per_s.iter().any(|&s| s > 0.0) {
        let purple = RGBColor(148, 103, 189);
        let spilled: Vec<(f64, f64)> = (0..n).map(|k| (x(k), t.spilled_per_s[k])).collect();
        c.draw_series(
            AreaSeries::new(spilled, 0.0, purple.mix(0.35)).border_style(purple.stroke_width(2)),
        )
        .map_err(de)?;
    }
    let rmax = t.provisioned.iter().flatten().copied().fold(1.0, f64::max) * 1.15;
    let mut c = ChartBuilder::on(&pools)
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .caption(
            "replicas per pool: serving (solid), provisioned and paid (dashed), cold starts (triangles)",
            (FONT, 15),
        )
        .build_cartesian_2d(0.0..xmax, 0.0..rmax)
        .map_err(de)?;
    c.configure_mesh()
        .y_labels(6)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .x_desc(format!("simulated time ({name})"))
        .y_label_formatter(&|v| super::fmt_count(*v))
        .draw()
        .map_err(de)?;
    for (p, pool) in t.pools.iter().enumerate() {
        let col = color(p + 1);
        let active: Vec<(f64, f64)> = (0..n).map(|k| (x(k), t.active[p][k])).collect();
        c.draw_series(LineSeries::new(active, col.stroke_width(2)))
            .map_err(de)?
            .label(pool.as_str())
            .legend(move |(a, b)| PathElement::new([(a, b), (a + 20, b)], col.stroke_width(3)));
        let prov: Vec<(f64, f64)> = (0..n).map(|k| (x(k), t.provisioned[p][k])).collect();
        c.draw_series(DashedLineSeries::new(prov, 6, 4, col.stroke_width(1)))
            .map_err(de)?;
        let starts = (0..n)
            .filter(|&k| t.cold_starts[p][k] > 0)
            .map(|k| TriangleMarker::new((x(k), t.provisioned[p][k]), 6, col.filled()));
        c.draw_series(starts).map_err(de)?;
    }
    c.configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(de)?;
    Ok(())
}
