//! Property tests (proptest) of the replica's invariants over random workloads and cache sizes:
//! reference counts never negative and equal to the holders, blocks in use within capacity,
//! cached blocks evicted only when no running request holds them (all checked after every step
//! by `Replica::check_invariants`), and every request completes or is rejected with a reason.

use std::sync::Arc;

use fleetsim::catalog::Catalog;
use fleetsim::fleet::Simulation;
use fleetsim::metrics::Status;
use fleetsim::perf::{Precision, Roofline, RooflineParams};
use fleetsim::serving::{MemoryLayout, Replica, ReplicaSpec, SchedulerPolicy};
use fleetsim::time::SimTime;
use fleetsim::workload::{FollowUp, PrefixIds, Request, Workload};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Gen {
    gap_ms: u64,
    input: u32,
    output: u32,
    /// Prefix ids drawn from a small alphabet so requests share prefixes.
    ids: Vec<u64>,
    follows_prev: bool,
}

fn request_strategy() -> impl Strategy<Value = Gen> {
    (
        0u64..50,
        1u32..400,
        1u32..60,
        prop::collection::vec(0u64..3, 0..8),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(gap_ms, input, output, ids, follows_prev)| Gen {
            gap_ms,
            input,
            output,
            ids,
            follows_prev,
        })
}

fn build(gens: &[Gen], block: u32) -> Vec<Request> {
    let mut t = 0u64;
    let reqs: Vec<Request> = gens
        .iter()
        .enumerate()
        .map(|(i, g)| {
            t += g.gap_ms;
            let ids: Vec<u64> = g
                .ids
                .iter()
                .take(g.input.div_ceil(block * 2) as usize)
                .copied()
                .collect();
            Request {
                id: i as u64,
                arrival: SimTime::from_nanos(t * 1_000_000),
                input_tokens: g.input,
                output_tokens: g.output,
                prefix: (!ids.is_empty()).then_some(PrefixIds {
                    block_tokens: block * 2,
                    ids,
                }),
                session: None,
                follows: (g.follows_prev && i > 0).then(|| FollowUp {
                    prev: i as u64 - 1,
                    think: SimTime::from_nanos(3_000_000),
                }),
            }
        })
        .collect();
    Workload::finish(reqs, vec![]).requests
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn replica_invariants_hold(
        gens in prop::collection::vec(request_strategy(), 1..60),
        block_pow in 0u32..5,
        kv_blocks in 4u64..120,
        seqs in 1u32..8,
        extra_budget in 0u32..300,
        caching in any::<bool>(),
        no_evict in any::<bool>(),
        scheduler_steps in 1u32..5,
    ) {
        let block = 1u32 << block_pow;
        let c = Catalog::builtin();
        let gpu = c.gpu("h100-sxm").unwrap();
        let model = c.model("llama-3.1-8b").unwrap();
        let cfg = ReplicaSpec {
            max_num_seqs: Some(seqs),
            max_num_batched_tokens: Some(seqs + extra_budget),
            block_size: Some(block),
            kv_cache_tokens: Some(kv_blocks * block as u64),
            prefix_caching: Some(caching),
            scheduler_policy: Some(if no_evict {
                SchedulerPolicy::GuaranteedNoEvict
            } else {
                SchedulerPolicy::Vllm
            }),
            num_scheduler_steps: Some(scheduler_steps),
            ..Default::default()
        }
        .resolve(gpu)
        .unwrap();
        let mem = MemoryLayout::new(model, gpu, &cfg).unwrap();
        let perf = Arc::new(Roofline::new(model, gpu, 1, Precision::Bf16, RooflineParams::default()));
        let requests = build(&gens, block);
        let rep = Replica::new(0, &cfg, &mem, perf);
        let out = Simulation::new(&requests, vec![rep], None).with_invariant_checks().run();
        let s = out.summarize(&requests, 1);
        prop_assert_eq!(s.requests.arrived, requests.len() as u64);
        prop_assert_eq!(s.requests.completed + s.requests.rejected, s.requests.arrived);
        prop_assert_eq!(s.requests.unfinished, 0);
        for (r, rec) in requests.iter().zip(&out.recorder.records) {
            match rec.status {
                Status::Completed => prop_assert_eq!(rec.generated, r.output_tokens),
                // Rejected only if it can never fit: prompt + output beyond the KV capacity.
                Status::Rejected(_) => prop_assert!(
                    (r.input_tokens + r.output_tokens) as u64 > kv_blocks * block as u64
                ),
                other => prop_assert!(false, "request {} ended {:?}", r.id, other),
            }
        }
        prop_assert!(out.replicas[0].kv_peak_used_blocks <= kv_blocks);
        prop_assert_eq!(out.replicas[0].kv_used_blocks_at_end, 0);
        if !caching {
            prop_assert_eq!(s.prefix_cache.hit_tokens, 0);
        }
        if no_evict {
            prop_assert_eq!(out.replicas[0].preemptions, 0);
        }
    }
}
