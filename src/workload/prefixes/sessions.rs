//! Multi-turn conversations: turn k's prompt is turn k-1's prompt + its answer + a new user
//! message, so the history is a cached prefix; turn k is sent only after turn k-1's answer has
//! finished plus think time (closed loop).

use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp};

use super::content_id;
use crate::time::SimTime;
use crate::workload::lengths::LengthDist;
use crate::workload::{FollowUp, PrefixIds, Request};

const TAG_SYSTEM: u64 = 0x5E55_0001;
const TAG_SESSION: u64 = 0x5E55_0002;

/// Draws the turns of one conversation.
pub struct SessionGen<'a> {
    /// Turns per conversation.
    pub turns: &'a mut dyn LengthDist,
    /// User message lengths.
    pub message: &'a mut dyn LengthDist,
    /// Answer lengths.
    pub answer: &'a mut dyn LengthDist,
    /// Mean think time, seconds (0 = none).
    pub think_time_s: f64,
    /// Shared system prompt length, tokens.
    pub system_prompt_tokens: u32,
    /// Context limit that ends a conversation.
    pub max_context_tokens: u32,
    /// Tokens each prefix id covers ([`crate::workload::synth::PREFIX_BLOCK_TOKENS`]).
    pub block_tokens: u32,
    /// A turn whose prompt and answer pass this many tokens (which every replica rejects) gets
    /// no prefix ids: it never reaches a cache, and its ids could take gigabytes.
    pub max_tokens: u32,
}

impl std::fmt::Debug for SessionGen<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionGen")
            .field("think_time_s", &self.think_time_s)
            .field("system_prompt_tokens", &self.system_prompt_tokens)
            .field("max_context_tokens", &self.max_context_tokens)
            .field("block_tokens", &self.block_tokens)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl SessionGen<'_> {
    /// Appends conversation `session` starting at `start` to `out` (ids continue from
    /// `out.len()`), at most `room` requests. Returns how many were added.
    pub fn generate(
        &mut self,
        session: u64,
        start: SimTime,
        room: u64,
        rng_lengths: &mut StdRng,
        rng_prefix: &mut StdRng,
        out: &mut Vec<Request>,
    ) -> u64 {
        let turns = (self.turns.sample(rng_prefix) as u64).min(room);
        let think =
            (self.think_time_s > 0.0).then(|| Exp::new(1.0 / self.think_time_s).expect("positive"));
        let g = self.block_tokens as u64;
        let sys = self.system_prompt_tokens as u64;
        // Tokens of the conversation so far (prompt + answers), before the next message.
        let mut history = sys;
        let mut arrival = start;
        let mut added = 0;
        for turn in 0..turns {
            let msg = self.message.sample(rng_lengths) as u64;
            let ans = self.answer.sample(rng_lengths) as u64;
            let prompt = history + msg;
            if prompt + ans > self.max_context_tokens as u64 && turn > 0 {
                break;
            }
            let covered = (prompt + ans).div_ceil(g);
            let prefix = (prompt + ans <= self.max_tokens as u64).then(|| PrefixIds {
                block_tokens: self.block_tokens,
                ids: (0..covered)
                    .map(|i| {
                        if (i + 1) * g <= sys {
                            content_id(TAG_SYSTEM, 0, i)
                        } else {
                            content_id(TAG_SESSION, session, i)
                        }
                    })
                    .collect(),
            });
            let id = out.len() as u64;
            let follows = if turn == 0 {
                None
            } else {
                let t = think.map(|e| e.sample(rng_prefix)).unwrap_or(0.0);
                let think = SimTime::from_secs_f64(t);
                arrival += think;
                Some(FollowUp {
                    prev: id - 1,
                    think,
                })
            };
            out.push(Request {
                id,
                arrival,
                input_tokens: prompt.min(u32::MAX as u64) as u32,
                output_tokens: ans as u32,
                prefix,
                session: Some(session),
                follows,
            });
            history = prompt + ans;
            added += 1;
        }
        added
    }
}
