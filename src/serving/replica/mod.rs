//! The replica scheduler (vLLM V1 semantics; docs/ARCHITECTURE.md, "Semantics").
//!
//! Each step: running requests first (one decode token each, or their next prefill chunk), then
//! waiting requests in order while the token budget lasts and fewer than `max_num_seqs` run;
//! prompts are chunked to fit the budget. KV blocks are allocated as tokens are computed; when
//! they run out, the newest running request is preempted: its blocks are freed, its progress
//! reset, and it goes back to the front of the waiting queue to be recomputed. With prefix
//! caching, a request admitted from the queue first takes the longest chain of cached blocks
//! matching its prompt (never its last token), and those tokens skip prefill compute.
//!
//! Under `scheduler_policy: guaranteed-no-evict` (TensorRT-LLM's default) a waiting request is
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

mod admission;
mod decoders;
mod invariants;
mod runs;
mod sequence;
mod step;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use self::decoders::Decoders;
use self::runs::Runs;
use self::sequence::{Phase, Waiting};
use super::kv::BlockPool;
use super::memory::MemoryLayout;
use super::ReplicaConfig;
use crate::metrics::{Recorder, ReplicaTotals};
use crate::perf::{BatchShape, StepTimeModel};
use crate::time::SimTime;
use crate::workload::block_hash::Chain;

/// What the replica decided to compute in the step in flight.
#[derive(Clone, Debug)]
pub(super) struct StepInFlight {
    k: u64,
    start: SimTime,
    decode_seqs: u32,
    /// Decoders compute a token in this step (false for a multi-step prefill-only step).
    decoding: bool,
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
    /// The pool it belongs to (0 in a fleet of one pool).
    pool: u32,
    max_num_seqs: u32,
    budget: u32,
    bs: u32,
    max_model_len: u32,
    limited_by_kv: bool,
    no_evict: bool,
    /// Blocks the running requests will still allocate (sum of `Running::owed`).
    owed: u64,
    /// Sliding-window layers: the most window blocks a sequence holds, and the ratio of their
    /// KV bytes to a pool block's (`MemoryLayout::window_units`); 0 blocks without them.
    window_blocks: u64,
    window_ratio: (u64, u64),
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
    running: Runs,
    prefilling: BTreeSet<u64>,
    next_seq: u64,
    k: u64,
    dec: Decoders,
    in_flight: Option<StepInFlight>,
    shape: BatchShape,
    /// The prefill chunks (sequence, tokens) of the step being planned or in flight.
    prefills: Vec<(u64, u32)>,
    spare_seqs: Vec<u64>,
    hits: Vec<u32>,
    /// What it has done so far (the KV fields are filled in by [`Replica::totals`]).
    totals: ReplicaTotals,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .field("waiting", &self.waiting.len())
            .field("running", &self.running.len())
            .field("step", &self.k)
            .field("kv_used_blocks", &self.kv.used())
            .field("kv_capacity_blocks", &self.kv.total())
            .field("busy", &self.in_flight.is_some())
            .finish_non_exhaustive()
    }
}

fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

impl Replica {
    /// A replica with the given settings, memory layout and step-time model.
    pub fn new(
        id: u32,
        cfg: &ReplicaConfig,
        mem: &MemoryLayout,
        perf: Arc<dyn StepTimeModel>,
    ) -> Replica {
        Replica {
            id,
            pool: 0,
            max_num_seqs: cfg.max_num_seqs,
            budget: cfg.max_num_batched_tokens,
            bs: cfg.block_size,
            max_model_len: mem.max_model_len,
            limited_by_kv: mem.max_model_len_limited_by == "the KV cache capacity",
            no_evict: cfg.scheduler_policy == super::SchedulerPolicy::GuaranteedNoEvict,
            owed: 0,
            window_blocks: mem.window_blocks as u64,
            window_ratio: mem.window_ratio,
            multi_steps: cfg.num_scheduler_steps,
            run_left: 0,
            chunk_ns: 0,
            decode_next: false,
            kv: BlockPool::new(mem.kv_blocks, cfg.prefix_caching),
            perf,
            waiting: VecDeque::new(),
            running: Runs::default(),
            prefilling: BTreeSet::new(),
            next_seq: 0,
            k: 0,
            dec: Decoders::new(cfg.block_size),
            in_flight: None,
            shape: BatchShape::default(),
            prefills: Vec::new(),
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
            kv_window_blocks_per_seq: self.window_units(u64::MAX),
            ..self.totals.clone()
        }
    }

    /// The same replica, in pool `pool` of its fleet.
    pub fn in_pool(mut self, pool: u32) -> Replica {
        self.pool = pool;
        self.totals.pool = pool;
        self
    }

    /// The pool it belongs to.
    pub fn pool(&self) -> u32 {
        self.pool
    }

    /// The request at the head of the waiting queue (the one waiting longest to be scheduled).
    pub fn oldest_waiting(&self) -> Option<u32> {
        self.waiting.front().map(|w| w.req)
    }

    /// Takes every request off this replica, as when its machine is reclaimed: blocks are freed,
    /// the step in flight is abandoned, and the requests (running first, in admission order,
    /// then waiting) are returned to be sent again from their start elsewhere; each running one
    /// counts a preemption.
    pub fn evict_all(&mut self, now: SimTime, rec: &mut Recorder) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.outstanding());
        for mut run in self.running.drain() {
            run.release(&mut self.kv, false);
            rec.preempted(run.req as usize, 0, now);
            self.totals.preemptions += 1;
            out.push(run.req);
        }
        out.extend(self.waiting.drain(..).map(|w| w.req));
        self.prefilling.clear();
        self.dec = Decoders::new(self.bs);
        self.owed = 0;
        self.in_flight = None;
        self.run_left = 0;
        self.decode_next = false;
        out
    }

    /// Pool blocks a sequence that will hold `blocks` blocks keeps for its sliding-window
    /// layers (taken at admission, released with its other blocks).
    fn window_units(&self, blocks: u64) -> u64 {
        crate::serving::memory::window_units(blocks.min(self.window_blocks), self.window_ratio)
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

    /// How many of the first `blocks` (shareable) blocks of `chain` the prefix cache holds, in a
    /// row from the first.
    pub fn cached_prefix_blocks(&self, chain: &Chain, blocks: u32) -> usize {
        self.kv.cached_prefix_len(chain, blocks) as usize
    }

    /// Keeps a journal of the prompts' leading blocks (first units) entering and leaving the
    /// prefix cache, for a fleet-wide index ([`crate::fleet::index::FleetIndex`]).
    pub fn journal_first_units(&mut self) {
        self.kv.journal_first_units();
    }

    /// Passes the journal's entries to `f` (chain key, entered or left), in order, and empties
    /// it.
    pub fn drain_journal(&mut self, f: impl FnMut(u64, bool)) {
        self.kv.drain_journal(f);
    }

    /// Whether the journal has entries to drain.
    #[inline]
    pub fn journal_pending(&self) -> bool {
        self.kv.journal_pending()
    }

    /// The chain keys of the first units its prefix cache holds.
    pub fn first_units(&self) -> impl Iterator<Item = u64> + '_ {
        self.kv.first_units()
    }

    /// Whether a step is in flight.
    pub fn is_busy(&self) -> bool {
        self.in_flight.is_some()
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
}
