//! `fleetsim sweep`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use fleetsim::report::html::Section;
use fleetsim::report::{charts, views, write_sweep_files, SweepFiles};
use fleetsim::scenario::Scenario;
use fleetsim::sweep::{
    smallest_fleets, IntAxis, PointResult, RunOptions, Sweep, SweepAxes, SweepConfig,
};

/// Most groups of points drawn in the latency chart and as cost charts.
const MAX_CHART_GROUPS: usize = 12;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The scenario `fleetsim sweep` runs when given none.
const DEFAULT_SCENARIO: &str = include_str!("../../examples/default-sweep.json");

#[derive(Args, Debug)]
pub(crate) struct SweepArgs {
    /// Scenario JSON file (default: the shipped examples/default-sweep.json).
    scenario: Option<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Replica counts: `1..=16`, `1..16` or `1,2,4,8` (overrides sweep.replicas).
    #[arg(long)]
    replicas: Option<String>,
    /// GPU ids, comma separated (overrides sweep.gpus).
    #[arg(long)]
    gpus: Option<String>,
    /// Routers, comma separated (overrides sweep.routers).
    #[arg(long)]
    routers: Option<String>,
    /// max_num_seqs values (overrides sweep.max_num_seqs).
    #[arg(long)]
    max_num_seqs: Option<String>,
    /// Tensor-parallel degrees, e.g. `1,2,4` (overrides sweep.tp).
    #[arg(long)]
    tp: Option<String>,
    /// Weight precisions, comma separated: bf16, fp8 (overrides sweep.precision).
    #[arg(long)]
    precision: Option<String>,
    /// Token budgets per step (chunk size), e.g. `2048,8192` (overrides sweep.max_num_batched_tokens).
    #[arg(long)]
    max_num_batched_tokens: Option<String>,
    /// Rate scales, comma separated (overrides sweep.rate_scale).
    #[arg(long)]
    rate_scale: Option<String>,
    /// Engine profiles to compare, comma separated: vllm, sglang, trtllm, ... (overrides
    /// sweep.engines).
    #[arg(long)]
    engines: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Continue an interrupted sweep: points already in DIR/points.jsonl are not run again.
    #[arg(long)]
    resume: bool,
    /// No progress bar and no table.
    #[arg(long, short)]
    quiet: bool,
    /// Table format on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: super::Format,
}

pub(crate) fn sweep(a: SweepArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let (mut scenario, base_dir, name) = load(a.scenario.as_deref())?;
    if let Some(s) = a.seed {
        scenario.seed = s;
    }
    let (axes, given) = axes_with_options(&scenario, &a);
    let spec = SweepConfig::new(&axes, &scenario)
        .map_err(|e| match e {
            fleetsim::Error::Config { field, msg } => {
                match given.iter().find(|(f, set, _)| *set && *f == field) {
                    Some((_, _, opt)) => anyhow::anyhow!("option {opt}: {msg}"),
                    None => fleetsim::Error::Config { field, msg }.into(),
                }
            }
            e => e.into(),
        })
        .with_context(|| format!("sweep of {name}"))?;
    super::warn_prices(scenario.cost.as_ref(), &spec.gpus, &scenario.model.id());
    let mut counts = spec.replicas.clone();
    counts.sort_unstable();
    counts.dedup();
    let sweep = Sweep::new(scenario.clone(), spec, &base_dir)
        .with_context(|| format!("scenario {name}"))?;
    let points = sweep.points();
    super::ensure_dir(&a.out)?;
    if a.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let threads = super::cap_threads(a.threads, points.len(), "points");
    let bar = ProgressBar::new(points.len() as u64);
    if a.quiet || !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} points {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let files = SweepFiles::new(&a.out);
    let t1 = Instant::now();
    // The journal is the source of truth; the summaries are rebuilt from what it holds.
    let run = sweep
        .run(
            &points,
            &RunOptions {
                threads,
                out: &a.out,
                resume: a.resume,
                summaries: &|done: &[PointResult]| {
                    let refs: Vec<&PointResult> = done.iter().collect();
                    write_sweep_files(&files, &refs, &smallest_fleets(done))
                },
                on_point: &|| bar.inc(1),
            },
        )
        .map_err(|e| match e {
            e @ fleetsim::Error::Io { .. } => anyhow::anyhow!("writing sweep results: {e}"),
            e => e.into(),
        })?;
    bar.finish_and_clear();
    if a.resume {
        eprintln!(
            "resuming: {} of {} points already in {}",
            run.resumed,
            points.len(),
            a.out.join(fleetsim::sweep::POINT_LOG).display()
        );
    }
    let results = run.results;
    let refs: Vec<&PointResult> = results.iter().collect();
    let mut best = smallest_fleets(&results);
    // The answers again with step times at the ends of the engine profile's error band.
    fleetsim::sweep::thread_pool(threads)?
        .install(|| sweep.smallest_within_error(&mut best, &counts));
    sweep.mark_extrapolated(&mut best);
    write_sweep_files(&files, &refs, &best)?;
    let advice = sweep.advice(&points, &results);
    let (tables, answer, mut written) = write_report(
        &a.out,
        &name,
        &scenario,
        &axes,
        (&results, &advice),
        &best,
        points.len(),
        sweep.requests(),
    )?;
    let overloaded = results
        .iter()
        .filter(|r| r.summary.as_ref().is_some_and(|s| s.stability.overloaded))
        .count();
    if overloaded > 0 {
        eprintln!(
            "warning: {overloaded} of {} points are overloaded (they do not keep up with their arrivals): their latencies grow with the trace's length and their costs are not valid options",
            results.len()
        );
    }
    if !a.quiet {
        super::print_tables(&tables, a.format);
        println!("{answer}");
        written.push("report.html".into());
        println!(
            "wrote {}, {}, {}, {}, {}",
            a.out.join(fleetsim::sweep::POINT_LOG).display(),
            files.json.display(),
            files.csv.display(),
            files.smallest.display(),
            written.join(", ")
        );
    }
    eprintln!(
        "wall time: {:.2} s ({} points on {} threads; {:.2} s loading, {:.2} s finding {} replica capacit{}{})",
        t0.elapsed().as_secs_f64(),
        points.len(),
        run.threads,
        t1.duration_since(t0).as_secs_f64(),
        run.capacity_s,
        run.capacities,
        if run.capacities == 1 { "y" } else { "ies" },
        match run.fleet_capacities {
            0 => String::new(),
            1 => " and 1 whole fleet's".to_string(),
            n => format!(" and {n} whole fleets'"),
        }
    );
    Ok(())
}

/// The scenario to sweep (the shipped default without one), the folder its relative paths
/// start from, and how to name it.
fn load(path: Option<&Path>) -> anyhow::Result<(Scenario, PathBuf, String)> {
    Ok(match path {
        Some(p) => (
            Scenario::from_file(p)?,
            p.parent().map(PathBuf::from).unwrap_or_default(),
            p.display().to_string(),
        ),
        None => {
            // The shipped default replays a trace from this source tree: look for it in the
            // current directory first, then where fleetsim was built from.
            let s =
                Scenario::from_json(DEFAULT_SCENARIO, Path::new("examples/default-sweep.json"))?;
            (
                s,
                PathBuf::from(env!("CARGO_MANIFEST_DIR")),
                "the shipped default (examples/default-sweep.json)".to_string(),
            )
        }
    })
}

/// The scenario's sweep axes with the command-line axes applied, and for each axis whether it
/// came from an option (and which), so errors name what the user typed.
fn axes_with_options(
    scenario: &Scenario,
    a: &SweepArgs,
) -> (SweepAxes, [(&'static str, bool, &'static str); 9]) {
    let mut axes = scenario.sweep.clone().unwrap_or_default();
    if let Some(r) = &a.replicas {
        axes.replicas = Some(IntAxis::Text(r.clone()));
    }
    if let Some(g) = &a.gpus {
        axes.gpus = Some(super::list(g));
    }
    if let Some(r) = &a.routers {
        axes.routers = Some(super::list(r));
    }
    if let Some(m) = &a.max_num_seqs {
        axes.max_num_seqs = Some(IntAxis::Text(m.clone()));
    }
    if let Some(t) = &a.tp {
        axes.tp = Some(IntAxis::Text(t.clone()));
    }
    if let Some(p) = &a.precision {
        axes.precision = Some(super::list(p));
    }
    if let Some(m) = &a.max_num_batched_tokens {
        axes.max_num_batched_tokens = Some(IntAxis::Text(m.clone()));
    }
    if let Some(s) = &a.rate_scale {
        axes.rate_scale = Some(fleetsim::sweep::FloatAxis::Text(s.clone()));
    }
    if let Some(e) = &a.engines {
        axes.engines = Some(super::list(e));
    }
    // An axis given on the command line is named as the option the user typed.
    let given = [
        ("sweep.replicas", a.replicas.is_some(), "--replicas"),
        ("sweep.gpus", a.gpus.is_some(), "--gpus"),
        ("sweep.routers", a.routers.is_some(), "--routers"),
        (
            "sweep.max_num_seqs",
            a.max_num_seqs.is_some(),
            "--max-num-seqs",
        ),
        ("sweep.tp", a.tp.is_some(), "--tp"),
        ("sweep.precision", a.precision.is_some(), "--precision"),
        (
            "sweep.max_num_batched_tokens",
            a.max_num_batched_tokens.is_some(),
            "--max-num-batched-tokens",
        ),
        ("sweep.rate_scale", a.rate_scale.is_some(), "--rate-scale"),
        ("sweep.engines", a.engines.is_some(), "--engines"),
    ];
    (axes, given)
}

/// Writes the charts and report.html; returns the tables, the answer line and the files written.
#[allow(clippy::too_many_arguments)]
fn write_report(
    out: &Path,
    name: &str,
    scenario: &Scenario,
    axes: &SweepAxes,
    (results, advice): (&[PointResult], &[String]),
    best: &[fleetsim::sweep::SmallestFleet],
    points: usize,
    requests: usize,
) -> anyhow::Result<(Vec<fleetsim::report::Table>, String, Vec<String>)> {
    let mut tables = fleetsim::report::sweep_tables(results, best, scenario.slo.as_ref());
    // What a group's replica settings may cost it, under the sweep table.
    if let Some(t) = tables.first_mut() {
        t.notes.extend(advice.iter().cloned());
    }
    let answer = views::sweep_answer(results, best);
    let mut sections = vec![
        Section::Text(answer.clone()),
        Section::Text(format!(
            "Sweep of {name}: {} points; the same {} requests for every point.",
            points, requests
        )),
    ];
    let mut written = Vec::new();
    let mut groups = views::latency_groups(results, best);
    let n_groups = groups.len();
    if n_groups > MAX_CHART_GROUPS {
        // A chart of hundreds of groups is unreadable and slow to draw: chart the first ones.
        groups.truncate(MAX_CHART_GROUPS);
        sections.push(Section::Text(format!(
            "The charts show the first {MAX_CHART_GROUPS} of {n_groups} groups of points; every point is in the table and in sweep.csv."
        )));
        eprintln!("note: charts show the first {MAX_CHART_GROUPS} of {n_groups} groups; every point is in sweep.csv");
    }
    if !groups.is_empty() {
        let chart = charts::latency::chart(&groups, scenario.slo.as_ref())?;
        charts::write(out, &chart)?;
        written.push(format!("{}.png/svg", chart.name));
        sections.push(Section::Chart(chart));
    }
    for (i, c) in views::cost_charts(results)
        .iter()
        .take(MAX_CHART_GROUPS)
        .enumerate()
    {
        let mut chart = charts::cost::chart(c)?;
        if i > 0 {
            chart.name = format!("cost-{}", i + 1);
        }
        charts::write(out, &chart)?;
        written.push(format!("{}.png/svg", chart.name));
        sections.push(Section::Chart(chart));
    }
    sections.extend(tables.iter().cloned().map(Section::Table));
    sections.push(Section::Pre(
        "Scenario (with command-line axes applied)".into(),
        {
            let mut s = scenario.clone();
            s.sweep = Some(axes.clone());
            fleetsim::report::json_without_nulls(&s)
        },
    ));
    fleetsim::report::html::write(out, &format!("fleetsim sweep: {name}"), &sections)?;
    Ok((tables, answer, written))
}
