//! Command-line arguments (clap) and the commands they run. anyhow is used only here.

mod calibrate;
mod catalog;
mod plan;
mod run;
mod sweep;
mod trace;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// fleetsim: size an LLM serving fleet by simulation.
#[derive(Parser, Debug)]
#[command(name = "fleetsim", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate a scenario and write DIR/summary.json and DIR/requests.csv.
    Run(run::RunArgs),
    /// Simulate the same workload on many fleets in parallel; write DIR/sweep.json, sweep.csv
    /// and smallest_fleets.json. Without a scenario, runs the shipped default.
    Sweep(sweep::SweepArgs),
    /// For a range of traffic volumes, the smallest SLO-meeting fleet per GPU type, its monthly
    /// cost, each API's, and the break-even volumes; DIR/plan.json, plan.csv, breakeven.png/svg.
    Plan(plan::PlanArgs),
    /// Simulate the published measurements in the calibration data and tabulate measured
    /// against predicted: DIR/validation.json and validation.md.
    Validate(validate::ValidateArgs),
    /// Fit the step-time model to measured step times (CSV prefill_tokens, decode_seqs,
    /// context_tokens, step_ms) and write a profile for `"perf": {"profile": ...}`.
    Calibrate(calibrate::CalibrateArgs),
    /// Inspect trace files.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// List the GPUs and models fleetsim knows, with their key figures.
    Catalog(catalog::CatalogArgs),
}

#[derive(Subcommand, Debug)]
enum TraceCommand {
    /// Rows, span, rate, burstiness and length percentiles of a trace.
    Stats(trace::StatsArgs),
    /// Convert a trace (any format, after window, limit and rate scale) to fleetsim JSONL.
    Convert(trace::ConvertArgs),
    /// Draw arrivals over time and input/output length histograms: DIR/trace.png and trace.svg.
    Plot(trace::PlotArgs),
}

/// Parses arguments and runs the command.
pub(crate) fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Plan(a) => plan::plan(a),
        Command::Validate(a) => validate::validate(a),
        Command::Calibrate(a) => calibrate::calibrate(a),
        Command::Trace {
            command: TraceCommand::Stats(a),
        } => trace::stats(a),
        Command::Trace {
            command: TraceCommand::Convert(a),
        } => trace::convert(a),
        Command::Trace {
            command: TraceCommand::Plot(a),
        } => trace::plot(a),
        Command::Catalog(a) => catalog::run(a),
    }
}

/// How tables are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text.
    #[default]
    Text,
    /// Markdown tables.
    Md,
}

/// Prints tables in the chosen format.
fn print_tables(tables: &[fleetsim::report::Table], format: Format) {
    for t in tables {
        match format {
            Format::Text => print!("{}", t.text()),
            Format::Md => print!("{}", t.markdown()),
        }
    }
}

/// Creates the output folder.
/// A comma-separated option value as its items, trimmed, empty ones dropped.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn ensure_dir(dir: &PathBuf) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output folder {}", dir.display()))
}

/// Prints on stderr, once each, the warnings about the GPU prices `gpus` are costed at and the
/// low-confidence API prices compared with `model`.
fn warn_prices(cost: Option<&fleetsim::cost::CostSpec>, gpus: &[String], model: &str) {
    let spec = cost.cloned().unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for a in spec.apis(model).unwrap_or_default() {
        if a.confidence == "low" {
            eprintln!(
                "warning: the {} API price (${}/M input, ${}/M output, {}) is of low confidence: {}",
                a.id, a.input, a.output, a.date, a.source
            );
        }
    }
    for g in gpus {
        if let Ok(p) = spec.gpu_price(g) {
            for w in p.warnings {
                if seen.insert(w.clone()) {
                    eprintln!("warning: {w}");
                }
            }
        }
    }
}

/// The worker threads to start: `--threads` (0 = one per core), at most one per unit of work
/// (`work` `what`), saying so on stderr when a request is cut down.
fn cap_threads(requested: Option<usize>, work: usize, what: &str) -> usize {
    let work = work.max(1);
    match requested {
        Some(n) if n > work => {
            eprintln!("note: --threads {n} capped at {work}: there are only {work} {what}");
            work
        }
        Some(n) => n,
        None => 0,
    }
}
