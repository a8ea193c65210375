//! Prefix caching against the unbounded-cache bound, with and without memory pressure, and on
//! multi-turn conversations.

use fleetsim::metrics::Summary;
use fleetsim::scenario::Scenario;

use crate::util::{assert_conserved, run_json};

const MOONCAKE: &str = "traces/mooncake/synthetic_trace.jsonl";

fn mooncake(replica: &str) -> Summary {
    let r = run_json(&format!(
        r#"{{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"trace": {{"path": "{MOONCAKE}", "format": "mooncake"}}}},
            "replica": {replica}}}"#
    ));
    assert_conserved(&r.summary);
    r.summary
}

/// The bound `fleetsim trace stats` reports for the shipped Mooncake trace: 65.0% of prompt tokens
/// (see cli::trace_stats_reports_the_unbounded_prefix_bound).
const BOUND_TOKENS: f64 = 0.6504;

#[test]
fn never_evicting_cache_reaches_the_unbounded_bound() {
    // 40M tokens of KV (2.5M blocks) hold every block the trace ever computes.
    let s = mooncake(r#"{"kv_cache_tokens": 40000000}"#);
    let p = &s.prefix_cache;
    assert_eq!(p.evicted_blocks, 0);
    assert!(
        p.hit_rate <= BOUND_TOKENS,
        "hit rate {} above the bound",
        p.hit_rate
    );
    // Below the bound only by what concurrency costs: a request whose shared prefix is still
    // being computed by an earlier one misses it.
    assert!(
        BOUND_TOKENS - p.hit_rate < 0.02,
        "hit rate {} vs bound {BOUND_TOKENS}",
        p.hit_rate
    );
}

#[test]
fn smaller_caches_hit_less_and_caching_off_hits_nothing() {
    let big = mooncake(r#"{"kv_cache_tokens": 40000000}"#);
    let mid = mooncake(r#"{"kv_cache_tokens": 2000000}"#);
    let small = mooncake(r#"{"kv_cache_tokens": 300000}"#);
    let off = mooncake(r#"{"kv_cache_tokens": 40000000, "prefix_caching": false}"#);
    let (b, m, s) = (
        big.prefix_cache.hit_rate,
        mid.prefix_cache.hit_rate,
        small.prefix_cache.hit_rate,
    );
    assert!(
        b > m && m > s,
        "hit rates {b} {m} {s} should fall with the cache"
    );
    assert!(s <= BOUND_TOKENS && m <= BOUND_TOKENS);
    assert!(
        mid.prefix_cache.evicted_blocks > 0
            && small.prefix_cache.evicted_blocks > mid.prefix_cache.evicted_blocks
    );
    assert_eq!(off.prefix_cache.hit_tokens, 0);
    assert!(!off.prefix_cache.enabled);
    assert!(
        off.sim.prefill_tokens_computed > big.sim.prefill_tokens_computed * 2,
        "prefill tokens {} without caching vs {} with",
        off.sim.prefill_tokens_computed,
        big.sim.prefill_tokens_computed
    );
    assert!(off.gpu.busy_gpu_s > big.gpu.busy_gpu_s);
}

fn chat(caching: bool) -> Summary {
    let r = run_json(&format!(
        r#"{{"seed": 4, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {{"synthetic": {{"requests": 3000,
                "arrivals": {{"kind": "poisson", "rate_per_s": 1.0}},
                "input_tokens": {{"kind": "lognormal", "median": 200, "p99": 1500}},
                "output_tokens": {{"kind": "lognormal", "median": 150, "p99": 800}},
                "prefix": {{"kind": "sessions", "turns": {{"kind": "uniform", "min": 2, "max": 8}},
                           "think_time_s": 15, "system_prompt_tokens": 1000}}}}}},
            "replica": {{"prefix_caching": {caching}}}}}"#
    ));
    assert_conserved(&r.summary);
    r.summary
}

#[test]
fn caching_lowers_ttft_on_multi_turn_chat() {
    let on = chat(true);
    let off = chat(false);
    let (a, b) = (on.latency.ttft_s.mean, off.latency.ttft_s.mean);
    assert!(on.prefix_cache.hit_rate > 0.5, "{:?}", on.prefix_cache);
    assert!(
        a < 0.5 * b,
        "mean TTFT {a:.4} s with caching vs {b:.4} s without: caching should at least halve it"
    );
    eprintln!(
        "multi-turn chat: mean TTFT {:.1} ms with prefix caching, {:.1} ms without ({:.1}x), hit rate {:.1}%",
        a * 1e3,
        b * 1e3,
        b / a,
        100.0 * on.prefix_cache.hit_rate
    );
}

#[test]
fn turns_wait_for_the_previous_answer() {
    let spec = Scenario::from_json(
        r#"{"seed": 2, "model": "llama-3.1-8b", "gpu": "h100-sxm",
            "workload": {"synthetic": {"requests": 400,
                "arrivals": {"kind": "poisson", "rate_per_s": 2.0},
                "input_tokens": {"kind": "fixed", "value": 100},
                "output_tokens": {"kind": "fixed", "value": 50},
                "prefix": {"kind": "sessions", "turns": {"kind": "fixed", "value": 4}, "think_time_s": 5}}}}"#,
        std::path::Path::new("<test>"),
    )
    .unwrap()
    .resolve(&crate::util::root())
    .unwrap();
    let r = spec.run();
    let recs = &r.output.recorder.records;
    let mut checked = 0;
    for (req, rec) in spec.requests().iter().zip(recs) {
        if let Some(f) = req.follows {
            let prev = &recs[f.prev as usize];
            assert_eq!(
                rec.arrival,
                prev.finish.unwrap() + f.think,
                "turn sent at answer + think"
            );
            assert_eq!(req.session, spec.requests()[f.prev as usize].session);
            // The history (previous prompt + answer) is all cached but the last, partial block.
            assert!(rec.cached_tokens + 16 >= spec.requests()[f.prev as usize].input_tokens + 49);
            checked += 1;
        }
    }
    assert_eq!(checked, 300);
}
