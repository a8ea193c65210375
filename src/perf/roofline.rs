//! The roofline step-time model (README, "How a replica is modelled").
//!
//! A step reads every weight once (for mixture-of-experts, the experts the batch touches), reads
//! each sequence's KV and writes the new tokens' KV, and computes 2 FLOPs per active parameter per
//! token plus attention FLOPs proportional to context. Its time is the larger of compute time and
//! memory time at fixed efficiencies, plus tensor-parallel all-reduces and a fixed per-step
//! overhead (scheduling, sampling, kernel launches), and for mixture-of-experts models a fixed
//! time per MoE layer (routing and permutation kernels). Weight matrix multiplies run at the weight
//! precision's tensor rate (FP8 or FP4 tensor cores where the GPU has them, 16-bit for
//! weight-only formats); attention runs at the 16-bit rate, or FP8 with an FP8 KV cache. A
//! checkpoint of MXFP4 experts beside 16-bit weights (gpt-oss at `fp4`) multiplies those at the
//! 16-bit rate and its experts at its activations' rate ([`Roofline::with_mxfp4_activation`]).
//! The input embedding is a lookup: it is stored but not read by a step.

use serde::{Deserialize, Serialize};

use super::{BatchShape, Mxfp4Activation, Precision, StepTimeModel};
use crate::catalog::{Gpu, Model};

/// Efficiencies and overhead of the roofline model.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RooflineParams {
    /// Fraction of peak tensor FLOP/s reached by the step's matrix multiplies.
    pub compute_efficiency: f64,
    /// Fraction of peak memory bandwidth reached.
    pub memory_efficiency: f64,
    /// Fraction of link bandwidth reached by all-reduce.
    pub link_efficiency: f64,
    /// Fixed time added to every step, milliseconds.
    pub step_overhead_ms: f64,
    /// Time added per sequence in the step (decoding or prefilling), microseconds: sampling,
    /// scheduling and detokenization work that grows with the batch.
    pub seq_overhead_us: f64,
    /// Fixed latency of one tensor-parallel all-reduce, microseconds (`None`: the GPU catalog's).
    pub allreduce_latency_us: Option<f64>,
    /// Time added per mixture-of-experts layer per step, microseconds: routing, top-k,
    /// token permutation and the grouped expert kernels' floor, which small decode batches do
    /// not amortize (0 for dense models).
    pub moe_layer_overhead_us: f64,
}

impl Default for RooflineParams {
    /// Uncalibrated defaults: typical large-GEMM and streaming efficiencies on data-centre GPUs,
    /// and about a millisecond of scheduler, sampler and launch overhead per step as vLLM V1 shows
    /// with CUDA graphs. Calibration against measurements replaces them.
    fn default() -> Self {
        RooflineParams {
            compute_efficiency: 0.6,
            memory_efficiency: 0.8,
            link_efficiency: 0.7,
            step_overhead_ms: 1.0,
            seq_overhead_us: 0.0,
            allreduce_latency_us: None,
            moe_layer_overhead_us: 0.0,
        }
    }
}

/// What fixes a replica's roofline besides its step-time parameters: the model, the GPU, the
/// tensor-parallel size, the weight precision, the KV cache's element bytes, whether attention
/// runs on FP8 tensor cores with an FP8 KV cache, and MXFP4 experts' activations. A scenario's
/// replicas and `fleetsim calibrate` build their rooflines from it, so both read a step alike.
#[derive(Clone, Copy, Debug)]
pub struct RooflineSetup<'a> {
    /// The model served.
    pub model: &'a Model,
    /// The GPU.
    pub gpu: &'a Gpu,
    /// Tensor-parallel GPUs.
    pub tp: u32,
    /// Weight precision.
    pub precision: Precision,
    /// Bytes per KV cache element (2: 16-bit, 1: FP8).
    pub kv_element_bytes: u32,
    /// With an FP8 KV cache, attention on FP8 tensor cores (else at the 16-bit rate).
    pub fp8_attention: bool,
    /// Activations of MXFP4 expert matrix multiplies.
    pub mxfp4_activation: Mxfp4Activation,
}

impl<'a> RooflineSetup<'a> {
    /// `model` on `tp` x `gpu` at `precision` with a 16-bit KV cache and 16-bit MXFP4 expert
    /// activations.
    pub fn new(model: &'a Model, gpu: &'a Gpu, tp: u32, precision: Precision) -> Self {
        RooflineSetup {
            model,
            gpu,
            tp,
            precision,
            kv_element_bytes: 2,
            fp8_attention: true,
            mxfp4_activation: Mxfp4Activation::Bf16,
        }
    }

    /// The roofline with step-time parameters `params`.
    pub fn roofline(&self, params: RooflineParams) -> Roofline {
        Roofline::new(self.model, self.gpu, self.tp, self.precision, params)
            .with_kv_element_bytes(
                self.model,
                self.tp,
                self.kv_element_bytes,
                self.fp8_attention,
            )
            .with_mxfp4_activation(self.mxfp4_activation)
    }
}

/// The roofline model for one replica (`tp` GPUs of one type serving one model).
#[derive(Clone, Debug)]
pub struct Roofline {
    tp: f64,
    /// Active parameters in the transformer body (no embedding, no LM head), for FLOPs.
    body_active_params: f64,
    /// The routed experts' share of them (`experts_per_token` experts per MoE layer).
    expert_active_params: f64,
    /// Rate of the routed experts' matrix multiplies where it differs from `flops_per_s`
    /// (MXFP4 experts beside 16-bit weights: [`Roofline::with_mxfp4_activation`]).
    expert_flops_per_s: Option<f64>,
    /// MXFP4 experts and 16-bit other weights ([`Precision::fp4_experts_only`]) on a GPU with
    /// FP4 tensor cores, whose experts can take MXFP8 activations.
    mxfp4_on_fp4_cores: bool,
    lm_head_params: f64,
    /// FLOPs per (query token, key token) pair across all layers: 4 x layers x heads x head_dim.
    attn_flops_per_pair: f64,
    /// Bytes of weights read per step per GPU, dense part (everything but routed experts).
    dense_weight_bytes_per_gpu: f64,
    /// Bytes of one expert across all layers, per GPU.
    expert_bytes_per_gpu: f64,
    experts: f64,
    experts_per_token: f64,
    kv_bytes_per_token_per_gpu: f64,
    /// KV bytes per token of the sliding-window layers, and their window.
    sliding_kv_bytes_per_token_per_gpu: f64,
    sliding_window: f64,
    /// Share of the attention FLOPs in sliding-window layers.
    sliding_attn_share: f64,
    /// Rate of the weight matrix multiplies (the weight precision's tensor rate).
    flops_per_s: f64,
    /// Rate of the attention matrix multiplies: 16-bit, or FP8 with an FP8 KV cache on a GPU
    /// with FP8 tensor cores (FlashAttention-3's and TensorRT-LLM's FP8 attention).
    attn_flops_per_s: f64,
    /// BF16 and FP8 tensor rates at the compute efficiency, for [`Roofline::with_kv_element_bytes`].
    bf16_flops_per_s: f64,
    fp8_flops_per_s: Option<f64>,
    bytes_per_s: f64,
    /// All-reduces per step (2 per layer) and their per-token bytes and fixed latency.
    allreduces: f64,
    allreduce_bytes_per_token: f64,
    link_bytes_per_s: f64,
    allreduce_latency_s: f64,
    overhead_s: f64,
    seq_overhead_s: f64,
    /// Mixture-of-experts layers x their fixed time per step.
    moe_overhead_s: f64,
}

/// Expected distinct experts a batch of `tokens` tokens routes to when each token picks
/// `per_token` distinct experts of `experts` uniformly at random: an expert is missed by one token
/// with probability `1 - per_token / experts`, by all of them independently with that to the
/// power `tokens`, so `experts x (1 - (1 - per_token / experts)^tokens)` (exact in expectation;
/// real routers are not uniform, so this is a lower bound on the expert weights a step reads
/// only for a balanced router).
pub fn expected_experts_touched(experts: f64, per_token: f64, tokens: f64) -> f64 {
    if experts <= 0.0 {
        return 0.0;
    }
    experts * (1.0 - (1.0 - per_token / experts).powf(tokens))
}

impl Roofline {
    /// Builds the model for `model` on `tp` x `gpu` at `precision`.
    pub fn new(
        model: &Model,
        gpu: &Gpu,
        tp: u32,
        precision: Precision,
        params: RooflineParams,
    ) -> Roofline {
        let tpf = tp.max(1) as f64;
        let embed = model.embedding_params();
        let active = model.active_params_b * 1e9;
        // The LM head is a matmul per sampled token; the embedding is a lookup (no FLOPs).
        let (lm_head, non_compute) = if model.tie_word_embeddings {
            (embed, embed)
        } else {
            (embed, 2.0 * embed)
        };
        let body_active = (active - non_compute).max(0.0);
        let expert_wb = precision.expert_weight_bytes(model);
        let experts_only = precision.fp4_experts_only(model);
        let experts = model.experts.unwrap_or(1).max(1) as f64;
        let expert_params = model.expert_params();
        // FP8 uses FP8 tensor cores where the GPU has them; otherwise weights are stored in 8 bits
        // but multiplied at BF16 rate (weight-only quantization, as vLLM's Marlin kernels do).
        // A checkpoint of MXFP4 experts keeps every other weight in 16 bits: those multiply at
        // the 16-bit rate, and so do the experts with 16-bit activations (vLLM's default).
        let peak_tflops = match precision {
            _ if experts_only => gpu.bf16_tflops,
            Precision::Fp8 => gpu.fp8_tflops.unwrap_or(gpu.bf16_tflops),
            Precision::Fp4 => gpu.fp4_tflops.unwrap_or(gpu.bf16_tflops),
            Precision::Bf16 | Precision::Int4 => gpu.bf16_tflops,
        };
        let link_gbps = if tp <= gpu.link_max_tp {
            gpu.link_gbps
        } else {
            gpu.pcie_gbps
        };
        let ring = 2.0 * (tpf - 1.0) / tpf;
        Roofline {
            tp: tpf,
            body_active_params: body_active,
            expert_active_params: if experts > 1.0 {
                (expert_params / experts * model.experts_per_token.unwrap_or(1) as f64)
                    .min(body_active)
            } else {
                0.0
            },
            expert_flops_per_s: None,
            mxfp4_on_fp4_cores: experts_only && gpu.fp4_tflops.is_some(),
            lm_head_params: lm_head,
            attn_flops_per_pair: 4.0
                * model.layers as f64
                * model.heads as f64
                * model.head_dim as f64,
            // An untied input embedding is a lookup of a few rows: not read by a step.
            dense_weight_bytes_per_gpu: (precision.model_weight_bytes(model)
                - expert_params * expert_wb
                - if model.tie_word_embeddings {
                    0.0
                } else {
                    embed * precision.embedding_bytes()
                })
                / tpf,
            expert_bytes_per_gpu: if experts > 1.0 {
                expert_params / experts * expert_wb / tpf
            } else {
                0.0
            },
            experts,
            experts_per_token: model.experts_per_token.unwrap_or(1) as f64,
            kv_bytes_per_token_per_gpu: kv_bytes_per_token_per_gpu(model, tp, 2) as f64,
            sliding_kv_bytes_per_token_per_gpu: sliding_kv_bytes_per_token_per_gpu(model, tp, 2)
                as f64,
            sliding_window: model.sliding_window.unwrap_or(u32::MAX) as f64,
            sliding_attn_share: model.sliding_layers() as f64 / model.layers.max(1) as f64,
            flops_per_s: peak_tflops * 1e12 * params.compute_efficiency,
            attn_flops_per_s: gpu.bf16_tflops * 1e12 * params.compute_efficiency,
            bf16_flops_per_s: gpu.bf16_tflops * 1e12 * params.compute_efficiency,
            fp8_flops_per_s: gpu.fp8_tflops.map(|t| t * 1e12 * params.compute_efficiency),
            bytes_per_s: gpu.mem_bw_tbps * 1e12 * params.memory_efficiency,
            allreduces: if tp > 1 {
                2.0 * model.layers as f64
            } else {
                0.0
            },
            allreduce_bytes_per_token: ring * model.hidden_size as f64 * 2.0,
            link_bytes_per_s: link_gbps * 1e9 * params.link_efficiency,
            allreduce_latency_s: params
                .allreduce_latency_us
                .unwrap_or(gpu.allreduce_latency_us)
                * 1e-6,
            overhead_s: params.step_overhead_ms * 1e-3,
            moe_overhead_s: model.moe_layers() as f64 * params.moe_layer_overhead_us * 1e-6,
            seq_overhead_s: params.seq_overhead_us * 1e-6,
        }
    }

    /// Weight bytes each GPU reads in a step of `tokens` tokens.
    fn weight_bytes_per_gpu(&self, tokens: f64) -> f64 {
        if self.experts <= 1.0 {
            return self.dense_weight_bytes_per_gpu;
        }
        let touched = expected_experts_touched(self.experts, self.experts_per_token, tokens);
        self.dense_weight_bytes_per_gpu + self.expert_bytes_per_gpu * touched
    }

    /// Step duration in seconds (the trait method rounds it to nanoseconds).
    pub fn step_time_s(&self, b: &BatchShape) -> f64 {
        let tokens = b.tokens() as f64;
        if tokens == 0.0 {
            return 0.0;
        }
        let logits = b.decode_seqs as f64 + b.prefills.len() as f64;
        let mut pairs = b.decode_context_tokens as f64;
        let mut kv_read_tokens = b.decode_context_tokens as f64;
        // Sliding-window layers: each query attends to (and reads) at most `window` tokens.
        let w = self.sliding_window;
        let mut window_pairs = (b.decode_context_tokens as f64).min(b.decode_seqs as f64 * w);
        for p in &b.prefills {
            let (c, n) = (p.context_tokens as f64, p.new_tokens as f64);
            pairs += n * (c + (n + 1.0) / 2.0);
            kv_read_tokens += c + n;
            window_pairs += (n * (c + (n + 1.0) / 2.0)).min(n * w);
        }
        self.time_s(tokens, logits, pairs, kv_read_tokens, window_pairs)
    }

    /// [`Roofline::step_time_s`] of a step of `seqs` decoders whose contexts sum to
    /// `context_tokens` and no prefill, without building the batch shape (the same arithmetic
    /// in the same order, so the same bits).
    #[inline]
    pub fn decode_step_s(&self, seqs: u32, context_tokens: u64) -> f64 {
        let tokens = seqs as f64;
        if tokens == 0.0 {
            return 0.0;
        }
        let logits = seqs as f64 + 0.0;
        let context = context_tokens as f64;
        let window_pairs = context.min(seqs as f64 * self.sliding_window);
        self.time_s(tokens, logits, context, context, window_pairs)
    }

    /// The roofline of a step of `tokens` tokens, `logits` of which produce logits, with
    /// `pairs` query-key pairs of attention (`window_pairs` of them within sliding windows)
    /// reading `kv_read_tokens` cached tokens.
    #[inline]
    fn time_s(
        &self,
        tokens: f64,
        logits: f64,
        pairs: f64,
        kv_read_tokens: f64,
        window_pairs: f64,
    ) -> f64 {
        let w = self.sliding_window;
        let share = self.sliding_attn_share;
        let attn_flops = self.attn_flops_per_pair * ((1.0 - share) * pairs + share * window_pairs);
        let gemm_s = match self.expert_flops_per_s {
            None => {
                (2.0 * self.body_active_params * tokens + 2.0 * self.lm_head_params * logits)
                    / self.flops_per_s
            }
            Some(expert_rate) => {
                let dense = self.body_active_params - self.expert_active_params;
                (2.0 * dense * tokens + 2.0 * self.lm_head_params * logits) / self.flops_per_s
                    + 2.0 * self.expert_active_params * tokens / expert_rate
            }
        };
        let compute_one_gpu_s = gemm_s + attn_flops / self.attn_flops_per_s;
        // x / 1.0 is x exactly: skipping the division shortens the step's dependency chain.
        let compute_s = if self.tp == 1.0 {
            compute_one_gpu_s
        } else {
            compute_one_gpu_s / self.tp
        };
        let bytes = self.weight_bytes_per_gpu(tokens)
            + self.kv_bytes_per_token_per_gpu * (kv_read_tokens + tokens)
            + self.sliding_kv_bytes_per_token_per_gpu * ((kv_read_tokens).min(logits * w) + tokens);
        let memory_s = bytes / self.bytes_per_s;
        // Without tensor parallelism there is no all-reduce (0 x a finite time is 0 exactly).
        let allreduce_s = if self.allreduces == 0.0 {
            0.0
        } else {
            self.allreduces
                * (self.allreduce_bytes_per_token * tokens / self.link_bytes_per_s
                    + self.allreduce_latency_s)
        };
        compute_s.max(memory_s)
            + allreduce_s
            + self.overhead_s
            + self.moe_overhead_s
            + self.seq_overhead_s * logits
    }

    /// The same model with KV cache elements of `bytes` bytes (1 for an FP8 KV cache, whose
    /// attention then runs on FP8 tensor cores where the GPU has them if `fp8_attention`, else
    /// at the 16-bit rate).
    pub fn with_kv_element_bytes(
        mut self,
        model: &Model,
        tp: u32,
        bytes: u32,
        fp8_attention: bool,
    ) -> Roofline {
        self.kv_bytes_per_token_per_gpu = kv_bytes_per_token_per_gpu(model, tp, bytes) as f64;
        self.sliding_kv_bytes_per_token_per_gpu =
            sliding_kv_bytes_per_token_per_gpu(model, tp, bytes) as f64;
        self.attn_flops_per_s = match (bytes, self.fp8_flops_per_s) {
            (1, Some(r)) if fp8_attention => r,
            _ => self.bf16_flops_per_s,
        };
        self
    }

    /// The same model with the activations of MXFP4 expert matrix multiplies in `activation`:
    /// with [`Mxfp4Activation::Fp8`] (TensorRT-LLM's MXFP8 on Blackwell) the experts of a
    /// checkpoint of MXFP4 experts ([`Precision::fp4_experts_only`]) multiply at the FP8 tensor
    /// rate on a GPU with FP4 tensor cores; otherwise, and on other GPUs, at the 16-bit rate.
    pub fn with_mxfp4_activation(mut self, activation: Mxfp4Activation) -> Roofline {
        self.expert_flops_per_s = match activation {
            Mxfp4Activation::Fp8 if self.mxfp4_on_fp4_cores => self.fp8_flops_per_s,
            _ => None,
        };
        self
    }

    /// Time to read the weights once at full (not efficiency-scaled) bandwidth, seconds: the
    /// physical floor of a decode step.
    pub fn weight_read_floor_s(&self, gpu: &Gpu) -> f64 {
        self.weight_bytes_per_gpu(1.0) / (gpu.mem_bw_tbps * 1e12)
    }
}

/// KV bytes one GPU stores per token of context in the layers whose cache grows with the
/// context: KV heads are split across the tensor-parallel group, and replicated when there are
/// fewer KV heads than GPUs; a latent-attention model keeps its whole latent
/// (`kv_lora_rank + qk_rope_head_dim` per layer) on every GPU. Sliding-window layers are
/// [`sliding_kv_bytes_per_token_per_gpu`].
pub fn kv_bytes_per_token_per_gpu(model: &Model, tp: u32, element_bytes: u32) -> u64 {
    if let Some(r) = model.kv_lora_rank {
        let per_layer = r as u64 + model.qk_rope_head_dim.unwrap_or(0) as u64;
        return model.full_attention_layers() as u64 * per_layer * element_bytes as u64;
    }
    let heads_per_gpu = (model.kv_heads as u64).div_ceil(tp.max(1) as u64).max(1);
    2 * model.full_attention_layers() as u64
        * heads_per_gpu
        * model.head_dim as u64
        * element_bytes as u64
}

/// KV bytes one GPU stores per token of the sliding-window layers (which keep at most
/// `sliding_window` tokens of each sequence).
pub fn sliding_kv_bytes_per_token_per_gpu(model: &Model, tp: u32, element_bytes: u32) -> u64 {
    let heads_per_gpu = (model.kv_heads as u64).div_ceil(tp.max(1) as u64).max(1);
    2 * model.sliding_layers() as u64 * heads_per_gpu * model.head_dim as u64 * element_bytes as u64
}

impl StepTimeModel for Roofline {
    fn step_time_ns(&self, batch: &BatchShape) -> u64 {
        round_ns(self.step_time_s(batch) * 1e9).max(1)
    }

    fn decode_step_ns(&self, seqs: u32, context_tokens: u64) -> u64 {
        round_ns(self.decode_step_s(seqs, context_tokens) * 1e9).max(1)
    }
}

/// `x.round() as u64` (half away from zero; 0 for negatives and NaN) without the libm call
/// `round` compiles to on baseline x86-64: below 2^52 the integer part converts exactly and
/// `x - n` is exact, and above it `x` is already an integer.
#[inline]
fn round_ns(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    if x >= 4503599627370496.0 {
        return x as u64; // 2^52 and up: already an integer
    }
    // Signed conversions are single instructions on x86-64; unsigned ones are not.
    let n = x as i64;
    (n + (x - n as f64 >= 0.5) as i64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::perf::PrefillChunk;

    fn model(m: &str, g: &str, tp: u32, p: Precision) -> Roofline {
        let c = Catalog::builtin();
        Roofline::new(
            c.model(m).unwrap(),
            c.gpu(g).unwrap(),
            tp,
            p,
            RooflineParams::default(),
        )
    }

    /// The decode-only path gives the same nanoseconds as the general one, for every catalog
    /// model and the shipped configs (MoE, MLA, sliding windows), with and without tensor
    /// parallelism, over a grid of batch sizes and contexts.
    #[test]
    fn decode_steps_take_what_the_general_step_time_says() {
        let c = Catalog::builtin();
        let mut models: Vec<crate::catalog::Model> = c.models.clone();
        for id in ["gpt-oss-20b", "deepseek-v3", "gemma-3-27b", "llama-4-scout"] {
            models.push(crate::catalog::hf::shipped_model(id));
        }
        let mut checked = 0;
        for m in &models {
            for (g, tp) in [("h100-sxm", 1), ("h100-sxm", 4), ("l40s", 2)] {
                for p in [Precision::Bf16, Precision::Fp8] {
                    let r = Roofline::new(m, c.gpu(g).unwrap(), tp, p, RooflineParams::default());
                    for seqs in [0u32, 1, 2, 7, 64, 255, 1024] {
                        for ctx in [0u64, 1, 100, 4_097, 250_000, 9_999_999] {
                            let ctx = ctx * seqs.min(1) as u64 + ctx / 3;
                            let shape = BatchShape {
                                decode_seqs: seqs,
                                decode_context_tokens: ctx,
                                prefills: vec![],
                            };
                            assert_eq!(
                                r.decode_step_ns(seqs, ctx),
                                r.step_time_ns(&shape),
                                "{} on {tp} x {g} at {p:?}: {seqs} seqs, {ctx} tokens",
                                m.id
                            );
                            assert_eq!(
                                r.decode_step_s(seqs, ctx).to_bits(),
                                r.step_time_s(&shape).to_bits()
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }

    #[test]
    fn round_ns_is_f64_round() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut xs = vec![
            0.0,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            1e7 + 0.5,
            4503599627370495.5,
        ];
        xs.extend((0..100_000).map(|_| rng.gen::<f64>() * 10f64.powi(rng.gen_range(0..16))));
        for x in xs {
            assert_eq!(round_ns(x), x.round() as u64, "{x}");
        }
        assert_eq!(round_ns(-3.0), 0);
        assert_eq!(round_ns(f64::NAN), 0);
    }

    #[test]
    fn lone_decode_is_memory_bound_near_weights_over_bandwidth() {
        let r = model("llama-3.1-8b", "h100-sxm", 1, Precision::Bf16);
        let b = BatchShape {
            decode_seqs: 1,
            decode_context_tokens: 512,
            prefills: vec![],
        };
        let t = r.step_time_s(&b);
        // 16.06 GB of weights less the 1.05 GB input embedding (a lookup) = 15.01 GB;
        // / 3.35 TB/s = 4.48 ms at full bandwidth.
        assert!(t > 4.48e-3 && t < 8e-3, "{t}");
    }

    #[test]
    fn long_prefill_is_compute_bound_several_hundred_ms() {
        let r = model("llama-3.1-8b", "h100-sxm", 1, Precision::Bf16);
        let b = BatchShape {
            decode_seqs: 0,
            decode_context_tokens: 0,
            prefills: vec![PrefillChunk {
                context_tokens: 0,
                new_tokens: 20_000,
            }],
        };
        let t = r.step_time_s(&b);
        assert!(t > 0.2 && t < 1.0, "{t}");
    }

    /// With an FP8 KV cache, attention runs on FP8 tensor cores only with `fp8_attention`. A
    /// 2,048-token chunk after 30,000 cached tokens of Llama-3.1-8B on an H100 is compute-bound:
    /// 2,048 x (30,000 + 1,024.5) query-key pairs x 4 x 32 layers x 32 heads x 128 = 3.33e13
    /// attention FLOPs, so the FP8 rate saves exactly their time at the 16-bit rate less at
    /// the FP8 one; at the 16-bit rate the step takes what it takes with a 16-bit KV cache.
    #[test]
    fn fp8_attention_sets_the_attention_rate() {
        let c = Catalog::builtin();
        let (m, h100) = (c.model("llama-3.1-8b").unwrap(), c.gpu("h100-sxm").unwrap());
        let r = model("llama-3.1-8b", "h100-sxm", 1, Precision::Bf16);
        let b = BatchShape {
            decode_seqs: 0,
            decode_context_tokens: 0,
            prefills: vec![PrefillChunk {
                context_tokens: 30_000,
                new_tokens: 2048,
            }],
        };
        let with = |bytes, fp8| {
            r.clone()
                .with_kv_element_bytes(m, 1, bytes, fp8)
                .step_time_s(&b)
        };
        let attn = 2048.0 * (30_000.0 + 1024.5) * 4.0 * 32.0 * 32.0 * 128.0;
        let eff = RooflineParams::default().compute_efficiency;
        let saved =
            attn / (h100.bf16_tflops * 1e12 * eff) - attn / (h100.fp8_tflops.unwrap() * 1e12 * eff);
        let (bf16, fast, slow) = (with(2, true), with(1, true), with(1, false));
        assert!(
            ((slow - fast) - saved).abs() < 1e-12,
            "{slow} - {fast} vs {saved}"
        );
        assert!((slow - bf16).abs() < 1e-12, "{slow} vs {bf16}");
        assert!(saved > 0.02, "{saved}");
    }

    #[test]
    fn tensor_parallel_and_fp8_speed_up_decode() {
        let b = BatchShape {
            decode_seqs: 8,
            decode_context_tokens: 8 * 1000,
            prefills: vec![],
        };
        let t1 = model("llama-3.1-70b", "h100-sxm", 2, Precision::Bf16).step_time_s(&b);
        let t4 = model("llama-3.1-70b", "h100-sxm", 4, Precision::Bf16).step_time_s(&b);
        let f8 = model("llama-3.1-70b", "h100-sxm", 2, Precision::Fp8).step_time_s(&b);
        assert!(t4 < t1 && f8 < t1, "{t1} {t4} {f8}");
    }

    #[test]
    fn moe_reads_fewer_weights_for_small_batches() {
        let r = model("mixtral-8x7b", "h100-sxm", 2, Precision::Bf16);
        let one = r.weight_bytes_per_gpu(1.0);
        let many = r.weight_bytes_per_gpu(512.0);
        // One token touches 2 of 8 experts; a big batch touches all of them.
        assert!(one < 0.4 * many, "{one} {many}");
        let all = 46.7e9 * 2.0 / 2.0;
        assert!((many - all).abs() / all < 0.02, "{many} {all}");
    }

    /// One decode step of gpt-oss-20b (MoE, sliding-window layers) at FP4 (its checkpoint:
    /// MXFP4 experts, every other weight 16-bit) on a B200 with the generic parameters (80% of
    /// 8 TB/s, 1 ms a step), by hand.
    #[test]
    fn moe_sliding_window_decode_step_by_hand() {
        let c = Catalog::builtin();
        let m = crate::catalog::hf::shipped_model("gpt-oss-20b");
        let r = Roofline::new(
            &m,
            c.gpu("b200").unwrap(),
            1,
            Precision::Fp4,
            RooflineParams::default(),
        );
        // Weights: the routed experts, 19,110,297,600 at 4.25/8 bytes, and the other
        // 20,907,927,360 - 19,110,297,600 = 1,797,629,760 at 2 bytes (3,595,259,520); less the
        // input embedding (579,133,440 x 2, a lookup): 2,436,992,640 read every step; one token
        // touches 4 of 32 experts a layer: 19,110,297,600 / 32 x 4 x 4.25/8 = 1,269,043,200.
        let weights = 2_436_992_640.0 + 1_269_043_200.0;
        // KV with 1,000 tokens of context: 12 full layers read all 1,001 tokens, 12 sliding
        // layers 128 + 1, at 24,576 bytes a token each.
        let kv = 24_576.0 * 1001.0 + 24_576.0 * 129.0;
        let want = (weights + kv) / (8e12 * 0.8) + 1e-3;
        let b = BatchShape {
            decode_seqs: 1,
            decode_context_tokens: 1000,
            prefills: vec![],
        };
        let got = r.step_time_s(&b);
        assert!((got - want).abs() / want < 1e-6, "{got} vs {want}");
    }

    /// gpt-oss's checkpoint at `fp4` multiplies its attention and LM head at the 16-bit rate,
    /// and its MXFP4 experts at the 16-bit rate too (vLLM's default) or, with MXFP8 activations
    /// on a GPU with FP4 tensor cores (TensorRT-LLM on Blackwell), at the FP8 rate; on an H100
    /// (no FP4 tensor cores) the activation changes nothing, and neither does it for an NVFP4
    /// model (Qwen3-30B-A3B), whose every weight multiplies at the FP4 rate. By hand, on one
    /// compute-bound prefill chunk.
    #[test]
    fn mxfp4_experts_multiply_at_their_activation_rate_and_the_rest_at_16_bits() {
        let c = Catalog::builtin();
        let (b200, h100) = (c.gpu("b200").unwrap(), c.gpu("h100-sxm").unwrap());
        let m = crate::catalog::hf::shipped_model("gpt-oss-20b");
        assert!(m.fp4_experts_only);
        let p = RooflineParams {
            step_overhead_ms: 0.0,
            ..RooflineParams::default()
        };
        let b = BatchShape {
            decode_seqs: 0,
            decode_context_tokens: 0,
            prefills: vec![PrefillChunk {
                new_tokens: 8192,
                context_tokens: 0,
            }],
        };
        let time = |gpu, model: &Model, act| {
            Roofline::new(model, gpu, 1, Precision::Fp4, p)
                .with_mxfp4_activation(act)
                .step_time_s(&b)
        };
        let eff = p.compute_efficiency;
        // Routed experts active per token: 4 of 32 experts' 19,110,297,600 / 32 parameters.
        let experts = 19_110_297_600.0 / 32.0 * 4.0;
        // Body: 4,186,000,000-odd active less the embedding and LM head (2 x 579,133,440).
        let body = m.active_params_b * 1e9 - 2.0 * 579_133_440.0;
        let lm_head = 579_133_440.0;
        // Attention: 8,192 x 8,193 / 2 pairs in the 12 full layers, 8,192 x 128 in the 12
        // sliding ones (each query sees at most 128 keys), 4 x 64 heads x 64 FLOPs a pair.
        let pairs = 0.5 * (8192.0 * 8193.0 / 2.0) + 0.5 * (8192.0 * 128.0);
        let attn = 4.0 * 24.0 * 64.0 * 64.0 * pairs;
        let bf16 = b200.bf16_tflops * 1e12 * eff;
        let fp8 = b200.fp8_tflops.unwrap() * 1e12 * eff;
        let dense_s = (2.0 * (body - experts) * 8192.0 + 2.0 * lm_head) / bf16 + attn / bf16;
        let want_bf16 = dense_s + 2.0 * experts * 8192.0 / bf16;
        let want_fp8 = dense_s + 2.0 * experts * 8192.0 / fp8;
        let (got_bf16, got_fp8) = (
            time(b200, &m, Mxfp4Activation::Bf16),
            time(b200, &m, Mxfp4Activation::Fp8),
        );
        assert!(
            (got_bf16 - want_bf16).abs() / want_bf16 < 1e-9,
            "{got_bf16} vs {want_bf16}"
        );
        assert!(
            (got_fp8 - want_fp8).abs() / want_fp8 < 1e-9,
            "{got_fp8} vs {want_fp8}"
        );
        assert!(got_fp8 < 0.75 * got_bf16, "{got_fp8} vs {got_bf16}");
        assert_eq!(
            time(h100, &m, Mxfp4Activation::Fp8),
            time(h100, &m, Mxfp4Activation::Bf16)
        );
        let q = c.model("qwen3-30b-a3b").unwrap();
        assert!(!q.fp4_experts_only);
        assert_eq!(
            time(b200, q, Mxfp4Activation::Fp8),
            time(b200, q, Mxfp4Activation::Bf16)
        );
    }

    /// One decode step of DeepSeek-V3 (latent attention, shared experts, dense layers) at FP8
    /// on 8 x H200 with an FP8 KV cache and the generic parameters, by hand.
    #[test]
    fn mla_decode_step_by_hand() {
        let c = Catalog::builtin();
        let m = crate::catalog::hf::shipped_model("deepseek-v3");
        let h200 = c.gpu("h200").unwrap();
        let r = Roofline::new(&m, h200, 8, Precision::Fp8, RooflineParams::default())
            .with_kv_element_bytes(&m, 8, 1, true);
        // Weights per GPU: (671,026,404,352 - 653,908,770,816 routed experts - 926,679,040
        // input embedding) / 8 = 2,023,869,312; one token touches 8 of 256 experts a layer:
        // 653,908,770,816 / 256 / 8 x 8 = 2,554,331,136.
        let weights = 2_023_869_312.0 + 2_554_331_136.0;
        // KV: the 576-element latent of 61 layers at 1 byte, on every GPU: 35,136 x 1,001.
        let kv = 35_136.0 * 1001.0;
        let memory = (weights + kv) / (4.8e12 * 0.8);
        // 122 all-reduces of 2 x 7/8 x 7,168 x 2 bytes at 70% of 450 GB/s plus 8 us each.
        let allreduce = 122.0 * (2.0 * 7.0 / 8.0 * 7168.0 * 2.0 / (450e9 * 0.7) + 8e-6);
        let want = memory + allreduce + 1e-3;
        let b = BatchShape {
            decode_seqs: 1,
            decode_context_tokens: 1000,
            prefills: vec![],
        };
        let got = r.step_time_s(&b);
        assert!((got - want).abs() / want < 1e-6, "{got} vs {want}");
    }

    #[test]
    fn expected_experts_match_a_monte_carlo_estimate() {
        use rand::seq::index::sample;
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        for (e, k, t) in [
            (8usize, 2usize, 1usize),
            (8, 2, 4),
            (128, 8, 1),
            (128, 8, 16),
            (128, 8, 256),
            (32, 4, 7),
        ] {
            let trials = 4000;
            let mut sum = 0usize;
            for _ in 0..trials {
                let mut seen = vec![false; e];
                for _ in 0..t {
                    for i in sample(&mut rng, e, k) {
                        seen[i] = true;
                    }
                }
                sum += seen.iter().filter(|&&x| x).count();
            }
            let mc = sum as f64 / trials as f64;
            let f = expected_experts_touched(e as f64, k as f64, t as f64);
            assert!(
                (mc - f).abs() / f < 0.02,
                "E {e}, k {k}, T {t}: Monte Carlo {mc:.3}, formula {f:.3}"
            );
        }
    }
}
