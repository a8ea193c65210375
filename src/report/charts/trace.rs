//! trace.png/svg for `fleetsim trace plot`: arrivals over time and input and output length
//! histograms (log-spaced bins: lengths span decades).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{color, de, fmt_count, render, DrawResult, Rendered, FONT};
use crate::error::Result;
use crate::workload::Workload;

/// Chart title prefix.
pub const TITLE: &str = "Trace";

/// Renders the chart for `w`, titled with `name`.
pub fn chart(w: &Workload, name: &str) -> Result<Rendered> {
    let title = format!("{TITLE}: {name}");
    render("trace", &title.clone(), 1200, 760, |root| {
        draw(root, w, &title)
    })
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    w: &Workload,
    title: &str,
) -> DrawResult {
    let (top, body) = root.split_vertically(44);
    top.titled(title, (FONT, 22)).map_err(de)?;
    let (upper, lower) = body.split_vertically(340);
    arrivals(&upper, w)?;
    let halves = lower.split_evenly((1, 2));
    let inputs: Vec<u32> = w.requests.iter().map(|r| r.input_tokens).collect();
    let outputs: Vec<u32> = w.requests.iter().map(|r| r.output_tokens).collect();
    histogram(
        &halves[0],
        "input lengths",
        "prompt tokens (log-spaced bins)",
        &inputs,
        color(0),
    )?;
    histogram(
        &halves[1],
        "output lengths",
        "output tokens (log-spaced bins)",
        &outputs,
        color(1),
    )
}

fn arrivals<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, w: &Workload) -> DrawResult {
    let span = w.span().as_secs_f64().max(1.0);
    let bins = 300usize;
    let bin_s = (span / bins as f64).max(1.0);
    let n = (span / bin_s).ceil() as usize + 1;
    let mut counts = vec![0.0; n];
    for r in &w.requests {
        let i = ((r.arrival.as_secs_f64() / bin_s) as usize).min(n - 1);
        counts[i] += 1.0;
    }
    let (div, unit) = if span > 3.0 * 3600.0 {
        (3600.0, "h")
    } else if span > 180.0 {
        (60.0, "min")
    } else {
        (1.0, "s")
    };
    let rates: Vec<(f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| ((i as f64 + 0.5) * bin_s / div, c / bin_s))
        .collect();
    let max = rates.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "arrivals ({} requests; {:.0}-second bins)",
                w.requests.len(),
                bin_s
            ),
            (FONT, 16),
        )
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..(n as f64 * bin_s / div), 0.0..max)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc(format!("time since the first request ({unit})"))
        .y_desc("requests per second")
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(de)?;
    let c = color(2);
    chart
        .draw_series(AreaSeries::new(rates, 0.0, c.mix(0.25)).border_style(c.stroke_width(2)))
        .map_err(de)?;
    Ok(())
}

fn histogram<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    xs: &[u32],
    c: RGBColor,
) -> DrawResult {
    let max = xs.iter().copied().max().unwrap_or(1).max(2) as f64;
    let min = xs.iter().copied().min().unwrap_or(1).max(1) as f64;
    // 8 bins per factor of 10.
    let lo = min.log10().floor();
    let hi = max.log10().ceil().max(lo + 1.0);
    let nb = ((hi - lo) * 8.0) as usize;
    let mut counts = vec![0u64; nb];
    for &x in xs {
        let k = (((x.max(1) as f64).log10() - lo) * 8.0) as usize;
        counts[k.min(nb - 1)] += 1;
    }
    let edge = |k: usize| 10f64.powf(lo + k as f64 / 8.0);
    let ymax = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 16))
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d((edge(0)..edge(nb)).log_scale(), 0.0..ymax)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc("requests")
        .x_label_formatter(&|v| fmt_count(*v))
        .y_label_formatter(&|v| fmt_count(*v))
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(de)?;
    chart
        .draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| {
                    Rectangle::new(
                        [(edge(k), 0.0), (edge(k + 1), *n as f64)],
                        c.mix(0.7).filled(),
                    )
                }),
        )
        .map_err(de)?;
    Ok(())
}
