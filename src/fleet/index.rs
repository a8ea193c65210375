//! What a router would otherwise ask every replica for each request, kept up to date as the
//! replicas change, so that routing a request in a fleet of R replicas costs O(log R) or the
//! few replicas concerned instead of O(R):
//!
//! - which replicas' prefix caches hold the first unit (the leading blocks) of which prompts,
//!   from the replicas' journals ([`Replica::journal_first_units`]): a cache-aware router asks
//!   only those how much of a prompt they hold (a replica outside them holds none of it);
//! - each replica's outstanding requests, in a tree of minima: the least-loaded replica (the
//!   first of equals, as a scan finds it) without a scan.
//!
//! A fixed fleet of at least [`FleetIndex::MIN_REPLICAS`] behind a router that reads them keeps
//! one ([`FleetIndex::for_router`]), synced after every call that may change a replica's cache
//! or queue (a few instructions a step; below that size asking every replica costs less). It
//! changes no decision (tests/it/fleet_index.rs compares every output with and without;
//! `with_invariant_checks` checks it against the replicas after every step start and end).
//! Measured (docs/PERFORMANCE.md, "Routing large fleets"): a 150-request Mooncake trace on
//! 1,000 replicas behind prefix-affinity with an SLO, whose whole-fleet capacity is measured on
//! 64,000 requests a draw, spent 43% of its run in prefix lookups and took 94 s; 40 s indexed.

use super::view::{FleetView, ReplicaView};
use super::Router;
use crate::serving::{Replica, U64Map};

/// The index of a fixed fleet (see the module).
#[derive(Debug)]
pub struct FleetIndex {
    /// First unit's chain key -> replicas holding it, ascending (when the router reads
    /// prefix caches).
    owners: Option<U64Map<Vec<u32>>>,
    /// Outstanding requests per replica (when the router reads loads).
    loads: Option<MinTree>,
}

impl FleetIndex {
    /// The fewest replicas a fleet keeps an index for. Instructions counted by callgrind
    /// (2026-12-03), `fleetsim run` of the Mooncake trace behind prefix-affinity, always
    /// indexed against never: 8 replicas +1.8% (routing there cost 0.1% of the run), 32
    /// replicas +0.1%, 128 replicas -0.3%; 1,000 replicas 94 s -> 40 s.
    pub const MIN_REPLICAS: usize = 64;

    /// The index `router` reads over `replicas` (starting their journals where it reads
    /// prefix caches), or `None` when it reads neither or there are fewer than `min_replicas`.
    pub fn for_router(
        router: &dyn Router,
        replicas: &mut [Replica],
        min_replicas: usize,
    ) -> Option<FleetIndex> {
        let (prefixes, loads) = (router.reads_prefix_caches(), router.reads_loads());
        if !prefixes && !loads || replicas.len() < min_replicas {
            return None;
        }
        let owners = prefixes.then(|| {
            let mut map: U64Map<Vec<u32>> = U64Map::default();
            for (i, r) in replicas.iter_mut().enumerate() {
                r.journal_first_units();
                // What a cache already holds (none at the start of a run).
                for key in r.first_units() {
                    map.entry(key).or_default().push(i as u32);
                }
            }
            map
        });
        let loads = loads.then(|| MinTree::new(replicas.iter().map(|r| r.outstanding())));
        Some(FleetIndex { owners, loads })
    }

    /// Brings replica `r`'s entries up to date after a call that may change its cache or its
    /// queue (`enqueue`, `finish_step`).
    #[inline]
    pub fn sync(&mut self, r: u32, rep: &mut Replica) {
        self.sync_cache(r, rep);
        if let Some(t) = &mut self.loads {
            t.set(r as usize, rep.outstanding());
        }
    }

    /// Brings replica `r`'s prefix entries up to date after a call that may change its cache
    /// but not how many requests it holds (`start_step`: admitting and preempting move requests
    /// between its queue and its batch; only a step's end and `enqueue` change their number).
    #[inline]
    pub fn sync_cache(&mut self, r: u32, rep: &mut Replica) {
        if let Some(map) = &mut self.owners {
            if rep.journal_pending() {
                Self::apply(map, r, rep);
            }
        }
    }

    /// Applies replica `r`'s journal to `map`.
    #[cold]
    fn apply(map: &mut U64Map<Vec<u32>>, r: u32, rep: &mut Replica) {
        rep.drain_journal(|key, entered| {
            if entered {
                let v = map.entry(key).or_default();
                if let Err(at) = v.binary_search(&r) {
                    v.insert(at, r);
                }
            } else if let Some(v) = map.get_mut(&key) {
                if let Ok(at) = v.binary_search(&r) {
                    v.remove(at);
                }
                if v.is_empty() {
                    map.remove(&key);
                }
            }
        });
    }

    /// Checks the index against the replicas.
    pub fn check(&self, replicas: &[Replica]) -> Result<(), String> {
        if let Some(map) = &self.owners {
            let mut want: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
            for (i, rep) in replicas.iter().enumerate() {
                for key in rep.first_units() {
                    want.entry(key).or_default().push(i as u32);
                }
            }
            let have: std::collections::BTreeMap<u64, Vec<u32>> =
                map.iter().map(|(&k, v)| (k, v.clone())).collect();
            if want != have {
                return Err(format!(
                    "fleet index: {} first units indexed, {} cached",
                    have.len(),
                    want.len()
                ));
            }
        }
        if let Some(t) = &self.loads {
            for (i, rep) in replicas.iter().enumerate() {
                if t.get(i) != rep.outstanding() {
                    return Err(format!(
                        "fleet index: replica {i} indexed with {} outstanding, has {}",
                        t.get(i),
                        rep.outstanding()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A fixed fleet's replicas with their [`FleetIndex`] if they keep one, as routers see them.
#[derive(Debug)]
pub struct IndexedFleet<'a> {
    /// The replicas.
    pub replicas: &'a [Replica],
    /// Their index.
    pub index: Option<&'a FleetIndex>,
}

impl FleetView for IndexedFleet<'_> {
    fn len(&self) -> usize {
        self.replicas.len()
    }
    fn get(&self, i: usize) -> &dyn ReplicaView {
        &self.replicas[i]
    }
    fn holders(&self, key: u64) -> Option<&[u32]> {
        let map = self.index?.owners.as_ref()?;
        Some(map.get(&key).map_or(&[], |v| v.as_slice()))
    }
    fn least_loaded(&self) -> Option<usize> {
        self.index?.loads.as_ref().map(MinTree::argmin)
    }
}

/// Values at positions `0..n` in a complete binary tree of minima: setting one costs
/// O(log n), the first position holding the least value O(log n).
#[derive(Debug)]
struct MinTree {
    /// Leaves at `size..size + n` (the rest `usize::MAX`); node `k` holds the least of its
    /// children `2k` and `2k + 1`.
    node: Vec<usize>,
    size: usize,
}

impl MinTree {
    fn new(values: impl ExactSizeIterator<Item = usize>) -> MinTree {
        let size = values.len().next_power_of_two().max(1);
        let mut node = vec![usize::MAX; 2 * size];
        for (i, v) in values.enumerate() {
            node[size + i] = v;
        }
        for k in (1..size).rev() {
            node[k] = node[2 * k].min(node[2 * k + 1]);
        }
        MinTree { node, size }
    }

    fn get(&self, i: usize) -> usize {
        self.node[self.size + i]
    }

    #[inline]
    fn set(&mut self, i: usize, v: usize) {
        let mut k = self.size + i;
        if self.node[k] == v {
            return;
        }
        self.node[k] = v;
        while k > 1 {
            k /= 2;
            let m = self.node[2 * k].min(self.node[2 * k + 1]);
            if self.node[k] == m {
                break;
            }
            self.node[k] = m;
        }
    }

    /// The first position holding the least value.
    fn argmin(&self) -> usize {
        let mut k = 1;
        while k < self.size {
            k = if self.node[2 * k] <= self.node[2 * k + 1] {
                2 * k
            } else {
                2 * k + 1
            };
        }
        k - self.size
    }
}

#[cfg(test)]
mod tests {
    use super::MinTree;
    use rand::{Rng, SeedableRng};

    /// The tree's least position is a scan's (the first of equals) after every change.
    #[test]
    fn the_tree_finds_what_a_scan_finds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for n in [1usize, 2, 3, 7, 8, 9, 100] {
            let mut v: Vec<usize> = (0..n).map(|_| rng.gen_range(0..4)).collect();
            let mut t = MinTree::new(v.iter().copied());
            for _ in 0..2000 {
                let (i, x) = (rng.gen_range(0..n), rng.gen_range(0..4));
                v[i] = x;
                t.set(i, x);
                let scan = (0..n).fold(0, |b, j| if v[j] < v[b] { j } else { b });
                assert_eq!(t.argmin(), scan, "n {n}: {v:?}");
                assert_eq!(t.get(i), x);
            }
        }
    }
}
