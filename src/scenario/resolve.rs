//! The one way a scenario becomes a run. [`Scenario::prepare`] checks what does not depend on
//! the GPU or the replica (model, fleet, SLO, cost, horizon) and loads the workload once, pricing
//! it on the APIs; [`Prepared::run_spec`] applies a command's or a sweep point's [`Overrides`]
//! (GPU, replica settings, replica count, router, rate scale) and resolves the rest (replica
//! settings on that GPU, step-time parameters, memory plan, GPU price). `run`, `sweep`, `plan`,
//! `validate` and `calibrate` all go through these two functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::catalog::{Catalog, Gpu, Model};
use crate::cost::CostSpec;
use crate::error::{Error, Result};
use crate::fleet::{FleetSpec, RouterKind};
use crate::perf::RooflineParams;
use crate::serving::{MemoryLayout, ReplicaConfig};
use crate::time::SimTime;
use crate::workload::Workload;

use super::{resolve_path, ReplicaAxes, RunConfig, Scenario, Traffic};

/// What a command or a sweep point sets over the scenario's own values (`None`: the
/// scenario's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// GPU id.
    pub gpu: Option<String>,
    /// Replica settings (null fields: the scenario's).
    pub replica: ReplicaAxes,
    /// Replica count.
    pub replicas: Option<u32>,
    /// Router.
    pub router: Option<RouterKind>,
    /// Rate scale: one [`Prepared::with_rate_scales`] prepared (default 1).
    pub rate_scale: Option<f64>,
}

/// A scenario checked and its workload loaded and priced on the APIs: everything a run needs
/// that does not depend on the GPU or the replica settings. A sweep prepares once and resolves
/// each point from it.
#[derive(Clone, Debug)]
pub struct Prepared {
    scenario: Scenario,
    base_dir: PathBuf,
    model: Model,
    fleet: FleetSpec,
    cost: CostSpec,
    horizon: Option<SimTime>,
    /// The workload by rate scale (`f64::to_bits`); 1 always present.
    traffic: BTreeMap<u64, Arc<Traffic>>,
    max_concurrency: Option<u32>,
}

/// Makes a scenario's traffic from its checked cost section, horizon and model (see
/// [`Scenario::prepare_traffic`]).
pub type MakeTraffic<'a> =
    dyn FnMut(&Scenario, &CostSpec, Option<SimTime>, &Model) -> Result<Traffic> + 'a;

impl Scenario {
    /// Checks the scenario and loads its workload, then resolves it as written: the run
    /// `fleetsim run` simulates. `base_dir` is the scenario file's folder, the second place
    /// relative paths are looked up (after the current directory).
    pub fn resolve(&self, base_dir: &Path) -> Result<RunConfig> {
        self.prepare(base_dir)?.run_spec(&Overrides::default())
    }

    /// Checks what does not depend on the GPU or the replica and loads the workload.
    pub fn prepare(&self, base_dir: &Path) -> Result<Prepared> {
        self.prepare_traffic(base_dir, &mut |s, cost, horizon, model| {
            let workload = s.load_workload(base_dir)?;
            Traffic::new(workload, cost, horizon, &model.id)
        })
    }

    /// As [`Scenario::prepare`], with the traffic made by `make` (from the checked cost
    /// section, horizon and model) instead of loaded whole.
    pub fn prepare_traffic(&self, base_dir: &Path, make: &mut MakeTraffic<'_>) -> Result<Prepared> {
        let catalog = Catalog::builtin();
        let model = self.model.resolve(base_dir)?;
        // The scenario's own GPU must exist (a command or sweep point may run another).
        catalog.gpu(&self.gpu).map_err(|e| e.in_field("gpu"))?;
        let fleet = self.fleet.clone().unwrap_or_default();
        fleet.check()?;
        if let Some(slo) = &self.slo {
            slo.check()?;
        }
        let cost = self.cost.clone().unwrap_or_default();
        cost.check()?;
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
        let traffic = make(self, &cost, horizon, &model)?;
        Ok(Prepared {
            scenario: self.clone(),
            base_dir: base_dir.to_path_buf(),
            model,
            fleet,
            cost,
            horizon,
            traffic: BTreeMap::from([(1f64.to_bits(), Arc::new(traffic))]),
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
            crate::perf::step_time_defaults(
                Catalog::builtin(),
                Catalog::builtin().engine(&replica.engine)?,
                gpu,
                replica.precision,
                model.is_moe(),
            ),
        )?;
        check_perf(&params)?;
        Ok(params)
    }

    /// Reads or generates the workload (it does not depend on the GPU or the replica). A
    /// workload whose arrivals span more than [`crate::time::MAX_SPAN_S`] is refused.
    pub fn load_workload(&self, base_dir: &Path) -> Result<Workload> {
        let w = self.load_workload_unchecked(base_dir)?;
        let field = if self.workload.trace.is_some() {
            "workload.trace.rate_scale"
        } else {
            "workload.synthetic.arrivals"
        };
        check_span(&w, field)?;
        Ok(w)
    }

    fn load_workload_unchecked(&self, base_dir: &Path) -> Result<Workload> {
        let resolve = |p: &Path| resolve_path(p, base_dir);
        match (&self.workload.trace, &self.workload.synthetic) {
            (Some(t), None) => {
                t.check("workload.trace")?;
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
                t.load(&path, self.seed)
            }
            (None, Some(s)) => {
                s.check("workload.synthetic")?;
                // The model's own context limit bounds every replica's: longer prompts are
                // rejected on any GPU, so they need no prefix ids.
                let max_len = self
                    .model
                    .resolve(base_dir)
                    .map(|m| m.max_model_len)
                    .unwrap_or(u32::MAX);
                s.generate(self.seed, &resolve, max_len)
            }
            _ => Err(Error::config(
                "workload",
                "give exactly one of `trace` (replay a file) and `synthetic` (generate requests)",
            )),
        }
    }
}

impl Prepared {
    /// Whether the workload's requests share prefixes or follow one another.
    pub fn shared(&self) -> bool {
        self.traffic(1.0)
            .workload
            .requests
            .iter()
            .any(super::capacity::is_shared)
    }

    /// Whether the fleet has pools (an elastic fleet).
    pub fn elastic(&self) -> bool {
        self.fleet.pools.is_some()
    }

    /// Also prepares the workload at these rate scales (arrival and think times divided by the
    /// scale), for [`Overrides::rate_scale`].
    pub fn with_rate_scales(mut self, scales: &[f64]) -> Result<Prepared> {
        let base = self.traffic(1.0);
        for &s in scales {
            if !self.traffic.contains_key(&s.to_bits()) {
                let t = base.scaled(s, &self.cost, self.horizon)?;
                self.traffic.insert(s.to_bits(), Arc::new(t));
            }
        }
        Ok(self)
    }

    /// The same scenario serving `workload` instead of its own, with at most `max_concurrency`
    /// requests in flight (a benchmark client's setting), as calibration replays a benchmark.
    pub fn with_workload(
        mut self,
        workload: Workload,
        max_concurrency: Option<u32>,
    ) -> Result<Prepared> {
        let t = Traffic::new(workload, &self.cost, self.horizon, &self.model.id)?;
        self.traffic = BTreeMap::from([(1f64.to_bits(), Arc::new(t))]);
        self.max_concurrency = max_concurrency;
        Ok(self)
    }

    /// The workload at a prepared rate scale.
    ///
    /// # Panics
    /// If the scale was not prepared with [`Prepared::with_rate_scales`].
    pub fn traffic(&self, rate_scale: f64) -> Arc<Traffic> {
        self.traffic[&rate_scale.to_bits()].clone()
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The scenario as written.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The run of the scenario with `o` applied: the one function that resolves a run.
    pub fn run_spec(&self, o: &Overrides) -> Result<RunConfig> {
        let s = &self.scenario;
        let catalog = Catalog::builtin();
        let gpu = match &o.gpu {
            Some(g) => catalog.gpu(g)?,
            None => catalog.gpu(&s.gpu).map_err(|e| e.in_field("gpu"))?,
        }
        .clone();
        let replica_spec = o.replica.apply(&s.replica);
        let mut fleet = self.fleet.clone();
        if let Some(n) = o.replicas {
            fleet.replicas = n;
        }
        if let Some(r) = o.router {
            fleet.router = r;
        }
        let (pools, overflow) = s.resolve_pools(
            &self.base_dir,
            &self.model,
            &fleet,
            &self.cost,
            (&gpu, &replica_spec),
        )?;
        // Spot interruptions are events: bound them (about 1e7 over the traffic's span).
        let span_h = self.traffic(1.0).span_s / 3600.0;
        for (i, p) in pools.iter().enumerate() {
            if let Some((rate, _)) = p.spot {
                let most = match &p.size {
                    super::pools::PoolSize::Fixed(n) => *n,
                    super::pools::PoolSize::Autoscale(a) => a.max,
                } as f64;
                if rate * most * span_h > 1e7 {
                    return Err(Error::config(
                        format!("fleet.pools[{i}].interruptions_per_hour"),
                        format!(
                            "{rate} per replica-hour for up to {most} replicas over {span_h:.0} h of traffic is over 1e7 interruptions to simulate; lower it or shorten the trace"
                        ),
                    ));
                }
            }
        }
        // An elastic fleet reports its first pool's setup; the one-pool shorthand its own.
        let (gpu, replica, params, memory, price) = match (&fleet.pools, pools.first()) {
            (Some(_), Some(p)) => (
                p.gpu.clone(),
                p.replica.clone(),
                p.params,
                p.memory.clone(),
                p.price.clone(),
            ),
            _ => {
                let replica = replica_spec.resolve(&gpu)?;
                let params = s.perf_params(&self.base_dir, &self.model, &gpu, &replica)?;
                // With an explicit `cost`, a missing price is an error; without, cost is left out.
                let price = match (&s.cost, self.cost.gpu_price(&gpu.id)) {
                    (_, Ok(p)) => Some(p),
                    (Some(_), Err(e)) => return Err(e),
                    (None, Err(_)) => None,
                };
                let memory = MemoryLayout::new(&self.model, &gpu, &replica)?;
                (gpu, replica, params, memory, price)
            }
        };
        let traffic = self
            .traffic
            .get(&o.rate_scale.unwrap_or(1.0).to_bits())
            .ok_or_else(|| {
                Error::config(
                    "sweep.rate_scale",
                    format!(
                        "rate scale {} was not prepared",
                        o.rate_scale.unwrap_or(1.0)
                    ),
                )
            })?
            .clone();
        let (band, band_from) = match &s.perf {
            Some(p) if *p != crate::perf::PerfSpec::default() => (None, None),
            _ => {
                let c = Catalog::builtin();
                match c
                    .engine(&replica.engine)
                    .ok()
                    .and_then(|e| e.band_for(&c.engines))
                {
                    Some((from, b)) => {
                        (Some(b), (from != replica.engine).then(|| from.to_string()))
                    }
                    None => (None, None),
                }
            }
        };
        Ok(RunConfig {
            seed: s.seed,
            model: self.model.clone(),
            gpu,
            replica,
            params,
            memory,
            horizon: self.horizon,
            fleet,
            slo: s.slo.clone(),
            cost: self.cost.clone(),
            price,
            traffic,
            max_concurrency: self.max_concurrency,
            pools,
            overflow,
            band,
            band_from,
        })
    }
}

/// Refuses a workload whose arrivals span more than [`crate::time::MAX_SPAN_S`], naming `field`.
pub(crate) fn check_span(w: &Workload, field: &str) -> Result<()> {
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

fn check_perf(p: &RooflineParams) -> Result<()> {
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
