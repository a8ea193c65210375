//! Models from their Hugging Face `config.json`: the fields that decide a model's size and cost
//! (layers, hidden size, heads, KV heads, head dim, intermediate size, vocabulary, tied
//! embeddings, context length; for mixture-of-experts the experts, experts per token and their
//! intermediate size), and the parameter counts computed from them.
//!
//! Parameters: embeddings (vocabulary x hidden, twice unless tied), per layer the attention
//! projections (q and o: hidden x heads x head dim; k and v: hidden x KV heads x head dim), the
//! MLP (gate, up and down: 3 x hidden x intermediate, or per expert for mixture-of-experts plus
//! the router, hidden x experts) and two norms (hidden each), and a final norm. Active parameters
//! count `experts_per_token` experts instead of all. Architectures this does not describe yet
//! (multi-head latent attention, shared experts, leading dense layers) are refused naming the
//! field, rather than sized wrongly.

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
    for (field, what) in [
        (
            "kv_lora_rank",
            "multi-head latent attention (DeepSeek-V2/V3)",
        ),
        ("n_shared_experts", "shared experts"),
        (
            "first_k_dense_replace",
            "leading dense layers in a mixture-of-experts model",
        ),
    ] {
        if obj
            .get(field)
            .is_some_and(|x| !x.is_null() && x.as_u64() != Some(0))
        {
            return Err(parse_err(
                path,
                field,
                format!("{what} is not modelled yet: this model cannot be sized from its config"),
            ));
        }
    }
    let hidden = required(obj, path, "hidden_size")?;
    let layers = required(obj, path, "num_hidden_layers")?;
    let heads = required(obj, path, "num_attention_heads")?;
    let kv_heads = count(obj, path, "num_key_value_heads")?.unwrap_or(heads);
    let head_dim = count(obj, path, "head_dim")?.unwrap_or(hidden / heads);
    let vocab = required(obj, path, "vocab_size")?;
    let max_len = required(obj, path, "max_position_embeddings")?;
    let tied = obj
        .get("tie_word_embeddings")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let experts = match count(obj, path, "num_local_experts")? {
        Some(e) => Some(e),
        None => count(obj, path, "num_experts")?,
    };
    let (experts, per_token, inter) = match experts.filter(|&e| e > 1) {
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
            (Some(e), Some(k), inter)
        }
        None => (None, None, required(obj, path, "intermediate_size")?),
    };
    if kv_heads > heads || heads % kv_heads != 0 {
        return Err(parse_err(
            path,
            "num_key_value_heads",
            format!("{kv_heads} does not divide the {heads} attention heads"),
        ));
    }
    let (h, l) = (hidden as f64, layers as f64);
    let attention = h * (2 * heads * head_dim + 2 * kv_heads * head_dim) as f64;
    let mlp = 3.0 * h * inter as f64;
    let router = experts.map_or(0.0, |e| h * e as f64);
    let norms = 2.0 * h;
    let embeddings = vocab as f64 * h * if tied { 1.0 } else { 2.0 };
    let per_layer = |n_experts: u64| attention + mlp * n_experts as f64 + router + norms;
    let total = embeddings + h + l * per_layer(experts.unwrap_or(1));
    let active = embeddings + h + l * per_layer(per_token.unwrap_or(1));
    let name = obj
        .get("_name_or_path")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(id);
    let sliding = obj
        .get("sliding_window")
        .is_some_and(|x| !x.is_null() && x.as_u64().is_some());
    Ok(Model {
        id: id.to_string(),
        name: name.to_string(),
        hidden_size: hidden as u32,
        layers: layers as u32,
        heads: heads as u32,
        kv_heads: kv_heads as u32,
        head_dim: head_dim as u32,
        intermediate_size: inter as u32,
        vocab_size: vocab as u32,
        tie_word_embeddings: tied,
        total_params_b: total / 1e9,
        active_params_b: active / 1e9,
        experts: experts.map(|e| e as u32),
        experts_per_token: per_token.map(|k| k as u32),
        max_model_len: max_len.min(u32::MAX as u64) as u32,
        source: format!(
            "{}{}",
            path.display(),
            if sliding {
                " (sliding-window layers counted as full attention: their KV cache is overstated)"
            } else {
                ""
            }
        ),
    })
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
        for c in &Catalog::builtin().models {
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
            let m = model_from_config(&c.id, &cfg.to_string(), Path::new("c.json")).unwrap();
            for (got, want, what) in [
                (m.total_params_b, c.total_params_b, "total"),
                (m.active_params_b, c.active_params_b, "active"),
            ] {
                assert!(
                    (got - want).abs() / want < 0.01,
                    "{}: {what} {got:.3}B vs {want}B",
                    c.id
                );
            }
            assert_eq!(
                m.kv_bytes_per_token_bf16(),
                c.kv_bytes_per_token_bf16(),
                "{}",
                c.id
            );
        }
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
        assert!(e.contains("kv_lora_rank") && e.contains("latent"), "{e}");
        let bad = LLAMA_8B.replace("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5");
        let e = model_from_config("x", &bad, Path::new("c.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
    }
}
