//! timeline.png/svg: arrivals per second, utilization (offered load over the fleet's capacity),
//! running sequences per replica, queued requests and KV use over simulated time: the picture
//! of unused capacity between traffic peaks.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, de, render, DrawResult, Rendered, FONT};
use crate::error::Result;
use crate::metrics::Timeline;

/// Chart title.
pub const TITLE: &str = "Timeline: traffic, utilization, batch size, queue and KV cache";

/// Renders the chart; `fleet_capacity_per_s` is the fleet's capacity for this workload.
pub fn chart(t: &Timeline, replicas: u32, fleet_capacity_per_s: Option<f64>) -> Result<Rendered> {
    render("timeline", TITLE, 1200, 1040, |root| {
        draw(root, t, replicas, fleet_capacity_per_s)
    })
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
    fleet_capacity_per_s: Option<f64>,
) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let panels = body.split_evenly((5, 1));
    let span = t.bin_s * t.arrivals_per_s.len() as f64;
    let (div, name) = unit(span);
    let util: Vec<f64> = match fleet_capacity_per_s {
        Some(c) if c > 0.0 => t.arrivals_per_s.iter().map(|a| 100.0 * a / c).collect(),
        _ => vec![0.0; t.arrivals_per_s.len()],
    };
    let per_replica: Vec<f64> = t
        .running_seqs
        .iter()
        .map(|r| r / replicas.max(1) as f64)
        .collect();
    let util_label = if fleet_capacity_per_s.is_some() {
        "utilization: arrivals as % of the fleet's capacity for this traffic (100% marked)"
    } else {
        "utilization: capacity not computed"
    };
    let series: [(&str, &[f64], f64); 5] = [
        ("arrivals per second", &t.arrivals_per_s, 0.0),
        (util_label, &util, 100.0),
        (
            "running sequences per replica (batch size)",
            &per_replica,
            0.0,
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
        if i == 1 && fleet_capacity_per_s.is_some() {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 100.0), (span / div, 100.0)],
                    6,
                    4,
                    BLACK.stroke_width(1),
                ))
                .map_err(de)?;
        }
    }
    Ok(())
}
