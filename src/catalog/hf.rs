//! Models from their Hugging Face `config.json`: the fields that decide a model's size and cost
//! (layers, hidden size, heads, KV heads, head dim, intermediate size, vocabulary, tied
//! embeddings, context length; for mixture-of-experts the experts, experts per token and their
//! intermediate size), and the parameter counts computed from them.
//!
//! Parameters: embeddings (vocabulary x hidden, twice unless tied), per layer the attention
//! projections (q and o: hidden x heads x head dim; k and v: hidden x KV heads x head dim), the
//! MLP (gate, up and down: 3 x hidden x intermediate, or per expert for mixture-of-experts plus
//! the router, hidden x experts) and two norms (hidden each), and a final norm. Active parameters
//! count `experts_per_token` experts instead of all. Also: multi-head latent attention
//! (DeepSeek-V2/V3: `kv_lora_rank`, `q_lora_rank`, `qk_nope_head_dim`, `qk_rope_head_dim`,
//! `v_head_dim`), shared experts (`n_shared_experts`, `shared_expert_intermediate_size`, Llama
//! 4's), leading dense layers (`first_k_dense_replace`) and interleaved ones (Llama 4's
//! `interleave_moe_layer_step`, `intermediate_size_mlp`), and sliding-window or chunked
//! attention layers (see `sliding_layers`). Biases, attention sinks and multi-token-prediction
//! layers are left out (under 0.1% of these models).

use std::path::Path;

use serde_json::{Map, Value};

use super::Model;
use crate::error::{Error, Result};

fn parse_err(path: &Path, field: &str, msg: impl Into<String>) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        msg: format!("field `{field}`: {}", msg.into()),
    }
}

/// A count field, or the error naming it.
fn count(obj: &Map<String, Value>, path: &Path, field: &str) -> Result<Option<u64>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 && n < 1 << 32 => Ok(Some(n)),
            _ => Err(parse_err(
                path,
                field,
                format!("must be a positive whole number, got {v}"),
            )),
        },
    }
}

fn required(obj: &Map<String, Value>, path: &Path, field: &str) -> Result<u64> {
    count(obj, path, field)?.ok_or_else(|| {
        parse_err(
            path,
            field,
            "missing: a model's size cannot be computed without it",
        )
    })
}

/// The model that `text` (a `config.json`, read from `path`) describes, under the id `id`.
pub fn model_from_config(id: &str, text: &str, path: &Path) -> Result<Model> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line() as u64,
        field: "(config)".into(),
        msg: e.to_string(),
    })?;
    // Multimodal configs keep the language model's fields under `text_config`.
    let obj = match v.get("text_config") {
        Some(Value::Object(t)) => t,
        _ => v
            .as_object()
            .ok_or_else(|| parse_err(path, "(config)", "a config.json is a JSON object"))?,
    };
    unmodelled_layers(&v, obj, path)?;
    let hidden = required(obj, path, "hidden_size")?;
    let layers = required(obj, path, "num_hidden_layers")?;
    let heads = required(obj, path, "num_attention_heads")?;
    let vocab = required(obj, path, "vocab_size")?;
    let max_len = required(obj, path, "max_position_embeddings")?;
    let tied = obj
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (h, l) = (hidden as f64, layers as f64);
    // Attention: multi-head latent (DeepSeek-V2/V3) or grouped-query.
    let mla = count(obj, path, "kv_lora_rank")?;
    let (attention, kv_heads, head_dim, rope) = match mla {
        Some(r) => {
            let rope = required(obj, path, "qk_rope_head_dim")?;
            let nope = required(obj, path, "qk_nope_head_dim")?;
            let v_head = required(obj, path, "v_head_dim")?;
            let qk = (nope + rope) as f64;
            let hf = heads as f64;
            let q = match count(obj, path, "q_lora_rank")? {
                Some(ql) => h * ql as f64 + ql as f64 + ql as f64 * hf * qk,
                None => h * hf * qk,
            };
            let kv_a = h * (r + rope) as f64 + r as f64;
            let kv_b = r as f64 * hf * (nope + v_head) as f64;
            let o = hf * v_head as f64 * h;
            (q + kv_a + kv_b + o, heads, nope + rope, Some(rope))
        }
        None => {
            let kv_heads = count(obj, path, "num_key_value_heads")?.unwrap_or(heads);
            let head_dim = count(obj, path, "head_dim")?.unwrap_or(hidden / heads);
            if kv_heads > heads || heads % kv_heads != 0 {
                return Err(parse_err(
                    path,
                    "num_key_value_heads",
                    format!("{kv_heads} does not divide the {heads} attention heads"),
                ));
            }
            let a = h * (2 * heads * head_dim + 2 * kv_heads * head_dim) as f64;
            (a, kv_heads, head_dim, None)
        }
    };
    // Experts: routed (under any of the names configs use), shared, and which layers have them.
    let experts = match count(obj, path, "num_local_experts")? {
        Some(e) => Some(e),
        None => match count(obj, path, "num_experts")? {
            Some(e) => Some(e),
            None => count(obj, path, "n_routed_experts")?,
        },
    };
    let dense_inter = match count(obj, path, "intermediate_size_mlp")? {
        Some(i) => i,
        None => required(obj, path, "intermediate_size")?,
    };
    let norms = 2.0 * h;
    let dense_layer = attention + 3.0 * h * dense_inter as f64 + norms;
    let (total_layers, active_layers, moe) = match experts.filter(|&e| e > 1) {
        Some(e) => {
            let k = required(obj, path, "num_experts_per_tok")?;
            if k > e {
                return Err(parse_err(
                    path,
                    "num_experts_per_tok",
                    format!("{k} is more than the {e} experts"),
                ));
            }
            let inter = match count(obj, path, "moe_intermediate_size")? {
                Some(i) => i,
                None => required(obj, path, "intermediate_size")?,
            };
            let expert = 3.0 * h * inter as f64;
            // Shared experts every token runs: DeepSeek's n_shared_experts of the expert size,
            // Qwen2-MoE's shared_expert_intermediate_size, Llama 4's one of the expert size.
            let llama4 = obj.contains_key("interleave_moe_layer_step");
            let shared = count(obj, path, "n_shared_experts")?.unwrap_or(0) as f64 * expert
                + count(obj, path, "shared_expert_intermediate_size")?
                    .map_or(0.0, |i| 3.0 * h * i as f64)
                + if llama4 { expert } else { 0.0 };
            // Which layers are mixture-of-experts: all but the first `first_k_dense_replace`,
            // or every `interleave_moe_layer_step`-th.
            let first_dense = count(obj, path, "first_k_dense_replace")?.unwrap_or(0);
            let step = count(obj, path, "interleave_moe_layer_step")?.unwrap_or(1);
            if first_dense >= layers {
                return Err(parse_err(
                    path,
                    "first_k_dense_replace",
                    format!("{first_dense} is not below the {layers} layers"),
                ));
            }
            let moe_layers = ((layers - first_dense) / step) as f64;
            let dense_layers = l - moe_layers;
            let moe_layer = |n: f64| attention + norms + n * expert + shared + h * e as f64;
            (
                dense_layers * dense_layer + moe_layers * moe_layer(e as f64),
                dense_layers * dense_layer + moe_layers * moe_layer(k as f64),
                Some((e, k, inter, moe_layers * e as f64 * expert, moe_layers < l)),
            )
        }
        None => (l * dense_layer, l * dense_layer, None),
    };
    let embeddings = vocab as f64 * h * if tied { 1.0 } else { 2.0 };
    let total = embeddings + h + total_layers;
    let active = embeddings + h + active_layers;
    let name = obj
        .get("_name_or_path")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(id);
    let (window, window_layers) = sliding_layers(obj, path, layers)?;
    Ok(Model {
        fp4_experts_only: moe.is_some() && mxfp4_experts_only(&v),
        id: id.to_string(),
        name: name.to_string(),
        hidden_size: hidden as u32,
        layers: layers as u32,
        heads: heads as u32,
        kv_heads: kv_heads as u32,
        head_dim: head_dim as u32,
        intermediate_size: moe.map_or(dense_inter, |m| m.2) as u32,
        vocab_size: vocab as u32,
        tie_word_embeddings: tied,
        total_params_b: total / 1e9,
        active_params_b: active / 1e9,
        experts: moe.map(|m| m.0 as u32),
        experts_per_token: moe.map(|m| m.1 as u32),
        max_model_len: max_len.min(u32::MAX as u64) as u32,
        // Set when the routed experts are not 3 x hidden x expert size in every layer.
        expert_params_b: moe.filter(|m| m.4).map(|m| m.3 / 1e9),
        kv_lora_rank: mla.map(|r| r as u32),
        qk_rope_head_dim: rope.map(|r| r as u32),
        sliding_window: window,
        sliding_window_layers: window.map(|_| window_layers),
        source: path.display().to_string(),
    })
}

/// Whether the config's `quantization_config` describes a checkpoint of MXFP4 experts whose
/// attention stays unquantized (gpt-oss: `quant_method` `mxfp4`, `modules_to_not_convert`
/// naming the attention layers).
fn mxfp4_experts_only(config: &Value) -> bool {
    let Some(q) = config.get("quantization_config") else {
        return false;
    };
    q.get("quant_method").and_then(Value::as_str) == Some("mxfp4")
        && q.get("modules_to_not_convert")
            .and_then(Value::as_array)
            .is_some_and(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .any(|s| s.contains("attn"))
            })
}

/// Architectures whose layers are not all attention with a KV cache: linear attention (Gated
/// DeltaNet in Qwen3-Next and Qwen3.5), state-space layers (Mamba in Jamba, Nemotron-H,
/// Falcon-H1), recurrent blocks (RecurrentGemma), or an encoder. Their memory per sequence and
/// step cost are not what the roofline computes, so such a config is refused naming the field
/// that shows it, rather than sized as if every layer were full attention.
const UNMODELLED_KEYS: [(&str, &str); 9] = [
    (
        "full_attention_interval",
        "linear-attention (Gated DeltaNet) layers between the full-attention ones",
    ),
    (
        "linear_num_value_heads",
        "linear-attention (Gated DeltaNet) layers",
    ),
    ("hybrid_override_pattern", "Mamba state-space layers"),
    ("attn_layer_period", "Mamba state-space layers"),
    ("mamba_d_state", "Mamba state-space layers"),
    ("ssm_state_size", "state-space layers"),
    ("mamba_d_ssm", "Mamba state-space layers"),
    ("block_types", "recurrent blocks"),
    ("encoder_layers", "an encoder (encoder-decoder model)"),
];

/// Refuses a config with layers the model does not cover (see [`UNMODELLED_KEYS`]); `layer_types`
/// may name full, sliding-window and chunked attention layers only.
fn unmodelled_layers(top: &Value, obj: &Map<String, Value>, path: &Path) -> Result<()> {
    let what = "fleetsim models decoder layers of full, sliding-window or chunked attention with a KV cache";
    for (key, kind) in UNMODELLED_KEYS {
        if obj.contains_key(key) || top.get(key).is_some() {
            return Err(parse_err(
                path,
                key,
                format!("this architecture has {kind}, which are not modelled ({what})"),
            ));
        }
    }
    if top.get("is_encoder_decoder").and_then(Value::as_bool) == Some(true) {
        return Err(parse_err(
            path,
            "is_encoder_decoder",
            format!("an encoder-decoder model is not modelled ({what})"),
        ));
    }
    if let Some(Value::Array(types)) = obj.get("layer_types") {
        for t in types {
            let ok = t.as_str().is_some_and(|t| {
                t.contains("full") || t.contains("sliding") || t.contains("chunked")
            });
            if !ok {
                return Err(parse_err(
                    path,
                    "layer_types",
                    format!("layer type {t} is not modelled ({what})"),
                ));
            }
        }
    }
    Ok(())
}

/// The sliding-window (or chunked) attention of a config: its window and how many layers use
/// it, from `layer_types` (gpt-oss, newer Gemma and Qwen configs), `sliding_window_pattern`
/// (Gemma 3: every n-th layer global), Llama 4's `attention_chunk_size` with `no_rope_layers`,
/// or a bare `sliding_window` (every layer, as Mistral-7B-v0.1). `use_sliding_window: false`
/// (Qwen) turns it off.
fn sliding_layers(
    obj: &Map<String, Value>,
    path: &Path,
    layers: u64,
) -> Result<(Option<u32>, u32)> {
    if obj.get("use_sliding_window").and_then(Value::as_bool) == Some(false) {
        return Ok((None, 0));
    }
    let window = match count(obj, path, "sliding_window")? {
        Some(w) => Some(w),
        None => count(obj, path, "attention_chunk_size")?,
    };
    let Some(w) = window else {
        return Ok((None, 0));
    };
    let n = if let Some(Value::Array(types)) = obj.get("layer_types") {
        types
            .iter()
            .filter(|t| {
                t.as_str()
                    .is_some_and(|t| t.contains("sliding") || t.contains("chunked"))
            })
            .count() as u64
    } else if let Some(p) = count(obj, path, "sliding_window_pattern")? {
        layers - layers / p
    } else if let Some(Value::Array(rope)) = obj.get("no_rope_layers") {
        // Llama 4: layers with RoPE (1) attend within the chunk; NoPE layers (0) see everything.
        rope.iter().filter(|x| x.as_u64() == Some(1)).count() as u64
    } else if obj.contains_key("attention_chunk_size") {
        // Llama 4 without the list: three layers in four are chunked.
        layers - layers / 4
    } else {
        layers
    };
    Ok((Some(w.min(u32::MAX as u64) as u32), n.min(layers) as u32))
}

/// A model shipped in `models/ID/config.json` (tests).
#[cfg(test)]
pub(crate) fn shipped_model(id: &str) -> Model {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(id)
        .join("config.json");
    model_from_config(id, &std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    const LLAMA_8B: &str = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
        "intermediate_size": 14336, "max_position_embeddings": 131072, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "tie_word_embeddings": false,
        "vocab_size": 128256}"#;

    #[test]
    fn llama_8b_from_its_config_matches_the_catalog() {
        let m = model_from_config("x", LLAMA_8B, Path::new("config.json")).unwrap();
        let c = Catalog::builtin().model("llama-3.1-8b").unwrap();
        // By hand: embeddings 2 x 128256 x 4096 = 1,050,673,152; per layer q, o 4096 x 4096,
        // k, v 4096 x 1024, MLP 3 x 4096 x 14336, norms 2 x 4096 = 218,112,000; x 32 layers
        // = 6,979,584,000; final norm 4,096: 8,030,261,248.
        assert_eq!((m.total_params_b * 1e9).round() as u64, 8_030_261_248);
        assert!((m.total_params_b - c.total_params_b).abs() / c.total_params_b < 0.01);
        assert_eq!(m.kv_bytes_per_token_bf16(), c.kv_bytes_per_token_bf16());
        assert_eq!((m.head_dim, m.kv_heads, m.max_model_len), (128, 8, 131072));
        assert_eq!(m.active_params_b, m.total_params_b);
    }

    #[test]
    fn mixture_of_experts_counts_all_experts_in_memory_and_k_per_token() {
        // Mixtral-8x7B's config.
        let mixtral = r#"{"hidden_size": 4096, "intermediate_size": 14336,
            "max_position_embeddings": 32768, "num_attention_heads": 32, "num_hidden_layers": 32,
            "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
            "vocab_size": 32000, "tie_word_embeddings": false}"#;
        let m = model_from_config("mixtral", mixtral, Path::new("c.json")).unwrap();
        // Published: 46.7B total, 12.9B active.
        assert!(
            (m.total_params_b - 46.7).abs() < 0.1,
            "{}",
            m.total_params_b
        );
        assert!(
            (m.active_params_b - 12.9).abs() < 0.1,
            "{}",
            m.active_params_b
        );
        assert_eq!((m.experts, m.experts_per_token), (Some(8), Some(2)));
    }

    /// Every catalog model (its figures are its config.json's) sized from a config built of those
    /// fields gives the published parameter count within 1% and the same KV bytes per token.
    #[test]
    fn every_catalog_model_round_trips_through_its_config() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for c in &Catalog::builtin().models {
            // A model shipped with its config.json: that file gives the catalog's figures;
            // the others, a config built of their fields.
            let shipped = root.join("models").join(&c.id).join("config.json");
            let m = if shipped.exists() {
                shipped_model(&c.id)
            } else {
                let mut cfg = serde_json::json!({
                    "hidden_size": c.hidden_size,
                    "num_hidden_layers": c.layers,
                    "num_attention_heads": c.heads,
                    "num_key_value_heads": c.kv_heads,
                    "head_dim": c.head_dim,
                    "intermediate_size": c.intermediate_size,
                    "vocab_size": c.vocab_size,
                    "tie_word_embeddings": c.tie_word_embeddings,
                    "max_position_embeddings": c.max_model_len,
                });
                if let (Some(e), Some(k)) = (c.experts, c.experts_per_token) {
                    cfg["num_local_experts"] = e.into();
                    cfg["num_experts_per_tok"] = k.into();
                }
                model_from_config(&c.id, &cfg.to_string(), Path::new("c.json")).unwrap()
            };
            for (got, want, what) in [
                (m.total_params_b * 1e9, c.total_params_b * 1e9, "total"),
                (m.active_params_b * 1e9, c.active_params_b * 1e9, "active"),
                (m.expert_params(), c.expert_params(), "routed experts"),
            ] {
                assert!(
                    (got - want).abs() <= 0.01 * want.abs(),
                    "{}: {what} {got:.4e} vs {want:.4e}",
                    c.id
                );
            }
            assert_eq!(
                (
                    m.kv_bytes_per_token_bf16(),
                    m.sliding_window,
                    m.sliding_layers(),
                    m.kv_lora_rank,
                    m.fp4_experts_only
                ),
                (
                    c.kv_bytes_per_token_bf16(),
                    c.sliding_window,
                    c.sliding_layers(),
                    c.kv_lora_rank,
                    c.fp4_experts_only
                ),
                "{}",
                c.id
            );
        }
    }

    /// Hand computations (weights and KV bytes per token) for one dense, one MoE and one
    /// latent-attention model shipped in models/.
    #[test]
    fn shipped_configs_match_hand_computation() {
        use crate::perf::Precision as P;
        let gib = 1024f64.powi(3);
        // Llama-3.3-70B: embeddings 2 x 128256 x 8192 = 2,101,346,304; per layer q, o 8192 x
        // 8192, k, v 8192 x 1024, MLP 3 x 8192 x 28672, norms 2 x 8192 = 855,654,400; x 80 =
        // 68,452,352,000; final norm 8,192: 70,553,706,496. KV 2 x 80 x 8 x 128 x 2 = 327,680.
        let m = shipped_model("llama-3.3-70b");
        assert_eq!((m.total_params_b * 1e9).round() as u64, 70_553_706_496);
        assert_eq!(m.kv_bytes_per_token_bf16(), 327_680);
        // FP4: (70,553,706,496 - 2,101,346,304) x 4.5 / 8 + 2,101,346,304 x 2 bytes.
        let fp4 = (70_553_706_496f64 - 2_101_346_304.0) * 0.5625 + 2_101_346_304.0 * 2.0;
        assert!((P::Fp4.model_weight_bytes(&m) - fp4).abs() < 1.0);
        assert!((P::Fp8.model_weight_bytes(&m) / gib - 65.71).abs() < 0.01);
        // gpt-oss-20b: attention 2880 x (2 x 64 x 64 + 2 x 8 x 64) = 26,542,080; experts
        // 32 x 3 x 2880 x 2880 = 796,262,400; router 92,160; norms 5,760: 822,902,400 a layer,
        // x 24 = 19,749,657,600; embeddings 2 x 201088 x 2880 = 1,158,266,880; final norm 2,880:
        // 20,907,927,360. Active: 4 experts (99,532,800) instead of 32: 4,186,096,... per the
        // same sum. KV: 12 full layers x 2 x 8 x 64 x 2 = 24,576 bytes a token, and 12
        // sliding layers holding at most 128 tokens.
        let m = shipped_model("gpt-oss-20b");
        assert_eq!((m.total_params_b * 1e9).round() as u64, 20_907_927_360);
        let active =
            1_158_266_880.0 + 2880.0 + 24.0 * (26_542_080.0 + 99_532_800.0 + 92_160.0 + 5_760.0);
        assert!((m.active_params_b * 1e9 - active).abs() < 1.0);
        assert_eq!(m.kv_bytes_per_token_bf16(), 24_576);
        assert_eq!((m.sliding_window, m.sliding_layers()), (Some(128), 12));
        assert_eq!(
            crate::perf::roofline::sliding_kv_bytes_per_token_per_gpu(&m, 1, 2),
            24_576
        );
        // Its checkpoint (`quantization_config`: MXFP4, attention, router, embedding and LM
        // head not converted): the 24 x 796,262,400 = 19,110,297,600 expert weights at 4.25
        // bits, the other 1,797,629,760 at 16: 10,152,345,600 + 3,595,259,520 bytes, 12.80 GiB.
        assert!(m.fp4_experts_only);
        let fp4 = 19_110_297_600.0 * 4.25 / 8.0 + 1_797_629_760.0 * 2.0;
        assert!((P::Fp4.model_weight_bytes(&m) - fp4).abs() < 1.0);
        assert!((fp4 / gib - 12.80).abs() < 0.005, "{}", fp4 / gib);
        // Other precisions are not that checkpoint: FP8 takes a byte for every weight.
        assert!((P::Fp8.model_weight_bytes(&m) - 20_907_927_360.0).abs() < 1.0);
        // DeepSeek-V3: latent 512 + rotary 64 per layer, one copy per GPU: 61 x 576 x 2 bytes =
        // 70,272 a token at any tensor parallelism; attention per layer q 7168 x 1536 + 1536 +
        // 1536 x 128 x 192, kv_a 7168 x 576 + 512, kv_b 512 x 128 x 256, o 128 x 128 x 7168 =
        // 187,107,328; routed experts 58 layers x 256 x 3 x 7168 x 2048 = 653,908,770,816.
        let m = shipped_model("deepseek-v3");
        assert_eq!(m.kv_bytes_per_token_bf16(), 70_272);
        assert_eq!(
            crate::perf::roofline::kv_bytes_per_token_per_gpu(&m, 8, 1),
            35_136
        );
        assert_eq!(m.expert_params().round() as u64, 653_908_770_816);
        let attention = 7168.0 * 1536.0
            + 1536.0
            + 1536.0 * 128.0 * 192.0
            + 7168.0 * 576.0
            + 512.0
            + 512.0 * 128.0 * 256.0
            + 128.0 * 128.0 * 7168.0;
        assert_eq!(attention, 187_107_328.0);
        let expert = 3.0 * 7168.0 * 2048.0;
        let dense = 3.0 * (attention + 3.0 * 7168.0 * 18432.0 + 2.0 * 7168.0);
        let moe = 58.0 * (attention + 2.0 * 7168.0 + 257.0 * expert + 7168.0 * 256.0);
        let total = dense + moe + 2.0 * 129_280.0 * 7168.0 + 7168.0;
        assert!(
            (m.total_params_b * 1e9 - total).abs() < 1.0,
            "{} vs {total}",
            m.total_params_b
        );
        assert!((m.total_params_b - 671.0).abs() < 0.1 && (m.active_params_b - 37.55).abs() < 0.01);
    }

    #[test]
    fn missing_fields_and_unmodelled_architectures_are_named() {
        let no_layers = LLAMA_8B.replace("\"num_hidden_layers\": 32,", "");
        let e = model_from_config("x", &no_layers, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("num_hidden_layers") && e.contains("missing"),
            "{e}"
        );
        let mla = LLAMA_8B.replace('{', r#"{"kv_lora_rank": 512, "#);
        let e = model_from_config("x", &mla, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("qk_rope_head_dim") && e.contains("missing"),
            "{e}"
        );
        let bad = LLAMA_8B.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5");
        let e = model_from_config("x", &bad, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
        // Layers that are not attention with a KV cache are refused, not sized as attention:
        // Qwen3-Next's Gated DeltaNet, Nemotron-H's and Jamba's Mamba, an encoder-decoder.
        for (extra, field) in [
            (
                r#""layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"], "#,
                "layer_types",
            ),
            (
                r#""full_attention_interval": 4, "#,
                "full_attention_interval",
            ),
            (
                r#""hybrid_override_pattern": "M-M-M*-", "#,
                "hybrid_override_pattern",
            ),
            (
                r#""attn_layer_period": 8, "attn_layer_offset": 4, "#,
                "attn_layer_period",
            ),
            (r#""is_encoder_decoder": true, "#, "is_encoder_decoder"),
        ] {
            let cfg = LLAMA_8B.replacen('{', &format!("{{{extra}"), 1);
            let e = model_from_config("x", &cfg, Path::new("c.json"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(field) && e.contains("not modelled"), "{e}");
        }
        // Full and sliding-window layer types are modelled.
        let gemma_like = LLAMA_8B.replacen(
            '{',
            r#"{"sliding_window": 1024, "layer_types": ["sliding_attention", "full_attention"], "#,
            1,
        );
        let m = model_from_config("x", &gemma_like, Path::new("c.json")).unwrap();
        assert_eq!(m.sliding_window, Some(1024));
    }
}
