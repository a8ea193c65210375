//! Step-time profiles: the parameters `fleetsim calibrate` fits, as scenarios load them with
//! `"perf": {"profile": "profile.json"}`, and the scenario's `perf` section that picks them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::roofline::RooflineParams;
use super::Precision;
use crate::error::{Error, Result};

/// A fitted step-time profile.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Model id it was fitted for.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// Tensor parallelism.
    pub tp: u32,
    /// Weight precision.
    pub precision: Precision,
    /// The fitted parameters.
    pub params: RooflineParams,
    /// Measured steps used.
    pub points: usize,
    /// Root-mean-square of ln(predicted / measured).
    pub rms_log_error: f64,
    /// Largest |predicted - measured| / measured.
    pub max_abs_error: f64,
    /// The measurements it was fitted to.
    pub source: String,
    /// What makes the fit doubtful: a parameter at a bound of its search range, or a worst
    /// error above [`crate::fidelity::steps::FIT_WORST_ERROR_LIMIT`].
    #[serde(default)]
    pub warnings: Vec<String>,
}

impl Profile {
    /// Reads a profile.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = crate::input::read_text(path)?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line() as u64,
            field: "(profile)".into(),
            msg: e.to_string(),
        })
    }
}

/// The scenario's `perf`: a fitted profile and/or explicit parameters (explicit ones win).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PerfSpec {
    /// A profile written by `fleetsim calibrate`.
    #[serde(default)]
    pub profile: Option<PathBuf>,
    /// Fraction of peak tensor FLOP/s.
    #[serde(default)]
    pub compute_efficiency: Option<f64>,
    /// Fraction of peak memory bandwidth.
    #[serde(default)]
    pub memory_efficiency: Option<f64>,
    /// Fraction of link bandwidth for all-reduce.
    #[serde(default)]
    pub link_efficiency: Option<f64>,
    /// Fixed time per step, milliseconds.
    #[serde(default)]
    pub step_overhead_ms: Option<f64>,
    /// Time per sequence in a step, microseconds.
    #[serde(default)]
    pub seq_overhead_us: Option<f64>,
    /// Latency of one tensor-parallel all-reduce, microseconds.
    #[serde(default)]
    pub allreduce_latency_us: Option<f64>,
    /// Time per mixture-of-experts layer per step, microseconds.
    #[serde(default)]
    pub moe_layer_overhead_us: Option<f64>,
}

impl PerfSpec {
    /// The parameters for a replica of `model` on `tp` x `gpu` at `precision`, starting from
    /// `defaults` (the catalog's fit for the GPU family); a profile replaces them, and a profile
    /// fitted for another setup is an error that says which.
    pub fn resolve(
        &self,
        base_dir: &Path,
        model: &str,
        gpu: &str,
        tp: u32,
        precision: Precision,
        defaults: RooflineParams,
    ) -> Result<RooflineParams> {
        let mut p = defaults;
        if let Some(path) = &self.profile {
            let path = crate::input::resolve_path(path, base_dir);
            let prof = Profile::load(&path)?;
            if prof.model != model
                || prof.gpu != gpu
                || prof.tp != tp
                || prof.precision != precision
            {
                return Err(Error::config(
                    "perf.profile",
                    format!(
                        "{} was fitted for {} on {} x {} ({}), but the scenario runs {} on {} x {} ({})",
                        path.display(),
                        prof.model,
                        prof.tp,
                        prof.gpu,
                        prof.precision.as_str(),
                        model,
                        tp,
                        gpu,
                        precision.as_str()
                    ),
                ));
            }
            p = prof.params;
        }
        if let Some(x) = self.compute_efficiency {
            p.compute_efficiency = x;
        }
        if let Some(x) = self.memory_efficiency {
            p.memory_efficiency = x;
        }
        if let Some(x) = self.link_efficiency {
            p.link_efficiency = x;
        }
        if let Some(x) = self.step_overhead_ms {
            p.step_overhead_ms = x;
        }
        if let Some(x) = self.seq_overhead_us {
            p.seq_overhead_us = x;
        }
        if let Some(x) = self.allreduce_latency_us {
            p.allreduce_latency_us = Some(x);
        }
        if let Some(x) = self.moe_layer_overhead_us {
            p.moe_layer_overhead_us = x;
        }
        Ok(p)
    }
}
