//! A streamed simulation: requests come from an iterator in arrival order and are kept only
//! while they, or an earlier request, are in flight; each finished request is handed to a
//! callback (in id order) and dropped. Memory is bounded by what is in flight, not by the
//! trace.
//!
//! It runs the same events in the same order as [`super::Simulation`] on a fixed fleet of
//! open-loop requests (the arrival of the next request is scheduled before the current one is
//! routed, as there; steps that end before the next arrival are ended ahead of the queue, as
//! there), so a streamed run simulates exactly what an in-memory one does; only what is kept
//! of each request differs. Closed-loop clients, concurrency limits, elastic
//! pools and timelines are not streamed.

use super::index::{FleetIndex, IndexedFleet};
use super::sim::Event;
use super::Router;
use crate::engine::EventQueue;
use crate::error::{Error, Result};
use crate::metrics::{Recorder, ReplicaTotals, RequestRecord, Status};
use crate::serving::{Replica, StepOutcome};
use crate::time::SimTime;
use crate::workload::{Reqs, Request};

/// Finished requests at the front of the window are dropped in batches of at least this many.
const DRAIN_AT: usize = 4096;

/// What a finished streamed simulation hands back.
#[derive(Debug)]
pub struct StreamOutput {
    /// Aggregate counters and the inter-token histogram (its per-request records are gone).
    pub recorder: Recorder,
    /// What each replica did.
    pub replicas: Vec<ReplicaTotals>,
    /// End of the simulated span (the horizon when one was set, else the last event).
    pub end: SimTime,
    /// Requests pulled from the source (arrived, or the one due after the horizon).
    pub requests: u64,
    /// Most requests held at once (in flight, or finished behind an earlier one in flight).
    pub peak_window: usize,
    /// The run stopped early because more than its window limit were held (see
    /// [`StreamSimulation::with_max_window`]).
    pub stopped: bool,
}

/// A streamed simulation of `replicas` behind `router`.
pub struct StreamSimulation<'a> {
    source: &'a mut dyn Iterator<Item = Result<Request>>,
    next: Option<Request>,
    /// Requests with ids `rec.base()..`, and how many at the front were handed out already.
    reqs: Vec<Request>,
    handed: usize,
    replicas: Vec<Replica>,
    router: Box<dyn Router>,
    /// As [`super::Simulation`]'s: what the router reads of the replicas.
    index: Option<FleetIndex>,
    /// As [`super::Simulation`]'s.
    index_from: usize,
    queue: EventQueue<Event>,
    rec: Recorder,
    horizon: Option<SimTime>,
    done: Vec<u32>,
    pulled: u64,
    last_arrival: SimTime,
    peak_window: usize,
    max_window: usize,
    /// Time of the latest step end handled ahead of the queue.
    ran_to: SimTime,
    /// When the arrival in the queue is due (`SimTime::MAX` when none is).
    next_open: SimTime,
    /// Set by [`StreamSimulation::without_run_ahead`].
    no_run_ahead: bool,
}

impl std::fmt::Debug for StreamSimulation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSimulation")
            .field("window", &self.reqs.len())
            .field("replicas", &self.replicas)
            .field("pulled", &self.pulled)
            .finish_non_exhaustive()
    }
}

fn finished(s: Status) -> bool {
    matches!(s, Status::Completed | Status::Rejected(_) | Status::Spilled)
}

impl<'a> StreamSimulation<'a> {
    /// A simulation of `replicas` behind `router` serving the requests of `source` (ids from 0
    /// in arrival order, open loop), stopping at `horizon` if given.
    pub fn new(
        source: &'a mut dyn Iterator<Item = Result<Request>>,
        replicas: Vec<Replica>,
        router: Box<dyn Router>,
        horizon: Option<SimTime>,
    ) -> Self {
        assert!(
            !replicas.is_empty(),
            "a simulation needs at least one replica"
        );
        StreamSimulation {
            source,
            next: None,
            reqs: Vec::new(),
            handed: 0,
            replicas,
            router,
            index: None,
            index_from: FleetIndex::MIN_REPLICAS,
            queue: EventQueue::new(),
            rec: Recorder::new(std::iter::empty()),
            horizon,
            done: Vec::new(),
            pulled: 0,
            last_arrival: SimTime::ZERO,
            peak_window: 0,
            max_window: usize::MAX,
            ran_to: SimTime::ZERO,
            next_open: SimTime::MAX,
            no_run_ahead: false,
        }
    }

    /// Stops the run (with [`StreamOutput::stopped`]) once more than `n` requests are held: a
    /// fleet that falls behind holds ever more, so this bounds memory where the figures of an
    /// overloaded run are not needed.
    pub fn with_max_window(mut self, n: usize) -> Self {
        self.max_window = n;
        self
    }

    /// Sends every step end through the event queue (for tests that compare; the outputs are
    /// the same).
    pub fn without_run_ahead(mut self) -> Self {
        self.no_run_ahead = true;
        self
    }

    /// Routes without a [`FleetIndex`] (for tests that compare; the outputs are the same).
    pub fn without_fleet_index(mut self) -> Self {
        self.index_from = usize::MAX;
        self
    }

    /// Keeps a [`FleetIndex`] for a fleet of any size (for tests that compare).
    pub fn with_fleet_index(mut self) -> Self {
        self.index_from = 0;
        self
    }

    /// Pulls the next request from the source, checking its id and order.
    fn pull(&mut self) -> Result<Option<Request>> {
        let Some(r) = self.source.next().transpose()? else {
            return Ok(None);
        };
        if r.id != self.pulled {
            return Err(Error::config(
                "workload",
                format!(
                    "a streamed workload must number its requests 0, 1, 2, ... in order; request {} came {}th",
                    r.id, self.pulled
                ),
            ));
        }
        if r.follows.is_some() {
            return Err(Error::config(
                "workload",
                "closed-loop requests (conversation turns sent after the previous answer) cannot be streamed: run without --stream",
            ));
        }
        if r.arrival < self.last_arrival {
            return Err(Error::config(
                "workload",
                format!(
                    "request {} arrives at {} s, before the previous one ({} s): a streamed workload must be sorted by arrival time",
                    r.id,
                    r.arrival.as_secs_f64(),
                    self.last_arrival.as_secs_f64()
                ),
            ));
        }
        self.last_arrival = r.arrival;
        self.pulled += 1;
        Ok(Some(r))
    }

    /// Runs to completion (or the horizon), handing each request with its record to `retire`
    /// in id order once it and every earlier request are finished, and the rest (unfinished at
    /// the horizon) at the end. An error from the source or from `retire` stops the run.
    pub fn run(
        mut self,
        retire: &mut dyn FnMut(&Request, &RequestRecord) -> Result<()>,
    ) -> Result<StreamOutput> {
        self.index =
            FleetIndex::for_router(self.router.as_ref(), &mut self.replicas, self.index_from);
        self.next = self.pull()?;
        if let Some(r) = &self.next {
            self.queue.push(r.arrival, Event::Arrival(0));
            self.next_open = r.arrival;
        }
        let mut now = SimTime::ZERO;
        let mut stopped = false;
        while let Some(t) = self.queue.peek_time() {
            if self.reqs.len() > self.max_window {
                stopped = true;
                break;
            }
            if self.horizon.is_some_and(|h| t > h) {
                break;
            }
            let (t, ev) = self.queue.pop().expect("peeked");
            now = t;
            self.rec.events += 1;
            match ev {
                Event::Arrival(_) => {
                    let req = self.next.take().expect("an arrival is pulled");
                    self.next = self.pull()?;
                    self.next_open = SimTime::MAX;
                    if let Some(n) = &self.next {
                        self.next_open = n.arrival.max(now);
                        self.queue.push(self.next_open, Event::Arrival(0));
                    }
                    self.arrive(now, req);
                }
                Event::StepEnd(r) => {
                    let reqs = Reqs {
                        base: self.rec.base(),
                        slice: &self.reqs,
                    };
                    let rep = &mut self.replicas[r as usize];
                    rep.finish_step(now, reqs, &mut self.rec, &mut self.done);
                    if let Some(x) = &mut self.index {
                        x.sync(r, rep);
                    }
                    self.try_start(now, r);
                }
                _ => unreachable!("a fixed open-loop fleet has no other events"),
            }
            self.done.clear();
            self.hand_out(retire)?;
        }
        let end = self.horizon.unwrap_or(now.max(self.ran_to));
        self.rec.close(end);
        for rep in &self.replicas {
            rep.flush_progress(&mut self.rec);
        }
        // Requests left at the horizon, finished or not, in id order.
        for i in self.handed..self.reqs.len() {
            retire(&self.reqs[i], &self.rec.records[i])?;
        }
        let n = self.reqs.len();
        self.reqs.clear();
        self.rec.retire(n);
        Ok(StreamOutput {
            recorder: self.rec,
            replicas: self.replicas.iter().map(Replica::totals).collect(),
            end,
            requests: self.pulled,
            peak_window: self.peak_window,
            stopped,
        })
    }

    fn arrive(&mut self, now: SimTime, req: Request) {
        self.drain();
        let id = self.rec.open(req.arrival);
        debug_assert_eq!(id as u64, req.id);
        let view = IndexedFleet {
            replicas: &self.replicas,
            index: self.index.as_ref(),
        };
        let r = self.router.route(&req, &view).min(self.replicas.len() - 1) as u32;
        self.reqs.push(req);
        self.peak_window = self.peak_window.max(self.reqs.len());
        self.rec.arrived(id, r, now);
        let req = self.reqs.last().expect("just pushed");
        let queued = self.replicas[r as usize].enqueue(id as u32, req);
        if let Some(x) = &mut self.index {
            x.sync(r, &mut self.replicas[r as usize]);
        }
        match queued {
            Ok(()) => {
                if !self.replicas[r as usize].is_busy() {
                    self.try_start(now, r);
                }
            }
            Err(why) => self.rec.rejected(id, now, why),
        }
    }

    /// Starts replica `r`'s next step at `now` and schedules its end; a step that ends before
    /// the next arrival (and within the horizon) is ended at once, as [`super::Simulation`]
    /// does (see its `step_on`). The window changes only as requests arrive, so it is the
    /// same at every arrival either way; while it is over its limit nothing runs ahead, so the
    /// run stops where it would have.
    fn try_start(&mut self, mut now: SimTime, r: u32) {
        let bound = match self.horizon {
            _ if self.no_run_ahead => SimTime::ZERO,
            Some(h) => self.next_open.min(h + SimTime::from_nanos(1)),
            None => self.next_open,
        };
        loop {
            let reqs = Reqs {
                base: self.rec.base(),
                slice: &self.reqs,
            };
            let rep = &mut self.replicas[r as usize];
            let outcome = rep.start_step(now, reqs, &mut self.rec);
            if let Some(x) = &mut self.index {
                x.sync_cache(r, rep);
            }
            let StepOutcome::Started(end) = outcome else {
                return;
            };
            // Queued when it reaches the next event, or while the window is over its limit
            // (the run loop then stops before the next event).
            if end >= bound || self.reqs.len() > self.max_window {
                self.queue.push(end, Event::StepEnd(r));
                return;
            }
            now = end;
            self.ran_to = self.ran_to.max(now);
            self.rec.events += 1;
            let reqs = Reqs {
                base: self.rec.base(),
                slice: &self.reqs,
            };
            let rep = &mut self.replicas[r as usize];
            rep.finish_step(now, reqs, &mut self.rec, &mut self.done);
            if let Some(x) = &mut self.index {
                x.sync(r, rep);
            }
        }
    }

    /// Hands out the finished requests at the front of the window.
    fn hand_out(
        &mut self,
        retire: &mut dyn FnMut(&Request, &RequestRecord) -> Result<()>,
    ) -> Result<()> {
        while self.handed < self.reqs.len() && finished(self.rec.records[self.handed].status) {
            retire(&self.reqs[self.handed], &self.rec.records[self.handed])?;
            self.handed += 1;
        }
        Ok(())
    }

    /// Drops the requests handed out, in batches. Called only as a request arrives, so the
    /// window depends on which requests are finished by then, not on the order in which step
    /// ends at other times were handled.
    fn drain(&mut self) {
        if self.handed >= DRAIN_AT && 2 * self.handed >= self.reqs.len() {
            self.reqs.drain(..self.handed);
            self.rec.retire(self.handed);
            self.handed = 0;
        }
    }
}
