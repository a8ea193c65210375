//! Admission: requests join the waiting queue (or are refused when they could never fit), and
//! waiting requests are admitted to the running batch in order while the step's token budget,
//! the sequence slots and the KV blocks last, taking the longest cached prefix of their prompt
//! first. Under `guaranteed-no-evict` a request is admitted only if its whole life fits.

use super::sequence::{Phase, Running, Waiting};
use super::{div_ceil, Replica};
use crate::metrics::{Recorder, RejectReason};
use crate::time::SimTime;
use crate::workload::block_hash::Chain;
use crate::workload::Request;

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
        self.waiting.push_back(Waiting {
            req: idx,
            generated: 0,
            chain: Chain::default(),
            old_table: Vec::new(),
        });
        Ok(())
    }

    /// Admits waiting requests at `now`, in order, while `budget` tokens, sequence slots and
    /// blocks last; each admitted prompt's first chunk joins `prefills`.
    pub(super) fn admit_waiting(
        &mut self,
        now: SimTime,
        requests: &[Request],
        rec: &mut Recorder,
        budget: &mut u32,
        prefills: &mut Vec<(u64, u32)>,
    ) {
        let bs = self.bs as u64;
        while *budget > 0 && (self.running.len() as u32) < self.max_num_seqs {
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
            let n = (target - cached).min(*budget);
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
            *budget -= n;
            prefills.push((seq, n));
        }
    }
}
