//! The replica scheduler (vLLM V1 semantics, DESIGN.md "Replica" and "Prefix cache").
//!
//! Each step: running requests first (one decode token each, or their next prefill chunk), then
//! waiting requests in order while the token budget lasts and fewer than `max_num_seqs` run;
//! prompts are chunked to fit the budget. KV blocks are allocated as tokens are computed; when
//! they run out, the newest running request is preempted: its blocks are freed, its progress
//! reset, and it goes back to the front of the waiting queue to be recomputed. With prefix
//! caching, a request admitted from the queue first takes the longest chain of cached blocks
//! matching its prompt (never its last token), and those tokens skip prefill compute.
//!
//! Under `scheduler_policy: guaranteed_no_evict` (TensorRT-LLM's default) a waiting request is
//! admitted only if the blocks of its whole prompt and output fit in the free blocks beside
//! `owed`, the blocks running requests will still allocate; so no running request ever needs
//! preempting. `owed` is kept under both policies and checked by `check_invariants`.
//!
//! With `num_scheduler_steps` k > 1 (vLLM 0.6's multi-step scheduling), a scheduling point with
//! prompts to compute runs a prefill-only step, in which decoders do not advance (the step
//! counter `k` stays, so their progress formula holds); otherwise it starts a run of k decode
//! steps that admits nothing. Inter-token gaps are recorded once per run.
//!
//! Decoding sequences are not visited one by one each step. Every running decoder gains exactly
//! one token per step, so a decoder is described by the step it joined and the tokens it had
//! then; from those its length at any step follows. The replica keeps, over all decoders: their
//! count, the sum of their context lengths (for the step-time model), lists of decoders by the
//! step (modulo the block size) at which they fill a block (for KV allocation and caching), and
//! a heap of finish steps. A step therefore costs O(requests that start, finish, fill a block or
//! are preempted in it) plus its prefill chunks, not O(batch size).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use super::kv::BlockPool;
use super::memory::MemoryPlan;
use super::ReplicaConfig;
use crate::metrics::{Recorder, RejectReason, ReplicaTotals};
use crate::perf::{BatchShape, PrefillChunk, StepTimeModel};
use crate::time::SimTime;
use crate::workload::block_hash::Chain;
use crate::workload::Request;

#[derive(Clone, Debug)]
struct Waiting {
    req: u32,
    /// Output tokens already produced (non-zero after a preemption: they are recomputed).
    generated: u32,
    /// Chain hashes of the request's full blocks, kept across preemptions (prefix caching only).
    chain: Chain,
    /// Blocks it held before a preemption: its private blocks can still be found there.
    old_table: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Computing the prompt (plus, after a preemption, the tokens generated before it).
    Prefill {
        target: u32,
        computed: u32,
        generated: u32,
    },
    /// Decoding since step `k_join`, when it had generated `g_join` tokens.
    Decode { k_join: u64, g_join: u32 },
}

#[derive(Clone, Debug)]
struct Running {
    req: u32,
    prompt: u32,
    output: u32,
    phase: Phase,
    /// Physical KV blocks, in token order.
    table: Vec<u32>,
    /// Chain hashes of full blocks computed so far or about to be (prefix caching only).
    chain: Chain,
    /// Blocks of `table` offered to the prefix cache so far.
    registered: u32,
    /// Position in its fill bucket (decoders only).
    bucket_pos: u32,
    /// Blocks it will hold when its last token is computed (for `guaranteed_no_evict`).
    need: u32,
}

impl Running {
    /// Blocks it will still allocate.
    fn owed(&self) -> u64 {
        (self.need as u64).saturating_sub(self.table.len() as u64)
    }
}

/// Aggregates over all decoding sequences.
#[derive(Clone, Debug)]
struct Decoders {
    count: u32,
    /// Sum over decoders of (prompt + g_join - k_join): context at step k is this plus count * k.
    base_sum: i64,
    /// fill[r]: decoders whose blocks are exactly full before steps k with k % block_size == r,
    /// so they need a new block at those steps.
    fill: Vec<Vec<u64>>,
    /// (finish step, admission sequence), min first; entries of preempted decoders are skipped.
    finish: BinaryHeap<Reverse<(u64, u64)>>,
}

/// What the replica decided to compute in the step in flight.
#[derive(Clone, Debug)]
struct Plan {
    k: u64,
    start: SimTime,
    decode_seqs: u32,
    /// Decoders compute a token in this step (false for a multi-step prefill-only step).
    decoding: bool,
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
    no_evict: bool,
    /// Blocks the running requests will still allocate (sum of `Running::owed`).
    owed: u64,
    /// Decode steps per scheduler call (`num_scheduler_steps`; 1 = every step).
    multi_steps: u32,
    /// Decode steps left in the multi-step run in progress (0: at a scheduling point).
    run_left: u32,
    /// Time since decoders last streamed tokens (multi-step only), ns.
    chunk_ns: u64,
    /// The last step was prefill-only: the next scheduling point runs the decoders.
    decode_next: bool,
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
    hits: Vec<u32>,
    /// What it has done so far (the KV fields are filled in by [`Replica::totals`]).
    totals: ReplicaTotals,
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
            no_evict: cfg.scheduler_policy == super::SchedulerPolicy::GuaranteedNoEvict,
            owed: 0,
            multi_steps: cfg.num_scheduler_steps,
            run_left: 0,
            chunk_ns: 0,
            decode_next: false,
            kv: BlockPool::new(mem.kv_blocks, cfg.prefix_caching),
            perf,
            waiting: VecDeque::new(),
            running: BTreeMap::new(),
            prefilling: BTreeSet::new(),
            next_seq: 0,
            k: 0,
            dec: Decoders {
                count: 0,
                base_sum: 0,
                fill: vec![Vec::new(); cfg.block_size as usize],
                finish: BinaryHeap::new(),
            },
            plan: None,
            shape: BatchShape::default(),
            spare_prefills: Vec::new(),
            spare_seqs: Vec::new(),
            hits: Vec::new(),
            totals: ReplicaTotals {
                block_size: cfg.block_size,
                prefix_caching: cfg.prefix_caching,
                ..ReplicaTotals::default()
            },
        }
    }

    /// What this replica has done so far: busy time, steps, tokens computed, preemptions,
    /// prefix-cache hits and KV use. A simulation hands these back, not the replicas.
    pub fn totals(&self) -> ReplicaTotals {
        ReplicaTotals {
            kv_capacity_blocks: self.kv.total(),
            kv_peak_used_blocks: self.kv.peak_used(),
            kv_used_blocks_at_end: self.kv.used(),
            kv_evicted_blocks: self.kv.evicted(),
            ..self.totals.clone()
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

    /// Requests waiting or running.
    pub fn outstanding(&self) -> usize {
        self.waiting.len() + self.running.len()
    }

    /// How many of the leading blocks with these (shareable) chain hashes the prefix cache holds.
    pub fn cached_prefix_blocks(&self, hashes: &[u64]) -> usize {
        hashes
            .iter()
            .take_while(|&&h| self.kv.lookup(h).is_some())
            .count()
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
            chain: Chain::default(),
            old_table: Vec::new(),
        });
        Ok(())
    }

    /// Fill bucket of a decoder: it needs a new block at step k when
    /// (prompt + g_join - 1 + k - k_join) % bs == 0.
    fn fill_bucket(&self, prompt: u32, k_join: u64, g_join: u32) -> usize {
        let offset = prompt as i128 + g_join as i128 - 1 - k_join as i128;
        (-offset).rem_euclid(self.bs as i128) as usize
    }

    fn add_decoder(&mut self, seq: u64, k_join: u64, g_join: u32) {
        let run = self.running.get_mut(&seq).expect("decoder is running");
        let (prompt, output) = (run.prompt, run.output);
        run.phase = Phase::Decode { k_join, g_join };
        let b = {
            let offset = prompt as i128 + g_join as i128 - 1 - k_join as i128;
            (-offset).rem_euclid(self.bs as i128) as usize
        };
        run.bucket_pos = self.dec.fill[b].len() as u32;
        self.dec.fill[b].push(seq);
        self.dec.count += 1;
        self.dec.base_sum += prompt as i64 + g_join as i64 - k_join as i64;
        let finish_step = k_join + (output - g_join) as u64 - 1;
        self.dec.finish.push(Reverse((finish_step, seq)));
    }

    /// Takes a decoder out of the aggregates (it stays in `running` for the caller to remove).
    fn remove_decoder(&mut self, seq: u64) {
        let run = &self.running[&seq];
        let Phase::Decode { k_join, g_join } = run.phase else {
            return;
        };
        let (prompt, pos) = (run.prompt, run.bucket_pos as usize);
        let b = self.fill_bucket(prompt, k_join, g_join);
        let list = &mut self.dec.fill[b];
        list.swap_remove(pos);
        if let Some(&moved) = list.get(pos) {
            if let Some(m) = self.running.get_mut(&moved) {
                m.bucket_pos = pos as u32;
            }
        }
        self.dec.count -= 1;
        self.dec.base_sum -= prompt as i64 + g_join as i64 - k_join as i64;
    }

    /// Tokens whose KV a running request holds before step `k`, and its generated count.
    fn progress(&self, run: &Running, k: u64) -> (u64, u32) {
        match run.phase {
            Phase::Decode { k_join, g_join } => {
                let g = g_join + (k - k_join) as u32;
                (run.prompt as u64 + g as u64 - 1, g)
            }
            Phase::Prefill {
                computed,
                generated,
                ..
            } => (computed as u64, generated),
        }
    }

    /// Offers every full computed block of `run` to the prefix cache.
    fn register_full(kv: &mut BlockPool, r: &Request, bs: u32, run: &mut Running, kv_tokens: u64) {
        if !kv.caching() {
            return;
        }
        let full = (kv_tokens / bs as u64) as u32;
        if full > run.registered {
            run.chain.extend(r, bs, full);
            for j in run.registered..full {
                let public = j < run.chain.public;
                kv.register(run.table[j as usize], run.chain.hashes[j as usize], public);
            }
            run.registered = full;
        }
    }

    /// Preempts the newest running request during planning of step `self.k` at `now`. Returns
    /// the victim's sequence number.
    fn preempt_newest(
        &mut self,
        now: SimTime,
        requests: &[Request],
        rec: &mut Recorder,
    ) -> Option<u64> {
        let (&seq, run) = self.running.last_key_value()?;
        let (kv_tokens, generated) = self.progress(run, self.k);
        self.remove_decoder(seq);
        self.prefilling.remove(&seq);
        let mut run = self.running.remove(&seq).expect("newest exists");
        self.owed -= run.owed();
        let r = &requests[run.req as usize];
        Self::register_full(&mut self.kv, r, self.bs, &mut run, kv_tokens);
        self.kv.release_all(&run.table);
        self.totals.preemptions += 1;
        // A decoder's latest token came at the end of the previous step, which is now.
        rec.preempted(run.req as usize, generated, now);
        self.waiting.push_front(Waiting {
            req: run.req,
            generated,
            chain: run.chain,
            old_table: run.table,
        });
        Some(seq)
    }

    /// Gives every decoder whose last block is full at step `self.k` a new block, preempting the
    /// newest running requests while blocks are short; returns the decoders that remain.
    fn allocate_decoders(&mut self, now: SimTime, requests: &[Request], rec: &mut Recorder) -> u32 {
        let k = self.k;
        let bucket = (k % self.bs as u64) as usize;
        while self.dec.fill[bucket].len() as u64 > self.kv.free() {
            if self.preempt_newest(now, requests, rec).is_none() {
                break;
            }
        }
        let mut seqs = std::mem::take(&mut self.spare_seqs);
        seqs.clear();
        seqs.extend(self.dec.fill[bucket].iter().copied());
        for &seq in &seqs {
            let run = self.running.get_mut(&seq).expect("decoder in its bucket");
            let r = &requests[run.req as usize];
            let kv_tokens = match run.phase {
                Phase::Decode { k_join, g_join } => {
                    run.prompt as u64 + g_join as u64 + (k - k_join) - 1
                }
                Phase::Prefill { .. } => unreachable!("only decoders are in fill buckets"),
            };
            Self::register_full(&mut self.kv, r, self.bs, run, kv_tokens);
            let b = self.kv.allocate().expect("free blocks were counted");
            self.owed -= run.owed().min(1);
            run.table.push(b);
        }
        self.spare_seqs = seqs;
        self.dec.count
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

        // With multi-step scheduling (vLLM V0's `num_scheduler_steps`), the scheduler runs only
        // between runs of decode steps; at such a point, prompts to compute make the step
        // prefill-only (decoders wait), as vLLM 0.6 schedules without chunked prefill.
        if self.run_left > 0 && self.dec.count == 0 {
            self.run_left = 0;
        }
        let in_run = self.run_left > 0;
        // After a prefill-only step, decoders get their run before the next one, so prompts
        // that keep being preempted cannot starve them.
        let try_prefill = self.multi_steps > 1
            && !in_run
            && (!self.decode_next || self.dec.count == 0)
            && (!self.prefilling.is_empty() || !self.waiting.is_empty());

        // 1. Decoders, oldest first: those whose last block is full need a new one; when blocks
        // are short, preempt the newest running requests.
        let mut decode_seqs = 0;
        if !try_prefill {
            decode_seqs = self.allocate_decoders(now, requests, rec);
            budget -= decode_seqs.min(budget);
        }

        // 2. Running prefills (chunked prompts in progress), in admission order.
        let mut seqs = std::mem::take(&mut self.spare_seqs);
        seqs.clear();
        if !in_run {
            seqs.extend(self.prefilling.iter().copied());
        }
        for &seq in &seqs {
            if budget == 0 {
                break;
            }
            let Some(run) = self.running.get(&seq) else {
                continue; // preempted while making room for an earlier one
            };
            let Phase::Prefill {
                target, computed, ..
            } = run.phase
            else {
                continue;
            };
            let n = (target - computed).min(budget);
            let new_blocks = div_ceil(computed as u64 + n as u64, bs) - run.table.len() as u64;
            let mut self_preempted = false;
            while new_blocks > self.kv.free() {
                match self.preempt_newest(now, requests, rec) {
                    Some(victim) if victim != seq => {}
                    _ => {
                        self_preempted = true;
                        break;
                    }
                }
            }
            if self_preempted {
                continue;
            }
            let run = self.running.get_mut(&seq).expect("not preempted");
            self.owed -= run.owed().min(new_blocks);
            for _ in 0..new_blocks {
                run.table
                    .push(self.kv.allocate().expect("free blocks were counted"));
            }
            budget -= n;
            prefills.push((seq, n));
        }
        self.spare_seqs = seqs;

        // 3. Waiting requests, in order, while budget, sequence slots and blocks last.
        while !in_run && budget > 0 && (self.running.len() as u32) < self.max_num_seqs {
            let Some(w) = self.waiting.front_mut() else {
                break;
            };
            let r = &requests[w.req as usize];
            let target = r.input_tokens + w.generated;
            // Longest chain of cached blocks, leaving at least the last token to compute.
            self.hits.clear();
            let mut free_hits = 0u64;
            if self.kv.caching() {
                w.chain.extend(r, self.bs, target / self.bs);
                let max_hit = (target - 1) / self.bs;
                for j in 0..max_hit {
                    let h = w.chain.hashes[j as usize];
                    // Shareable content is looked up; past it, only the request's own blocks
                    // from before a preemption can still hold its content.
                    let found = if j < w.chain.public {
                        self.kv.lookup(h)
                    } else {
                        w.old_table
                            .get(j as usize)
                            .copied()
                            .filter(|&b| self.kv.holds(b, h))
                    };
                    match found {
                        Some(b) => {
                            free_hits += self.kv.is_free(b) as u64;
                            self.hits.push(b);
                        }
                        None => break,
                    }
                }
            }
            let cached = self.hits.len() as u32 * self.bs;
            let n = (target - cached).min(budget);
            let new_blocks = div_ceil(cached as u64 + n as u64, bs) - self.hits.len() as u64;
            // Blocks it will hold when its last token is computed.
            let need = div_ceil(r.input_tokens as u64 + r.output_tokens as u64, bs);
            if self.no_evict {
                // Admit only if its whole life fits beside what running requests still need.
                let life = need.saturating_sub(self.hits.len() as u64) + free_hits;
                if self.owed + life > self.kv.free() {
                    break;
                }
            } else if new_blocks + free_hits > self.kv.free() {
                break;
            }
            let w = self.waiting.pop_front().expect("front exists");
            let mut table = Vec::with_capacity(div_ceil(target as u64 + 1, bs) as usize);
            for &b in &self.hits {
                self.kv.touch(b);
                table.push(b);
            }
            for _ in 0..new_blocks {
                table.push(self.kv.allocate().expect("free blocks were counted"));
            }
            if rec.scheduled(w.req as usize, now, cached) {
                self.totals.prompt_tokens += r.input_tokens as u64;
                self.totals.prefix_hit_tokens += cached as u64;
            }
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
                        computed: cached,
                        generated: w.generated,
                    },
                    registered: self.hits.len() as u32,
                    table,
                    chain: w.chain,
                    bucket_pos: 0,
                    need: need as u32,
                },
            );
            self.owed += self.running[&seq].owed();
            self.prefilling.insert(seq);
            budget -= n;
            prefills.push((seq, n));
        }

        // A multi-step scheduling point with nothing to prefill after all: a decode step.
        if try_prefill && prefills.is_empty() {
            decode_seqs = self.allocate_decoders(now, requests, rec);
        }
        let decoding = !try_prefill || prefills.is_empty();
        if decode_seqs == 0 && prefills.is_empty() {
            self.spare_prefills = prefills;
            return StepOutcome::Idle;
        }
        if self.multi_steps > 1 && decoding && !in_run {
            self.run_left = self.multi_steps;
        }
        self.decode_next = !decoding;

        // The batch shape for the step-time model.
        self.shape.decode_seqs = decode_seqs;
        self.shape.decode_context_tokens = if decoding {
            (self.dec.base_sum + decode_seqs as i64 * k as i64).max(0) as u64
        } else {
            0
        };
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
        self.totals.decode_tokens += decode_seqs as u64;
        self.totals.prefill_tokens += prefills.iter().map(|p| p.1 as u64).sum::<u64>();
        self.plan = Some(Plan {
            k,
            start: now,
            decode_seqs,
            decoding,
            prefills,
        });
        StepOutcome::Started(now + SimTime::from_nanos(dur))
    }

    /// Applies the effects of the step in flight, which ends at `now`; appends the indices of
    /// requests that finished to `done`.
    pub fn finish_step(
        &mut self,
        now: SimTime,
        requests: &[Request],
        rec: &mut Recorder,
        done: &mut Vec<u32>,
    ) {
        let Some(plan) = self.plan.take() else {
            return;
        };
        let k = plan.k;
        let dur = now.saturating_sub(plan.start).as_nanos();
        self.totals.busy_ns += dur;
        self.totals.steps += 1;

        // Every decoder got one token; those on their last token finish. Under multi-step
        // scheduling the tokens of a run reach the client together at its end, so the
        // inter-token gap recorded is the time since the previous run ended.
        if self.multi_steps > 1 {
            self.chunk_ns += dur;
            if plan.decoding {
                self.run_left = self.run_left.saturating_sub(1);
                if self.run_left == 0 {
                    rec.decode_batch(self.chunk_ns, plan.decode_seqs);
                    self.chunk_ns = 0;
                }
            }
        } else {
            rec.decode_batch(dur, plan.decode_seqs);
        }
        while let Some(&Reverse((step, seq))) = self.dec.finish.peek() {
            if step > k || !plan.decoding {
                break;
            }
            self.dec.finish.pop();
            match self.running.get(&seq) {
                Some(Running {
                    phase: Phase::Decode { .. },
                    ..
                }) => {}
                _ => continue, // preempted earlier
            }
            debug_assert_eq!(step, k, "a decoder outlived its last token");
            self.remove_decoder(seq);
            let mut run = self.running.remove(&seq).expect("checked above");
            self.owed -= run.owed();
            let kv_tokens = run.prompt as u64 + run.output as u64 - 1;
            let r = &requests[run.req as usize];
            Self::register_full(&mut self.kv, r, self.bs, &mut run, kv_tokens);
            self.kv.release_all(&run.table);
            rec.completed(run.req as usize, now, run.output);
            done.push(run.req);
        }

        // Prefill chunks advance; full blocks join the cache; a finished prompt yields a token and
        // decodes from the next decode step (a prefill-only step does not advance the decoders).
        let next_k = if plan.decoding { k + 1 } else { k };
        for &(seq, n) in &plan.prefills {
            let Some(run) = self.running.get_mut(&seq) else {
                continue;
            };
            let Phase::Prefill {
                target,
                computed,
                generated,
            } = &mut run.phase
            else {
                continue;
            };
            *computed += n;
            let (c, t, g) = (*computed, *target, *generated + 1);
            let r = &requests[run.req as usize];
            Self::register_full(&mut self.kv, r, self.bs, run, c as u64);
            if c < t {
                continue;
            }
            self.prefilling.remove(&seq);
            let (req, output) = (run.req, run.output);
            if g >= output {
                let run = self.running.remove(&seq).expect("present");
                self.owed -= run.owed();
                self.kv.release_all(&run.table);
                rec.completed(req as usize, now, output);
                done.push(req);
            } else {
                rec.token(req as usize, now);
                self.add_decoder(seq, next_k, g);
            }
        }
        self.spare_prefills = plan.prefills;
        self.k = next_k;
    }

    /// Writes the generated-token counts of running decoders into the recorder (their tokens are
    /// tracked in aggregate while they run), for reporting requests a horizon left unfinished.
    pub fn flush_progress(&self, rec: &mut Recorder) {
        for run in self.running.values() {
            if let Phase::Decode { k_join, g_join } = run.phase {
                rec.progress(run.req as usize, g_join + (self.k - k_join) as u32);
            }
        }
    }

    /// Checks the replica's invariants between steps: block reference counts match the running
    /// requests' block tables, every running request holds exactly the blocks its progress
    /// needs, the decoder aggregates match the decoders, and use is within capacity.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut holders: HashMap<u32, u32> = HashMap::new();
        let (mut decoders, mut base) = (0u32, 0i64);
        let k = self.k;
        for (seq, run) in &self.running {
            for &b in &run.table {
                *holders.entry(b).or_default() += 1;
            }
            let (kv_tokens, _) = self.progress(run, k);
            let want = div_ceil(kv_tokens, self.bs as u64);
            // A prefill holds blocks for the chunk just computed; a decoder holds its tokens'
            // blocks (plus none ahead, since it allocates at the step that needs one).
            if run.table.len() as u64 != want {
                return Err(format!(
                    "request {} (seq {seq}) holds {} blocks for {kv_tokens} tokens (want {want})",
                    run.req,
                    run.table.len()
                ));
            }
            if let Phase::Decode { k_join, g_join } = run.phase {
                decoders += 1;
                base += run.prompt as i64 + g_join as i64 - k_join as i64;
                let b = self.fill_bucket(run.prompt, k_join, g_join);
                if self.dec.fill[b].get(run.bucket_pos as usize) != Some(seq) {
                    return Err(format!("decoder seq {seq} not at its bucket position"));
                }
            } else if !self.prefilling.contains(seq) {
                return Err(format!("prefilling seq {seq} missing from the prefill set"));
            }
        }
        if decoders != self.dec.count || base != self.dec.base_sum {
            return Err(format!(
                "decoder aggregates {} / {} but {decoders} / {base} counted",
                self.dec.count, self.dec.base_sum
            ));
        }
        let in_buckets: usize = self.dec.fill.iter().map(Vec::len).sum();
        if in_buckets != decoders as usize {
            return Err(format!(
                "{in_buckets} decoders in buckets, {decoders} running"
            ));
        }
        if self.running.len() as u32 > self.max_num_seqs {
            return Err("more running requests than max_num_seqs".into());
        }
        let owed: u64 = self.running.values().map(Running::owed).sum();
        if owed != self.owed {
            return Err(format!(
                "running requests owe {owed} blocks, {} tracked",
                self.owed
            ));
        }
        if self.no_evict && self.owed > self.kv.free() {
            return Err(format!(
                "guaranteed_no_evict promised {} blocks with {} free",
                self.owed,
                self.kv.free()
            ));
        }
        self.kv.check(&holders)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    use crate::serving::{ReplicaSpec, SchedulerPolicy};

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
        let mut done = Vec::new();
        while let StepOutcome::Started(end) = rep.start_step(now, reqs, &mut rec) {
            now = end;
            rep.finish_step(now, reqs, &mut rec, &mut done);
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
        // The workload that forces a preemption above: under guaranteed_no_evict the second
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
        let mem = MemoryPlan::new(c.model("llama-3.1-8b").unwrap(), gpu, &cfg).unwrap();
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
            match rep.start_step(now, &reqs, &mut rec) {
                StepOutcome::Started(end) => {
                    now = end;
                    rep.finish_step(now, &reqs, &mut rec, &mut done);
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
}
