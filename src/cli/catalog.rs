//! `fleetsim catalog`.

use clap::Args;
use fleetsim::catalog::Catalog;

#[derive(Args, Debug)]
pub struct CatalogArgs {
    /// Print JSON (with sources) instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CatalogArgs) -> anyhow::Result<()> {
    let c = Catalog::builtin();
    if a.json {
        let v = serde_json::json!({
            "gpus": c.gpus,
            "models": c.models,
            "step_time": {"fits": c.step_time, "source": c.step_time_source, "notes": c.step_time_notes},
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
        "{:<15} {:>8} {:>8} {:>6} {:>8} {:>10} {:>9}  name",
        "model", "params B", "active B", "layers", "kv heads", "KV KiB/tok", "max len"
    );
    for m in &c.models {
        println!(
            "{:<15} {:>8.2} {:>8.2} {:>6} {:>8} {:>10.0} {:>9}  {}",
            m.id,
            m.total_params_b,
            m.active_params_b,
            m.layers,
            m.kv_heads,
            m.kv_bytes_per_token_bf16() as f64 / 1024.0,
            m.max_model_len,
            m.name
        );
    }
    println!();
    println!(
        "{:<9} {:<9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>13} {:>7}",
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
    for f in &c.step_time {
        println!(
            "{:<9} {:<9} {:>8.3} {:>8.3} {:>8.3} {:>11.2} {:>10.2} {:>13} {:>7}",
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
    println!("(step-time defaults fitted per GPU family and precision; other precisions use the family's fit, other families 0.6 / 0.8 / 0.7 / 1 ms / 0 us)");
    println!("\nsources: fleetsim catalog --json");
    Ok(())
}
