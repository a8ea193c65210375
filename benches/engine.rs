//! Engine benches.
//!
//! - `azure_conv_h100_80pct_busy`: the Azure LLM 2023 conversation trace (19,366 requests)
//!   replayed on one H100 replica serving Llama-3.1-8B, with time stretched (rate_scale 0.2) so
//!   the replica is about 80% busy.
//! - `mooncake_prefix_cache`: the Mooncake synthetic trace (3,993 requests with 512-token prefix
//!   ids) on one H100 with prefix caching, with the KV cache from memory (eviction-heavy) and
//!   with a 40M-token cache that never evicts (lookup-heavy).
//!
//! Run: `cargo bench --bench engine`

// criterion_group! defines an undocumented public function.
#![allow(missing_docs)]

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fleetsim::scenario::{RunConfig, Scenario};

fn spec(json: &str) -> RunConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Scenario::from_json(json, Path::new("bench"))
        .unwrap()
        .resolve(root)
        .unwrap()
}

fn probe(name: &str, spec: &RunConfig) {
    let s = spec.run().summary;
    eprintln!(
        "{name}: {} requests, busy {:.1}%, {} steps, {} events, prefix hit rate {:.1}%, {} evicted",
        spec.requests().len(),
        100.0 * s.gpu.busy_fraction,
        s.sim.steps,
        s.sim.events,
        100.0 * s.prefix_cache.hit_rate,
        s.prefix_cache.evicted_blocks
    );
}

fn engine(c: &mut Criterion) {
    let azure = spec(
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                                   "format": "azure", "rate_scale": 0.2}}}"#,
    );
    probe("azure conv x0.2", &azure);
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);
    g.throughput(Throughput::Elements(azure.requests().len() as u64));
    g.bench_function("azure_conv_h100_80pct_busy", |b| b.iter(|| azure.run()));
    for (name, replica) in [
        ("mooncake_prefix_cache_from_memory", "{}"),
        (
            "mooncake_prefix_cache_never_evicts",
            r#"{"kv_cache_tokens": 40000000}"#,
        ),
    ] {
        let m = spec(&format!(
            r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"trace": {{"path": "traces/mooncake/synthetic_trace.jsonl", "format": "mooncake"}}}},
                "replica": {replica}}}"#
        ));
        probe(name, &m);
        g.throughput(Throughput::Elements(m.requests().len() as u64));
        g.bench_function(name, |b| b.iter(|| m.run()));
    }
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
