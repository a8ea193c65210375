//! The step cycle: plan a step (decoders, prompts in progress, admissions), start it with its
//! duration from the step-time model, and apply its effects when it ends (tokens, completions,
//! blocks offered to the prefix cache). Preemption by recompute frees the newest request's blocks.

use std::cmp::Reverse;

use super::sequence::{Phase, Running, Waiting};
use super::{div_ceil, Replica, StepInFlight, StepOutcome};
use crate::metrics::Recorder;
use crate::perf::PrefillChunk;
use crate::time::SimTime;
use crate::workload::Reqs;

impl Replica {
    /// Running request `seq` starts decoding at step `k_join` with `g_join` tokens generated.
    pub(super) fn add_decoder(&mut self, seq: u64, k_join: u64, g_join: u32) {
        let run = self.running.get_mut(&seq).expect("decoder is running");
        run.phase = Phase::Decode { k_join, g_join };
        run.bucket_pos = self.dec.add(seq, run.prompt, run.output, k_join, g_join);
    }

    /// Takes a decoder out of the aggregates (it stays in `running` for the caller to remove).
    pub(super) fn remove_decoder(&mut self, seq: u64) {
        let run = &self.running[&seq];
        let Phase::Decode { k_join, g_join } = run.phase else {
            return;
        };
        let (prompt, pos) = (run.prompt, run.bucket_pos as usize);
        if let Some(moved) = self.dec.remove(prompt, k_join, g_join, pos) {
            if let Some(m) = self.running.get_mut(&moved) {
                m.bucket_pos = pos as u32;
            }
        }
    }

    /// Preempts the newest running request during planning of step `self.k` at `now`. Returns
    /// the victim's sequence number.
    fn preempt_newest(
        &mut self,
        now: SimTime,
        requests: Reqs<'_>,
        rec: &mut Recorder,
    ) -> Option<u64> {
        let (&seq, run) = self.running.last_key_value()?;
        let (kv_tokens, generated) = run.progress(self.k);
        self.remove_decoder(seq);
        self.prefilling.remove(&seq);
        let mut run = self.running.remove(&seq).expect("newest exists");
        self.owed -= run.owed();
        let r = &requests[run.req as usize];
        run.register_full(&mut self.kv, r, self.bs, kv_tokens);
        let old_run = run.release(&mut self.kv, true);
        self.totals.preemptions += 1;
        // A decoder's latest token came at the end of the previous step, which is now.
        rec.preempted(run.req as usize, generated, now);
        self.waiting.push_front(Waiting {
            req: run.req,
            generated,
            chain: run.chain,
            shared: run.shared,
            old_run,
        });
        Some(seq)
    }

    /// Gives every decoder whose last block is full at step `self.k` a new block, preempting the
    /// newest running requests while blocks are short; returns the decoders that remain.
    fn allocate_decoders(&mut self, now: SimTime, requests: Reqs<'_>, rec: &mut Recorder) -> u32 {
        let k = self.k;
        let bucket = (k % self.bs as u64) as usize;
        while self.dec.fill[bucket].len() as u64 > self.kv.free() {
            if self.preempt_newest(now, requests, rec).is_none() {
                break;
            }
        }
        // By index: the bucket does not change while its decoders get their blocks.
        for i in 0..self.dec.fill[bucket].len() {
            let seq = self.dec.fill[bucket][i];
            let run = self.running.get_mut(&seq).expect("decoder in its bucket");
            let r = &requests[run.req as usize];
            let kv_tokens = match run.phase {
                Phase::Decode { k_join, g_join } => {
                    run.prompt as u64 + g_join as u64 + (k - k_join) - 1
                }
                Phase::Prefill { .. } => unreachable!("only decoders are in fill buckets"),
            };
            run.register_full(&mut self.kv, r, self.bs, kv_tokens);
            self.owed -= run.owed().min(1);
            run.grow(&mut self.kv, 1);
        }
        self.dec.count
    }

    /// Plans and starts the next step at `now` if there is anything to compute: decoders first
    /// (each needing a new block gets one, preempting the newest requests when blocks are
    /// short), then prompts in progress, then waiting requests (admission.rs).
    pub fn start_step(
        &mut self,
        now: SimTime,
        requests: Reqs<'_>,
        rec: &mut Recorder,
    ) -> StepOutcome {
        debug_assert!(self.in_flight.is_none(), "a step is already in flight");
        let k = self.k;
        let mut budget = self.budget;
        // The chunks of the step being planned (a buffer reused across steps, so a step
        // allocates nothing in the steady state; it stays in place, not moved in and out).
        self.prefills.clear();

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
        if !in_run {
            self.continue_prefills(now, requests, rec, &mut budget);
        }

        // 3. Waiting requests, in order, while budget, sequence slots and blocks last.
        if !in_run {
            self.admit_waiting(now, requests, rec, &mut budget);
        }

        // A multi-step scheduling point with nothing to prefill after all: a decode step.
        if try_prefill && self.prefills.is_empty() {
            decode_seqs = self.allocate_decoders(now, requests, rec);
        }
        let decoding = !try_prefill || self.prefills.is_empty();
        if decode_seqs == 0 && self.prefills.is_empty() {
            return StepOutcome::Idle;
        }
        if self.multi_steps > 1 && decoding && !in_run {
            self.run_left = self.multi_steps;
        }
        self.decode_next = !decoding;
        self.launch(now, k, decode_seqs, decoding)
    }

    /// Starts the planned step at `now`: its batch shape, its duration from the step-time model,
    /// and what its end applies.
    fn launch(&mut self, now: SimTime, k: u64, decode_seqs: u32, decoding: bool) -> StepOutcome {
        let context_tokens = if decoding {
            self.dec.context_tokens(decode_seqs, k)
        } else {
            0
        };
        let dur = if self.prefills.is_empty() {
            self.perf.decode_step_ns(decode_seqs, context_tokens)
        } else {
            // The batch shape for the step-time model.
            self.shape.decode_seqs = decode_seqs;
            self.shape.decode_context_tokens = context_tokens;
            self.shape.prefills.clear();
            for &(seq, n) in &self.prefills {
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
            self.perf.step_time_ns(&self.shape)
        };
        self.totals.decode_tokens += decode_seqs as u64;
        self.totals.prefill_tokens += self.prefills.iter().map(|p| p.1 as u64).sum::<u64>();
        self.in_flight = Some(StepInFlight {
            k,
            start: now,
            decode_seqs,
            decoding,
        });
        StepOutcome::Started(now + SimTime::from_nanos(dur))
    }

    /// Continues the prompts in progress (chunked prefill), in admission order, while `budget`
    /// lasts; each chunk joins `self.prefills`. A prompt that cannot get its blocks preempts the
    /// newest running requests, itself last.
    fn continue_prefills(
        &mut self,
        now: SimTime,
        requests: Reqs<'_>,
        rec: &mut Recorder,
        budget: &mut u32,
    ) {
        if self.prefilling.is_empty() {
            return;
        }
        let bs = self.bs as u64;
        let mut seqs = std::mem::take(&mut self.spare_seqs);
        seqs.clear();
        seqs.extend(self.prefilling.iter().copied());
        for &seq in &seqs {
            if *budget == 0 {
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
            let n = (target - computed).min(*budget);
            let new_blocks = div_ceil(computed as u64 + n as u64, bs) - run.held();
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
            run.grow(&mut self.kv, new_blocks);
            *budget -= n;
            self.prefills.push((seq, n));
        }
        self.spare_seqs = seqs;
    }

    /// Applies the effects of the step in flight, which ends at `now`; appends the indices of
    /// requests that finished to `done`.
    pub fn finish_step(
        &mut self,
        now: SimTime,
        requests: Reqs<'_>,
        rec: &mut Recorder,
        done: &mut Vec<u32>,
    ) {
        let Some(step_done) = self.in_flight.take() else {
            return;
        };
        let k = step_done.k;
        let dur = now.saturating_sub(step_done.start).as_nanos();
        self.totals.busy_ns += dur;
        self.totals.steps += 1;

        // Every decoder got one token; those on their last token finish. Under multi-step
        // scheduling the tokens of a run reach the client together at its end, so the
        // inter-token gap recorded is the time since the previous run ended.
        if self.multi_steps > 1 {
            self.chunk_ns += dur;
            if step_done.decoding {
                self.run_left = self.run_left.saturating_sub(1);
                if self.run_left == 0 {
                    rec.decode_batch(self.chunk_ns, step_done.decode_seqs);
                    self.chunk_ns = 0;
                }
            }
        } else {
            rec.decode_batch(dur, step_done.decode_seqs);
        }
        while let Some(&Reverse((step, seq))) = self.dec.finish.peek() {
            if step > k || !step_done.decoding {
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
            run.register_full(&mut self.kv, r, self.bs, kv_tokens);
            run.release(&mut self.kv, false);
            rec.completed(run.req as usize, now, run.output);
            done.push(run.req);
        }

        // Prefill chunks advance; full blocks join the cache; a finished prompt yields a token and
        // decodes from the next decode step (a prefill-only step does not advance the decoders).
        let next_k = if step_done.decoding { k + 1 } else { k };
        for i in 0..self.prefills.len() {
            let (seq, n) = self.prefills[i];
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
            run.register_full(&mut self.kv, r, self.bs, c as u64);
            if c < t {
                continue;
            }
            self.prefilling.remove(&seq);
            let (req, output) = (run.req, run.output);
            if g >= output {
                let mut run = self.running.remove(&seq).expect("present");
                self.owed -= run.owed();
                run.release(&mut self.kv, false);
                rec.completed(req as usize, now, output);
                done.push(req);
            } else {
                rec.token(req as usize, now);
                self.add_decoder(seq, next_k, g);
            }
        }
        self.k = next_k;
    }
}
