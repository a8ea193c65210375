//! Step-time models: how long one forward step of a replica takes, given the shape of its batch.
//!
//! The scheduler describes each step as a [`BatchShape`] (decode sequences and their total
//! context, prefill chunks with their context); a [`StepTimeModel`] turns it into nanoseconds.
//! [`roofline::Roofline`] is the default model.

pub mod profile;
pub mod roofline;

use serde::{Deserialize, Serialize};

pub use profile::{PerfSpec, Profile};

use crate::catalog::{Catalog, Gpu};

/// The default step-time parameters for `gpu` at `precision`: its family's fit at that
/// precision (`src/catalog/step_time.json`), else its family's fit at the other precision, else
/// the generic defaults.
pub fn step_time_defaults(catalog: &Catalog, gpu: &Gpu, precision: Precision) -> RooflineParams {
    let mine = |p: &str| {
        catalog
            .step_time
            .iter()
            .find(|f| f.family == gpu.family && f.precision == p)
    };
    let other = match precision {
        Precision::Bf16 => "fp8",
        Precision::Fp8 => "bf16",
    };
    match mine(precision.as_str()).or_else(|| mine(other)) {
        Some(f) => RooflineParams {
            compute_efficiency: f.compute_efficiency,
            memory_efficiency: f.memory_efficiency,
            link_efficiency: f.link_efficiency,
            step_overhead_ms: f.step_overhead_ms,
            seq_overhead_us: f.seq_overhead_us,
            allreduce_latency_us: f.allreduce_latency_us,
        },
        None => RooflineParams::default(),
    }
}
pub use roofline::{Roofline, RooflineParams};

/// Weight precision of a deployment.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 16-bit brain float weights and activations.
    #[default]
    Bf16,
    /// 8-bit float weights (W8A8 on GPUs with FP8 tensor cores; weight-only elsewhere).
    Fp8,
}

impl Precision {
    /// Bytes per weight.
    pub fn weight_bytes(self) -> f64 {
        match self {
            Precision::Bf16 => 2.0,
            Precision::Fp8 => 1.0,
        }
    }

    /// Parses a lower-case name.
    pub fn parse(field: &str, s: &str) -> crate::error::Result<Precision> {
        match s.trim() {
            "bf16" => Ok(Precision::Bf16),
            "fp8" => Ok(Precision::Fp8),
            other => Err(crate::error::Error::config(
                field,
                format!("unknown precision `{other}`; known: bf16, fp8"),
            )),
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp8 => "fp8",
        }
    }
}

/// One prefill chunk in a step: `new_tokens` prompt tokens computed after `context_tokens`
/// tokens whose KV is already in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefillChunk {
    /// Tokens already in the KV cache before this chunk.
    pub context_tokens: u32,
    /// Tokens computed in this chunk.
    pub new_tokens: u32,
}

/// The shape of one step's batch, which is all a step-time model may look at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchShape {
    /// Sequences decoding one token each.
    pub decode_seqs: u32,
    /// Sum over decode sequences of the tokens each attends to (its context including the new token).
    pub decode_context_tokens: u64,
    /// Prefill chunks in this step.
    pub prefills: Vec<PrefillChunk>,
}

impl BatchShape {
    /// A step of `decode_seqs` decoding sequences whose contexts sum to `decode_context_tokens`,
    /// plus, when `prefill_tokens` is not 0, one prefill chunk of that many tokens with no prior
    /// context (the shape of a measured step in a step CSV).
    pub fn with_prefill(
        decode_seqs: u32,
        decode_context_tokens: u64,
        prefill_tokens: u32,
    ) -> BatchShape {
        BatchShape {
            decode_seqs,
            decode_context_tokens,
            prefills: if prefill_tokens > 0 {
                vec![PrefillChunk {
                    context_tokens: 0,
                    new_tokens: prefill_tokens,
                }]
            } else {
                vec![]
            },
        }
    }

    /// Tokens computed in this step.
    pub fn tokens(&self) -> u64 {
        self.decode_seqs as u64
            + self
                .prefills
                .iter()
                .map(|p| p.new_tokens as u64)
                .sum::<u64>()
    }

    /// Whether the step computes nothing.
    pub fn is_empty(&self) -> bool {
        self.decode_seqs == 0 && self.prefills.is_empty()
    }
}

/// Maps a batch shape to a step duration.
pub trait StepTimeModel: Send + Sync {
    /// Duration of one step in nanoseconds (at least 1).
    fn step_time_ns(&self, batch: &BatchShape) -> u64;
}
