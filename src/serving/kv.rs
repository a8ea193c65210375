//! The KV block pool of one replica, with vLLM V1's prefix cache (docs/ARCHITECTURE.md, "Semantics";
//! `vllm/v1/core/block_pool.py`, `kv_cache_utils.py`).
//!
//! Blocks are handed to running requests and reference-counted (a cached prefix block can be
//! shared by several requests). A block whose count drops to zero goes to the tail of an LRU free
//! queue and, with prefix caching on, keeps its content hash: a later request with the same
//! prefix takes it back out of the queue (a hit). Allocation takes the head of the queue, and
//! only then does a cached block lose its identity (an eviction). Blocks never used yet sit,
//! conceptually, at the head of the queue in index order, so they are materialized lazily.
//!
//! Every operation is O(1) except hash-map lookups (expected O(1)).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;

/// Block hashes are already uniformly mixed: hash them by identity.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap = HashMap<u64, u32, BuildHasherDefault<IdHasher>>;

#[derive(Clone, Copy, Debug)]
struct Block {
    /// Content hash; 0 when the block has no cached identity.
    hash: u64,
    /// Whether the hash is in the shared lookup table (content other requests can have); a
    /// private hash only lets its own request find the block again after a preemption.
    public: bool,
    ref_cnt: u32,
    prev: u32,
    next: u32,
}

/// The block pool.
#[derive(Clone, Debug)]
pub struct BlockPool {
    capacity: u32,
    blocks: Vec<Block>,
    /// Blocks `fresh..capacity` have never been used (free, no identity).
    fresh: u32,
    head: u32,
    tail: u32,
    queued: u32,
    cached: IdMap,
    caching: bool,
    peak_used: u64,
    evicted: u64,
}

impl BlockPool {
    /// A pool of `capacity` blocks, all free; `caching` turns the prefix cache on.
    pub fn new(capacity: u64, caching: bool) -> BlockPool {
        BlockPool {
            capacity: capacity.min(NIL as u64 - 1) as u32,
            blocks: Vec::new(),
            fresh: 0,
            head: NIL,
            tail: NIL,
            queued: 0,
            cached: IdMap::default(),
            caching,
            peak_used: 0,
            evicted: 0,
        }
    }

    /// Whether prefix caching is on.
    pub fn caching(&self) -> bool {
        self.caching
    }

    /// All blocks.
    pub fn total(&self) -> u64 {
        self.capacity as u64
    }

    /// Blocks that can be allocated now (never used, or free with or without a cached identity).
    pub fn free(&self) -> u64 {
        (self.capacity - self.fresh) as u64 + self.queued as u64
    }

    /// Blocks held by running requests.
    pub fn used(&self) -> u64 {
        self.total() - self.free()
    }

    /// Most blocks held at once.
    pub fn peak_used(&self) -> u64 {
        self.peak_used
    }

    /// Shareable cached blocks evicted to make room.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn unlink(&mut self, b: u32) {
        let Block { prev, next, .. } = self.blocks[b as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.blocks[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.blocks[next as usize].prev = prev;
        }
        let blk = &mut self.blocks[b as usize];
        blk.prev = NIL;
        blk.next = NIL;
        self.queued -= 1;
    }

    fn push_tail(&mut self, b: u32) {
        let tail = self.tail;
        {
            let blk = &mut self.blocks[b as usize];
            blk.prev = tail;
            blk.next = NIL;
        }
        if tail == NIL {
            self.head = b;
        } else {
            self.blocks[tail as usize].next = b;
        }
        self.tail = b;
        self.queued += 1;
    }

    fn note_use(&mut self) {
        self.peak_used = self.peak_used.max(self.used());
    }

    /// Takes one block for new content: a never-used one if any, else the least recently freed
    /// (evicting its cached identity). `None` when every block is held.
    pub fn allocate(&mut self) -> Option<u32> {
        let b = if self.fresh < self.capacity {
            let b = self.fresh;
            self.fresh += 1;
            self.blocks.push(Block {
                hash: 0,
                public: false,
                ref_cnt: 0,
                prev: NIL,
                next: NIL,
            });
            b
        } else if self.head != NIL {
            let b = self.head;
            self.unlink(b);
            let blk = &mut self.blocks[b as usize];
            debug_assert_eq!(blk.ref_cnt, 0, "evicting a held block");
            let (h, public) = (blk.hash, blk.public);
            blk.hash = 0;
            blk.public = false;
            if public {
                self.cached.remove(&h);
                self.evicted += 1;
            }
            b
        } else {
            return None;
        };
        self.blocks[b as usize].ref_cnt = 1;
        self.note_use();
        Some(b)
    }

    /// The cached block holding content `hash`, if any.
    pub fn lookup(&self, hash: u64) -> Option<u32> {
        if !self.caching {
            return None;
        }
        self.cached.get(&hash).copied()
    }

    /// Whether block `b` still holds content `hash` (it was not reallocated since).
    pub fn holds(&self, b: u32, hash: u64) -> bool {
        self.caching && hash != 0 && self.blocks.get(b as usize).is_some_and(|x| x.hash == hash)
    }

    /// Whether block `b` is free (so taking it as a hit uses up a free block).
    pub fn is_free(&self, b: u32) -> bool {
        self.blocks[b as usize].ref_cnt == 0
    }

    /// Takes a reference to cached block `b` (a prefix hit), out of the free queue if it was there.
    pub fn touch(&mut self, b: u32) {
        if self.blocks[b as usize].ref_cnt == 0 {
            self.unlink(b);
        }
        self.blocks[b as usize].ref_cnt += 1;
        self.note_use();
    }

    /// Drops one reference to `b`; at zero the block joins the tail of the free queue, keeping its
    /// cached identity.
    pub fn release(&mut self, b: u32) {
        let blk = &mut self.blocks[b as usize];
        debug_assert!(blk.ref_cnt > 0, "reference count below zero");
        blk.ref_cnt -= 1;
        if blk.ref_cnt == 0 {
            self.push_tail(b);
        }
    }

    /// Releases a request's blocks, last block first, so its tail is evicted before its head
    /// (the head is the part other requests are likeliest to share).
    pub fn release_all(&mut self, table: &[u32]) {
        for &b in table.iter().rev() {
            self.release(b);
        }
    }

    /// Gives full block `b` the content hash `hash`. A `public` hash goes into the shared
    /// lookup table so later requests can hit it; a block whose content is already there under
    /// another block stays anonymous (vLLM keeps duplicates too, but lookups return one of
    /// them). A private hash is only remembered on the block, for [`BlockPool::holds`].
    pub fn register(&mut self, b: u32, hash: u64, public: bool) {
        if !self.caching || hash == 0 || self.blocks[b as usize].hash != 0 {
            return;
        }
        if !public {
            self.blocks[b as usize].hash = hash;
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.cached.entry(hash) {
            e.insert(b);
            let blk = &mut self.blocks[b as usize];
            blk.hash = hash;
            blk.public = true;
        }
    }

    /// Checks the pool's invariants: reference counts match `holders` (how many holders each
    /// block has, from the running requests' block tables), the free queue holds exactly the
    /// materialized blocks with no holder, cached hashes map to blocks carrying them, and use is
    /// within capacity.
    pub fn check(&self, holders: &HashMap<u32, u32>) -> Result<(), String> {
        let mut in_queue = vec![false; self.blocks.len()];
        let (mut b, mut n, mut prev) = (self.head, 0u32, NIL);
        while b != NIL {
            let blk = &self.blocks[b as usize];
            if blk.prev != prev {
                return Err(format!("free queue link broken at block {b}"));
            }
            if blk.ref_cnt != 0 {
                return Err(format!(
                    "block {b} is in the free queue with {} holders",
                    blk.ref_cnt
                ));
            }
            in_queue[b as usize] = true;
            n += 1;
            prev = b;
            b = blk.next;
        }
        if n != self.queued || prev != self.tail {
            return Err(format!(
                "free queue length {n} but {} recorded",
                self.queued
            ));
        }
        for (i, blk) in self.blocks.iter().enumerate() {
            let want = holders.get(&(i as u32)).copied().unwrap_or(0);
            if blk.ref_cnt != want {
                return Err(format!(
                    "block {i} has ref_cnt {} but {want} holders",
                    blk.ref_cnt
                ));
            }
            if (blk.ref_cnt == 0) != in_queue[i] {
                return Err(format!(
                    "block {i}: ref_cnt {} but in queue {}",
                    blk.ref_cnt, in_queue[i]
                ));
            }
        }
        for (&h, &b) in &self.cached {
            if self.blocks.get(b as usize).map(|x| x.hash) != Some(h) {
                return Err(format!(
                    "cache maps {h:#x} to block {b}, which holds another hash"
                ));
            }
        }
        if self.used() > self.total() {
            return Err("more blocks used than exist".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_hits() {
        let mut p = BlockPool::new(3, true);
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        p.register(a, 11, true);
        p.register(b, 22, true);
        p.release_all(&[a, b]); // b then a join the queue: b is evicted first
        assert_eq!(p.free(), 3);
        assert_eq!(p.lookup(22), Some(b));
        let c = p.allocate().unwrap(); // the never-used block first
        assert_eq!(p.evicted(), 0);
        let d = p.allocate().unwrap(); // then the queue head: b
        assert_eq!(d, b);
        assert_eq!(p.evicted(), 1);
        assert_eq!(p.lookup(22), None);
        assert_eq!(p.lookup(11), Some(a));
        p.touch(a); // a hit takes a out of the queue
        assert_eq!(p.free(), 0);
        assert!(p.allocate().is_none());
        p.release(c);
        let mut holders = HashMap::new();
        holders.insert(a, 1);
        holders.insert(d, 1);
        p.check(&holders).unwrap();
    }

    #[test]
    fn shared_blocks_are_reference_counted() {
        let mut p = BlockPool::new(2, true);
        let a = p.allocate().unwrap();
        p.register(a, 5, true);
        p.touch(a);
        p.release(a);
        assert!(!p.is_free(a));
        p.release(a);
        assert!(p.is_free(a));
        assert_eq!(p.used(), 0);
        assert_eq!(p.peak_used(), 1);
    }

    #[test]
    fn without_caching_nothing_is_found() {
        let mut p = BlockPool::new(2, false);
        let a = p.allocate().unwrap();
        p.register(a, 5, true);
        p.release(a);
        assert_eq!(p.lookup(5), None);
        assert!(!p.holds(a, 5));
    }

    #[test]
    fn private_blocks_are_found_only_by_their_owner_until_reused() {
        let mut p = BlockPool::new(1, true);
        let a = p.allocate().unwrap();
        p.register(a, 7, false);
        p.release(a);
        assert_eq!(p.lookup(7), None);
        assert!(p.holds(a, 7));
        let again = p.allocate().unwrap();
        assert_eq!(again, a);
        assert!(!p.holds(a, 7));
        assert_eq!(
            p.evicted(),
            0,
            "private blocks are not counted as evictions"
        );
    }
}
