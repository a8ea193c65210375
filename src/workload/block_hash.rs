//! Content identity of prompt blocks (chained hashes), for prefix caches, routers and API
//! prompt caching alike.
//!
//! vLLM identifies a full block by a chained hash of (parent block's hash, the block's token
//! ids). fleetsim has no token ids; it has prefix ids (`Request::prefix`): one id per
//! `block_tokens` tokens of the request's token sequence (prompt, then output for synthetic
//! conversations), equal ids at the same position meaning equal content. A replica block of
//! `bs` tokens inside id `g` gets the derived content (id, sub-block index). A block not covered
//! by an id, or inside a partial last id (one that ends past the prompt without being complete
//! within it), gets content unique to its request, so it is never shared with another request
//! (but a preempted request can still find its own blocks when it is recomputed).

use super::Request;
use crate::rng::mix64;

const ROOT: u64 = 0x005E_ED0F_B10C_u64;

/// Content id of block `j` (tokens `j*bs..(j+1)*bs`) of request `r`, and whether other
/// requests can have the same content (false for request-unique content).
///
/// Prefix ids and replica blocks are both powers of two in size, so one divides the other: a
/// block inside a larger id takes (id, sub-block index); a block spanning several smaller ids
/// takes their combination, and is shared only when every one of them is present and complete.
pub fn block_content(r: &Request, j: u32, bs: u32) -> (u64, bool) {
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

/// How many leading blocks of `bs` tokens of request `r` have content other requests can share
/// (the blocks for which [`block_content`] says shareable, counted from the first): the blocks
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

/// The chain hashes of a request's first blocks. The first `public` of them can be shared
/// with other requests; from the first request-unique block on, every hash in the chain is
/// unique to the request (its parent is), so those blocks are worth keeping only for the
/// request itself (to resume after a preemption).
#[derive(Clone, Debug, Default)]
pub struct Chain {
    /// Chain hash of each block, in order.
    pub hashes: Vec<u64>,
    /// Leading blocks whose content other requests can share.
    pub public: u32,
}

impl Chain {
    /// Extends the chain of request `r` to `upto` blocks of `bs` tokens.
    pub fn extend(&mut self, r: &Request, bs: u32, upto: u32) {
        while (self.hashes.len() as u32) < upto {
            let j = self.hashes.len() as u32;
            let (content, shareable) = block_content(r, j, bs);
            if shareable && self.public == j {
                self.public += 1;
            }
            let h = chain(self.hashes.last().copied(), content);
            self.hashes.push(h);
        }
    }

    /// Extends the chain only over shareable blocks, up to `upto` blocks (for routers, which
    /// look for content other requests left behind).
    pub fn extend_public(&mut self, r: &Request, bs: u32, upto: u32) {
        while (self.hashes.len() as u32) < upto && self.public == self.hashes.len() as u32 {
            let j = self.hashes.len() as u32;
            let (content, shareable) = block_content(r, j, bs);
            if !shareable {
                break;
            }
            self.public += 1;
            self.hashes
                .push(chain(self.hashes.last().copied(), content));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimTime;
    use crate::workload::PrefixIds;

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

    #[test]
    fn equal_prefix_ids_give_equal_chains_until_they_differ() {
        let a = req(0, 200, vec![1, 2, 3, 4]);
        let b = req(1, 200, vec![1, 2, 9, 4]);
        let (mut ca, mut cb) = (Chain::default(), Chain::default());
        ca.extend(&a, 16, 12);
        cb.extend(&b, 16, 12);
        let (ha, hb) = (&ca.hashes, &cb.hashes);
        assert_eq!(ha[..8], hb[..8]);
        assert_eq!((ca.public, cb.public), (12, 12));
        // Differ from the third id on, and stay different (the chain carries the difference).
        assert!(ha[8..].iter().zip(&hb[8..]).all(|(x, y)| x != y));
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
        let mut c = Chain::default();
        c.extend(&a, 16, 6);
        assert_eq!(c.public, 4);
        // With exactly 128 tokens the second id is complete and shared.
        let c = req(2, 128, vec![1, 2]);
        let d = req(3, 128, vec![1, 2]);
        assert_eq!(block_content(&c, 4, 16), block_content(&d, 4, 16));
    }
}
