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

/// Most bins a timeline holds: when time runs past them, neighbouring bins are merged in pairs
/// and the bin width doubles, so memory stays bounded whatever the simulated span.
pub const MAX_BINS: usize = 2048;

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

    /// Merges bins in pairs and doubles the bin width.
    fn coarsen(&mut self) {
        let pairs = self.sums.len().div_ceil(2);
        for i in 0..pairs {
            let (a, b) = (2 * i, 2 * i + 1);
            let mut s = self.sums[a];
            let mut n = self.arrivals[a];
            if b < self.sums.len() {
                for (x, y) in s.iter_mut().zip(self.sums[b]) {
                    *x += y;
                }
                n += self.arrivals[b];
            }
            self.sums[i] = s;
            self.arrivals[i] = n;
        }
        self.sums.truncate(pairs);
        self.arrivals.truncate(pairs);
        self.bin_ns = self.bin_ns.saturating_mul(2);
    }

    /// The bin holding time `t_ns`, coarsening first so that it is within [`MAX_BINS`].
    fn bin_of(&mut self, t_ns: u64) -> usize {
        while (t_ns / self.bin_ns) as usize >= MAX_BINS {
            self.coarsen();
        }
        let bin = (t_ns / self.bin_ns) as usize;
        if self.sums.len() <= bin {
            self.sums.resize(bin + 1, [0.0; 4]);
            self.arrivals.resize(bin + 1, 0);
        }
        bin
    }

    /// Integrates the current state up to `now`.
    pub fn advance(&mut self, now: SimTime) {
        let (mut t, end) = (self.last.as_nanos(), now.as_nanos());
        while t < end {
            let bin = self.bin_of(t);
            // Saturating: the last bin may end at the largest representable time.
            let bin_end = (bin as u64 + 1).saturating_mul(self.bin_ns);
            let upto = bin_end.min(end);
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
        let bin = self.bin_of(now.as_nanos());
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
        let last = self.bin_of(end.as_nanos().saturating_sub(1));
        let bins = if end.as_nanos() == 0 { 1 } else { last + 1 };
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

    #[test]
    fn bins_stay_bounded_and_integrals_survive_coarsening() {
        let mut r = TimelineRecorder::new(SimTime::from_secs_f64(1.0));
        r.set(1.0, 2.0, 3.0, 4.0);
        r.arrival(SimTime::from_secs_f64(0.5));
        r.arrival(SimTime::from_secs_f64(1e6));
        let end = SimTime::from_secs_f64(3e6);
        let t = r.finish(end);
        assert!(
            t.arrivals_per_s.len() <= MAX_BINS,
            "{}",
            t.arrivals_per_s.len()
        );
        assert!(t.bin_s >= 3e6 / MAX_BINS as f64);
        // Time averages of a constant state stay that constant; arrivals are all counted.
        let n = t.busy_replicas.len();
        for v in &t.busy_replicas[..n - 1] {
            assert!((v - 1.0).abs() < 1e-9, "{v}");
        }
        let arrivals: f64 = t.arrivals_per_s.iter().map(|a| a * t.bin_s).sum();
        assert!((arrivals - 2.0).abs() < 1e-9);
    }

    #[test]
    fn the_end_of_time_terminates() {
        let mut r = TimelineRecorder::new(SimTime::from_secs_f64(1.0));
        r.set(1.0, 0.0, 0.0, 0.0);
        r.advance(SimTime::MAX);
        let t = r.finish(SimTime::MAX);
        assert!(t.arrivals_per_s.len() <= MAX_BINS);
    }
}
