//! The smallest fleet meeting the SLO in each group of points (same GPU, replica settings,
//! router and rate scale): smallest_fleets.json.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{PointResult, ReplicaAxes};
use crate::fleet::RouterKind;

/// The smallest fleet meeting the SLO in one group of points (same GPU, replica settings,
/// router and rate scale).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SmallestFleet {
    /// GPU id.
    pub gpu: String,
    /// Router.
    pub router: RouterKind,
    /// Replica settings set by the sweep (null fields: the scenario's own).
    pub replica: ReplicaAxes,
    /// Rate scale.
    pub rate_scale: f64,
    /// Tensor-parallel GPUs per replica (as resolved).
    pub tp: u32,
    /// Fewest replicas meeting the SLO (null: none in the sweep did).
    pub replicas: Option<u32>,
    /// GPUs of that fleet: replicas x tp.
    pub gpus: Option<u64>,
    /// Its SLO attainment.
    pub attainment: Option<f64>,
    /// Its monthly cost, USD.
    pub per_month_usd: Option<f64>,
    /// The next smaller replica count swept, which misses the SLO.
    pub next_smaller_replicas: Option<u32>,
    /// Its SLO attainment.
    pub next_smaller_attainment: Option<f64>,
    /// The smallest fleet among the swept counts with every step time at the ends of the
    /// engine profile's error band (null: no band, or not computed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas_within_error: Option<ReplicasBand>,
    /// The group's step times go beyond the published figures they were fitted to (see
    /// [`crate::scenario::RunConfig::extrapolation`]); absent when not.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub step_times_extrapolated: bool,
}

/// The smallest fleet at both ends of an error band.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplicasBand {
    /// Step-time factors of the band's ends.
    pub step_time_factors: [f64; 2],
    /// Smallest fleet with steps that much faster (null: none of the counts tried).
    pub low: Option<u32>,
    /// With steps that much slower (null: none of the counts tried meets the SLO).
    pub high: Option<u32>,
}

impl ReplicasBand {
    /// "3-4 replicas", "1 replica", "3 replicas or more than were tried".
    pub fn phrase(&self) -> String {
        match (self.low, self.high) {
            (Some(l), None) => format!(
                "{l} {} or more than were tried",
                if l == 1 { "replica" } else { "replicas" }
            ),
            _ => {
                let r = self.range();
                format!("{r} {}", if r == "1" { "replica" } else { "replicas" })
            }
        }
    }

    /// "3-4" (or "3" when both ends agree; "6 or more" when no count tried meets the SLO at the
    /// slow end; "none" when none does at either).
    pub fn range(&self) -> String {
        let f = |n: Option<u32>| n.map_or("none".to_string(), |n| n.to_string());
        match (self.low, self.high) {
            (Some(l), None) => format!("{l} or more"),
            (l, h) if l == h => f(l),
            (l, h) => format!("{}-{}", f(l), f(h)),
        }
    }
}

impl super::Sweep {
    /// Marks each smallest fleet whose group's step times are extrapolated beyond the figures
    /// they were fitted to.
    pub fn mark_extrapolated(&self, fleets: &mut [SmallestFleet]) {
        for f in fleets.iter_mut() {
            let p = super::Point {
                index: 0,
                gpu: f.gpu.clone(),
                router: f.router,
                replica: f.replica.clone(),
                rate_scale: f.rate_scale,
                replicas: 1,
            };
            f.step_times_extrapolated = self
                .point_spec(&p)
                .ok()
                .and_then(|s| s.extrapolation())
                .is_some();
        }
    }

    /// Fills each smallest fleet's `replicas_within_error`: the group's swept replica counts
    /// (`counts`, ascending) simulated again with step times at both ends of the engine
    /// profile's error band, the smallest meeting the SLO at each end.
    pub fn smallest_within_error(&self, fleets: &mut [SmallestFleet], counts: &[u32]) {
        use rayon::prelude::*;
        let found: Vec<Option<ReplicasBand>> = fleets
            .par_iter()
            .map(|f| {
                let n = f.replicas?;
                let point = |replicas| super::Point {
                    index: 0,
                    gpu: f.gpu.clone(),
                    router: f.router,
                    replica: f.replica.clone(),
                    rate_scale: f.rate_scale,
                    replicas,
                };
                let band = self.point_spec(&point(n)).ok()?.band?;
                let meets = |replicas: u32, factor: f64| {
                    self.point_spec(&point(replicas)).ok().is_some_and(|s| {
                        s.with_step_time_factor(factor)
                            .run()
                            .summary
                            .slo
                            .is_some_and(|x| x.met)
                    })
                };
                // Faster steps: the answer or fewer; slower: the answer or more.
                // (Were the answer itself to miss with faster steps, a non-monotone corner, it
                // stays the low end.)
                let low = counts
                    .iter()
                    .copied()
                    .filter(|&c| c < n)
                    .find(|&c| meets(c, band.low))
                    .or(Some(n));
                let high = counts
                    .iter()
                    .copied()
                    .filter(|&c| c >= n)
                    .find(|&c| meets(c, band.high));
                Some(ReplicasBand {
                    step_time_factors: [band.low, band.high],
                    low,
                    high,
                })
            })
            .collect();
        for (f, b) in fleets.iter_mut().zip(found) {
            f.replicas_within_error = b;
        }
    }
}

/// For each group of points, the smallest replica count that meets the SLO. Replica counts are
/// taken in increasing order; a point that failed counts as missing the SLO.
pub fn smallest_fleets(results: &[PointResult]) -> Vec<SmallestFleet> {
    type Key = (String, RouterKind, ReplicaAxes, u64);
    let mut groups: BTreeMap<Key, Vec<&PointResult>> = BTreeMap::new();
    let mut order = Vec::new();
    for r in results {
        let a = &r.axes;
        let key = (
            a.gpu.clone(),
            a.router,
            a.replica.clone(),
            a.rate_scale.to_bits(),
        );
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(r);
    }
    let met = |r: &PointResult| {
        r.summary
            .as_ref()
            .and_then(|s| s.slo.as_ref())
            .map(|s| (s.met, s.attainment))
    };
    order
        .into_iter()
        .map(|key| {
            let mut pts = groups[&key].clone();
            pts.sort_by_key(|r| r.axes.replicas);
            let best = pts.iter().position(|r| met(r).is_some_and(|m| m.0));
            let (replicas, attainment, per_month, prev) = match best {
                Some(i) => (
                    Some(pts[i].axes.replicas),
                    met(pts[i]).map(|m| m.1),
                    pts[i]
                        .summary
                        .as_ref()
                        .and_then(|s| s.cost.as_ref())
                        .map(|c| c.per_month_usd),
                    i.checked_sub(1).map(|j| pts[j]),
                ),
                None => (None, None, None, None),
            };
            let tp = pts
                .iter()
                .find_map(|r| r.summary.as_ref().map(|s| s.setup.tp))
                .unwrap_or(1);
            SmallestFleet {
                gpu: key.0.clone(),
                router: key.1,
                replica: key.2.clone(),
                rate_scale: f64::from_bits(key.3),
                tp,
                replicas,
                gpus: replicas.map(|n| n as u64 * tp as u64),
                attainment,
                per_month_usd: per_month,
                next_smaller_replicas: prev.map(|p| p.axes.replicas),
                next_smaller_attainment: prev.and_then(|p| met(p).map(|m| m.1)),
                replicas_within_error: None,
                step_times_extrapolated: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::ReplicasBand;

    #[test]
    fn a_band_reads_as_a_range_with_its_open_end_in_words() {
        let b = |low, high| ReplicasBand {
            step_time_factors: [0.9, 1.1],
            low,
            high,
        };
        assert_eq!(b(Some(3), Some(4)).range(), "3-4");
        assert_eq!(b(Some(3), Some(3)).range(), "3");
        assert_eq!(b(Some(6), None).range(), "6 or more");
        assert_eq!(b(None, None).range(), "none");
        assert_eq!(
            b(Some(6), None).phrase(),
            "6 replicas or more than were tried"
        );
        assert_eq!(b(Some(1), Some(2)).phrase(), "1-2 replicas");
    }
}
