//! Streamed runs (`fleetsim run --stream`): the workload is generated or read one request at a
//! time, three times (to count it and price it on the APIs, to draw the capacity sample, and to
//! simulate it), and never held whole. The simulation is the in-memory one
//! ([`crate::fleet::stream`]); what differs is what is kept of each request: latency
//! percentiles come from histograms of 0.1%-wide buckets (within 0.05% of the exact ones;
//! counts exact, means exact up to summation order), requests.csv is written as requests
//! finish, and there is no timeline.

use std::path::Path;

use super::capacity::{sample_at, sample_positions, ServedFold};
use super::{resolve_path, Overrides, RunConfig, Scenario, Traffic};
use crate::cost::api::ApiSpendFold;
use crate::error::{Error, Result};
use crate::fleet::stream::StreamSimulation;
use crate::metrics::{RequestFold, RequestRecord, SloFold, Summary};
use crate::time::SimTime;
use crate::workload::{Request, Workload};

/// A scenario ready to stream: its run resolved on the capacity sample, and a way to open its
/// workload again.
pub struct Streamed {
    /// The run (its `traffic` holds the capacity sample, the API spend and the span of the
    /// whole workload).
    pub spec: RunConfig,
    /// Requests in the workload.
    pub requests: u64,
    /// What reading the workload noted (a trace's skipped lines, dropped or re-sorted rows).
    pub notes: Vec<String>,
    scenario: Scenario,
    base_dir: std::path::PathBuf,
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streamed")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// What a streamed simulation gives.
#[derive(Debug)]
pub struct StreamedRun {
    /// summary.json's content.
    pub summary: Summary,
    /// Most requests held at once.
    pub peak_window: usize,
    /// It stopped early, holding more than its window limit (a fleet falling behind).
    pub stopped: bool,
}

/// Requests a streamed error-band simulation may hold: beyond, its end of the band is a fleet
/// falling ever further behind, and the band is left out rather than memory grown.
pub const BAND_MAX_WINDOW: usize = 250_000;

/// A workload, one request at a time.
enum Source {
    Synthetic(Box<crate::workload::synth::SynthStream>),
    Trace(Box<crate::workload::trace_stream::TraceStream>),
}

impl Iterator for Source {
    type Item = Result<Request>;
    fn next(&mut self) -> Option<Result<Request>> {
        match self {
            Source::Synthetic(s) => s.next().map(Ok),
            Source::Trace(t) => t.next(),
        }
    }
}

impl Source {
    /// What reading it noted (a trace's skipped lines, dropped or re-sorted rows).
    fn notes(&self) -> Vec<String> {
        match self {
            Source::Synthetic(_) => Vec::new(),
            Source::Trace(t) => t.notes().to_vec(),
        }
    }
}

fn open(scenario: &Scenario, base_dir: &Path) -> Result<Source> {
    let resolve = |p: &Path| resolve_path(p, base_dir);
    match (&scenario.workload.trace, &scenario.workload.synthetic) {
        (None, Some(s)) => {
            let max_len = scenario
                .model
                .resolve(base_dir)
                .map(|m| m.max_model_len)
                .unwrap_or(u32::MAX);
            Ok(Source::Synthetic(Box::new(s.stream(
                scenario.seed,
                &resolve,
                max_len,
            )?)))
        }
        (Some(t), None) => {
            let path = resolve(&t.path);
            if !path.exists() {
                return Err(Error::config(
                    "workload.trace.path",
                    format!("`{}` not found", t.path.display()),
                ));
            }
            Ok(Source::Trace(Box::new(t.stream(&path, scenario.seed)?)))
        }
        _ => Err(Error::config(
            "workload",
            "give exactly one of `trace` (replay a file) and `synthetic` (generate requests)",
        )),
    }
}

impl Scenario {
    /// Prepares a streamed run: counts the workload, prices it on the APIs and draws the
    /// capacity sample (the same one an in-memory run draws), one request at a time.
    pub fn stream(&self, base_dir: &Path) -> Result<Streamed> {
        if self
            .workload
            .synthetic
            .as_ref()
            .is_some_and(|s| s.max_concurrency.is_some())
            || self
                .workload
                .trace
                .as_ref()
                .is_some_and(|t| t.max_concurrency.is_some())
        {
            return Err(Error::config(
                "workload.max_concurrency",
                "a client concurrency limit holds requests back (closed loop): run without --stream",
            ));
        }
        let mut count = 0u64;
        let mut notes = Vec::new();
        let fleet = self.fleet.clone();
        let prepared = self.prepare_traffic(base_dir, &mut |s, cost, horizon, model| {
            // Pass 1: count, span, whether requests share prefixes, and the API spend.
            let apis = cost.apis(&model.id)?;
            let mut folds: Vec<ApiSpendFold> =
                apis.iter().map(|_| ApiSpendFold::new(horizon)).collect();
            let (mut n, mut last, mut shared) = (0u64, SimTime::ZERO, false);
            let mut source = open(s, base_dir)?;
            for r in &mut source {
                let r = r?;
                n += 1;
                last = r.arrival;
                shared |= r.follows.is_some() || r.prefix.is_some();
                for (f, a) in folds.iter_mut().zip(&apis) {
                    f.add(a, &r);
                }
            }
            if last.as_secs_f64() > crate::time::MAX_SPAN_S {
                return Err(Error::config(
                    "workload",
                    format!(
                        "the arrivals span {:.3e} s; the longest simulated span is {:e} s (about 31.7 years): raise the rate or shorten the window",
                        last.as_secs_f64(),
                        crate::time::MAX_SPAN_S
                    ),
                ));
            }
            notes = source.notes();
            // Pass 2: the capacity draws' samples (see `capacity::sample_positions`).
            let n_us = n as usize;
            let elastic = fleet.as_ref().is_some_and(|f| f.pools.is_some());
            let replicas = fleet
                .as_ref()
                .map_or(1, |f| super::capacity::locality_replicas(f, elastic));
            let positions = sample_positions(n_us, shared, replicas);
            let mut wanted: Vec<usize> = positions.iter().flatten().copied().collect();
            wanted.sort_unstable();
            wanted.dedup();
            let mut held = std::collections::HashMap::with_capacity(wanted.len());
            let mut next = wanted.iter().peekable();
            for (i, r) in open(s, base_dir)?.enumerate() {
                let Some(&&p) = next.peek() else { break };
                let r = r?;
                if i == p {
                    held.insert(i, r);
                    next.next();
                }
            }
            let samples: Vec<Vec<Request>> = positions
                .iter()
                .map(|ps| sample_at(n_us, shared, ps, |p| held[&p].clone()))
                .collect();
            let sample = samples[0].clone();
            let apis = apis
                .into_iter()
                .zip(folds)
                .map(|(a, f)| {
                    let spend = f.finish(&a);
                    (a, spend)
                })
                .collect();
            // The arrival window as `Traffic::new` makes it.
            let nf = n as f64;
            let last_s = last.as_secs_f64();
            let mut span_s = if nf > 1.0 { last_s * nf / (nf - 1.0) } else { last_s };
            if let Some(h) = horizon {
                span_s = span_s.min(h.as_secs_f64());
            }
            if span_s <= 0.0 {
                span_s = 1.0;
            }
            count = n;
            Ok(Traffic {
                workload: Workload {
                    requests: sample,
                    notes: Vec::new(),
                },
                apis,
                model: model.id.clone(),
                span_s,
                capacity_samples: samples,
            })
        })?;
        let spec = prepared.run_spec(&Overrides::default())?;
        if !spec.pools.is_empty() {
            return Err(Error::config(
                "fleet.pools",
                "elastic fleets are not streamed: run without --stream",
            ));
        }
        Ok(Streamed {
            spec,
            requests: count,
            notes,
            scenario: self.clone(),
            base_dir: base_dir.to_path_buf(),
        })
    }
}

impl Streamed {
    /// Simulates `spec` (this run's, or one derived from it) on the whole workload, handing
    /// each request to `each` as it finishes (in id order); with a replica's `capacity`, the
    /// summary reports utilization.
    pub fn run(
        &self,
        spec: &RunConfig,
        capacity: Option<&super::ReplicaCapacity>,
        each: &mut dyn FnMut(&Request, &RequestRecord) -> Result<()>,
    ) -> Result<StreamedRun> {
        self.run_limited(spec, capacity, usize::MAX, each)
    }

    fn run_limited(
        &self,
        spec: &RunConfig,
        capacity: Option<&super::ReplicaCapacity>,
        max_window: usize,
        each: &mut dyn FnMut(&Request, &RequestRecord) -> Result<()>,
    ) -> Result<StreamedRun> {
        let mut source = open(&self.scenario, &self.base_dir)?;
        let (replicas, router) = spec.fixed_fleet();
        let sim = StreamSimulation::new(&mut source, replicas, router, spec.horizon)
            .with_max_window(max_window);
        let mut fold = RequestFold::streamed();
        let mut slo = SloFold::default();
        let mut served = ServedFold::new(spec.traffic.span_s);
        let out = sim.run(&mut |req, rec| {
            fold.add(req, rec);
            if let Some(s) = &spec.slo {
                slo.add(s, req, rec);
            }
            served.add(rec);
            each(req, rec)
        })?;
        let mut summary =
            Summary::from_fold(fold, &out.recorder, &out.replicas, out.end, spec.replica.tp);
        let slo = spec
            .slo
            .as_ref()
            .map(|s| s.report_fold(slo, summary.sim.simulated_s));
        spec.complete_summary(&mut summary, capacity, served.fraction(), slo);
        Ok(StreamedRun {
            summary,
            peak_window: out.peak_window,
            stopped: out.stopped,
        })
    }

    /// The run's figures at both ends of the engine profile's error band (two more streamed
    /// simulations, in parallel): the band, or why there is none.
    pub fn band_summary(&self) -> Result<std::result::Result<crate::metrics::Band, String>> {
        let Some(b) = self.spec.band else {
            return Ok(Err(
                "the scenario's `perf` sets the step times, so fleetsim cannot say how far off they are"
                    .into(),
            ));
        };
        let at = |f: f64| {
            self.run_limited(
                &self.spec.with_step_time_factor(f),
                None,
                BAND_MAX_WINDOW,
                &mut |_, _| Ok(()),
            )
        };
        let (low, high) = rayon::join(|| at(b.low), || at(b.high));
        let (low, high) = (low?, high?);
        for (run, f) in [(&low, b.low), (&high, b.high)] {
            if run.stopped {
                return Ok(Err(format!(
                    "with step times x{f:.2} (an end of the `{}` profile's error band) the fleet falls behind: more than {BAND_MAX_WINDOW} requests in flight, so the streamed run leaves the band out (run without --stream for it)",
                    self.spec.replica.engine
                )));
            }
        }
        Ok(Ok(self.spec.band_of(b, &low.summary, &high.summary)))
    }
}
