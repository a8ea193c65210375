//! The simulation loop: arrivals (from the clients, `fleet/clients.rs`) are routed to replicas, which run
//! steps until every request is served or the horizon is reached. The queue holds at most one
//! open arrival, the pending follow-ups and one step end per replica.

mod elastic;

use self::elastic::Elastic;
pub use self::elastic::{ElasticOutput, OverflowRun, PoolRun, ReplicaLife, SpotRun};
use super::clients::Clients;
use super::index::{FleetIndex, IndexedFleet};
use super::Router;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::engine::EventQueue;
use crate::metrics::{Recorder, ReplicaTotals, Summary, Timeline, TimelineRecorder};
use crate::serving::{Replica, StepOutcome};
use crate::time::SimTime;
use crate::workload::{Reqs, Request};

/// The closed set of events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The open-loop request at this position of the open list arrives.
    Arrival(u32),
    /// The closed-loop request with this index arrives.
    FollowUp(u32),
    /// The step in flight on this replica ends.
    StepEnd(u32),
    /// A pool's autoscaler decides (elastic fleets).
    Scale(u32),
    /// A replica's cold start ends (replica, incarnation).
    Ready(u32, u32),
    /// A spot replica's interruption notice (replica, incarnation).
    Notice(u32, u32),
    /// A spot replica is reclaimed (replica, incarnation).
    Interrupt(u32, u32),
    /// The overflow API finishes this request.
    ApiDone(u32),
    /// A fixed pool starts a replica in place of a reclaimed spot replica.
    Replace(u32),
}

/// A simulation of a set of replicas serving a list of requests.
pub struct Simulation<'a> {
    requests: &'a [Request],
    replicas: Vec<Replica>,
    router: Option<Box<dyn Router>>,
    /// What the router reads of the replicas, in a fixed fleet (kept from the start of
    /// [`Simulation::run`]).
    index: Option<FleetIndex>,
    /// The fewest replicas kept indexed ([`FleetIndex::MIN_REPLICAS`]; changed by
    /// [`Simulation::with_fleet_index`] and [`Simulation::without_fleet_index`]).
    index_from: usize,
    queue: EventQueue<Event>,
    rec: Recorder,
    horizon: Option<SimTime>,
    clients: Clients,
    /// Requests finished (completed or rejected) by the last event, in order.
    done: Vec<u32>,
    check: bool,
    timeline: Option<TimelineRecorder>,
    /// Requests finished (completed or rejected) so far.
    finished: u64,
    /// Called every [`PROGRESS_EVERY`] events with the simulated time and requests finished.
    progress: Option<Box<dyn FnMut(SimTime, u64) + 'a>>,
    /// Pools, autoscalers, spot interruptions and overflow (none: a fixed fleet).
    elastic: Option<Elastic<'a>>,
    /// Replicas may run steps ahead of the event queue (see `Simulation::step_on`): open-loop
    /// clients, no timeline, not switched off by [`Simulation::without_run_ahead`].
    run_ahead: bool,
    /// When the open-loop arrival in the queue is due (`SimTime::MAX` when none is).
    next_open: SimTime,
    /// Times of the queued events other than step ends and open-loop arrivals (an elastic
    /// fleet's decisions, cold starts, interruptions, API answers), earliest first: replicas
    /// run ahead only up to the earliest.
    others: BinaryHeap<Reverse<SimTime>>,
    /// Time of the latest step end handled ahead of the queue.
    ran_to: SimTime,
    /// Step ends handled ahead of the queue.
    steps_run_ahead: u64,
    /// Events at which the progress callback is next called.
    progress_at: u64,
    /// Set by [`Simulation::without_run_ahead`].
    no_run_ahead: bool,
}

/// Events between calls of a simulation's progress callback.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// What a finished simulation hands back.
#[derive(Debug)]
pub struct SimOutput {
    /// Per-request records and samples.
    pub recorder: Recorder,
    /// What each replica did (busy time, steps, KV peaks, preemptions, prefix hits).
    pub replicas: Vec<ReplicaTotals>,
    /// End of the simulated span (the horizon when one was set, else the last event).
    pub end: SimTime,
    /// Binned time series, when asked for.
    pub timeline: Option<Timeline>,
    /// Step ends handled ahead of the event queue (see [`Simulation::without_run_ahead`]);
    /// they are counted in `recorder.events` like the others.
    pub steps_run_ahead: u64,
    /// Replica lives and spills of an elastic fleet (none for a fixed one).
    pub elastic: Option<ElasticOutput>,
}

impl std::fmt::Debug for Simulation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("requests", &self.requests.len())
            .field("replicas", &self.replicas)
            .field("horizon", &self.horizon)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl SimOutput {
    /// The summary of this run (`requests`: the simulated requests; `gpus_per_replica`: the
    /// tensor-parallel degree). Capacity, stability, SLO and cost are left for the caller.
    pub fn summarize(&self, requests: &[Request], gpus_per_replica: u32) -> Summary {
        Summary::new(
            &self.recorder,
            &self.replicas,
            self.end,
            requests,
            gpus_per_replica,
        )
    }
}

impl<'a> Simulation<'a> {
    /// A simulation of `replicas` serving `requests` (sorted by arrival, `id` = index), stopping
    /// at `horizon` if given. Without a router ([`Simulation::with_router`]) requests are spread
    /// over replicas by request index, round-robin.
    pub fn new(requests: &'a [Request], replicas: Vec<Replica>, horizon: Option<SimTime>) -> Self {
        assert!(
            !replicas.is_empty(),
            "a simulation needs at least one replica (an elastic fleet may start with none)"
        );
        Self::with_replicas(requests, replicas, horizon)
    }

    fn with_replicas(
        requests: &'a [Request],
        replicas: Vec<Replica>,
        horizon: Option<SimTime>,
    ) -> Self {
        Simulation {
            requests,
            replicas,
            router: None,
            index: None,
            index_from: FleetIndex::MIN_REPLICAS,
            queue: EventQueue::new(),
            rec: Recorder::new(requests.iter().map(|r| r.arrival)),
            horizon,
            clients: Clients::new(requests),
            done: Vec::new(),
            check: false,
            timeline: None,
            finished: 0,
            progress: None,
            elastic: None,
            run_ahead: false,
            next_open: SimTime::MAX,
            others: BinaryHeap::new(),
            ran_to: SimTime::ZERO,
            steps_run_ahead: 0,
            progress_at: PROGRESS_EVERY,
            no_run_ahead: false,
        }
    }

    /// A simulation of an elastic fleet: `pools` start with their initial replicas, autoscale,
    /// and lose spot replicas; `overflow` sends requests to an API; `seed` drives spot
    /// interruptions.
    pub fn elastic(
        requests: &'a [Request],
        pools: Vec<PoolRun<'a>>,
        overflow: Option<OverflowRun>,
        horizon: Option<SimTime>,
        seed: u64,
    ) -> Self {
        let mut sim = Self::with_replicas(requests, Vec::new(), horizon);
        sim.elastic = Some(Elastic::new(pools, overflow, seed));
        sim.start_pools();
        sim
    }

    /// Reports progress to `f` (simulated time, requests finished) every [`PROGRESS_EVERY`]
    /// events; it cannot change the simulation.
    pub fn with_progress(mut self, f: Box<dyn FnMut(SimTime, u64) + 'a>) -> Self {
        self.progress = Some(f);
        self
    }

    /// Holds requests back so that at most `n` are in flight, as a benchmark client with
    /// `--max-concurrency n` does: a request's arrival time becomes its earliest send time.
    pub fn with_max_concurrency(mut self, n: Option<u32>) -> Self {
        self.clients.set_max_concurrency(n);
        self
    }

    /// Records a timeline in bins of `bin` (costs a pass over the replicas per event).
    pub fn with_timeline(mut self, bin: SimTime) -> Self {
        self.timeline = Some(TimelineRecorder::new(bin));
        self
    }

    /// Routes arrivals with `router`.
    pub fn with_router(mut self, router: Box<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// Sends every step end through the event queue, as if replicas could not run ahead (for
    /// tests that compare the two; the outputs are the same).
    pub fn without_run_ahead(mut self) -> Self {
        self.no_run_ahead = true;
        self
    }

    /// Lets the router ask every replica for each request, without a [`FleetIndex`] (for
    /// tests that compare the two; the outputs are the same).
    pub fn without_fleet_index(mut self) -> Self {
        self.index_from = usize::MAX;
        self
    }

    /// Keeps a [`FleetIndex`] for a fleet of any size (for tests that compare; the outputs
    /// are the same).
    pub fn with_fleet_index(mut self) -> Self {
        self.index_from = 0;
        self
    }

    /// Checks every replica's invariants after every step (slow; for tests), panicking with the
    /// violation.
    pub fn with_invariant_checks(mut self) -> Self {
        self.check = true;
        self
    }

    /// Runs to completion (or the horizon).
    pub fn run(mut self) -> SimOutput {
        self.run_ahead =
            !self.no_run_ahead && self.timeline.is_none() && self.clients.is_open_loop();
        if let (None, Some(router)) = (&self.elastic, &self.router) {
            self.index =
                FleetIndex::for_router(router.as_ref(), &mut self.replicas, self.index_from);
        }
        if let Some(at) = self.clients.first_arrival(self.requests) {
            self.queue.push(at, Event::Arrival(0));
            self.next_open = at;
        }
        let mut now = SimTime::ZERO;
        while let Some(t) = self.queue.peek_time() {
            if self.horizon.is_some_and(|h| t > h) {
                break;
            }
            // An elastic fleet's own events (decisions, cold starts, spot interruptions) would
            // go on forever: the run ends when the last request is done.
            if self.elastic.is_some() && self.finished >= self.requests.len() as u64 {
                break;
            }
            let (t, ev) = self.queue.pop().expect("peeked");
            if !matches!(ev, Event::StepEnd(_) | Event::Arrival(_)) {
                let Reverse(o) = self.others.pop().expect("counted");
                debug_assert_eq!(o, t, "other events come out in time order");
            }
            now = t;
            self.rec.events += 1;
            if self.rec.events >= self.progress_at {
                self.progress_at = self.rec.events + PROGRESS_EVERY;
                if let Some(p) = self.progress.as_mut() {
                    p(now, self.finished);
                }
            }
            if let Some(tl) = self.timeline.as_mut() {
                tl.advance(now);
                if matches!(ev, Event::Arrival(_) | Event::FollowUp(_)) {
                    tl.arrival(now);
                }
            }
            match ev {
                Event::Arrival(pos) => {
                    let (i, next) = self.clients.open_arrival(pos, now, self.requests);
                    self.next_open = next.unwrap_or(SimTime::MAX);
                    if let Some(at) = next {
                        self.queue.push(at, Event::Arrival(pos + 1));
                    }
                    self.admit(now, i);
                }
                Event::FollowUp(i) => self.admit(now, i),
                Event::StepEnd(r) => {
                    self.end_step(now, r);
                    self.step_on(now, r, true);
                }
                Event::Scale(p) => self.on_scale(now, p),
                Event::Ready(r, g) => self.on_ready(now, r, g),
                Event::Notice(r, g) => self.on_notice(now, r, g),
                Event::Interrupt(r, g) => self.on_interrupt(now, r, g),
                Event::ApiDone(i) => self.done.push(i),
                Event::Replace(p) => self.on_replace(now, p),
            }
            self.settle(now);
            if let Some(tl) = self.timeline.as_mut() {
                let busy = self.replicas.iter().filter(|r| r.is_busy()).count() as f64;
                let queued: usize = self.replicas.iter().map(|r| r.num_waiting()).sum();
                let used: u64 = self.replicas.iter().map(|r| r.kv_used_blocks()).sum();
                let cap: u64 = self.replicas.iter().map(|r| r.kv_capacity_blocks()).sum();
                let running: usize = self.replicas.iter().map(|r| r.num_running()).sum();
                tl.set(
                    busy,
                    queued as f64,
                    100.0 * used as f64 / cap.max(1) as f64,
                    running as f64,
                );
            }
        }
        let end = self.horizon.unwrap_or(now.max(self.ran_to));
        self.rec.close(end);
        for rep in &self.replicas {
            rep.flush_progress(&mut self.rec);
        }
        let mut replicas: Vec<ReplicaTotals> = self.replicas.iter().map(Replica::totals).collect();
        let elastic = self.elastic.map(|e| {
            let (out, retired) = e.into_output(end);
            replicas.extend(retired);
            out
        });
        SimOutput {
            recorder: self.rec,
            replicas,
            end,
            timeline: self.timeline.map(|t| t.finish(end)),
            elastic,
            steps_run_ahead: self.steps_run_ahead,
        }
    }

    /// Sends request `i` now, or holds it back if the concurrency limit is reached.
    fn admit(&mut self, now: SimTime, i: u32) {
        if self.clients.send_or_hold(i) {
            self.on_arrival(now, i);
        }
    }

    /// After an event: requests that finished or were rejected free their client slot and
    /// schedule their follow-ups; held requests are sent while slots are free.
    fn settle(&mut self, now: SimTime) {
        loop {
            self.finished += self.done.len() as u64;
            for k in 0..self.done.len() {
                if let Some((at, f)) = self.clients.finished(self.done[k], now, self.requests) {
                    self.push(at, Event::FollowUp(f));
                }
            }
            self.done.clear();
            match self.clients.release_held() {
                Some(i) => self.on_arrival(now, i),
                None => break,
            }
        }
    }

    fn on_arrival(&mut self, now: SimTime, i: u32) {
        if self.elastic.is_some() {
            self.elastic_arrival(now, i);
            return;
        }
        let req = &self.requests[i as usize];
        let view = IndexedFleet {
            replicas: &self.replicas,
            index: self.index.as_ref(),
        };
        let r = match self.router.as_mut() {
            Some(router) => router.route(req, &view).min(self.replicas.len() - 1) as u32,
            None => i % self.replicas.len() as u32,
        };
        self.rec.arrived(i as usize, r, now);
        self.enqueue_on(now, i, r);
    }

    /// Request `i`, already recorded as arrived, joins replica `r`'s queue (or is refused).
    fn enqueue_on(&mut self, now: SimTime, i: u32, r: u32) {
        let req = &self.requests[i as usize];
        let queued = self.replicas[r as usize].enqueue(i, req);
        if let Some(x) = &mut self.index {
            x.sync(r, &mut self.replicas[r as usize]);
        }
        match queued {
            Ok(()) => {
                if !self.replicas[r as usize].is_busy() {
                    self.try_start(now, r);
                }
            }
            Err(why) => {
                self.rec.rejected(i as usize, now, why);
                // A conversation goes on after a refused turn, as a user would retry.
                self.done.push(i);
            }
        }
    }

    /// Schedules `ev` at `at`.
    pub(super) fn push(&mut self, at: SimTime, ev: Event) {
        if !matches!(ev, Event::StepEnd(_) | Event::Arrival(_)) {
            self.others.push(Reverse(at));
        }
        self.queue.push(at, ev);
    }

    /// Starts replica `r`'s next step at `now`, if it has anything to compute, and schedules
    /// its end.
    fn try_start(&mut self, now: SimTime, r: u32) {
        self.step_on(now, r, false);
    }

    /// Starts replica `r`'s next step at `now` (after its step that ended then, when
    /// `after_step_end`: an elastic fleet then releases a draining replica left empty), and
    /// schedules its end.
    ///
    /// Running ahead: in a fleet of open-loop clients with no timeline, nothing outside a
    /// replica sees or changes it between events other than its step ends (routers read
    /// replicas only when a request arrives; an elastic fleet's decisions, cold starts,
    /// interruptions and API answers are events of their own; a finished request starts
    /// nothing). So a step that ends before the next arrival and the next such event (and
    /// within the horizon) is ended at once, and the next one started, instead of going
    /// through the queue. The replica does exactly what it would have done, in the same order;
    /// the queue sees the same arrivals and other events, and each finds every replica as it
    /// would have been. Only step ends of different replicas at the same nanosecond may be
    /// handled in another order, and those touch nothing in common (per-request records,
    /// per-replica totals, and sums that do not depend on order). The step that reaches the
    /// next event is queued, after that event in the queue's order, as it was
    /// (tests/it/run_ahead.rs and tests/it/elastic.rs compare every output with and without).
    /// Whatever adds a way for one event to touch a replica after starting its step, or for
    /// replicas to see each other between events, must end the run there too.
    fn step_on(&mut self, mut now: SimTime, r: u32, mut after_step_end: bool) {
        // An elastic fleet may send a replica several requests in one event (those waiting
        // for a replica to serve, or taken back from a reclaimed one): the first must not
        // start a run before the others have joined, so it runs ahead only from its step ends.
        let may_run_ahead = self.run_ahead && (after_step_end || self.elastic.is_none());
        let mut bound = if may_run_ahead {
            let other = self.others.peek().map_or(SimTime::MAX, |o| o.0);
            self.next_open.min(other)
        } else {
            SimTime::ZERO
        };
        if let Some(h) = self.horizon {
            bound = bound.min(h + SimTime::from_nanos(1));
        }
        loop {
            let rep = &mut self.replicas[r as usize];
            let outcome = rep.start_step(now, Reqs::all(self.requests), &mut self.rec);
            if let Some(x) = &mut self.index {
                x.sync_cache(r, rep);
                if self.check {
                    if let Err(e) = x.check(&self.replicas) {
                        panic!("after replica {r}'s step start at {now}: {e}");
                    }
                }
            }
            if after_step_end && self.elastic.is_some() {
                self.after_step(now, r);
            }
            let StepOutcome::Started(end) = outcome else {
                return;
            };
            if end >= bound {
                self.push(end, Event::StepEnd(r));
                return;
            }
            // The step ends before anything else can touch this replica: end it now.
            now = end;
            after_step_end = true;
            self.ran_to = self.ran_to.max(now);
            self.rec.events += 1;
            self.steps_run_ahead += 1;
            self.end_step(now, r);
        }
    }

    /// Applies the end of replica `r`'s step in flight at `now` (checking its invariants when
    /// asked).
    fn end_step(&mut self, now: SimTime, r: u32) {
        let rep = &mut self.replicas[r as usize];
        rep.finish_step(now, Reqs::all(self.requests), &mut self.rec, &mut self.done);
        if let Some(x) = &mut self.index {
            x.sync(r, rep);
        }
        if self.check {
            if let Err(e) = rep.check_invariants() {
                panic!("replica {r} at {now}: {e}");
            }
            if let Some(Err(e)) = self.index.as_ref().map(|x| x.check(&self.replicas)) {
                panic!("at {now}: {e}");
            }
        }
    }
}
