//! `fleetsim catalog`.

use clap::Args;
use fleetsim::catalog::Catalog;

#[derive(Args, Debug)]
pub(crate) struct CatalogArgs {
    /// Print JSON (with sources) instead of tables.
    #[arg(long)]
    json: bool,
    /// Show only what fleetsim makes of this Hugging Face config.json (the model a scenario's
    /// `"model": {"config": ...}` would simulate).
    #[arg(long, value_name = "CONFIG")]
    config: Option<std::path::PathBuf>,
}

pub(crate) fn run(a: CatalogArgs) -> anyhow::Result<()> {
    if let Some(path) = &a.config {
        let spec = fleetsim::scenario::ModelSpec::Config(fleetsim::scenario::ModelConfigRef {
            config: path.clone(),
            id: None,
        });
        let m = spec.resolve(std::path::Path::new("."))?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&m)?);
        } else {
            let gib = |b: f64| m.total_params_b * 1e9 * b / 1024f64.powi(3);
            println!("model          {} ({})", m.id, m.name);
            println!(
                "parameters     {:.3} B ({:.3} B active per token)",
                m.total_params_b, m.active_params_b
            );
            if let (Some(e), Some(k)) = (m.experts, m.experts_per_token) {
                println!(
                    "experts        {e}, {k} per token, intermediate size {} each",
                    m.intermediate_size
                );
            }
            println!(
                "layers         {}, hidden {}, {} heads, {} KV heads of {}",
                m.layers, m.hidden_size, m.heads, m.kv_heads, m.head_dim
            );
            println!(
                "KV cache       {:.0} KiB per token (BF16)",
                m.kv_bytes_per_token_bf16() as f64 / 1024.0
            );
            println!(
                "weights        {:.1} GiB at BF16, {:.1} GiB at FP8",
                gib(2.0),
                gib(1.0)
            );
            println!("context        {} tokens", m.max_model_len);
            println!("source         {}", m.source);
        }
        return Ok(());
    }
    let c = Catalog::builtin();
    if a.json {
        let v = serde_json::json!({
            "gpus": c.gpus,
            "models": c.models,
            "engines": {"profiles": c.engines, "default": c.default_engine, "notes": c.engine_notes},
            "gpu_prices": c.gpu_prices,
            "apis": c.apis,
            "default_apis": c.default_apis,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<11} {:<9} {:>9} {:>9} {:>8} {:>8} {:>9}  name",
        "gpu", "family", "bf16 TF", "fp8 TF", "mem GiB", "HBM TB/s", "link GB/s"
    );
    for g in &c.gpus {
        println!(
            "{:<11} {:<9} {:>9.1} {:>9} {:>8.1} {:>8.2} {:>9.0}  {}",
            g.id,
            g.family,
            g.bf16_tflops,
            g.fp8_tflops
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            g.memory_gib,
            g.mem_bw_tbps,
            g.link_gbps,
            g.name
        );
    }
    println!();
    println!(
        "{:<15} {:>8} {:>8} {:>6} {:>8} {:>10} {:>9} {:>9} {:>9}  name",
        "model",
        "params B",
        "active B",
        "layers",
        "kv heads",
        "KV KiB/tok",
        "bf16 GiB",
        "fp8 GiB",
        "max len"
    );
    for m in &c.models {
        let gib = |bytes_per_param: f64| m.total_params_b * 1e9 * bytes_per_param / 1024f64.powi(3);
        println!(
            "{:<15} {:>8.2} {:>8.2} {:>6} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>9}  {}",
            m.id,
            m.total_params_b,
            m.active_params_b,
            m.layers,
            m.kv_heads,
            m.kv_bytes_per_token_bf16() as f64 / 1024.0,
            gib(2.0),
            gib(1.0),
            m.max_model_len,
            m.name
        );
    }
    println!();
    println!(
        "{:<12} {:<9} {:<9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>13} {:>7}",
        "engine",
        "family",
        "precision",
        "compute",
        "memory",
        "link",
        "overhead ms",
        "per-seq us",
        "all-reduce us",
        "figures"
    );
    for (e, f) in c
        .engines
        .iter()
        .flat_map(|e| e.fits.iter().map(move |f| (e, f)))
    {
        println!(
            "{:<12} {:<9} {:<9} {:>8.3} {:>8.3} {:>8.3} {:>11.2} {:>10.2} {:>13} {:>7}",
            e.id,
            f.family,
            f.precision,
            f.compute_efficiency,
            f.memory_efficiency,
            f.link_efficiency,
            f.step_overhead_ms,
            f.seq_overhead_us,
            f.allreduce_latency_us
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            f.figures
        );
    }
    for e in &c.engines {
        if e.fits.is_empty() {
            println!(
                "{:<12} (no fit of its own: step times of `{}`)",
                e.id,
                e.steps_from.as_deref().unwrap_or("the generic defaults")
            );
        }
    }
    println!("(step-time parameters per engine profile, GPU family and precision; `replica.engine` picks the profile, default `{}`; a family without a fit uses the profile's nearest precision, then the profile it takes steps from, then 0.6 / 0.8 / 0.7 / 1 ms / 0 us)", c.default_engine);
    println!();
    println!(
        "{:<11} {:<16} {:<14} {:>9} {:<10} {:<12} chosen by default",
        "gpu", "provider", "plan", "$/GPU-h", "confidence", "date"
    );
    let default = fleetsim::cost::CostSpec::default();
    for p in &c.gpu_prices {
        let spec = fleetsim::cost::CostSpec {
            pricing: p.plan.clone(),
            ..default.clone()
        };
        let chosen = spec
            .gpu_price(&p.gpu)
            .is_ok_and(|x| x.provider == p.provider && x.usd_per_gpu_hour == p.usd_per_gpu_hour);
        println!(
            "{:<11} {:<16} {:<14} {:>9.3} {:<10} {:<12} {}",
            p.gpu,
            p.provider,
            p.plan,
            p.usd_per_gpu_hour,
            p.confidence,
            p.date,
            if chosen { "yes" } else { "" }
        );
    }
    println!("(default: the cheapest non-community offer of medium or high confidence per plan; choose one with cost.provider or give cost.gpu_usd_per_hour)");
    println!();
    println!(
        "{:<24} {:<15} {:>7} {:>7} {:>7} {:<10} {:<10} {:>9} {:>9}  serves",
        "api",
        "architecture",
        "in $/M",
        "cache",
        "out $/M",
        "confidence",
        "date",
        "ttft p50",
        "tok/s p50"
    );
    for a in &c.apis {
        let l = a.latency.as_ref();
        let o = |x: Option<f64>, d: usize| {
            x.map(|v| format!("{v:.d$}"))
                .unwrap_or_else(|| "unknown".into())
        };
        println!(
            "{:<24} {:<15} {:>7.3} {:>7.3} {:>7.3} {:<10} {:<10} {:>9} {:>9}  {}{}",
            a.id,
            a.architecture.as_deref().unwrap_or("-"),
            a.input,
            a.cached_input,
            a.output,
            a.confidence,
            a.date,
            o(l.and_then(|l| l.median_ttft_s), 2),
            o(l.and_then(|l| l.median_output_tokens_per_s), 0),
            a.serves_name,
            if a.reasoning_tokens_billed_as_output {
                " (bills hidden reasoning tokens as output)"
            } else {
                ""
            }
        );
    }
    println!(
        "(compared by default: {} and every endpoint of the scenario's model)",
        c.default_apis.join(", ")
    );
    println!("\nsources: fleetsim catalog --json");
    Ok(())
}
