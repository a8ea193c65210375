//! One model-server replica with vLLM V1 scheduling semantics (docs/ARCHITECTURE.md, "Semantics").
//!
//! - [`memory`] sizes the KV cache from GPU memory, weights and activations;
//! - [`kv`] is the block pool;
//! - [`replica`] is the scheduler: continuous batching, chunked prefill under a token budget,
//!   preemption by recompute, and the per-step bookkeeping that keeps a step's cost proportional to
//!   what changes in the batch rather than to the batch size.

pub mod kv;
pub mod memory;
pub mod replica;

use serde::{Deserialize, Serialize};

use crate::catalog::Gpu;
use crate::error::{Error, Result};
use crate::perf::Precision;

pub use memory::MemoryLayout;
pub use replica::{Replica, StepOutcome};

/// Hashes a `u64` key by identity: for keys already spread over all 64 bits (the block pool's
/// content hashes; the scheduler spreads its consecutive sequence numbers itself).
#[derive(Default)]
pub(crate) struct U64Hasher(u64);

impl std::hash::Hasher for U64Hasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A hash map keyed by `u64` hashed with [`U64Hasher`].
pub(crate) type U64Map<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<U64Hasher>>;

/// Element type of the KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KvCacheDtype {
    /// The model's activation type: 16-bit (vLLM's `auto`).
    #[default]
    Auto,
    /// 8-bit floats: half the bytes per token, twice the tokens in the same memory.
    Fp8,
}

/// SGLang's `--mem-fraction-static`: the share of GPU memory that weights and the KV cache
/// take together (activations and CUDA graphs live in the rest). `auto` is SGLang's start-up
/// rule ([`sglang_mem_fraction_static`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MemFractionStatic {
    /// SGLang's own rule for the GPU, prefill chunk and tensor parallelism.
    #[serde(serialize_with = "serialize_auto")]
    Auto,
    /// A fraction in (0, 1].
    Fraction(f64),
}

fn serialize_auto<S: serde::Serializer>(s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str("auto")
}

impl<'de> Deserialize<'de> for MemFractionStatic {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "auto" => Ok(MemFractionStatic::Auto),
            serde_json::Value::Number(n) => {
                Ok(MemFractionStatic::Fraction(n.as_f64().unwrap_or(f64::NAN)))
            }
            other => Err(serde::de::Error::custom(format!(
                "expected a fraction in (0, 1] or \"auto\", got {other}"
            ))),
        }
    }
}

/// SGLang's `mem_fraction_static` at start-up (`ServerArgs._handle_gpu_memory_settings`,
/// sgl-project/sglang `python/sglang/srt/server_args.py`, 2026): it keeps `reserved` MiB out
/// of weights and KV, 512 for constant metadata, 1.5 per token of the prefill chunk (at least
/// 2048), 2 per sequence of the largest CUDA graph (8 below 20 GiB of GPU memory; below 35
/// GiB 24, or 80 at tensor parallelism 4 and more; below 60 GiB 32 or 160; below 160 GiB 256
/// or 512; 512 above) and 128 per tensor-parallel GPU, at least 10 GiB on GPUs of more than 60
/// GiB; the fraction is (memory - reserved) / memory, rounded to 3 places.
pub fn sglang_mem_fraction_static(memory_gib: f64, chunk_tokens: u32, tp: u32) -> f64 {
    let mib = memory_gib * 1024.0;
    // (below this many GiB, graph batch at tensor parallelism under 4, and from 4)
    let tiers = [
        (20.0, 8.0, 8.0),
        (35.0, 24.0, 80.0),
        (60.0, 32.0, 160.0),
        (160.0, 256.0, 512.0),
    ];
    let graph_seqs =
        tiers
            .iter()
            .find(|t| memory_gib < t.0)
            .map_or(512.0, |t| if tp < 4 { t.1 } else { t.2 });
    let mut reserved =
        512.0 + chunk_tokens.max(2048) as f64 * 1.5 + graph_seqs * 2.0 + tp as f64 * 128.0;
    if memory_gib > 60.0 {
        reserved = reserved.max(10.0 * 1024.0);
    }
    ((mib - reserved) / mib * 1000.0).round() / 1000.0
}

impl KvCacheDtype {
    /// Bytes per cached element.
    pub fn element_bytes(self) -> u32 {
        match self {
            KvCacheDtype::Auto => 2,
            KvCacheDtype::Fp8 => 1,
        }
    }
}

/// When the scheduler admits a waiting request (its capacity policy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerPolicy {
    /// vLLM's: admit while blocks for the next chunk are free; when blocks run out, preempt the
    /// newest running request and recompute it later (TensorRT-LLM calls this MAX_UTILIZATION).
    #[default]
    Vllm,
    /// TensorRT-LLM's default (GUARANTEED_NO_EVICT): admit a request only when the blocks for its
    /// whole prompt and output fit beside what the running requests will still need, so no
    /// request is ever preempted.
    #[serde(alias = "guaranteed_no_evict")]
    GuaranteedNoEvict,
}

impl SchedulerPolicy {
    /// All policies with their names, as scenarios spell them.
    pub const ALL: [(SchedulerPolicy, &'static str); 2] = [
        (SchedulerPolicy::Vllm, "vllm"),
        (SchedulerPolicy::GuaranteedNoEvict, "guaranteed-no-evict"),
    ];

    /// The policy's name as scenarios spell it.
    pub fn name(self) -> &'static str {
        crate::named::name_of(&SchedulerPolicy::ALL, self)
    }
}

/// Replica settings as a scenario writes them (the scenario's `replica`); unset fields take
/// vLLM's defaults for the GPU (vLLM's `EngineArgs` and `SchedulerConfig` defaults; README,
/// `replica`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSpec {
    /// Serving engine profile (`vllm`, the default; `sglang`, `trtllm`; the 2024 engines
    /// `trtllm-0.17`, `sglang-0.3`, `vllm-0.6`, `vllm-0.5`): its scheduler defaults fill the keys
    /// left unset here, and its fitted step times apply (catalog/engines.json).
    #[serde(default)]
    pub engine: Option<String>,
    /// Tensor-parallel GPUs per replica: 1, 2, 4 or 8.
    #[serde(default)]
    pub tp: Option<u32>,
    /// Most sequences in a batch.
    #[serde(default)]
    pub max_num_seqs: Option<u32>,
    /// Token budget per step (prefill chunk tokens plus one per decode).
    #[serde(default)]
    pub max_num_batched_tokens: Option<u32>,
    /// Tokens per KV block.
    #[serde(default)]
    pub block_size: Option<u32>,
    /// Fraction of GPU memory the engine may use.
    #[serde(default)]
    pub gpu_memory_utilization: Option<f64>,
    /// Weight precision: `bf16` or `fp8`.
    #[serde(default)]
    pub precision: Option<Precision>,
    /// Longest prompt + output accepted, tokens (default: the model's, capped by KV capacity).
    #[serde(default)]
    pub max_model_len: Option<u32>,
    /// Override the KV capacity computed from memory, tokens (a what-if, e.g. for offloading).
    #[serde(default)]
    pub kv_cache_tokens: Option<u64>,
    /// Automatic prefix caching (on by default, as in vLLM V1).
    #[serde(default)]
    pub prefix_caching: Option<bool>,
    /// KV cache element type: `auto` (16-bit, default) or `fp8`.
    #[serde(default)]
    pub kv_cache_dtype: Option<KvCacheDtype>,
    /// With an FP8 KV cache, whether attention runs on FP8 tensor cores (twice the 16-bit rate
    /// where the GPU has them) rather than at the 16-bit rate. Default from the engine profile
    /// (`vllm`, `sglang`: no, as vLLM 0.19.1's measured FP8-KV runs show; the others: yes).
    #[serde(default)]
    pub fp8_attention: Option<bool>,
    /// Activations of the matrix multiplies over a checkpoint's MXFP4 experts (gpt-oss at
    /// `fp4`): `bf16` (16-bit math) or `fp8` (MXFP8 on FP4 tensor cores, at the FP8 rate where
    /// the GPU has them). Default from the engine profile (`trtllm`: fp8, as TensorRT-LLM's
    /// gpt-oss support matrix gives for Blackwell; the others: bf16, vLLM's default backend).
    #[serde(default)]
    pub mxfp4_activation: Option<crate::perf::Mxfp4Activation>,
    /// Admission policy: `vllm` (default) or `guaranteed-no-evict` (TensorRT-LLM's).
    #[serde(default)]
    pub scheduler_policy: Option<SchedulerPolicy>,
    /// Size the KV cache as this fraction of the memory left free after weights and activations
    /// (TensorRT-LLM's `free_gpu_memory_fraction`, default 0.9 there) instead of vLLM's
    /// `gpu_memory_utilization` of the whole GPU. Give one or the other.
    #[serde(default)]
    pub kv_cache_free_memory_fraction: Option<f64>,
    /// Size weights and KV cache together as this fraction of GPU memory (SGLang's
    /// `mem_fraction_static`; `"auto"`: SGLang's start-up rule, [`sglang_mem_fraction_static`])
    /// instead of `gpu_memory_utilization`. Give one of the three memory keys.
    #[serde(default)]
    pub mem_fraction_static: Option<MemFractionStatic>,
    /// Decode steps per scheduler call, as vLLM 0.6's `--num-scheduler-steps` (default 1):
    /// the scheduler runs between runs of this many decode steps, tokens stream once per run,
    /// and prompts are computed in prefill-only steps between runs.
    #[serde(default)]
    pub num_scheduler_steps: Option<u32>,
}

/// Validated replica settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaConfig {
    /// Engine profile id.
    pub engine: String,
    /// Tensor-parallel GPUs per replica.
    pub tp: u32,
    /// Most sequences in a batch.
    pub max_num_seqs: u32,
    /// Token budget per step.
    pub max_num_batched_tokens: u32,
    /// Tokens per KV block.
    pub block_size: u32,
    /// Fraction of GPU memory the engine may use.
    pub gpu_memory_utilization: f64,
    /// Weight precision.
    pub precision: Precision,
    /// Requested max_model_len, if any.
    pub max_model_len: Option<u32>,
    /// KV capacity override, tokens.
    pub kv_cache_tokens: Option<u64>,
    /// Automatic prefix caching.
    pub prefix_caching: bool,
    /// KV cache element type.
    pub kv_cache_dtype: KvCacheDtype,
    /// With an FP8 KV cache, attention on FP8 tensor cores (else at the 16-bit rate).
    pub fp8_attention: bool,
    /// Activations of MXFP4 expert matrix multiplies.
    #[serde(skip_serializing_if = "crate::perf::Mxfp4Activation::is_default")]
    pub mxfp4_activation: crate::perf::Mxfp4Activation,
    /// Admission policy.
    pub scheduler_policy: SchedulerPolicy,
    /// KV cache as a fraction of the memory left free (instead of `gpu_memory_utilization`).
    pub kv_cache_free_memory_fraction: Option<f64>,
    /// Weights and KV cache as a fraction of GPU memory (SGLang's rule; instead of
    /// `gpu_memory_utilization`).
    pub mem_fraction_static: Option<f64>,
    /// Decode steps per scheduler call.
    pub num_scheduler_steps: u32,
}

impl ReplicaConfig {
    /// What fixes this replica's roofline besides its step-time parameters, serving `model`
    /// on `gpu`: its TP, precision, KV cache element bytes, FP8 attention and MXFP4 experts'
    /// activations.
    pub fn roofline_setup<'a>(
        &self,
        model: &'a crate::catalog::Model,
        gpu: &'a Gpu,
    ) -> crate::perf::RooflineSetup<'a> {
        crate::perf::RooflineSetup {
            model,
            gpu,
            tp: self.tp,
            precision: self.precision,
            kv_element_bytes: self.kv_cache_dtype.element_bytes(),
            fp8_attention: self.fp8_attention,
            mxfp4_activation: self.mxfp4_activation,
        }
    }
}

impl ReplicaSpec {
    /// Fills defaults for `gpu` (vLLM's OpenAI-server defaults: 1024 sequences and 8192 batched
    /// tokens on GPUs with at least 70 GiB that are not A100s, 256 and 2048 elsewhere; block size
    /// 16; memory utilization 0.9) and checks ranges.
    pub fn resolve(&self, gpu: &Gpu) -> Result<ReplicaConfig> {
        let catalog = crate::catalog::Catalog::builtin();
        let engine = catalog
            .engine(self.engine.as_deref().unwrap_or(&catalog.default_engine))
            .map_err(|e| e.in_field("replica.engine"))?;
        self.with_defaults_of(engine, gpu)?
            .resolve_filled(gpu, &engine.id)
    }

    /// This spec with the keys it leaves unset taken from `engine`'s scheduler defaults on
    /// `gpu` ([`crate::catalog::EngineProfile::replica_defaults`]). An engine's memory rule
    /// (`gpu_memory_utilization` or `kv_cache_free_memory_fraction`) applies only when the
    /// scenario gives neither.
    pub fn with_defaults_of(
        &self,
        engine: &crate::catalog::EngineProfile,
        gpu: &Gpu,
    ) -> Result<ReplicaSpec> {
        let d: ReplicaSpec = serde_json::from_value(serde_json::Value::Object(
            engine.replica_defaults(gpu.memory_gib),
        ))
        .map_err(|e| Error::config("replica.engine", format!("profile `{}`: {e}", engine.id)))?;
        let memory_given = self.gpu_memory_utilization.is_some()
            || self.kv_cache_free_memory_fraction.is_some()
            || self.mem_fraction_static.is_some();
        Ok(ReplicaSpec {
            engine: Some(engine.id.clone()),
            tp: self.tp.or(d.tp),
            max_num_seqs: self.max_num_seqs.or(d.max_num_seqs),
            max_num_batched_tokens: self.max_num_batched_tokens.or(d.max_num_batched_tokens),
            block_size: self.block_size.or(d.block_size),
            gpu_memory_utilization: if memory_given {
                self.gpu_memory_utilization
            } else {
                d.gpu_memory_utilization
            },
            precision: self.precision.or(d.precision),
            max_model_len: self.max_model_len.or(d.max_model_len),
            kv_cache_tokens: self.kv_cache_tokens.or(d.kv_cache_tokens),
            prefix_caching: self.prefix_caching.or(d.prefix_caching),
            kv_cache_dtype: self.kv_cache_dtype.or(d.kv_cache_dtype),
            fp8_attention: self.fp8_attention.or(d.fp8_attention),
            mxfp4_activation: self.mxfp4_activation.or(d.mxfp4_activation),
            scheduler_policy: self.scheduler_policy.or(d.scheduler_policy),
            kv_cache_free_memory_fraction: if memory_given {
                self.kv_cache_free_memory_fraction
            } else {
                d.kv_cache_free_memory_fraction
            },
            mem_fraction_static: if memory_given {
                self.mem_fraction_static
            } else {
                d.mem_fraction_static
            },
            num_scheduler_steps: self.num_scheduler_steps.or(d.num_scheduler_steps),
        })
    }

    fn resolve_filled(&self, gpu: &Gpu, engine: &str) -> Result<ReplicaConfig> {
        let big = gpu.memory_gib >= 70.0 && !gpu.id.starts_with("a100");
        let (seqs, tokens) = if big { (1024, 8192) } else { (256, 2048) };
        let tp = self.tp.unwrap_or(1);
        if ![1, 2, 4, 8].contains(&tp) {
            return Err(Error::config(
                "replica.tp",
                format!("must be 1, 2, 4 or 8, got {tp}"),
            ));
        }
        let max_num_seqs = self.max_num_seqs.unwrap_or(seqs);
        if !(1..=65_536).contains(&max_num_seqs) {
            return Err(Error::config(
                "replica.max_num_seqs",
                format!("must be 1..=65536, got {max_num_seqs}"),
            ));
        }
        // vLLM requires the budget to hold one decode token per sequence; when only
        // max_num_seqs is given, raise the default budget to match rather than fail.
        let max_num_batched_tokens = self
            .max_num_batched_tokens
            .unwrap_or(tokens.max(max_num_seqs));
        if !(1..=10_000_000).contains(&max_num_batched_tokens) {
            return Err(Error::config(
                "replica.max_num_batched_tokens",
                format!("must be 1..=10000000, got {max_num_batched_tokens}"),
            ));
        }
        if max_num_batched_tokens < max_num_seqs {
            return Err(Error::config(
                "replica.max_num_batched_tokens",
                format!("must be at least max_num_seqs ({max_num_seqs}) so every running sequence can decode each step, got {max_num_batched_tokens}"),
            ));
        }
        let block_size = self.block_size.unwrap_or(16);
        if ![1, 2, 4, 8, 16, 32, 64, 128, 256, 512].contains(&block_size) {
            return Err(Error::config(
                "replica.block_size",
                format!("must be a power of two from 1 to 512, got {block_size}"),
            ));
        }
        let util = self.gpu_memory_utilization.unwrap_or(0.9);
        if !(util > 0.0 && util <= 1.0) {
            return Err(Error::config(
                "replica.gpu_memory_utilization",
                format!("must be in (0, 1], got {util}"),
            ));
        }
        if let Some(f) = self.kv_cache_free_memory_fraction {
            if !(f > 0.0 && f <= 1.0) {
                return Err(Error::config(
                    "replica.kv_cache_free_memory_fraction",
                    format!("must be in (0, 1], got {f}"),
                ));
            }
            if self.gpu_memory_utilization.is_some() {
                return Err(Error::config(
                    "replica.kv_cache_free_memory_fraction",
                    "give gpu_memory_utilization (vLLM's rule: a fraction of the whole GPU) or kv_cache_free_memory_fraction (TensorRT-LLM's: a fraction of what weights and activations leave free), not both",
                ));
            }
        }
        let mem_fraction_static = match self.mem_fraction_static {
            None => None,
            Some(m) => {
                if self.gpu_memory_utilization.is_some()
                    || self.kv_cache_free_memory_fraction.is_some()
                {
                    return Err(Error::config(
                        "replica.mem_fraction_static",
                        "give one of gpu_memory_utilization (vLLM's rule), kv_cache_free_memory_fraction (TensorRT-LLM's) and mem_fraction_static (SGLang's: weights and KV over GPU memory), not two",
                    ));
                }
                let f = match m {
                    MemFractionStatic::Fraction(f) => f,
                    MemFractionStatic::Auto => {
                        sglang_mem_fraction_static(gpu.memory_gib, max_num_batched_tokens, tp)
                    }
                };
                if !(f > 0.0 && f <= 1.0) {
                    return Err(Error::config(
                        "replica.mem_fraction_static",
                        format!("must be in (0, 1] or \"auto\", got {f}"),
                    ));
                }
                Some(f)
            }
        };
        let num_scheduler_steps = self.num_scheduler_steps.unwrap_or(1);
        if !(1..=64).contains(&num_scheduler_steps) {
            return Err(Error::config(
                "replica.num_scheduler_steps",
                format!("must be 1..=64, got {num_scheduler_steps}"),
            ));
        }
        if let Some(m) = self.max_model_len {
            if m < 2 {
                return Err(Error::config(
                    "replica.max_model_len",
                    "must be at least 2 tokens",
                ));
            }
        }
        if let Some(k) = self.kv_cache_tokens {
            if k < block_size as u64 || k > 1 << 40 {
                return Err(Error::config(
                    "replica.kv_cache_tokens",
                    format!(
                        "must be at least one block ({block_size} tokens) and below 2^40, got {k}"
                    ),
                ));
            }
        }
        Ok(ReplicaConfig {
            engine: engine.to_string(),
            tp,
            max_num_seqs,
            max_num_batched_tokens,
            block_size,
            gpu_memory_utilization: util,
            precision: self.precision.unwrap_or_default(),
            max_model_len: self.max_model_len,
            kv_cache_tokens: self.kv_cache_tokens,
            prefix_caching: self.prefix_caching.unwrap_or(true),
            kv_cache_dtype: self.kv_cache_dtype.unwrap_or_default(),
            fp8_attention: self.fp8_attention.unwrap_or(true),
            mxfp4_activation: self.mxfp4_activation.unwrap_or_default(),
            scheduler_policy: self.scheduler_policy.unwrap_or_default(),
            kv_cache_free_memory_fraction: self.kv_cache_free_memory_fraction,
            mem_fraction_static,
            num_scheduler_steps,
        })
    }
}
