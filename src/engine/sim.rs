//! The simulation loop. Arrivals are fed one at a time (the next arrival is pushed when the
//! previous one is handled), so the queue holds at most one arrival plus one step end per replica.

use super::queue::EventQueue;
use crate::metrics::Recorder;
use crate::serving::{Replica, StepOutcome};
use crate::time::SimTime;
use crate::workload::Request;

/// The closed set of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Request with this index arrives.
    Arrival(u32),
    /// The step in flight on this replica ends.
    StepEnd(u32),
}

/// A simulation of a set of replicas serving a list of requests.
pub struct Simulation<'a> {
    requests: &'a [Request],
    replicas: Vec<Replica>,
    queue: EventQueue<Event>,
    rec: Recorder,
    horizon: Option<SimTime>,
}

/// What a finished simulation hands back.
pub struct SimOutput {
    /// Per-request records and samples.
    pub recorder: Recorder,
    /// The replicas in their final state (busy time, KV peaks, preemptions).
    pub replicas: Vec<Replica>,
    /// End of the simulated span (the horizon when one was set, else the last event).
    pub end: SimTime,
}

impl<'a> Simulation<'a> {
    /// A simulation of `replicas` serving `requests` (sorted by arrival, `id` = index), stopping
    /// at `horizon` if given. Requests are spread over replicas round-robin.
    pub fn new(requests: &'a [Request], replicas: Vec<Replica>, horizon: Option<SimTime>) -> Self {
        assert!(
            !replicas.is_empty(),
            "a simulation needs at least one replica"
        );
        assert!(requests.len() < u32::MAX as usize, "too many requests");
        Simulation {
            requests,
            replicas,
            queue: EventQueue::new(),
            rec: Recorder::new(requests.iter().map(|r| r.arrival)),
            horizon,
        }
    }

    /// Runs to completion (or the horizon).
    pub fn run(mut self) -> SimOutput {
        if let Some(first) = self.requests.first() {
            self.queue.push(first.arrival, Event::Arrival(0));
        }
        let mut now = SimTime::ZERO;
        while let Some(t) = self.queue.peek_time() {
            if self.horizon.is_some_and(|h| t > h) {
                break;
            }
            let (t, ev) = self.queue.pop().expect("peeked");
            now = t;
            self.rec.events += 1;
            match ev {
                Event::Arrival(i) => self.on_arrival(now, i),
                Event::StepEnd(r) => {
                    let rep = &mut self.replicas[r as usize];
                    rep.finish_step(now, &mut self.rec);
                    self.try_start(now, r);
                }
            }
        }
        let end = self.horizon.unwrap_or(now);
        self.rec.close(end);
        for rep in &self.replicas {
            rep.flush_progress(&mut self.rec);
        }
        SimOutput {
            recorder: self.rec,
            replicas: self.replicas,
            end,
        }
    }

    fn on_arrival(&mut self, now: SimTime, i: u32) {
        let n = self.replicas.len() as u32;
        let r = i % n;
        let req = &self.requests[i as usize];
        self.rec.arrived(i as usize, r, now);
        match self.replicas[r as usize].enqueue(i, req) {
            Ok(()) => {
                if !self.replicas[r as usize].is_busy() {
                    self.try_start(now, r);
                }
            }
            Err(why) => self.rec.rejected(i as usize, now, why),
        }
        if let Some(next) = self.requests.get(i as usize + 1) {
            self.queue
                .push(next.arrival.max(now), Event::Arrival(i + 1));
        }
    }

    fn try_start(&mut self, now: SimTime, r: u32) {
        let rep = &mut self.replicas[r as usize];
        if let StepOutcome::Started(end) = rep.start_step(now, self.requests, &mut self.rec) {
            self.queue.push(end, Event::StepEnd(r));
        }
    }
}
