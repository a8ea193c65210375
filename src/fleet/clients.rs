//! The clients: who sends which request when. Open-loop requests arrive on their own, fed to the
//! event queue one at a time (the next is pushed when the previous one is handled); closed-loop
//! requests (the next turn of a conversation) are sent when the request they follow finishes,
//! plus its think time; and a benchmark client's `max_concurrency` holds requests back while
//! that many are in flight (a held request's arrival time becomes its earliest send time).

use std::collections::VecDeque;

use crate::time::SimTime;
use crate::workload::Request;

const NONE: u32 = u32::MAX;

/// The client side of a simulation.
#[derive(Debug)]
pub(crate) struct Clients {
    /// Indices of requests that arrive on their own, in arrival order.
    open: Vec<u32>,
    /// follower[i]: the request that follows request i, or NONE.
    follower: Vec<u32>,
    /// Closed-loop client limit (`max_concurrency`): at most this many requests in flight.
    max_in_flight: Option<u32>,
    in_flight: u32,
    /// Requests due but held back by the limit, in order.
    held: VecDeque<u32>,
}

impl Clients {
    /// The clients of `requests` (sorted by arrival, `id` = index).
    pub(crate) fn new(requests: &[Request]) -> Clients {
        assert!(requests.len() < NONE as usize, "too many requests");
        let mut follower = vec![NONE; requests.len()];
        let mut open = Vec::with_capacity(requests.len());
        for (i, r) in requests.iter().enumerate() {
            match r.follows {
                Some(f) if (f.prev as usize) < i => follower[f.prev as usize] = i as u32,
                _ => open.push(i as u32),
            }
        }
        Clients {
            open,
            follower,
            max_in_flight: None,
            in_flight: 0,
            held: VecDeque::new(),
        }
    }

    /// Whether every request arrives on its own (no follow-ups, no concurrency limit): what a
    /// request's end does then changes nothing for the others.
    pub(crate) fn is_open_loop(&self) -> bool {
        self.max_in_flight.is_none() && self.open.len() == self.follower.len()
    }

    /// Holds requests back so that at most `n` are in flight.
    pub(crate) fn set_max_concurrency(&mut self, n: Option<u32>) {
        self.max_in_flight = n;
    }

    /// When the first open-loop request arrives (its position in the open list is 0).
    pub(crate) fn first_arrival(&self, requests: &[Request]) -> Option<SimTime> {
        self.open.first().map(|&i| requests[i as usize].arrival)
    }

    /// The open-loop request at position `pos` arrives at `now`: its index, and when the next
    /// open-loop request (position `pos + 1`) arrives, if there is one.
    pub(crate) fn open_arrival(
        &self,
        pos: u32,
        now: SimTime,
        requests: &[Request],
    ) -> (u32, Option<SimTime>) {
        let i = self.open[pos as usize];
        let next = self
            .open
            .get(pos as usize + 1)
            .map(|&n| requests[n as usize].arrival.max(now));
        (i, next)
    }

    /// Request `i` is due: true when it may be sent now (it then counts as in flight), false
    /// when the concurrency limit holds it back.
    pub(crate) fn send_or_hold(&mut self, i: u32) -> bool {
        if self.max_in_flight.is_some_and(|m| self.in_flight >= m) {
            self.held.push_back(i);
            return false;
        }
        self.in_flight += 1;
        true
    }

    /// Request `i` finished (completed or rejected) at `now`: its client slot is free, and the
    /// request that follows it, if any, is due at the returned time.
    pub(crate) fn finished(
        &mut self,
        i: u32,
        now: SimTime,
        requests: &[Request],
    ) -> Option<(SimTime, u32)> {
        self.in_flight -= 1;
        let f = self.follower[i as usize];
        (f != NONE).then(|| {
            let think = requests[f as usize]
                .follows
                .map(|x| x.think)
                .unwrap_or_default();
            (now + think, f)
        })
    }

    /// The oldest held request, when a client slot is free for it (it then counts as in
    /// flight).
    pub(crate) fn release_held(&mut self) -> Option<u32> {
        let free = self.max_in_flight.is_none_or(|m| self.in_flight < m);
        if !free {
            return None;
        }
        let i = self.held.pop_front()?;
        self.in_flight += 1;
        Some(i)
    }
}
