//! Elastic fleets: pools whose replicas come and go. A replica's life is provisioning and
//! loading (paid, not serving) -> active -> draining (finishes what it holds, takes nothing
//! new) -> released. Autoscalers decide pool sizes at their intervals; spot replicas are
//! interrupted (after a notice, during which they drain) and their requests sent again; requests
//! that find no serving replica wait at the fleet; the overflow rule sends new requests to an
//! API. Every request is accounted for: served, rejected, spilled or unfinished at the horizon.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp};

mod routing;

use super::{Event, Simulation};
use crate::fleet::autoscaler::{Autoscaler, PoolLoad};
use crate::fleet::pool::AutoscaleSpec;
use crate::metrics::ReplicaTotals;
use crate::rng::{stream_rng, Stream};
use crate::serving::Replica;
use crate::time::SimTime;

/// Spot interruptions of a pool's replicas.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpotRun {
    /// Interruptions per replica-hour (a Poisson process per replica).
    pub interruptions_per_hour: f64,
    /// Warning before an interruption (the replica drains meanwhile).
    pub notice: SimTime,
}

/// A pool as the simulation runs it.
pub struct PoolRun<'a> {
    /// Its name.
    pub name: String,
    /// Builds a replica of this pool with the given fleet index.
    pub make: Box<dyn Fn(u32) -> Replica + 'a>,
    /// Replicas serving at time 0 (a fixed pool's count, an autoscaled pool's `min`).
    pub initial: u32,
    /// Its autoscaler, if it has one (otherwise its size is fixed).
    pub autoscale: Option<AutoscaleSpec>,
    /// From a decision to a new replica serving.
    pub cold_start: SimTime,
    /// Spot interruptions, for spot pools.
    pub spot: Option<SpotRun>,
}

impl std::fmt::Debug for PoolRun<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolRun")
            .field("name", &self.name)
            .field("initial", &self.initial)
            .field("autoscale", &self.autoscale)
            .field("cold_start", &self.cold_start)
            .field("spot", &self.spot)
            .finish_non_exhaustive()
    }
}

/// When a new request goes to the overflow API, and how long the API takes.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OverflowRun {
    /// Spill when the routed replica's oldest waiting request has waited longer than this.
    pub queue_wait: Option<SimTime>,
    /// Spill when the serving replicas hold more than this many requests each on average.
    pub in_flight_per_replica: Option<f64>,
    /// The API's typical time to first token and time per output token (none published: the
    /// spilled requests have no latency figures).
    pub latency: Option<(SimTime, f64)>,
}

/// One replica's life, for billing: from the decision that provisioned it to its release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaLife {
    /// Its pool.
    pub pool: u32,
    /// When it was asked for (0 for the replicas a pool starts with).
    pub provisioned_at: SimTime,
    /// When it began serving (none: released while still loading).
    pub active_at: Option<SimTime>,
    /// When it was released (the end of the run if it was not).
    pub released_at: SimTime,
    /// It was started by a scale-up or a spot replacement (not one the pool started with).
    pub cold_start: bool,
    /// Its spot machine was reclaimed.
    pub interrupted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Loading,
    Active,
    Draining,
    Released,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    pool: u32,
    phase: Phase,
    /// Incarnation of this slot, so events of a released replica are ignored after reuse.
    generation: u32,
    /// Index into `lives`.
    life: usize,
}

/// The elastic part of a simulation.
pub(super) struct Elastic<'a> {
    pools: Vec<PoolRun<'a>>,
    scalers: Vec<Option<Autoscaler>>,
    slots: Vec<Slot>,
    /// Serving replicas, in index order.
    active: Vec<u32>,
    /// Requests that found no serving replica, in arrival order.
    unplaced: VecDeque<u32>,
    lives: Vec<ReplicaLife>,
    /// Totals of replicas whose slot was reused.
    retired: Vec<ReplicaTotals>,
    overflow: Option<OverflowRun>,
    spot_rng: StdRng,
    pub(super) spilled: u64,
}

impl std::fmt::Debug for Elastic<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elastic")
            .field("pools", &self.pools)
            .field("active", &self.active.len())
            .field("unplaced", &self.unplaced.len())
            .field("spilled", &self.spilled)
            .finish_non_exhaustive()
    }
}

/// What an elastic run hands back besides what every run does.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ElasticOutput {
    /// Every replica's life, in the order they were provisioned.
    pub lives: Vec<ReplicaLife>,
    /// Requests sent to the overflow API.
    pub spilled: u64,
}

impl<'a> Elastic<'a> {
    pub(super) fn new(pools: Vec<PoolRun<'a>>, overflow: Option<OverflowRun>, seed: u64) -> Self {
        Elastic {
            scalers: pools
                .iter()
                .map(|p| p.autoscale.clone().map(Autoscaler::new))
                .collect(),
            pools,
            slots: Vec::new(),
            active: Vec::new(),
            unplaced: VecDeque::new(),
            lives: Vec::new(),
            retired: Vec::new(),
            overflow,
            spot_rng: stream_rng(seed, Stream::Spot),
            spilled: 0,
        }
    }

    pub(super) fn into_output(mut self, end: SimTime) -> (ElasticOutput, Vec<ReplicaTotals>) {
        for s in &self.slots {
            if s.phase != Phase::Released {
                self.lives[s.life].released_at = end;
            }
        }
        (
            ElasticOutput {
                lives: self.lives,
                spilled: self.spilled,
            },
            self.retired,
        )
    }
}

impl<'a> Simulation<'a> {
    fn el(&mut self) -> &mut Elastic<'a> {
        self.elastic.as_mut().expect("an elastic simulation")
    }

    /// Starts the pools: their first replicas serve at time 0; autoscalers make their first
    /// decision one interval in.
    pub(super) fn start_pools(&mut self) {
        let n = self.el().pools.len();
        for p in 0..n {
            for _ in 0..self.el().pools[p].initial {
                let r = self.provision(SimTime::ZERO, p as u32, false);
                self.activate(SimTime::ZERO, r);
            }
            if let Some(a) = &self.el().pools[p].autoscale {
                let at = SimTime::from_secs_f64(a.interval_s);
                self.push(at, Event::Scale(p as u32));
            }
        }
    }

    /// A new replica of pool `p`, loading from `now`; returns its index.
    fn provision(&mut self, now: SimTime, p: u32, cold: bool) -> u32 {
        let e = self.elastic.as_mut().expect("elastic");
        let life = e.lives.len();
        e.lives.push(ReplicaLife {
            pool: p,
            provisioned_at: now,
            active_at: None,
            released_at: now,
            cold_start: cold,
            interrupted: false,
        });
        let reuse = e.slots.iter().position(|s| s.phase == Phase::Released);
        let idx = match reuse {
            Some(i) => {
                e.retired.push(self.replicas[i].totals());
                i
            }
            None => self.replicas.len(),
        };
        let replica = (e.pools[p as usize].make)(idx as u32).in_pool(p);
        match reuse {
            Some(i) => {
                self.replicas[i] = replica;
                let s = &mut e.slots[i];
                *s = Slot {
                    pool: p,
                    phase: Phase::Loading,
                    generation: s.generation + 1,
                    life,
                };
            }
            None => {
                self.replicas.push(replica);
                e.slots.push(Slot {
                    pool: p,
                    phase: Phase::Loading,
                    generation: 0,
                    life,
                });
            }
        }
        idx as u32
    }

    /// Starts loading a new replica of pool `p` at `now`; it serves after the cold start.
    fn scale_up_one(&mut self, now: SimTime, p: u32) {
        let r = self.provision(now, p, true);
        let e = self.el();
        let at = now + e.pools[p as usize].cold_start;
        let generation = e.slots[r as usize].generation;
        self.push(at, Event::Ready(r, generation));
    }

    /// Replica `r` begins serving at `now`: requests waiting at the fleet are sent out.
    fn activate(&mut self, now: SimTime, r: u32) {
        let e = self.elastic.as_mut().expect("elastic");
        let slot = &mut e.slots[r as usize];
        slot.phase = Phase::Active;
        e.lives[slot.life].active_at = Some(now);
        let pos = e.active.partition_point(|&x| x < r);
        e.active.insert(pos, r);
        let mut events = Vec::new();
        if let Some(spot) = e.pools[slot.pool as usize].spot {
            if spot.interruptions_per_hour > 0.0 {
                let rate = spot.interruptions_per_hour / 3600.0;
                let after = Exp::new(rate)
                    .expect("positive rate")
                    .sample(&mut e.spot_rng);
                let at = now + SimTime::from_secs_f64(after.min(crate::time::MAX_SPAN_S));
                let generation = slot.generation;
                events.push((
                    at.saturating_sub(spot.notice).max(now),
                    Event::Notice(r, generation),
                ));
                events.push((at, Event::Interrupt(r, generation)));
                if e.pools[slot.pool as usize].autoscale.is_none() {
                    events.push((at, Event::Replace(slot.pool)));
                }
            }
        }
        for (at, ev) in events {
            self.push(at, ev);
        }
        while let Some(i) = self.el().unplaced.pop_front() {
            self.dispatch(now, i);
        }
    }

    /// A cold start ended.
    pub(super) fn on_ready(&mut self, now: SimTime, r: u32, generation: u32) {
        let s = self.el().slots[r as usize];
        if s.generation == generation && s.phase == Phase::Loading {
            self.activate(now, r);
        }
    }

    /// Replica `r` stops taking requests; it is released once it holds none.
    fn drain(&mut self, now: SimTime, r: u32) {
        let e = self.el();
        let slot = &mut e.slots[r as usize];
        match slot.phase {
            Phase::Active => {
                slot.phase = Phase::Draining;
                let pos = e.active.partition_point(|&x| x < r);
                e.active.remove(pos);
            }
            Phase::Loading => {
                // A replica still loading is cancelled: paid until now, never serving.
                self.release(now, r);
                return;
            }
            _ => return,
        }
        if self.replicas[r as usize].outstanding() == 0 && !self.replicas[r as usize].is_busy() {
            self.release(now, r);
        }
    }

    fn release(&mut self, now: SimTime, r: u32) {
        let e = self.el();
        let slot = &mut e.slots[r as usize];
        if slot.phase == Phase::Active {
            let pos = e.active.partition_point(|&x| x < r);
            e.active.remove(pos);
        }
        slot.phase = Phase::Released;
        e.lives[slot.life].released_at = now;
    }

    /// After a step of replica `r` ended: a draining replica with nothing left is released.
    pub(super) fn after_step(&mut self, now: SimTime, r: u32) {
        let s = self.el().slots[r as usize];
        let rep = &self.replicas[r as usize];
        if s.phase == Phase::Draining && rep.outstanding() == 0 && !rep.is_busy() {
            self.release(now, r);
        }
    }

    /// A spot replica's notice: it drains and counts as interrupted; a fixed pool starts its
    /// replacement when the machine is reclaimed (an autoscaled one decides at its next
    /// interval). Starting it at the reclaim, not the notice, keeps every incarnation alive for
    /// its own interruption draw, so a long notice cannot chain replacements at one instant.
    pub(super) fn on_notice(&mut self, now: SimTime, r: u32, generation: u32) {
        let s = self.el().slots[r as usize];
        if s.generation != generation || !matches!(s.phase, Phase::Active | Phase::Draining) {
            return;
        }
        self.el().lives[s.life].interrupted = true;
        self.drain(now, r);
    }

    /// A fixed pool's replacement for a reclaimed spot replica.
    pub(super) fn on_replace(&mut self, now: SimTime, p: u32) {
        self.scale_up_one(now, p);
    }

    /// A spot replica is reclaimed: what it still holds is sent again from the start.
    pub(super) fn on_interrupt(&mut self, now: SimTime, r: u32, generation: u32) {
        let s = self.el().slots[r as usize];
        if s.generation != generation || s.phase == Phase::Released {
            return;
        }
        let evicted = self.replicas[r as usize].evict_all(now, &mut self.rec);
        self.release(now, r);
        for i in evicted {
            self.dispatch(now, i);
        }
    }

    /// An autoscaler's decision for pool `p`.
    pub(super) fn on_scale(&mut self, now: SimTime, p: u32) {
        let e = self.elastic.as_ref().expect("elastic");
        let mut load = PoolLoad {
            unplaced: e.unplaced.len() as u64,
            ..Default::default()
        };
        for &r in &e.active {
            let rep = &self.replicas[r as usize];
            load.serving += 1;
            load.in_flight += rep.outstanding() as u64;
            load.waiting += rep.num_waiting() as u64;
            load.kv_usage_sum +=
                rep.kv_used_blocks() as f64 / rep.kv_capacity_blocks().max(1) as f64;
        }
        load.others = e
            .slots
            .iter()
            .filter(|s| s.pool != p && matches!(s.phase, Phase::Loading | Phase::Active))
            .count() as u32;
        let mine = |ph: Phase| {
            e.slots
                .iter()
                .filter(|s| s.pool == p && s.phase == ph)
                .count() as u32
        };
        let current = mine(Phase::Loading) + mine(Phase::Active);
        let interval = e.pools[p as usize]
            .autoscale
            .as_ref()
            .map(|a| a.interval_s)
            .unwrap_or(15.0);
        let target = self.el().scalers[p as usize]
            .as_mut()
            .expect("autoscaled pool")
            .decide(now, current, load);
        if target > current {
            for _ in current..target {
                self.scale_up_one(now, p);
            }
        } else if target < current {
            self.scale_down(now, p, current - target);
        }
        // Keep deciding while anything is left to serve. An idle fleet with this pool at its
        // minimum decides nothing until load returns: the next decision is the first on the
        // interval grid whose stabilization windows reach the next event (the decisions
        // skipped would each keep the pool as it is and leave the windows as they find them).
        if self.finished < self.requests.len() as u64 {
            let step = SimTime::from_secs_f64(interval);
            let mut next = now + step;
            if target
                == self.el().scalers[p as usize]
                    .as_ref()
                    .map_or(u32::MAX, |a| a.spec().min)
                && self.fleet_idle()
            {
                if let Some(t) = self.queue.peek_time() {
                    let a = self.el().scalers[p as usize]
                        .as_ref()
                        .expect("autoscaled")
                        .spec();
                    let keep = SimTime::from_secs_f64(a.scale_up_delay_s.max(a.scale_down_delay_s));
                    let from = t.saturating_sub(keep).saturating_sub(step);
                    if from > next {
                        let k = (from - now).as_nanos() / step.as_nanos().max(1);
                        next = now + SimTime::from_nanos(k * step.as_nanos());
                    }
                }
            }
            self.push(next, Event::Scale(p));
        }
    }

    /// Whether nothing is running, waiting or loading anywhere in the fleet.
    fn fleet_idle(&self) -> bool {
        let e = self.elastic.as_ref().expect("elastic");
        e.unplaced.is_empty()
            && e.slots.iter().enumerate().all(|(i, s)| match s.phase {
                Phase::Released => true,
                Phase::Loading => false,
                _ => self.replicas[i].outstanding() == 0 && !self.replicas[i].is_busy(),
            })
    }

    /// Removes `n` replicas of pool `p`: those still loading first (newest first), then the
    /// serving ones holding the fewest requests (newest first on ties), which drain.
    fn scale_down(&mut self, now: SimTime, p: u32, n: u32) {
        let e = self.elastic.as_ref().expect("elastic");
        let mut victims: Vec<(u8, usize, std::cmp::Reverse<u32>, u32)> = e
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.pool == p && matches!(s.phase, Phase::Loading | Phase::Active))
            .map(|(i, s)| {
                let order = if s.phase == Phase::Loading { 0 } else { 1 };
                let load = self.replicas[i].outstanding();
                (order, load, std::cmp::Reverse(s.life as u32), i as u32)
            })
            .collect();
        victims.sort();
        for &(_, _, _, r) in victims.iter().take(n as usize) {
            self.drain(now, r);
        }
    }
}
