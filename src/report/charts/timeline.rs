//! timeline.png/svg: arrivals per second, busy replicas, queued requests and KV use over
//! simulated time, the picture of idle capacity between traffic peaks.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, de, render, DrawResult, Rendered, FONT};
use crate::error::Result;
use crate::metrics::Timeline;

/// Chart title.
pub const TITLE: &str = "Timeline: traffic, busy replicas, queue and KV cache";

/// Renders the chart.
pub fn chart(t: &Timeline, replicas: u32) -> Result<Rendered> {
    render("timeline", TITLE, 1200, 860, |root| draw(root, t, replicas))
}

/// Time axis unit for a span: seconds, minutes or hours.
fn unit(span_s: f64) -> (f64, &'static str) {
    if span_s > 3.0 * 3600.0 {
        (3600.0, "h")
    } else if span_s > 180.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    }
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    t: &Timeline,
    replicas: u32,
) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let panels = body.split_evenly((4, 1));
    let span = t.bin_s * t.arrivals_per_s.len() as f64;
    let (div, name) = unit(span);
    let series: [(&str, &[f64], f64); 4] = [
        ("arrivals per second", &t.arrivals_per_s, 0.0),
        (
            "busy replicas (a step in flight)",
            &t.busy_replicas,
            replicas as f64,
        ),
        ("queued requests (waiting)", &t.queued, 0.0),
        (
            "KV cache in use (% of the fleet's blocks)",
            &t.kv_used_pct,
            100.0,
        ),
    ];
    for (i, (label, data, cap)) in series.iter().enumerate() {
        let max = data.iter().copied().fold(0.0, f64::max).max(*cap).max(1e-9) * 1.08;
        let last = i == series.len() - 1;
        let mut chart = ChartBuilder::on(&panels[i])
            .margin(8)
            .x_label_area_size(if last { 40 } else { 18 })
            .y_label_area_size(70)
            .caption(*label, (FONT, 15))
            .build_cartesian_2d(0.0..(span / div).max(1e-9), 0.0..max)
            .map_err(de)?;
        let mut mesh = chart.configure_mesh();
        mesh.y_labels(4)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(WHITE.mix(0.0))
            .y_label_formatter(&|v| super::fmt_count(*v));
        if last {
            mesh.x_desc(format!("simulated time ({name})"));
        } else {
            mesh.x_label_formatter(&|_| String::new());
        }
        mesh.draw().map_err(de)?;
        let c = color(i);
        let pts: Vec<(f64, f64)> = data
            .iter()
            .enumerate()
            .map(|(k, v)| ((k as f64 + 0.5) * t.bin_s / div, *v))
            .collect();
        chart
            .draw_series(
                AreaSeries::new(pts.clone(), 0.0, c.mix(0.25)).border_style(c.stroke_width(2)),
            )
            .map_err(de)?;
    }
    Ok(())
}
