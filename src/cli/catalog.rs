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
            use fleetsim::perf::Precision as P;
            let gib = |p: P| p.model_weight_bytes(&m) / 1024f64.powi(3);
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
            if let Some(r) = m.kv_lora_rank {
                println!(
                    "attention      multi-head latent: KV latent {r} + rotary {} per layer, one copy per GPU",
                    m.qk_rope_head_dim.unwrap_or(0)
                );
            }
            println!(
                "KV cache       {:.1} KiB per token (BF16){}",
                m.kv_bytes_per_token_bf16() as f64 / 1024.0,
                match m.sliding_window {
                    Some(w) if m.sliding_layers() > 0 => format!(
                        " in {} layers, plus {} sliding-window layers holding at most {w} tokens ({:.1} KiB per token) per sequence",
                        m.full_attention_layers(),
                        m.sliding_layers(),
                        fleetsim::perf::roofline::sliding_kv_bytes_per_token_per_gpu(&m, 1, 2) as f64 / 1024.0
                    ),
                    _ => String::new(),
                }
            );
            println!(
                "weights        {:.1} GiB at BF16, {:.1} at FP8, {:.1} at INT4, {:.1} at FP4 ({})",
                gib(P::Bf16),
                gib(P::Fp8),
                gib(P::Int4),
                gib(P::Fp4),
                if P::Fp4.fp4_experts_only(&m) {
                    "4-bit: embedding and LM head kept at 16 bits; FP4 is the config's own checkpoint: MXFP4 experts, every other weight 16-bit"
                } else {
                    "4-bit: embedding and LM head kept at 16 bits"
                }
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
        "{:<12} {:<9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9}  name",
        "gpu", "family", "bf16 TF", "fp8 TF", "fp4 TF", "mem GiB", "mem TB/s", "link GB/s"
    );
    let tf = |x: Option<f64>| x.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
    for g in &c.gpus {
        println!(
            "{:<12} {:<9} {:>9.1} {:>9} {:>9} {:>8.1} {:>8.2} {:>9.0}  {}",
            g.id,
            g.family,
            g.bf16_tflops,
            tf(g.fp8_tflops),
            tf(g.fp4_tflops),
            g.memory_gib,
            g.mem_bw_tbps,
            g.link_gbps,
            g.name
        );
    }
    println!();
    println!(
        "{:<15} {:>8} {:>8} {:>6} {:>8} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}  name",
        "model",
        "params B",
        "active B",
        "layers",
        "kv heads",
        "KV KiB/tok",
        "bf16 GiB",
        "fp8 GiB",
        "int4 GiB",
        "fp4 GiB",
        "max len"
    );
    for m in &c.models {
        let gib = |p: fleetsim::perf::Precision| p.model_weight_bytes(m) / 1024f64.powi(3);
        use fleetsim::perf::Precision as P;
        println!(
            "{:<15} {:>8.2} {:>8.2} {:>6} {:>8} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9}  {}",
            m.id,
            m.total_params_b,
            m.active_params_b,
            m.layers,
            m.kv_heads,
            m.kv_bytes_per_token_bf16() as f64 / 1024.0,
            gib(P::Bf16),
            gib(P::Fp8),
            gib(P::Int4),
            gib(P::Fp4),
            m.max_model_len,
            m.name
        );
    }
    println!();
    println!(
        "{:<12} {:<9} {:<9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>13} {:>12} {:>7}  fitted on",
        "engine",
        "family",
        "precision",
        "compute",
        "memory",
        "link",
        "overhead ms",
        "per-seq us",
        "all-reduce us",
        "MoE layer us",
        "figures"
    );
    for (e, f) in c
        .engines
        .iter()
        .flat_map(|e| e.fits.iter().map(move |f| (e, f)))
    {
        println!(
            "{:<12} {:<9} {:<9} {:>8.3} {:>8.3} {:>8.3} {:>11.2} {:>10.2} {:>13} {:>12} {:>7}  {}",
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
            f.moe_layer_overhead_us
                .map(|x| format!("{x:.1}"))
                .unwrap_or_else(|| "-".into()),
            f.figures,
            f.fitted_on
                .as_ref()
                .map(|o| format!(
                    "{}; {}; TP {}",
                    o.gpus.join(", "),
                    o.models.join(", "),
                    o.tp.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .unwrap_or_else(|| "-".into())
                + &f.step_overhead_from
                    .as_ref()
                    .map(|from| format!("; overhead held at the {from} fit's"))
                    .unwrap_or_default()
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
    println!("(step-time parameters per engine profile, GPU family and precision; `replica.engine` picks the profile, default `{}`; a family without a fit uses the profile's nearest precision, then the profile it takes steps from, then 0.6 / 0.8 / 0.7 / 1 ms / 0 us; MoE layer us `-`: no mixture-of-experts figure in that fit, so a replica takes the time per MoE layer from the nearest fit that has one, else 0; fitted on: the GPUs, models and TP sizes of the figures fitted (a fit of mixture-of-experts figures only holds the per-step overhead of the profile's dense fit, which cannot be told from the time per MoE layer): a replica beyond them (another GPU family, precision, a mixture-of-experts or MLA model where none was fitted, a larger TP) is told its step times are extrapolated)", c.default_engine);
    println!();
    println!(
        "{:<12} {:<20} {:<46} scheduler defaults",
        "engine", "error band", "name"
    );
    for e in &c.engines {
        let band = match e.band_for(&c.engines) {
            Some((from, b)) if from != e.id => format!("x{:.2}-{:.2} ({from}'s)", b.low, b.high),
            Some((_, b)) => format!("x{:.2}-{:.2}", b.low, b.high),
            None => "-".into(),
        };
        let mut keys: Vec<String> = e.replica.iter().map(|(k, v)| format!("{k} {v}")).collect();
        for t in &e.replica_by_gpu_memory {
            let when = t
                .below_gib
                .map_or("else".to_string(), |b| format!("below {b} GiB"));
            for (k, v) in &t.replica {
                keys.push(format!("{k} {v} {when}"));
            }
        }
        println!(
            "{:<12} {:<20} {:<46} {}",
            e.id,
            band,
            e.name,
            if keys.is_empty() {
                "-".to_string()
            } else {
                keys.join(", ")
            }
        );
    }
    println!("(error band: step-time factors at the 10th and 90th percentile of held-out published figures, `(x's)` when borrowed with x's step times; scheduler keys a profile leaves unset are vLLM's: 1024 sequences and 8192 tokens a step on GPUs of 70 GiB or more other than A100s, else 256 and 2048; block size 16; 0.9 of memory)");
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
