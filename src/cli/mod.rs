//! Command-line arguments (clap) and the commands they run. anyhow is used only here.

mod calibrate;
mod catalog;
mod plan;
mod run;
mod sweep;
mod trace;

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
    Validate(ValidateArgs),
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
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(a) => run::run(a),
        Command::Sweep(a) => sweep::sweep(a),
        Command::Plan(a) => plan::plan(a),
        Command::Validate(a) => validate(a),
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

#[derive(clap::Args, Debug)]
struct ValidateArgs {
    /// Output folder (created if missing).
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Also refit the step-time efficiencies and overhead per GPU family and precision to the
    /// counted figures and report them (DIR/fit.json, and DIR/step_time.json in the format of
    /// src/catalog/step_time.json, which holds the defaults; copying it there adopts the fit).
    #[arg(long)]
    fit: bool,
    /// Also cross-validate the fit: fit on one half of the workloads, predict the other
    /// (DIR/cross_validation.json).
    #[arg(long)]
    cross_validate: bool,
}

fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    if a.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let base = if std::path::Path::new("traces").exists() {
        PathBuf::from(".")
    } else {
        root
    };
    let threads = cap_threads(a.threads, 256, "validation runs");
    let v = fleetsim::validate::run(&base, threads)?;
    ensure_dir(&a.out)?;
    let md = fleetsim::validate::markdown(&v);
    std::fs::write(a.out.join("validation.md"), &md).context("writing validation.md")?;
    let mut json = serde_json::to_string_pretty(&v)?;
    json.push('\n');
    std::fs::write(a.out.join("validation.json"), json).context("writing validation.json")?;
    print!("{md}");
    if a.fit {
        let fits = fleetsim::validate::fit_defaults(&base, threads)?;
        let mut t = fleetsim::report::Table::new(
            "Fitted per GPU and precision (every counted figure on that GPU at that precision)",
            &[
                "family",
                "precision",
                "figures",
                "compute eff",
                "memory eff",
                "link eff",
                "overhead ms",
                "per-seq us",
                "all-reduce us",
                "median |error| current",
                "median |error| fitted",
                "worst fitted",
            ],
        );
        for f in &fits {
            t.row(vec![
                f.family.clone(),
                f.precision.clone(),
                f.figures.to_string(),
                format!("{:.3}", f.params.compute_efficiency),
                format!("{:.3}", f.params.memory_efficiency),
                format!("{:.3}", f.params.link_efficiency),
                format!("{:.2}", f.params.step_overhead_ms),
                format!("{:.2}", f.params.seq_overhead_us),
                f.params
                    .allreduce_latency_us
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or_else(|| "-".into()),
                format!("{:.1}%", 100.0 * f.median_abs_error_current),
                format!("{:.1}%", 100.0 * f.median_abs_error_fitted),
                format!("{:.1}%", 100.0 * f.worst_abs_error_fitted),
            ]);
        }
        print!("{}", t.markdown());
        let mut json = serde_json::to_string_pretty(&fits)?;
        json.push('\n');
        std::fs::write(a.out.join("fit.json"), json).context("writing fit.json")?;
        let catalog = fleetsim::catalog::Catalog::builtin();
        let lines: Vec<String> = fits
            .iter()
            .map(|f| {
                serde_json::json!({
                    "family": f.family,
                    "precision": f.precision,
                    "compute_efficiency": (f.params.compute_efficiency * 1000.0).round() / 1000.0,
                    "memory_efficiency": (f.params.memory_efficiency * 1000.0).round() / 1000.0,
                    "link_efficiency": (f.params.link_efficiency * 1000.0).round() / 1000.0,
                    "step_overhead_ms": (f.params.step_overhead_ms * 100.0).round() / 100.0,
                    "seq_overhead_us": (f.params.seq_overhead_us * 100.0).round() / 100.0,
                    "allreduce_latency_us": f.params.allreduce_latency_us.map(|x| (x * 10.0).round() / 10.0),
                    "figures": f.figures,
                })
                .to_string()
            })
            .collect();
        let text = format!(
            "{{\n \"notes\": {},\n \"source\": {},\n \"fits\": [\n  {}\n ]\n}}\n",
            serde_json::to_string(&catalog.step_time_notes)?,
            serde_json::to_string(&catalog.step_time_source)?,
            lines.join(",\n  ")
        );
        std::fs::write(a.out.join("step_time.json"), text).context("writing step_time.json")?;
    }
    if a.cross_validate {
        let folds = fleetsim::validate::cross_validate(&base, a.threads.unwrap_or(0))?;
        let mut t = fleetsim::report::Table::new(
            "Two-fold cross-validation of the fit (each fold's parameters fitted on the other fold)",
            &[
                "family",
                "precision",
                "held-out fold",
                "fitted figures",
                "held-out figures",
                "median |error| fitted",
                "median |error| held out",
                "worst held out",
            ],
        );
        for f in &folds {
            t.row(vec![
                f.family.clone(),
                f.precision.clone(),
                f.held_out_fold.to_string(),
                f.fitted_figures.to_string(),
                f.held_out_figures.to_string(),
                format!("{:.1}%", 100.0 * f.median_abs_error_fitted),
                format!("{:.1}%", 100.0 * f.median_abs_error_held_out),
                format!("{:.1}%", 100.0 * f.worst_abs_error_held_out),
            ]);
        }
        print!("{}", t.markdown());
        let mut json = serde_json::to_string_pretty(&folds)?;
        json.push('\n');
        std::fs::write(a.out.join("cross_validation.json"), json)
            .context("writing cross_validation.json")?;
    }
    Ok(())
}

/// How tables are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
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
