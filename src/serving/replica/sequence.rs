//! The state of one request inside a replica: waiting (with what survives a preemption) or
//! running (prefilling or decoding, with its block table and chain hashes).

use crate::serving::kv::BlockPool;
use crate::workload::block_hash::Chain;
use crate::workload::Request;

/// A request in the waiting queue.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) req: u32,
    /// Output tokens already produced (non-zero after a preemption: they are recomputed).
    pub(super) generated: u32,
    /// Chain hashes of the request's full blocks, kept across preemptions (prefix caching only).
    pub(super) chain: Chain,
    /// Blocks it held before a preemption: its private blocks can still be found there.
    pub(super) old_table: Vec<u32>,
}

/// Where a running request is.
#[derive(Clone, Copy, Debug)]
pub(super) enum Phase {
    /// Computing the prompt (plus, after a preemption, the tokens generated before it).
    Prefill {
        target: u32,
        computed: u32,
        generated: u32,
    },
    /// Decoding since step `k_join`, when it had generated `g_join` tokens.
    Decode { k_join: u64, g_join: u32 },
}

/// A request in the running batch.
#[derive(Clone, Debug)]
pub(super) struct Running {
    pub(super) req: u32,
    pub(super) prompt: u32,
    pub(super) output: u32,
    pub(super) phase: Phase,
    /// Physical KV blocks, in token order.
    pub(super) table: Vec<u32>,
    /// Chain hashes of full blocks computed so far or about to be (prefix caching only).
    pub(super) chain: Chain,
    /// Blocks of `table` offered to the prefix cache so far.
    pub(super) registered: u32,
    /// Position in its fill bucket (decoders only).
    pub(super) bucket_pos: u32,
    /// Blocks it will hold when its last token is computed (for `guaranteed-no-evict`).
    pub(super) need: u32,
}

impl Running {
    /// Blocks it will still allocate.
    pub(super) fn owed(&self) -> u64 {
        (self.need as u64).saturating_sub(self.table.len() as u64)
    }

    /// Tokens whose KV a running request holds before step `k`, and its generated count.
    pub(super) fn progress(&self, k: u64) -> (u64, u32) {
        match self.phase {
            Phase::Decode { k_join, g_join } => {
                let g = g_join + (k - k_join) as u32;
                (self.prompt as u64 + g as u64 - 1, g)
            }
            Phase::Prefill {
                computed,
                generated,
                ..
            } => (computed as u64, generated),
        }
    }

    /// Offers every full computed block (of its first `kv_tokens` tokens) to the prefix cache.
    pub(super) fn register_full(
        &mut self,
        kv: &mut BlockPool,
        r: &Request,
        bs: u32,
        kv_tokens: u64,
    ) {
        if !kv.caching() {
            return;
        }
        let full = (kv_tokens / bs as u64) as u32;
        if full > self.registered {
            self.chain.extend(r, bs, full);
            for j in self.registered..full {
                let public = j < self.chain.public;
                kv.register(
                    self.table[j as usize],
                    self.chain.hashes[j as usize],
                    public,
                );
            }
            self.registered = full;
        }
    }
}
