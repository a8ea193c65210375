//! The running batch: requests by admission sequence number, found in O(1) (the decoder
//! buckets and the finish heap name them by sequence number every step), kept in admission
//! order for preemption (the newest goes first) and for reports.

use super::sequence::Running;

/// Running requests by sequence number.
#[derive(Clone, Debug, Default)]
pub(super) struct Runs {
    slots: Vec<Option<Running>>,
    free: Vec<u32>,
    /// Slot by spread sequence number ([`spread`]).
    index: crate::serving::U64Map<u32>,
    /// Sequence numbers in admission order (increasing), with those since removed left in
    /// until they are at the end or outnumber the live ones.
    order: Vec<u64>,
}

/// Sequence numbers are consecutive: one multiplication by an odd constant (a bijection)
/// spreads them over all 64 bits for the identity-hashed index.
fn spread(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Runs {
    /// Running requests.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The request with sequence number `seq`.
    pub(super) fn get(&self, seq: &u64) -> Option<&Running> {
        let &s = self.index.get(&spread(*seq))?;
        self.slots[s as usize].as_ref()
    }

    /// The request with sequence number `seq`, to change.
    pub(super) fn get_mut(&mut self, seq: &u64) -> Option<&mut Running> {
        let &s = self.index.get(&spread(*seq))?;
        self.slots[s as usize].as_mut()
    }

    /// Adds request `seq`, newer than every one running.
    pub(super) fn insert(&mut self, seq: u64, run: Running) {
        debug_assert!(self.order.last().is_none_or(|&l| l < seq));
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(run);
                s
            }
            None => {
                self.slots.push(Some(run));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(spread(seq), s);
        self.order.push(seq);
    }

    /// Removes request `seq`.
    pub(super) fn remove(&mut self, seq: &u64) -> Option<Running> {
        let s = self.index.remove(&spread(*seq))?;
        self.free.push(s);
        let run = self.slots[s as usize].take();
        while self
            .order
            .last()
            .is_some_and(|l| !self.index.contains_key(&spread(*l)))
        {
            self.order.pop();
        }
        if self.order.len() > 2 * self.index.len() + 64 {
            let index = &self.index;
            self.order.retain(|l| index.contains_key(&spread(*l)));
        }
        run
    }

    /// The newest request.
    pub(super) fn last_key_value(&self) -> Option<(&u64, &Running)> {
        let seq = self.order.last()?;
        Some((seq, self.get(seq).expect("the last in order runs")))
    }

    /// Requests in admission order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&u64, &Running)> {
        self.order
            .iter()
            .filter_map(move |seq| self.get(seq).map(|r| (seq, r)))
    }

    /// Requests in admission order.
    pub(super) fn values(&self) -> impl Iterator<Item = &Running> {
        self.iter().map(|(_, r)| r)
    }

    /// Takes every request out, in admission order.
    pub(super) fn drain(&mut self) -> Vec<Running> {
        let order = std::mem::take(&mut self.order);
        let out = order.iter().filter_map(|seq| self.remove(seq)).collect();
        *self = Runs::default();
        out
    }
}

impl std::ops::Index<&u64> for Runs {
    type Output = Running;
    fn index(&self, seq: &u64) -> &Running {
        self.get(seq).expect("a running request")
    }
}
