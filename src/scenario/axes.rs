//! The axes a scenario asks a sweep or a plan to vary (its `sweep` and `plan` keys), as
//! written: kept here so a scenario can be parsed without the sweep and plan machinery.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::perf::Precision;
use crate::serving::ReplicaSpec;

/// An integer axis: a list, or a range string such as `"1..=16"` or `"1,2,4,8"`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum IntAxis {
    /// Explicit values.
    List(Vec<u32>),
    /// `a..=b`, `a..b` or a comma-separated list.
    Text(String),
}

/// A number axis: a list, or a comma-separated string.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum FloatAxis {
    /// Explicit values.
    List(Vec<f64>),
    /// A comma-separated list.
    Text(String),
}

/// The scenario's `sweep`: every axis optional (a missing axis holds the scenario's own value).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepAxes {
    /// Replica counts.
    #[serde(default)]
    pub replicas: Option<IntAxis>,
    /// GPU ids.
    #[serde(default)]
    pub gpus: Option<Vec<String>>,
    /// Router names.
    #[serde(default)]
    pub routers: Option<Vec<String>>,
    /// max_num_seqs values.
    #[serde(default)]
    pub max_num_seqs: Option<IntAxis>,
    /// Tensor-parallel degrees (GPUs per replica).
    #[serde(default)]
    pub tp: Option<IntAxis>,
    /// Weight precisions (`bf16`, `fp8`).
    #[serde(default)]
    pub precision: Option<Vec<String>>,
    /// Prefill token budgets per step (the chunk size of chunked prefill).
    #[serde(default)]
    pub max_num_batched_tokens: Option<IntAxis>,
    /// Rate scales applied to the workload's times (2 = twice the request rate).
    #[serde(default)]
    pub rate_scale: Option<FloatAxis>,
    /// Engine profiles to compare (`replica.engine` values; default: the scenario's).
    #[serde(default)]
    pub engines: Option<Vec<String>>,
}

/// Parses `a..=b`, `a..b` or `a,b,c` into a non-empty list of positive integers.
pub fn parse_int_axis(field: &str, text: &str) -> Result<Vec<u32>> {
    let t = text.trim();
    let bad = |msg: String| Error::config(field, msg);
    let num = |s: &str| -> Result<u32> {
        s.trim()
            .parse::<u32>()
            .map_err(|_| bad(format!("`{}` is not a whole number (in `{t}`)", s.trim())))
    };
    let v: Vec<u32> = if let Some((a, b)) = t.split_once("..=") {
        let (a, b) = (num(a)?, num(b)?);
        if b < a {
            return Err(bad(format!("range `{t}` is inverted")));
        }
        (a..=b).collect()
    } else if let Some((a, b)) = t.split_once("..") {
        let (a, b) = (num(a)?, num(b)?);
        if b <= a {
            return Err(bad(format!(
                "range `{t}` is empty or inverted (`a..b` excludes b; use `a..=b`)"
            )));
        }
        (a..b).collect()
    } else {
        t.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(num)
            .collect::<Result<_>>()?
    };
    if v.is_empty() {
        return Err(bad(format!("`{t}` gives no values")));
    }
    Ok(v)
}

fn parse_float_axis(field: &str, text: &str) -> Result<Vec<f64>> {
    let v: Vec<f64> = text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| Error::config(field, format!("`{}` is not a number", s.trim())))
        })
        .collect::<Result<_>>()?;
    if v.is_empty() {
        return Err(Error::config(field, format!("`{text}` gives no values")));
    }
    Ok(v)
}

impl IntAxis {
    pub(crate) fn values(&self, field: &str) -> Result<Vec<u32>> {
        match self {
            IntAxis::List(v) if v.is_empty() => Err(Error::config(field, "the list is empty")),
            IntAxis::List(v) => Ok(v.clone()),
            IntAxis::Text(t) => parse_int_axis(field, t),
        }
    }
}

impl FloatAxis {
    pub(crate) fn values(&self, field: &str) -> Result<Vec<f64>> {
        match self {
            FloatAxis::List(v) if v.is_empty() => Err(Error::config(field, "the list is empty")),
            FloatAxis::List(v) => Ok(v.clone()),
            FloatAxis::Text(t) => parse_float_axis(field, t),
        }
    }
}

fn default_max() -> u32 {
    64
}

/// The scenario's `plan`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// Traffic volumes as multiples of the workload's rate: a list, `"0.5,1,2"`, or `"a..b"`
    /// (a, 2a, 4a, ... up to b).
    #[serde(default)]
    pub rate_scales: Option<FloatAxis>,
    /// GPU types to size (default: the scenario's).
    #[serde(default)]
    pub gpus: Option<Vec<String>>,
    /// Tensor-parallel degrees to size, crossed with `gpus` (default: the scenario's).
    #[serde(default)]
    pub tp: Option<IntAxis>,
    /// Weight precisions to size (`bf16`, `fp8`; default: the scenario's).
    #[serde(default)]
    pub precision: Option<Vec<String>>,
    /// Token budgets per step to size (default: the scenario's).
    #[serde(default)]
    pub max_num_batched_tokens: Option<IntAxis>,
    /// Engine profiles to size, crossed with the other axes (`replica.engine` values; default:
    /// the scenario's).
    #[serde(default)]
    pub engines: Option<Vec<String>>,
    /// Largest fleet tried per GPU and volume.
    #[serde(default = "default_max")]
    pub max_replicas: u32,
}

impl Default for PlanSpec {
    fn default() -> Self {
        PlanSpec {
            rate_scales: None,
            gpus: None,
            tp: None,
            precision: None,
            max_num_batched_tokens: None,
            engines: None,
            max_replicas: default_max(),
        }
    }
}

/// Replica settings a sweep point sets (null: the scenario's own or the default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReplicaAxes {
    /// Tensor-parallel GPUs per replica.
    pub tp: Option<u32>,
    /// Weight precision.
    pub precision: Option<Precision>,
    /// Most sequences per batch.
    pub max_num_seqs: Option<u32>,
    /// Token budget per step.
    pub max_num_batched_tokens: Option<u32>,
    /// Engine profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

impl ReplicaAxes {
    /// The scenario's replica settings with these applied.
    pub fn apply(&self, rs: &ReplicaSpec) -> ReplicaSpec {
        let mut rs = rs.clone();
        if self.tp.is_some() {
            rs.tp = self.tp;
        }
        if self.precision.is_some() {
            rs.precision = self.precision;
        }
        if self.max_num_seqs.is_some() {
            rs.max_num_seqs = self.max_num_seqs;
        }
        if self.max_num_batched_tokens.is_some() {
            rs.max_num_batched_tokens = self.max_num_batched_tokens;
        }
        if self.engine.is_some() {
            rs.engine = self.engine.clone();
        }
        rs
    }

    /// "trtllm / tp 4 / fp8 / max_num_seqs 64 / max_num_batched_tokens 2048", the set fields
    /// only.
    pub fn label(&self) -> String {
        let mut v = Vec::new();
        if let Some(e) = &self.engine {
            v.push(e.clone());
        }
        if let Some(t) = self.tp {
            v.push(format!("tp {t}"));
        }
        if let Some(p) = self.precision {
            v.push(p.as_str().to_string());
        }
        if let Some(m) = self.max_num_seqs {
            v.push(format!("max_num_seqs {m}"));
        }
        if let Some(m) = self.max_num_batched_tokens {
            v.push(format!("max_num_batched_tokens {m}"));
        }
        v.join(" / ")
    }
}
