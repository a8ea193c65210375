//! GPUs and models as data. The figures live in `gpus.json` and `models.json` (compiled in), each
//! entry with the source it was taken from; this module only parses and looks them up.

pub mod engines;
pub mod hf;

pub use engines::{EngineProfile, ErrorBand, MemoryTier};

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One GPU type.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Gpu {
    /// Short id used in scenarios, e.g. `h100-sxm`.
    pub id: String,
    /// Architecture family (`hopper`, `ampere`, `ada`, `blackwell`, `cdna3`): GPUs of one family
    /// share fitted step-time parameters (an engine profile's fits, catalog/engines.json).
    pub family: String,
    /// Full name.
    pub name: String,
    /// Dense BF16 tensor throughput, TFLOP/s.
    pub bf16_tflops: f64,
    /// Dense FP8 tensor throughput, TFLOP/s; `None` where the GPU has no FP8 tensor cores.
    pub fp8_tflops: Option<f64>,
    /// Dense FP4 tensor throughput, TFLOP/s; `None` where the GPU has no FP4 tensor cores (FP4
    /// weights then run weight-only at BF16 rate).
    #[serde(default)]
    pub fp4_tflops: Option<f64>,
    /// Usable device memory, GiB.
    pub memory_gib: f64,
    /// Memory bandwidth, TB/s.
    pub mem_bw_tbps: f64,
    /// Per-direction bandwidth for tensor-parallel all-reduce within `link_max_tp` GPUs, GB/s.
    pub link_gbps: f64,
    /// Largest tensor-parallel group the fast link joins.
    pub link_max_tp: u32,
    /// Per-direction PCIe bandwidth used beyond `link_max_tp`, GB/s.
    pub pcie_gbps: f64,
    /// Fixed latency of one all-reduce, microseconds.
    pub allreduce_latency_us: f64,
    /// Where the figures come from.
    pub source: String,
}

/// One model architecture.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Short id used in scenarios, e.g. `llama-3.1-8b`.
    pub id: String,
    /// Full name.
    pub name: String,
    /// Hidden size.
    pub hidden_size: u32,
    /// Transformer layers.
    pub layers: u32,
    /// Query heads.
    pub heads: u32,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: u32,
    /// Size of one head.
    pub head_dim: u32,
    /// MLP intermediate size (per expert for mixture-of-experts).
    pub intermediate_size: u32,
    /// Vocabulary size.
    pub vocab_size: u32,
    /// Whether the LM head shares the embedding matrix.
    pub tie_word_embeddings: bool,
    /// All parameters, billions (what must sit in memory).
    pub total_params_b: f64,
    /// Parameters used per token, billions (what each token computes with).
    pub active_params_b: f64,
    /// Routed experts per layer (mixture-of-experts only).
    #[serde(default)]
    pub experts: Option<u32>,
    /// Experts each token is routed to (mixture-of-experts only).
    #[serde(default)]
    pub experts_per_token: Option<u32>,
    /// Longest sequence (prompt + output) the model accepts, tokens.
    pub max_model_len: u32,
    /// Routed-expert parameters of all layers, billions, where they are not 3 x hidden x
    /// intermediate x experts x layers (shared experts, leading dense layers, MoE layers
    /// interleaved with dense ones): what a step reads only for the experts it routes to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_params_b: Option<f64>,
    /// Multi-head latent attention (DeepSeek-V2/V3): rank of the compressed KV latent. The KV
    /// cache then holds `kv_lora_rank + qk_rope_head_dim` elements per layer per token, one copy
    /// on every tensor-parallel GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_lora_rank: Option<u32>,
    /// Multi-head latent attention: the decoupled rotary key dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qk_rope_head_dim: Option<u32>,
    /// Sliding-window (or chunked) attention: the window, tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u32>,
    /// How many of the layers attend within `sliding_window` (the rest attend to everything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_layers: Option<u32>,
    /// Its published 4-bit checkpoint quantizes only the routed experts, to MXFP4 (4 bits and a
    /// shared 8-bit scale per 32 weights: 4.25 bits), and keeps attention, router, embedding
    /// and LM head in 16 bits: gpt-oss (`quantization_config.modules_to_not_convert` in its
    /// config.json). At precision `fp4` such a model is that checkpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fp4_experts_only: bool,
    /// Where the figures come from.
    pub source: String,
}

impl Model {
    /// KV cache bytes per token at 2 bytes per element of the layers whose cache grows with the
    /// context (every layer but sliding-window ones; for latent attention, the latent).
    pub fn kv_bytes_per_token_bf16(&self) -> u64 {
        crate::perf::roofline::kv_bytes_per_token_per_gpu(self, 1, 2)
    }

    /// Layers whose KV cache grows with the whole context.
    pub fn full_attention_layers(&self) -> u32 {
        self.layers - self.sliding_layers()
    }

    /// Layers attending within a sliding window (0 without one).
    pub fn sliding_layers(&self) -> u32 {
        match self.sliding_window {
            Some(_) => self.sliding_window_layers.unwrap_or(0).min(self.layers),
            None => 0,
        }
    }

    /// Parameters of the embedding table (one copy).
    pub fn embedding_params(&self) -> f64 {
        self.vocab_size as f64 * self.hidden_size as f64
    }

    /// Layers with routed experts: all of them, or, where `expert_params_b` says fewer hold
    /// experts (leading dense layers, interleaved MoE layers), that count.
    pub fn moe_layers(&self) -> u32 {
        if !self.is_moe() {
            return 0;
        }
        match self.expert_params_b {
            Some(b) => {
                let per_layer = 3.0
                    * self.hidden_size as f64
                    * self.intermediate_size as f64
                    * self.experts.unwrap_or(1) as f64;
                ((b * 1e9 / per_layer).round() as u32).min(self.layers)
            }
            None => self.layers,
        }
    }

    /// Whether `other` has this model's architecture and size: every field that decides
    /// weights, KV cache and step time equal (a new post-training of the same network, like
    /// Llama-3.3-70B of Llama-3.1-70B's, is the same; the context length does not count).
    pub fn same_architecture(&self, other: &Model) -> bool {
        let shape = |m: &Model| {
            (
                (m.hidden_size, m.layers, m.heads, m.kv_heads, m.head_dim),
                (m.intermediate_size, m.vocab_size, m.tie_word_embeddings),
                (
                    m.experts,
                    m.experts_per_token,
                    m.kv_lora_rank,
                    m.qk_rope_head_dim,
                ),
                (m.sliding_window, m.sliding_window_layers),
            )
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 0.01 * a.abs().max(b.abs());
        shape(self) == shape(other)
            && close(self.total_params_b, other.total_params_b)
            && close(self.active_params_b, other.active_params_b)
            && match (self.expert_params_b, other.expert_params_b) {
                (Some(a), Some(b)) => close(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }

    /// Whether this is a mixture-of-experts model.
    pub fn is_moe(&self) -> bool {
        self.experts.unwrap_or(1) > 1
    }

    /// Parameters of all routed experts together (zero for dense models): 3 matrices of
    /// hidden x intermediate per expert per layer (gate, up, down).
    pub fn expert_params(&self) -> f64 {
        if !self.is_moe() {
            return 0.0;
        }
        if let Some(b) = self.expert_params_b {
            return b * 1e9;
        }
        3.0 * self.hidden_size as f64
            * self.intermediate_size as f64
            * self.experts.unwrap_or(1) as f64
            * self.layers as f64
    }
}

/// A GPU rental price.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GpuPrice {
    /// GPU id.
    pub gpu: String,
    /// Provider.
    pub provider: String,
    /// Plan: on-demand, reserved-1y, reserved-3y, spot, capacity-block.
    pub plan: String,
    /// USD per GPU-hour.
    pub usd_per_gpu_hour: f64,
    /// When the figure was read (as its source dates it).
    pub date: String,
    /// `high` (provider's page), `medium` (maintained catalog or dated transcription) or `low`
    /// (article, aggregator or stale).
    pub confidence: String,
    /// How the provider bills time (null: not stated).
    pub billing_increment: Option<String>,
    /// A community offer (third-party hosts without a data-centre SLA): never chosen by default.
    pub community: bool,
    /// The instance the price is for (null: priced per GPU).
    pub instance: Option<String>,
    /// Which figure was chosen where the sources give two, and other caveats.
    pub note: Option<String>,
    /// Where the price comes from.
    pub source: String,
}

/// An API's prompt-caching billing rule.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CachingRule {
    /// Shortest prefix that is cached, tokens.
    pub min_tokens: u32,
    /// Cached lengths grow in steps of this many tokens past the minimum (`None`: any length).
    pub increment_tokens: Option<u32>,
    /// A cached prefix expires after this long unused, seconds (refreshed by each hit).
    pub ttl_s: f64,
    /// Price of a cached input token relative to the input price.
    pub read_multiplier: f64,
    /// Price of an input token written to the cache relative to the input price.
    pub write_multiplier: f64,
}

/// A published typical latency of an API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiLatency {
    /// Median time to first token, seconds (null: not published).
    pub median_ttft_s: Option<f64>,
    /// Median output tokens per second of one stream (null: not published).
    pub median_output_tokens_per_s: Option<f64>,
    /// When it was measured.
    pub date: String,
    /// Where it comes from.
    pub source: String,
    /// `high`, `medium` or `low`.
    pub confidence: String,
}

/// A per-token API.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// Id used in scenarios.
    pub id: String,
    /// Provider.
    pub provider: String,
    /// What it serves: an open-weight model id, `closed`, or `unknown` (an API defined in a
    /// scenario).
    pub serves: String,
    /// The model's name as the provider gives it.
    pub serves_name: String,
    /// The catalog model whose architecture and size it serves (null: closed or not in the
    /// catalog); same-model comparisons match on it.
    pub architecture: Option<String>,
    /// USD per million input tokens.
    pub input: f64,
    /// USD per million cached input tokens.
    pub cached_input: f64,
    /// USD per million output tokens.
    pub output: f64,
    /// Prompt-caching rule, if the API discounts cached input.
    pub caching: Option<CachingRule>,
    /// Hidden reasoning tokens are billed as output (not counted in the spend here).
    pub reasoning_tokens_billed_as_output: bool,
    /// When the price was checked.
    pub date: String,
    /// `high` (provider's page), `medium` (maintained catalog), `low` (secondary or stale).
    pub confidence: String,
    /// Where the figures come from.
    pub source: String,
    /// Published typical latency (null: none published).
    pub latency: Option<ApiLatency>,
    /// Discount of the provider's batch API as a fraction (null: none, or not known to apply).
    pub batch_fraction_off: Option<f64>,
    /// What the batch discount applies to.
    pub batch_note: String,
    /// Whether the batch discount applies on top of the prompt-caching discount (true) or to
    /// the uncached price only (false: Groq, whose batch rates do not stack with caching).
    #[serde(default = "default_true")]
    pub batch_stacks_with_caching: bool,
}

fn default_true() -> bool {
    true
}

impl Api {
    /// Whether it serves `model` (a catalog id): the same architecture and size, so the same
    /// serving cost. Its `architecture` is one catalog model; another catalog model of the same
    /// shape ([`Model::same_architecture`]: Llama-3.3-70B is Llama-3.1-70B's) matches too.
    pub fn serves_model(&self, model: &str) -> bool {
        let Some(arch) = self.architecture.as_deref() else {
            return false;
        };
        if arch == model {
            return true;
        }
        let c = Catalog::builtin();
        match (c.model(arch), c.model(model)) {
            (Ok(a), Ok(m)) => a.same_architecture(m),
            _ => false,
        }
    }
}

#[derive(Deserialize)]
struct PriceFile {
    #[allow(dead_code)]
    notes: String,
    gpu_prices: Vec<GpuPrice>,
}

#[derive(Deserialize)]
struct ApiFile {
    #[allow(dead_code)]
    notes: String,
    apis: Vec<Api>,
    default_apis: Vec<String>,
}

/// Fitted step-time parameters for one GPU family and weight precision (an engine profile's
/// `fits` in engines.json).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepTimeFit {
    /// GPU family.
    pub family: String,
    /// Weight precision: `bf16` or `fp8`.
    pub precision: String,
    /// Fraction of peak tensor FLOP/s.
    pub compute_efficiency: f64,
    /// Fraction of peak memory bandwidth.
    pub memory_efficiency: f64,
    /// Fraction of link bandwidth reached by all-reduce.
    pub link_efficiency: f64,
    /// Fixed time per step, ms.
    pub step_overhead_ms: f64,
    /// Time per sequence in a step, microseconds.
    pub seq_overhead_us: f64,
    /// Latency of one tensor-parallel all-reduce, microseconds (absent: the GPU catalog's).
    #[serde(default)]
    pub allreduce_latency_us: Option<f64>,
    /// Time per mixture-of-experts layer per step, microseconds; absent when the fit had no
    /// mixture-of-experts figure (a replica then takes it from the profile's nearest fit that
    /// had, see [`EngineProfile::moe_layer_overhead_for`]).
    #[serde(default)]
    pub moe_layer_overhead_us: Option<f64>,
    /// The fit of the same profile (`"{family} {precision}"`) whose per-step overhead this one
    /// holds rather than fits: a fit of mixture-of-experts figures only, which cannot tell it
    /// from the time per MoE layer, takes the engine's dense fit's (absent: fitted here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_overhead_from: Option<String>,
    /// Published figures it was fitted to.
    pub figures: u32,
    /// What those figures ran: GPUs, models and tensor-parallel sizes (written by `fleetsim
    /// validate --fit`), so a replica outside them is told its step times are extrapolated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted_on: Option<FitCoverage>,
}

/// The GPUs, models and tensor-parallel sizes of the figures a fit rests on.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FitCoverage {
    /// GPU ids, sorted.
    pub gpus: Vec<String>,
    /// Model ids, sorted.
    pub models: Vec<String>,
    /// Tensor-parallel sizes, ascending.
    pub tp: Vec<u32>,
}

#[derive(Deserialize)]
struct GpuFile {
    #[allow(dead_code)]
    notes: String,
    gpus: Vec<Gpu>,
}

#[derive(Deserialize)]
struct ModelFile {
    #[allow(dead_code)]
    notes: String,
    models: Vec<Model>,
}

/// The built-in catalog.
#[derive(Debug)]
pub struct Catalog {
    /// All GPUs.
    pub gpus: Vec<Gpu>,
    /// All models.
    pub models: Vec<Model>,
    /// GPU rental prices.
    pub gpu_prices: Vec<GpuPrice>,
    /// APIs.
    pub apis: Vec<Api>,
    /// APIs compared by default.
    pub default_apis: Vec<String>,
    /// Engine profiles (scheduler defaults and fitted step-time parameters).
    pub engines: Vec<EngineProfile>,
    /// The profile a replica without `engine` gets.
    pub default_engine: String,
    /// How the engine profiles were made (engines.json `notes`).
    pub engine_notes: String,
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn builtin() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // The JSON is part of the source tree and checked by a unit test; a parse failure here
            // is a build defect, not user input.
            let g: GpuFile =
                serde_json::from_str(include_str!("gpus.json")).expect("built-in gpus.json parses");
            let m: ModelFile = serde_json::from_str(include_str!("models.json"))
                .expect("built-in models.json parses");
            let p: PriceFile = serde_json::from_str(include_str!("prices.json"))
                .expect("built-in prices.json parses");
            let a: ApiFile =
                serde_json::from_str(include_str!("apis.json")).expect("built-in apis.json parses");
            let e: engines::EngineFile = serde_json::from_str(include_str!("engines.json"))
                .expect("built-in engines.json parses");
            Catalog {
                engines: e.engines,
                default_engine: e.default,
                engine_notes: e.notes,
                gpus: g.gpus,
                models: m.models,
                gpu_prices: p.gpu_prices,
                apis: a.apis,
                default_apis: a.default_apis,
            }
        })
    }

    /// Looks up a GPU by id (case-insensitive); the error lists the known ids.
    pub fn gpu(&self, id: &str) -> Result<&Gpu> {
        find(&self.gpus, id, "GPU", |g| &g.id)
    }

    /// Looks up an engine profile by id (case-insensitive); the error lists the known ids.
    pub fn engine(&self, id: &str) -> Result<&EngineProfile> {
        find(&self.engines, id, "engine", |e| &e.id)
    }

    /// Looks up an API by id (case-insensitive); the error lists the known ids.
    pub fn api(&self, id: &str) -> Result<&Api> {
        find(&self.apis, id, "API", |a| &a.id)
    }

    /// Looks up a model by id (case-insensitive); the error lists the known ids.
    pub fn model(&self, id: &str) -> Result<&Model> {
        find(&self.models, id, "model", |m| &m.id)
    }
}

/// The entry of `items` whose id is `id` (case-insensitive), or an error listing the known ids.
fn find<'a, T>(
    items: &'a [T],
    id: &str,
    kind: &'static str,
    key: impl Fn(&T) -> &String,
) -> Result<&'a T> {
    items
        .iter()
        .find(|x| key(x).eq_ignore_ascii_case(id))
        .ok_or_else(|| Error::Unknown {
            kind,
            name: id.to_string(),
            known: items
                .iter()
                .map(|x| key(x).as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_has_required_entries_with_sources() {
        let c = Catalog::builtin();
        for id in [
            "h100-sxm",
            "h100-pcie",
            "h200",
            "b200",
            "a100-80gb",
            "a100-40gb",
            "l40s",
            "l4",
            "mi300x",
        ] {
            let g = c.gpu(id).unwrap();
            assert!(!g.source.is_empty());
            assert!(g.bf16_tflops > 0.0 && g.mem_bw_tbps > 0.0 && g.memory_gib > 0.0);
        }
        for id in [
            "llama-3.1-8b",
            "llama-3.1-70b",
            "llama-3.1-405b",
            "llama-3.2-3b",
            "qwen2.5-7b",
            "qwen2.5-72b",
            "mistral-7b",
            "mixtral-8x7b",
        ] {
            let m = c.model(id).unwrap();
            assert!(!m.source.is_empty());
            assert!(m.active_params_b <= m.total_params_b);
        }
    }

    #[test]
    fn kv_bytes_match_reference_figures() {
        // Published KV bytes per token (BF16) of each model: layers x KV heads x head dim x 2 x 2.
        let c = Catalog::builtin();
        assert_eq!(
            c.model("llama-3.1-8b").unwrap().kv_bytes_per_token_bf16(),
            131072
        );
        assert_eq!(
            c.model("llama-3.1-70b").unwrap().kv_bytes_per_token_bf16(),
            327680
        );
        assert_eq!(
            c.model("qwen2.5-7b").unwrap().kv_bytes_per_token_bf16(),
            57344
        );
        // Mixtral: 32 layers x 8 experts x 3 x 4096 x 14336 = 45.1e9 expert params of 46.7e9.
        let mx = c.model("mixtral-8x7b").unwrap();
        assert!((mx.expert_params() / 1e9 - 45.1).abs() < 0.1);
    }

    #[test]
    fn prices_and_apis_are_sourced_and_known() {
        let c = Catalog::builtin();
        for p in &c.gpu_prices {
            assert!(c.gpu(&p.gpu).is_ok(), "{}", p.gpu);
            assert!(!p.source.is_empty() && p.usd_per_gpu_hour > 0.0);
        }
        for id in &c.default_apis {
            assert!(c.api(id).is_ok(), "{id}");
        }
        let levels = ["high", "medium", "low"];
        for a in &c.apis {
            let id = &a.id;
            assert!(!a.source.is_empty() && !a.date.is_empty(), "{id}");
            assert!(levels.contains(&a.confidence.as_str()), "{id}");
            assert!(
                a.input > 0.0 && a.output > 0.0 && a.cached_input <= a.input,
                "{id}"
            );
            if let Some(r) = &a.caching {
                assert!(
                    (a.cached_input - a.input * r.read_multiplier).abs() < 1e-9 && r.ttl_s > 0.0,
                    "{id}"
                );
            }
            // An open-weight endpoint names the catalog model it serves; a closed one none.
            match &a.architecture {
                Some(m) => assert!(c.model(m).is_ok(), "{id}: {m}"),
                None => assert_eq!(a.serves, "closed", "{id}"),
            }
            if let Some(l) = &a.latency {
                assert!(levels.contains(&l.confidence.as_str()) && !l.source.is_empty());
            }
        }
    }

    /// The only two catalog models of one architecture are Llama-3.1-70B and Llama-3.3-70B, and
    /// every Llama-70B endpoint serves both; gpt-oss-20b's endpoints do not serve gpt-oss-120b.
    #[test]
    fn same_architecture_pairs_and_endpoints() {
        let c = Catalog::builtin();
        let mut pairs = Vec::new();
        for (i, a) in c.models.iter().enumerate() {
            assert!(a.same_architecture(a), "{}", a.id);
            for b in &c.models[i + 1..] {
                if a.same_architecture(b) {
                    pairs.push((a.id.as_str(), b.id.as_str()));
                }
            }
        }
        assert_eq!(pairs, [("llama-3.1-70b", "llama-3.3-70b")]);
        for id in ["llama-3.1-70b", "llama-3.3-70b"] {
            let serving: Vec<&str> = c
                .apis
                .iter()
                .filter(|a| a.serves_model(id))
                .map(|a| a.id.as_str())
                .collect();
            assert_eq!(serving.len(), 4, "{id}: {serving:?}");
            assert!(serving.contains(&"groq-llama-3.3-70b"), "{id}");
        }
        let oss: Vec<&str> = c
            .apis
            .iter()
            .filter(|a| a.serves_model("gpt-oss-120b"))
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(
            oss,
            [
                "together-gpt-oss-120b",
                "fireworks-gpt-oss-120b",
                "groq-gpt-oss-120b"
            ]
        );
    }

    #[test]
    fn unknown_names_list_known_ones() {
        let e = Catalog::builtin().gpu("h1000").unwrap_err().to_string();
        assert!(e.contains("h1000") && e.contains("h100-sxm"), "{e}");
    }
}
