//! Content identity of prompt blocks (chained hashes), for prefix caches, routers and API
//! prompt caching alike.
//!
//! vLLM identifies a full block by a chained hash of (parent block's hash, the block's token
//! ids). fleetsim has no token ids; it has prefix ids (`Request::prefix`): one id per
//! `block_tokens` tokens of the request's token sequence (prompt, then output for synthetic
//! conversations), equal ids at the same position meaning equal content. A replica block of
//! `bs` tokens inside id `g` has the content (id, sub-block index); a block spanning several
//! ids has their combination. A block not covered by an id, or inside a partial last id (one
//! that ends past the prompt without being complete within it), has content unique to its
//! request, so it is never shared with another request (but a preempted request can still find
//! its own blocks when it is recomputed).
//!
//! Identity is hashed per content *unit* ([`Chain`]): the blocks of one id share its chain key
//! and are told apart by their index in it, so a 512-token id of 16-token blocks costs one hash
//! and one table entry instead of 32. Two blocks have the same identity exactly when vLLM's
//! per-block chained hashes would be equal (tested against a per-block chain below).

use super::Request;
use crate::rng::mix64;

const ROOT: u64 = 0x005E_ED0F_B10C_u64;

/// How many leading blocks of `bs` tokens of request `r` have content other requests can share
/// (counted from the first): the blocks
/// inside its complete prefix ids.
pub fn shareable_blocks(r: &Request, bs: u32) -> u32 {
    let Some(p) = &r.prefix else { return 0 };
    let len = p.ids.len() as u64;
    if len == 0 {
        return 0;
    }
    let g_tokens = p.block_tokens as u64;
    // Ids 0..len-1 are complete; the last is when it ends within the prompt.
    let complete = if len * g_tokens <= r.input_tokens as u64 {
        len
    } else {
        len - 1
    };
    (complete * g_tokens / bs as u64).min(u32::MAX as u64) as u32
}

/// Chained hash of a block given its parent's hash (or none for the first block). Never 0.
pub fn chain(parent: Option<u64>, content: u64) -> u64 {
    mix64(parent.unwrap_or(ROOT).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ content) | 1
}

/// Blocks of `bs` tokens per content *unit* of request `r`: a unit is one prefix id when ids are
/// at least a block long (`block_tokens / bs` blocks), else one block (spanning several ids).
/// Content identity is kept per unit: block `j` is sub-block `j % unit` of unit `j / unit`.
pub fn unit_blocks(r: &Request, bs: u32) -> u32 {
    match &r.prefix {
        Some(p) if p.block_tokens > bs => p.block_tokens / bs,
        _ => 1,
    }
}

/// Content of shareable unit `u` of request `r` (see [`unit_blocks`]; the caller keeps `u`
/// within the request's shareable blocks). The ids' size is part of it: ids of different sizes
/// never share content.
fn unit_content(r: &Request, u: u32, bs: u32) -> u64 {
    let p = r.prefix.as_ref().expect("shareable units have prefix ids");
    let size = mix64(p.block_tokens as u64 ^ 0xB10C_0000);
    if p.block_tokens >= bs {
        mix64(p.ids[u as usize] ^ size)
    } else {
        let per = (bs / p.block_tokens) as usize;
        let first = u as usize * per;
        p.ids[first..first + per]
            .iter()
            .fold(0xB10C_5EED_u64 ^ size, |acc, &id| mix64(acc ^ id))
    }
}

/// The chain keys of a request's shareable content units, in order: unit `u`'s key is a chained
/// hash of the contents of units `0..=u`, so two requests' units have equal keys exactly when
/// everything up to and including them is equal (vLLM's chained block hash, taken per unit
/// instead of per block: sub-block `s` of a unit is identified by the unit's key and `s`).
/// Only shareable blocks (those [`shareable_blocks`] counts) have keys; the rest of a request's
/// blocks hold content no other request has and are identified by position alone.
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// Chain key of each unit, in order.
    pub keys: Vec<u64>,
    /// Blocks per unit ([`unit_blocks`]; 0 before the first extension).
    pub unit: u32,
}

impl Chain {
    /// Extends the chain of request `r` so it covers its first `upto` blocks of `bs` tokens
    /// (`upto` at most [`shareable_blocks`]).
    pub fn extend(&mut self, r: &Request, bs: u32, upto: u32) {
        if upto == 0 {
            return;
        }
        debug_assert!(
            upto <= shareable_blocks(r, bs),
            "keys for request-unique blocks"
        );
        if self.unit == 0 {
            self.unit = unit_blocks(r, bs);
        }
        let units = upto.div_ceil(self.unit);
        while (self.keys.len() as u32) < units {
            let u = self.keys.len() as u32;
            let key = chain(self.keys.last().copied(), unit_content(r, u, bs));
            self.keys.push(key);
        }
    }

    /// Forgets every key (to be extended for another request).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.unit = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use crate::workload::PrefixIds;

    /// The per-block definition of content (vLLM's view: one chained hash per block), the
    /// reference [`Chain`]'s per-unit keys are tested against. Returns the content id of block
    /// `j` and whether other requests can share it.
    ///
    /// Prefix ids and replica blocks are both powers of two in size, so one divides the other: a
    /// block inside a larger id takes (id, sub-block index); a block spanning several smaller ids
    /// takes their combination, and is shared only when every one of them is present and complete.
    fn block_content(r: &Request, j: u32, bs: u32) -> (u64, bool) {
        if let Some(p) = &r.prefix {
            let g_tokens = p.block_tokens as u64;
            let start = j as u64 * bs as u64;
            let len = p.ids.len();
            // Id `g` is complete when another follows it or it ends within the prompt.
            let complete = |g: usize| g + 1 < len || len as u64 * g_tokens <= r.input_tokens as u64;
            if g_tokens >= bs as u64 {
                let g = (start / g_tokens) as usize;
                if g < len && complete(g) {
                    let sub = (start % g_tokens) / bs as u64;
                    return (mix64(p.ids[g] ^ mix64(sub ^ 0xB10C_0000)), true);
                }
            } else {
                let first = (start / g_tokens) as usize;
                let last = first + (bs as u64 / g_tokens) as usize - 1;
                if last < len && complete(last) {
                    let content = p.ids[first..=last]
                        .iter()
                        .fold(0xB10C_5EED_u64, |acc, &id| mix64(acc ^ id));
                    return (content, true);
                }
            }
        }
        let unique = mix64(mix64(r.id ^ 0xDEAD_BEEF_0000) ^ (j as u64).wrapping_mul(0x9E37_79B9));
        (unique, false)
    }

    fn req(id: u64, input: u32, ids: Vec<u64>) -> Request {
        Request {
            id,
            arrival: SimTime::ZERO,
            input_tokens: input,
            output_tokens: 1,
            prefix: Some(PrefixIds {
                block_tokens: 64,
                ids,
            }),
            session: None,
            follows: None,
        }
    }

    /// vLLM's per-block chain hashes of request `r`'s first `n` blocks.
    fn block_chain(r: &Request, bs: u32, n: u32) -> Vec<u64> {
        let mut hashes: Vec<u64> = Vec::new();
        for j in 0..n {
            let h = chain(hashes.last().copied(), block_content(r, j, bs).0);
            hashes.push(h);
        }
        hashes
    }

    #[test]
    fn equal_prefix_ids_give_equal_chains_until_they_differ() {
        let a = req(0, 200, vec![1, 2, 3, 4]);
        let b = req(1, 200, vec![1, 2, 9, 4]);
        let (mut ca, mut cb) = (Chain::default(), Chain::default());
        ca.extend(&a, 16, 12);
        cb.extend(&b, 16, 12);
        assert_eq!(
            (ca.unit, cb.unit),
            (4, 4),
            "64-token ids of 16-token blocks"
        );
        let (ka, kb) = (&ca.keys, &cb.keys);
        assert_eq!((ka.len(), kb.len()), (3, 3));
        assert_eq!(ka[..2], kb[..2]);
        // Differ from the third id on, and stay different (the chain carries the difference).
        assert!(ka[2..].iter().zip(&kb[2..]).all(|(x, y)| x != y));
    }

    /// Two shareable blocks have the same identity under the per-unit keys (same unit key and
    /// sub-block) exactly when vLLM's per-block chain hashes are equal: over random requests
    /// with few distinct ids (so prefixes are often shared), every id and block size pairing,
    /// prompts ending inside, at the end of and past their ids.
    #[test]
    fn unit_keys_identify_blocks_as_per_block_chain_hashes_do() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut compared = 0u64;
        for _ in 0..3000 {
            let g = 1u32 << rng.gen_range(2..8); // 4..128-token ids
            let bs = 1u32 << rng.gen_range(2..8); // 4..128-token blocks
            let make = |rng: &mut rand::rngs::StdRng, id: u64| {
                let n = rng.gen_range(0..10usize);
                let ids: Vec<u64> = (0..n).map(|_| rng.gen_range(1..3u64)).collect();
                let input = rng.gen_range(1..=(n as u32 + 1) * g);
                let mut r = req(id, input, ids);
                r.prefix.as_mut().unwrap().block_tokens = g;
                r
            };
            let (a, b) = (make(&mut rng, 1), make(&mut rng, 2));
            let (na, nb) = (shareable_blocks(&a, bs), shareable_blocks(&b, bs));
            let (mut ca, mut cb) = (Chain::default(), Chain::default());
            ca.extend(&a, bs, na);
            cb.extend(&b, bs, nb);
            let (ha, hb) = (block_chain(&a, bs, na), block_chain(&b, bs, nb));
            for j in 0..na.min(nb) {
                let unit = unit_blocks(&a, bs);
                let same_unit = ca.keys[(j / unit) as usize] == cb.keys[(j / unit) as usize];
                assert_eq!(
                    same_unit,
                    ha[j as usize] == hb[j as usize],
                    "block {j} of {a:?} and {b:?} at {bs}-token blocks"
                );
                compared += 1;
            }
        }
        assert!(compared > 5000, "only {compared} blocks compared");
    }

    #[test]
    fn ids_of_different_sizes_never_share() {
        let a = req(0, 256, vec![1, 2]);
        let mut b = req(1, 256, vec![1, 2, 3, 4]);
        b.prefix.as_mut().unwrap().block_tokens = 32;
        let (mut ca, mut cb) = (Chain::default(), Chain::default());
        ca.extend(&a, 16, 4);
        cb.extend(&b, 16, 4);
        assert_ne!(ca.keys[0], cb.keys[0]);
    }

    #[test]
    fn blocks_spanning_several_ids_share_only_when_all_are_equal_and_complete() {
        // 64-token ids, 128-token blocks: block 0 spans ids 0 and 1, block 1 ids 2 and 3.
        let a = req(0, 300, vec![1, 2, 3, 4]);
        let b = req(1, 300, vec![1, 2, 3, 9]);
        let c = req(2, 300, vec![1, 7, 3, 4]);
        let content = |r: &Request, j| block_content(r, j, 128);
        assert_eq!(content(&a, 0), content(&b, 0));
        assert!(content(&a, 0).1);
        assert_ne!(content(&a, 1).0, content(&b, 1).0);
        assert_ne!(content(&a, 0).0, content(&c, 0).0);
        // Three ids: block 1 would need a fourth, so it is the request's own.
        let d = req(3, 300, vec![1, 2, 3]);
        assert_eq!(content(&d, 0), content(&a, 0));
        assert!(!content(&d, 1).1);
        // A last id running past the prompt (200 tokens, ids to 256) is not complete.
        let e = req(4, 200, vec![1, 2, 3, 4]);
        assert!(content(&e, 0).1 && !content(&e, 1).1);
    }

    #[test]
    fn shareable_blocks_counts_the_leading_shareable_contents() {
        for input in [1, 15, 16, 63, 64, 100, 127, 128, 200, 255, 256, 300] {
            for ids in 0..6u64 {
                for bs in [8, 16, 32, 64, 128, 256] {
                    let r = req(0, input, (1..=ids).collect());
                    let want = (0..64).take_while(|&j| block_content(&r, j, bs).1).count() as u32;
                    assert_eq!(
                        shareable_blocks(&r, bs),
                        want,
                        "input {input}, {ids} ids, bs {bs}"
                    );
                }
            }
        }
        let mut r = req(0, 100, vec![]);
        r.prefix = None;
        assert_eq!(shareable_blocks(&r, 16), 0);
    }

    #[test]
    fn partial_last_id_is_never_shared() {
        // 100 tokens: the second 64-token id is partial, so its sub-blocks are request-unique.
        let a = req(0, 100, vec![1, 2]);
        let b = req(1, 100, vec![1, 2]);
        assert_eq!(block_content(&a, 3, 16), block_content(&b, 3, 16));
        assert_ne!(block_content(&a, 4, 16), block_content(&b, 4, 16));
        assert!(!block_content(&a, 4, 16).1);
        assert_eq!(shareable_blocks(&a, 16), 4);
        // With exactly 128 tokens the second id is complete and shared.
        let c = req(2, 128, vec![1, 2]);
        let d = req(3, 128, vec![1, 2]);
        assert_eq!(block_content(&c, 4, 16), block_content(&d, 4, 16));
    }
}
