//! Unit tests of the replica's scheduling, timing and preemption.

use super::*;
use crate::catalog::Catalog;
use crate::metrics::RejectReason;
use crate::serving::{ReplicaSpec, SchedulerPolicy};
use crate::workload::{Reqs, Request};

/// A model where every step takes 1 ms, so timings are easy to check by hand.
struct UnitSteps;
impl StepTimeModel for UnitSteps {
    fn step_time_ns(&self, _b: &BatchShape) -> u64 {
        1_000_000
    }
}

fn req(id: u64, at_ms: u64, input: u32, output: u32) -> Request {
    Request {
        id,
        arrival: SimTime::from_nanos(at_ms * 1_000_000),
        input_tokens: input,
        output_tokens: output,
        prefix: None,
        session: None,
        follows: None,
    }
}

fn replica(seqs: u32, budget: u32, blocks: u64) -> Replica {
    replica_with(seqs, budget, blocks, SchedulerPolicy::Vllm)
}

fn replica_with(seqs: u32, budget: u32, blocks: u64, policy: SchedulerPolicy) -> Replica {
    let c = Catalog::builtin();
    let gpu = c.gpu("h100-sxm").unwrap();
    let cfg = ReplicaSpec {
        max_num_seqs: Some(seqs),
        max_num_batched_tokens: Some(budget),
        kv_cache_tokens: Some(blocks * 16),
        scheduler_policy: Some(policy),
        ..Default::default()
    }
    .resolve(gpu)
    .unwrap();
    let mem = MemoryLayout::new(c.model("llama-3.1-8b").unwrap(), gpu, &cfg).unwrap();
    Replica::new(0, &cfg, &mem, Arc::new(UnitSteps))
}

/// Runs the replica alone until idle, all requests enqueued at time 0.
fn drain(rep: &mut Replica, reqs: &[Request]) -> Recorder {
    let mut rec = Recorder::new(reqs.iter().map(|r| r.arrival));
    for (i, r) in reqs.iter().enumerate() {
        rec.arrived(i, 0, SimTime::ZERO);
        if let Err(why) = rep.enqueue(i as u32, r) {
            rec.rejected(i, SimTime::ZERO, why);
        }
    }
    let mut now = SimTime::ZERO;
    let mut done = Vec::new();
    while let StepOutcome::Started(end) = rep.start_step(now, Reqs::all(reqs), &mut rec) {
        now = end;
        rep.finish_step(now, Reqs::all(reqs), &mut rec, &mut done);
        rep.check_invariants().unwrap();
    }
    assert_eq!(rep.num_running() + rep.num_waiting(), 0);
    rec
}

#[test]
fn chunked_prefill_then_decode_timing() {
    // 100-token prompt under a 64-token budget: 2 prefill steps, then 4 decode steps.
    let mut rep = replica(8, 64, 1000);
    let reqs = [req(0, 0, 100, 5)];
    let rec = drain(&mut rep, &reqs);
    let r = &rec.records[0];
    assert_eq!(r.first_token, Some(SimTime::from_nanos(2_000_000)));
    assert_eq!(r.finish, Some(SimTime::from_nanos(6_000_000)));
    assert_eq!(rep.kv_used_blocks(), 0, "all blocks returned");
    // 100 prompt + 4 decoded tokens in KV at peak = 104 tokens = 7 blocks.
    assert_eq!(rep.kv_peak_used_blocks(), 7);
}

#[test]
fn decoders_share_steps_and_budget_limits_admission() {
    let mut rep = replica(2, 2048, 1000);
    let reqs = [req(0, 0, 10, 3), req(1, 0, 10, 3), req(2, 0, 10, 1)];
    let rec = drain(&mut rep, &reqs);
    // Two fit (max_num_seqs 2): prefill at step 0, decode steps 1 and 2; the third starts at 3.
    assert_eq!(rec.records[0].finish, Some(SimTime::from_nanos(3_000_000)));
    assert_eq!(rec.records[1].finish, Some(SimTime::from_nanos(3_000_000)));
    assert_eq!(
        rec.records[2].scheduled,
        Some(SimTime::from_nanos(3_000_000))
    );
    assert_eq!(rec.records[2].finish, Some(SimTime::from_nanos(4_000_000)));
}

#[test]
fn preemption_by_recompute_when_blocks_run_out() {
    // 4 blocks of 16 tokens. Two requests of 16-token prompts each take one block, then each
    // needs more blocks as it decodes; the newer one is preempted and recomputed later.
    let mut rep = replica(8, 2048, 4);
    let reqs = [req(0, 0, 16, 40), req(1, 0, 16, 40)];
    let rec = drain(&mut rep, &reqs);
    assert!(rep.totals().preemptions >= 1);
    assert!(rec.records[1].preemptions >= 1);
    assert_eq!(
        rec.records[0].preemptions, 0,
        "the oldest is never the victim"
    );
    for r in &rec.records {
        assert!(r.finish.is_some());
    }
    assert_eq!(rep.kv_used_blocks(), 0);
    assert!(rep.kv_peak_used_blocks() <= 4);
}

#[test]
fn guaranteed_no_evict_waits_instead_of_preempting() {
    // The workload that forces a preemption above: under guaranteed-no-evict the second
    // request (56 tokens = 4 blocks over its life) waits until the first has finished.
    let mut rep = replica_with(8, 2048, 4, SchedulerPolicy::GuaranteedNoEvict);
    let reqs = [req(0, 0, 16, 40), req(1, 0, 16, 40)];
    let rec = drain(&mut rep, &reqs);
    assert_eq!(rep.totals().preemptions, 0);
    let first_done = rec.records[0].finish.unwrap();
    assert_eq!(rec.records[1].scheduled, Some(first_done));
    assert!(rec.records[1].finish.is_some());
    // With room for both lives, both run at once.
    let mut rep = replica_with(8, 2048, 8, SchedulerPolicy::GuaranteedNoEvict);
    let rec = drain(&mut rep, &reqs);
    assert_eq!(rec.records[1].scheduled, Some(SimTime::ZERO));
    assert_eq!(rep.totals().preemptions, 0);
}

/// Runs a replica with 1 ms steps: request 0 at time 0, request 1 joining at 2 ms.
fn two_arrivals(num_scheduler_steps: u32) -> Recorder {
    let c = Catalog::builtin();
    let gpu = c.gpu("h100-sxm").unwrap();
    let cfg = ReplicaSpec {
        max_num_seqs: Some(8),
        max_num_batched_tokens: Some(2048),
        kv_cache_tokens: Some(1000 * 16),
        num_scheduler_steps: Some(num_scheduler_steps),
        ..Default::default()
    }
    .resolve(gpu)
    .unwrap();
    let mem = MemoryLayout::new(c.model("llama-3.1-8b").unwrap(), gpu, &cfg).unwrap();
    let mut rep = Replica::new(0, &cfg, &mem, Arc::new(UnitSteps));
    let reqs = [req(0, 0, 10, 9), req(1, 2, 10, 3)];
    let mut rec = Recorder::new(reqs.iter().map(|r| r.arrival));
    rec.arrived(0, 0, SimTime::ZERO);
    rep.enqueue(0, &reqs[0]).unwrap();
    let (mut now, mut done, mut joined) = (SimTime::ZERO, Vec::new(), false);
    loop {
        if !joined && now >= reqs[1].arrival {
            rec.arrived(1, 0, now);
            rep.enqueue(1, &reqs[1]).unwrap();
            joined = true;
        }
        match rep.start_step(now, Reqs::all(&reqs), &mut rec) {
            StepOutcome::Started(end) => {
                now = end;
                rep.finish_step(now, Reqs::all(&reqs), &mut rec, &mut done);
                rep.check_invariants().unwrap();
            }
            StepOutcome::Idle if joined => break,
            StepOutcome::Idle => now = reqs[1].arrival,
        }
    }
    assert_eq!(done.len(), 2);
    rec
}

#[test]
fn multi_step_runs_delay_new_prompts_and_bunch_tokens() {
    let ms = |x: u64| Some(SimTime::from_nanos(x * 1_000_000));
    // Every step: request 1 joins the step after it arrives (a mixed step), first token at
    // 3 ms; request 0 decodes its 8 tokens in steps 1-8.
    let one = two_arrivals(1);
    assert_eq!(one.records[1].first_token, ms(3));
    assert_eq!(one.records[0].finish, ms(9));
    // Runs of 4 decode steps: request 1 waits for the run that began at 1 ms to end (5 ms),
    // gets a prefill-only step (first token at 6 ms) during which request 0 waits, so
    // request 0 finishes a step later.
    let four = two_arrivals(4);
    assert_eq!(four.records[1].first_token, ms(6));
    assert_eq!(four.records[0].finish, ms(10));
    // Tokens stream once per run: the first run's gap is its 4 steps.
    assert!(
        four.itl.percentile_ns(100.0) >= 4_000_000.0,
        "{}",
        four.itl.percentile_ns(100.0)
    );
    assert!(one.itl.percentile_ns(100.0) <= 1_000_000.0 * 1.01);
}

#[test]
fn scheduler_policy_names_match_the_scenario_spelling() {
    for (p, name) in SchedulerPolicy::ALL {
        assert_eq!(serde_json::to_value(p).unwrap(), name);
        assert_eq!(p.name(), name);
    }
}

#[test]
fn requests_that_can_never_fit_are_rejected() {
    let mut rep = replica(8, 2048, 4); // 64 tokens of KV
    let reqs = [req(0, 0, 60, 10), req(1, 0, 10, 10)];
    let rec = drain(&mut rep, &reqs);
    assert_eq!(
        rec.records[0].status,
        crate::metrics::Status::Rejected(RejectReason::ExceedsKvCapacity)
    );
    assert!(rec.records[1].finish.is_some());
}

/// Gemma-3-27B's sliding-window layers: each sequence of 2,900 + 100 tokens holds its own 188
/// blocks and 6 x 65 window blocks (578), so a pool of 4 x 578 + 50 blocks runs 4 at once under
/// `guaranteed-no-evict` (and under vLLM's policy when prompts are long); with short prompts
/// and long outputs, vLLM's policy starts more and preempts some. Every request finishes and
/// every block comes back.
#[test]
fn sliding_window_blocks_bound_how_many_sequences_run() {
    let c = Catalog::builtin();
    let gpu = c.gpu("l40s").unwrap();
    let blocks = 4 * 578 + 50;
    let build = |policy, budget: u32| {
        let cfg = ReplicaSpec {
            max_num_seqs: Some(64),
            max_num_batched_tokens: Some(budget),
            kv_cache_tokens: Some(blocks * 16),
            scheduler_policy: Some(policy),
            precision: Some(crate::perf::Precision::Int4),
            ..Default::default()
        }
        .resolve(gpu)
        .unwrap();
        let mem = MemoryLayout::new(c.model("gemma-3-27b").unwrap(), gpu, &cfg).unwrap();
        assert_eq!(mem.window_units(188), 390);
        Replica::new(0, &cfg, &mem, Arc::new(UnitSteps))
    };
    for (policy, input, most) in [
        (SchedulerPolicy::GuaranteedNoEvict, 2900, 4),
        (SchedulerPolicy::Vllm, 2900, 4),
        (SchedulerPolicy::Vllm, 100, 0),
    ] {
        let reqs: Vec<Request> = (0..12).map(|i| req(i, 0, input, 3000 - input)).collect();
        let mut rep = build(policy, 16384);
        let mut rec = Recorder::new(reqs.iter().map(|r| r.arrival));
        for (i, r) in reqs.iter().enumerate() {
            rec.arrived(i, 0, SimTime::ZERO);
            rep.enqueue(i as u32, r).unwrap();
        }
        let (mut now, mut done, mut peak) = (SimTime::ZERO, Vec::new(), 0);
        while let StepOutcome::Started(end) = rep.start_step(now, Reqs::all(&reqs), &mut rec) {
            peak = peak.max(rep.num_running());
            now = end;
            rep.finish_step(now, Reqs::all(&reqs), &mut rec, &mut done);
            rep.check_invariants().unwrap();
        }
        assert_eq!(done.len(), 12, "{policy:?}");
        assert_eq!(rep.kv_used_blocks(), 0, "{policy:?}");
        if most > 0 {
            assert_eq!(peak, most, "{policy:?}");
            assert_eq!(rep.totals().preemptions, 0);
        } else {
            // 100-token prompts are admitted on their 7 blocks and windows (390): five run at
            // first, and some are preempted as they grow.
            assert!(peak == 5 && rep.totals().preemptions > 0, "{peak}");
        }
    }
}
