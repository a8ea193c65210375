//! How a replica's GPU memory divides into weights, activation reserve and KV cache.
//!
//! As vLLM does at start-up: usable = memory x gpu_memory_utilization; the KV cache gets what is
//! left after the weights (split across the tensor-parallel group) and the peak activation memory
//! of a forward pass over `max_num_batched_tokens` tokens. vLLM measures that peak by profiling;
//! here it is estimated from the widest intermediate tensors plus a fixed reserve for CUDA graphs,
//! the NCCL buffers and the CUDA context.

use serde::Serialize;

use super::ReplicaConfig;
use crate::catalog::{Gpu, Model};
use crate::error::{Error, Result};
use crate::perf::roofline::kv_bytes_per_token_per_gpu;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Fixed non-KV memory per GPU besides weights and activations (CUDA context, CUDA graphs, NCCL),
/// GiB. vLLM start-up logs on H100 typically show 0.5-1.5 GiB for these together.
pub const FIXED_RESERVE_GIB: f64 = 1.0;

/// The memory layout of one replica.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MemoryLayout {
    /// Weights per GPU, GiB.
    pub weights_gib_per_gpu: f64,
    /// Activation and runtime reserve per GPU, GiB.
    pub reserve_gib_per_gpu: f64,
    /// KV cache per GPU, GiB.
    pub kv_gib_per_gpu: f64,
    /// KV bytes per token per GPU.
    pub kv_bytes_per_token_per_gpu: u64,
    /// KV blocks of the replica.
    pub kv_blocks: u64,
    /// Tokens per block.
    pub block_size: u32,
    /// Longest prompt + output accepted, tokens.
    pub max_model_len: u32,
    /// Why max_model_len is what it is.
    pub max_model_len_limited_by: &'static str,
    /// Sliding-window (or chunked) attention layers kept apart from the full ones: the most
    /// blocks of them one sequence holds (its window, block-aligned, plus the block being
    /// filled); 0 when the model has none or they are charged on every token (no full layers).
    pub window_blocks: u32,
    /// KV bytes per token of the sliding layers and of the full ones, per GPU: a sequence's `b`
    /// window blocks take `ceil(b x .0 / .1)` blocks of the pool (whose blocks hold the full
    /// layers' KV).
    #[serde(skip)]
    pub window_ratio: (u64, u64),
}

impl MemoryLayout {
    /// Plans memory for `model` on `cfg.tp` x `gpu`, or says why it does not fit.
    pub fn new(model: &Model, gpu: &Gpu, cfg: &ReplicaConfig) -> Result<MemoryLayout> {
        let tp = cfg.tp as f64;
        let weights = cfg.precision.model_weight_bytes(model) / tp / GIB;
        let act_bytes = cfg.max_num_batched_tokens as f64
            * (4.0 * model.hidden_size as f64 + 2.0 * model.intermediate_size as f64 / tp)
            * 2.0;
        let reserve = act_bytes / GIB + FIXED_RESERVE_GIB;
        let usable = gpu.memory_gib * cfg.gpu_memory_utilization;
        let full_bytes =
            kv_bytes_per_token_per_gpu(model, cfg.tp, cfg.kv_cache_dtype.element_bytes());
        let kv_total_gib = match (cfg.kv_cache_free_memory_fraction, cfg.mem_fraction_static) {
            (Some(f), _) => f * (gpu.memory_gib - weights - reserve),
            // SGLang: weights and KV take the fraction; activations live in the rest.
            (None, Some(m)) => m * gpu.memory_gib - weights,
            (None, None) => usable - weights - reserve,
        };
        // Sliding-window (and chunked) layers keep at most a window of each sequence, as vLLM's
        // hybrid allocator does (it frees the blocks that slide out of the window): see
        // [`HybridLayout`]. A pool block holds the full-attention layers' KV of `block_size`
        // tokens; each running sequence also holds its window in the other layers, in pool
        // blocks (`window_units`, taken at admission for the most it will hold); the pool
        // leaves room for one step's prefill chunks in those layers (a chunk's tokens are
        // written before the window slides past them). A model with sliding layers only is
        // charged on every token instead.
        let hybrid = HybridLayout::of(model, full_bytes, cfg.block_size);
        let (kv_bytes_per_token, kv_gib, window_blocks, window_ratio) = match hybrid {
            Some(h) => {
                let chunk_tokens = (cfg.max_num_batched_tokens as u64)
                    .div_ceil(cfg.block_size as u64)
                    * cfg.block_size as u64;
                let chunk_gib = (chunk_tokens * h.window_bytes_per_token) as f64 / GIB;
                (
                    h.pool_bytes_per_token,
                    kv_total_gib - chunk_gib,
                    h.window_blocks,
                    h.window_ratio,
                )
            }
            None => {
                let sliding_bytes = crate::perf::roofline::sliding_kv_bytes_per_token_per_gpu(
                    model,
                    cfg.tp,
                    cfg.kv_cache_dtype.element_bytes(),
                );
                (full_bytes + sliding_bytes, kv_total_gib, 0, (0, 1))
            }
        };
        let block_bytes = kv_bytes_per_token * cfg.block_size as u64;
        let computed_blocks = if kv_gib > 0.0 {
            (kv_gib * GIB / block_bytes as f64).floor() as u64
        } else {
            0
        };
        let kv_blocks = match cfg.kv_cache_tokens {
            Some(tokens) => tokens / cfg.block_size as u64,
            None => computed_blocks,
        };
        if cfg.kv_cache_tokens.is_none() && computed_blocks == 0 {
            return Err(Error::DoesNotFit(format!(
                "{} ({}) does not fit {} x {}: it needs {:.1} GiB of weights and {:.1} GiB of activations per GPU, \
                 {:.1} GiB in all, but each GPU has {:.1} GiB x gpu_memory_utilization {} = {:.1} GiB, leaving nothing for the KV cache; \
                 use more GPUs (replica.tp), FP8 weights (replica.precision) or a larger GPU",
                model.id,
                cfg.precision.as_str(),
                cfg.tp,
                gpu.id,
                weights,
                reserve,
                weights + reserve,
                gpu.memory_gib,
                cfg.gpu_memory_utilization,
                usable
            )));
        }
        let window = window_units(window_blocks as u64, window_ratio);
        if window_blocks > 0 && kv_blocks <= window {
            return Err(Error::DoesNotFit(format!(
                "{} ({}) does not fit {} x {}: its KV cache of {kv_blocks} blocks cannot hold one sequence's sliding-window layers ({window} blocks) beside its own; \
                 use more GPUs (replica.tp), lower weight precision, a larger GPU or a larger replica.kv_cache_tokens",
                model.id,
                cfg.precision.as_str(),
                cfg.tp,
                gpu.id,
            )));
        }
        let kv_tokens = kv_blocks * cfg.block_size as u64;
        let (max_model_len, why) = {
            let mut m = (
                model.max_model_len as u64,
                "the model's max_position_embeddings",
            );
            if let Some(user) = cfg.max_model_len {
                if (user as u64) < m.0 {
                    m = (user as u64, "replica.max_model_len");
                }
            }
            // The longest sequence the pool holds alone, besides its window.
            let seq_tokens = kv_blocks.saturating_sub(window) * cfg.block_size as u64;
            if seq_tokens < m.0 {
                m = (seq_tokens, "the KV cache capacity");
            }
            (m.0 as u32, m.1)
        };
        Ok(MemoryLayout {
            weights_gib_per_gpu: weights,
            reserve_gib_per_gpu: reserve,
            kv_gib_per_gpu: if cfg.kv_cache_tokens.is_some() {
                kv_tokens as f64 * kv_bytes_per_token as f64 / GIB
            } else {
                kv_gib
            },
            kv_bytes_per_token_per_gpu: kv_bytes_per_token,
            kv_blocks,
            block_size: cfg.block_size,
            max_model_len,
            max_model_len_limited_by: why,
            window_blocks,
            window_ratio,
        })
    }

    /// KV capacity, tokens.
    pub fn kv_tokens(&self) -> u64 {
        self.kv_blocks * self.block_size as u64
    }

    /// Pool blocks a sequence of `blocks` blocks holds for its sliding-window layers besides
    /// its own blocks (0 without such layers).
    pub fn window_units(&self, blocks: u64) -> u64 {
        window_units(blocks.min(self.window_blocks as u64), self.window_ratio)
    }
}

/// `ceil(blocks x ratio.0 / ratio.1)`: sliding-layer blocks in pool blocks.
pub(crate) fn window_units(blocks: u64, ratio: (u64, u64)) -> u64 {
    (blocks as u128 * ratio.0 as u128).div_ceil(ratio.1.max(1) as u128) as u64
}

/// How vLLM's hybrid KV cache manager lays out a model with full-attention and sliding-window
/// (or chunked) layers (`vllm/v1/core/kv_cache_utils.py`, `_get_kv_cache_groups_uniform_page_size`,
/// vllm-project/vllm @001cabc1): layers are split into groups of `g` layers of one kind, `g` the
/// smaller kind's count (the larger's when it is under 1.5 times that), the last group of each
/// kind padded; every group has its own block table over one shared pool whose blocks hold `g`
/// layers of `block_size` tokens. A sequence holds `Gf` blocks per `block_size` tokens for the
/// full layers and `Gs` per window block for the sliding ones, at most `ceil(window /
/// block_size) + 1` window blocks (`SlidingWindowSpec`: the window need not start at a block
/// boundary). Here a pool block is the `Gf` group blocks of the full layers.
#[derive(Clone, Copy, Debug, PartialEq)]
struct HybridLayout {
    /// KV bytes per token of a pool block (the full layers, padded to whole groups), per GPU.
    pool_bytes_per_token: u64,
    /// KV bytes per token of the sliding layers (padded to whole groups), per GPU.
    window_bytes_per_token: u64,
    /// Most window blocks one sequence holds.
    window_blocks: u32,
    /// (Gs, Gf): a window block costs Gs / Gf pool blocks.
    window_ratio: (u64, u64),
}

impl HybridLayout {
    /// The layout of `model` (full layers' KV `full_bytes` per token per GPU), or `None`
    /// without both kinds of layers.
    fn of(model: &Model, full_bytes: u64, block_size: u32) -> Option<HybridLayout> {
        let w = model.sliding_window?;
        let (nf, ns) = (
            model.full_attention_layers() as u64,
            model.sliding_layers() as u64,
        );
        if nf == 0 || ns == 0 || full_bytes == 0 {
            return None;
        }
        let per_layer = full_bytes / nf;
        let (lo, hi) = (nf.min(ns), nf.max(ns));
        let g = if (hi as f64) < lo as f64 * 1.5 {
            hi
        } else {
            lo
        };
        let (gf, gs) = (nf.div_ceil(g), ns.div_ceil(g));
        let window_blocks = (w as u64).div_ceil(block_size.max(1) as u64) + 1;
        Some(HybridLayout {
            pool_bytes_per_token: gf * g * per_layer,
            window_bytes_per_token: gs * g * per_layer,
            window_blocks: window_blocks.min(u32::MAX as u64) as u32,
            window_ratio: (gs, gf),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::serving::ReplicaSpec;

    fn plan(m: &str, g: &str, spec: ReplicaSpec) -> Result<MemoryLayout> {
        let c = Catalog::builtin();
        let gpu = c.gpu(g).unwrap();
        MemoryLayout::new(c.model(m).unwrap(), gpu, &spec.resolve(gpu).unwrap())
    }

    /// Sliding-window layers as vLLM's hybrid allocator lays them out, by hand. gpt-oss-20b:
    /// 12 full + 12 sliding layers (window 128) of 8 KV heads x 64 x 2 x 2 bytes = 2,048 bytes a
    /// token each: one group of 12 of each kind, a pool block is the 12 full layers (24,576
    /// bytes a token), a window block costs one pool block, at most ceil(128 / 16) + 1 = 9.
    /// Gemma-3-27B: 10 full + 52 sliding layers (window 1,024) of 16 x 128 x 2 x 2 = 8,192
    /// bytes: groups of 10, six sliding groups (8 padding layers), so a window block costs 6
    /// pool blocks of 81,920 bytes a token, at most 65. Llama-4-Scout: 12 full + 36 chunked
    /// (8,192 tokens): 3 to 1.
    #[test]
    fn sliding_window_layers_follow_vllms_hybrid_layout() {
        let gib = 1024f64.powi(3);
        let oss = plan("gpt-oss-20b", "h100-sxm", ReplicaSpec::default()).unwrap();
        assert_eq!(oss.kv_bytes_per_token_per_gpu, 24_576);
        assert_eq!((oss.window_blocks, oss.window_ratio), (9, (1, 1)));
        let whole = 79.6 * 0.9 - oss.weights_gib_per_gpu - oss.reserve_gib_per_gpu;
        // One step's prefill chunks (8,192 tokens) in the sliding layers are left free.
        let chunk = 8192.0 * 24_576.0 / gib;
        assert!(
            (oss.kv_gib_per_gpu - (whole - chunk)).abs() < 1e-9,
            "{oss:?}"
        );
        assert_eq!(oss.window_units(1), 1);
        assert_eq!(oss.window_units(100), 9);

        let int4 = ReplicaSpec {
            precision: Some(crate::perf::Precision::Int4),
            ..Default::default()
        };
        let gemma = plan("gemma-3-27b", "l40s", int4.clone()).unwrap();
        assert_eq!(gemma.kv_bytes_per_token_per_gpu, 81_920);
        assert_eq!((gemma.window_blocks, gemma.window_ratio), (65, (6, 1)));
        // A 3,000-token sequence: 188 blocks of its own + 6 x 65 window blocks = 578, against
        // 188 x 6.2 = 1,166 with every layer charged on every token: 31 sequences, not 16.
        assert_eq!(188 + gemma.window_units(188), 578);
        let whole = gemma.kv_gib_per_gpu + 2048.0 * 6.0 * 81_920.0 / gib;
        let charged_every_token = (whole * gib / (507_904.0 * 16.0)).floor() as u64 / 188;
        assert_eq!(charged_every_token, 16, "{gemma:?}");
        assert_eq!(gemma.kv_blocks / 578, 31, "{gemma:?}");

        let scout = plan("llama-4-scout", "h100-sxm", {
            let mut s = int4;
            s.tp = Some(2);
            s
        })
        .unwrap();
        assert_eq!((scout.window_blocks, scout.window_ratio), (513, (3, 1)));
        // The longest sequence the pool holds alone leaves room for its window: 1,000 blocks,
        // 390 of them a Gemma-3 window, hold (1,000 - 390) x 16 tokens; a pool smaller than
        // one window is refused.
        let small = |blocks: u64| {
            plan(
                "gemma-3-27b",
                "h100-sxm",
                ReplicaSpec {
                    kv_cache_tokens: Some(blocks * 16),
                    ..Default::default()
                },
            )
        };
        let s = small(1000).unwrap();
        assert_eq!(
            (s.max_model_len, s.max_model_len_limited_by),
            (9760, "the KV cache capacity")
        );
        let e = small(390).unwrap_err().to_string();
        assert!(
            e.contains("cannot hold one sequence's sliding-window layers (390 blocks)"),
            "{e}"
        );
        let dense = plan("llama-3.1-8b", "l4", ReplicaSpec::default()).unwrap();
        assert_eq!(dense.max_model_len as u64, dense.kv_tokens());
        assert_eq!((dense.window_blocks, dense.window_units(1000)), (0, 0));
    }

    #[test]
    fn llama8b_on_h100_has_about_55_gib_of_kv() {
        // vLLM on an H100 at 0.9 utilization reports about 54-56 GiB of KV cache for Llama-3.1-8B
        // (71.6 GiB usable - 14.96 GiB weights - profiled activations).
        let p = plan("llama-3.1-8b", "h100-sxm", ReplicaSpec::default()).unwrap();
        assert!((p.weights_gib_per_gpu - 14.96).abs() < 0.05, "{p:?}");
        assert!(p.kv_gib_per_gpu > 53.0 && p.kv_gib_per_gpu < 57.0, "{p:?}");
        assert_eq!(p.kv_bytes_per_token_per_gpu, 131072);
        assert_eq!(p.max_model_len, 131072);
    }

    #[test]
    fn too_big_model_says_how_much_memory_it_needs() {
        let e = plan("llama-3.1-70b", "h100-sxm", ReplicaSpec::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("131.5 GiB") && e.contains("79.6 GiB"), "{e}");
        let ok = plan(
            "llama-3.1-70b",
            "h100-sxm",
            ReplicaSpec {
                tp: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(ok.kv_blocks > 0);
    }

    #[test]
    fn fp8_kv_cache_holds_twice_the_tokens() {
        let bf16 = plan("llama-3.1-8b", "h100-sxm", ReplicaSpec::default()).unwrap();
        let fp8 = plan(
            "llama-3.1-8b",
            "h100-sxm",
            ReplicaSpec {
                kv_cache_dtype: Some(crate::serving::KvCacheDtype::Fp8),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            fp8.kv_bytes_per_token_per_gpu * 2,
            bf16.kv_bytes_per_token_per_gpu
        );
        assert!((fp8.kv_blocks as i64 - 2 * bf16.kv_blocks as i64).abs() <= 1);
    }

    #[test]
    fn free_memory_fraction_sizes_kv_from_what_weights_leave() {
        // 70B FP8 on one H100: vLLM's rule (0.9 of 79.6 GiB, less weights and activations) leaves
        // little KV; TensorRT-LLM's (0.9 of what is left free) leaves several times more.
        let fp8 = |extra: ReplicaSpec| {
            plan(
                "llama-3.1-70b",
                "h100-sxm",
                ReplicaSpec {
                    precision: Some(crate::perf::Precision::Fp8),
                    ..extra
                },
            )
            .unwrap()
        };
        let vllm = fp8(ReplicaSpec::default());
        let trt = fp8(ReplicaSpec {
            kv_cache_free_memory_fraction: Some(0.9),
            ..Default::default()
        });
        let free = 79.6 - trt.weights_gib_per_gpu - trt.reserve_gib_per_gpu;
        assert!((trt.kv_gib_per_gpu - 0.9 * free).abs() < 0.2, "{trt:?}");
        assert!(trt.kv_blocks > 2 * vllm.kv_blocks, "{trt:?} vs {vllm:?}");
        let c = Catalog::builtin();
        let both = ReplicaSpec {
            kv_cache_free_memory_fraction: Some(0.9),
            gpu_memory_utilization: Some(0.9),
            ..Default::default()
        }
        .resolve(c.gpu("h100-sxm").unwrap())
        .unwrap_err()
        .to_string();
        assert!(both.contains("not both"), "{both}");
    }

    #[test]
    fn small_kv_caps_max_model_len_and_override_wins() {
        let p = plan("llama-3.1-8b", "l4", ReplicaSpec::default()).unwrap();
        assert_eq!(p.max_model_len_limited_by, "the KV cache capacity");
        assert!(p.max_model_len < 131072);
        let o = plan(
            "llama-3.1-8b",
            "l4",
            ReplicaSpec {
                kv_cache_tokens: Some(1 << 24),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(o.kv_tokens(), 1 << 24);
    }
}
