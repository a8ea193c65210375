//! Shared-prefix workloads: system prompts and document QA. Each request is one of a pool of
//! shared prefixes (chosen by Zipf popularity) followed by text of its own.

use rand::rngs::StdRng;

use super::{content_id, Popularity};
use crate::workload::lengths::LengthDist;
use crate::workload::PrefixIds;

/// A pool of shared prefixes.
#[derive(Debug)]
pub struct SharedPrefixes {
    tag: u64,
    lengths: Vec<u32>,
    popularity: Popularity,
    block_tokens: u32,
    max_tokens: u32,
}

impl SharedPrefixes {
    /// `count` prefixes with lengths from `dist`, ids in namespace `tag`, at `block_tokens`;
    /// prefixes longer than `max_tokens` (prompts no replica of the model accepts) get no ids.
    pub fn new(
        tag: u64,
        count: u32,
        dist: &mut dyn LengthDist,
        zipf_s: f64,
        block_tokens: u32,
        max_tokens: u32,
        rng: &mut StdRng,
    ) -> SharedPrefixes {
        SharedPrefixes {
            tag,
            lengths: (0..count).map(|_| dist.sample(rng)).collect(),
            popularity: Popularity::new(count, zipf_s),
            block_tokens,
            max_tokens,
        }
    }

    /// Picks a prefix: its length and the prefix ids of its complete blocks (what follows it is
    /// the request's own and left unshared).
    pub fn pick(&self, rng: &mut StdRng) -> (u32, PrefixIds) {
        let p = self.popularity.sample(rng);
        let len = self.lengths[p];
        // A prompt that will be rejected needs no identity: building it would cost memory in
        // proportion to its length (a 10M-token document is 625,000 ids per request).
        let blocks = if len > self.max_tokens {
            0
        } else {
            len / self.block_tokens
        };
        let ids = (0..blocks as u64)
            .map(|i| content_id(self.tag, p as u64, i))
            .collect();
        (
            len,
            PrefixIds {
                block_tokens: self.block_tokens,
                ids,
            },
        )
    }
}
