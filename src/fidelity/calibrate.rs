//! Calibration to serving benchmark results: each `vllm bench serve` run is replayed (its
//! per-request lengths, its rate or concurrency) and the step-time model's efficiencies and
//! overhead are fitted so the simulated mean TTFT, mean TPOT and output throughput match the
//! measured ones (least squares on log error, coordinate descent with golden-section searches).

use std::path::{Path, PathBuf};

use rand_distr::{Distribution, Gamma};

use super::optimize::{descend, nelder_mead};
use crate::catalog::Gpu;
use crate::error::{Error, Result};
use crate::perf::Profile;
use crate::perf::{Precision, RooflineParams};
use crate::rng::{stream_rng, Stream};
use crate::scenario::{Overrides, Prepared, RunConfig, Scenario};
use crate::time::SimTime;
use crate::workload::{Request, Workload};

/// A serving benchmark result (`vllm bench serve --save-result`, with per-request lengths).
#[derive(Clone, Debug)]
pub struct BenchRun {
    /// The file.
    pub path: PathBuf,
    /// (input tokens, output tokens) per request, in send order.
    pub lengths: Vec<(u32, u32)>,
    /// Requests per second (`None`: all at once).
    pub request_rate: Option<f64>,
    /// Gamma shape of the gaps (1 = Poisson), as vLLM's `--burstiness`.
    pub burstiness: f64,
    /// Client concurrency limit.
    pub max_concurrency: Option<u32>,
    /// Measured (metric, value): `mean_ttft_ms`, `mean_tpot_ms`, `output_throughput`.
    pub measured: Vec<(&'static str, f64)>,
}

/// Reads a `vllm bench serve --save-result` JSON file. It must hold `input_lens` and
/// `output_lens` (per-request lengths) and at least one of `mean_ttft_ms`, `mean_tpot_ms` and
/// `output_throughput`.
pub fn read_bench_json(path: &Path) -> Result<BenchRun> {
    let text = crate::input::read_text(path)?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Parse {
        path: path.to_path_buf(),
        line: e.line() as u64,
        field: "(file)".into(),
        msg: format!("not JSON: {e}"),
    })?;
    let bad = |field: &str, msg: String| Error::Parse {
        path: path.to_path_buf(),
        line: 1,
        field: field.into(),
        msg,
    };
    let list = |key: &str| -> Result<Vec<u32>> {
        let a = v.get(key).and_then(|x| x.as_array()).ok_or_else(|| {
            bad(key, "missing: save the benchmark with --save-result (and --save-detailed on newer vLLM) so per-request lengths are kept".into())
        })?;
        a.iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_u64()
                    .filter(|&n| n > 0 && n <= 10_000_000)
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        bad(
                            key,
                            format!("element {i} is not a positive token count: {x}"),
                        )
                    })
            })
            .collect()
    };
    let ins = list("input_lens")?;
    let outs = list("output_lens")?;
    if ins.len() != outs.len() || ins.is_empty() {
        return Err(bad(
            "output_lens",
            format!(
                "{} output lengths for {} input lengths",
                outs.len(),
                ins.len()
            ),
        ));
    }
    let request_rate = match v.get("request_rate") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("inf") => None,
        Some(x) => match x.as_f64() {
            Some(r) if r.is_finite() && r > 0.0 => Some(r),
            Some(r) if r.is_infinite() => None,
            _ => {
                return Err(bad(
                    "request_rate",
                    format!("expected a positive number or \"inf\", got {x}"),
                ))
            }
        },
    };
    let burstiness = v.get("burstiness").and_then(|x| x.as_f64()).unwrap_or(1.0);
    if !(burstiness.is_finite() && burstiness > 0.0) {
        return Err(bad(
            "burstiness",
            format!("must be positive, got {burstiness}"),
        ));
    }
    let max_concurrency = v
        .get("max_concurrency")
        .and_then(|x| x.as_u64())
        .map(|n| n.max(1) as u32);
    let mut measured = Vec::new();
    for key in ["mean_ttft_ms", "mean_tpot_ms", "output_throughput"] {
        if let Some(x) = v.get(key).and_then(|x| x.as_f64()) {
            if !(x.is_finite() && x > 0.0) {
                return Err(bad(key, format!("must be positive, got {x}")));
            }
            measured.push((key, x));
        }
    }
    if measured.is_empty() {
        return Err(bad(
            "mean_ttft_ms",
            "none of mean_ttft_ms, mean_tpot_ms, output_throughput is given".into(),
        ));
    }
    Ok(BenchRun {
        path: path.to_path_buf(),
        lengths: ins.into_iter().zip(outs).collect(),
        request_rate,
        burstiness,
        max_concurrency,
        measured,
    })
}

/// The run that replays one benchmark file on the prepared scenario's replica: its lengths in
/// order, sent at its rate (gamma gaps of its burstiness, seeded) or all at once, under its
/// concurrency limit.
pub fn replay(base: &Prepared, run: &BenchRun) -> Result<RunConfig> {
    let mut rng = stream_rng(1, Stream::Arrivals);
    let gaps = run.request_rate.map(|r| {
        let shape = run.burstiness;
        Gamma::new(shape, 1.0 / (r * shape)).expect("validated rate and burstiness")
    });
    let mut t = 0.0;
    let requests: Vec<Request> = run
        .lengths
        .iter()
        .enumerate()
        .map(|(i, &(input, output))| {
            let r = Request {
                id: i as u64,
                arrival: SimTime::from_secs_f64(t),
                input_tokens: input,
                output_tokens: output,
                prefix: None,
                session: None,
                follows: None,
            };
            if let Some(g) = &gaps {
                t += g.sample(&mut rng);
            }
            r
        })
        .collect();
    base.clone()
        .with_workload(Workload::finish(requests, vec![]), run.max_concurrency)?
        .run_spec(&Overrides::default())
}

/// The figure a benchmark reports, read off a simulated summary.
pub fn bench_metric(key: &str, s: &crate::metrics::Summary) -> f64 {
    match key {
        "mean_ttft_ms" => s.latency.ttft_s.mean * 1e3,
        "mean_tpot_ms" => s.latency.tpot_s.mean * 1e3,
        _ => s.throughput.output_tokens_per_s,
    }
}

/// The replica a benchmark ran: the engine profile (its scheduler defaults), tensor
/// parallelism, weight precision and KV cache element type.
#[derive(Clone, Copy, Debug)]
pub struct BenchReplica<'a> {
    /// Engine profile id (`replica.engine`).
    pub engine: &'a str,
    /// Tensor-parallel GPUs.
    pub tp: u32,
    /// Weight precision.
    pub precision: Precision,
    /// KV cache element type.
    pub kv_cache_dtype: crate::serving::KvCacheDtype,
}

/// Fits the step-time model for `model` on `gpu` with `replica`'s settings to benchmark runs.
pub fn fit_bench(
    model: &crate::scenario::ModelSpec,
    gpu: &Gpu,
    replica: BenchReplica,
    runs: &[BenchRun],
) -> Result<Profile> {
    let scenario = serde_json::json!({
        "model": model,
        "gpu": gpu.id,
        "replica": {
            "engine": replica.engine,
            "tp": replica.tp,
            "precision": replica.precision.as_str(),
            "kv_cache_dtype": replica.kv_cache_dtype,
            "prefix_caching": false,
        },
        "cost": {"gpu_usd_per_hour": {gpu.id.clone(): 1.0}, "apis": []},
        "workload": {"synthetic": {"requests": 1, "arrivals": {"kind": "constant", "rate_per_s": 1},
            "input_tokens": {"kind": "fixed", "value": 1}, "output_tokens": {"kind": "fixed", "value": 1}}},
    })
    .to_string();
    let (tp, precision) = (replica.tp, replica.precision);
    let base = Scenario::from_json(&scenario, Path::new("calibrate"))?.prepare(Path::new("."))?;
    let specs: Vec<RunConfig> = runs
        .iter()
        .map(|r| replay(&base, r))
        .collect::<Result<_>>()?;
    let errors = |p: RooflineParams| -> Vec<f64> {
        let mut e = Vec::new();
        for (spec, run) in specs.iter().zip(runs) {
            let mut s = spec.clone();
            s.params = p;
            let summary = s.run().summary;
            for (key, measured) in &run.measured {
                e.push((bench_metric(key, &summary).max(1e-9) / measured).ln());
            }
        }
        e
    };
    let obj = |p: RooflineParams| errors(p).iter().map(|x| x * x).sum::<f64>();
    // Memory efficiency and overhead trade off against each other in aggregate figures, and the
    // simulated objective is not smooth: coordinate descent from several starting overheads,
    // then Nelder-Mead along the valley, parameters clamped to physical ranges.
    let mut best: Option<(f64, RooflineParams)> = None;
    for start_ms in [1.0, 5.0, 20.0] {
        let p = RooflineParams {
            step_overhead_ms: start_ms,
            ..RooflineParams::default()
        };
        let p = descend(
            &obj,
            p,
            [(0.05, 1.0), (0.05, 1.0), (0.0, 100.0)],
            14,
            3,
            false,
        );
        let o = obj(p);
        if best.as_ref().is_none_or(|b| o < b.0) {
            best = Some((o, p));
        }
    }
    let p0 = best.map(|b| b.1).unwrap_or_default();
    let clamp = |x: [f64; 3]| RooflineParams {
        compute_efficiency: x[0].clamp(0.05, 1.0),
        memory_efficiency: x[1].clamp(0.05, 1.0),
        step_overhead_ms: x[2].clamp(0.0, 100.0),
        ..p0
    };
    let x = nelder_mead(
        |x| obj(clamp(x)),
        [
            p0.compute_efficiency,
            p0.memory_efficiency,
            p0.step_overhead_ms,
        ],
        [0.05, 0.05, 1.0],
        300,
    );
    let p = clamp(x);
    let e = errors(p);
    let n = e.len().max(1) as f64;
    let worst = e.iter().map(|x| (x.exp() - 1.0).abs()).fold(0.0, f64::max);
    Ok(Profile {
        warnings: super::steps::fit_warnings(&p, [(0.05, 1.0), (0.05, 1.0), (0.0, 100.0)], worst),
        model: model.id(),
        gpu: gpu.id.clone(),
        tp,
        precision,
        params: p,
        points: e.len(),
        rms_log_error: (e.iter().map(|x| x * x).sum::<f64>() / n).sqrt(),
        max_abs_error: worst,
        source: runs
            .iter()
            .map(|r| r.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
