//! The event queue. Events at the same time come out in the order they were pushed: the one
//! `Ord` below, on (time, insertion sequence), is the only ordering in the simulator.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::time::SimTime;

#[derive(Debug)]
struct Entry<E> {
    time: SimTime,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.time == other.time && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed so the max-heap pops the earliest (time, seq) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// A priority queue of events by (time, insertion sequence).
///
/// The earliest event is often the one just pushed (a lone replica's next step end): it is kept
/// beside the heap, so that such a push and the pop after it touch no heap. `head`, when
/// set, is earlier than everything in the heap, so pops come out in the same order either way.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    head: Option<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            head: None,
            next_seq: 0,
        }
    }
}

fn earlier<E>(a: &Entry<E>, b: &Entry<E>) -> bool {
    (a.time, a.seq) < (b.time, b.seq)
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    pub fn push(&mut self, time: SimTime, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let e = Entry { time, seq, event };
        match &self.head {
            None => {
                if self.heap.peek().is_none_or(|m| earlier(&e, m)) {
                    self.head = Some(e);
                } else {
                    self.heap.push(e);
                }
            }
            Some(h) => {
                if earlier(&e, h) {
                    let old = self.head.replace(e).expect("checked");
                    self.heap.push(old);
                } else {
                    self.heap.push(e);
                }
            }
        }
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        self.head
            .take()
            .or_else(|| self.heap.pop())
            .map(|e| (e.time, e.event))
    }

    /// Time of the earliest event.
    pub fn peek_time(&self) -> Option<SimTime> {
        self.head
            .as_ref()
            .or_else(|| self.heap.peek())
            .map(|e| e.time)
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len() + self.head.is_some() as usize
    }

    /// Whether no events are pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_pop_in_insertion_order() {
        let mut q = EventQueue::new();
        q.push(SimTime(5), "b");
        q.push(SimTime(1), "a");
        q.push(SimTime(5), "c");
        q.push(SimTime(5), "d");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn pops_in_time_then_push_order_whatever_the_interleaving() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut q = EventQueue::new();
        let mut model: Vec<(u64, u64)> = Vec::new();
        let mut seq = 0u64;
        for _ in 0..20_000 {
            if rng.gen_bool(0.55) || model.is_empty() {
                let t = rng.gen_range(0..50u64);
                q.push(SimTime(t), seq);
                model.push((t, seq));
                seq += 1;
            } else {
                model.sort();
                let (t, s) = model.remove(0);
                assert_eq!(q.peek_time(), Some(SimTime(t)));
                assert_eq!(q.pop(), Some((SimTime(t), s)));
            }
            assert_eq!(q.len(), model.len());
        }
    }
}
