//! Where a request goes in an elastic fleet: the overflow API when the rule says so, else the
//! serving replica the router picks (routers see only serving replicas), else the fleet's
//! queue until a replica serves.

use super::super::{Event, Simulation};
use crate::fleet::view::{FleetView, ReplicaView};
use crate::serving::Replica;
use crate::time::SimTime;

/// The serving replicas, as routers see them.
struct ActiveView<'r> {
    replicas: &'r [Replica],
    active: &'r [u32],
}

impl FleetView for ActiveView<'_> {
    fn len(&self) -> usize {
        self.active.len()
    }
    fn get(&self, i: usize) -> &dyn ReplicaView {
        &self.replicas[self.active[i] as usize]
    }
}

impl Simulation<'_> {
    /// A new request at `now`: to the overflow API if the rule says so, else to the serving
    /// replica the router picks, else it waits at the fleet for one.
    pub(in crate::fleet::sim) fn elastic_arrival(&mut self, now: SimTime, i: u32) {
        self.rec.arrived(i as usize, u32::MAX, now);
        let picked = if self.el().active.is_empty() {
            None
        } else {
            Some(self.pick(i))
        };
        if self.spills(now, picked) {
            self.spill(now, i);
            return;
        }
        match picked {
            Some(r) => {
                self.rec
                    .routed(i as usize, r, self.replicas[r as usize].pool());
                self.enqueue_on(now, i, r);
            }
            None => self.el().unplaced.push_back(i),
        }
    }

    /// Request `i` goes to the overflow API at `now`; it is done when the API would finish it.
    fn spill(&mut self, now: SimTime, i: u32) {
        let e = self.el();
        e.spilled += 1;
        let latency = e.overflow.and_then(|o| o.latency);
        let out = self.requests[i as usize].output_tokens.max(1);
        let times = latency.map(|(ttft, per_token_s)| {
            let first = now + ttft;
            (
                first,
                first + SimTime::from_secs_f64(per_token_s * (out - 1) as f64),
            )
        });
        self.rec.spilled(i as usize, now, times);
        let done_at = times.map(|t| t.1).unwrap_or(now);
        self.push(done_at, Event::ApiDone(i));
    }

    /// Whether the overflow rule sends a new request to the API now, the router having picked
    /// replica `picked` (none: no replica serves, and every request spills).
    fn spills(&self, now: SimTime, picked: Option<u32>) -> bool {
        let e = self.elastic.as_ref().expect("elastic");
        let Some(o) = e.overflow else {
            return false;
        };
        let Some(r) = picked else {
            return true;
        };
        if let Some(limit) = o.in_flight_per_replica {
            let held: usize = e
                .active
                .iter()
                .map(|&r| self.replicas[r as usize].outstanding())
                .sum();
            if held as f64 / e.active.len() as f64 >= limit {
                return true;
            }
        }
        if let Some(wait) = o.queue_wait {
            if let Some(oldest) = self.replicas[r as usize].oldest_waiting() {
                let since = self.rec.records[oldest as usize].arrival;
                if now.saturating_sub(since) > wait {
                    return true;
                }
            }
        }
        false
    }

    /// The serving replica the router picks for request `i` (there is one).
    fn pick(&mut self, i: u32) -> u32 {
        let e = self.elastic.as_ref().expect("elastic");
        let view = ActiveView {
            replicas: &self.replicas,
            active: &e.active,
        };
        let req = &self.requests[i as usize];
        let k = match self.router.as_mut() {
            Some(router) => router.route(req, &view),
            None => i as usize % view.len(),
        };
        e.active[k.min(e.active.len() - 1)]
    }

    /// Sends request `i` to a serving replica, or holds it at the fleet when none serves.
    pub(in crate::fleet::sim) fn dispatch(&mut self, now: SimTime, i: u32) {
        if self.el().active.is_empty() {
            self.el().unplaced.push_back(i);
            return;
        }
        let r = self.pick(i);
        self.rec
            .routed(i as usize, r, self.replicas[r as usize].pool());
        self.enqueue_on(now, i, r);
    }
}
