//! Time series of a run for the timeline chart: arrivals per second, and time averages of busy
//! replicas, queued requests, KV use and running sequences over fixed bins.

use serde::Serialize;

use crate::time::SimTime;

/// Binned time series of a run.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Timeline {
    /// Bin width, seconds.
    pub bin_s: f64,
    /// Arrivals per second in each bin.
    pub arrivals_per_s: Vec<f64>,
    /// Time-average number of replicas with a step in flight.
    pub busy_replicas: Vec<f64>,
    /// Time-average number of requests waiting (all replicas).
    pub queued: Vec<f64>,
    /// Time-average KV blocks in use, percent of the fleet's blocks.
    pub kv_used_pct: Vec<f64>,
    /// Time-average sequences in running batches (all replicas).
    pub running_seqs: Vec<f64>,
}

/// Accumulates the series as the simulation runs: each quantity is piecewise constant between
/// events, and its integral over each bin is added up.
#[derive(Clone, Debug)]
pub struct TimelineRecorder {
    bin_ns: u64,
    last: SimTime,
    state: [f64; 4],
    sums: Vec<[f64; 4]>,
    arrivals: Vec<u64>,
}

impl TimelineRecorder {
    /// Bins of `bin` width.
    pub fn new(bin: SimTime) -> TimelineRecorder {
        TimelineRecorder {
            bin_ns: bin.as_nanos().max(1),
            last: SimTime::ZERO,
            state: [0.0; 4],
            sums: Vec::new(),
            arrivals: Vec::new(),
        }
    }

    fn grow(&mut self, bin: usize) {
        if self.sums.len() <= bin {
            self.sums.resize(bin + 1, [0.0; 4]);
            self.arrivals.resize(bin + 1, 0);
        }
    }

    /// Integrates the current state up to `now`.
    pub fn advance(&mut self, now: SimTime) {
        let (mut t, end) = (self.last.as_nanos(), now.as_nanos());
        while t < end {
            let bin = (t / self.bin_ns) as usize;
            let bin_end = (bin as u64 + 1) * self.bin_ns;
            let upto = bin_end.min(end);
            self.grow(bin);
            let dt = (upto - t) as f64;
            for k in 0..4 {
                self.sums[bin][k] += self.state[k] * dt;
            }
            t = upto;
        }
        self.last = self.last.max(now);
    }

    /// A request arrived at `now`.
    pub fn arrival(&mut self, now: SimTime) {
        let bin = (now.as_nanos() / self.bin_ns) as usize;
        self.grow(bin);
        self.arrivals[bin] += 1;
    }

    /// The state from now on: busy replicas, queued requests, KV use in percent, running
    /// sequences.
    pub fn set(&mut self, busy: f64, queued: f64, kv_pct: f64, running: f64) {
        self.state = [busy, queued, kv_pct, running];
    }

    /// The series up to `end`.
    pub fn finish(mut self, end: SimTime) -> Timeline {
        self.advance(end);
        let bins = (end.as_nanos().div_ceil(self.bin_ns) as usize).max(1);
        self.grow(bins - 1);
        let w = self.bin_ns as f64;
        let bin_s = w / 1e9;
        let col = |k: usize| {
            self.sums[..bins]
                .iter()
                .map(|s| s[k] / w)
                .collect::<Vec<_>>()
        };
        Timeline {
            bin_s,
            arrivals_per_s: self.arrivals[..bins]
                .iter()
                .map(|&a| a as f64 / bin_s)
                .collect(),
            busy_replicas: col(0),
            queued: col(1),
            kv_used_pct: col(2),
            running_seqs: col(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_piecewise_constant_state_over_bins() {
        let mut r = TimelineRecorder::new(SimTime::from_secs_f64(1.0));
        r.set(2.0, 0.0, 50.0, 6.0);
        r.advance(SimTime::from_secs_f64(1.5));
        r.set(0.0, 4.0, 0.0, 0.0);
        r.arrival(SimTime::from_secs_f64(1.7));
        let t = r.finish(SimTime::from_secs_f64(2.0));
        assert_eq!(t.busy_replicas, vec![2.0, 1.0]);
        assert_eq!(t.queued, vec![0.0, 2.0]);
        assert_eq!(t.kv_used_pct, vec![50.0, 25.0]);
        assert_eq!(t.running_seqs, vec![6.0, 3.0]);
        assert_eq!(t.arrivals_per_s, vec![0.0, 1.0]);
    }
}
