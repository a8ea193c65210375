//! `fleetsim calibrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fleetsim::catalog::Catalog;
use fleetsim::fidelity::calibrate::read_bench_json;
use fleetsim::fidelity::steps::{check_profile, fit, read_steps_csv};
use fleetsim::perf::{step_time_defaults, Precision};
use fleetsim::scenario::{ModelConfigRef, ModelSpec};
use fleetsim::serving::{KvCacheDtype, ReplicaSpec};

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    /// Measured steps (a CSV `prefill_tokens,decode_seqs,context_tokens,step_ms`), or one or
    /// more `vllm bench serve --save-result` JSON files with per-request lengths.
    #[arg(required = true, num_args = 1..)]
    measurements: Vec<PathBuf>,
    /// Model the steps were measured on: a catalog id, or a Hugging Face `config.json` (a path
    /// ending in `.json`), as a scenario's `model` takes either.
    #[arg(long)]
    model: String,
    /// GPU the steps were measured on.
    #[arg(long)]
    gpu: String,
    /// Tensor-parallel GPUs.
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// Weight precision: bf16, fp8, int4 or fp4 (gpt-oss at fp4: its MXFP4 checkpoint).
    #[arg(long, default_value = "bf16")]
    precision: String,
    /// KV cache element type the steps ran with: auto (16-bit) or fp8.
    #[arg(long, default_value = "auto")]
    kv_cache_dtype: String,
    /// Where to write the profile.
    #[arg(long, default_value = "profile.json")]
    out: PathBuf,
    /// The engine that ran the steps: its profile's step times are checked against measured
    /// steps (a step CSV), its fit for the GPU's family and the precision as a scenario would get
    /// it; its defaults decide FP8 attention and MXFP4 experts' activations, and a benchmark's
    /// replay takes its scheduler defaults.
    #[arg(long, default_value = "vllm")]
    engine: String,
    /// Treat a doubtful fit (a parameter at a bound, worst error above 25%) as an error: the
    /// profile is still written, and the exit status is 2.
    #[arg(long)]
    strict: bool,
}

pub(crate) fn calibrate(a: CalibrateArgs) -> anyhow::Result<()> {
    let c = Catalog::builtin();
    let spec = if a.model.to_ascii_lowercase().ends_with(".json") {
        ModelSpec::Config(ModelConfigRef {
            config: PathBuf::from(&a.model),
            id: None,
        })
    } else {
        ModelSpec::Id(a.model.clone())
    };
    let model = &match &spec {
        ModelSpec::Id(id) => c.model(id)?.clone(),
        ModelSpec::Config(_) => spec.resolve(std::path::Path::new("."))?,
    };
    let gpu = c.gpu(&a.gpu)?;
    if ![1, 2, 4, 8].contains(&a.tp) {
        anyhow::bail!("--tp must be 1, 2, 4 or 8, got {}", a.tp);
    }
    let lower = a.precision.to_ascii_lowercase();
    let Some(precision) = Precision::ALL.into_iter().find(|p| p.as_str() == lower) else {
        anyhow::bail!(
            "--precision must be bf16, fp8, int4 or fp4, got `{}`",
            a.precision
        );
    };
    let kv_cache_dtype = match a.kv_cache_dtype.to_ascii_lowercase().as_str() {
        "auto" => KvCacheDtype::Auto,
        "fp8" => KvCacheDtype::Fp8,
        other => anyhow::bail!("--kv-cache-dtype must be auto or fp8, got `{other}`"),
    };
    let json = a.measurements.iter().all(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    });
    let engine = c.engine(&a.engine)?;
    // The replica as a scenario with this engine would resolve it: FP8 attention and MXFP4
    // experts' activations come from the engine profile.
    let replica = ReplicaSpec {
        engine: Some(engine.id.clone()),
        tp: Some(a.tp),
        precision: Some(precision),
        kv_cache_dtype: Some(kv_cache_dtype),
        ..Default::default()
    }
    .resolve(gpu)
    .map_err(anyhow::Error::from)?;
    let setup = replica.roofline_setup(model, gpu);
    let mut checked = None;
    let p = if json {
        let runs = a
            .measurements
            .iter()
            .map(|p| read_bench_json(p))
            .collect::<fleetsim::Result<Vec<_>>>()?;
        fleetsim::fidelity::calibrate::fit_bench(
            &spec,
            gpu,
            fleetsim::fidelity::calibrate::BenchReplica {
                engine: &engine.id,
                tp: a.tp,
                precision,
                kv_cache_dtype,
            },
            &runs,
        )?
    } else {
        if a.measurements.len() != 1 {
            anyhow::bail!("give one step CSV, or only vllm bench serve JSON files");
        }
        let samples = read_steps_csv(&a.measurements[0])?;
        let params = step_time_defaults(c, engine, gpu, precision, model.is_moe());
        checked = Some((params, check_profile(&setup, params, &samples)));
        fit(&setup, &samples, &a.measurements[0].display().to_string())
    };
    let mut text = serde_json::to_string_pretty(&p)?;
    text.push('\n');
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "fitted {} measurements of {} on {} x {} ({}): compute efficiency {:.3}, memory efficiency {:.3}, overhead {:.3} ms",
        p.points,
        p.model,
        p.tp,
        p.gpu,
        p.precision.as_str(),
        p.params.compute_efficiency,
        p.params.memory_efficiency,
        p.params.step_overhead_ms
    );
    println!(
        "fit error on these measurements: rms {:.1}% (log), worst {:.1}%; wrote {} (use it with \"perf\": {{\"profile\": \"{}\"}})",
        100.0 * p.rms_log_error,
        100.0 * p.max_abs_error,
        a.out.display(),
        a.out.display()
    );
    if let Some((q, ch)) = checked {
        let pct = |x: f64| format!("{:+.1}%", 100.0 * x);
        println!(
            "the `{}` profile's step times for {} {} (compute {:.3}, memory {:.3}, overhead {:.2} ms + {:.2} us/seq) on these steps: median error {}, worst {}; without its overheads (the memory and compute terms alone, which GPU-only step times measure): median {}, worst {}",
            engine.id,
            gpu.family,
            precision.as_str(),
            q.compute_efficiency,
            q.memory_efficiency,
            q.step_overhead_ms,
            q.seq_overhead_us,
            pct(ch.median_error),
            pct(ch.worst_error),
            pct(ch.median_error_without_overhead),
            pct(ch.worst_error_without_overhead),
        );
    }
    for w in &p.warnings {
        eprintln!("warning: {w}");
    }
    if a.strict && !p.warnings.is_empty() {
        anyhow::bail!(
            "--strict: the fit is doubtful ({} warning(s) above); {} was written for inspection",
            p.warnings.len(),
            a.out.display()
        );
    }
    Ok(())
}
