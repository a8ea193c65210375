//! `fleetsim trace stats`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fleetsim::workload::arrivals::ArrivalSpec;
use fleetsim::workload::stats::TraceStats;
use fleetsim::workload::{TraceFormat, TraceSpec};

#[derive(Args, Debug)]
pub struct StatsArgs {
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

pub fn stats(a: StatsArgs) -> anyhow::Result<()> {
    let format = match &a.format {
        Some(f) => f.parse::<TraceFormat>()?,
        None => TraceFormat::detect(&a.file)?,
    };
    let mut spec = TraceSpec::new(&a.file, format);
    spec.skip_bad_lines = a.skip_bad_lines;
    if format == TraceFormat::Lengths {
        // Length-only files have no times; arrivals at 1 req/s keep the reader happy and the
        // arrival figures below are then not the file's.
        spec.arrivals = Some(ArrivalSpec::Constant { rate_per_s: 1.0 });
    }
    let w = spec
        .load(&a.file, 0)
        .with_context(|| format!("reading {} as {}", a.file.display(), format.name()))?;
    for note in &w.notes {
        eprintln!("note: {note}");
    }
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
