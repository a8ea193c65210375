//! Fitting the roofline model's efficiencies and per-step overhead to measured step times
//! (`fleetsim calibrate`), and the resulting profile that scenarios load with
//! `"perf": {"profile": "profile.json"}`.
//!
//! Method: minimize the sum of squared log errors, sum (ln predicted - ln measured)^2, over
//! compute efficiency (0.05-1), memory efficiency (0.05-1) and overhead (0-200 ms), by
//! coordinate descent with golden-section line searches, started from the defaults. Log error
//! weighs a 10% miss on a 2 ms decode step like a 10% miss on a 500 ms prefill.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::roofline::{Roofline, RooflineParams};
use super::{BatchShape, Precision};
use crate::catalog::{Gpu, Model};
use crate::error::{Error, Result};
use crate::workload::readers::{field, parse_err, CsvTable};

/// One measured step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepSample {
    /// The batch.
    pub shape: BatchShape,
    /// Measured duration, milliseconds.
    pub step_ms: f64,
}

/// Fewest measured steps a fit accepts (three parameters, plus one to check them).
pub const MIN_POINTS: usize = 4;

/// Reads a step CSV: `prefill_tokens,decode_seqs,context_tokens,step_ms`, one row per measured
/// forward step: a prefill chunk of `prefill_tokens` new tokens (no prior context) batched with
/// `decode_seqs` decoding sequences whose contexts sum to `context_tokens`.
pub fn read_steps_csv(path: &Path) -> Result<Vec<StepSample>> {
    let mut table = CsvTable::open(path)?;
    let cols = [
        table.column(path, "prefill_tokens")?,
        table.column(path, "decode_seqs")?,
        table.column(path, "context_tokens")?,
        table.column(path, "step_ms")?,
    ];
    let names = ["prefill_tokens", "decode_seqs", "context_tokens", "step_ms"];
    let mut out = Vec::new();
    table.for_each(path, |line, rec| {
        let mut v = [0f64; 4];
        for k in 0..4 {
            let text = field(path, line, rec, cols[k], names[k])?;
            v[k] = text.trim().parse::<f64>().map_err(|_| {
                parse_err(
                    path,
                    line,
                    names[k],
                    format!("expected a number, got `{text}`"),
                )
            })?;
            if !(v[k].is_finite() && v[k] >= 0.0) {
                return Err(parse_err(
                    path,
                    line,
                    names[k],
                    format!("must be a non-negative number, got {}", v[k]),
                ));
            }
        }
        if v[3] <= 0.0 {
            return Err(parse_err(
                path,
                line,
                "step_ms",
                "a step takes some time: must be positive",
            ));
        }
        if v[0] == 0.0 && v[1] == 0.0 {
            return Err(parse_err(
                path,
                line,
                "prefill_tokens",
                "a step needs prefill tokens or decode sequences",
            ));
        }
        out.push(StepSample {
            shape: BatchShape::with_prefill(v[1] as u32, v[2] as u64, v[0] as u32),
            step_ms: v[3],
        });
        Ok(())
    })?;
    if out.len() < MIN_POINTS {
        return Err(Error::Input {
            path: path.to_path_buf(),
            msg: format!(
                "{} measured steps; a fit of three parameters needs at least {MIN_POINTS}",
                out.len()
            ),
        });
    }
    Ok(out)
}

/// A fitted step-time profile.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Model id it was fitted for.
    pub model: String,
    /// GPU id.
    pub gpu: String,
    /// Tensor parallelism.
    pub tp: u32,
    /// Weight precision.
    pub precision: Precision,
    /// The fitted parameters.
    pub params: RooflineParams,
    /// Measured steps used.
    pub points: usize,
    /// Root-mean-square of ln(predicted / measured).
    pub rms_log_error: f64,
    /// Largest |predicted - measured| / measured.
    pub max_abs_error: f64,
    /// The measurements it was fitted to.
    pub source: String,
    /// What makes the fit doubtful: a parameter at a bound of its search range, or a worst
    /// error above [`FIT_WORST_ERROR_LIMIT`].
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A fit whose worst error on its own measurements passes this fraction is reported as doubtful.
pub const FIT_WORST_ERROR_LIMIT: f64 = 0.25;

/// Warnings for fitted `params` searched within `bounds` (compute efficiency, memory
/// efficiency, step overhead ms) with worst relative error `worst`: a parameter within 1% of
/// the range from a bound is pinned there (the model is compensating for something it lacks).
pub fn fit_warnings(params: &RooflineParams, bounds: [(f64, f64); 3], worst: f64) -> Vec<String> {
    let mut w = Vec::new();
    for ((name, v), (lo, hi)) in [
        ("compute_efficiency", params.compute_efficiency),
        ("memory_efficiency", params.memory_efficiency),
        ("step_overhead_ms", params.step_overhead_ms),
    ]
    .into_iter()
    .zip(bounds)
    {
        let tol = 0.01 * (hi - lo);
        if v <= lo + tol || v >= hi - tol {
            w.push(format!(
                "{name} = {v:.4} sits at the {} bound of its range [{lo}, {hi}]: the model cannot fit these measurements with a physical value, so the profile may not hold beyond them",
                if v <= lo + tol { "lower" } else { "upper" }
            ));
        }
    }
    if worst > FIT_WORST_ERROR_LIMIT {
        w.push(format!(
            "the worst error on the measurements is {:.1}%, above {:.0}%: the model does not describe this engine well",
            100.0 * worst,
            100.0 * FIT_WORST_ERROR_LIMIT
        ));
    }
    w
}

/// Search ranges of the step-CSV fit (compute efficiency, memory efficiency, step overhead ms).
pub const STEP_FIT_BOUNDS: [(f64, f64); 3] = [(0.05, 1.0), (0.05, 1.0), (0.0, 200.0)];

impl Profile {
    /// Reads a profile.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = crate::input::read_text(path)?;
        serde_json::from_str(&text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            line: e.line() as u64,
            field: "(profile)".into(),
            msg: e.to_string(),
        })
    }
}

fn objective(
    model: &Model,
    gpu: &Gpu,
    tp: u32,
    precision: Precision,
    p: RooflineParams,
    s: &[StepSample],
) -> f64 {
    let r = Roofline::new(model, gpu, tp, precision, p);
    s.iter()
        .map(|x| {
            let e = (r.step_time_s(&x.shape) * 1e3 / x.step_ms).ln();
            e * e
        })
        .sum()
}

/// Golden-section minimum of `f` on `[a, b]`.
pub(crate) fn golden(mut a: f64, mut b: f64, iters: usize, f: impl Fn(f64) -> f64) -> f64 {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - g * (b - a), a + g * (b - a));
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    (a + b) / 2.0
}

/// Coordinate descent over compute efficiency, memory efficiency and per-step overhead (in that
/// order, each by a golden-section search of `iters` steps within its `bounds`), for `rounds`
/// rounds from `p`; with `stop_when_flat`, it stops early once a round no longer improves `f`.
pub(crate) fn descend(
    f: &dyn Fn(RooflineParams) -> f64,
    mut p: RooflineParams,
    bounds: [(f64, f64); 3],
    iters: usize,
    rounds: usize,
    stop_when_flat: bool,
) -> RooflineParams {
    for _ in 0..rounds {
        let before = if stop_when_flat { f(p) } else { 0.0 };
        p.compute_efficiency = golden(bounds[0].0, bounds[0].1, iters, |x| {
            f(RooflineParams {
                compute_efficiency: x,
                ..p
            })
        });
        p.memory_efficiency = golden(bounds[1].0, bounds[1].1, iters, |x| {
            f(RooflineParams {
                memory_efficiency: x,
                ..p
            })
        });
        p.step_overhead_ms = golden(bounds[2].0, bounds[2].1, iters, |x| {
            f(RooflineParams {
                step_overhead_ms: x,
                ..p
            })
        });
        if stop_when_flat && (before - f(p)).abs() < 1e-14 {
            break;
        }
    }
    p
}

/// Fits the step-time model for `model` on `tp` x `gpu` at `precision` to `samples`.
pub fn fit(
    model: &Model,
    gpu: &Gpu,
    tp: u32,
    precision: Precision,
    samples: &[StepSample],
    source: &str,
) -> Profile {
    let f = |p: RooflineParams| objective(model, gpu, tp, precision, p, samples);
    let bounds = STEP_FIT_BOUNDS;
    let p = descend(&f, RooflineParams::default(), bounds, 60, 40, true);
    let r = Roofline::new(model, gpu, tp, precision, p);
    let errs: Vec<f64> = samples
        .iter()
        .map(|x| r.step_time_s(&x.shape) * 1e3 / x.step_ms - 1.0)
        .collect();
    let worst = errs.iter().map(|e| e.abs()).fold(0.0, f64::max);
    Profile {
        model: model.id.clone(),
        gpu: gpu.id.clone(),
        tp,
        precision,
        params: p,
        points: samples.len(),
        rms_log_error: (f(p) / samples.len().max(1) as f64).sqrt(),
        max_abs_error: worst,
        source: source.to_string(),
        warnings: fit_warnings(&p, bounds, worst),
    }
}

/// The scenario's `perf`: a fitted profile and/or explicit parameters (explicit ones win).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PerfSpec {
    /// A profile written by `fleetsim calibrate`.
    #[serde(default)]
    pub profile: Option<PathBuf>,
    /// Fraction of peak tensor FLOP/s.
    #[serde(default)]
    pub compute_efficiency: Option<f64>,
    /// Fraction of peak memory bandwidth.
    #[serde(default)]
    pub memory_efficiency: Option<f64>,
    /// Fraction of link bandwidth for all-reduce.
    #[serde(default)]
    pub link_efficiency: Option<f64>,
    /// Fixed time per step, milliseconds.
    #[serde(default)]
    pub step_overhead_ms: Option<f64>,
    /// Time per sequence in a step, microseconds.
    #[serde(default)]
    pub seq_overhead_us: Option<f64>,
    /// Latency of one tensor-parallel all-reduce, microseconds.
    #[serde(default)]
    pub allreduce_latency_us: Option<f64>,
}

impl PerfSpec {
    /// The parameters for a replica of `model` on `tp` x `gpu` at `precision`, starting from
    /// `defaults` (the catalog's fit for the GPU family); a profile replaces them, and a profile
    /// fitted for another setup is an error that says which.
    pub fn resolve(
        &self,
        base_dir: &Path,
        model: &str,
        gpu: &str,
        tp: u32,
        precision: Precision,
        defaults: RooflineParams,
    ) -> Result<RooflineParams> {
        let mut p = defaults;
        if let Some(path) = &self.profile {
            let path = crate::input::resolve_path(path, base_dir);
            let prof = Profile::load(&path)?;
            if prof.model != model
                || prof.gpu != gpu
                || prof.tp != tp
                || prof.precision != precision
            {
                return Err(Error::config(
                    "perf.profile",
                    format!(
                        "{} was fitted for {} on {} x {} ({}), but the scenario runs {} on {} x {} ({})",
                        path.display(),
                        prof.model,
                        prof.tp,
                        prof.gpu,
                        prof.precision.as_str(),
                        model,
                        tp,
                        gpu,
                        precision.as_str()
                    ),
                ));
            }
            p = prof.params;
        }
        if let Some(x) = self.compute_efficiency {
            p.compute_efficiency = x;
        }
        if let Some(x) = self.memory_efficiency {
            p.memory_efficiency = x;
        }
        if let Some(x) = self.link_efficiency {
            p.link_efficiency = x;
        }
        if let Some(x) = self.step_overhead_ms {
            p.step_overhead_ms = x;
        }
        if let Some(x) = self.seq_overhead_us {
            p.seq_overhead_us = x;
        }
        if let Some(x) = self.allreduce_latency_us {
            p.allreduce_latency_us = Some(x);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use rand::{Rng, SeedableRng};

    /// Steps generated from known parameters with up to 0.5% noise (about the spread of CUDA-event
    /// timings after warm-up) are fitted back within 2%. With 1% noise the overhead of a 70B TP-4
    /// decode, a fifth of its step, drifts to about 3%: noise, not the optimizer (noise-free steps
    /// are recovered exactly). Seeds 1 to 8 of the noise all pass.
    #[test]
    fn recovers_known_parameters_from_noisy_steps() {
        let c = Catalog::builtin();
        for (m, g, tp, prec, truth) in [
            (
                "llama-3.1-8b",
                "h100-sxm",
                1,
                Precision::Bf16,
                (0.55, 0.72, 2.5),
            ),
            (
                "llama-3.1-70b",
                "a100-80gb",
                4,
                Precision::Bf16,
                (0.45, 0.85, 4.0),
            ),
            ("llama-3.1-8b", "l40s", 1, Precision::Fp8, (0.7, 0.6, 3.0)),
        ] {
            let (model, gpu) = (c.model(m).unwrap(), c.gpu(g).unwrap());
            let params = RooflineParams {
                compute_efficiency: truth.0,
                memory_efficiency: truth.1,
                step_overhead_ms: truth.2,
                ..Default::default()
            };
            let r = Roofline::new(model, gpu, tp, prec, params);
            let mut rng = rand::rngs::StdRng::seed_from_u64(5);
            let mut samples = Vec::new();
            // A grid from memory-bound decode to compute-bound prefill, each shape measured
            // four times (a profiler repeats its measurements).
            for prefill in [0u32, 128, 512, 2048, 8192].repeat(4) {
                for decode in [0u32, 1, 16, 64, 256] {
                    if prefill == 0 && decode == 0 {
                        continue;
                    }
                    let shape = BatchShape::with_prefill(decode, decode as u64 * 1000, prefill);
                    let noise = 1.0 + 0.005 * (rng.gen::<f64>() * 2.0 - 1.0);
                    samples.push(StepSample {
                        step_ms: r.step_time_s(&shape) * 1e3 * noise,
                        shape,
                    });
                }
            }
            let p = fit(model, gpu, tp, prec, &samples, "synthetic").params;
            for (name, got, want) in [
                ("compute", p.compute_efficiency, truth.0),
                ("memory", p.memory_efficiency, truth.1),
                ("overhead", p.step_overhead_ms, truth.2),
            ] {
                assert!(
                    (got - want).abs() / want < 0.02,
                    "{m} on {g}: {name} {got} vs {want}"
                );
            }
        }
    }
}

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

/// Nelder-Mead minimum of `f` over three variables from `x0` with initial steps `step`
/// (standard reflection 1, expansion 2, contraction 0.5, shrink 0.5). Used where coordinate
/// descent crawls along a narrow valley (memory efficiency against overhead).
pub(crate) fn nelder_mead(
    f: impl Fn([f64; 3]) -> f64,
    x0: [f64; 3],
    step: [f64; 3],
    iters: usize,
) -> [f64; 3] {
    let mut pts: Vec<([f64; 3], f64)> = (0..4)
        .map(|i| {
            let mut x = x0;
            if i > 0 {
                x[i - 1] += step[i - 1];
            }
            (x, f(x))
        })
        .collect();
    let lerp = |a: [f64; 3], b: [f64; 3], t: f64| {
        [
            a[0] + t * (b[0] - a[0]),
            a[1] + t * (b[1] - a[1]),
            a[2] + t * (b[2] - a[2]),
        ]
    };
    for _ in 0..iters {
        pts.sort_by(|a, b| a.1.total_cmp(&b.1));
        let c = {
            let mut c = [0.0; 3];
            for p in &pts[..3] {
                for (ck, pk) in c.iter_mut().zip(p.0) {
                    *ck += pk / 3.0;
                }
            }
            c
        };
        let worst = pts[3];
        let r = lerp(c, worst.0, -1.0);
        let fr = f(r);
        if fr < pts[0].1 {
            let e = lerp(c, worst.0, -2.0);
            let fe = f(e);
            pts[3] = if fe < fr { (e, fe) } else { (r, fr) };
        } else if fr < pts[2].1 {
            pts[3] = (r, fr);
        } else {
            let k = lerp(c, worst.0, 0.5);
            let fk = f(k);
            if fk < worst.1 {
                pts[3] = (k, fk);
            } else {
                let best = pts[0].0;
                for p in pts.iter_mut().skip(1) {
                    let x = lerp(best, p.0, 0.5);
                    *p = (x, f(x));
                }
            }
        }
    }
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    pts[0].0
}
