//! The replica scheduler (vLLM V1 semantics, DESIGN.md "Replica").
//!
//! Each step: running requests first (one decode token each, or their next prefill chunk), then
//! waiting requests in order while the token budget lasts and fewer than `max_num_seqs` run;
//! prompts are chunked to fit the budget. KV blocks are allocated as tokens are computed; when
//! they run out, the newest running request is preempted: its blocks are freed, its progress
//! reset, and it goes back to the front of the waiting queue to be recomputed.
//!
//! Decoding sequences are not visited one by one each step. Every running decoder gains exactly
//! one token per step, so a decoder is described by the step it joined and the tokens it had
//! then; from those its length at any step follows. The replica keeps, over all decoders: their
//! count, the sum of their context lengths (for the step-time model), how many cross a block
//! boundary at each step modulo the block size (for KV allocation), and a heap of finish steps.
//! A step therefore costs O(requests that start, finish or are preempted in it) plus its prefill
//! chunks, not O(batch size).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;

use super::kv::BlockPool;
use super::memory::MemoryPlan;
use super::ReplicaConfig;
use crate::metrics::{Recorder, RejectReason};
use crate::perf::{BatchShape, PrefillChunk, StepTimeModel};
use crate::time::SimTime;
use crate::workload::Request;

#[derive(Clone, Copy, Debug)]
struct Waiting {
    req: u32,
    /// Output tokens already produced (non-zero after a preemption: they are recomputed).
    generated: u32,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Computing the prompt (plus, after a preemption, the tokens generated before it).
    Prefill {
        target: u32,
        computed: u32,
        generated: u32,
        blocks: u32,
    },
    /// Decoding since step `k_join`, when it had generated `g_join` tokens.
    Decode { k_join: u64, g_join: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Running {
    req: u32,
    prompt: u32,
    output: u32,
    phase: Phase,
}

/// Aggregates over all decoding sequences.
#[derive(Clone, Debug)]
struct Decoders {
    count: u32,
    /// Sum over decoders of (prompt + g_join - k_join): context at step k is this plus count * k.
    base_sum: i64,
    /// bucket[r]: decoders that need a new KV block at steps k with k % block_size == r.
    bucket: Vec<u32>,
    /// (finish step, admission sequence), min first; entries of preempted decoders are skipped.
    finish: BinaryHeap<Reverse<(u64, u64)>>,
}

/// What the replica decided to compute in the step in flight.
#[derive(Clone, Debug)]
struct Plan {
    k: u64,
    start: SimTime,
    decode_seqs: u32,
    prefills: Vec<(u64, u32)>,
}

/// Result of asking a replica to start a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// A step started; it ends at this time.
    Started(SimTime),
    /// Nothing to compute.
    Idle,
}

/// One replica: scheduler, KV pool and step-time model.
pub struct Replica {
    /// Index in the fleet.
    pub id: u32,
    max_num_seqs: u32,
    budget: u32,
    bs: u32,
    max_model_len: u32,
    limited_by_kv: bool,
    kv: BlockPool,
    perf: Arc<dyn StepTimeModel>,
    waiting: VecDeque<Waiting>,
    running: BTreeMap<u64, Running>,
    prefilling: BTreeSet<u64>,
    next_seq: u64,
    k: u64,
    dec: Decoders,
    plan: Option<Plan>,
    shape: BatchShape,
    spare_prefills: Vec<(u64, u32)>,
    spare_seqs: Vec<u64>,
    /// Time with a step in flight, ns.
    pub busy_ns: u64,
    /// Steps executed.
    pub steps: u64,
    /// Preemptions.
    pub preemptions: u64,
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

impl Replica {
    /// A replica with the given settings, memory layout and step-time model.
    pub fn new(
        id: u32,
        cfg: &ReplicaConfig,
        mem: &MemoryPlan,
        perf: Arc<dyn StepTimeModel>,
    ) -> Replica {
        Replica {
            id,
            max_num_seqs: cfg.max_num_seqs,
            budget: cfg.max_num_batched_tokens,
            bs: cfg.block_size,
            max_model_len: mem.max_model_len,
            limited_by_kv: mem.max_model_len_limited_by == "the KV cache capacity",
            kv: BlockPool::new(mem.kv_blocks),
            perf,
            waiting: VecDeque::new(),
            running: BTreeMap::new(),
            prefilling: BTreeSet::new(),
            next_seq: 0,
            k: 0,
            dec: Decoders {
                count: 0,
                base_sum: 0,
                bucket: vec![0; cfg.block_size as usize],
                finish: BinaryHeap::new(),
            },
            plan: None,
            shape: BatchShape::default(),
            spare_prefills: Vec::new(),
            spare_seqs: Vec::new(),
            busy_ns: 0,
            steps: 0,
            preemptions: 0,
        }
    }

    /// Tokens per KV block.
    pub fn block_size(&self) -> u32 {
        self.bs
    }

    /// KV blocks of this replica.
    pub fn kv_capacity_blocks(&self) -> u64 {
        self.kv.total()
    }

    /// Most KV blocks in use at once.
    pub fn kv_peak_used_blocks(&self) -> u64 {
        self.kv.peak_used()
    }

    /// KV blocks in use now.
    pub fn kv_used_blocks(&self) -> u64 {
        self.kv.used()
    }

    /// Requests waiting to be scheduled.
    pub fn num_waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Requests in the running batch.
    pub fn num_running(&self) -> usize {
        self.running.len()
    }

    /// Whether a step is in flight.
    pub fn is_busy(&self) -> bool {
        self.plan.is_some()
    }

    /// Accepts a request into the waiting queue, or refuses one that could never be served.
    pub fn enqueue(&mut self, idx: u32, r: &Request) -> Result<(), RejectReason> {
        let need = r.input_tokens as u64 + r.output_tokens as u64;
        if need > self.max_model_len as u64 {
            return Err(if self.limited_by_kv {
                RejectReason::ExceedsKvCapacity
            } else {
                RejectReason::ExceedsMaxModelLen
            });
        }
        self.waiting.push_back(Waiting {
            req: idx,
            generated: 0,
        });
        Ok(())
    }

    fn decoder_phase(&self, prompt: u32, k_join: u64, g_join: u32) -> usize {
        // Needs a block at step k when (prompt + g_join - 1 + k - k_join) % bs == 0.
        let offset = prompt as i128 + g_join as i128 - 1 - k_join as i128;
        (-offset).rem_euclid(self.bs as i128) as usize
    }

    fn add_decoder(&mut self, seq: u64, prompt: u32, output: u32, k_join: u64, g_join: u32) {
        self.dec.count += 1;
        self.dec.base_sum += prompt as i64 + g_join as i64 - k_join as i64;
        let ph = self.decoder_phase(prompt, k_join, g_join);
        self.dec.bucket[ph] += 1;
        let finish_step = k_join + (output - g_join) as u64 - 1;
        self.dec.finish.push(Reverse((finish_step, seq)));
    }

    fn remove_decoder(&mut self, prompt: u32, k_join: u64, g_join: u32) {
        self.dec.count -= 1;
        self.dec.base_sum -= prompt as i64 + g_join as i64 - k_join as i64;
        let ph = self.decoder_phase(prompt, k_join, g_join);
        self.dec.bucket[ph] -= 1;
    }

    /// Preempts the newest running request during planning of step `self.k` at `now`. Returns
    /// the victim's sequence number and whether it was a decoder due a new block this step.
    fn preempt_newest(&mut self, now: SimTime, rec: &mut Recorder) -> Option<(u64, bool)> {
        let (seq, run) = self.running.pop_last()?;
        let k = self.k;
        let (generated, blocks, needed_block) = match run.phase {
            Phase::Decode { k_join, g_join } => {
                self.remove_decoder(run.prompt, k_join, g_join);
                let g = g_join + (k - k_join) as u32;
                let kv_tokens = run.prompt as u64 + g as u64 - 1;
                let due =
                    self.decoder_phase(run.prompt, k_join, g_join) == (k % self.bs as u64) as usize;
                (g, div_ceil(kv_tokens, self.bs as u64), due)
            }
            Phase::Prefill {
                generated, blocks, ..
            } => {
                self.prefilling.remove(&seq);
                (generated, blocks as u64, false)
            }
        };
        self.kv.release(blocks);
        self.preemptions += 1;
        // A decoder's latest token came at the end of the previous step, which is now.
        rec.preempted(run.req as usize, generated, now);
        self.waiting.push_front(Waiting {
            req: run.req,
            generated,
        });
        Some((seq, needed_block))
    }

    /// Plans and starts the next step at `now` if there is anything to compute.
    pub fn start_step(
        &mut self,
        now: SimTime,
        requests: &[Request],
        rec: &mut Recorder,
    ) -> StepOutcome {
        debug_assert!(self.plan.is_none(), "a step is already in flight");
        let k = self.k;
        let bs = self.bs as u64;
        let mut budget = self.budget;
        // Buffers reused across steps, so a step allocates nothing in the steady state.
        let mut prefills = std::mem::take(&mut self.spare_prefills);
        prefills.clear();

        // 1. Decoders, oldest first; free blocks by preempting the newest when short.
        let mut need = self.dec.bucket[(k % bs) as usize] as u64;
        while need > self.kv.free() {
            match self.preempt_newest(now, rec) {
                Some((_, due)) => {
                    if due {
                        need -= 1;
                    }
                }
                None => break,
            }
        }
        let allocated = self.kv.allocate(need);
        debug_assert!(allocated);
        let decode_seqs = self.dec.count;
        budget -= decode_seqs.min(budget);

        // 2. Running prefills (chunked prompts in progress), in admission order.
        let mut seqs = std::mem::take(&mut self.spare_seqs);
        seqs.clear();
        seqs.extend(self.prefilling.iter().copied());
        for &seq in &seqs {
            if budget == 0 {
                break;
            }
            let Some(run) = self.running.get(&seq).copied() else {
                continue; // preempted while making room for an earlier one
            };
            let Phase::Prefill {
                target,
                computed,
                blocks,
                ..
            } = run.phase
            else {
                continue;
            };
            let n = (target - computed).min(budget);
            let new_blocks = div_ceil(computed as u64 + n as u64, bs) - blocks as u64;
            let mut self_preempted = false;
            while new_blocks > self.kv.free() {
                match self.preempt_newest(now, rec) {
                    Some((victim, _)) if victim == seq => {
                        self_preempted = true;
                        break;
                    }
                    Some(_) => {}
                    None => {
                        self_preempted = true;
                        break;
                    }
                }
            }
            if self_preempted {
                continue;
            }
            self.kv.allocate(new_blocks);
            if let Some(Running {
                phase: Phase::Prefill { blocks: b, .. },
                ..
            }) = self.running.get_mut(&seq)
            {
                *b += new_blocks as u32;
            }
            budget -= n;
            prefills.push((seq, n));
        }

        self.spare_seqs = seqs;

        // 3. Waiting requests, in order, while budget, sequence slots and blocks last.
        while budget > 0 && (self.running.len() as u32) < self.max_num_seqs {
            let Some(&w) = self.waiting.front() else {
                break;
            };
            let r = &requests[w.req as usize];
            let target = r.input_tokens + w.generated;
            let n = target.min(budget);
            let blocks = div_ceil(n as u64, bs);
            if !self.kv.allocate(blocks) {
                break;
            }
            self.waiting.pop_front();
            let seq = self.next_seq;
            self.next_seq += 1;
            self.running.insert(
                seq,
                Running {
                    req: w.req,
                    prompt: r.input_tokens,
                    output: r.output_tokens,
                    phase: Phase::Prefill {
                        target,
                        computed: 0,
                        generated: w.generated,
                        blocks: blocks as u32,
                    },
                },
            );
            self.prefilling.insert(seq);
            rec.scheduled(w.req as usize, now);
            budget -= n;
            prefills.push((seq, n));
        }

        if decode_seqs == 0 && prefills.is_empty() {
            self.spare_prefills = prefills;
            return StepOutcome::Idle;
        }

        // The batch shape for the step-time model.
        self.shape.decode_seqs = decode_seqs;
        self.shape.decode_context_tokens =
            (self.dec.base_sum + decode_seqs as i64 * k as i64).max(0) as u64;
        self.shape.prefills.clear();
        for &(seq, n) in &prefills {
            if let Some(Running {
                phase: Phase::Prefill { computed, .. },
                ..
            }) = self.running.get(&seq)
            {
                self.shape.prefills.push(PrefillChunk {
                    context_tokens: *computed,
                    new_tokens: n,
                });
            }
        }
        let dur = self.perf.step_time_ns(&self.shape);
        self.plan = Some(Plan {
            k,
            start: now,
            decode_seqs,
            prefills,
        });
        StepOutcome::Started(now + SimTime::from_nanos(dur))
    }

    /// Applies the effects of the step in flight, which ends at `now`.
    pub fn finish_step(&mut self, now: SimTime, rec: &mut Recorder) {
        let Some(plan) = self.plan.take() else {
            return;
        };
        let k = plan.k;
        let dur = now.saturating_sub(plan.start).as_nanos();
        self.busy_ns += dur;
        self.steps += 1;
        let bs = self.bs as u64;

        // Every decoder got one token; those on their last token finish.
        rec.decode_batch(dur, plan.decode_seqs);
        while let Some(&Reverse((step, seq))) = self.dec.finish.peek() {
            if step > k {
                break;
            }
            self.dec.finish.pop();
            let Some(run) = self.running.get(&seq).copied() else {
                continue; // preempted earlier
            };
            let Phase::Decode { k_join, g_join } = run.phase else {
                continue;
            };
            debug_assert_eq!(step, k, "a decoder outlived its last token");
            self.running.remove(&seq);
            self.remove_decoder(run.prompt, k_join, g_join);
            let kv_tokens = run.prompt as u64 + run.output as u64 - 1;
            self.kv.release(div_ceil(kv_tokens, bs));
            rec.completed(run.req as usize, now, run.output);
        }

        // Prefill chunks advance; a finished prompt yields a token.
        for &(seq, n) in &plan.prefills {
            let Some(run) = self.running.get_mut(&seq) else {
                continue;
            };
            let Phase::Prefill {
                target,
                computed,
                generated,
                blocks,
            } = &mut run.phase
            else {
                continue;
            };
            *computed += n;
            if *computed < *target {
                continue;
            }
            let (req, prompt, output, blocks) = (run.req, run.prompt, run.output, *blocks);
            let g = *generated + 1;
            self.prefilling.remove(&seq);
            if g >= output {
                self.running.remove(&seq);
                self.kv.release(blocks as u64);
                rec.completed(req as usize, now, output);
            } else {
                rec.token(req as usize, now);
                run.phase = Phase::Decode {
                    k_join: k + 1,
                    g_join: g,
                };
                self.add_decoder(seq, prompt, output, k + 1, g);
            }
        }
        self.spare_prefills = plan.prefills;
        self.k = k + 1;
    }

    /// Writes the generated-token counts of running decoders into the recorder (their tokens are
    /// tracked in aggregate while they run), for reporting requests a horizon left unfinished.
    pub fn flush_progress(&self, rec: &mut Recorder) {
        for run in self.running.values() {
            if let Phase::Decode { k_join, g_join } = run.phase {
                rec.records[run.req as usize].generated = g_join + (self.k - k_join) as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    use crate::serving::ReplicaSpec;

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
        }
    }

    fn replica(seqs: u32, budget: u32, blocks: u64) -> Replica {
        let c = Catalog::builtin();
        let gpu = c.gpu("h100-sxm").unwrap();
        let cfg = ReplicaSpec {
            max_num_seqs: Some(seqs),
            max_num_batched_tokens: Some(budget),
            kv_cache_tokens: Some(blocks * 16),
            ..Default::default()
        }
        .resolve(gpu)
        .unwrap();
        let mem = MemoryPlan::new(c.model("llama-3.1-8b").unwrap(), gpu, &cfg).unwrap();
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
        while let StepOutcome::Started(end) = rep.start_step(now, reqs, &mut rec) {
            now = end;
            rep.finish_step(now, &mut rec);
        }
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
        assert!(rep.preemptions >= 1);
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
}
