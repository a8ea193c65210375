//! mix.png/svg (`fleetsim plan --mix`): monthly cost against the number of reserved replicas,
//! two bars per count (the autoscaled on-demand complement on the left, overflow to the API on
//! the right) stacked by tier (reserved, on demand, API, operations), the all-API and
//! fixed-for-peak costs as dashed lines, and the chosen mix marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{de, draw_legend, fmt_usd, render, DrawResult, LegendEntry, Rendered, Swatch, FONT};
use crate::error::Result;
use crate::sweep::plan::mix::MixPlan;

/// Chart title.
pub const TITLE: &str = "Monthly cost against reserved replicas, by tier";

const RESERVED: RGBColor = RGBColor(31, 119, 180);
const ON_DEMAND: RGBColor = RGBColor(255, 127, 14);
const SPOT: RGBColor = RGBColor(44, 160, 44);
const API: RGBColor = RGBColor(148, 103, 189);
const OPS: RGBColor = RGBColor(150, 150, 150);
const FIXED: RGBColor = RGBColor(214, 39, 40);
const MARK: RGBColor = RGBColor(0, 0, 0);

/// Renders the chart.
pub fn chart(m: &MixPlan) -> Result<Rendered> {
    render("mix", TITLE, 1200, 560, |root| draw(root, m))
}

fn total(x: &crate::sweep::plan::mix::Mix) -> f64 {
    if x.per_month_usd.is_finite() {
        x.per_month_usd
    } else {
        0.0
    }
}

/// Draws the chart on any backend.
pub fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, m: &MixPlan) -> DrawResult {
    let (top, rest) = root.split_vertically(44);
    top.titled(TITLE, (FONT, 24)).map_err(de)?;
    let (plot, legend_area) = rest.split_horizontally(860);
    let max_bar = m.mixes.iter().map(total).fold(0.0, f64::max);
    let lines = [
        m.all_api.as_ref().map(|a| a.1),
        Some(m.fixed_for_peak_usd_per_month),
    ];
    let ymax = lines
        .iter()
        .flatten()
        .fold(max_bar, |a, &b| a.max(b))
        .max(1.0)
        * 1.12;
    let x0 = -0.7;
    let x1 = m.fixed_for_peak as f64 + 0.7;
    let mut chart = ChartBuilder::on(&plot)
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, 0.0..ymax)
        .map_err(de)?;
    chart
        .configure_mesh()
        .x_desc("reserved replicas (bars, left to right: + autoscaled on demand, + autoscaled spot, + overflow to the API)")
        .y_desc("USD per month (730 h)")
        .x_labels((m.fixed_for_peak as usize + 2).clamp(2, 14))
        .x_label_formatter(&|v| {
            if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
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
    let w = 0.13;
    for (i, x) in m.mixes.iter().enumerate() {
        let xc = x.reserved as f64
            + match x.complement.as_str() {
                "on-demand autoscaled" => -2.0 * w,
                "spot autoscaled" => 0.0,
                _ => 2.0 * w,
            };
        let spot = x.complement.starts_with("spot");
        let tiers = [
            x.reserved_usd_per_month,
            if spot { 0.0 } else { x.burst_usd_per_month },
            if spot { x.burst_usd_per_month } else { 0.0 },
            x.api_usd_per_month,
        ];
        let ops = (total(x) - tiers.iter().sum::<f64>()).max(0.0);
        let mut base = 0.0;
        for (v, col) in tiers
            .into_iter()
            .zip([RESERVED, ON_DEMAND, SPOT, API])
            .chain([(ops, OPS)])
        {
            if v <= 0.0 {
                continue;
            }
            chart
                .draw_series([Rectangle::new(
                    [(xc - w * 0.9, base), (xc + w * 0.9, base + v)],
                    col.filled(),
                )])
                .map_err(de)?;
            base += v;
        }
        if !x.meets_slo {
            chart
                .draw_series([Text::new(
                    "misses",
                    (xc - w, base + ymax * 0.035),
                    (FONT, 10).into_font().color(&RED),
                )])
                .map_err(de)?;
        }
        if m.best == Some(i) {
            chart
                .draw_series([Circle::new((xc, base + ymax * 0.015), 8, MARK.filled())])
                .map_err(de)?;
        }
    }
    for (usd, col) in [
        (m.all_api.as_ref().map(|a| a.1), API),
        (Some(m.fixed_for_peak_usd_per_month), FIXED),
    ] {
        if let Some(u) = usd {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, u), (x1, u)],
                    10,
                    6,
                    col.stroke_width(2),
                ))
                .map_err(de)?;
        }
    }
    let mut entries = vec![
        LegendEntry {
            color: RESERVED,
            swatch: Swatch::Box,
            text: "reserved replicas".into(),
        },
        LegendEntry {
            color: ON_DEMAND,
            swatch: Swatch::Box,
            text: "on demand, autoscaled".into(),
        },
        LegendEntry {
            color: SPOT,
            swatch: Swatch::Box,
            text: "spot, autoscaled".into(),
        },
        LegendEntry {
            color: API,
            swatch: Swatch::Box,
            text: "overflow to the API".into(),
        },
        LegendEntry {
            color: OPS,
            swatch: Swatch::Box,
            text: "operations and safety".into(),
        },
    ];
    if let Some((name, usd)) = &m.all_api {
        entries.push(LegendEntry {
            color: API,
            swatch: Swatch::Dashed,
            text: format!("all-API ({name}) {}", fmt_usd(*usd)),
        });
    }
    entries.push(LegendEntry {
        color: FIXED,
        swatch: Swatch::Dashed,
        text: format!(
            "fixed for the peak ({} on demand) {}",
            m.fixed_for_peak,
            fmt_usd(m.fixed_for_peak_usd_per_month)
        ),
    });
    entries.push(LegendEntry {
        color: MARK,
        swatch: Swatch::Point,
        text: "cheapest mix meeting the SLO".into(),
    });
    draw_legend(&legend_area, &format!("GPU: {}", m.gpu), &entries)
}
