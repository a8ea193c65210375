//! The KV block pool of one replica, with vLLM V1's prefix cache (docs/ARCHITECTURE.md, "Semantics";
//! `vllm/v1/core/block_pool.py`, `kv_cache_utils.py`).
//!
//! Blocks are handed to running requests and reference-counted (a cached prefix block can be
//! shared by several requests). A block whose count drops to zero goes to the tail of an LRU free
//! queue and, with prefix caching on, keeps its content hash: a later request with the same
//! prefix takes it back out of the queue (a hit). Allocation takes the head of the queue, and
//! only then does a cached block lose its identity (an eviction). Blocks never used yet sit,
//! conceptually, at the head of the queue, so they are only counted.
//!
//! Only blocks whose content other requests can share (positions covered by prefix ids) are
//! kept one by one, with their hash and reference count. The rest of a request's blocks hold
//! content no other request has: they are held by that request alone, and are counted, not
//! named. When such a request releases them (it finishes or is preempted) they join the free
//! queue as one *run* in the order vLLM frees them (last block first, so the run is eaten from
//! its high end by later allocations); a preempted request keeps a [`RunHandle`] and, when it
//! is scheduled again, takes back the leading blocks of its run that were not reallocated in
//! between, exactly as vLLM finds its own blocks by their hashes. Allocating, releasing and
//! resuming therefore cost O(1) per request for request-unique content instead of O(blocks).
//!
//! Cached identities are kept per content *unit* (`workload::block_hash::Chain`: one prefix
//! id, e.g. 32 blocks of a 512-token id): one table entry per unit, keyed by the unit's chain
//! key, lists which of its sub-blocks are cached and in which block. A lookup, registration or
//! eviction touches the hash table once per unit, not once per block; which blocks are cached,
//! and the LRU order they are evicted in, are per block as in vLLM.
//!
//! Every operation is O(1) except hash-map lookups (expected O(1)).

use std::collections::HashMap;

use crate::workload::block_hash::Chain;

const NIL: u32 = u32::MAX;

type IdMap = super::U64Map<u32>;

/// What a node of the pool holds.
#[derive(Clone, Copy, Debug)]
enum Item {
    /// One named block (a shareable position): the cached unit it is sub-block `sub` of
    /// (`NIL`: no cached identity) and its holders. It is in the free queue while it has no
    /// holder.
    Single { unit: u32, sub: u32, ref_cnt: u32 },
    /// Free request-unique blocks at positions `lo..hi` of one request's token sequence, of
    /// which `lo..id_hi` still hold their content for that request (full blocks); allocations
    /// take from `hi` down.
    Run { lo: u32, id_hi: u32, hi: u32 },
    /// An unused slot.
    Dead,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    item: Item,
    /// Bumped each time a run takes or leaves the slot, so a stale [`RunHandle`] finds nothing.
    gen: u32,
    prev: u32,
    next: u32,
}

/// A preempted request's hold on the run of its request-unique blocks in the free queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunHandle {
    node: u32,
    gen: u32,
}

/// A content unit with cached sub-blocks: its chain key and, for each sub-block, the block
/// holding it (`NIL`: not cached) at `members[base..base + len]`.
#[derive(Clone, Copy, Debug)]
struct Unit {
    key: u64,
    base: u32,
    len: u32,
    /// Sub-blocks cached.
    cached: u32,
    /// Of those, blocks in the free queue (no holder).
    free: u32,
    /// Whether it is the first unit of its chain (a prompt's leading blocks).
    first: bool,
}

/// The block pool. A named block's id is the index of its node.
#[derive(Clone, Debug)]
pub struct BlockPool {
    capacity: u64,
    /// Blocks ever taken from the never-used ones (`fresh..capacity` were never used).
    fresh: u64,
    nodes: Vec<Node>,
    dead: Vec<u32>,
    head: u32,
    tail: u32,
    /// Blocks in the free queue.
    queued: u64,
    /// Unit key -> index into `units`.
    cached: IdMap,
    units: Vec<Unit>,
    /// Slots of `units` not in use.
    dead_units: Vec<u32>,
    /// Sub-block -> block lists of the units.
    members: Vec<u32>,
    /// Unused `members` ranges, by length.
    spare_members: Vec<(u32, Vec<u32>)>,
    caching: bool,
    peak_used: u64,
    evicted: u64,
    /// When kept ([`BlockPool::journal_first_units`]): first units that entered (`true`) or
    /// left (`false`) the table since the last [`BlockPool::drain_journal`], in order.
    journal: Option<Vec<(u64, bool)>>,
}

impl BlockPool {
    /// A pool of `capacity` blocks, all free; `caching` turns the prefix cache on.
    pub fn new(capacity: u64, caching: bool) -> BlockPool {
        BlockPool {
            capacity,
            fresh: 0,
            nodes: Vec::new(),
            dead: Vec::new(),
            head: NIL,
            tail: NIL,
            queued: 0,
            cached: IdMap::default(),
            units: Vec::new(),
            dead_units: Vec::new(),
            members: Vec::new(),
            spare_members: Vec::new(),
            caching,
            peak_used: 0,
            evicted: 0,
            journal: None,
        }
    }

    /// Keeps a journal of the first units (chain position 0) entering and leaving the table
    /// from now on (an empty one), for a fleet-wide index of which replicas hold which
    /// prompts' leading blocks.
    pub fn journal_first_units(&mut self) {
        self.journal = Some(Vec::new());
    }

    /// Whether the journal has entries to drain.
    #[inline]
    pub fn journal_pending(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| !j.is_empty())
    }

    /// Passes the journal's entries to `f` (the first unit's chain key, and whether it entered
    /// the table or left it), in order, and empties it.
    pub fn drain_journal(&mut self, mut f: impl FnMut(u64, bool)) {
        if let Some(j) = &mut self.journal {
            for &(key, entered) in j.iter() {
                f(key, entered);
            }
            j.clear();
        }
    }

    /// Whether prefix caching is on.
    pub fn caching(&self) -> bool {
        self.caching
    }

    /// All blocks.
    pub fn total(&self) -> u64 {
        self.capacity
    }

    /// Blocks that can be allocated now (never used, or free with or without a cached identity).
    pub fn free(&self) -> u64 {
        self.capacity - self.fresh + self.queued
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

    fn new_node(&mut self, item: Item) -> u32 {
        match self.dead.pop() {
            Some(n) => {
                let node = &mut self.nodes[n as usize];
                node.item = item;
                if matches!(item, Item::Run { .. }) {
                    node.gen = node.gen.wrapping_add(1);
                }
                n
            }
            None => {
                self.nodes.push(Node {
                    item,
                    gen: 0,
                    prev: NIL,
                    next: NIL,
                });
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn kill(&mut self, n: u32) {
        let node = &mut self.nodes[n as usize];
        if matches!(node.item, Item::Run { .. }) {
            node.gen = node.gen.wrapping_add(1);
        }
        node.item = Item::Dead;
        self.dead.push(n);
    }

    fn unlink(&mut self, n: u32) {
        let Node { prev, next, .. } = self.nodes[n as usize];
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        let node = &mut self.nodes[n as usize];
        node.prev = NIL;
        node.next = NIL;
    }

    fn push_tail(&mut self, n: u32) {
        let tail = self.tail;
        {
            let node = &mut self.nodes[n as usize];
            node.prev = tail;
            node.next = NIL;
        }
        if tail == NIL {
            self.head = n;
        } else {
            self.nodes[tail as usize].next = n;
        }
        self.tail = n;
    }

    fn note_use(&mut self) {
        self.peak_used = self.peak_used.max(self.used());
    }

    /// Takes `n` free blocks for new content: never-used ones first, then from the head of the
    /// free queue (evicting cached identities). The caller has checked `n <= free()`.
    pub fn take(&mut self, n: u64) {
        debug_assert!(
            n <= self.free(),
            "taking {n} blocks with {} free",
            self.free()
        );
        let fresh = n.min(self.capacity - self.fresh);
        self.fresh += fresh;
        let mut left = n - fresh;
        while left > 0 && self.head != NIL {
            let h = self.head;
            let Node { item, next, .. } = self.nodes[h as usize];
            match item {
                Item::Single { unit, sub, ref_cnt } => {
                    debug_assert_eq!(ref_cnt, 0, "evicting a held block");
                    if unit != NIL {
                        self.uncache(unit, sub);
                        self.evicted += 1;
                    }
                    // The head leaves the queue (its links are reset when it is reused).
                    self.head = next;
                    if next == NIL {
                        self.tail = NIL;
                    } else {
                        self.nodes[next as usize].prev = NIL;
                    }
                    self.nodes[h as usize].item = Item::Dead;
                    self.dead.push(h);
                    self.queued -= 1;
                    left -= 1;
                }
                Item::Run { lo, id_hi, hi } => {
                    let t = left.min((hi - lo) as u64) as u32;
                    self.queued -= t as u64;
                    left -= t as u64;
                    if t == hi - lo {
                        self.unlink(h);
                        self.kill(h);
                    } else {
                        let hi = hi - t;
                        self.nodes[h as usize].item = Item::Run {
                            lo,
                            id_hi: id_hi.min(hi),
                            hi,
                        };
                    }
                }
                Item::Dead => unreachable!("a dead node in the free queue"),
            }
        }
        debug_assert_eq!(left, 0, "free blocks were counted");
        self.note_use();
    }

    /// Names one block just taken with [`BlockPool::take`] (a shareable position): it gets a
    /// reference count of one and no identity yet.
    pub fn name_taken(&mut self) -> u32 {
        self.new_node(Item::Single {
            unit: NIL,
            sub: 0,
            ref_cnt: 1,
        })
    }

    /// The cached unit with chain key `key`, if any of its sub-blocks is cached.
    fn unit(&self, key: u64) -> Option<&Unit> {
        self.cached.get(&key).map(|&u| &self.units[u as usize])
    }

    /// Calls `each` with the cached blocks holding the leading blocks of `chain`, at most
    /// `upto` (all shareable), one unit at a time: each unit's slice of block ids ends at its
    /// first uncached sub-block, where the walk stops.
    fn walk_cached(&self, chain: &Chain, upto: u32, mut each: impl FnMut(&Unit, &[u32])) {
        if !self.caching {
            return;
        }
        let mut left = upto;
        for &key in &chain.keys {
            if left == 0 {
                return;
            }
            let Some(u) = self.unit(key) else { return };
            let n = left.min(chain.unit).min(u.len);
            let members = &self.members[u.base as usize..(u.base + n) as usize];
            let k = if n == u.len && u.cached == u.len {
                n // the whole unit is cached
            } else {
                members.iter().position(|&b| b == NIL).unwrap_or(n as usize) as u32
            };
            each(u, &members[..k as usize]);
            if k < chain.unit {
                return;
            }
            left -= k;
        }
    }

    /// Appends to `out` the cached blocks holding the leading blocks of `chain`, at most
    /// `upto` (all shareable), up to the first that is not cached; returns how many of them are
    /// free (so taking them as hits uses up free blocks).
    pub fn cached_prefix(&self, chain: &Chain, upto: u32, out: &mut Vec<u32>) -> u64 {
        let mut free = 0;
        self.walk_cached(chain, upto, |u, blocks| {
            free += if blocks.len() as u32 == u.cached && u.cached == u.len {
                u.free as u64 // every block of the unit: its free count is kept
            } else {
                blocks.iter().filter(|&&b| self.is_free(b)).count() as u64
            };
            out.extend_from_slice(blocks);
        });
        free
    }

    /// How many leading blocks of `chain`, at most `upto`, are cached.
    pub fn cached_prefix_len(&self, chain: &Chain, upto: u32) -> u32 {
        let mut found = 0;
        self.walk_cached(chain, upto, |_, blocks| found += blocks.len() as u32);
        found
    }

    /// The chain keys of the first units in the table (for checking a fleet's index).
    pub fn first_units(&self) -> impl Iterator<Item = u64> + '_ {
        self.cached
            .values()
            .map(|&u| &self.units[u as usize])
            .filter(|u| u.first)
            .map(|u| u.key)
    }

    /// Whether named block `b` is free (so taking it as a hit uses up a free block).
    pub fn is_free(&self, b: u32) -> bool {
        matches!(self.nodes[b as usize].item, Item::Single { ref_cnt: 0, .. })
    }

    /// Takes a reference to cached block `b` (a prefix hit), out of the free queue if it was there.
    pub fn touch(&mut self, b: u32) {
        let Item::Single { ref_cnt, unit, .. } = &mut self.nodes[b as usize].item else {
            unreachable!("touching a block that is not named");
        };
        *ref_cnt += 1;
        if *ref_cnt == 1 {
            if *unit != NIL {
                self.units[*unit as usize].free -= 1;
            }
            self.unlink(b);
            self.queued -= 1;
        }
        self.note_use();
    }

    /// Drops one reference to named block `b`; at zero the block joins the tail of the free
    /// queue, keeping its cached identity.
    pub fn release(&mut self, b: u32) {
        let Item::Single { ref_cnt, unit, .. } = &mut self.nodes[b as usize].item else {
            unreachable!("releasing a block that is not named");
        };
        debug_assert!(*ref_cnt > 0, "reference count below zero");
        *ref_cnt -= 1;
        if *ref_cnt == 0 {
            if *unit != NIL {
                self.units[*unit as usize].free += 1;
            }
            self.push_tail(b);
            self.queued += 1;
        }
    }

    /// Releases a request's named blocks, last block first, so its tail is evicted before its
    /// head (the head is the part other requests are likeliest to share).
    pub fn release_all(&mut self, table: &[u32]) {
        for &b in table.iter().rev() {
            self.release(b);
        }
    }

    /// Releases a request's request-unique blocks at positions `lo..hi` (to the free queue's
    /// tail, before its named blocks: vLLM frees the last block first). Positions `lo..id_hi`
    /// keep their content for the request, which can take them back through the handle.
    pub fn release_run(&mut self, lo: u32, id_hi: u32, hi: u32) -> Option<RunHandle> {
        if hi <= lo {
            return None;
        }
        let id_hi = id_hi.clamp(lo, hi);
        let node = self.new_node(Item::Run { lo, id_hi, hi });
        self.push_tail(node);
        self.queued += (hi - lo) as u64;
        Some(RunHandle {
            node,
            gen: self.nodes[node as usize].gen,
        })
    }

    /// How many blocks of the released run `h`, from position `from` up to (not including)
    /// `upto`, still hold their content (none unless the run starts at `from`).
    pub fn run_hits(&self, h: Option<RunHandle>, from: u32, upto: u32) -> u32 {
        if !self.caching {
            return 0;
        }
        let Some(h) = h else { return 0 };
        let node = &self.nodes[h.node as usize];
        if node.gen != h.gen {
            return 0;
        }
        match node.item {
            Item::Run { lo, id_hi, .. } if lo == from => id_hi.min(upto).saturating_sub(lo),
            _ => 0,
        }
    }

    /// Takes the first `n` blocks of run `h` back (hits found by [`BlockPool::run_hits`]).
    pub fn take_run_front(&mut self, h: RunHandle, n: u32) {
        if n == 0 {
            return;
        }
        let node = &mut self.nodes[h.node as usize];
        debug_assert_eq!(node.gen, h.gen, "a stale run handle");
        let Item::Run { lo, id_hi, hi } = node.item else {
            unreachable!("a run handle names a run");
        };
        debug_assert!(lo + n <= id_hi);
        self.queued -= n as u64;
        if lo + n == hi {
            self.unlink(h.node);
            self.kill(h.node);
        } else {
            node.item = Item::Run {
                lo: lo + n,
                id_hi,
                hi,
            };
        }
        self.note_use();
    }

    /// Gives full named blocks `table[from..to]` (a request's blocks at those positions) the
    /// content identity of those positions of `chain` and puts them in the shared lookup table
    /// so later requests can hit them; a block whose content is already cached in another
    /// block stays anonymous (vLLM keeps duplicates too, but lookups return one of them).
    pub fn register(&mut self, table: &[u32], chain: &Chain, from: u32, to: u32) {
        if !self.caching {
            return;
        }
        let mut j = from;
        while j < to {
            let (u, sub0) = (j / chain.unit, j % chain.unit);
            let end = to.min((u + 1) * chain.unit);
            let key = chain.keys[u as usize];
            let (slot, new) = match self.cached.get(&key) {
                Some(&s) => (s, false),
                None => {
                    let s = self.new_unit(key, chain.unit, u == 0);
                    self.cached.insert(key, s);
                    (s, true)
                }
            };
            let Unit { base, .. } = self.units[slot as usize];
            for (k, &b) in table[j as usize..end as usize].iter().enumerate() {
                let sub = sub0 + k as u32;
                let Item::Single {
                    unit,
                    sub: s,
                    ref_cnt,
                } = &mut self.nodes[b as usize].item
                else {
                    continue;
                };
                let m = &mut self.members[(base + sub) as usize];
                if *unit != NIL || *m != NIL {
                    continue;
                }
                *unit = slot;
                *s = sub;
                *m = b;
                let u = &mut self.units[slot as usize];
                u.cached += 1;
                u.free += (*ref_cnt == 0) as u32;
            }
            if self.units[slot as usize].cached == 0 {
                // Every block was a duplicate or already cached elsewhere: nothing new.
                self.cached.remove(&key);
                self.free_unit(slot);
            } else if new && u == 0 {
                if let Some(j) = &mut self.journal {
                    j.push((key, true));
                }
            }
            j = end;
        }
    }

    /// A new unit entry for `key` with `len` sub-blocks, none cached yet; `first`: the first
    /// unit of its chain.
    fn new_unit(&mut self, key: u64, len: u32, first: bool) -> u32 {
        let base = match self
            .spare_members
            .iter_mut()
            .find(|(l, _)| *l == len)
            .and_then(|(_, v)| v.pop())
        {
            Some(base) => base,
            None => {
                let base = self.members.len() as u32;
                self.members.resize(self.members.len() + len as usize, NIL);
                base
            }
        };
        let unit = Unit {
            key,
            base,
            len,
            cached: 0,
            free: 0,
            first,
        };
        match self.dead_units.pop() {
            Some(s) => {
                self.units[s as usize] = unit;
                s
            }
            None => {
                self.units.push(unit);
                (self.units.len() - 1) as u32
            }
        }
    }

    /// Returns unit `slot` (no sub-block cached) and its members to the spares.
    fn free_unit(&mut self, slot: u32) {
        let Unit { base, len, .. } = self.units[slot as usize];
        match self.spare_members.iter_mut().find(|(l, _)| *l == len) {
            Some((_, v)) => v.push(base),
            None => self.spare_members.push((len, vec![base])),
        }
        self.dead_units.push(slot);
    }

    /// Sub-block `sub` of unit `slot` loses its cached block (evicted); a unit with nothing
    /// cached leaves the table.
    fn uncache(&mut self, slot: u32, sub: u32) {
        let u = &mut self.units[slot as usize];
        self.members[(u.base + sub) as usize] = NIL;
        u.cached -= 1;
        u.free -= 1; // only free blocks are evicted
        if u.cached == 0 {
            let (key, first) = (u.key, u.first);
            self.cached.remove(&key);
            self.free_unit(slot);
            if first {
                if let Some(j) = &mut self.journal {
                    j.push((key, false));
                }
            }
        }
    }

    /// Checks the pool's invariants: reference counts match `holders` (how many holders each
    /// named block has, from the running requests' tables), `held_unnamed` blocks are held
    /// besides the named ones, the free queue holds exactly the free named blocks and runs it
    /// counts, cached hashes map to blocks carrying them, and use is within capacity.
    pub fn check(&self, holders: &HashMap<u32, u32>, held_unnamed: u64) -> Result<(), String> {
        let mut in_queue = vec![false; self.nodes.len()];
        let (mut n, mut units, mut prev) = (self.head, 0u64, NIL);
        while n != NIL {
            let node = &self.nodes[n as usize];
            if node.prev != prev {
                return Err(format!("free queue link broken at node {n}"));
            }
            match node.item {
                Item::Single { ref_cnt, .. } => {
                    if ref_cnt != 0 {
                        return Err(format!(
                            "block {n} is in the free queue with {ref_cnt} holders"
                        ));
                    }
                    units += 1;
                }
                Item::Run { lo, id_hi, hi } => {
                    if !(lo < hi && lo <= id_hi && id_hi <= hi) {
                        return Err(format!("run {lo}..{id_hi}..{hi} malformed"));
                    }
                    units += (hi - lo) as u64;
                }
                Item::Dead => return Err(format!("dead node {n} in the free queue")),
            }
            in_queue[n as usize] = true;
            prev = n;
            n = node.next;
        }
        if units != self.queued || prev != self.tail {
            return Err(format!(
                "free queue holds {units} blocks but {} recorded",
                self.queued
            ));
        }
        let mut named_held = 0u64;
        for (i, node) in self.nodes.iter().enumerate() {
            let want = holders.get(&(i as u32)).copied().unwrap_or(0);
            match node.item {
                Item::Single { ref_cnt, .. } => {
                    if ref_cnt != want {
                        return Err(format!(
                            "block {i} has ref_cnt {ref_cnt} but {want} holders"
                        ));
                    }
                    if (ref_cnt == 0) != in_queue[i] {
                        return Err(format!(
                            "block {i}: ref_cnt {ref_cnt} but in queue {}",
                            in_queue[i]
                        ));
                    }
                    named_held += (ref_cnt > 0) as u64;
                }
                Item::Run { .. } if !in_queue[i] => {
                    return Err(format!("run node {i} is not in the free queue"));
                }
                _ if want > 0 => return Err(format!("block {i} is held but not named")),
                _ => {}
            }
        }
        let mut units_cached = vec![0u32; self.units.len()];
        let mut units_free = vec![0u32; self.units.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            if let Item::Single { unit, sub, .. } = node.item {
                if unit == NIL {
                    continue;
                }
                let u = self
                    .units
                    .get(unit as usize)
                    .ok_or("a block names no unit")?;
                if sub >= u.len || self.members[(u.base + sub) as usize] != i as u32 {
                    return Err(format!(
                        "block {i} is cached as {sub} of a unit that lists another block"
                    ));
                }
                units_cached[unit as usize] += 1;
                if let Item::Single { ref_cnt: 0, .. } = node.item {
                    units_free[unit as usize] += 1;
                }
            }
        }
        for (&key, &slot) in &self.cached {
            let u = &self.units[slot as usize];
            if u.key != key {
                return Err(format!("cache maps {key:#x} to a unit of key {:#x}", u.key));
            }
            let listed = self.members[u.base as usize..(u.base + u.len) as usize]
                .iter()
                .filter(|&&b| b != NIL)
                .count() as u32;
            if units_free[slot as usize] != u.free {
                return Err(format!(
                    "unit {key:#x} counts {} free blocks, {} are free",
                    u.free, units_free[slot as usize]
                ));
            }
            if listed != u.cached || units_cached[slot as usize] != u.cached || u.cached == 0 {
                return Err(format!(
                    "unit {key:#x} counts {} cached blocks, lists {listed}, {} blocks name it",
                    u.cached, units_cached[slot as usize]
                ));
            }
        }
        if named_held + held_unnamed != self.used() {
            return Err(format!(
                "{named_held} named and {held_unnamed} unnamed blocks held, {} used",
                self.used()
            ));
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

    fn named(p: &mut BlockPool) -> u32 {
        p.take(1);
        p.name_taken()
    }

    /// A chain of one single-block unit with key `key`.
    fn one(key: u64) -> Chain {
        Chain {
            keys: vec![key],
            unit: 1,
        }
    }

    fn register(p: &mut BlockPool, b: u32, key: u64) {
        p.register(&[b], &one(key), 0, 1);
    }

    fn lookup(p: &BlockPool, key: u64) -> Option<u32> {
        let mut found = Vec::new();
        p.cached_prefix(&one(key), 1, &mut found);
        found.first().copied()
    }

    #[test]
    fn lru_eviction_and_hits() {
        let mut p = BlockPool::new(3, true);
        let a = named(&mut p);
        let b = named(&mut p);
        register(&mut p, a, 11);
        register(&mut p, b, 22);
        p.release_all(&[a, b]); // b then a join the queue: b is evicted first
        assert_eq!(p.free(), 3);
        assert_eq!(lookup(&p, 22), Some(b));
        let c = named(&mut p); // the never-used block first
        assert_eq!(p.evicted(), 0);
        let _d = named(&mut p); // then the queue head: b
        assert_eq!(p.evicted(), 1);
        assert_eq!(lookup(&p, 22), None);
        assert_eq!(lookup(&p, 11), Some(a));
        p.touch(a); // a hit takes a out of the queue
        assert_eq!(p.free(), 0);
        p.release(c);
        assert_eq!(p.free(), 1);
    }

    #[test]
    fn shared_blocks_are_reference_counted() {
        let mut p = BlockPool::new(2, true);
        let a = named(&mut p);
        register(&mut p, a, 5);
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
        let mut p = BlockPool::new(4, false);
        let a = named(&mut p);
        register(&mut p, a, 5);
        p.release(a);
        assert_eq!(lookup(&p, 5), None);
        p.take(2);
        let h = p.release_run(1, 3, 3);
        assert_eq!(p.run_hits(h, 1, 3), 0);
    }

    #[test]
    fn runs_are_eaten_from_their_high_end_and_resumed_from_their_low_end() {
        let mut p = BlockPool::new(10, true);
        p.take(10);
        // Positions 2..8 of a request, of which 2..7 are full.
        let h = p.release_run(2, 7, 8);
        assert_eq!(p.free(), 6);
        assert_eq!(p.run_hits(h, 2, 100), 5);
        assert_eq!(p.run_hits(h, 2, 4), 2, "capped by the positions asked for");
        assert_eq!(
            p.run_hits(h, 3, 100),
            0,
            "a run is found only from its start"
        );
        p.take(2); // positions 7 and 6 are reallocated
        assert_eq!(p.run_hits(h, 2, 100), 4);
        p.take_run_front(h.unwrap(), 3); // the owner takes positions 2..5 back
        assert_eq!(p.free(), 1);
        p.check(&HashMap::new(), 9).unwrap();
        p.take(1);
        assert_eq!(p.run_hits(h, 2, 100), 0, "the run is gone");
        assert_eq!(
            p.evicted(),
            0,
            "request-unique blocks are not counted as evictions"
        );
        p.check(&HashMap::new(), 10).unwrap();
    }

    #[test]
    fn a_run_sits_in_the_queue_in_release_order() {
        let mut p = BlockPool::new(4, true);
        let a = named(&mut p);
        register(&mut p, a, 9);
        p.take(2);
        // The request frees its unnamed tail, then its named head.
        let h = p.release_run(1, 3, 3);
        p.release_all(&[a]);
        p.take(2); // the never-used block, then the run's high end
        assert_eq!(p.run_hits(h, 1, 3), 1);
        assert_eq!(lookup(&p, 9), Some(a));
        p.take(1); // the rest of the run
        assert_eq!(p.run_hits(h, 1, 3), 0);
        assert_eq!(lookup(&p, 9), Some(a));
        p.take(1); // then the named block
        assert_eq!(lookup(&p, 9), None);
        assert_eq!(p.evicted(), 1);
    }

    #[test]
    fn units_cache_their_blocks_one_by_one() {
        // Two 4-block units; a request holds blocks 0..8 and registers 0..6 (two calls).
        let chain = Chain {
            keys: vec![100, 200],
            unit: 4,
        };
        let mut p = BlockPool::new(12, true);
        let table: Vec<u32> = (0..8).map(|_| named(&mut p)).collect();
        p.register(&table, &chain, 0, 3);
        p.register(&table, &chain, 3, 6);
        let mut found = Vec::new();
        p.cached_prefix(&chain, 8, &mut found);
        assert_eq!(
            found,
            table[..6],
            "registered blocks, in order, to the first unregistered"
        );
        assert_eq!(p.cached_prefix_len(&chain, 8), 6);
        assert_eq!(p.cached_prefix_len(&chain, 5), 5, "capped");
        found.clear();
        p.cached_prefix(&chain, 3, &mut found);
        assert_eq!(found.len(), 3);
        // A second request computed the same content: its blocks stay anonymous duplicates.
        let dup: Vec<u32> = (0..4).map(|_| named(&mut p)).collect();
        p.register(&dup, &chain, 0, 4);
        found.clear();
        p.cached_prefix(&chain, 8, &mut found);
        assert_eq!(found, table[..6]);
        let holders: HashMap<u32, u32> = table.iter().chain(&dup).map(|&b| (b, 1)).collect();
        p.check(&holders, 0).unwrap();
        // The first request ends: its blocks join the queue last first, then the duplicates.
        p.release_all(&table);
        p.release_all(&dup);
        assert_eq!(p.free(), 12);
        p.check(&HashMap::new(), 0).unwrap();
        // Evicting from the queue head takes the second unit's blocks from its high end.
        p.take(3); // blocks at positions 7 and 6 (never cached), then 5
        assert_eq!(p.evicted(), 1);
        assert_eq!(p.cached_prefix_len(&chain, 8), 5);
        p.take(1); // position 4: the second unit has nothing cached and leaves the table
        assert_eq!(p.cached_prefix_len(&chain, 8), 4);
        assert_eq!(p.cached.len(), 1);
        p.check(&HashMap::new(), 4).unwrap();
        p.take(4); // the first unit, 3 down to 0
        assert_eq!(p.cached_prefix_len(&chain, 8), 0);
        assert!(p.cached.is_empty());
        assert_eq!(p.evicted(), 6);
        // Now the duplicate blocks are free to be registered by a later request.
        let again: Vec<u32> = (0..4).map(|_| named(&mut p)).collect();
        p.register(&again, &chain, 0, 4);
        assert_eq!(p.cached_prefix_len(&chain, 8), 4);
        let holders: HashMap<u32, u32> = again.iter().map(|&b| (b, 1)).collect();
        p.check(&holders, 8).unwrap();
    }
}
