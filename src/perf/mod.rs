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

/// The default step-time parameters of `engine` for `gpu` at `precision`: the engine profile's
/// fit for the GPU's family ([`crate::catalog::EngineProfile::fit_for`]: nearest precision,
/// then the profile it takes steps from), else the generic defaults. For a mixture-of-experts
/// model (`moe`) the time per MoE layer comes from the nearest fit that had mixture-of-experts
/// figures ([`crate::catalog::EngineProfile::moe_layer_overhead_for`]); a dense model has no
/// MoE layer, and keeps the chosen fit's own figure (0 where it has none).
pub fn step_time_defaults(
    catalog: &Catalog,
    engine: &crate::catalog::EngineProfile,
    gpu: &Gpu,
    precision: Precision,
    moe: bool,
) -> RooflineParams {
    match engine
        .fit_for(&catalog.engines, &gpu.family, precision.as_str())
        .fit
    {
        Some(f) => RooflineParams {
            compute_efficiency: f.compute_efficiency,
            memory_efficiency: f.memory_efficiency,
            link_efficiency: f.link_efficiency,
            step_overhead_ms: f.step_overhead_ms,
            seq_overhead_us: f.seq_overhead_us,
            allreduce_latency_us: f.allreduce_latency_us,
            moe_layer_overhead_us: if moe {
                engine.moe_layer_overhead_for(&catalog.engines, &gpu.family, precision.as_str())
            } else {
                f.moe_layer_overhead_us
            }
            .unwrap_or(0.0),
        },
        None => RooflineParams::default(),
    }
}
pub use roofline::{Roofline, RooflineParams, RooflineSetup};

/// Activation type of the matrix multiplies over MXFP4 expert weights (a replica's
/// `mxfp4_activation`; the engine profile sets the default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mxfp4Activation {
    /// 16-bit activations, the experts dequantized into 16-bit math (vLLM's default MXFP4 MoE
    /// kernels on Hopper and Blackwell; TensorRT-LLM's and SGLang's on Hopper).
    #[default]
    Bf16,
    /// MXFP8 activations on FP4 tensor cores, at the FP8 tensor rate (TensorRT-LLM's MXFP4 MoE
    /// on Blackwell, and SGLang's FlashInfer MXFP4 MoE at its default precision); 16-bit math
    /// on GPUs without FP4 tensor cores.
    Fp8,
}

impl Mxfp4Activation {
    /// Whether this is the default (16-bit), for leaving it out of outputs.
    pub fn is_default(&self) -> bool {
        *self == Mxfp4Activation::Bf16
    }
}

/// Bytes per weight of MXFP4: 4 bits and an 8-bit scale shared by 32 weights.
pub const MXFP4_BYTES: f64 = 4.25 / 8.0;

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
    /// 4-bit integer weights, weight-only (AWQ/GPTQ with a 16-bit scale and zero per group of
    /// 128): 4-bit reads, 16-bit math. Embedding and LM head stay 16-bit.
    Int4,
    /// 4-bit float weights (NVFP4: an FP8 scale per 16 weights; MXFP4's per-32 scale is within
    /// 6% of it): FP4 tensor cores where the GPU has them (Blackwell), weight-only 16-bit math
    /// elsewhere. Embedding and LM head stay 16-bit. A model whose 4-bit checkpoint quantizes
    /// only its experts ([`crate::catalog::Model::fp4_experts_only`], gpt-oss) is that
    /// checkpoint: MXFP4 experts, every other weight 16-bit ([`Precision::fp4_experts_only`]).
    Fp4,
}

impl Precision {
    /// Bytes per weight of the quantized matrices, scales included: int4 4 bits + 32 bits per
    /// 128-group (4.25 bits), fp4 4 bits + 8 bits per 16 (4.5 bits).
    pub fn weight_bytes(self) -> f64 {
        match self {
            Precision::Bf16 => 2.0,
            Precision::Fp8 => 1.0,
            Precision::Int4 => 4.25 / 8.0,
            Precision::Fp4 => 4.5 / 8.0,
        }
    }

    /// Bytes per weight of the embedding and LM head: 4-bit checkpoints keep them in 16 bits
    /// (AWQ, GPTQ, NVFP4 and MXFP4 checkpoints quantize the linear layers only); FP8 and BF16
    /// store them like the rest.
    pub fn embedding_bytes(self) -> f64 {
        match self {
            Precision::Int4 | Precision::Fp4 => 2.0,
            p => p.weight_bytes(),
        }
    }

    /// Bytes per routed-expert weight of `model` at this precision: MXFP4's 4.25 bits where the
    /// model's 4-bit checkpoint quantizes only its experts
    /// ([`crate::catalog::Model::fp4_experts_only`]), else [`Precision::weight_bytes`].
    pub fn expert_weight_bytes(self, model: &crate::catalog::Model) -> f64 {
        if self.fp4_experts_only(model) {
            MXFP4_BYTES
        } else {
            self.weight_bytes()
        }
    }

    /// Whether `model` at this precision is a 4-bit checkpoint of MXFP4 experts with every other
    /// weight in 16 bits (gpt-oss at `fp4`).
    pub fn fp4_experts_only(self, model: &crate::catalog::Model) -> bool {
        self == Precision::Fp4 && model.fp4_experts_only && model.is_moe()
    }

    /// Bytes of all of `model`'s weights at this precision.
    pub fn model_weight_bytes(self, model: &crate::catalog::Model) -> f64 {
        let embed = model.embedding_params() * if model.tie_word_embeddings { 1.0 } else { 2.0 };
        let total = model.total_params_b * 1e9;
        if self.fp4_experts_only(model) {
            let experts = model.expert_params();
            return experts * MXFP4_BYTES + (total - experts).max(0.0) * 2.0;
        }
        if self.embedding_bytes() == self.weight_bytes() {
            return total * self.weight_bytes();
        }
        (total - embed).max(0.0) * self.weight_bytes() + embed * self.embedding_bytes()
    }

    /// Every precision, in order.
    pub const ALL: [Precision; 4] = [
        Precision::Bf16,
        Precision::Fp8,
        Precision::Int4,
        Precision::Fp4,
    ];

    /// Parses a lower-case name.
    pub fn parse(field: &str, s: &str) -> crate::error::Result<Precision> {
        let s = s.trim();
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                crate::error::Error::config(
                    field,
                    format!("unknown precision `{s}`; known: bf16, fp8, int4, fp4"),
                )
            })
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Bf16 => "bf16",
            Precision::Fp8 => "fp8",
            Precision::Int4 => "int4",
            Precision::Fp4 => "fp4",
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

    /// Duration of a step of `seqs` decoding sequences whose contexts sum to
    /// `context_tokens`, with no prefill: the same as [`StepTimeModel::step_time_ns`] of that
    /// shape (a model may compute it faster, as the roofline does).
    fn decode_step_ns(&self, seqs: u32, context_tokens: u64) -> u64 {
        self.step_time_ns(&BatchShape {
            decode_seqs: seqs,
            decode_context_tokens: context_tokens,
            prefills: Vec::new(),
        })
    }
}
