//! The decoders' aggregates, kept in O(change) per step.
//!
//! Decoding sequences are not visited one by one each step. Every running decoder gains exactly
//! one token per step, so a decoder is described by the step it joined and the tokens it had
//! then; from those its length at any step follows. The replica keeps, over all decoders: their
//! count, the sum of their context lengths (for the step-time model), lists of decoders by the
//! step (modulo the block size) at which they fill a block (for KV allocation and caching), and
//! a heap of finish steps. A step therefore costs O(requests that start, finish, fill a block or

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Aggregates over all decoding sequences.
#[derive(Clone, Debug)]
pub(super) struct Decoders {
    pub(super) count: u32,
    /// Sum over decoders of (prompt + g_join - k_join): context at step k is this plus count * k.
    pub(super) base_sum: i64,
    /// fill[r]: decoders whose blocks are exactly full before steps k with k % block_size == r,
    /// so they need a new block at those steps.
    pub(super) fill: Vec<Vec<u64>>,
    /// (finish step, admission sequence), min first; entries of preempted decoders are skipped.
    pub(super) finish: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Decoders {
    /// No decoders, for blocks of `block_size` tokens.
    pub(super) fn new(block_size: u32) -> Decoders {
        Decoders {
            count: 0,
            base_sum: 0,
            fill: vec![Vec::new(); block_size as usize],
            finish: BinaryHeap::new(),
        }
    }

    /// Fill bucket of a decoder: it needs a new block at step k when
    /// (prompt + g_join - 1 + k - k_join) % block_size == 0.
    pub(super) fn bucket(&self, prompt: u32, k_join: u64, g_join: u32) -> usize {
        let offset = prompt as i128 + g_join as i128 - 1 - k_join as i128;
        (-offset).rem_euclid(self.fill.len() as i128) as usize
    }

    /// Adds decoder `seq` (prompt tokens `prompt`, output tokens `output`) that joins at step
    /// `k_join` with `g_join` tokens generated; returns its position in its fill bucket.
    pub(super) fn add(
        &mut self,
        seq: u64,
        prompt: u32,
        output: u32,
        k_join: u64,
        g_join: u32,
    ) -> u32 {
        let b = self.bucket(prompt, k_join, g_join);
        let pos = self.fill[b].len() as u32;
        self.fill[b].push(seq);
        self.count += 1;
        self.base_sum += prompt as i64 + g_join as i64 - k_join as i64;
        let finish_step = k_join + (output - g_join) as u64 - 1;
        self.finish.push(Reverse((finish_step, seq)));
        pos
    }

    /// Removes the decoder at position `pos` of its fill bucket (its finish entry stays and is
    /// skipped when popped); returns the decoder moved into `pos`, whose position changed.
    pub(super) fn remove(
        &mut self,
        prompt: u32,
        k_join: u64,
        g_join: u32,
        pos: usize,
    ) -> Option<u64> {
        let b = self.bucket(prompt, k_join, g_join);
        let list = &mut self.fill[b];
        list.swap_remove(pos);
        let moved = list.get(pos).copied();
        self.count -= 1;
        self.base_sum -= prompt as i64 + g_join as i64 - k_join as i64;
        moved
    }

    /// Summed context of `seqs` decoders at step `k`, tokens.
    pub(super) fn context_tokens(&self, seqs: u32, k: u64) -> u64 {
        (self.base_sum + seqs as i64 * k as i64).max(0) as u64
    }
}
