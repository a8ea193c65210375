//! Scenarios: the JSON a user writes ([`Scenario`]), the one way it becomes a run
//! ([`resolve`]: checked field by field, workload loaded, catalog entries looked up, defaults
//! filled, memory planned) and the run itself ([`run`]: [`RunConfig::run`] simulates it and
//! builds the summary).
//!
//! Top-level keys: `seed`, `model`, `gpu`, `workload`, `replica`, `perf`, `fleet`, `slo`,
//! `cost`, `sweep`. Unknown keys anywhere are errors that name the key and its path.

use std::path::{Path, PathBuf};

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
pub mod stream;
pub mod traffic;
pub use axes::{PlanSpec, ReplicaAxes, SweepAxes};
pub use capacity::ReplicaCapacity;
pub use resolve::{Overrides, Prepared};
pub use run::{Advice, AdviceKind, RunConfig, RunResult};
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

/// The scenario's `model`: a catalog id, or a Hugging Face `config.json` to size the model from.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ModelSpec {
    /// A catalog id.
    Id(String),
    /// A model's `config.json`.
    Config(ModelConfigRef),
}

/// `{"config": "path/to/config.json", "id": "my-model"}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfigRef {
    /// The `config.json` (relative paths: the current directory, then the scenario's folder).
    pub config: PathBuf,
    /// The id it goes by in outputs (default: the file's name without `.json`, or its folder's
    /// name for a file called `config.json`).
    #[serde(default)]
    pub id: Option<String>,
}

impl ModelSpec {
    /// The model's id in outputs.
    pub fn id(&self) -> String {
        match self {
            ModelSpec::Id(s) => s.clone(),
            ModelSpec::Config(c) => c.id.clone().unwrap_or_else(|| {
                let stem = c
                    .config
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("model");
                match (stem, c.config.parent().and_then(|p| p.file_name())) {
                    ("config", Some(dir)) => dir.to_string_lossy().into_owned(),
                    _ => stem.to_string(),
                }
            }),
        }
    }

    /// The model: the catalog's entry, or the one its config describes.
    pub fn resolve(&self, base_dir: &Path) -> Result<crate::catalog::Model> {
        match self {
            ModelSpec::Id(s) => Ok(crate::catalog::Catalog::builtin()
                .model(s)
                .map_err(|e| e.in_field("model"))?
                .clone()),
            ModelSpec::Config(c) => {
                let path = resolve_path(&c.config, base_dir);
                let text = crate::input::read_text(&path)?;
                crate::catalog::hf::model_from_config(&self.id(), &text, &path)
            }
        }
    }
}

/// A scenario as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Master seed for every random stream.
    #[serde(default)]
    pub seed: u64,
    /// The model: a catalog id (see `fleetsim catalog`) or `{"config": "config.json"}`.
    pub model: ModelSpec,
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
