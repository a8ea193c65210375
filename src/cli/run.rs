//! `fleetsim run`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use fleetsim::metrics::Summary;
use fleetsim::report;
use fleetsim::report::html::Section;
use fleetsim::scenario::{RunConfig, Scenario};

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// Scenario JSON file.
    scenario: PathBuf,
    /// Output folder (created if missing).
    #[arg(long, default_value = "fleetsim-out")]
    out: PathBuf,
    /// Override the scenario's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Count and report malformed trace lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Do not write requests.csv (one row per request: hundreds of MB for millions of requests).
    #[arg(long)]
    no_requests: bool,
    /// Do not draw timeline.png/svg (report.html then has no chart); timeline.csv is still written.
    #[arg(long)]
    no_charts: bool,
    /// Stream the workload: keep only the requests in flight, so memory does not grow with the
    /// trace (tens of millions of requests). Latency percentiles then come from histograms
    /// (within 0.05% of the exact ones), requests.csv is written as requests finish, and there
    /// is no timeline. Open-loop traffic on a fixed fleet only.
    #[arg(long)]
    stream: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    quiet: bool,
    /// Table format on stdout.
    #[arg(long, value_enum, default_value_t)]
    format: super::Format,
}

pub(crate) fn run(a: RunArgs) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let mut scenario = Scenario::from_file(&a.scenario)?;
    if let Some(s) = a.seed {
        scenario.seed = s;
    }
    if a.skip_bad_lines {
        if let Some(t) = scenario.workload.trace.as_mut() {
            t.skip_bad_lines = true;
        }
    }
    let base = a.scenario.parent().map(PathBuf::from).unwrap_or_default();
    if a.stream {
        return run_streamed(&a, &scenario, &base, t0);
    }
    let spec = scenario
        .resolve(&base)
        .with_context(|| format!("scenario {}", a.scenario.display()))?;
    for note in &spec.traffic.workload.notes {
        eprintln!("note: {note}");
    }
    super::ensure_dir(&a.out)?;
    let load_s = t0.elapsed().as_secs_f64();
    let t_cap = Instant::now();
    let capacity = spec.capacity();
    let cap_s = t_cap.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let progress: Option<Box<dyn FnMut(f64, u64)>> = if a.quiet {
        None
    } else {
        Some(progress_reporter(spec.requests().len() as u64))
    };
    let mut result = spec.run_observed(true, Some(&capacity), progress);
    let sim_s = t1.elapsed().as_secs_f64();
    result.summary.band = spec.band_summary();
    let summary_path = a.out.join("summary.json");
    report::write_summary_json(&summary_path, &result.summary)?;
    if !a.no_requests {
        report::write_requests_csv(
            &a.out.join("requests.csv"),
            spec.requests(),
            &result.output.recorder.records,
        )?;
    }
    let mut charts = Vec::new();
    if let Some(tl) = &result.output.timeline {
        let fleet_capacity = result
            .summary
            .capacity
            .as_ref()
            .map(|c| c.fleet_requests_per_s);
        report::write_timeline_csv(
            &a.out.join("timeline.csv"),
            tl,
            spec.fleet.replicas,
            fleet_capacity,
        )?;
        if !a.no_charts {
            let chart = report::charts::timeline::chart(tl, spec.fleet.replicas, fleet_capacity)?;
            report::charts::write(&a.out, &chart)?;
            charts.push(Section::Chart(chart));
        }
    }
    if let Some(pt) = spec.pool_timeline(&result.output, 400) {
        report::write_pool_timeline_csv(&a.out.join("pools_timeline.csv"), &pt)?;
        if !a.no_charts {
            let chart = report::charts::pools::chart(&pt)?;
            report::charts::write(&a.out, &chart)?;
            charts.push(Section::Chart(chart));
        }
    }
    report_run(
        &a,
        &scenario,
        &spec,
        &result.summary,
        Report {
            title: format!("fleetsim run: {}", a.scenario.display()),
            intro: format!(
                "Scenario {} simulated: {} requests.",
                a.scenario.display(),
                spec.requests().len()
            ),
            no_band: None,
            charts,
            wrote: format!(
                "wrote {}{}, timeline.csv{} and report.html",
                summary_path.display(),
                if a.no_requests { "" } else { ", requests.csv" },
                if a.no_charts {
                    ""
                } else {
                    ", timeline.png/svg"
                }
            ),
            wall: format!(
                "wall time: {:.3} s loading, {:.3} s finding {} ({} requests sampled{}), {:.3} s simulating ({:.0} requests/s, {:.0} events/s)",
                load_s,
                cap_s,
                capacity_found(&capacity),
                capacity.sample_requests,
                capacity.fleet.as_ref().map_or(String::new(), |f| format!(
                    "; {} a draw for the whole fleet",
                    f.sample_requests
                )),
                sim_s,
                spec.requests().len() as f64 / sim_s.max(1e-9),
                result.summary.sim.events as f64 / sim_s.max(1e-9)
            ),
        },
    )
}

/// What a run's report says besides its summary: the page title, the opening sentence, why
/// there is no error band (none: the scenario's `perf` sets the step times), charts placed
/// after the tables, and the two closing lines (files written; wall time).
struct Report {
    title: String,
    intro: String,
    no_band: Option<String>,
    charts: Vec<Section>,
    wrote: String,
    wall: String,
}

/// The end of `fleetsim run`, streamed or not, once summary.json and requests.csv are
/// written: warnings about prices and overload, report.html, and the tables and sentences on
/// stdout.
fn report_run(
    a: &RunArgs,
    scenario: &Scenario,
    spec: &RunConfig,
    summary: &Summary,
    r: Report,
) -> anyhow::Result<()> {
    if spec.price.is_some() {
        super::warn_prices(
            scenario.cost.as_ref(),
            std::slice::from_ref(&spec.gpu.id),
            &spec.model.id,
        );
    }
    if spec.price.is_none() {
        if let Err(e) = fleetsim::cost::CostSpec::default().gpu_price(&spec.gpu.id) {
            eprintln!("note: no cost section: {e}");
        }
    }
    if let Some(w) = report::views::overload_warning(summary) {
        eprintln!("warning: {w}");
    }
    let tables = report::run_tables(summary);
    let band = report::views::band_sentence(summary);
    // Where the fleet misses the SLO or does not keep up, what the replica's settings may cost
    // it: a prefill chunk that stalls decodes, a KV cache starved beside the weights.
    let missed = summary.stability.overloaded || summary.slo.as_ref().is_some_and(|x| !x.met);
    let advice: Vec<String> = if missed {
        spec.advice()
            .iter()
            .map(|a| format!("note: {}", a.text))
            .collect()
    } else {
        Vec::new()
    };
    let mut sections = vec![Section::Text(r.intro)];
    match (&band, &r.no_band) {
        (Some(b), _) => sections.push(Section::Text(b.clone())),
        (None, Some(why)) => sections.push(Section::Text(format!("No error band: {why}."))),
        (None, None) => {}
    }
    sections.extend(advice.iter().cloned().map(Section::Text));
    sections.extend(tables.iter().cloned().map(Section::Table));
    sections.extend(r.charts);
    sections.push(Section::Pre(
        "Scenario".into(),
        fleetsim::report::json_without_nulls(scenario),
    ));
    report::html::write(&a.out, &r.title, &sections)?;
    if !a.quiet {
        super::print_tables(&tables, a.format);
        if let Some(c) = report::views::capacity_sentence(summary) {
            println!("{c}");
        }
        for a in &advice {
            println!("{a}");
        }
        match (band, r.no_band) {
            (Some(b), _) => println!("{b}"),
            (None, Some(why)) => println!("No error band: {why}."),
            (None, None) => println!("No error band: the scenario's `perf` sets the step times, so fleetsim cannot say how far off they are."),
        }
        println!("{}", r.wrote);
        eprintln!("{}", r.wall);
    }
    Ok(())
}

/// `fleetsim run --stream`: the same summary, tables and report from a streamed simulation.
fn run_streamed(
    a: &RunArgs,
    scenario: &Scenario,
    base: &std::path::Path,
    t0: Instant,
) -> anyhow::Result<()> {
    let streamed = scenario
        .stream(base)
        .with_context(|| format!("scenario {}", a.scenario.display()))?;
    for note in &streamed.notes {
        eprintln!("note: {note}");
    }
    let spec = &streamed.spec;
    super::ensure_dir(&a.out)?;
    let load_s = t0.elapsed().as_secs_f64();
    let t_cap = Instant::now();
    let capacity = spec.capacity();
    let cap_s = t_cap.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut csv = if a.no_requests {
        None
    } else {
        Some(report::RequestsCsv::create(&a.out.join("requests.csv"))?)
    };
    let mut run = streamed
        .run(spec, Some(&capacity), &mut |req, rec| match csv.as_mut() {
            Some(c) => c.row(req, rec),
            None => Ok(()),
        })
        .with_context(|| format!("scenario {}", a.scenario.display()))?;
    if let Some(c) = csv {
        c.finish()?;
    }
    let sim_s = t1.elapsed().as_secs_f64();
    let band = streamed.band_summary()?;
    let no_band = band.as_ref().err().cloned();
    run.summary.band = band.ok();
    let summary_path = a.out.join("summary.json");
    report::write_summary_json(&summary_path, &run.summary)?;
    report_run(
        a,
        scenario,
        spec,
        &run.summary,
        Report {
            title: format!("fleetsim run --stream: {}", a.scenario.display()),
            intro: format!(
                "Scenario {} simulated, streamed: {} requests (at most {} held at once; latency percentiles from histograms, within 0.05%).",
                a.scenario.display(),
                streamed.requests,
                run.peak_window
            ),
            no_band,
            charts: Vec::new(),
            wrote: format!(
                "wrote {}{} and report.html (streamed: no timeline)",
                summary_path.display(),
                if a.no_requests { "" } else { ", requests.csv" },
            ),
            wall: format!(
                "wall time: {:.3} s reading the workload twice (count, API prices, capacity sample), {:.3} s finding {}, {:.3} s simulating ({:.0} requests/s; at most {} requests held)",
                load_s,
                cap_s,
                capacity_found(&capacity),
                sim_s,
                streamed.requests as f64 / sim_s.max(1e-9),
                run.peak_window
            ),
        },
    )
}

/// Progress on stderr for runs longer than two seconds: a bar on a terminal, a line every ten
/// seconds otherwise (`FLEETSIM_PROGRESS_AFTER_S` and `FLEETSIM_PROGRESS_EVERY_S` change the two
/// figures, for tests).
fn progress_reporter(total: u64) -> Box<dyn FnMut(f64, u64)> {
    use std::io::IsTerminal;
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(d)
    };
    let after_s = env("FLEETSIM_PROGRESS_AFTER_S", 2.0);
    let every_s = env("FLEETSIM_PROGRESS_EVERY_S", 10.0);
    let start = Instant::now();
    let mut last_line = 0.0f64;
    let terminal = std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    Box::new(move |sim_s, done| {
        let wall = start.elapsed().as_secs_f64();
        if wall < after_s {
            return;
        }
        if terminal {
            let b = bar.get_or_insert_with(|| {
                let b = indicatif::ProgressBar::new(total);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:40}] {pos}/{len} requests {msg}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b
            });
            b.set_position(done);
            b.set_message(format!("({sim_s:.0} s simulated)"));
        } else if wall - last_line >= every_s {
            last_line = wall;
            eprintln!(
                "progress: {done} of {total} requests finished, {sim_s:.0} s simulated, {wall:.0} s elapsed"
            );
        }
    })
}

/// What the capacity search found, for the wall-time line.
fn capacity_found(c: &fleetsim::scenario::ReplicaCapacity) -> &'static str {
    if c.fleet.is_some() {
        "one replica's and the whole fleet's capacity"
    } else {
        "one replica's capacity"
    }
}
