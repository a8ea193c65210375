//! `fleetsim calibrate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fleetsim::catalog::Catalog;
use fleetsim::fidelity::calibrate::read_bench_json;
use fleetsim::fidelity::steps::{check_profile, fit, read_steps_csv};
use fleetsim::perf::step_time_defaults;
use fleetsim::perf::Precision;

#[derive(Args, Debug)]
pub(crate) struct CalibrateArgs {
    /// Measured steps (a CSV `prefill_tokens,decode_seqs,context_tokens,step_ms`), or one or
    /// more `vllm bench serve --save-result` JSON files with per-request lengths.
    #[arg(required = true, num_args = 1..)]
    measurements: Vec<PathBuf>,
    /// Model the steps were measured on.
    #[arg(long)]
    model: String,
    /// GPU the steps were measured on.
    #[arg(long)]
    gpu: String,
    /// Tensor-parallel GPUs.
    #[arg(long, default_value_t = 1)]
    tp: u32,
    /// Weight precision: bf16 or fp8.
    #[arg(long, default_value = "bf16")]
    precision: String,
    /// Where to write the profile.
    #[arg(long, default_value = "profile.json")]
    out: PathBuf,
    /// The engine profile whose step times are checked against measured steps (a step CSV):
    /// its fit for the GPU's family and the precision, as a scenario would get it.
    #[arg(long, default_value = "vllm")]
    engine: String,
    /// Treat a doubtful fit (a parameter at a bound, worst error above 25%) as an error: the
    /// profile is still written, and the exit status is 2.
    #[arg(long)]
    strict: bool,
}

pub(crate) fn calibrate(a: CalibrateArgs) -> anyhow::Result<()> {
    let c = Catalog::builtin();
    let model = c.model(&a.model)?;
    let gpu = c.gpu(&a.gpu)?;
    if ![1, 2, 4, 8].contains(&a.tp) {
        anyhow::bail!("--tp must be 1, 2, 4 or 8, got {}", a.tp);
    }
    let precision = match a.precision.to_ascii_lowercase().as_str() {
        "bf16" => Precision::Bf16,
        "fp8" => Precision::Fp8,
        other => anyhow::bail!("--precision must be bf16 or fp8, got `{other}`"),
    };
    let json = a.measurements.iter().all(|p| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    });
    let engine = c.engine(&a.engine)?;
    let mut checked = None;
    let p = if json {
        let runs = a
            .measurements
            .iter()
            .map(|p| read_bench_json(p))
            .collect::<fleetsim::Result<Vec<_>>>()?;
        fleetsim::fidelity::calibrate::fit_bench(model, gpu, a.tp, precision, &runs)?
    } else {
        if a.measurements.len() != 1 {
            anyhow::bail!("give one step CSV, or only vllm bench serve JSON files");
        }
        let samples = read_steps_csv(&a.measurements[0])?;
        let params = step_time_defaults(c, engine, gpu, precision, model.is_moe());
        checked = Some((
            params,
            check_profile(model, gpu, a.tp, precision, params, &samples),
        ));
        fit(
            model,
            gpu,
            a.tp,
            precision,
            &samples,
            &a.measurements[0].display().to_string(),
        )
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
