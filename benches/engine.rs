//! Engine benches (simulation only: the workload is resolved once, outside the timed loop).
//!
//! - `azure_conv_h100_80pct_capacity`: the Azure LLM 2023 conversation trace (19,366 requests)
//!   on one H100 replica serving Llama-3.1-8B, its rate scaled so the offered load is 80% of the
//!   replica's capacity figure for this workload (issue 16's target (a)).
//! - `poisson_1m_512_128_h100_80pct_capacity`: 1,000,000 Poisson arrivals of 512-token prompts
//!   and 128-token outputs at 80% of one H100's capacity for them (target (b)).
//! - `azure_conv_4_replicas_4x`: the Azure conversation trace at 4x its rate on 4 replicas
//!   behind the default router (least-outstanding, which reads every replica at each arrival).
//! - `azure_conv_h100_80pct_busy`: the same trace stretched (rate_scale 0.2) so one replica is
//!   about 80% busy with small batches: many steps per request.
//! - `mooncake_prefix_cache`: the Mooncake synthetic trace (3,993 requests with 512-token prefix
//!   ids) on one H100 with prefix caching, with the KV cache from memory (eviction-heavy) and
//!   with a 40M-token cache that never evicts (lookup-heavy).
//!
//! Run: `cargo bench --bench engine` (or `cargo bench --bench engine -- poisson` for one).
//! The whole-process figure for (b) is `fleetsim run benches/poisson-1m.json --no-requests
//! --no-charts` (docs/PERFORMANCE.md).

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

/// Offered requests per second of a spec: its requests over their arrival span.
fn offered_per_s(spec: &RunConfig) -> f64 {
    let r = spec.requests();
    let span = r.last().unwrap().arrival.as_secs_f64() - r[0].arrival.as_secs_f64();
    (r.len() - 1) as f64 / span
}

const AZURE: &str = r#"{"trace": {"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_conv.csv",
                                   "format": "azure", "rate_scale": RATE}}"#;

fn azure(rate_scale: f64, replicas: u32) -> RunConfig {
    let workload = AZURE.replace("RATE", &format!("{rate_scale}"));
    spec(&format!(
        r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm", "workload": {workload},
            "fleet": {{"replicas": {replicas}}}}}"#
    ))
}

fn poisson(requests: u32, rate_per_s: f64) -> RunConfig {
    spec(&format!(
        r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"synthetic": {{"requests": {requests},
                "arrivals": {{"kind": "poisson", "rate_per_s": {rate_per_s}}},
                "input_tokens": {{"kind": "fixed", "value": 512}},
                "output_tokens": {{"kind": "fixed", "value": 128}}}}}}}}"#
    ))
}

fn engine(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    g.sample_size(10);

    // (a) Azure conv at 80% of one replica's capacity figure.
    let base = azure(1.0, 1);
    let cap = base.replica_capacity().requests_per_s;
    let scale = 0.8 * cap / offered_per_s(&base);
    let a = azure(scale, 1);
    eprintln!(
        "azure conv: capacity {cap:.2} requests/s, rate_scale {scale:.3}, offered {:.2} requests/s",
        offered_per_s(&a)
    );
    probe("azure conv at 80% of capacity", &a);
    g.throughput(Throughput::Elements(a.requests().len() as u64));
    g.bench_function("azure_conv_h100_80pct_capacity", |b| b.iter(|| a.run()));

    // (b) 1M Poisson requests of 512 + 128 tokens at 80% of capacity.
    let cap = poisson(4000, 10.0).replica_capacity().requests_per_s;
    let p = poisson(1_000_000, 0.8 * cap);
    eprintln!(
        "poisson 512/128: capacity {cap:.2} requests/s, rate {:.2}",
        0.8 * cap
    );
    probe("poisson 1M", &p);
    g.throughput(Throughput::Elements(p.requests().len() as u64));
    g.bench_function("poisson_1m_512_128_h100_80pct_capacity", |b| {
        b.iter(|| p.run())
    });

    let four = azure(4.0, 4);
    probe("azure conv x4 on 4 replicas", &four);
    g.throughput(Throughput::Elements(four.requests().len() as u64));
    g.bench_function("azure_conv_4_replicas_4x", |b| b.iter(|| four.run()));

    let busy = azure(0.2, 1);
    probe("azure conv x0.2", &busy);
    g.throughput(Throughput::Elements(busy.requests().len() as u64));
    g.bench_function("azure_conv_h100_80pct_busy", |b| b.iter(|| busy.run()));

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

    // A large fleet behind prefix-affinity, where routing reads the fleet index
    // (src/fleet/index.rs) instead of asking each of the 512 replicas.
    let large = spec(
        r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"trace": {"path": "traces/mooncake/synthetic_trace.jsonl", "format": "mooncake",
                                   "rate_scale": 64}},
            "fleet": {"replicas": 512, "router": "prefix-affinity"}}"#,
    );
    probe("mooncake x64 on 512 replicas, prefix-affinity", &large);
    g.throughput(Throughput::Elements(large.requests().len() as u64));
    g.bench_function("mooncake_x64_512_replicas_prefix_affinity", |b| {
        b.iter(|| large.run())
    });
    g.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
