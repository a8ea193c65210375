//! The KV block pool of one replica: a fixed number of blocks, counted out to running requests.

/// Blocks of KV cache: how many exist and how many are free.
#[derive(Clone, Debug)]
pub struct BlockPool {
    total: u64,
    free: u64,
    peak_used: u64,
}

impl BlockPool {
    /// A pool of `total` blocks, all free.
    pub fn new(total: u64) -> BlockPool {
        BlockPool {
            total,
            free: total,
            peak_used: 0,
        }
    }

    /// All blocks.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Free blocks.
    pub fn free(&self) -> u64 {
        self.free
    }

    /// Blocks in use.
    pub fn used(&self) -> u64 {
        self.total - self.free
    }

    /// Most blocks ever in use at once.
    pub fn peak_used(&self) -> u64 {
        self.peak_used
    }

    /// Takes `n` blocks if that many are free.
    pub fn allocate(&mut self, n: u64) -> bool {
        if n > self.free {
            return false;
        }
        self.free -= n;
        self.peak_used = self.peak_used.max(self.total - self.free);
        true
    }

    /// Returns `n` blocks.
    pub fn release(&mut self, n: u64) {
        debug_assert!(
            self.free + n <= self.total,
            "released more blocks than allocated"
        );
        self.free = (self.free + n).min(self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocate_and_release_track_peak() {
        let mut p = BlockPool::new(10);
        assert!(p.allocate(7));
        assert!(!p.allocate(4));
        p.release(5);
        assert!(p.allocate(4));
        assert_eq!((p.used(), p.free(), p.peak_used()), (6, 4, 7));
    }
}
