//! `fleetsim validate`: re-creates each published measurement in `catalog/calibration.json`
//! (a copy of ../shared/reference/calibration.json, sources included), simulates it with the
//! default step-time model, and tabulates measured against predicted.
//!
//! Setups: TensorRT-LLM offline maximum-throughput runs (all requests at time 0, fixed input and
//! output lengths, output tokens per second); SGLang and vLLM ShareGPT serving runs at a request
//! rate (median TTFT, TPOT, ITL, E2E) or at an unbounded rate (request and output throughput);
//! vLLM 0.5.4 runs of 320 ShareGPT prompts sent at once (output throughput, mean ITL). ShareGPT
//! lengths come from the shipped length statistics.

use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::scenario::Scenario;

const SHAREGPT: &str = "traces/sharegpt-lengths/sharegpt_8k_filtered_stats_llama2_tokenizer.csv";

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

/// One measured figure and its prediction.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Row {
    /// Engine, model, GPU, tensor parallelism, precision.
    pub setup: String,
    /// Workload (ISL/OSL, or dataset and rate).
    pub workload: String,
    /// Metric name.
    pub metric: String,
    /// Its kind.
    pub kind: Kind,
    /// Published value.
    pub measured: f64,
    /// fleetsim's value (null: the setup could not be simulated).
    pub predicted: Option<f64>,
    /// (predicted - measured) / measured.
    pub error: Option<f64>,
    /// Why there is no prediction, or what the engine did that fleetsim does not model.
    pub note: String,
}

/// Median and worst absolute error of one kind.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KindStats {
    /// The kind.
    pub kind: Kind,
    /// Rows with a prediction.
    pub rows: usize,
    /// Median of |error|.
    pub median_abs_error: f64,
    /// Largest |error|.
    pub worst_abs_error: f64,
}

/// The validation report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Validation {
    /// Every figure.
    pub rows: Vec<Row>,
    /// Per kind.
    pub stats: Vec<KindStats>,
}

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
type Figure = (String, Kind, f64, fn(&crate::metrics::Summary) -> f64);

/// One simulation to run and the figures it predicts.
struct Job {
    setup: String,
    workload: String,
    scenario: Option<String>,
    skip: String,
    /// (metric, kind, measured, how to read the prediction from the summary).
    figures: Vec<Figure>,
    note: String,
}

fn out_tok(s: &crate::metrics::Summary) -> f64 {
    s.throughput.output_tokens_per_s
}
fn req_s(s: &crate::metrics::Summary) -> f64 {
    s.throughput.requests_per_s
}
fn ttft(s: &crate::metrics::Summary) -> f64 {
    s.latency.ttft_s.p50 * 1e3
}
fn tpot(s: &crate::metrics::Summary) -> f64 {
    s.latency.tpot_s.p50 * 1e3
}
fn itl_p50(s: &crate::metrics::Summary) -> f64 {
    s.latency.itl_s.p50 * 1e3
}
fn itl_mean(s: &crate::metrics::Summary) -> f64 {
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
    budget: u32,
) -> String {
    // FP8 deployments in these benchmarks (TensorRT-LLM's FP8 checkpoints, vLLM's FP8 models)
    // also keep the KV cache in FP8.
    let kv = if precision == "fp8" { "fp8" } else { "auto" };
    format!(
        r#"{{"seed": 1, "model": "{model}", "gpu": "{gpu}", "workload": {workload},
            "replica": {{"tp": {tp}, "precision": "{precision}", "kv_cache_dtype": "{kv}", "max_num_batched_tokens": {budget}, "prefix_caching": false}},
            "cost": {{"gpu_usd_per_hour": {{"{gpu}": 1.0}}, "apis": []}}}}"#
    )
}

fn jobs(entries: &[Value]) -> Vec<Job> {
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
        let big = matches!(gpu, "h100-sxm" | "h200" | "b200");
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
                    scenario: skip.is_empty().then(|| {
                        scenario_json(
                            model,
                            gpu,
                            tp,
                            precision,
                            &workload,
                            if big { 16384 } else { 8192 },
                        )
                    }),
                    skip: skip.clone(),
                    figures: vec![("output tok/s".into(), Kind::Throughput, measured, out_tok)],
                    note:
                        "TensorRT-LLM is faster than vLLM-like scheduling at the same efficiencies"
                            .into(),
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
            r#"{{"trace": {{"path": "{SHAREGPT}", "format": "lengths", "limit": {n}, "arrivals": {arrivals}}}}}"#
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
        let note = if engine.starts_with("vLLM 0.6") {
            "vLLM 0.6.0 ran with --num-scheduler-steps 10 (multi-step scheduling): tokens arrive in bursts of 10, which fleetsim does not model"
        } else if engine.starts_with("vLLM 0.5") {
            "dataset and rate not published in the entry; assumed ShareGPT prompts sent at once"
        } else {
            "ShareGPT lengths from the shipped length statistics, not the exact prompts"
        };
        out.push(Job {
            setup,
            workload: format!(
                "ShareGPT, {n} prompts, {}",
                rate.map(|r| format!("{r} req/s"))
                    .unwrap_or("all at once".into())
            ),
            scenario: skip.is_empty().then(|| {
                scenario_json(
                    model,
                    gpu,
                    tp,
                    precision,
                    &workload,
                    if big { 8192 } else { 2048 },
                )
            }),
            skip,
            figures,
            note: note.into(),
        });
    }
    out
}

/// Runs every entry (in parallel on `threads` threads; 0 = all cores) and returns the report.
pub fn run(root: &Path, threads: usize) -> Result<Validation> {
    let data: Value = serde_json::from_str(include_str!("catalog/calibration.json"))
        .map_err(|e| Error::config("calibration.json", e.to_string()))?;
    let entries = data["entries"].as_array().cloned().unwrap_or_default();
    let jobs = jobs(&entries);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::config("threads", e.to_string()))?;
    let results: Vec<std::result::Result<crate::metrics::Summary, String>> = pool.install(|| {
        jobs.par_iter()
            .map(|j| match &j.scenario {
                None => Err(j.skip.clone()),
                Some(text) => Scenario::from_json(text, Path::new("validate"))
                    .and_then(|s| s.resolve(root))
                    .map(|spec| spec.run().summary)
                    .map_err(|e| e.to_string()),
            })
            .collect()
    });
    let mut rows = Vec::new();
    for (j, r) in jobs.iter().zip(results) {
        for (metric, kind, measured, read) in &j.figures {
            let (predicted, note) = match &r {
                Ok(s) => (Some(read(s)), j.note.clone()),
                Err(e) => (None, e.clone()),
            };
            rows.push(Row {
                setup: j.setup.clone(),
                workload: j.workload.clone(),
                metric: metric.clone(),
                kind: *kind,
                measured: *measured,
                predicted,
                error: predicted.map(|p| (p - measured) / measured),
                note,
            });
        }
    }
    let mut stats = Vec::new();
    for kind in [Kind::Throughput, Kind::Ttft, Kind::Tpot, Kind::E2e] {
        let mut errs: Vec<f64> = rows
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| r.error.map(f64::abs))
            .collect();
        if errs.is_empty() {
            continue;
        }
        errs.sort_by(f64::total_cmp);
        stats.push(KindStats {
            kind,
            rows: errs.len(),
            median_abs_error: crate::stats::percentile_sorted(&errs, 50.0),
            worst_abs_error: errs[errs.len() - 1],
        });
    }
    Ok(Validation { rows, stats })
}

/// The report as Markdown.
pub fn markdown(v: &Validation) -> String {
    let mut s = String::new();
    let mut t = crate::report::Table::new(
        "Error by metric kind",
        &["kind", "rows", "median |error|", "worst |error|"],
    );
    for k in &v.stats {
        t.row(vec![
            format!("{:?}", k.kind).to_lowercase(),
            k.rows.to_string(),
            format!("{:.1}%", 100.0 * k.median_abs_error),
            format!("{:.1}%", 100.0 * k.worst_abs_error),
        ]);
    }
    s.push_str(&t.markdown());
    let mut t = crate::report::Table::new(
        "Every entry",
        &[
            "setup",
            "workload",
            "metric",
            "measured",
            "predicted",
            "error",
            "note",
        ],
    );
    for r in &v.rows {
        t.row(vec![
            r.setup.clone(),
            r.workload.clone(),
            r.metric.clone(),
            format!("{:.2}", r.measured),
            r.predicted
                .map(|p| format!("{p:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.error
                .map(|e| format!("{:+.1}%", 100.0 * e))
                .unwrap_or_else(|| "-".into()),
            r.note.clone(),
        ]);
    }
    s.push_str(&t.markdown());
    s
}

/// Fitted step-time parameters for one GPU and precision.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupFit {
    /// GPU id.
    pub gpu: String,
    /// Weight precision.
    pub precision: String,
    /// Throughput figures fitted.
    pub figures: usize,
    /// The fitted parameters.
    pub params: crate::perf::RooflineParams,
    /// Median |error| with the default parameters.
    pub median_abs_error_default: f64,
    /// Median |error| with the fitted ones.
    pub median_abs_error_fitted: f64,
    /// Worst |error| with the fitted ones.
    pub worst_abs_error_fitted: f64,
}

/// Fits compute efficiency, memory efficiency and per-step overhead per GPU and precision to the
/// TensorRT-LLM offline throughput figures (ISL/OSL 20000/2000 left out: those runs thrash under
/// the vLLM admission policy fleetsim models, see docs/VALIDATION.md), minimizing the mean
/// squared log error by coordinate descent with golden-section searches. Bounds keep the model
/// physical: efficiencies 0.2 to 1 of peak, overhead 0 to 20 ms.
pub fn fit_defaults(root: &Path, threads: usize) -> Result<Vec<GroupFit>> {
    use crate::perf::fit::descend;
    use crate::perf::RooflineParams;
    let data: Value = serde_json::from_str(include_str!("catalog/calibration.json"))
        .map_err(|e| Error::config("calibration.json", e.to_string()))?;
    let entries = data["entries"].as_array().cloned().unwrap_or_default();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::config("threads", e.to_string()))?;
    // (group, resolved run, measured output tok/s)
    let mut runs: Vec<((String, String), crate::scenario::RunSpec, f64)> = Vec::new();
    for j in jobs(&entries) {
        let Some(text) = &j.scenario else { continue };
        if !j.workload.starts_with("offline") || j.workload.contains("20000/2000") {
            continue;
        }
        let spec =
            Scenario::from_json(text, Path::new("validate")).and_then(|s| s.resolve(root))?;
        let key = (
            spec.gpu.id.clone(),
            spec.replica.precision.as_str().to_string(),
        );
        runs.push((key, spec, j.figures[0].2));
    }
    let mut groups: Vec<(String, String)> = runs.iter().map(|r| r.0.clone()).collect();
    groups.sort();
    groups.dedup();
    let mut out = Vec::new();
    for g in groups {
        let mine: Vec<(&crate::scenario::RunSpec, f64)> = runs
            .iter()
            .filter(|r| r.0 == g)
            .map(|r| (&r.1, r.2))
            .collect();
        let errors = |p: RooflineParams| -> Vec<f64> {
            pool.install(|| {
                mine.par_iter()
                    .map(|(spec, measured)| {
                        let mut s = (*spec).clone();
                        s.params = p;
                        (s.run().summary.throughput.output_tokens_per_s / measured).ln()
                    })
                    .collect()
            })
        };
        let obj = |p: RooflineParams| {
            let e = errors(p);
            e.iter().map(|x| x * x).sum::<f64>() / e.len().max(1) as f64
        };
        let median_abs = |p: RooflineParams| {
            let mut e: Vec<f64> = errors(p).iter().map(|x| (x.exp() - 1.0).abs()).collect();
            e.sort_by(f64::total_cmp);
            (
                crate::stats::percentile_sorted(&e, 50.0),
                e.last().copied().unwrap_or(0.0),
            )
        };
        let before = median_abs(RooflineParams::default()).0;
        let bounds = [(0.2, 1.0), (0.3, 1.0), (0.0, 20.0)];
        let p = descend(&obj, RooflineParams::default(), bounds, 10, 2, false);
        let (after, worst) = median_abs(p);
        out.push(GroupFit {
            gpu: g.0.clone(),
            precision: g.1.clone(),
            figures: mine.len(),
            params: p,
            median_abs_error_default: before,
            median_abs_error_fitted: after,
            worst_abs_error_fitted: worst,
        });
    }
    Ok(out)
}
