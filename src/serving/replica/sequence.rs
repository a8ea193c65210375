//! The state of one request inside a replica: waiting (with what survives a preemption) or
//! running (prefilling or decoding, with its block table and chain hashes).

use crate::serving::kv::{BlockPool, RunHandle};
use crate::workload::block_hash::Chain;
use crate::workload::Request;

/// A request in the waiting queue.
#[derive(Clone, Debug)]
pub(super) struct Waiting {
    pub(super) req: u32,
    /// Output tokens already produced (non-zero after a preemption: they are recomputed).
    pub(super) generated: u32,
    /// Chain keys of the request's shareable content, kept across preemptions (prefix caching
    /// only).
    pub(super) chain: Chain,
    /// Leading blocks whose content other requests can share (named blocks); the rest are
    /// request-unique (counted).
    pub(super) shared: u32,
    /// The run of request-unique blocks it released when preempted: those not reallocated
    /// since still hold its content.
    pub(super) old_run: Option<RunHandle>,
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
    /// Named KV blocks of its first positions (up to `shared`), in token order.
    pub(super) table: Vec<u32>,
    /// Request-unique blocks it holds after `table`.
    pub(super) unique: u32,
    /// Positions below this have shareable content (see [`Waiting::shared`]).
    pub(super) shared: u32,
    /// Chain keys of shareable content computed so far (prefix caching only).
    pub(super) chain: Chain,
    /// Blocks of `table` offered to the prefix cache so far.
    pub(super) registered: u32,
    /// Position in its fill bucket (decoders only).
    pub(super) bucket_pos: u32,
    /// Blocks it will hold when its last token is computed (for `guaranteed-no-evict`).
    pub(super) need: u32,
    /// Pool blocks it holds for its sliding-window layers (anonymous; 0 without such layers).
    pub(super) window: u32,
}

impl Running {
    /// Blocks it will still allocate.
    pub(super) fn owed(&self) -> u64 {
        (self.need as u64).saturating_sub(self.held())
    }

    /// Blocks it holds.
    pub(super) fn held(&self) -> u64 {
        self.table.len() as u64 + self.unique as u64
    }

    /// Takes `n` more blocks (the caller has checked they are free): named ones for shareable
    /// positions, counted ones past them.
    pub(super) fn grow(&mut self, kv: &mut BlockPool, n: u64) {
        if n == 0 {
            return;
        }
        kv.take(n);
        let named = (self.shared as u64).saturating_sub(self.held()).min(n);
        for _ in 0..named {
            self.table.push(kv.name_taken());
        }
        self.unique += (n - named) as u32;
    }

    /// Takes `n` pool blocks for its sliding-window layers (the caller has checked they are free).
    pub(super) fn hold_window(&mut self, kv: &mut BlockPool, n: u64) {
        if n > 0 {
            kv.take(n);
            self.window += n as u32;
        }
    }

    /// Releases every block it holds (the last first, as vLLM frees them; its sliding-window
    /// blocks, which keep nothing for it, before those); with `keep`, the request-unique full
    /// blocks keep their content for it, and the handle to them is returned.
    pub(super) fn release(&mut self, kv: &mut BlockPool, keep: bool) -> Option<RunHandle> {
        if self.window > 0 {
            kv.release_run(0, 0, self.window);
            self.window = 0;
        }
        let lo = self.table.len() as u32;
        let id_hi = if keep { self.registered } else { lo };
        let h = kv.release_run(lo, id_hi, lo + self.unique);
        kv.release_all(&self.table);
        self.unique = 0;
        self.table.clear();
        h
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
            // Request-unique blocks need no hash: their content is theirs by position.
            let named = full.min(self.shared);
            if named > self.registered {
                self.chain.extend(r, bs, named);
                kv.register(&self.table, &self.chain, self.registered, named);
            }
            self.registered = full;
        }
    }
}
