//! Prefix-affinity (cache-aware) routing, as production cache-aware routers do (SGLang's router
//! and SMG's `cache_aware` policy: route to the longest prefix match unless the load is
//! imbalanced, with defaults `--balance-abs-threshold 64`, `--balance-rel-threshold 1.5`;
//! lightseekorg/smg docs/getting-started/load-balancing.md).

use super::least_loaded;
use crate::fleet::{FleetView, Router};
use crate::workload::block_hash::{shareable_blocks, Chain};
use crate::workload::Request;

/// Sends a request to the replica whose prefix cache holds the longest prefix of its prompt,
/// unless that replica has more than `margin` outstanding requests beyond the least-loaded
/// replica and more than `ratio` times its load; then (and when no replica holds any of the
/// prefix) to the least-loaded replica.
#[derive(Debug)]
pub struct PrefixAffinity {
    margin: u32,
    ratio: f64,
    chain: Chain,
}

impl PrefixAffinity {
    /// With the given absolute and relative load margins.
    pub fn new(margin: u32, ratio: f64) -> PrefixAffinity {
        PrefixAffinity {
            margin,
            ratio,
            chain: Chain::default(),
        }
    }
}

impl Router for PrefixAffinity {
    fn reads_prefix_caches(&self) -> bool {
        true
    }

    fn reads_loads(&self) -> bool {
        true
    }

    fn route(&mut self, req: &Request, replicas: &dyn FleetView) -> usize {
        let least = least_loaded(replicas);
        let bs = replicas.get(0).block_size();
        // The prompt's shareable blocks, leaving the last token to compute.
        let blocks = shareable_blocks(req, bs).min(req.input_tokens.saturating_sub(1) / bs);
        if blocks == 0 {
            return least;
        }
        self.chain.clear();
        self.chain.extend(req, bs, blocks);
        let mut best = least;
        let mut best_len = 0;
        let mut consider = |i: usize| {
            let r = replicas.get(i);
            let len = r.cached_prefix_blocks(&self.chain, blocks);
            // Ties go to the less loaded replica (the first of equals).
            if len > best_len
                || (len == best_len
                    && len > 0
                    && r.outstanding() < replicas.get(best).outstanding())
            {
                best = i;
                best_len = len;
            }
        };
        // Only replicas holding the prompt's first unit can hold any of it; in ascending
        // order, as the scan of every replica, so ties go the same way.
        match replicas.holders(self.chain.keys[0]) {
            Some(holders) => holders.iter().for_each(|&i| consider(i as usize)),
            None => (0..replicas.len()).for_each(consider),
        }
        if best_len == 0 {
            return least;
        }
        let (load, min) = (
            replicas.get(best).outstanding(),
            replicas.get(least).outstanding(),
        );
        if load > min + self.margin as usize && load as f64 > self.ratio * min as f64 {
            least
        } else {
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::view::ReplicaView;
    use crate::time::SimTime;
    use crate::workload::PrefixIds;

    /// A replica holding the first `held` blocks of every prompt, with `load` outstanding.
    struct Fake {
        load: usize,
        held: usize,
    }

    impl ReplicaView for Fake {
        fn num_waiting(&self) -> usize {
            self.load
        }
        fn num_running(&self) -> usize {
            0
        }
        fn kv_used_blocks(&self) -> u64 {
            0
        }
        fn kv_capacity_blocks(&self) -> u64 {
            1000
        }
        fn block_size(&self) -> u32 {
            16
        }
        fn cached_prefix_blocks(&self, _: &Chain, blocks: u32) -> usize {
            self.held.min(blocks as usize)
        }
        fn is_busy(&self) -> bool {
            false
        }
    }

    struct Fleet {
        reps: Vec<Fake>,
        holders: Option<Vec<u32>>,
    }

    impl FleetView for Fleet {
        fn len(&self) -> usize {
            self.reps.len()
        }
        fn get(&self, i: usize) -> &dyn ReplicaView {
            &self.reps[i]
        }
        fn holders(&self, _: u64) -> Option<&[u32]> {
            self.holders.as_deref()
        }
    }

    /// The router asks only the replicas an index names: one it leaves out is not chosen
    /// however much it holds, and without an index every replica is asked.
    #[test]
    fn only_the_holders_an_index_names_are_asked() {
        let req = Request {
            id: 0,
            arrival: SimTime::ZERO,
            input_tokens: 100,
            output_tokens: 1,
            prefix: Some(PrefixIds {
                block_tokens: 16,
                ids: vec![1, 2, 3, 4, 5, 6],
            }),
            session: None,
            follows: None,
        };
        let fleet = |holders: Option<Vec<u32>>| Fleet {
            reps: vec![
                Fake { load: 0, held: 0 },
                Fake { load: 1, held: 2 },
                Fake { load: 1, held: 4 },
            ],
            holders,
        };
        let mut r = PrefixAffinity::new(64, 1.5);
        assert_eq!(r.route(&req, &fleet(None)), 2);
        assert_eq!(r.route(&req, &fleet(Some(vec![1, 2]))), 2);
        assert_eq!(r.route(&req, &fleet(Some(vec![1]))), 1);
        assert_eq!(r.route(&req, &fleet(Some(vec![]))), 0);
    }
}
