//! Engine throughput: the Azure LLM 2023 conversation trace (19,366 requests) replayed on one
//! H100 replica serving Llama-3.1-8B, with time stretched (rate_scale 0.2) so the replica is
//! about 80% busy. Reports simulated requests per wall second.
//!
//! Run: `cargo bench --bench engine`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetsim::scenario::Scenario;

const SCENARIO: &str = r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
    "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                           "format": "azure", "rate_scale": 0.2}}}"#;

fn engine(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = Scenario::from_json(SCENARIO, Path::new("bench"))
        .unwrap()
        .resolve(root)
        .unwrap();
    let n = spec.workload.requests.len() as u64;
    let probe = spec.run();
    eprintln!(
        "azure conv x0.2 on 1 x h100-sxm: {} requests, busy {:.1}%, {} steps, {} events",
        n,
        100.0 * probe.summary.gpu.busy_fraction,
        probe.summary.sim.steps,
        probe.summary.sim.events
    );
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function("azure_conv_h100_80pct_busy", |b| b.iter(|| spec.run()));
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
