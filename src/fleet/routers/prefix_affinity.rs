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
        for i in 0..replicas.len() {
            let r = replicas.get(i);
            let len = r.cached_prefix_blocks(&self.chain, blocks);
            // Ties go to the less loaded replica.
            if len > best_len
                || (len == best_len
                    && len > 0
                    && r.outstanding() < replicas.get(best).outstanding())
            {
                best = i;
                best_len = len;
            }
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
