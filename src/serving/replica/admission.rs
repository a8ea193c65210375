//! Admission: requests join the waiting queue (or are refused when they could never fit), and
//! waiting requests are admitted to the running batch in order while the step's token budget,
//! the sequence slots and the KV blocks last, taking the longest cached prefix of their prompt
//! first. Under `guaranteed-no-evict` a request is admitted only if its whole life fits.

use super::sequence::{Phase, Running, Waiting};
use super::{div_ceil, Replica};
use crate::metrics::{Recorder, RejectReason};
use crate::time::SimTime;
use crate::workload::block_hash::{shareable_blocks, Chain};
use crate::workload::{Reqs, Request};

impl Replica {
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
        let shared = if self.kv.caching() {
            shareable_blocks(r, self.bs)
        } else {
            0
        };
        self.waiting.push_back(Waiting {
            req: idx,
            generated: 0,
            chain: Chain::default(),
            shared,
            old_run: None,
        });
        Ok(())
    }

    /// Admits waiting requests at `now`, in order, while `budget` tokens, sequence slots and
    /// blocks last; each admitted prompt's first chunk joins `self.prefills`.
    pub(super) fn admit_waiting(
        &mut self,
        now: SimTime,
        requests: Reqs<'_>,
        rec: &mut Recorder,
        budget: &mut u32,
    ) {
        let bs = self.bs as u64;
        while *budget > 0 && (self.running.len() as u32) < self.max_num_seqs {
            let Some(w) = self.waiting.front_mut() else {
                break;
            };
            let r = &requests[w.req as usize];
            let target = r.input_tokens + w.generated;
            // Longest chain of cached blocks, leaving at least the last token to compute:
            // shareable content is looked up; past it, only the request's own blocks from
            // before a preemption can still hold its content.
            self.hits.clear();
            let mut free_hits = 0u64;
            let mut own_hits = 0u32;
            if self.kv.caching() {
                let max_hit = (target - 1) / self.bs;
                let shared_hit = max_hit.min(w.shared);
                w.chain.extend(r, self.bs, shared_hit);
                free_hits = self.kv.cached_prefix(&w.chain, shared_hit, &mut self.hits);
                if self.hits.len() as u32 == shared_hit && shared_hit < max_hit {
                    own_hits = self.kv.run_hits(w.old_run, shared_hit, max_hit);
                    free_hits += own_hits as u64;
                }
            }
            let hit_blocks = self.hits.len() as u64 + own_hits as u64;
            let cached = hit_blocks as u32 * self.bs;
            let n = (target - cached).min(*budget);
            let new_blocks = div_ceil(cached as u64 + n as u64, bs) - hit_blocks;
            // Blocks it will hold when its last token is computed, and those of its
            // sliding-window layers (held from admission).
            let need = div_ceil(r.input_tokens as u64 + r.output_tokens as u64, bs);
            let window = self.window_units(need);
            if self.no_evict {
                // Admit only if its whole life fits beside what running requests still need.
                let life = need.saturating_sub(hit_blocks) + free_hits + window;
                if self.owed + life > self.kv.free() {
                    break;
                }
            } else if new_blocks + free_hits + window > self.kv.free() {
                break;
            }
            let w = self.waiting.pop_front().expect("front exists");
            let mut table = Vec::with_capacity(self.hits.len().max(w.shared.min(64) as usize));
            for &b in &self.hits {
                self.kv.touch(b);
                table.push(b);
            }
            if let Some(h) = w.old_run.filter(|_| own_hits > 0) {
                self.kv.take_run_front(h, own_hits);
            }
            if rec.scheduled(w.req as usize, now, cached) {
                self.totals.prompt_tokens += r.input_tokens as u64;
                self.totals.prefix_hit_tokens += cached as u64;
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            let mut run = Running {
                req: w.req,
                prompt: r.input_tokens,
                output: r.output_tokens,
                phase: Phase::Prefill {
                    target,
                    computed: cached,
                    generated: w.generated,
                },
                registered: hit_blocks as u32,
                table,
                unique: own_hits,
                shared: w.shared,
                chain: w.chain,
                bucket_pos: 0,
                need: need as u32,
                window: 0,
            };
            run.grow(&mut self.kv, new_blocks);
            run.hold_window(&mut self.kv, window);
            self.running.insert(seq, run);
            self.owed += self.running[&seq].owed();
            self.prefilling.insert(seq);
            *budget -= n;
            self.prefills.push((seq, n));
        }
    }
}
