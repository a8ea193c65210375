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
        let kv_total_gib = match cfg.kv_cache_free_memory_fraction {
            Some(f) => f * (gpu.memory_gib - weights - reserve),
            None => usable - weights - reserve,
        };
        // Sliding-window layers keep at most a window of each sequence. Two bounds on what they
        // take, of which the plan uses the one that leaves more KV tokens: (a) a window set aside
        // for every sequence the batch may hold (`max_num_seqs`), or (b) their KV charged on
        // every token like a full layer's. vLLM's hybrid allocator, which frees blocks that slide
        // out of the window, needs no more than either.
        let sliding_bytes = crate::perf::roofline::sliding_kv_bytes_per_token_per_gpu(
            model,
            cfg.tp,
            cfg.kv_cache_dtype.element_bytes(),
        );
        let (kv_bytes_per_token, kv_gib) = match model.sliding_window {
            Some(w) if model.sliding_layers() > 0 => {
                let reserved_gib = sliding_bytes as f64 * w as f64 * cfg.max_num_seqs as f64 / GIB;
                let tokens_a = (kv_total_gib - reserved_gib) * GIB / full_bytes as f64;
                let tokens_b = kv_total_gib * GIB / (full_bytes + sliding_bytes) as f64;
                if tokens_a >= tokens_b {
                    (full_bytes, kv_total_gib - reserved_gib)
                } else {
                    (full_bytes + sliding_bytes, kv_total_gib)
                }
            }
            _ => (full_bytes, kv_total_gib),
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
            if kv_tokens < m.0 {
                m = (kv_tokens, "the KV cache capacity");
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
        })
    }

    /// KV capacity, tokens.
    pub fn kv_tokens(&self) -> u64 {
        self.kv_blocks * self.block_size as u64
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

    /// Sliding-window layers: a small window is set aside per sequence (gpt-oss: 128 tokens of
    /// 12 layers for 1024 sequences, 3 GiB), a large one is charged per token instead (Gemma 3:
    /// 1,024 tokens of 52 layers for 256 sequences would be 104 GiB, more than an L40S has).
    #[test]
    fn sliding_window_kv_takes_the_smaller_of_two_bounds() {
        let gib = 1024f64.powi(3);
        let oss = plan("gpt-oss-20b", "h100-sxm", ReplicaSpec::default()).unwrap();
        assert_eq!(oss.kv_bytes_per_token_per_gpu, 24_576);
        let whole = 79.6 * 0.9 - oss.weights_gib_per_gpu - oss.reserve_gib_per_gpu;
        let reserved = 1024.0 * 128.0 * 24_576.0 / gib;
        assert!(
            (oss.kv_gib_per_gpu - (whole - reserved)).abs() < 1e-9,
            "{oss:?}"
        );
        let gemma = plan(
            "gemma-3-27b",
            "l40s",
            ReplicaSpec {
                precision: Some(crate::perf::Precision::Int4),
                ..Default::default()
            },
        )
        .unwrap();
        // 10 full layers (80 KiB a token) + 52 sliding ones (416 KiB) charged on every token.
        assert_eq!(gemma.kv_bytes_per_token_per_gpu, 81_920 + 425_984);
        assert!(gemma.kv_blocks > 3000, "{gemma:?}");
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
