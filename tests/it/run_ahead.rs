//! Replicas running ahead of the event queue (`Simulation::try_start`) change nothing: every
//! record, replica total, event count, end time and in-system integral is the same as when every
//! step end goes through the queue. Random workloads on 1-4 replicas under every router, with
//! step times in whole milliseconds and arrivals on whole milliseconds (so step ends tie with
//! arrivals and with each other), small KV caches (preemption), prefix caching, multi-step
//! scheduling and horizons, in memory and streamed (with window limits that stop the run); and
//! the Azure code trace on three replicas.

use std::path::Path;
use std::sync::Arc;

use fleetsim::catalog::Catalog;
use fleetsim::fleet::stream::{StreamOutput, StreamSimulation};
use fleetsim::fleet::{FleetSpec, RouterKind, SimOutput, Simulation};
use fleetsim::perf::{BatchShape, Precision, Roofline, RooflineParams, StepTimeModel};
use fleetsim::scenario::Scenario;
use fleetsim::serving::{MemoryLayout, Replica, ReplicaSpec, SchedulerPolicy};
use fleetsim::time::SimTime;
use fleetsim::workload::{PrefixIds, Request, Workload};
use proptest::prelude::*;

/// Step times in whole milliseconds (1-3 ms by batch shape), so that many step ends coincide.
struct CoarseSteps;

impl StepTimeModel for CoarseSteps {
    fn step_time_ns(&self, b: &BatchShape) -> u64 {
        let tokens =
            b.decode_seqs as u64 + b.prefills.iter().map(|p| p.new_tokens as u64).sum::<u64>();
        1_000_000 * (1 + tokens % 3)
    }
}

/// Runs a streamed simulation to its end: each request as handed out, with its record, in
/// order, and the output.
pub(crate) fn handed_out(sim: StreamSimulation) -> (Vec<String>, StreamOutput) {
    let mut handed = Vec::new();
    let out = sim
        .run(&mut |r, rec| {
            handed.push(format!("{} {rec:?}", r.id));
            Ok(())
        })
        .unwrap();
    (handed, out)
}

pub(crate) fn same(a: &SimOutput, b: &SimOutput) -> Result<(), String> {
    let checks = [
        (
            "records",
            format!("{:?}", a.recorder.records) == format!("{:?}", b.recorder.records),
        ),
        ("replica totals", a.replicas == b.replicas),
        ("end", a.end == b.end),
        ("events", a.recorder.events == b.recorder.events),
        (
            "inter-token gaps",
            format!("{:?}", a.recorder.itl) == format!("{:?}", b.recorder.itl),
        ),
        (
            "requests in the system",
            a.recorder.mean_in_system(a.end).to_bits()
                == b.recorder.mean_in_system(b.end).to_bits(),
        ),
    ];
    match checks.iter().find(|c| !c.1) {
        Some((what, _)) => Err(format!("{what} differ")),
        None => Ok(()),
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Gen {
    pub gap_ms: u64,
    pub input: u32,
    pub output: u32,
    pub ids: Vec<u64>,
}

pub(crate) fn build(gens: &[Gen]) -> Vec<Request> {
    let mut t = 0u64;
    let reqs = gens
        .iter()
        .enumerate()
        .map(|(i, g)| {
            t += g.gap_ms;
            Request {
                id: i as u64,
                arrival: SimTime::from_nanos(t * 1_000_000),
                input_tokens: g.input,
                output_tokens: g.output,
                prefix: (!g.ids.is_empty()).then(|| PrefixIds {
                    block_tokens: 16,
                    ids: g
                        .ids
                        .iter()
                        .take(g.input.div_ceil(16) as usize)
                        .copied()
                        .collect(),
                }),
                session: None,
                follows: None,
            }
        })
        .collect();
    Workload::finish(reqs, vec![]).requests
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, .. ProptestConfig::default() })]

    #[test]
    fn running_ahead_changes_no_output(
        gens in prop::collection::vec(
            (0u64..12, 1u32..300, 1u32..80, prop::collection::vec(0u64..3, 0..6))
                .prop_map(|(gap_ms, input, output, ids)| Gen { gap_ms, input, output, ids }),
            1..60),
        replicas in 1u32..5,
        router in 0usize..RouterKind::ALL.len(),
        coarse in any::<bool>(),
        kv_blocks in 8u64..64,
        caching in any::<bool>(),
        no_evict in any::<bool>(),
        scheduler_steps in 1u32..3,
        horizon_ms in prop::option::of(1u64..400),
        max_window in 1usize..80,
    ) {
        let c = Catalog::builtin();
        let gpu = c.gpu("h100-sxm").unwrap();
        let model = c.model("llama-3.1-8b").unwrap();
        let cfg = ReplicaSpec {
            max_num_seqs: Some(6),
            max_num_batched_tokens: Some(64),
            block_size: Some(16),
            kv_cache_tokens: Some(kv_blocks * 16),
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
        let perf: Arc<dyn StepTimeModel> = if coarse {
            Arc::new(CoarseSteps)
        } else {
            Arc::new(Roofline::new(model, gpu, 1, Precision::Bf16, RooflineParams::default()))
        };
        let requests = build(&gens);
        let kind = RouterKind::ALL[router].0;
        let fleet = FleetSpec { replicas, router: kind, ..Default::default() };
        let horizon = horizon_ms.map(|ms| SimTime::from_nanos(ms * 1_000_000));
        let sim = || {
            let reps = (0..replicas).map(|i| Replica::new(i, &cfg, &mem, perf.clone())).collect();
            Simulation::new(&requests, reps, horizon)
                .with_router(fleet.build_router(kind, 7))
                .with_fleet_index()
                .with_invariant_checks()
        };
        let ahead = sim().run();
        let queued = sim().without_run_ahead().run();
        prop_assert_eq!(queued.steps_run_ahead, 0);
        if let Err(e) = same(&ahead, &queued) {
            prop_assert!(false, "{} ({} steps run ahead)", e, ahead.steps_run_ahead);
        }

        // Streamed, with a window limit that may stop the run: the same requests handed out
        // in the same order with the same records, the same window and the same stop.
        let streamed = |run_ahead: bool| {
            let mut source = requests.clone().into_iter().map(Ok);
            let reps = (0..replicas).map(|i| Replica::new(i, &cfg, &mem, perf.clone())).collect();
            let mut sim = StreamSimulation::new(&mut source, reps, fleet.build_router(kind, 7), horizon)
                .with_max_window(max_window);
            if !run_ahead {
                sim = sim.without_run_ahead();
            }
            handed_out(sim)
        };
        let (handed_ahead, a) = streamed(true);
        let (handed_queued, q) = streamed(false);
        prop_assert_eq!(handed_ahead, handed_queued);
        prop_assert_eq!(&a.replicas, &q.replicas);
        prop_assert_eq!((a.end, a.recorder.events, a.peak_window, a.stopped, a.requests),
                        (q.end, q.recorder.events, q.peak_window, q.stopped, q.requests));
        prop_assert_eq!(format!("{:?}", a.recorder.itl), format!("{:?}", q.recorder.itl));
        prop_assert_eq!(a.recorder.mean_in_system(a.end).to_bits(),
                        q.recorder.mean_in_system(q.end).to_bits());
    }
}

#[test]
fn running_ahead_on_a_trace_changes_no_output_and_skips_most_of_the_queue() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for router in ["least-outstanding", "round-robin", "least-kv"] {
        let json = format!(
            r#"{{"seed": 3, "model": "llama-3.1-8b", "gpu": "h100-sxm",
                "workload": {{"trace": {{"path": "traces/azure-llm-2023/AzureLLMInferenceTrace_code.csv",
                                         "format": "azure", "rate_scale": 0.5, "limit": 9000}}}},
                "fleet": {{"replicas": 3, "router": "{router}"}}}}"#
        );
        let cfg = Scenario::from_json(&json, Path::new("t.json"))
            .unwrap()
            .resolve(root)
            .unwrap();
        let requests = cfg.requests();
        let c = Catalog::builtin();
        let gpu = c.gpu("h100-sxm").unwrap();
        let model = c.model("llama-3.1-8b").unwrap();
        let spec = ReplicaSpec::default().resolve(gpu).unwrap();
        let mem = MemoryLayout::new(model, gpu, &spec).unwrap();
        let perf = Arc::new(Roofline::new(
            model,
            gpu,
            1,
            Precision::Bf16,
            RooflineParams::default(),
        ));
        let fleet = FleetSpec {
            replicas: 3,
            ..Default::default()
        };
        let kind: RouterKind = router.parse().unwrap();
        let sim = || {
            let reps = (0..3)
                .map(|i| Replica::new(i, &spec, &mem, perf.clone()))
                .collect();
            Simulation::new(requests, reps, None).with_router(fleet.build_router(kind, 3))
        };
        let ahead = sim().run();
        let queued = sim().without_run_ahead().run();
        same(&ahead, &queued).unwrap_or_else(|e| panic!("{router}: {e}"));
        // Streamed: finished requests are dropped in batches of 4,096, so the window at each
        // arrival depends on handing them out after every step end, run ahead or not.
        let streamed = |run_ahead: bool| {
            let mut source = requests.iter().cloned().map(Ok);
            let reps = (0..3)
                .map(|i| Replica::new(i, &spec, &mem, perf.clone()))
                .collect();
            let mut sim =
                StreamSimulation::new(&mut source, reps, fleet.build_router(kind, 3), None);
            if !run_ahead {
                sim = sim.without_run_ahead();
            }
            sim.run(&mut |_, _| Ok(())).unwrap()
        };
        let (a, q) = (streamed(true), streamed(false));
        assert_eq!(
            (a.end, a.recorder.events, a.peak_window, &a.replicas),
            (q.end, q.recorder.events, q.peak_window, &q.replicas),
            "{router}: streamed"
        );
        let steps: u64 = ahead.replicas.iter().map(|r| r.steps).sum();
        assert!(
            ahead.steps_run_ahead * 2 > steps,
            "{router}: only {} of {steps} step ends ran ahead",
            ahead.steps_run_ahead
        );
    }
}
