//! What routers (and later autoscalers) may read of a replica: its load, its KV use and what its
//! prefix cache holds, never the concrete replica type. A kind of replica joins a fleet by
//! implementing [`ReplicaView`]; the simulation hands routers the whole fleet as a [`FleetView`].

use crate::serving::Replica;
use crate::workload::block_hash::Chain;

/// The state of one replica a routing or scaling decision may read.
pub trait ReplicaView {
    /// Requests waiting to be scheduled.
    fn num_waiting(&self) -> usize;
    /// Requests in the running batch.
    fn num_running(&self) -> usize;
    /// Requests waiting or running.
    fn outstanding(&self) -> usize {
        self.num_waiting() + self.num_running()
    }
    /// KV blocks in use now.
    fn kv_used_blocks(&self) -> u64;
    /// KV blocks of this replica.
    fn kv_capacity_blocks(&self) -> u64;
    /// Tokens per KV block.
    fn block_size(&self) -> u32;
    /// How many of the first `blocks` (shareable) blocks of `chain` its prefix cache holds, in
    /// a row from the first.
    fn cached_prefix_blocks(&self, chain: &Chain, blocks: u32) -> usize;
    /// Whether a step is in flight.
    fn is_busy(&self) -> bool;
    /// The pool it belongs to (index into the fleet's pools; 0 in a fleet of one pool).
    fn pool(&self) -> usize {
        0
    }
}

impl ReplicaView for Replica {
    fn num_waiting(&self) -> usize {
        Replica::num_waiting(self)
    }
    fn num_running(&self) -> usize {
        Replica::num_running(self)
    }
    fn outstanding(&self) -> usize {
        Replica::outstanding(self)
    }
    fn kv_used_blocks(&self) -> u64 {
        Replica::kv_used_blocks(self)
    }
    fn kv_capacity_blocks(&self) -> u64 {
        Replica::kv_capacity_blocks(self)
    }
    fn block_size(&self) -> u32 {
        Replica::block_size(self)
    }
    fn cached_prefix_blocks(&self, chain: &Chain, blocks: u32) -> usize {
        Replica::cached_prefix_blocks(self, chain, blocks)
    }
    fn is_busy(&self) -> bool {
        Replica::is_busy(self)
    }
}

/// The replicas of a fleet as routers see them, indexed `0..len()`.
pub trait FleetView {
    /// Number of replicas.
    fn len(&self) -> usize;
    /// Whether the fleet has no replica.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Replica `i`.
    fn get(&self, i: usize) -> &dyn ReplicaView;
    /// When the fleet keeps a [`super::index::FleetIndex`] of prefixes: the replicas (ascending) whose prefix
    /// cache holds any block of the first unit with chain key `key` (a superset of those
    /// holding that unit's first block); `None` when there is no index (ask every replica).
    fn holders(&self, _key: u64) -> Option<&[u32]> {
        None
    }
    /// When the fleet keeps an index of loads: the replica with the fewest outstanding
    /// requests (the first of equals); `None`: ask every replica.
    fn least_loaded(&self) -> Option<usize> {
        None
    }
}

impl<R: ReplicaView> FleetView for Vec<R> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn get(&self, i: usize) -> &dyn ReplicaView {
        &self[i]
    }
}
