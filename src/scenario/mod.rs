//! Scenarios: the JSON a user writes ([`Scenario`]), the one way it becomes a run
//! ([`resolve`]: checked field by field, workload loaded, catalog entries looked up, defaults
//! filled, memory planned) and the run itself ([`run`]: [`RunConfig::run`] simulates it and
//! builds the summary).
//!
//! Top-level keys: `seed`, `model`, `gpu`, `workload`, `replica`, `perf`, `fleet`, `slo`,
//! `cost`, `sweep`. Unknown keys anywhere are errors that name the key and its path.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cost::CostSpec;
use crate::error::{Error, Result};
use crate::fleet::FleetSpec;
use crate::metrics::SloSpec;
use crate::perf::PerfSpec;
use crate::serving::ReplicaSpec;
use crate::workload::synth::SyntheticSpec;
use crate::workload::TraceSpec;

pub use crate::input::resolve_path;

pub mod axes;
pub mod capacity;
mod elastic;
pub mod pools;
pub mod resolve;
pub mod run;
pub mod traffic;
pub use axes::{PlanSpec, ReplicaAxes, SweepAxes};
pub use capacity::ReplicaCapacity;
pub use resolve::{Overrides, Prepared};
pub use run::{RunConfig, RunResult};
pub use traffic::Traffic;

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
}
