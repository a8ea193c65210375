//! Scenarios: the JSON a user writes, checked field by field and resolved into a [`RunSpec`]
//! (catalog entries looked up, defaults filled, memory planned, workload loaded) that
//! [`RunSpec::run`] simulates.
//!
//! Top-level keys: `seed`, `model`, `gpu`, `workload`, `replica`, `perf`, `fleet`, `slo`,
//! `cost`, `sweep`. Unknown keys anywhere are errors that name the key and its path.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::{Api, Catalog, Gpu, Model};
use crate::cost::{api_spend, ApiSpend, CostSpec, FleetUse, GpuPriceChoice};
use crate::error::{Error, Result};
use crate::fleet::FleetSpec;
use crate::fleet::{SimOutput, Simulation};
use crate::metrics::SloSpec;
use crate::metrics::{Setup, Summary};
use crate::perf::{PerfSpec, Roofline, RooflineParams};
use crate::serving::{MemoryPlan, Replica, ReplicaConfig, ReplicaSpec};
use crate::time::SimTime;
use crate::workload::synth::SyntheticSpec;
use crate::workload::{Request, TraceSpec, Workload};

pub use crate::input::resolve_path;

pub mod axes;
pub mod capacity;
pub use axes::{PlanSpec, SweepAxes};
pub use capacity::ReplicaCapacity;

/// Where requests come from (the scenario's `workload`): exactly one of `trace` and `synthetic`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Replay a trace file.
    #[serde(default)]
    pub trace: Option<TraceSpec>,
    /// Generate requests.
    #[serde(default)]
    pub synthetic: Option<SyntheticSpec>,
    /// Stop the simulation at this time, seconds; requests still in flight count as unfinished.
    #[serde(default)]
    pub horizon_s: Option<f64>,
}

/// A scenario as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Master seed for every random stream.
    #[serde(default)]
    pub seed: u64,
    /// Model id (see `fleetsim catalog`).
    pub model: String,
    /// GPU id (see `fleetsim catalog`).
    pub gpu: String,
    /// The requests.
    pub workload: WorkloadSpec,
    /// Replica settings.
    #[serde(default)]
    pub replica: ReplicaSpec,
    /// Step-time model: a fitted profile and/or roofline efficiencies and overhead.
    #[serde(default)]
    pub perf: Option<PerfSpec>,
    /// Replicas and routing.
    #[serde(default)]
    pub fleet: Option<FleetSpec>,
    /// Latency targets.
    #[serde(default)]
    pub slo: Option<SloSpec>,
    /// Prices and overheads.
    #[serde(default)]
    pub cost: Option<CostSpec>,
    /// Sweep axes (`fleetsim sweep`).
    #[serde(default)]
    pub sweep: Option<SweepAxes>,
    /// Volumes and GPU types for `fleetsim plan`.
    #[serde(default)]
    pub plan: Option<PlanSpec>,
}

impl Scenario {
    /// Parses scenario JSON; errors name the offending key's path and line.
    pub fn from_json(text: &str, path: &Path) -> Result<Scenario> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            Error::Parse {
                path: path.to_path_buf(),
                line: inner.line() as u64,
                field: if field == "." {
                    "(top level)".into()
                } else {
                    field
                },
                msg: inner.to_string(),
            }
        })
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Scenario> {
        let text = crate::input::read_text(path)?;
        Scenario::from_json(&text, path)
    }

    /// Checks the scenario and loads its workload. `base_dir` is the scenario file's folder,
    /// the second place relative paths are looked up (after the current directory).
    pub fn resolve(&self, base_dir: &Path) -> Result<RunSpec> {
        let catalog = Catalog::builtin();
        let model = catalog
            .model(&self.model)
            .map_err(|e| e.in_field("model"))?
            .clone();
        let gpu = catalog
            .gpu(&self.gpu)
            .map_err(|e| e.in_field("gpu"))?
            .clone();
        let replica = self.replica.resolve(&gpu)?;
        let params = self.perf_params(base_dir, &model, &gpu, &replica)?;
        let fleet = self.fleet.clone().unwrap_or_default();
        fleet.validate()?;
        if let Some(slo) = &self.slo {
            slo.validate()?;
        }
        let cost_spec = self.cost.clone().unwrap_or_default();
        cost_spec.validate()?;
        // With an explicit `cost`, a missing price is an error; without, cost is left out.
        let price = match (&self.cost, cost_spec.gpu_price(&gpu.id)) {
            (_, Ok(p)) => Some(p),
            (Some(_), Err(e)) => return Err(e),
            (None, Err(_)) => None,
        };
        let memory = MemoryPlan::new(&model, &gpu, &replica)?;
        let horizon = match self.workload.horizon_s {
            None => None,
            Some(h) if h.is_finite() && h > 0.0 && h <= crate::time::MAX_SPAN_S => {
                Some(SimTime::from_secs_f64(h))
            }
            Some(h) => {
                return Err(Error::config(
                    "workload.horizon_s",
                    format!(
                    "must be a positive number of seconds up to {:e} (about 31.7 years), got {h}",
                    crate::time::MAX_SPAN_S
                ),
                ))
            }
        };
        let workload = self.load_workload(base_dir, replica.block_size)?;
        let traffic = Traffic::new(workload, &cost_spec, horizon, &model.id)?;
        Ok(RunSpec {
            seed: self.seed,
            model,
            gpu,
            replica,
            params,
            memory,
            horizon,
            fleet,
            slo: self.slo.clone(),
            cost: cost_spec,
            price,
            traffic: Arc::new(traffic),
            max_concurrency: self
                .workload
                .trace
                .as_ref()
                .and_then(|t| t.max_concurrency)
                .or(self
                    .workload
                    .synthetic
                    .as_ref()
                    .and_then(|s| s.max_concurrency)),
        })
    }

    /// The step-time parameters for `model` on `gpu` with `replica` settings.
    pub fn perf_params(
        &self,
        base_dir: &Path,
        model: &Model,
        gpu: &Gpu,
        replica: &ReplicaConfig,
    ) -> Result<RooflineParams> {
        let params = self.perf.clone().unwrap_or_default().resolve(
            base_dir,
            &model.id,
            &gpu.id,
            replica.tp,
            replica.precision,
            crate::perf::step_time_defaults(Catalog::builtin(), gpu, replica.precision),
        )?;
        validate_perf(&params)?;
        Ok(params)
    }

    /// Reads or generates the workload, with prefix ids at `block_size`. A workload whose
    /// arrivals span more than [`crate::time::MAX_SPAN_S`] is refused.
    pub fn load_workload(&self, base_dir: &Path, block_size: u32) -> Result<Workload> {
        let w = self.load_workload_unchecked(base_dir, block_size)?;
        let field = if self.workload.trace.is_some() {
            "workload.trace.rate_scale"
        } else {
            "workload.synthetic.arrivals"
        };
        check_span(&w, field)?;
        Ok(w)
    }

    fn load_workload_unchecked(&self, base_dir: &Path, block_size: u32) -> Result<Workload> {
        let resolve = |p: &Path| resolve_path(p, base_dir);
        match (&self.workload.trace, &self.workload.synthetic) {
            (Some(t), None) => {
                t.validate("workload.trace")?;
                let path = resolve(&t.path);
                if !path.exists() {
                    let cwd = std::env::current_dir().unwrap_or_default();
                    return Err(Error::config(
                        "workload.trace.path",
                        format!(
                            "`{}` not found: looked in the current directory ({}){}",
                            t.path.display(),
                            cwd.display(),
                            if t.path.is_absolute() {
                                String::new()
                            } else {
                                format!(" and the scenario's folder ({})", base_dir.display())
                            }
                        ),
                    ));
                }
                t.load_for_blocks(&path, self.seed, Some(block_size))
            }
            (None, Some(s)) => {
                s.validate("workload.synthetic")?;
                // The model's own context limit bounds every replica's: longer prompts are
                // rejected on any GPU, so they need no prefix ids.
                let max_len = Catalog::builtin()
                    .model(&self.model)
                    .map(|m| m.max_model_len)
                    .unwrap_or(u32::MAX);
                s.generate(self.seed, &resolve, block_size, max_len)
            }
            _ => Err(Error::config(
                "workload",
                "give exactly one of `trace` (replay a file) and `synthetic` (generate requests)",
            )),
        }
    }
}

/// A workload with what every fleet serving it shares: the APIs' spend on it and its traffic
/// span. Computed once and shared by every point of a sweep.
#[derive(Debug)]
pub struct Traffic {
    /// The requests.
    pub workload: Workload,
    /// The APIs compared (same-model endpoints first) and each one's spend on them.
    pub apis: Vec<(Api, ApiSpend)>,
    /// The model the APIs were chosen for.
    pub model: String,
    /// The arrival window, seconds: the last arrival plus one mean gap (N requests span N gaps).
    pub span_s: f64,
}

impl Traffic {
    /// Prices the workload on the APIs of `cost` compared with a fleet of `model`.
    pub fn new(
        workload: Workload,
        cost: &CostSpec,
        horizon: Option<SimTime>,
        model: &str,
    ) -> Result<Traffic> {
        let apis = cost
            .apis(model)?
            .into_iter()
            .map(|a| {
                let spend = api_spend(&a, &workload.requests, horizon);
                (a, spend)
            })
            .collect();
        let n = workload.requests.len() as f64;
        let last = workload.span().as_secs_f64();
        let mut span_s = if n > 1.0 { last * n / (n - 1.0) } else { last };
        if let Some(h) = horizon {
            span_s = span_s.min(h.as_secs_f64());
        }
        if span_s <= 0.0 {
            span_s = 1.0;
        }
        Ok(Traffic {
            workload,
            apis,
            model: model.to_string(),
            span_s,
        })
    }

    /// The same requests with arrival and think times divided by `scale` (2 = twice the rate).
    pub fn scaled(&self, scale: f64, cost: &CostSpec, horizon: Option<SimTime>) -> Result<Traffic> {
        let mut w = self.workload.clone();
        for r in w.requests.iter_mut() {
            r.arrival = SimTime::from_secs_f64(r.arrival.as_secs_f64() / scale);
            if let Some(f) = r.follows.as_mut() {
                f.think = SimTime::from_secs_f64(f.think.as_secs_f64() / scale);
            }
        }
        check_span(&w, "sweep.rate_scale")?;
        Traffic::new(w, cost, horizon, &self.model)
    }
}

/// Refuses a workload whose arrivals span more than [`crate::time::MAX_SPAN_S`], naming `field`.
fn check_span(w: &Workload, field: &str) -> Result<()> {
    let span = w.span().as_secs_f64();
    if span > crate::time::MAX_SPAN_S {
        return Err(Error::config(
            field,
            format!(
                "the arrivals span {span:.3e} s; the longest simulated span is {:e} s (about 31.7 years): raise the rate or shorten the window",
                crate::time::MAX_SPAN_S
            ),
        ));
    }
    Ok(())
}

fn validate_perf(p: &RooflineParams) -> Result<()> {
    for (name, v) in [
        ("compute_efficiency", p.compute_efficiency),
        ("memory_efficiency", p.memory_efficiency),
        ("link_efficiency", p.link_efficiency),
    ] {
        if !(v > 0.0 && v <= 1.0) {
            return Err(Error::config(
                format!("perf.{name}"),
                format!("must be a fraction of peak in (0, 1], got {v}"),
            ));
        }
    }
    if let Some(l) = p.allreduce_latency_us {
        if !(0.0..100_000.0).contains(&l) {
            return Err(Error::config(
                "perf.allreduce_latency_us",
                format!("must be 0..100000 us, got {l}"),
            ));
        }
    }
    if !(p.seq_overhead_us >= 0.0 && p.seq_overhead_us < 10_000.0) {
        return Err(Error::config(
            "perf.seq_overhead_us",
            format!("must be 0..10000 us, got {}", p.seq_overhead_us),
        ));
    }
    if !(p.step_overhead_ms >= 0.0 && p.step_overhead_ms < 1000.0) {
        return Err(Error::config(
            "perf.step_overhead_ms",
            format!("must be 0..1000 ms, got {}", p.step_overhead_ms),
        ));
    }
    Ok(())
}

/// A validated, ready-to-run scenario.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// Master seed.
    pub seed: u64,
    /// The model.
    pub model: Model,
    /// The GPU.
    pub gpu: Gpu,
    /// Replica settings.
    pub replica: ReplicaConfig,
    /// Step-time parameters.
    pub params: RooflineParams,
    /// Memory layout.
    pub memory: MemoryPlan,
    /// Stop time.
    pub horizon: Option<SimTime>,
    /// Replicas and router.
    pub fleet: FleetSpec,
    /// Latency targets.
    pub slo: Option<SloSpec>,
    /// Prices and overheads.
    pub cost: CostSpec,
    /// The GPU price, when one is known.
    pub price: Option<GpuPriceChoice>,
    /// The requests and their API prices.
    pub traffic: Arc<Traffic>,
    /// Closed-loop client limit on requests in flight.
    pub max_concurrency: Option<u32>,
}

/// A finished run.
pub struct RunResult {
    /// The summary (summary.json).
    pub summary: Summary,
    /// The raw output (per-request records for requests.csv).
    pub output: SimOutput,
}

impl RunSpec {
    /// The requests.
    pub fn requests(&self) -> &[Request] {
        &self.traffic.workload.requests
    }

    /// The roofline model of one replica.
    pub fn roofline(&self) -> Roofline {
        Roofline::new(
            &self.model,
            &self.gpu,
            self.replica.tp,
            self.replica.precision,
            self.params,
        )
        .with_kv_element_bytes(
            &self.model,
            self.replica.tp,
            self.replica.kv_cache_dtype.element_bytes(),
        )
    }

    /// Simulates the scenario.
    pub fn run(&self) -> RunResult {
        self.run_with_timeline(false)
    }

    /// Simulates the scenario, recording a timeline (about 400 bins over the arrival window,
    /// at least a second each) when asked. No capacity is computed (see [`RunSpec::run_full`]).
    pub fn run_with_timeline(&self, timeline: bool) -> RunResult {
        self.run_full(timeline, None)
    }

    /// Simulates the scenario; with a replica's `capacity` for this workload (from
    /// [`RunSpec::replica_capacity`]), the summary reports utilization and prices unused capacity.
    pub fn run_full(&self, timeline: bool, capacity: Option<&ReplicaCapacity>) -> RunResult {
        self.run_observed(timeline, capacity, None)
    }

    /// As [`RunSpec::run_full`], reporting progress (simulated seconds, requests finished) to
    /// `progress` now and then.
    pub fn run_observed(
        &self,
        timeline: bool,
        capacity: Option<&ReplicaCapacity>,
        progress: Option<Box<dyn FnMut(f64, u64) + '_>>,
    ) -> RunResult {
        let perf = Arc::new(self.roofline());
        let replicas = (0..self.fleet.replicas)
            .map(|i| Replica::new(i, &self.replica, &self.memory, perf.clone()))
            .collect();
        let router = self.fleet.build_router(self.fleet.router, self.seed);
        let requests = self.requests();
        let mut sim = Simulation::new(requests, replicas, self.horizon)
            .with_router(router)
            .with_max_concurrency(self.max_concurrency);
        if let Some(mut p) = progress {
            sim = sim.with_progress(Box::new(move |t: SimTime, done| p(t.as_secs_f64(), done)));
        }
        if timeline {
            let span = self
                .horizon
                .unwrap_or(self.traffic.workload.span())
                .as_secs_f64();
            sim = sim.with_timeline(SimTime::from_secs_f64((span / 400.0).max(1.0)));
        }
        let out = sim.run();
        let mut summary = out.summarize(requests, self.replica.tp);
        summary.setup = Setup {
            model: self.model.id.clone(),
            gpu: self.gpu.id.clone(),
            precision: self.replica.precision.as_str().to_string(),
            replicas: self.fleet.replicas,
            router: self.fleet.router.name().to_string(),
            tp: self.replica.tp,
            max_num_seqs: self.replica.max_num_seqs,
            max_num_batched_tokens: self.replica.max_num_batched_tokens,
            gpu_memory_utilization: self.replica.gpu_memory_utilization,
            weights_gib_per_gpu: self.memory.weights_gib_per_gpu,
            kv_gib_per_gpu: self.memory.kv_gib_per_gpu,
            max_model_len: self.memory.max_model_len,
            max_model_len_limited_by: self.memory.max_model_len_limited_by.to_string(),
            scheduler_policy: self.replica.scheduler_policy.name().to_string(),
            step_time: self.params,
            seed: self.seed,
        };
        let span_s = summary.sim.simulated_s;
        let offered = self.offered_per_s(&summary);
        summary.capacity = capacity.map(|c| {
            let fleet = c.requests_per_s * self.fleet.replicas as f64;
            crate::metrics::Capacity {
                basis: c.basis.to_string(),
                replica_requests_per_s: c.requests_per_s,
                replica_output_tokens_per_s: c.output_tokens_per_s,
                replica_saturation_requests_per_s: c.saturation_requests_per_s,
                fleet_requests_per_s: fleet,
                offered_requests_per_s: offered,
                utilization: if offered <= 0.0 {
                    0.0
                } else if fleet > 0.0 {
                    offered / fleet
                } else {
                    f64::INFINITY
                },
                sample_requests: c.sample_requests,
                relative_precision: c.relative_precision,
            }
        });
        summary.stability = self.stability(&summary, &out.recorder.records, capacity);
        summary.slo = self.slo.as_ref().map(|slo| {
            let mut r = slo.report(requests, &out.recorder.records, span_s);
            // A fleet that does not keep up would miss over any longer span.
            r.met &= !summary.stability.overloaded;
            r
        });
        summary.cost = self.price.as_ref().map(|price| {
            let completed_tokens = summary.throughput.completed_input_tokens
                + summary.throughput.completed_output_tokens;
            let fleet = FleetUse {
                gpus: summary.gpu.count,
                span_s,
                busy_gpu_s: summary.gpu.busy_gpu_s,
                completed_tokens,
                eligible: !summary.stability.overloaded
                    && summary.slo.as_ref().is_none_or(|s| s.met),
                utilization: summary.capacity.as_ref().map(|c| c.utilization),
            };
            self.cost.report(
                price,
                fleet,
                &self.traffic.apis,
                self.traffic.span_s,
                &self.model.id,
                self.slo.as_ref().map(|s| s.latency_targets()),
            )
        });
        RunResult {
            summary,
            output: out,
        }
    }

    /// Offered load, requests per second: arrivals over the arrival window. Rejected requests
    /// (longer than any replica accepts) are not load a fleet can serve.
    fn offered_per_s(&self, s: &Summary) -> f64 {
        (s.requests.arrived - s.requests.rejected) as f64 / self.traffic.span_s
    }

    /// Whether the fleet kept up with its arrivals (see [`crate::metrics::Stability`]).
    fn stability(
        &self,
        s: &Summary,
        records: &[crate::metrics::RequestRecord],
        capacity: Option<&ReplicaCapacity>,
    ) -> crate::metrics::Stability {
        let served = capacity::served_fraction(records, self.traffic.span_s);
        let offered = self.offered_per_s(s);
        let mut reason = None;
        if served < capacity::KEEPS_UP {
            reason = Some(format!(
                "completed {:.1}% as many requests as arrived over the arrival window ({:.2} of {:.2} requests/s): the backlog grows while requests arrive",
                100.0 * served,
                offered * served,
                offered
            ));
        } else if let Some(c) = capacity.filter(|_| offered > 0.0) {
            let sat = c.saturation_requests_per_s * self.fleet.replicas as f64;
            if offered > 1.05 * sat {
                reason = Some(format!(
                    "offered {offered:.2} requests/s, more than the {sat:.2} requests/s the fleet completes at saturation"
                ));
            }
        }
        crate::metrics::Stability {
            overloaded: reason.is_some(),
            served_fraction: served,
            offered_requests_per_s: offered,
            served_requests_per_s: s.throughput.requests_per_s,
            reason,
        }
    }
}
