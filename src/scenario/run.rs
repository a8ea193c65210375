//! A resolved run ([`RunConfig`]) and what simulating it gives: the fleet simulation, then the
//! summary with capacity and utilization, stability, SLO attainment and cost.

use std::sync::Arc;

use crate::catalog::{Gpu, Model};
use crate::cost::{CostReport, CostSpec, FleetUse, GpuPriceChoice};
use crate::fleet::{FleetSpec, SimOutput, Simulation};
use crate::metrics::{Setup, SloSpec, Summary};
use crate::perf::{Roofline, RooflineParams};
use crate::serving::{MemoryLayout, Replica, ReplicaConfig};
use crate::time::SimTime;
use crate::workload::Request;

use super::capacity::{self, ReplicaCapacity};
use super::Traffic;

/// [`RunConfig::advice`] names a full prefill chunk that takes more than this many times the
/// TPOT target.
pub const CHUNK_STALL_HINT: f64 = 4.0;

/// [`RunConfig::advice`] names a KV cache given less than this share of the weights' memory.
pub const KV_SHARE_HINT: f64 = 0.25;

/// One piece of [`RunConfig::advice`].
#[derive(Clone, Debug, PartialEq)]
pub struct Advice {
    /// What it is about.
    pub kind: AdviceKind,
    /// The sentence.
    pub text: String,
}

/// What a piece of [`Advice`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdviceKind {
    /// A full prefill chunk many times the TPOT target.
    ChunkStall,
    /// A KV cache given little memory beside the weights.
    KvStarved,
}

/// A validated, ready-to-run scenario.
#[derive(Clone, Debug)]
pub struct RunConfig {
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
    pub memory: MemoryLayout,
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
    /// The pools of an elastic fleet (empty: `fleet.replicas` replicas of `gpu`, fixed).
    pub pools: Vec<super::pools::PoolConfig>,
    /// The API overflow goes to.
    pub overflow: Option<super::pools::OverflowConfig>,
    /// The engine profile's error band, when the step times are the profile's (`None` when the
    /// scenario's `perf` sets them: fleetsim then knows nothing of their error).
    pub band: Option<crate::catalog::ErrorBand>,
    /// The profile `band` belongs to when it is not the replica's engine's own (a profile with
    /// no figures of its own, such as `sglang`, borrows the band with the step times).
    pub band_from: Option<String>,
}

impl RunConfig {
    /// The run's figures again at both ends of the engine profile's error band (two more
    /// simulations, run in parallel), or `None` without a band.
    pub fn band_summary(&self) -> Option<crate::metrics::Band> {
        let b = self.band?;
        let (low, high) = rayon::join(
            || self.with_step_time_factor(b.low).run().summary,
            || self.with_step_time_factor(b.high).run().summary,
        );
        Some(self.band_of(b, &low, &high))
    }

    /// Where this replica goes beyond the published figures its step times were fitted to: a
    /// GPU family, a weight precision, a kind of model (mixture of experts, MLA) or a
    /// tensor-parallel size none of them ran (`StepTimeFit::fitted_on`). The error band is made
    /// from those figures, so there it may understate the error. `None` when every one is
    /// covered, or when the scenario's `perf` sets the step times (no band then).
    pub fn extrapolation(&self) -> Option<String> {
        self.band?;
        let c = crate::catalog::Catalog::builtin();
        let engine = c.engine(&self.replica.engine).ok()?;
        let precision = self.replica.precision.as_str();
        let choice = engine.fit_for(&c.engines, &self.gpu.family, precision);
        let Some(fit) = choice.fit else {
            return Some(format!(
                "extrapolated: the `{}` profile has no fitted step times for a {} GPU in {precision}; they are fleetsim's generic defaults, and its error band does not describe them",
                self.replica.engine, self.gpu.family
            ));
        };
        let mut gaps = Vec::new();
        if fit.precision != precision {
            gaps.push(format!("in {precision}"));
        }
        let on = fit.fitted_on.clone().unwrap_or_default();
        let families: Vec<&str> = on
            .gpus
            .iter()
            .filter_map(|g| c.gpu(g).ok())
            .map(|g| g.family.as_str())
            .collect();
        if !on.gpus.is_empty() && !families.contains(&self.gpu.family.as_str()) {
            let f = &self.gpu.family;
            let an = if f.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            gaps.push(format!("on {an} {f} GPU"));
        }
        let models: Vec<&crate::catalog::Model> =
            on.models.iter().filter_map(|m| c.model(m).ok()).collect();
        if !on.models.is_empty() {
            if self.model.is_moe() && !models.iter().any(|m| m.is_moe()) {
                gaps.push("of a mixture-of-experts model".to_string());
            }
            if self.model.kv_lora_rank.is_some() && !models.iter().any(|m| m.kv_lora_rank.is_some())
            {
                gaps.push("of a model with MLA's compressed KV cache".to_string());
            }
        }
        if let Some(&max_tp) = on.tp.iter().max() {
            if self.replica.tp > max_tp {
                gaps.push(format!("above TP {max_tp}"));
            }
        }
        if gaps.is_empty() {
            return None;
        }
        let gaps = match gaps.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => gaps.join(""),
        };
        let tp = match (on.tp.first(), on.tp.last()) {
            (Some(a), Some(b)) if a != b => format!("TP {a}-{b}"),
            (Some(a), _) => format!("TP {a}"),
            _ => String::new(),
        };
        let family = if fit.family == "*" {
            String::new()
        } else {
            format!("{} ", fit.family)
        };
        Some(format!(
            "extrapolated: the `{}` profile's {family}{} step times rest on no published figure {gaps} (they ran {}; {}; {tp}), so the error band, made from those figures, may understate the error here",
            choice.profile,
            fit.precision,
            on.gpus.join(", "),
            on.models.join(", "),
        ))
    }

    /// The band from the summaries of the runs at its two ends.
    pub(super) fn band_of(
        &self,
        b: crate::catalog::ErrorBand,
        low: &Summary,
        high: &Summary,
    ) -> crate::metrics::Band {
        crate::metrics::Band {
            engine: self.replica.engine.clone(),
            borrowed_from: self.band_from.clone(),
            figures: b.figures,
            step_time_factors: [b.low, b.high],
            low: crate::metrics::BandPoint::of(low),
            high: crate::metrics::BandPoint::of(high),
            extrapolated: self.extrapolation(),
        }
    }

    /// The same run with every step `factor` times as long (efficiencies divided, overheads and
    /// all-reduce latency multiplied by it; every pool alike): how the error band is made.
    pub fn with_step_time_factor(&self, factor: f64) -> RunConfig {
        let scale = |p: RooflineParams, gpu: &Gpu| RooflineParams {
            compute_efficiency: p.compute_efficiency / factor,
            memory_efficiency: p.memory_efficiency / factor,
            link_efficiency: p.link_efficiency / factor,
            step_overhead_ms: p.step_overhead_ms * factor,
            seq_overhead_us: p.seq_overhead_us * factor,
            allreduce_latency_us: Some(
                p.allreduce_latency_us.unwrap_or(gpu.allreduce_latency_us) * factor,
            ),
            moe_layer_overhead_us: p.moe_layer_overhead_us * factor,
        };
        let mut r = self.clone();
        r.params = scale(r.params, &r.gpu);
        for p in &mut r.pools {
            p.params = scale(p.params, &p.gpu);
        }
        r
    }
}

/// A finished run.
#[derive(Debug)]
pub struct RunResult {
    /// The summary (summary.json).
    pub summary: Summary,
    /// The raw output (per-request records for requests.csv).
    pub output: SimOutput,
}

impl RunConfig {
    /// The requests.
    pub fn requests(&self) -> &[Request] {
        &self.traffic.workload.requests
    }

    /// What a planner should know about this replica's settings, in sentences: a full prefill
    /// chunk that takes more than [`CHUNK_STALL_HINT`] times the TPOT target (the decodes
    /// sharing its step stall as long), and a KV cache given less than [`KV_SHARE_HINT`] of the
    /// weights' memory below tensor-parallel size 8 (it bounds how many requests a replica
    /// batches). Empty when neither holds.
    pub fn advice(&self) -> Vec<Advice> {
        let mut out = Vec::new();
        let chunk = self.replica.max_num_batched_tokens;
        let chunk_s = self
            .roofline()
            .step_time_s(&crate::perf::BatchShape::with_prefill(0, 0, chunk));
        if let Some(target) = self.slo.as_ref().and_then(|x| x.tpot_s) {
            if chunk_s > CHUNK_STALL_HINT * target {
                out.push(Advice {
                    kind: AdviceKind::ChunkStall,
                    text: format!(
                        "a full prefill chunk ({chunk} tokens) takes {chunk_s:.2} s on one replica, {:.0}x the TPOT target: the decodes sharing its step stall that long, so answers of a few tokens can miss the target; a smaller max_num_batched_tokens or a larger tensor-parallel size shortens it",
                        chunk_s / target
                    ),
                });
            }
        }
        let m = &self.memory;
        let tp = self.replica.tp;
        if m.kv_gib_per_gpu < KV_SHARE_HINT * m.weights_gib_per_gpu && tp < 8 {
            out.push(Advice {
                kind: AdviceKind::KvStarved,
                text: format!(
                    "at TP {tp}: the weights take {:.1} GiB of each GPU and leave only {:.1} GiB for the KV cache, which bounds how many requests a replica batches; a larger tensor-parallel size may serve more per GPU",
                    m.weights_gib_per_gpu, m.kv_gib_per_gpu
                ),
            });
        }
        out
    }

    /// The roofline model of one replica.
    pub fn roofline(&self) -> Roofline {
        replica_roofline(&self.model, &self.gpu, &self.replica, self.params)
    }

    /// The replicas of a fixed fleet (no pools) and its router.
    pub(super) fn fixed_fleet(&self) -> (Vec<Replica>, Box<dyn crate::fleet::Router>) {
        let perf = Arc::new(self.roofline());
        let replicas = (0..self.fleet.replicas)
            .map(|i| Replica::new(i, &self.replica, &self.memory, perf.clone()))
            .collect();
        (
            replicas,
            self.fleet.build_router(self.fleet.router, self.seed),
        )
    }

    /// Simulates the scenario.
    pub fn run(&self) -> RunResult {
        self.run_with_timeline(false)
    }

    /// Simulates the scenario, recording a timeline (about 400 bins over the arrival window,
    /// at least a second each) when asked. No capacity is computed (see [`RunConfig::run_full`]).
    pub fn run_with_timeline(&self, timeline: bool) -> RunResult {
        self.run_full(timeline, None)
    }

    /// Simulates the scenario; with a replica's `capacity` for this workload (from
    /// [`RunConfig::replica_capacity`]), the summary reports utilization and prices unused capacity.
    pub fn run_full(&self, timeline: bool, capacity: Option<&ReplicaCapacity>) -> RunResult {
        self.run_observed(timeline, capacity, None)
    }

    /// As [`RunConfig::run_full`], reporting progress (simulated seconds, requests finished) to
    /// `progress` now and then.
    pub fn run_observed(
        &self,
        timeline: bool,
        capacity: Option<&ReplicaCapacity>,
        progress: Option<Box<dyn FnMut(f64, u64) + '_>>,
    ) -> RunResult {
        self.run_with(timeline, capacity, progress, true)
    }

    /// As [`RunConfig::run_full`] with every step end sent through the event queue (replicas
    /// never run ahead; `fleet::Simulation::without_run_ahead`): the same result, for tests that
    /// compare the two.
    pub fn run_full_without_run_ahead(&self, capacity: Option<&ReplicaCapacity>) -> RunResult {
        self.run_with(false, capacity, None, false)
    }

    fn run_with(
        &self,
        timeline: bool,
        capacity: Option<&ReplicaCapacity>,
        progress: Option<Box<dyn FnMut(f64, u64) + '_>>,
        run_ahead: bool,
    ) -> RunResult {
        let requests = self.requests();
        let (sim, router) = if self.pools.is_empty() {
            let (replicas, router) = self.fixed_fleet();
            (Simulation::new(requests, replicas, self.horizon), router)
        } else {
            // Routers that keep one entry per replica are sized for the most replicas.
            let most: u32 = self
                .pools
                .iter()
                .map(|p| match &p.size {
                    super::pools::PoolSize::Fixed(n) => *n,
                    super::pools::PoolSize::Autoscale(a) => a.max,
                })
                .sum::<u32>()
                .max(1);
            let sized = FleetSpec {
                replicas: most,
                ..self.fleet.clone()
            };
            let router = sized.build_router(self.fleet.router, self.seed);
            (self.elastic_simulation(), router)
        };
        let mut sim = sim
            .with_router(router)
            .with_max_concurrency(self.max_concurrency);
        if !run_ahead {
            sim = sim.without_run_ahead();
        }
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
        let served = capacity::served_fraction(&out.recorder.records, self.traffic.span_s);
        let slo = self
            .slo
            .as_ref()
            .map(|slo| slo.report(requests, &out.recorder.records, summary.sim.simulated_s));
        self.complete_summary(&mut summary, capacity, served, slo);
        if !self.pools.is_empty() {
            self.report_elastic(&out, &mut summary, capacity);
        }
        RunResult {
            summary,
            output: out,
        }
    }

    /// Fills in what a summary says beyond the simulation's own figures: the setup, the
    /// capacity block, stability (from the `served` fraction), the SLO report and the cost.
    pub(super) fn complete_summary(
        &self,
        summary: &mut Summary,
        capacity: Option<&ReplicaCapacity>,
        served: f64,
        slo: Option<crate::metrics::SloReport>,
    ) {
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
            kv_cache_free_memory_fraction: self.replica.kv_cache_free_memory_fraction,
            mem_fraction_static: self.replica.mem_fraction_static,
            kv_cache_dtype: self.replica.kv_cache_dtype,
            fp8_attention: self.replica.fp8_attention,
            mxfp4_activation: self.replica.mxfp4_activation,
            prefix_caching: self.replica.prefix_caching,
            num_scheduler_steps: self.replica.num_scheduler_steps,
            weights_gib_per_gpu: self.memory.weights_gib_per_gpu,
            kv_gib_per_gpu: self.memory.kv_gib_per_gpu,
            max_model_len: self.memory.max_model_len,
            max_model_len_limited_by: self.memory.max_model_len_limited_by.to_string(),
            scheduler_policy: self.replica.scheduler_policy.name().to_string(),
            engine: self.replica.engine.clone(),
            step_time: self.params,
            seed: self.seed,
        };
        let offered = self.offered_per_s(summary);
        summary.capacity = capacity.map(|c| {
            // The whole fleet's, where it was measured for this fleet size.
            let measured = c
                .fleet
                .as_ref()
                .filter(|f| f.replicas == self.fleet.replicas && self.pools.is_empty());
            let fleet = measured.map_or(c.requests_per_s * self.fleet.replicas as f64, |f| {
                f.requests_per_s
            });
            crate::metrics::Capacity {
                basis: c.basis.to_string(),
                replica_requests_per_s: c.requests_per_s,
                replica_output_tokens_per_s: c.output_tokens_per_s,
                replica_saturation_requests_per_s: c.saturation_requests_per_s,
                fleet_requests_per_s: fleet,
                fleet_measured: measured.cloned(),
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
                replica_requests_per_s_range: c.requests_per_s_range,
                draws: c.draws,
                saturation_lower_bound: c.saturation_lower_bound,
            }
        });
        summary.stability = self.stability(summary, served, capacity);
        summary.slo = slo.map(|mut r| {
            // A fleet that does not keep up would miss over any longer span.
            r.met &= !summary.stability.overloaded;
            r
        });
        summary.cost = self.price.as_ref().map(|price| {
            self.cost_report(
                summary,
                price,
                summary.gpu.count,
                summary.gpu.busy_gpu_s,
                summary.capacity.as_ref().map(|c| c.utilization),
            )
        });
    }

    /// The cost report for a fleet of `gpus` GPUs busy `busy_gpu_s` at `price`, from what the
    /// summary says of the run: it may be chosen only when it keeps up and meets the SLO.
    pub(super) fn cost_report(
        &self,
        summary: &Summary,
        price: &GpuPriceChoice,
        gpus: u64,
        busy_gpu_s: f64,
        utilization: Option<f64>,
    ) -> CostReport {
        let fleet = FleetUse {
            gpus,
            span_s: summary.sim.simulated_s,
            busy_gpu_s,
            completed_tokens: summary.throughput.completed_input_tokens
                + summary.throughput.completed_output_tokens,
            eligible: may_be_chosen(summary),
            utilization,
        };
        self.cost.report(
            price,
            fleet,
            &self.traffic.apis,
            self.traffic.span_s,
            &self.model.id,
            self.slo.as_ref().map(|s| s.latency_targets()),
        )
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
        served: f64,
        capacity: Option<&ReplicaCapacity>,
    ) -> crate::metrics::Stability {
        let offered = self.offered_per_s(s);
        let mut reason = None;
        if served <= 0.0 {
            // Said plainly: "completed 0.0% as many" read as a bug when a short trace's first
            // request finished after its last arrival.
            reason = Some(format!(
                "no request finished during the last three quarters of the arrival window (a typical latency later), while {offered:.2} requests/s arrived: the backlog grows while requests arrive"
            ));
        } else if served < capacity::KEEPS_UP {
            reason = Some(format!(
                "completed {:.1}% as many requests as arrived over the last three quarters of the arrival window, a typical latency later ({:.2} of {:.2} requests/s): the backlog grows while requests arrive",
                100.0 * served,
                offered * served,
                offered
            ));
        } else if let Some(c) =
            capacity.filter(|c| offered > 0.0 && self.pools.is_empty() && !c.saturation_lower_bound)
        {
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

/// Whether a fleet may be chosen as an option: it keeps up and meets the SLO (or none is set).
pub(super) fn may_be_chosen(summary: &Summary) -> bool {
    !summary.stability.overloaded && summary.slo.as_ref().is_none_or(|s| s.met)
}

/// The roofline model of a replica of `model` on `gpu` with `replica`'s settings (its TP,
/// precision, KV element type, attention and MXFP4 activations) and step-time `params`: a
/// fixed fleet's replicas and each pool's.
pub(super) fn replica_roofline(
    model: &crate::catalog::Model,
    gpu: &crate::catalog::Gpu,
    replica: &crate::serving::ReplicaConfig,
    params: crate::perf::RooflineParams,
) -> Roofline {
    replica.roofline_setup(model, gpu).roofline(params)
}
