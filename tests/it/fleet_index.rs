//! A fixed fleet's index of what its router reads (`fleet::index::FleetIndex`: which replicas
//! hold which prompts' leading blocks, and each replica's outstanding requests) changes no
//! routing decision: behind prefix-affinity, least-outstanding and session-affinity, every
//! record, replica total and event count is the same with the index as when the router asks
//! every replica, in memory and streamed; and the index matches the replicas after every step
//! (checked by `with_invariant_checks`), through evictions in small KV caches and the
//! prefix-affinity router's load fallback.

use std::path::Path;
use std::sync::Arc;

use fleetsim::catalog::Catalog;
use fleetsim::fleet::stream::StreamSimulation;
use fleetsim::fleet::{FleetSpec, RouterKind, Simulation};
use fleetsim::perf::{Precision, Roofline, RooflineParams};
use fleetsim::scenario::Scenario;
use fleetsim::serving::{MemoryLayout, Replica, ReplicaSpec};
use fleetsim::time::SimTime;
use proptest::prelude::*;

use crate::run_ahead::{build, handed_out, same, Gen};

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn the_fleet_index_changes_no_routing(
        gens in prop::collection::vec(
            (0u64..6, 1u32..400, 1u32..60, prop::collection::vec(0u64..4, 0..8))
                .prop_map(|(gap_ms, input, output, ids)| Gen { gap_ms, input, output, ids }),
            1..80),
        replicas in 2u32..12,
        kv_blocks in 8u64..96,
        margin in 0u32..6,
        ratio in 1.0f64..2.0,
        horizon_ms in prop::option::of(1u64..300),
        router in 0usize..3,
    ) {
        let kind = [RouterKind::PrefixAffinity, RouterKind::LeastOutstanding, RouterKind::SessionAffinity][router];
        let c = Catalog::builtin();
        let gpu = c.gpu("h100-sxm").unwrap();
        let model = c.model("llama-3.1-8b").unwrap();
        let cfg = ReplicaSpec {
            max_num_seqs: Some(6),
            max_num_batched_tokens: Some(64),
            block_size: Some(16),
            kv_cache_tokens: Some(kv_blocks * 16),
            prefix_caching: Some(true),
            ..Default::default()
        }
        .resolve(gpu)
        .unwrap();
        let mem = MemoryLayout::new(model, gpu, &cfg).unwrap();
        let perf = Arc::new(Roofline::new(model, gpu, 1, Precision::Bf16, RooflineParams::default()));
        let requests = build(&gens);
        let fleet = FleetSpec {
            replicas,
            router: kind,
            affinity_margin_requests: margin,
            affinity_margin_ratio: ratio,
            ..Default::default()
        };
        let horizon = horizon_ms.map(|ms| SimTime::from_nanos(ms * 1_000_000));
        let reps = || -> Vec<Replica> {
            (0..replicas).map(|i| Replica::new(i, &cfg, &mem, perf.clone())).collect()
        };
        let sim = || {
            Simulation::new(&requests, reps(), horizon)
                .with_router(fleet.build_router(kind, 7))
                .with_invariant_checks()
        };
        let indexed = sim().with_fleet_index().run();
        let asked = sim().without_fleet_index().run();
        if let Err(e) = same(&indexed, &asked) {
            prop_assert!(false, "{}", e);
        }

        let streamed = |index: bool| {
            let mut source = requests.clone().into_iter().map(Ok);
            let sim = StreamSimulation::new(
                &mut source,
                reps(),
                fleet.build_router(kind, 7),
                horizon,
            );
            handed_out(if index {
                sim.with_fleet_index()
            } else {
                sim.without_fleet_index()
            })
        };
        let (handed_indexed, a) = streamed(true);
        let (handed_asked, q) = streamed(false);
        prop_assert_eq!(handed_indexed, handed_asked);
        prop_assert_eq!(&a.replicas, &q.replicas);
        prop_assert_eq!((a.end, a.recorder.events), (q.end, q.recorder.events));
        prop_assert_eq!(format!("{:?}", a.recorder.itl), format!("{:?}", q.recorder.itl));
    }
}

/// The Mooncake trace on 48 replicas behind prefix-affinity (most replicas hold none of a
/// prompt, the case the index is for): the same records with the index as without, with a
/// prefix cache that does hit.
#[test]
fn the_fleet_index_routes_a_trace_as_asking_every_replica() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let json = r#"{"seed": 1, "model": "llama-3.1-8b", "gpu": "h100-sxm",
        "workload": {"trace": {"path": "traces/mooncake/synthetic_trace.jsonl", "format": "mooncake",
                               "rate_scale": 8}},
        "replica": {"kv_cache_tokens": 60000},
        "fleet": {"replicas": 48, "router": "prefix-affinity"}}"#;
    let cfg = Scenario::from_json(json, Path::new("t.json"))
        .unwrap()
        .resolve(root)
        .unwrap();
    let requests = cfg.requests();
    let c = Catalog::builtin();
    let gpu = c.gpu("h100-sxm").unwrap();
    let model = c.model("llama-3.1-8b").unwrap();
    let spec = ReplicaSpec {
        kv_cache_tokens: Some(60_000),
        ..Default::default()
    }
    .resolve(gpu)
    .unwrap();
    let mem = MemoryLayout::new(model, gpu, &spec).unwrap();
    let perf = Arc::new(Roofline::new(
        model,
        gpu,
        1,
        Precision::Bf16,
        RooflineParams::default(),
    ));
    let fleet = FleetSpec {
        replicas: 48,
        router: RouterKind::PrefixAffinity,
        ..Default::default()
    };
    let sim = || {
        let reps = (0..48)
            .map(|i| Replica::new(i, &spec, &mem, perf.clone()))
            .collect();
        Simulation::new(requests, reps, None)
            .with_router(fleet.build_router(RouterKind::PrefixAffinity, 1))
    };
    let indexed = sim().with_fleet_index().run();
    let asked = sim().without_fleet_index().run();
    same(&indexed, &asked).unwrap();
    let hits: u64 = indexed.replicas.iter().map(|r| r.prefix_hit_tokens).sum();
    let evicted: u64 = indexed.replicas.iter().map(|r| r.kv_evicted_blocks).sum();
    assert!(hits > 0, "no prefix hit: the index was not exercised");
    assert!(evicted > 0, "no eviction: first units never left the index");
}
