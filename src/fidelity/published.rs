//! The published measurements as simulations: for each entry of `catalog/calibration.json`, the
//! catalog model, GPU and precision it names, the engine settings its source documents
//! (`EngineSetup`), the workload it ran (fixed lengths, or ShareGPT lengths scaled to the
//! benchmarks' own means) and how to read each published figure off a simulated summary.

use std::path::Path;

use serde_json::Value;

use serde::Serialize;

use crate::error::{Error, Result};

/// What a measurement measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Tokens or requests per second.
    Throughput,
    /// Time to first token.
    Ttft,
    /// Time per output token, or inter-token latency.
    Tpot,
    /// End-to-end latency.
    E2e,
}

const SHAREGPT: &str = "traces/sharegpt-lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv";

fn model_id(name: &str) -> Option<&'static str> {
    if name.contains("405B") {
        Some("llama-3.1-405b")
    } else if name.contains("70B") {
        Some("llama-3.1-70b")
    } else if name.contains("8B") {
        Some("llama-3.1-8b")
    } else {
        None
    }
}

fn gpu_id(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_uppercase();
    if n.starts_with("GH200") {
        None
    } else if n.starts_with("H200") {
        Some("h200")
    } else if n.starts_with("H100") {
        Some("h100-sxm")
    } else if n.starts_with("A100") {
        Some("a100-80gb")
    } else if n.starts_with("L40S") {
        Some("l40s")
    } else if n.starts_with("B200") {
        Some("b200")
    } else {
        None
    }
}

/// A published figure: (metric, kind, measured value, how to read the prediction).
pub(crate) type Figure = (String, Kind, f64, fn(&crate::metrics::Summary) -> f64);

/// One simulation to run and the figures it predicts.
pub(crate) struct Job {
    pub(crate) setup: String,
    pub(crate) workload: String,
    pub(crate) scenario: Option<String>,
    pub(crate) skip: String,
    /// (metric, kind, measured, how to read the prediction from the summary).
    pub(crate) figures: Vec<Figure>,
    pub(crate) note: String,
    /// Metric names (`*`: all) an unmodelled engine feature dominates, with the reason.
    pub(crate) unmodelled: Vec<(&'static str, &'static str)>,
    /// Cross-validation fold (0 or 1).
    pub(crate) fold: u8,
    /// Engine profile the setup runs (`replica.engine`).
    pub(crate) profile: String,
    /// A held-out test figure: predicted, never fitted.
    pub(crate) test: bool,
}

pub(crate) fn out_tok(s: &crate::metrics::Summary) -> f64 {
    s.throughput.output_tokens_per_s
}
fn req_s(s: &crate::metrics::Summary) -> f64 {
    s.throughput.requests_per_s
}
pub(crate) fn ttft(s: &crate::metrics::Summary) -> f64 {
    s.latency.ttft_s.p50 * 1e3
}
fn tpot(s: &crate::metrics::Summary) -> f64 {
    s.latency.tpot_s.p50 * 1e3
}
pub(crate) fn itl_p50(s: &crate::metrics::Summary) -> f64 {
    s.latency.itl_s.p50 * 1e3
}
pub(crate) fn itl_mean(s: &crate::metrics::Summary) -> f64 {
    s.latency.itl_s.mean * 1e3
}
fn e2e(s: &crate::metrics::Summary) -> f64 {
    s.latency.e2e_s.p50 * 1e3
}

fn scenario_json(
    model: &str,
    gpu: &str,
    tp: u64,
    precision: &str,
    workload: &str,
    eng: &EngineSetup,
) -> String {
    // FP8 deployments in these benchmarks (TensorRT-LLM's FP8 checkpoints, vLLM's FP8 models)
    // also keep the KV cache in FP8.
    let kv = if precision == "fp8" { "fp8" } else { "auto" };
    let (profile, keys) = (eng.profile, &eng.keys);
    format!(
        r#"{{"seed": 1, "model": "{model}", "gpu": "{gpu}", "workload": {workload},
            "replica": {{"engine": "{profile}", "tp": {tp}, "precision": "{precision}", "kv_cache_dtype": "{kv}", "prefix_caching": false{keys}}},
            "cost": {{"gpu_usd_per_hour": {{"{gpu}": 1.0}}, "apis": []}}}}"#
    )
}

/// How a benchmark's engine was configured, as fleetsim replica keys, and which of its figures
/// an engine feature fleetsim does not model dominates.
struct EngineSetup {
    /// Engine profile.
    profile: &'static str,
    /// `replica` keys beyond the profile's defaults (JSON members, each after a comma).
    keys: String,
    /// Said on every row of the entry.
    note: &'static str,
    /// Metric names (or `*` for all) left out of the targets, with the reason.
    unmodelled: Vec<(&'static str, &'static str)>,
}

const E2E_LENGTHS: &str = "not counted: a median E2E is about the median output length times TPOT, and the benchmark's ShareGPT sample has a shorter median output (about 117 tokens: its median E2E over its median TPOT) than the shipped length statistics give after scaling to the same mean (188): a workload difference, not a step-time one";
const CPU_BOUND: &str = "not counted: vLLM 0.5.4 was CPU-bound (the source: ~60% GPU power, fixed in 0.6.0; ITL flat at ~18-20 ms from TP 1 to TP 8 for the 8B model): per-step CPU time of that engine version, which fleetsim does not model";

/// The settings each source documents (see docs/VALIDATION.md, "How each entry is simulated").
fn engine_setup(engine: &str, tp: u64, offline: bool) -> EngineSetup {
    if engine.starts_with("TensorRT-LLM") {
        // trtllm-bench throughput: GUARANTEED_NO_EVICT capacity scheduler, KV cache = 0.9 of the
        // memory left free (the source: kv_cache_free_gpu_mem_fraction 0.90-0.95), LLM API
        // limits of 2048 sequences and 8192 tokens per step.
        EngineSetup {
            profile: "trtllm-0.17",
            keys: String::new(),
            note: "TensorRT-LLM: guaranteed-no-evict, KV = 0.9 of free memory, 2048 seqs, 8192 tokens/step",
            unmodelled: vec![],
        }
    } else if engine.starts_with("SGLang") {
        // sglang.launch_server --disable-radix-cache; mem_frac 0.88 at TP 1 and 0.85 at TP 4
        // (the source's notes), set to 0.88 for the TP 4 offline run; chunked prefill of 8192
        // tokens.
        let util = if tp == 1 || offline { 0.88 } else { 0.85 };
        EngineSetup {
            profile: "sglang-0.3",
            keys: format!(r#", "gpu_memory_utilization": {util}"#),
            note: "SGLang: radix cache off, mem_frac as the source, 8192-token chunks",
            unmodelled: vec![("median E2E ms", E2E_LENGTHS)],
        }
    } else if engine.starts_with("vLLM 0.6") {
        // vllm.entrypoints.openai.api_server --max_model_len 4096 (V0 defaults: 256 sequences,
        // no chunked prefill, so a whole prompt of up to 4096 tokens per step).
        EngineSetup {
            profile: "vllm-0.6",
            keys: r#", "gpu_memory_utilization": 0.9, "max_num_batched_tokens": 4096, "max_model_len": 4096, "num_scheduler_steps": 10"#.into(),
            note: "vLLM 0.6.0: --num-scheduler-steps 10 (runs of 10 decode steps, prefill-only steps between), 256 seqs, max_model_len 4096",
            unmodelled: vec![("median E2E ms", E2E_LENGTHS)],
        }
    } else {
        // LambdaLabsML/vllm-benchmark: --gpu-memory-utilization 0.95, --max-num-seqs 256,
        // --max-model-len 2000, ShareGPT, 320 prompts at once.
        EngineSetup {
            profile: "vllm-0.5",
            keys: r#", "gpu_memory_utilization": 0.95, "max_num_batched_tokens": 2048, "max_model_len": 2000"#.into(),
            note: "vLLM 0.5.4 (Lambda): 256 seqs, utilization 0.95, max_model_len 2000",
            unmodelled: vec![("*", CPU_BOUND)],
        }
    }
}

/// Offline workloads in cross-validation fold 1 (the others are fold 0).
const FOLD1_ISL_OSL: [&str; 5] = ["128/2048", "500/2000", "2048/128", "5000/500", "1000/2000"];

fn jobs(entries: &[Value], sharegpt: LengthScale) -> Vec<Job> {
    let LengthScale {
        input: in_scale,
        output: out_scale,
    } = sharegpt;
    let mut out = Vec::new();
    for e in entries {
        let engine = e["engine"].as_str().unwrap_or("?");
        let model_name = e["model"].as_str().unwrap_or("?");
        let gpu_name = e["gpu"].as_str().unwrap_or("?");
        let tp = e["tp"].as_u64().unwrap_or(1);
        let prec_name = e["precision"]
            .as_str()
            .unwrap_or(if model_name.contains("FP8") {
                "FP8"
            } else {
                "BF16"
            });
        let setup = format!("{engine}, {model_name}, {gpu_name}, tp {tp}, {prec_name}");
        let precision = match prec_name {
            "FP8" => Some("fp8"),
            "FP16" | "BF16" => Some("bf16"),
            _ => None,
        };
        let ids = (model_id(model_name), gpu_id(gpu_name), precision);
        let skip = match ids {
            (None, _, _) => format!("model {model_name} not in the catalog"),
            (_, None, _) => format!("GPU {gpu_name} not in the catalog"),
            (_, _, None) => format!("precision {prec_name} not modelled"),
            _ => String::new(),
        };
        let (model, gpu, precision) = (
            ids.0.unwrap_or(""),
            ids.1.unwrap_or(""),
            ids.2.unwrap_or("bf16"),
        );
        let eng = engine_setup(
            engine,
            tp,
            e.get("output_tok_per_s_by_isl_osl").is_some()
                || e["request_rate_qps"].as_str() == Some("inf"),
        );
        if let Some(table) = e["output_tok_per_s_by_isl_osl"].as_object() {
            for (k, v) in table {
                let Some(measured) = v.as_f64() else { continue };
                let (isl, osl) = k.split_once('/').unwrap_or(("0", "0"));
                let (isl, osl): (u32, u32) = (isl.parse().unwrap_or(1), osl.parse().unwrap_or(1));
                let n = if isl + osl > 10_000 {
                    400
                } else if osl >= 2000 {
                    1000
                } else {
                    2000
                };
                let workload = format!(
                    r#"{{"synthetic": {{"requests": {n}, "arrivals": {{"kind": "constant", "rate_per_s": 1000000}},
                        "input_tokens": {{"kind": "fixed", "value": {isl}}}, "output_tokens": {{"kind": "fixed", "value": {osl}}}}}}}"#
                );
                out.push(Job {
                    setup: setup.clone(),
                    workload: format!("offline ISL/OSL {k}, {n} requests at once"),
                    scenario: skip
                        .is_empty()
                        .then(|| scenario_json(model, gpu, tp, precision, &workload, &eng)),
                    skip: skip.clone(),
                    figures: vec![("output tok/s".into(), Kind::Throughput, measured, out_tok)],
                    note: eng.note.into(),
                    unmodelled: eng.unmodelled.clone(),
                    fold: FOLD1_ISL_OSL.contains(&k.as_str()) as u8,
                    profile: eng.profile.into(),
                    test: false,
                });
            }
            continue;
        }
        let n = e["num_prompts"].as_u64().unwrap_or(320);
        let rate = e["request_rate_qps"].as_f64();
        let arrivals = match rate {
            Some(r) => format!(r#"{{"kind": "poisson", "rate_per_s": {r}}}"#),
            None => r#"{"kind": "constant", "rate_per_s": 1000000}"#.to_string(),
        };
        let workload = format!(
            r#"{{"trace": {{"path": "{SHAREGPT}", "format": "lengths", "limit": {n}, "arrivals": {arrivals},
                "max_input_tokens": 1024, "max_total_tokens": 2048,
                "input_length_scale": {in_scale}, "output_length_scale": {out_scale}}}}}"#
        );
        let mut figures: Vec<Figure> = Vec::new();
        let mut add =
            |key: &str, name: &str, kind: Kind, f: fn(&crate::metrics::Summary) -> f64| {
                if let Some(m) = e[key].as_f64() {
                    figures.push((name.to_string(), kind, m, f));
                }
            };
        add("median_ttft_ms", "median TTFT ms", Kind::Ttft, ttft);
        add("median_tpot_ms", "median TPOT ms", Kind::Tpot, tpot);
        add("median_itl_ms", "median ITL ms", Kind::Tpot, itl_p50);
        add("median_e2e_ms", "median E2E ms", Kind::E2e, e2e);
        add(
            "request_throughput_rps",
            "requests/s",
            Kind::Throughput,
            req_s,
        );
        add(
            "output_tok_per_s",
            "output tok/s",
            Kind::Throughput,
            out_tok,
        );
        add("itl_ms", "mean ITL ms", Kind::Tpot, itl_mean);
        out.push(Job {
            setup,
            workload: format!(
                "ShareGPT (bench_serving filter, prompts x{in_scale:.3}, outputs x{out_scale:.3}), {n} prompts, {}",
                rate.map(|r| format!("{r} req/s"))
                    .unwrap_or("all at once".into())
            ),
            scenario: skip
                .is_empty()
                .then(|| scenario_json(model, gpu, tp, precision, &workload, &eng)),
            skip,
            figures,
            note: eng.note.into(),
            unmodelled: eng.unmodelled,
            fold: (rate == Some(8.0)) as u8,
            profile: eng.profile.into(),
            test: false,
        });
    }
    out
}

/// The mean output length of the serving benchmarks' ShareGPT sample, tokens: output tok/s
/// divided by requests/s of the entries that publish both (all four give 194.3).
fn benchmark_mean_output_tokens(entries: &[Value]) -> Option<f64> {
    let v: Vec<f64> = entries
        .iter()
        .filter_map(|e| {
            Some(e["output_tok_per_s"].as_f64()? / e["request_throughput_rps"].as_f64()?)
        })
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The mean prompt length of the serving benchmarks' ShareGPT sample, tokens.
///
/// Source: sgl-project/sglang issue #1362 (2024-09-10), a `sglang.bench_serving` run of SGLang
/// v0.3 with ShareGPT, 1000 prompts, the default seed and the Llama-3.1 tokenizer (405B FP8):
/// "Total input tokens: 224442", "Total generated tokens: 190594". bench_serving shuffles the
/// dataset with a fixed seed and takes the first prompts that pass its filter, so that run's
/// prompts are the first 1000 of the 1200-, 2400- and 5000-prompt samples the calibration
/// entries used (same tool, seed and tokenizer family). Its outputs (190.6 tokens a request)
/// agree with the 5000-prompt entries' 194.3 within 2%.
pub const BENCH_SHAREGPT_MEAN_INPUT_TOKENS: f64 = 224_442.0 / 1000.0;

/// Factors that give a length distribution a benchmark's mean prompt and output lengths.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LengthScale {
    /// Multiplies every prompt length.
    pub input: f64,
    /// Multiplies every output length.
    pub output: f64,
}

/// The factors that give the shipped ShareGPT lengths, filtered as the serving benchmarks filter
/// them (prompt <= 1024, prompt + output <= 2048 tokens), the benchmarks' mean prompt
/// ([`BENCH_SHAREGPT_MEAN_INPUT_TOKENS`]) and mean output length (output tok/s over requests/s of
/// the calibration entries).
///
/// The shipped statistics are whole conversations (mean prompt 2,340 tokens); the benchmarks send
/// first turns, whose prompt-to-output ratio differs (1.18 against 0.91 after filtering), so one
/// factor for both would leave the prompts about a fifth short.
pub fn sharegpt_length_scale(root: &Path, entries: &[Value]) -> Result<LengthScale> {
    let (mean_in, mean_out) = sharegpt_mean_lengths(
        root,
        LengthScale {
            input: 1.0,
            output: 1.0,
        },
    )?;
    let target = benchmark_mean_output_tokens(entries).ok_or_else(|| {
        Error::config(
            "calibration.json",
            "no entry gives both output tok/s and requests/s",
        )
    })?;
    Ok(LengthScale {
        input: BENCH_SHAREGPT_MEAN_INPUT_TOKENS / mean_in,
        output: target / mean_out,
    })
}

/// Mean prompt and output tokens of the shipped ShareGPT statistics, filtered as the serving
/// benchmarks filter them and scaled by `scale`.
pub(crate) fn sharegpt_mean_lengths(root: &Path, scale: LengthScale) -> Result<(f64, f64)> {
    use crate::workload::trace::{TraceFormat, TraceSpec};
    let mut spec = TraceSpec::new(root.join(SHAREGPT), TraceFormat::Lengths);
    spec.arrivals = Some(crate::workload::arrivals::ArrivalSpec::Constant { rate_per_s: 1.0 });
    spec.max_input_tokens = Some(1024);
    spec.max_total_tokens = Some(2048);
    spec.input_length_scale = scale.input;
    spec.output_length_scale = scale.output;
    let w = spec.load(&root.join(SHAREGPT), 1)?;
    let n = w.requests.len() as f64;
    let mean = |f: fn(&crate::workload::Request) -> u32| {
        w.requests.iter().map(|r| f(r) as f64).sum::<f64>() / n
    };
    Ok((mean(|r| r.input_tokens), mean(|r| r.output_tokens)))
}

/// The simulations that re-create every entry of the calibration data.
pub(crate) fn calibration_jobs(root: &Path) -> Result<Vec<Job>> {
    let data: Value = serde_json::from_str(include_str!("../catalog/calibration.json"))
        .map_err(|e| Error::config("calibration.json", e.to_string()))?;
    let entries = data["entries"].as_array().cloned().unwrap_or_default();
    let scale = sharegpt_length_scale(root, &entries)?;
    Ok(jobs(&entries, scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_scales_give_the_benchmarks_mean_prompt_and_output() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data: Value =
            serde_json::from_str(include_str!("../catalog/calibration.json")).unwrap();
        let entries = data["entries"].as_array().unwrap();
        let scale = sharegpt_length_scale(root, entries).unwrap();
        let (mean_in, mean_out) = sharegpt_mean_lengths(root, scale).unwrap();
        // Rounding each length to whole tokens moves the means by well under a token.
        assert!((mean_in - 224.442).abs() < 1.0, "mean prompt {mean_in}");
        assert!((mean_out - 194.3).abs() < 1.0, "mean output {mean_out}");
        assert!(scale.input > scale.output, "{scale:?}");
    }
}
