//! Charts, drawn with plotters.
//!
//! Each chart is one backend-generic drawing function (`fn draw<DB: DrawingBackend>`). It is
//! drawn once onto plotters' SVG backend; the PNG is that SVG rasterized with resvg using the
//! DejaVu Sans font shipped in `assets/fonts` (compiled in), so PNG and SVG come from the same
//! drawing code and render identically on any machine, with no system fonts or font libraries.

pub mod breakeven;
pub mod cost;
pub mod latency;
pub mod mix;
pub mod pools;
pub mod timeline;
pub mod trace;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use plotters::coord::Shift;
use plotters::prelude::*;
use resvg::usvg;

use crate::error::{Error, Result};

/// The chart font, as plotters names it in the SVG (mapped to DejaVu Sans when rasterizing).
pub const FONT: &str = "sans-serif";

/// A chart in both formats.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// File stem, e.g. `latency`.
    pub name: String,
    /// Title (also inside the drawing).
    pub title: String,
    /// SVG text.
    pub svg: String,
    /// PNG bytes.
    pub png: Vec<u8>,
}

/// Errors from drawing, as text (plotters' error types are backend-specific).
pub type DrawResult = std::result::Result<(), String>;

/// Turns any plotters error into text.
pub fn de<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn fontdb() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(include_bytes!("../../../assets/fonts/DejaVuSans.ttf").to_vec());
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    })
    .clone()
}

/// Draws a `width` x `height` chart with `draw` and renders it to SVG and PNG (PNG at twice the
/// size, for sharp text).
pub fn render(
    name: &str,
    title: &str,
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> DrawResult,
) -> Result<Rendered> {
    let fail = |msg: String| Error::Input {
        path: format!("{name}.svg").into(),
        msg: format!("cannot draw the chart: {msg}"),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(de(e)))?;
        draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(de(e)))?;
    }
    let opt = usvg::Options {
        fontdb: fontdb(),
        ..Default::default()
    };
    let tree = usvg::Tree::from_str(&svg, &opt).map_err(|e| fail(e.to_string()))?;
    let scale = 2.0;
    let mut pix = resvg::tiny_skia::Pixmap::new(width * 2, height * 2)
        .ok_or_else(|| fail("empty image".into()))?;
    pix.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pix.as_mut(),
    );
    let png = pix.encode_png().map_err(|e| fail(e.to_string()))?;
    Ok(Rendered {
        name: name.to_string(),
        title: title.to_string(),
        svg,
        png,
    })
}

/// Writes `dir/<name>.svg` and `dir/<name>.png`.
pub fn write(dir: &Path, chart: &Rendered) -> Result<()> {
    for (ext, bytes) in [("svg", chart.svg.as_bytes()), ("png", chart.png.as_slice())] {
        let path = dir.join(format!("{}.{ext}", chart.name));
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// A colour cycle that stays readable on white.
pub fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 10] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(127, 127, 127),
    ];
    C[i % C.len()]
}

/// Colours for the APIs' dashed lines on a chart whose fleets are drawn in [`color`]: dark
/// tones none of its ten repeats, so that with many fleets (a plan over GPUs x engines) and
/// many APIs no API shares a fleet's colour.
pub fn api_color(i: usize) -> RGBColor {
    const C: [RGBColor; 8] = [
        RGBColor(64, 64, 64),
        RGBColor(0, 0, 128),
        RGBColor(128, 0, 0),
        RGBColor(0, 100, 100),
        RGBColor(110, 110, 0),
        RGBColor(90, 0, 110),
        RGBColor(160, 80, 0),
        RGBColor(0, 90, 30),
    ];
    C[i % C.len()]
}

/// A cycle of twenty colours: [`color`]'s ten, then lighter tones of the same ten, for charts
/// with more than ten series of one kind.
pub fn color20(i: usize) -> RGBColor {
    const LIGHT: [RGBColor; 10] = [
        RGBColor(174, 199, 232),
        RGBColor(255, 152, 150),
        RGBColor(152, 223, 138),
        RGBColor(197, 176, 213),
        RGBColor(255, 187, 120),
        RGBColor(196, 156, 148),
        RGBColor(247, 182, 210),
        RGBColor(158, 218, 229),
        RGBColor(219, 219, 141),
        RGBColor(199, 199, 199),
    ];
    match i % 20 {
        k if k < 10 => color(k),
        k => LIGHT[k - 10],
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub enum Swatch {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A filled box.
    Box,
    /// A point marker.
    Point,
    /// A hollow ring.
    Ring,
}

/// One legend entry.
#[derive(Debug)]
pub struct LegendEntry {
    /// Its colour.
    pub color: RGBColor,
    /// How it is drawn.
    pub swatch: Swatch,
    /// Its text.
    pub text: String,
}

/// Draws a legend as a column of entries in `area` (a panel beside the plot, so it never
/// covers data).
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    entries: &[LegendEntry],
) -> DrawResult {
    let style = TextStyle::from((FONT, 13).into_font()).color(&BLACK);
    let mut y = 40;
    area.draw(&Text::new(
        title.to_string(),
        (8, y),
        (FONT, 14).into_font().style(FontStyle::Bold),
    ))
    .map_err(de)?;
    y += 24;
    for e in entries {
        let c = e.color;
        match e.swatch {
            Swatch::Line => area
                .draw(&PathElement::new(
                    vec![(8, y + 7), (32, y + 7)],
                    c.stroke_width(3),
                ))
                .map_err(de)?,
            Swatch::Dashed => {
                for x in [8, 18, 28] {
                    area.draw(&PathElement::new(
                        vec![(x, y + 7), (x + 6, y + 7)],
                        c.stroke_width(2),
                    ))
                    .map_err(de)?;
                }
            }
            Swatch::Box => area
                .draw(&Rectangle::new([(10, y + 1), (30, y + 13)], c.filled()))
                .map_err(de)?,
            Swatch::Point => area
                .draw(&Circle::new((20, y + 7), 5, c.filled()))
                .map_err(de)?,
            Swatch::Ring => area
                .draw(&Circle::new((20, y + 7), 5, c.stroke_width(2)))
                .map_err(de)?,
        }
        area.draw(&Text::new(e.text.clone(), (40, y), style.clone()))
            .map_err(de)?;
        y += 22;
    }
    Ok(())
}

/// Whether values spanning `lo..hi` call for a log axis (more than a factor of 30).
pub fn wants_log(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo > 30.0
}

/// A padded axis range for values in `lo..=hi` (log: one decade-friendly factor either side).
pub fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let lo = lo.max(1e-12);
        (lo / 1.5, hi * 1.5)
    } else {
        let span = (hi - lo).abs().max(hi.abs() * 0.1).max(1e-9);
        (
            (lo - 0.05 * span).min(0.0_f64.max(lo - 0.05 * span)),
            hi + 0.1 * span,
        )
    }
}

/// Formats seconds for axis labels (`12 ms`, `1.5 s`, `3 min`).
pub fn fmt_seconds(s: f64) -> String {
    if s == 0.0 {
        "0".into()
    } else if s < 1e-3 {
        format!("{:.0} us", s * 1e6)
    } else if s < 1.0 {
        format!("{} ms", trim(s * 1e3))
    } else {
        format!("{} s", trim(s))
    }
}

/// Log-axis ticks at 1, 2 and 5 times each power of ten within `lo..hi` (at least two).
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut v = Vec::new();
    let mut p = 10f64.powf(lo.log10().floor());
    while p <= hi {
        for m in [1.0, 2.0, 5.0] {
            let x = p * m;
            if x >= lo && x <= hi {
                v.push(x);
            }
        }
        p *= 10.0;
    }
    if v.len() < 2 {
        v = vec![lo, hi];
    }
    v
}

/// Formats dollars for axis labels (`$950`, `$12k`, `$1.2M`).
pub fn fmt_usd(x: f64) -> String {
    if x >= 1e6 {
        format!("${}M", trim(x / 1e6))
    } else if x >= 1e3 {
        format!("${}k", trim(x / 1e3))
    } else {
        format!("${}", trim(x))
    }
}

/// Formats a count (`950`, `12k`, `1.2M`, `3.4B`).
pub fn fmt_count(x: f64) -> String {
    if x >= 1e9 {
        format!("{}B", trim(x / 1e9))
    } else if x >= 1e6 {
        format!("{}M", trim(x / 1e6))
    } else if x >= 1e3 {
        format!("{}k", trim(x / 1e3))
    } else {
        trim(x)
    }
}

fn trim(x: f64) -> String {
    let s = if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}
