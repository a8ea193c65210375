//! What one replica did over a run: the counters a summary reduces. A simulation hands these
//! back instead of the replicas, so any kind of replica can be summarized the same way.

/// One replica's counters at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaTotals {
    /// The pool it belonged to (0 in a fleet of one pool).
    pub pool: u32,
    /// Time with a step in flight, ns.
    pub busy_ns: u64,
    /// Steps executed.
    pub steps: u64,
    /// Preemptions (requests whose KV was dropped and recomputed).
    pub preemptions: u64,
    /// Prompt tokens of requests at their first scheduling.
    pub prompt_tokens: u64,
    /// Of those, tokens found in the prefix cache.
    pub prefix_hit_tokens: u64,
    /// Prompt (and recomputed) tokens computed in prefill chunks.
    pub prefill_tokens: u64,
    /// Tokens computed by decode steps.
    pub decode_tokens: u64,
    /// KV blocks of the replica.
    pub kv_capacity_blocks: u64,
    /// Most KV blocks in use at once.
    pub kv_peak_used_blocks: u64,
    /// KV blocks still held when the run ended (0 when every request finished).
    pub kv_used_blocks_at_end: u64,
    /// Cached blocks evicted to make room.
    pub kv_evicted_blocks: u64,
    /// Tokens per KV block.
    pub block_size: u32,
    /// Most KV blocks one sequence holds for its sliding-window layers besides its own (0
    /// without such layers).
    pub kv_window_blocks_per_seq: u64,
    /// Whether prefix caching was on.
    pub prefix_caching: bool,
}
