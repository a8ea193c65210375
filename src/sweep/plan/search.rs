//! The search for the smallest fleet meeting the SLO at one volume: doubling the replica count
//! until the SLO is met, then bisecting, so the answer `n` is simulated next to `n - 1`.

use std::collections::BTreeMap;

use crate::metrics::Summary;
use crate::sweep::{Point, Sweep};

/// Evaluations of one (GPU, volume): replica count -> summary (or failure).
pub(super) type Evals = BTreeMap<u32, std::result::Result<Summary, String>>;

pub(super) fn met(e: &std::result::Result<Summary, String>) -> bool {
    e.as_ref()
        .ok()
        .and_then(|s| s.slo.as_ref())
        .is_some_and(|s| s.met)
}

/// Finds the smallest fleet meeting the SLO for one configuration and volume (`base`: its
/// replica count is ignored), every step time scaled by
/// `step_time_factor` (1: as modelled; the ends of the error band otherwise). `capacity` is one
/// replica's, except behind an affinity router, where each fleet size finds its own (at the
/// modelled step times).
pub(super) fn search(
    sweep: &Sweep,
    base: &Point,
    max: u32,
    capacity: Option<&crate::scenario::ReplicaCapacity>,
    step_time_factor: f64,
) -> (Option<u32>, Evals) {
    let mut evals: Evals = BTreeMap::new();
    let eval = |n: u32, evals: &mut Evals| -> bool {
        let r = evals.entry(n).or_insert_with(|| {
            let p = Point {
                replicas: n,
                ..base.clone()
            };
            // Behind an affinity router one replica's capacity depends on the fleet size
            // (`Sweep::capacity_group`): found for this one.
            let own = sweep.capacity_group(&p) != Sweep::capacity_key(&p);
            sweep
                .point_spec(&p)
                .map(|s| {
                    let mine = own.then(|| s.replica_capacity());
                    let capacity = mine.as_ref().or(capacity);
                    if step_time_factor == 1.0 {
                        s.run_full(false, capacity).summary
                    } else {
                        s.with_step_time_factor(step_time_factor)
                            .run_full(false, capacity)
                            .summary
                    }
                })
                .map_err(|e| e.to_string())
        });
        met(r)
    };
    // Doubling, then bisection between the last miss and the first hit.
    let (mut lo, mut hi) = (0, 1); // lo: the largest count known to miss (0: none)
    loop {
        if eval(hi, &mut evals) {
            break;
        }
        if evals[&hi].is_err() || hi >= max {
            return (None, evals);
        }
        lo = hi;
        hi = (hi * 2).min(max);
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if eval(mid, &mut evals) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if hi > 1 {
        eval(hi - 1, &mut evals);
    }
    (Some(hi), evals)
}
