//! `fleetsim trace stats`, `trace convert` and `trace plot`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use fleetsim::workload::arrivals::ArrivalSpec;
use fleetsim::workload::stats::TraceStats;
use fleetsim::workload::{TraceFormat, TraceSpec, Workload};

#[derive(Args, Debug)]
pub(crate) struct StatsArgs {
    /// Trace file.
    file: PathBuf,
    /// Format: azure, burstgpt, mooncake, lengths, jsonl (guessed from the first line if left out).
    #[arg(long)]
    format: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Count and report malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// The trace spec for `file` in `format` (guessed when not given). Length-only files have no
/// times: they get arrivals at 1 request per second, so arrival figures are then not the file's.
fn trace_spec(
    file: &Path,
    format: Option<&str>,
    skip_bad_lines: bool,
) -> anyhow::Result<TraceSpec> {
    let format = match format {
        Some(f) => f.parse::<TraceFormat>()?,
        None => TraceFormat::detect(file)?,
    };
    let mut spec = TraceSpec::new(file, format);
    spec.skip_bad_lines = skip_bad_lines;
    if format == TraceFormat::Lengths {
        spec.arrivals = Some(ArrivalSpec::Constant { rate_per_s: 1.0 });
    }
    Ok(spec)
}

/// Loads a trace with `spec`, printing the reader's notes.
fn load(spec: &TraceSpec) -> anyhow::Result<Workload> {
    let w = spec
        .load(&spec.path, 0)
        .with_context(|| format!("reading {} as {}", spec.path.display(), spec.format.name()))?;
    for note in &w.notes {
        eprintln!("note: {note}");
    }
    Ok(w)
}

pub(crate) fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let spec = trace_spec(&a.file, a.format.as_deref(), a.skip_bad_lines)?;
    let format = spec.format;
    let w = load(&spec)?;
    let stats = TraceStats::of(&w);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        println!("{} ({})", a.file.display(), format.name());
        print!("{}", stats.table());
        if format == TraceFormat::Lengths {
            println!("(no timestamps in this format: span and rate above are not the file's)");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct ConvertArgs {
    /// Trace file.
    file: PathBuf,
    /// Its format (guessed from the first line if left out).
    #[arg(long)]
    format: Option<String>,
    /// Output JSONL file.
    #[arg(long)]
    out: PathBuf,
    /// Keep at most this many requests.
    #[arg(long)]
    limit: Option<u64>,
    /// Window start, seconds after the first request.
    #[arg(long)]
    start_s: Option<f64>,
    /// Window end, seconds after the first request.
    #[arg(long)]
    end_s: Option<f64>,
    /// Speed-up of time (2.0 = twice the rate).
    #[arg(long, default_value_t = 1.0)]
    rate_scale: f64,
    /// Count and report malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

pub(crate) fn convert(a: ConvertArgs) -> anyhow::Result<()> {
    let mut spec = trace_spec(&a.file, a.format.as_deref(), a.skip_bad_lines)?;
    if spec.format == TraceFormat::Lengths {
        anyhow::bail!(
            "the `lengths` format has no timestamps; use it in a scenario with `arrivals` instead"
        );
    }
    spec.limit = a.limit;
    spec.start_s = a.start_s;
    spec.end_s = a.end_s;
    spec.rate_scale = a.rate_scale;
    let w = load(&spec)?;
    fleetsim::workload::readers::jsonl::write(&a.out, &w.requests)?;
    println!("wrote {} requests to {}", w.requests.len(), a.out.display());
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct PlotArgs {
    /// Trace file.
    file: PathBuf,
    /// Format (guessed from the first line if left out).
    #[arg(long)]
    format: Option<String>,
    /// Output folder for trace.png and trace.svg.
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Count and report malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

pub(crate) fn plot(a: PlotArgs) -> anyhow::Result<()> {
    let spec = trace_spec(&a.file, a.format.as_deref(), a.skip_bad_lines)?;
    let format = spec.format;
    let w = load(&spec)?;
    super::ensure_dir(&a.out)?;
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let chart = fleetsim::report::charts::trace::chart(&w, &name)?;
    fleetsim::report::charts::write(&a.out, &chart)?;
    println!(
        "wrote {} and trace.svg{}",
        a.out.join("trace.png").display(),
        if format == TraceFormat::Lengths {
            " (no timestamps in this format: the arrival panel shows 1 request per second)"
        } else {
            ""
        }
    );
    Ok(())
}
