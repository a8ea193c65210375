//! Sweeps: one workload, many fleets. A [`SweepConfig`] (replica counts, GPUs, routers, batch
//! limits, rate scales) expands to points in a fixed order; each point is an independent
//! simulation of the same requests (common random numbers), run in parallel with rayon
//! ([`run`]: the loop, its journal and summaries as points finish). Results keep input order
//! whatever the thread count. [`smallest`] finds the smallest fleet meeting the SLO per group;
//! [`plan`] searches fleet sizes per traffic volume and finds the break-even volumes.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub mod journal;
pub mod plan;
pub mod run;
pub mod smallest;

pub use journal::{PointLog, POINT_LOG};
pub use run::{RunOptions, SweepRun, SUMMARY_EVERY_S};
pub use smallest::{smallest_fleets, ReplicasBand, SmallestFleet};

use crate::catalog::Catalog;
use crate::error::{Error, Result};
use crate::fleet::{RouterKind, MAX_REPLICAS};
use crate::metrics::Summary;
use crate::perf::Precision;
pub use crate::scenario::axes::{parse_int_axis, FloatAxis, IntAxis, ReplicaAxes, SweepAxes};
use crate::scenario::{Overrides, Prepared, ReplicaCapacity, RunConfig, Scenario, Traffic};

/// A pool of `threads` worker threads (0: one per core) for sweeps, plans and validation.
pub fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::config("threads", e.to_string()))
}

/// Validated sweep axes.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepConfig {
    /// Replica counts.
    pub replicas: Vec<u32>,
    /// GPU ids.
    pub gpus: Vec<String>,
    /// Routers.
    pub routers: Vec<RouterKind>,
    /// Replica settings per point (`None` in a field: the scenario's own or the default), in
    /// order: engine, tp, precision, max_num_seqs, max_num_batched_tokens.
    pub replica: Vec<ReplicaAxes>,
    /// Rate scales.
    pub rate_scale: Vec<f64>,
}

impl SweepConfig {
    /// Resolves axes against the scenario's own values, checking names, ranges and prices
    /// before anything is simulated.
    pub fn new(axes: &SweepAxes, scenario: &Scenario) -> Result<SweepConfig> {
        let c = Catalog::builtin();
        let fleet = scenario.fleet.clone().unwrap_or_default();
        let replicas = match &axes.replicas {
            Some(a) => a.values("sweep.replicas")?,
            None => vec![fleet.replicas],
        };
        if let Some(&bad) = replicas.iter().find(|&&r| r == 0 || r > MAX_REPLICAS) {
            return Err(Error::config(
                "sweep.replicas",
                format!("replica counts must be 1..={MAX_REPLICAS}, got {bad}"),
            ));
        }
        let gpus = match &axes.gpus {
            Some(v) if v.is_empty() => {
                return Err(Error::config("sweep.gpus", "the list is empty"))
            }
            Some(v) => v
                .iter()
                .map(|g| {
                    c.gpu(g)
                        .map(|g| g.id.clone())
                        .map_err(|e| e.in_field("sweep.gpus"))
                })
                .collect::<Result<_>>()?,
            None => vec![c
                .gpu(&scenario.gpu)
                .map_err(|e| e.in_field("gpu"))?
                .id
                .clone()],
        };
        let routers = match &axes.routers {
            Some(v) if v.is_empty() => {
                return Err(Error::config("sweep.routers", "the list is empty"))
            }
            Some(v) => v
                .iter()
                .map(|r| r.parse().map_err(|e: Error| e.in_field("sweep.routers")))
                .collect::<Result<_>>()?,
            None => vec![fleet.router],
        };
        let ints = |a: &Option<IntAxis>, field: &str| -> Result<Vec<Option<u32>>> {
            Ok(match a {
                Some(a) => a.values(field)?.into_iter().map(Some).collect(),
                None => vec![None],
            })
        };
        let max_num_seqs = ints(&axes.max_num_seqs, "sweep.max_num_seqs")?;
        let tps = ints(&axes.tp, "sweep.tp")?;
        let mnbt = ints(&axes.max_num_batched_tokens, "sweep.max_num_batched_tokens")?;
        let precisions: Vec<Option<Precision>> = match &axes.precision {
            Some(v) if v.is_empty() => {
                return Err(Error::config("sweep.precision", "the list is empty"))
            }
            Some(v) => v
                .iter()
                .map(|p| Precision::parse("sweep.precision", p).map(Some))
                .collect::<Result<_>>()?,
            None => vec![None],
        };
        let engines: Vec<Option<String>> = match &axes.engines {
            Some(v) if v.is_empty() => {
                return Err(Error::config("sweep.engines", "the list is empty"))
            }
            Some(v) => v
                .iter()
                .map(|e| {
                    c.engine(e)
                        .map(|e| Some(e.id.clone()))
                        .map_err(|err| err.in_field("sweep.engines"))
                })
                .collect::<Result<_>>()?,
            None => vec![None],
        };
        let mut replica = Vec::new();
        for engine in &engines {
            for &tp in &tps {
                for &precision in &precisions {
                    for &m in &max_num_seqs {
                        for &b in &mnbt {
                            replica.push(ReplicaAxes {
                                tp,
                                precision,
                                max_num_seqs: m,
                                max_num_batched_tokens: b,
                                engine: engine.clone(),
                            });
                        }
                    }
                }
            }
        }
        let rate_scale = match &axes.rate_scale {
            Some(a) => a.values("sweep.rate_scale")?,
            None => vec![1.0],
        };
        if let Some(&bad) = rate_scale
            .iter()
            .find(|&&x| !(x.is_finite() && x > 0.0 && x <= 1e6))
        {
            return Err(Error::config(
                "sweep.rate_scale",
                format!(
                    "rate scales must be positive and at most 1e6, got {}",
                    crate::error::fmt_value(bad)
                ),
            ));
        }
        let cost = scenario.cost.clone().unwrap_or_default();
        cost.check()?;
        for g in &gpus {
            cost.gpu_price(g)?;
            // Replica settings that are invalid on a GPU are input errors, found before running.
            for ra in &replica {
                ra.apply(&scenario.replica)
                    .resolve(c.gpu(g)?)
                    .map_err(|e| match e {
                        Error::Config { field, msg } if field.starts_with("replica.") => {
                            let key = &field["replica.".len()..];
                            let axis = match key {
                                "max_num_seqs" if ra.max_num_seqs.is_some() => "sweep.max_num_seqs",
                                "tp" if ra.tp.is_some() => "sweep.tp",
                                "max_num_batched_tokens" if ra.max_num_batched_tokens.is_some() => {
                                    "sweep.max_num_batched_tokens"
                                }
                                _ => return Error::Config { field, msg },
                            };
                            Error::config(axis, format!("{} on {g}: {msg}", ra.label()))
                        }
                        e => e,
                    })?;
            }
        }
        Ok(SweepConfig {
            replicas,
            gpus,
            routers,
            replica,
            rate_scale,
        })
    }

    /// The points, in order: GPU, replica settings (tp, precision, max_num_seqs,
    /// max_num_batched_tokens), router, rate scale, then replicas innermost.
    pub fn points(&self) -> Vec<Point> {
        let mut v = Vec::new();
        for g in &self.gpus {
            for ra in &self.replica {
                for &r in &self.routers {
                    for &s in &self.rate_scale {
                        for &n in &self.replicas {
                            v.push(Point {
                                index: v.len(),
                                gpu: g.clone(),
                                router: r,
                                replica: ra.clone(),
                                rate_scale: s,
                                replicas: n,
                            });
                        }
                    }
                }
            }
        }
        v
    }
}

/// One sweep point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Position in the sweep.
    pub index: usize,
    /// GPU id.
    pub gpu: String,
    /// Router.
    pub router: RouterKind,
    /// Replica settings set by the sweep.
    pub replica: ReplicaAxes,
    /// Rate scale.
    pub rate_scale: f64,
    /// Replicas.
    pub replicas: u32,
}

/// A point's axis values.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Axes {
    /// Replicas.
    pub replicas: u32,
    /// GPU id.
    pub gpu: String,
    /// Router.
    pub router: RouterKind,
    /// Replica settings set by the sweep (null: the scenario's own or the default).
    #[serde(flatten)]
    pub replica: ReplicaAxes,
    /// Rate scale applied on top of the scenario's own.
    pub rate_scale: f64,
}

/// A finished point: its summary, or why it could not run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PointResult {
    /// Position in the sweep.
    pub point: usize,
    /// Its axis values.
    pub axes: Axes,
    /// `ok` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// Everything summary.json holds.
    #[serde(flatten)]
    pub summary: Option<Summary>,
}

/// The shared inputs of a sweep: the prepared scenario (its workload loaded once and scaled to
/// each rate scale) and the axes.
#[derive(Debug)]
pub struct Sweep {
    prepared: Prepared,
    spec: SweepConfig,
}

impl Sweep {
    /// Prepares a sweep: checks the scenario, loads the workload once and scales it for each
    /// rate scale. It fails as a run would when no swept GPU and replica settings can run.
    pub fn new(scenario: Scenario, spec: SweepConfig, base_dir: &std::path::Path) -> Result<Sweep> {
        let prepared = scenario
            .prepare(base_dir)?
            .with_rate_scales(&spec.rate_scale)?;
        let overrides = |g: &String, ra: &ReplicaAxes| Overrides {
            gpu: Some(g.clone()),
            replica: ra.clone(),
            ..Overrides::default()
        };
        let any_runs = spec.gpus.iter().any(|g| {
            spec.replica
                .iter()
                .any(|ra| prepared.run_spec(&overrides(g, ra)).is_ok())
        });
        if !any_runs {
            prepared.run_spec(&overrides(&spec.gpus[0], &spec.replica[0]))?;
        }
        Ok(Sweep { prepared, spec })
    }

    /// The workload at a rate scale of the sweep.
    pub fn traffic(&self, rate_scale: f64) -> Arc<Traffic> {
        self.prepared.traffic(rate_scale)
    }

    /// Requests in the (unscaled) workload.
    pub fn requests(&self) -> usize {
        self.prepared.traffic(1.0).workload.requests.len()
    }

    /// The points.
    pub fn points(&self) -> Vec<Point> {
        self.spec.points()
    }

    /// The run of one point.
    pub fn point_spec(&self, p: &Point) -> Result<RunConfig> {
        self.prepared.run_spec(&Overrides {
            gpu: Some(p.gpu.clone()),
            replica: p.replica.clone(),
            replicas: Some(p.replicas),
            router: Some(p.router),
            rate_scale: Some(p.rate_scale),
        })
    }

    /// The points that share a replica capacity: same GPU and replica settings (capacity does
    /// not depend on the fleet size, the router or the traffic's timing).
    pub fn capacity_key(p: &Point) -> String {
        format!("{}|{:?}", p.gpu, p.replica)
    }

    /// The points that share a replica capacity: [`Sweep::capacity_key`], and where the router
    /// splits shared prefixes or sessions among the replicas (prefix- or session-affinity, more
    /// than one replica) also the router and the fleet size, which then decide the share of them
    /// one replica serves (see `scenario::capacity`).
    pub fn capacity_group(&self, p: &Point) -> String {
        let key = Sweep::capacity_key(p);
        let fleet = crate::fleet::FleetSpec {
            replicas: p.replicas,
            router: p.router,
            ..crate::fleet::FleetSpec::default()
        };
        let replicas =
            crate::scenario::capacity::locality_replicas(&fleet, self.prepared.elastic());
        if replicas > 1 && self.prepared.shared() {
            format!("{key}|{:?}|{replicas}", p.router)
        } else {
            key
        }
    }

    /// One replica's capacity for each group of `points` (by [`Sweep::capacity_group`]), found
    /// in parallel on the current rayon pool; groups whose spec fails are left out (their
    /// points record the failure).
    pub fn capacities(&self, points: &[Point]) -> BTreeMap<String, ReplicaCapacity> {
        use rayon::prelude::*;
        let mut firsts: Vec<&Point> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in points {
            if seen.insert(self.capacity_group(p)) {
                firsts.push(p);
            }
        }
        firsts
            .par_iter()
            .filter_map(|p| {
                let spec = self.point_spec(p).ok()?;
                Some((self.capacity_group(p), spec.replica_capacity()))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    }

    /// The points that share a whole fleet's capacity: [`Sweep::capacity_group`], the router
    /// and the fleet size it is measured on
    /// ([`crate::scenario::capacity::fleet_measured_replicas`]: fleets larger than that share
    /// it, scaled to their size by [`Sweep::fleet_capacity_for`]).
    pub fn fleet_group(&self, p: &Point) -> String {
        let measured = self.fleet_measured_replicas(p);
        format!("{}|{:?}|{}", self.capacity_group(p), p.router, measured)
    }

    /// The replicas point `p`'s whole fleet is measured on
    /// ([`crate::scenario::capacity::fleet_measured_replicas`]).
    pub(crate) fn fleet_measured_replicas(&self, p: &Point) -> u32 {
        use crate::scenario::capacity::{fleet_measured_replicas, splits_locality};
        let shared = splits_locality(p.router) && self.prepared.shared();
        fleet_measured_replicas(p.router, p.replicas, shared)
    }

    /// Point `p`'s capacity from the whole fleets' (`fleets`, by [`Sweep::fleet_group`]) or,
    /// where its fleet was not measured, one replica's (`capacities`): the whole fleet's scaled
    /// to `p`'s size where it was measured on fewer replicas.
    pub fn fleet_capacity_for(
        &self,
        p: &Point,
        fleets: &BTreeMap<String, ReplicaCapacity>,
        capacities: &BTreeMap<String, ReplicaCapacity>,
    ) -> Option<ReplicaCapacity> {
        match fleets.get(&self.fleet_group(p)) {
            Some(c) => {
                let mut c = c.clone();
                c.fleet = c.fleet.map(|f| f.scaled_to(p.replicas));
                Some(c)
            }
            None => capacities.get(&self.capacity_group(p)).cloned(),
        }
    }

    /// For each group of `points` by [`Sweep::fleet_group`] whose whole fleet's capacity is
    /// measured ([`crate::scenario::RunConfig::fleet_capacity`]: more than one replica, and
    /// where pooling or an affinity router can make it differ from replicas x one replica's),
    /// its group's replica capacity (from `capacities`) with it, found in parallel on the
    /// current rayon pool.
    pub fn fleet_capacities(
        &self,
        points: &[Point],
        capacities: &BTreeMap<String, ReplicaCapacity>,
    ) -> BTreeMap<String, ReplicaCapacity> {
        use rayon::prelude::*;
        let mut firsts: Vec<&Point> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in points {
            if p.replicas > 1 && seen.insert(self.fleet_group(p)) {
                firsts.push(p);
            }
        }
        firsts
            .par_iter()
            .filter_map(|p| {
                let cap = capacities.get(&self.capacity_group(p))?;
                // The fleet the group is measured on.
                let measured = Point {
                    replicas: self.fleet_measured_replicas(p),
                    ..(*p).clone()
                };
                let spec = self.point_spec(&measured).ok()?;
                let with = spec.with_fleet_capacity(cap);
                with.fleet.is_some().then(|| (self.fleet_group(p), with))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .collect()
    }

    /// What each group's replica settings may cost it ([`crate::scenario::RunConfig::advice`]:
    /// a prefill chunk many times the TPOT target, a KV cache starved by the weights), once per
    /// group of GPU and replica settings that has a point missing the SLO or not keeping up,
    /// each note led by the group's GPU and settings; then, for every group, where its step
    /// times are extrapolated ([`crate::scenario::RunConfig::extrapolation`]), groups sharing
    /// the same sentence on one line.
    pub fn advice(&self, points: &[Point], results: &[PointResult]) -> Vec<String> {
        use crate::scenario::AdviceKind;
        use std::collections::HashSet;
        // The groups with a point that misses the SLO or does not keep up.
        let missed: HashSet<String> = results
            .iter()
            .filter(|r| {
                r.summary.as_ref().is_some_and(|s| {
                    s.stability.overloaded || s.slo.as_ref().is_some_and(|x| !x.met)
                })
            })
            .filter_map(|r| points.get(r.point).map(Sweep::capacity_key))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        let mut notes = Vec::new();
        let mut extrapolated = Vec::new();
        for p in points {
            let key = Sweep::capacity_key(p);
            if !seen.insert(key.clone()) {
                continue;
            }
            let Ok(spec) = self.point_spec(p) else {
                continue;
            };
            let label = p.replica.label();
            if let Some(x) = spec.extrapolation() {
                extrapolated.push((group_label(&p.gpu, &p.replica), x));
            }
            if !missed.contains(&key) {
                continue;
            }
            for a in spec.advice() {
                notes.push(match (a.kind, label.is_empty()) {
                    (AdviceKind::ChunkStall, _) => {
                        format!("{}: {}", group_label(&p.gpu, &p.replica), a.text)
                    }
                    (AdviceKind::KvStarved, true) => format!("{} {}", p.gpu, a.text),
                    (AdviceKind::KvStarved, false) => format!("{} {} ({label})", p.gpu, a.text),
                });
            }
        }
        notes.extend(crate::text::labelled_once(extrapolated));
        notes
    }

    /// Runs one point, turning a failure into a recorded reason.
    pub fn run_point(&self, p: &Point, capacity: Option<&ReplicaCapacity>) -> PointResult {
        let (status, error, summary) = match self.point_spec(p) {
            Ok(spec) => ("ok", None, Some(spec.run_full(false, capacity).summary)),
            Err(e) => ("failed", Some(e.to_string()), None),
        };
        PointResult {
            point: p.index,
            axes: axes_of(p),
            status: status.to_string(),
            error,
            summary,
        }
    }
}

/// A group of points' GPU and replica settings as notes and plans name it: "h200", or
/// "h200 / tp 2 / fp8" with the settings the sweep sets.
pub(crate) fn group_label(gpu: &str, replica: &ReplicaAxes) -> String {
    let label = replica.label();
    if label.is_empty() {
        gpu.to_string()
    } else {
        format!("{gpu} / {label}")
    }
}

/// A point's axis values as a [`PointResult`] records them.
pub fn axes_of(p: &Point) -> Axes {
    Axes {
        replicas: p.replicas,
        gpu: p.gpu.clone(),
        router: p.router,
        replica: p.replica.clone(),
        rate_scale: p.rate_scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_parse_ranges_and_lists() {
        assert_eq!(parse_int_axis("x", "1..=4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_int_axis("x", "1..4").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_int_axis("x", "1,2, 4,8").unwrap(), vec![1, 2, 4, 8]);
        for bad in ["5..=3", "3..3", "", "a..=4", "1..=x", ","] {
            let e = parse_int_axis("sweep.replicas", bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("sweep.replicas"), "{bad}: {e}");
        }
    }
}
