//! A pool's autoscaler, as the Kubernetes HPA (and KEDA, which drives it) decides: every
//! interval, `desired = ceil(serving x metric / target)` from the metric averaged over the
//! fleet's serving replicas (all pools serve one model: a burst pool reads the whole fleet's
//! load and asks for what the other pools do not cover), then stabilized: a rise takes the lowest recommendation of the scale-up window, a
//! fall the highest of the scale-down window (`behavior.scaleUp/scaleDown.
//! stabilizationWindowSeconds`, 0 s and 300 s by default), clamped to `min..=max`.

use std::collections::VecDeque;

use super::pool::{AutoscaleSpec, ScaleMetric};
use crate::time::SimTime;

/// What the autoscaler reads of its pool at a decision.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolLoad {
    /// Replicas serving (active).
    pub serving: u32,
    /// Requests waiting or running on them.
    pub in_flight: u64,
    /// Requests waiting to be scheduled on them.
    pub waiting: u64,
    /// Their KV use, summed over replicas (each 0 to 1).
    pub kv_usage_sum: f64,
    /// Requests waiting for any serving replica (none serves yet): they count as in flight and
    /// waiting.
    pub unplaced: u64,
    /// Replicas of the fleet's other pools (serving or loading): the pool is asked for what the
    /// fleet needs beyond them, so a burst pool grows when a fixed base pool is full.
    pub others: u32,
}

/// One pool's autoscaler.
#[derive(Clone, Debug)]
pub struct Autoscaler {
    spec: AutoscaleSpec,
    /// (time, recommendation) within the longer stabilization window.
    history: VecDeque<(SimTime, u32)>,
}

impl Autoscaler {
    /// An autoscaler with these settings (checked).
    pub fn new(spec: AutoscaleSpec) -> Autoscaler {
        Autoscaler {
            spec,
            history: VecDeque::new(),
        }
    }

    /// The settings.
    pub fn spec(&self) -> &AutoscaleSpec {
        &self.spec
    }

    /// The replicas the metric asks for, before stabilization and clamping.
    pub fn recommend(&self, load: PoolLoad) -> u32 {
        let target = self.spec.target;
        let need = |total: f64| (total / target - 1e-9).ceil().max(0.0);
        let r = match self.spec.metric {
            ScaleMetric::InFlightPerReplica => need((load.in_flight + load.unplaced) as f64),
            ScaleMetric::QueueLength => need((load.waiting + load.unplaced) as f64),
            ScaleMetric::KvUsage => {
                if load.serving == 0 {
                    0.0
                } else {
                    need(load.kv_usage_sum)
                }
            }
        };
        let mut r = r.min(u32::MAX as f64) as u32;
        // Work with nowhere to go always asks for a replica (scale from zero).
        if r == 0 && (load.unplaced > 0 || load.in_flight > 0) {
            r = 1;
        }
        r
    }

    /// The pool size decided at `now` with `current` replicas (provisioned, loading included)
    /// and this load: the recommendation stabilized over the windows and clamped to `min..=max`.
    pub fn decide(&mut self, now: SimTime, current: u32, load: PoolLoad) -> u32 {
        let rec = self
            .recommend(load)
            .saturating_sub(load.others)
            .clamp(self.spec.min, self.spec.max);
        self.history.push_back((now, rec));
        let up_w = SimTime::from_secs_f64(self.spec.scale_up_delay_s);
        let down_w = SimTime::from_secs_f64(self.spec.scale_down_delay_s);
        let keep = up_w.max(down_w);
        while self
            .history
            .front()
            .is_some_and(|&(t, _)| now.saturating_sub(t) > keep)
        {
            self.history.pop_front();
        }
        let within = |w: SimTime| {
            self.history
                .iter()
                .filter(move |&&(t, _)| now.saturating_sub(t) <= w)
                .map(|&(_, r)| r)
        };
        let up = within(up_w).min().unwrap_or(rec);
        let down = within(down_w).max().unwrap_or(rec);
        let next = if up > current {
            up
        } else if down < current {
            down
        } else {
            current
        };
        next.clamp(self.spec.min, self.spec.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(metric: ScaleMetric, target: f64) -> AutoscaleSpec {
        AutoscaleSpec {
            min: 0,
            max: 10,
            metric,
            target,
            interval_s: 15.0,
            scale_up_delay_s: 0.0,
            scale_down_delay_s: 60.0,
            cold_start_s: Some(0.0),
        }
    }

    #[test]
    fn in_flight_asks_for_total_over_target_and_scales_from_zero() {
        let a = Autoscaler::new(spec(ScaleMetric::InFlightPerReplica, 8.0));
        let load = |serving, in_flight, unplaced| PoolLoad {
            serving,
            in_flight,
            unplaced,
            ..Default::default()
        };
        assert_eq!(a.recommend(load(2, 40, 0)), 5);
        assert_eq!(a.recommend(load(2, 16, 0)), 2);
        assert_eq!(a.recommend(load(0, 0, 3)), 1);
        assert_eq!(a.recommend(load(0, 0, 0)), 0);
    }

    #[test]
    fn rises_at_once_and_falls_only_after_the_down_window() {
        let mut a = Autoscaler::new(spec(ScaleMetric::InFlightPerReplica, 10.0));
        let t = |s: f64| SimTime::from_secs_f64(s);
        let load = |in_flight| PoolLoad {
            serving: 1,
            in_flight,
            ..Default::default()
        };
        assert_eq!(a.decide(t(0.0), 1, load(45)), 5);
        // Load falls at once, the pool stays up for the 60 s window...
        assert_eq!(a.decide(t(15.0), 5, load(5)), 5);
        assert_eq!(a.decide(t(45.0), 5, load(5)), 5);
        // ...and comes down once the high recommendation has left it.
        assert_eq!(a.decide(t(75.0), 5, load(5)), 1);
        // Clamped to max.
        assert_eq!(a.decide(t(90.0), 1, load(1000)), 10);
    }

    #[test]
    fn kv_usage_follows_the_hpa_ratio() {
        let a = Autoscaler::new(spec(ScaleMetric::KvUsage, 0.5));
        let load = PoolLoad {
            serving: 4,
            kv_usage_sum: 3.0, // 75% average
            ..Default::default()
        };
        assert_eq!(a.recommend(load), 6);
    }
}
